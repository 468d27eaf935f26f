#!/usr/bin/env bash
# Converts a dataset (default: the demo) with c2s and with the reference package
# cell2sentence 1.2.0 in the same run; prints times, peak memory and ratios, and
# the floor: the time to only read and decompress the matrix. Both are timed as
# whole processes (bench/timed.py), and each also by its own clock (c2s's
# --json seconds), which leaves out starting the process and loading the binary.
#
# usage: bench/convert.sh [FILE.h5ad] [LABEL_COLUMN] [REPEATS]
# The reference runs REPEATS times (default 5); c2s and the floor, which take a
# fraction of a second, run FAST_REPEATS times (default 4 x REPEATS), each
# c2s run beside a floor run, so that a busy machine weighs on both alike.
# Best and median are printed, with the ratios of each.
# The reference is installed into bench/.venv (PyPI) unless REF_PYTHON names a
# Python that already has cell2sentence 1.2.0.
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-assets/pbmc3k-10x.h5ad}"
label="${2:-cell_type}"
repeats="${3:-5}"
fast="${FAST_REPEATS:-$((4 * repeats))}"
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

ours_t=(); ours_c=(); ours_m=(); lean_t=(); zstd_t=(); ref_t=(); ref_m=(); floor_t=(); floor_p=(); h5py_t=()
# Each timed run starts with no earlier run's output left to write back.
quiet() { rm -rf "${out:?}"/*/; sync; }
for i in $(seq "$fast"); do
  quiet
  "$py" bench/timed.py "$out/time" target/release/c2s convert "$file" -o "$out/c2s" --labels "$label" --json
  read -r t m < "$out/time"; ours_t+=("$t"); ours_m+=("$m")
  ours_c+=("$("$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' < "$out/time.stdout")")
  quiet
  "$py" bench/timed.py "$out/time" target/release/examples/read_matrix "$file"
  read -r t _ < "$out/time"; floor_p+=("$t")
  quiet
  "$py" bench/timed.py "$out/time" target/release/c2s convert "$file" -o "$out/lean" --labels "$label" --parquet-only
  read -r t _ < "$out/time"; lean_t+=("$t")
  quiet
  "$py" bench/timed.py "$out/time" target/release/c2s convert "$file" -o "$out/zstd" --labels "$label" --compression zstd
  read -r t _ < "$out/time"; zstd_t+=("$t")
  quiet
  floor_t+=("$(target/release/examples/read_matrix "$file" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
done
for i in $(seq "$repeats"); do
  quiet
  r=$("$py" bench/reference_convert.py "$file" "$out/ref" "$label")
  ref_t+=("$(echo "$r" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
  ref_m+=("$(echo "$r" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["peak_rss_mb"])')")
  h5py_t+=("$("$py" bench/h5py_floor.py "$file" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
done
cells=$(target/release/c2s inspect "$file" --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["cells"])')
list() { local IFS=,; echo "$*"; }
"$py" - "$file" "$cells" "$repeats" "$fast" "$(list "${ours_t[@]}")" "$(list "${ours_c[@]}")" "$(list "${ours_m[@]}")" "$(list "${lean_t[@]}")" \
  "$(list "${zstd_t[@]}")" "$(list "${ref_t[@]}")" "$(list "${ref_m[@]}")" "$(list "${floor_t[@]}")" "$(list "${floor_p[@]}")" "$(list "${h5py_t[@]}")" <<'PY'
import statistics
import sys

f, cells, n, k = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ot, oc, om, lt, zt, rt, rm, ft, fp, ht = ([float(x) for x in a.split(",")] for a in sys.argv[5:15])
best, med = min, statistics.median
om = max(om) / 1024  # kB -> MB, the largest of the runs
print(f"{f}: {cells} cells; reference best of {n} runs, c2s and floor best (median) of {k}")
print(f"  c2s convert (whole process: read, sentences, vocabulary, splits, fit, Parquet+JSONL+text, hash): {best(ot):.3f} s ({med(ot):.3f}), {best(oc):.3f} s ({med(oc):.3f}) by its own clock, peak RSS {om:.0f} MB, {cells/best(ot):,.0f} cells/s")
print(f"  c2s convert --parquet-only (one table of sentences, as the reference writes; vocabulary, splits, fit, manifest too): {best(lt):.3f} s ({med(lt):.3f}), speed-up {best(rt)/best(lt):.1f}x")
print(f"  c2s convert --compression zstd (all outputs, Parquet pages zstd-compressed; auto leaves small files plain): {best(zt):.3f} s ({med(zt):.3f}), speed-up {best(rt)/best(zt):.1f}x")
print(f"  reference (read_h5ad + adata_to_arrow + save_to_disk, imports excluded): {best(rt):.3f} s, peak RSS {min(rm):.0f} MB, {cells/best(rt):,.0f} cells/s")
print(f"  floor, read+decompress the matrix: c2s reader {best(fp):.3f} s ({med(fp):.3f}) as a whole process, {best(ft):.3f} s ({med(ft):.3f}) by its own clock; h5py {best(ht):.3f} s")
print(f"  speed-up {best(rt)/best(ot):.1f}x   memory ratio {om/min(rm):.3f}")
print(f"  c2s / floor, both whole processes: {best(ot)/best(fp):.2f}x best, {med(ot)/med(fp):.2f}x median; both by their own clocks {best(oc)/best(ft):.2f}x best, {med(oc)/med(ft):.2f}x median")
print(f"  c2s --parquet-only / floor (whole processes): {best(lt)/best(fp):.2f}x best, {med(lt)/med(fp):.2f}x median;   c2s / h5py floor {best(ot)/best(ht):.2f}x")
PY
