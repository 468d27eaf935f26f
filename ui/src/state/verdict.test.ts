import { describe, expect, it } from "vitest";
import { predictionVerdict, rowShares, type PredictionReport } from "./verdict";

const report = (over: Partial<PredictionReport["model"]> = {}, accuracyKnn = 0.939, split = "test"): PredictionReport => ({
  split,
  left_out: 2374,
  model: {
    n_cells: 264,
    accuracy: 0.875,
    macro_f1: 0.57,
    classes: [
      { label: "B cell", precision: 0.9, recall: 0.95, f1: 0.92, support: 34 },
      { label: "Dendritic cell", precision: 0, recall: 0, f1: 0, support: 3 },
      { label: "NK cell", precision: 0.8, recall: 0.4, f1: 0.53, support: 25 },
    ],
    labels: ["B cell", "Dendritic cell", "NK cell"],
    confusion: [
      [32, 0, 2],
      [3, 0, 0],
      [15, 0, 10],
    ],
    ...over,
  },
  baselines: [
    { name: "majority class (CD4 T cell)", accuracy: 0.43, macro_f1: 0.07 },
    { name: "k-NN on expression (k = 5, 50 PCs)", accuracy: accuracyKnn, macro_f1: 0.92 },
  ],
});

describe("prediction verdict", () => {
  it("names the held-out cell count and compares with k-NN on the same cells", () => {
    const v = predictionVerdict(report());
    expect(v.headline).toBe(
      "The model names the cell type right 87.5 % of the time on 264 cells it never learned from (the held-out test cells): worse than the simple baseline on the same cells, k-NN on expression (93.9 %).",
    );
    expect(predictionVerdict(report({}, 0.8)).headline).toMatch(/: better than the simple baseline on the same cells, k-NN on expression \(80\.0 %\)\.$/);
    expect(predictionVerdict(report({}, 0.88)).headline).toMatch(/: about as good as the simple baseline/);
  });

  it("lists the types it gets right under half the time, most cells first", () => {
    expect(predictionVerdict(report()).misses).toBe("It misses NK cell (10 of 25 right), Dendritic cell (0 of 3 right).");
    const all = report({ classes: [{ label: "B cell", precision: 1, recall: 1, f1: 1, support: 3 }] });
    expect(predictionVerdict(all).misses).toBeNull();
  });

  it("warns when few cells were scored or one answer takes nearly every cell", () => {
    expect(predictionVerdict(report()).warnings).toEqual([]);
    const small = predictionVerdict(report({ n_cells: 12 }));
    expect(small.warnings[0]).toMatch(/^Only 12 cells were scored/);
    const one = predictionVerdict(
      report({
        confusion: [
          [34, 0, 0],
          [3, 0, 0],
          [24, 0, 1],
        ],
      }),
    );
    expect(one.warnings).toEqual([
      "98.4 % of the cells got the same answer (B cell): the model has probably not learned to tell the types apart. Train it longer.",
    ]);
  });

  it("says when training cells are included", () => {
    expect(predictionVerdict(report({}, 0.9, "all")).headline).toMatch(/on all 264 cells, training cells included \(not a fair test\)/);
  });
});

describe("row shares", () => {
  it("normalises each true type's row and leaves empty rows at 0", () => {
    expect(
      rowShares([
        [2, 2],
        [0, 0],
        [1, 3],
      ]),
    ).toEqual([
      [0.5, 0.5],
      [0, 0],
      [0.25, 0.75],
    ]);
  });
});
