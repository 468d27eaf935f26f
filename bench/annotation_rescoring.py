"""Re-scorings of a trained model's cell-type answers, tried against its plain
likelihood on validation and test cells (README, "Naming cell types as well as
k-NN: what was tried"):

- the likelihood minus alpha x log of each type's share of the training cells
  (a prior correction, for rare types);
- k-NN (k = 5) on the model's own cell embeddings, standardised on the
  training cells;
- the likelihood plus beta x log of a 15-neighbour k-NN vote share.

usage:
  target/debug/examples/label_scores RUN/model DATASET all > scores.jsonl
  target/debug/c2s embed RUN/model DATASET -o emb.safetensors
  python bench/annotation_rescoring.py scores.jsonl emb.safetensors
(needs numpy and safetensors: scripts/python-env.sh makes .venv with both)
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def macro_f1(t, p):
    out = []
    for label in sorted(set(t)):
        tp = ((t == label) & (p == label)).sum()
        fp = ((t != label) & (p == label)).sum()
        fn = ((t == label) & (p != label)).sum()
        out.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(out))


def main(scores_path, emb_path):
    lines = [json.loads(line) for line in open(scores_path)]
    labels = np.array(lines[0]["labels"])
    rows = lines[1:]
    ll = np.array([r["log_likelihoods"] for r in rows])
    truth = np.array([r["true"] for r in rows])
    split = np.array([r["split"] for r in rows])
    with safe_open(emb_path, "np") as f:
        names = json.loads(f.metadata()["cell_names"])
    where = {n: i for i, n in enumerate(names)}
    x = load_file(emb_path)["embeddings"].astype(np.float64)[[where[r["cell_name"]] for r in rows]]
    train = split == "train"
    z = (x - x[train].mean(0)) / x[train].std(0)
    share = np.array([(truth[train] == label).mean() for label in labels])

    def report(name, score_of):
        cols = []
        for s in ("val", "test"):
            m = split == s
            pred = score_of(m)
            cols.append(f"{s} {(pred == truth[m]).mean():.3f} / {macro_f1(truth[m], pred):.3f}")
        print(f"{name:<45} " + "   ".join(cols))

    def knn_share(m, k):
        d = ((z[m][:, None, :] - z[train][None, :, :]) ** 2).sum(-1)
        idx = np.argsort(d, axis=1)[:, :k]
        return np.array([[(truth[train][row] == label).mean() for label in labels] for row in idx])

    print("accuracy / macro F1")
    report("likelihood", lambda m: labels[ll[m].argmax(1)])
    for a in (0.25, 0.5, 0.75, 1.0):
        report(f"likelihood - {a} x log(training share)", lambda m, a=a: labels[(ll[m] - a * np.log(share)).argmax(1)])
    report("k-NN (k = 5) on the model's embeddings", lambda m: labels[knn_share(m, 5).argmax(1)])
    p = np.exp(ll - ll.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    for b in (0.5, 1.0, 2.0):
        report(
            f"likelihood + {b} x log(15-NN share)",
            lambda m, b=b: labels[(np.log(p[m] + 1e-9) + b * np.log(knn_share(m, 15) + 0.02)).argmax(1)],
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
