import { useEffect, useMemo, useState } from "react";
import { api, errorText, type Selection } from "../api";
import type { EvalReport } from "../bindings";
import { Chart, escapeHtml, lossOption, scatterOption } from "../components/Chart";
import { JobBar } from "../components/JobBar";
import { Saved } from "../components/Saved";
import { projectColours } from "../state/colours";
import { numberLocale } from "../state/format";
import { generatedVerdict, predictionVerdict, pValue } from "../state/verdict";
import { useApp } from "../store";
import { resultOf } from "../state/jobs";

function csv(rows: (string | number | null)[][]): string {
  return rows.map((r) => r.map((v) => (v == null ? "" : typeof v === "string" && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(",")).join("\n") + "\n";
}

const f3 = (v: number | null | undefined) => (v == null || !isFinite(v) ? "–" : v.toFixed(3));

/** A table column: its CSV header (the report's term), the words shown, and the term explained in a tooltip. */
type Column = { csv: string; label: string; tip: string };

/** The generated-cell table's columns beside the k-NN ones. */
const SET_COLUMNS: Column[] = [
  { csv: "GW distance", label: "distance from real cells", tip: "Gromov-Wasserstein distance between the cloud of these cells and the cloud of real cells: 0 when their shapes match; lower is better" },
  { csv: "valid genes", label: "known genes", tip: "Share of the words written that are genes of this dataset" },
  { csv: "unique genes", label: "genes written once", tip: "Share of the genes that appear only once in their cell (a real cell names each gene once)" },
  {
    csv: "mean Pearson r",
    label: "expression agreement",
    tip: "Pearson r between the mean expression of each gene in real and in generated cells of a type, averaged over the types: 1 when they agree exactly",
  },
];

const knnColumn = (k: number): Column => ({
  csv: `kNN k=${k}`,
  label: `typical of the type (${k} neighbours)`,
  tip: `k-NN accuracy: the share of cells whose ${k} nearest real cells (by expression) are mostly of the type asked for`,
});

/** Shares of genes as percentages, counts as integers, the rest to 3 decimals. */
function cellText(header: string, v: string | number | null): string {
  if (typeof v !== "number") return v ?? "–";
  if (header.endsWith("genes")) return `${(100 * v).toFixed(1)} %`;
  if (header === "cells") return v.toLocaleString(numberLocale);
  return f3(v);
}

export function Compare() {
  const { project, state, jobs, dispatchJob, notify, refresh } = useApp();
  const [jobId, setJobId] = useState<number | null>(null);
  const [use, setUse] = useState({ generated: true, predictions: true, run: true });
  const [typeIdx, setTypeIdx] = useState(0);
  const [space, setSpace] = useState<"pca" | "umap">("umap");
  const job = jobId != null ? jobs[jobId] : undefined;
  // The evaluate job's result: the engine's report (c2s_eval::EvalReport) and its folder.
  const evaluated = job?.status === "ok" ? resultOf(job, "evaluate") : null;
  const report: EvalReport | null = evaluated?.report ?? null;
  const dataset = state?.datasets[0];
  const run = state?.runs.find((r) => r.status === "finished") ?? state?.runs[0];

  useEffect(() => setTypeIdx(0), [report]);
  // Cells written by the run's model in the held-out cells' mix of types, in place of the chat's.
  const finished = state?.runs.find((r) => r.status === "finished");
  const [mixJobId, setMixJobId] = useState<number | null>(null);
  const mixJob = mixJobId != null ? jobs[mixJobId] : undefined;
  const mixed = mixJob?.status === "ok" ? resultOf(mixJob, "generate_mix") : null;
  useEffect(() => {
    if (mixed) refresh();
  }, [mixed]);
  async function generateMix() {
    if (!project || !dataset || !finished) return;
    try {
      const id = await api.startGenerateMix(project.id, dataset.id, finished.id);
      dispatchJob({ type: "started", id, kind: "generate_mix" });
      setMixJobId(id);
    } catch (e) {
      notify(errorText(e), true);
    }
  }
  // Real cells lassoed on the Dataset map; those in the comparison go beside the generated cells.
  const [selections, setSelections] = useState<Selection[]>([]);
  useEffect(() => {
    if (project) api.selections(project.id).then(setSelections).catch(() => {});
  }, [project?.id]);
  async function toggleSelection(x: Selection, compared: boolean) {
    try {
      await api.compareSelection(project!.id, x.id, compared);
      setSelections((all) => all.map((y) => (y.id === x.id ? { ...y, compared } : y)));
    } catch (e) {
      notify(errorText(e), true);
    }
  }

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
        pts.map((q) => q.x),
        pts.map((q) => q.y),
        pts.map((q) => q.label),
        space === "umap" ? ["UMAP 1", "UMAP 2"] : ["PC 1", "PC 2"],
        pts.some((q) => q.source === "selected") ? "circles: real, triangles: generated, diamonds: cells you selected" : "circles: real, triangles: generated",
        {
          symbolFor: (i) => pts[i].source,
          colours: projectColours(project?.id, report!.label_column, pts.map((q) => q.label)),
          height: 460,
        },
      ),
    [pts, space],
  );
  // knn_accuracy: [k, accuracy] pairs, the same ks for every set.
  const ks: number[] = g?.sets[0]?.knn_accuracy.map((p: [number, number]) => p[0]) ?? [];
  const setColumns: Column[] = [
    { csv: "set", label: "cells compared", tip: "The generated cells, beside real held-out cells (the best to hope for) and two kinds of chance" },
    { csv: "cells", label: "cells", tip: "How many cells the set holds" },
    ...ks.map(knnColumn),
    ...SET_COLUMNS,
  ];
  const setRows: (string | number | null)[][] = g
    ? [
        setColumns.map((c) => c.csv),
        ...g.sets.map((s) => [
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
          <input type="checkbox" checked={use.generated} onChange={(e) => setUse({ ...use, generated: e.target.checked })} /> Generated cells, added from the chat or written
          below ({state?.generated.length ? "ready" : "none yet"})
        </label>
        <div style={{ marginLeft: "1.5em" }}>
          <button
            onClick={generateMix}
            disabled={!dataset || !finished || mixJob?.status === "running"}
            data-testid="generate-mix"
            title="The trained model writes as many cells of each type as the held-out test cells hold, in place of the cells added from the chat, so that generated and real cells are compared like with like"
          >
            Write cells in the test cells' mix of types
          </button>{" "}
          {mixed && (
            <span className="muted small" data-testid="mix-summary">
              {mixed.cells.toLocaleString(numberLocale)} cells of {mixed.types.length} types written
              {mixed.left_out.length > 0 && ` (left out, as the model did not learn them: ${mixed.left_out.join(", ")})`}
            </span>
          )}
        </div>
        <JobBar job={mixJob} onCancel={() => mixJobId != null && api.cancelJob(mixJobId)} />
        {selections.map((x) => (
          <label className="check" key={x.id} style={{ marginLeft: "1.5em" }}>
            <input
              type="checkbox"
              checked={x.compared}
              disabled={!use.generated}
              onChange={(e) => toggleSelection(x, e.target.checked)}
              data-testid={`compare-with-${x.name}`}
            />{" "}
            <span title="Real cells you selected on the Dataset map, scored as the generated cells are (cells among the real ones compared with are left out)">
              beside them, the real cells you selected as “{x.name}”
            </span>{" "}
            ({x.cells.length.toLocaleString(numberLocale)} cells)
          </label>
        ))}
        <label className="check">
          <input type="checkbox" checked={use.predictions} onChange={(e) => setUse({ ...use, predictions: e.target.checked })} /> Predicted cell types from Annotate (
          {state?.annotations.length ? "ready" : "none yet"})
        </label>
        <label className="check">
          <input type="checkbox" checked={use.run} onChange={(e) => setUse({ ...use, run: e.target.checked })} />{" "}
          <span title="The loss: how surprised the model was by the training and validation cells as it learned; lower is better">How the training run learned</span> ({run ? `run ${run.id}` : "none yet"})
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
          <Saved path={`${evaluated!.folder}/report.html`} what="The full report, with every plot as PNG and SVG, is written" testId="report-path" />
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
                <details data-testid="generated-details">
                  <summary data-testid="generated-details-open">Details: the figures behind the verdict</summary>
                  <table data-testid="generated-metrics">
                    <thead>
                      <tr>
                        {setColumns.map((c) => (
                          <th key={c.csv} title={c.tip} data-term={c.csv}>
                            {c.label}
                          </th>
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
                    Higher is better for how typical of their type the cells are and for expression agreement; lower is better for the distance. Beside the generated cells: other real cells
                    (the best to hope for), and random genes or real cells with shuffled types (what chance gives). Point at a heading for its meaning.
                  </p>
                  <button onClick={() => exportCsv("generated-metrics", setRows)} data-testid="export-generated-metrics">
                    Export table (CSV)
                  </button>
                </details>
              </div>
              <div className="two">
                <div className="card">
                  <h3 title="Each point is a gene: its mean expression in real cells of the type (across) against generated cells of the type (up). r, the Pearson correlation over all genes, is 1 when they agree exactly">
                    How strongly each gene is expressed, real against generated
                  </h3>
                  <select aria-label="Cell type" value={typeIdx} onChange={(e) => setTypeIdx(+e.target.value)}>
                    {g.mean_expression.map((t, k) => (
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
                          text: `${means.cell_type}: r = ${f3(g.sets[0]?.type_correlation?.find((t) => t.cell_type === means.cell_type)?.pearson)} over all genes`,
                          subtext: `the ${means.genes.length} genes most expressed in either are plotted`,
                          left: "center",
                          textStyle: { fontSize: 14 },
                        },
                        tooltip: { trigger: "item", formatter: (q: { data: [number, number, string] }) => `${escapeHtml(q.data[2])}: real ${q.data[0].toFixed(2)}, generated ${q.data[1].toFixed(2)}` },
                        grid: { left: 50, right: 20, top: 60, bottom: 45 },
                        xAxis: { name: "real", nameLocation: "middle", nameGap: 25 },
                        yAxis: { name: "generated", nameLocation: "middle", nameGap: 30 },
                        series: [{ type: "scatter", data: means.genes.map((x) => [x.real, x.generated, x.gene]), symbolSize: 6 }],
                      }}
                    />
                  )}
                </div>
                <div className="card">
                  <h3 title="The 20 genes most expressed in real or generated cells of the type, with their mean expression in each">The type's most expressed genes</h3>
                  {means && (
                    <Chart
                      name={`top-genes-${means.cell_type}`}
                      height={420}
                      option={{
                        tooltip: { trigger: "axis" },
                        legend: { top: 0 },
                        grid: { left: 90, right: 20, top: 30, bottom: 30 },
                        xAxis: { type: "value" },
                        yAxis: { type: "category", inverse: true, data: means.genes.slice(0, 20).map((x) => x.gene) },
                        series: [
                          { name: "real", type: "bar", data: means.genes.slice(0, 20).map((x) => x.real) },
                          { name: "generated", type: "bar", data: means.genes.slice(0, 20).map((x) => x.generated) },
                        ],
                      }}
                    />
                  )}
                </div>
              </div>
              <div className="card">
                <h3>Real and generated cells together</h3>
                <div className="row">
                  <label title="UMAP: a map that keeps cells with similar expression close together; distances between far groups mean little">
                    <input type="radio" checked={space === "umap"} onChange={() => setSpace("umap")} disabled={!g.umap} /> Map of similar cells (UMAP)
                  </label>
                  <label title="PCA: the two directions along which the cells' expression varies most; distances are kept as they are">
                    <input type="radio" checked={space === "pca"} onChange={() => setSpace("pca")} /> Main directions of variation (PCA)
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
                  ? `On ${p.model.n_cells.toLocaleString(numberLocale)} cells the model never learned from (the dataset's held-out test cells)`
                  : p.split === "val"
                    ? `On ${p.model.n_cells.toLocaleString(numberLocale)} validation cells (held out from training)`
                    : `On all ${p.model.n_cells.toLocaleString(numberLocale)} cells, training cells included: not a fair test of the model`}
                {p.left_out > 0 ? `; ${p.left_out.toLocaleString(numberLocale)} predictions of other cells are left out.` : "."}
              </p>
              <details data-testid="prediction-details">
                <summary data-testid="prediction-details-open">Details: the model beside the simple baselines</summary>
                <table>
                  <thead>
                    <tr>
                      <th title="Who names the cells: the model, or a simple baseline on the same cells">Named by</th>
                      <th title="Accuracy: the share of cells whose type is named right">Right</th>
                      <th title="Macro F1: F1 (precision and recall together) for each type, averaged over the types, so a rare type counts as much as a common one">Balanced over types (macro F1)</th>
                      <th title="Cells only one of the two names right. Were both equally good, each such cell would go either way by chance; p is how likely a split at least this uneven would then be (McNemar's exact test). Under 0.05, the difference is more than chance.">Named right by only one (model, baseline)</th>
                    </tr>
                  </thead>
                  <tbody>
                    <tr>
                      <td>the model</td>
                      <td>{f3(p.model.accuracy)}</td>
                      <td>{f3(p.model.macro_f1)}</td>
                      <td />
                    </tr>
                    {p.baselines.map((b) => (
                      <tr key={b.name}>
                        <td title={b.name.startsWith("majority") ? "Every cell called the commonest type of the training cells: what a model that learned nothing scores" : "Each cell called the commonest type among its most similar training cells by expression (k-NN): a simple classifier the model should beat"}>
                          baseline: {b.name}
                        </td>
                        <td>{f3(b.accuracy)}</td>
                        <td>{f3(b.macro_f1)}</td>
                        <td>{b.paired ? `${b.paired.model_only}, ${b.paired.baseline_only} (${pValue(b.paired.p_value)})` : "not compared"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <button
                  onClick={() =>
                    exportCsv("prediction-metrics", [
                      ["predictor", "accuracy", "macro F1", "cells only the model names right", "cells only the baseline names right", "McNemar p"],
                      ["the model", p.model.accuracy, p.model.macro_f1, "", "", ""],
                      ...p.baselines.map((b) => [`baseline: ${b.name}`, b.accuracy, b.macro_f1, b.paired?.model_only ?? "", b.paired?.baseline_only ?? "", b.paired?.p_value ?? ""]),
                    ])
                  }
                >
                  Export table (CSV)
                </button>
              </details>
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
