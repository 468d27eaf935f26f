//! Tauri commands: thin wrappers over the engine crates, one module per
//! screen. Quick questions answer directly (on Tauri's thread pool when they
//! read files); long work starts a background job and returns its id at once.
//! This module holds what they share: the app's state, errors as text, and
//! the imports the screens' modules take with `use super::*`.

pub mod access;
pub mod annotate;
pub mod chat;
pub mod dataset;
pub mod evaluate;
pub mod export;
pub mod project;
pub mod published;
pub mod reserved;
pub mod train;

use crate::LockAnyway;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use c2s_data::annotation_rules::{AnnotationRules, VoteSummary};
use c2s_data::dataset::{read_dataset, read_sentences};
use c2s_data::expression::FileSample;
use c2s_data::preprocess::{LogBase, Preprocess};
use c2s_data::{ConvertOptions, InputOptions, MatrixId};
use c2s_model::cells::{
    generate_cells, predict_cells, predictions_jsonl, CellInput, GenerateRequest, PredictionRecord,
    TypeMix,
};
use c2s_model::train::TrainSummary;
use c2s_model::train_dataset::{prepare_training, Preset, RunPace, TrainRequest};
use c2s_model::TrainedModel;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tauri::{AppHandle, State};
use ts_rs::TS;

use crate::jobs::Jobs;
use crate::store::{Project, Store};
use access::checked;

pub use dataset::{InputForm, MapSamples};
pub(crate) use reserved::Reserved;

/// Figures a job reports beside its progress, by what reports them.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "of", rename_all = "snake_case")]
pub enum ProgressDetail {
    Training(train::TrainingFigures),
    Download { file: String },
}

/// What a job hands the window, one variant per kind of work (`job`
/// names it, so the screens can tell them apart).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobResult {
    Convert(dataset::Converted),
    Map(c2s_eval::cell_map::FileMap),
    Train(train::Trained),
    Generate(chat::ChatCells),
    GenerateMix(evaluate::MixCells),
    FreeText(chat::FreeText),
    Evaluate(evaluate::Evaluated),
    Annotate(annotate::Annotation),
    Download(published::Downloaded),
    Describe(published::GroupAnswer),
}

/// The context every job function of the screens gets: its progress carries
/// ProgressDetail.
pub type JobCtx = crate::jobs::JobCtx<ProgressDetail>;
/// How a job function of the screens ends.
pub type Outcome = crate::jobs::Outcome<JobResult>;

pub struct AppState {
    pub store: Mutex<Store>,
    pub jobs: Arc<Jobs>,
    pub home: PathBuf,
    pub demo: Option<PathBuf>,
    /// The last model used in the chat, kept loaded.
    pub model: Mutex<Option<(PathBuf, Arc<TrainedModel>)>>,
    /// The published model last used (annotation, chat), kept loaded.
    pub published: published::PublishedSlot,
    /// Runs whose training was cancelled for good (not paused).
    pub discarded: Arc<Mutex<std::collections::HashSet<i64>>>,
    /// Paths the user chose or dropped this session.
    pub granted: access::Granted,
    /// The cells of the last maps drawn, to colour them by a gene.
    pub map_samples: MapSamples,
}

/// Errors cross to the web view as text: the engine's message with its hint.
pub(crate) type CmdResult<T> = Result<T, String>;

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn any_text(e: anyhow::Error) -> String {
    format!("{e:#}")
}

pub(crate) fn project_of(state: &AppState, id: i64) -> CmdResult<Project> {
    state.store.lock_anyway().project(id).map_err(text)
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

fn text_io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}
