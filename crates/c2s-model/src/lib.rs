//! The model engine of C2S Studio: GPT-2 on candle, compatible with Hugging
//! Face model folders, for cell sentences.

pub mod cells;
pub mod config;
pub mod embed;
pub mod error;
pub mod fused;
pub mod generate;
pub mod gpt2;
pub mod half_weights;
pub mod optim;
pub mod predict;
pub mod pretrained;
pub mod prompts;
pub mod tokenizer;
pub mod train;
pub mod train_dataset;
pub mod trained;
pub mod weights;

pub use config::Gpt2Config;
pub use error::{ModelError, Result};
pub use gpt2::{Gpt2, KvCache};
pub use trained::{ModelCard, TrainedModel};
pub use weights::{init_model, load_model, save_model, LoadedModel};
