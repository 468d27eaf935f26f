//! `c2s eval`: a thin layer over c2s_eval::evaluate and write_report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use c2s_eval::{evaluate_cancellable, write_report, EvalInputs, GeneratedOptions};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args)]
pub struct EvalArgs {
    /// A dataset folder written by `c2s convert`.
    dataset: PathBuf,
    /// Predictions written by `c2s predict --output` (scored with accuracy,
    /// F1 and a confusion matrix, beside majority-class and k-NN baselines).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Cells written by `c2s generate` (scored with k-NN accuracy against the
    /// requested type, Gromov-Wasserstein distance to real cells, gene shares
    /// and mean-expression correlation, beside a ceiling and two floors).
    #[arg(long)]
    generated: Option<PathBuf>,
    /// Real cells to put beside the generated ones and score as they are: a
    /// text file of cell names, one a line, named after the file (repeat for
    /// several). Cells among the real cells compared with are left out.
    #[arg(long, value_name = "FILE")]
    cells: Vec<PathBuf>,
    /// A `c2s train` output folder, for its loss curves.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Write the report folder here (report.html, metrics.json, plots/).
    #[arg(short, long)]
    output: PathBuf,
    /// The cell annotation (obs column) to score against; default: the dataset's first.
    #[arg(long)]
    label: Option<String>,
    /// The .h5ad the dataset was converted from, if it moved since.
    #[arg(long)]
    source: Option<PathBuf>,
    /// Score predictions on the cells of this split: test (the held-out
    /// cells), val, or all (training cells included: not a held-out figure).
    #[arg(long, default_value = c2s_eval::evaluate::HELD_OUT)]
    split: String,
    /// Which answer of each prediction to score: predicted (the model's),
    /// assigned (Unassigned below a confidence) or majority_vote (its
    /// over-cluster's); Unassigned and Heterogeneous count as wrong.
    #[arg(long, default_value = "predicted", value_parser = ["predicted", "assigned", "majority_vote"])]
    answer: String,
    /// Real cells to compare generated cells with: test, validation, train or all.
    #[arg(long, default_value = c2s_eval::evaluate::HELD_OUT)]
    reference_split: String,
    /// Genes read from each real sentence (default: as many as the longest
    /// generated cell, so both sides have the same length).
    #[arg(long)]
    top_k: Option<usize>,
    /// Cells drawn from each cloud for the Gromov-Wasserstein distance.
    #[arg(long, default_value_t = GeneratedOptions::default().gw_cells)]
    gw_cells: usize,
    /// Entropic regularisation of Gromov-Wasserstein.
    #[arg(long, default_value_t = GeneratedOptions::default().gw.epsilon)]
    gw_epsilon: f64,
    /// Skip the UMAP plot (the slowest part on large inputs).
    #[arg(long)]
    no_umap: bool,
    /// Replace an existing report folder.
    #[arg(long)]
    force: bool,
    #[arg(long, default_value_t = GeneratedOptions::default().seed)]
    seed: u64,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_eval(a: &EvalArgs) -> Result<()> {
    if a.predictions.is_none() && a.generated.is_none() && a.run.is_none() {
        anyhow::bail!("nothing to evaluate\n  hint: give --predictions (from c2s predict), --generated (from c2s generate) and/or --run (a c2s train folder)");
    }
    // Before the work: a folder that may not be replaced is said at once.
    let input_paths: Vec<&Path> = [
        Some(&a.dataset),
        a.predictions.as_ref(),
        a.generated.as_ref(),
        a.run.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(&a.cells)
    .map(|p| p.as_path())
    .collect();
    c2s_data::output::check_folder(
        &a.output,
        c2s_data::output::Written::Report,
        a.force,
        &input_paths,
    )?;
    let inputs = a.inputs()?;
    let mut opts = GeneratedOptions {
        gw_cells: a.gw_cells,
        umap: !a.no_umap,
        seed: a.seed,
        ..Default::default()
    };
    opts.gw.epsilon = a.gw_epsilon;
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} evaluating: {msg} ({elapsed})").expect("template"),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = evaluate_cancellable(
        &inputs,
        &opts,
        &|stage| spinner.set_message(stage.to_string()),
        &crate::CANCEL,
    )
    .with_context(|| format!("evaluating {}", a.dataset.display()))?;
    spinner.set_message("drawing the report");
    write_report(&report, &a.output, a.force, &input_paths)?;
    spinner.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_summary(&report);
    for n in &report.notes {
        println!("note: {n}");
    }
    println!(
        "Report: {} ({:.1} s)",
        a.output.join("report.html").display(),
        report.seconds
    );
    Ok(())
}

impl EvalArgs {
    fn inputs(&self) -> Result<EvalInputs> {
        Ok(EvalInputs {
            dataset: self.dataset.clone(),
            label: self.label.clone(),
            predictions: self.predictions.clone(),
            generated: self.generated.clone(),
            run: self.run.clone(),
            source: self.source.clone(),
            reference_split: Some(self.reference_split.clone()),
            prediction_split: Some(self.split.clone()),
            top_k: self.top_k,
            answer: Some(self.answer.clone()),
            selections: self
                .cells
                .iter()
                .map(|p| c2s_eval::NamedCells::read_list(p))
                .collect::<std::result::Result<_, _>>()?,
        })
    }
}

/// The report's figures, a line each.
fn print_summary(report: &c2s_eval::EvalReport) {
    if let Some(p) = &report.prediction {
        println!(
            "Cell type prediction on {}: accuracy {:.3}, macro F1 {:.3}",
            c2s_eval::report::scored_on(p),
            p.model.accuracy,
            p.model.macro_f1
        );
        for b in &p.baselines {
            println!(
                "  baseline {}: accuracy {:.3}, macro F1 {:.3}; {}",
                b.name,
                b.accuracy,
                b.macro_f1,
                b.paired.summary()
            );
        }
    }
    if let Some(g) = &report.generated {
        println!("Generated cells against {} real cells:", g.n_reference);
        for s in &g.sets {
            let knn: Vec<String> = s
                .knn_accuracy
                .iter()
                .map(|(k, v)| format!("k={k} {v:.3}"))
                .collect();
            let balanced: Vec<String> = s
                .balanced_knn_accuracy
                .iter()
                .map(|(k, v)| format!("k={k} {v:.3}"))
                .collect();
            println!(
                "  {}: {} cells; k-NN {}; each type once {}; GW {}; valid {:.1} %, unique {:.1} %; mean r {}",
                s.name,
                s.n_cells,
                if knn.is_empty() {
                    "-".into()
                } else {
                    knn.join(", ")
                },
                if balanced.is_empty() {
                    "-".into()
                } else {
                    balanced.join(", ")
                },
                s.gw_distance.map_or("-".into(), |v| format!("{v:.4}")),
                100.0 * s.gene_shares.valid_share,
                100.0 * s.gene_shares.unique_share,
                s.mean_pearson.map_or("-".into(), |v| format!("{v:.3}")),
            );
        }
    }
}
