//! Writes a tiny random GPT-NeoX in the published C2S-Pythia layout: a
//! Hugging Face folder with the given tokenizer.json, its embeddings padded
//! to a multiple of 128 rows as Pythia's are. For scripts/test.sh, which
//! fine-tunes it and checks the result against transformers.
//!
//! usage: tiny_published OUT_DIR TOKENIZER_JSON

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, tok] = args.as_slice() else {
        return Err("usage: tiny_published OUT_DIR TOKENIZER_JSON".into());
    };
    let out = std::path::Path::new(out);
    let tokenizer = c2s_model::tokenizer::load_tokenizer(std::path::Path::new(tok))?;
    let vocab = tokenizer.get_vocab_size(true).div_ceil(128) * 128;
    let cfg = c2s_model::GptNeoxConfig::new(vocab, 2048, 32, 1, 2);
    let m = c2s_model::init_any(&cfg.into(), &candle_core::Device::Cpu, 5)?;
    c2s_model::save_model(out, m.model.config(), &m.vars)?;
    std::fs::copy(tok, out.join("tokenizer.json"))?;
    println!("{}", out.display());
    Ok(())
}
