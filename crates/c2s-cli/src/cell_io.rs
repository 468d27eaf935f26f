//! What the commands over a dataset's cells share: which cells they read,
//! their progress bar, and the outputs they claim before working.

use std::path::Path;

use anyhow::Result;
use c2s_data::dataset::SentenceRecord;
use c2s_model::cells::CellInput;
use indicatif::{ProgressBar, ProgressStyle};

/// The records of `split` ("all": every cell).
pub(crate) fn chosen_cells<'a>(
    records: &'a [SentenceRecord],
    split: &str,
) -> Vec<&'a SentenceRecord> {
    records
        .iter()
        .filter(|r| split == "all" || r.label("split") == Some(split))
        .collect()
}

/// The chosen records as cells to work on.
pub(crate) fn inputs<'a>(records: &[&'a SentenceRecord]) -> Vec<CellInput<'a>> {
    records.iter().map(|r| CellInput::of(r)).collect()
}

/// A progress bar over cells: "VERB [=====>   ] 12/264 cells (ETA 3s)".
pub(crate) fn cell_bar(verb: &str, cells: u64) -> ProgressBar {
    let pb = ProgressBar::new(cells);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{verb} [{{bar:30}}] {{pos}}/{{len}} cells (ETA {{eta}})"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    pb
}

/// Claims an optional file output for the whole job: a second job writing
/// it is refused, and an existing file is replaced only with `force`.
pub(crate) fn claim_output(
    out: Option<&Path>,
    force: bool,
) -> Result<Option<c2s_data::output::Claim>> {
    Ok(out
        .map(|o| c2s_data::output::claim_file_output(o, force))
        .transpose()?)
}
