#!/usr/bin/env bash
# Converts a synthetic 1,000,000-cell x 20,000-gene file (about 1,000 non-zeros
# a cell; made once into bench/out/) and reports time and peak memory (target:
# peak RSS under 2 GB), beside the time to only read the matrix.
#
# usage: bench/large.sh [CELLS] [GENES] [PER_CELL]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"; g="${2:-20000}"; k="${3:-1000}"
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p c2s-cli
cargo build --release -q -p c2s-data --example read_matrix
mkdir -p bench/out
file="bench/out/synthetic-${n}x${g}x${k}.h5ad"
if [[ ! -f "$file" ]]; then
  py="${PYTHON:-bench/.venv/bin/python}"
  "$py" -c "import h5py, numpy" 2>/dev/null || { python3 -m venv bench/.venv; bench/.venv/bin/pip install -q h5py numpy; py=bench/.venv/bin/python; }
  "$py" bench/make_synthetic.py "$file.tmp" "$n" "$g" "$k" && mv "$file.tmp" "$file"
fi
out="bench/out/large-dataset"
rm -rf "$out"
/usr/bin/time -f "%e %M" -o bench/out/time target/release/c2s convert "$file" -o "$out" --parquet-only >/dev/null
read -r t m < bench/out/time
floor=$(target/release/examples/read_matrix "$file")
echo "$file: c2s convert $t s, peak RSS $((m / 1024)) MB, $(python3 -c "print(f'{$n/$t:,.0f}')") cells/s; read-only floor: $floor"
du -sh "$out"
rm -rf "$out"
