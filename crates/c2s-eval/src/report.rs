//! The report folder: metrics.json, a self-contained report.html (figures
//! inline as SVG) and every figure as plots/NAME.svg and plots/NAME.png.
//! Written to a temporary folder beside the target and renamed into place.

use c2s_data::output::{self, TempFolder, Written};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::error::{EvalError, Result};
use crate::evaluate::EvalReport;
use crate::generated::{GeneratedReport, PlotPoint};
use crate::plots::{render, Figure, Heatmap, Lines, Scatter};
use crate::prediction::PredictionReport;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.3}"))
}

/// Real cells (and those the user selected) as filled dots, generated as
/// crosses, one colour per type.
fn embedding_chart(title: &str, axis: &str, points: &[PlotPoint]) -> Scatter {
    let mut types: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
    types.sort();
    types.dedup();
    // Drawn in this order: real cells first, generated ones on top.
    let rank = |source: &str| match source {
        "real" => 0,
        "selected" => 1,
        _ => 2,
    };
    // (drawing rank, source, type) -> points.
    type Group<'a> = (u8, &'a str, usize);
    let mut groups: BTreeMap<Group, Vec<(f64, f64)>> = BTreeMap::new();
    for p in points {
        let t = types.binary_search(&p.label.as_str()).expect("listed");
        groups
            .entry((rank(p.source), p.source, t))
            .or_default()
            .push((p.x, p.y));
    }
    let (mut g, mut colors) = (vec![], vec![]);
    for ((_, kind, t), pts) in groups {
        g.push((format!("{} ({kind})", types[t]), kind == "generated", pts));
        colors.push(t);
    }
    Scatter {
        title: title.into(),
        x_label: format!("{axis} 1"),
        y_label: format!("{axis} 2"),
        groups: g,
        colors,
        line: None,
        point_size: 2,
    }
}

/// Draws every figure the report has data for.
pub fn figures(r: &EvalReport, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    if let Some(p) = &r.prediction {
        let chart = Heatmap {
            title: format!(
                "Cell type prediction: confusion matrix (accuracy {:.3})",
                p.model.accuracy
            ),
            labels: p.model.labels.clone(),
            counts: p.model.confusion.clone(),
        };
        out.push(render("confusion_matrix", &chart, dir)?);
    }
    if let Some(g) = &r.generated {
        out.extend(generated_figures(g, dir)?);
    }
    if let Some(l) = &r.loss_curve {
        let mut series = vec![("training loss".to_string(), l.train.clone())];
        if !l.validation.is_empty() {
            series.push(("validation loss".into(), l.validation.clone()));
        }
        let chart = Lines {
            title: "Training".into(),
            x_label: "step".into(),
            y_label: "loss (cross-entropy per token)".into(),
            series,
            y_range: None,
            markers: false,
        };
        out.push(render("loss_curve", &chart, dir)?);
    }
    if let Some(f) = &r.fit {
        let x1 = f.points.iter().map(|p| p.0).fold(0.0, f64::max);
        let chart = Scatter {
            title: format!(
                "Expression against rank ({} cells), R² {:.3}",
                f.n_cells, f.r_squared
            ),
            x_label: "log10(1 + rank)".into(),
            y_label: "normalised log expression".into(),
            groups: vec![("genes of real cells".into(), false, f.points.clone())],
            colors: vec![7],
            line: Some((
                (0.0, f.intercept, x1, f.intercept + f.slope * x1),
                format!("fit: {:.3} {:+.3}·x", f.intercept, f.slope),
            )),
            point_size: 1,
        };
        out.push(render("rank_expression_fit", &chart, dir)?);
    }
    Ok(out)
}

/// The generated cells' figures: PCA and UMAP beside the real cells, k-NN
/// accuracy against the requested type, and mean expression per type.
fn generated_figures(g: &GeneratedReport, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    out.push(render(
        "pca",
        &embedding_chart("PCA of real and generated cells", "PC", &g.pca),
        dir,
    )?);
    if let Some(u) = &g.umap {
        out.push(render(
            "umap",
            &embedding_chart("UMAP of real and generated cells", "UMAP", u),
            dir,
        )?);
    }
    let series = g
        .sets
        .iter()
        .filter(|s| !s.knn_accuracy.is_empty())
        .map(|s| {
            (
                s.name.clone(),
                s.knn_accuracy.iter().map(|&(k, a)| (k as f64, a)).collect(),
            )
        })
        .collect();
    let chart = Lines {
        title: "k-NN accuracy against the requested cell type".into(),
        x_label: "k (neighbours)".into(),
        y_label: "accuracy".into(),
        series,
        y_range: Some((0.0, 1.0)),
        markers: true,
    };
    out.push(render("knn_accuracy", &chart, dir)?);
    let mut groups = vec![];
    let mut hi: f64 = 0.0;
    for t in &g.mean_expression {
        hi = t
            .genes
            .iter()
            .fold(hi, |m, x| m.max(x.real).max(x.generated));
        groups.push((
            t.cell_type.clone(),
            false,
            t.genes.iter().map(|x| (x.real, x.generated)).collect(),
        ));
    }
    let colors = (0..groups.len()).collect();
    let chart = Scatter {
        title: "Mean expression per cell type: real (x) against generated (y)".into(),
        x_label: "real mean expression".into(),
        y_label: "generated mean expression".into(),
        groups,
        colors,
        line: Some(((0.0, 0.0, hi, hi), "y = x".into())),
        point_size: 3,
    };
    out.push(render("mean_expression", &chart, dir)?);
    Ok(out)
}

fn html(r: &EvalReport, figs: &[Figure]) -> String {
    let fig = |name: &str| -> String {
        figs.iter()
            .find(|f| f.name == name)
            .map(|f| {
                format!(
                    "<figure>{}<figcaption>{} · <a href=\"plots/{n}.png\">PNG</a> · <a href=\"plots/{n}.svg\">SVG</a></figcaption></figure>\n",
                    f.svg,
                    esc(&f.title),
                    n = f.name
                )
            })
            .unwrap_or_default()
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>C2S Studio evaluation</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}figure{{margin:1.5em 0}}figure svg{{max-width:100%;height:auto}}.note{{color:#666}}</style></head><body>\n<h1>Evaluation</h1>\n<p>Dataset <code>{}</code>, labels from <code>{}</code>. C2S Studio {}.</p>\n",
        esc(&r.dataset),
        esc(&r.label_column),
        r.c2s_version
    );
    if let Some(p) = &r.prediction {
        prediction_section(&mut h, p, &fig);
    }
    if let Some(g) = &r.generated {
        generated_section(&mut h, g, &fig);
    }
    if r.loss_curve.is_some() {
        h.push_str("<h2>Training</h2>\n");
        h.push_str(&fig("loss_curve"));
    }
    if r.fit.is_some() {
        h.push_str("<h2>Rank and expression</h2>\n<p>How well a gene's rank predicts its expression: the line turns generated sentences back into expression.</p>\n");
        h.push_str(&fig("rank_expression_fit"));
    }
    if !r.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul>\n");
        for n in &r.notes {
            let _ = writeln!(h, "<li class=\"note\">{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
    let _ = write!(h, "<p class=\"note\">Evaluated in {:.1} s. Metrics: metrics.json beside this file.</p>\n</body></html>\n", r.seconds);
    h
}

/// The prediction table, each type's figures and the confusion matrix.
fn prediction_section(h: &mut String, p: &PredictionReport, fig: &dyn Fn(&str) -> String) {
    let _ = write!(h, "<h2>Cell type prediction</h2>\n<p>{}</p>\n<table><tr><th>method</th><th>accuracy</th><th>macro F1</th><th>the model against it, cell by cell</th></tr>\n<tr><td><b>model</b></td><td><b>{:.3}</b></td><td><b>{:.3}</b></td><td></td></tr>\n", esc(&scored_on(p)), p.model.accuracy, p.model.macro_f1);
    for b in &p.baselines {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            esc(&b.name),
            b.accuracy,
            b.macro_f1,
            esc(&b.paired.summary())
        );
    }
    h.push_str("</table>\n<table><tr><th>cell type</th><th>precision</th><th>recall</th><th>F1</th><th>cells</th></tr>\n");
    for c in &p.model.classes {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            esc(&c.label),
            c.precision,
            c.recall,
            c.f1,
            c.support
        );
    }
    h.push_str("</table>\n");
    h.push_str(&fig("confusion_matrix"));
}

/// The generated cells' table against real cells and the floors, each
/// type's expression agreement, and their plots.
fn generated_section(h: &mut String, g: &GeneratedReport, fig: &dyn Fn(&str) -> String) {
    let _ = write!(h, "<h2>Generated cells</h2>\n<p>Compared with {} real cells; each sentence read to {} words and turned into expression with the dataset's rank-expression fit; PCA on {} highly variable genes. Gromov-Wasserstein: entropic (ε = {}), {} cells of each cloud, distances in units of the real cells' mean distance (lower is better). The ceiling is other real held-out cells; the floors are random genes and real cells with shuffled labels.</p>\n<table><tr><th>cells</th><th>n</th>", g.n_reference, g.top_k.map_or("all".into(), |k| k.to_string()), g.panel_genes, g.gw_epsilon, g.gw_cells);
    let ks: Vec<usize> = g
        .sets
        .first()
        .map(|s| s.knn_accuracy.iter().map(|x| x.0).collect())
        .unwrap_or_default();
    for k in &ks {
        let _ = write!(h, "<th>k-NN acc. k={k}</th>");
    }
    // Each type once: the fair comparison when the sets mix types differently.
    let balanced_k = ks.iter().copied().min_by_key(|k| k.abs_diff(5));
    if let Some(k) = balanced_k {
        let _ = write!(h, "<th title=\"the mean of each requested type's accuracy: a set with a few cells of each type compares fairly with real cells, where common types dominate\">k-NN acc. k={k}, each type once</th>");
    }
    h.push_str("<th>GW</th><th>valid genes</th><th>unique genes</th><th>mean r (Pearson)</th><th>mean ρ (Spearman)</th></tr>\n");
    for s in &g.sets {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(&s.name), s.n_cells);
        for k in &ks {
            let a = s.knn_accuracy.iter().find(|x| x.0 == *k).map(|x| x.1);
            let _ = write!(h, "<td>{}</td>", num(a));
        }
        if let Some(k) = balanced_k {
            let a = s
                .balanced_knn_accuracy
                .iter()
                .find(|x| x.0 == k)
                .map(|x| x.1);
            let _ = write!(h, "<td>{}</td>", num(a));
        }
        let _ = writeln!(
            h,
            "<td>{}</td><td>{:.1} %</td><td>{:.1} %</td><td>{}</td><td>{}</td></tr>",
            num(s.gw_distance),
            100.0 * s.gene_shares.valid_share,
            100.0 * s.gene_shares.unique_share,
            num(s.mean_pearson),
            num(s.mean_spearman)
        );
    }
    h.push_str("</table>\n");
    if let Some(s) = g.sets.first() {
        h.push_str("<table><tr><th>cell type</th><th>real cells</th><th>generated cells</th><th>Pearson r</th><th>Spearman ρ</th></tr>\n");
        for t in &s.type_correlation {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.cell_type),
                t.n_real,
                t.n_set,
                num(t.pearson),
                num(t.spearman)
            );
        }
        h.push_str("</table>\n");
    }
    for n in ["knn_accuracy", "pca", "umap", "mean_expression"] {
        h.push_str(&fig(n));
    }
}

/// Which cells the prediction figures are of, in words.
pub fn scored_on(p: &crate::prediction::PredictionReport) -> String {
    let n = p.model.n_cells;
    let which = match p.split.as_str() {
        "test" => format!("{n} held-out cells (the dataset's test split)"),
        "val" => format!("{n} validation cells (held out from training)"),
        _ => format!("all {n} cells, training cells included (not a held-out figure)"),
    };
    if p.left_out > 0 {
        format!(
            "{which}; {} predictions of other cells left out",
            p.left_out
        )
    } else {
        which
    }
}

/// Writes the report folder `out`. An existing one is replaced only with
/// `overwrite`, and only if it is a report this program wrote that holds none
/// of `inputs`.
pub fn write_report(r: &EvalReport, out: &Path, overwrite: bool, inputs: &[&Path]) -> Result<()> {
    let _claim = output::claim(out)?;
    output::check_folder(out, Written::Report, overwrite, inputs)?;
    let tmp = TempFolder::new_in(output::parent_of(out), ".c2s-report-")?;
    let plots = tmp.path().join("plots");
    std::fs::create_dir(&plots).map_err(|e| EvalError::io(&plots, e))?;
    let figs = figures(r, &plots)?;
    let metrics = serde_json::to_vec_pretty(r).expect("serialisable");
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).map_err(|e| EvalError::io(&p, e))
    };
    write("metrics.json", &metrics)?;
    write("report.html", html(r, &figs).as_bytes())?;
    output::check_folder(out, Written::Report, overwrite, inputs)?;
    tmp.publish(out)?;
    Ok(())
}
