//! What the commands over a dataset's cells share: which cells they read,
//! their progress bar, and the outputs they claim before working.

use std::num::NonZeroUsize;
use std::path::Path;

use anyhow::{bail, Result};
use c2s_data::dataset::SentenceRecord;
use c2s_data::split::SplitChoice;
use c2s_model::cells::CellInput;
use indicatif::{ProgressBar, ProgressStyle};

/// The records of `split`, the first `limit` of them. None is an error: a
/// job over no cells would only report an accuracy of NaN.
pub(crate) fn chosen_cells<'a>(
    records: &'a [SentenceRecord],
    split: SplitChoice,
    limit: Option<NonZeroUsize>,
    dataset: &Path,
) -> Result<Vec<&'a SentenceRecord>> {
    let mut chosen: Vec<&SentenceRecord> = records
        .iter()
        .filter(|r| split.holds(r.label("split")))
        .collect();
    if chosen.is_empty() {
        bail!(
            "{}: no cells in the {split} split\n  hint: choose another --split (train, val, test or all)",
            dataset.display()
        );
    }
    chosen.truncate(limit.map_or(usize::MAX, NonZeroUsize::get));
    Ok(chosen)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_of_no_cells_is_an_error() {
        let cell = |name: &str, split: &str| SentenceRecord {
            cell_name: name.into(),
            sentence: "CD3D".into(),
            labels: vec![("split".into(), Some(split.into()))],
            counts: None,
        };
        let records = [cell("a", "train"), cell("b", "test"), cell("c", "test")];
        let ds = Path::new("ds");
        let test = chosen_cells(&records, "test".parse().unwrap(), None, ds).unwrap();
        assert_eq!(
            test.iter().map(|r| &r.cell_name[..]).collect::<Vec<_>>(),
            ["b", "c"]
        );
        let one = chosen_cells(&records, "all".parse().unwrap(), NonZeroUsize::new(1), ds);
        assert_eq!(one.unwrap().len(), 1);
        let e = chosen_cells(&records, "val".parse().unwrap(), None, ds).unwrap_err();
        assert!(
            e.to_string().contains("ds: no cells in the val split"),
            "{e}"
        );
    }
}
