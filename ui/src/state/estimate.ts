// Training time estimates in words: how they were made, and after a run how
// close they came.
import type { Estimate } from "../api";
import { numberLocale } from "./format";
import { formatDuration } from "./jobs";

/** The estimate for a preset, saying when earlier runs here corrected it. */
export function estimateText(e: Estimate): string {
  const base = `about ${formatDuration(e.seconds)} on this computer (${e.device}; ${e.total_steps.toLocaleString(numberLocale)} steps over ${e.train_cells.toLocaleString(numberLocale)} cells)`;
  const { runs, factor } = e.calibration;
  if (!runs) return base;
  const pace = Math.abs(factor - 1) < 0.05 ? "as long as" : `${factor.toFixed(1)}× as long as`;
  return `${base}; corrected by ${runs === 1 ? "an earlier run" : `${runs} earlier runs`} of this preset here, whose steps took ${pace} the step timed now`;
}

/** How close the estimate made before a run came to the time it took. */
export function closeness(estimated: number, took: number): string {
  const off = took > 0 ? (estimated - took) / took : 0;
  const pct = Math.round(Math.abs(off) * 100);
  const verdict = pct <= 5 ? "on time" : off < 0 ? `${pct} % short` : `${pct} % over`;
  return `Estimated ${formatDuration(estimated)} before the start: ${verdict}.`;
}
