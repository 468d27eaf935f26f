#!/usr/bin/env bash
# Quick start: set up, build, and run C2S Studio on the bundled demo dataset
# (3k blood cells of a healthy donor, 10x Genomics).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p c2s-cli
c2s=target/release/c2s
out=demo-output
mkdir -p "$out"
$c2s inspect assets/pbmc3k-10x.h5ad
$c2s convert assets/pbmc3k-10x.h5ad -o "$out/pbmc3k-sentences" --labels cell_type --stratify cell_type --force
echo "First cell sentence (top 20 genes):"
head -n 1 "$out/pbmc3k-sentences/sentences.txt" | cut -d' ' -f1-20
$c2s reconstruct "$out/pbmc3k-sentences" -o "$out/pbmc3k-reconstructed.h5ad"
# A compact model from scratch (under 2 minutes on a 2-core laptop), its
# predictions, 20 new cells of each type, and the evaluation report.
# C2S_DEMO_SKIP_TRAINING=1 stops after the conversion.
if [[ "${C2S_DEMO_SKIP_TRAINING:-0}" != 1 ]]; then
  rm -rf "$out/run"
  $c2s train "$out/pbmc3k-sentences" -o "$out/run" --preset quick
  $c2s predict "$out/run/model" "$out/pbmc3k-sentences" -o "$out/predictions.jsonl"
  $c2s generate "$out/run/model" --every-type -n 20 -o "$out/generated.jsonl"
  $c2s eval "$out/pbmc3k-sentences" --predictions "$out/predictions.jsonl" \
    --generated "$out/generated.jsonl" --run "$out/run" -o "$out/report" --force
  echo "Open $out/report/report.html in a browser."
fi
echo "Done: see $out/"
