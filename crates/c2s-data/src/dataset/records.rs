//! Reading sentences back: a dataset folder, or a loose .parquet, .jsonl or
//! text file.

use std::fs::File;
use std::path::Path;

use super::{COUNTS_COLUMN, MANIFEST_JSON, SENTENCES_PARQUET};
use crate::error::{DataError, Result};

/// A sentence read back with its cell name and labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SentenceRecord {
    pub cell_name: String,
    pub sentence: String,
    pub labels: Vec<(String, Option<String>)>,
    /// Each sentence gene's raw count, where the dataset keeps them and
    /// they were asked for ([`read_dataset_with_counts`]).
    pub counts: Option<Vec<u32>>,
}

impl SentenceRecord {
    /// The value of the label column `name` (the split is one: "split").
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.0 == name)
            .and_then(|l| l.1.as_deref())
    }
}

/// The label column used when none is named: the dataset's first (the
/// split aside), as converted; None when it has no label column.
pub fn default_label_column(records: &[SentenceRecord]) -> Option<String> {
    records
        .first()
        .and_then(|r| {
            r.labels
                .iter()
                .map(|(k, _)| k)
                .find(|k| k.as_str() != "split")
        })
        .cloned()
}

/// Each label column of the records (the split aside) with its values and
/// how many cells have each, commonest first: the groups a screen offers.
pub fn label_values(
    records: &[SentenceRecord],
) -> std::collections::BTreeMap<String, Vec<(String, usize)>> {
    let mut tally: std::collections::BTreeMap<String, std::collections::HashMap<&str, usize>> =
        Default::default();
    for r in records {
        for (column, value) in &r.labels {
            if column == "split" {
                continue;
            }
            let t = tally.entry(column.clone()).or_default();
            if let Some(v) = value {
                *t.entry(v).or_default() += 1;
            }
        }
    }
    tally
        .into_iter()
        .map(|(column, counts)| {
            let mut v: Vec<(String, usize)> = counts
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (column, v)
        })
        .collect()
}

/// The cells of a dataset folder written by `c2s convert`. Unlike
/// [`read_sentences`], a loose sentence file is refused: training and
/// prediction need the folder's splits, labels and vocabulary, and a file
/// read in its place would give "no label column" or "0 cells".
pub fn read_dataset(dir: &Path) -> Result<Vec<SentenceRecord>> {
    check_dataset_folder(dir)?;
    read_parquet(&dir.join(SENTENCES_PARQUET), false)
}

/// [`read_dataset`] with each sentence's raw counts where the dataset keeps
/// them (the `counts` column, written for a matrix of raw counts).
pub fn read_dataset_with_counts(dir: &Path) -> Result<Vec<SentenceRecord>> {
    check_dataset_folder(dir)?;
    read_parquet(&dir.join(SENTENCES_PARQUET), true)
}

fn check_dataset_folder(dir: &Path) -> Result<()> {
    if !dir.join(MANIFEST_JSON).is_file() {
        let problem = if dir.is_dir() {
            "not a dataset folder made by c2s convert (no manifest.json)"
        } else if dir.exists() {
            "this is a file; a dataset folder made by c2s convert is needed"
        } else {
            "no such dataset folder"
        };
        return Err(DataError::bad(
            dir,
            "dataset",
            problem,
            "convert the .h5ad file first (c2s convert FILE -o FOLDER) and give that folder",
        ));
    }
    Ok(())
}

/// Reads sentences from a dataset directory (its Parquet file), a .parquet,
/// a .jsonl (field `cell_sentence`, other text fields kept as labels) or a
/// text file with one sentence per line.
pub fn read_sentences(path: &Path) -> Result<Vec<SentenceRecord>> {
    let path_buf;
    let path = if path.is_dir() {
        path_buf = path.join(SENTENCES_PARQUET);
        path_buf.as_path()
    } else {
        path
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "parquet" => read_parquet(path, false),
        "jsonl" | "json" => read_jsonl(path),
        _ => {
            let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
            Ok(text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| SentenceRecord {
                    cell_name: format!("cell_{i}"),
                    sentence: l.to_string(),
                    ..Default::default()
                })
                .collect())
        }
    }
}

/// Each non-blank line of a JSON lines file as a `T`, with its index; a
/// line that is not one is an error naming it as `what` ("a prediction
/// record"), with `hint`. Every JSON lines file c2s reads goes through here.
pub(crate) fn read_json_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    hint: &str,
) -> Result<Vec<(usize, T)>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v = serde_json::from_str(l).map_err(|e| {
                DataError::bad(
                    path,
                    format!("line {}", i + 1),
                    format!("not {what}: {e}"),
                    hint,
                )
            })?;
            Ok((i, v))
        })
        .collect()
}

fn read_jsonl(path: &Path) -> Result<Vec<SentenceRecord>> {
    let lines: Vec<(usize, serde_json::Map<String, serde_json::Value>)> = read_json_lines(
        path,
        "a JSON object",
        "each line must be a JSON object with a `cell_sentence` field",
    )?;
    let mut out = Vec::new();
    for (i, v) in lines {
        let sentence = v
            .get("cell_sentence")
            .and_then(|s| s.as_str())
            .ok_or_else(|| {
                DataError::bad(
                    path,
                    format!("line {}: cell_sentence", i + 1),
                    "no `cell_sentence` text field",
                    "each line must hold a `cell_sentence` field",
                )
            })?;
        let cell_name = v
            .get("cell_name")
            .and_then(|s| s.as_str())
            .map_or_else(|| format!("cell_{i}"), str::to_string);
        let labels = v
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "cell_sentence" | "cell_name" | "n_genes"))
            .filter_map(|(k, val)| match val {
                serde_json::Value::String(s) => Some((k.clone(), Some(s.clone()))),
                serde_json::Value::Null => Some((k.clone(), None)),
                _ => None,
            })
            .collect();
        out.push(SentenceRecord {
            cell_name,
            sentence: sentence.to_string(),
            labels,
            counts: None,
        });
    }
    Ok(out)
}

/// Reads a sentences Parquet file; the counts column, the largest, is
/// decoded only when asked for.
pub(super) fn read_parquet(path: &Path, with_counts: bool) -> Result<Vec<SentenceRecord>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, ListAccessor};
    use parquet::schema::types::Type;
    let pq_err = |e| crate::error::parquet_read(path, e);
    let f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(f).map_err(pq_err)?;
    let schema = reader.metadata().file_metadata().schema();
    let projection = (!with_counts
        && schema
            .get_fields()
            .iter()
            .any(|f| f.name() == COUNTS_COLUMN))
    .then(|| {
        let fields = schema
            .get_fields()
            .iter()
            .filter(|f| f.name() != COUNTS_COLUMN)
            .cloned()
            .collect();
        Type::group_type_builder(schema.name())
            .with_fields(fields)
            .build()
    })
    .transpose()
    .map_err(pq_err)?;
    let mut out = Vec::new();
    for row in reader.get_row_iter(projection).map_err(pq_err)? {
        let row = row.map_err(pq_err)?;
        let mut rec = SentenceRecord::default();
        for (name, field) in row.get_column_iter() {
            let text = match field {
                Field::Str(s) => Some(s.clone()),
                _ => None,
            };
            match name.as_str() {
                "cell_name" => rec.cell_name = text.unwrap_or_default(),
                "cell_sentence" => rec.sentence = text.unwrap_or_default(),
                "n_genes" => {}
                COUNTS_COLUMN => {
                    if let Field::ListInternal(list) = field {
                        let counts = (0..list.len())
                            .map(|i| list.get_int(i).map(|c| c.max(0) as u32))
                            .collect::<std::result::Result<Vec<u32>, _>>()
                            .map_err(pq_err)?;
                        rec.counts = Some(counts);
                    }
                }
                _ if matches!(field, Field::Str(_) | Field::Null) => {
                    rec.labels.push((name.clone(), text))
                }
                _ => {}
            }
        }
        // Training thins each gene by its count: a list that does not match
        // its sentence (another tool's file) would pair genes with others'
        // counts.
        if let Some(c) = &rec.counts {
            let genes = rec.sentence.split_whitespace().count();
            if c.len() != genes {
                return Err(DataError::bad(
                    path,
                    COUNTS_COLUMN,
                    format!(
                        "cell {}: {} counts for a sentence of {genes} genes",
                        rec.cell_name,
                        c.len()
                    ),
                    "convert the .h5ad again with `c2s convert`, which writes one count per sentence gene",
                ));
            }
        }
        out.push(rec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_count_each_column_commonest_first() {
        let rec = |t: Option<&str>, s: &str| SentenceRecord {
            cell_name: "c".into(),
            sentence: "A".into(),
            labels: vec![
                ("cell_type".into(), t.map(str::to_string)),
                ("split".into(), Some(s.into())),
            ],
            counts: None,
        };
        let v = label_values(&[
            rec(Some("T"), "train"),
            rec(Some("B"), "test"),
            rec(Some("T"), "train"),
            rec(None, "val"),
        ]);
        assert_eq!(v.len(), 1, "the split is not a group column");
        assert_eq!(v["cell_type"], [("T".to_string(), 2), ("B".to_string(), 1)]);
    }
}
