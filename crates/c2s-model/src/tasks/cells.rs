//! Work on many cells with a trained model: predict their types, write new
//! cells, embed them. Shared by the CLI and the app; progress goes to a
//! callback (cells done, cells in all) and a cancel flag stops between batches.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use c2s_data::annotate::{write_cell_annotations, CellAnnotation};
use c2s_data::annotation_rules::{AnnotationRules, CellVotes};
pub use c2s_data::predictions::{predictions_jsonl, read_predictions, PredictionRecord};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::embed::embed_batch;
use crate::error::{ModelError, Result};
use crate::generate::{sample_batch_guided, GeneConstraint, Guidance, Sampling};
use crate::predict::Prediction;
use crate::prompts::{make_example, CellInfo, PromptStyle, Task, Templates};
use crate::published_prompts::{build_prompt, PromptInput, PublishedTask, PublishedTokens};
use crate::tokenizer::{decode_text, encode, is_word_level};
use crate::trained::{ModelCard, TrainedModel};

/// The ids of a prompt for `task` in the model's prompt style: a template of
/// ours drawn with `rng`, or the published models' first template.
fn prompt_ids(
    m: &TrainedModel,
    templates: &Templates,
    task: Task,
    info: &CellInfo,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<u32>> {
    match m.card.prompt_style {
        PromptStyle::Studio => {
            let ex = make_example(templates, task, info, m.card.top_k, rng)?;
            encode(&m.tok, &ex.prompt)
        }
        PromptStyle::Published => {
            let task = match task {
                Task::CellTypePrediction => PublishedTask::CellTypePrediction,
                Task::CellTypeGeneration => PublishedTask::CellTypeGeneration,
                Task::UnconditionalGeneration => {
                    return Err(ModelError::Input(
                        "this model answers the published prompts, which have no cells of no given type".into(),
                        "ask for cells of a type".into(),
                    ))
                }
            };
            let input = PromptInput {
                num_genes: m.card.top_k,
                organism: &m.card.organism,
                cells: vec![info.genes.iter().take(m.card.top_k).copied().collect()],
                cell_type: info.cell_type,
                ..Default::default()
            };
            let p = build_prompt(task, 0, &input)?;
            PublishedTokens {
                tok: &m.tok,
                eos: m.eos,
            }
            .prompt(&p.prompt)
        }
    }
}

/// A cell to work on: its name and sentence (genes, highest expression first).
#[derive(Debug, Clone)]
pub struct CellInput<'a> {
    pub name: &'a str,
    pub sentence: &'a str,
}

impl<'a> CellInput<'a> {
    /// A dataset's cell as a cell to work on.
    pub fn of(r: &'a c2s_data::dataset::SentenceRecord) -> Self {
        CellInput {
            name: &r.cell_name,
            sentence: &r.sentence,
        }
    }
}

fn cancelled(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::Relaxed) {
        Err(ModelError::Cancelled)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CellPrediction {
    pub cell_name: String,
    /// The known type chosen (free answers: the type named, if any).
    pub predicted: Option<String>,
    /// Scored predictions only: the softmax over the known types.
    pub confidence: Option<f64>,
    /// Free predictions only: the model's words.
    pub answer: Option<String>,
}

impl CellPrediction {
    /// A scored prediction: the best known type with its confidence.
    pub fn scored(cell_name: &str, p: Prediction) -> Self {
        CellPrediction {
            cell_name: cell_name.to_string(),
            predicted: Some(p.label),
            confidence: Some(p.confidence),
            answer: None,
        }
    }

    /// A free answer and the known type it was taken to name, if any.
    pub fn free(cell_name: &str, predicted: Option<String>, answer: String) -> Self {
        CellPrediction {
            cell_name: cell_name.to_string(),
            predicted,
            confidence: None,
            answer: Some(answer),
        }
    }
}

impl CellPrediction {
    /// The prediction as a line of a predictions file.
    pub fn record(&self, truth: Option<&str>, split: Option<&str>) -> PredictionRecord {
        PredictionRecord {
            cell_name: self.cell_name.clone(),
            predicted: self.predicted.clone(),
            confidence: self.confidence,
            answer: self.answer.clone(),
            truth: truth.map(String::from),
            split: split.map(String::from),
            votes: CellVotes::default(),
        }
    }
}

/// The records as a per-cell table for spreadsheets (CSV, one row a cell):
/// the final answer first, then what it came from. Empty cells where a field
/// does not apply; the columns are named as the .h5ad's obs columns are.
pub fn predictions_csv(records: &[PredictionRecord]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "cell_name",
        "c2s_cell_type",
        "c2s_predicted_cell_type",
        "c2s_confidence",
        "c2s_assigned_cell_type",
        "c2s_over_clustering",
        "c2s_majority_voting",
        "true_cell_type",
        "split",
        "answer",
    ];
    // Writing to memory cannot fail.
    w.write_record(header).expect("in memory");
    for r in records {
        let o = |v: Option<&str>| v.unwrap_or_default().to_string();
        w.write_record([
            r.cell_name.clone(),
            o(r.final_answer()),
            o(r.predicted.as_deref()),
            r.confidence.map(|c| format!("{c:.4}")).unwrap_or_default(),
            o(r.votes.assigned.as_deref()),
            r.votes
                .over_cluster
                .map(|c| c.to_string())
                .unwrap_or_default(),
            o(r.votes.majority_vote.as_deref()),
            o(r.truth.as_deref()),
            o(r.split.as_deref()),
            o(r.answer.as_deref()),
        ])
        .expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("the fields are text")
}

/// Copies the .h5ad `source` to `dst` with `records`' answers as obs columns
/// (`c2s_data::annotate::write_cell_annotations`).
pub fn write_annotated_h5ad(
    source: &std::path::Path,
    dst: &std::path::Path,
    records: &[PredictionRecord],
) -> Result<()> {
    let cells: Vec<CellAnnotation> = records
        .iter()
        .map(|r| CellAnnotation {
            cell_name: &r.cell_name,
            predicted: r.predicted.as_deref(),
            confidence: r.confidence,
            votes: &r.votes,
        })
        .collect();
    Ok(write_cell_annotations(source, dst, &cells)?)
}

/// Each cell's final answer and its confidence, by cell name, from a file
/// of prediction records (cells answered freely have no confidence).
pub fn final_answers(
    path: &std::path::Path,
) -> Result<std::collections::HashMap<String, (String, Option<f64>)>> {
    Ok(read_predictions(path)?
        .iter()
        .filter_map(|r| {
            Some((
                r.cell_name.clone(),
                (r.final_answer()?.to_string(), r.confidence),
            ))
        })
        .collect())
}

/// Predicts each cell's type: by scoring every known type (always a valid
/// label, with a confidence), weighed with the vote of the training cells
/// nearest it where the model keeps them (`TrainedModel::neighbours`), or
/// with `free`, by letting the model write. `only` limits the answers to
/// some of the model's types (empty: all).
pub fn predict_cells(
    m: &TrainedModel,
    cells: &[CellInput],
    free: bool,
    only: &[String],
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<CellPrediction>> {
    let labels = AnnotationRules {
        only: only.to_vec(),
        ..Default::default()
    }
    .restrict(&m.card.labels)?;
    let templates = Templates::default_set();
    let predictor = m.predictor(&templates, labels.clone())?;
    let answer = |c: &CellInput| -> Result<CellPrediction> {
        let genes = m.card.cell_genes(c.sentence.split_whitespace());
        Ok(if free {
            let p = predictor.predict_free(&genes, m.eos)?;
            CellPrediction::free(c.name, p.label, p.text)
        } else {
            let answer = predictor.predict(&genes)?;
            let answer = match &m.neighbours {
                Some(map) => map.weigh(answer, c.sentence, &labels),
                None => answer,
            };
            CellPrediction::scored(c.name, answer)
        })
    };
    let parallel = cells_in_parallel(&m.loaded.model);
    let batch = if parallel {
        rayon::current_num_threads() * CELLS_PER_THREAD
    } else {
        1
    };
    let mut out = Vec::with_capacity(cells.len());
    for group in cells.chunks(batch) {
        cancelled(cancel)?;
        if parallel {
            use rayon::prelude::*;
            out.extend(group.par_iter().map(answer).collect::<Result<Vec<_>>>()?);
        } else {
            out.push(answer(&group[0])?);
        }
        progress(out.len(), cells.len());
    }
    Ok(out)
}

/// Cells each thread answers between two progress reports (and checks for
/// cancelling) when cells run in parallel: a fraction of a second.
const CELLS_PER_THREAD: usize = 8;

/// Whether cells are best answered several at once, one a thread: on the
/// CPU, for models of the presets' size (under 50 M weights), whose
/// operations are too small to share among threads. A quick-preset model
/// kept little more than 1 of 2 cores busy; one cell a thread, it answered
/// the demo's 2,638 cells in 138 s instead of 205 s. Larger models, and
/// GPUs, share each operation's work instead; cells one a thread would also
/// multiply the memory a prompt takes.
fn cells_in_parallel(model: &crate::CausalLm) -> bool {
    let (width, layers) = (model.hidden_size(), model.n_layer());
    let weights = model.vocab_size() * width + layers * 12 * width * width;
    model.device().is_cpu() && rayon::current_num_threads() > 1 && weights < 50_000_000
}

/// A typed message is read as a cell's genes only when at least this share
/// of its words are genes the model knows: "what is the weather like" is
/// no cell, though any word could be a gene's name.
pub(crate) const MIN_KNOWN_WORD_SHARE: f64 = 0.5;

/// A cell typed or pasted as text, as the model reads it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypedCell {
    /// Too few of the words read (the first `top_k`) are genes the model
    /// knows: not a cell.
    NotGenes { words: usize, known: usize },
    /// The types the model calls the cell.
    Named(TypedCellCall),
}

/// The model's answer for a typed cell: every type it knows, likeliest
/// first, and the words it does not know as genes.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TypedCellCall {
    pub label: String,
    pub confidence: f64,
    pub ranking: Vec<(String, f64)>,
    /// The words read that are not genes the model knows.
    pub unknown_genes: Vec<String>,
    /// How many words were read: the first `top_k` of the model's card.
    pub read: usize,
}

/// Names the type of a cell given as text: gene names most expressed first,
/// separated by spaces or commas, in any case; its first `top_k` genes are
/// asked about, as `predict_cells` asks about a dataset's cells.
pub fn name_typed_cell(m: &TrainedModel, text: &str) -> Result<TypedCell> {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_uppercase())
        .collect();
    // Only the words read count: a whole sentence pasted from a dataset
    // goes on past the genes the model learned, which are those within
    // some cell's first `top_k` (common genes it was trained without left
    // out, as for a dataset's cells).
    let read = m.card.cell_genes(words.iter().map(String::as_str));
    let known: HashSet<&str> = m.card.genes.iter().map(String::as_str).collect();
    let unknown_genes: Vec<String> = read
        .iter()
        .filter(|w| !known.contains(*w))
        .map(|w| w.to_string())
        .collect();
    let n_known = read.len() - unknown_genes.len();
    if read.is_empty() || (n_known as f64) < MIN_KNOWN_WORD_SHARE * read.len() as f64 {
        return Ok(TypedCell::NotGenes {
            words: read.len(),
            known: n_known,
        });
    }
    let templates = Templates::default_set();
    let predictor = m.predictor(&templates, m.card.labels.clone())?;
    let p = predictor.predict(&read)?;
    // Weighed as `predict_cells` weighs a dataset's cell, on all the words.
    let p = match &m.neighbours {
        Some(map) => map.weigh(p, &words.join(" "), &m.card.labels),
        None => p,
    };
    let mut ranking: Vec<(String, f64)> = m
        .card
        .labels
        .iter()
        .cloned()
        .zip(p.probabilities())
        .collect();
    ranking.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(TypedCell::Named(TypedCellCall {
        label: p.label,
        confidence: p.confidence,
        ranking,
        unknown_genes,
        read: read.len(),
    }))
}

/// The most cells of a group `call_group` scores: a few seconds with a
/// model trained here on a laptop.
pub const GROUP_CALL_CELLS: usize = 100;

/// What a model calls a group of cells (a lasso selection on a map).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GroupCall {
    /// Cells asked about.
    pub asked: usize,
    /// Of those, the cells the converted dataset holds (the others were
    /// filtered out at conversion).
    pub found: usize,
    /// Of those, the cells scored: all of them, or an even spread of
    /// `max_cells` when there are more.
    pub scored: usize,
    /// Each type the model named, with how many of the scored cells it
    /// named so: most first, ties in name order.
    pub types: Vec<(String, usize)>,
}

/// Predicts the type of the cells of `records` named in `names` (at most
/// `max_cells` of them, evenly spread) and counts the answers.
pub fn call_group(
    m: &TrainedModel,
    records: &[c2s_data::dataset::SentenceRecord],
    names: &[String],
    max_cells: usize,
    cancel: &AtomicBool,
) -> Result<GroupCall> {
    let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
    let found: Vec<CellInput> = records
        .iter()
        .filter(|r| wanted.contains(r.cell_name.as_str()))
        .map(CellInput::of)
        .collect();
    let n = found.len().min(max_cells.max(1));
    let chosen: Vec<CellInput> = (0..n).map(|i| found[i * found.len() / n].clone()).collect();
    let answers = predict_cells(m, &chosen, false, &[], &|_, _| {}, cancel)?;
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for a in answers {
        if let Some(t) = a.predicted {
            *counts.entry(t).or_default() += 1;
        }
    }
    let mut types: Vec<(String, usize)> = counts.into_iter().collect();
    // Stable: equal counts keep the map's name order.
    types.sort_by_key(|t| std::cmp::Reverse(t.1));
    Ok(GroupCall {
        asked: wanted.len(),
        found: found.len(),
        scored: n,
        types,
    })
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// One entry per type; `None`: cells of no given type.
    pub types: Vec<Option<String>>,
    /// Cells per type.
    pub per_type: usize,
    /// Cells of each of `types`, in order, in place of `per_type` each (a
    /// mix of types, as in a split of a dataset: `TypeMix`).
    pub counts: Vec<usize>,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    /// Allow any token (as the reference); by default only known genes, once each.
    pub free: bool,
    /// Extra stop texts; the end token and "." always end a cell.
    pub stop: Vec<String>,
    /// Cells written at once (the same cells as one at a time).
    pub batch_size: usize,
    pub seed: u64,
    /// Classifier-free guidance toward the asked type (`generate::Guidance`):
    /// 1 is plain sampling, more gives cells more typical of the type.
    /// `None`: DEFAULT_GUIDANCE for models that learned cells of no given
    /// type, 1 for the others.
    pub guidance: Option<f64>,
}

impl GenerateRequest {
    /// Cells asked of the `i`th type.
    pub(crate) fn cells_of(&self, i: usize) -> usize {
        self.counts.get(i).copied().unwrap_or(self.per_type)
    }

    /// Cells asked in all.
    pub fn cells(&self) -> usize {
        (0..self.types.len()).map(|i| self.cells_of(i)).sum()
    }
}

/// The cells to generate in the mix of types of a dataset's split: as many
/// of each type the model learned as the split holds, so that generated and
/// real cells compare like with like (`c2s generate --as-in`, Compare).
#[derive(Debug, Clone, PartialEq)]
pub struct TypeMix {
    /// The types, commonest first, each with its count.
    pub types: Vec<(String, usize)>,
    /// Types of the split the model did not learn: left out.
    pub left_out: Vec<String>,
}

impl TypeMix {
    /// The mix of `split` of `records`, in the label column the model
    /// learned.
    pub fn of_split(
        records: &[c2s_data::dataset::SentenceRecord],
        split: c2s_data::split::SplitChoice,
        card: &crate::ModelCard,
    ) -> Result<TypeMix> {
        // Each type's cells, commonest first (ties by name).
        let counts = c2s_data::frame::count_values(
            records
                .iter()
                .filter(|r| split.holds(r.label("split")))
                .filter_map(|r| r.label(&card.label_column)),
        );
        let (known, unknown): (Vec<_>, Vec<_>) = counts
            .into_iter()
            .partition(|(t, _)| card.labels.contains(t));
        if known.is_empty() {
            return Err(ModelError::Input(
                format!(
                    "no cell of the {split} split has a type the model learned (column `{}`)",
                    card.label_column
                ),
                "choose the dataset the model was trained on, or a split with labelled cells"
                    .into(),
            ));
        }
        Ok(TypeMix {
            types: known,
            left_out: unknown.into_iter().map(|(t, _)| t).collect(),
        })
    }

    /// The types and counts as a request names them (`types`, `counts`).
    pub fn types_and_counts(&self) -> (Vec<Option<String>>, Vec<usize>) {
        self.types
            .iter()
            .map(|(t, n)| (Some(t.clone()), *n))
            .unzip()
    }

    /// A request for these cells, with the other settings of `base`.
    pub fn request(&self, base: GenerateRequest) -> GenerateRequest {
        let (types, counts) = self.types_and_counts();
        GenerateRequest {
            types,
            counts,
            ..base
        }
    }
}

impl Default for GenerateRequest {
    fn default() -> Self {
        GenerateRequest {
            types: vec![None],
            per_type: 10,
            counts: Vec::new(),
            temperature: 1.0,
            top_k: 50,
            top_p: 0.95,
            free: false,
            stop: Vec::new(),
            batch_size: 16,
            seed: c2s_data::DEFAULT_SEED,
            guidance: None,
        }
    }
}

/// The guidance cells of a type are generated with unless asked otherwise,
/// chosen on the demo's validation cells: against plain sampling (1), 2
/// lowered the Gromov-Wasserstein distance to real cells and raised the
/// k-NN accuracy of the asked type for both presets tried (README).
pub const DEFAULT_GUIDANCE: f64 = 2.0;

/// The guidance `generate_cells` uses for `asked` with this model.
pub fn guidance_for(card: &ModelCard, asked: Option<f64>) -> Result<f64> {
    match asked {
        Some(w) => crate::generate::Guidance::check_weight(w),
        None if card.learned_unconditional && card.prompt_style == PromptStyle::Studio => {
            Ok(DEFAULT_GUIDANCE)
        }
        None => Ok(1.0),
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GeneratedCell {
    pub cell_name: String,
    pub cell_sentence: String,
    pub cell_type: Option<String>,
}

/// Generated cells as JSON lines (cell_name, cell_sentence, cell_type): the
/// file `c2s generate` writes and the app adds to, which `c2s eval
/// --generated` and `c2s reconstruct` read.
pub fn generated_jsonl(cells: &[GeneratedCell]) -> String {
    cells
        .iter()
        .map(|c| serde_json::to_string(c).expect("plain data serialises") + "\n")
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratedCells {
    pub cells: Vec<GeneratedCell>,
    /// Words that are genes the model knows, of all words.
    pub valid_share: f64,
    /// Known genes that appear once in their cell, of known genes.
    pub unique_share: f64,
    /// Whether generation was limited to known genes.
    pub constrained: bool,
}

/// Counts of generated words: all, known genes, and known genes not
/// repeated within their cell.
#[derive(Debug, Default)]
pub(crate) struct GeneTally {
    words: usize,
    valid: usize,
    unique: usize,
}

impl GeneTally {
    pub fn add(&mut self, sentence: &str, known: &HashSet<&str>) {
        let mut seen = HashSet::new();
        for w in sentence.split_whitespace() {
            self.words += 1;
            if known.contains(w) {
                self.valid += 1;
                self.unique += seen.insert(w) as usize;
            }
        }
    }

    pub fn finish(self, cells: Vec<GeneratedCell>, constrained: bool) -> GeneratedCells {
        GeneratedCells {
            cells,
            valid_share: self.valid as f64 / self.words.max(1) as f64,
            unique_share: self.unique as f64 / self.valid.max(1) as f64,
            constrained,
        }
    }
}

/// Writes new cells. `on_text(cell, text_so_far)` streams each cell's words
/// as they come when `batch_size` is 1 (and once per finished cell otherwise).
pub fn generate_cells(
    m: &TrainedModel,
    req: &GenerateRequest,
    on_text: &mut dyn FnMut(usize, &str),
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<GeneratedCells> {
    let card = &m.card;
    if !req.counts.is_empty() && req.counts.len() != req.types.len() {
        return Err(ModelError::Input(
            format!(
                "{} counts of cells for {} types",
                req.counts.len(),
                req.types.len()
            ),
            "give one count a type, or none".into(),
        ));
    }
    if req.cells() == 0 {
        return Err(ModelError::Input(
            "no cells asked for".into(),
            "ask for at least one cell of each type".into(),
        ));
    }
    let guidance = checked_guidance(card, req)?;
    let guided = guidance != 1.0 && req.types.iter().any(Option::is_some);
    let constraint = gene_constraint(m);
    // Sub-word tokenizers (fine-tuned GPT-2) have no token per gene to allow.
    let constrained = !req.free && is_word_level(&m.tok);
    let known: HashSet<&str> = card.genes.iter().map(String::as_str).collect();
    let jobs = generation_prompts(m, req, guided)?;
    let s = generation_sampling(m, req)?;
    let batch = req.batch_size.max(1);
    let mut cells = Vec::with_capacity(jobs.len());
    let mut tally = GeneTally::default();
    for (c, chunk) in jobs.chunks(batch).enumerate() {
        cancelled(cancel)?;
        let prompts: Vec<Vec<u32>> = chunk.iter().map(|j| j.prompt.clone()).collect();
        let unconditional: Vec<Option<Vec<u32>>> =
            chunk.iter().map(|j| j.unconditional.clone()).collect();
        let seeds: Vec<u64> = (0..chunk.len())
            .map(|k| req.seed.wrapping_add((c * batch + k) as u64))
            .collect();
        let first = c * batch;
        let mut streamed: Vec<u32> = Vec::new();
        let mut on_token = |_row: usize, t: u32| {
            if batch == 1 {
                streamed.push(t);
                on_text(first, &decode_text(&m.tok, &streamed));
            }
        };
        let outs = sample_batch_guided(
            &m.loaded.model,
            &prompts,
            &Guidance {
                weight: guidance,
                unconditional: &unconditional,
            },
            m.eos,
            &s,
            &seeds,
            constrained.then_some(&constraint),
            &mut on_token,
        )?;
        for (k, (job, ids)) in chunk.iter().zip(outs).enumerate() {
            let written = decode_text(&m.tok, &ids);
            let written = written.trim_end_matches('.').trim();
            // The shares count the genes the model wrote, not those put back.
            tally.add(written, &known);
            let sentence = card.whole_cell(written, job.cell_type.as_deref());
            on_text(first + k, &sentence);
            let name = format!(
                "generated_{}_{}",
                job.cell_type.as_deref().unwrap_or("cell").replace(' ', "_"),
                job.index
            );
            cells.push(GeneratedCell {
                cell_name: name,
                cell_sentence: sentence,
                cell_type: job.cell_type.clone(),
            });
        }
        progress(cells.len(), jobs.len());
    }
    Ok(tally.finish(cells, constrained))
}

/// The guidance weight of a request, after checking that the model knows
/// the types asked for and can be guided.
fn checked_guidance(card: &ModelCard, req: &GenerateRequest) -> Result<f64> {
    for t in req.types.iter().flatten() {
        if !card.labels.contains(t) {
            return Err(ModelError::Input(
                format!("the model has not learned the cell type `{t}`"),
                format!("it knows: {}", card.labels.join(", ")),
            ));
        }
    }
    let guidance = guidance_for(card, req.guidance)?;
    let guided = guidance != 1.0 && req.types.iter().any(Option::is_some);
    if guided && card.prompt_style == PromptStyle::Published {
        return Err(ModelError::Input(
            "guidance needs cells of no given type, which the published prompts have no words for"
                .into(),
            "use guidance 1 with this model".into(),
        ));
    }
    if guided && !card.learned_unconditional {
        return Err(ModelError::Input(
            "guidance needs a model that also learned cells of no given type; this one was trained without them (by an earlier version)".into(),
            "use guidance 1, or train the model again".into(),
        ));
    }
    Ok(guidance)
}

/// The model's tokens that are genes it knows, and those that end a cell.
fn gene_constraint(m: &TrainedModel) -> GeneConstraint {
    let mut is_gene = vec![false; m.loaded.model.vocab_size()];
    for g in &m.card.genes {
        if let Some(id) = m.tok.token_to_id(g) {
            is_gene[id as usize] = true;
        }
    }
    let enders: Vec<u32> = [Some(m.eos), m.tok.token_to_id(".")]
        .into_iter()
        .flatten()
        .collect();
    GeneConstraint { is_gene, enders }
}

/// A cell to write: its type, its number within the type, its prompt, and
/// (when guided) the prompt for a cell of no given type.
struct GenerationJob {
    cell_type: Option<String>,
    index: usize,
    prompt: Vec<u32>,
    unconditional: Option<Vec<u32>>,
}

/// The prompts of every cell asked for, in output order.
fn generation_prompts(
    m: &TrainedModel,
    req: &GenerateRequest,
    guided: bool,
) -> Result<Vec<GenerationJob>> {
    let card = &m.card;
    let templates = Templates::default_set();
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    // Unconditional prompts from their own generator, so that guidance
    // leaves the conditional prompts as they are without it.
    let mut rng_uncond = ChaCha8Rng::seed_from_u64(req.seed ^ 0x5eed_0fc0_ffee);
    // The prompt asks for as many genes as the model saw per cell.
    let placeholder: Vec<&str> = vec![""; card.top_k];
    let mut jobs = Vec::new();
    for (i, ty) in req.types.iter().enumerate() {
        for index in 0..req.cells_of(i) {
            let task = if ty.is_some() {
                Task::CellTypeGeneration
            } else {
                Task::UnconditionalGeneration
            };
            let info = CellInfo {
                genes: &placeholder,
                cell_type: ty.as_deref(),
                organism: &card.organism,
            };
            let prompt = prompt_ids(m, &templates, task, &info, &mut rng)?;
            let unconditional = if guided && ty.is_some() {
                let info = CellInfo {
                    cell_type: None,
                    ..info
                };
                let task = Task::UnconditionalGeneration;
                Some(prompt_ids(m, &templates, task, &info, &mut rng_uncond)?)
            } else {
                None
            };
            jobs.push(GenerationJob {
                cell_type: ty.clone(),
                index,
                prompt,
                unconditional,
            });
        }
    }
    Ok(jobs)
}

/// The request's sampling settings, with room for a whole cell.
fn generation_sampling(m: &TrainedModel, req: &GenerateRequest) -> Result<Sampling> {
    let stop: Vec<Vec<u32>> = req
        .stop
        .iter()
        .map(|t| encode(&m.tok, t))
        .collect::<Result<_>>()?;
    Ok(Sampling {
        temperature: req.temperature,
        top_k: Some(req.top_k),
        top_p: Some(req.top_p),
        // A gene is a token of our gene-level tokenizers; sub-word ones
        // spend about 4 tokens a gene (REFERENCE.md section 8).
        max_new: if is_word_level(&m.tok) {
            m.card.top_k + 2
        } else {
            m.card.top_k * 6 + 16
        },
        seed: req.seed,
        stop,
    })
}

/// One embedding per cell: the mean of the last hidden states over the real
/// tokens of its prediction prompt (padding masked). Returns the width too.
pub fn embed_cells(
    m: &TrainedModel,
    cells: &[CellInput],
    batch_size: usize,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<(Vec<Vec<f32>>, usize)> {
    let templates = Templates::default_set();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::with_capacity(cells.len());
    for batch in cells.chunks(batch_size.max(1)) {
        cancelled(cancel)?;
        let mut seqs = Vec::with_capacity(batch.len());
        for c in batch {
            let genes = m.card.cell_genes(c.sentence.split_whitespace());
            let info = CellInfo {
                genes: &genes,
                cell_type: Some(""),
                organism: &m.card.organism,
            };
            seqs.push(prompt_ids(
                m,
                &templates,
                Task::CellTypePrediction,
                &info,
                &mut rng,
            )?);
        }
        out.extend(embed_batch(&m.loaded.model, &seqs, m.eos)?);
        progress(out.len(), cells.len());
    }
    let width = out.first().map_or(0, Vec::len);
    Ok((out, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_cell_table_has_the_final_answer_and_quotes_commas() {
        let mut a = PredictionRecord {
            cell_name: "AAAC-1".into(),
            predicted: Some("CD4 T cell".into()),
            confidence: Some(0.31234),
            answer: None,
            truth: Some("CD8 T cell".into()),
            split: Some("test".into()),
            votes: CellVotes::default(),
        };
        a.votes.assigned = Some("Unassigned".into());
        a.votes.over_cluster = Some(3);
        a.votes.majority_vote = Some("T cell, cytotoxic".into());
        let b = PredictionRecord {
            cell_name: "AAAG-1".into(),
            predicted: None,
            confidence: None,
            answer: Some("a \"neuron\"".into()),
            truth: None,
            split: None,
            votes: CellVotes::default(),
        };
        let t = predictions_csv(&[a, b]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("cell_name,c2s_cell_type,c2s_predicted_cell_type,c2s_confidence,")
        );
        assert_eq!(
            lines[1],
            "AAAC-1,\"T cell, cytotoxic\",CD4 T cell,0.3123,Unassigned,3,\"T cell, cytotoxic\",CD8 T cell,test,"
        );
        assert_eq!(lines[2], "AAAG-1,,,,,,,,,\"a \"\"neuron\"\"\"");
    }

    #[test]
    fn a_split_s_mix_keeps_the_types_the_model_learned_commonest_first() {
        use c2s_data::dataset::SentenceRecord;
        let cell = |t: &str, split: &str| SentenceRecord {
            cell_name: format!("{t}-{split}"),
            sentence: "CD3D".into(),
            labels: vec![
                ("cell_type".into(), Some(t.into())),
                ("split".into(), Some(split.into())),
            ],
            counts: None,
        };
        let records = [
            cell("B", "test"),
            cell("T", "test"),
            cell("T", "test"),
            cell("rare", "test"),
            cell("B", "train"),
        ];
        let card = crate::ModelCard {
            label_column: "cell_type".into(),
            labels: vec!["B".into(), "T".into()],
            organism: "Homo sapiens".into(),
            top_k: 10,
            genes: vec![],
            prompt_style: Default::default(),
            learned_unconditional: true,
            learned_generation: None,
            common_genes: None,
        };
        let mix = TypeMix::of_split(&records, "test".parse().unwrap(), &card).unwrap();
        assert_eq!(mix.types, [("T".to_string(), 2), ("B".to_string(), 1)]);
        assert_eq!(mix.left_out, ["rare"]);
        let req = mix.request(GenerateRequest::default());
        assert_eq!(req.types, [Some("T".to_string()), Some("B".to_string())]);
        assert_eq!((req.cells_of(0), req.cells_of(1), req.cells()), (2, 1, 3));
        assert_eq!(req.top_k, GenerateRequest::default().top_k);
        let all = TypeMix::of_split(&records, "all".parse().unwrap(), &card).unwrap();
        assert_eq!(all.types, [("B".to_string(), 2), ("T".to_string(), 2)]);
        // No learned type in the split: an error, not zero cells.
        let e = TypeMix::of_split(&records, "val".parse().unwrap(), &card).unwrap_err();
        assert!(e.to_string().contains("no cell of the val split"), "{e}");
    }
}
