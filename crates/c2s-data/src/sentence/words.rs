//! Gene names as the words of sentences: checked, upper-cased, made
//! unique, and laid out for fast writing.

use std::collections::HashSet;
use std::path::Path;

use super::rank::stable_hash;
use crate::anndata::{make_unique, AnnData, MatrixId};
use crate::error::{DataError, Result};

/// Gene words laid out for writing sentences: each word and the space after
/// it sit in a 16-byte slot, so appending a word is one fixed-size copy
/// rather than a call to memcpy (a sentence has hundreds to thousands of
/// words). Longer words take the ordinary path.
pub struct WordTable {
    slots: Vec<[u8; 16]>,
    /// Word length plus the space; more than 16 means the word is long.
    /// A byte each, so the table of a whole genome stays in cache.
    lens: Vec<u8>,
    words: Vec<Box<[u8]>>,
    json_plain: bool,
}

impl WordTable {
    pub fn new(words: &[String]) -> Self {
        let mut slots = vec![[0u8; 16]; words.len()];
        for (slot, w) in slots.iter_mut().zip(words) {
            if w.len() < 16 {
                slot[..w.len()].copy_from_slice(w.as_bytes());
                slot[w.len()] = b' ';
            }
        }
        WordTable {
            slots,
            lens: words.iter().map(|w| (w.len() + 1).min(255) as u8).collect(),
            // Only long words are kept apart (an empty box does not allocate).
            words: words
                .iter()
                .map(|w| {
                    if w.len() < 16 {
                        Box::default()
                    } else {
                        w.as_bytes().into()
                    }
                })
                .collect(),
            json_plain: words
                .iter()
                .all(|w| w.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')),
        }
    }

    /// True when no word needs escaping in a JSON string.
    pub fn json_plain(&self) -> bool {
        self.json_plain
    }

    /// Appends the words of `genes` to `out`, separated by single spaces.
    /// Returns how many words it wrote.
    #[inline]
    pub fn write(&self, genes: impl Iterator<Item = u32>, out: &mut Vec<u8>) -> usize {
        out.reserve(genes.size_hint().0 * 16);
        let mut n = 0;
        for j in genes {
            let j = j as usize;
            let len = self.lens[j] as usize;
            if len <= 16 && out.capacity() - out.len() >= 16 {
                let end = out.len();
                // SAFETY: the 16 bytes fit the spare capacity (checked just
                // above), and the length grows by `len` <= 16 of them, all
                // written. extend_from_slice then truncate, the safe way,
                // took twice as long: it grows and shrinks the length per word.
                unsafe {
                    let dst = out.as_mut_ptr().add(end);
                    std::ptr::copy_nonoverlapping(self.slots[j].as_ptr(), dst, 16);
                    out.set_len(end + len);
                }
            } else if len <= 16 {
                out.extend_from_slice(&self.slots[j][..len]);
            } else {
                out.extend_from_slice(&self.words[j]);
                out.push(b' ');
            }
            n += 1;
        }
        if n > 0 {
            out.pop(); // the last space
        }
        n
    }
}

/// The words used for genes: upper-cased names from var_names or a var column.
#[derive(Debug, Clone)]
pub struct GeneWords {
    pub words: Vec<String>,
    /// Where the names came from ("var_names" or the column).
    pub source: String,
    /// Names that differed only in case and got a suffix to stay apart.
    pub case_collisions: Vec<String>,
    /// "human", "mouse" or "unknown", guessed from the names' case before
    /// upper-casing (sentences cannot tell them apart afterwards).
    pub species: String,
}

impl GeneWords {
    /// Per-gene tie-break keys.
    pub fn keys(&self, seed: u64) -> Vec<u64> {
        self.words
            .iter()
            .map(|w| stable_hash(seed, w.as_bytes()))
            .collect()
    }
}

pub fn gene_words(
    ad: &AnnData,
    matrix: &MatrixId,
    column: Option<&str>,
    unique: bool,
) -> Result<GeneWords> {
    let var = ad.var_for(matrix);
    let var_field = if *matrix == MatrixId::Raw {
        "raw/var"
    } else {
        "var"
    };
    // The column's text, or var_names borrowed as they are (tens of
    // thousands of names: copying them was a third of this function's time).
    let (texts, source): (Option<Vec<Option<String>>>, String) = match column {
        None => (None, "var_names".into()),
        Some(c) => {
            let col = var.column(c).ok_or_else(|| {
                DataError::bad(
                    &ad.path,
                    format!("{var_field}/{c}"),
                    format!("there is no gene column `{c}`"),
                    format!("choose one of: {}", var.column_names().join(", ")),
                )
            })?;
            (Some(col.data.texts()), c.to_string())
        }
    };
    let raw: Vec<Option<&str>> = match &texts {
        None => var.index.iter().map(|s| Some(s.as_str())).collect(),
        Some(t) => t.iter().map(|s| s.as_deref()).collect(),
    };
    let names = checked_names(raw, &ad.path, &format!("{var_field}/{source}"))?;
    let dups = repeated(&names);
    let unique_names;
    let names: Vec<&str> = if dups.is_empty() {
        names
    } else if unique {
        let owned: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        unique_names = make_unique(&owned).0;
        unique_names.iter().map(String::as_str).collect()
    } else {
        let mut d: Vec<&str> = dups.clone();
        d.dedup();
        return Err(DataError::bad(
            &ad.path,
            format!("{var_field}/{source}"),
            format!(
                "{} gene names occur more than once (e.g. {})",
                dups.len(),
                d.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ),
            "add --make-unique to suffix repeated names as scanpy's var_names_make_unique does, or choose another gene column",
        ));
    };
    let sample: Vec<String> = names.iter().take(5000).map(|s| s.to_string()).collect();
    let species = crate::gene_names::guess_species(&sample).to_string();
    let (words, case_collisions) = upper_case_words(&names);
    Ok(GeneWords {
        words,
        source,
        case_collisions,
        species,
    })
}

/// The genes' names, trimmed, checked: each gene has one, and none holds a
/// space, tab or line break. `field` names where they come from.
fn checked_names<'a>(raw: Vec<Option<&'a str>>, path: &Path, field: &str) -> Result<Vec<&'a str>> {
    let missing: Vec<usize> = raw
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none_or(|s| s.trim().is_empty()))
        .map(|(i, _)| i)
        .collect();
    if !missing.is_empty() {
        return Err(DataError::bad(
            path,
            field,
            format!("{} genes have no name (first at position {})", missing.len(), missing[0]),
            "choose a gene column where every gene has a name (--gene-column), or fill in the names",
        ));
    }
    let names: Vec<&str> = raw
        .into_iter()
        .map(|s| s.unwrap_or_default().trim())
        .collect();
    // Words are split on spaces, and files on tabs and newlines: such a name
    // would become several genes and break the vocabulary file.
    if let Some((i, n)) = names
        .iter()
        .enumerate()
        .find(|(_, n)| n.contains(char::is_whitespace))
    {
        return Err(DataError::bad(
            path,
            field,
            format!("the gene name {n:?} (position {i}) holds a space, tab or line break"),
            "choose a gene column of plain symbols (--gene-column), or replace the spaces (e.g. with '-') in anndata",
        ));
    }
    Ok(names)
}

/// The names upper-cased as words, and the words suffixed to keep apart
/// names that only case told apart.
fn upper_case_words(names: &[&str]) -> (Vec<String>, Vec<String>) {
    // Upper-casing may make distinct names equal (e.g. C1orf220 and C1ORF220):
    // keep them apart by column with a suffix rather than merging them silently.
    let upper: Vec<String> = names
        .iter()
        .map(|s| {
            if s.is_ascii() {
                s.to_ascii_uppercase() // the same result, several times faster
            } else {
                s.to_uppercase()
            }
        })
        .collect();
    let upper_refs: Vec<&str> = upper.iter().map(String::as_str).collect();
    if repeated(&upper_refs).is_empty() {
        (upper, Vec::new())
    } else {
        make_unique(&upper)
    }
}

/// The names that occur again after their first occurrence, in order.
fn repeated<'a>(names: &[&'a str]) -> Vec<&'a str> {
    // foldhash rather than std's SipHash, whose guard against crafted keys
    // buys nothing for the user's own gene names: hashing them with it was
    // most of this function's time.
    let mut seen: HashSet<&str, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(names.len(), Default::default());
    names.iter().copied().filter(|n| !seen.insert(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_table_writes_words_joined_by_spaces() {
        let words: Vec<String> = [
            "CD3D",
            "",
            "FIFTEEN-LETTERS",  // 15 bytes: the space fills the slot
            "SIXTEEN-LETTERS1", // 16 bytes: the long path
            "A-MUCH-LONGER-GENE-NAME-THAN-A-SLOT",
            "ÄNDERUNG",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let t = WordTable::new(&words);
        for order in [
            vec![0u32, 2, 3, 4, 5],
            vec![4, 3, 2, 0],
            vec![3],
            vec![1, 0],
            vec![],
        ] {
            let expected: Vec<&str> = order.iter().map(|&j| words[j as usize].as_str()).collect();
            let expected = format!("prefix\n{}", expected.join(" "));
            let mut out = b"prefix\n".to_vec();
            let n = t.write(order.iter().copied(), &mut out);
            assert_eq!(n, order.len());
            assert_eq!(String::from_utf8(out).unwrap(), expected);
            // Without a size hint there is no room reserved up front: the
            // words that do not fit a slot's spare room take the safe path.
            let mut out = Vec::with_capacity(10);
            out.extend_from_slice(b"prefix\n");
            t.write(order.iter().copied().filter(|_| true), &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
        assert!(t.json_plain());
        assert!(!WordTable::new(&["A\"B".to_string()]).json_plain());
        assert!(!WordTable::new(&["TAB\tX".to_string()]).json_plain());
    }
}
