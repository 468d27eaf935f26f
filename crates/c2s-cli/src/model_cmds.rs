//! `c2s train`, `predict`, `generate`, `embed`: thin wrappers over c2s-model.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use c2s_data::dataset::read_dataset;
use c2s_model::cells::{
    embed_cells, generate_cells, predict_cells, predictions_jsonl, GenerateRequest,
};
use c2s_model::train::TrainProgress;
use c2s_model::train_dataset::{prepare_training, Preset, TrainRequest};
use c2s_model::{ModelError, TrainedModel};
use clap::builder::PossibleValue;
use clap::builder::TypedValueParser;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cell_io::{cell_bar, chosen_cells, claim_output, inputs};
use crate::rules_args::RulesArgs;

/// The engine's presets, by their ids, each with its summary as help.
fn preset_parser() -> impl clap::builder::TypedValueParser<Value = Preset> {
    let values = Preset::ALL.map(|p| PossibleValue::new(p.id()).help(p.describe().summary));
    clap::builder::PossibleValuesParser::new(values)
        .map(|s| s.parse::<Preset>().expect("one of the listed presets"))
}

#[derive(Args)]
pub struct TrainArgs {
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    /// The run folder to create (checkpoints, loss log, final model in model/).
    #[arg(short, long)]
    output: PathBuf,
    /// How big a model and how long a run (fine-tune: pretrained GPT-2 from
    /// --base, default gpt2, keeping its tokenizer and shape).
    #[arg(long, default_value_t = Preset::default(), value_parser = preset_parser())]
    preset: Preset,
    /// The pretrained model to fine-tune: a Hugging Face model folder
    /// (config.json, model.safetensors, tokenizer.json) or a Hub id such as
    /// gpt2 (downloaded once, as `c2s models download` does). Implies
    /// --preset fine-tune.
    #[arg(long)]
    base: Option<String>,
    /// Accept the licence of the --base model to download (shown first).
    #[arg(long)]
    accept_licence: bool,
    /// The cell annotation to learn (default: the dataset's first label column).
    #[arg(long)]
    label: Option<String>,
    /// Continue the run in OUTPUT from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Organism named in the prompts (default: the dataset's species).
    #[arg(long)]
    organism: Option<String>,
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
    /// Peak learning rate (default: the preset's; 1e-4 when fine-tuning).
    #[arg(long)]
    lr: Option<f64>,
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
    #[arg(long, default_value_t = c2s_data::DEFAULT_SEED)]
    seed: u64,
    /// Read the training cells also as if sequenced less deeply, thinned
    /// afresh each epoch: by their raw counts where the dataset keeps them;
    /// the quick preset then reads each cell 10 times (README: on the demo,
    /// generated cells of the type asked for much more often; about twice
    /// the time; not the default)
    #[arg(long)]
    thinning: bool,
    /// Leave out of every cell the model reads and writes the genes within
    /// the first `--top-k` of more than SHARE of the training cells
    /// (ribosomal, mitochondrial and the like; default share 0.7), so that
    /// it reads further into the genes that tell types apart; the cells it
    /// writes get them back at their typical place (README; not the default)
    #[arg(long, value_name = "SHARE", num_args = 0..=1)]
    skip_common_genes: Option<Option<f64>>,
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
    split: c2s_data::split::SplitChoice,
    /// Write one JSON line per cell (name, predicted type, confidence, true type).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Predict at most this many cells.
    #[arg(long)]
    limit: Option<std::num::NonZeroUsize>,
    /// Let the model write its answer freely, as the reference does (it may
    /// name no known type); by default every known type is scored and the
    /// likeliest one is the answer.
    #[arg(long)]
    free: bool,
    /// Name types by the answer's likelihood alone, up to 2.7 times as fast. By
    /// default a model that learned to write cells of a given type also
    /// weighs, where its answer is unsure, how likely it finds the cell's
    /// genes given each type (slightly more often right; README).
    #[arg(long, conflicts_with = "free")]
    answer_only: bool,
    /// Name types by the model alone. By default a model trained here weighs
    /// its answer with the types of the 5 training cells nearest the cell by
    /// its whole sentence (kept in the model folder; more often right than
    /// either alone, README).
    #[arg(long, conflicts_with = "free")]
    model_only: bool,
    #[command(flatten)]
    rules: RulesArgs,
    #[arg(long)]
    json: bool,
}

fn load_model_dir(dir: &Path) -> Result<TrainedModel> {
    let m = TrainedModel::load(dir)?;
    eprintln!("device: {}, {}", m.device_name, m.precision);
    Ok(m)
}

impl TrainArgs {
    fn request(&self) -> TrainRequest {
        TrainRequest {
            dataset: self.dataset.clone(),
            output: self.output.clone(),
            preset: self.preset,
            base: self.base.clone(),
            label: self.label.clone(),
            resume: self.resume,
            tasks: None,
            organism: self.organism.clone(),
            top_k: self.top_k,
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size,
            lr: self.lr,
            checkpoint_every: self.checkpoint_every,
            layers: self.layers,
            width: self.width,
            heads: self.heads,
            context: self.context,
            seed: self.seed,
            thinning: self.thinning,
            skip_common_genes: self
                .skip_common_genes
                .map(|s| s.unwrap_or(c2s_data::common_genes::CommonGenes::DEFAULT_SHARE)),
        }
    }
}

/// Prepares the run; the dataset and options are checked before the base
/// model's licence is accepted (`--accept-licence`) and the base downloaded.
fn prepare_with_base(
    a: &TrainArgs,
    request: &TrainRequest,
    cancel: &AtomicBool,
) -> Result<c2s_model::train_dataset::PreparedTraining> {
    let store = c2s_model::hub::ModelStore::from_env();
    // At most two steps: accept the licence, then download.
    for _ in 0..2 {
        match prepare_training(request) {
            Err(ModelError::LicenceNotAccepted { id, .. }) if a.accept_licence => {
                crate::models_cmd::accept(&store, &id)?;
            }
            Err(ModelError::NotDownloaded { id }) => {
                eprintln!("Downloading {id}, the model to fine-tune");
                crate::models_cmd::download(&store, &id, a.accept_licence, cancel)?;
            }
            prepared => return Ok(prepared?),
        }
    }
    Ok(prepare_training(request)?)
}

pub fn run_train(a: &TrainArgs, cancel: &AtomicBool) -> Result<()> {
    let prepared = prepare_with_base(a, &a.request(), cancel)?;
    if let Some(base) = &prepared.base_dir {
        eprintln!("Fine-tuning {}", base.display());
    }
    eprintln!(
        "Training on {} ({} train / {} validation cells, {} types); device: {}",
        a.dataset.display(),
        prepared.train_cells.len(),
        prepared.val_cells.len(),
        prepared.labels.len(),
        prepared.device_name
    );
    // Steps timed, as the app's Train screen estimates (the app also
    // corrects it by earlier runs, which a command line does not keep).
    let estimated = prepared.estimate_seconds()?;
    let (left, total) = (prepared.steps_left(), prepared.total_steps());
    eprintln!(
        "About {:.0} s on this computer ({}), from a few timed steps",
        estimated,
        if left < total {
            format!("{left} of {total} steps left")
        } else {
            format!("{total} steps")
        }
    );
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] step {pos}/{len} (ETA {eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    // The latest held-out figure stays in the message until the next one.
    let held_out = std::sync::Mutex::new(String::new());
    let report = |p: &TrainProgress| {
        pb.set_length(p.total_steps as u64);
        pb.set_position(p.step as u64);
        let val = p
            .val_loss
            .map(|v| format!(", val {v:.3}"))
            .unwrap_or_default();
        let mut named = held_out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = p.held_out {
            *named = format!(", held-out cells named right {}/{}", h.right, h.cells);
        }
        pb.set_message(format!(
            "loss {:.3}{val}{named}, {:.0} tok/s",
            p.train_loss, p.tokens_per_s
        ));
    };
    let s = prepared.run(&report, cancel)?;
    pb.finish_and_clear();
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["estimated_seconds"] = estimated.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_trained(&s, &a.output);
    }
    Ok(())
}

/// How the run went, in a line or two.
fn print_trained(s: &c2s_model::train::TrainSummary, output: &Path) {
    if s.cancelled {
        println!(
            "Cancelled at step {}; resume with --resume (last checkpoint kept in {}).",
            s.steps,
            output.join("checkpoint").display()
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
        if let Some(v) = s.validation {
            println!(
                "It names the type of {} of {} validation cells right ({:.1} %): cells it did not learn from. The test cells and the k-NN baseline: c2s predict, then c2s eval.",
                v.right,
                v.cells,
                100.0 * v.accuracy()
            );
        }
    }
}

pub fn run_predict(a: &PredictArgs) -> Result<()> {
    let _claim = claim_output(a.output.as_deref(), a.force)?;
    let _h5ad = a.rules.start(a.force)?;
    // The dataset first: reading it is quicker than loading a model.
    let records = read_dataset(&a.dataset)?;
    let mut m = load_model_dir(&a.model)?;
    m.weigh_genes &= !a.answer_only;
    if a.model_only {
        m.neighbours = None;
    }
    if m.neighbours.is_some() && !a.free {
        eprintln!(
            "answers weighed with the types of the {} training cells nearest each cell (--model-only: the model alone)",
            c2s_model::neighbours::NEIGHBOURS
        );
    }
    let chosen = chosen_cells(&records, a.split, a.limit, &a.dataset)?;
    let pb = cell_bar("predicting", chosen.len() as u64);
    let cancel = &crate::CANCEL;
    let preds = predict_cells(
        &m,
        &inputs(&chosen),
        a.free,
        &a.rules.only,
        &|done, _| pb.set_position(done as u64),
        cancel,
    )?;
    pb.finish_and_clear();
    let (mut right, mut known, mut valid) = (0usize, 0usize, 0usize);
    let mut lines = Vec::new();
    for (r, p) in chosen.iter().zip(&preds) {
        let truth = r.label(&m.card.label_column);
        valid += p.predicted.is_some() as usize;
        if let Some(t) = truth {
            known += 1;
            right += (Some(t) == p.predicted.as_deref()) as usize;
        }
        lines.push(p.record(truth, r.label("split")));
    }
    let refined = a.rules.finish(&a.dataset, &mut lines)?;
    if let Some(out) = &a.output {
        c2s_data::output::write_file(out, predictions_jsonl(&lines).as_bytes(), a.force)?;
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
            "{} cells; accuracy {:.3} against `{}` ({} labelled); {} answers name a known type{}{refined}",
            chosen.len(),
            accuracy,
            m.card.label_column,
            known,
            valid,
            if refined.is_empty() { "" } else { "; " },
        );
    }
    Ok(())
}

/// Writes JSON lines atomically (an existing file only with `force`).
#[derive(Args)]
pub struct GenerateArgs {
    /// A model folder written by `c2s train` (RUN/model), or a published
    /// C2S model's Hugging Face folder.
    model: PathBuf,
    /// Cell types to generate (repeat or separate with commas); none: cells of
    /// no given type.
    #[arg(long, value_delimiter = ',')]
    cell_type: Vec<String>,
    /// Generate cells of every type the model learned.
    #[arg(long, conflicts_with = "cell_type")]
    every_type: bool,
    /// Published multi-cell models: tissues to write groups of cells of
    /// (repeat or separate with commas); -n groups each.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["cell_type", "every_type"])]
    tissue: Vec<String>,
    /// Cells in each group written with --tissue.
    #[arg(long, default_value_t = c2s_model::published::DEFAULT_GROUP_CELLS)]
    group_cells: usize,
    /// Cells per type (groups per tissue with --tissue).
    #[arg(short, long, default_value_t = GenerateRequest::default().per_type)]
    n: usize,
    /// Models trained here: as many cells of each type as this split of
    /// --dataset holds (train, val, test or all), so that `c2s eval`
    /// compares them with real cells of the same mix of types.
    #[arg(long, requires = "dataset", conflicts_with_all = ["cell_type", "every_type", "tissue"])]
    as_in: Option<c2s_data::split::SplitChoice>,
    /// Write the cells here as JSON lines (cell_name, cell_sentence, cell_type),
    /// ready for `c2s reconstruct`.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    #[arg(long, default_value_t = GenerateRequest::default().temperature)]
    temperature: f64,
    #[arg(long, default_value_t = GenerateRequest::default().top_k)]
    top_k: usize,
    #[arg(long, default_value_t = GenerateRequest::default().top_p)]
    top_p: f64,
    /// How typical of the asked type the cells are (classifier-free
    /// guidance): 1 samples the model as it is, 0 ignores the type, more
    /// than 1 pushes toward what sets the type apart. Default: 2 for models
    /// trained here that learned cells of no given type, else 1.
    #[arg(long, allow_negative_numbers = true)]
    guidance: Option<f64>,
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
    #[arg(long, default_value_t = GenerateRequest::default().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = GenerateRequest::default().seed)]
    seed: u64,
    /// Published models: the dataset whose genes count as known (for the
    /// shares of valid and unique genes).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Published models: genes per cell asked for in the prompt (default:
    /// 200, or 100 a cell in groups).
    #[arg(long)]
    genes: Option<usize>,
    /// Published models: organism named in the prompt (default: the
    /// dataset's species).
    #[arg(long)]
    organism: Option<String>,
}

/// The types to write cells of, and how many of each (none: `-n` each).
fn requested_types(
    a: &GenerateArgs,
    m: &TrainedModel,
) -> Result<(Vec<Option<String>>, Vec<usize>)> {
    if let (Some(split), Some(dataset)) = (a.as_in, &a.dataset) {
        let records = read_dataset(dataset)?;
        let mix = c2s_model::cells::TypeMix::of_split(&records, split, &m.card)
            .with_context(|| dataset.display().to_string())?;
        if !mix.left_out.is_empty() {
            eprintln!(
                "note: types the model did not learn are left out: {}",
                mix.left_out.join(", ")
            );
        }
        return Ok(mix.types_and_counts());
    }
    let types = if a.every_type {
        m.card.labels.iter().cloned().map(Some).collect()
    } else if a.cell_type.is_empty() {
        vec![None]
    } else {
        a.cell_type.iter().cloned().map(Some).collect()
    };
    Ok((types, Vec::new()))
}

pub fn run_generate(a: &GenerateArgs) -> Result<()> {
    // Claimed for the whole job: a second one writing this file is refused.
    let _claim = c2s_data::output::claim_file_output(&a.output, a.force)?;
    if let Some(w) = a.guidance {
        c2s_model::generate::Guidance::check_weight(w)?;
    }
    if !crate::published_cmds::is_trained_here(&a.model) {
        if a.as_in.is_some() {
            bail!("--as-in needs a model trained here; published models take --cell-type");
        }
        if a.guidance.is_some_and(|w| w != 1.0) {
            bail!(
                "--guidance needs a model trained here (it learns cells of no given type); published models take only --guidance 1"
            );
        }
        return crate::published_cmds::generate_with_published(
            &a.model,
            &a.cell_type,
            (&a.tissue, a.group_cells),
            a.n,
            a.dataset.as_deref(),
            a.genes,
            &crate::published_cmds::organism(&a.organism, a.dataset.as_deref()),
            (a.temperature, a.top_k, a.top_p),
            a.batch_size,
            a.seed,
            &a.output,
            a.force,
        );
    }
    let m = load_model_dir(&a.model)?;
    let (types, counts) = requested_types(a, &m)?;
    if !a.free && !c2s_model::tokenizer::is_word_level(&m.tok) {
        eprintln!("note: this model's tokenizer splits gene names into pieces, so generation cannot be limited to known genes; generating freely (valid and unique shares are reported)");
    }
    let req = GenerateRequest {
        types,
        per_type: a.n,
        counts,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        free: a.free,
        stop: a.stop.clone(),
        // Streaming shows one cell at a time.
        batch_size: if a.stream { 1 } else { a.batch_size },
        seed: a.seed,
        guidance: a.guidance,
    };
    let pb = cell_bar("generating", req.cells() as u64);
    let (mut current, mut shown) = (usize::MAX, 0usize);
    let mut on_text = |cell: usize, text: &str| {
        if !a.stream {
            return;
        }
        if cell != current {
            if current != usize::MAX {
                pb.suspend(|| println!());
            }
            (current, shown) = (cell, 0);
        }
        // Byte-level BPE may hold back a partial character; the finished
        // cell comes once more, trimmed.
        if text.len() > shown && text.is_char_boundary(shown) {
            pb.suspend(|| {
                print!("{}", &text[shown..]);
                let _ = std::io::Write::flush(&mut std::io::stdout());
            });
            shown = text.len();
        }
    };
    let cancel = &crate::CANCEL;
    let g = generate_cells(
        &m,
        &req,
        &mut on_text,
        &|done, _| pb.set_position(done as u64),
        cancel,
    )?;
    if a.stream {
        pb.suspend(|| println!());
    }
    pb.finish_and_clear();
    let text = c2s_model::cells::generated_jsonl(&g.cells);
    c2s_data::output::write_file(&a.output, text.as_bytes(), a.force)?;
    println!(
        "Wrote {} cells to {}: {:.1} % of words are known genes, {:.1} % of those are unique within their cell",
        g.cells.len(),
        a.output.display(),
        100.0 * g.valid_share,
        100.0 * g.unique_share
    );
    Ok(())
}

#[derive(Args)]
pub struct EmbedArgs {
    /// A model folder written by `c2s train` (RUN/model), or a published
    /// C2S model's Hugging Face folder.
    model: PathBuf,
    /// A dataset folder made by `c2s convert`.
    dataset: PathBuf,
    /// Which cells: train, val, test or all.
    #[arg(long, default_value = "all")]
    split: c2s_data::split::SplitChoice,
    /// The embeddings, as safetensors: tensor `embeddings` [cells, width] and the
    /// cell names in the metadata (`safetensors.numpy.load_file` reads it).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    #[arg(long, default_value_t = c2s_model::embed::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Published models: genes per cell in the prompt.
    #[arg(long, default_value_t = c2s_model::published::DEFAULT_NUM_GENES)]
    genes: usize,
    /// Published models: organism named in the prompt (default: the
    /// dataset's species).
    #[arg(long)]
    organism: Option<String>,
}

pub fn run_embed(a: &EmbedArgs) -> Result<()> {
    // Claimed for the whole job: a second one writing this file is refused.
    let _claim = c2s_data::output::claim_file_output(&a.output, a.force)?;
    let records = read_dataset(&a.dataset)?;
    let chosen = chosen_cells(&records, a.split, None, &a.dataset)?;
    let (embs, width) = if crate::published_cmds::is_trained_here(&a.model) {
        let m = load_model_dir(&a.model)?;
        let pb = cell_bar("embedding", chosen.len() as u64);
        let cancel = &crate::CANCEL;
        let e = embed_cells(
            &m,
            &inputs(&chosen),
            a.batch_size,
            &|done, _| pb.set_position(done as u64),
            cancel,
        )?;
        pb.finish_and_clear();
        e
    } else {
        crate::published_cmds::embed_with_published(
            &a.model,
            &inputs(&chosen),
            a.genes,
            &crate::published_cmds::organism(&a.organism, Some(&a.dataset)),
            a.batch_size,
        )?
    };
    let names: Vec<&str> = chosen.iter().map(|r| r.cell_name.as_str()).collect();
    c2s_model::embed::write_embeddings(&a.output, &names, embs, a.force)?;
    println!(
        "Wrote {} embeddings of width {width} to {}",
        chosen.len(),
        a.output.display()
    );
    Ok(())
}
