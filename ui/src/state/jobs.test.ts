import { describe, expect, it } from "vitest";
import { fraction, formatDuration, jobsReducer, resultOf, type Jobs } from "./jobs";
import type { TrainingFigures } from "../bindings";

const figures = (f: Partial<TrainingFigures>) => ({
  of: "training" as const,
  device: "cpu",
  train_loss: null,
  val_loss: null,
  tokens_per_s: null,
  eta_s: null,
  epoch: null,
  lr: null,
  held_out: null,
  ...f,
});
const progress = (id: number, done: number, total: number, detail: Partial<TrainingFigures> | null = null) =>
  ({ type: "progress", event: { id, kind: "train", stage: "training", done, total, detail: detail && figures(detail) } }) as const;
const done = (id: number, status: "ok" | "cancelled" | "failed", error: string | null = null) =>
  ({ type: "done", event: { id, kind: "free_text", status, result: { job: "free_text", text: "x" }, error } }) as const;

describe("jobsReducer", () => {
  it("follows a job from start to end", () => {
    let s: Jobs = {};
    s = jobsReducer(s, { type: "started", id: 1, kind: "train" });
    expect(s[1].status).toBe("running");
    s = jobsReducer(s, progress(1, 5, 40, { train_loss: 3.2, val_loss: null }));
    expect(fraction(s[1])).toBeCloseTo(5 / 40);
    s = jobsReducer(s, progress(1, 10, 40, { train_loss: 2.5, val_loss: 2.7 }));
    expect(s[1].loss).toEqual([
      { step: 5, train: 3.2, val: null },
      { step: 10, train: 2.5, val: 2.7 },
    ]);
    s = jobsReducer(s, done(1, "ok"));
    expect(s[1].status).toBe("ok");
    expect(fraction(s[1])).toBe(1);
    // A result is read as its own kind only.
    expect(resultOf(s[1], "free_text")?.text).toBe("x");
    expect(resultOf(s[1], "train")).toBeNull();
  });

  it("keeps the outcome when the start arrives after the end", () => {
    let s: Jobs = {};
    s = jobsReducer(s, progress(7, 1, 2));
    s = jobsReducer(s, done(7, "failed", "bad file"));
    s = jobsReducer(s, { type: "started", id: 7, kind: "train" });
    expect(s[7].status).toBe("failed");
    expect(s[7].error).toBe("bad file");
  });

  it("ignores progress after the end and repeated steps", () => {
    let s: Jobs = {};
    s = jobsReducer(s, progress(2, 3, 9, { train_loss: 1 }));
    s = jobsReducer(s, progress(2, 3, 9, { train_loss: 1 }));
    expect(s[2].loss.length).toBe(1);
    s = jobsReducer(s, done(2, "cancelled"));
    const after = jobsReducer(s, progress(2, 4, 9, { train_loss: 0.5 }));
    expect(after).toBe(s);
    expect(fraction(s[2])).toBeCloseTo(3 / 9);
  });

  it("has no fraction while the total is unknown", () => {
    const s = jobsReducer({}, { type: "started", id: 3, kind: "evaluate" });
    expect(fraction(s[3])).toBeNull();
  });
});

describe("formatDuration", () => {
  it("reads like a person would say it", () => {
    expect(formatDuration(42.4)).toBe("42 s");
    expect(formatDuration(180)).toBe("3 min");
    expect(formatDuration(4800)).toBe("1 h 20 min");
    expect(formatDuration(null)).toBe("–");
    expect(formatDuration(Infinity)).toBe("–");
  });
});
