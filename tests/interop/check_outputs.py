"""Checks that the Python ecosystem reads what C2S Studio writes.

usage: check_outputs.py DATASET_DIR [RECONSTRUCTED_H5AD SOURCE_H5AD]
"""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ds = Path(sys.argv[1])
manifest = json.loads((ds / "manifest.json").read_text())
cells = manifest["summary"]["cells"]

# pandas and pyarrow read the Parquet file and the JSONL export.
df = pd.read_parquet(ds / "sentences.parquet")
assert len(df) == cells, (len(df), cells)
assert list(df.columns[:4]) == ["cell_name", "cell_sentence", "n_genes", "split"], df.columns
assert (df["cell_sentence"].str.split(" ").str.len() == df["n_genes"]).all()
assert set(df["split"]) == {"train", "val", "test"}
js = pd.read_json(ds / "sentences.jsonl", lines=True)
assert (js["cell_sentence"] == df["cell_sentence"]).all()
text = (ds / "sentences.txt").read_text().splitlines()
assert text == list(df["cell_sentence"])
vocab = pd.read_csv(ds / "vocabulary.tsv", sep="\t", header=None, names=["gene", "cells"], keep_default_na=False)
assert len(vocab) == manifest["summary"]["genes"]
splits = json.loads((ds / "splits.json").read_text())
assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(cells))
assert (df["split"].iloc[splits["test"]] == "test").all()

# Hugging Face datasets loads the Parquet file (offline, from disk).
import datasets

hf = datasets.load_dataset("parquet", data_files=str(ds / "sentences.parquet"), split="train")
assert hf.num_rows == cells and hf[0]["cell_sentence"] == df["cell_sentence"][0]

if len(sys.argv) > 2:
    import anndata

    rec = anndata.read_h5ad(sys.argv[2])
    src = anndata.read_h5ad(sys.argv[3])
    assert rec.shape == (cells, len(vocab)), rec.shape
    assert list(rec.obs_names) == list(df["cell_name"])
    assert list(rec.var_names) == list(vocab["gene"])
    assert rec.X.min() >= 0, "reconstructed expression must not be negative"
    assert (rec.obs["cell_type"].astype(str).values == df["cell_type"].values).all()
    # The top gene of each cell gets the highest reconstructed value.
    first = df["cell_sentence"].str.split(" ").str[0]
    top = np.asarray(rec.X.argmax(axis=1)).ravel()
    assert (rec.var_names[top] == first.values).mean() > 0.99
    assert src.n_obs == rec.n_obs
print(f"interop ok: {ds.name}: {cells} cells read by pandas, pyarrow, datasets" + (" and anndata" if len(sys.argv) > 2 else ""))
