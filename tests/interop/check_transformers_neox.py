"""Checks that Hugging Face transformers loads a GPT-NeoX folder C2S Studio
wrote (a published C2S-Pythia model fine-tuned here), as check_transformers.py
does for GPT-2.

OURS_JSON: {"text", "ids", "logits_last"} from crates/c2s-model/examples/logits.rs.

Always: transformers reads config.json (GPTNeoXConfig) and tokenizer.json and
encodes the text to our ids; safetensors (numpy) holds every
GPTNeoXForCausalLM weight with its shape. Where torch is installed:
GPTNeoXForCausalLM.from_pretrained loads the folder and its logits equal ours
to 1e-4. Without torch, GPT-NeoX's forward pass in numpy stands in, first
checked against the logits transformers wrote for the tiny-gpt-neox fixture
(FIXTURE_DIR, both config spellings), then run on our folder.

usage: check_transformers_neox.py MODEL_DIR OURS_JSON FIXTURE_DIR
"""
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from transformers import AutoConfig, PreTrainedTokenizerFast

model_dir, fixture = Path(sys.argv[1]), Path(sys.argv[3])
ours = json.loads(Path(sys.argv[2]).read_text())

cfg = AutoConfig.from_pretrained(model_dir)
assert cfg.model_type == "gpt_neox", cfg.model_type
tok = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
ids = tok(ours["text"])["input_ids"]
assert ids == ours["ids"], (ids, ours["ids"])


def rotary(cfg):
    """(fraction of each head rotated, base), in either transformers spelling."""
    rp = getattr(cfg, "rope_parameters", None) or {}
    pct = rp.get("partial_rotary_factor", getattr(cfg, "partial_rotary_factor", None))
    if pct is None:
        pct = getattr(cfg, "rotary_pct", 0.25)
    base = rp.get("rope_theta", getattr(cfg, "rotary_emb_base", getattr(cfg, "rope_theta", 10000)))
    return pct, base


def expected_shapes(cfg):
    e, i, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    want = {"gpt_neox.embed_in.weight": (v, e), "embed_out.weight": (v, e),
            "gpt_neox.final_layer_norm.weight": (e,), "gpt_neox.final_layer_norm.bias": (e,)}
    for l in range(cfg.num_hidden_layers):
        h = f"gpt_neox.layers.{l}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            want[h + n + ".weight"] = (e,)
            want[h + n + ".bias"] = (e,)
        want.update({h + "attention.query_key_value.weight": (3 * e, e), h + "attention.query_key_value.bias": (3 * e,),
                     h + "attention.dense.weight": (e, e), h + "attention.dense.bias": (e,),
                     h + "mlp.dense_h_to_4h.weight": (i, e), h + "mlp.dense_h_to_4h.bias": (i,),
                     h + "mlp.dense_4h_to_h.weight": (e, i), h + "mlp.dense_4h_to_h.bias": (e,)})
    return want


w = load_file(model_dir / "model.safetensors")
got = {k: tuple(a.shape) for k, a in w.items()}
want = expected_shapes(cfg)
assert got == want, sorted(set(got.items()) ^ set(want.items()))[:6]


def numpy_neox_logits(cfg, w, ids):
    """Logits of GPTNeoXForCausalLM (transformers' modeling_gpt_neox, eval
    mode, exact GELU) for one sequence, in float64 numpy."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    e, heads = cfg.hidden_size, cfg.num_attention_heads
    d, t = e // heads, len(ids)
    pct, base = rotary(cfg)
    rot = int(d * pct)
    inv = 1.0 / base ** (np.arange(0, rot, 2) / rot)
    ang = np.outer(np.arange(t), inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def norm(x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg.layer_norm_eps) * w[name + ".weight"] + w[name + ".bias"]

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def rope(x):
        r, rest = x[..., :rot], x[..., rot:]
        half = rot // 2
        rotated = np.concatenate([-r[..., half:], r[..., :half]], -1)
        return np.concatenate([r * cos + rotated * sin, rest], -1)

    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    x = w["gpt_neox.embed_in.weight"][ids]
    future = np.triu(np.ones((t, t), dtype=bool), 1)
    for l in range(cfg.num_hidden_layers):
        h = f"gpt_neox.layers.{l}."
        qkv = lin(norm(x, h + "input_layernorm"), h + "attention.query_key_value").reshape(t, heads, 3 * d)
        q, k, v = (qkv[..., i * d:(i + 1) * d].transpose(1, 0, 2) for i in range(3))
        q, k = rope(q), rope(k)
        s = np.where(future, -np.inf, q @ k.transpose(0, 2, 1) / np.sqrt(d))
        p = np.exp(s - s.max(-1, keepdims=True))
        p = p / p.sum(-1, keepdims=True)
        attn = lin((p @ v).transpose(1, 0, 2).reshape(t, e), h + "attention.dense")
        mlp = lambda y: lin(gelu(lin(y, h + "mlp.dense_h_to_4h")), h + "mlp.dense_4h_to_h")
        if cfg.use_parallel_residual:
            x = x + attn + mlp(norm(x, h + "post_attention_layernorm"))
        else:
            x = x + attn
            x = x + mlp(norm(x, h + "post_attention_layernorm"))
    x = norm(x, "gpt_neox.final_layer_norm")
    return x @ w["embed_out.weight"].T


try:
    import torch
    from transformers import GPTNeoXForCausalLM
except ImportError:
    expected = json.loads((fixture / "expected.json").read_text())
    fw = load_file(fixture / "model.safetensors")
    want_logits = np.array(expected["logits"])
    for spelling in ("config.json", "config-transformers4.json"):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(fixture / spelling, Path(tmp) / "config.json")
            fcfg = AutoConfig.from_pretrained(tmp)
        for row, row_ids in enumerate(expected["input_ids"]):
            d = float(np.abs(numpy_neox_logits(fcfg, fw, row_ids) - want_logits[row]).max())
            assert d < 1e-4, f"the numpy GPT-NeoX differs from transformers' fixture logits by {d} ({spelling})"
    logits = numpy_neox_logits(cfg, w, ids)[-1]
    diff = float(np.abs(logits - np.array(ours["logits_last"])).max())
    assert diff < 1e-4, diff
    print(f"transformers reads {model_dir} (GPT-NeoX config, tokenizer, weights); GPT-NeoX's forward pass in numpy "
          f"(equal to transformers' on the fixture) gives our logits (max difference {diff:.2e}); torch not installed")
    sys.exit(0)
model = GPTNeoXForCausalLM.from_pretrained(model_dir).eval()
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0, -1].numpy()
diff = float(np.abs(logits - np.array(ours["logits_last"], dtype=np.float32)).max())
assert diff < 1e-4, diff
print(f"transformers {__import__('transformers').__version__} loads {model_dir}: logits equal ours (max difference {diff:.2e})")
