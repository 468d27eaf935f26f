//! Long work on background threads: each job gets an id, reports progress as
//! `job-progress` events and ends with one `job-done` event; `cancel` sets
//! its flag, which the engine checks between steps. The window never waits.
//! The runner knows nothing of what jobs do: the commands name their
//! results (`R`) and progress figures (`D`), as commands::JobResult and
//! commands::ProgressDetail.

use crate::LockAnyway;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

/// The `job-progress` event.
#[derive(Debug, Clone, Serialize, TS)]
pub struct JobProgress<D> {
    #[ts(type = "number")]
    pub id: u64,
    pub kind: String,
    pub stage: String,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    /// Job-specific figures (losses, tokens/s, ETA, ...).
    pub detail: Option<D>,
}

/// The `job-done` event.
#[derive(Debug, Clone, Serialize, TS)]
pub struct JobDone<R> {
    #[ts(type = "number")]
    pub id: u64,
    pub kind: String,
    pub status: JobStatus,
    /// What the job made; a cancelled job may hand over what it had.
    pub result: Option<R>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Ok,
    Cancelled,
    Failed,
}

/// What a running job can do: report progress and see a cancel.
pub struct JobCtx<D> {
    pub id: u64,
    pub kind: &'static str,
    pub cancel: Arc<AtomicBool>,
    app: AppHandle,
    last: Mutex<Instant>,
    detail: PhantomData<fn(D)>,
}

impl<D: Serialize + Clone> JobCtx<D> {
    /// Emits progress, at most every 100 ms; the last step (`done == total`)
    /// always goes out, so the bar ends full.
    pub fn progress(&self, stage: &str, done: u64, total: u64, detail: Option<D>) {
        let mut last = self.last.lock_anyway();
        if done < total && last.elapsed() < Duration::from_millis(100) {
            return;
        }
        *last = Instant::now();
        let _ = self.app.emit(
            "job-progress",
            JobProgress {
                id: self.id,
                kind: self.kind.into(),
                stage: stage.to_string(),
                done,
                total,
                detail,
            },
        );
    }

    pub fn emit<S: Serialize + Clone>(&self, event: &str, payload: S) {
        let _ = self.app.emit(event, payload);
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// How a job ended.
pub enum Outcome<R> {
    Ok(R),
    Cancelled(Option<R>),
}

#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    running: Mutex<HashMap<u64, Arc<AtomicBool>>>,
}

impl Jobs {
    /// Starts `work` on its own thread and returns the job id at once.
    pub fn spawn<R, D>(
        self: &Arc<Self>,
        app: &AppHandle,
        kind: &'static str,
        work: impl FnOnce(&JobCtx<D>) -> anyhow::Result<Outcome<R>> + Send + 'static,
    ) -> u64
    where
        R: Serialize + Clone + Send + 'static,
        D: Serialize + Clone + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.running.lock_anyway().insert(id, cancel.clone());
        let ctx = JobCtx {
            id,
            kind,
            cancel,
            app: app.clone(),
            last: Mutex::new(Instant::now() - Duration::from_secs(1)),
            detail: PhantomData,
        };
        let jobs = self.clone();
        std::thread::spawn(move || {
            // A panic in the engine is a bug, but must not take the app down.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&ctx)));
            let (status, result, error) = match r {
                Ok(Ok(Outcome::Ok(result))) => (JobStatus::Ok, Some(result), None),
                Ok(Ok(Outcome::Cancelled(result))) => (JobStatus::Cancelled, result, None),
                Ok(Err(e)) if ctx.cancelled() => {
                    (JobStatus::Cancelled, None, Some(format!("{e:#}")))
                }
                Ok(Err(e)) => {
                    tracing::warn!("job {id} ({kind}) failed: {e:#}");
                    (JobStatus::Failed, None, Some(format!("{e:#}")))
                }
                Err(_) => (
                    JobStatus::Failed,
                    None,
                    Some("an internal error stopped this job; please report it".into()),
                ),
            };
            let done = JobDone {
                id,
                kind: kind.into(),
                status,
                result,
                error,
            };
            jobs.running.lock_anyway().remove(&id);
            let _ = ctx.app.emit("job-done", done);
        });
        id
    }

    /// Asks every running job to stop and waits up to `timeout` for them to
    /// end, so a closing app leaves a training checkpoint and no partial
    /// output. Returns how many were still running at the deadline.
    pub fn stop_all(&self, timeout: Duration) -> usize {
        for flag in self.running.lock_anyway().values() {
            flag.store(true, Ordering::Relaxed);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.running.lock_anyway().len();
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks a job to stop; false if it is not running.
    pub fn cancel(&self, id: u64) -> bool {
        match self.running.lock_anyway().get(&id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}
