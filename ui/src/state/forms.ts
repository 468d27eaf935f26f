// Defaults of the wizards, chosen from what the file holds.

// What a file holds, as the engine's inspection describes it (made from the
// Rust types, with its notes and their fixes).
import type { ColumnSummary, Inspection } from "../bindings";
export type { ColumnSummary, Inspection, MatrixReport, Note } from "../bindings";

export interface InputForm {
  matrix: string;
  gene_column: string;
  make_unique: boolean;
  min_genes: number;
  min_cells: number;
  target_sum: number | null;
  log_base: "10" | "e";
  seed: number;
}

/** InputForm as the engine fills it from its defaults (no matrix or
 *  gene column chosen: the file decides). */
export type InputDefaults = Omit<InputForm, "matrix" | "gene_column"> & {
  matrix: string | null;
  gene_column: string | null;
};

export interface ConvertForm {
  input: InputForm;
  labels: string[];
  stratify: string;
}

/** Columns that name cell types or groups: text with few distinct values. */
export function labelCandidates(i: Inspection): ColumnSummary[] {
  return i.obs_columns.filter(
    (c) => (c.kind === "categorical" || c.kind === "text" || c.kind === "boolean") && c.distinct >= 2 && c.distinct <= Math.max(100, i.cells / 20),
  );
}

const TYPE_HINT = /cell.?type|celltype|annotation|label|cluster|louvain|leiden/i;

/** The wizard's first settings: the engine's defaults (`defaults`, from
 *  open_dataset), the file's own matrix and symbol column, and the column
 *  that looks like the cell type. */
export function defaultConvertForm(i: Inspection, defaults: InputDefaults): ConvertForm {
  const candidates = labelCandidates(i);
  const typeLike = candidates.filter((c) => TYPE_HINT.test(c.name));
  const labels = (typeLike.length ? typeLike : candidates).slice(0, 1).map((c) => c.name);
  return {
    input: {
      matrix: defaults.matrix ?? i.default_matrix,
      gene_column: defaults.gene_column ?? (i.gene_names_look_like_ensembl && i.gene_symbol_column ? i.gene_symbol_column : ""),
      make_unique: defaults.make_unique,
      min_genes: defaults.min_genes,
      min_cells: defaults.min_cells,
      target_sum: defaults.target_sum,
      log_base: defaults.log_base,
      seed: defaults.seed,
    },
    labels,
    stratify: labels[0] ?? "",
  };
}

/** Applies a warning's one-click fix ({matrix} or {gene_column}). */
export function applyFix(form: ConvertForm, fix: Record<string, string>): ConvertForm {
  const input = { ...form.input };
  if (fix.matrix !== undefined) input.matrix = fix.matrix;
  if (fix.gene_column !== undefined) input.gene_column = fix.gene_column;
  return { ...form, input };
}
