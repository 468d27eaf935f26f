#!/usr/bin/env bash
# Times `c2s eval` on 5,000 real against 5,000 generated cells (target: under a
# minute on 2 cores). Real cells: the BALF COVID dataset in ../shared/data
# (6,006 cells); "generated" cells: 5,000 of its sentences cut to 100 genes
# with their order perturbed, so every metric has real work to do.
#
# usage: bench/eval.sh [H5AD]
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-../shared/data/balf-covid-liao2020.h5ad}"
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p c2s-cli
mkdir -p bench/out
ds=bench/out/eval-dataset
rm -rf "$ds" bench/out/eval-report
label=$(target/release/c2s inspect "$src" --json | python3 -c "
import json, sys
cols = json.load(sys.stdin)['obs_columns']
cat = [c for c in cols if 1 < c['distinct'] <= 60]
print(next((c['name'] for c in cat if 'type' in c['name'].lower()), cat[0]['name']))")
target/release/c2s convert "$src" -o "$ds" --labels "$label" >/dev/null
python3 bench/make_generated.py "$ds" "$label" 5000 > bench/out/eval-generated.jsonl
/usr/bin/time -f "%e %M" -o bench/out/time target/release/c2s eval "$ds" \
  --generated bench/out/eval-generated.jsonl --reference-split all --top-k 100 -o bench/out/eval-report
read -r t m < bench/out/time
echo "c2s eval, $(wc -l < bench/out/eval-generated.jsonl) generated against all real cells: $t s, peak RSS $((m / 1024)) MB"
