#!/usr/bin/env bash
# A Python virtual environment (.venv) with the packages the cross-checks use:
# anndata and pandas read what we write; Hugging Face datasets loads our Parquet.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -c "import anndata, pandas, pyarrow, datasets, transformers, safetensors" 2>/dev/null || \
  .venv/bin/pip install -q --disable-pip-version-check "anndata>=0.10" "pandas>=2" "pyarrow>=14" "datasets>=2.16" \
    "transformers>=4.40" "safetensors>=0.4"
# cell2sentence 1.2.0, the reference, for its prompt formatter only (its
# dependencies include torch; the check loads the one module it needs).
.venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('cell2sentence') is None)" 2>/dev/null || \
  .venv/bin/pip install -q --disable-pip-version-check --no-deps "cell2sentence==1.2.0"
# transformers' logits check needs torch (a large download): opt in with C2S_WITH_TORCH=1.
if [[ "${C2S_WITH_TORCH:-0}" == 1 ]]; then
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q --disable-pip-version-check torch
fi
