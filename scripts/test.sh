#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, the Rust test suites (real
# datasets from ../shared), the UI's unit tests (Vitest), the app's window
# tests (tauri-driver + WebKitWebDriver under Xvfb), and cross-checks that
# anndata, pandas, Hugging Face datasets and transformers read what we write.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
# A one-off build gains nothing from incremental caches, which take gigabytes.
export CARGO_INCREMENTAL=0
export PIP_NO_CACHE_DIR=1
phase() { echo "== [$(date +%T)] $* (disk free: $(df -h --output=avail . | tail -1 | tr -d ' '))"; }

# The app embeds the built UI, so it comes first.
phase "UI: install, type check, unit tests, build"
(cd ui && npm ci --no-audit --no-fund && npx tsc --noEmit && npm test && npm run build)
phase "Rust: format, lints, tests"
cargo fmt --all -- --check
# No module cycle, no function over 100 lines, no Tauri command over 17.
python3 scripts/check-shape.py
# One compile serves lints and tests: clippy-driver wraps rustc for the
# workspace's crates, through the variables `cargo clippy` itself sets, so the
# test build is linted (-D warnings, every target) and nothing is compiled
# twice (a separate `cargo clippy` took 18 of CI's 41 minutes).
export RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --no-run
cargo test --workspace

phase "Cross-checks with Python (anndata, pandas, datasets, transformers)"
scripts/python-env.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
c2s=target/debug/c2s
$c2s convert assets/pbmc3k-10x.h5ad -o "$tmp/ds" --labels cell_type >/dev/null
$c2s reconstruct "$tmp/ds" -o "$tmp/reconstructed.h5ad" >/dev/null
# The second dataset with zstd pages (small ones are plain by default), so both kinds are read by Python.
$c2s convert ../shared/data/liao2020-C149-cellranger.h5 -o "$tmp/tenx" --compression zstd >/dev/null
.venv/bin/python tests/interop/check_outputs.py "$tmp/ds" "$tmp/reconstructed.h5ad" assets/pbmc3k-10x.h5ad
.venv/bin/python tests/interop/check_outputs.py "$tmp/tenx"
# anndata's other built-in compression, lzf, gives the same sentences.
.venv/bin/python -c "import anndata, sys; anndata.read_h5ad(sys.argv[1]).write_h5ad(sys.argv[2], compression='lzf')" \
  assets/pbmc3k-10x.h5ad "$tmp/lzf.h5ad"
$c2s convert "$tmp/lzf.h5ad" -o "$tmp/lzf" --labels cell_type >/dev/null
cmp "$tmp/ds/sentences.txt" "$tmp/lzf/sentences.txt"
# transformers loads a model we trained (and, with torch, gives our logits).
$c2s convert ../shared/data/wu2020-tcells-200.h5ad -o "$tmp/wu" --labels cluster_orig >/dev/null
$c2s train "$tmp/wu" -o "$tmp/run" --layers 1 --width 32 --heads 2 --context 128 --top-k 20 --max-steps 2 >/dev/null
# `cargo test` above built the example (and the app) with the same features;
# building them alone would recompile the engine with another feature set.
text="The cell type of the cell with the genes CD3D CD8A GZMB is"
target/debug/examples/logits "$tmp/run/model" "$text" \
  | .venv/bin/python -c "import json, sys; d = json.load(sys.stdin); d['text'] = sys.argv[1]; print(json.dumps(d))" "$text" > "$tmp/ours.json"
.venv/bin/python tests/interop/check_transformers.py "$tmp/run/model" "$tmp/ours.json" ../shared/fixtures/tiny-gpt2
# A published C2S-Pythia-layout model fine-tuned here loads in transformers
# with our logits.
target/debug/examples/tiny_published "$tmp/pythia" ../shared/fixtures/gpt-neox-tokenizer/tokenizer.json >/dev/null
$c2s train "$tmp/wu" -o "$tmp/pythia-run" --base "$tmp/pythia" --top-k 20 --max-steps 2 >/dev/null
target/debug/examples/logits "$tmp/pythia-run/model" "$text" \
  | .venv/bin/python -c "import json, sys; d = json.load(sys.stdin); d['text'] = sys.argv[1]; print(json.dumps(d))" "$text" > "$tmp/ours-neox.json"
.venv/bin/python tests/interop/check_transformers_neox.py "$tmp/pythia-run/model" "$tmp/ours-neox.json" ../shared/fixtures/tiny-gpt-neox
# CellTypist's refinements saved by `c2s predict --h5ad` read back by anndata.
$c2s predict "$tmp/run/model" "$tmp/wu" --split all --unassigned-below 0.3 --majority-voting \
  --h5ad "$tmp/wu-annotated.h5ad" >/dev/null
.venv/bin/python tests/interop/check_annotated.py "$tmp/wu-annotated.h5ad" ../shared/data/wu2020-tcells-200.h5ad cluster_orig 0.3
# The published models' prompts, byte for byte as cell2sentence 1.2.0 builds them.
target/debug/examples/published_prompts > "$tmp/prompts.json"
.venv/bin/python tests/interop/check_published_prompts.py "$tmp/prompts.json"

# The app's window, driven end to end (screenshots in ui/e2e/screenshots/).
phase "App window tests"
command -v tauri-driver >/dev/null || env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS cargo install tauri-driver --version 2.1.0 --locked
# A tiny GPT-2 with the real GPT-2 tokenizer: the window test fine-tunes it.
export C2S_TINY_GPT2="$tmp/tiny-gpt2"
# A published-layout GPT-NeoX (made above): the model manager's folder route.
export C2S_TINY_PYTHIA="$tmp/pythia"
.venv/bin/python tests/interop/make_tiny_gpt2.py "$C2S_TINY_GPT2" ../shared/fixtures/gpt2-tokenizer/tokenizer.json >/dev/null
# The app's data, read afterwards to compare its annotation with the CLI's.
export C2S_STUDIO_HOME="$tmp/studio"
mkdir -p "$C2S_STUDIO_HOME"
# The journeys take 4 to 6 minutes here; a hang fails after 25 instead of
# holding CI to its limit.
if ! timeout -k 30 1500 xvfb-run -a -s "-screen 0 1440x900x24" bash -c "cd ui && npm run e2e"; then
  echo "Window tests failed; the last lines of tauri-driver's and the app's log:" >&2
  tail -n 40 ui/e2e/screenshots/driver.log >&2 || true
  exit 1
fi
.venv/bin/python tests/interop/check_annotated.py "$(cat ui/e2e/screenshots/annotated-path.txt)" assets/pbmc3k-10x.h5ad
# The app and the CLI write the same predictions and report for the same inputs.
.venv/bin/python tests/interop/check_same_annotation.py "$C2S_STUDIO_HOME" "$c2s"
# The installer: the .deb of this test build, installed with apt (which
# resolves its dependencies), started as installed, then removed.
if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
  phase "Installer: .deb made, installed, started and removed"
  sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  rm -rf target/debug/bundle/deb
  scripts/package.sh --debug --bundles deb
  # (Its name holds the product's space, which apt's argument parsing dislikes.)
  cp "$(find target/debug/bundle/deb -maxdepth 1 -name '*.deb' | head -1)" "$tmp/c2s-studio.deb"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$tmp/c2s-studio.deb" >/dev/null
  [[ -x /usr/bin/c2s-studio && "$(command -v c2s)" == /usr/bin/c2s ]]
  user_home="$tmp/user-home"
  mkdir -p "$user_home"
  if ! timeout -k 30 600 xvfb-run -a -s "-screen 0 1440x900x24" \
      env -u C2S_STUDIO_HOME -u C2S_STUDIO_DEMO -u HF_HOME -u XDG_DATA_HOME -u XDG_CACHE_HOME -u XDG_CONFIG_HOME \
      HOME="$user_home" C2S_STUDIO_BIN=/usr/bin/c2s-studio TAURI_DRIVER="$(command -v tauri-driver)" \
      bash -c "cd ui && node --test e2e/installed-app.mjs"; then
    echo "The installed app's window test failed; the last lines of tauri-driver's and the app's log:" >&2
    tail -n 40 ui/e2e/screenshots/driver.log >&2 || true
    $sudo apt-get remove -y -qq c2s-studio >/dev/null || true
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get remove -y -qq c2s-studio >/dev/null
  # Removed: the app, its command and resources; kept: the user's projects.
  [[ ! -e /usr/bin/c2s-studio && ! -e /usr/bin/c2s && ! -e "/usr/lib/C2S Studio" ]] \
    || { echo "removing the package left the app behind" >&2; exit 1; }
  data="$user_home/.local/share/org.c2s.studio"
  [[ -f "$data/studio.sqlite" && -n "$(find "$data/projects" -name manifest.json)" ]] \
    || { echo "removing the package lost the user's projects in $data" >&2; exit 1; }
  echo "installed, started from the package, removed; the user's projects kept in $data"
fi
phase "All tests passed."
