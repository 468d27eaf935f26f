//! The examples a run reads (one epoch's, in a seeded order) and the loss
//! on their responses.

use candle_core::Tensor;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenizers::Tokenizer;

use super::{CellRecord, Thinning, TrainOptions};
use crate::error::Result;
use crate::models::causal_lm::CausalLm;
use crate::prompts::{
    encode_example, make_example, CellInfo, EncodedExample, PromptStyle, Task, Templates,
};
use crate::published_prompts::{published_example, PublishedTokens};
use crate::tokenizer::is_word_level;

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
    /// Training examples of one epoch, in a seeded order that depends only
    /// on the epoch, the cells thinned as the options ask.
    pub(crate) fn epoch(&self, cells: &[CellRecord], epoch: u64) -> Result<Vec<EncodedExample>> {
        self.examples(cells, epoch, self.opts.thinning.as_ref())
    }

    /// The validation examples: the cells as they are.
    pub(crate) fn validation(&self, cells: &[CellRecord]) -> Result<Vec<EncodedExample>> {
        self.examples(cells, u64::MAX, None)
    }

    fn examples(
        &self,
        cells: &[CellRecord],
        epoch: u64,
        thinning: Option<&Thinning>,
    ) -> Result<Vec<EncodedExample>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed ^ epoch.wrapping_mul(0x9e37_79b9));
        let mut order: Vec<usize> = (0..cells.len()).collect();
        order.shuffle(&mut rng);
        let word_level = is_word_level(self.tok);
        let mut out = Vec::with_capacity(cells.len());
        for i in order {
            let c = &cells[i];
            let Some(task) = self.draw_task(c, &mut rng) else {
                continue;
            };
            let genes: Vec<&str> = c.genes.iter().map(String::as_str).collect();
            // With modelled counts only cells the model reads are thinned:
            // they reorder a cell more than a shallower library of it would,
            // so the cells it learns to write stay real ones. Real counts
            // thin every task, as a shallower library would.
            let counts = c.counts.as_deref();
            let genes = match thinning.filter(|_| task.reads_cell() || counts.is_some()) {
                // A gene the model has no token for (one no cell holds
                // among its first genes) is left out.
                Some(t) => t
                    .apply(&genes, counts, c.expressed, &mut rng)
                    .into_iter()
                    .filter(|g| !word_level || self.tok.token_to_id(g).is_some())
                    .collect(),
                None => genes,
            };
            out.push(self.example(&genes, c.label.as_deref(), task, &mut rng)?);
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

    /// An example of `task` for a cell of these genes (most expressed
    /// first) and type, in the run's prompt style, tokenised.
    pub(crate) fn example(
        &self,
        genes: &[&str],
        cell_type: Option<&str>,
        task: Task,
        rng: &mut ChaCha8Rng,
    ) -> Result<EncodedExample> {
        let info = CellInfo {
            genes,
            cell_type,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{gene_tokenizer, EOS, UNK};

    /// Cells of 300 genes with the gene tokens a new model would have: for
    /// the first `top_k` genes (G..), which the cells share in different
    /// orders, and not for those below (X..), each a cell's own.
    fn maker_parts(top_k: usize) -> (Vec<CellRecord>, Tokenizer, Templates, TrainOptions) {
        let cells: Vec<CellRecord> = (0..16)
            .map(|c| CellRecord {
                genes: (0..300)
                    .map(|g| match g < top_k {
                        true => format!("G{}", (g * 7 + c) % top_k),
                        false => format!("X{c}_{g}"),
                    })
                    .collect(),
                expressed: 600,
                label: Some(if c % 2 == 0 { "T cell" } else { "B cell" }.into()),
                counts: None,
            })
            .collect();
        let templates = Templates::default_set();
        let known: Vec<String> = cells
            .iter()
            .flat_map(|c| c.genes[..top_k].to_vec())
            .collect();
        // The prompts' words, types, organism and gene counts.
        let words = [
            templates.texts(),
            vec!["T cell".into(), "B cell".into(), "Homo sapiens".into()],
            (0..=top_k).map(|n| n.to_string()).collect(),
        ]
        .concat();
        let tok = gene_tokenizer(&known, &words).unwrap();
        let opts = TrainOptions {
            top_k,
            tasks: vec![Task::CellTypePrediction, Task::CellTypeGeneration],
            unconditional_share: 0.0,
            thinning: Some(Thinning::DEFAULT),
            ..TrainOptions::quick()
        };
        (cells, tok, templates, opts)
    }

    /// The genes of an example (in its prompt: a cell read; in its answer:
    /// a cell written), decoded; unknown ones as UNK.
    fn genes_of(tok: &Tokenizer, e: &EncodedExample) -> (Vec<String>, bool) {
        let genes = |ids: &[u32]| -> Vec<String> {
            ids.iter()
                .filter_map(|&id| tok.id_to_token(id))
                .filter(|w| {
                    let gene = w
                        .strip_prefix('G')
                        .is_some_and(|n| n.parse::<u32>().is_ok());
                    gene || w == UNK
                })
                .collect()
        };
        let read = genes(&e.ids[..e.response_start]);
        match read.is_empty() {
            true => (genes(&e.ids[e.response_start..]), false),
            false => (read, true),
        }
    }

    #[test]
    fn training_epochs_thin_the_cells_read_and_validation_reads_them_as_they_are() {
        let top_k = 40;
        let (cells, tok, templates, opts) = maker_parts(top_k);
        let eos = tok.token_to_id(EOS).unwrap();
        let maker = ExampleMaker {
            tok: &tok,
            templates: &templates,
            opts: &opts,
            eos,
            ctx: 256,
        };
        let firsts: Vec<Vec<String>> = cells.iter().map(|c| c.genes[..top_k].to_vec()).collect();
        for e in maker.validation(&cells).unwrap() {
            assert!(
                firsts.contains(&genes_of(&tok, &e).0),
                "validation cells as they are"
            );
        }
        let epoch = maker.epoch(&cells, 0).unwrap();
        let (mut read, mut thinned) = (0, 0);
        for e in &epoch {
            let (genes, is_read) = genes_of(&tok, e);
            let real = firsts.contains(&genes);
            assert!(is_read || real, "cells written stay real ones");
            read += is_read as usize;
            thinned += (is_read && !real) as usize;
            assert!(genes.len() <= top_k);
            assert!(
                !genes.iter().any(|g| g == UNK),
                "genes without a token left out"
            );
            let unique: std::collections::HashSet<_> = genes.iter().collect();
            assert_eq!(unique.len(), genes.len(), "each gene once");
        }
        assert!(
            read >= 4 && thinned * 2 >= read,
            "most cells read are thinned: {thinned} of {read}"
        );
        assert_eq!(
            epoch.iter().map(|e| &e.ids).collect::<Vec<_>>(),
            maker
                .epoch(&cells, 0)
                .unwrap()
                .iter()
                .map(|e| &e.ids)
                .collect::<Vec<_>>(),
            "an epoch draws the same cells again (resuming repeats it)"
        );
        let plain_opts = TrainOptions {
            thinning: None,
            ..opts.clone()
        };
        let plain = ExampleMaker {
            opts: &plain_opts,
            ..maker
        };
        for e in plain.epoch(&cells, 0).unwrap() {
            assert!(firsts.contains(&genes_of(&tok, &e).0), "no thinning asked");
        }
    }

    #[test]
    fn real_counts_thin_the_cells_written_too() {
        let top_k = 40;
        let (mut cells, tok, templates, opts) = maker_parts(top_k);
        // Two reads a gene: thinning drops and reorders genes in every cell.
        for c in &mut cells {
            c.counts = Some(vec![2; c.genes.len()]);
        }
        let maker = ExampleMaker {
            tok: &tok,
            templates: &templates,
            opts: &opts,
            eos: tok.token_to_id(EOS).unwrap(),
            ctx: 256,
        };
        let firsts: Vec<Vec<String>> = cells.iter().map(|c| c.genes[..top_k].to_vec()).collect();
        let (mut written, mut thinned) = (0, 0);
        for e in maker.epoch(&cells, 0).unwrap() {
            let (genes, is_read) = genes_of(&tok, &e);
            written += !is_read as usize;
            thinned += (!is_read && !firsts.contains(&genes)) as usize;
        }
        assert!(
            written >= 4 && thinned * 2 >= written,
            "most cells written are thinned: {thinned} of {written}"
        );
        for e in maker.validation(&cells).unwrap() {
            assert!(firsts.contains(&genes_of(&tok, &e).0), "validation as is");
        }
    }
}
