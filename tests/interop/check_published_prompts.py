"""Checks that C2S Studio builds the published models' prompts byte for byte
as cell2sentence 1.2.0's own formatter does, for every template of the five
tasks. Usage: check_published_prompts.py OURS.json (from the published_prompts
example). cell2sentence is installed without its dependencies (torch); only
its prompt_formatter module is loaded, which needs `datasets`."""

import importlib.util
import json
import sys
import types
from pathlib import Path

from datasets import Dataset

spec = importlib.util.find_spec("cell2sentence")
root = Path(spec.submodule_search_locations[0])
mod_spec = importlib.util.spec_from_file_location("c2s_prompt_formatter", root / "prompt_formatter.py")
pf = importlib.util.module_from_spec(mod_spec)
mod_spec.loader.exec_module(pf)

ours = json.load(open(sys.argv[1]))
a = "MALAT1 B2M TMSB4X RPL13 CD74"
b = "CD3E IL7R LTB"
cells = Dataset.from_dict({
    "cell_sentence": [a, b],
    "cell_type": ["CD14-positive monocyte", "T cell"],
    "organism": ["Homo sapiens", "Homo sapiens"],
})
groups = Dataset.from_dict({
    "multi_cell_groupings": [[0, 1]],
    "organism": ["Homo sapiens"],
    "tissue": ["blood"],
    "abstract": ["Monocytes and T cells of the blood"],
})
single = {"cell_type_prediction": "cell_type_prediction", "cell_type_generation": "cell_type_generation"}
multi = {
    "tissue_prediction": "tissue_prediction",
    "tissue_generation": "tissue_conditional_generation",
    "natural_language_interpretation": "natural_language_interpretation",
}
checked = 0
for task, prompts in ours.items():
    for i, p in enumerate(prompts):
        # Template i instead of the formatter's random draw.
        pf.random = types.SimpleNamespace(choice=lambda xs, i=i: xs[i], seed=lambda s: None)
        if task in single:
            f = pf.C2SPromptFormatter(task=single[task], top_k_genes=4)
            row = f.format_hf_ds(cells)[0]
        else:
            f = pf.C2SMultiCellPromptFormatter(task=multi[task], top_k_genes=4)
            row = f.format_hf_ds(cells, groups)[0]
        assert len(prompts) == len(f.prompts_dict["model_input"]), (task, len(prompts))
        assert p["prompt"] == row["model_input"], (task, i, p["prompt"], row["model_input"])
        assert p["response"] == row["response"], (task, i, p["response"], row["response"])
        checked += 1
print(f"published prompts: {checked} templates of {len(ours)} tasks match cell2sentence 1.2.0")
