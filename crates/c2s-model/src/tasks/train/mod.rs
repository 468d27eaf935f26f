//! Training: batches of prompt/response examples, loss on responses, AdamW
//! with warm-up and cosine decay, gradient clipping and accumulation,
//! validation, atomic checkpoints that resume exactly, early stopping and
//! cancellation.
//!
//! This module holds the options, the figures a run reports and the loop;
//! `trainer` one run's state (step, validate, checkpoint), `examples` the
//! prompts of an epoch and the loss, `thinning` the cells as if sequenced
//! less deeply, `checkpoint` the files a run keeps.

mod checkpoint;
mod examples;
mod thinning;
mod trainer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::Result;
use crate::prompts::{PromptStyle, Task, Templates};
use crate::weights::LoadedModel;

pub use c2s_data::loss_log::LOSS_LOG;
pub(crate) use checkpoint::find_checkpoint;
use checkpoint::save_final;
pub use checkpoint::{checkpoint_step, FINAL_MODEL};
pub use examples::batch_loss;
pub(crate) use examples::ExampleMaker;
pub use thinning::Thinning;
use trainer::Trainer;
pub(crate) use trainer::{clip_grad_norm, optimiser};

/// A cell for training: its first genes (highest expression first), how
/// many it expresses in all, its label, and the first genes' raw counts
/// where the dataset keeps them (read for thinning only).
#[derive(Debug, Clone)]
pub struct CellRecord {
    pub genes: Vec<String>,
    pub expressed: usize,
    pub label: Option<String>,
    pub counts: Option<Vec<u32>>,
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
    /// Stop after this many validations without improvement, or a tenth
    /// of the run's validations when that is more (`patience_for`).
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
    /// The cells asked their type in training thinned as if sequenced less
    /// deeply, drawn afresh each epoch (none: read as they are). Off in
    /// every preset: on the demo it named 1.1 points more validation cells
    /// (three seeds) and as many test cells; on BALF it lost the rare mast
    /// cells (README, "Cells read as if sequenced less deeply").
    #[serde(default)]
    pub thinning: Option<Thinning>,
}

impl TrainOptions {
    /// The "quick" preset: minutes on a laptop CPU with a compact model.
    /// 7 epochs, chosen on the demo's validation cells (README, "what was
    /// tried"): against 3 they name types far better (macro F1 0.905
    /// against 0.586) and write cells more typical of the type asked for;
    /// 10 or 20 epochs stop early near the same step, and name no better.
    /// On the demo, 2 cores without AVX-512: 311 s.
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
            thinning: None,
        }
    }

    /// How many of each cell's first genes a run needs: `top_k`, or more
    /// when thinning may bring genes below it up.
    pub(crate) fn genes_read(&self) -> usize {
        match self.thinning {
            Some(_) => Thinning::genes_read(self.top_k),
            None => self.top_k,
        }
    }

    /// How deep in its cells' sentences a new model has tokens for genes:
    /// `top_k`, or deeper when thinning may bring genes below it up.
    pub(crate) fn token_depth(&self) -> usize {
        match self.thinning {
            Some(_) => Thinning::token_depth(self.top_k),
            None => self.top_k,
        }
    }

    /// Validations without improvement that end a run of `total_steps`:
    /// `patience`, or a tenth of the run's validations when that is more.
    /// The loss on the validation examples is noisy; a fixed count stopped
    /// long runs on a passing plateau, the learning rate still high (on a
    /// 6,006-cell dataset the quick preset stopped at step 1,750 of 4,207,
    /// below k-NN; run to the end, its validation loss kept falling and it
    /// named as many held-out cells as k-NN).
    pub(crate) fn patience_for(&self, total_steps: usize) -> Option<usize> {
        let validations = total_steps / self.eval_every.max(1);
        self.patience.map(|p| p.max(validations.div_ceil(10)))
    }

    /// Whether a model trained with these options has learned cells of no
    /// given type (what guidance needs).
    pub(crate) fn learns_unconditional(&self) -> bool {
        self.prompt_style == PromptStyle::Studio
            && (self.tasks.contains(&Task::UnconditionalGeneration)
                || (self.unconditional_share > 0.0
                    && self.tasks.contains(&Task::CellTypeGeneration)))
    }
}

/// `TrainOptions::unconditional_share` of the presets: as classifier-free
/// diffusion models drop their condition for 10 to 20 % of examples.
pub(crate) const UNCONDITIONAL_SHARE: f64 = 0.15;

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

/// Asks the model being trained about held-out cells, as the tasks layer
/// knows how (`train_dataset` names types): it takes the model and gives it
/// back with the figure (`None`: nothing asked, or cancelled).
pub type HeldOutCheck<'a> =
    dyn FnMut(LoadedModel) -> Result<(LoadedModel, Option<ValidationCheck>)> + 'a;

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
pub(crate) fn train_checked(
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
    let patience = opts.patience_for(t.total_steps);
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
        if t.validation_due() {
            (model, val_loss, held_out) = t.validate(model, &mut check)?;
        }
        t.log(lr, val_loss, held_out, progress)?;
        if t.state.step.is_multiple_of(opts.checkpoint_every) || t.state.step == t.total_steps {
            t.checkpoint(&model)?;
        }
        if patience.is_some_and(|p| t.state.evals_without_improvement >= p) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_grows_with_the_run() {
        let quick = TrainOptions::quick();
        assert_eq!(quick.eval_every, 50);
        // The demo's quick run: 36 validations, a tenth is 4, the floor 5.
        assert_eq!(quick.patience_for(1_848), Some(5));
        // The 6,006-cell dataset's: 84 validations, 9 without improvement
        // (its plateau after step 1,500 lasted 5).
        assert_eq!(quick.patience_for(4_207), Some(9));
        let none = TrainOptions {
            patience: None,
            ..TrainOptions::quick()
        };
        assert_eq!(none.patience_for(4_207), None);
    }
}
