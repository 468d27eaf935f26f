//! Train screen: presets, estimates, starting, resuming and stopping runs, and
//! the loss curve.

use super::*;

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
    /// Also read the training cells as if sequenced less deeply.
    #[serde(default)]
    pub thinning: bool,
    /// Leave out the genes nearly every cell starts with (at the engine's
    /// share).
    #[serde(default)]
    pub skip_common_genes: bool,
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
    // Hub id (the Models screen downloads models) nor a path the page made up.
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
    r.thinning = f.thinning;
    r.skip_common_genes = f
        .skip_common_genes
        .then_some(c2s_data::common_genes::CommonGenes::DEFAULT_SHARE);
    Ok(r)
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
    let e = p.calibrated_estimate(&run_paces(&state)?).map_err(text)?;
    Ok(Estimate::of(&p, e))
}

impl Estimate {
    fn of(
        p: &c2s_model::train_dataset::PreparedTraining,
        e: c2s_model::train_dataset::CalibratedEstimate,
    ) -> Self {
        let (layers, width) = p.model_shape();
        Estimate {
            seconds: e.seconds,
            timed_seconds: e.timed_seconds,
            calibration: e.calibration,
            total_steps: p.total_steps(),
            train_cells: p.train_cells.len(),
            device: p.device_name.clone(),
            layers,
            width,
        }
    }
}

/// How fast the finished runs in the store trained, to calibrate estimates.
fn run_paces(state: &AppState) -> CmdResult<Vec<RunPace>> {
    let runs = state.store.lock_anyway().finished_runs().map_err(text)?;
    Ok(runs
        .into_iter()
        .filter_map(|r| {
            let request: TrainRequest = serde_json::from_value(r.request).ok()?;
            let summary: TrainSummary = serde_json::from_value(r.summary?).ok()?;
            RunPace::of(&request, &summary)
        })
        .collect())
}

/// A training job's figures at a step (none yet while it starts).
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct TrainingFigures {
    pub device: String,
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub eta_s: Option<f64>,
    pub epoch: Option<f64>,
    pub lr: Option<f64>,
    /// The latest count of unseen cells named right, and its step.
    pub held_out: Option<HeldOutFigure>,
}

#[derive(Debug, Clone, Copy, Serialize, ts_rs::TS)]
pub struct HeldOutFigure {
    pub step: usize,
    pub cells: usize,
    pub right: usize,
}

/// A training job's result: the run in the store and how it went.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Trained {
    #[ts(type = "number")]
    pub run_id: i64,
    pub summary: TrainSummary,
}

fn spawn_training(app: &AppHandle, state: &AppState, run_id: i64, req: TrainRequest) -> u64 {
    let home = state.home.clone();
    let discarded = state.discarded.clone();
    state.jobs.spawn(app, "train", move |ctx| {
        let store = Store::open(&home.join(crate::DB_FILE))?;
        let fail = |e: anyhow::Error| {
            let _ =
                store.set_run_status(run_id, "failed", Some(&json!({"error": format!("{e:#}")})));
            e
        };
        let prepared = prepare_training(&req).map_err(|e| fail(e.into()))?;
        let starting = TrainingFigures {
            device: prepared.device_name.clone(),
            ..Default::default()
        };
        ctx.progress(
            "starting",
            0,
            prepared.total_steps() as u64,
            Some(ProgressDetail::Training(starting)),
        );
        store.set_run_status(run_id, "running", None)?;
        let device = prepared.device_name.clone();
        let last_saved = Mutex::new(std::time::Instant::now());
        // The latest held-out figure rides on every event, so a throttled
        // event cannot lose it.
        let held_out = Mutex::new(None);
        let report = |p: &c2s_model::train::TrainProgress| {
            if let Some(h) = p.held_out {
                *held_out.lock_anyway() = Some(HeldOutFigure {
                    step: p.step,
                    cells: h.cells,
                    right: h.right,
                });
            }
            let figures = TrainingFigures {
                device: device.clone(),
                train_loss: Some(p.train_loss),
                val_loss: p.val_loss,
                tokens_per_s: Some(p.tokens_per_s),
                eta_s: Some(p.eta_s),
                epoch: Some(p.epoch),
                lr: Some(p.lr),
                held_out: *held_out.lock_anyway(),
            };
            ctx.progress(
                "training",
                p.step as u64,
                p.total_steps as u64,
                Some(ProgressDetail::Training(figures)),
            );
            let mut t = last_saved.lock_anyway();
            if t.elapsed().as_secs_f64() > 2.0 || p.step == p.total_steps {
                *t = std::time::Instant::now();
                let _ = store.set_run_progress(run_id, p.step, p.total_steps);
            }
        };
        let s = prepared
            .run(&report, &ctx.cancel)
            .map_err(|e| fail(e.into()))?;
        store.set_run_progress(run_id, s.steps, s.total_steps)?;
        let summary = serde_json::to_value(&s)?;
        if s.cancelled {
            let status = if discarded.lock_anyway().remove(&run_id) {
                "cancelled"
            } else {
                "paused"
            };
            store.set_run_status(run_id, status, Some(&summary))?;
            Ok(Outcome::Cancelled(Some(JobResult::Train(Trained {
                run_id,
                summary: s,
            }))))
        } else {
            store.set_run_status(run_id, "finished", Some(&summary))?;
            Ok(Outcome::Ok(JobResult::Train(Trained {
                run_id,
                summary: s,
            })))
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
    let (run_id, req) = add_run(&state, project_id, dataset_id, &form)?;
    let folder = req.output.to_string_lossy().into();
    let job_id = spawn_training(&app, &state, run_id, req);
    Ok(Started {
        job_id,
        run_id,
        folder,
    })
}

/// A new run of the project in the store, with its folder and request.
fn add_run(
    state: &AppState,
    project_id: i64,
    dataset_id: i64,
    form: &TrainForm,
) -> CmdResult<(i64, TrainRequest)> {
    let project = project_of(state, project_id)?;
    let ds = dataset_folder(state, project_id, dataset_id)?;
    let reserved = Reserved::new(&Path::new(&project.folder).join("runs"), "run", None)?;
    let req = train_request(state, &ds, reserved.path(), form).map_err(any_text)?;
    let request = serde_json::to_value(&req).map_err(text)?;
    let store = state.store.lock_anyway();
    let run_id = store
        .add_run(project_id, Some(dataset_id), reserved.path(), &request)
        .map_err(text)?;
    // The run's record points to the folder now: kept even while empty.
    reserved.keep();
    Ok((run_id, req))
}

/// Continues a paused or interrupted run from its last checkpoint.
#[tauri::command]
pub fn resume_training(
    run_id: i64,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<Started> {
    let run = state.store.lock_anyway().run(run_id).map_err(text)?;
    let stored = serde_json::from_value(run.request.clone()).ok();
    let req = TrainRequest::to_resume(Path::new(&run.folder), stored).map_err(text)?;
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

/// Loss curve points of a run so far.
#[tauri::command(async)]
pub fn loss_curve(
    run_id: i64,
    state: State<'_, AppState>,
) -> CmdResult<c2s_eval::evaluate::LossCurve> {
    let run = state.store.lock_anyway().run(run_id).map_err(text)?;
    let path = Path::new(&run.folder).join(c2s_model::train::LOSS_LOG);
    if !path.exists() {
        return Ok(c2s_eval::evaluate::LossCurve {
            train: vec![],
            validation: vec![],
        });
    }
    c2s_eval::evaluate::read_loss_curve(&path).map_err(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_engines_request() {
        let t = tempfile::tempdir().unwrap();
        let state = crate::commands::access::tests::state(t.path(), None);
        let form: TrainForm = serde_json::from_value(serde_json::json!({
            "preset": "quick", "tasks": [], "epochs": 10.0, "seed": 7, "thinning": true,
            "skip_common_genes": true
        }))
        .unwrap();
        let r = train_request(&state, Path::new("ds"), Path::new("run"), &form).unwrap();
        assert_eq!((r.epochs, r.seed, r.thinning), (Some(10.0), 7, true));
        assert_eq!(
            r.skip_common_genes,
            Some(c2s_data::common_genes::CommonGenes::DEFAULT_SHARE)
        );
        assert_eq!(r.tasks, None, "no tasks chosen: the preset's");
        // A form without the field (an older page) reads the cells as they are.
        let plain: TrainForm =
            serde_json::from_value(serde_json::json!({"preset": "quick"})).unwrap();
        let r = train_request(&state, Path::new("ds"), Path::new("run"), &plain).unwrap();
        assert!(!r.thinning);
        assert_eq!(r.skip_common_genes, None);
    }
}
