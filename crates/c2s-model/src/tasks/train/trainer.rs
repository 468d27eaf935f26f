//! One run in progress: its optimiser, where it stands, its data in each
//! epoch's order and its log; a step, a validation, a checkpoint.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Tensor, Var};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use c2s_data::loss_log::LossPoint;

use super::checkpoint::{find_checkpoint, read_trainer_state, write_checkpoint, TrainerState};
use super::examples::{batch_loss, validation_loss, ExampleMaker};
use super::{
    CellRecord, HeldOutCheck, TrainData, TrainOptions, TrainProgress, ValidationCheck, LOSS_LOG,
};
use crate::error::{ModelError, Result};
use crate::optim::{lr_at, AdamW, AdamWParams};
use crate::prompts::EncodedExample;
use crate::weights::{load_model, LoadedModel};

/// A held-out check costs at most about this share of the training time: it
/// runs at a validation step only when the time since the last one is at
/// least 1 / share times what the last one took.
const HELD_OUT_SHARE: f64 = 0.1;

/// A run in progress: the optimiser, where the run stands, its data in
/// the order of each epoch, and its log. The model stays with the caller,
/// which lends it to each step (and hands it to the held-out check).
pub(super) struct Trainer<'a> {
    run: &'a Path,
    data: &'a TrainData<'a>,
    opts: &'a TrainOptions,
    opt: AdamW,
    pub(super) state: TrainerState,
    eos: u32,
    /// The model's context length.
    context: usize,
    pub(super) total_steps: usize,
    warmup: usize,
    /// The step the run started (or resumed) at.
    pub(super) start_step: usize,
    val_examples: Vec<EncodedExample>,
    /// The examples of the epoch being read, in its order.
    cached_epoch: Option<(u64, Vec<EncodedExample>)>,
    log: std::fs::File,
    pub(super) last_loss: f64,
    tokens_done: usize,
    started: Instant,
    /// When the last held-out check ended and how long it took.
    check_cost: Option<(Instant, f64)>,
}

impl<'a> Trainer<'a> {
    /// Checks the data against the model, and picks the run up at its last
    /// checkpoint when resuming (which replaces the model's weights).
    pub(super) fn start(
        run: &'a Path,
        mut model: LoadedModel,
        data: &'a TrainData<'a>,
        opts: &'a TrainOptions,
        resume: bool,
    ) -> Result<(Self, LoadedModel)> {
        std::fs::create_dir_all(run).map_err(|source| ModelError::Io {
            path: run.into(),
            source,
        })?;
        let eos = check_training_data(&model, data)?;
        let mut state = TrainerState {
            options_seed: opts.seed,
            ..Default::default()
        };
        let mut opt = optimiser(&model, opts)?;
        if let Some(ck) = find_checkpoint(run).filter(|_| resume) {
            let dev = model.model.device().clone();
            model = load_model(&ck, &dev)?;
            opt = optimiser(&model, opts)?;
            opt.load(&ck.join("optimizer.safetensors"))?;
            state = read_trainer_state(&ck)?;
        }
        let steps_per_epoch = data
            .train
            .len()
            .div_ceil(opts.batch_size * opts.grad_accum)
            .max(1);
        let mut total_steps = ((steps_per_epoch as f64) * opts.epochs).ceil() as usize;
        if let Some(m) = opts.max_steps {
            total_steps = total_steps.min(m);
        }
        let context = model.model.context_len();
        let mut val_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x7a1);
        let mut val_cells: Vec<CellRecord> = data.val.to_vec();
        val_cells.shuffle(&mut val_rng);
        val_cells.truncate(opts.max_val_examples);
        let maker = ExampleMaker {
            tok: data.tok,
            templates: data.templates,
            opts,
            eos,
            ctx: context,
        };
        let val_examples = maker.validation(&val_cells)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.join(LOSS_LOG))
            .map_err(|source| ModelError::Io {
                path: run.join(LOSS_LOG),
                source,
            })?;
        let trainer = Trainer {
            run,
            data,
            opts,
            opt,
            start_step: state.step,
            state,
            eos,
            context,
            total_steps,
            warmup: ((total_steps as f64) * opts.warmup_frac).round() as usize,
            val_examples,
            cached_epoch: None,
            log,
            last_loss: f64::NAN,
            tokens_done: 0,
            started: Instant::now(),
            check_cost: None,
        };
        Ok((trainer, model))
    }

    /// One optimiser step over `grad_accum` micro-batches, the global
    /// gradient norm clipped; returns the step's learning rate.
    pub(super) fn step(&mut self, model: &LoadedModel) -> Result<f64> {
        let (opts, train) = (self.opts, self.data.train);
        let lr = lr_at(self.state.step, self.warmup, self.total_steps, opts.lr);
        let mut acc: Vec<Option<Tensor>> = vec![None; self.opt.vars().count()];
        let (mut step_loss, mut step_tokens) = (0.0, 0usize);
        for micro in 0..opts.grad_accum {
            let global = (self.state.step * opts.grad_accum + micro) * opts.batch_size;
            let epoch = (global / train.len()) as u64;
            if self.cached_epoch.as_ref().map(|c| c.0) != Some(epoch) {
                let maker = ExampleMaker {
                    tok: self.data.tok,
                    templates: self.data.templates,
                    opts,
                    eos: self.eos,
                    ctx: self.context,
                };
                let examples = maker.epoch(train, epoch)?;
                self.cached_epoch = Some((epoch, examples));
            }
            let examples = &self.cached_epoch.as_ref().expect("just set").1;
            let start = global % train.len();
            let batch: Vec<&EncodedExample> =
                examples.iter().skip(start).take(opts.batch_size).collect();
            if batch.is_empty() {
                continue;
            }
            // Dropout masks drawn from the run's seed and the micro-batch:
            // a resumed run draws what it would have.
            let pass = model
                .model
                .for_training(micro_batch_seed(opts.seed, global));
            let (loss, n) = batch_loss(&pass, &batch, self.eos)?;
            step_loss += loss.to_scalar::<f32>()? as f64 * n as f64;
            step_tokens += n;
            self.tokens_done += batch.iter().map(|e| e.ids.len()).sum::<usize>();
            let grads = (loss / opts.grad_accum as f64)?.backward()?;
            for (slot, var) in acc.iter_mut().zip(self.opt.vars()) {
                if let Some(g) = grads.get(var.as_tensor()) {
                    // Detached: the sum must not keep this step's graph alive.
                    let g = g.detach();
                    *slot = Some(match slot.take() {
                        Some(a) => (a + g)?,
                        None => g,
                    });
                }
            }
        }
        clip_grad_norm(&mut acc, opts.clip_norm)?;
        self.opt.step(&acc, lr)?;
        self.state.step += 1;
        self.last_loss = step_loss / step_tokens.max(1) as f64;
        Ok(lr)
    }

    /// Whether the step just taken is validated: every `eval_every` steps
    /// and the last.
    pub(super) fn validation_due(&self) -> bool {
        self.state.step.is_multiple_of(self.opts.eval_every) || self.state.step == self.total_steps
    }

    /// The loss on the validation examples and, when it is due, the
    /// held-out check (which borrows the model and hands it back); counts
    /// validations without improvement, for early stopping.
    pub(super) fn validate(
        &mut self,
        mut model: LoadedModel,
        check: &mut Option<&mut HeldOutCheck>,
    ) -> Result<(LoadedModel, Option<f64>, Option<ValidationCheck>)> {
        let val_loss = validation_loss(
            &model.model,
            &self.val_examples,
            self.opts.batch_size,
            self.eos,
        )?;
        let mut held_out = None;
        if let Some(c) = check.as_mut().filter(|_| self.held_out_due()) {
            let started = Instant::now();
            let (back, figure) = c(model)?;
            model = back;
            held_out = figure;
            self.check_cost = Some((Instant::now(), started.elapsed().as_secs_f64()));
        }
        self.note_validation(val_loss);
        Ok((model, val_loss, held_out))
    }

    /// Whether a held-out check fits in its share of the time (the last
    /// step always has one).
    fn held_out_due(&self) -> bool {
        self.check_cost.is_none_or(|(at, took)| {
            self.state.step == self.total_steps
                || at.elapsed().as_secs_f64() * HELD_OUT_SHARE >= took
        })
    }

    /// Counts validations without improvement, for early stopping.
    fn note_validation(&mut self, val_loss: Option<f64>) {
        if let Some(v) = val_loss {
            if self.state.best_val.is_none_or(|b| v < b) {
                self.state.best_val = Some(v);
                self.state.evals_without_improvement = 0;
            } else {
                self.state.evals_without_improvement += 1;
            }
        }
    }

    /// Appends the step to the loss log and reports it.
    pub(super) fn log(
        &mut self,
        lr: f64,
        val_loss: Option<f64>,
        held_out: Option<ValidationCheck>,
        progress: &dyn Fn(&TrainProgress),
    ) -> Result<()> {
        let step = self.state.step;
        LossPoint {
            held_out_cells: held_out.map(|h| h.cells),
            held_out_right: held_out.map(|h| h.right),
            lr,
            step,
            train_loss: Some(self.last_loss).filter(|l| l.is_finite()),
            val_loss,
        }
        .append(&mut self.log, &self.run.join(LOSS_LOG))?;
        let elapsed = self.started.elapsed().as_secs_f64();
        let done_here = (step - self.start_step) as f64;
        let per_step = self.opts.batch_size * self.opts.grad_accum;
        progress(&TrainProgress {
            step,
            total_steps: self.total_steps,
            epoch: (step * per_step) as f64 / self.data.train.len() as f64,
            train_loss: self.last_loss,
            val_loss,
            held_out,
            lr,
            tokens_per_s: self.tokens_done as f64 / elapsed.max(1e-9),
            eta_s: elapsed / done_here.max(1.0) * (self.total_steps - step) as f64,
        });
        Ok(())
    }

    pub(super) fn checkpoint(&self, model: &LoadedModel) -> Result<()> {
        write_checkpoint(
            self.run,
            model,
            self.data.tok,
            &self.opt,
            &self.state,
            self.opts,
        )
    }
}

/// The dropout seed of the micro-batch starting at example `global`.
fn micro_batch_seed(seed: u64, global: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ global as u64
}

/// The end-of-text id, after checking that there is data to train on and
/// that the tokenizer fits the model.
fn check_training_data(model: &LoadedModel, data: &TrainData) -> Result<u32> {
    if data.train.is_empty() {
        return Err(ModelError::Input(
            "the training set is empty".into(),
            "convert a dataset with cells in its train split".into(),
        ));
    }
    let tok = data.tok;
    let eos = tok
        .token_to_id(crate::tokenizer::EOS)
        .or(model.model.config().eos_token_id())
        .ok_or_else(|| {
            ModelError::Input(
                "the tokenizer has no <|endoftext|> token".into(),
                "use a GPT-2 or C2S Studio tokenizer".into(),
            )
        })?;
    if tok.get_vocab_size(true) > model.model.vocab_size() {
        return Err(ModelError::Input(
            format!(
                "the tokenizer has {} tokens but the model only {}",
                tok.get_vocab_size(true),
                model.model.vocab_size()
            ),
            "use the tokenizer that came with the model".into(),
        ));
    }
    Ok(eos)
}

pub(crate) fn optimiser(model: &LoadedModel, opts: &TrainOptions) -> Result<AdamW> {
    let vars: HashMap<String, Var> = model.vars.data().lock().expect("not poisoned").clone();
    let params = AdamWParams {
        weight_decay: opts.weight_decay,
        ..Default::default()
    };
    AdamW::new(&vars, params)
}

/// Scales the gradients so that their global norm is at most `max` (a
/// non-finite norm is left alone).
pub(crate) fn clip_grad_norm(grads: &mut [Option<Tensor>], max: f64) -> Result<()> {
    let mut sq = 0.0f64;
    for g in grads.iter().flatten() {
        sq += g
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sq.sqrt();
    if norm > max && norm.is_finite() {
        let scale = max / norm;
        for g in grads.iter_mut().flatten() {
            *g = (&*g * scale)?;
        }
    }
    Ok(())
}
