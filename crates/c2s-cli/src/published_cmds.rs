//! `c2s annotate` and `c2s describe`, and the published-model side of
//! `generate` and `embed`: thin wrappers over c2s_model::published.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use c2s_data::dataset::read_dataset;
use c2s_model::published::{
    describe_group, embed_published, generate_published, generate_tissue_cells,
    PublishedGenerateRequest, PublishedModel, TissueGenerateRequest, DEFAULT_ANSWER_TOKENS,
    DEFAULT_GROUP_CELLS, DEFAULT_GROUP_GENES, DEFAULT_NUM_GENES, DEFAULT_VOTES_PER_GROUP,
};
use c2s_model::published_annotation::{annotate_dataset, Candidates, DatasetAnnotation};
use c2s_model::published_prompts::PublishedTask;
use clap::{Args, ValueEnum};

use crate::cell_io::{cell_bar, chosen_cells, claim_output, inputs};
use crate::rules_args::RulesArgs;
use c2s_model::cells::predictions_jsonl;

/// The organism a published model's prompt names: the one given, else the
/// dataset's species.
pub fn organism(given: &Option<String>, dataset: Option<&Path>) -> String {
    given.clone().unwrap_or_else(|| {
        c2s_model::published_prompts::dataset_organism(dataset.unwrap_or(Path::new(""))).into()
    })
}

/// Whether a folder is a model `c2s train` wrote (with its card), rather
/// than a published or other Hugging Face model.
pub fn is_trained_here(dir: &Path) -> bool {
    dir.join(c2s_model::trained::MODEL_CARD).is_file()
}

/// Loads a published model given as a folder or a Hub id (downloaded, its
/// licence accepted).
pub fn load_published(model: &Path) -> Result<PublishedModel> {
    let dir = c2s_model::hub::ModelStore::from_env().resolve(model)?;
    let m = PublishedModel::load(&dir)?;
    eprintln!(
        "{} model, {:.0} M parameters; device: {}",
        m.family().name(),
        m.model.config().parameters() as f64 / 1e6,
        m.device_name
    );
    Ok(m)
}

#[derive(Args)]
pub struct AnnotateArgs {
    /// A published C2S model's Hub id (see `c2s models`) or a Hugging Face
    /// model folder of any GPT-2, GPT-NeoX or Gemma-2 model.
    model: PathBuf,
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    /// The cell types to choose from, separated by commas.
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<String>,
    /// A file of candidate types, one a line.
    #[arg(long, conflicts_with = "candidates")]
    candidates_file: Option<PathBuf>,
    /// Take the candidates from this label column's values (and score
    /// against it). Without any of the three: a list of common cell types.
    #[arg(long, conflicts_with_all = ["candidates", "candidates_file"])]
    candidates_from: Option<String>,
    /// A label column to measure the accuracy against.
    #[arg(long)]
    truth: Option<String>,
    /// Which cells: train, val, test or all.
    #[arg(long, default_value = "all")]
    split: c2s_data::split::SplitChoice,
    /// Annotate at most this many cells.
    #[arg(long)]
    limit: Option<NonZeroUsize>,
    /// Genes per cell in the prompt (the published models saw 200).
    #[arg(long, default_value_t = DEFAULT_NUM_GENES)]
    genes: usize,
    /// Organism named in the prompt (default: the dataset's species, from
    /// its gene names' case at conversion; else Homo sapiens).
    #[arg(long)]
    organism: Option<String>,
    /// Let the model write its answer, as the reference does, then take the
    /// nearest candidate; by default every candidate is scored.
    #[arg(long)]
    free: bool,
    /// Annotate groups instead of every cell: a label column of clusters
    /// (e.g. leiden); --per-group cells of each are annotated and the
    /// majority answer names the whole group (confidence: its vote share).
    #[arg(long)]
    vote_by: Option<String>,
    /// Cells annotated per group with --vote-by.
    #[arg(long, default_value_t = DEFAULT_VOTES_PER_GROUP)]
    per_group: usize,
    /// Write one JSON line per cell (name, predicted type, confidence or
    /// answer, true type).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    rules: RulesArgs,
    #[arg(long)]
    json: bool,
}

pub fn run_annotate(a: &AnnotateArgs, cancel: &AtomicBool) -> Result<()> {
    let _claim = claim_output(a.output.as_deref(), a.force)?;
    let _h5ad = a.rules.start(a.force)?;
    let records = read_dataset(&a.dataset)?;
    let chosen = chosen_cells(&records, a.split, a.limit, &a.dataset)?;
    let candidates = if let Some(column) = &a.candidates_from {
        Candidates::Column {
            column: column.clone(),
        }
    } else if let Some(f) = &a.candidates_file {
        Candidates::List {
            types: std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(str::to_string)
                .collect(),
        }
    } else if !a.candidates.is_empty() {
        Candidates::List {
            types: a.candidates.clone(),
        }
    } else {
        Candidates::Common
    };
    let plan = DatasetAnnotation {
        candidates,
        truth: a.truth.clone(),
        vote_by: a.vote_by.clone(),
        per_group: a.per_group,
        num_genes: a.genes,
        organism: organism(&a.organism, Some(&a.dataset)),
        free: a.free,
        only: a.rules.rules().only,
    };
    let m = load_published(&a.model)?;
    let pb = cell_bar("annotating", plan.prompts(&chosen)? as u64);
    let done = annotate_dataset(
        &m,
        &chosen,
        &plan,
        &|done, _| pb.set_position(done as u64),
        cancel,
    );
    pb.finish_and_clear();
    let done = done?;
    eprintln!("{} candidate types", done.candidates);
    let mut lines = done.records(&chosen);
    let refined = a.rules.finish(&a.dataset, &mut lines)?;
    if !refined.is_empty() {
        eprintln!("{refined}");
    }
    if let Some(out) = &a.output {
        c2s_data::output::write_file(out, predictions_jsonl(&lines).as_bytes(), a.force)?;
    }
    let accuracy = done.accuracy();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"cells": chosen.len(), "with_labels": done.labelled, "accuracy": accuracy})
        );
    } else {
        match (accuracy, &done.truth_column) {
            (Some(acc), Some(col)) => println!(
                "{} cells annotated; {:.1} % agree with `{col}` ({} labelled)",
                chosen.len(),
                100.0 * acc,
                done.labelled
            ),
            _ => println!("{} cells annotated", chosen.len()),
        }
    }
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GroupTask {
    /// The tissue the cells come from.
    Tissue,
    /// An English summary of the cells (models trained on summaries).
    Summary,
}

#[derive(Args)]
pub struct DescribeArgs {
    /// A published C2S model's Hub id (see `c2s models`) or its folder.
    model: PathBuf,
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    #[arg(long, value_enum, default_value_t = GroupTask::Tissue)]
    task: GroupTask,
    /// The cells of the group, by name (separated by commas); default: the
    /// first --cells cells of the split.
    #[arg(long, value_delimiter = ',')]
    names: Vec<String>,
    /// Cells in the group when no names are given.
    #[arg(long, default_value_t = DEFAULT_GROUP_CELLS)]
    cells: usize,
    /// Which cells: train, val, test or all.
    #[arg(long, default_value = "all")]
    split: c2s_data::split::SplitChoice,
    /// Genes per cell in the prompt.
    #[arg(long, default_value_t = DEFAULT_GROUP_GENES)]
    genes: usize,
    /// Organism named in the prompt (default: the dataset's species).
    #[arg(long)]
    organism: Option<String>,
    /// Longest answer, in tokens.
    #[arg(long, default_value_t = DEFAULT_ANSWER_TOKENS)]
    max_tokens: usize,
    #[arg(long)]
    json: bool,
}

pub fn run_describe(a: &DescribeArgs) -> Result<()> {
    let records = read_dataset(&a.dataset)?;
    let chosen = if a.names.is_empty() {
        let cells = NonZeroUsize::new(a.cells).context("--cells must be at least 1")?;
        chosen_cells(&records, a.split, Some(cells), &a.dataset)?
    } else {
        a.names
            .iter()
            .map(|n| {
                records
                    .iter()
                    .find(|r| &r.cell_name == n)
                    .with_context(|| format!("{}: no cell named `{n}`", a.dataset.display()))
            })
            .collect::<Result<_>>()?
    };
    let m = load_published(&a.model)?;
    let task = match a.task {
        GroupTask::Tissue => PublishedTask::TissuePrediction,
        GroupTask::Summary => PublishedTask::NaturalLanguageInterpretation,
    };
    let answer = describe_group(
        &m,
        task,
        &inputs(&chosen),
        a.genes,
        &organism(&a.organism, Some(&a.dataset)),
        a.max_tokens,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{}", answer.answer);
    }
    Ok(())
}

/// `c2s generate` with a published model: cells of the given types, or
/// groups of cells of the given tissues (`tissues`: the tissues and the cells
/// a group).
#[allow(clippy::too_many_arguments)]
pub fn generate_with_published(
    model: &Path,
    types: &[String],
    tissues: (&[String], usize),
    n: usize,
    dataset: Option<&Path>,
    genes: Option<usize>,
    organism: &str,
    sampling: (f64, usize, f64),
    batch_size: usize,
    seed: u64,
    output: &Path,
    force: bool,
) -> Result<()> {
    if types.is_empty() && tissues.0.is_empty() {
        bail!("name the cell types (--cell-type) or tissues (--tissue) to generate: published models write cells of a given type or tissue");
    }
    let known_genes = match dataset {
        Some(d) => c2s_data::vocabulary::Vocabulary::read_tsv(&d.join("vocabulary.tsv"))?.genes,
        None => Vec::new(),
    };
    let m = load_published(model)?;
    let cancel = &crate::CANCEL;
    let g = if tissues.0.is_empty() {
        let req = PublishedGenerateRequest {
            types: types.to_vec(),
            per_type: n,
            num_genes: genes.unwrap_or(DEFAULT_NUM_GENES),
            organism: organism.to_string(),
            temperature: sampling.0,
            top_k: sampling.1,
            top_p: sampling.2,
            batch_size,
            seed,
            known_genes,
        };
        let pb = cell_bar("generating", (types.len() * n) as u64);
        let g = generate_published(&m, &req, &|done, _| pb.set_position(done as u64), cancel);
        pb.finish_and_clear();
        g?
    } else {
        let req = TissueGenerateRequest {
            tissues: tissues.0.to_vec(),
            groups_per_tissue: n,
            cells_per_group: tissues.1,
            num_genes: genes.unwrap_or(DEFAULT_GROUP_GENES),
            organism: organism.to_string(),
            temperature: sampling.0,
            top_k: sampling.1,
            top_p: sampling.2,
            batch_size,
            seed,
            known_genes,
        };
        let pb = cell_bar("generating groups", (tissues.0.len() * n) as u64);
        let g = generate_tissue_cells(&m, &req, &|done, _| pb.set_position(done as u64), cancel);
        pb.finish_and_clear();
        g?
    };
    let text = c2s_model::cells::generated_jsonl(&g.cells);
    c2s_data::output::write_file(output, text.as_bytes(), force)?;
    if dataset.is_some() {
        println!(
            "Wrote {} cells to {}: {:.1} % of words are genes of the dataset, {:.1} % of those are unique within their cell",
            g.cells.len(),
            output.display(),
            100.0 * g.valid_share,
            100.0 * g.unique_share
        );
    } else {
        println!(
            "Wrote {} cells to {} (give --dataset to count known and unique genes)",
            g.cells.len(),
            output.display()
        );
    }
    Ok(())
}

/// `c2s embed` with a published model.
pub fn embed_with_published(
    model: &Path,
    cells: &[c2s_model::cells::CellInput],
    genes: usize,
    organism: &str,
    batch_size: usize,
) -> Result<(Vec<Vec<f32>>, usize)> {
    let m = load_published(model)?;
    let pb = cell_bar("embedding", cells.len() as u64);
    let cancel = &crate::CANCEL;
    let e = embed_published(
        &m,
        cells,
        genes,
        organism,
        batch_size,
        &|done, _| pb.set_position(done as u64),
        cancel,
    )?;
    pb.finish_and_clear();
    let width = m.model.hidden_size();
    Ok((e, width))
}
