//! Text generation with a key-value cache.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::models::cache::KvCache;
use crate::models::causal_lm::CausalLm;

/// Greedy decoding: `max_new` tokens after `prompt`, stopping early at `eos`.
pub fn greedy(
    model: &CausalLm,
    prompt: &[u32],
    max_new: usize,
    eos: Option<u32>,
) -> Result<Vec<u32>> {
    let dev = model.device();
    let mut cache = KvCache::new(model.n_layer());
    let mut out = Vec::with_capacity(max_new);
    let mut input = Tensor::new(prompt, dev)?.unsqueeze(0)?;
    for _ in 0..max_new {
        let h = model.hidden_states(&input, Some(&mut cache), None)?;
        let last = model
            .logits(&h.narrow(1, h.dim(1)? - 1, 1)?)?
            .flatten_all()?;
        let next = last.argmax(D::Minus1)?.to_scalar::<u32>()?;
        out.push(next);
        if Some(next) == eos {
            break;
        }
        input = Tensor::new(&[next], dev)?.unsqueeze(0)?;
    }
    Ok(out)
}

/// How to pick each next token.
#[derive(Debug, Clone)]
pub struct Sampling {
    /// 0 means greedy.
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub max_new: usize,
    pub seed: u64,
    /// Stop when the output ends with one of these token sequences (left
    /// out of the result).
    pub stop: Vec<Vec<u32>>,
}

impl Default for Sampling {
    /// The reference's settings for cell generation: top-k 50, top-p 0.95.
    fn default() -> Self {
        Sampling {
            temperature: 1.0,
            top_k: Some(50),
            top_p: Some(0.95),
            max_new: 256,
            seed: c2s_data::DEFAULT_SEED,
            stop: Vec::new(),
        }
    }
}

impl Sampling {
    /// Settings the sampler can honour. A top-k of 0 would silently be
    /// greedy and a top-p above 1 no cut at all, so both are refused.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String, hint: String| Err(crate::error::ModelError::Input(what, hint));
        // The reference's settings, which the hints offer.
        let d = Sampling::default();
        let (k, p) = (d.top_k.unwrap_or_default(), d.top_p.unwrap_or(1.0));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(
                format!("temperature {} is not a number of 0 or more", self.temperature),
                "use 1 to sample the model as it is, less for likelier words, 0 for always the likeliest".into(),
            );
        }
        if self.top_k == Some(0) {
            return bad(
                "top-k 0 keeps no word".into(),
                format!("use at least 1 (the reference's: {k})"),
            );
        }
        if let Some(bad_p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return bad(
                format!("top-p {bad_p} is not a share above 0 and at most 1"),
                format!("use 1 for no cut (the reference's: {p})"),
            );
        }
        Ok(())
    }
}

/// Restricts generated cells to real genes, each at most once: our answer to
/// the invented and repeated genes of free generation.
#[derive(Debug, Clone)]
pub struct GeneConstraint {
    /// `is_gene[token]`: whether the token is a gene of the vocabulary.
    pub is_gene: Vec<bool>,
    /// Tokens that may end the sentence ("." and the end token).
    pub enders: Vec<u32>,
}

impl GeneConstraint {
    /// Rules out of `logits` every token that is neither a gene not yet
    /// `used` nor an ender.
    fn restrict(&self, logits: &mut [f32], used: &[bool]) {
        for (tok, l) in logits.iter_mut().enumerate() {
            let gene_ok = self.is_gene.get(tok).copied().unwrap_or(false) && !used[tok];
            if !gene_ok && !self.enders.contains(&(tok as u32)) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

/// Samples a continuation of `prompt`, calling `on_token` as each token comes.
/// Stops at `eos`, at a stop sequence or after `max_new` tokens.
pub fn sample(
    model: &CausalLm,
    prompt: &[u32],
    eos: u32,
    s: &Sampling,
    constraint: Option<&GeneConstraint>,
    on_token: &mut dyn FnMut(u32),
) -> Result<Vec<u32>> {
    sample_while(model, prompt, eos, s, constraint, &mut |t| {
        on_token(t);
        true
    })
}

/// `sample`, also stopping when `on_token` returns false (a cancel): the
/// tokens so far are returned.
pub fn sample_while(
    model: &CausalLm,
    prompt: &[u32],
    eos: u32,
    s: &Sampling,
    constraint: Option<&GeneConstraint>,
    on_token: &mut dyn FnMut(u32) -> bool,
) -> Result<Vec<u32>> {
    use rand::{Rng, SeedableRng};
    s.check()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let dev = model.device();
    let mut cache = KvCache::new(model.n_layer());
    let mut used = vec![false; model.vocab_size()];
    let mut out = Vec::new();
    let mut input = Tensor::new(prompt, dev)?.unsqueeze(0)?;
    let room = model.context_len().saturating_sub(prompt.len());
    for _ in 0..s.max_new.min(room) {
        let h = model.hidden_states(&input, Some(&mut cache), None)?;
        let mut last: Vec<f32> = model
            .logits(&h.narrow(1, h.dim(1)? - 1, 1)?)?
            .flatten_all()?
            .to_vec1()?;
        if let Some(c) = constraint {
            c.restrict(&mut last, &used);
        }
        let next = pick(&last, s, rng.random::<f64>());
        out.push(next);
        let go_on = on_token(next);
        if !go_on || next == eos || constraint.is_some_and(|c| c.enders.contains(&next)) {
            break;
        }
        if let Some(stop) = s.stop.iter().find(|q| !q.is_empty() && out.ends_with(q)) {
            out.truncate(out.len() - stop.len());
            break;
        }
        used[next as usize] = true;
        input = Tensor::new(&[next], dev)?.unsqueeze(0)?;
    }
    Ok(out)
}

/// Samples continuations of several prompts at once (one batched forward
/// pass per step: on a CPU, many cells cost little more than one). Prompts
/// are left-padded, with position ids counted from each row's first real
/// token, so each row continues as it would alone. Row `r` draws with
/// `seeds[r]`, like `sample` with that seed. `on_token(row, token)` streams.
pub fn sample_batch(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    eos: u32,
    s: &Sampling,
    seeds: &[u64],
    constraint: Option<&GeneConstraint>,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    let none = vec![None; prompts.len()];
    let plain = Guidance {
        weight: 1.0,
        unconditional: &none,
    };
    sample_batch_guided(model, prompts, &plain, eos, s, seeds, constraint, on_token)
}

/// Classifier-free guidance for conditional rows: the same model asked
/// without the condition (an unconditional prompt) continues the same
/// tokens beside each guided row, and the next token is drawn from
/// `log p(x | uncond) + weight * (log p(x | cond) - log p(x | uncond))`,
/// as "Stay on topic with classifier-free guidance" (Sanchez et al. 2023)
/// does for language models. weight 1 is plain conditional sampling, 0
/// unconditional, above 1 pushes away from what any cell would have and
/// toward what the condition adds.
#[derive(Debug, Clone, Copy)]
pub struct Guidance<'a> {
    pub weight: f64,
    /// Per row, its unconditional prompt, or `None` for a row sampled as is.
    pub unconditional: &'a [Option<Vec<u32>>],
}

impl Guidance<'_> {
    /// A weight the sampler takes: finite and not negative.
    pub fn check_weight(weight: f64) -> Result<f64> {
        if weight.is_finite() && weight >= 0.0 {
            Ok(weight)
        } else {
            Err(crate::error::ModelError::Input(
                format!("guidance weight {weight} is not a number of 0 or more"),
                "use 1 for plain sampling, 0 to ignore the cell type, about 1.5 to 3 for cells more typical of it".into(),
            ))
        }
    }
}

/// `sample_batch` with classifier-free guidance (`Guidance`): rows with an
/// unconditional prompt get a second row beside them in the batch.
#[allow(clippy::too_many_arguments)]
pub fn sample_batch_guided(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    guidance: &Guidance,
    eos: u32,
    s: &Sampling,
    seeds: &[u64],
    constraint: Option<&GeneConstraint>,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    use rand::{Rng, SeedableRng};
    s.check()?;
    let b = prompts.len();
    if b == 0 {
        return Ok(Vec::new());
    }
    if seeds.len() != b || guidance.unconditional.len() != b {
        return Err(crate::error::ModelError::Input(
            format!(
                "{b} prompts but {} seeds and {} unconditional prompts",
                seeds.len(),
                guidance.unconditional.len()
            ),
            "give one seed and one (optional) unconditional prompt per prompt".into(),
        ));
    }
    let weight = Guidance::check_weight(guidance.weight)?;
    let GuidedRows { rows, twin, owner } = GuidedRows::new(prompts, guidance);
    let n = rows.len();
    let dev = model.device();
    let (ids, pos, mut keep, width) = left_padded(&rows, eos);
    let mut next_pos: Vec<u32> = rows.iter().map(|p| p.len() as u32).collect();
    let mut rngs: Vec<rand_chacha::ChaCha8Rng> = seeds
        .iter()
        .map(|&x| rand_chacha::ChaCha8Rng::seed_from_u64(x))
        .collect();
    let mut used = vec![vec![false; model.vocab_size()]; b];
    let mut done = vec![false; b];
    let mut outs: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut cache = KvCache::new(model.n_layer());
    let mut input = Tensor::from_vec(ids, (n, width), dev)?;
    let mut positions = Tensor::from_vec(pos, (n, width), dev)?;
    let room = model.context_len().saturating_sub(width);
    for _ in 0..s.max_new.min(room) {
        let total = keep[0].len();
        let mask = Tensor::from_vec(keep.concat(), (n, total), dev)?;
        let h = model.hidden_states_at(&input, Some(&mut cache), Some(&mask), Some(&positions))?;
        let t = h.dim(1)?;
        let last: Vec<Vec<f32>> = model
            .logits(&h.narrow(1, t - 1, 1)?.squeeze(1)?)?
            .to_vec2()?;
        let mut next = vec![eos; n];
        for r in 0..b {
            if done[r] {
                continue;
            }
            let mut row = match twin[r] {
                Some(u) => guided(&last[r], &last[u], weight),
                None => last[r].clone(),
            };
            if let Some(c) = constraint {
                c.restrict(&mut row, &used[r]);
            }
            let tok = pick(&row, s, rngs[r].random::<f64>());
            outs[r].push(tok);
            on_token(r, tok);
            if tok == eos || constraint.is_some_and(|c| c.enders.contains(&tok)) {
                done[r] = true;
            } else if let Some(stop) = s
                .stop
                .iter()
                .find(|q| !q.is_empty() && outs[r].ends_with(q))
            {
                let n = outs[r].len() - stop.len();
                outs[r].truncate(n);
                done[r] = true;
            } else {
                used[r][tok as usize] = true;
                next[r] = tok;
                if let Some(u) = twin[r] {
                    next[u] = tok;
                }
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        for (k, &o) in keep.iter_mut().zip(&owner) {
            k.push(if done[o] { 0.0 } else { 1.0 });
        }
        input = Tensor::from_vec(next, (n, 1), dev)?;
        positions = Tensor::from_vec(next_pos.clone(), (n, 1), dev)?;
        next_pos.iter_mut().for_each(|p| *p += 1);
    }
    Ok(outs)
}

/// The rows of a guided batch: the prompts, then the unconditional twins of
/// the guided ones.
struct GuidedRows<'p> {
    rows: Vec<&'p Vec<u32>>,
    /// `twin[r]`: the row of prompt r's twin, if it is guided.
    twin: Vec<Option<usize>>,
    /// `owner[row]`: the prompt a batch row belongs to.
    owner: Vec<usize>,
}

impl<'p> GuidedRows<'p> {
    fn new(prompts: &'p [Vec<u32>], guidance: &'p Guidance) -> Self {
        let b = prompts.len();
        let mut rows: Vec<&Vec<u32>> = prompts.iter().collect();
        let mut twin: Vec<Option<usize>> = vec![None; b];
        let mut owner: Vec<usize> = (0..b).collect();
        for (r, u) in guidance.unconditional.iter().enumerate() {
            if let Some(u) = u {
                twin[r] = Some(rows.len());
                rows.push(u);
                owner.push(r);
            }
        }
        GuidedRows { rows, twin, owner }
    }
}

/// Rows left-padded with `pad` to one width: their ids and positions (row
/// by row), each row's attention mask (0 on the padding) and the width.
fn left_padded(rows: &[&Vec<u32>], pad: u32) -> (Vec<u32>, Vec<u32>, Vec<Vec<f32>>, usize) {
    let n = rows.len();
    let width = rows.iter().map(|p| p.len()).max().unwrap_or(0).max(1);
    let (mut ids, mut pos) = (Vec::with_capacity(n * width), Vec::with_capacity(n * width));
    let mut keep: Vec<Vec<f32>> = Vec::with_capacity(n);
    for p in rows {
        let padding = width - p.len();
        ids.extend(std::iter::repeat_n(pad, padding).chain(p.iter().copied()));
        pos.extend(std::iter::repeat_n(0u32, padding).chain(0..p.len() as u32));
        keep.push(
            std::iter::repeat_n(0.0, padding)
                .chain(std::iter::repeat_n(1.0, p.len()))
                .collect(),
        );
    }
    (ids, pos, keep, width)
}

/// `lu + w * (lc - lu)` over the log-probabilities of the conditional
/// (`cond`) and unconditional (`uncond`) logits. At w = 1 (0) the
/// conditional (unconditional) logits are returned as they are: the same
/// draws as plain sampling of that prompt, not merely the same law.
fn guided(cond: &[f32], uncond: &[f32], w: f64) -> Vec<f32> {
    if w == 1.0 {
        return cond.to_vec();
    }
    if w == 0.0 {
        return uncond.to_vec();
    }
    let log_softmax = |x: &[f32]| -> Vec<f64> {
        let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
        let z = x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
        x.iter().map(|&v| v as f64 - z).collect()
    };
    let (lc, lu) = (log_softmax(cond), log_softmax(uncond));
    lc.iter()
        .zip(&lu)
        .map(|(c, u)| (u + w * (c - u)) as f32)
        .collect()
}

/// Picks a token from logits: greedy at temperature 0, else softmax with
/// temperature, cut to the top k and to the top-p nucleus. `u` is uniform in [0, 1).
fn pick(logits: &[f32], s: &Sampling, u: f64) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |x| x.0) as u32
    };
    if s.temperature <= 0.0 {
        return argmax();
    }
    let mut idx: Vec<usize> = (0..logits.len())
        .filter(|&i| logits[i].is_finite())
        .collect();
    if idx.is_empty() {
        return argmax();
    }
    idx.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if let Some(k) = s.top_k {
        idx.truncate(k.max(1));
    }
    let max = logits[idx[0]] as f64;
    let mut p: Vec<f64> = idx
        .iter()
        .map(|&i| ((logits[i] as f64 - max) / s.temperature).exp())
        .collect();
    let z: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    if let Some(top_p) = s.top_p {
        let mut acc = 0.0;
        let keep = p.iter().position(|x| {
            acc += x;
            acc >= top_p
        });
        if let Some(k) = keep {
            p.truncate(k + 1);
            let z: f64 = p.iter().sum();
            p.iter_mut().for_each(|x| *x /= z);
        }
    }
    let mut acc = 0.0;
    for (j, x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return idx[j] as u32;
        }
    }
    idx[p.len() - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_settings_out_of_range_are_refused() {
        assert!(Sampling::default().check().is_ok());
        let greedy = Sampling {
            temperature: 0.0,
            top_k: Some(1),
            top_p: Some(1.0),
            ..Sampling::default()
        };
        assert!(greedy.check().is_ok());
        let refused = |s: Sampling, says: &str| {
            let e = s.check().unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        };
        for t in [-0.5, f64::NAN, f64::INFINITY] {
            refused(
                Sampling {
                    temperature: t,
                    ..Sampling::default()
                },
                "temperature",
            );
        }
        refused(
            Sampling {
                top_k: Some(0),
                ..Sampling::default()
            },
            "top-k 0",
        );
        for p in [0.0, 1.5, f64::NAN] {
            refused(
                Sampling {
                    top_p: Some(p),
                    ..Sampling::default()
                },
                "top-p",
            );
        }
    }

    #[test]
    fn picking_respects_greedy_top_k_and_top_p() {
        let logits = [1.0f32, 3.0, 2.0, f32::NEG_INFINITY];
        let greedy = Sampling {
            temperature: 0.0,
            ..Default::default()
        };
        assert_eq!(pick(&logits, &greedy, 0.5), 1);
        let top1 = Sampling {
            top_k: Some(1),
            top_p: None,
            ..Default::default()
        };
        for u in [0.0, 0.5, 0.99] {
            assert_eq!(pick(&logits, &top1, u), 1);
        }
        // Masked tokens are never drawn; all others can be.
        let free = Sampling {
            top_k: None,
            top_p: None,
            ..Default::default()
        };
        let drawn: std::collections::HashSet<u32> = (0..100)
            .map(|i| pick(&logits, &free, i as f64 / 100.0))
            .collect();
        assert_eq!(drawn, [0, 1, 2].into_iter().collect());
        // A nucleus of 0.5 keeps only the most likely token here (p = 0.67).
        let nucleus = Sampling {
            top_k: None,
            top_p: Some(0.5),
            ..Default::default()
        };
        assert_eq!(pick(&logits, &nucleus, 0.99), 1);
    }
}
