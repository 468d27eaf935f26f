//! c2s-eval against scikit-learn, scipy and POT on fixed inputs
//! (tests/eval_reference/make_expected.py wrote expected.json).

use c2s_eval::classification::classification_report;
use c2s_eval::correlation::{pearson, spearman};
use c2s_eval::gw::{entropic_gw, GwOptions};
use c2s_eval::knn::KnnClassifier;
use c2s_eval::pca::Pca;
use ndarray::Array2;
use serde_json::Value;

fn expected() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/eval_reference/expected.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("expected.json")).expect("JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(floats).collect();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}: {a} vs {b}");
}

#[test]
fn classification_matches_scikit_learn() {
    let e = &expected()["classification"];
    let r = classification_report(&strings(&e["truth"]), &strings(&e["predicted"])).unwrap();
    assert_eq!(r.labels, strings(&e["labels"]));
    close(
        r.accuracy,
        e["accuracy"].as_f64().unwrap(),
        1e-12,
        "accuracy",
    );
    close(
        r.macro_f1,
        e["macro_f1"].as_f64().unwrap(),
        1e-12,
        "macro F1",
    );
    for (c, (p, rc)) in r.classes.iter().zip(
        floats(&e["precision"])
            .into_iter()
            .zip(floats(&e["recall"])),
    ) {
        close(c.precision, p, 1e-12, "precision");
        close(c.recall, rc, 1e-12, "recall");
    }
    let confusion: Vec<Vec<usize>> = e["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect()
        })
        .collect();
    assert_eq!(r.confusion, confusion);
}

#[test]
fn knn_matches_scikit_learn() {
    let e = &expected()["knn"];
    let train = matrix(&e["train"]);
    let test = matrix(&e["test"]);
    let knn = KnnClassifier::fit(train.view(), &strings(&e["train_labels"])).unwrap();
    for k in [3usize, 5, 10, 25] {
        let ours = knn.predict(test.view(), k).unwrap();
        assert_eq!(ours, strings(&e["predictions"][k.to_string()]), "k = {k}");
    }
}

#[test]
fn pca_matches_scikit_learn() {
    let e = &expected()["pca"];
    let x = matrix(&e["x"]);
    let pca = Pca::fit(x.view(), 5, 0).unwrap();
    for (a, b) in pca
        .explained_variance
        .iter()
        .zip(floats(&e["explained_variance"]))
    {
        close(*a, b, 1e-9, "explained variance");
    }
    for (a, b) in pca
        .explained_variance_ratio
        .iter()
        .zip(floats(&e["explained_variance_ratio"]))
    {
        close(*a, b, 1e-9, "explained variance ratio");
    }
    // Same components up to sign (scikit-learn's sign rule changed across versions).
    let ours = pca.transform(x.view());
    let theirs = matrix(&e["scores"]);
    for c in 0..5 {
        let sign = if ours[[0, c]] * theirs[[0, c]] < 0.0 {
            -1.0
        } else {
            1.0
        };
        for i in 0..ours.nrows() {
            close(sign * ours[[i, c]], theirs[[i, c]], 1e-7, "score");
        }
    }
}

#[test]
fn gromov_wasserstein_matches_pot() {
    for case in expected()["gw"].as_array().unwrap() {
        let c1 = matrix(&case["c1"]);
        let c2 = matrix(&case["c2"]);
        let p = vec![1.0 / c1.nrows() as f64; c1.nrows()];
        let q = vec![1.0 / c2.nrows() as f64; c2.nrows()];
        let opts = GwOptions {
            epsilon: case["epsilon"].as_f64().unwrap(),
            sinkhorn_max_iter: case["sinkhorn_max_iter"].as_u64().unwrap() as usize,
            sinkhorn_tol: case["sinkhorn_tol"].as_f64().unwrap(),
            ..Default::default()
        };
        let r = entropic_gw(c1.view(), c2.view(), &p, &q, &opts).unwrap();
        close(
            r.distance,
            case["distance"].as_f64().unwrap(),
            1e-6,
            "GW distance",
        );
    }
}

#[test]
fn correlations_match_scipy() {
    let e = &expected()["correlation"];
    let (x, y) = (floats(&e["x"]), floats(&e["y"]));
    close(
        pearson(&x, &y).unwrap(),
        e["pearson"].as_f64().unwrap(),
        1e-12,
        "Pearson",
    );
    close(
        spearman(&x, &y).unwrap(),
        e["spearman"].as_f64().unwrap(),
        1e-12,
        "Spearman",
    );
}

/// scikit-learn's trustworthiness: how far the embedding's neighbours are
/// from being neighbours in the original space.
fn trustworthiness(x: &Array2<f64>, y: &Array2<f64>, k: usize) -> f64 {
    use c2s_eval::knn::nearest;
    let n = x.nrows();
    let (orig, _) = nearest(x.view(), x.view(), n - 1, true).unwrap();
    let (emb, _) = nearest(y.view(), y.view(), k, true).unwrap();
    let mut penalty = 0.0;
    for i in 0..n {
        let mut rank = vec![0usize; n];
        for (r, &j) in orig.row(i).iter().enumerate() {
            rank[j] = r + 1;
        }
        for &j in emb.row(i).iter() {
            if rank[j] > k {
                penalty += (rank[j] - k) as f64;
            }
        }
    }
    let (n, k) = (n as f64, k as f64);
    1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty
}

#[test]
fn umap_is_as_faithful_as_umap_learn() {
    let e = &expected()["umap"];
    let x = matrix(&e["x"]);
    let labels: Vec<String> = e["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    let y = c2s_eval::umap::umap_2d(x.view(), 500, 0).unwrap();
    let t = trustworthiness(&x, &y, 10);
    let want = e["trustworthiness"].as_f64().unwrap();
    println!("trustworthiness {t:.4} (umap-learn {want:.4})");
    assert!(
        t >= want - 0.02,
        "trustworthiness {t} against umap-learn's {want}"
    );
    // Leave-one-out 5-NN accuracy of the labels in two dimensions.
    let (nb, _) = c2s_eval::knn::nearest(y.view(), y.view(), 5, true).unwrap();
    let right = (0..x.nrows())
        .filter(|&i| {
            nb.row(i)
                .iter()
                .filter(|&&j| labels[j] == labels[i])
                .count()
                >= 3
        })
        .count();
    let acc = right as f64 / x.nrows() as f64;
    let want = e["knn_accuracy_2d"].as_f64().unwrap();
    println!("2-D 5-NN accuracy {acc:.4} (umap-learn {want:.4})");
    assert!(
        acc >= want - 0.02,
        "2-D 5-NN accuracy {acc} against umap-learn's {want}"
    );
}
