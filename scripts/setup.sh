#!/usr/bin/env bash
# Installs what building C2S Studio needs and is missing: a C compiler, make,
# pkg-config and CMake (HDF5 is built from source into the binaries, so they
# need no HDF5 library at run time), the desktop app's WebKitGTK libraries and
# Node.js (apt-get on Debian/Ubuntu, Homebrew on macOS), and Rust (rustup)
# when there is no cargo. `--test` adds what the app's window tests need (Xvfb,
# WebKitWebDriver).
set -euo pipefail
for_tests=0
[[ "${1:-}" == "--test" ]] && for_tests=1

if [[ "$(uname)" == "Darwin" ]]; then
  command -v brew >/dev/null || { echo "Install Homebrew (https://brew.sh) first." >&2; exit 1; }
  command -v pkg-config >/dev/null || brew install pkg-config
  command -v cmake >/dev/null || brew install cmake
  command -v npm >/dev/null || brew install node
else
  missing=()
  command -v cc >/dev/null || missing+=(build-essential)
  command -v make >/dev/null || missing+=(make)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
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

# HDF5's build needs CMake 3.26 or later (Debian 12 ships 3.25): a recent one
# from PyPI goes into .tools/ (scripts/cmake finds it) when the system's is older.
cmake_recent() {
  command -v "$1" >/dev/null || return 1
  "$1" --version 2>/dev/null | awk 'NR == 1 { split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 26)) }'
}
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if ! cmake_recent cmake && ! cmake_recent "$tools/cmake/bin/cmake"; then
  echo "Installing CMake (PyPI) into $tools/cmake"
  python3 -m venv "$tools/cmake"
  "$tools/cmake/bin/pip" install -q "cmake>=3.26"
fi

if ! command -v cargo >/dev/null; then
  [[ -x "$HOME/.cargo/bin/cargo" ]] || curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
fi
