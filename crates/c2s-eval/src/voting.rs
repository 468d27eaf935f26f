//! CellTypist's refinements applied to a dataset's predicted cells: the
//! confidence threshold (Unassigned), then majority voting within
//! over-clusters of the cells' expression, read back from the source file.
//! The CLI and the app both call `refine_predictions` after predicting.

use std::path::Path;

use c2s_data::annotation_rules::{
    assigned, majority_votes, AnnotationRules, CellCall, CellVotes, VoteSummary, UNASSIGNED,
};
use c2s_data::dataset::VOCABULARY_TSV;
use c2s_data::expression::log_expression;
use c2s_data::predictions::PredictionRecord;
use c2s_data::vocabulary::Vocabulary;

use crate::clusters::over_cluster;
use crate::error::Result;

/// Fills in each record's votes under `rules` (records of cells of the
/// converted `dataset`; `source` overrides the .h5ad its manifest names)
/// and sums up what the rules did. Without rules nothing is read.
pub fn refine_predictions(
    dataset: &Path,
    source: Option<&Path>,
    records: &mut [PredictionRecord],
    rules: &AnnotationRules,
) -> Result<VoteSummary> {
    let calls: Vec<CellCall> = records.iter().map(PredictionRecord::call).collect();
    let votes = apply_rules(dataset, source, &calls, rules)?;
    for (r, v) in records.iter_mut().zip(votes) {
        r.votes = v;
    }
    Ok(VoteSummary::of(records.iter().map(|r| &r.votes)))
}

/// What `rules` add to each of `calls` (cells of the converted `dataset`;
/// `source` overrides the .h5ad its manifest names). The over-clusters are
/// of the predicted cells, reproducible for the rules' seed.
pub(crate) fn apply_rules(
    dataset: &Path,
    source: Option<&Path>,
    calls: &[CellCall],
    rules: &AnnotationRules,
) -> Result<Vec<CellVotes>> {
    rules.check()?;
    let answers: Vec<String> = calls
        .iter()
        .map(|c| match rules.unassigned_below {
            Some(t) => assigned(c.predicted, c.confidence, t),
            None => c.predicted.unwrap_or(UNASSIGNED).to_string(),
        })
        .collect();
    let mut votes: Vec<CellVotes> = calls
        .iter()
        .zip(&answers)
        .map(|(_, a)| CellVotes {
            assigned: rules.unassigned_below.map(|_| a.clone()),
            ..Default::default()
        })
        .collect();
    if rules.majority_voting {
        let names: Vec<&str> = calls.iter().map(|c| c.cell_name).collect();
        let cells = log_expression(dataset, &names, source)?;
        let n_genes = Vocabulary::read_tsv(&dataset.join(VOCABULARY_TSV))?.len();
        let clusters = over_cluster(&cells, n_genes, rules.seed)?;
        let majority = majority_votes(&answers, &clusters, rules.min_share);
        for ((v, c), m) in votes.iter_mut().zip(clusters).zip(majority) {
            v.over_cluster = Some(c);
            v.majority_vote = Some(m);
        }
    }
    Ok(votes)
}
