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
    pub fn write_tsv(&self, w: &mut impl Write) -> std::io::Result<()> {
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
            let (g, c) = line.split_once('\t').unwrap_or((line.as_str(), "0"));
            let c = c.trim().parse().map_err(|_| {
                DataError::bad(
                    path,
                    format!("line {}", i + 1),
                    format!("`{c}` is not a cell count"),
                    "the vocabulary file must hold GENE<TAB>count lines",
                )
            })?;
            v.genes.push(g.to_string());
            v.cells_expressing.push(c);
        }
        Ok(v)
    }
}
