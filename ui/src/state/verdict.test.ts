import { describe, expect, it } from "vitest";
import { generatedVerdict, predictionVerdict, pValue, rowShares, type PredictionReport } from "./verdict";

type Paired = PredictionReport["baselines"][number]["paired"];
const level: Paired = { model_only: 9, baseline_only: 12, p_value: 0.66, standing: "level" };

const report = (over: Partial<PredictionReport["model"]> = {}, accuracyKnn = 0.939, split = "test", paired?: Paired): PredictionReport => ({
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
  // Without `paired`, a report saved before the engine compared cell by cell.
  baselines: [
    { name: "majority class (CD4 T cell)", accuracy: 0.43, macro_f1: 0.07, paired: { model_only: 120, baseline_only: 3, p_value: 1e-30, standing: "better" } },
    { name: "k-NN on expression (k = 5, 50 PCs)", accuracy: accuracyKnn, macro_f1: 0.92, ...(paired ? { paired } : {}) } as PredictionReport["baselines"][number],
  ],
});

describe("p-values", () => {
  it("are written as the engine writes them", () => {
    expect([1e-30, 0.049, 0.27].map(pValue)).toEqual(["p < 0.001", "p = 0.049", "p = 0.27"]);
  });
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

  it("calls a gap the cells' disagreements leave to chance about as good, and one beyond chance better or worse", () => {
    const near = predictionVerdict(report({ accuracy: 0.928 }, 0.939, "test", level)).headline;
    expect(near).toMatch(/: about as good as the simple baseline on the same cells, k-NN on expression \(93\.9 %\); the difference is within chance on this many cells\.$/);
    // The same accuracies with as many cells each way: no gap to explain.
    expect(predictionVerdict(report({ accuracy: 0.939 }, 0.939, "test", level)).headline).toMatch(/k-NN on expression \(93\.9 %\)\.$/);
    const worse: Paired = { model_only: 3, baseline_only: 20, p_value: 0.0003, standing: "worse" };
    expect(predictionVerdict(report({ accuracy: 0.93 }, 0.939, "test", worse)).headline).toMatch(/: worse than the simple baseline/);
    // The engine's test decides, not the size of the gap.
    const better: Paired = { model_only: 20, baseline_only: 3, p_value: 0.0003, standing: "better" };
    expect(predictionVerdict(report({ accuracy: 0.945 }, 0.939, "test", better)).headline).toMatch(/: better than the simple baseline/);
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

const set = (name: string, k5: number, gw: number | null, n = 160) => ({ name, n_cells: n, n_scored: n, knn_accuracy: [[3, k5 - 0.01], [5, k5], [10, k5 + 0.01]] as [number, number][], gw_distance: gw });
const generated = (gen: number, types = ["B cell", "NK cell"], n = 160) => ({
  sets: [
    set("generated", gen, 0.077, n),
    set("real held-out cells (ceiling)", 0.864, 0.078),
    set("random genes (floor)", 0.2, 0.81),
    set("real cells, shuffled labels (floor)", 0.36, 0.08),
  ],
  mean_expression: types.map((cell_type) => ({ cell_type })),
});

describe("generated verdict", () => {
  it("places the generated cells between chance and real cells at k = 5", () => {
    const v = generatedVerdict(generated(0.475));
    expect(v.headline).toBe("160 generated cells: 47.5 % look like real cells of the type asked for, better than chance but short of real cells.");
    expect(v.details).toBe(
      "A cell counts when most of its 5 nearest real cells are of the type asked for; real held-out cells score 86.4 % (the best to hope for), real cells with shuffled types 36.0 % (chance). As a population they are close to real cells (Gromov-Wasserstein distance 0.077; other real cells 0.078, random genes 0.810; lower is closer).",
    );
    expect(v.warnings).toEqual([]);
    expect(generatedVerdict(generated(0.38)).headline).toMatch(/no better than chance/);
    expect(generatedVerdict(generated(0.85)).headline).toMatch(/as typical of their type as real cells/);
  });

  it("counts each type once where the report does (the demo's figures at k = 5)", () => {
    // Measured: 20 generated cells of each of 8 types against 264 real test
    // cells, where common types dominate the real cells' overall figure.
    const balanced = (s: ReturnType<typeof set>, b: number) => ({ ...s, balanced_knn_accuracy: [[5, b]] as [number, number][] });
    const g = generated(0.475);
    g.sets = [balanced(g.sets[0], 0.475), balanced(g.sets[1], 0.621), balanced(g.sets[2], 0.106), balanced(g.sets[3], 0.14)];
    const v = generatedVerdict(g);
    expect(v.headline).toMatch(/47\.5 % look like real cells of the type asked for, better than chance but short of real cells/);
    expect(v.details).toMatch(/^A cell counts when most of its 5 nearest real cells are of the type asked for, each type counted once; real held-out cells score 62\.1 % \(the best to hope for\), real cells with shuffled types 14\.0 % \(chance\)/);
    // Near the balanced ceiling: as typical as real cells (it was not, against 86.4 %).
    g.sets[0] = balanced(g.sets[0], 0.6);
    expect(generatedVerdict(g).headline).toMatch(/as typical of their type as real cells/);
  });

  it("warns for one type and for few cells", () => {
    const v = generatedVerdict(generated(0.9, ["B cell"], 3));
    expect(v.warnings[0]).toMatch(/^Every generated cell is of one type \(B cell\): k-NN accuracy then says little/);
    expect(v.warnings[1]).toBe("Only 3 generated cells were scored: the figures can be off by many points either way.");
  });
});
