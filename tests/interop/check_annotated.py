"""anndata opens the .h5ad the app's Annotate screen saved: the original cells
and genes, the original columns, and the two new ones."""
import sys

import anndata
import numpy as np

saved, original = sys.argv[1], sys.argv[2]
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
known = set(o.obs["cell_type"].astype(str))
predicted = set(a.obs["c2s_predicted_cell_type"].dropna().astype(str))
assert predicted <= known, predicted - known
diff = (a.X != o.X)
assert (diff.nnz if hasattr(diff, "nnz") else diff.sum()) == 0
print(f"annotated h5ad ok: {labelled.sum()} of {a.n_obs} cells predicted, types {sorted(predicted)}")
