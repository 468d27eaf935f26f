import { numberLocale } from "../state/format";
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import { resultOf } from "../state/jobs";
import { JobBar } from "../components/JobBar";
import { labelCandidates, type InputForm } from "../state/forms";
import { useApp } from "../store";

export function Convert() {
  const { opened, convertForm: form, setConvertForm: setForm, jobs, dispatchJob, refresh, state, go, notify } = useApp();
  const [preview, setPreview] = useState<{ cell_name: string; words: string[]; expressed: number }[] | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [jobId, setJobId] = useState<number | null>(null);
  const i = opened!.inspection;
  const job = jobId != null ? jobs[jobId] : undefined;

  useEffect(() => {
    if (job?.status === "ok") refresh();
  }, [job?.status]);

  if (!form) return null;
  const setInput = (p: Partial<InputForm>) => setForm({ ...form, input: { ...form.input, ...p } });
  const candidates = labelCandidates(i);

  async function showPreview() {
    setPreviewError(null);
    try {
      setPreview(await api.previewSentences(opened!.project.id, form!.input));
    } catch (e) {
      setPreviewError(errorText(e));
    }
  }

  async function run() {
    try {
      const id = await api.startConvert(opened!.project.id, form!);
      dispatchJob({ type: "started", id, kind: "convert" });
      setJobId(id);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  const result = job?.status === "ok" ? resultOf(job, "convert") : null;
  const latest = state?.datasets[0];
  return (
    <div className="screen">
      <h2>Turn cells into sentences</h2>
      <p className="muted">Each cell's expressed genes, ranked from most to least expressed, become its sentence.</p>
      <div className="two">
        <div className="card form">
          <h3>1. Expression</h3>
          <label>
            Matrix
            <select value={form.input.matrix} onChange={(e) => setInput({ matrix: e.target.value })} data-testid="matrix">
              {i.matrices.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name} — {m.description}
                </option>
              ))}
            </select>
          </label>
          <label>
            Gene names
            <select value={form.input.gene_column} onChange={(e) => setInput({ gene_column: e.target.value })}>
              <option value="">the file's gene names</option>
              {i.var_columns
                .filter((c) => c.kind === "text" || c.kind === "categorical")
                .map((c) => (
                  <option key={c.name} value={c.name}>
                    column {c.name}
                  </option>
                ))}
            </select>
          </label>
          <h3>2. Cell labels to keep</h3>
          {candidates.length === 0 && <p className="muted">This file has no annotation columns; models can still learn to write cells.</p>}
          {candidates.map((c) => (
            <label key={c.name} className="check">
              <input
                type="checkbox"
                checked={form.labels.includes(c.name)}
                onChange={(e) =>
                  setForm({
                    ...form,
                    labels: e.target.checked ? [...form.labels, c.name] : form.labels.filter((l) => l !== c.name),
                    stratify: e.target.checked || form.stratify !== c.name ? form.stratify || c.name : "",
                  })
                }
              />{" "}
              {c.name} <span className="muted small">({c.distinct} values)</span>
            </label>
          ))}
          <details>
            <summary>3. Quality filter and scaling</summary>
            <p className="muted small">
              0 keeps every cell and gene, as the original Cell2Sentence software does. For raw counts with empty droplets, its tutorials drop cells with fewer
              than 200 genes and genes seen in fewer than 3 cells.
            </p>
            <label>
              Drop cells with fewer genes than
              <input type="number" min={0} value={form.input.min_genes} onChange={(e) => setInput({ min_genes: +e.target.value })} />
            </label>
            <label>
              Drop genes seen in fewer cells than
              <input type="number" min={0} value={form.input.min_cells} onChange={(e) => setInput({ min_cells: +e.target.value })} />
            </label>
            <label>
              Scale each cell to a total of
              <input
                type="number"
                placeholder="the median cell total"
                value={form.input.target_sum ?? ""}
                onChange={(e) => setInput({ target_sum: e.target.value ? +e.target.value : null })}
              />
            </label>
            <label>
              Logarithm
              <select value={form.input.log_base} onChange={(e) => setInput({ log_base: e.target.value as "10" | "e" })}>
                <option value="10">base 10 (the reference)</option>
                <option value="e">natural</option>
              </select>
            </label>
            <label>
              Random seed (tie order, splits)
              <input type="number" value={form.input.seed} onChange={(e) => setInput({ seed: +e.target.value })} />
            </label>
          </details>
        </div>
        <div className="card">
          <h3>Preview</h3>
          <button onClick={showPreview} data-testid="preview">
            Show the first cells' sentences
          </button>
          {previewError && <div className="error-text">{previewError}</div>}
          {preview && (
            <ol className="sentences" data-testid="preview-list">
              {preview.map((p) => (
                <li key={p.cell_name}>
                  <span className="muted small">
                    {p.cell_name} ({p.expressed} genes)
                  </span>
                  <div className="mono">{p.words.join(" ")} …</div>
                </li>
              ))}
            </ol>
          )}
        </div>
      </div>
      <div className="row">
        <button className="primary" onClick={run} disabled={job?.status === "running"} data-testid="run-convert">
          Convert all {i.cells.toLocaleString(numberLocale)} cells
        </button>
      </div>
      <JobBar job={job} />
      {result && (
        <div className="card success" data-testid="convert-done">
          <h3>Done: {result.summary.cells.toLocaleString(numberLocale)} cell sentences</h3>
          <p>
            {result.summary.genes.toLocaleString(numberLocale)} genes, {result.summary.mean_genes_per_cell.toFixed(0)} genes per cell on average; train / validation / test:{" "}
            {result.summary.splits.join(" / ")} cells.
            {result.summary.fit && ` Expression fit R² ${result.summary.fit.r_squared.toFixed(3)}.`}
          </p>
          <p className="muted small">
            Saved in {result.folder}: sentences.parquet (pandas, Hugging Face datasets), sentences.jsonl and sentences.txt (plain text), vocabulary.tsv, splits.
          </p>
          {result.summary.notes?.map((n: string, k: number) => (
            <p className="muted small" key={k}>
              {n}
            </p>
          ))}
          <button className="primary" onClick={() => go("train")} data-testid="to-train">
            Train a model →
          </button>
        </div>
      )}
      {!result && latest && (
        <p className="muted">
          Converted before: {latest.folder} ({latest.summary.cells.toLocaleString(numberLocale)} cells). <a href="#" onClick={(e) => (e.preventDefault(), go("train"))}>Train with it →</a>
        </p>
      )}
    </div>
  );
}
