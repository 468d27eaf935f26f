//! The annotation rules as command-line options, shared by `predict` and
//! `annotate`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use c2s_data::annotation_rules::AnnotationRules;
use c2s_eval::voting::refine_predictions;
use c2s_model::cells::{predictions_csv, write_annotated_h5ad, PredictionRecord};
use clap::Args;
use indicatif::ProgressBar;

use crate::cell_io::claim_output;

/// CellTypist's refinements of the answers and the annotated .h5ad, shared
/// by `predict` and `annotate`.
#[derive(Args)]
pub struct RulesArgs {
    /// A cell whose confidence is below this share (0 to 1) is "Unassigned".
    #[arg(long)]
    unassigned_below: Option<f64>,
    /// Over-cluster the cells (Leiden on their expression, as CellTypist)
    /// and give each cluster its commonest answer.
    #[arg(long)]
    majority_voting: bool,
    /// With --majority-voting: a cluster whose commonest answer has a
    /// smaller share (0 to 1) is "Heterogeneous".
    #[arg(long, default_value_t = AnnotationRules::default().min_share)]
    min_share: f64,
    /// Answer only with these types (separated by commas).
    #[arg(long, value_delimiter = ',')]
    pub(crate) only: Vec<String>,
    /// Seed of the over-clustering.
    #[arg(long, default_value_t = AnnotationRules::default().seed)]
    cluster_seed: u64,
    /// Save a copy of the dataset's .h5ad with the answers as new obs
    /// columns (c2s_predicted_cell_type, c2s_confidence, and with the
    /// options above c2s_assigned_cell_type, c2s_over_clustering,
    /// c2s_majority_voting).
    #[arg(long)]
    h5ad: Option<PathBuf>,
    /// Save the per-cell table (CSV, one row a cell: the final answer, the
    /// model's answer and confidence, the refinements above, the true type
    /// and split), as the app's Annotate screen exports it.
    #[arg(long)]
    table: Option<PathBuf>,
    /// The .h5ad the dataset was converted from, if it moved since.
    #[arg(long)]
    source: Option<PathBuf>,
}

impl RulesArgs {
    pub(crate) fn rules(&self) -> AnnotationRules {
        AnnotationRules {
            unassigned_below: self.unassigned_below,
            majority_voting: self.majority_voting,
            min_share: self.min_share,
            only: self.only.clone(),
            seed: self.cluster_seed,
        }
    }

    /// Checks the rules and claims the .h5ad and table outputs before any
    /// work starts.
    pub(crate) fn start(&self, force: bool) -> Result<Vec<c2s_data::output::Claim>> {
        self.rules().check()?;
        [self.h5ad.as_deref(), self.table.as_deref()]
            .into_iter()
            .filter_map(|o| claim_output(o, force).transpose())
            .collect()
    }

    /// Applies the rules to `records` (cells of `dataset`) and saves the
    /// annotated .h5ad if asked; returns a line for the summary.
    pub(crate) fn finish(
        &self,
        dataset: &Path,
        records: &mut [PredictionRecord],
    ) -> Result<String> {
        let rules = self.rules();
        let pb = if rules.majority_voting {
            let pb = ProgressBar::new_spinner()
                .with_message("over-clustering the cells for majority voting");
            pb.enable_steady_tick(Duration::from_millis(200));
            pb
        } else {
            ProgressBar::hidden()
        };
        let summary = refine_predictions(dataset, self.source.as_deref(), records, &rules);
        pb.finish_and_clear();
        let summary = summary?;
        let mut notes = Vec::new();
        if let Some(n) = summary.unassigned {
            notes.push(format!("{n} Unassigned"));
        }
        if let (Some(k), Some(h)) = (summary.over_clusters, summary.heterogeneous) {
            notes.push(format!("{k} over-clusters voted ({h} cells Heterogeneous)"));
        }
        if let Some(dst) = &self.h5ad {
            let source = match &self.source {
                Some(s) => s.clone(),
                None => c2s_data::expression::source_path(dataset)?,
            };
            write_annotated_h5ad(&source, dst, records)?;
            notes.push(format!("saved {}", dst.display()));
        }
        if let Some(t) = &self.table {
            // Claimed and checked in `start`.
            c2s_data::output::write_file(t, predictions_csv(records).as_bytes(), true)?;
            notes.push(format!("saved {}", t.display()));
        }
        Ok(notes.join("; "))
    }
}
