"""anndata opens the .h5ad the app's Annotate screen (or `c2s predict --h5ad`)
saved: the original cells and genes, the original columns, the answer and its
confidence, and where asked CellTypist's columns: the answer with Unassigned
below the threshold, the over-clusters and their majority votes.

Arguments: SAVED ORIGINAL [LABEL_COLUMN (cell_type)] [THRESHOLD (0.5)]."""
import sys

import anndata
import numpy as np

saved, original = sys.argv[1], sys.argv[2]
label_column = sys.argv[3] if len(sys.argv) > 3 else "cell_type"
threshold = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
a = anndata.read_h5ad(saved)
o = anndata.read_h5ad(original)
assert a.shape == o.shape, (a.shape, o.shape)
assert list(a.obs_names) == list(o.obs_names)
assert list(a.var_names) == list(o.var_names)
for c in o.obs.columns:
    assert c in a.obs.columns, c
assert a.obs["c2s_predicted_cell_type"].dtype.name == "category"
conf = a.obs["c2s_confidence"].to_numpy()
assert conf.dtype.kind == "f"
labelled = ~np.isnan(conf)
assert labelled.sum() > 0.9 * a.n_obs, labelled.sum()
assert ((conf[labelled] >= 0) & (conf[labelled] <= 1)).all()
known = set(o.obs[label_column].astype(str))
predicted = set(a.obs["c2s_predicted_cell_type"].dropna().astype(str))
assert predicted <= known, predicted - known
diff = (a.X != o.X)
assert (diff.nnz if hasattr(diff, "nnz") else diff.sum()) == 0
rules = []
if "c2s_assigned_cell_type" in a.obs:
    assigned = a.obs["c2s_assigned_cell_type"]
    assert assigned.dtype.name == "category"
    pred = a.obs["c2s_predicted_cell_type"].astype(object)
    for p, c, s in zip(pred[labelled], conf[labelled], assigned.astype(object)[labelled]):
        assert s == ("Unassigned" if c < threshold else p), (p, c, s)
    rules.append(f"{(assigned == 'Unassigned').sum()} Unassigned")
if "c2s_over_clustering" in a.obs:
    clusters = a.obs["c2s_over_clustering"]
    votes = a.obs["c2s_majority_voting"]
    assert clusters.dtype.name == "category" and votes.dtype.name == "category"
    # One vote per cluster: its commonest answer (or Heterogeneous).
    answers = a.obs["c2s_assigned_cell_type"] if "c2s_assigned_cell_type" in a.obs else a.obs["c2s_predicted_cell_type"]
    for k in clusters.dropna().unique():
        inside = (clusters == k).to_numpy()
        v = votes[inside].astype(str).unique()
        assert len(v) == 1, (k, v)
        counts = answers[inside].astype(str).value_counts()
        assert v[0] == "Heterogeneous" or counts[v[0]] == counts.max(), (k, v, counts)
    rules.append(f"{clusters.nunique()} over-clusters voted")
print(f"rules: {', '.join(rules) or 'none'}")
print(f"annotated h5ad ok: {labelled.sum()} of {a.n_obs} cells predicted, types {sorted(predicted)}")
