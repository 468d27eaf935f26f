//! Training on a converted dataset folder: the presets, the model to start
//! from, the cells of each split, and the model card written at the end. The
//! CLI and the app both train through this module.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use c2s_data::common_genes::CommonGenes;
use c2s_data::dataset::{read_dataset, SentenceRecord};
use c2s_data::output::Claim;
use c2s_data::Vocabulary;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};
use crate::neighbours::SentenceMap;
use crate::prompts::{Task, Templates};
use crate::tokenizer::{gene_tokenizer, is_word_level, load_tokenizer, EOS};
use crate::train::{
    batch_loss, clip_grad_norm, find_checkpoint, optimiser, train_checked, CellRecord,
    ExampleMaker, HeldOutCheck, TrainData, TrainOptions, TrainProgress, TrainSummary,
    ValidationCheck,
};
use crate::trained::ModelCard;
use crate::weights::{init_model, load_model, LoadedModel};
use crate::Gpt2Config;

/// A training step's time against its timed passes and update: batching,
/// validation and the held-out checks come on top. Measured on the demo on
/// 2 cores, the quick preset's run took 311 s against 233 to 307 s timed by
/// four estimates (1.01 to 1.34 times; the timing itself varies that much).
/// The app corrects it further by this computer's own runs.
pub(crate) const STEP_OVERHEAD: f64 = 1.2;

/// The request, saved in the run folder so a run can be resumed later.
pub(crate) const RUN_REQUEST: &str = "run_request.json";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// A compact model from scratch: minutes on a laptop CPU.
    #[default]
    Quick,
    /// A larger model from scratch, several epochs.
    Standard,
    /// The largest model from scratch, more epochs: best on a GPU.
    Thorough,
    /// Pretrained GPT-2, keeping its tokenizer and shape.
    FineTune,
}

/// Pretrained weights move little: a small learning rate.
const FINE_TUNE_LR: f64 = 1e-4;
/// GPT-2's sub-word tokens make 100 genes about 300 tokens.
const FINE_TUNE_TOP_K: usize = 100;
/// The quick preset's epochs over thinned cells: on the demo, three seeds
/// of 10 wrote cells of the type asked for 0.83 of the time (k-NN at k = 5)
/// against 0.73 for the plain 7, naming types as often; 7 thinned epochs
/// gave 0.80 and 0.68 (README).
const QUICK_THINNED_EPOCHS: f64 = 10.0;

/// What a preset trains: the model's shape and the run's length.
/// Fine-tuning takes the shape of the pretrained model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PresetPlan {
    pub layers: usize,
    pub width: usize,
    pub heads: usize,
    pub context: usize,
    pub epochs: f64,
    /// The epochs of a run that thins its cells (`TrainRequest::thinning`)
    /// when none are asked for: thinned cells keep teaching where a plain
    /// run's validation loss turns (README, "Thinning by real counts").
    pub thinned_epochs: f64,
    pub lr: f64,
    pub top_k: usize,
}

/// A preset as a screen offers it: a plain summary for the scientist, the
/// technical settings for the tooltip, all from the one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresetInfo {
    pub preset: Preset,
    pub name: &'static str,
    pub summary: String,
    pub details: String,
    pub plan: PresetPlan,
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Preset::ALL
            .into_iter()
            .find(|p| p.id() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.id()).collect();
                format!("no preset `{s}`; choose one of {}", names.join(", "))
            })
    }
}

impl Preset {
    /// The presets that train a model from scratch, least thorough first.
    pub const FROM_SCRATCH: [Preset; 3] = [Preset::Quick, Preset::Standard, Preset::Thorough];
    /// Every preset, as the CLI and the app list them.
    pub const ALL: [Preset; 4] = [
        Preset::Quick,
        Preset::Standard,
        Preset::Thorough,
        Preset::FineTune,
    ];

    /// The preset's name on the command line and in saved requests (serde's).
    pub fn id(self) -> &'static str {
        match self {
            Preset::Quick => "quick",
            Preset::Standard => "standard",
            Preset::Thorough => "thorough",
            Preset::FineTune => "fine-tune",
        }
    }

    /// The shape and length of the run the preset trains.
    pub fn plan(self) -> PresetPlan {
        let quick = TrainOptions::quick();
        let base = PresetPlan {
            layers: 2,
            width: 128,
            heads: 4,
            context: 256,
            epochs: quick.epochs,
            thinned_epochs: QUICK_THINNED_EPOCHS,
            lr: quick.lr,
            top_k: quick.top_k,
        };
        match self {
            Preset::Quick => base,
            // The shape is the pretrained model's; see FINE_TUNE_LR.
            Preset::FineTune => PresetPlan {
                lr: FINE_TUNE_LR,
                top_k: FINE_TUNE_TOP_K,
                thinned_epochs: base.epochs,
                ..base
            },
            Preset::Standard => PresetPlan {
                layers: 4,
                width: 256,
                context: 512,
                epochs: 5.0,
                // Thinning was measured with the quick preset only.
                thinned_epochs: 5.0,
                lr: 6e-4,
                top_k: 200,
                ..base
            },
            Preset::Thorough => PresetPlan {
                layers: 6,
                width: 384,
                heads: 6,
                context: 512,
                epochs: 10.0,
                thinned_epochs: 10.0,
                lr: 5e-4,
                top_k: 200,
            },
        }
    }

    /// The preset in a scientist's words, with its settings for a tooltip.
    pub fn describe(self) -> PresetInfo {
        let p = self.plan();
        let (name, size, when) = match self {
            Preset::Quick => ("Quick", "a small model", "a few minutes on a laptop"),
            Preset::Standard => ("Standard", "a larger model", "several times Quick's time"),
            Preset::Thorough => ("Thorough", "the largest model", "best on a GPU"),
            Preset::FineTune => ("Fine-tune", "a pretrained model", "its size sets the time"),
        };
        let summary = format!(
            "{size} that reads each cell {} times and its {} most expressed genes: {when}",
            p.epochs, p.top_k
        );
        let details = match self {
            Preset::FineTune => format!(
                "the pretrained model's layers and tokenizer; {} epochs, learning rate {}, top {} genes",
                p.epochs, p.lr, p.top_k
            ),
            _ => format!(
                "GPT-2 with {} layers, width {}, {} attention heads, context {} tokens; {} epochs ({} when thinned), learning rate {}, top {} genes",
                p.layers, p.width, p.heads, p.context, p.epochs, p.thinned_epochs, p.lr, p.top_k
            ),
        };
        PresetInfo {
            preset: self,
            name,
            summary,
            details,
            plan: p,
        }
    }

    /// The longest run a preset is recommended for: a coffee break. A
    /// thorough run names types better (on the demo, standard 0.943 on
    /// validation cells against quick's 0.883), but a first model in hours
    /// teaches a newcomer nothing sooner.
    pub const RECOMMENDED_WITHIN_SECONDS: f64 = 20.0 * 60.0;

    /// The most thorough from-scratch preset whose estimate (`estimates`:
    /// seconds per preset on this computer) fits in
    /// RECOMMENDED_WITHIN_SECONDS; Quick when none does.
    pub fn recommend(estimates: &[(Preset, f64)]) -> Preset {
        Self::FROM_SCRATCH
            .iter()
            .rev()
            .copied()
            .find(|p| {
                estimates
                    .iter()
                    .any(|(q, s)| q == p && *s <= Self::RECOMMENDED_WITHIN_SECONDS)
            })
            .unwrap_or(Preset::Quick)
    }
}

/// Everything a training run needs; `None` fields take the preset's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrainRequest {
    pub dataset: PathBuf,
    pub output: PathBuf,
    pub preset: Preset,
    /// Fine-tune this model (a Hugging Face folder or Hub id); implies FineTune.
    pub base: Option<String>,
    /// The cell annotation to learn (default: the dataset's first label column).
    pub label: Option<String>,
    pub resume: bool,
    /// The tasks mixed in training (default: the preset's, prediction and
    /// type-conditioned generation).
    #[serde(default)]
    pub tasks: Option<Vec<crate::prompts::Task>>,
    /// Organism named in the prompts (default: the dataset's species).
    #[serde(default)]
    pub organism: Option<String>,
    pub top_k: Option<usize>,
    pub epochs: Option<f64>,
    pub max_steps: Option<usize>,
    pub batch_size: Option<usize>,
    /// Peak learning rate (default: the preset's; 1e-4 when fine-tuning).
    #[serde(default)]
    pub lr: Option<f64>,
    pub checkpoint_every: Option<usize>,
    pub layers: Option<usize>,
    pub width: Option<usize>,
    pub heads: Option<usize>,
    pub context: Option<usize>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seed: u64,
    /// Thin the training cells as if sequenced less deeply, afresh each
    /// epoch (`TrainOptions::thinning`; off by default).
    #[serde(default)]
    pub thinning: bool,
    /// Leave out of every cell the genes within the first `top_k` of more
    /// than this share of training cells (`CommonGenes`; off by default).
    #[serde(default)]
    pub skip_common_genes: Option<f64>,
}

impl TrainRequest {
    pub fn new(dataset: &Path, output: &Path, preset: Preset) -> Self {
        TrainRequest {
            dataset: dataset.into(),
            output: output.into(),
            preset,
            base: None,
            label: None,
            resume: false,
            tasks: None,
            organism: None,
            top_k: None,
            epochs: None,
            max_steps: None,
            batch_size: None,
            lr: None,
            checkpoint_every: None,
            layers: None,
            width: None,
            heads: None,
            context: None,
            seed: c2s_data::DEFAULT_SEED,
            thinning: false,
            skip_common_genes: None,
        }
    }

    /// The request a run folder was started with, for resuming it.
    pub fn read_from_run(run: &Path) -> Result<Self> {
        let path = run.join(RUN_REQUEST);
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| {
            ModelError::bad(&path, format!("not a run request: {e}"), "start a new run")
        })
    }

    /// The request that continues the run in `run` (as saved there; else
    /// `stored`, as a front end kept it): from its last checkpoint, or from
    /// the start, with its loss log cleared, when it has none yet.
    pub fn to_resume(run: &Path, stored: Option<TrainRequest>) -> Result<Self> {
        let mut req = match (Self::read_from_run(run), stored) {
            (Ok(r), _) => r,
            (Err(_), Some(r)) => r,
            (Err(e), None) => return Err(e),
        };
        req.resume = find_checkpoint(run).is_some();
        if !req.resume {
            let _ = std::fs::remove_file(run.join(crate::train::LOSS_LOG));
        }
        Ok(req)
    }

    fn fine_tune(&self) -> bool {
        self.preset == Preset::FineTune || self.base.is_some()
    }

    /// The pretrained model the run starts from (none: a new model).
    pub(crate) fn base_model(&self) -> Option<&str> {
        self.fine_tune().then(|| {
            self.base
                .as_deref()
                .unwrap_or(crate::pretrained::DEFAULT_BASE)
        })
    }
}

/// A run ready to start: the model, tokenizer and cells.
pub struct PreparedTraining {
    pub request: TrainRequest,
    pub label: String,
    pub labels: Vec<String>,
    pub options: TrainOptions,
    pub train_cells: Vec<CellRecord>,
    pub val_cells: Vec<CellRecord>,
    pub device_name: String,
    /// The pretrained folder being fine-tuned, if any.
    pub base_dir: Option<PathBuf>,
    _claim: Claim,
    model: LoadedModel,
    tok: Tokenizer,
    genes: Vec<String>,
    common: Option<CommonGenes>,
    neighbours: Option<SentenceMap>,
    /// The validation cells' whole sentences, in `val_cells`' order.
    val_sentences: Vec<String>,
}

/// The lock a training job holds in its run folder.
pub(crate) const RUN_LOCK: &str = ".c2s-lock";

fn run_in_use(run: &Path) -> ModelError {
    input(
        format!("{}: this run folder already holds a run", run.display()),
        "resume the run (c2s train --resume, or Resume in the app), or choose another folder",
    )
}

fn input(problem: impl Into<String>, hint: impl Into<String>) -> ModelError {
    ModelError::Input(problem.into(), hint.into())
}

/// Reads the dataset, chooses the model shape and options, and builds (or
/// loads) the model to train.
///
/// The run folder is claimed here, before anything is read from it: a second
/// train, or a resume while the run trains, is refused rather than
/// interleaving checkpoints and logs. The claim lasts as long as the
/// returned value.
pub fn prepare_training(req: &TrainRequest) -> Result<PreparedTraining> {
    let out = &req.output;
    let created = !out.exists();
    std::fs::create_dir_all(out).map_err(|source| ModelError::Io {
        path: out.clone(),
        source,
    })?;
    let claim = c2s_data::output::claim_file(&out.join(RUN_LOCK), out)?;
    let prepared = prepare_claimed(req, claim);
    if prepared.is_err() && created {
        // Nothing of a run that never started is left behind.
        let _ = std::fs::remove_dir_all(out);
    }
    prepared
}

fn prepare_claimed(req: &TrainRequest, claim: Claim) -> Result<PreparedTraining> {
    let (mut opts, shape) = training_options(req)?;
    if req.resume {
        same_cells_as_started(req)?;
    }
    // Raw counts are read only to thin cells by them.
    let records = match opts.thinning {
        Some(_) => c2s_data::dataset::read_dataset_with_counts(&req.dataset)?,
        None => read_dataset(&req.dataset)?,
    };
    let label = label_column(req, &records)?;
    // Found among the training cells only, as the model will read them.
    let common = req.skip_common_genes.map(|share| {
        let train = records.iter().filter(|r| r.label("split") == Some("train"));
        let cells = train.map(|r| (r.sentence.as_str(), r.label(&label)));
        CommonGenes::find(cells, opts.top_k, share)
    });
    let skipped = common.as_ref().map(CommonGenes::set).unwrap_or_default();
    let to_cell = |r: &SentenceRecord| {
        // One pass over the sentence: the genes read, then the rest counted.
        let mut words = r
            .sentence
            .split(' ')
            .enumerate()
            .filter(|(_, g)| !skipped.contains(g));
        let (at, genes): (Vec<usize>, Vec<String>) = words
            .by_ref()
            .take(opts.genes_read())
            .map(|(i, g)| (i, g.to_string()))
            .unzip();
        CellRecord {
            expressed: genes.len() + words.count(),
            // One count a sentence gene (checked when read).
            counts: r
                .counts
                .as_ref()
                .map(|c| at.iter().map_while(|&i| c.get(i).copied()).collect()),
            genes,
            label: r.label(&label).map(String::from),
        }
    };
    let split = |s: &str| -> Vec<CellRecord> {
        records
            .iter()
            .filter(|r| r.label("split") == Some(s))
            .map(to_cell)
            .collect()
    };
    let (train_cells, val_cells) = (split("train"), split("val"));
    let labels: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.label(&label).map(String::from))
        .collect();
    let vocab = Vocabulary::read_tsv(&req.dataset.join("vocabulary.tsv"))?;
    if req.output.join(crate::train::LOSS_LOG).exists() && !req.resume {
        return Err(run_in_use(&req.output));
    }
    let neighbours = sentence_map(req, &records, &label, &opts)?;
    let (device, device_name) = crate::device::best_device();
    let read_genes = || genes_within(&records, &skipped, opts.token_depth(), &vocab.genes);
    let start = initial_model(req, &shape, read_genes, &labels, &device)?;
    // The genes the model knows: its own tokens where it has one per gene
    // (a run resumed from an earlier version may hold every gene), else
    // (sub-word pieces) any of the dataset's.
    let genes = if is_word_level(&start.tok) {
        let tok = &start.tok;
        vocab
            .genes
            .into_iter()
            .filter(|g| tok.token_to_id(g).is_some())
            .collect()
    } else {
        vocab.genes
    };
    // A published C2S model (GPT-NeoX, Gemma-2) keeps the prompts it was
    // trained on.
    if start.model.model.family() != crate::models::config::Family::Gpt2 {
        opts.prompt_style = crate::prompts::PromptStyle::Published;
    }
    Ok(PreparedTraining {
        request: req.clone(),
        label,
        labels: labels.into_iter().collect(),
        options: opts,
        train_cells,
        val_cells,
        device_name,
        base_dir: start.base_dir,
        _claim: claim,
        model: start.model,
        tok: start.tok,
        genes,
        common,
        neighbours,
        val_sentences: whole_sentences(&records, "val"),
    })
}

/// The whole sentences of the cells of `split`, in the dataset's order.
fn whole_sentences(records: &[SentenceRecord], split: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.label("split") == Some(split))
        .map(|r| r.sentence.clone())
        .collect()
}

/// The map of the training cells a model that names types keeps beside it
/// (`neighbours`), from the whole sentences and the dataset's rank fit;
/// none for a dataset without a fit.
fn sentence_map(
    req: &TrainRequest,
    records: &[SentenceRecord],
    label: &str,
    opts: &TrainOptions,
) -> Result<Option<SentenceMap>> {
    let fit_path = req.dataset.join(c2s_data::dataset::FIT_JSON);
    if !opts.tasks.contains(&Task::CellTypePrediction) || !fit_path.exists() {
        return Ok(None);
    }
    let fit = c2s_data::reconstruct::read_fit(&fit_path)?;
    let train = records
        .iter()
        .filter(|r| r.label("split") == Some("train"))
        .filter_map(|r| Some((r.sentence.as_str(), r.label(label)?)));
    SentenceMap::build(train, &fit, opts.seed)
}

/// Refuses to resume a run with its cells read another way than it started
/// (its tokens and model card follow the start): the CLI builds a resumed
/// run's request from its flags, and a flag left out would change them.
fn same_cells_as_started(req: &TrainRequest) -> Result<()> {
    let Ok(started) = TrainRequest::read_from_run(&req.output) else {
        return Ok(());
    };
    let flag = |on: bool, name: &str| format!("{} {name}", if on { "with" } else { "without" });
    let differs = [
        (started.thinning != req.thinning).then(|| flag(started.thinning, "--thinning")),
        (started.skip_common_genes != req.skip_common_genes).then(|| {
            match started.skip_common_genes {
                Some(share) => format!("with --skip-common-genes {share}"),
                None => flag(false, "--skip-common-genes"),
            }
        }),
    ];
    let differs: Vec<String> = differs.into_iter().flatten().collect();
    if differs.is_empty() {
        return Ok(());
    }
    Err(input(
        format!(
            "{}: the run was started {}",
            req.output.display(),
            differs.join(" and ")
        ),
        "resume it with the same settings, or start a new run",
    ))
}

/// The genes a new model's tokenizer holds: those among the first `depth`
/// of some cell's sentence (`TrainOptions::token_depth`; any split: no
/// label is read; the `skipped` common genes left out, as the cells are
/// read), in the dataset vocabulary's order. A gene no cell ranks
/// that high is never read and never learned to write, while the
/// language-model head and its softmax grow with the vocabulary: on the
/// demo 3,760 of 13,714 genes within 100, and the quick preset trains 1.5
/// times faster (README, "what was tried").
fn genes_within(
    records: &[SentenceRecord],
    skipped: &HashSet<&str>,
    depth: usize,
    vocab: &[String],
) -> Vec<String> {
    let read: HashSet<&str> = records
        .iter()
        .flat_map(|r| {
            r.sentence
                .split(' ')
                .filter(|g| !skipped.contains(g))
                .take(depth)
        })
        .collect();
    vocab
        .iter()
        .filter(|g| read.contains(g.as_str()))
        .cloned()
        .collect()
}

/// The label column the run learns: the request's, else the dataset's first.
fn label_column(req: &TrainRequest, records: &[SentenceRecord]) -> Result<String> {
    let label = match &req.label {
        Some(l) => l.clone(),
        None => c2s_data::dataset::default_label_column(records).ok_or_else(|| {
            input(
                format!("{}: the dataset has no label column", req.dataset.display()),
                "convert it again with a label column such as cell_type",
            )
        })?,
    };
    if !records.iter().any(|r| r.label(&label).is_some()) {
        return Err(input(
            format!("{}: no cell has a `{label}` label", req.dataset.display()),
            "choose another label column",
        ));
    }
    Ok(label)
}

/// A new model's shape: layers, width, heads, context.
#[derive(Clone, Copy)]
struct ModelShape {
    layers: usize,
    width: usize,
    heads: usize,
    context: usize,
}

/// The preset's training options and model shape, with the request's
/// settings over them.
fn training_options(req: &TrainRequest) -> Result<(TrainOptions, ModelShape)> {
    let mut opts = TrainOptions::quick();
    let plan = req.preset.plan();
    (opts.epochs, opts.lr, opts.top_k) = (plan.epochs, plan.lr, plan.top_k);
    if req.fine_tune() {
        if req
            .layers
            .or(req.width)
            .or(req.heads)
            .or(req.context)
            .is_some()
        {
            return Err(input(
                "the model shape (layers, width, heads, context) and the tokenizer come from the pretrained model when fine-tuning",
                "leave it out, or train from scratch",
            ));
        }
        opts.lr = FINE_TUNE_LR;
        opts.top_k = FINE_TUNE_TOP_K;
    }
    let shape = ModelShape {
        layers: req.layers.unwrap_or(plan.layers),
        width: req.width.unwrap_or(plan.width),
        heads: req.heads.unwrap_or(plan.heads),
        context: req.context.unwrap_or(plan.context),
    };
    if req.thinning {
        opts.thinning = Some(crate::train::Thinning::DEFAULT);
        // Fine-tuning keeps its epochs: thinning it was not measured.
        if !req.fine_tune() {
            opts.epochs = plan.thinned_epochs;
        }
    }
    opts.top_k = req.top_k.unwrap_or(opts.top_k);
    opts.epochs = req.epochs.unwrap_or(opts.epochs);
    opts.max_steps = req.max_steps;
    opts.batch_size = req.batch_size.unwrap_or(opts.batch_size);
    opts.lr = req.lr.unwrap_or(opts.lr);
    opts.checkpoint_every = req.checkpoint_every.unwrap_or(opts.checkpoint_every);
    opts.seed = req.seed;
    opts.organism = match &req.organism {
        Some(o) => o.clone(),
        None => crate::published_prompts::dataset_organism(&req.dataset).into(),
    };
    if let Some(t) = req.tasks.as_ref().filter(|t| !t.is_empty()) {
        opts.tasks = t.clone();
    }
    if let Some(share) = req
        .skip_common_genes
        .filter(|s| !CommonGenes::valid_share(*s))
    {
        return Err(input(
            format!("a share of {share} of the cells for common genes"),
            format!(
                "use a share above 0 and below 1 (default: {})",
                CommonGenes::DEFAULT_SHARE
            ),
        ));
    }
    check_settings(&opts, (!req.fine_tune()).then_some(&shape))?;
    Ok((opts, shape))
}

/// Refuses settings a run cannot use, naming them, before anything is
/// trained: a zero batch divided by zero, zero epochs or a learning rate of
/// 0 or NaN "trained" a model that learned nothing.
fn check_settings(opts: &TrainOptions, shape: Option<&ModelShape>) -> Result<()> {
    let (q, plan) = (TrainOptions::quick(), Preset::Quick.plan());
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let checks = [
        (
            positive(opts.epochs),
            format!("{} epochs", opts.epochs),
            format!("train for more than 0 (the quick preset: {})", plan.epochs),
        ),
        (
            positive(opts.lr),
            format!("learning rate {}", opts.lr),
            format!("use a number above 0 (the quick preset: {})", plan.lr),
        ),
        (
            opts.batch_size > 0,
            "batch size 0".into(),
            format!("use at least 1 (default: {})", q.batch_size),
        ),
        (
            opts.top_k > 0,
            "0 genes per cell".into(),
            format!(
                "read at least 1 gene of each cell (the quick preset: {})",
                plan.top_k
            ),
        ),
        (
            opts.max_steps != Some(0),
            "at most 0 steps".into(),
            "allow at least 1 step, or leave the limit out".into(),
        ),
        (
            opts.checkpoint_every > 0,
            "a checkpoint every 0 steps".into(),
            format!("use at least 1 (default: {})", q.checkpoint_every),
        ),
    ];
    if let Some((_, what, hint)) = checks.into_iter().find(|c| !c.0) {
        return Err(input(format!("{what}: a run cannot use it"), hint));
    }
    let Some(s) = shape else { return Ok(()) };
    let quick_shape = format!(
        "the quick preset: {} layers of width {} with {} heads",
        plan.layers, plan.width, plan.heads
    );
    if s.layers == 0 || s.width == 0 || s.heads == 0 || s.context == 0 {
        return Err(input(
            format!(
                "a model of {} layers of width {} with {} heads and a context of {}",
                s.layers, s.width, s.heads, s.context
            ),
            format!("each must be at least 1 ({quick_shape})"),
        ));
    }
    if s.width % s.heads != 0 {
        return Err(input(
            format!(
                "a width of {} does not split into {} heads",
                s.width, s.heads
            ),
            format!("choose a width that is a multiple of the heads ({quick_shape})"),
        ));
    }
    Ok(())
}

/// The model a run starts from, with its tokenizer (a resumed run's from its
/// checkpoint) and, when fine-tuning, the base model's folder.
struct StartingModel {
    tok: Tokenizer,
    model: LoadedModel,
    base_dir: Option<PathBuf>,
}

/// The pretrained model to fine-tune, or a new GPT-2 of `shape` with a
/// tokenizer of the genes it will read (`genes`, asked only then) and the
/// prompts' words.
fn initial_model(
    req: &TrainRequest,
    shape: &ModelShape,
    genes: impl FnOnce() -> Vec<String>,
    labels: &BTreeSet<String>,
    device: &Device,
) -> Result<StartingModel> {
    let checkpoint = req.resume.then(|| find_checkpoint(&req.output)).flatten();
    if let Some(base) = req.base_model() {
        let base = crate::pretrained::resolve(&crate::hub::ModelStore::from_env(), base)?;
        let tok_path = checkpoint.as_ref().unwrap_or(&base).join("tokenizer.json");
        return Ok(StartingModel {
            tok: load_tokenizer(&tok_path)?,
            model: load_model(&base, device)?,
            base_dir: Some(base),
        });
    }
    let tok = match &checkpoint {
        Some(ck) => load_tokenizer(&ck.join("tokenizer.json"))?,
        None => {
            let words = [
                Templates::default_set().texts(),
                labels.iter().cloned().collect(),
            ];
            gene_tokenizer(&genes(), &words.concat())?
        }
    };
    let ModelShape {
        layers,
        width,
        heads,
        context,
    } = *shape;
    let mut cfg = Gpt2Config::new(tok.get_vocab_size(true), context, width, layers, heads);
    let eos = tok.token_to_id(EOS).ok_or_else(|| {
        input(
            "the tokenizer has no <|endoftext|> token",
            "start a new run",
        )
    })?;
    cfg.eos_token_id = Some(eos);
    cfg.bos_token_id = Some(eos);
    let model = init_model(&cfg, device, req.seed)?;
    Ok(StartingModel {
        tok,
        model,
        base_dir: None,
    })
}

impl PreparedTraining {
    /// (layers, width) of the model to train.
    pub fn model_shape(&self) -> (usize, usize) {
        let m = &self.model.model;
        (m.n_layer(), m.hidden_size())
    }

    /// Optimizer steps the run will take.
    pub fn total_steps(&self) -> usize {
        let o = &self.options;
        let per_step = (o.batch_size * o.grad_accum).max(1);
        let per_epoch = self.train_cells.len().div_ceil(per_step).max(1);
        let steps = ((per_epoch as f64) * o.epochs).ceil() as usize;
        o.max_steps.map_or(steps, |m| steps.min(m))
    }

    /// Steps still to take: all of them, or when resuming, those after the
    /// last checkpoint.
    pub fn steps_left(&self) -> usize {
        let done = if self.request.resume {
            crate::train::checkpoint_step(&self.request.output).unwrap_or(0)
        } else {
            0
        };
        self.total_steps().saturating_sub(done)
    }

    /// Seconds the rest of the run should take on this computer (all of it,
    /// or after the checkpoint when resuming), from timed forward and
    /// backward passes of a full batch and an optimizer update, times
    /// STEP_OVERHEAD.
    pub fn estimate_seconds(&self) -> Result<f64> {
        let eos = self.tok.token_to_id(EOS).ok_or_else(|| {
            input(
                "the tokenizer has no <|endoftext|> token",
                "start a new run",
            )
        })?;
        let templates = Templates::default_set();
        let maker = ExampleMaker {
            tok: &self.tok,
            templates: &templates,
            opts: &self.options,
            eos,
            ctx: self.model.model.context_len(),
        };
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        // The batch takes the tasks in turn, as a run mixes them: a
        // generation example's loss runs the language-model head on a
        // hundred tokens, a prediction's on two.
        let mut examples = Vec::new();
        for (i, c) in self
            .train_cells
            .iter()
            .take(self.options.batch_size)
            .enumerate()
        {
            let tasks = maker.cell_tasks(c);
            if let Some(&task) = tasks.get(i % tasks.len().max(1)) {
                let genes: Vec<&str> = c.genes.iter().map(String::as_str).collect();
                examples.push(maker.example(&genes, c.label.as_deref(), task, &mut rng)?);
            }
        }
        if examples.is_empty() {
            return Ok(0.0);
        }
        let batch: Vec<_> = examples.iter().collect();
        // The update is timed on a throwaway optimizer at a learning rate of
        // 0, which leaves every weight as it was (w x 1 - 0 x update): it
        // costs with the number of weights, not of tokens, so a large
        // vocabulary weighs on it more than on the passes.
        let mut opt = optimiser(&self.model, &self.options)?;
        let mut time_one = || -> Result<(f64, f64)> {
            let t = Instant::now();
            let (loss, _) = batch_loss(&self.model.model, &batch, eos)?;
            let grads = loss.backward()?;
            let pass = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut g: Vec<Option<Tensor>> = opt
                .vars()
                .map(|v| grads.get(v.as_tensor()).map(Tensor::detach))
                .collect();
            clip_grad_norm(&mut g, self.options.clip_norm)?;
            opt.step(&g, 0.0)?;
            Ok((pass, t.elapsed().as_secs_f64()))
        };
        // The first step pays for first-use allocations and kernel setup: on
        // the demo's quick preset it took twice a later one, and the estimate
        // came out 2.8 times the run (289 s against 102). So one step warms
        // up, and the median of the next five is the pace.
        time_one()?;
        let (mut passes, mut updates) = ([0.0; 5], [0.0; 5]);
        for (p, u) in passes.iter_mut().zip(&mut updates) {
            (*p, *u) = time_one()?;
        }
        passes.sort_by(f64::total_cmp);
        updates.sort_by(f64::total_cmp);
        let step = passes[2] * self.options.grad_accum as f64 + updates[2];
        Ok(step * STEP_OVERHEAD * self.steps_left() as f64)
    }

    /// `estimate_seconds` corrected by how long earlier runs of this preset
    /// on this computer took per step against the step timed now (`past`:
    /// their paces, latest first).
    pub fn calibrated_estimate(&self, past: &[RunPace]) -> Result<CalibratedEstimate> {
        let timed = self.estimate_seconds()?;
        let steps = self.total_steps().max(1) as f64;
        let calibration = Calibration::of(timed / steps, self.request.preset, past);
        Ok(CalibratedEstimate {
            seconds: timed * calibration.factor,
            timed_seconds: timed,
            calibration,
        })
    }

    /// Trains, reporting progress; a cancel stops at the next step with a
    /// checkpoint to resume from. The model card is written when it finishes.
    pub fn run(
        self,
        progress: &dyn Fn(&TrainProgress),
        cancel: &AtomicBool,
    ) -> Result<TrainSummary> {
        let out = &self.request.output;
        std::fs::create_dir_all(out).map_err(|source| ModelError::Io {
            path: out.clone(),
            source,
        })?;
        let mut saved = self.request.clone();
        saved.resume = false;
        std::fs::write(
            out.join(RUN_REQUEST),
            serde_json::to_vec_pretty(&saved).expect("plain data serialises"),
        )
        .map_err(|source| ModelError::Io {
            path: out.join(RUN_REQUEST),
            source,
        })?;
        let card = ModelCard {
            label_column: self.label,
            labels: self.labels,
            organism: self.options.organism.clone(),
            top_k: self.options.top_k,
            genes: self.genes,
            prompt_style: self.options.prompt_style,
            learned_unconditional: self.options.learns_unconditional(),
            learned_generation: Some(self.options.tasks.contains(&Task::CellTypeGeneration)),
            common_genes: self.common,
        };
        // As the run goes, the model in training names a fixed sample of
        // held-out cells (the same cells each time, so the figures compare).
        let names_types = self.options.tasks.contains(&Task::CellTypePrediction);
        let sample = with_labels(
            &self.val_cells,
            &pick_labelled(&self.val_cells, RUNNING_CHECK_CELLS),
            |i| self.val_cells[i].genes.join(" "),
        );
        let eos = self
            .tok
            .token_to_id(EOS)
            .or(self.model.model.config().eos_token_id());
        let mut ask = |loaded: LoadedModel| -> Result<(LoadedModel, Option<ValidationCheck>)> {
            let Some(eos) = eos else {
                return Ok((loaded, None));
            };
            let model = crate::trained::TrainedModel {
                weigh_genes: card.prompt_style == crate::prompts::PromptStyle::Studio
                    && card.learned_generation(),
                card: card.clone(),
                loaded,
                tok: self.tok.clone(),
                eos,
                device_name: String::new(),
                precision: String::new(),
                // The figure as the run goes is the model's own.
                neighbours: None,
            };
            let figure = ask_types(&model, &sample, RUNNING_CHECK_SECONDS, cancel)?;
            Ok((model.loaded, figure))
        };
        let data = TrainData {
            tok: &self.tok,
            templates: &Templates::default_set(),
            train: &self.train_cells,
            val: &self.val_cells,
        };
        let check: Option<&mut HeldOutCheck> = if names_types && !sample.is_empty() {
            Some(&mut ask)
        } else {
            None
        };
        let mut s = train_checked(
            out,
            self.model,
            &data,
            &self.options,
            self.request.resume,
            check,
            progress,
            cancel,
        )?;
        if !s.cancelled {
            card.write(&s.model_dir)?;
            match &self.neighbours {
                Some(map) => map.write(&s.model_dir)?,
                // No map of another run is left to weigh this model's answers.
                None => SentenceMap::remove(&s.model_dir)?,
            }
            if names_types {
                s.validation =
                    validation_check(&s.model_dir, &self.val_cells, &self.val_sentences, cancel)?;
            }
        }
        Ok(s)
    }
}

/// Validation cells the finished model is asked about, at most: about 10 s
/// for a quick model on a 2-core laptop.
pub(crate) const VALIDATION_CHECK_CELLS: usize = 200;

/// Held-out cells the model is asked about as the run goes (at validation
/// steps, at most a tenth of the run's time), and the longest one such
/// check may take.
pub const RUNNING_CHECK_CELLS: usize = 50;
pub(crate) const RUNNING_CHECK_SECONDS: f64 = 10.0;

/// The check stops asking after this long (a large fine-tuned model on a
/// CPU takes about a second a cell), with the cells asked so far: a random
/// sample of the validation cells, so the figure stays fair.
pub(crate) const VALIDATION_CHECK_SECONDS: f64 = 30.0;

/// Labelled validation cells, `n` at most, evenly spread, in a seeded
/// random order (so a check cut short by time is still a fair sample).
fn pick_labelled(val: &[CellRecord], n: usize) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let labelled: Vec<usize> = (0..val.len()).filter(|&i| val[i].label.is_some()).collect();
    let n = labelled.len().min(n);
    let mut picked: Vec<usize> = (0..n).map(|i| labelled[i * labelled.len() / n]).collect();
    picked.shuffle(&mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0));
    picked
}

/// `model` names the type of `cells` (each one's sentence and type), ten
/// at a time, until `seconds` have passed: how many it gets right. None
/// without cells or when cancelled.
fn ask_types(
    model: &crate::trained::TrainedModel,
    cells: &[(String, &str)],
    seconds: f64,
    cancel: &AtomicBool,
) -> Result<Option<crate::train::ValidationCheck>> {
    if cells.is_empty() || cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(None);
    }
    let started = Instant::now();
    let (mut asked, mut right) = (0, 0);
    for chunk in cells.chunks(10) {
        if started.elapsed().as_secs_f64() > seconds {
            break;
        }
        let inputs: Vec<crate::cells::CellInput> = chunk
            .iter()
            .map(|(sentence, _)| crate::cells::CellInput {
                name: "validation",
                sentence,
            })
            .collect();
        let answers =
            match crate::cells::predict_cells(model, &inputs, false, &[], &|_, _| {}, cancel) {
                Err(ModelError::Cancelled) => return Ok(None),
                r => r?,
            };
        asked += chunk.len();
        right += answers
            .iter()
            .zip(chunk)
            .filter(|(a, c)| a.predicted.as_deref() == Some(c.1))
            .count();
    }
    Ok(Some(crate::train::ValidationCheck {
        cells: asked,
        right,
    }))
}

/// The finished model in `model_dir` names the type of the labelled
/// validation cells (VALIDATION_CHECK_CELLS of them, evenly spread, when
/// there are more; asked in a seeded random order until
/// VALIDATION_CHECK_SECONDS): how many it gets right. None without such
/// cells or when cancelled (the model is kept either way).
fn validation_check(
    model_dir: &Path,
    val: &[CellRecord],
    sentences: &[String],
    cancel: &AtomicBool,
) -> Result<Option<crate::train::ValidationCheck>> {
    let picked = pick_labelled(val, VALIDATION_CHECK_CELLS);
    if picked.is_empty() || cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(None);
    }
    let model = crate::trained::TrainedModel::load(model_dir)?;
    // Whole sentences, as `c2s predict` reads them: the training cells'
    // vote reads every gene (the model its first `top_k`, as ever).
    let cells = with_labels(val, &picked, |i| sentences[i].clone());
    ask_types(&model, &cells, VALIDATION_CHECK_SECONDS, cancel)
}

/// The cells `picked` of `val`, each as `sentence(i)` and its type.
fn with_labels<'a>(
    val: &'a [CellRecord],
    picked: &[usize],
    sentence: impl Fn(usize) -> String,
) -> Vec<(String, &'a str)> {
    picked
        .iter()
        .filter_map(|&i| Some((sentence(i), val[i].label.as_deref()?)))
        .collect()
}

/// How long a finished run's steps took, for calibrating later estimates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPace {
    pub preset: Preset,
    /// Wall seconds per step, validation and checkpoints included.
    pub seconds_per_step: f64,
}

impl RunPace {
    /// The pace of the run `request` that ended with `summary`; `None` when
    /// it took no step (or no time) since it last started.
    pub fn of(request: &TrainRequest, summary: &crate::train::TrainSummary) -> Option<RunPace> {
        let steps = summary.steps.checked_sub(summary.resumed_from_step)?;
        (steps > 0 && summary.seconds > 0.0).then(|| RunPace {
            preset: request.preset,
            seconds_per_step: summary.seconds / steps as f64,
        })
    }
}

/// How the timed step compares with what runs took on this computer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibration {
    /// Seconds a step took over seconds the timing gave (1: no history).
    pub factor: f64,
    /// Earlier runs of the preset it was learned from.
    pub runs: usize,
}

impl Calibration {
    /// Runs it learns from: the preset's latest.
    pub(crate) const RUNS: usize = 5;
    /// The factor stays within these (a run slowed by other work, or one
    /// stopped after a few steps, says little about the next).
    pub(crate) const RANGE: (f64, f64) = (0.25, 4.0);

    /// The median, over the preset's latest runs in `past` (latest first),
    /// of their seconds per step over `timed_per_step`.
    pub fn of(timed_per_step: f64, preset: Preset, past: &[RunPace]) -> Calibration {
        let mut ratios: Vec<f64> = past
            .iter()
            .filter(|p| p.preset == preset && p.seconds_per_step.is_finite())
            .take(Self::RUNS)
            .map(|p| p.seconds_per_step / timed_per_step)
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect();
        if ratios.is_empty() {
            return Calibration {
                factor: 1.0,
                runs: 0,
            };
        }
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let median = if n % 2 == 1 {
            ratios[n / 2]
        } else {
            (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
        };
        Calibration {
            factor: median.clamp(Self::RANGE.0, Self::RANGE.1),
            runs: n,
        }
    }
}

/// A run's estimated length on this computer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibratedEstimate {
    /// The estimate after calibration.
    pub seconds: f64,
    /// What timing one step gave, before calibration.
    pub timed_seconds: f64,
    pub calibration: Calibration,
}

#[cfg(test)]
mod calibration_tests {
    use super::*;

    fn pace(preset: Preset, s: f64) -> RunPace {
        RunPace {
            preset,
            seconds_per_step: s,
        }
    }

    #[test]
    fn the_most_thorough_preset_within_twenty_minutes_is_recommended() {
        use Preset::*;
        let min = 60.0;
        assert_eq!(
            Preset::recommend(&[
                (Quick, 6.0 * min),
                (Standard, 41.0 * min),
                (Thorough, 3.0 * 60.0 * min)
            ]),
            Quick
        );
        assert_eq!(
            Preset::recommend(&[
                (Quick, 0.2 * min),
                (Standard, 2.0 * min),
                (Thorough, 9.0 * min)
            ]),
            Thorough
        );
        assert_eq!(
            Preset::recommend(&[
                (Quick, 3.0 * min),
                (Standard, 19.0 * min),
                (Thorough, 25.0 * min)
            ]),
            Standard
        );
        // Nothing fits, or nothing known: the quick one.
        assert_eq!(Preset::recommend(&[(Quick, 90.0 * min)]), Quick);
        assert_eq!(Preset::recommend(&[]), Quick);
    }

    #[test]
    fn the_factor_is_the_median_of_the_presets_latest_runs() {
        let none = Calibration::of(0.1, Preset::Quick, &[]);
        assert_eq!((none.factor, none.runs), (1.0, 0));
        let past = [
            pace(Preset::Quick, 0.15),
            pace(Preset::Standard, 1.0),
            pace(Preset::Quick, 0.12),
            pace(Preset::Quick, 0.2),
        ];
        let c = Calibration::of(0.1, Preset::Quick, &past);
        assert_eq!(c.runs, 3);
        assert!((c.factor - 1.5).abs() < 1e-12, "{}", c.factor);
        // Even count: the mean of the middle two.
        let c = Calibration::of(0.1, Preset::Quick, &past[..3]);
        assert!((c.factor - 1.35).abs() < 1e-12, "{}", c.factor);
        // Only the latest five count.
        let mut many = vec![pace(Preset::Quick, 0.3); 5];
        many.extend(vec![pace(Preset::Quick, 0.1); 10]);
        assert!((Calibration::of(0.1, Preset::Quick, &many).factor - 3.0).abs() < 1e-12);
        // Bounded, and bad paces ignored.
        assert_eq!(
            Calibration::of(0.1, Preset::Quick, &[pace(Preset::Quick, 100.0)]).factor,
            4.0
        );
        let odd = [pace(Preset::Quick, f64::NAN), pace(Preset::Quick, 0.0)];
        assert_eq!(Calibration::of(0.1, Preset::Quick, &odd).runs, 0);
    }

    #[test]
    fn a_runs_pace_counts_the_steps_since_it_last_started() {
        // Each preset's words come from its plan, so they cannot drift apart.
        let s = Preset::Standard.describe();
        assert_eq!(s.name, "Standard");
        assert!(
            s.summary
                .contains("reads each cell 5 times and its 200 most expressed genes"),
            "{}",
            s.summary
        );
        assert!(
            s.details.starts_with("GPT-2 with 4 layers, width 256"),
            "{}",
            s.details
        );
        assert_eq!(Preset::Quick.plan().epochs, TrainOptions::quick().epochs);
        assert!(Preset::FineTune
            .describe()
            .details
            .starts_with("the pretrained model's layers"));
        let req = TrainRequest::new(Path::new("d"), Path::new("o"), Preset::Standard);
        let summary = |steps, resumed, seconds| crate::train::TrainSummary {
            steps,
            total_steps: 100,
            final_train_loss: 1.0,
            best_val_loss: None,
            stopped_early: false,
            cancelled: false,
            resumed_from_step: resumed,
            seconds,
            model_dir: PathBuf::new(),
            validation: None,
        };
        let p = RunPace::of(&req, &summary(100, 40, 30.0)).unwrap();
        assert_eq!(p.preset, Preset::Standard);
        assert!((p.seconds_per_step - 0.5).abs() < 1e-12);
        assert!(RunPace::of(&req, &summary(40, 40, 3.0)).is_none());
        assert!(RunPace::of(&req, &summary(10, 0, 0.0)).is_none());
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;
    use crate::train::Thinning;

    #[test]
    fn settings_a_run_cannot_use_are_refused() {
        let ok = TrainRequest {
            organism: Some("Homo sapiens".into()),
            ..TrainRequest::new(Path::new("ds"), Path::new("run"), Preset::Quick)
        };
        assert!(training_options(&ok).is_ok());
        let refused = |req: TrainRequest, says: &str| {
            let e = training_options(&req).err().expect(says).to_string();
            assert!(e.contains(says), "{e}");
            e
        };
        let e = refused(
            TrainRequest {
                epochs: Some(0.0),
                ..ok.clone()
            },
            "0 epochs",
        );
        let epochs = Preset::Quick.plan().epochs;
        assert!(e.contains(&format!("the quick preset: {epochs}")), "{e}");
        refused(
            TrainRequest {
                epochs: Some(f64::NAN),
                ..ok.clone()
            },
            "NaN epochs",
        );
        refused(
            TrainRequest {
                lr: Some(-1e-3),
                ..ok.clone()
            },
            "learning rate -0.001",
        );
        refused(
            TrainRequest {
                lr: Some(f64::INFINITY),
                ..ok.clone()
            },
            "learning rate inf",
        );
        refused(
            TrainRequest {
                batch_size: Some(0),
                ..ok.clone()
            },
            "batch size 0",
        );
        refused(
            TrainRequest {
                top_k: Some(0),
                ..ok.clone()
            },
            "0 genes per cell",
        );
        refused(
            TrainRequest {
                max_steps: Some(0),
                ..ok.clone()
            },
            "at most 0 steps",
        );
        refused(
            TrainRequest {
                checkpoint_every: Some(0),
                ..ok.clone()
            },
            "every 0 steps",
        );
        refused(
            TrainRequest {
                layers: Some(0),
                ..ok.clone()
            },
            "a model of 0 layers",
        );
        refused(
            TrainRequest {
                context: Some(0),
                ..ok.clone()
            },
            "a context of 0",
        );
        let odd = TrainRequest {
            width: Some(100),
            heads: Some(3),
            ..ok.clone()
        };
        refused(odd, "a width of 100 does not split into 3 heads");
        assert!(training_options(&TrainRequest {
            width: Some(96),
            heads: Some(3),
            ..ok
        })
        .is_ok());
    }

    #[test]
    fn a_common_gene_share_outside_0_to_1_is_refused() {
        let req = TrainRequest {
            organism: Some("Homo sapiens".into()),
            ..TrainRequest::new(Path::new("ds"), Path::new("run"), Preset::Quick)
        };
        for share in [0.0, 1.0, 1.5, -0.2, f64::NAN] {
            let asked = TrainRequest {
                skip_common_genes: Some(share),
                ..req.clone()
            };
            let e = training_options(&asked).err().expect("refused");
            assert!(e.to_string().contains("common genes"), "{share}: {e}");
        }
        let ok = TrainRequest {
            skip_common_genes: Some(CommonGenes::DEFAULT_SHARE),
            ..req
        };
        assert!(training_options(&ok).is_ok());
    }

    #[test]
    fn thinning_is_off_unless_asked_for() {
        for preset in Preset::ALL {
            let req = TrainRequest {
                organism: Some("Homo sapiens".into()),
                ..TrainRequest::new(Path::new("ds"), Path::new("run"), preset)
            };
            let (plain, _) = training_options(&req).unwrap();
            assert_eq!(
                (plain.thinning, plain.genes_read()),
                (None, plain.top_k),
                "{preset}"
            );
            let (thinned, _) = training_options(&TrainRequest {
                thinning: true,
                ..req.clone()
            })
            .unwrap();
            assert_eq!(thinned.thinning, Some(Thinning::DEFAULT), "{preset}");
            assert_eq!(thinned.epochs, preset.plan().thinned_epochs, "{preset}");
            let asked = TrainRequest {
                thinning: true,
                epochs: Some(3.0),
                ..req
            };
            assert_eq!(training_options(&asked).unwrap().0.epochs, 3.0);
            assert_eq!(thinned.genes_read(), 2 * thinned.top_k, "{preset}");
            assert_eq!(
                (plain.token_depth(), thinned.token_depth()),
                (plain.top_k, thinned.top_k * 3 / 2),
                "{preset}"
            );
        }
    }
}
