#!/usr/bin/env bash
# Training and generation throughput, ours against PyTorch + transformers,
# same shapes, same run. On the CPU (2 threads each), targets: training at
# least 1.0x PyTorch, generation (greedy, KV cache) at least 2x transformers.
# BENCH_DEVICE=cuda builds with `--features cuda` (nvcc needed) and runs both
# on the GPU, with batches that suit one.
#
# usage: bench/model.sh        (PYTHON=/path/to/python with torch+transformers,
#                               else a venv in bench/.venv-torch is made: large)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
gpu=0
[[ "${BENCH_DEVICE:-cpu}" == cuda ]] && gpu=1
if ((gpu)); then
  cargo build --release -q -p c2s-model --features cuda --example throughput
else
  cargo build --release -q -p c2s-model --example throughput
fi
py="${PYTHON:-bench/.venv-torch/bin/python}"
if ! "$py" -c "import torch, transformers" 2>/dev/null; then
  python3 -m venv bench/.venv-torch
  bench/.venv-torch/bin/pip install -q torch transformers
  py=bench/.venv-torch/bin/python
fi
((gpu)) || export RAYON_NUM_THREADS=2 THREADS=2
ours=target/release/examples/throughput
row() {
  local what="$1"; shift
  local a b
  a=$($ours "$@" 2>/dev/null)
  b=$("$py" bench/model_torch.py "$@" 2>/dev/null | tail -1)
  python3 -c "print(f'{\"$what\":<44} c2s {float($a):>9.1f} tok/s   PyTorch {float($b):>9.1f} tok/s   ratio {float($a)/float($b):.2f}x')"
}
# compact: 4 layers, width 256, a gene vocabulary of 14,000; GPT-2 small: 12 x 768, 50,257 tokens.
if ((gpu)); then
  row "train compact (4x256, batch 32 x 256)"     train 4 256 4 512 14000 32 256 20
  row "train GPT-2 small (12x768, batch 8 x 512)" train 12 768 12 1024 50257 8 512 10
else
  row "train compact (4x256, batch 8 x 256)"      train 4 256 4 512 14000 8 256 5
  row "train GPT-2 small (12x768, batch 4 x 128)" train 12 768 12 1024 50257 4 128 2
fi
# Generation as `c2s generate` runs it: on the CPU the matrices stream as f16
# copies (all arithmetic f32); the f32 rows show what the copies add.
row "generate compact (greedy, 128 new)"        generate 4 256 4 512 14000 128
row "generate GPT-2 small (greedy, 64 new)"     generate 12 768 12 1024 50257 64
if ((!gpu)); then
  C2S_PRECISION=f32 row "generate compact, f32 weights only"    generate 4 256 4 512 14000 128
  C2S_PRECISION=f32 row "generate GPT-2 small, f32 weights only" generate 12 768 12 1024 50257 64
  TORCH_DTYPE=bfloat16 row "generate GPT-2 small, transformers bf16" generate 12 768 12 1024 50257 64
fi
