//! Long work on background threads: each job gets an id, reports progress as
//! `job-progress` events and ends with one `job-done` event; `cancel` sets
//! its flag, which the engine checks between steps. The window never waits.

use crate::LockAnyway;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::{AppHandle, Emitter};

#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    pub id: u64,
    pub kind: &'static str,
    pub stage: String,
    pub done: u64,
    pub total: u64,
    /// Job-specific figures (losses, tokens/s, ETA, ...).
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobDone {
    pub id: u64,
    pub kind: &'static str,
    /// ok, cancelled or failed
    pub status: &'static str,
    pub result: serde_json::Value,
    pub error: Option<String>,
}

/// What a running job can do: report progress and see a cancel.
pub struct JobCtx {
    pub id: u64,
    pub kind: &'static str,
    pub cancel: Arc<AtomicBool>,
    app: AppHandle,
    last: Mutex<Instant>,
}

impl JobCtx {
    /// Emits progress, at most every 100 ms; the last step (`done == total`)
    /// always goes out, so the bar ends full.
    pub fn progress(&self, stage: &str, done: u64, total: u64, detail: serde_json::Value) {
        let mut last = self.last.lock_anyway();
        if done < total && last.elapsed() < Duration::from_millis(100) {
            return;
        }
        *last = Instant::now();
        let _ = self.app.emit(
            "job-progress",
            JobProgress {
                id: self.id,
                kind: self.kind,
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
pub enum Outcome {
    Ok(serde_json::Value),
    Cancelled(serde_json::Value),
}

#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    running: Mutex<HashMap<u64, Arc<AtomicBool>>>,
}

impl Jobs {
    /// Starts `work` on its own thread and returns the job id at once.
    pub fn spawn(
        self: &Arc<Self>,
        app: &AppHandle,
        kind: &'static str,
        work: impl FnOnce(&JobCtx) -> anyhow::Result<Outcome> + Send + 'static,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.running.lock_anyway().insert(id, cancel.clone());
        let ctx = JobCtx {
            id,
            kind,
            cancel,
            app: app.clone(),
            last: Mutex::new(Instant::now() - Duration::from_secs(1)),
        };
        let jobs = self.clone();
        std::thread::spawn(move || {
            // A panic in the engine is a bug, but must not take the app down.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&ctx)));
            let done = match r {
                Ok(Ok(Outcome::Ok(result))) => JobDone {
                    id,
                    kind,
                    status: "ok",
                    result,
                    error: None,
                },
                Ok(Ok(Outcome::Cancelled(result))) => JobDone {
                    id,
                    kind,
                    status: "cancelled",
                    result,
                    error: None,
                },
                Ok(Err(e)) if ctx.cancelled() => JobDone {
                    id,
                    kind,
                    status: "cancelled",
                    result: serde_json::Value::Null,
                    error: Some(format!("{e:#}")),
                },
                Ok(Err(e)) => {
                    tracing::warn!("job {id} ({kind}) failed: {e:#}");
                    JobDone {
                        id,
                        kind,
                        status: "failed",
                        result: serde_json::Value::Null,
                        error: Some(format!("{e:#}")),
                    }
                }
                Err(_) => JobDone {
                    id,
                    kind,
                    status: "failed",
                    result: serde_json::Value::Null,
                    error: Some("an internal error stopped this job; please report it".into()),
                },
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
