//! Training: batches of prompt/response examples, loss on responses, AdamW
//! with warm-up and cosine decay, gradient clipping and accumulation,
//! validation, atomic checkpoints that resume exactly, early stopping and
//! cancellation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use c2s_data::loss_log::LossPoint;

use crate::error::{ModelError, Result};
use crate::models::causal_lm::CausalLm;
use crate::optim::{lr_at, AdamW, AdamWParams};
use crate::prompts::{
    encode_example, make_example, CellInfo, EncodedExample, PromptStyle, Task, Templates,
};
use crate::published_prompts::{published_example, PublishedTokens};
use crate::tokenizer::save_tokenizer;
use crate::weights::{load_model, save_model, LoadedModel};

/// A cell for training: its genes (highest expression first) and label.
#[derive(Debug, Clone)]
pub struct CellRecord {
    pub genes: Vec<String>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOptions {
    pub epochs: f64,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub lr: f64,
    pub warmup_frac: f64,
    pub clip_norm: f64,
    pub weight_decay: f64,
    /// Validate (and maybe stop early) every this many optimizer steps.
    pub eval_every: usize,
    pub checkpoint_every: usize,
    /// Stop after this many validations without improvement.
    pub patience: Option<usize>,
    pub seed: u64,
    /// Genes per cell in prompts.
    pub top_k: usize,
    /// Each example draws one of these tasks.
    pub tasks: Vec<Task>,
    pub organism: String,
    /// Validation examples used per evaluation (a fixed, seeded subset).
    pub max_val_examples: usize,
    /// Stop after this many optimizer steps in total (for tests and trials).
    pub max_steps: Option<usize>,
    /// The prompts trained on: C2S Studio's, or the published models' when
    /// fine-tuning one of them.
    #[serde(default)]
    pub prompt_style: PromptStyle,
    /// The share of type-conditioned generation examples asked without
    /// their type (Studio prompts only): the model also learns cells of no
    /// given type, which classifier-free guidance steers away from
    /// (crate::generate::Guidance), as diffusion models drop their
    /// condition in training.
    #[serde(default)]
    pub unconditional_share: f64,
}

impl TrainOptions {
    /// The "quick" preset: minutes on a laptop CPU with a compact model.
    /// 7 epochs, chosen on the demo's validation cells (README, "what was
    /// tried"): against 3 they name types far better (macro F1 0.905
    /// against 0.586) and write cells more typical of the type asked for;
    /// 10 or 20 epochs stop early near the same step, and name no better.
    /// On the demo, 2 cores: 230 s.
    pub fn quick() -> Self {
        TrainOptions {
            epochs: 7.0,
            batch_size: 8,
            grad_accum: 1,
            lr: 1e-3,
            warmup_frac: 0.05,
            clip_norm: 1.0,
            weight_decay: 0.01,
            eval_every: 50,
            checkpoint_every: 50,
            patience: Some(5),
            seed: c2s_data::DEFAULT_SEED,
            top_k: 100,
            tasks: vec![Task::CellTypePrediction, Task::CellTypeGeneration],
            organism: "Homo sapiens".into(),
            max_val_examples: 128,
            max_steps: None,
            prompt_style: PromptStyle::Studio,
            unconditional_share: UNCONDITIONAL_SHARE,
        }
    }

    /// Whether a model trained with these options has learned cells of no
    /// given type (what guidance needs).
    pub fn learns_unconditional(&self) -> bool {
        self.prompt_style == PromptStyle::Studio
            && (self.tasks.contains(&Task::UnconditionalGeneration)
                || (self.unconditional_share > 0.0
                    && self.tasks.contains(&Task::CellTypeGeneration)))
    }
}

/// `TrainOptions::unconditional_share` of the presets: as classifier-free
/// diffusion models drop their condition for 10 to 20 % of examples.
pub const UNCONDITIONAL_SHARE: f64 = 0.15;

#[derive(Debug, Clone, Serialize)]
pub struct TrainProgress {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: f64,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    /// At some validation steps: how many of a fixed sample of held-out
    /// cells the model names right so far (see `HeldOutCheck`).
    pub held_out: Option<ValidationCheck>,
    pub lr: f64,
    pub tokens_per_s: f64,
    pub eta_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrainerState {
    step: usize,
    best_val: Option<f64>,
    evals_without_improvement: usize,
    options_seed: u64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrainSummary {
    pub steps: usize,
    pub total_steps: usize,
    pub final_train_loss: f64,
    pub best_val_loss: Option<f64>,
    pub stopped_early: bool,
    pub cancelled: bool,
    pub resumed_from_step: usize,
    pub seconds: f64,
    pub model_dir: PathBuf,
    /// How the finished model names validation cells' types (runs that
    /// learn to name types; none when cancelled).
    #[serde(default)]
    pub validation: Option<ValidationCheck>,
}

/// The finished model asked the type of held-out validation cells: cells it
/// never learned from, so the figure says how it does on new cells. (The
/// test cells stay untouched for `c2s eval` and Annotate.)
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ValidationCheck {
    pub cells: usize,
    pub right: usize,
}

impl ValidationCheck {
    pub fn accuracy(&self) -> f64 {
        self.right as f64 / self.cells.max(1) as f64
    }
}

pub const CHECKPOINT: &str = "checkpoint";
pub const FINAL_MODEL: &str = "model";
pub use c2s_data::loss_log::LOSS_LOG;

/// Examples of one epoch, in a seeded order that depends only on the epoch.
fn epoch_examples(
    cells: &[CellRecord],
    tok: &Tokenizer,
    templates: &Templates,
    opts: &TrainOptions,
    eos: u32,
    ctx: usize,
    epoch: u64,
) -> Result<Vec<EncodedExample>> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ epoch.wrapping_mul(0x9e37_79b9));
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.shuffle(&mut rng);
    let mut out = Vec::with_capacity(cells.len());
    for i in order {
        let c = &cells[i];
        let tasks: Vec<Task> = opts
            .tasks
            .iter()
            .copied()
            .filter(|t| !t.needs_label() || c.label.is_some())
            .filter(|t| {
                opts.prompt_style == PromptStyle::Studio || *t != Task::UnconditionalGeneration
            })
            .collect();
        if tasks.is_empty() {
            continue;
        }
        let mut task = tasks[rng.random_range(0..tasks.len())];
        if task == Task::CellTypeGeneration
            && opts.prompt_style == PromptStyle::Studio
            && opts.unconditional_share > 0.0
            && rng.random::<f64>() < opts.unconditional_share
        {
            task = Task::UnconditionalGeneration;
        }
        let genes: Vec<&str> = c.genes.iter().map(String::as_str).collect();
        let info = CellInfo {
            genes: &genes,
            cell_type: c.label.as_deref(),
            organism: &opts.organism,
        };
        out.push(match opts.prompt_style {
            PromptStyle::Studio => {
                let ex = make_example(templates, task, &info, opts.top_k, &mut rng)?;
                encode_example(tok, &ex, eos, ctx)?
            }
            PromptStyle::Published => {
                let tokens = PublishedTokens { tok, eos };
                published_example(&tokens, task, &info, opts.top_k, ctx, &mut rng)?
            }
        });
    }
    Ok(out)
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

fn validation_loss(
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

fn write_checkpoint(
    run: &Path,
    model: &LoadedModel,
    tok: &Tokenizer,
    opt: &AdamW,
    state: &TrainerState,
    opts: &TrainOptions,
) -> Result<()> {
    let tmp = run.join(format!("{CHECKPOINT}.tmp"));
    let old = run.join(format!("{CHECKPOINT}.old"));
    let dst = run.join(CHECKPOINT);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ModelError::Io { path: p, source }
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    save_model(&tmp, model.model.config(), &model.vars)?;
    save_tokenizer(tok, &tmp.join("tokenizer.json"))?;
    opt.save(&tmp.join("optimizer.safetensors"))?;
    std::fs::write(
        tmp.join("trainer_state.json"),
        serde_json::to_vec_pretty(state).expect("json"),
    )
    .map_err(io(&tmp))?;
    std::fs::write(
        tmp.join("train_options.json"),
        serde_json::to_vec_pretty(opts).expect("json"),
    )
    .map_err(io(&tmp))?;
    // Swap in the new checkpoint; at every moment one complete one exists.
    if dst.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(&dst, &old).map_err(io(&dst))?;
    }
    std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// The last complete checkpoint of a run, if any.
pub fn find_checkpoint(run: &Path) -> Option<PathBuf> {
    [CHECKPOINT.to_string(), format!("{CHECKPOINT}.old")]
        .into_iter()
        .map(|n| run.join(n))
        .find(|p| p.join("trainer_state.json").is_file() && p.join("model.safetensors").is_file())
}

/// The step a run's last checkpoint reached, if it has a readable one.
pub fn checkpoint_step(run: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(find_checkpoint(run)?.join("trainer_state.json")).ok()?;
    serde_json::from_str::<TrainerState>(&text)
        .ok()
        .map(|s| s.step)
}

/// Asks the model being trained about held-out cells, as the tasks layer
/// knows how (`train_dataset` names types): it takes the model and gives it
/// back with the figure (`None`: nothing asked, or cancelled).
pub type HeldOutCheck<'a> =
    dyn FnMut(LoadedModel) -> Result<(LoadedModel, Option<ValidationCheck>)> + 'a;

/// A held-out check costs at most about this share of the training time: it
/// runs at a validation step only when the time since the last one is at
/// least 1 / share times what the last one took.
const HELD_OUT_SHARE: f64 = 0.1;

/// Trains `model` on `train` (validating on `val`) into the run folder `run`.
/// With `resume`, continues from the run's last checkpoint: same weights,
/// optimizer state, step and data order.
#[allow(clippy::too_many_arguments)]
pub fn train(
    run: &Path,
    model: LoadedModel,
    tok: &Tokenizer,
    templates: &Templates,
    train: &[CellRecord],
    val: &[CellRecord],
    opts: &TrainOptions,
    resume: bool,
    progress: &dyn Fn(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<TrainSummary> {
    let data = TrainData {
        tok,
        templates,
        train,
        val,
    };
    train_checked(run, model, &data, opts, resume, None, progress, cancel)
}

/// What a run learns from.
pub struct TrainData<'a> {
    pub tok: &'a Tokenizer,
    pub templates: &'a Templates,
    pub train: &'a [CellRecord],
    pub val: &'a [CellRecord],
}

/// `train`, with a held-out check (`check`) at validation steps as long as
/// it stays cheap (HELD_OUT_SHARE of the time) and at the last step.
#[allow(clippy::too_many_arguments)]
pub fn train_checked(
    run: &Path,
    model: LoadedModel,
    data: &TrainData,
    opts: &TrainOptions,
    resume: bool,
    mut check: Option<&mut HeldOutCheck>,
    progress: &dyn Fn(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<TrainSummary> {
    let t0 = Instant::now();
    let (mut t, mut model) = Trainer::start(run, model, data, opts, resume)?;
    let (mut stopped_early, mut cancelled) = (false, false);
    while t.state.step < t.total_steps {
        if cancel.load(Ordering::Relaxed) {
            cancelled = true;
            // Keep the steps since the last checkpoint: a cancel is a pause.
            if t.state.step > t.start_step && !t.state.step.is_multiple_of(opts.checkpoint_every) {
                t.checkpoint(&model)?;
            }
            break;
        }
        let lr = t.step(&model)?;
        let (mut val_loss, mut held_out) = (None, None);
        if t.state.step.is_multiple_of(opts.eval_every) || t.state.step == t.total_steps {
            val_loss = validation_loss(&model.model, &t.val_examples, opts.batch_size, t.eos)?;
            if let Some(c) = check.as_mut().filter(|_| t.held_out_due()) {
                let started = Instant::now();
                let (back, figure) = c(model)?;
                model = back;
                held_out = figure;
                t.check_cost = Some((Instant::now(), started.elapsed().as_secs_f64()));
            }
            t.note_validation(val_loss);
        }
        t.log(lr, val_loss, held_out, progress)?;
        if t.state.step.is_multiple_of(opts.checkpoint_every) || t.state.step == t.total_steps {
            t.checkpoint(&model)?;
        }
        if opts
            .patience
            .is_some_and(|p| t.state.evals_without_improvement >= p)
        {
            stopped_early = true;
            t.checkpoint(&model)?;
            break;
        }
    }
    let model_dir = run.join(FINAL_MODEL);
    if !cancelled {
        save_final(&model_dir, &model, data.tok)?;
    }
    Ok(TrainSummary {
        steps: t.state.step,
        total_steps: t.total_steps,
        final_train_loss: t.last_loss,
        best_val_loss: t.state.best_val,
        stopped_early,
        cancelled,
        resumed_from_step: t.start_step,
        seconds: t0.elapsed().as_secs_f64(),
        model_dir,
        validation: None,
    })
}

/// A run in progress: the optimiser, where the run stands, its data in
/// the order of each epoch, and its log. The model stays with the caller,
/// which lends it to each step (and hands it to the held-out check).
struct Trainer<'a> {
    run: &'a Path,
    data: &'a TrainData<'a>,
    opts: &'a TrainOptions,
    opt: AdamW,
    state: TrainerState,
    eos: u32,
    /// The model's context length.
    context: usize,
    total_steps: usize,
    warmup: usize,
    /// The step the run started (or resumed) at.
    start_step: usize,
    val_examples: Vec<EncodedExample>,
    /// The examples of the epoch being read, in its order.
    cached_epoch: Option<(u64, Vec<EncodedExample>)>,
    log: std::fs::File,
    last_loss: f64,
    tokens_done: usize,
    started: Instant,
    /// When the last held-out check ended and how long it took.
    check_cost: Option<(Instant, f64)>,
}

impl<'a> Trainer<'a> {
    /// Checks the data against the model, and picks the run up at its last
    /// checkpoint when resuming (which replaces the model's weights).
    fn start(
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
        let val_examples = epoch_examples(
            &val_cells,
            data.tok,
            data.templates,
            opts,
            eos,
            context,
            u64::MAX,
        )?;
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
    fn step(&mut self, model: &LoadedModel) -> Result<f64> {
        let (opts, train) = (self.opts, self.data.train);
        let lr = lr_at(self.state.step, self.warmup, self.total_steps, opts.lr);
        let mut acc: Vec<Option<Tensor>> = vec![None; self.opt.vars().count()];
        let (mut step_loss, mut step_tokens) = (0.0, 0usize);
        for micro in 0..opts.grad_accum {
            let global = (self.state.step * opts.grad_accum + micro) * opts.batch_size;
            let epoch = (global / train.len()) as u64;
            if self.cached_epoch.as_ref().map(|c| c.0) != Some(epoch) {
                let (tok, templates) = (self.data.tok, self.data.templates);
                let examples =
                    epoch_examples(train, tok, templates, opts, self.eos, self.context, epoch)?;
                self.cached_epoch = Some((epoch, examples));
            }
            let examples = &self.cached_epoch.as_ref().expect("just set").1;
            let start = global % train.len();
            let batch: Vec<&EncodedExample> =
                examples.iter().skip(start).take(opts.batch_size).collect();
            if batch.is_empty() {
                continue;
            }
            let (loss, n) = batch_loss(&model.model, &batch, self.eos)?;
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
    fn log(
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

    fn checkpoint(&self, model: &LoadedModel) -> Result<()> {
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

fn optimiser(model: &LoadedModel, opts: &TrainOptions) -> Result<AdamW> {
    let vars: HashMap<String, Var> = model.vars.data().lock().expect("not poisoned").clone();
    let params = AdamWParams {
        weight_decay: opts.weight_decay,
        ..Default::default()
    };
    AdamW::new(&vars, params)
}

fn read_trainer_state(ck: &Path) -> Result<TrainerState> {
    let text = std::fs::read_to_string(ck.join("trainer_state.json")).map_err(|source| {
        ModelError::Io {
            path: ck.to_path_buf(),
            source,
        }
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::bad(ck, format!("bad trainer state: {e}"), "start the run again"))
}

/// Scales the gradients so that their global norm is at most `max` (a
/// non-finite norm is left alone).
fn clip_grad_norm(grads: &mut [Option<Tensor>], max: f64) -> Result<()> {
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

/// Writes the finished model and its tokenizer as `dir`, replacing an
/// earlier one only once the new one is whole.
fn save_final(dir: &Path, model: &LoadedModel, tok: &Tokenizer) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    let tmp = dir.with_file_name(format!("{FINAL_MODEL}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    save_model(&tmp, model.model.config(), &model.vars)?;
    save_tokenizer(tok, &tmp.join("tokenizer.json"))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}

/// The weights' dtype for inference on `device`: bf16 where candle supports
/// it (CUDA, Metal); on the CPU f16, which there is f16 weight matrices
/// computed with in f32 (CausalLm::to_dtype): half the memory, a generated
/// token reads half the bytes (about twice the speed), and logits within
/// about 1e-3 of f32's.
/// `C2S_PRECISION=f32|bf16|f16` overrides it (f32 for exact logits; f16 for
/// GPUs older than NVIDIA Ampere, whose bf16 is slow).
pub fn inference_dtype(device: &Device) -> DType {
    match std::env::var("C2S_PRECISION").ok().as_deref() {
        Some("f32") => DType::F32,
        Some("bf16") => DType::BF16,
        Some("f16") => DType::F16,
        _ if device.supports_bf16() => DType::BF16,
        _ if device.is_cpu() => DType::F16,
        _ => DType::F32,
    }
}

/// The best device this build can use, and its name: a CUDA GPU (built with
/// `--features cuda`), an Apple GPU (`--features metal`), else the CPU.
///
/// On CUDA, f32 matrix products may use TF32 tensor cores (Ampere and
/// later; older GPUs ignore it), as mixed-precision training does for its
/// products: several times faster, and the weights and optimizer state stay
/// f32. `C2S_PRECISION=f32` keeps full f32 products.
pub fn best_device() -> (Device, String) {
    if candle_core::utils::cuda_is_available() {
        if let Ok(d) = Device::new_cuda(0) {
            let tf32 = std::env::var("C2S_PRECISION").ok().as_deref() != Some("f32");
            candle_core::cuda::set_gemm_reduced_precision_f32(tf32);
            let products = if tf32 { "TF32" } else { "f32" };
            return (d, format!("CUDA GPU 0 ({products} matrix products)"));
        }
    }
    if candle_core::utils::metal_is_available() {
        if let Ok(d) = Device::new_metal(0) {
            return (d, "Metal GPU".into());
        }
    }
    (Device::Cpu, format!("CPU ({} threads)", rayon_threads()))
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
