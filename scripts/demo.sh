#!/usr/bin/env bash
# Quick start: set up, build and open C2S Studio, with the bundled demo
# dataset (3k blood cells of a healthy donor, 10x Genomics) one click away.
# Without a display, runs the same steps with the command line instead
# (scripts/demo-cli.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "$(uname)" == "Linux" && -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "No display here: running the command-line demo instead."
  exec scripts/demo-cli.sh
fi
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
(cd ui && npm ci --no-audit --no-fund && npm run build)
cargo build --release -p c2s-studio
C2S_STUDIO_DEMO="$PWD/assets/pbmc3k-10x.h5ad" exec target/release/c2s-studio
