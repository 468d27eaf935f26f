"""transformers on the shapes of examples/published_throughput.rs, random
weights, f32 on the CPU (bf16 on a GPU, or with TORCH_DTYPE=bf16): prefill and greedy generation speed
and peak memory, one JSON line. usage: published_torch.py SHAPE PROMPT NEW

As for ours, the random weights are made and saved by another process and
loaded with from_pretrained, as a user runs a model: the peak memory is
loading's and running's."""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
from transformers import Gemma2Config, Gemma2ForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

from transformers import AutoModelForCausalLM


def random_model(shape):
    torch.manual_seed(0)
    if shape == "pythia-410m":
        return GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=50304, hidden_size=1024, num_hidden_layers=24,
            num_attention_heads=16, intermediate_size=4096, max_position_embeddings=2048, rotary_pct=0.25))
    if shape == "gemma2-2b":
        return Gemma2ForCausalLM(Gemma2Config(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
            num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4, head_dim=256,
            max_position_embeddings=8192, query_pre_attn_scalar=256))
    return GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=50304, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=256, max_position_embeddings=2048, rotary_pct=0.25))


if sys.argv[1] == "make":
    random_model(sys.argv[2]).save_pretrained(sys.argv[3])
    sys.exit()
shape, prompt_len, new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dev = "cuda" if torch.cuda.is_available() else "cpu"
with tempfile.TemporaryDirectory() as folder:
    subprocess.run([sys.executable, os.path.abspath(__file__), "make", shape, folder], check=True)
    # TORCH_DTYPE=bf16 runs the CPU in bf16 too (oneDNN's AMX kernels where
    # the CPU has them), for comparison with c2s's bf16x3 products.
    bf16 = dev == "cuda" or os.environ.get("TORCH_DTYPE") == "bf16"
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.bfloat16 if bf16 else torch.float32).to(dev).eval()
ids = torch.randint(2, 50000, (1, prompt_len), device=dev)


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


with torch.inference_mode():
    model(ids[:, :16], logits_to_keep=1)
    sync()
    # The median of 3 timed prompts, as published_throughput times c2s's.
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        model(ids, logits_to_keep=1)
        sync()
        rates.append(prompt_len / (time.perf_counter() - t))
    prefill = sorted(rates)[1]
    t = time.perf_counter()
    out = model.generate(ids[:, :16], max_new_tokens=new, min_new_tokens=new, do_sample=False)
    sync()
    decode = (out.shape[1] - 16) / (time.perf_counter() - t)
print(json.dumps({
    "prefill_tokens_per_s": prefill, "decode_tokens_per_s": decode,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
