import { describe, expect, it } from "vitest";
import { scatterOption } from "./Chart";

describe("map tooltips", () => {
  it("name the cell and escape what comes from the user's file", () => {
    const o: any = scatterOption([0, 1], [0, 1], ["B cell", "<b>T</b>"], ["PC 1", "PC 2"], "map", {
      names: ["AAAC-1", "<img src=x onerror=alert(1)>"],
    });
    const at = (i: number) => o.tooltip.formatter({ value: [0, 0, i], seriesName: ["B cell", "<b>T</b>"][i] });
    expect(at(0)).toBe("cell AAAC-1<br/>B cell");
    expect(at(1)).not.toMatch(/<img|<b>/);
    expect(at(1)).toMatch(/&lt;img src=x/);
  });
  it("colour by a gene: values last-but-one, expressing cells drawn last", () => {
    const o: any = scatterOption([0, 1, 2], [0, 1, 2], ["a", "b", "c"], ["PC 1", "PC 2"], "map", {
      shade: { kind: "gene", name: "MS4A1", values: [2, 0, 1] },
    });
    expect(o.visualMap.dimension).toBe(2);
    expect(o.series).toHaveLength(1);
    expect(o.series[0].data.map((d: number[]) => d[3])).toEqual([1, 2, 0]);
    expect(o.tooltip.formatter({ value: [1, 1, 0, 1] })).toBe("b<br/>MS4A1: not expressed");
    expect(o.series[0].id).toBe("gene:MS4A1");
  });
  it("colour by confidence: 0 to 100 %, cells without one grey and drawn first", () => {
    const o: any = scatterOption([0, 1, 2], [0, 1, 2], ["B cell", "(not annotated)", "T cell"], ["PC 1", "PC 2"], "map", {
      shade: { kind: "confidence", name: "confidence", values: [0.9, NaN, 0.4] },
    });
    expect([o.visualMap.min, o.visualMap.max]).toEqual([0, 1]);
    expect(o.visualMap.outOfRange.color).toEqual(["#dddddd"]);
    expect(o.series[0].data.map((d: number[]) => [d[3], d[2]])).toEqual([
      [1, -1],
      [2, 0.4],
      [0, 0.9],
    ]);
    expect(o.tooltip.formatter({ value: [0, 0, 0.9, 0] })).toBe("B cell<br/>confidence 90 %");
    expect(o.tooltip.formatter({ value: [0, 0, -1, 1] })).toBe("(not annotated)<br/>no confidence");
  });
});
