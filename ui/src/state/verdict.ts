// Plain-language verdicts on a model's cell-type answers: how often it is
// right on cells it never saw, against the simple baseline on the same
// cells, which types it misses, and when the figure says little.

import type { GeneratedReport as EngineGenerated, PredictionReport as EnginePrediction, SetMetrics, TypeMeans } from "../bindings";

/** The engine's PredictionReport (c2s-eval), the parts a verdict reads. */
export type PredictionReport = Pick<EnginePrediction, "split" | "left_out" | "model" | "baselines">;

export interface Verdict {
  /** One sentence: how often right, on which cells, against which baseline. */
  headline: string;
  /** Types it gets right under half the time, with counts. */
  misses: string | null;
  /** Reasons to distrust the figure. */
  warnings: string[];
  /** The figures behind the headline, for who wants them. */
  details?: string;
}

/** A share as a percentage for people: "87.5 %". */
export function pct(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}

/** A p-value as the engine's summary writes it: "p < 0.001" rather than "p = 0.00". */
export function pValue(p: number): string {
  return p < 0.001 ? "p < 0.001" : p < 0.1 ? `p = ${p.toFixed(3)}` : `p = ${p.toFixed(2)}`;
}

/** Fewer held-out cells than this make a rough figure. */
export const SMALL_SAMPLE = 50;
/** One answer taking at least this share of the cells is suspicious. */
export const ONE_ANSWER_SHARE = 0.9;

/** Points of accuracy within which the model and the baseline are "about as
 * good", for reports saved before the engine compared them cell by cell. */
const TIE = 0.01;

function cellsWord(n: number): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? "cell" : "cells"}`;
}

function scope(r: PredictionReport): string {
  if (r.split === "test") return `on ${cellsWord(r.model.n_cells)} it never learned from (the held-out test cells)`;
  if (r.split === "val") return `on ${cellsWord(r.model.n_cells)} held out for validation`;
  return `on all ${cellsWord(r.model.n_cells)}, training cells included (not a fair test)`;
}

/** The k-NN baseline, else the first one. */
function mainBaseline(r: PredictionReport) {
  return r.baselines.find((b) => b.name.startsWith("k-NN")) ?? r.baselines[0];
}

type Baseline = PredictionReport["baselines"][number];

/** How the model stands against a baseline: the engine's cell-by-cell test
 * (a difference of a cell or two is chance), else the accuracy gap. */
function standing(m: PredictionReport["model"], b: Baseline): "better" | "level" | "worse" {
  if (b.paired) return b.paired.standing;
  const d = m.accuracy - b.accuracy;
  return Math.abs(d) <= TIE ? "level" : d > 0 ? "better" : "worse";
}

/** Counts of each predicted type over all cells of the confusion matrix. */
function predictedShares(r: PredictionReport): [string, number][] {
  const total = r.model.confusion.flat().reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  return r.model.labels.map((l, j) => [l, r.model.confusion.reduce((a, row) => a + (row[j] ?? 0), 0) / total]);
}

export function predictionVerdict(r: PredictionReport): Verdict {
  const m = r.model;
  let headline = `The model names the cell type right ${pct(m.accuracy)} of the time ${scope(r)}`;
  const b = mainBaseline(r);
  if (b) {
    const name = `the simple baseline on the same cells, ${b.name.startsWith("k-NN") ? "k-NN on expression" : b.name} (${pct(b.accuracy)})`;
    const s = standing(m, b);
    const chance = s === "level" && Math.abs(m.accuracy - b.accuracy) > TIE ? "; the difference is within chance on this many cells" : "";
    headline += s === "level" ? `: about as good as ${name}${chance}.` : s === "better" ? `: better than ${name}.` : `: worse than ${name}.`;
  } else {
    headline += ".";
  }
  const missed = m.classes
    .filter((c) => c.support > 0 && c.recall < 0.5)
    .sort((a, b) => b.support - a.support)
    .map((c) => `${c.label} (${Math.round(c.recall * c.support)} of ${c.support} right)`);
  const warnings: string[] = [];
  if (m.n_cells < SMALL_SAMPLE)
    warnings.push(`Only ${cellsWord(m.n_cells)} were scored: the figure can be off by several points either way.`);
  const top = predictedShares(r).sort((a, b) => b[1] - a[1])[0];
  if (top && top[1] >= ONE_ANSWER_SHARE && m.labels.length > 1)
    warnings.push(`${pct(top[1])} of the cells got the same answer (${top[0]}): the model has probably not learned to tell the types apart. Train it longer.`);
  return { headline, misses: missed.length ? `It misses ${missed.join(", ")}.` : null, warnings };
}

/** Each row of a confusion matrix as shares of its true type (empty rows stay 0). */
export function rowShares(confusion: number[][]): number[][] {
  return confusion.map((row) => {
    const n = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (n ? v / n : 0));
  });
}

/** The engine's GeneratedReport (c2s-eval), the parts a verdict reads. */
export type GeneratedReport = {
  sets: (Pick<SetMetrics, "name" | "n_cells" | "n_scored" | "knn_accuracy" | "gw_distance"> & Partial<Pick<SetMetrics, "balanced_knn_accuracy">>)[];
  mean_expression: Pick<TypeMeans, "cell_type">[];
} & Partial<Omit<EngineGenerated, "sets" | "mean_expression">>;

/** Points within which generated cells count as "as typical as real cells" or "no better than chance". */
const NEAR = 0.05;

/** k-NN accuracy at k = 5, else the nearest k scored; each type counted
 * once where the report has it, since generated cells come a few of each
 * type while real cells come as common as in the tissue. */
function knnAt5(s: Pick<SetMetrics, "knn_accuracy"> & Partial<Pick<SetMetrics, "balanced_knn_accuracy">>): number | null {
  const v = s.balanced_knn_accuracy?.length ? s.balanced_knn_accuracy : s.knn_accuracy;
  const best = [...v].sort((a, b) => Math.abs(a[0] - 5) - Math.abs(b[0] - 5))[0];
  return best ? best[1] : null;
}

export function generatedVerdict(g: GeneratedReport): Verdict {
  const find = (prefix: string) => g.sets.find((s) => s.name.startsWith(prefix));
  const gen = find("generated");
  const ceiling = find("real held-out");
  const floor = find("real cells, shuffled");
  const random = find("random genes");
  const warnings: string[] = [];
  if (!gen) return { headline: "No generated cells were scored.", misses: null, warnings };
  const k = knnAt5(gen);
  const c = ceiling ? knnAt5(ceiling) : null;
  const f = floor ? knnAt5(floor) : null;
  const n = `${gen.n_cells.toLocaleString("en-US")} generated cells`;
  const details: string[] = [];
  let headline = `${n}.`;
  if (k != null) {
    headline = `${n}: ${pct(k)} look like real cells of the type asked for, ${
      f != null && k <= f + NEAR
        ? "no better than chance: the model has not learned what sets the types apart."
        : c != null && k >= c - NEAR
          ? "as typical of their type as real cells."
          : "better than chance but short of real cells."
    }`;
    details.push(
      `A cell counts when most of its 5 nearest real cells are of the type asked for${gen.balanced_knn_accuracy?.length ? ", each type counted once" : ""}${c != null ? `; real held-out cells score ${pct(c)} (the best to hope for)` : ""}${
        f != null ? `, real cells with shuffled types ${pct(f)} (chance)` : ""
      }.`,
    );
  }
  const gw = gen.gw_distance;
  if (gw != null && ceiling?.gw_distance != null && random?.gw_distance != null) {
    const where = gw <= ceiling.gw_distance * 1.5 ? "close to real cells" : gw < random.gw_distance ? "between random genes and real cells" : "no closer to real cells than random genes";
    details.push(
      `As a population they are ${where} (Gromov-Wasserstein distance ${gw.toFixed(3)}; other real cells ${ceiling.gw_distance.toFixed(3)}, random genes ${random.gw_distance.toFixed(3)}; lower is closer).`,
    );
  }
  const types = g.mean_expression.map((t) => t.cell_type);
  if (types.length === 1)
    warnings.push(
      `Every generated cell is of one type (${types[0]}): k-NN accuracy then says little, since a cell only has to resemble that one type to score, and random genes can score above real cells. Generate cells of several types.`,
    );
  if (gen.n_scored < SMALL_SAMPLE) warnings.push(`Only ${gen.n_scored.toLocaleString("en-US")} generated cells were scored: the figures can be off by many points either way.`);
  return { headline, misses: null, warnings, details: details.join(" ") };
}
