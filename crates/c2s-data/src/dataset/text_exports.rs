//! The plain copies of the sentences beside the Parquet file:
//! sentences.jsonl (one JSON object a cell) and sentences.txt (one sentence a
//! line), written from the bytes the conversion's workers rendered.

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

use super::output_file::{write_all_slices, OutputFile};
use super::{SENTENCES_JSONL, SENTENCES_TXT};
use crate::error::{DataError, Result};

/// A JSONL record's sentence: written into the record, or left out so the
/// writer gathers it from the text export's buffer rather than a copy.
pub(crate) enum JsonlSentence<'a> {
    /// `plain` says it needs no escaping (known from its words). It comes
    /// as bytes, gene words joined by spaces, so the plain case is a copy
    /// without a UTF-8 check.
    Inline { bytes: &'a [u8], plain: bool },
    /// A plain sentence that goes at the returned offset, between the quotes.
    Gap,
}

/// Renders one JSONL record (`cell_name`, `cell_sentence`, `n_genes`, `split`,
/// labels) into `out`. `label_keys` are the label names, already JSON-quoted.
/// Returns where in `out` the sentence's text starts (for a gap: belongs).
#[allow(clippy::too_many_arguments)]
pub(crate) fn render_jsonl(
    out: &mut Vec<u8>,
    cell_name: &str,
    sentence: JsonlSentence,
    n_genes: i32,
    split: &str,
    label_keys: &[String],
    labels: impl Iterator<Item = Option<String>>,
) -> usize {
    let string = |out: &mut Vec<u8>, s: &str| {
        // Sentences seldom need escaping; a plain scan is several times faster
        // than serde_json's byte-by-byte escaper, and writes the same bytes.
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        } else {
            serde_json::to_writer(&mut *out, s).expect("writing to memory")
        }
    };
    out.extend_from_slice(b"{\"cell_name\":");
    string(out, cell_name);
    out.extend_from_slice(b",\"cell_sentence\":");
    let at = out.len() + 1;
    match sentence {
        JsonlSentence::Inline { bytes, plain: true } => {
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        JsonlSentence::Inline {
            bytes,
            plain: false,
        } => {
            string(out, &String::from_utf8_lossy(bytes));
        }
        JsonlSentence::Gap => out.extend_from_slice(b"\"\""),
    }
    // Into a Vec, which cannot fail.
    let _ = write!(out, ",\"n_genes\":{n_genes},\"split\":\"{split}\"");
    for (key, value) in label_keys.iter().zip(labels) {
        out.push(b',');
        out.extend_from_slice(key.as_bytes());
        out.push(b':');
        match value {
            Some(v) => string(out, &v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"}\n");
    at
}

/// Which plain exports to write beside the Parquet file.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Exports {
    pub jsonl: bool,
    pub text: bool,
}

impl Default for Exports {
    fn default() -> Self {
        Exports {
            jsonl: true,
            text: true,
        }
    }
}

/// Streams the JSONL and plain-text exports (bytes already rendered).
/// Unbuffered: the pieces come a few hundred kilobytes at a time, and a
/// buffer would only copy them once more.
pub(crate) struct PlainExports {
    dir: PathBuf,
    jsonl: Option<OutputFile>,
    text: Option<OutputFile>,
}

impl PlainExports {
    pub fn create(dir: &Path, exports: Exports) -> Result<Self> {
        Ok(PlainExports {
            dir: dir.to_path_buf(),
            jsonl: if exports.jsonl {
                Some(OutputFile::create(&dir.join(SENTENCES_JSONL))?)
            } else {
                None
            },
            text: if exports.text {
                Some(OutputFile::create(&dir.join(SENTENCES_TXT))?)
            } else {
                None
            },
        })
    }

    /// Appends records and sentences. `values` holds sentences in Parquet's
    /// PLAIN layout ([`start_plain_value`]), sentence i ending at `ends[i]`.
    /// `jsonl` holds whole records, or, if `gaps` is not empty, records with
    /// a gap for sentence i at `gaps[i]`, filled from `values` as they are
    /// written.
    pub fn write(
        &mut self,
        jsonl: &[u8],
        gaps: &[usize],
        values: &[u8],
        ends: &[usize],
    ) -> Result<()> {
        // Sentence i starts 4 bytes (its length) after sentence i - 1 ends.
        let sentences = || {
            let mut start = 4;
            ends.iter().map(move |&end| {
                let s = &values[start..end];
                start = end + 4;
                s
            })
        };
        if let Some(w) = &mut self.jsonl {
            let written = if gaps.is_empty() {
                w.write_all(jsonl)
            } else {
                let mut slices = Vec::with_capacity(2 * gaps.len() + 1);
                let mut at = 0;
                for (&gap, sentence) in gaps.iter().zip(sentences()) {
                    slices.push(IoSlice::new(&jsonl[at..gap]));
                    slices.push(IoSlice::new(sentence));
                    at = gap;
                }
                slices.push(IoSlice::new(&jsonl[at..]));
                write_all_slices(w, &mut slices)
            };
            written.map_err(|e| DataError::io(self.dir.join(SENTENCES_JSONL), e))?;
        }
        if let Some(w) = &mut self.text {
            let mut slices = Vec::with_capacity(2 * ends.len());
            for sentence in sentences() {
                slices.push(IoSlice::new(sentence));
                slices.push(IoSlice::new(b"\n"));
            }
            write_all_slices(w, &mut slices)
                .map_err(|e| DataError::io(self.dir.join(SENTENCES_TXT), e))?;
        }
        Ok(())
    }

    /// Ends both files.
    pub fn finish(self) -> Result<()> {
        for (file, name) in [(self.jsonl, SENTENCES_JSONL), (self.text, SENTENCES_TXT)] {
            if let Some(f) = file {
                f.finish()
                    .map_err(|e| DataError::io(self.dir.join(name), e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_escape_what_json_needs_and_nothing_else() {
        for name in [
            "AAAC-1",
            "cell \"7\"",
            "back\\slash",
            "tab\there",
            "Zellé-ß",
            "\u{1}",
        ] {
            let mut out = Vec::new();
            render_jsonl(
                &mut out,
                name,
                JsonlSentence::Inline {
                    bytes: b"CD3D MT-CO1",
                    plain: true,
                },
                2,
                "train",
                &["\"cell_type\"".to_string()],
                [Some("T \"cell\"".to_string())].into_iter(),
            );
            let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(v["cell_name"], name);
            assert_eq!(v["cell_sentence"], "CD3D MT-CO1");
            assert_eq!(v["cell_type"], "T \"cell\"");
            // Byte for byte what serde_json writes.
            let expected = serde_json::to_string(name).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.starts_with(&format!("{{\"cell_name\":{expected},")),
                "{text}"
            );
        }
        // A sentence whose words need escaping is escaped when not marked plain.
        let mut out = Vec::new();
        render_jsonl(
            &mut out,
            "c",
            JsonlSentence::Inline {
                bytes: b"A\"B C\\D",
                plain: false,
            },
            2,
            "val",
            &[],
            std::iter::empty(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["cell_sentence"], "A\"B C\\D");
    }
}
