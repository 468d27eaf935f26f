//! The examples a run reads (one epoch's, in a seeded order) and the loss
//! on their responses.

use candle_core::Tensor;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenizers::Tokenizer;

use super::{CellRecord, TrainOptions};
use crate::error::Result;
use crate::models::causal_lm::CausalLm;
use crate::prompts::{
    encode_example, make_example, CellInfo, EncodedExample, PromptStyle, Task, Templates,
};
use crate::published_prompts::{published_example, PublishedTokens};

/// What turns cells into a run's examples: its tokenizer, templates,
/// options, end token and context length.
pub(crate) struct ExampleMaker<'a> {
    pub tok: &'a Tokenizer,
    pub templates: &'a Templates,
    pub opts: &'a TrainOptions,
    pub eos: u32,
    pub ctx: usize,
}

impl ExampleMaker<'_> {
    /// Examples of one epoch, in a seeded order that depends only on the
    /// epoch.
    pub(crate) fn epoch(&self, cells: &[CellRecord], epoch: u64) -> Result<Vec<EncodedExample>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed ^ epoch.wrapping_mul(0x9e37_79b9));
        let mut order: Vec<usize> = (0..cells.len()).collect();
        order.shuffle(&mut rng);
        let mut out = Vec::with_capacity(cells.len());
        for i in order {
            let c = &cells[i];
            let Some(task) = self.draw_task(c, &mut rng) else {
                continue;
            };
            out.push(self.example(c, task, &mut rng)?);
        }
        Ok(out)
    }

    /// The tasks a cell can be an example of: those its label allows (and
    /// cells of no given type only with Studio prompts).
    pub(crate) fn cell_tasks(&self, c: &CellRecord) -> Vec<Task> {
        let opts = self.opts;
        opts.tasks
            .iter()
            .copied()
            .filter(|t| !t.needs_label() || c.label.is_some())
            .filter(|t| {
                opts.prompt_style == PromptStyle::Studio || *t != Task::UnconditionalGeneration
            })
            .collect()
    }

    /// One of the cell's tasks, drawn evenly; a type-conditioned generation
    /// drops its type `unconditional_share` of the time.
    fn draw_task(&self, c: &CellRecord, rng: &mut ChaCha8Rng) -> Option<Task> {
        let tasks = self.cell_tasks(c);
        if tasks.is_empty() {
            return None;
        }
        let opts = self.opts;
        let mut task = tasks[rng.random_range(0..tasks.len())];
        if task == Task::CellTypeGeneration
            && opts.prompt_style == PromptStyle::Studio
            && opts.unconditional_share > 0.0
            && rng.random::<f64>() < opts.unconditional_share
        {
            task = Task::UnconditionalGeneration;
        }
        Some(task)
    }

    /// A cell's example of `task`, in the run's prompt style, tokenised.
    pub(crate) fn example(
        &self,
        c: &CellRecord,
        task: Task,
        rng: &mut ChaCha8Rng,
    ) -> Result<EncodedExample> {
        let genes: Vec<&str> = c.genes.iter().map(String::as_str).collect();
        let info = CellInfo {
            genes: &genes,
            cell_type: c.label.as_deref(),
            organism: &self.opts.organism,
        };
        match self.opts.prompt_style {
            PromptStyle::Studio => {
                let ex = make_example(self.templates, task, &info, self.opts.top_k, rng)?;
                encode_example(self.tok, &ex, self.eos, self.ctx)
            }
            PromptStyle::Published => {
                let tokens = PublishedTokens {
                    tok: self.tok,
                    eos: self.eos,
                };
                published_example(&tokens, task, &info, self.opts.top_k, self.ctx, rng)
            }
        }
    }
}

/// Cross-entropy of a batch's responses: the mean over examples of each
/// example's mean over its response tokens, so a one-word cell type weighs as
/// much as a 100-gene sentence in a mixture of tasks. Returns the loss and the
/// number of examples it averages.
pub fn batch_loss(
    model: &CausalLm,
    batch: &[&EncodedExample],
    eos: u32,
) -> Result<(Tensor, usize)> {
    let len = batch.iter().map(|e| e.ids.len()).max().unwrap_or(1).max(2) - 1;
    let (mut inputs, mut targets, mut weights) = (Vec::new(), Vec::new(), Vec::new());
    let b = batch.len();
    for e in batch {
        let t = e.targets();
        let n_e = t.iter().flatten().count().max(1) as f32;
        for i in 0..len {
            inputs.push(*e.ids.get(i).unwrap_or(&eos));
            let target = t.get(i).copied().flatten();
            targets.push(target.unwrap_or(0));
            weights.push(if target.is_some() {
                1.0 / (n_e * b as f32)
            } else {
                0.0
            });
        }
    }
    let dev = model.device();
    let inputs = Tensor::from_vec(inputs, (b, len), dev)?;
    let hidden = model.hidden_states(&inputs, None, None)?;
    // Only response positions carry loss: the language-model head and the
    // softmax over the vocabulary run on those rows alone.
    let rows: Vec<u32> = (0..b * len)
        .filter(|&i| weights[i] > 0.0)
        .map(|i| i as u32)
        .collect();
    let n_rows = rows.len();
    let hidden = hidden
        .reshape((b * len, model.hidden_size()))?
        .index_select(&Tensor::from_vec(rows.clone(), n_rows, dev)?, 0)?;
    let logits = model.logits(&hidden)?;
    let targets: Vec<u32> = rows.iter().map(|&i| targets[i as usize]).collect();
    let weights: Vec<f32> = rows.iter().map(|&i| weights[i as usize]).collect();
    let loss = crate::fused::cross_entropy(&logits, targets, weights)?;
    Ok((loss, b))
}

pub(super) fn validation_loss(
    model: &CausalLm,
    val: &[EncodedExample],
    batch_size: usize,
    eos: u32,
) -> Result<Option<f64>> {
    if val.is_empty() {
        return Ok(None);
    }
    let (mut total, mut count) = (0.0, 0usize);
    for chunk in val.chunks(batch_size) {
        let refs: Vec<&EncodedExample> = chunk.iter().collect();
        let (loss, n) = batch_loss(model, &refs, eos)?;
        total += loss.to_scalar::<f32>()? as f64 * n as f64;
        count += n;
    }
    Ok(Some(total / count.max(1) as f64))
}
