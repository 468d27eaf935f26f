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

/// The end-of-text token: ends every example, pads batches, starts generation.
pub(crate) const EOS: &str = "<|endoftext|>";
pub(crate) const UNK: &str = "<unk>";

/// Trailing punctuation of a word is its own token ("is:" -> "is" ":"), so
/// gene names keep their inner dots and dashes (RP11-34P13.7, HLA-DRA).
const PUNCTUATION_SPLIT: &str = "[.:,;?!]+$";

/// A word-level tokenizer for models trained from scratch: one token per gene
/// of the vocabulary, per word of the prompts and labels, and the special
/// tokens `<|endoftext|>` (id 0) and `<unk>` (id 1). Built as tokenizer.json
/// text, the format transformers' PreTrainedTokenizerFast reads.
pub fn gene_tokenizer(genes: &[String], texts: &[String]) -> Result<Tokenizer> {
    let mut vocab = serde_json::Map::new();
    let add = |w: &str, vocab: &mut serde_json::Map<String, serde_json::Value>| {
        if !w.is_empty() && !vocab.contains_key(w) {
            let id = vocab.len();
            vocab.insert(w.to_string(), id.into());
        }
    };
    add(EOS, &mut vocab);
    add(UNK, &mut vocab);
    for p in [".", ":", ",", ";", "?", "!"] {
        add(p, &mut vocab);
    }
    for t in texts {
        for w in t.split_whitespace() {
            let core = w.trim_end_matches(['.', ':', ',', ';', '?', '!']);
            add(core, &mut vocab);
        }
    }
    for g in genes {
        add(g, &mut vocab);
    }
    let special = |id: usize, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, EOS), special(1, UNK)],
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"Regex": PUNCTUATION_SPLIT}, "behavior": "Isolated", "invert": false}
        ]},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": UNK}
    });
    json.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| ModelError::Tokenizer {
            path: "gene tokenizer".into(),
            message: format!("cannot build: {e}"),
            hint: "this is a bug; please report it".into(),
        })
}

/// Text of token ids for word-level tokenizers: words joined by spaces, with
/// punctuation attached to the word before it; special tokens left out.
pub fn decode_words(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut out = String::new();
    for &id in ids {
        let Some(w) = tok.id_to_token(id) else {
            continue;
        };
        if w == EOS || w == UNK {
            continue;
        }
        let punct = w.chars().all(|c| ".:,;?!".contains(c));
        if !out.is_empty() && !punct {
            out.push(' ');
        }
        out.push_str(&w);
    }
    out
}

/// Whether the tokenizer has one token per word (our gene-level tokenizers),
/// as opposed to sub-word pieces (GPT-2's byte-level BPE).
pub fn is_word_level(tok: &Tokenizer) -> bool {
    matches!(tok.get_model(), tokenizers::ModelWrapper::WordLevel(_))
}

/// Text of generated token ids for any tokenizer, special tokens left out.
pub fn decode_text(tok: &Tokenizer, ids: &[u32]) -> String {
    if is_word_level(tok) {
        decode_words(tok, ids)
    } else {
        tok.decode(ids, true).unwrap_or_default().trim().to_string()
    }
}

/// Saves a tokenizer as tokenizer.json (through a temporary file).
pub fn save_tokenizer(tok: &Tokenizer, path: &Path) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    tok.save(&tmp, false).map_err(|e| ModelError::Tokenizer {
        path: tmp.clone(),
        message: format!("cannot write: {e}"),
        hint: "check free disk space and permissions".into(),
    })?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })
}
