"""The reference's whole conversion job, timed in-process (interpreter start-up
and imports excluded): read the .h5ad, build sentences and vocabulary
(CSData.adata_to_arrow), write the dataset (save_to_disk). Prints JSON."""
import json
import resource
import sys
import time

import anndata
from cell2sentence import CSData

path, out, labels = sys.argv[1], sys.argv[2], [c for c in sys.argv[3:] if c]
rss_after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
adata = anndata.read_h5ad(path)
t_read = time.perf_counter()
arrow, vocab = CSData.adata_to_arrow(adata, random_state=42, label_col_names=labels or None)
CSData.csdata_from_arrow(arrow, vocab, save_dir=out, save_name="ds")
t1 = time.perf_counter()
print(json.dumps({
    "seconds": t1 - t0,
    "read_seconds": t_read - t0,
    "cells": adata.n_obs,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_after_imports_mb": rss_after_imports,
}))
