//! Evaluation for C2S Studio: what a model learned, in the C2S paper's
//! numbers beside baselines, and the data behind every plot.

pub mod cell_map;
pub mod classification;
pub mod clusters;
pub mod correlation;
pub mod error;
pub mod evaluate;
pub mod generated;
pub mod gw;
pub mod knn;
pub mod paired;
/// Principal components, shared with the engine's other crates.
pub use c2s_data::pca;
pub mod plots;
pub mod prediction;
pub mod profiles;
pub mod report;
pub mod umap;
pub mod voting;

pub use error::{EvalError, Result};
pub use evaluate::{evaluate, evaluate_cancellable, EvalInputs, EvalReport, NamedCells};
pub use generated::GeneratedOptions;
pub use report::write_report;
