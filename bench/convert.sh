#!/usr/bin/env bash
# Converts a dataset (default: the demo) with c2s and with the reference package
# cell2sentence 1.2.0 in the same run; prints times, peak memory and ratios, and
# the floor: the time to only read and decompress the matrix. The floor is timed
# like c2s, as a whole process (bench/timed.py), and also by its own clock
# (which leaves out starting the process and loading the binary).
#
# usage: bench/convert.sh [FILE.h5ad] [LABEL_COLUMN] [REPEATS]
# The reference is installed into bench/.venv (PyPI) unless REF_PYTHON names a
# Python that already has cell2sentence 1.2.0.
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-assets/pbmc3k-10x.h5ad}"
label="${2:-cell_type}"
repeats="${3:-5}"
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p c2s-cli
cargo build --release -q -p c2s-data --example read_matrix
py="${REF_PYTHON:-bench/.venv/bin/python}"
if ! "$py" -c "import cell2sentence, h5py" 2>/dev/null; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q "cell2sentence==1.2.0" h5py
  py=bench/.venv/bin/python
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

best() { sort -g | head -n1; }
ours_t=(); ours_m=(); lean_t=(); zstd_t=(); ref_t=(); ref_m=(); floor_t=(); floor_p=(); h5py_t=()
for i in $(seq "$repeats"); do
  rm -rf "$out"/*
  "$py" bench/timed.py "$out/time" target/release/c2s convert "$file" -o "$out/c2s" --labels "$label"
  read -r t m < "$out/time"; ours_t+=("$t"); ours_m+=("$m")
  "$py" bench/timed.py "$out/time" target/release/c2s convert "$file" -o "$out/lean" --labels "$label" --parquet-only
  read -r t _ < "$out/time"; lean_t+=("$t")
  "$py" bench/timed.py "$out/time" target/release/c2s convert "$file" -o "$out/zstd" --labels "$label" --compression zstd
  read -r t _ < "$out/time"; zstd_t+=("$t")
  r=$("$py" bench/reference_convert.py "$file" "$out/ref" "$label")
  ref_t+=("$(echo "$r" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
  ref_m+=("$(echo "$r" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["peak_rss_mb"])')")
  floor_t+=("$(target/release/examples/read_matrix "$file" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
  "$py" bench/timed.py "$out/time" target/release/examples/read_matrix "$file"
  read -r t _ < "$out/time"; floor_p+=("$t")
  h5py_t+=("$("$py" bench/h5py_floor.py "$file" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
done
ot=$(printf '%s\n' "${ours_t[@]}" | best); lt=$(printf '%s\n' "${lean_t[@]}" | best); zt=$(printf '%s\n' "${zstd_t[@]}" | best); om=$(printf '%s\n' "${ours_m[@]}" | best)
rt=$(printf '%s\n' "${ref_t[@]}" | best); rm_=$(printf '%s\n' "${ref_m[@]}" | best)
ft=$(printf '%s\n' "${floor_t[@]}" | best); fp=$(printf '%s\n' "${floor_p[@]}" | best); ht=$(printf '%s\n' "${h5py_t[@]}" | best)
cells=$(target/release/c2s inspect "$file" --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["cells"])')
"$py" - "$file" "$cells" "$ot" "$om" "$rt" "$rm_" "$ft" "$ht" "$repeats" "$lt" "$zt" "$fp" <<'PY'
import sys
f, cells, ot, om, rt, rm, ft, ht, n, lt, zt, fp = sys.argv[1:]
cells, ot, om, rt, rm, ft, ht, lt, zt, fp = int(cells), float(ot), float(om) / 1024, float(rt), float(rm), float(ft), float(ht), float(lt), float(zt), float(fp)
print(f"{f}: {cells} cells, best of {n} runs")
print(f"  c2s convert (whole process: read, sentences, vocabulary, splits, fit, Parquet+JSONL+text, hash): {ot:.3f} s, peak RSS {om:.0f} MB, {cells/ot:,.0f} cells/s")
print(f"  c2s convert --parquet-only (one table of sentences, as the reference writes; vocabulary, splits, fit, manifest too): {lt:.3f} s, speed-up {rt/lt:.1f}x")
print(f"  c2s convert --compression zstd (all outputs, Parquet pages zstd-compressed; auto leaves this file plain): {zt:.3f} s, speed-up {rt/zt:.1f}x")
print(f"  reference (read_h5ad + adata_to_arrow + save_to_disk, imports excluded): {rt:.3f} s, peak RSS {rm:.0f} MB, {cells/rt:,.0f} cells/s")
print(f"  floor, read+decompress the matrix: c2s reader {fp:.3f} s as a whole process ({ft:.3f} s by its own clock), h5py {ht:.3f} s")
print(f"  speed-up {rt/ot:.1f}x   memory ratio {om/rm:.3f}   c2s / floor {ot/fp:.2f}x (both whole processes; {ot/ft:.2f}x against the floor's own clock)   c2s / h5py floor {ot/ht:.2f}x")
PY
