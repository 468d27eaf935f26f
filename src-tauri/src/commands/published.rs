//! Tauri commands for the published C2S models: the model manager (list,
//! licence, download, a folder on disk) and the tasks the app offers with
//! them (annotate a dataset, generate cells, ask about a group of cells).
//! Thin wrappers over c2s_model::hub and c2s_model::published*.

use crate::LockAnyway;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use c2s_data::annotation_rules::AnnotationRules;
use c2s_data::dataset::{read_sentences, SentenceRecord};
use c2s_model::hub::{describe_folder, FolderModel, ModelListing, ModelStore};
use c2s_model::published::{
    describe_group, generate_published, generate_tissue_cells, PublishedGenerateRequest,
    PublishedModel, TissueGenerateRequest, DEFAULT_ANSWER_TOKENS, DEFAULT_GROUP_CELLS,
    DEFAULT_GROUP_GENES,
};
use c2s_model::published_annotation::{
    annotate_dataset, cells_named, cells_of_group, estimate_seconds, DatasetAnnotation,
};
use c2s_model::published_prompts::{dataset_organism, PublishedTask};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tauri::{AppHandle, State};

use super::access::checked;
use super::annotate::{AnnotationTarget, PublishedAnnotation};
use super::chat::ChatCells;
use super::{
    dataset_folder, project_of, AppState, CmdResult, JobCtx, JobResult, Outcome, ProgressDetail,
};

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The published models, their sizes, and what this computer has of them.
#[tauri::command(async)]
pub fn published_models() -> Vec<ModelListing> {
    ModelStore::from_env().listings()
}

#[tauri::command(async)]
pub fn accept_licence(id: String) -> CmdResult<()> {
    ModelStore::from_env().accept_licence(&id).map_err(text)
}

/// Downloads a published model into the Hugging Face cache: progress in
/// bytes, cancel keeps what arrived, and the next download resumes it.
#[tauri::command]
pub fn start_model_download(
    id: String,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let store = ModelStore::from_env();
    // Asked before the job starts, so the window can show the licence.
    store.require_licence(&id).map_err(text)?;
    Ok(state
        .jobs
        .spawn(&app, "download", move |ctx| download_job(ctx, &store, &id)))
}

fn download_job(ctx: &JobCtx, store: &ModelStore, id: &str) -> anyhow::Result<Outcome> {
    let mut progress = |p: &c2s_model::hub::DownloadProgress| {
        let detail = ProgressDetail::Download {
            file: p.file.clone(),
        };
        ctx.progress("downloading", p.done_bytes, p.total_bytes, Some(detail))
    };
    match store.download(id, &mut progress, &ctx.cancel) {
        Err(c2s_model::ModelError::Cancelled) => Ok(Outcome::Cancelled(None)),
        r => Ok(Outcome::Ok(JobResult::Download(Downloaded { folder: r? }))),
    }
}

/// A download's result: the model's folder in the cache.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Downloaded {
    pub folder: PathBuf,
}

/// A model the user chose (a folder, or a downloaded published model by its
/// Hub id): what it is and can be asked. The licence is checked for ids.
#[tauri::command(async)]
pub fn inspect_model(model: String, state: State<'_, AppState>) -> CmdResult<FolderModel> {
    describe_folder(&model_dir(&state, &model)?).map_err(text)
}

/// The published model in use, kept loaded between questions.
pub type PublishedSlot = Arc<Mutex<Option<(PathBuf, Arc<PublishedModel>)>>>;

/// The model's folder, checked before a job starts (licence, download): a
/// Hub id of the download cache, or a folder the page may name.
fn model_dir(state: &AppState, model: &str) -> CmdResult<PathBuf> {
    let m = model.trim();
    let hub_id = !Path::new(m).is_absolute()
        && m.matches('/').count() == 1
        && !m.starts_with(['.', '~'])
        && !Path::new(m).exists();
    let spec = if hub_id {
        PathBuf::from(m)
    } else {
        checked(state, m)?
    };
    ModelStore::from_env().resolve(&spec).map_err(text)
}

/// Loads the model into the slot, or takes it from there. Jobs call it on
/// their own thread: a large model takes seconds to map.
fn load_published(
    slot: &Mutex<Option<(PathBuf, Arc<PublishedModel>)>>,
    dir: &Path,
) -> anyhow::Result<Arc<PublishedModel>> {
    let mut slot = slot.lock_anyway();
    if let Some((d, m)) = slot.as_ref() {
        if d == dir {
            return Ok(m.clone());
        }
    }
    // One published model at a time: they are large.
    *slot = None;
    let m = Arc::new(PublishedModel::load(dir)?);
    *slot = Some((dir.to_path_buf(), m.clone()));
    Ok(m)
}

fn records(folder: &Path) -> CmdResult<Vec<SentenceRecord>> {
    read_sentences(folder).map_err(text)
}

#[derive(Serialize)]
pub struct AnnotationEstimate {
    pub seconds: f64,
    /// Cells the model will be asked about.
    pub prompts: usize,
    pub cells: usize,
    pub device: String,
}

/// How long annotating the dataset will take on this computer, measured on
/// one cell before the job starts.
#[tauri::command(async)]
pub fn estimate_published_annotation(
    project_id: i64,
    dataset_id: i64,
    model: String,
    mut plan: DatasetAnnotation,
    state: State<'_, AppState>,
) -> CmdResult<AnnotationEstimate> {
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    plan.organism = dataset_organism(&ds).into();
    let m = load_published(&state.published, &model_dir(&state, &model)?)
        .map_err(|e| format!("{e:#}"))?;
    let recs = records(&ds)?;
    let refs: Vec<&SentenceRecord> = recs.iter().collect();
    Ok(AnnotationEstimate {
        seconds: estimate_seconds(&m, &refs, &plan).map_err(text)?,
        prompts: plan.prompts(&refs).map_err(text)?,
        cells: refs.len(),
        device: m.device_name.clone(),
    })
}

/// How long writing `n` cells of a type will take on this computer, measured
/// on a few tokens before the job starts (seconds).
#[tauri::command(async)]
pub fn estimate_published_generation(
    model: String,
    cell_type: String,
    n: usize,
    state: State<'_, AppState>,
) -> CmdResult<f64> {
    let m = load_published(&state.published, &model_dir(&state, &model)?)
        .map_err(|e| format!("{e:#}"))?;
    let req = PublishedGenerateRequest::for_types(vec![cell_type.trim().to_string()], n);
    c2s_model::published::estimate_generation_seconds(&m, &req).map_err(text)
}

/// Annotates every converted cell with a published model; the result has the
/// shape of the trained models' annotation, so the same screen shows and
/// saves it.
#[tauri::command]
pub fn start_annotate_published(
    project_id: i64,
    dataset_id: i64,
    model: String,
    mut plan: DatasetAnnotation,
    rules: Option<AnnotationRules>,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let rules = rules.unwrap_or_default();
    rules.check().map_err(text)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    plan.only = rules.only.clone();
    plan.organism = dataset_organism(&ds).into();
    let dir = model_dir(&state, &model)?;
    let meta = json!({ "model": dir, "published": true });
    let to = AnnotationTarget::new(&state, project_id, ds, meta)?;
    let slot = state.published.clone();
    Ok(state.jobs.spawn(&app, "annotate", move |ctx| {
        annotate_published_job(ctx, &slot, &dir, &plan, &rules, to)
    }))
}

fn annotate_published_job(
    ctx: &JobCtx,
    slot: &Mutex<Option<(PathBuf, Arc<PublishedModel>)>>,
    dir: &Path,
    plan: &DatasetAnnotation,
    rules: &AnnotationRules,
    to: AnnotationTarget,
) -> anyhow::Result<Outcome> {
    ctx.progress("loading the model", 0, 1, None);
    let m = load_published(slot, dir)?;
    let recs = read_sentences(&to.dataset)?;
    let refs: Vec<&SentenceRecord> = recs.iter().collect();
    let progress = |done, total| ctx.progress("annotating", done as u64, total as u64, None);
    let done = match annotate_dataset(&m, &refs, plan, &progress, &ctx.cancel) {
        Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    let lines = done.records(&refs);
    let published = PublishedAnnotation {
        prompts: done.prompts,
        candidates: done.candidates,
        voted: plan.vote_by.clone(),
    };
    to.finish(ctx, lines, rules, done.truth_column, Some(published))
}

/// Cells of a type, or groups of cells of a tissue.
enum Generate {
    Cells(PublishedGenerateRequest),
    Groups(TissueGenerateRequest),
}

#[derive(Debug, Deserialize)]
pub struct PublishedGenerateForm {
    /// Cells of this type; or, with `tissue`, groups of cells of that tissue.
    #[serde(default)]
    pub cell_type: String,
    #[serde(default)]
    pub tissue: Option<String>,
    /// Cells (groups with `tissue`).
    pub n: usize,
    pub seed: Option<u64>,
}

/// Cells of a type, or groups of cells of a tissue, written by a published
/// model for the chat; the result
/// has the shape of the trained models' generation (each word marked as a
/// gene of the dataset or not).
#[tauri::command]
pub fn start_published_generate(
    project_id: i64,
    dataset_id: i64,
    model: String,
    form: PublishedGenerateForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let request = form.request(&ds)?;
    let dir = model_dir(&state, &model)?;
    let slot = state.published.clone();
    Ok(state.jobs.spawn(&app, "generate", move |ctx| {
        ctx.progress("loading the model", 0, 1, None);
        let m = load_published(&slot, &dir)?;
        published_generate_job(ctx, &m, &request)
    }))
}

impl PublishedGenerateForm {
    /// The engine's request for the form, with the prompts' organism and
    /// the genes known to the dataset `ds`.
    fn request(&self, ds: &Path) -> CmdResult<Generate> {
        let tissue = self
            .tissue
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if self.cell_type.trim().is_empty() && tissue.is_none() {
            return Err("name the cell type or tissue to generate: published models write cells of a given type or tissue".into());
        }
        if self.n == 0 || self.n > 100 {
            return Err("ask for between 1 and 100".into());
        }
        let known_genes = c2s_data::vocabulary::Vocabulary::read_tsv(&ds.join("vocabulary.tsv"))
            .map_err(text)?
            .genes;
        let organism = dataset_organism(ds).to_string();
        Ok(match tissue {
            None => {
                let types = vec![self.cell_type.trim().to_string()];
                let d = PublishedGenerateRequest::for_types(types, self.n);
                Generate::Cells(PublishedGenerateRequest {
                    seed: self.seed.unwrap_or(d.seed),
                    organism,
                    known_genes,
                    ..d
                })
            }
            Some(t) => {
                let d = TissueGenerateRequest::for_tissues(vec![t.to_string()], self.n);
                Generate::Groups(TissueGenerateRequest {
                    seed: self.seed.unwrap_or(d.seed),
                    organism,
                    known_genes,
                    ..d
                })
            }
        })
    }
}

fn published_generate_job(
    ctx: &JobCtx,
    m: &PublishedModel,
    request: &Generate,
) -> anyhow::Result<Outcome> {
    let progress =
        |done: usize, total: usize| ctx.progress("generating", done as u64, total as u64, None);
    let (g, known_genes) = match request {
        Generate::Cells(r) => (
            generate_published(m, r, &progress, &ctx.cancel),
            &r.known_genes,
        ),
        Generate::Groups(r) => (
            generate_tissue_cells(m, r, &progress, &ctx.cancel),
            &r.known_genes,
        ),
    };
    let g = match g {
        Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    let known = known_genes.iter().map(String::as_str).collect();
    Ok(Outcome::Ok(JobResult::Generate(ChatCells::of(&g, &known))))
}

#[derive(Debug, Deserialize)]
pub struct GroupQuestion {
    /// A label column and one of its values: the group asked about; or
    /// SAVED_SELECTIONS and the name of a selection saved on a map.
    pub column: String,
    pub value: String,
    /// "tissue" or "summary".
    pub task: String,
}

/// A published model's answer about a group of cells.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GroupAnswer {
    pub answer: String,
    /// "tissue" or "summary".
    pub task: String,
    /// The cells asked about.
    pub cells: Vec<String>,
    pub column: String,
    pub value: String,
}

impl GroupQuestion {
    fn published_task(&self) -> CmdResult<PublishedTask> {
        match self.task.as_str() {
            "tissue" => Ok(PublishedTask::TissuePrediction),
            "summary" => Ok(PublishedTask::NaturalLanguageInterpretation),
            other => Err(format!(
                "unknown question `{other}`: ask for the tissue or a summary"
            )),
        }
    }
}

/// Asks a published model which tissue a group of cells comes from, or for
/// an English summary of it.
#[tauri::command]
pub fn start_describe_group(
    project_id: i64,
    dataset_id: i64,
    model: String,
    question: GroupQuestion,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let task = question.published_task()?;
    let dir = model_dir(&state, &model)?;
    let selection = saved_selection(&state, project_id, &question)?;
    let slot = state.published.clone();
    Ok(state.jobs.spawn(&app, "describe", move |ctx| {
        ctx.progress("loading the model", 0, 1, None);
        let m = load_published(&slot, &dir)?;
        describe_job(ctx, &m, &ds, task, question, selection.as_deref())
    }))
}

/// Asks about the saved selection's cells, or the group's (an even spread
/// of at most DEFAULT_GROUP_CELLS of them).
fn describe_job(
    ctx: &JobCtx,
    m: &PublishedModel,
    ds: &Path,
    task: PublishedTask,
    question: GroupQuestion,
    selection: Option<&[String]>,
) -> anyhow::Result<Outcome> {
    let recs = read_sentences(ds)?;
    let refs: Vec<&SentenceRecord> = recs.iter().collect();
    let group = match selection {
        Some(names) => cells_named(&refs, names, DEFAULT_GROUP_CELLS)?,
        None => cells_of_group(
            &refs,
            &question.column,
            &question.value,
            DEFAULT_GROUP_CELLS,
        )?,
    };
    ctx.progress("asking", 0, 1, None);
    let cells: Vec<c2s_model::cells::CellInput> = group
        .iter()
        .map(|r| c2s_model::cells::CellInput {
            name: &r.cell_name,
            sentence: &r.sentence,
        })
        .collect();
    let organism = dataset_organism(ds);
    let a = describe_group(
        m,
        task,
        &cells,
        DEFAULT_GROUP_GENES,
        organism,
        DEFAULT_ANSWER_TOKENS,
    )?;
    Ok(Outcome::Ok(JobResult::Describe(GroupAnswer {
        answer: a.answer,
        task: question.task,
        cells: group.iter().map(|r| r.cell_name.clone()).collect(),
        column: question.column,
        value: question.value,
    })))
}

/// The dataset's label columns with their values and counts: the candidate
/// columns, groups to vote by, and groups to ask about.
#[tauri::command(async)]
pub fn dataset_groups(
    project_id: i64,
    dataset_id: i64,
    state: State<'_, AppState>,
) -> CmdResult<std::collections::BTreeMap<String, Vec<(String, usize)>>> {
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let mut groups = c2s_data::dataset::label_values(&records(&ds)?);
    let saved = state
        .store
        .lock_anyway()
        .selections(project_id)
        .map_err(text)?;
    if !saved.is_empty() && !groups.contains_key(SAVED_SELECTIONS) {
        let named = saved.into_iter().map(|s| (s.name, s.cells.len())).collect();
        groups.insert(SAVED_SELECTIONS.into(), named);
    }
    Ok(groups)
}

/// The group name under which the cells saved on a map are offered beside
/// the dataset's label columns (unless the dataset has a column so named).
pub const SAVED_SELECTIONS: &str = "saved selections";

/// The cells of the saved selection a question is about, if it is about one
/// (a label column of that name and value, which dataset_groups would not
/// have offered beside saved selections, is not looked for).
fn saved_selection(
    state: &AppState,
    project_id: i64,
    q: &GroupQuestion,
) -> CmdResult<Option<Vec<String>>> {
    if q.column != SAVED_SELECTIONS {
        return Ok(None);
    }
    let saved = state
        .store
        .lock_anyway()
        .selections(project_id)
        .map_err(text)?;
    Ok(saved
        .into_iter()
        .find(|s| s.name == q.value)
        .map(|s| s.cells))
}

/// Where downloads go, for the model manager to say.
#[tauri::command]
pub fn models_folder() -> PathBuf {
    ModelStore::from_env().cache_dir().to_path_buf()
}
