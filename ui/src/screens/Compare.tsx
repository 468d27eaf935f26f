import { useEffect, useMemo, useState } from "react";
import { api, errorText } from "../api";
import { Chart, escapeHtml, lossOption, scatterOption } from "../components/Chart";
import { JobBar } from "../components/JobBar";
import { Saved } from "../components/Saved";
import { projectColours } from "../state/colours";
import { generatedVerdict, predictionVerdict } from "../state/verdict";
import { useApp } from "../store";

function csv(rows: (string | number | null)[][]): string {
  return rows.map((r) => r.map((v) => (v == null ? "" : typeof v === "string" && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(",")).join("\n") + "\n";
}

const f3 = (v: number | null | undefined) => (v == null || !isFinite(v) ? "–" : v.toFixed(3));

/** Shares of genes as percentages, counts as integers, the rest to 3 decimals. */
function cellText(header: string, v: string | number | null): string {
  if (typeof v !== "number") return v ?? "–";
  if (header.endsWith("genes")) return `${(100 * v).toFixed(1)} %`;
  if (header === "cells") return String(v);
  return f3(v);
}

export function Compare() {
  const { project, state, jobs, dispatchJob, notify } = useApp();
  const [jobId, setJobId] = useState<number | null>(null);
  const [use, setUse] = useState({ generated: true, predictions: true, run: true });
  const [typeIdx, setTypeIdx] = useState(0);
  const [space, setSpace] = useState<"pca" | "umap">("umap");
  const job = jobId != null ? jobs[jobId] : undefined;
  const report = job?.status === "ok" ? job.result.report : null;
  const dataset = state?.datasets[0];
  const run = state?.runs.find((r) => r.status === "finished") ?? state?.runs[0];

  useEffect(() => setTypeIdx(0), [report]);

  async function evaluate() {
    if (!project || !dataset) return;
    try {
      const id = await api.startEvaluate(project.id, {
        dataset_id: dataset.id,
        run_id: use.run ? run?.id ?? null : null,
        with_generated: use.generated,
        with_predictions: use.predictions,
      });
      dispatchJob({ type: "started", id, kind: "evaluate" });
      setJobId(id);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  const [exported, setExported] = useState<string | null>(null);
  async function exportCsv(name: string, rows: (string | number | null)[][]) {
    try {
      setExported(await api.saveExport(project!.id, `${name}.csv`, csv(rows)));
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  const g = report?.generated;
  const p = report?.prediction;
  const means = g?.mean_expression?.[typeIdx];
  const pts = g ? (space === "umap" && g.umap ? g.umap : g.pca) : null;
  // Built once per report and space: a new option object redraws every point.
  const jointMap = useMemo(
    () =>
      pts &&
      scatterOption(
        pts.map((q: any) => q.x),
        pts.map((q: any) => q.y),
        pts.map((q: any) => q.label),
        space === "umap" ? ["UMAP 1", "UMAP 2"] : ["PC 1", "PC 2"],
        "circles: real, triangles: generated",
        {
          symbolFor: (i) => pts[i].source,
          colours: projectColours(project?.id, report.label_column, pts.map((q: any) => q.label)),
          height: 460,
        },
      ),
    [pts, space],
  );
  // knn_accuracy: [k, accuracy] pairs, the same ks for every set.
  const ks: number[] = g?.sets[0]?.knn_accuracy.map((p: [number, number]) => p[0]) ?? [];
  const setRows: (string | number | null)[][] = g
    ? [
        ["set", "cells", ...ks.map((k) => `kNN k=${k}`), "GW distance", "valid genes", "unique genes", "mean Pearson r"],
        ...g.sets.map((s: any) => [
          s.name,
          s.n_cells,
          ...ks.map((k) => s.knn_accuracy.find((p: [number, number]) => p[0] === k)?.[1] ?? null),
          s.gw_distance,
          s.gene_shares.valid_share,
          s.gene_shares.unique_share,
          s.mean_pearson,
        ]),
      ]
    : [];
  return (
    <div className="screen">
      <h2>Compare real and generated cells</h2>
      <div className="card form">
        <label className="check">
          <input type="checkbox" checked={use.generated} onChange={(e) => setUse({ ...use, generated: e.target.checked })} /> Generated cells added from the chat (
          {state?.generated.length ? "ready" : "none yet"})
        </label>
        <label className="check">
          <input type="checkbox" checked={use.predictions} onChange={(e) => setUse({ ...use, predictions: e.target.checked })} /> Predicted cell types from Annotate (
          {state?.annotations.length ? "ready" : "none yet"})
        </label>
        <label className="check">
          <input type="checkbox" checked={use.run} onChange={(e) => setUse({ ...use, run: e.target.checked })} /> The training run's loss curve ({run ? `run ${run.id}` : "none yet"})
        </label>
        <button className="primary" onClick={evaluate} disabled={!dataset || job?.status === "running"} data-testid="run-compare">
          Compare
        </button>
      </div>
      <JobBar job={job} />
      {report && (
        <div data-testid="compare-results">
          {report.notes.map((n: string, k: number) => (
            <p className="muted small" key={k}>
              {n}
            </p>
          ))}
          <Saved path={`${job!.result.folder}/report.html`} what="The full report, with every plot as PNG and SVG, is written" testId="report-path" />
          {exported && <Saved path={exported} what="Table saved" testId="exported" />}
          {g && (
            <>
              <div className="card">
                <h3>How real do the generated cells look?</h3>
                {(() => {
                  const v = generatedVerdict(g);
                  return (
                    <div data-testid="generated-verdict">
                      <p>
                        <strong>{v.headline}</strong> <span className="small">{v.details}</span>
                      </p>
                      {v.warnings.map((w) => (
                        <p key={w} className="warning-text" data-testid="generated-warning">
                          {w}
                        </p>
                      ))}
                    </div>
                  );
                })()}
                <table data-testid="generated-metrics">
                  <thead>
                    <tr>
                      {setRows[0].map((h) => (
                        <th key={String(h)}>{h}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {setRows.slice(1).map((r) => (
                      <tr key={String(r[0])}>
                        {r.map((v, k) => (
                          <td key={k}>{cellText(String(setRows[0][k]), v)}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
                <p className="muted small">
                  k-NN: share of cells whose nearest real cells have the requested type (higher is better). GW: Gromov-Wasserstein distance to the real cells (lower is better). Beside the generated cells: other
                  real cells (the best to hope for) and random genes / shuffled labels (what chance gives).
                </p>
                <button onClick={() => exportCsv("generated-metrics", setRows)} data-testid="export-generated-metrics">
                  Export table (CSV)
                </button>
              </div>
              <div className="two">
                <div className="card">
                  <h3>Mean expression per gene</h3>
                  <select aria-label="Cell type" value={typeIdx} onChange={(e) => setTypeIdx(+e.target.value)}>
                    {g.mean_expression.map((t: any, k: number) => (
                      <option key={t.cell_type} value={k}>
                        {t.cell_type}
                      </option>
                    ))}
                  </select>
                  {means && (
                    <Chart
                      testId="mean-scatter"
                      name={`mean-expression-${means.cell_type}`}
                      option={{
                        title: {
                          // The engine's r over every gene (the table's), not one of the plotted genes only.
                          text: `${means.cell_type}: r = ${f3(g.sets[0]?.type_correlation?.find((t: any) => t.cell_type === means.cell_type)?.pearson)} over all genes`,
                          subtext: `the ${means.genes.length} genes most expressed in either are plotted`,
                          left: "center",
                          textStyle: { fontSize: 14 },
                        },
                        tooltip: { trigger: "item", formatter: (q: any) => `${escapeHtml(q.data[2])}: real ${q.data[0].toFixed(2)}, generated ${q.data[1].toFixed(2)}` },
                        grid: { left: 50, right: 20, top: 60, bottom: 45 },
                        xAxis: { name: "real", nameLocation: "middle", nameGap: 25 },
                        yAxis: { name: "generated", nameLocation: "middle", nameGap: 30 },
                        series: [{ type: "scatter", data: means.genes.map((x: any) => [x.real, x.generated, x.gene]), symbolSize: 6 }],
                      }}
                    />
                  )}
                </div>
                <div className="card">
                  <h3>Top genes</h3>
                  {means && (
                    <Chart
                      name={`top-genes-${means.cell_type}`}
                      height={420}
                      option={{
                        tooltip: { trigger: "axis" },
                        legend: { top: 0 },
                        grid: { left: 90, right: 20, top: 30, bottom: 30 },
                        xAxis: { type: "value" },
                        yAxis: { type: "category", inverse: true, data: means.genes.slice(0, 20).map((x: any) => x.gene) },
                        series: [
                          { name: "real", type: "bar", data: means.genes.slice(0, 20).map((x: any) => x.real) },
                          { name: "generated", type: "bar", data: means.genes.slice(0, 20).map((x: any) => x.generated) },
                        ],
                      }}
                    />
                  )}
                </div>
              </div>
              <div className="card">
                <h3>Real and generated cells together</h3>
                <div className="row">
                  <label>
                    <input type="radio" checked={space === "umap"} onChange={() => setSpace("umap")} disabled={!g.umap} /> UMAP
                  </label>
                  <label>
                    <input type="radio" checked={space === "pca"} onChange={() => setSpace("pca")} /> PCA
                  </label>
                </div>
                {pts && (
                  <Chart
                    testId="joint-map"
                    name={`real-vs-generated-${space}`}
                    height={460}
                    option={jointMap}
                  />
                )}
              </div>
            </>
          )}
          {p && (
            <div className="card" data-testid="prediction-metrics">
              <h3>Cell type prediction</h3>
              <p data-testid="compare-verdict">
                <strong>{predictionVerdict(p).headline}</strong> {predictionVerdict(p).misses}
              </p>
              {predictionVerdict(p).warnings.map((w) => (
                <p key={w} className="warning-text">
                  {w}
                </p>
              ))}
              <p className="small" data-testid="prediction-scope">
                {p.split === "test"
                  ? `On ${p.model.n_cells} cells the model never learned from (the dataset's held-out test cells)`
                  : p.split === "val"
                    ? `On ${p.model.n_cells} validation cells (held out from training)`
                    : `On all ${p.model.n_cells} cells, training cells included: not a fair test of the model`}
                {p.left_out > 0 ? `; ${p.left_out} predictions of other cells are left out.` : "."}
              </p>
              <table>
                <thead>
                  <tr>
                    <th>Predictor</th>
                    <th>Accuracy</th>
                    <th>Macro F1</th>
                  </tr>
                </thead>
                <tbody>
                  <tr>
                    <td>the model</td>
                    <td>{f3(p.model.accuracy)}</td>
                    <td>{f3(p.model.macro_f1)}</td>
                  </tr>
                  {p.baselines.map((b: any) => (
                    <tr key={b.name}>
                      <td>baseline: {b.name}</td>
                      <td>{f3(b.accuracy)}</td>
                      <td>{f3(b.macro_f1)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <button
                onClick={() =>
                  exportCsv("prediction-metrics", [
                    ["predictor", "accuracy", "macro F1"],
                    ["the model", p.model.accuracy, p.model.macro_f1],
                    ...p.baselines.map((b: any) => [`baseline: ${b.name}`, b.accuracy, b.macro_f1]),
                  ])
                }
              >
                Export table (CSV)
              </button>
            </div>
          )}
          {report.loss_curve && (
            <div className="card">
              <Chart
                name="loss-curve"
                option={lossOption(report.loss_curve.train, report.loss_curve.validation)}
              />
            </div>
          )}
        </div>
      )}
    </div>
  );
}
