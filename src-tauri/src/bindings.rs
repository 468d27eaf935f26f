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
            c2s_eval::paired::Paired::decl(),
            c2s_eval::paired::Standing::decl(),
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
            crate::store::Project::decl(),
            crate::commands::project::ProjectState::decl(),
            // The dataset screen: what a file holds, and the notes on it.
            c2s_data::Inspection::decl(),
            c2s_data::inspect::MatrixReport::decl(),
            c2s_data::matrix::Storage::decl(),
            c2s_data::FileFormat::decl(),
            c2s_data::frame::ColumnSummary::decl(),
            c2s_data::Note::decl(),
            c2s_data::InputFix::decl(),
            crate::store::DatasetRow::decl(),
            crate::store::RunRow::decl(),
            crate::store::Artefact::decl(),
            // Background jobs' events and results.
            crate::jobs::JobProgress::<crate::commands::ProgressDetail>::decl_concrete(),
            crate::commands::ProgressDetail::decl(),
            crate::jobs::JobDone::<crate::commands::JobResult>::decl_concrete(),
            crate::jobs::JobStatus::decl(),
            crate::commands::JobResult::decl(),
            crate::commands::chat::ChatText::decl(),
            crate::commands::dataset::Converted::decl(),
            c2s_data::ConvertSummary::decl(),
            c2s_data::matrix::ValueKind::decl(),
            c2s_data::inverse::RankFit::decl(),
            c2s_eval::cell_map::FileMap::decl(),
            crate::commands::train::TrainingFigures::decl(),
            crate::commands::train::HeldOutFigure::decl(),
            crate::commands::train::Trained::decl(),
            c2s_model::train::TrainSummary::decl(),
            c2s_model::train::ValidationCheck::decl(),
            c2s_model::train_dataset::TrainRequest::decl(),
            c2s_model::train_dataset::Preset::decl(),
            c2s_model::prompts::Task::decl(),
            crate::commands::chat::ChatCells::decl(),
            crate::commands::chat::ChatCell::decl(),
            crate::commands::chat::ChatWord::decl(),
            c2s_model::cells::GeneratedCell::decl(),
            crate::commands::chat::FreeText::decl(),
            crate::commands::chat::SampledCell::decl(),
            crate::commands::chat::GenerationDefaults::decl(),
            crate::commands::evaluate::Evaluated::decl(),
            crate::commands::evaluate::MixCells::decl(),
            crate::commands::annotate::Annotation::decl(),
            crate::commands::annotate::PublishedAnnotation::decl(),
            crate::commands::annotate::AnswerSummary::decl(),
            crate::commands::annotate::HeldOut::decl(),
            c2s_data::annotation_rules::VoteSummary::decl(),
            crate::commands::published::Downloaded::decl(),
            crate::commands::published::GroupAnswer::decl(),
            // What the screens send.
            crate::commands::chat::GenerateForm::decl(),
            crate::commands::evaluate::EvalForm::decl(),
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
