"""A trained model's answers weighed with the vote of the training cells
nearest on the sentences: each type's log-likelihood (softmax-normalised)
plus beta x log(its share of the 5 nearest training cells + 0.01), the
cells placed as bench/sentence_knn.py places them (all of each sentence
turned back into expression, 50 principal components of the training
cells). beta 0 is the model alone; a large beta is the k-NN with the
model breaking its ties (README, "Naming cell types as well as k-NN: what
was tried").

usage:
  target/release/examples/label_scores RUN/model DATASET val > scores.jsonl
  target/release/examples/label_scores RUN/model DATASET test >> scores.jsonl
  python bench/sentence_neighbours.py scores.jsonl DATASET
(needs numpy: scripts/python-env.sh makes .venv with it)
"""
import json
import sys

import numpy as np

from sentence_knn import K_NEIGHBOURS, macro_f1, read_dataset, sentence_map

BETAS = (0.0, 1.0, 2.0, 4.0, 100.0)
# Keeps a type no neighbour votes for in the running when the model is sure.
FLOOR = 0.01


def main(scores_path, folder):
    lines = [json.loads(line) for line in open(scores_path)]
    # Each run of label_scores starts with the types; runs may be appended.
    labels = np.array(lines[0]["labels"])
    scored = {r["cell_name"]: np.array(r["log_likelihoods"]) for r in lines if "cell_name" in r}
    rows, fit, label = read_dataset(folder)
    split = np.array([r["split"] for r in rows])
    y = np.array([r[label] for r in rows])
    names = [r["cell_name"] for r in rows]
    z = sentence_map(rows, fit)
    train = split == "train"
    print("accuracy / macro F1")
    for beta in BETAS:
        cols = []
        for s in ("val", "test"):
            idx = np.where(split == s)[0]
            truth, pred = [], []
            for i in idx:
                d = ((z[train] - z[i]) ** 2).sum(axis=1)
                near = y[train][np.argsort(d, kind="stable")[:K_NEIGHBOURS]]
                share = np.array([(near == t).mean() for t in labels])
                ll = scored[names[i]]
                ll = ll - ll.max()
                ll = ll - np.log(np.exp(ll).sum())
                pred.append(labels[int(np.argmax(ll + beta * np.log(share + FLOOR)))])
                truth.append(y[i])
            acc = np.mean([a == b for a, b in zip(truth, pred)])
            cols.append(f"{s} {acc:.3f} / {macro_f1(truth, pred):.3f}")
        print(f"likelihood + {beta:g} x log(5-NN share)".ljust(40) + "   ".join(cols))


if __name__ == "__main__":
    main(*sys.argv[1:3])
