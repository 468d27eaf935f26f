#!/usr/bin/env bash
# Installs what building C2S Studio needs and is missing: a C compiler,
# pkg-config and the HDF5 library (apt-get on Debian/Ubuntu, Homebrew on macOS),
# the desktop app's WebKitGTK libraries and Node.js, and Rust (rustup) when
# there is no cargo. `--test` adds what the app's window tests need (Xvfb,
# WebKitWebDriver).
set -euo pipefail
for_tests=0
[[ "${1:-}" == "--test" ]] && for_tests=1

if [[ "$(uname)" == "Darwin" ]]; then
  command -v brew >/dev/null || { echo "Install Homebrew (https://brew.sh) first." >&2; exit 1; }
  brew list hdf5 >/dev/null 2>&1 || brew install hdf5 pkg-config
  command -v npm >/dev/null || brew install node
  export HDF5_DIR="$(brew --prefix hdf5)"
else
  missing=()
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if ! pkg-config --exists hdf5 2>/dev/null && ! ls /usr/lib/*/hdf5/serial/libhdf5.so >/dev/null 2>&1; then
    missing+=(libhdf5-dev)
  fi
  # The desktop app (Tauri 2): WebKitGTK and friends, and Node.js for the UI.
  pkg-config --exists webkit2gtk-4.1 2>/dev/null || missing+=(libwebkit2gtk-4.1-dev)
  pkg-config --exists gtk+-3.0 2>/dev/null || missing+=(libgtk-3-dev)
  pkg-config --exists librsvg-2.0 2>/dev/null || missing+=(librsvg2-dev)
  pkg-config --exists libsoup-3.0 2>/dev/null || missing+=(libsoup-3.0-dev)
  command -v npm >/dev/null || missing+=(nodejs npm)
  if ((for_tests)); then
    command -v xvfb-run >/dev/null || missing+=(xvfb xauth)
    command -v WebKitWebDriver >/dev/null || missing+=(webkit2gtk-driver)
  fi
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
  if ((${#missing[@]})); then
    sudo=""
    [[ "$(id -u)" != 0 ]] && sudo="sudo"
    echo "Installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if ! command -v cargo >/dev/null; then
  [[ -x "$HOME/.cargo/bin/cargo" ]] || curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
fi
