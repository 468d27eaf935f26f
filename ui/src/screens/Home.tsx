import { useEffect, useState } from "react";
import { api, errorText, type Project, type RunRow } from "../api";
import { useApp } from "../store";

/** How it works, in four steps, on Home. */
const HOW = [
  { title: "Open your cells", text: "Drop an .h5ad file on the window, or try the demo dataset." },
  { title: "Write them as sentences", text: "Convert: each cell's genes, most expressed first. Some cells are kept aside for testing." },
  { title: "Choose a model", text: "Train one on your labelled cells, or pick a published model that needs no training." },
  { title: "Ask and check", text: "Name cell types, write new cells, and see how often the model is right on cells it never saw." },
];

export function Home() {
  const { openPath, opening, openError, notify, go } = useApp();
  const [demo, setDemo] = useState<string | null>(null);
  const [recent, setRecent] = useState<Project[]>([]);
  const [resumable, setResumable] = useState<RunRow[]>([]);

  useEffect(() => {
    api.appInfo().then((i) => setDemo(i.demo_path));
    api.recentProjects().then(setRecent).catch(() => {});
    api.resumableRuns().then(setResumable).catch(() => {});
  }, []);

  async function browse() {
    try {
      // The dialog opens on the app's side, which then lets the page name the file.
      const f = await api.choosePath("dataset");
      if (f) await openPath(f);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function resume(r: RunRow) {
    const p = recent.find((x) => x.id === r.project_id);
    if (p) await openPath(p.source_path);
    sessionStorage.setItem("resumeRun", String(r.id));
    go("train");
  }

  return (
    <div className="screen home">
      <h1>C2S Studio</h1>
      <p className="lead">
        Teach a language model the language of cells. Each cell becomes a <em>cell sentence</em> — its genes, most expressed first — and a model learns to name
        cell types and to write new cells: one you train here, or one the Cell2Sentence team trained on millions of cells.
      </p>
      <ol className="steps plain-list" aria-label="How it works" data-testid="how-it-works">
        {HOW.map((h, i) => (
          <li key={h.title} className="step">
            <span className="n" aria-hidden="true">
              {i + 1}
            </span>
            <strong>{h.title}</strong>
            <div className="small muted">{h.text}</div>
          </li>
        ))}
      </ol>
      <p className="small">
        New here? <button className="link" onClick={() => go("help")} data-testid="home-help">Read the short guide</button> to what each screen does and what the
        numbers mean.
      </p>
      {resumable.length > 0 && (
        <div className="card notice" data-testid="resume-banner">
          <h3>Unfinished training</h3>
          {resumable.map((r) => (
            <div key={r.id} className="row">
              <span>
                Run {r.id} ({r.request?.preset ?? "model"}) stopped at step {r.step} of {r.total_steps || "?"} ({r.status}).
              </span>
              <button onClick={() => resume(r)} data-testid={`resume-run-${r.id}`}>
                Resume
              </button>
            </div>
          ))}
        </div>
      )}
      <div className="dropzone" data-testid="dropzone">
        <div className="big">Drop an .h5ad file here</div>
        <div className="muted">single-cell data saved by scanpy or anndata, or a 10x Genomics .h5 file</div>
        <div className="row center">
          <button className="primary" onClick={browse} disabled={opening} data-testid="open-file">
            Open a file…
          </button>
          {demo && (
            <button className="primary" onClick={() => openPath(demo)} disabled={opening} data-testid="try-demo">
              Try the demo dataset (2,638 blood cells)
            </button>
          )}
        </div>
        {opening && <div className="muted">Reading the file…</div>}
      </div>
      {openError && (
        <div className="card error" data-testid="open-error">
          <strong>That file could not be opened.</strong>
          <pre>{openError}</pre>
        </div>
      )}
      {recent.length > 0 && (
        <div className="card">
          <h3>Recent projects</h3>
          <ul className="plain">
            {recent.map((p) => (
              <li key={p.id}>
                <a href="#" onClick={(e) => (e.preventDefault(), openPath(p.source_path))}>
                  {p.name}
                </a>{" "}
                <span className="muted small">{p.source_path}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
