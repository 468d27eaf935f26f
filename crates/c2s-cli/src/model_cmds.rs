//! `c2s train` and `c2s predict`: thin wrappers over c2s-model.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use c2s_data::dataset::{read_sentences, SentenceRecord};
use c2s_model::predict::Predictor;
use c2s_model::prompts::Templates;
use c2s_model::tokenizer::{gene_tokenizer, load_tokenizer, EOS};
use c2s_model::train::{train, CellRecord, TrainOptions, TrainProgress};
use c2s_model::{init_model, load_model, Gpt2Config, LoadedModel};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

#[derive(Clone, Copy, ValueEnum)]
pub enum Preset {
    /// A compact model from scratch: minutes on a laptop CPU.
    Quick,
    /// A larger model from scratch, several epochs.
    Standard,
    /// Fine-tune pretrained GPT-2 (--base: a Hugging Face folder or Hub id;
    /// default gpt2), keeping its tokenizer and shape. Best on a GPU.
    FineTune,
}

#[derive(Args)]
pub struct TrainArgs {
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    /// The run folder to create (checkpoints, loss log, final model in model/).
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, value_enum, default_value_t = Preset::Quick)]
    preset: Preset,
    /// The pretrained model to fine-tune: a Hugging Face model folder
    /// (config.json, model.safetensors, tokenizer.json) or a Hub id such as
    /// gpt2 (downloaded once). Implies --preset fine-tune.
    #[arg(long)]
    base: Option<String>,
    /// The cell annotation to learn (default: the dataset's first label column).
    #[arg(long)]
    label: Option<String>,
    /// Continue the run in OUTPUT from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Organism named in the prompts.
    #[arg(long, default_value = "Homo sapiens")]
    organism: String,
    /// Genes per cell in prompts (default: the preset's).
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    epochs: Option<f64>,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    max_steps: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Model shape (default: the preset's).
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    width: Option<usize>,
    #[arg(long)]
    heads: Option<usize>,
    #[arg(long)]
    context: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PredictArgs {
    /// A model folder written by `c2s train` (RUN/model).
    model: PathBuf,
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    /// Which cells: train, val, test or all.
    #[arg(long, default_value = "test")]
    split: String,
    /// Write one JSON line per cell (name, predicted type, confidence, true type).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Predict at most this many cells.
    #[arg(long)]
    limit: Option<usize>,
    /// Let the model write its answer freely, as the reference does (it may
    /// name no known type); by default every known type is scored and the
    /// likeliest one is the answer.
    #[arg(long)]
    free: bool,
    #[arg(long)]
    json: bool,
}

/// What a trained model needs to predict: written beside it as c2s.json.
#[derive(Serialize, Deserialize)]
struct ModelCard {
    label_column: String,
    labels: Vec<String>,
    organism: String,
    top_k: usize,
    /// The genes the model knows (the dataset's vocabulary).
    #[serde(default)]
    genes: Vec<String>,
}

/// A model folder written by `c2s train`, ready to use.
struct Trained {
    card: ModelCard,
    loaded: LoadedModel,
    tok: Tokenizer,
    eos: u32,
}

impl Trained {
    fn load(dir: &Path) -> Result<Self> {
        let card: ModelCard =
            serde_json::from_slice(&std::fs::read(dir.join("c2s.json")).with_context(|| {
                format!(
                    "{}: no c2s.json; give the model folder of a `c2s train` run (RUN/model)",
                    dir.display()
                )
            })?)?;
        let (device, device_name) = c2s_model::train::best_device();
        let mut loaded = load_model(dir, &device)?;
        // Half-precision weights on GPUs that support them (C2S_PRECISION overrides).
        let dtype = c2s_model::train::inference_dtype(&device);
        if dtype != candle_core::DType::F32 {
            loaded.model = loaded.model.to_dtype(dtype)?;
        }
        eprintln!("device: {device_name}, {dtype:?} weights");
        let tok = load_tokenizer(&dir.join("tokenizer.json"))?;
        let eos = tok
            .token_to_id(EOS)
            .context("tokenizer without <|endoftext|>")?;
        Ok(Trained {
            card,
            loaded,
            tok,
            eos,
        })
    }
}

fn label_of<'a>(r: &'a SentenceRecord, col: &str) -> Option<&'a str> {
    r.labels
        .iter()
        .find(|l| l.0 == col)
        .and_then(|l| l.1.as_deref())
}

fn first_label_column(records: &[SentenceRecord]) -> Option<String> {
    records
        .first()?
        .labels
        .iter()
        .map(|l| l.0.clone())
        .find(|n| n != "split")
}

pub fn run_train(a: &TrainArgs, cancel: &AtomicBool) -> Result<()> {
    let records = read_sentences(&a.dataset)?;
    let label = match &a.label {
        Some(l) => l.clone(),
        None => first_label_column(&records)
            .context("the dataset has no label column: convert it again with --labels cell_type")?,
    };
    if !records.iter().any(|r| label_of(r, &label).is_some()) {
        bail!(
            "{}: no cell has a `{label}` label; choose a label column with --label",
            a.dataset.display()
        );
    }
    let to_cell = |r: &SentenceRecord, k: usize| CellRecord {
        genes: r.sentence.split(' ').take(k).map(String::from).collect(),
        label: label_of(r, &label).map(String::from),
    };
    let mut opts = TrainOptions::quick();
    let (mut layers, mut width, mut heads, mut context) = (2, 128, 4, 256);
    let fine_tune = matches!(a.preset, Preset::FineTune) || a.base.is_some();
    if let Preset::Standard = a.preset {
        (layers, width, heads, context) = (4, 256, 4, 512);
        opts.epochs = 5.0;
        opts.lr = 6e-4;
        opts.top_k = 200;
    }
    if fine_tune {
        if a.layers.or(a.width).or(a.heads).or(a.context).is_some() {
            bail!("--layers, --width, --heads and --context come from the pretrained model when fine-tuning\n  hint: leave them out, or train from scratch without --base");
        }
        // Pretrained weights move little: a small learning rate; GPT-2's
        // sub-word tokens make 100 genes about 300 tokens.
        opts.lr = 1e-4;
        opts.top_k = 100;
    }
    layers = a.layers.unwrap_or(layers);
    width = a.width.unwrap_or(width);
    heads = a.heads.unwrap_or(heads);
    context = a.context.unwrap_or(context);
    opts.top_k = a.top_k.unwrap_or(opts.top_k);
    opts.epochs = a.epochs.unwrap_or(opts.epochs);
    opts.max_steps = a.max_steps;
    opts.batch_size = a.batch_size.unwrap_or(opts.batch_size);
    opts.checkpoint_every = a.checkpoint_every.unwrap_or(opts.checkpoint_every);
    opts.seed = a.seed;
    opts.organism = a.organism.clone();
    let split_is = |r: &SentenceRecord, s: &str| label_of(r, "split") == Some(s);
    let train_cells: Vec<CellRecord> = records
        .iter()
        .filter(|r| split_is(r, "train"))
        .map(|r| to_cell(r, opts.top_k))
        .collect();
    let val_cells: Vec<CellRecord> = records
        .iter()
        .filter(|r| split_is(r, "val"))
        .map(|r| to_cell(r, opts.top_k))
        .collect();

    let templates = Templates::default_set();
    let labels: BTreeSet<String> = records
        .iter()
        .filter_map(|r| label_of(r, &label).map(String::from))
        .collect();
    let vocab = c2s_data::Vocabulary::read_tsv(&a.dataset.join("vocabulary.tsv"))?;
    let run_exists = a.output.join("loss_log.jsonl").exists();
    if run_exists && !a.resume {
        bail!(
            "{}: this run folder is in use; add --resume to continue it, or choose another folder",
            a.output.display()
        );
    }
    let checkpoint = a
        .resume
        .then(|| c2s_model::train::find_checkpoint(&a.output))
        .flatten();
    let (device, device_name) = c2s_model::train::best_device();
    let (tok, model) = if fine_tune {
        let base = c2s_model::pretrained::resolve(a.base.as_deref().unwrap_or("gpt2"))?;
        let tok_path = checkpoint.as_ref().unwrap_or(&base).join("tokenizer.json");
        eprintln!("Fine-tuning {}", base.display());
        (load_tokenizer(&tok_path)?, load_model(&base, &device)?)
    } else {
        let tok = match &checkpoint {
            Some(ck) => load_tokenizer(&ck.join("tokenizer.json"))?,
            None => gene_tokenizer(
                &vocab.genes,
                &[templates.texts(), labels.iter().cloned().collect()].concat(),
            )?,
        };
        let mut cfg = Gpt2Config::new(tok.get_vocab_size(true), context, width, layers, heads);
        let eos = tok
            .token_to_id(EOS)
            .context("tokenizer without <|endoftext|>")?;
        cfg.eos_token_id = Some(eos);
        cfg.bos_token_id = Some(eos);
        let model = init_model(&cfg, &device, a.seed)?;
        (tok, model)
    };
    eprintln!(
        "Training on {} ({} train / {} validation cells, {} types); device: {device_name}",
        a.dataset.display(),
        train_cells.len(),
        val_cells.len(),
        labels.len()
    );

    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] step {pos}/{len} (ETA {eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    let report = |p: &TrainProgress| {
        pb.set_length(p.total_steps as u64);
        pb.set_position(p.step as u64);
        let val = p
            .val_loss
            .map(|v| format!(", val {v:.3}"))
            .unwrap_or_default();
        pb.set_message(format!(
            "loss {:.3}{val}, {:.0} tok/s",
            p.train_loss, p.tokens_per_s
        ));
    };
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let s = train(
        &a.output,
        model,
        &tok,
        &templates,
        &train_cells,
        &val_cells,
        &opts,
        a.resume,
        &report,
        cancel,
    )?;
    pb.finish_and_clear();
    if !s.cancelled {
        let card = ModelCard {
            label_column: label.clone(),
            labels: labels.into_iter().collect(),
            organism: a.organism.clone(),
            top_k: opts.top_k,
            genes: vocab.genes.clone(),
        };
        std::fs::write(
            s.model_dir.join("c2s.json"),
            serde_json::to_vec_pretty(&card)?,
        )?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if s.cancelled {
        println!(
            "Cancelled at step {}; resume with --resume (last checkpoint kept in {}).",
            s.steps,
            a.output.join("checkpoint").display()
        );
    } else {
        println!(
            "Trained {} steps in {:.0} s: train loss {:.3}, best validation loss {}. Model: {}",
            s.steps,
            s.seconds,
            s.final_train_loss,
            s.best_val_loss.map_or("-".into(), |v| format!("{v:.3}")),
            s.model_dir.display()
        );
    }
    Ok(())
}

pub fn run_predict(a: &PredictArgs) -> Result<()> {
    let Trained {
        card,
        loaded,
        tok,
        eos,
    } = Trained::load(&a.model)?;
    let templates = Templates::default_set();
    let predictor = Predictor::new(
        &loaded.model,
        &tok,
        &templates,
        card.labels.clone(),
        &card.organism,
        card.top_k,
        eos,
    )?;
    let records = read_sentences(&a.dataset)?;
    let chosen: Vec<&SentenceRecord> = records
        .iter()
        .filter(|r| a.split == "all" || label_of(r, "split") == Some(a.split.as_str()))
        .take(a.limit.unwrap_or(usize::MAX))
        .collect();
    let pb = cell_bar("predicting", chosen.len() as u64);
    let mut lines = Vec::new();
    let (mut right, mut known, mut valid) = (0usize, 0usize, 0usize);
    for r in &chosen {
        let genes: Vec<&str> = r.sentence.split(' ').take(card.top_k).collect();
        let truth = label_of(r, &card.label_column);
        let predicted = if a.free {
            let p = predictor.predict_free(&genes, eos)?;
            valid += p.label.is_some() as usize;
            lines.push(serde_json::json!({"cell_name": r.cell_name, "predicted": p.label, "answer": p.text, "true": truth}));
            p.label
        } else {
            let p = predictor.predict(&genes)?;
            valid += 1;
            lines.push(serde_json::json!({"cell_name": r.cell_name, "predicted": p.label, "confidence": p.confidence, "true": truth}));
            Some(p.label)
        };
        if let Some(t) = truth {
            known += 1;
            right += (Some(t) == predicted.as_deref()) as usize;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    if let Some(out) = &a.output {
        write_lines(out, &lines)?;
    }
    let accuracy = if known > 0 {
        right as f64 / known as f64
    } else {
        f64::NAN
    };
    if a.json {
        println!(
            "{}",
            serde_json::json!({"cells": chosen.len(), "with_labels": known, "accuracy": accuracy, "valid_answers": valid})
        );
    } else {
        println!(
            "{} cells; accuracy {:.3} against `{}` ({} labelled); {} answers name a known type",
            chosen.len(),
            accuracy,
            card.label_column,
            known,
            valid
        );
    }
    Ok(())
}

/// A progress bar over cells: "VERB [=====>   ] 12/264 cells (ETA 3s)".
fn cell_bar(verb: &str, cells: u64) -> ProgressBar {
    let pb = ProgressBar::new(cells);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{verb} [{{bar:30}}] {{pos}}/{{len}} cells (ETA {{eta}})"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    pb
}

fn write_lines(path: &Path, lines: &[serde_json::Value]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[derive(Args)]
pub struct GenerateArgs {
    /// A model folder written by `c2s train` (RUN/model).
    model: PathBuf,
    /// Cell types to generate (repeat or separate with commas); none: cells of
    /// no given type.
    #[arg(long, value_delimiter = ',')]
    cell_type: Vec<String>,
    /// Generate cells of every type the model learned.
    #[arg(long, conflicts_with = "cell_type")]
    every_type: bool,
    /// Cells per type.
    #[arg(short, long, default_value_t = 10)]
    n: usize,
    /// Write the cells here as JSON lines (cell_name, cell_sentence, cell_type),
    /// ready for `c2s reconstruct`.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    #[arg(long, default_value_t = 50)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f64,
    /// Let the model write any token, as the reference does (by default only
    /// genes it knows, each at most once).
    #[arg(long)]
    free: bool,
    /// Stop a cell where this text appears (repeatable); the end token and
    /// "." always end a cell.
    #[arg(long)]
    stop: Vec<String>,
    /// Print each cell's words as they are written (one cell at a time).
    #[arg(long)]
    stream: bool,
    /// Cells written at once (faster; the same cells as one at a time).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run_generate(a: &GenerateArgs) -> Result<()> {
    use c2s_model::generate::{sample_batch, GeneConstraint, Sampling};
    use c2s_model::prompts::{make_example, CellInfo, Task};
    use c2s_model::tokenizer::{decode_text, encode, is_word_level};
    let Trained {
        card,
        loaded,
        tok,
        eos,
    } = Trained::load(&a.model)?;
    let templates = Templates::default_set();
    for t in &a.cell_type {
        if !card.labels.contains(t) {
            bail!(
                "the model has not learned the cell type `{t}`; it knows: {}",
                card.labels.join(", ")
            );
        }
    }
    let mut is_gene = vec![false; loaded.model.config.vocab_size];
    for g in &card.genes {
        if let Some(id) = tok.token_to_id(g) {
            is_gene[id as usize] = true;
        }
    }
    let enders: Vec<u32> = [Some(eos), tok.token_to_id(".")]
        .into_iter()
        .flatten()
        .collect();
    let constraint = GeneConstraint { is_gene, enders };
    // Sub-word tokenizers (fine-tuned GPT-2) have no token per gene to allow.
    let constrained = !a.free && is_word_level(&tok);
    if !a.free && !constrained {
        eprintln!("note: this model's tokenizer splits gene names into pieces, so generation cannot be limited to known genes; generating freely (valid and unique shares are reported)");
    }
    let known: std::collections::HashSet<&str> = card.genes.iter().map(String::as_str).collect();
    let stop: Vec<Vec<u32>> = a
        .stop
        .iter()
        .map(|t| encode(&tok, t))
        .collect::<c2s_model::Result<_>>()?;
    let types: Vec<Option<&str>> = if a.every_type {
        card.labels.iter().map(|t| Some(t.as_str())).collect()
    } else if a.cell_type.is_empty() {
        vec![None]
    } else {
        a.cell_type.iter().map(|t| Some(t.as_str())).collect()
    };
    let pb = cell_bar("generating", (types.len() * a.n) as u64);
    let mut lines = Vec::new();
    let (mut words, mut valid, mut unique) = (0usize, 0usize, 0usize);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(a.seed);
    // The prompt asks for as many genes as the model saw per cell.
    let placeholder: Vec<&str> = vec![""; card.top_k];
    // (type, index within the type, prompt), in output order.
    let mut jobs = Vec::new();
    for ty in &types {
        for i in 0..a.n {
            let task = if ty.is_some() {
                Task::CellTypeGeneration
            } else {
                Task::UnconditionalGeneration
            };
            let info = CellInfo {
                genes: &placeholder,
                cell_type: *ty,
                organism: &card.organism,
            };
            let ex = make_example(&templates, task, &info, card.top_k, &mut rng)?;
            jobs.push((*ty, i, encode(&tok, &ex.prompt)?));
        }
    }
    let s = Sampling {
        temperature: a.temperature,
        top_k: Some(a.top_k),
        top_p: Some(a.top_p),
        max_new: card.top_k + 2,
        seed: a.seed,
        stop: stop.clone(),
    };
    // Streaming shows one cell at a time.
    let batch = if a.stream { 1 } else { a.batch_size.max(1) };
    for (c, chunk) in jobs.chunks(batch).enumerate() {
        let prompts: Vec<Vec<u32>> = chunk.iter().map(|j| j.2.clone()).collect();
        let seeds: Vec<u64> = (0..chunk.len())
            .map(|k| a.seed.wrapping_add((c * batch + k) as u64))
            .collect();
        let mut streamed: Vec<u32> = Vec::new();
        let mut shown = 0;
        let mut on_token = |_row: usize, t: u32| {
            if a.stream {
                streamed.push(t);
                let text = decode_text(&tok, &streamed);
                // Byte-level BPE may hold back a partial character.
                if text.len() > shown && text.is_char_boundary(shown) {
                    pb.suspend(|| {
                        print!("{}", &text[shown..]);
                        let _ = std::io::Write::flush(&mut std::io::stdout());
                    });
                    shown = text.len();
                }
            }
        };
        let outs = sample_batch(
            &loaded.model,
            &prompts,
            eos,
            &s,
            &seeds,
            constrained.then_some(&constraint),
            &mut on_token,
        )?;
        if a.stream {
            pb.suspend(|| println!());
        }
        for ((ty, i, _), ids) in chunk.iter().zip(outs) {
            let sentence = decode_text(&tok, &ids)
                .trim_end_matches('.')
                .trim()
                .to_string();
            let mut seen = std::collections::HashSet::new();
            for w in sentence.split_whitespace() {
                words += 1;
                if known.contains(w) {
                    valid += 1;
                    unique += seen.insert(w.to_string()) as usize;
                }
            }
            let name = format!("generated_{}_{i}", ty.unwrap_or("cell").replace(' ', "_"));
            lines.push(
                serde_json::json!({"cell_name": name, "cell_sentence": sentence, "cell_type": ty}),
            );
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    write_lines(&a.output, &lines)?;
    println!(
        "Wrote {} cells to {}: {:.1} % of words are known genes, {:.1} % of those are unique within their cell",
        lines.len(),
        a.output.display(),
        100.0 * valid as f64 / words.max(1) as f64,
        100.0 * unique as f64 / valid.max(1) as f64
    );
    Ok(())
}

#[derive(Args)]
pub struct EmbedArgs {
    /// A model folder written by `c2s train` (RUN/model).
    model: PathBuf,
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    /// Which cells: train, val, test or all.
    #[arg(long, default_value = "all")]
    split: String,
    /// The embeddings, as safetensors: tensor `embeddings` [cells, width] and the
    /// cell names in the metadata (`safetensors.numpy.load_file` reads it).
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
}

pub fn run_embed(a: &EmbedArgs) -> Result<()> {
    use c2s_model::embed::embed_batch;
    use c2s_model::prompts::{make_example, CellInfo, Task};
    use c2s_model::tokenizer::encode;
    let Trained {
        card,
        loaded,
        tok,
        eos,
    } = Trained::load(&a.model)?;
    let templates = Templates::default_set();
    let records = read_sentences(&a.dataset)?;
    let chosen: Vec<&SentenceRecord> = records
        .iter()
        .filter(|r| a.split == "all" || label_of(r, "split") == Some(a.split.as_str()))
        .collect();
    if chosen.is_empty() {
        bail!("{}: no cells in split `{}`", a.dataset.display(), a.split);
    }
    let pb = cell_bar("embedding", chosen.len() as u64);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let mut flat: Vec<f32> = Vec::new();
    let mut width = 0;
    for batch in chosen.chunks(a.batch_size.max(1)) {
        let mut seqs = Vec::with_capacity(batch.len());
        for r in batch {
            let genes: Vec<&str> = r.sentence.split(' ').take(card.top_k).collect();
            let info = CellInfo {
                genes: &genes,
                cell_type: Some(""),
                organism: &card.organism,
            };
            let ex = make_example(
                &templates,
                Task::CellTypePrediction,
                &info,
                card.top_k,
                &mut rng,
            )?;
            seqs.push(encode(&tok, &ex.prompt)?);
        }
        for e in embed_batch(&loaded.model, &seqs, eos)? {
            width = e.len();
            flat.extend(e);
        }
        pb.inc(batch.len() as u64);
    }
    pb.finish_and_clear();
    let t = candle_core::Tensor::from_vec(flat, (chosen.len(), width), &candle_core::Device::Cpu)?;
    let names: Vec<&str> = chosen.iter().map(|r| r.cell_name.as_str()).collect();
    let meta = std::collections::HashMap::from([(
        "cell_names".to_string(),
        serde_json::to_string(&names)?,
    )]);
    let tmp = a.output.with_extension("tmp");
    safetensors::serialize_to_file([("embeddings", &t)], Some(meta), &tmp)?;
    std::fs::rename(&tmp, &a.output).with_context(|| format!("writing {}", a.output.display()))?;
    println!(
        "Wrote {} embeddings of width {width} to {}",
        chosen.len(),
        a.output.display()
    );
    Ok(())
}
