//! Tokenizers as `tokenizer.json` files (the `tokenizers` library's format,
//! which transformers reads too).

use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};

/// Loads a `tokenizer.json`.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
        path: path.into(),
        message: format!("cannot read: {e}"),
        hint: "give a tokenizer.json written by the tokenizers library (transformers' save_pretrained writes one)".into(),
    })
}

/// Token ids of `text`, special tokens such as `<|endoftext|>` included.
pub fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    tok.encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| ModelError::Input(format!("cannot tokenize: {e}"), "check the text".into()))
}
