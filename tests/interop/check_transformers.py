"""Checks that Hugging Face transformers loads a model folder C2S Studio wrote.

usage: check_transformers.py MODEL_DIR OURS_JSON
OURS_JSON: {"text", "ids", "logits_last"} from crates/c2s-model/examples/logits.rs.

Always: transformers reads config.json and tokenizer.json and encodes the text
to our ids; safetensors (numpy) holds every GPT2LMHeadModel weight with its
shape. Where torch is installed: GPT2LMHeadModel.from_pretrained loads the
folder and its logits equal ours to 1e-4.
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from transformers import AutoConfig, PreTrainedTokenizerFast

model_dir = Path(sys.argv[1])
ours = json.loads(Path(sys.argv[2]).read_text())

cfg = AutoConfig.from_pretrained(model_dir)
assert cfg.model_type == "gpt2", cfg.model_type
tok = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
ids = tok(ours["text"])["input_ids"]
assert ids == ours["ids"], (ids, ours["ids"])

w = load_file(model_dir / "model.safetensors")
e, v, p = cfg.n_embd, cfg.vocab_size, cfg.n_positions
want = {"transformer.wte.weight": (v, e), "transformer.wpe.weight": (p, e),
        "transformer.ln_f.weight": (e,), "transformer.ln_f.bias": (e,)}
inner = cfg.n_inner or 4 * e
for i in range(cfg.n_layer):
    h = f"transformer.h.{i}."
    want.update({h + "ln_1.weight": (e,), h + "ln_1.bias": (e,), h + "ln_2.weight": (e,), h + "ln_2.bias": (e,),
                 h + "attn.c_attn.weight": (e, 3 * e), h + "attn.c_attn.bias": (3 * e,),
                 h + "attn.c_proj.weight": (e, e), h + "attn.c_proj.bias": (e,),
                 h + "mlp.c_fc.weight": (e, inner), h + "mlp.c_fc.bias": (inner,),
                 h + "mlp.c_proj.weight": (inner, e), h + "mlp.c_proj.bias": (e,)})
got = {k: tuple(a.shape) for k, a in w.items() if not k.endswith((".attn.bias", ".attn.masked_bias")) and k != "lm_head.weight"}
assert got == want, sorted(set(got.items()) ^ set(want.items()))[:6]

try:
    import torch
    from transformers import GPT2LMHeadModel
except ImportError:
    print(f"transformers reads {model_dir} (config, tokenizer, weights); torch not installed, logits not compared")
    sys.exit(0)
model = GPT2LMHeadModel.from_pretrained(model_dir).eval()
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0, -1].numpy()
diff = float(np.abs(logits - np.array(ours["logits_last"], dtype=np.float32)).max())
assert diff < 1e-4, diff
print(f"transformers {__import__('transformers').__version__} loads {model_dir}: logits equal ours (max difference {diff:.2e})")
