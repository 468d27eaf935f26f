import { describe, expect, it } from "vitest";
import { smooth } from "./smooth";

describe("smooth", () => {
  it("keeps the steps, starts at the first value and follows the trend with less noise", () => {
    const noisy: [number, number][] = Array.from({ length: 200 }, (_, i) => [i + 1, 5 - i / 50 + (i % 2 ? 0.5 : -0.5)]);
    const s = smooth(noisy);
    expect(s.map((p) => p[0])).toEqual(noisy.map((p) => p[0]));
    expect(s[0][1]).toBeCloseTo(noisy[0][1]);
    const jumps = (c: [number, number][]) => c.slice(1).reduce((a, p, i) => a + Math.abs(p[1] - c[i][1]), 0);
    expect(jumps(s)).toBeLessThan(jumps(noisy) / 5);
    // The trend is kept: the last smoothed value is near the noise-free line.
    expect(Math.abs(s[199][1] - (5 - 199 / 50))).toBeLessThan(0.3);
  });
  it("smooths a short run less, so it does not lag behind its loss", () => {
    const falling: [number, number][] = Array.from({ length: 40 }, (_, i) => [i + 1, 10 - i / 8]);
    const s = smooth(falling);
    expect(Math.abs(s[39][1] - falling[39][1])).toBeLessThan(0.2);
  });
  it("leaves a constant curve and an empty one as they are", () => {
    expect(smooth([[1, 2], [2, 2], [3, 2]]).map((p) => p[1])).toEqual([2, 2, 2].map((v) => expect.closeTo(v)));
    expect(smooth([])).toEqual([]);
  });
});
