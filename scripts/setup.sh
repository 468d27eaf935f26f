#!/usr/bin/env bash
# Installs what building C2S Studio needs and is missing: a C compiler,
# pkg-config and the HDF5 library (apt-get on Debian/Ubuntu, Homebrew on macOS),
# and Rust (rustup) when there is no cargo.
set -euo pipefail

if [[ "$(uname)" == "Darwin" ]]; then
  command -v brew >/dev/null || { echo "Install Homebrew (https://brew.sh) first." >&2; exit 1; }
  brew list hdf5 >/dev/null 2>&1 || brew install hdf5 pkg-config
  export HDF5_DIR="$(brew --prefix hdf5)"
else
  missing=()
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if ! pkg-config --exists hdf5 2>/dev/null && ! ls /usr/lib/*/hdf5/serial/libhdf5.so >/dev/null 2>&1; then
    missing+=(libhdf5-dev)
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
