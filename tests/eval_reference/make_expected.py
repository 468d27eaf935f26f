"""Expected values for c2s-eval's metrics from the Python reference packages.

Run: python make_expected.py  (needs numpy, scipy, scikit-learn, POT, umap-learn)
Writes expected.json (inputs and outputs) beside this script; the Rust test
crates/c2s-eval/tests/reference.rs checks c2s-eval against it.
"""
import json
from pathlib import Path

import numpy as np
import ot
import scipy
import sklearn
from scipy.spatial.distance import cdist
from scipy.stats import pearsonr, spearmanr
from sklearn.decomposition import PCA
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
from sklearn.neighbors import KNeighborsClassifier

rng = np.random.default_rng(7)
out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                    "scikit-learn": sklearn.__version__, "POT": ot.__version__}}

# Classification metrics.
classes = ["B cell", "CD4 T cell", "CD8 T cell", "NK cell", "Monocyte"]
y_true = rng.choice(classes, 200, p=[0.3, 0.3, 0.2, 0.15, 0.05])
y_pred = np.where(rng.random(200) < 0.7, y_true, rng.choice(classes[:4], 200))
labels = sorted(set(y_true) | set(y_pred))
out["classification"] = {
    "truth": y_true.tolist(), "predicted": y_pred.tolist(),
    "labels": labels,
    "accuracy": accuracy_score(y_true, y_pred),
    "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
    "precision": precision_score(y_true, y_pred, average=None, labels=labels, zero_division=0).tolist(),
    "recall": recall_score(y_true, y_pred, average=None, labels=labels, zero_division=0).tolist(),
    "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
}

# k-NN classifier (brute force, uniform weights).
centres = rng.normal(0, 4, (4, 6))
train_lab = rng.integers(0, 4, 150)
train = centres[train_lab] + rng.normal(0, 2.5, (150, 6))
test_lab = rng.integers(0, 4, 60)
test = centres[test_lab] + rng.normal(0, 2.5, (60, 6))
names = np.array(["type_a", "type_b", "type_c", "type_d"])
knn = {"train": train.tolist(), "train_labels": names[train_lab].tolist(), "test": test.tolist(), "predictions": {}}
for k in [3, 5, 10, 25]:
    clf = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train, names[train_lab])
    knn["predictions"][str(k)] = clf.predict(test).tolist()
out["knn"] = knn

# PCA (exact solver).
latent = rng.normal(0, 1, (80, 3))
x = latent @ rng.normal(0, 1, (3, 30)) + rng.normal(0, 0.3, (80, 30))
pca = PCA(n_components=5, svd_solver="full").fit(x)
out["pca"] = {
    "x": x.tolist(), "n_components": 5,
    "explained_variance": pca.explained_variance_.tolist(),
    "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
    "scores": pca.transform(x).tolist(),
}

# Entropic Gromov-Wasserstein, square loss, uniform weights.
gw = []
for eps in [0.05, 0.02]:
    a = rng.normal(0, 1, (30, 3))
    b = rng.normal(0, 1, (25, 3)) * np.array([1.5, 1.0, 0.5])
    c1, c2 = cdist(a, a), cdist(b, b)
    c1 /= c1.mean()
    c2 /= c2.mean()
    p, q = ot.unif(30), ot.unif(25)
    d = ot.gromov.entropic_gromov_wasserstein2(c1, c2, p, q, "square_loss", epsilon=eps, max_iter=1000, tol=1e-9,
                                               numItermax=20000, stopThr=1e-12)
    gw.append({"c1": c1.tolist(), "c2": c2.tolist(), "epsilon": eps, "distance": float(d),
               "sinkhorn_max_iter": 20000, "sinkhorn_tol": 1e-12})
out["gw"] = gw

# Correlations, with ties.
u = rng.integers(0, 6, 40).astype(float)
v = u * 0.5 + rng.normal(0, 1, 40)
v[::7] = 1.0
out["correlation"] = {"x": u.tolist(), "y": v.tolist(),
                      "pearson": pearsonr(u, v)[0], "spearman": spearmanr(u, v)[0]}

# UMAP is stochastic, so its reference is a quality bar, not coordinates:
# umap-learn's trustworthiness and 2-D 5-NN label accuracy on fixed data
# (four clusters, PCA to 10 dimensions, as c2s eval feeds UMAP).
import umap
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score

c = rng.normal(0, 5, (4, 30))
lab = np.repeat(np.arange(4), 75)
x = c[lab] + rng.normal(0, 3, (300, 30))
x = PCA(n_components=10, svd_solver="full").fit_transform(x)
emb = umap.UMAP(n_neighbors=15, random_state=0, init="pca").fit_transform(x)
knn2d = cross_val_score(KNeighborsClassifier(n_neighbors=5), emb, lab, cv=5).mean()
out["umap"] = {"x": x.tolist(), "labels": lab.tolist(), "umap_learn": umap.__version__,
               "trustworthiness": float(trustworthiness(x, emb, n_neighbors=10)),
               "knn_accuracy_2d": float(knn2d)}
out["versions"]["umap-learn"] = umap.__version__

Path(__file__).with_name("expected.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
print("wrote expected.json")
