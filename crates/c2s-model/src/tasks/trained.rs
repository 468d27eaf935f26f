//! A model folder written by a training run (RUN/model): the Hugging Face
//! files plus c2s.json, the card that says what the model learned.

use std::collections::HashSet;
use std::path::Path;

use c2s_data::common_genes::CommonGenes;
use candle_core::Device;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};
use crate::models::causal_lm::CausalLm;
use crate::tokenizer::{load_tokenizer, EOS};
use crate::weights::{load_causal_lm, LoadedModel};

/// The card's file name inside a model folder.
pub const MODEL_CARD: &str = "c2s.json";

/// What a trained model needs to predict and generate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub label_column: String,
    pub labels: Vec<String>,
    pub organism: String,
    pub top_k: usize,
    /// The genes the model knows: for a model trained here from scratch,
    /// those within some cell's first `top_k` (its tokens); for one with
    /// sub-word pieces, the dataset's vocabulary.
    #[serde(default)]
    pub genes: Vec<String>,
    /// The prompts the model was trained with, and so is asked with.
    #[serde(default)]
    pub prompt_style: crate::prompts::PromptStyle,
    /// Whether the model learned cells of no given type, which guided
    /// generation needs (models of earlier versions did not).
    #[serde(default)]
    pub learned_unconditional: bool,
    /// Whether the model learned to write cells of a given type; absent in
    /// cards of earlier versions, where `learned_unconditional` tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_generation: Option<bool>,
    /// Genes the model was trained without (`TrainRequest::skip_common_genes`):
    /// left out of every cell it reads, put back in every cell it writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_genes: Option<CommonGenes>,
}

impl ModelCard {
    /// Whether the model learned type-conditioned generation, so that it
    /// can also name a type by how likely it finds the cell's genes given
    /// each type (`predict::GENERATIVE_WEIGHT`).
    pub fn learned_generation(&self) -> bool {
        self.learned_generation
            .unwrap_or(self.learned_unconditional)
    }

    /// The genes of a cell as the model reads it: its words (highest
    /// expression first) without the common genes it was trained without,
    /// the first `top_k` of them.
    pub fn cell_genes<'s>(&self, words: impl IntoIterator<Item = &'s str>) -> Vec<&'s str> {
        let common = self.common_genes.as_ref().map(CommonGenes::set);
        words
            .into_iter()
            .filter(|g| !common.as_ref().is_some_and(|c| c.contains(g)))
            .take(self.top_k)
            .collect()
    }

    /// A cell the model wrote (of `cell_type`, if given), as a whole cell:
    /// with the common genes it was trained without put back at their
    /// typical place in cells of that type.
    pub(crate) fn whole_cell(&self, written: &str, cell_type: Option<&str>) -> String {
        match &self.common_genes {
            Some(c) => c.restore(written, cell_type),
            None => written.to_string(),
        }
    }

    /// Every gene a cell of this model may hold: those it writes and the
    /// common genes put back.
    pub fn cell_gene_set(&self) -> HashSet<&str> {
        let common = self.common_genes.iter().flat_map(|c| &c.genes);
        self.genes
            .iter()
            .map(String::as_str)
            .chain(common.map(|c| c.gene.as_str()))
            .collect()
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MODEL_CARD);
        let bytes = std::fs::read(&path).map_err(|_| {
            ModelError::bad(
                dir,
                "no c2s.json in this folder",
                "choose the model folder of a finished training run (RUN/model); a published C2S model (no c2s.json) names cell types with `c2s annotate`",
            )
        })?;
        let card: ModelCard = serde_json::from_slice(&bytes).map_err(|e| {
            ModelError::bad(
                &path,
                format!("not a model card: {e}"),
                "train the model again, or restore c2s.json",
            )
        })?;
        // Every run learns at least one type; prediction and generation
        // choose among them.
        if card.labels.is_empty() || card.labels.iter().any(|l| l.trim().is_empty()) {
            return Err(ModelError::bad(
                &path,
                "the model card lists no cell types (or an empty one) under `labels`",
                "train the model again, or restore c2s.json from the run",
            ));
        }
        Ok(card)
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MODEL_CARD);
        let tmp = dir.join(format!("{MODEL_CARD}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).expect("plain data serialises");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| ModelError::Io { path, source })
    }
}

/// A trained model, loaded on the best device and ready to use.
pub struct TrainedModel {
    pub card: ModelCard,
    pub loaded: LoadedModel,
    pub tok: Tokenizer,
    pub eos: u32,
    /// The device in use, for people to read ("CPU (2 threads)").
    pub device_name: String,
    /// How the weights are kept and computed with ("f16 weights, f32
    /// arithmetic"), for a tooltip or a log.
    pub precision: String,
    /// Name types by both directions the model learned (see
    /// `predict::GENERATIVE_WEIGHT`): on when it learned to write cells of
    /// a given type; off answers up to 2.7 times as fast.
    pub weigh_genes: bool,
    /// The training cells nearest a cell by its whole sentence, whose vote
    /// `predict_cells` weighs the model's answer with; `None` (a model
    /// trained without, a published one, or set so) names cells by the
    /// model alone.
    pub neighbours: Option<crate::neighbours::SentenceMap>,
}

/// A model folder loaded for inference on `device`, as plain tensors (no
/// trainable variables, so no gradient graph is recorded): bf16 on GPUs that
/// support it; on the CPU f16 matrices computed with in f32
/// (`inference_dtype`; C2S_PRECISION overrides). Returns the model and its
/// weights' description, for people to read.
pub fn load_for_inference(dir: &Path, device: &Device) -> Result<(CausalLm, String)> {
    let model = load_causal_lm(dir, device, crate::device::inference_dtype(device))?;
    let weights = if model.has_half_rows() {
        "f16 weights, f32 arithmetic".to_string()
    } else {
        format!("{:?} weights", model.dtype())
    };
    Ok((model, weights))
}

impl TrainedModel {
    pub fn load(dir: &Path) -> Result<Self> {
        let card = ModelCard::read(dir)?;
        let (device, device_name) = crate::device::best_device();
        let (model, weights) = load_for_inference(dir, &device)?;
        // Plain tensors, not trainable variables: no gradient graph is kept
        // alive through inference. `vars` stays empty.
        let loaded = LoadedModel {
            model,
            vars: candle_nn::VarMap::new(),
        };
        let tok = load_tokenizer(&dir.join("tokenizer.json"))?;
        // Checked here, or a token past the embeddings fails deep inside
        // candle as "index-select invalid index" with no file named.
        let (n_tok, n_emb) = (tok.get_vocab_size(true), loaded.model.vocab_size());
        if n_tok > n_emb {
            return Err(ModelError::Tokenizer {
                path: dir.join("tokenizer.json"),
                message: format!("{n_tok} tokens, but the model has embeddings for {n_emb}"),
                hint: "the tokenizer belongs to another model; restore the one saved with these weights".into(),
            });
        }
        let eos = tok
            .token_to_id(EOS)
            .or(loaded.model.config().eos_token_id())
            .ok_or_else(|| ModelError::Tokenizer {
                path: dir.join("tokenizer.json"),
                message: format!("no {EOS} token"),
                hint: "use the tokenizer saved with the model".into(),
            })?;
        let neighbours = crate::neighbours::SentenceMap::read(dir)?;
        Ok(TrainedModel {
            neighbours,
            weigh_genes: card.prompt_style == crate::prompts::PromptStyle::Studio
                && card.learned_generation(),
            card,
            loaded,
            tok,
            eos,
            device_name,
            precision: weights,
        })
    }

    /// A predictor that scores `labels` as this model was trained to answer:
    /// its organism, genes per cell, end token and prompt style.
    pub fn predictor<'a>(
        &'a self,
        templates: &'a crate::prompts::Templates,
        labels: Vec<String>,
    ) -> Result<crate::predict::Predictor<'a>> {
        crate::predict::Predictor::new(
            &self.loaded.model,
            &self.tok,
            templates,
            labels,
            &self.card.organism,
            self.card.top_k,
            self.eos,
        )?
        .with_style(self.card.prompt_style)
        .map(|p| {
            p.with_generative(
                self.weigh_genes
                    .then_some(crate::predict::GENERATIVE_WEIGHT),
            )
        })
    }
}
