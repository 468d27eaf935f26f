// One colour per cell type on every screen of a project. Types are coloured
// in sorted order from scanpy's 20-colour palette (so sorted categories get
// the colours a scanpy user knows); a type keeps its colour once given, and
// types met later take the next colours still free. The assignment is kept per
// project and label column in the web view's storage, so screens and
// sessions agree.

/** scanpy's `default_20` (vega's category20, reordered). */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#279e68", "#d62728", "#aa40fc", "#8c564b", "#e377c2", "#b5bd61", "#17becf", "#aec7e8",
  "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#ad494a", "#8c6d31",
];

/** Answers that are not a type (CellTypist's, and missing labels): grey. */
export const NO_TYPE_COLOUR = "#b0b0b0";
const NO_TYPE = new Set(["Unassigned", "Heterogeneous", "(not annotated)", "", "nan", "NaN", "unknown", "Unknown", "cells"]);

export type Colours = Record<string, string>;

/**
 * `known` with colours for the `labels` it lacks: sorted (as pandas sorts a
 * categorical's categories), each taking the first palette colour no type has
 * yet; past 20 types the palette repeats. `known` is not changed.
 */
export function assignColours(known: Colours, labels: Iterable<string>): Colours {
  const out: Colours = { ...known };
  const fresh = [...new Set(labels)].filter((l) => !(l in out) && !NO_TYPE.has(l)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let used = Object.values(out).filter((c) => c !== NO_TYPE_COLOUR).length;
  for (const l of fresh) {
    const taken = new Set(Object.values(out));
    out[l] = PALETTE.find((c) => !taken.has(c)) ?? PALETTE[used % PALETTE.length];
    used += 1;
  }
  return out;
}

/** The colour of `label` under `colours` (grey for answers that are not a type). */
export function colourOf(colours: Colours, label: string): string {
  return NO_TYPE.has(label) ? NO_TYPE_COLOUR : (colours[label] ?? NO_TYPE_COLOUR);
}

const key = (projectId: number, column: string) => `c2s-colours-${projectId}-${column}`;

/** The colours of a project's label column, with `labels` added (and saved) where new. */
export function projectColours(projectId: number | undefined, column: string, labels: Iterable<string>): Colours {
  if (projectId == null) return assignColours({}, labels);
  let known: Colours = {};
  try {
    known = JSON.parse(localStorage.getItem(key(projectId, column)) ?? "{}");
  } catch {
    known = {};
  }
  const all = assignColours(known, labels);
  if (Object.keys(all).length !== Object.keys(known).length) localStorage.setItem(key(projectId, column), JSON.stringify(all));
  return all;
}
