//! Dataset screen and the convert wizard: opening a file, its warnings, maps
//! of its cells, preview and conversion.

use super::*;
use c2s_eval::cell_map::{map_file, FileMapRequest};
use c2s_model::cells::final_answers;

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

#[derive(Serialize)]
pub struct OpenedDataset {
    pub project: Project,
    /// What the file holds, with the engine's notes on it (shown as the
    /// dataset's warnings, each fix a button).
    pub inspection: c2s_data::Inspection,
    /// The engine's conversion defaults, which the wizard starts from.
    pub input_defaults: InputForm,
}

/// Opens (or reopens) a project for a data file and describes the file.
#[tauri::command(async)]
pub fn open_dataset(path: String, state: State<'_, AppState>) -> CmdResult<OpenedDataset> {
    let path = checked(&state, &path)?;
    // The reader judges the file (by its content, not its name).
    let inspection = c2s_data::inspect(&path).map_err(text)?;
    Ok(OpenedDataset {
        project: project_for(&state, &path)?,
        inspection,
        input_defaults: InputForm::from(&InputOptions::default()),
    })
}

/// The project of a data file (made on first opening), with its folder.
fn project_for(state: &AppState, path: &Path) -> CmdResult<Project> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let abs = std::fs::canonicalize(path).unwrap_or(path.to_path_buf());
    let projects = state.home.join("projects");
    let project = state
        .store
        .lock_anyway()
        .open_project(&abs, &name, |id| projects.join(format!("{id}-{name}")))
        .map_err(text)?;
    std::fs::create_dir_all(&project.folder).map_err(text)?;
    Ok(project)
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

/// Starts a job that maps a seeded sample of the file's cells (the engine's
/// `map_file`: 5,000 unless `max_cells` asks for up to 50,000) by PCA or
/// UMAP, coloured by a column, or with `predictions` (an annotation's
/// records) by each cell's final answer; the job's result is a `FileMap`.
/// Cancelling stops it between stages.
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
    let req = FileMapRequest {
        max_cells,
        umap: method == "umap",
        colour_by: color_by.filter(|c| !c.is_empty()),
    };
    let samples = state.map_samples.clone();
    Ok(state.jobs.spawn(&app, "map", move |ctx| {
        map_job(ctx, &path, &opts, &req, predictions.as_deref(), &samples)
    }))
}

/// Draws the map; keeps its cells to colour it by a gene later.
fn map_job(
    ctx: &JobCtx,
    path: &Path,
    opts: &InputOptions,
    req: &FileMapRequest,
    predictions: Option<&Path>,
    samples: &MapSamples,
) -> anyhow::Result<Outcome> {
    // Read in the job, not on the window's thread: a large dataset's
    // predictions take a while.
    let answers = predictions.map(final_answers).transpose()?;
    let progress = |stage: &str, done, total| ctx.progress(stage, done, total, None);
    match map_file(path, opts, req, answers.as_ref(), &progress, &ctx.cancel) {
        Err(c2s_eval::EvalError::Cancelled) => Ok(Outcome::Cancelled(None)),
        Err(e) => Err(e.into()),
        Ok((map, sample)) => {
            samples.put(ctx.id, Arc::new(sample));
            Ok(Outcome::Ok(JobResult::Map(map)))
        }
    }
}

/// Saves cells selected on a map under a name of the user's own (replacing
/// a selection of that name): the chat offers it as a group to ask about.
#[tauri::command]
pub fn save_selection(
    project_id: i64,
    name: String,
    cells: Vec<String>,
    state: State<'_, AppState>,
) -> CmdResult<crate::store::Selection> {
    let name = name.trim();
    if name.is_empty() || cells.is_empty() {
        return Err("Select cells on the map and give them a name.".into());
    }
    project_of(&state, project_id)?;
    let store = state.store.lock_anyway();
    store.save_selection(project_id, name, &cells).map_err(text)
}

/// The project's saved selections, oldest first.
#[tauri::command]
pub fn selections(
    project_id: i64,
    state: State<'_, AppState>,
) -> CmdResult<Vec<crate::store::Selection>> {
    state
        .store
        .lock_anyway()
        .selections(project_id)
        .map_err(text)
}

/// Puts a saved selection in Compare's comparison (beside the generated
/// cells) or takes it out.
#[tauri::command]
pub fn compare_selection(
    project_id: i64,
    id: i64,
    compared: bool,
    state: State<'_, AppState>,
) -> CmdResult<bool> {
    state
        .store
        .lock_anyway()
        .set_selection_compared(project_id, id, compared)
        .map_err(text)
}

/// Forgets a saved selection.
#[tauri::command]
pub fn delete_selection(project_id: i64, id: i64, state: State<'_, AppState>) -> CmdResult<bool> {
    state
        .store
        .lock_anyway()
        .delete_selection(project_id, id)
        .map_err(text)
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

#[tauri::command]
pub fn start_convert(
    project_id: i64,
    form: ConvertForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let project = project_of(&state, project_id)?;
    let opts = form.options().map_err(any_text)?;
    // The folder the conversion replaces (it is empty).
    let reserved = Reserved::new(Path::new(&project.folder), "dataset", None)?;
    let home = state.home.clone();
    Ok(state.jobs.spawn(&app, "convert", move |ctx| {
        convert_job(ctx, &home, &project, &form, &opts, reserved)
    }))
}

impl ConvertForm {
    fn options(&self) -> anyhow::Result<ConvertOptions> {
        Ok(ConvertOptions {
            input: self.input.options()?,
            labels: self.labels.clone(),
            stratify: self.stratify.clone().filter(|s| !s.is_empty()),
            // Replaces only the empty folder reserved for it.
            overwrite: true,
            ..ConvertOptions::default()
        })
    }
}

/// Converts the project's file into the reserved folder and adds the
/// dataset to the store.
fn convert_job(
    ctx: &JobCtx,
    home: &Path,
    project: &Project,
    form: &ConvertForm,
    opts: &ConvertOptions,
    reserved: Reserved,
) -> anyhow::Result<Outcome> {
    let out = reserved.path().to_path_buf();
    let progress = |p: c2s_data::Progress| ctx.progress(p.stage, p.done, p.total, None);
    let job = c2s_data::Job {
        progress: &progress,
        cancel: &ctx.cancel,
    };
    let source = Path::new(&project.source_path);
    let summary = match c2s_data::convert(source, &out, opts, &job) {
        Err(c2s_data::DataError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    let store = Store::open(&home.join(crate::DB_FILE))?;
    let id = store.add_dataset(
        project.id,
        &out,
        &serde_json::to_value(form)?,
        &serde_json::to_value(&summary)?,
    )?;
    Ok(Outcome::Ok(JobResult::Convert(Converted {
        dataset_id: id,
        folder: out,
        summary,
    })))
}

/// A conversion's result: the dataset in the store and what it holds.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Converted {
    #[ts(type = "number")]
    pub dataset_id: i64,
    pub folder: PathBuf,
    pub summary: c2s_data::convert::ConvertSummary,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
