//! Marker genes of each cell type, read from the cell sentences: the genes
//! near the top of a type's sentences far more often than in other cells'.
//!
//! Ranks, not expression: a sentence holds only the order of a cell's genes,
//! and the chat marks genes in generated sentences, which have no values.
//! This is the rank analogue of scanpy's `rank_genes_groups` (a type against
//! the rest), kept simple: a gene's share of a type's cells that hold it in
//! their first `top` words, minus its share of the other cells.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::dataset::SentenceRecord;

/// How marker genes are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkerOptions {
    /// The words of each sentence that count (its most expressed genes).
    pub top: usize,
    /// Markers kept per type, best first.
    pub per_type: usize,
    /// A marker is in the top words of at least this share of its type's cells...
    pub min_share_in: f64,
    /// ...and of at least this much more of them than of the other cells.
    pub min_lead: f64,
}

impl Default for MarkerOptions {
    fn default() -> Self {
        // 100 words: the genes a short sentence still holds; a half of the
        // type and a 25-point lead keep genes that every cell expresses
        // (ribosomal, MALAT1) out.
        Self {
            top: 100,
            per_type: 10,
            min_share_in: 0.5,
            min_lead: 0.25,
        }
    }
}

/// One marker gene of a type, with the shares it was chosen by.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Marker {
    pub gene: String,
    /// Share of the type's cells with the gene in their first `top` words.
    pub share_in: f64,
    /// The same share among all other cells.
    pub share_out: f64,
}

/// Marker genes of each value of the label column `column` (cells without
/// a value are only "other cells"). A type whose cells are all there is has
/// no other cells to stand out from, and gets none.
pub fn marker_genes(
    records: &[SentenceRecord],
    column: &str,
    opts: &MarkerOptions,
) -> BTreeMap<String, Vec<Marker>> {
    // Per type: its cell count and, per gene, how many of its cells hold it
    // in their top words.
    let mut cells: HashMap<&str, usize> = HashMap::new();
    let mut held: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    let mut held_all: HashMap<&str, usize> = HashMap::new();
    for r in records {
        let genes: HashSet<&str> = r.sentence.split_whitespace().take(opts.top).collect();
        for &g in &genes {
            *held_all.entry(g).or_default() += 1;
        }
        if let Some(t) = r.label(column) {
            *cells.entry(t).or_default() += 1;
            let counts = held.entry(t).or_default();
            for &g in &genes {
                *counts.entry(g).or_default() += 1;
            }
        }
    }
    let total = records.len();
    let mut out = BTreeMap::new();
    for (t, n_in) in cells {
        let n_out = total - n_in;
        if n_out == 0 {
            out.insert(t.to_string(), Vec::new());
            continue;
        }
        let mut markers: Vec<Marker> = held[t]
            .iter()
            .map(|(&g, &k)| Marker {
                gene: g.to_string(),
                share_in: k as f64 / n_in as f64,
                share_out: (held_all[g] - k) as f64 / n_out as f64,
            })
            .filter(|m| {
                m.share_in >= opts.min_share_in && m.share_in - m.share_out >= opts.min_lead
            })
            .collect();
        // Best lead first; ties by name, so the list does not depend on
        // hash order.
        markers.sort_by(|a, b| {
            (b.share_in - b.share_out)
                .total_cmp(&(a.share_in - a.share_out))
                .then_with(|| a.gene.cmp(&b.gene))
        });
        markers.truncate(opts.per_type);
        out.insert(t.to_string(), markers);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(sentence: &str, t: Option<&str>) -> SentenceRecord {
        SentenceRecord {
            cell_name: sentence.to_string(),
            sentence: sentence.to_string(),
            labels: vec![("cell_type".into(), t.map(str::to_string))],
            counts: None,
        }
    }

    #[test]
    fn a_types_markers_lead_the_other_cells() {
        let cells = vec![
            cell("MALAT1 MS4A1 CD79A RPS27", Some("B cell")),
            cell("MALAT1 CD79A MS4A1 RPS27", Some("B cell")),
            cell("MALAT1 MS4A1 RPS27 CD3E", Some("B cell")),
            cell("MALAT1 CD3E IL7R RPS27", Some("T cell")),
            cell("MALAT1 IL7R CD3E RPS27 CD79A", Some("T cell")),
            cell("MALAT1 RPS27 LYZ", None),
        ];
        let m = marker_genes(&cells, "cell_type", &MarkerOptions::default());
        let genes = |t: &str| m[t].iter().map(|x| x.gene.as_str()).collect::<Vec<_>>();
        // MS4A1 in 3 of 3 B cells and none of the 3 others; CD79A in 2 of 3
        // against 1 of 3; MALAT1 and RPS27 everywhere: no lead.
        assert_eq!(genes("B cell"), ["MS4A1", "CD79A"]);
        assert_eq!(m["B cell"][0].share_in, 1.0);
        assert_eq!(m["B cell"][0].share_out, 0.0);
        // IL7R in 2 of 2 T cells and none of 4 others; CD3E in 2 of 2 against 1 of 4.
        assert_eq!(genes("T cell"), ["IL7R", "CD3E"]);
        // Unlabelled cells are others only.
        assert!(!m.contains_key(""));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn only_the_top_words_count_and_a_lone_type_has_none() {
        let cells = vec![
            cell("A B C", Some("x")),
            cell("A C B", Some("x")),
            cell("B A C", Some("y")),
        ];
        let opts = MarkerOptions {
            top: 1,
            ..MarkerOptions::default()
        };
        let m = marker_genes(&cells, "cell_type", &opts);
        assert_eq!(m["x"][0].gene, "A");
        assert_eq!(m["y"][0].gene, "B");
        let alone = marker_genes(&cells[..2], "cell_type", &opts);
        assert!(alone["x"].is_empty());
    }
}
