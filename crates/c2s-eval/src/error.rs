use std::path::PathBuf;

/// What went wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{what}: {problem}\n  hint: {hint}")]
    BadInput {
        what: String,
        problem: String,
        hint: String,
    },
    #[error(transparent)]
    Data(#[from] c2s_data::DataError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing the plot `{plot}`: {problem}")]
    Plot { plot: String, problem: String },
    #[error("{0}")]
    Numeric(String),
    #[error("the evaluation was cancelled")]
    Cancelled,
}

/// Progress reports and cancellation of a long evaluation: it stops with
/// `Cancelled` at the next stage once `cancel` is set.
pub struct Stages<'a> {
    pub progress: &'a dyn Fn(&str),
    pub cancel: &'a std::sync::atomic::AtomicBool,
}

impl Stages<'_> {
    pub fn stage(&self, name: &str) -> Result<()> {
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(EvalError::Cancelled);
        }
        (self.progress)(name);
        Ok(())
    }
}

impl EvalError {
    pub fn bad(
        what: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        EvalError::BadInput {
            what: what.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, EvalError>;
