import { describe, expect, it } from "vitest";
import { applyFix, defaultConvertForm, labelCandidates, type InputDefaults, type Inspection } from "./forms";

// What open_dataset sends (InputOptions::default(); src-tauri's
// the_convert_wizard_gets_the_engines_defaults checks that side).
const engine: InputDefaults = {
  matrix: null,
  gene_column: null,
  make_unique: false,
  min_genes: 0,
  min_cells: 0,
  target_sum: null,
  log_base: "10",
  seed: 42,
};

const col = (name: string, kind: string, distinct: number) => ({ name, kind, distinct, missing: 0, top_values: [] as [string, number][] });
const inspection = (over: Partial<Inspection> = {}): Inspection => ({
  path: "/x.h5ad",
  format: "h5ad",
  cells: 2700,
  genes: 32000,
  matrices: [],
  default_matrix: "X",
  obs_columns: [col("n_genes", "int", 900), col("batch", "categorical", 2), col("cell_type", "categorical", 8), col("barcode", "text", 2700)],
  var_columns: [col("gene_symbols", "text", 32000)],
  gene_symbol_column: "gene_symbols",
  gene_names_look_like_ensembl: false,
  species: "human",
  example_genes: [],
  notes: [],
  ...over,
});

describe("convert wizard defaults", () => {
  it("offers text columns with few values as labels and picks the cell type", () => {
    expect(labelCandidates(inspection()).map((c) => c.name)).toEqual(["batch", "cell_type"]);
    const f = defaultConvertForm(inspection(), engine);
    expect(f.labels).toEqual(["cell_type"]);
    expect(f.stratify).toBe("cell_type");
    expect([f.input.min_genes, f.input.min_cells, f.input.log_base, f.input.seed]).toEqual([0, 0, "10", 42]);
    expect(f.input.matrix).toBe("X");
    expect(f.input.gene_column).toBe("");
  });
  it("uses the symbol column when names are Ensembl IDs", () => {
    const f = defaultConvertForm(inspection({ gene_names_look_like_ensembl: true }), engine);
    expect(f.input.gene_column).toBe("gene_symbols");
  });
  it("takes every setting the engine gives", () => {
    const f = defaultConvertForm(inspection(), { ...engine, min_genes: 200, min_cells: 3, log_base: "e", seed: 7, target_sum: 1e4 });
    expect([f.input.min_genes, f.input.min_cells, f.input.log_base, f.input.seed, f.input.target_sum]).toEqual([200, 3, "e", 7, 1e4]);
  });
  it("applies a warning's fix", () => {
    const f = applyFix(defaultConvertForm(inspection(), engine), { matrix: "raw" });
    expect(f.input.matrix).toBe("raw");
    expect(applyFix(f, { gene_column: "feature_name" }).input.gene_column).toBe("feature_name");
  });
});
