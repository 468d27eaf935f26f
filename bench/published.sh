#!/usr/bin/env bash
# The published C2S models' shapes (Pythia-410m, Gemma-2-2B) with random
# weights, ours against transformers in the same run on the same threads:
# prompt processing (prefill of an 800-token prompt, a 200-gene cell) and
# greedy generation tokens/s, and peak memory. Goals on the CPU: at least
# 1.5x transformers' tokens/s; memory at most 1.2x the weights' size. Then
# annotation cells/s of the 410m shape (200-token prompts) with the prompt's KV cache shared
# across 10 candidate labels against scoring each label on its own.
# BENCH_DEVICE=cuda builds with `--features cuda` and runs both on the GPU.
#
# usage: bench/published.sh [SHAPES...]   (default: pythia-410m gemma2-2b;
#        PYTHON=/path/to/python with torch+transformers, else bench/.venv-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
features=()
[[ "${BENCH_DEVICE:-cpu}" == cuda ]] && features=(--features cuda)
cargo build --release -q -p c2s-model "${features[@]}" --example published_throughput
py="${PYTHON:-bench/.venv-torch/bin/python}"
if ! "$py" -c "import torch, transformers" 2>/dev/null; then
  python3 -m venv bench/.venv-torch
  bench/.venv-torch/bin/pip install -q torch transformers
  py=bench/.venv-torch/bin/python
fi
threads="${THREADS:-$(nproc)}"
export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
ours=target/release/examples/published_throughput
shapes=("$@")
((${#shapes[@]})) || shapes=(pythia-410m gemma2-2b)
for s in "${shapes[@]}"; do
  a=$($ours "$s" 800 32 2>/dev/null)
  b=$("$py" bench/published_torch.py "$s" 800 32 2>/dev/null | tail -1)
  python3 - "$s" "$a" "$b" <<'PY'
import json, sys
s, a, b = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
w = a["f32_weights_mb"]
print(f"{s} ({a['parameters'] / 1e6:.0f} M parameters, f32 weights {w:.0f} MB)")
for k, name in [("prefill_tokens_per_s", "prefill (800 tokens)"), ("decode_tokens_per_s", "generation")]:
    print(f"  {name:<22} c2s {a[k]:>8.1f} tok/s   transformers {b[k]:>8.1f} tok/s   ratio {a[k] / b[k]:.2f}x")
print(f"  peak memory            c2s {a['peak_rss_mb']:>8.0f} MB ({a['peak_rss_mb'] / w:.2f}x weights)   "
      f"transformers {b['peak_rss_mb']:>8.0f} MB ({b['peak_rss_mb'] / w:.2f}x)")
PY
done
r=$($ours annotate pythia-410m 200 10 2 2>/dev/null)
python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f\"annotation, 410m shape, 10 labels: shared cache {r['shared_cells_per_s']:.3f} cells/s, each label alone {r['separate_cells_per_s']:.3f} cells/s ({r['shared_cells_per_s']/r['separate_cells_per_s']:.1f}x)\")" "$r"
