"""Stand-in generated cells for bench/eval.sh: real sentences of a dataset
(read from its Parquet file with pyarrow when present, else its JSONL),
cut to 100 genes, with neighbouring genes swapped at random."""
import json
import random
import sys
from pathlib import Path

ds, label, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rows = []
jsonl = ds / "sentences.jsonl"
if jsonl.exists():
    rows = [json.loads(l) for l in jsonl.open()]
else:
    import pyarrow.parquet as pq
    rows = pq.read_table(ds / "sentences.parquet").to_pylist()
random.seed(0)
for r in random.sample(rows, min(n, len(rows))):
    genes = r["cell_sentence"].split(" ")[:100]
    for i in range(0, len(genes) - 1, 3):
        if random.random() < 0.5:
            genes[i], genes[i + 1] = genes[i + 1], genes[i]
    print(json.dumps({"cell_name": "gen_" + r["cell_name"], "cell_sentence": " ".join(genes), "cell_type": r.get(label)}))
