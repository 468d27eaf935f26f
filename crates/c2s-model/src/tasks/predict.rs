//! Cell type prediction by scoring: every known cell type is ranked by the
//! model's log-likelihood of the response, so the answer is always a valid
//! label (the reference's free generation can answer with a gene list).

use candle_core::{DType, Tensor, D};
use serde::Serialize;
use tokenizers::Tokenizer;

use crate::error::Result;
use crate::generate::{sample, Sampling};
use crate::models::cache::KvCache;
use crate::models::causal_lm::CausalLm;
use crate::prompts::{
    encode_example, make_example, CellInfo, EncodedExample, PromptStyle, Task, Templates,
};
use crate::published_prompts::{
    build_prompt, PromptInput, PromptSet, PublishedTask, PublishedTokens,
};
use crate::tokenizer::{decode_text, encode};

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub label: String,
    /// Softmax of the labels' log-likelihoods.
    pub confidence: f64,
    /// Log-likelihood of each label's response, in `labels` order.
    pub log_likelihoods: Vec<f64>,
}

impl Prediction {
    /// Every label's probability (softmax of the log-likelihoods), in the
    /// predictor's label order.
    pub(crate) fn probabilities(&self) -> Vec<f64> {
        let max = self
            .log_likelihoods
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self
            .log_likelihoods
            .iter()
            .map(|l| (l - max).exp())
            .collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|x| x / z).collect()
    }
}

/// A freely generated answer.
#[derive(Debug, Clone, Serialize)]
pub struct FreePrediction {
    pub text: String,
    /// The known label the text names exactly, if it does.
    pub label: Option<String>,
}

/// Predicts cell types with one model over a fixed set of labels.
pub struct Predictor<'a> {
    pub model: &'a CausalLm,
    pub tok: &'a Tokenizer,
    pub templates: &'a Templates,
    pub labels: Vec<String>,
    pub organism: String,
    pub top_k: usize,
    /// Tokens of each label's response (" {label}." then the end token).
    responses: Vec<Vec<u32>>,
    style: PromptStyle,
    eos: u32,
    /// With a weight: each type's score also counts how likely the model
    /// finds the cell's genes given the type (see GENERATIVE_WEIGHT).
    generative: Option<f64>,
}

/// The weight of the generation direction in a type's score: the
/// likelihood of the answer plus this times the log-probability of the
/// cell's genes given the type, normalised over the types (a product of the
/// two directions the model learned). Chosen on the demo's validation cells
/// by macro F1 among 0.02 to 1 (README table).
pub const GENERATIVE_WEIGHT: f64 = 0.5;

/// The generation direction reads the cell's first this many genes: as
/// good on the validation cells as all 100 (0.932 / 0.813), at about half
/// the time (25 genes: 0.932 / 0.806).
pub const GENERATIVE_GENES: usize = 50;

/// The generation direction is asked only when the answer alone is less
/// sure than this (its softmax over the types): on the demo's validation and
/// test cells the answers are the same as asking it always, and it is asked
/// about a fifth of the cells.
pub const GENERATIVE_BELOW: f64 = 0.95;

/// The genes are weighed for the answer's this many likeliest types (the
/// same answers on the demo as all eight; a dataset of 35 types would cost
/// twelve times as much otherwise).
pub const GENERATIVE_TYPES: usize = 3;

/// A type's score from the answer's log-likelihoods (`answer`) and, when the
/// answer is less sure than GENERATIVE_BELOW, `w` times the genes'
/// log-probabilities given each of its GENERATIVE_TYPES likeliest types,
/// normalised over them (`given`, called with their indices only then). The
/// other types take the lowest of those, so none overtakes a weighed one.
fn weigh(
    answer: Vec<f64>,
    w: f64,
    given: impl FnOnce(&[usize]) -> Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let max = answer.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sure = 1.0 / answer.iter().map(|a| (a - max).exp()).sum::<f64>();
    if sure >= GENERATIVE_BELOW {
        return Ok(answer);
    }
    let mut top: Vec<usize> = (0..answer.len()).collect();
    top.sort_by(|&a, &b| answer[b].total_cmp(&answer[a]));
    top.truncate(GENERATIVE_TYPES);
    let given = given(&top)?;
    let worst = given.iter().copied().fold(f64::INFINITY, f64::min);
    let mut out: Vec<f64> = answer.iter().map(|a| a + w * worst).collect();
    for (&i, g) in top.iter().zip(given) {
        out[i] = answer[i] + w * g;
    }
    Ok(out)
}

impl<'a> Predictor<'a> {
    pub fn new(
        model: &'a CausalLm,
        tok: &'a Tokenizer,
        templates: &'a Templates,
        labels: Vec<String>,
        organism: &str,
        top_k: usize,
        eos: u32,
    ) -> Result<Self> {
        let tt = templates.task(Task::CellTypePrediction)?;
        let responses = labels
            .iter()
            .map(|l| {
                let mut ids = encode(tok, &format!(" {}", tt.response.replace("{cell_type}", l)))?;
                ids.push(eos);
                Ok(ids)
            })
            .collect::<Result<_>>()?;
        Ok(Predictor {
            model,
            tok,
            templates,
            labels,
            organism: organism.to_string(),
            top_k,
            responses,
            style: PromptStyle::Studio,
            eos,
            generative: None,
        })
    }

    /// The same predictor, also weighing how likely the model finds the
    /// cell's genes given each type (`weight`; None: the answer alone).
    /// Models trained here with the generation task only.
    pub fn with_generative(mut self, weight: Option<f64>) -> Self {
        self.generative = weight.filter(|_| self.style == PromptStyle::Studio);
        self
    }

    /// Log-probability of the cell's genes given each of the labels `which`
    /// (indices), from the type-conditioned generation prompt, normalised
    /// over them.
    fn generative_scores(&self, genes: &[&str], which: &[usize]) -> Result<Vec<f64>> {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let ctx = self.model.context_len();
        // The genes are the same after every type's prompt: tokenised once,
        // as `encode_example` would (a leading space, the end token), and
        // cut to the genes weighed.
        let mut response: Option<Vec<u32>> = None;
        let seqs = which
            .iter()
            .map(|&i| {
                let info = CellInfo {
                    genes,
                    cell_type: Some(&self.labels[i]),
                    organism: &self.organism,
                };
                let ex = make_example(
                    self.templates,
                    Task::CellTypeGeneration,
                    &info,
                    self.top_k,
                    &mut rng,
                )?;
                if response.is_none() {
                    let mut r = encode(self.tok, &format!(" {}", ex.response))?;
                    r.push(self.eos);
                    r.truncate(GENERATIVE_GENES);
                    response = Some(r);
                }
                let mut ids = encode(self.tok, &ex.prompt)?;
                let response_start = ids.len();
                if response_start >= ctx {
                    // As encode_example refuses it.
                    return encode_example(self.tok, &ex, self.eos, ctx);
                }
                ids.extend(response.iter().flatten());
                ids.truncate(ctx);
                Ok(EncodedExample {
                    ids,
                    response_start,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let scores = score_responses(self.model, &seqs)?;
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z = max + scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln();
        Ok(scores.into_iter().map(|s| s - z).collect())
    }

    /// The answer's log-likelihood of each label, plus the generation
    /// direction's share when the predictor weighs it (see `weigh`).
    fn combined(&self, genes: &[&str], answer: Vec<f64>) -> Result<Vec<f64>> {
        match self.generative {
            Some(w) => weigh(answer, w, |which| self.generative_scores(genes, which)),
            None => Ok(answer),
        }
    }

    /// The same predictor asking in `style` (a model card's): the published
    /// models' prompt and their response ids, tokenised apart.
    pub fn with_style(mut self, style: PromptStyle) -> Result<Self> {
        if style == PromptStyle::Published {
            let tokens = PublishedTokens {
                tok: self.tok,
                eos: self.eos,
            };
            let set = PromptSet::of(PublishedTask::CellTypePrediction);
            self.responses = self
                .labels
                .iter()
                .map(|l| tokens.response(&set.response[0].replace("{cell_type}", l)))
                .collect::<Result<_>>()?;
        }
        self.style = style;
        Ok(self)
    }

    fn prompt(&self, genes: &[&str]) -> Result<Vec<u32>> {
        if self.style == PromptStyle::Published {
            let input = PromptInput {
                num_genes: self.top_k,
                organism: &self.organism,
                cells: vec![genes.iter().take(self.top_k).copied().collect()],
                ..Default::default()
            };
            let p = build_prompt(PublishedTask::CellTypePrediction, 0, &input)?;
            return PublishedTokens {
                tok: self.tok,
                eos: self.eos,
            }
            .prompt(&p.prompt);
        }
        let info = CellInfo {
            genes,
            cell_type: Some(""),
            organism: &self.organism,
        };
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let ex = make_example(
            self.templates,
            Task::CellTypePrediction,
            &info,
            self.top_k,
            &mut rng,
        )?;
        encode(self.tok, &ex.prompt)
    }

    /// The reference's way: greedy free generation of the answer, returned as
    /// text with the known label it names, if any (the model may answer with
    /// anything, a gene list included).
    pub(crate) fn predict_free(&self, genes: &[&str], eos: u32) -> Result<FreePrediction> {
        let prompt = self.prompt(genes)?;
        let longest = self.responses.iter().map(Vec::len).max().unwrap_or(1);
        let s = Sampling {
            temperature: 0.0,
            max_new: longest + 8,
            ..Default::default()
        };
        let ids = sample(self.model, &prompt, eos, &s, None, &mut |_| {})?;
        let text = decode_text(self.tok, &ids);
        let answer = text.trim().trim_end_matches('.').trim().to_string();
        let tt = self.templates.task(Task::CellTypePrediction)?;
        // The response template may wrap the type ("This is a {cell_type}.").
        let label = self
            .labels
            .iter()
            .find(|l| {
                let expected = tt.response.replace("{cell_type}", l);
                answer == **l || answer == expected.trim().trim_end_matches('.').trim()
            })
            .cloned();
        Ok(FreePrediction {
            text: answer,
            label,
        })
    }

    /// Scores every label for one cell (genes highest expression first).
    pub fn predict(&self, genes: &[&str]) -> Result<Prediction> {
        let prompt = self.prompt(genes)?;
        let scores = score_continuations(self.model, &prompt, &self.responses)?;
        Ok(Prediction::from_scores(
            &self.labels,
            self.combined(genes, scores)?,
        ))
    }
}

impl Predictor<'_> {
    /// Scores every label for one cell by running the prompt again with each
    /// label, no cache shared: what `predict` must equal, at the cost of one
    /// whole prompt per label (the reference for tests and benchmarks).
    pub fn predict_alone(&self, genes: &[&str]) -> Result<Prediction> {
        let prompt = self.prompt(genes)?;
        let scores = score_each_alone(self.model, &prompt, &self.responses)?;
        Ok(Prediction::from_scores(
            &self.labels,
            self.combined(genes, scores)?,
        ))
    }
}

impl Prediction {
    /// The best of `labels` by `scores` (their log-likelihoods), with the
    /// softmax over them as the confidence.
    pub(crate) fn from_scores(labels: &[String], scores: Vec<f64>) -> Prediction {
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|x| x.0)
            .unwrap_or(0);
        let max = scores[best];
        let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
        Prediction {
            label: labels[best].clone(),
            confidence: 1.0 / z,
            log_likelihoods: scores,
        }
    }
}

/// Bytes of repeated prompt cache one batch of candidates may take.
const CANDIDATE_CACHE_BYTES: usize = 256 << 20;

/// Log-likelihood of each candidate continuation of `prompt` (token ids,
/// end token included). The prompt runs once; its KV cache is shared by
/// every candidate, which run in batches over copies of it, right-padded
/// (causal attention never sees the pad), as many at once as fit
/// `CANDIDATE_CACHE_BYTES`. The answers are those of scoring each
/// candidate's full sequence alone.
pub fn score_continuations(
    model: &CausalLm,
    prompt: &[u32],
    candidates: &[Vec<u32>],
) -> Result<Vec<f64>> {
    if prompt.is_empty() {
        return Err(crate::error::ModelError::Input(
            "an empty prompt".into(),
            "give the model something to answer".into(),
        ));
    }
    let dev = model.device();
    let mut cache = KvCache::new(model.n_layer());
    // Only the last position's logits: the vocabulary-wide product over
    // the whole prompt would cost up to a quarter of the pass (Gemma-2).
    let hidden = model.hidden_states(
        &Tensor::new(prompt, dev)?.unsqueeze(0)?,
        Some(&mut cache),
        None,
    )?;
    let last = model.logits(&hidden.narrow(1, prompt.len() - 1, 1)?)?;
    let first = candle_nn::ops::log_softmax(&last.flatten_all()?, D::Minus1)?.to_vec1::<f32>()?;
    let mut scores: Vec<f64> = candidates
        .iter()
        .map(|r| r.first().map_or(0.0, |&t| first[t as usize] as f64))
        .collect();
    let per_candidate = 2
        * model.n_layer()
        * cache.len().max(1)
        * model.hidden_size()
        * model.dtype().size_in_bytes();
    let batch = (CANDIDATE_CACHE_BYTES / per_candidate.max(1)).clamp(1, 256);
    let order: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].len() > 1)
        .collect();
    for group in order.chunks(batch) {
        let rest = group
            .iter()
            .map(|&i| candidates[i].len() - 1)
            .max()
            .unwrap_or(0);
        let n = group.len();
        let mut ids = Vec::with_capacity(n * rest);
        for &i in group {
            let given = &candidates[i][..candidates[i].len() - 1];
            ids.extend_from_slice(given);
            ids.extend(std::iter::repeat_n(given[0], rest - given.len()));
        }
        let mut c = cache.repeat_rows(n)?;
        let out = model.forward(&Tensor::from_vec(ids, (n, rest), dev)?, Some(&mut c))?;
        let lp = candle_nn::ops::log_softmax(&out.to_dtype(DType::F32)?, D::Minus1)?;
        for (row, &i) in group.iter().enumerate() {
            let wanted = &candidates[i][1..];
            let idx = Tensor::new(wanted, dev)?.unsqueeze(1)?;
            let picked: Vec<f32> = lp
                .get(row)?
                .narrow(0, 0, wanted.len())?
                .gather(&idx, 1)?
                .squeeze(1)?
                .to_vec1()?;
            scores[i] += picked.iter().map(|&x| x as f64).sum::<f64>();
        }
    }
    Ok(scores)
}

/// Sequences whose responses are scored in one batch, at most.
const RESPONSE_BATCH: usize = 16;

/// Log-likelihood of each example's response (end token included) after its
/// own prompt: the examples run in batches, right-padded (causal attention
/// never sees the pad).
pub fn score_responses(model: &CausalLm, examples: &[EncodedExample]) -> Result<Vec<f64>> {
    use rayon::prelude::*;
    let dev = model.device();
    let mut scores = Vec::with_capacity(examples.len());
    for group in examples.chunks(RESPONSE_BATCH) {
        let len = group.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if len == 0 {
            scores.extend(std::iter::repeat_n(0.0, group.len()));
            continue;
        }
        let mut ids = Vec::with_capacity(group.len() * len);
        // Position p of each row predicts token p + 1: the rows of the
        // flattened hidden states whose logits are wanted, and their tokens.
        let (mut rows, mut wanted, mut owner) = (Vec::new(), Vec::new(), Vec::new());
        for (k, e) in group.iter().enumerate() {
            ids.extend_from_slice(&e.ids);
            ids.extend(std::iter::repeat_n(e.ids[0], len - e.ids.len()));
            let start = e.response_start.max(1);
            for p in start..e.ids.len() {
                rows.push((k * len + p - 1) as u32);
                wanted.push(e.ids[p]);
                owner.push(k);
            }
        }
        let mut sums = vec![0.0f64; group.len()];
        if !rows.is_empty() {
            let hidden = model.hidden_states(
                &Tensor::from_vec(ids, (group.len(), len), dev)?,
                None,
                None,
            )?;
            let hidden = hidden.flatten_to(1)?;
            let picked = hidden.index_select(&Tensor::new(rows.as_slice(), dev)?, 0)?;
            // One product for every wanted position (the head's weights
            // stream once), then log-softmax at the wanted token only.
            let logits = model
                .logits(&picked.unsqueeze(0)?)?
                .squeeze(0)?
                .to_dtype(DType::F32)?;
            let v = logits.dim(1)?;
            let flat: Vec<f32> = logits.flatten_all()?.to_vec1()?;
            let lp: Vec<f64> = flat
                .par_chunks(v)
                .zip(wanted.par_iter())
                .map(|(row, &t)| {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let sum: f64 = row.iter().map(|&x| (x - max).exp() as f64).sum();
                    (row[t as usize] - max) as f64 - sum.ln()
                })
                .collect();
            for (k, l) in owner.iter().zip(lp) {
                sums[*k] += l;
            }
        }
        scores.extend(sums);
    }
    Ok(scores)
}

/// Log-likelihood of each candidate continuation of `prompt`, each run with
/// the prompt as one sequence and no cache: the reference `score_continuations`
/// equals, at the cost of the whole prompt per candidate.
pub fn score_each_alone(
    model: &CausalLm,
    prompt: &[u32],
    candidates: &[Vec<u32>],
) -> Result<Vec<f64>> {
    let dev = model.device();
    candidates
        .iter()
        .map(|c| {
            if prompt.is_empty() || c.is_empty() {
                return Ok(0.0);
            }
            let seq: Vec<u32> = prompt.iter().chain(c).copied().collect();
            let hidden = model.hidden_states(
                &Tensor::new(seq.as_slice(), dev)?.unsqueeze(0)?,
                None,
                None,
            )?;
            // Positions prompt.len() - 1 .. predict the candidate's tokens.
            let rows = hidden.narrow(1, prompt.len() - 1, c.len())?;
            let logits = model.logits(&rows)?.to_dtype(DType::F32)?.squeeze(0)?;
            let lp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let picked: Vec<f32> = lp
                .gather(&Tensor::new(c.as_slice(), dev)?.unsqueeze(1)?, 1)?
                .squeeze(1)?
                .to_vec1()?;
            Ok(picked.iter().map(|&x| x as f64).sum())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_genes_are_weighed_only_when_the_answer_is_unsure() {
        // Sure (softmax 0.99): the answer alone, the genes never worked out.
        let sure = vec![0.0, -(99f64).ln()];
        let got = weigh(sure.clone(), 0.5, |_| panic!("not asked")).unwrap();
        assert_eq!(got, sure);
        // Unsure (0.5 / 0.3 / 0.15 / 0.05): the three likeliest types gain
        // w times the genes' score, which may turn the answer; the fourth
        // takes the lowest of theirs.
        let unsure: Vec<f64> = [0.5f64, 0.3, 0.15, 0.05].iter().map(|p| p.ln()).collect();
        let got = weigh(unsure.clone(), 0.5, |which| {
            assert_eq!(which, [0, 1, 2]);
            Ok(vec![-3.0, -0.05, -4.0])
        })
        .unwrap();
        let want = [
            unsure[0] - 1.5,
            unsure[1] - 0.025,
            unsure[2] - 2.0,
            unsure[3] - 2.0,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{g} against {w}");
        }
        assert!(got[1] > got[0] && got[2] > got[3]);
        let cancelled = weigh(unsure, 0.5, |_| Err(crate::error::ModelError::Cancelled));
        assert!(cancelled.is_err());
    }

    #[test]
    fn probabilities_are_the_softmax_of_the_scores() {
        let p = Prediction {
            label: "b".into(),
            confidence: 0.0,
            log_likelihoods: vec![-3.0, -1.0, -1000.0],
        };
        let pr = p.probabilities();
        let e = (-2.0f64).exp();
        assert!((pr[0] - e / (1.0 + e)).abs() < 1e-12);
        assert!((pr[1] - 1.0 / (1.0 + e)).abs() < 1e-12);
        assert_eq!(pr[2], 0.0);
        assert!((pr.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
