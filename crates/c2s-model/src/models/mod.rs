//! The middle layer: model files. The families (GPT-2, GPT-NeoX, Gemma-2)
//! behind one causal-LM interface, their configs, weights and tokenizers as
//! Hugging Face folders hold them, the KV cache, and the device and number
//! type they run in.

pub mod cache;
pub mod causal_lm;
pub mod config;
pub(crate) mod config_reader;
pub mod device;
pub(crate) mod dropout;
pub mod gemma2;
pub mod gpt2;
pub mod gpt2_config;
pub mod gpt_neox;
pub(crate) mod layers;
pub mod pretrained;
pub(crate) mod rotary;
pub mod tokenizer;
pub mod weights;
