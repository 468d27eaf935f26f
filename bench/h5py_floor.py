"""Floor in Python: read and decompress X (data, indices, indptr) with h5py."""
import json
import sys
import time

import h5py

t0 = time.perf_counter()
with h5py.File(sys.argv[1], "r") as f:
    x = f["X"] if "X" in f else f["matrix"]
    n = sum(x[k][:].size for k in ("data", "indices", "indptr"))
print(json.dumps({"seconds": time.perf_counter() - t0, "elements": n}))
