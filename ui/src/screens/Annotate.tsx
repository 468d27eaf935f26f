import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import { barOption, Chart } from "../components/Chart";
import { JobBar } from "../components/JobBar";
import { useApp } from "../store";

export function Annotate() {
  const { project, state, modelDir, setModelDir, jobs, dispatchJob, refresh, notify } = useApp();
  const [jobId, setJobId] = useState<number | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const job = jobId != null ? jobs[jobId] : undefined;
  const dataset = state?.datasets[0];
  const finished = state?.runs.filter((r) => r.status === "finished") ?? [];
  const result = job?.status === "ok" ? job.result : null;

  useEffect(() => {
    if (!modelDir && finished.length > 0) api.runModelDir(finished[0].id).then(setModelDir).catch(() => {});
  }, [finished.length]);
  useEffect(() => {
    if (job?.status === "ok") refresh();
  }, [job?.status]);

  async function run() {
    if (!project || !dataset || !modelDir) return;
    setSaved(null);
    try {
      const id = await api.startAnnotate(project.id, dataset.id, modelDir);
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
      {dataset && !modelDir && <p>Train a model first (or load one in the chat).</p>}
      {dataset && modelDir && (
        <div className="card">
          <p>
            Predict the cell type of all {dataset.summary.cells?.toLocaleString()} converted cells with the model in {modelDir}.
          </p>
          <button className="primary" onClick={run} disabled={job?.status === "running"} data-testid="run-annotate">
            Predict cell types
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
