#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, the Rust test suites (real
# datasets from ../shared), and cross-checks that anndata, pandas and Hugging
# Face datasets read what we write.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

scripts/python-env.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
c2s=target/debug/c2s
$c2s convert assets/pbmc3k-10x.h5ad -o "$tmp/ds" --labels cell_type >/dev/null
$c2s reconstruct "$tmp/ds" -o "$tmp/reconstructed.h5ad" >/dev/null
$c2s convert ../shared/data/liao2020-C149-cellranger.h5 -o "$tmp/tenx" >/dev/null
.venv/bin/python tests/interop/check_outputs.py "$tmp/ds" "$tmp/reconstructed.h5ad" assets/pbmc3k-10x.h5ad
.venv/bin/python tests/interop/check_outputs.py "$tmp/tenx"
echo "All tests passed."
