"""PyTorch + transformers side of bench/model.sh: the same shapes and
measurements as crates/c2s-model/examples/throughput.rs.

usage: model_torch.py train LAYERS WIDTH HEADS CONTEXT VOCAB BATCH SEQ STEPS
       model_torch.py generate LAYERS WIDTH HEADS CONTEXT VOCAB NEW_TOKENS
"""
import os
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
# On a GPU, as ours: TF32 products unless C2S_PRECISION=f32.
dev = "cuda" if torch.cuda.is_available() and os.environ.get("BENCH_DEVICE") == "cuda" else "cpu"
if dev == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = os.environ.get("C2S_PRECISION") != "f32"
print(f"device: {dev}", file=sys.stderr)


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


mode, *n = sys.argv[1:]
n = [int(x) for x in n]
layers, width, heads, context, vocab = n[:5]
cfg = GPT2Config(n_layer=layers, n_embd=width, n_head=heads, n_positions=context, vocab_size=vocab,
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
model = GPT2LMHeadModel(cfg).to(dev)
if mode == "train":
    batch, seq, steps = n[5:8]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step():
        ids = torch.randint(0, vocab, (batch, seq + 1), device=dev)
        loss = model(ids[:, :-1], labels=ids[:, :-1]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    print(f"{batch * seq * steps / (time.perf_counter() - t):.1f}")
else:
    new = n[5]
    # TORCH_DTYPE=bfloat16: transformers' fastest half type on a CPU (its f16 is slower).
    model = model.to(getattr(torch, os.environ.get("TORCH_DTYPE", "float32"))).eval()
    prompt = torch.randint(0, vocab, (1, 16), device=dev)
    kw = dict(do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)
    with torch.no_grad():
        model.generate(prompt, max_new_tokens=4, min_new_tokens=4, **kw)
        best = 0.0
        for _ in range(3):
            t = time.perf_counter()
            out = model.generate(prompt, max_new_tokens=new, min_new_tokens=new, **kw)
            sync()
            best = max(best, (out.shape[1] - 16) / (time.perf_counter() - t))
    print(f"{best:.1f}")
