"""Writes a synthetic sparse .h5ad (anndata encoding, CSR X, uncompressed, as
anndata writes by default): N cells x G genes, about K non-zero counts per cell.

usage: make_synthetic.py OUT.h5ad [N=1000000] [G=20000] [K=1000]"""
import sys

import h5py
import numpy as np

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
g = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
k = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
rng = np.random.default_rng(0)
batch = 10_000
str_dt = h5py.string_dtype("utf-8")

with h5py.File(out, "w") as f:
    f.attrs["encoding-type"] = "anndata"
    f.attrs["encoding-version"] = "0.1.0"
    x = f.create_group("X")
    x.attrs["encoding-type"] = "csr_matrix"
    x.attrs["encoding-version"] = "0.1.0"
    x.attrs["shape"] = np.array([n, g], dtype=np.int64)
    data = x.create_dataset("data", shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(1 << 20,))
    indices = x.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(1 << 20,))
    indptr = np.zeros(n + 1, dtype=np.int64)
    pos = 0
    for a in range(0, n, batch):
        b = min(a + batch, n)
        cols = np.sort(rng.integers(0, g, size=(b - a, k), dtype=np.int32), axis=1)
        keep = np.ones_like(cols, dtype=bool)
        keep[:, 1:] = cols[:, 1:] != cols[:, :-1]
        idx = cols[keep]
        vals = rng.geometric(0.3, size=idx.size).astype(np.float32)
        indptr[a + 1 : b + 1] = pos + np.cumsum(keep.sum(axis=1))
        data.resize((pos + idx.size,))
        indices.resize((pos + idx.size,))
        data[pos:] = vals
        indices[pos:] = idx
        pos += idx.size
        if (a // batch) % 10 == 0:
            print(f"{b}/{n} cells", file=sys.stderr)
    x.create_dataset("indptr", data=indptr)
    for name, count, prefix in (("obs", n, "cell"), ("var", g, "GENE")):
        grp = f.create_group(name)
        grp.attrs["encoding-type"] = "dataframe"
        grp.attrs["encoding-version"] = "0.2.0"
        grp.attrs["_index"] = "_index"
        grp.attrs["column-order"] = np.array([], dtype=str_dt)
        ds = grp.create_dataset("_index", data=np.array([f"{prefix}{i}" for i in range(count)], dtype=object), dtype=str_dt)
        ds.attrs["encoding-type"] = "string-array"
        ds.attrs["encoding-version"] = "0.2.0"
    for name in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
        grp = f.create_group(name)
        grp.attrs["encoding-type"] = "dict"
        grp.attrs["encoding-version"] = "0.1.0"
print(f"wrote {out}: {n} cells x {g} genes, {pos} non-zeros", file=sys.stderr)
