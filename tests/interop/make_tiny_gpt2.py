"""Writes a tiny GPT-2 folder with the real GPT-2 tokenizer (Hugging Face
layout: config.json, model.safetensors, tokenizer.json), random weights: a
stand-in for pretrained GPT-2 that the window test fine-tunes in seconds.

usage: make_tiny_gpt2.py OUT_DIR GPT2_TOKENIZER_JSON"""
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import save_file

out, tokenizer = sys.argv[1], sys.argv[2]
vocab, positions, width, layers = 50257, 1024, 32, 1
rng = np.random.default_rng(0)


def normal(*shape):
    return (0.02 * rng.standard_normal(shape)).astype(np.float32)


w = {"transformer.wte.weight": normal(vocab, width), "transformer.wpe.weight": normal(positions, width)}
for i in range(layers):
    h = f"transformer.h.{i}."
    for ln in ("ln_1", "ln_2"):
        w[h + ln + ".weight"] = np.ones(width, np.float32)
        w[h + ln + ".bias"] = np.zeros(width, np.float32)
    # Conv1D layout: [in, out].
    for name, (a, b) in {"attn.c_attn": (width, 3 * width), "attn.c_proj": (width, width),
                         "mlp.c_fc": (width, 4 * width), "mlp.c_proj": (4 * width, width)}.items():
        w[h + name + ".weight"] = normal(a, b)
        w[h + name + ".bias"] = np.zeros(b, np.float32)
w["transformer.ln_f.weight"] = np.ones(width, np.float32)
w["transformer.ln_f.bias"] = np.zeros(width, np.float32)
os.makedirs(out, exist_ok=True)
save_file(w, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": vocab, "n_positions": positions,
          "n_ctx": positions, "n_embd": width, "n_layer": layers, "n_head": 2, "activation_function": "gelu_new",
          "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256}
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
shutil.copy(tokenizer, os.path.join(out, "tokenizer.json"))
print(out)
