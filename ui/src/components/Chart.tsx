// An interactive chart (ECharts on canvas: smooth with 50,000 points) with
// PNG and SVG export. SVG is drawn by a second, off-screen SVG renderer.
import * as echarts from "echarts";
import { useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import { colourOf, type Colours } from "../state/colours";
import { Saved } from "./Saved";
import { smooth } from "../state/smooth";
import { useApp } from "../store";

export function Chart({
  option,
  name,
  height = 360,
  testId,
  onSelect,
}: {
  option: any;
  name: string;
  height?: number;
  testId?: string;
  /** With a map (`scatterOption(..., { lasso: true })`): the cells a lasso
   * drawn on it takes in, by their index; empty when it is cleared. */
  onSelect?: (cells: number[]) => void;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const { project, notify } = useApp();
  const [saved, setSaved] = useState<string | null>(null);

  useEffect(() => {
    if (!el.current) return;
    chart.current = echarts.init(el.current, undefined, { renderer: "canvas" });
    const ro = new ResizeObserver(() => chart.current?.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      chart.current?.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    // How long a drawing takes (bench/plot.sh reads it), to the end of
    // progressive rendering.
    const t0 = performance.now();
    const box = el.current?.parentElement;
    box?.removeAttribute("data-render-ms");
    const finished = () => {
      box?.setAttribute("data-render-ms", String(Math.round(performance.now() - t0)));
      c.off("finished", finished);
    };
    c.on("finished", finished);
    c.setOption(option, true);
    // A map to select cells on: the lasso (ECharts' "polygon" brush) is the
    // tool a drag uses, as in cellxgene (zoom stays on Ctrl and the wheel).
    const selected = (p: any) => {
      const cells: number[] = [];
      for (const s of p.batch?.[0]?.selected ?? []) {
        const data = option.series?.[s.seriesIndex]?.data ?? [];
        for (const i of s.dataIndex) cells.push(data[i][data[i].length - 1]);
      }
      box?.setAttribute("data-selected", String(cells.length));
      onSelect?.(cells);
    };
    if (option.brush && onSelect) {
      c.dispatchAction({ type: "takeGlobalCursor", key: "brush", brushOption: { brushType: "polygon", brushMode: "single" } });
      c.on("brushselected", selected);
    }
    const points = (option.series ?? []).reduce((n: number, s: any) => n + (s.data?.length ?? 0), 0);
    box?.setAttribute("data-points", String(points));
    // Each series' colour, for the window tests (one colour per type).
    const colours = Object.fromEntries((option.series ?? []).filter((s: any) => s.itemStyle?.color).map((s: any) => [s.name, s.itemStyle.color]));
    box?.setAttribute("data-colours", JSON.stringify(colours));
    // What the map is coloured by, and for a gene how many cells express it.
    if (option.visualMap) {
      const s = option.series[0];
      box?.setAttribute("data-colour-by", s.id);
      box?.setAttribute("data-expressing", String(s.data.filter((d: number[]) => d[2] > 0).length));
    } else {
      box?.setAttribute("data-colour-by", "label");
      box?.removeAttribute("data-expressing");
    }
    return () => {
      if (!c.isDisposed()) {
        c.off("finished", finished);
        c.off("brushselected", selected);
      }
    };
  }, [option]);

  async function save(kind: "png" | "svg") {
    if (!chart.current || !project) return;
    try {
      let data: string;
      if (kind === "png") {
        data = chart.current.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
      } else {
        const w = chart.current.getWidth();
        const h = chart.current.getHeight();
        const svg = echarts.init(null as any, undefined, { renderer: "svg", ssr: true, width: w, height: h });
        svg.setOption({ ...option, animation: false });
        data = svg.renderToSVGString();
        svg.dispose();
      }
      const path = await api.saveExport(project.id, `${name}.${kind}`, data);
      setSaved(path);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  return (
    <div className="chart" data-testid={testId}>
      <div ref={el} style={{ width: "100%", height }} />
      <div className="chart-tools">
        <button onClick={() => save("png")} title="Save as PNG in the project's exports folder">PNG</button>
        <button onClick={() => save("svg")} title="Save as SVG in the project's exports folder">SVG</button>
        {saved && <Saved path={saved} testId="chart-saved" />}
      </div>
    </div>
  );
}

/** A value per cell to colour a map by (scatterOption's `shade`). */
export type Shade = { kind: "gene" | "confidence"; name: string; values: number[] };

/** A cell's value for its tooltip. */
export function shadeText(shade: Shade, v: number): string {
  if (shade.kind === "confidence") return Number.isNaN(v) ? "no confidence" : `confidence ${Math.round(100 * v)} %`;
  return `${shade.name}: ${v > 0 ? v.toFixed(2) : "not expressed"}`;
}

/** Text from the user's files (cell names, labels, genes) for a tooltip,
 * which ECharts renders as HTML. */
export function escapeHtml(s: string): string {
  return echarts.format.encodeHTML(String(s));
}

/** The value at quantile `q` of `v` (sorted copy; linear between ranks). */
function quantile(v: number[], q: number) {
  const s = [...v].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}

/**
 * A map of cells as cellxgene draws one: one series per label in the
 * project's colour of that label (`colours`; generated cells of a type in its
 * colour with another marker, from `symbolFor`), translucent points, equal
 * aspect in a square plot, no axes through the data, limits that ignore the
 * outer 0.5 % of cells on each side (one outlier no longer squashes the
 * map), zoom with Ctrl and the wheel (the wheel alone scrolls the page) and
 * a button that resets it.
 */
export function scatterOption(
  x: number[],
  y: number[],
  labels: string[] | null,
  axis: [string, string],
  title?: string,
  {
    symbolFor,
    colours,
    height = 420,
    names,
    shade,
    lasso,
  }: {
    symbolFor?: (i: number) => string;
    colours?: Colours;
    height?: number;
    /** Each cell's name, for the tooltip. */
    names?: string[];
    /** Colour by a value of each cell instead of by label: a gene's
     * expression, as cellxgene does, or the model's confidence (0 to 1;
     * NaN for a cell without one). */
    shade?: Shade;
    /** Cells can be selected with a lasso (Chart's `onSelect`). */
    lasso?: boolean;
  } = {},
) {
  // Each point carries its cell's index last, for the tooltip.
  const groups = new Map<string, { label: string; data: number[][] }>();
  x.forEach((xi, i) => {
    const label = labels ? labels[i] : "cells";
    const k = symbolFor ? `${label} ${symbolFor(i)}` : label;
    if (!groups.has(k)) groups.set(k, { label, data: [] });
    groups.get(k)!.data.push([xi, y[i], i]);
  });
  const big = x.length > 5000;
  // Equal aspect: the same span on both axes, around the robust limits.
  const lim = (v: number[]) => (v.length ? [quantile(v, 0.005), quantile(v, 0.995)] : [0, 1]);
  const [x0, x1] = lim(x);
  const [y0, y1] = lim(y);
  const half = (Math.max(x1 - x0, y1 - y0) / 2) * 1.08 || 1;
  const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
  // A square plot, centred, with the legend below it.
  const side = height - 110;
  const hidden = { axisLine: { show: false }, axisTick: { show: false }, axisLabel: { show: false }, splitLine: { show: false } };
  const cell = (i: number) => (names?.[i] != null ? `cell ${names[i]}` : "");
  const labelOf = (i: number) => (labels ? labels[i] : "");
  const tooltip = {
    trigger: "item",
    formatter: (p: any) => {
      const i = p.value[p.value.length - 1];
      const parts = shade ? [cell(i), labelOf(i), shadeText(shade, shade.values[i])] : [cell(i), p.seriesName];
      // The tooltip is HTML: names and labels come from the user's file.
      return parts
        .filter((s) => s)
        .map(escapeHtml)
        .join("<br/>");
    },
  };
  const frame = {
    title: title ? { text: title, left: 10, textStyle: { fontSize: 14 } } : undefined,
    tooltip,
    grid: { left: "center", top: 40, width: side, height: side },
    toolbox: {
      right: 10,
      top: 5,
      feature: {
        restore: { title: "reset the zoom" },
        ...(lasso ? { brush: { type: ["polygon", "clear"], title: { polygon: "select cells: draw around them", clear: "clear the selection" } } } : {}),
      },
    },
    ...(lasso ? { brush: { xAxisIndex: 0, yAxisIndex: 0, brushMode: "single", throttleType: "debounce", throttleDelay: 150, outOfBrush: { colorAlpha: 0.15 } } } : {}),
    xAxis: { ...hidden, name: axis[0], nameLocation: "middle", nameGap: 10, min: cx - half, max: cx + half },
    yAxis: { ...hidden, name: axis[1], nameLocation: "middle", nameGap: 10, min: cy - half, max: cy + half },
    dataZoom: [
      { type: "inside", xAxisIndex: 0, filterMode: "none", zoomOnMouseWheel: "ctrl", moveOnMouseWheel: false },
      { type: "inside", yAxisIndex: 0, filterMode: "none", zoomOnMouseWheel: "ctrl", moveOnMouseWheel: false },
    ],
  };
  if (shade) {
    // Cells with the highest values drawn last, on top, as cellxgene draws
    // them. A gene's scale ends at the 99th percentile so one cell does not
    // wash out the rest; confidence runs from 0 to 100 %.
    const key = (v: number) => (Number.isNaN(v) ? -1 : v);
    const order = x.map((_, i) => i).sort((a, b) => key(shade.values[a]) - key(shade.values[b]));
    const expressed = shade.values.filter((v) => v > 0);
    const top = shade.kind === "confidence" ? 1 : expressed.length ? quantile(expressed, 0.99) : 1;
    return {
      ...frame,
      visualMap: {
        type: "continuous",
        dimension: 2,
        min: 0,
        max: top || 1,
        calculable: false,
        orient: "horizontal",
        left: "center",
        bottom: 0,
        text: shade.kind === "confidence" ? ["sure", "unsure"] : [`high ${shade.name}`, "not expressed"],
        // Grey for none, then pale to dark blue: on a white page the cells
        // that express most stand out, the faint ones do not.
        inRange: { color: shade.kind === "confidence" ? ["#fee8c8", "#fdbb84", "#6baed6", "#2171b5", "#08306b"] : ["#dddddd", "#c6dbef", "#6baed6", "#2171b5", "#08306b"] },
        // A cell without a confidence (not annotated, a free answer) in grey.
        outOfRange: { color: ["#dddddd"] },
      },
      series: [
        {
          id: `${shade.kind}:${shade.name}`,
          name: shade.name,
          type: "scatter",
          data: order.map((i) => [x[i], y[i], Number.isNaN(shade.values[i]) ? -1 : shade.values[i], i]),
          symbolSize: big ? 2 : 5,
          itemStyle: { opacity: big ? 0.7 : 0.85 },
          large: big,
          largeThreshold: 2000,
          progressive: 5000,
        },
      ],
    };
  }
  return {
    ...frame,
    legend: { type: "scroll", orient: "horizontal", bottom: 0, left: 10, right: 10 },
    series: [...groups.entries()].map(([name, g]) => ({
      name,
      type: "scatter",
      data: g.data,
      symbol: name.endsWith(" generated") ? "triangle" : name.endsWith(" selected") ? "diamond" : "circle",
      symbolSize: big ? 2 : name.endsWith(" generated") || name.endsWith(" selected") ? 7 : 5,
      itemStyle: { color: colours ? colourOf(colours, g.label) : undefined, opacity: big ? 0.6 : 0.75 },
      large: big,
      largeThreshold: 2000,
      progressive: 5000,
    })),
  };
}

export function barOption(names: string[], values: number[], title: string, horizontal = true) {
  const cat = { type: "category", data: names, axisLabel: { interval: 0, width: 160, overflow: "truncate" } };
  const val = { type: "value" };
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" },
    grid: { left: horizontal ? 170 : 50, right: 30, top: 40, bottom: horizontal ? 30 : 90 },
    xAxis: horizontal ? val : { ...cat, axisLabel: { rotate: 40, interval: 0 } },
    yAxis: horizontal ? { ...cat, inverse: true } : val,
    series: [{ type: "bar", data: values, itemStyle: { color: "#1f6f8b" } }],
  };
}

/**
 * Training and validation loss against the training step: the training loss
 * smoothed (its raw values faint behind it), integer steps, named axes.
 */
export function lossOption(train: [number, number][], validation: [number, number][]) {
  return {
    title: { text: "Learning curve", left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis", valueFormatter: (v: number) => (typeof v === "number" ? v.toFixed(3) : v) },
    legend: { top: 25, data: ["training (smoothed)", "validation (cells held out)"] },
    grid: { left: 60, right: 20, top: 60, bottom: 45 },
    xAxis: { type: "value", name: "training step", nameLocation: "middle", nameGap: 28, minInterval: 1 },
    yAxis: { type: "value", scale: true, name: "loss (lower is better)", nameLocation: "middle", nameGap: 45 },
    series: [
      { name: "training", type: "line", showSymbol: false, data: train, lineStyle: { width: 1, opacity: 0.25 }, itemStyle: { color: "#1f77b4" }, silent: true, tooltip: { show: false } },
      { name: "training (smoothed)", type: "line", showSymbol: false, data: smooth(train), lineStyle: { width: 2 }, itemStyle: { color: "#1f77b4" } },
      { name: "validation (cells held out)", type: "line", data: validation, itemStyle: { color: "#ff7f0e" } },
    ],
  };
}
