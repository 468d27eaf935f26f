//! What a run keeps on disk: checkpoints swapped in whole (weights,
//! tokenizer, optimiser, where the run stands, its options), and the final
//! model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::TrainOptions;
use crate::error::{ModelError, Result};
use crate::optim::AdamW;
use crate::tokenizer::save_tokenizer;
use crate::weights::{save_model, LoadedModel};

pub(crate) const CHECKPOINT: &str = "checkpoint";
pub const FINAL_MODEL: &str = "model";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct TrainerState {
    pub(super) step: usize,
    pub(super) best_val: Option<f64>,
    pub(super) evals_without_improvement: usize,
    pub(super) options_seed: u64,
}

pub(super) fn write_checkpoint(
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
pub(crate) fn find_checkpoint(run: &Path) -> Option<PathBuf> {
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

/// Writes the finished model and its tokenizer as `dir`, replacing an
/// earlier one only once the new one is whole.
pub(super) fn save_final(dir: &Path, model: &LoadedModel, tok: &Tokenizer) -> Result<()> {
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

pub(super) fn read_trainer_state(ck: &Path) -> Result<TrainerState> {
    let text = std::fs::read_to_string(ck.join("trainer_state.json")).map_err(|source| {
        ModelError::Io {
            path: ck.to_path_buf(),
            source,
        }
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::bad(ck, format!("bad trainer state: {e}"), "start the run again"))
}
