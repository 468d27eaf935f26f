"""How much a cell sentence's first K genes tell of its type, without a
language model: k-NN (k = 5) on 50 principal components of the sentences
themselves turned back into expression (the dataset's fit against
log10(1 + rank)), the components fitted on the training cells. Run for
several K, it shows how much of the types a model reading K genes could
name (README, "Naming cell types as well as k-NN: what was tried").

usage: python bench/sentence_knn.py DATASET [K ...]   (default K: 100 200 all)
(needs numpy: scripts/python-env.sh makes .venv with it)
"""
import json
import sys
from collections import Counter

import numpy as np

K_NEIGHBOURS = 5
COMPONENTS = 50


def macro_f1(t, p):
    out = []
    for label in sorted(set(t)):
        tp = sum(a == label and b == label for a, b in zip(t, p))
        fp = sum(a != label and b == label for a, b in zip(t, p))
        fn = sum(a == label and b != label for a, b in zip(t, p))
        out.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(out) / len(out)


def features(rows, genes, k, fit):
    """Each cell's first k genes turned back into expression by the
    dataset's fit, as the engine's inverse transform does (never below 0);
    0 for the genes left out."""
    x = np.zeros((len(rows), len(genes)), dtype=np.float32)
    for i, r in enumerate(rows):
        for rank, g in enumerate(r["cell_sentence"].split()[:k]):
            x[i, genes[g]] = max(0.0, fit["intercept"] + fit["slope"] * np.log10(1 + rank))
    return x


def knn(train_z, train_y, z):
    out = []
    for v in z:
        d = ((train_z - v) ** 2).sum(axis=1)
        near = np.argsort(d, kind="stable")[:K_NEIGHBOURS]
        votes = Counter(train_y[j] for j in near)
        best = max(votes.values())
        # A tie goes to the type of the nearest cell among the tied ones.
        out.append(next(train_y[j] for j in near if votes[train_y[j]] == best))
    return out


def read_dataset(folder):
    """A converted dataset's rows, fit and first label column (as `c2s
    train` takes by default)."""
    rows = [json.loads(line) for line in open(f"{folder}/sentences.jsonl")]
    fit = json.load(open(f"{folder}/fit.json"))["fit"]
    labels = json.load(open(f"{folder}/manifest.json"))["parameters"]["labels"]
    if not labels:
        sys.exit(f"{folder} keeps no label column: convert it with --labels COLUMN")
    return rows, fit, labels[0]


def sentence_map(rows, fit, k=None):
    """Every cell's coordinates on the training cells' first 50 principal
    components of its first k genes (all genes: None) turned back into
    expression."""
    genes = {}
    for r in rows:
        for g in r["cell_sentence"].split():
            genes.setdefault(g, len(genes))
    split = np.array([r["split"] for r in rows])
    x = features(rows, genes, k or len(genes), fit)
    train = x[split == "train"]
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    return (x - mean) @ vt[:COMPONENTS].T


def main():
    folder = sys.argv[1]
    ks = [int(a) if a != "all" else None for a in sys.argv[2:]] or [100, 200, None]
    rows, fit, label = read_dataset(folder)
    split = np.array([r["split"] for r in rows])
    y = np.array([r[label] for r in rows])
    for k in ks:
        z = sentence_map(rows, fit, k)
        cells = []
        for s in ("val", "test"):
            pred = knn(z[split == "train"], y[split == "train"], z[split == s])
            truth = list(y[split == s])
            acc = sum(a == b for a, b in zip(truth, pred)) / len(truth)
            cells.append(f"{s} {acc:.3f} / {macro_f1(truth, pred):.3f}")
        print(f"first {k or 'all'} genes: " + ", ".join(cells))


if __name__ == "__main__":
    main()
