//! The TypeScript types of the records the screens receive, made from the
//! Rust types by ts-rs into ui/src/bindings.ts, so that the two cannot
//! drift apart: a test fails when the file differs from what the types
//! make, and `C2S_WRITE_BINDINGS=1 cargo test -p c2s-studio bindings`
//! writes it anew.

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ts_rs::TS;

    /// The file, as the Rust types make it: each type once, in an order
    /// where nothing depends on the file's order (TypeScript hoists types).
    fn render() -> String {
        let decls = [
            c2s_eval::EvalReport::decl(),
            c2s_eval::evaluate::LossCurve::decl(),
            c2s_eval::evaluate::FitPlotData::decl(),
            c2s_eval::NamedCells::decl(),
            c2s_eval::prediction::PredictionReport::decl(),
            c2s_eval::prediction::Baseline::decl(),
            c2s_eval::classification::ClassificationReport::decl(),
            c2s_eval::classification::ClassMetrics::decl(),
            c2s_eval::generated::GeneratedReport::decl(),
            c2s_eval::generated::SetMetrics::decl(),
            c2s_eval::generated::TypeKnn::decl(),
            c2s_eval::generated::TypeCorrelation::decl(),
            c2s_eval::generated::PlotPoint::decl(),
            c2s_eval::generated::TypeMeans::decl(),
            c2s_eval::generated::GeneMean::decl(),
            c2s_eval::profiles::GeneShares::decl(),
            c2s_model::cells::TypedCell::decl(),
            c2s_model::cells::TypedCellCall::decl(),
            c2s_model::cells::GroupCall::decl(),
            crate::store::Selection::decl(),
        ];
        let mut out = String::from(
            "// Made from the Rust types by ts-rs (src-tauri/src/bindings.rs): do not edit.\n\
             // After changing a type: C2S_WRITE_BINDINGS=1 cargo test -p c2s-studio bindings\n",
        );
        for d in decls {
            out.push_str("\nexport ");
            out.push_str(&d);
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_ui_bindings_are_what_the_rust_types_make() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts");
        let made = render();
        if std::env::var_os("C2S_WRITE_BINDINGS").is_some() {
            std::fs::write(&path, &made).unwrap();
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == made,
            "{} is not what the Rust types make; write it anew with\n  C2S_WRITE_BINDINGS=1 cargo test -p c2s-studio bindings",
            path.display()
        );
    }
}
