//! The model engine of C2S Studio: causal language models on candle (GPT-2,
//! GPT-NeoX, Gemma-2), compatible with Hugging Face model folders, for cell
//! sentences. Layered as candle is: `kernels` (CPU kernels, optimiser), then
//! `models` (the families behind one causal-LM interface, their files), then
//! `tasks` (prompts, training, prediction, generation, embeddings). Beside
//! them, `hub`: the published models' catalogue and their downloads.

pub mod error;
pub mod hub;
pub mod kernels;
pub mod models;
pub mod tasks;

// Short paths for the modules the front ends use.
pub use kernels::{allocator, fused, half_weights, optim};
pub use models::{config, device, gpt2, pretrained, tokenizer, weights};
pub use tasks::{
    cells, embed, generate, neighbours, predict, prompts, published, published_annotation,
    published_prompts, train, train_dataset, trained,
};

pub use error::{ModelError, Result};
pub use models::cache::KvCache;
pub use models::causal_lm::CausalLm;
pub use models::config::{Family, ModelConfig};
pub use models::gemma2::Gemma2Config;
pub use models::gpt2::Gpt2;
pub use models::gpt2_config::Gpt2Config;
pub use models::gpt_neox::GptNeoxConfig;
pub use tasks::trained::{ModelCard, TrainedModel};
pub use weights::{init_any, init_model, load_causal_lm, load_model, save_model, LoadedModel};
