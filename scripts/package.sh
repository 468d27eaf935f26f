#!/usr/bin/env bash
# Makes C2S Studio's installers with the Tauri bundler, and prints their sizes:
# .deb and .rpm on Linux (add appimage to --bundles where the bundler can
# download its tools), .app and .dmg on macOS, .msi and NSIS .exe on Windows.
# Each holds the app, the `c2s` command (on the PATH for .deb and .rpm), the
# demo dataset, the licence and the third-party notices.
#
# usage: scripts/package.sh [--debug] [--bundles LIST] [--features cuda|metal]
#   --debug     bundle the debug build that `cargo test` made (no release
#               compile; what the tests install)
#   --bundles   comma-separated bundle kinds (default: this platform's usual ones)
#   --features  a GPU build (CUDA on Linux and Windows, Metal on macOS)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
bundles=""
features=""
while (($#)); do
  case "$1" in
    --debug) profile=debug ;;
    --bundles) bundles="$2"; shift ;;
    --features) features="$2"; shift ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$HOME/.cargo/bin:$PATH"
# Not the test build's lint wrapper: bundling compiles nothing it lints.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

triple="$(rustc -vV | sed -n 's/^host: //p')"
exe=""
case "$triple" in
  *windows*) exe=".exe"; bundles="${bundles:-msi,nsis}" ;;
  *apple*) bundles="${bundles:-app,dmg}" ;;
  *) bundles="${bundles:-deb,rpm}" ;;
esac

[[ -x ui/node_modules/.bin/tauri ]] || (cd ui && npm ci --no-audit --no-fund)
tauri="$PWD/ui/node_modules/.bin/tauri"
feature_args=()
[[ -n "$features" ]] && feature_args=(--features "$features")

# The `c2s` command and the notices go in as the bundler's external binary
# and a resource (src-tauri/tauri.bundle.conf.json; src-tauri/binaries is
# not in git).
mkdir -p src-tauri/binaries
if [[ "$profile" == release ]]; then
  (cd ui && npm run build)
  cargo build --release -p c2s-cli --bin c2s ${feature_args[@]+"${feature_args[@]}"}
else
  [[ -x "target/debug/c2s$exe" && -x "target/debug/c2s-studio$exe" && -f ui/dist/index.html ]] \
    || { echo "--debug bundles the test build: run scripts/test.sh (or cargo build and npm run build) first" >&2; exit 1; }
fi
cp "target/$profile/c2s$exe" "src-tauri/binaries/c2s-$triple$exe"
python="$(command -v python3 || command -v python)"
"$python" scripts/third-party-notices.py src-tauri/binaries/THIRD-PARTY-NOTICES.txt "$triple"

cd src-tauri
if [[ "$profile" == release ]]; then
  "$tauri" build --ci --bundles "$bundles" --config tauri.bundle.conf.json ${feature_args[@]+"${feature_args[@]}"}
else
  # The test build as it is: no new compile, and the binary is not patched
  # (patching marks it for the updater, which the app does not use).
  "$tauri" bundle --ci --debug --no-binary-patching --bundles "$bundles" --config tauri.bundle.conf.json
fi
cd ..

echo "Packages (target/$profile/bundle):"
find "target/$profile/bundle" -maxdepth 2 -type f \
  \( -name '*.deb' -o -name '*.rpm' -o -name '*.AppImage' -o -name '*.dmg' -o -name '*.msi' -o -name '*-setup.exe' \) \
  -newer src-tauri/binaries/THIRD-PARTY-NOTICES.txt \
  | while read -r f; do echo "$(wc -c <"$f" | awk '{printf "%.1f MB", $1 / 1e6}')  $f"; done
