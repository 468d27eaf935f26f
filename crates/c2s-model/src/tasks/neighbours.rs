//! The training cells nearest a cell, by its whole sentence: the second
//! opinion a trained model's answer is weighed with when it names a
//! dataset's cells.
//!
//! The model reads a cell's first `top_k` genes; the markers that tell close
//! types apart (CD8A in CD8 T cells) often lie further down. Each sentence
//! is turned back into expression by the dataset's rank fit, every gene it
//! holds, and placed on 50 principal components of the training cells; the
//! types of the 5 training cells nearest it vote. The model's likelihood
//! plus twice the log of that vote share named more held-out cells than the
//! model alone on every split tried (the demo's three, BALF's), and over the
//! demo's splits about as many as k-NN on expression (README, "Naming cell
//! types as well as k-NN: what was tried").
//!
//! The map is built when a model is trained and kept beside it
//! (`neighbours.safetensors`), so the model folder names cells on its own.

use std::collections::HashMap;
use std::path::Path;

use c2s_data::inverse::RankFit;
use c2s_data::pca::Pca;
use candle_core::{Device, Tensor};
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::predict::Prediction;

/// The map's file in a model folder.
pub(crate) const NEIGHBOURS_FILE: &str = "neighbours.safetensors";

/// Training cells that vote on a cell's type.
pub const NEIGHBOURS: usize = 5;

/// How much the vote weighs against the model's likelihood, chosen on the
/// demo's validation cells among 1, 2 and 4: 2 and 4 were within a cell of
/// each other there, and the smaller leaves the model more say.
pub const VOTE_WEIGHT: f64 = 2.0;

/// Added to every vote share, so a type no neighbour votes for can still
/// win when the model is sure of it.
const VOTE_FLOOR: f64 = 0.01;

const COMPONENTS: usize = 50;

/// Bounds on the work and memory a map takes. The components are fitted on
/// a dense matrix of at most this many cells by genes (3,000 x 16,000 f64:
/// 384 MB, twice that while centred); a gene outside the genes expressed in
/// the most training cells counts for nothing. The map keeps at most
/// `MAX_CELLS` training cells (50 floats each).
const MAX_FIT_CELLS: usize = 3_000;
const MAX_GENES: usize = 16_000;
const MAX_CELLS: usize = 50_000;

const FORMAT: &str = "c2s-sentence-neighbours/1";

/// Training cells placed by their sentences.
pub struct SentenceMap {
    fit: RankFit,
    genes: Vec<String>,
    index: HashMap<String, usize>,
    /// Genes x components.
    loadings: Array2<f32>,
    /// The components' value at the training cells' mean.
    offset: Array1<f32>,
    /// Cells x components.
    cells: Array2<f32>,
    cell_labels: Vec<u32>,
    labels: Vec<String>,
}

impl SentenceMap {
    /// The map of `train` (each training cell's sentence and type), its
    /// sentences turned into expression by `fit`; `None` with fewer cells
    /// than `NEIGHBOURS` + 1. Reproducible for a seed.
    pub fn build<'a>(
        train: impl Iterator<Item = (&'a str, &'a str)>,
        fit: &RankFit,
        seed: u64,
    ) -> Result<Option<SentenceMap>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cells: Vec<(&str, &str)> = train.collect();
        if cells.len() <= NEIGHBOURS {
            return Ok(None);
        }
        if cells.len() > MAX_CELLS {
            cells.shuffle(&mut rng);
            cells.truncate(MAX_CELLS);
        }
        let mut labels: Vec<String> = cells.iter().map(|c| c.1.to_string()).collect();
        labels.sort();
        labels.dedup();
        let label_of: HashMap<&str, u32> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i as u32))
            .collect();
        let mut expressed: HashMap<&str, usize> = HashMap::new();
        for (s, _) in &cells {
            for g in s.split_whitespace() {
                *expressed.entry(g).or_default() += 1;
            }
        }
        let mut genes: Vec<(&str, usize)> = expressed.into_iter().collect();
        genes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        genes.truncate(MAX_GENES);
        let genes: Vec<String> = genes.into_iter().map(|g| g.0.to_string()).collect();
        if genes.is_empty() {
            return Ok(None);
        }
        let index: HashMap<String, usize> = genes
            .iter()
            .enumerate()
            .map(|(i, g)| (g.clone(), i))
            .collect();
        let mut fitted: Vec<usize> = (0..cells.len()).collect();
        fitted.shuffle(&mut rng);
        fitted.truncate(MAX_FIT_CELLS);
        fitted.sort_unstable();
        let mut x = Array2::<f64>::zeros((fitted.len(), genes.len()));
        for (row, &c) in fitted.iter().enumerate() {
            for (g, v) in expression(cells[c].0, fit, &index) {
                x[[row, g]] = v;
            }
        }
        let pca = Pca::fit(x.view(), COMPONENTS, seed)?;
        drop(x);
        let loadings = pca.components.t().mapv(|v| v as f32);
        let offset = pca.components.dot(&pca.mean).mapv(|v| v as f32);
        let mut map = SentenceMap {
            fit: fit.clone(),
            genes,
            index,
            loadings,
            offset,
            cells: Array2::zeros((0, 0)),
            cell_labels: cells.iter().map(|c| label_of[c.1]).collect(),
            labels,
        };
        let placed: Vec<Vec<f32>> = cells.par_iter().map(|c| map.place(c.0)).collect();
        let k = map.loadings.ncols();
        map.cells = Array2::from_shape_vec((placed.len(), k), placed.concat())
            .expect("one row of k a cell");
        Ok(Some(map))
    }

    /// A sentence's coordinates on the components.
    fn place(&self, sentence: &str) -> Vec<f32> {
        let mut z = self.offset.mapv(|v| -v);
        for (g, v) in expression(sentence, &self.fit, &self.index) {
            z.scaled_add(v as f32, &self.loadings.row(g));
        }
        z.to_vec()
    }

    /// The share of each of `labels` among the `NEIGHBOURS` training cells
    /// nearest `sentence` (a whole cell sentence, most expressed first).
    pub fn vote(&self, sentence: &str, labels: &[String]) -> Vec<f64> {
        let z = Array1::from(self.place(sentence));
        let mut d: Vec<(f32, usize)> = self
            .cells
            .rows()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let d: f32 = c.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum();
                (d, i)
            })
            .collect();
        let k = NEIGHBOURS.min(d.len());
        // Ties go to the earlier training cell, as a stable sort would.
        let by = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if k < d.len() {
            d.select_nth_unstable_by(k - 1, by);
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for &(_, i) in &d[..k] {
            *counts
                .entry(&self.labels[self.cell_labels[i] as usize])
                .or_default() += 1;
        }
        labels
            .iter()
            .map(|l| counts.get(l.as_str()).copied().unwrap_or(0) as f64 / k as f64)
            .collect()
    }

    /// The model's `answer` for the cell `sentence` (over `labels`, in the
    /// predictor's order) weighed with its neighbours' vote.
    pub(crate) fn weigh(
        &self,
        answer: Prediction,
        sentence: &str,
        labels: &[String],
    ) -> Prediction {
        // A type the model gives no probability at all (under e^-745 of the
        // best) cannot win: the vote adds at most 9.2.
        let scores = answer
            .probabilities()
            .into_iter()
            .zip(self.vote(sentence, labels))
            .map(|(p, v)| p.ln() + VOTE_WEIGHT * (v + VOTE_FLOOR).ln())
            .collect();
        Prediction::from_scores(labels, scores)
    }

    /// Writes the map into the model folder `dir`, whole or not at all.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(NEIGHBOURS_FILE);
        let cpu = Device::Cpu;
        let tensor = |a: &Array2<f32>| {
            Tensor::from_vec(a.iter().copied().collect::<Vec<f32>>(), a.dim(), &cpu)
        };
        let loadings = tensor(&self.loadings)?;
        let cells = tensor(&self.cells)?;
        let offset = Tensor::from_vec(self.offset.to_vec(), self.offset.len(), &cpu)?;
        let labels = Tensor::from_vec(self.cell_labels.clone(), self.cell_labels.len(), &cpu)?;
        // Plain data always encodes as JSON.
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            (
                "genes".to_string(),
                serde_json::to_string(&self.genes).unwrap_or_default(),
            ),
            (
                "labels".to_string(),
                serde_json::to_string(&self.labels).unwrap_or_default(),
            ),
            (
                "fit".to_string(),
                serde_json::to_string(&self.fit).unwrap_or_default(),
            ),
        ]);
        let bytes = safetensors::serialize(
            [
                ("loadings", &loadings),
                ("offset", &offset),
                ("cells", &cells),
                ("cell_labels", &labels),
            ],
            Some(meta),
        )
        .map_err(|e| {
            ModelError::Input(
                format!("cannot encode {NEIGHBOURS_FILE}: {e}"),
                "this is a bug: please report it".into(),
            )
        })?;
        c2s_data::output::write_file(&path, &bytes, true)?;
        Ok(())
    }

    /// Removes the map of the model folder `dir`, if it has one.
    pub(crate) fn remove(dir: &Path) -> Result<()> {
        let path = dir.join(NEIGHBOURS_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ModelError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// The map kept in the model folder `dir`, if it has one (models
    /// trained before maps were kept, and published models, do not).
    pub fn read(dir: &Path) -> Result<Option<SentenceMap>> {
        let path = dir.join(NEIGHBOURS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bad = |problem: String| ModelError::BadModel {
            path: path.clone(),
            problem,
            hint: "delete the file to name cells by the model alone, or train the model again"
                .into(),
        };
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!("not a map of format {FORMAT}")));
        }
        let field = |k: &str| {
            meta.get(k)
                .ok_or_else(|| bad(format!("no {k} in its metadata")))
        };
        let genes: Vec<String> =
            serde_json::from_str(field("genes")?).map_err(|e| bad(format!("genes: {e}")))?;
        let labels: Vec<String> =
            serde_json::from_str(field("labels")?).map_err(|e| bad(format!("labels: {e}")))?;
        let fit: RankFit =
            serde_json::from_str(field("fit")?).map_err(|e| bad(format!("fit: {e}")))?;
        let t = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| bad(e.to_string()))?;
        let get = |k: &str| t.get(k).ok_or_else(|| bad(format!("no tensor {k}")));
        let matrix = |k: &str| -> Result<Array2<f32>> {
            let m = get(k)?;
            let (r, c) = m.dims2().map_err(|e| bad(format!("{k}: {e}")))?;
            let v = m
                .flatten_all()?
                .to_vec1::<f32>()
                .map_err(|e| bad(format!("{k}: {e}")))?;
            Ok(Array2::from_shape_vec((r, c), v).expect("r x c values"))
        };
        let loadings = matrix("loadings")?;
        let cells = matrix("cells")?;
        let offset: Vec<f32> = get("offset")?
            .to_vec1()
            .map_err(|e| bad(format!("offset: {e}")))?;
        let cell_labels: Vec<u32> = get("cell_labels")?
            .to_vec1()
            .map_err(|e| bad(format!("cell_labels: {e}")))?;
        let k = loadings.ncols();
        if loadings.nrows() != genes.len()
            || offset.len() != k
            || cells.ncols() != k
            || cells.nrows() != cell_labels.len()
            || cells.nrows() == 0
            || cell_labels.iter().any(|&l| l as usize >= labels.len())
        {
            return Err(bad("its tensors do not match one another".into()));
        }
        let index = genes
            .iter()
            .enumerate()
            .map(|(i, g)| (g.clone(), i))
            .collect();
        Ok(Some(SentenceMap {
            fit,
            genes,
            index,
            loadings,
            offset: Array1::from(offset),
            cells,
            cell_labels,
            labels,
        }))
    }
}

/// Each mapped gene of `sentence` with its expression by rank.
fn expression<'a>(
    sentence: &'a str,
    fit: &'a RankFit,
    index: &'a HashMap<String, usize>,
) -> impl Iterator<Item = (usize, f64)> + 'a {
    sentence
        .split_whitespace()
        .enumerate()
        .filter_map(|(rank, g)| index.get(g).map(|&i| (i, fit.expression_at(rank))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit() -> RankFit {
        RankFit {
            slope: -1.0,
            intercept: 3.0,
            r_squared: 1.0,
            pearson_r: -1.0,
            spearman_rho: -1.0,
            n_cells: 1,
            n_points: 1,
            n_fit_points: 1,
        }
    }

    /// Cells of type A start with genes A0..A4, of type B with B0..B4; all
    /// share a tail in an order that varies from cell to cell.
    fn cells() -> Vec<(String, String)> {
        (0..24)
            .map(|i| {
                let t = if i % 2 == 0 { "A" } else { "B" };
                let mut genes: Vec<String> = (0..5).map(|g| format!("{t}{g}")).collect();
                genes.extend((0..8).map(|g| format!("S{}", (g + i) % 8)));
                (genes.join(" "), t.to_string())
            })
            .collect()
    }

    fn map() -> SentenceMap {
        let cells = cells();
        SentenceMap::build(
            cells.iter().map(|(s, t)| (s.as_str(), t.as_str())),
            &fit(),
            0,
        )
        .unwrap()
        .expect("enough cells")
    }

    fn answer(ll: [f64; 2]) -> Prediction {
        Prediction::from_scores(&["A".to_string(), "B".to_string()], ll.to_vec())
    }

    #[test]
    fn the_nearest_training_cells_vote_by_their_sentences() {
        let map = map();
        let labels = ["A".to_string(), "B".to_string(), "C".to_string()];
        // Unseen cells, their type's genes first; genes unknown to the map
        // count for nothing.
        assert_eq!(
            map.vote("A1 A0 A2 A4 A3 S5 X9", &labels),
            vec![1.0, 0.0, 0.0]
        );
        assert_eq!(map.vote("B0 B1 S2 B3 B2 B4", &labels), vec![0.0, 1.0, 0.0]);
        // Too few training cells make no map.
        let few = cells();
        let few = few
            .iter()
            .take(NEIGHBOURS)
            .map(|(s, t)| (s.as_str(), t.as_str()));
        assert!(SentenceMap::build(few, &fit(), 0).unwrap().is_none());
    }

    #[test]
    fn the_vote_moves_an_unsure_answer_and_not_a_sure_one() {
        let map = map();
        let labels = ["A".to_string(), "B".to_string()];
        let a_cell = "A0 A1 A2 A3 A4 S0 S1";
        let unsure = map.weigh(answer([-1.0, -0.9]), a_cell, &labels);
        assert_eq!(unsure.label, "A");
        // log(0.01 / 1.01) x 2 is about -9.2: a model surer than that keeps
        // its answer.
        let sure = map.weigh(answer([-20.0, 0.0]), a_cell, &labels);
        assert_eq!(sure.label, "B");
        let z = (-1.0f64).exp() + (-0.9f64).exp();
        let expected_a = (-1.0f64).exp() / z * 1.01f64.powi(2);
        let expected_b = (-0.9f64).exp() / z * 0.01f64.powi(2);
        assert!((unsure.confidence - expected_a / (expected_a + expected_b)).abs() < 1e-12);
    }

    #[test]
    fn a_map_reads_back_as_written_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let map = map();
        map.write(dir.path()).unwrap();
        let back = SentenceMap::read(dir.path()).unwrap().expect("written");
        let labels = ["B".to_string(), "A".to_string()];
        for (s, _) in cells() {
            assert_eq!(back.vote(&s, &labels), map.vote(&s, &labels));
        }
        assert!(SentenceMap::read(&dir.path().join("none"))
            .unwrap()
            .is_none());
        // Removed, it is gone; removing none is no error.
        SentenceMap::remove(dir.path()).unwrap();
        assert!(SentenceMap::read(dir.path()).unwrap().is_none());
        SentenceMap::remove(dir.path()).unwrap();
        // Tensors that do not match the genes named are refused.
        map.write(dir.path()).unwrap();
        let bytes = std::fs::read(dir.path().join(NEIGHBOURS_FILE)).unwrap();
        let t = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = meta.metadata().clone().unwrap();
        meta.insert("genes".into(), r#"["A0"]"#.into());
        let cut = safetensors::serialize(t.iter().map(|(k, v)| (k.as_str(), v)), Some(meta));
        std::fs::write(dir.path().join(NEIGHBOURS_FILE), cut.unwrap()).unwrap();
        let err = SentenceMap::read(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("do not match"), "{err}");
        std::fs::write(dir.path().join(NEIGHBOURS_FILE), b"not a map").unwrap();
        let err = SentenceMap::read(dir.path())
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains(NEIGHBOURS_FILE) && err.contains("hint"),
            "{err}"
        );
    }
}
