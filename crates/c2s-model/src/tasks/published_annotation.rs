//! Annotating a converted dataset with a published model, as both front ends
//! offer it: where the candidate types come from, every cell or a vote per
//! group, agreement with an existing label column, and the time it will take
//! on this computer before it starts.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use c2s_data::annotation_rules::AnnotationRules;
use c2s_data::dataset::SentenceRecord;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::tasks::cells::{CellInput, CellPrediction};
use crate::tasks::published::{
    annotate_cells, annotate_groups, common_cell_types, AnnotateRequest, PublishedModel,
    DEFAULT_NUM_GENES, DEFAULT_VOTES_PER_GROUP,
};

/// Where the candidate cell types come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Candidates {
    /// The values of one of the dataset's label columns.
    Column { column: String },
    /// Types the user typed or pasted.
    List { types: Vec<String> },
    /// The list shipped with C2S Studio of types as the published models name them.
    Common,
}

impl Candidates {
    /// The candidate types, sorted and without repeats (a list keeps its order).
    pub fn resolve(&self, records: &[&SentenceRecord]) -> Result<Vec<String>> {
        let types = match self {
            Candidates::Column { column } => {
                let mut v: Vec<String> = records
                    .iter()
                    .filter_map(|r| r.label(column).map(str::to_string))
                    .collect();
                v.sort();
                v.dedup();
                if v.is_empty() {
                    return Err(ModelError::Input(
                        format!("no cell has a value in the label column `{column}`"),
                        format!("convert the dataset with `{column}` among its labels, or type the candidate types"),
                    ));
                }
                v
            }
            Candidates::List { types } => {
                let mut seen = std::collections::HashSet::new();
                types
                    .iter()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty() && seen.insert(t.clone()))
                    .collect()
            }
            Candidates::Common => common_cell_types(),
        };
        if types.is_empty() {
            return Err(ModelError::Input(
                "no candidate cell types".into(),
                "type the types to choose from, one a line, or use a label column".into(),
            ));
        }
        Ok(types)
    }
}

/// How to annotate a dataset with a published model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetAnnotation {
    pub candidates: Candidates,
    /// A label column to measure agreement with (default: the candidates'
    /// column, if they come from one).
    #[serde(default)]
    pub truth: Option<String>,
    /// A label column of groups (clusters): `per_group` cells of each are
    /// annotated and the majority answer names the whole group.
    #[serde(default)]
    pub vote_by: Option<String>,
    #[serde(default = "default_per_group")]
    pub per_group: usize,
    #[serde(default = "default_num_genes")]
    pub num_genes: usize,
    #[serde(default = "default_organism")]
    pub organism: String,
    /// Let the model write its answer, then take the nearest candidate.
    #[serde(default)]
    pub free: bool,
    /// Choose only among these of the candidates (empty: all of them).
    #[serde(default)]
    pub only: Vec<String>,
}

fn default_per_group() -> usize {
    DEFAULT_VOTES_PER_GROUP
}
fn default_num_genes() -> usize {
    DEFAULT_NUM_GENES
}
fn default_organism() -> String {
    "Homo sapiens".into()
}

impl Default for DatasetAnnotation {
    fn default() -> Self {
        DatasetAnnotation {
            candidates: Candidates::Common,
            truth: None,
            vote_by: None,
            per_group: DEFAULT_VOTES_PER_GROUP,
            num_genes: DEFAULT_NUM_GENES,
            organism: default_organism(),
            free: false,
            only: Vec::new(),
        }
    }
}

impl DatasetAnnotation {
    /// The column agreement is measured against.
    pub fn truth_column(&self) -> Option<&str> {
        self.truth.as_deref().or(match &self.candidates {
            Candidates::Column { column } => Some(column),
            _ => None,
        })
    }

    fn groups<'a>(&self, records: &[&'a SentenceRecord]) -> Result<Option<Vec<Option<&'a str>>>> {
        let Some(col) = &self.vote_by else {
            return Ok(None);
        };
        let groups: Vec<Option<&str>> = records.iter().map(|r| r.label(col)).collect();
        if groups.iter().all(Option::is_none) {
            return Err(ModelError::Input(
                format!("no cell has a value in the group column `{col}`"),
                format!(
                    "convert the dataset with `{col}` among its labels, or annotate every cell"
                ),
            ));
        }
        Ok(Some(groups))
    }

    /// How many cells the model will be asked about: every cell, or
    /// `per_group` of each group.
    pub fn prompts(&self, records: &[&SentenceRecord]) -> Result<usize> {
        Ok(match self.groups(records)? {
            None => records.len(),
            Some(groups) => {
                let mut sizes: std::collections::HashMap<&str, usize> = Default::default();
                for g in groups.into_iter().flatten() {
                    *sizes.entry(g).or_default() += 1;
                }
                sizes.values().map(|&n| n.min(self.per_group.max(1))).sum()
            }
        })
    }
}

/// A dataset's annotation and its agreement with the truth column.
#[derive(Debug, Clone, Serialize)]
pub struct AnnotatedDataset {
    pub predictions: Vec<CellPrediction>,
    pub truth_column: Option<String>,
    /// Each cell's value in the truth column.
    pub truths: Vec<Option<String>>,
    pub candidates: usize,
    /// Cells the model was asked about.
    pub prompts: usize,
    /// Cells with a truth value, and how many of them the answer matches.
    pub labelled: usize,
    pub agree: usize,
}

impl AnnotatedDataset {
    pub fn accuracy(&self) -> Option<f64> {
        (self.labelled > 0).then(|| self.agree as f64 / self.labelled as f64)
    }

    /// The prediction records of the annotated `records` (the same cells,
    /// in order), with their truth and split.
    pub fn records(&self, records: &[&SentenceRecord]) -> Vec<crate::cells::PredictionRecord> {
        self.predictions
            .iter()
            .zip(&self.truths)
            .zip(records)
            .map(|((p, t), r)| p.record(t.as_deref(), r.label("split")))
            .collect()
    }
}

/// Annotates `records` (a dataset's cells, or a split of them) as `plan` says.
/// `progress` counts the cells the model is asked about.
pub fn annotate_dataset(
    m: &PublishedModel,
    records: &[&SentenceRecord],
    plan: &DatasetAnnotation,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<AnnotatedDataset> {
    if records.is_empty() {
        return Err(ModelError::Input(
            "no cells to annotate".into(),
            "convert the dataset first, or choose another split".into(),
        ));
    }
    let candidates = AnnotationRules {
        only: plan.only.clone(),
        ..Default::default()
    }
    .restrict(&plan.candidates.resolve(records)?)?;
    let req = AnnotateRequest {
        candidates: candidates.clone(),
        num_genes: plan.num_genes,
        organism: plan.organism.clone(),
        free: plan.free,
    };
    let cells: Vec<CellInput> = records.iter().map(|r| CellInput::of(r)).collect();
    let prompts = plan.prompts(records)?;
    let predictions = match plan.groups(records)? {
        None => annotate_cells(m, &cells, &req, progress, cancel)?,
        Some(groups) => {
            annotate_groups(m, &cells, &groups, plan.per_group, &req, progress, cancel)?
        }
    };
    let truth_column = plan.truth_column().map(str::to_string);
    let truths: Vec<Option<String>> = records
        .iter()
        .map(|r| {
            truth_column
                .as_deref()
                .and_then(|c| r.label(c))
                .map(str::to_string)
        })
        .collect();
    let labelled = truths.iter().flatten().count();
    let agree = truths
        .iter()
        .zip(&predictions)
        .filter(|(t, p)| t.is_some() && t.as_deref() == p.predicted.as_deref())
        .count();
    Ok(AnnotatedDataset {
        predictions,
        truth_column,
        truths,
        candidates: candidates.len(),
        prompts,
        labelled,
        agree,
    })
}

/// Seconds the annotation will take on this computer: one cell annotated
/// (after one to warm up) and scaled by the cells the plan asks about.
pub fn estimate_seconds(
    m: &PublishedModel,
    records: &[&SentenceRecord],
    plan: &DatasetAnnotation,
) -> Result<f64> {
    let prompts = plan.prompts(records)?;
    let sample: Vec<&SentenceRecord> = records.iter().take(2).copied().collect();
    let one = DatasetAnnotation {
        vote_by: None,
        ..plan.clone()
    };
    let never = AtomicBool::new(false);
    annotate_dataset(m, &sample[..1], &one, &|_, _| {}, &never)?;
    let t = Instant::now();
    annotate_dataset(m, &sample[sample.len() - 1..], &one, &|_, _| {}, &never)?;
    Ok(t.elapsed().as_secs_f64() * prompts as f64)
}

/// Up to `n` cells of a group given by its cells' names (a selection on a
/// map), evenly spread over the group as the dataset orders it. Names the
/// dataset does not hold are skipped; none held at all is an error.
pub fn cells_named<'a>(
    records: &[&'a SentenceRecord],
    names: &[String],
    n: usize,
) -> Result<Vec<&'a SentenceRecord>> {
    let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let members: Vec<&SentenceRecord> = records
        .iter()
        .filter(|r| wanted.contains(r.cell_name.as_str()))
        .copied()
        .collect();
    if members.is_empty() {
        return Err(ModelError::Input(
            format!("none of the {} selected cells is in the converted dataset", names.len()),
            "select cells on the map of this dataset (a filter at conversion may have dropped them)".into(),
        ));
    }
    let k = n.clamp(1, members.len());
    Ok((0..k).map(|j| members[j * members.len() / k]).collect())
}

/// `n` cells of the group `value` of the label column `column`, evenly spaced
/// through it: the cells a group question (tissue, summary) is asked about.
pub fn cells_of_group<'a>(
    records: &[&'a SentenceRecord],
    column: &str,
    value: &str,
    n: usize,
) -> Result<Vec<&'a SentenceRecord>> {
    let members: Vec<&SentenceRecord> = records
        .iter()
        .filter(|r| r.label(column) == Some(value))
        .copied()
        .collect();
    if members.is_empty() {
        return Err(ModelError::Input(
            format!("no cell has `{value}` in the label column `{column}`"),
            "choose a group the dataset has".into(),
        ));
    }
    let k = n.clamp(1, members.len());
    Ok((0..k).map(|j| members[j * members.len() / k]).collect())
}
