//! Cell sentences: a cell's expressed genes ordered by expression, highest first.
//!
//! Ties are broken by a key hashed from (seed, cell name, gene name), so a cell's
//! sentence depends only on that cell: not on row order, other rows or threads
//! (the reference shuffles with a global RNG, so a tie's order depends on every
//! earlier row).
//!
//! `rank`: the order (ranking keys, the per-cell ranker, runs of equal
//! values for the fit); `words`: the gene names as the words written.

mod rank;
mod words;

#[cfg(test)]
pub(crate) use rank::value_runs;
pub(crate) use rank::{first_invalid, stable_hash, Ranker, ValueRuns};
pub(crate) use words::{gene_words, GeneWords, WordTable};
