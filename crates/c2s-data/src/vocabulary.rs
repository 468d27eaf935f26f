//! The vocabulary: each gene word with the number of cells that express it, in
//! gene (column) order. Keyed by column, so genes are never merged.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::error::{DataError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    pub genes: Vec<String>,
    pub cells_expressing: Vec<u64>,
}

impl Vocabulary {
    pub fn len(&self) -> usize {
        self.genes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.genes.is_empty()
    }

    /// `GENE<TAB>count` lines, as the reference's fixtures store it.
    pub(crate) fn write_tsv(&self, w: &mut impl Write) -> std::io::Result<()> {
        for (g, c) in self.genes.iter().zip(&self.cells_expressing) {
            writeln!(w, "{g}\t{c}")?;
        }
        Ok(())
    }

    pub fn read_tsv(path: &Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut v = Vocabulary {
            genes: Vec::new(),
            cells_expressing: Vec::new(),
        };
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| DataError::io(path, e))?;
            if line.is_empty() {
                continue;
            }
            let bad = |problem: String| {
                DataError::bad(
                    path,
                    format!("line {}", i + 1),
                    problem,
                    "the vocabulary file must hold GENE<TAB>count lines, as c2s convert writes it",
                )
            };
            let Some((g, c)) = line.split_once('\t') else {
                return Err(bad(format!("`{line}` has no tab before a cell count")));
            };
            // A space would split the gene into two words of every sentence.
            if g.is_empty() || g.contains(char::is_whitespace) {
                return Err(bad(format!(
                    "`{g}` is not a gene symbol (empty or with spaces)"
                )));
            }
            let c = c
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{c}` is not a cell count")))?;
            v.genes.push(g.to_string());
            v.cells_expressing.push(c);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_named_not_read_as_genes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("vocabulary.tsv");
        let read = |text: &str| {
            std::fs::write(&p, text).unwrap();
            Vocabulary::read_tsv(&p)
        };
        let v = read("CD3D\t5\nMS4A1\t2\n").unwrap();
        assert_eq!(v.genes, ["CD3D", "MS4A1"]);
        for (text, needle) in [
            ("CD3D\t5\nMS4A1\n", "line 2: `MS4A1` has no tab"),
            (
                "CD3D\t5\nHLA DRA\t2\n",
                "line 2: `HLA DRA` is not a gene symbol",
            ),
            ("CD3D\tfive\n", "line 1: `five` is not a cell count"),
        ] {
            let err = read(text).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("vocabulary.tsv"),
                "{err}"
            );
        }
    }
}
