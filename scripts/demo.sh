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
echo "Done: see $out/"
