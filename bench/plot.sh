#!/usr/bin/env bash
# How smoothly the app draws 50,000 cells: the dataset map of a synthetic
# 60,000-cell file in the real window (under Xvfb here), timed from the click
# to the drawn map, then frame intervals while zooming and hovering. No
# reference figure exists (the Python package has no plots of its own).
#
# usage: bench/plot.sh   (C2S_STUDIO_BIN=path to use an app binary already built)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/python-env.sh
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p bench/out
f="$PWD/bench/out/plot-60k.h5ad"
[[ -f "$f" ]] || .venv/bin/python bench/make_synthetic.py "$f" 60000 2000 200
(cd ui && npm ci --no-audit --no-fund >/dev/null && npm run build >/dev/null)
if [[ -z "${C2S_STUDIO_BIN:-}" ]]; then
  cargo build --release -q -p c2s-studio
  export C2S_STUDIO_BIN="$PWD/target/release/c2s-studio"
fi
command -v tauri-driver >/dev/null || cargo install tauri-driver --version 2.1.0 --locked
xvfb-run -a -s "-screen 0 1440x900x24" node ui/e2e/plot-bench.mjs "$f"
