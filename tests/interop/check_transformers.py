"""Checks that Hugging Face transformers loads a model folder C2S Studio wrote.

OURS_JSON: {"text", "ids", "logits_last"} from crates/c2s-model/examples/logits.rs.

Always: transformers reads config.json and tokenizer.json and encodes the text
to our ids; safetensors (numpy) holds every GPT2LMHeadModel weight with its
shape. Where torch is installed: GPT2LMHeadModel.from_pretrained loads the
folder and its logits equal ours to 1e-4. Without torch (CI: its wheels are
gigabytes), GPT2LMHeadModel's forward pass written in numpy stands in: it is
first checked against the logits transformers wrote for the tiny-gpt2
fixture (FIXTURE_DIR, optional third argument), then run on our folder.

usage: check_transformers.py MODEL_DIR OURS_JSON [FIXTURE_DIR]
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



def numpy_gpt2_logits(cfg, w, ids):
    """Logits of GPT2LMHeadModel (transformers' modeling_gpt2, eval mode) for
    one sequence, in float64 numpy."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    e, heads = cfg.n_embd, cfg.n_head
    d, t = e // heads, len(ids)

    def norm(x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg.layer_norm_epsilon) * w[name + ".weight"] + w[name + ".bias"]

    act = {
        "gelu_new": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        "gelu_pytorch_tanh": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        "relu": lambda x: np.maximum(x, 0),
    }[cfg.activation_function]
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:t]
    future = np.triu(np.ones((t, t), dtype=bool), 1)
    for i in range(cfg.n_layer):
        h = f"transformer.h.{i}."
        qkv = norm(x, h + "ln_1") @ w[h + "attn.c_attn.weight"] + w[h + "attn.c_attn.bias"]
        q, k, v = (a.reshape(t, heads, d).transpose(1, 0, 2) for a in np.split(qkv, 3, axis=-1))
        s = q @ k.transpose(0, 2, 1)
        if cfg.scale_attn_weights:
            s = s / np.sqrt(d)
        if cfg.scale_attn_by_inverse_layer_idx:
            s = s / (i + 1)
        s = np.where(future, -np.inf, s)
        p = np.exp(s - s.max(-1, keepdims=True))
        p = p / p.sum(-1, keepdims=True)
        y = (p @ v).transpose(1, 0, 2).reshape(t, e)
        x = x + y @ w[h + "attn.c_proj.weight"] + w[h + "attn.c_proj.bias"]
        m = act(norm(x, h + "ln_2") @ w[h + "mlp.c_fc.weight"] + w[h + "mlp.c_fc.bias"])
        x = x + m @ w[h + "mlp.c_proj.weight"] + w[h + "mlp.c_proj.bias"]
    x = norm(x, "transformer.ln_f")
    return x @ w.get("lm_head.weight", w["transformer.wte.weight"]).T


try:
    import torch
    from transformers import GPT2LMHeadModel
except ImportError:
    if len(sys.argv) < 4:
        print(f"transformers reads {model_dir} (config, tokenizer, weights); torch not installed, logits not compared")
        sys.exit(0)
    fixture = Path(sys.argv[3])
    expected = json.loads((fixture / "expected.json").read_text())
    fcfg = AutoConfig.from_pretrained(fixture)
    fw = load_file(fixture / "model.safetensors")
    want_logits = np.array(expected["logits"])
    for row, row_ids in enumerate(expected["input_ids"]):
        d = float(np.abs(numpy_gpt2_logits(fcfg, fw, row_ids) - want_logits[row]).max())
        assert d < 1e-4, f"the numpy GPT-2 differs from transformers' fixture logits by {d}"
    logits = numpy_gpt2_logits(cfg, w, ids)[-1]
    diff = float(np.abs(logits - np.array(ours["logits_last"])).max())
    assert diff < 1e-4, diff
    print(f"transformers reads {model_dir} (config, tokenizer, weights); GPT-2's forward pass in numpy "
          f"(equal to transformers' on the fixture) gives our logits (max difference {diff:.2e}); torch not installed")
    sys.exit(0)
model = GPT2LMHeadModel.from_pretrained(model_dir).eval()
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0, -1].numpy()
diff = float(np.abs(logits - np.array(ours["logits_last"], dtype=np.float32)).max())
assert diff < 1e-4, diff
print(f"transformers {__import__('transformers').__version__} loads {model_dir}: logits equal ours (max difference {diff:.2e})")
