//! The data engine of C2S Studio: single-cell files in, cell sentences out,
//! and sentences back to expression. No machine-learning dependencies.

pub mod anndata;
pub mod annotate;
pub mod annotation_rules;
mod chunked;
pub mod common_genes;
pub mod conversion;
pub mod convert;
pub mod dataset;
pub mod error;
pub mod expression;
pub mod frame;
mod gene_names;
pub mod h5ad_writer;
mod h5util;
pub mod inspect;
pub mod inverse;
pub mod loss_log;
pub mod manifest;
pub mod markers;
pub mod matrix;
pub mod output;
pub mod pca;
pub mod predictions;
pub mod preprocess;
pub mod reconstruct;
pub(crate) mod sentence;
pub mod split;
pub mod vocabulary;

/// The seed every random choice starts from unless the user gives one (tie
/// order, splits, the fit's sample, training, sampling): the reference's 42.
pub const DEFAULT_SEED: u64 = 42;

pub use anndata::{AnnData, FileFormat, MatrixId};
pub use convert::{convert, fit_file, ConvertOptions, ConvertSummary, InputOptions, Job, Progress};
pub use error::{DataError, Result};
pub use inspect::{inspect, InputFix, Inspection, Note};
pub use vocabulary::Vocabulary;
