//! Genes nearly every cell starts with: ribosomal and mitochondrial genes,
//! MALAT1, B2M and the like, which fill about 60 % of the first 100 genes of
//! a PBMC cell whatever its type. A model that reads each cell's first
//! `top_k` genes can leave them out and read further into the genes that set
//! cells apart (CD8A, say); the cells it writes get them back at their
//! typical place in cells of their type, so that they compare with real
//! cells.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The genes found within the first `depth` genes of more than `share` of
/// the cells they were counted in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonGenes {
    pub share: f64,
    pub depth: usize,
    /// The common genes, by their typical place in a sentence.
    pub genes: Vec<CommonGene>,
}

/// A common gene and its typical places: its mean 0-based place in the
/// cells' sentences, a cell that lacks it within `depth` counting it at
/// `depth` (ribosomal genes come later in monocytes than in T cells).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonGene {
    pub gene: String,
    /// Over all cells.
    pub position: f64,
    /// Over the cells of each type.
    #[serde(default)]
    pub by_type: BTreeMap<String, f64>,
}

/// The cells that hold a gene within `depth`, and the sum of its places
/// there.
#[derive(Debug, Default, Clone, Copy)]
struct Presence {
    cells: usize,
    places: usize,
}

impl Presence {
    fn add(&mut self, place: usize) {
        self.cells += 1;
        self.places += place;
    }

    /// The mean place over `cells` cells, those without the gene counting
    /// `depth`; two decimals: a typical place needs no more, and the model
    /// card's JSON then reads back exactly.
    fn mean_place(self, cells: usize, depth: usize) -> f64 {
        let sum = self.places + depth * cells.saturating_sub(self.cells);
        (sum as f64 / cells.max(1) as f64 * 100.0).round() / 100.0
    }
}

impl CommonGenes {
    /// The share the trial chose (README, "Sentences without the genes
    /// nearly every cell starts with"): 67 of the demo's genes.
    pub const DEFAULT_SHARE: f64 = 0.7;

    /// Whether `share` can set common genes apart: a share of cells above 0
    /// and below 1.
    pub fn valid_share(share: f64) -> bool {
        share > 0.0 && share < 1.0
    }

    /// The genes within the first `depth` words of more than `share` of
    /// `cells` (sentences: genes joined by spaces, highest expression first;
    /// and their types, which only the typical places read). Order: typical
    /// place, then name, so that the same cells give the same list.
    pub fn find<'a>(
        cells: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        depth: usize,
        share: f64,
    ) -> Self {
        // One pass, nothing kept per cell: each gene's count of cells and
        // sum of places within `depth`, over all cells and by type. A cell
        // without the gene there adds `depth` to the mean.
        let mut all: HashMap<&str, Presence> = HashMap::new();
        let mut typed: HashMap<(&str, &str), Presence> = HashMap::new();
        let mut type_cells: BTreeMap<&str, usize> = BTreeMap::new();
        let mut n = 0usize;
        for (sentence, t) in cells {
            n += 1;
            if let Some(t) = t {
                *type_cells.entry(t).or_default() += 1;
            }
            for (i, g) in sentence.split_whitespace().take(depth).enumerate() {
                all.entry(g).or_default().add(i);
                if let Some(t) = t {
                    typed.entry((t, g)).or_default().add(i);
                }
            }
        }
        let mut genes: Vec<CommonGene> = all
            .iter()
            .filter(|(_, p)| p.cells as f64 > share * n as f64)
            .map(|(&g, p)| CommonGene {
                gene: g.to_string(),
                position: p.mean_place(n, depth),
                by_type: type_cells
                    .iter()
                    .map(|(&t, &cells)| {
                        let p = typed.get(&(t, g)).copied().unwrap_or_default();
                        (t.to_string(), p.mean_place(cells, depth))
                    })
                    .collect(),
            })
            .collect();
        genes.sort_by(|a, b| {
            a.position
                .total_cmp(&b.position)
                .then_with(|| a.gene.cmp(&b.gene))
        });
        CommonGenes {
            share,
            depth,
            genes,
        }
    }

    /// The genes, for testing words against.
    pub fn set(&self) -> HashSet<&str> {
        self.genes.iter().map(|g| g.gene.as_str()).collect()
    }

    /// A sentence written without the common genes, with them put back: each
    /// at its typical place in cells of `cell_type` (over all cells for none,
    /// or a type not seen), the written genes in their order around them
    /// (any common gene among them is taken out first, so none repeats).
    pub fn restore(&self, written: &str, cell_type: Option<&str>) -> String {
        let set = self.set();
        let mut rest = written.split_whitespace().filter(|g| !set.contains(g));
        let mut places: Vec<(f64, &str)> = self
            .genes
            .iter()
            .map(|c| {
                let typed = cell_type.and_then(|t| c.by_type.get(t));
                (*typed.unwrap_or(&c.position), c.gene.as_str())
            })
            .collect();
        places.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut common = places.into_iter().peekable();
        let mut out: Vec<&str> = Vec::new();
        loop {
            match common.peek() {
                Some(&(p, g)) if p <= out.len() as f64 => {
                    out.push(g);
                    common.next();
                }
                _ => match rest.next() {
                    Some(g) => out.push(g),
                    None => {
                        out.extend(common.map(|c| c.1));
                        break;
                    }
                },
            }
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genes_in_most_cells_first_genes_are_common_and_go_back_at_their_place() {
        // RPL13 leads 3 of 4 cells, MALAT1 is second in all; CD3D is in 2.
        let cells = [
            ("RPL13 MALAT1 CD3D IL7R", Some("T")),
            ("RPL13 MALAT1 CD3D CCR7", Some("T")),
            ("RPL13 MALAT1 MS4A1 CD79A", Some("B")),
            ("LYZ MALAT1 S100A8 RPL13", None),
        ];
        let c = CommonGenes::find(cells, 2, 0.7);
        let names: Vec<&str> = c.genes.iter().map(|g| g.gene.as_str()).collect();
        // Within the first 2 words: RPL13 in 3 of 4 (0.75 > 0.7), MALAT1 in
        // all; RPL13's 4th place in the last cell lies beyond the depth and
        // counts as 2.
        assert_eq!(names, ["RPL13", "MALAT1"]);
        assert_eq!((c.genes[0].position, c.genes[1].position), (0.5, 1.0));
        let t: Vec<(&str, f64)> = c.genes[0]
            .by_type
            .iter()
            .map(|(t, p)| (t.as_str(), *p))
            .collect();
        assert_eq!(
            t,
            [("B", 0.0), ("T", 0.0)],
            "a cell of no type counts only in all"
        );
        // Above the share only: at 0.75 RPL13 is not common.
        let names: Vec<String> = CommonGenes::find(cells, 2, 0.75)
            .genes
            .into_iter()
            .map(|g| g.gene)
            .collect();
        assert_eq!(names, ["MALAT1"]);
        assert_eq!(
            c.restore("CD8A GZMK NKG7", None),
            "CD8A RPL13 MALAT1 GZMK NKG7"
        );
        assert_eq!(
            c.restore("CD8A GZMK NKG7", Some("T")),
            "RPL13 MALAT1 CD8A GZMK NKG7"
        );
        assert_eq!(
            c.restore("CD8A GZMK NKG7", Some("unseen")),
            c.restore("CD8A GZMK NKG7", None)
        );
        // A common gene written by the model is not repeated.
        assert_eq!(c.restore("CD8A MALAT1", Some("T")), "RPL13 MALAT1 CD8A");
        // Nothing written: the common genes alone.
        assert_eq!(c.restore("", None), "RPL13 MALAT1");
    }

    #[test]
    fn a_common_gene_goes_back_between_written_genes_at_its_types_mean_place() {
        let cells = [
            ("A X B", Some("early")),
            ("C X D", Some("early")),
            ("E F X", Some("late")),
            ("G H X", Some("late")),
        ];
        let c = CommonGenes::find(cells, 3, 0.5);
        assert_eq!(c.genes.len(), 1);
        assert_eq!(c.genes[0].position, 1.5);
        assert_eq!(c.restore("P Q R", None), "P Q X R");
        assert_eq!(c.restore("P Q R", Some("early")), "P X Q R");
        assert_eq!(c.restore("P Q R", Some("late")), "P Q X R");
        assert!(
            CommonGenes::find(Vec::<(&str, Option<&str>)>::new(), 3, 0.5)
                .genes
                .is_empty()
        );
        assert!(CommonGenes::valid_share(0.7));
        for bad in [0.0, 1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(!CommonGenes::valid_share(bad), "{bad}");
        }
    }
}
