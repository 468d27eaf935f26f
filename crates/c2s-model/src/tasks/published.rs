//! The published C2S models (C2S-Pythia, C2S-Scale) used as they are, on any
//! converted dataset: name cells' types from a candidate list, write cells of
//! a type, name the tissue of a group of cells, summarise a group in English,
//! embed cells. Prompts and tokens are those the models were trained on
//! (tasks::published_prompts).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};
use crate::models::causal_lm::CausalLm;
use crate::models::config::{Family, ModelConfig};
use crate::models::tokenizer::load_tokenizer;
use crate::models::weights::CONFIG_JSON;
use crate::tasks::cells::{CellInput, CellPrediction, GeneTally, GeneratedCell, GeneratedCells};
use crate::tasks::embed::embed_batch;
use crate::tasks::generate::{sample_batch, Sampling};
use crate::tasks::predict::Predictor;
use crate::tasks::prompts::{PromptStyle, Templates};
use crate::tasks::published_prompts::{build_prompt, PromptInput, PublishedTask, PublishedTokens};

/// Genes per cell in the published models' training (REFERENCE.md section 8).
pub const DEFAULT_NUM_GENES: usize = 200;
/// Cells asked about at once in a group question (tissue, summary); the
/// multi-cell models saw 5 to 20.
pub const DEFAULT_GROUP_CELLS: usize = 5;
/// Genes per cell in a group question: five cells of 100 genes stay near
/// 2,000 tokens, inside Pythia's context.
pub const DEFAULT_GROUP_GENES: usize = 100;
/// Longest answer to a group question, in tokens.
pub const DEFAULT_ANSWER_TOKENS: usize = 200;
/// Cells annotated per group when groups are named by a vote.
pub const DEFAULT_VOTES_PER_GROUP: usize = 10;

/// A Hugging Face causal language model folder of a supported family with
/// its tokenizer, loaded on the best device for inference.
pub struct PublishedModel {
    pub dir: PathBuf,
    pub model: CausalLm,
    pub tok: Tokenizer,
    /// The end-of-text id: ends responses and generated text.
    pub eos: u32,
    /// The device and weight type in use, for people to read.
    pub device_name: String,
}

impl PublishedModel {
    pub fn load(dir: &Path) -> Result<Self> {
        let (device, device_name) = crate::device::best_device();
        Self::load_on(dir, &device, &device_name)
    }

    /// Loads onto `device` with `inference_dtype`'s weights (f16 matrices
    /// computed with in f32 on the CPU).
    pub fn load_on(dir: &Path, device: &candle_core::Device, device_name: &str) -> Result<Self> {
        let config = ModelConfig::read(&dir.join(CONFIG_JSON))?;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(ModelError::bad(
                dir,
                "no tokenizer.json in this model folder",
                "download the model's tokenizer.json from its Hub page into the folder",
            ));
        }
        let tok = load_tokenizer(&tok_path)?;
        let n_tok = tok.get_vocab_size(true);
        if n_tok > config.vocab_size() {
            return Err(ModelError::Tokenizer {
                path: tok_path,
                message: format!(
                    "{n_tok} tokens, but the model has embeddings for {}",
                    config.vocab_size()
                ),
                hint: "the tokenizer belongs to another model; use the one published with these weights".into(),
            });
        }
        let eos = config
            .eos_token_id()
            .or_else(|| {
                ["<|endoftext|>", "<eos>", "</s>"]
                    .iter()
                    .find_map(|t| tok.token_to_id(t))
            })
            .ok_or_else(|| ModelError::Tokenizer {
                path: tok_path.clone(),
                message: "no end-of-text token".into(),
                hint: "set eos_token_id in config.json".into(),
            })?;
        let (model, weights) = crate::trained::load_for_inference(dir, device)?;
        Ok(PublishedModel {
            dir: dir.to_path_buf(),
            model,
            tok,
            eos,
            device_name: format!("{device_name}, {weights}"),
        })
    }

    pub fn family(&self) -> Family {
        self.model.family()
    }

    fn tokens(&self) -> PublishedTokens<'_> {
        PublishedTokens {
            tok: &self.tok,
            eos: self.eos,
        }
    }

    /// Prompt ids, checked against the context with room for `answer` tokens.
    fn prompt_ids(&self, prompt: &str, answer: usize) -> Result<Vec<u32>> {
        let ids = self.tokens().prompt(prompt)?;
        let ctx = self.model.context_len();
        if ids.len() + answer > ctx {
            return Err(ModelError::Input(
                format!(
                    "the prompt is {} tokens; with its answer it does not fit the model's context of {ctx}",
                    ids.len()
                ),
                "use fewer genes per cell (--genes) or fewer cells per group".into(),
            ));
        }
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> String {
        let ids: Vec<u32> = ids.iter().copied().filter(|&t| t != self.eos).collect();
        self.tok.decode(&ids, true).unwrap_or_default()
    }

    /// Greedy answer to a prompt, up to `max_new` tokens or the end token.
    fn answer(&self, prompt: &str, max_new: usize) -> Result<String> {
        let ids = self.prompt_ids(prompt, 1)?;
        let s = Sampling {
            temperature: 0.0,
            max_new,
            ..Default::default()
        };
        let out = sample_batch(
            &self.model,
            &[ids],
            self.eos,
            &s,
            &[0],
            None,
            &mut |_, _| {},
        )?;
        Ok(self.decode(&out[0]))
    }
}

fn cancelled(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::Relaxed) {
        Err(ModelError::Cancelled)
    } else {
        Ok(())
    }
}

/// How to name cells' types with a published model.
#[derive(Debug, Clone)]
pub struct AnnotateRequest {
    /// The types to choose from (a label column's values, a typed list, or
    /// `common_cell_types()`).
    pub candidates: Vec<String>,
    pub num_genes: usize,
    pub organism: String,
    /// Let the model write its answer (as the reference does), then take
    /// the nearest candidate; by default every candidate is scored.
    pub free: bool,
}

/// Cell types as the published models name them (Cell Ontology names, as
/// in CELLxGENE), for datasets without labels.
pub(crate) fn common_cell_types() -> Vec<String> {
    include_str!("../../prompts/common-cell-types.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The candidate closest to a free answer: an exact match ignoring case and
/// a final ".", else the most similar by normalised edit distance.
pub(crate) fn nearest_candidate<'a>(answer: &str, candidates: &'a [String]) -> Option<&'a String> {
    let a = answer.trim().trim_end_matches('.').trim().to_lowercase();
    candidates
        .iter()
        .find(|c| c.to_lowercase() == a)
        .or_else(|| {
            candidates.iter().max_by(|x, y| {
                let sx = strsim::normalized_levenshtein(&a, &x.to_lowercase());
                let sy = strsim::normalized_levenshtein(&a, &y.to_lowercase());
                sx.total_cmp(&sy)
            })
        })
}

/// Names each cell's type: every candidate scored by its likelihood (the
/// prompt's KV cache shared across candidates), with a confidence; or with
/// `free`, the model's own words mapped to the nearest candidate.
pub fn annotate_cells(
    m: &PublishedModel,
    cells: &[CellInput],
    req: &AnnotateRequest,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<CellPrediction>> {
    if req.candidates.is_empty() {
        return Err(ModelError::Input(
            "no candidate cell types".into(),
            "give the types to choose from, or use a label column".into(),
        ));
    }
    // The published prompt and label ids are the predictor's in published style.
    let templates = Templates::default_set();
    let predictor = Predictor::new(
        &m.model,
        &m.tok,
        &templates,
        req.candidates.clone(),
        &req.organism,
        req.num_genes,
        m.eos,
    )?
    .with_style(PromptStyle::Published)?;
    let mut out = Vec::with_capacity(cells.len());
    for (i, c) in cells.iter().enumerate() {
        cancelled(cancel)?;
        let genes: Vec<&str> = c.sentence.split_whitespace().collect();
        out.push(if req.free {
            let p = predictor.predict_free(&genes, m.eos)?;
            let nearest = nearest_candidate(&p.text, &req.candidates).cloned();
            CellPrediction::free(c.name, nearest, p.text)
        } else {
            CellPrediction::scored(c.name, predictor.predict(&genes)?)
        });
        progress(i + 1, cells.len());
    }
    Ok(out)
}

/// Annotation of groups (clusters) by a vote: `per_group` cells of each
/// group, evenly spaced through it, are annotated and the most frequent
/// answer names the whole group (CellTypist's majority voting, at a fraction
/// of the cost). Every cell gets its group's answer; the confidence is the
/// share of the sampled cells that voted for it.
pub fn annotate_groups(
    m: &PublishedModel,
    cells: &[CellInput],
    groups: &[Option<&str>],
    per_group: usize,
    req: &AnnotateRequest,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<CellPrediction>> {
    if groups.len() != cells.len() {
        return Err(ModelError::Input(
            format!("{} cells but {} group labels", cells.len(), groups.len()),
            "give one group per cell".into(),
        ));
    }
    let mut members: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, g) in groups.iter().enumerate() {
        if let Some(g) = g {
            members.entry(g).or_default().push(i);
        }
    }
    // Evenly spaced members of each group: deterministic, and spread over
    // the group rather than its first cells.
    let sampled: Vec<(&str, Vec<usize>)> = members
        .iter()
        .map(|(g, idx)| {
            let k = per_group.clamp(1, idx.len());
            let pick = (0..k).map(|j| idx[j * idx.len() / k]).collect();
            (*g, pick)
        })
        .collect();
    let order: Vec<usize> = sampled
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let chosen: Vec<CellInput> = order.iter().map(|&i| cells[i].clone()).collect();
    let votes = annotate_cells(m, &chosen, req, progress, cancel)?;
    let mut answer: std::collections::HashMap<&str, (Option<String>, f64)> = Default::default();
    let mut at = 0;
    for (g, pick) in &sampled {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for v in &votes[at..at + pick.len()] {
            if let Some(p) = &v.predicted {
                *counts.entry(p.as_str()).or_default() += 1;
            }
        }
        at += pick.len();
        let best = counts.iter().max_by_key(|(_, &n)| n);
        answer.insert(
            g,
            match best {
                Some((label, &n)) => (Some(label.to_string()), n as f64 / pick.len() as f64),
                None => (None, 0.0),
            },
        );
    }
    Ok(cells
        .iter()
        .zip(groups)
        .map(|(c, g)| {
            let (predicted, share) = g
                .and_then(|g| answer.get(g).cloned())
                .unwrap_or((None, 0.0));
            CellPrediction {
                cell_name: c.name.to_string(),
                predicted,
                confidence: Some(share),
                answer: None,
            }
        })
        .collect())
}

/// Cells of given types written by a published model.
#[derive(Debug, Clone)]
pub struct PublishedGenerateRequest {
    pub types: Vec<String>,
    pub per_type: usize,
    pub num_genes: usize,
    pub organism: String,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub batch_size: usize,
    pub seed: u64,
    /// Gene names of the dataset, to report valid and unique shares.
    pub known_genes: Vec<String>,
}

impl PublishedGenerateRequest {
    /// `per_type` cells of each type, 200 genes, with the reference's
    /// sampling (top-k 50, top-p 0.95, as `GenerateRequest`'s defaults).
    pub fn for_types(types: Vec<String>, per_type: usize) -> Self {
        let d = crate::tasks::cells::GenerateRequest::default();
        PublishedGenerateRequest {
            types,
            per_type,
            num_genes: DEFAULT_NUM_GENES,
            organism: "Homo sapiens".into(),
            temperature: d.temperature,
            top_k: d.top_k,
            top_p: d.top_p,
            batch_size: d.batch_size,
            seed: d.seed,
            known_genes: Vec::new(),
        }
    }

    /// The generation prompt's ids for cells of `ty`.
    fn prompt_ids(&self, m: &PublishedModel, ty: &str) -> Result<Vec<u32>> {
        let input = PromptInput {
            num_genes: self.num_genes,
            organism: &self.organism,
            cell_type: Some(ty),
            ..Default::default()
        };
        let prompt = build_prompt(PublishedTask::CellTypeGeneration, 0, &input)?.prompt;
        m.prompt_ids(&prompt, 1)
    }

    /// The request's sampling, at most `max_new` tokens a cell.
    fn sampling(&self, max_new: usize) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_k: Some(self.top_k),
            top_p: Some(self.top_p),
            max_new,
            seed: self.seed,
            stop: Vec::new(),
        }
    }

    /// The most tokens a cell may take: BPE tokenizers spend about 4 tokens a
    /// gene (REFERENCE.md section 8), so 6 leaves room.
    fn max_new(&self, m: &PublishedModel) -> usize {
        (self.num_genes * 6 + 16).min(m.model.context_len() / 2)
    }
}

/// A generated text as the reference post-processes it: upper case, split on
/// spaces, the final "." dropped. Unknown words and repeats stay (the share
/// of each is reported; `c2s reconstruct` drops the first and averages the
/// second, as the reference does).
pub(crate) fn clean_sentence(text: &str) -> String {
    text.trim()
        .trim_end_matches('.')
        .split_whitespace()
        .map(|w| w.trim_end_matches(['.', ',']).to_uppercase())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `per_type` cells of each type with the generation prompt
/// (sampling with top-k and top-p, as the reference's settings).
pub fn generate_published(
    m: &PublishedModel,
    req: &PublishedGenerateRequest,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<GeneratedCells> {
    let known: HashSet<&str> = req.known_genes.iter().map(String::as_str).collect();
    let mut jobs: Vec<(String, usize, Vec<u32>)> = Vec::new();
    for ty in &req.types {
        let ids = req.prompt_ids(m, ty)?;
        for i in 0..req.per_type {
            jobs.push((ty.clone(), i, ids.clone()));
        }
    }
    let s = req.sampling(req.max_new(m));
    let batch = req.batch_size.max(1);
    let mut cells = Vec::with_capacity(jobs.len());
    let mut tally = GeneTally::default();
    for (c, chunk) in jobs.chunks(batch).enumerate() {
        cancelled(cancel)?;
        let prompts: Vec<Vec<u32>> = chunk.iter().map(|j| j.2.clone()).collect();
        let seeds: Vec<u64> = (0..chunk.len())
            .map(|k| req.seed.wrapping_add((c * batch + k) as u64))
            .collect();
        let outs = sample_batch(&m.model, &prompts, m.eos, &s, &seeds, None, &mut |_, _| {})?;
        for ((ty, i, _), ids) in chunk.iter().zip(outs) {
            let sentence = clean_sentence(&m.decode(&ids));
            tally.add(&sentence, &known);
            cells.push(GeneratedCell {
                cell_name: format!("generated_{}_{i}", ty.replace(' ', "_")),
                cell_sentence: sentence,
                cell_type: Some(ty.clone()),
            });
        }
        progress(cells.len(), jobs.len());
    }
    Ok(tally.finish(cells, false))
}

/// Tokens a published model's BPE tokenizer spends on a gene, about
/// (REFERENCE.md section 8): the length of a generated cell in tokens.
const TOKENS_PER_GENE: usize = 4;

/// Seconds `generate_published` will take on this computer, about: a batch
/// of the request's first prompt is timed through its prompt and 2 tokens,
/// then through 10 (after one such batch to warm up), and scaled to the
/// request's batches and cells of `num_genes` genes.
pub fn estimate_generation_seconds(
    m: &PublishedModel,
    req: &PublishedGenerateRequest,
) -> Result<f64> {
    let cells = req.types.len() * req.per_type;
    let Some(ty) = req.types.first().filter(|_| cells > 0) else {
        return Ok(0.0);
    };
    let ids = req.prompt_ids(m, ty)?;
    let rows = req.batch_size.max(1).min(cells);
    let prompts = vec![ids; rows];
    let seeds: Vec<u64> = (0..rows as u64).collect();
    // No end token: every row runs the steps timed.
    let timed = |steps: usize| -> Result<f64> {
        let s = req.sampling(steps);
        let t = Instant::now();
        sample_batch(
            &m.model,
            &prompts,
            u32::MAX,
            &s,
            &seeds,
            None,
            &mut |_, _| {},
        )?;
        Ok(t.elapsed().as_secs_f64())
    };
    timed(2)?;
    let (short, long) = (timed(2)?, timed(10)?);
    let tokens = (req.num_genes * TOKENS_PER_GENE + 2).min(req.max_new(m));
    Ok(scaled_generation_seconds(short, long, cells, rows, tokens))
}

/// A batch of `rows` timed at `short` seconds through its prompt and 2
/// tokens and `long` through 10, scaled to `cells` cells of `tokens` tokens.
fn scaled_generation_seconds(
    short: f64,
    long: f64,
    cells: usize,
    rows: usize,
    tokens: usize,
) -> f64 {
    let step = ((long - short) / 8.0).max(0.0);
    let prompt_pass = (short - 2.0 * step).max(0.0);
    cells.div_ceil(rows.max(1)) as f64 * (prompt_pass + tokens as f64 * step)
}

/// Groups of cells of a tissue, written several at once as the multi-cell
/// models were trained ("Cell 1:\n...").
#[derive(Debug, Clone)]
pub struct TissueGenerateRequest {
    pub tissues: Vec<String>,
    /// Texts written per tissue; each holds `cells_per_group` cells.
    pub groups_per_tissue: usize,
    pub cells_per_group: usize,
    pub num_genes: usize,
    pub organism: String,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub batch_size: usize,
    pub seed: u64,
    /// Gene names of the dataset, to report valid and unique shares.
    pub known_genes: Vec<String>,
}

impl TissueGenerateRequest {
    /// `groups` groups of each tissue, of `DEFAULT_GROUP_CELLS` cells with
    /// `DEFAULT_GROUP_GENES` genes, with the reference's sampling.
    pub fn for_tissues(tissues: Vec<String>, groups: usize) -> Self {
        let d = PublishedGenerateRequest::for_types(Vec::new(), 0);
        TissueGenerateRequest {
            tissues,
            groups_per_tissue: groups,
            cells_per_group: DEFAULT_GROUP_CELLS,
            num_genes: DEFAULT_GROUP_GENES,
            organism: d.organism,
            temperature: d.temperature,
            top_k: d.top_k,
            top_p: d.top_p,
            batch_size: d.batch_size,
            seed: d.seed,
            known_genes: Vec::new(),
        }
    }
}

/// The cells of a multi-cell text: what follows each "Cell i:" marker, as
/// `clean_sentence` leaves it; text before the first marker is dropped, and
/// so are empty cells.
pub(crate) fn split_cells(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    // Find "Cell <digits>:" markers; what lies between two is one cell.
    let marker = |s: &str| -> Option<(usize, usize)> {
        let mut from = 0;
        while let Some(i) = s[from..].find("Cell ") {
            let at = from + i;
            let digits = s[at + 5..].chars().take_while(char::is_ascii_digit).count();
            if digits > 0 && s[at + 5 + digits..].starts_with(':') {
                return Some((at, at + 5 + digits + 1));
            }
            from = at + 5;
        }
        None
    };
    let Some((_, first_end)) = marker(rest) else {
        return out;
    };
    rest = &rest[first_end..];
    loop {
        let (body, next) = match marker(rest) {
            Some((start, end)) => (&rest[..start], Some(end)),
            None => (rest, None),
        };
        let cell = clean_sentence(body);
        if !cell.is_empty() {
            out.push(cell);
        }
        match next {
            Some(end) => rest = &rest[end..],
            None => return out,
        }
    }
}

/// Writes groups of cells of each tissue with the tissue-conditioned
/// generation prompt and splits each text into its cells.
pub fn generate_tissue_cells(
    m: &PublishedModel,
    req: &TissueGenerateRequest,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<GeneratedCells> {
    let known: HashSet<&str> = req.known_genes.iter().map(String::as_str).collect();
    let mut jobs: Vec<(String, usize, Vec<u32>)> = Vec::new();
    let mut longest = 0;
    for tissue in &req.tissues {
        let input = PromptInput {
            num_genes: req.num_genes,
            organism: &req.organism,
            num_cells: Some(req.cells_per_group.max(1)),
            tissue: Some(tissue),
            ..Default::default()
        };
        let prompt = build_prompt(PublishedTask::TissueGeneration, 0, &input)?.prompt;
        let ids = m.prompt_ids(&prompt, 1)?;
        longest = longest.max(ids.len());
        for g in 0..req.groups_per_tissue {
            jobs.push((tissue.clone(), g, ids.clone()));
        }
    }
    // About 6 tokens a gene and a few for each "Cell i:" line, within the context.
    let wanted = req.cells_per_group.max(1) * (req.num_genes * 6 + 8) + 16;
    let max_new = wanted.min(m.model.context_len().saturating_sub(longest).max(1));
    let s = Sampling {
        temperature: req.temperature,
        top_k: Some(req.top_k),
        top_p: Some(req.top_p),
        max_new,
        seed: req.seed,
        stop: Vec::new(),
    };
    let batch = req.batch_size.max(1);
    let mut cells = Vec::new();
    let mut tally = GeneTally::default();
    for (c, chunk) in jobs.chunks(batch).enumerate() {
        cancelled(cancel)?;
        let prompts: Vec<Vec<u32>> = chunk.iter().map(|j| j.2.clone()).collect();
        let seeds: Vec<u64> = (0..chunk.len())
            .map(|k| req.seed.wrapping_add((c * batch + k) as u64))
            .collect();
        let outs = sample_batch(&m.model, &prompts, m.eos, &s, &seeds, None, &mut |_, _| {})?;
        for ((tissue, g, _), ids) in chunk.iter().zip(outs) {
            for (i, sentence) in split_cells(&m.decode(&ids)).into_iter().enumerate() {
                tally.add(&sentence, &known);
                cells.push(GeneratedCell {
                    cell_name: format!("generated_{}_{g}_{i}", tissue.replace(' ', "_")),
                    cell_sentence: sentence,
                    cell_type: None,
                });
            }
        }
        progress((c * batch + chunk.len()).min(jobs.len()), jobs.len());
    }
    Ok(tally.finish(cells, false))
}

/// An answer about a group of cells.
#[derive(Debug, Clone, Serialize)]
pub struct GroupAnswer {
    pub task: PublishedTask,
    pub cells: usize,
    pub answer: String,
}

/// Names the tissue of a group of cells, or summarises it in English
/// (models trained on the natural-language task), by greedy decoding.
pub fn describe_group(
    m: &PublishedModel,
    task: PublishedTask,
    cells: &[CellInput],
    num_genes: usize,
    organism: &str,
    max_new: usize,
) -> Result<GroupAnswer> {
    if !matches!(
        task,
        PublishedTask::TissuePrediction | PublishedTask::NaturalLanguageInterpretation
    ) {
        return Err(ModelError::Input(
            format!("{task:?} does not describe a group of cells"),
            "ask for the tissue or a summary".into(),
        ));
    }
    if cells.is_empty() {
        return Err(ModelError::Input(
            "no cells in the group".into(),
            "pick at least one cell".into(),
        ));
    }
    let input = PromptInput {
        num_genes,
        organism,
        cells: cells
            .iter()
            .map(|c| c.sentence.split_whitespace().collect())
            .collect(),
        ..Default::default()
    };
    let prompt = build_prompt(task, 0, &input)?.prompt;
    let answer = m.answer(&prompt, max_new)?;
    Ok(GroupAnswer {
        task,
        cells: cells.len(),
        answer: answer.trim().trim_end_matches('.').trim().to_string(),
    })
}

/// One embedding per cell: the mean of the last hidden states over the real
/// tokens of its cell-type prediction prompt (padding never counts).
pub fn embed_published(
    m: &PublishedModel,
    cells: &[CellInput],
    num_genes: usize,
    organism: &str,
    batch_size: usize,
    progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(cells.len());
    for batch in cells.chunks(batch_size.max(1)) {
        cancelled(cancel)?;
        let seqs = batch
            .iter()
            .map(|c| {
                let input = PromptInput {
                    num_genes,
                    organism,
                    cells: vec![c.sentence.split_whitespace().collect()],
                    ..Default::default()
                };
                let prompt = build_prompt(PublishedTask::CellTypePrediction, 0, &input)?.prompt;
                m.prompt_ids(&prompt, 0)
            })
            .collect::<Result<Vec<_>>>()?;
        out.extend(embed_batch(&m.model, &seqs, m.eos)?);
        progress(out.len(), cells.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_cell_texts_split_into_cells() {
        // As the models were trained to write them: ".\n." after the last cell.
        let text = "Cell 1:\nMALAT1 b2m.\nCell 2:\nCD74 HLA-DRA CD74.\n.";
        assert_eq!(split_cells(text), ["MALAT1 B2M", "CD74 HLA-DRA CD74"]);
        // Text before the first marker, an empty cell, a cut-off last cell,
        // "Cell" inside a gene list that is no marker.
        let text = "noise Cell 1:\n.\nCell 2:\nCELLA Cell x: B\nCell 3:\nCD3E IL7";
        assert_eq!(split_cells(text), ["CELLA CELL X: B", "CD3E IL7"]);
        assert!(split_cells("MALAT1 B2M").is_empty());
    }

    #[test]
    fn answers_map_to_the_nearest_candidate() {
        let c: Vec<String> = ["B cell", "CD14-positive monocyte", "natural killer cell"]
            .map(String::from)
            .to_vec();
        assert_eq!(nearest_candidate("b cell.", &c).unwrap(), "B cell");
        assert_eq!(
            nearest_candidate("CD14-positive monocytes", &c).unwrap(),
            "CD14-positive monocyte"
        );
        assert_eq!(
            nearest_candidate("natural killer", &c).unwrap(),
            "natural killer cell"
        );
        assert!(nearest_candidate("x", &[]).is_none());
        assert!(common_cell_types().iter().any(|t| t == "B cell"));
        assert_eq!(clean_sentence(" malat1 B2M, cd74."), "MALAT1 B2M CD74");
    }

    #[test]
    fn generation_estimates_scale_with_batches_and_tokens() {
        use super::scaled_generation_seconds as est;
        // 1 s of prompt and 0.5 s a token: 1 + 100 * 0.5 a batch.
        assert_eq!(est(2.0, 6.0, 4, 4, 100), 51.0);
        assert_eq!(est(2.0, 6.0, 9, 4, 100), 3.0 * 51.0);
        assert_eq!(est(2.0, 6.0, 0, 4, 100), 0.0);
        // Timings in the wrong order (noise) never give less than nothing.
        assert_eq!(est(2.0, 1.0, 4, 4, 100), 2.0);
    }
}
