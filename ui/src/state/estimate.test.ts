import { describe, expect, it } from "vitest";
import type { Estimate } from "../api";
import { closeness, estimateText } from "./estimate";

const e = (seconds: number, runs: number, factor: number): Estimate => ({
  seconds,
  timed_seconds: seconds / factor,
  calibration: { runs, factor },
  total_steps: 800,
  train_cells: 2110,
  device: "CPU",
  layers: 2,
  width: 128,
});

describe("estimates in words", () => {
  it("says when earlier runs corrected the timing", () => {
    expect(estimateText(e(240, 0, 1))).toMatch(/^about 4 min on this computer \(CPU; 800 steps over 2.?110 cells\)$/);
    expect(estimateText(e(360, 1, 1.5))).toMatch(/; corrected by an earlier run of this preset here, whose steps took 1\.5× as long as the step timed now$/);
    expect(estimateText(e(240, 3, 1.02))).toMatch(/corrected by 3 earlier runs .* took as long as the step timed now$/);
  });
  it("says how close an estimate came", () => {
    expect(closeness(240, 360)).toBe("Estimated 4 min before the start: 33 % short.");
    expect(closeness(400, 360)).toBe("Estimated 7 min before the start: 11 % over.");
    expect(closeness(350, 360)).toBe("Estimated 6 min before the start: on time.");
  });
});
