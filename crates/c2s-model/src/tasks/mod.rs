//! The top layer: what the app and the CLI do with a causal language model
//! (prompts, training, prediction, generation, embeddings), written against
//! `models::CausalLm` and never against one family.

pub mod cells;
pub mod embed;
pub mod generate;
pub mod neighbours;
pub mod predict;
pub mod prompts;
pub mod published;
pub mod published_annotation;
pub mod published_prompts;
pub mod train;
pub mod train_dataset;
pub mod trained;
