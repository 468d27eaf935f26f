//! Tauri commands: thin wrappers over the engine crates. Quick questions
//! answer directly (on Tauri's thread pool when they read files); long work
//! starts a background job and returns its id at once.

use crate::LockAnyway;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use c2s_data::annotation_rules::{AnnotationRules, CellCall, VoteSummary};
use c2s_data::dataset::read_sentences;
use c2s_data::expression::FileSample;
use c2s_data::preprocess::{LogBase, Preprocess};
use c2s_data::{ConvertOptions, InputOptions, MatrixId};
use c2s_eval::voting::apply_rules;
use c2s_model::cells::{
    generate_cells, predict_cells, predictions_jsonl, CellInput, GenerateRequest, PredictionRecord,
};
use c2s_model::train::TrainSummary;
use c2s_model::train_dataset::{prepare_training, Preset, RunPace, TrainRequest};
use c2s_model::TrainedModel;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tauri::{AppHandle, State};

use crate::access::checked;
use crate::jobs::{Jobs, Outcome};
use crate::store::{Project, Store};

pub struct AppState {
    pub store: Mutex<Store>,
    pub jobs: Arc<Jobs>,
    pub home: PathBuf,
    pub demo: Option<PathBuf>,
    /// The last model used in the chat, kept loaded.
    pub model: Mutex<Option<(PathBuf, Arc<TrainedModel>)>>,
    /// The published model last used (annotation, chat), kept loaded.
    pub published: crate::published_commands::PublishedSlot,
    /// Runs whose training was cancelled for good (not paused).
    pub discarded: Arc<Mutex<std::collections::HashSet<i64>>>,
    /// Paths the user chose or dropped this session.
    pub granted: crate::access::Granted,
    /// The cells of the last maps drawn, to colour them by a gene.
    pub map_samples: MapSamples,
}

/// The sampled cells of the last few maps, by their job: colouring a map by
/// a gene reads the gene's column from them instead of the file again.
#[derive(Debug, Clone, Default)]
pub struct MapSamples(Arc<Mutex<std::collections::VecDeque<MapSample>>>);

/// A map's job and its cells.
type MapSample = (u64, Arc<FileSample>);

impl MapSamples {
    /// Maps kept: the Dataset screen's and a few before it (5,000 cells of
    /// a 30,000-gene file hold about 20 MB).
    const KEPT: usize = 4;

    fn put(&self, job: u64, sample: Arc<FileSample>) {
        let mut q = self.0.lock_anyway();
        q.push_back((job, sample));
        while q.len() > Self::KEPT {
            q.pop_front();
        }
    }

    fn get(&self, job: u64) -> Option<Arc<FileSample>> {
        let q = self.0.lock_anyway();
        q.iter().find(|(j, _)| *j == job).map(|(_, s)| s.clone())
    }
}

/// Errors cross to the web view as text: the engine's message with its hint.
pub(crate) type CmdResult<T> = Result<T, String>;

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn any_text(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[derive(Serialize)]
pub struct AppInfo {
    pub demo_path: Option<String>,
    pub home: String,
    pub version: &'static str,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        demo_path: state.demo.as_ref().map(|p| p.to_string_lossy().into()),
        home: state.home.to_string_lossy().into(),
        version: env!("CARGO_PKG_VERSION"),
    }
}

#[derive(Serialize)]
pub struct About {
    pub version: &'static str,
    pub licence: &'static str,
    pub licence_text: String,
    /// THIRD-PARTY-NOTICES.txt of the installed packages (none in a build
    /// from source: scripts/package.sh writes it).
    pub notices: Option<String>,
    pub home: String,
    pub models: String,
}

/// Help / About: the version, the licence and the notices the licences of
/// the included software require, read from the app's resources.
#[tauri::command(async)]
pub fn about(app: AppHandle, state: State<'_, AppState>) -> About {
    use tauri::Manager;
    let resources = app.path().resource_dir().ok();
    let read = |name: &str| {
        resources
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join(name)).ok())
    };
    About {
        version: env!("CARGO_PKG_VERSION"),
        licence: env!("CARGO_PKG_LICENSE"),
        licence_text: ["LICENSE-MIT", "LICENSE-APACHE"]
            .iter()
            .filter_map(|n| read(n))
            .collect::<Vec<_>>()
            .join("\n\n"),
        notices: read("THIRD-PARTY-NOTICES.txt"),
        home: state.home.to_string_lossy().into(),
        models: c2s_model::hub::ModelStore::from_env()
            .cache_dir()
            .to_string_lossy()
            .into(),
    }
}

#[tauri::command]
pub fn recent_projects(state: State<'_, AppState>) -> CmdResult<Vec<Project>> {
    state.store.lock_anyway().recent_projects(12).map_err(text)
}

#[tauri::command]
pub fn resumable_runs(state: State<'_, AppState>) -> CmdResult<Vec<crate::store::RunRow>> {
    state.store.lock_anyway().resumable_runs().map_err(text)
}

#[derive(Serialize)]
pub struct Warning {
    pub message: String,
    /// The fix, one click away: a setting for the convert wizard.
    pub fix_label: Option<String>,
    pub fix: Option<Value>,
}

#[derive(Serialize)]
pub struct OpenedDataset {
    pub project: Project,
    pub inspection: c2s_data::Inspection,
    pub warnings: Vec<Warning>,
    /// The engine's conversion defaults, which the wizard starts from.
    pub input_defaults: InputForm,
}

fn warnings_for(i: &c2s_data::Inspection) -> Vec<Warning> {
    use c2s_data::matrix::ValueKind;
    let mut w = Vec::new();
    let chosen = i.matrices.iter().find(|m| m.name == i.default_matrix);
    if let Some(m) = chosen {
        if matches!(m.holds, ValueKind::Scaled | ValueKind::NonFinite) {
            let better = i.matrices.iter().find(|o| {
                matches!(
                    o.holds,
                    ValueKind::RawCounts | ValueKind::LogNormalized | ValueKind::Normalized
                )
            });
            w.push(Warning {
                message: format!(
                    "The matrix {} holds {}: it cannot be ranked into cell sentences.",
                    m.name, m.description
                ),
                fix_label: better.map(|b| format!("Use {} ({})", b.name, b.description)),
                fix: better.map(|b| json!({"matrix": b.name})),
            });
        }
    }
    if i.gene_names_look_like_ensembl {
        w.push(Warning {
            message: "Gene names are Ensembl IDs (ENSG...), not gene symbols: sentences would be hard to read and models could not share knowledge across datasets.".into(),
            fix_label: i
                .gene_symbol_column
                .as_ref()
                .map(|c| format!("Use gene symbols from the column `{c}`")),
            fix: i.gene_symbol_column.as_ref().map(|c| json!({"gene_column": c})),
        });
    }
    w
}

fn check_readable(path: &Path) -> anyhow::Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !path.is_file() {
        anyhow::bail!("{}: there is no such file", path.display());
    }
    if ext != "h5ad" && ext != "h5" {
        anyhow::bail!(
            "{} is not an .h5ad file. C2S Studio opens single-cell data saved by scanpy or anndata (.h5ad), or a 10x Genomics Cell Ranger .h5 file.",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        );
    }
    Ok(())
}

/// Opens (or reopens) a project for a data file and describes the file.
#[tauri::command(async)]
pub fn open_dataset(path: String, state: State<'_, AppState>) -> CmdResult<OpenedDataset> {
    let path = checked(&state, &path)?;
    check_readable(&path).map_err(any_text)?;
    let inspection = c2s_data::inspect(&path).map_err(text)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let abs = std::fs::canonicalize(&path).unwrap_or(path.clone());
    let projects = state.home.join("projects");
    let project = state
        .store
        .lock_anyway()
        .open_project(&abs, &name, |id| projects.join(format!("{id}-{name}")))
        .map_err(text)?;
    std::fs::create_dir_all(&project.folder).map_err(text)?;
    Ok(OpenedDataset {
        warnings: warnings_for(&inspection),
        project,
        inspection,
        input_defaults: InputForm::from(&InputOptions::default()),
    })
}

/// Input settings as the convert wizard sends them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct InputForm {
    pub matrix: Option<String>,
    pub gene_column: Option<String>,
    #[serde(default)]
    pub make_unique: bool,
    #[serde(default)]
    pub min_genes: usize,
    #[serde(default)]
    pub min_cells: usize,
    pub target_sum: Option<f64>,
    /// "10" (the reference) or "e".
    pub log_base: Option<String>,
    pub seed: Option<u64>,
}

impl From<&InputOptions> for InputForm {
    fn from(o: &InputOptions) -> Self {
        InputForm {
            matrix: o.matrix.as_ref().map(ToString::to_string),
            gene_column: o.gene_column.clone(),
            make_unique: o.make_unique,
            min_genes: o.preprocess.min_genes,
            min_cells: o.preprocess.min_cells,
            target_sum: o.preprocess.target_sum,
            log_base: Some(o.preprocess.log_base.id().into()),
            seed: Some(o.seed),
        }
    }
}

impl InputForm {
    fn options(&self) -> anyhow::Result<InputOptions> {
        Ok(InputOptions {
            matrix: self
                .matrix
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| m.parse::<MatrixId>().map_err(|e| anyhow!(e)))
                .transpose()?,
            gene_column: self.gene_column.clone().filter(|c| !c.is_empty()),
            make_unique: self.make_unique,
            preprocess: Preprocess {
                min_genes: self.min_genes,
                min_cells: self.min_cells,
                target_sum: self.target_sum,
                log_base: match self.log_base.as_deref() {
                    Some(b) => b.parse::<LogBase>().map_err(|e| anyhow!(e))?,
                    None => Preprocess::default().log_base,
                },
            },
            seed: self.seed.unwrap_or(InputOptions::default().seed),
            ..InputOptions::default()
        })
    }
}

#[derive(Serialize)]
pub struct CellMapData {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub labels: Option<Vec<String>>,
    pub method: String,
    pub axis_names: [String; 2],
    pub n_cells_in_file: usize,
    /// The file's genes, sorted, for the colour-by-gene search.
    pub genes: Vec<String>,
    /// Each point's cell name, for the tooltips.
    pub names: Vec<String>,
    /// With predictions: each point's confidence in its answer (none for a
    /// cell not annotated or answered freely), to colour the map by.
    pub confidences: Option<Vec<Option<f64>>>,
}

/// Cells a map shows unless asked for more: a quick first look.
const MAP_CELLS: usize = 5_000;
/// The most a map shows: bench/plot.sh draws 50,000 points in about half a
/// second and zooms at about 30 frames a second under Xvfb.
const MAP_CELLS_MAX: usize = 50_000;

/// Starts a job that maps a seeded sample of the file's cells (5,000 unless
/// `max_cells` asks for up to 50,000) by PCA or UMAP, coloured by a column,
/// or with `predictions` (an annotation's records) by each cell's final
/// answer; the job's result is a `CellMapData`. Cancelling stops it between
/// stages.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub fn start_dataset_map(
    path: String,
    input: InputForm,
    color_by: Option<String>,
    method: String,
    max_cells: Option<usize>,
    predictions: Option<String>,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let path = checked(&state, &path)?;
    let predictions = predictions.map(|p| checked(&state, &p)).transpose()?;
    let opts = input.options().map_err(any_text)?;
    let color_by = color_by.filter(|c| !c.is_empty());
    let max_cells = max_cells.unwrap_or(MAP_CELLS).clamp(1, MAP_CELLS_MAX);
    let umap = method == "umap";
    let samples = state.map_samples.clone();
    Ok(state.jobs.spawn(&app, "map", move |ctx| {
        let stages = if umap { 3 } else { 2 };
        ctx.progress("reading cells", 0, stages, Value::Null);
        // Read in the job, not on the window's thread: a large dataset's
        // predictions take a while.
        let answers: Option<HashMap<String, (String, Option<f64>)>> = match &predictions {
            Some(p) => Some(
                c2s_model::cells::read_predictions(p)?
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r.cell_name.clone(),
                            (r.final_answer()?.to_string(), r.confidence),
                        ))
                    })
                    .collect(),
            ),
            None => None,
        };
        let sample = c2s_data::expression::sample_file_expression(
            &path,
            &opts,
            max_cells,
            color_by.as_deref(),
        )?;
        if ctx.cancelled() {
            return Ok(Outcome::Cancelled(Value::Null));
        }
        let sample = Arc::new(sample);
        let what = if umap { "PCA, then UMAP" } else { "PCA" };
        ctx.progress(what, 1, stages, Value::Null);
        let map = match c2s_eval::cell_map::cell_map(
            &sample.cells,
            sample.genes.len(),
            umap,
            opts.seed,
            &ctx.cancel,
        ) {
            Err(c2s_eval::EvalError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            other => other?,
        };
        let (pts, axis_names) = match (&map.umap, umap) {
            (Some(u), true) => (u.clone(), ["UMAP 1".to_string(), "UMAP 2".to_string()]),
            _ => (
                map.pca.clone(),
                [
                    format!(
                        "PC 1 ({:.1} %)",
                        100.0 * map.pca_explained_variance_ratio[0]
                    ),
                    format!(
                        "PC 2 ({:.1} %)",
                        100.0 * map.pca_explained_variance_ratio[1]
                    ),
                ],
            ),
        };
        let data = CellMapData {
            x: pts.iter().map(|p| p[0]).collect(),
            y: pts.iter().map(|p| p[1]).collect(),
            labels: match &answers {
                // Cells the annotation left out (another split, a filter) say so.
                Some(a) => Some(
                    sample
                        .names
                        .iter()
                        .map(|n| {
                            a.get(n)
                                .map(|(answer, _)| answer.clone())
                                .unwrap_or_else(|| "(not annotated)".into())
                        })
                        .collect(),
                ),
                None => sample.labels.clone(),
            },
            method: if umap { "UMAP".into() } else { "PCA".into() },
            axis_names,
            n_cells_in_file: sample.n_cells_in_file,
            genes: {
                let mut g = sample.genes.clone();
                g.sort_unstable();
                g
            },
            names: sample.names.clone(),
            confidences: answers.as_ref().map(|a| {
                sample
                    .names
                    .iter()
                    .map(|n| a.get(n).and_then(|(_, c)| *c))
                    .collect()
            }),
        };
        samples.put(ctx.id, sample);
        Ok(Outcome::Ok(serde_json::to_value(data)?))
    }))
}

/// Each cell of the map drawn by job `map`: its normalised log expression of
/// `gene` (any case), 0 where not expressed, in the map's order.
#[tauri::command]
pub fn map_gene_values(map: u64, gene: String, state: State<'_, AppState>) -> CmdResult<Vec<f64>> {
    let sample = state
        .map_samples
        .get(map)
        .ok_or("This map is no longer held: draw it again.")?;
    sample.gene_values(&gene).ok_or_else(|| {
        format!(
            "The dataset has no gene `{}`: pick one from the list as you type.",
            gene.trim()
        )
    })
}

#[tauri::command(async)]
pub fn preview_sentences(
    project_id: i64,
    input: InputForm,
    state: State<'_, AppState>,
) -> CmdResult<Vec<c2s_data::convert::PreviewCell>> {
    // The project's own file: the page names a project, never a path.
    let project = project_of(&state, project_id)?;
    let opts = input.options().map_err(any_text)?;
    c2s_data::convert::preview_sentences(Path::new(&project.source_path), &opts, 5, 30)
        .map_err(text)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConvertForm {
    pub input: InputForm,
    #[serde(default)]
    pub labels: Vec<String>,
    pub stratify: Option<String>,
}

/// A new output's name, `PREFIX-N` (plus `.EXT` for a file) under `parent`,
/// taken on disk when the job starts (an empty folder or file, made only if
/// absent), so two jobs started together never share one. Dropped while
/// still empty (the job failed or was cancelled), it is removed again.
pub(crate) struct Reserved(PathBuf);

impl Reserved {
    pub(crate) fn new(parent: &Path, prefix: &str, ext: Option<&str>) -> CmdResult<Reserved> {
        std::fs::create_dir_all(parent).map_err(text_io(parent))?;
        for i in 1.. {
            let p = match ext {
                Some(e) => parent.join(format!("{prefix}-{i}.{e}")),
                None => parent.join(format!("{prefix}-{i}")),
            };
            let made = match ext {
                Some(_) => std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&p)
                    .map(drop),
                None => std::fs::create_dir(&p),
            };
            match made {
                Ok(()) => return Ok(Reserved(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(text_io(&p)(e)),
            }
        }
        unreachable!("some number is free")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Keeps the name even while empty (a record points to it).
    pub(crate) fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let p = &self.0;
        if p.as_os_str().is_empty() {
            return;
        }
        if std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(p);
        } else {
            // Fails, as it should, unless the folder is empty.
            let _ = std::fs::remove_dir(p);
        }
    }
}

pub(crate) fn project_of(state: &AppState, id: i64) -> CmdResult<Project> {
    state.store.lock_anyway().project(id).map_err(text)
}

#[tauri::command]
pub fn start_convert(
    project_id: i64,
    form: ConvertForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let project = project_of(&state, project_id)?;
    let opts = ConvertOptions {
        input: form.input.options().map_err(any_text)?,
        labels: form.labels.clone(),
        stratify: form.stratify.clone().filter(|s| !s.is_empty()),
        // Replaces only the empty folder reserved below.
        overwrite: true,
        ..ConvertOptions::default()
    };
    let reserved = Reserved::new(Path::new(&project.folder), "dataset", None)?;
    let source = PathBuf::from(&project.source_path);
    let home = state.home.clone();
    Ok(state.jobs.spawn(&app, "convert", move |ctx| {
        let out = reserved.path().to_path_buf();
        let progress = |p: c2s_data::Progress| {
            ctx.progress(p.stage, p.done, p.total, Value::Null);
        };
        let job = c2s_data::Job {
            progress: &progress,
            cancel: &ctx.cancel,
        };
        let summary = match c2s_data::convert(&source, &out, &opts, &job) {
            Err(c2s_data::DataError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        let summary = serde_json::to_value(&summary)?;
        let store = Store::open(&home.join(crate::DB_FILE))?;
        let id = store.add_dataset(project_id, &out, &serde_json::to_value(&form)?, &summary)?;
        Ok(Outcome::Ok(
            json!({"dataset_id": id, "folder": out, "summary": summary}),
        ))
    }))
}

#[derive(Serialize)]
pub struct ProjectState {
    pub project: Project,
    pub datasets: Vec<crate::store::DatasetRow>,
    pub runs: Vec<crate::store::RunRow>,
    pub generated: Vec<crate::store::Artefact>,
    pub annotations: Vec<crate::store::Artefact>,
}

#[tauri::command]
pub fn project_state(project_id: i64, state: State<'_, AppState>) -> CmdResult<ProjectState> {
    let s = state.store.lock_anyway();
    Ok(ProjectState {
        project: s.project(project_id).map_err(text)?,
        datasets: s.datasets(project_id).map_err(text)?,
        runs: s.runs(project_id).map_err(text)?,
        generated: s.artefacts(project_id, "generated").map_err(text)?,
        annotations: s.artefacts(project_id, "predictions").map_err(text)?,
    })
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TrainForm {
    /// quick, standard, thorough or fine-tune
    pub preset: Preset,
    /// Fine-tune: a Hugging Face model folder.
    pub base: Option<String>,
    pub label: Option<String>,
    /// cell_type_prediction, cell_type_generation, unconditional_generation
    #[serde(default)]
    pub tasks: Vec<c2s_model::prompts::Task>,
    pub max_steps: Option<usize>,
    pub epochs: Option<f64>,
    pub batch_size: Option<usize>,
    pub top_k: Option<usize>,
    pub checkpoint_every: Option<usize>,
    pub seed: Option<u64>,
}

fn train_request(
    state: &AppState,
    dataset: &Path,
    output: &Path,
    f: &TrainForm,
) -> anyhow::Result<TrainRequest> {
    let preset = f.preset;
    let mut r = TrainRequest::new(dataset, output, preset);
    r.base = f.base.clone().filter(|b| !b.is_empty());
    if preset == Preset::FineTune && r.base.is_none() {
        anyhow::bail!("choose the folder of a pretrained GPT-2 model (config.json, model.safetensors, tokenizer.json) to fine-tune");
    }
    // A model of the shipped list or a folder the user chose, never another
    // Hub id (which the engine would download) nor a path the page made up.
    if let Some(b) = r.base.clone() {
        if c2s_model::hub::catalogue::find(&b).is_none() {
            let dir = checked(state, &b).map_err(|e| anyhow!(e))?;
            if !dir.is_dir() {
                anyhow::bail!("{b}: not a model folder on this computer nor a published model of the Models screen; choose a folder with Browse…");
            }
            r.base = Some(dir.to_string_lossy().into_owned());
        }
    }
    r.label = f.label.clone().filter(|l| !l.is_empty());
    r.tasks = (!f.tasks.is_empty()).then(|| f.tasks.clone());
    r.max_steps = f.max_steps;
    r.epochs = f.epochs;
    r.batch_size = f.batch_size;
    r.top_k = f.top_k;
    r.checkpoint_every = f.checkpoint_every;
    if let Some(seed) = f.seed {
        r.seed = seed;
    }
    Ok(r)
}

pub(crate) fn dataset_folder(
    state: &AppState,
    project_id: i64,
    dataset_id: i64,
) -> CmdResult<PathBuf> {
    let s = state.store.lock_anyway();
    s.datasets(project_id)
        .map_err(text)?
        .into_iter()
        .find(|d| d.id == dataset_id)
        .map(|d| PathBuf::from(d.folder))
        .ok_or_else(|| format!("dataset {dataset_id} is not in this project"))
}

#[derive(Serialize)]
pub struct Estimate {
    /// Calibrated by the earlier runs of the preset on this computer.
    pub seconds: f64,
    /// What timing one step gave, and how earlier runs corrected it.
    pub timed_seconds: f64,
    pub calibration: c2s_model::train_dataset::Calibration,
    pub total_steps: usize,
    pub train_cells: usize,
    pub device: String,
    pub layers: usize,
    pub width: usize,
}

/// The from-scratch presets as the Train screen offers them (the engine's
/// words and settings).
#[tauri::command]
pub fn train_presets() -> Vec<c2s_model::train_dataset::PresetInfo> {
    Preset::FROM_SCRATCH.iter().map(|p| p.describe()).collect()
}

/// The preset to recommend, given each preset's estimate on this computer
/// (`estimates`: preset id and seconds), with the engine's rule.
#[tauri::command]
pub fn recommend_preset(estimates: Vec<(Preset, f64)>) -> (Preset, f64) {
    (
        Preset::recommend(&estimates),
        Preset::RECOMMENDED_WITHIN_SECONDS,
    )
}

/// Times a few training steps on this computer and scales them to the run,
/// corrected by how long the preset's finished runs here took per step.
#[tauri::command(async)]
pub fn estimate_training(
    project_id: i64,
    dataset_id: i64,
    form: TrainForm,
    state: State<'_, AppState>,
) -> CmdResult<Estimate> {
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    // A folder of its own: estimates run side by side, and each claims it.
    let tmp = tempfile::Builder::new()
        .prefix("tmp-estimate-")
        .tempdir_in(&state.home)
        .map_err(text)?;
    let req = train_request(&state, &ds, &tmp.path().join("run"), &form).map_err(any_text)?;
    let p = prepare_training(&req).map_err(text)?;
    let (layers, width) = p.model_shape();
    let paces: Vec<RunPace> = state
        .store
        .lock_anyway()
        .finished_runs()
        .map_err(text)?
        .into_iter()
        .filter_map(|r| {
            let request: TrainRequest = serde_json::from_value(r.request).ok()?;
            let summary: TrainSummary = serde_json::from_value(r.summary?).ok()?;
            RunPace::of(&request, &summary)
        })
        .collect();
    let e = p.calibrated_estimate(&paces).map_err(text)?;
    Ok(Estimate {
        seconds: e.seconds,
        timed_seconds: e.timed_seconds,
        calibration: e.calibration,
        total_steps: p.total_steps(),
        train_cells: p.train_cells.len(),
        device: p.device_name.clone(),
        layers,
        width,
    })
}

fn spawn_training(app: &AppHandle, state: &AppState, run_id: i64, req: TrainRequest) -> u64 {
    let home = state.home.clone();
    let discarded = state.discarded.clone();
    state.jobs.spawn(app, "train", move |ctx| {
        let store = Store::open(&home.join(crate::DB_FILE))?;
        let fail = |e: anyhow::Error| {
            let _ = store.set_run_status(run_id, "failed", Some(&json!({"error": format!("{e:#}")})));
            e
        };
        let prepared = prepare_training(&req).map_err(|e| fail(e.into()))?;
        ctx.progress(
            "starting",
            0,
            prepared.total_steps() as u64,
            json!({"device": prepared.device_name}),
        );
        store.set_run_status(run_id, "running", None)?;
        let device = prepared.device_name.clone();
        let last_saved = Mutex::new(std::time::Instant::now());
        let report = |p: &c2s_model::train::TrainProgress| {
            ctx.progress(
                "training",
                p.step as u64,
                p.total_steps as u64,
                json!({"train_loss": p.train_loss, "val_loss": p.val_loss, "tokens_per_s": p.tokens_per_s,
                       "eta_s": p.eta_s, "epoch": p.epoch, "lr": p.lr, "device": device}),
            );
            let mut t = last_saved.lock_anyway();
            if t.elapsed().as_secs_f64() > 2.0 || p.step == p.total_steps {
                *t = std::time::Instant::now();
                let _ = store.set_run_progress(run_id, p.step, p.total_steps);
            }
        };
        let s = prepared.run(&report, &ctx.cancel).map_err(|e| fail(e.into()))?;
        store.set_run_progress(run_id, s.steps, s.total_steps)?;
        let summary = serde_json::to_value(&s)?;
        if s.cancelled {
            let status = if discarded.lock_anyway().remove(&run_id) {
                "cancelled"
            } else {
                "paused"
            };
            store.set_run_status(run_id, status, Some(&summary))?;
            Ok(Outcome::Cancelled(json!({"run_id": run_id, "summary": summary})))
        } else {
            store.set_run_status(run_id, "finished", Some(&summary))?;
            Ok(Outcome::Ok(json!({"run_id": run_id, "summary": summary})))
        }
    })
}

#[derive(Serialize)]
pub struct Started {
    pub job_id: u64,
    pub run_id: i64,
    pub folder: String,
}

#[tauri::command]
pub fn start_training(
    project_id: i64,
    dataset_id: i64,
    form: TrainForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<Started> {
    let project = project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let reserved = Reserved::new(&Path::new(&project.folder).join("runs"), "run", None)?;
    let out = reserved.path().to_path_buf();
    let req = train_request(&state, &ds, &out, &form).map_err(any_text)?;
    let run_id = state
        .store
        .lock_anyway()
        .add_run(
            project_id,
            Some(dataset_id),
            &out,
            &serde_json::to_value(&req).map_err(text)?,
        )
        .map_err(text)?;
    // The run's record points to the folder now: kept even while empty.
    reserved.keep();
    let job_id = spawn_training(&app, &state, run_id, req);
    Ok(Started {
        job_id,
        run_id,
        folder: out.to_string_lossy().into(),
    })
}

/// Continues a paused or interrupted run from its last checkpoint.
#[tauri::command]
pub fn resume_training(
    run_id: i64,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<Started> {
    let run = state.store.lock_anyway().run(run_id).map_err(text)?;
    let folder = PathBuf::from(&run.folder);
    let mut req: TrainRequest = match TrainRequest::read_from_run(&folder) {
        Ok(r) => r,
        Err(_) => serde_json::from_value(run.request.clone()).map_err(text)?,
    };
    // With no checkpoint yet, the run starts again from the beginning.
    req.resume = c2s_model::train::find_checkpoint(&folder).is_some();
    if !req.resume {
        let _ = std::fs::remove_file(folder.join(c2s_model::train::LOSS_LOG));
    }
    let job_id = spawn_training(&app, &state, run_id, req);
    Ok(Started {
        job_id,
        run_id,
        folder: run.folder,
    })
}

#[tauri::command]
pub fn cancel_job(id: u64, state: State<'_, AppState>) -> bool {
    state.jobs.cancel(id)
}

/// Stops a training job for good: the run is marked cancelled, not paused,
/// and is not offered for resuming (its checkpoint stays on disk).
#[tauri::command]
pub fn cancel_training(job_id: u64, run_id: i64, state: State<'_, AppState>) -> bool {
    state.discarded.lock_anyway().insert(run_id);
    state.jobs.cancel(job_id)
}

#[derive(Debug, Clone, Deserialize)]
pub struct FreeTextForm {
    pub prompt: String,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<usize>,
}

/// Free text for models that keep language (fine-tuned GPT-2): the prompt
/// goes to the model as it is and the continuation streams to `chat-text`.
// async: the model loads off the window's thread.
#[tauri::command(async)]
pub fn start_free_text(
    model_dir: String,
    form: FreeTextForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let prompt = c2s_model::tokenizer::encode(&model.tok, &form.prompt).map_err(text)?;
    let ctx_len = model.loaded.model.context_len();
    let max_new = form
        .max_tokens
        .unwrap_or(128)
        .min(ctx_len.saturating_sub(prompt.len()));
    if prompt.is_empty() || max_new == 0 {
        return Err(format!(
            "the text is {} tokens; this model reads at most {ctx_len}",
            prompt.len()
        ));
    }
    let d = c2s_model::generate::Sampling::default();
    let s = c2s_model::generate::Sampling {
        temperature: form.temperature.unwrap_or(d.temperature),
        top_k: Some(form.top_k.unwrap_or(50)),
        top_p: Some(form.top_p.unwrap_or(0.95)),
        max_new,
        ..d
    };
    Ok(state.jobs.spawn(&app, "free-text", move |ctx| {
        let mut ids = Vec::new();
        let ids_out = c2s_model::generate::sample_while(
            &model.loaded.model,
            &prompt,
            model.eos,
            &s,
            None,
            &mut |t| {
                ids.push(t);
                ctx.emit(
                    "chat-text",
                    ChatText {
                        job_id: ctx.id,
                        cell: 0,
                        text: c2s_model::tokenizer::decode_text(&model.tok, &ids),
                    },
                );
                !ctx.cancelled()
            },
        )?;
        let text = c2s_model::tokenizer::decode_text(&model.tok, &ids_out);
        if ctx.cancelled() {
            return Ok(Outcome::Cancelled(json!({"text": text})));
        }
        Ok(Outcome::Ok(json!({"text": text})))
    }))
}

/// The project's chat as the window last saved it (none yet: null).
#[tauri::command(async)]
pub fn chat_history(project_id: i64, state: State<'_, AppState>) -> CmdResult<Option<Value>> {
    project_of(&state, project_id)?;
    state.store.lock_anyway().chat(project_id).map_err(text)
}

/// Keeps the project's chat (the window saves it as it changes), so it
/// survives a restart.
#[tauri::command(async)]
pub fn save_chat(project_id: i64, chat: Value, state: State<'_, AppState>) -> CmdResult<()> {
    project_of(&state, project_id)?;
    state
        .store
        .lock_anyway()
        .save_chat(project_id, &chat)
        .map_err(text)
}

/// Loss curve points of a run so far.
#[tauri::command(async)]
pub fn loss_curve(run_id: i64, state: State<'_, AppState>) -> CmdResult<Value> {
    let run = state.store.lock_anyway().run(run_id).map_err(text)?;
    let path = Path::new(&run.folder).join(c2s_model::train::LOSS_LOG);
    if !path.exists() {
        return Ok(json!({"train": [], "validation": []}));
    }
    let c = c2s_eval::evaluate::read_loss_curve(&path).map_err(text)?;
    serde_json::to_value(c).map_err(text)
}

/// The model of `dir`, kept loaded between questions. The slot is not held
/// while a model loads, so other commands never wait behind a load.
fn load_model(state: &AppState, dir: &Path) -> anyhow::Result<Arc<TrainedModel>> {
    if let Some((d, m)) = state.model.lock_anyway().as_ref() {
        if d == dir {
            return Ok(m.clone());
        }
    }
    let m = Arc::new(TrainedModel::load(dir)?);
    *state.model.lock_anyway() = Some((dir.to_path_buf(), m.clone()));
    Ok(m)
}

#[derive(Serialize)]
pub struct ModelInfo {
    pub labels: Vec<String>,
    pub label_column: String,
    pub genes: usize,
    pub device: String,
    pub word_level: bool,
    /// Whether the model takes guidance (it learned cells of no given type).
    pub guidance: bool,
}

#[tauri::command(async)]
pub fn model_info(model_dir: String, state: State<'_, AppState>) -> CmdResult<ModelInfo> {
    let m = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    Ok(ModelInfo {
        labels: m.card.labels.clone(),
        label_column: m.card.label_column.clone(),
        genes: m.card.genes.len(),
        device: m.device_name.clone(),
        word_level: c2s_model::tokenizer::is_word_level(&m.tok),
        guidance: m.card.learned_unconditional
            && m.card.prompt_style == c2s_model::prompts::PromptStyle::Studio,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct GenerateForm {
    pub cell_type: Option<String>,
    pub n: usize,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    #[serde(default)]
    pub free: bool,
    pub seed: Option<u64>,
    /// How typical of the type (classifier-free guidance); the engine's
    /// default when absent.
    pub guidance: Option<f64>,
}

/// The engine's sampling settings for new cells, which the chat starts from.
#[derive(Serialize)]
pub struct GenerationDefaults {
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub guidance: f64,
}

#[tauri::command]
pub fn generation_defaults() -> GenerationDefaults {
    let d = GenerateRequest::default();
    GenerationDefaults {
        temperature: d.temperature,
        top_k: d.top_k,
        top_p: d.top_p,
        guidance: c2s_model::cells::DEFAULT_GUIDANCE,
    }
}

#[derive(Clone, Serialize)]
struct ChatText {
    job_id: u64,
    cell: usize,
    text: String,
}

/// Generates cells in the chat: words stream to `chat-text` events, one cell
/// at a time; the cells are saved in the project for Compare.
// async: the model loads off the window's thread.
#[tauri::command(async)]
pub fn start_generate(
    project_id: i64,
    model_dir: String,
    form: GenerateForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    project_of(&state, project_id)?;
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    if form.n == 0 || form.n > 1000 {
        return Err("ask for between 1 and 1,000 cells".into());
    }
    let d = GenerateRequest::default();
    let req = GenerateRequest {
        types: vec![form.cell_type.clone().filter(|t| !t.is_empty())],
        per_type: form.n,
        temperature: form.temperature.unwrap_or(d.temperature),
        top_k: form.top_k.unwrap_or(d.top_k),
        top_p: form.top_p.unwrap_or(d.top_p),
        free: form.free,
        stop: Vec::new(),
        batch_size: 1,
        seed: form.seed.unwrap_or(d.seed),
        guidance: form.guidance,
    };
    c2s_model::cells::guidance_for(&model.card, req.guidance).map_err(text)?;
    Ok(state.jobs.spawn(&app, "generate", move |ctx| {
        let mut on_text = |cell: usize, t: &str| {
            ctx.emit(
                "chat-text",
                ChatText {
                    job_id: ctx.id,
                    cell,
                    text: t.to_string(),
                },
            )
        };
        let g = generate_cells(
            &model,
            &req,
            &mut on_text,
            &|done, total| ctx.progress("generating", done as u64, total as u64, Value::Null),
            &ctx.cancel,
        );
        let g = match g {
            Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        Ok(Outcome::Ok(generated_result(&g, &model.card.genes)))
    }))
}

/// Marker genes of each type of the dataset's label `column`: the chat marks
/// them in generated cells of that type.
#[tauri::command(async)]
pub fn marker_genes(
    project_id: i64,
    dataset_id: i64,
    column: String,
    state: State<'_, AppState>,
) -> CmdResult<std::collections::BTreeMap<String, Vec<c2s_data::markers::Marker>>> {
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let records = c2s_data::dataset::read_dataset(&ds).map_err(text)?;
    Ok(c2s_data::markers::marker_genes(
        &records,
        &column,
        &c2s_data::markers::MarkerOptions::default(),
    ))
}

/// Generated cells as the chat shows them: each word marked as one of the
/// `known` genes or not, with the shares of valid and unique genes.
pub(crate) fn generated_result(g: &c2s_model::cells::GeneratedCells, known: &[String]) -> Value {
    let known: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
    let cells: Vec<Value> = g
        .cells
        .iter()
        .map(|c| {
            let words: Vec<Value> = c
                .cell_sentence
                .split_whitespace()
                .map(|w| json!({"gene": w, "valid": known.contains(w)}))
                .collect();
            json!({"cell_name": c.cell_name, "cell_type": c.cell_type, "cell_sentence": c.cell_sentence, "words": words})
        })
        .collect();
    json!({
        "cells": cells, "valid_share": g.valid_share, "unique_share": g.unique_share,
        "constrained": g.constrained,
    })
}

/// Keeps generated cells for Compare (JSON lines, as `c2s generate` writes).
#[tauri::command]
pub fn add_to_comparison(
    project_id: i64,
    cells: Vec<Value>,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let path = Path::new(&project.folder).join("generated.jsonl");
    let mut lines = std::fs::read_to_string(&path).unwrap_or_default();
    for c in &cells {
        let line = json!({"cell_name": c["cell_name"], "cell_sentence": c["cell_sentence"], "cell_type": c["cell_type"]});
        lines.push_str(&format!("{line}\n"));
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, lines)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(text_io(&path))?;
    let s = state.store.lock_anyway();
    if s.artefacts(project_id, "generated")
        .map_err(text)?
        .is_empty()
    {
        s.add_artefact(project_id, "generated", &path, None)
            .map_err(text)?;
    }
    Ok(path.to_string_lossy().into())
}

fn text_io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

#[derive(Serialize)]
pub struct SentencePrediction {
    pub label: String,
    pub confidence: f64,
    /// Every known type with its probability, likeliest first.
    pub ranking: Vec<(String, f64)>,
    pub unknown_genes: Vec<String>,
}

/// What the model in `model_dir` calls the cells of the project's dataset
/// named `names` (selected on a map): each type it names, counted over an
/// even spread of at most `GROUP_CALL_CELLS` of them.
#[tauri::command(async)]
pub fn call_selected_cells(
    project_id: i64,
    dataset_id: i64,
    model_dir: String,
    names: Vec<String>,
    state: State<'_, AppState>,
) -> CmdResult<c2s_model::cells::GroupCall> {
    let m = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let records = read_sentences(&dataset_folder(&state, project_id, dataset_id)?).map_err(text)?;
    c2s_model::cells::call_group(
        &m,
        &records,
        &names,
        c2s_model::cells::GROUP_CALL_CELLS,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .map_err(text)
}

/// "What type is this cell?": every known type scored by the model.
#[tauri::command(async)]
pub fn predict_sentence(
    model_dir: String,
    sentence: String,
    state: State<'_, AppState>,
) -> CmdResult<SentencePrediction> {
    let m = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let words: Vec<String> = sentence
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_uppercase())
        .collect();
    if words.is_empty() {
        return Err("paste a cell sentence: gene names, most expressed first".into());
    }
    let known: std::collections::HashSet<&str> = m.card.genes.iter().map(String::as_str).collect();
    let unknown_genes = words
        .iter()
        .filter(|w| !known.contains(w.as_str()))
        .cloned()
        .collect();
    let templates = c2s_model::prompts::Templates::default_set();
    let predictor = m
        .predictor(&templates, m.card.labels.clone())
        .map_err(text)?;
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let p = predictor.predict(&refs).map_err(text)?;
    let mut ranking: Vec<(String, f64)> = m
        .card
        .labels
        .iter()
        .cloned()
        .zip(p.probabilities())
        .collect();
    ranking.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(SentencePrediction {
        label: p.label,
        confidence: p.confidence,
        ranking,
        unknown_genes,
    })
}

/// A few real cells of a dataset to ask about in the chat: drawn afresh
/// each time from the held-out test cells (all cells if the dataset has no
/// split), so a model is asked about cells it never learned from; each with
/// its labels and split, so the chat can say what the dataset calls it.
#[tauri::command(async)]
pub fn sample_cells(
    project_id: i64,
    dataset_id: i64,
    n: usize,
    state: State<'_, AppState>,
) -> CmdResult<Vec<Value>> {
    let folder = dataset_folder(&state, project_id, dataset_id)?;
    let records = read_sentences(&folder).map_err(text)?;
    let held_out: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].label("split") == Some(c2s_eval::evaluate::HELD_OUT))
        .collect();
    let pool = if held_out.is_empty() {
        (0..records.len()).collect()
    } else {
        held_out
    };
    let pick = c2s_data::convert::sample_rows(pool.len(), n, rand::random());
    Ok(pick
        .into_iter()
        .map(|k| {
            let r = &records[pool[k]];
            let labels: BTreeMap<&str, Option<&str>> =
                r.labels.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            json!({"cell_name": r.cell_name, "sentence": r.sentence.split(' ').take(100).collect::<Vec<_>>().join(" "), "labels": labels, "split": r.label("split")})
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvalForm {
    pub dataset_id: i64,
    pub run_id: Option<i64>,
    #[serde(default)]
    pub with_generated: bool,
    #[serde(default)]
    pub with_predictions: bool,
}

/// Compare: evaluates generated cells, predictions and the loss curve, and
/// writes the report (HTML, PNG and SVG plots) in the project folder.
#[tauri::command]
pub fn start_evaluate(
    project_id: i64,
    form: EvalForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let project = project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, form.dataset_id)?;
    let (run, generated, predictions) = {
        let s = state.store.lock_anyway();
        let run = form
            .run_id
            .map(|id| s.run(id).map(|r| PathBuf::from(r.folder)))
            .transpose()
            .map_err(text)?;
        let generated = s
            .artefacts(project_id, "generated")
            .map_err(text)?
            .first()
            .map(|a| PathBuf::from(&a.path))
            .filter(|_| form.with_generated);
        let predictions = s
            .artefacts(project_id, "predictions")
            .map_err(text)?
            .first()
            .map(|a| PathBuf::from(&a.path))
            .filter(|_| form.with_predictions);
        (run, generated, predictions)
    };
    if run.is_none() && generated.is_none() && predictions.is_none() {
        return Err("nothing to compare yet: generate cells in the chat and add them to the comparison, annotate the dataset, or train a model".into());
    }
    let reserved = Reserved::new(&Path::new(&project.folder).join("reports"), "report", None)?;
    Ok(state.jobs.spawn(&app, "evaluate", move |ctx| {
        let out = reserved.path().to_path_buf();
        let inputs = c2s_eval::EvalInputs {
            dataset: ds,
            predictions,
            generated,
            run,
            ..Default::default()
        };
        let opts = c2s_eval::GeneratedOptions::default();
        let progress = |stage: &str| ctx.progress(stage, 0, 1, Value::Null);
        let report = match c2s_eval::evaluate_cancellable(&inputs, &opts, &progress, &ctx.cancel) {
            Err(c2s_eval::EvalError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        ctx.progress("drawing the report", 0, 1, Value::Null);
        c2s_eval::write_report(&report, &out, true, &[inputs.dataset.as_path()])?;
        Ok(Outcome::Ok(json!({"report": report, "folder": out})))
    }))
}

/// Annotate: predicts the type of every converted cell of a dataset.
// async: the model loads off the window's thread.
#[tauri::command(async)]
pub fn start_annotate(
    project_id: i64,
    dataset_id: i64,
    model_dir: String,
    rules: Option<AnnotationRules>,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let rules = rules.unwrap_or_default();
    rules.check().map_err(text)?;
    let project = project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let reserved = Reserved::new(
        &Path::new(&project.folder).join("predictions"),
        "predictions",
        Some("jsonl"),
    )?;
    let home = state.home.clone();
    Ok(state.jobs.spawn(&app, "annotate", move |ctx| {
        let out = reserved.path().to_path_buf();
        let records = read_sentences(&ds)?;
        let cells: Vec<CellInput> = records
            .iter()
            .map(|r| CellInput {
                name: &r.cell_name,
                sentence: &r.sentence,
            })
            .collect();
        let preds = match predict_cells(
            &model,
            &cells,
            false,
            &rules.only,
            &|done, total| ctx.progress("predicting", done as u64, total as u64, Value::Null),
            &ctx.cancel,
        ) {
            Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        let col = &model.card.label_column;
        let truth: Vec<Option<&str>> = records.iter().map(|r| r.label(col)).collect();
        let mut lines: Vec<PredictionRecord> = preds
            .iter()
            .zip(&truth)
            .zip(&records)
            .map(|((p, t), r)| PredictionRecord::new(p, *t, r.label("split")))
            .collect();
        ctx.progress("voting", 0, 1, Value::Null);
        let summary = refine_records(&ds, &mut lines, &rules)?;
        let lines = predictions_jsonl(&lines);
        c2s_data::output::write_file(&out, lines.as_bytes(), true)?;
        let (t, p): (Vec<&str>, Vec<&str>) = truth
            .iter()
            .zip(&preds)
            .filter_map(|(t, p)| Some(((*t)?, p.predicted.as_deref()?)))
            .unzip();
        let confusion = if t.is_empty() {
            None
        } else {
            Some(c2s_eval::classification::classification_report(&t, &p)?)
        };
        let store = Store::open(&home.join(crate::DB_FILE))?;
        store.add_artefact(
            project_id,
            "predictions",
            &out,
            Some(&json!({"model": model_dir})),
        )?;
        let mut result = json!({
            "predictions": out, "cells": preds.len(), "label_column": col,
            "report": confusion,
        });
        merge(&mut result, summary);
        ctx.progress("scoring the held-out cells", 0, 1, Value::Null);
        merge(&mut result, held_out_report(&ds, &out, Some(col)));
        Ok(Outcome::Ok(result))
    }))
}

/// Saves a copy of the project's .h5ad with the predicted type and its
/// confidence as new obs columns, in the project folder.
#[tauri::command(async)]
pub fn save_annotated(
    project_id: i64,
    predictions: String,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let predictions = checked(&state, &predictions)?;
    let stem = Path::new(&project.source_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let dst = Path::new(&project.folder).join(format!("{stem}-annotated.h5ad"));
    write_annotated(Path::new(&project.source_path), &predictions, &dst).map_err(any_text)?;
    state
        .store
        .lock_anyway()
        .add_artefact(project_id, "annotated", &dst, None)
        .map_err(text)?;
    Ok(dst.to_string_lossy().into())
}

fn write_annotated(source: &Path, predictions: &Path, dst: &Path) -> anyhow::Result<()> {
    let records = c2s_model::cells::read_predictions(predictions)?;
    c2s_model::cells::write_annotated_h5ad(source, dst, &records)?;
    Ok(())
}

/// The predictions of held-out (test) cells scored beside the baselines on
/// the same cells, as Compare scores them: `held_out`, or why not.
pub(crate) fn held_out_report(ds: &Path, predictions: &Path, label: Option<&str>) -> Value {
    let inputs = c2s_eval::EvalInputs {
        dataset: ds.to_path_buf(),
        label: label.map(String::from),
        predictions: Some(predictions.to_path_buf()),
        ..Default::default()
    };
    match c2s_eval::evaluate(&inputs, &c2s_eval::GeneratedOptions::default(), &|_| {}) {
        Ok(r) => json!({ "held_out": r.prediction }),
        Err(e) => json!({ "held_out_error": e.to_string() }),
    }
}

/// Adds `extra`'s fields to the object `into`.
pub(crate) fn merge(into: &mut Value, extra: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), extra) {
        a.extend(b);
    }
}

/// Applies the annotation rules to a job's records (cells of the dataset
/// `ds`) and sums up its answers for the Annotate screen.
pub(crate) fn refine_records(
    ds: &Path,
    records: &mut [PredictionRecord],
    rules: &AnnotationRules,
) -> anyhow::Result<Value> {
    // Without rules every cell's votes stay empty (and nothing is read).
    let calls: Vec<CellCall> = records.iter().map(PredictionRecord::call).collect();
    let votes = apply_rules(ds, None, &calls, rules)?;
    for (r, v) in records.iter_mut().zip(votes) {
        r.votes = v;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in records.iter() {
        *counts.entry(r.final_answer().unwrap_or("?")).or_default() += 1;
    }
    let mut summary = json!({
        "counts": counts,
        "unassigned_below": rules.unassigned_below,
        "confidence_histogram": records.iter().any(|r| r.confidence.is_some()).then(|| {
            c2s_eval::classification::confidence_histogram(
                records.iter().filter_map(|r| r.confidence),
                c2s_eval::classification::CONFIDENCE_BINS,
            )
        }),
    });
    merge(
        &mut summary,
        serde_json::to_value(VoteSummary::of(records.iter().map(|r| &r.votes)))?,
    );
    Ok(summary)
}

/// Asks where to save (native dialog, opened here so the web view never
/// names a path to write), then saves the annotated .h5ad there.
#[tauri::command(async)]
pub fn save_annotated_as(
    project_id: i64,
    predictions: String,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let project = project_of(&state, project_id)?;
    let predictions = checked(&state, &predictions)?;
    let Some(path) = app
        .dialog()
        .file()
        .add_filter("AnnData", &["h5ad"])
        .set_file_name("annotated.h5ad")
        .blocking_save_file()
    else {
        return Ok(None);
    };
    let dst = path.into_path().map_err(text)?;
    write_annotated(Path::new(&project.source_path), &predictions, &dst).map_err(any_text)?;
    Ok(Some(dst.to_string_lossy().into()))
}

/// Saves an exported plot or table into the project's exports folder.
/// `data` is text (SVG, CSV) or a `data:image/png;base64,` URL.
#[tauri::command]
pub fn save_export(
    project_id: i64,
    name: String,
    data: String,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    use base64::Engine;
    let project = project_of(&state, project_id)?;
    let bytes = match data.strip_prefix("data:image/png;base64,") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(text)?,
        None => data.into_bytes(),
    };
    write_export(&project, &name, &bytes)
}

/// Writes `bytes` as `name` in the project's exports folder (replacing a
/// file of that name, atomically) and returns its path.
fn write_export(project: &Project, name: &str, bytes: &[u8]) -> CmdResult<String> {
    // Only a plain file name: the web view never chooses where files go.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        return Err("bad export name".into());
    }
    let path = Path::new(&project.folder).join("exports").join(safe);
    c2s_data::output::write_file(&path, bytes, true).map_err(text)?;
    Ok(path.to_string_lossy().into())
}

/// Saves an annotation's per-cell table (CSV: each cell's answer, its
/// confidence and CellTypist's refinements) in the project's exports folder.
#[tauri::command(async)]
pub fn export_predictions(
    project_id: i64,
    predictions: String,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let predictions = checked(&state, &predictions)?;
    let records = c2s_model::cells::read_predictions(&predictions).map_err(text)?;
    let stem = predictions
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "predictions".into());
    write_export(
        &project,
        &format!("{stem}-per-cell.csv"),
        c2s_model::cells::predictions_csv(&records).as_bytes(),
    )
}

/// A model folder of a finished run.
#[tauri::command]
pub fn run_model_dir(run_id: i64, state: State<'_, AppState>) -> CmdResult<String> {
    let run = state.store.lock_anyway().run(run_id).map_err(text)?;
    let dir = Path::new(&run.folder).join(c2s_model::train::FINAL_MODEL);
    if !dir.join(c2s_model::trained::MODEL_CARD).exists() {
        return Err("this run has not finished: resume it to get a model".into());
    }
    Ok(dir.to_string_lossy().into())
}

#[cfg(test)]
mod tests {
    use super::{InputForm, InputOptions, LogBase, Preprocess, Reserved};

    /// The wizard starts from the engine's defaults, and a form left as it
    /// came converts exactly as the CLI does with no options.
    #[test]
    fn the_convert_wizard_gets_the_engines_defaults() {
        let engine = InputOptions::default();
        let form = InputForm::from(&engine);
        let json = |o: &InputOptions| serde_json::to_value(o).unwrap();
        assert_eq!(json(&form.options().unwrap()), json(&engine));
        // Through the web view and back.
        let back: InputForm = serde_json::from_value(serde_json::to_value(&form).unwrap()).unwrap();
        assert_eq!(json(&back.options().unwrap()), json(&engine));
        let other = InputOptions {
            matrix: Some("raw".parse().unwrap()),
            preprocess: Preprocess {
                min_genes: 200,
                min_cells: 3,
                target_sum: Some(1e4),
                log_base: LogBase::E,
            },
            seed: 7,
            ..InputOptions::default()
        };
        assert_eq!(
            json(&InputForm::from(&other).options().unwrap()),
            json(&other)
        );
    }

    #[test]
    fn reserved_names_are_distinct_and_released_when_unused() {
        let d = tempfile::tempdir().unwrap();
        let parent = d.path().join("predictions");
        let a = Reserved::new(&parent, "predictions", Some("jsonl")).unwrap();
        let b = Reserved::new(&parent, "predictions", Some("jsonl")).unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().ends_with("predictions-1.jsonl"));
        std::fs::write(b.path(), "{}\n").unwrap();
        let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
        drop((a, b));
        assert!(!pa.exists(), "an unused reservation stays");
        assert!(pb.is_file(), "a written output was removed");
        // The freed number is taken again; folders work the same way.
        let c = Reserved::new(&parent, "predictions", Some("jsonl")).unwrap();
        assert_eq!(c.path(), pa);
        let f = Reserved::new(d.path(), "run", None).unwrap();
        assert!(f.path().is_dir());
        let kept = f.keep();
        assert!(kept.is_dir());
    }
}
