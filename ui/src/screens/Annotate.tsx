import { useEffect, useState } from "react";
import { api, errorText, type AnnotationPlan, type Candidates } from "../api";
import { barOption, Chart } from "../components/Chart";
import { JobBar } from "../components/JobBar";
import { formatDuration } from "../state/jobs";
import { useApp } from "../store";

export function Annotate() {
  const { project, state, modelDir, setModelDir, published, jobs, dispatchJob, refresh, notify, go } = useApp();
  const [jobId, setJobId] = useState<number | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const job = jobId != null ? jobs[jobId] : undefined;
  const dataset = state?.datasets[0];
  const finished = state?.runs.filter((r) => r.status === "finished") ?? [];
  const result = job?.status === "ok" ? job.result : null;
  // Which model: one trained here, or the published one in use.
  const [source, setSource] = useState<"trained" | "published">(published ? "published" : "trained");
  const [groups, setGroups] = useState<Record<string, [string, number][]>>({});
  const [candKind, setCandKind] = useState<Candidates["kind"]>("common");
  const [candColumn, setCandColumn] = useState("");
  const [typedTypes, setTypedTypes] = useState("");
  const [voteBy, setVoteBy] = useState("");
  const [estimate, setEstimate] = useState<{ seconds: number; prompts: number; device: string } | null>(null);
  const [estimateError, setEstimateError] = useState<string | null>(null);

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
    try {
      const id =
        source === "published" && published
          ? await api.startAnnotatePublished(project.id, dataset.id, published.model, plan)
          : await api.startAnnotate(project.id, dataset.id, modelDir!);
      dispatchJob({ type: "started", id, kind: "annotate" });
      setJobId(id);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function save(elsewhere: boolean) {
    setSaving(true);
    try {
      const path = elsewhere ? await api.saveAnnotatedAs(project!.id, result.predictions) : await api.saveAnnotated(project!.id, result.predictions);
      if (path) {
        setSaved(path);
        notify(`Saved ${path}`);
      }
    } catch (e) {
      notify(errorText(e), true);
    } finally {
      setSaving(false);
    }
  }

  const counts: [string, number][] = result ? Object.entries(result.counts as Record<string, number>).sort((a, b) => b[1] - a[1]) : [];
  const rep = result?.report;
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
            Predict the cell type of all {dataset.summary.cells?.toLocaleString()} converted cells with the model in {modelDir}.
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
            Name the cell type of the {dataset.summary.cells?.toLocaleString()} converted cells with <strong>{published.info.published?.name ?? published.info.folder}</strong>: each
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
            <select value={candColumn} onChange={(e) => setCandColumn(e.target.value)} data-testid="candidates-column">
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
              ? `About ${formatDuration(estimate.seconds)} on this computer (${estimate.prompts.toLocaleString()} cells asked; ${estimate.device}).`
              : estimateError ?? "Measuring the time on this computer…"}
          </p>
          <button className="primary" onClick={run} disabled={job?.status === "running" || !!estimateError} data-testid="run-annotate-published">
            Name cell types
          </button>
        </div>
      )}
      <JobBar job={job} />
      {result && (
        <div data-testid="annotate-done">
          <div className="two">
            <div className="card">
              <Chart
                name="predicted-types"
                option={barOption(
                  counts.map((c) => c[0]),
                  counts.map((c) => c[1]),
                  `Predicted types of ${result.cells.toLocaleString()} cells`,
                )}
                height={Math.max(240, 26 * counts.length + 60)}
              />
            </div>
            {rep && (
              <div className="card" data-testid="confusion">
                <h3>Against the existing `{result.label_column}` labels</h3>
                {result.voted && <p className="small muted">Each `{result.voted}` group got the majority answer of {result.prompts} cells asked.</p>}
                <p>
                  Accuracy {rep.accuracy.toFixed(3)}, macro F1 {rep.macro_f1.toFixed(3)} over {rep.n_cells.toLocaleString()} labelled cells (all splits, training
                  cells included).
                </p>
                <Chart
                  name="confusion-matrix"
                  height={Math.max(320, 28 * rep.labels.length + 120)}
                  option={{
                    tooltip: { formatter: (q: any) => `true ${rep.labels[q.data[1]]}, predicted ${rep.labels[q.data[0]]}: ${q.data[2]}` },
                    grid: { left: 160, right: 20, top: 20, bottom: 120 },
                    xAxis: { type: "category", data: rep.labels, name: "predicted", nameLocation: "middle", nameGap: 100, axisLabel: { rotate: 45, interval: 0 } },
                    yAxis: { type: "category", data: rep.labels, inverse: true, axisLabel: { interval: 0 } },
                    visualMap: { min: 0, max: Math.max(1, ...rep.confusion.flat()), show: false, inRange: { color: ["#f7fbff", "#08306b"] } },
                    series: [
                      {
                        type: "heatmap",
                        data: rep.confusion.flatMap((row: number[], t: number) => row.map((v, p) => [p, t, v])),
                        label: { show: true, fontSize: 10 },
                      },
                    ],
                  }}
                />
              </div>
            )}
          </div>
          <div className="card">
            <h3>Save</h3>
            <p className="muted">A copy of the original .h5ad with two new cell columns: c2s_predicted_cell_type and c2s_confidence.</p>
            <div className="row">
              <button className="primary" onClick={() => save(false)} disabled={saving} data-testid="save-h5ad">
                Save as .h5ad
              </button>
              <button onClick={() => save(true)} disabled={saving}>
                Save a copy elsewhere…
              </button>
            </div>
            {saved && (
              <p className="success-text" data-testid="saved-path">
                Saved: {saved}
              </p>
            )}
          </div>
        </div>
      )}
    </div>
  );
}
