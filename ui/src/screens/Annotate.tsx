import { numberLocale } from "../state/format";
import { useEffect, useMemo, useState } from "react";
import { api, errorText, type AnnotationPlan, type AnnotationRules, type Candidates } from "../api";
import { barOption, Chart, escapeHtml, scatterOption } from "../components/Chart";
import { Saved } from "../components/Saved";
import { JobBar } from "../components/JobBar";
import { projectColours } from "../state/colours";
import { defaultConvertForm } from "../state/forms";
import { formatDuration, resultOf } from "../state/jobs";
import { predictionVerdict, rowShares, type PredictionReport } from "../state/verdict";
import { useLatestJob } from "../state/useLatestJob";
import { useApp } from "../store";

export function Annotate() {
  const { project, state, modelDir, setModelDir, published, jobs, dispatchJob, refresh, notify, go } = useApp();
  const [jobId, setJobId] = useState<number | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [table, setTable] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const job = jobId != null ? jobs[jobId] : undefined;
  const dataset = state?.datasets[0];
  const finished = state?.runs.filter((r) => r.status === "finished") ?? [];
  const result = job?.status === "ok" ? resultOf(job, "annotate") : null;
  // Which model: one trained here, or the published one in use.
  const [source, setSource] = useState<"trained" | "published">(published ? "published" : "trained");
  const [groups, setGroups] = useState<Record<string, [string, number][]>>({});
  const [candKind, setCandKind] = useState<Candidates["kind"]>("common");
  const [candColumn, setCandColumn] = useState("");
  const [typedTypes, setTypedTypes] = useState("");
  const [voteBy, setVoteBy] = useState("");
  const [estimate, setEstimate] = useState<{ seconds: number; prompts: number; device: string } | null>(null);
  const [estimateError, setEstimateError] = useState<string | null>(null);
  // CellTypist's refinements, off by default.
  const [unassignedOn, setUnassignedOn] = useState(false);
  const [unassignedPct, setUnassignedPct] = useState(50);
  const [voting, setVoting] = useState(false);
  const [minSharePct, setMinSharePct] = useState(0);
  const [modelLabels, setModelLabels] = useState<string[]>([]);
  const [only, setOnly] = useState<string[]>([]);
  useEffect(() => {
    setOnly([]);
    setModelLabels([]);
    if (modelDir) api.modelInfo(modelDir).then((i) => setModelLabels(i.labels)).catch(() => {});
  }, [modelDir]);
  const rules: AnnotationRules = {
    unassigned_below: unassignedOn ? unassignedPct / 100 : null,
    majority_voting: voting,
    min_share: voting ? minSharePct / 100 : 0,
    only: source === "trained" ? only : [],
  };

  useEffect(() => {
    if (!modelDir && finished.length > 0) api.runModelDir(finished[0].id).then(setModelDir).catch(() => {});
  }, [finished.length]);
  useEffect(() => {
    if (job?.status === "ok") refresh();
  }, [job?.status]);
  useEffect(() => {
    if (!project || !dataset) return;
    api
      .datasetGroups(project.id, dataset.id)
      .then((g) => {
        setGroups(g);
        const first = Object.keys(g)[0];
        if (first) {
          setCandKind("column");
          setCandColumn(first);
        }
      })
      .catch(() => {});
  }, [project?.id, dataset?.id]);

  const candidates: Candidates =
    candKind === "column" ? { kind: "column", column: candColumn } : candKind === "list" ? { kind: "list", types: typedTypes.split(/\n/) } : { kind: "common" };
  const plan: AnnotationPlan = { candidates, vote_by: voteBy || null };
  const planKey = JSON.stringify(plan);
  // The time on this computer, measured before the job starts.
  useEffect(() => {
    setEstimate(null);
    setEstimateError(null);
    if (source !== "published" || !published || !project || !dataset) return;
    if (candKind === "list" && !typedTypes.trim()) return;
    const t = window.setTimeout(() => {
      api
        .estimatePublishedAnnotation(project.id, dataset.id, published.model, plan)
        .then(setEstimate)
        .catch((e) => setEstimateError(errorText(e)));
    }, 400);
    return () => window.clearTimeout(t);
  }, [source, published?.model, planKey, dataset?.id]);

  async function run() {
    if (!project || !dataset) return;
    setSaved(null);
    setTable(null);
    try {
      const id =
        source === "published" && published
          ? await api.startAnnotatePublished(project.id, dataset.id, published.model, plan, rules)
          : await api.startAnnotate(project.id, dataset.id, modelDir!, rules);
      dispatchJob({ type: "started", id, kind: "annotate" });
      setJobId(id);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function save(elsewhere: boolean) {
    setSaving(true);
    try {
      const path = elsewhere ? await api.saveAnnotatedAs(project!.id, result!.predictions) : await api.saveAnnotated(project!.id, result!.predictions);
      if (path) {
        setSaved(path);
      }
    } catch (e) {
      notify(errorText(e), true);
    } finally {
      setSaving(false);
    }
  }

  const counts: [string, number][] = result ? Object.entries(result.counts).sort((a, b) => b[1] - a[1]) : [];
  const rep = result?.report;
  const held: PredictionReport | null = result?.held_out ?? null;
  const verdict = held ? predictionVerdict(held) : null;
  // The confusion matrix of the held-out cells when there are some, as shares of each true type.
  const conf = held?.model ?? rep;
  return (
    <div className="screen">
      <h2>Annotate the whole dataset</h2>
      {!dataset && <p>Convert the dataset first.</p>}
      {dataset && (
        <div className="row">
          <label className="check">
            <input type="radio" checked={source === "trained"} onChange={() => setSource("trained")} data-testid="source-trained" /> A model you trained
          </label>
          <label className="check">
            <input type="radio" checked={source === "published"} onChange={() => setSource("published")} data-testid="source-published" /> A published model
          </label>
        </div>
      )}
      {dataset && source === "trained" && !modelDir && <p>Train a model first (or load one in the chat).</p>}
      {dataset && source === "trained" && modelDir && (
        <div className="card">
          <p>
            Predict the cell type of all {dataset.summary.cells?.toLocaleString(numberLocale)} converted cells with the model in {modelDir}.
          </p>
          <button className="primary" onClick={run} disabled={job?.status === "running"} data-testid="run-annotate">
            Predict cell types
          </button>
        </div>
      )}
      {dataset && source === "published" && !published && (
        <p>
          No published model chosen yet. <a href="#" onClick={(e) => (e.preventDefault(), go("models"))}>Choose one in Models →</a>
        </p>
      )}
      {dataset && source === "published" && published && (
        <div className="card form" data-testid="published-annotate">
          <p>
            Name the cell type of the {dataset.summary.cells?.toLocaleString(numberLocale)} converted cells with <strong>{published.info.published?.name ?? published.info.folder}</strong>: each
            candidate type is scored and the likeliest wins, with a confidence.
          </p>
          <label>
            <span title="the cell types the model chooses from">Choose among</span>{" "}
            <select value={candKind} onChange={(e) => setCandKind(e.target.value as Candidates["kind"])} data-testid="candidates-kind">
              {Object.keys(groups).length > 0 && <option value="column">the types in a column of the dataset</option>}
              <option value="list">types I type</option>
              <option value="common">common cell types (as the published models name them)</option>
            </select>
          </label>
          {candKind === "column" && (
            <select aria-label="Column whose types are the candidates" value={candColumn} onChange={(e) => setCandColumn(e.target.value)} data-testid="candidates-column">
              {Object.entries(groups).map(([c, v]) => (
                <option key={c} value={c}>
                  {c} ({v.length} types)
                </option>
              ))}
            </select>
          )}
          {candKind === "list" && (
            <textarea rows={4} placeholder={"B cell\nT cell\nmonocyte"} value={typedTypes} onChange={(e) => setTypedTypes(e.target.value)} data-testid="candidates-list" />
          )}
          <label>
            <span title="Annotating a sample of each cluster and giving the whole cluster the majority answer is much faster, as CellTypist's majority voting does">
              Cells
            </span>{" "}
            <select value={voteBy} onChange={(e) => setVoteBy(e.target.value)} data-testid="vote-by">
              <option value="">every cell</option>
              {Object.keys(groups).map((c) => (
                <option key={c} value={c}>
                  10 cells of each {c} group, then a vote
                </option>
              ))}
            </select>
          </label>
          <p className="small" data-testid="annotate-estimate">
            {estimate
              ? `About ${formatDuration(estimate.seconds)} on this computer (${estimate.prompts.toLocaleString(numberLocale)} cells asked; ${estimate.device}).`
              : estimateError ?? "Measuring the time on this computer…"}
          </p>
          <button className="primary" onClick={run} disabled={job?.status === "running" || !!estimateError} data-testid="run-annotate-published">
            Name cell types
          </button>
        </div>
      )}
      {dataset && (source === "published" ? !!published : !!modelDir) && (
        <details className="card" data-testid="annotate-rules">
          <summary data-testid="annotate-rules-open">Refine the answers, as CellTypist does</summary>
          <label className="check">
            <input type="checkbox" checked={unassignedOn} onChange={(e) => setUnassignedOn(e.target.checked)} data-testid="rule-unassigned" />{" "}
            <span title="A cell whose answer the model is less sure of than this (its confidence) is called Unassigned instead of getting a type">
              Call a cell Unassigned when the model is less sure than
            </span>{" "}
            <input type="number" min={0} max={100} step={5} value={unassignedPct} disabled={!unassignedOn} onChange={(e) => setUnassignedPct(Number(e.target.value))} data-testid="rule-unassigned-pct" style={{ width: "4.5em" }} /> %
          </label>
          <label className="check">
            <input type="checkbox" checked={voting} onChange={(e) => setVoting(e.target.checked)} data-testid="rule-majority" />{" "}
            <span title="Cells are grouped into many small clusters of similar expression (Leiden over-clustering, as CellTypist does); each cluster takes its commonest answer, which smooths out single wrong calls">
              Majority voting: each small cluster of similar cells takes its commonest answer
            </span>
          </label>
          {voting && (
            <label className="check">
              <span title="A cluster whose commonest answer is shared by fewer of its cells than this is called Heterogeneous">Call a cluster Heterogeneous when its commonest answer has under</span>{" "}
              <input type="number" min={0} max={100} step={5} value={minSharePct} onChange={(e) => setMinSharePct(Number(e.target.value))} data-testid="rule-min-share" style={{ width: "4.5em" }} /> % of
              its cells
            </label>
          )}
          {source === "trained" && modelLabels.length > 1 && (
            <div data-testid="rule-only">
              <p className="small">Answer only with these types (none ticked: all {modelLabels.length}):</p>
              <div className="row">
                {modelLabels.map((l) => (
                  <label key={l} className="check">
                    <input type="checkbox" checked={only.includes(l)} onChange={(e) => setOnly(e.target.checked ? [...only, l] : only.filter((x) => x !== l))} /> {l}
                  </label>
                ))}
              </div>
            </div>
          )}
        </details>
      )}
      <JobBar job={job} />
      {result && (
        <div data-testid="annotate-done">
          {verdict && (
            <div className="card" data-testid="annotate-verdict">
              <p>
                <strong>{verdict.headline}</strong> {verdict.misses}
              </p>
              {verdict.warnings.map((w) => (
                <p key={w} className="warning-text" data-testid="verdict-warning">
                  {w}
                </p>
              ))}
            </div>
          )}
          {!verdict && result.held_out_error && <p className="small muted">Not scored on held-out cells: {result.held_out_error}</p>}
          {(result.unassigned != null || result.over_clusters != null) && (
            <p className="card" data-testid="rules-summary">
              {result.unassigned != null && `${result.unassigned.toLocaleString(numberLocale)} of ${result.cells.toLocaleString(numberLocale)} cells Unassigned (the model was less sure than ${Math.round(100 * (result.unassigned_below ?? 0))} %). `}
              {result.over_clusters != null &&
                `Majority voting in ${result.over_clusters} small clusters of similar cells${result.heterogeneous ? `; ${result.heterogeneous.toLocaleString(numberLocale)} cells in Heterogeneous clusters` : ""}. The chart shows the voted answers.`}
            </p>
          )}
          {result.confidence_histogram && (
            <div className="card">
              <Chart
                testId="confidence-histogram"
                name="confidence-histogram"
                height={260}
                option={{
                  title: {
                    text: "How sure the model is of each answer",
                    subtext: result.unassigned_below != null ? "grey: Unassigned, below the threshold" : "",
                    left: "center",
                    textStyle: { fontSize: 14 },
                  },
                  tooltip: { trigger: "axis" },
                  grid: { left: 60, right: 20, top: 60, bottom: 45 },
                  xAxis: {
                    type: "category",
                    name: "confidence",
                    nameLocation: "middle",
                    nameGap: 28,
                    data: result.confidence_histogram.map((_, i) => `${i * 5}–${i * 5 + 5} %`),
                  },
                  yAxis: { type: "value", name: "cells" },
                  series: [
                    {
                      type: "bar",
                      data: result.confidence_histogram.map((v, i) => ({
                        value: v,
                        itemStyle: { color: result.unassigned_below != null && (i + 1) * 0.05 <= result.unassigned_below + 1e-9 ? "#9aa5ad" : "#1f6f8b" },
                      })),
                    },
                  ],
                }}
              />
            </div>
          )}
          <div className="two">
            <div className="card">
              <Chart
                name="predicted-types"
                option={barOption(
                  counts.map((c) => c[0]),
                  counts.map((c) => c[1]),
                  `Predicted types of ${result.cells.toLocaleString(numberLocale)} cells`,
                )}
                height={Math.max(240, 26 * counts.length + 60)}
              />
            </div>
            {conf && (
              <div className="card" data-testid="confusion">
                <h3>
                  <span title="Each row is the cells of one true type; each square, the share of them given the column's answer. A good model fills the diagonal.">
                    Which types it confuses{held ? " (held-out cells)" : ""}
                  </span>
                </h3>
                {result.published?.voted && (
                  <p className="small muted">
                    Each `{result.published.voted}` group got the majority answer of {result.published.prompts} cells asked.
                  </p>
                )}
                <Chart
                  name="confusion-matrix"
                  height={Math.max(320, 28 * conf.labels.length + 140)}
                  option={{
                    tooltip: {
                      formatter: (q: any) =>
                        `${conf.confusion[q.value[1]][q.value[0]]} of ${conf.confusion[q.value[1]].reduce((a: number, b: number) => a + b, 0)} ${escapeHtml(conf.labels[q.value[1]])} cells answered ${escapeHtml(conf.labels[q.value[0]])}`,
                    },
                    grid: { left: 160, right: 20, top: 20, bottom: 130 },
                    xAxis: { type: "category", data: conf.labels, name: "answer", nameLocation: "middle", nameGap: 110, axisLabel: { rotate: 45, interval: 0 } },
                    yAxis: { type: "category", data: conf.labels, inverse: true, name: "true type", nameLocation: "middle", nameGap: 145, axisLabel: { interval: 0 } },
                    visualMap: { min: 0, max: 1, show: false, inRange: { color: ["#f7fbff", "#08306b"] } },
                    series: [
                      {
                        type: "heatmap",
                        // Light text on dark squares, dark on light ones (readable contrast).
                        data: rowShares(conf.confusion).flatMap((row: number[], t: number) =>
                          row.map((v, p) => ({ value: [p, t, v], label: { color: v > 0.5 ? "#fff" : "#1d2a33" } })),
                        ),
                        label: { show: true, fontSize: 10, formatter: (q: any) => (q.value[2] > 0 ? `${Math.round(100 * q.value[2])}%` : "") },
                      },
                    ],
                  }}
                />
                {rep && (
                  <details>
                    <summary>All cells, training cells included</summary>
                    <p className="small">
                      Accuracy {rep.accuracy.toFixed(3)}, macro F1 {rep.macro_f1.toFixed(3)} over {rep.n_cells.toLocaleString(numberLocale)} cells labelled `{result.label_column}`: cells the
                      model learned from count too, so this is not a fair test.
                    </p>
                  </details>
                )}
              </div>
            )}
          </div>
          <AnswerMap predictions={result.predictions} labelColumn={result.label_column ?? "answer"} />
          <div className="card">
            <h3>Save</h3>
            <p className="muted">
              A copy of the original .h5ad with new cell columns: c2s_predicted_cell_type and c2s_confidence
              {result.unassigned != null && ", c2s_assigned_cell_type (with Unassigned)"}
              {result.over_clusters != null && ", c2s_over_clustering and c2s_majority_voting"}.
            </p>
            <div className="row">
              <button className="primary" onClick={() => save(false)} disabled={saving} data-testid="save-h5ad">
                Save as .h5ad
              </button>
              <button onClick={() => save(true)} disabled={saving}>
                Save a copy elsewhere…
              </button>
              <button
                onClick={async () => {
                  try {
                    setTable(await api.exportPredictions(project!.id, result.predictions));
                  } catch (e) {
                    notify(errorText(e), true);
                  }
                }}
                data-testid="export-cells"
                title="One row a cell: its answer, the confidence, and CellTypist's refinements; opens in Excel"
              >
                Export the per-cell table (CSV)
              </button>
            </div>
            {table && <Saved path={table} what="Table saved" testId="exported-table" />}
            {saved && <Saved path={saved} testId="saved-path" />}
          </div>
        </div>
      )}
    </div>
  );
}

/** A map of the dataset's cells (a sample, as on the Dataset screen) coloured by each cell's final answer, or by how sure the model is of it. */
function AnswerMap({ predictions, labelColumn }: { predictions: string; labelColumn: string }) {
  const { project, opened, convertForm, jobs } = useApp();
  const input = convertForm?.input ?? (opened ? defaultConvertForm(opened.inspection, opened.input_defaults).input : null);
  const [by, setBy] = useState<"answer" | "confidence">("answer");
  const { jobId, error } = useLatestJob(
    project && input ? () => api.startDatasetMap(project.source_path, input, null, "pca", 5000, predictions) : null,
    "map",
    [predictions, project?.id],
  );
  const job = jobId != null ? jobs[jobId] : undefined;
  const map = job?.status === "ok" ? resultOf(job, "map") : null;
  const confidences = map?.confidences?.some((c) => c != null) ? map.confidences : null;
  const option = useMemo(() => {
    if (!map) return null;
    const shown = `${map.method} of ${map.x.length.toLocaleString(numberLocale)} cells`;
    if (by === "confidence" && confidences)
      return scatterOption(map.x, map.y, map.labels, map.axis_names, `${shown}, coloured by how sure the model is`, {
        height: 420,
        names: map.names,
        shade: { kind: "confidence", name: "confidence", values: confidences.map((c) => c ?? NaN) },
      });
    return scatterOption(map.x, map.y, map.labels, map.axis_names, `${shown}, coloured by the answer`, {
      colours: projectColours(project?.id, labelColumn, map.labels ?? []),
      height: 420,
      names: map.names,
    });
  }, [map, by]);
  if (!input) return null;
  return (
    <div className="card">
      <h3>
        <span title="The cells placed by their expression (principal components, as on the Dataset screen); cells that look alike sit together, so a good annotation colours each cloud in one colour">
          Map of the cells, coloured by {by === "confidence" ? "how sure the model is" : "the answer"}
        </span>
      </h3>
      {confidences && (
        <div className="row" role="radiogroup" aria-label="Colour the map by">
          <label>
            <input type="radio" checked={by === "answer"} onChange={() => setBy("answer")} data-testid="answer-map-by-answer" /> the answer
          </label>
          <label title="Cells the model is unsure of cluster where types meet, or in a type it was not taught">
            <input type="radio" checked={by === "confidence"} onChange={() => setBy("confidence")} data-testid="answer-map-by-confidence" /> how sure the model is
          </label>
        </div>
      )}
      {job?.status === "running" && <JobBar job={job} testId="job-answer-map" />}
      {(error || job?.status === "failed") && <div className="error-text">{error ?? job?.error}</div>}
      {option && <Chart testId="annotate-map" name="map-by-answer" option={option} height={420} />}
    </div>
  );
}
