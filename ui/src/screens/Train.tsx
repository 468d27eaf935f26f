import { numberLocale } from "../state/format";
import { useEffect, useState } from "react";
import { api, errorText, type Estimate, type PresetInfo, type TrainForm } from "../api";
import { Chart, lossOption } from "../components/Chart";
import { JobBar } from "../components/JobBar";
import { closeness, estimateText } from "../state/estimate";
import { formatDuration, resultOf, trainingFigures } from "../state/jobs";
import { useApp } from "../store";

export function Train() {
  const { project, state, jobs, dispatchJob, refresh, setModelDir, go, notify, published } = useApp();
  const dataset = state?.datasets[0];
  const [source, setSource] = useState<"scratch" | "finetune" | "continue">("scratch");
  const [form, setForm] = useState<TrainForm>({ preset: "quick", tasks: ["cell_type_prediction", "cell_type_generation"] });
  const [estimates, setEstimates] = useState<Record<string, Estimate | string>>({});
  // The presets in the engine's words; each is then timed on this computer.
  const [presets, setPresets] = useState<PresetInfo[]>([]);
  useEffect(() => {
    api
      .trainPresets()
      .then(setPresets)
      .catch((e) => notify(errorText(e), true));
  }, []);
  // The engine's recommendation once every preset is timed, and the time it aims within.
  const [recommended, setRecommended] = useState<{ preset: string; within: number } | null>(null);
  const [active, setActive] = useState<{ job: number; run: number; folder: string; estimate?: number } | null>(null);
  const [curve, setCurve] = useState<{ train: [number, number][]; validation: [number, number][] } | null>(null);
  const job = active ? jobs[active.job] : undefined;
  const paused = state?.runs.filter((r) => r.status === "paused" || r.status === "interrupted") ?? [];

  useEffect(() => {
    const r = sessionStorage.getItem("resumeRun");
    if (r) {
      sessionStorage.removeItem("resumeRun");
      resume(+r);
    }
  }, []);

  useEffect(() => {
    if (!project || !dataset || presets.length === 0) return;
    let stale = false;
    // Wait for typing to settle: each estimate times a real training step.
    const timer = window.setTimeout(async () => {
      const timed: [string, number][] = [];
      for (const { preset } of presets) {
        if (stale) return;
        try {
          const e = await api.estimateTraining(project.id, dataset.id, { ...form, preset, max_steps: form.max_steps });
          timed.push([preset, e.seconds]);
          if (!stale) setEstimates((s) => ({ ...s, [preset]: e }));
        } catch (e) {
          if (!stale) setEstimates((s) => ({ ...s, [preset]: errorText(e) }));
        }
      }
      try {
        const [preset, within] = await api.recommendPreset(timed);
        if (!stale) setRecommended({ preset, within });
      } catch {
        // No recommendation is better than a wrong one.
        if (!stale) setRecommended(null);
      }
    }, 600);
    return () => {
      stale = true;
      window.clearTimeout(timer);
    };
  }, [project?.id, dataset?.id, form.max_steps, form.epochs, form.thinning, form.skip_common_genes, presets]);

  useEffect(() => {
    if (!job || job.status === "running") return;
    refresh();
    if (active) api.lossCurve(active.run).then(setCurve);
  }, [job?.status]);

  useEffect(() => {
    if (!active) return;
    api.lossCurve(active.run).then(setCurve);
  }, [active?.run]);

  if (!dataset) {
    return (
      <div className="screen">
        <h2>Train a model</h2>
        <p>
          First turn the cells into sentences. <a href="#" onClick={(e) => (e.preventDefault(), go("convert"))}>Convert →</a>
        </p>
      </div>
    );
  }

  async function start() {
    try {
      const f = { ...form, preset: source === "finetune" ? "fine-tune" : form.preset };
      const s = await api.startTraining(project!.id, dataset!.id, f);
      dispatchJob({ type: "started", id: s.job_id, kind: "train" });
      // The estimate shown at the start, to say afterwards how close it came.
      const e = estimates[f.preset];
      setActive({ job: s.job_id, run: s.run_id, folder: s.folder, estimate: typeof e === "object" ? e.seconds : undefined });
      setCurve(null);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function resume(runId: number) {
    try {
      const s = await api.resumeTraining(runId);
      dispatchJob({ type: "started", id: s.job_id, kind: "train" });
      setActive({ job: s.job_id, run: s.run_id, folder: s.folder });
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function chooseBase() {
    try {
      const d = await api.choosePath("model_folder");
      if (d) setForm({ ...form, base: d });
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function useModel() {
    try {
      setModelDir(await api.runModelDir(active!.run));
      go("chat");
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  const toggleTask = (t: string) =>
    setForm({ ...form, tasks: form.tasks.includes(t) ? form.tasks.filter((x) => x !== t) : [...form.tasks, t] });
  const num = (v: string) => (v === "" ? null : +v);
  const d = trainingFigures(job);
  const trained = resultOf(job, "train");
  const liveTrain: [number, number][] = job ? job.loss.map((p) => [p.step, p.train]) : [];
  const liveVal: [number, number][] = job ? job.loss.filter((p) => p.val != null).map((p) => [p.step, p.val!]) : [];
  const trainPts = curve && curve.train.length >= liveTrain.length ? curve.train : liveTrain;
  const valPts = curve && curve.validation.length >= liveVal.length ? curve.validation : liveVal;

  return (
    <div className="screen">
      <h2>Train a model</h2>
      {!active && (
        <>
          <div className="two">
            <div className="card form">
              <h3>1. What should it learn?</h3>
              <label className="check">
                <input type="checkbox" checked={form.tasks.includes("cell_type_prediction")} onChange={() => toggleTask("cell_type_prediction")} /> Name a cell's
                type from its genes
              </label>
              <label className="check">
                <input type="checkbox" checked={form.tasks.includes("cell_type_generation")} onChange={() => toggleTask("cell_type_generation")} /> Write cells
                of a given type
              </label>
              <label className="check">
                <input type="checkbox" checked={form.tasks.includes("unconditional_generation")} onChange={() => toggleTask("unconditional_generation")} />{" "}
                Write cells of any type
              </label>
              <h3>2. Model</h3>
              <label className="check">
                <input type="radio" checked={source === "scratch"} onChange={() => setSource("scratch")} /> A new compact model, trained from scratch
              </label>
              <label className="check">
                <input type="radio" checked={source === "finetune"} onChange={() => setSource("finetune")} data-testid="source-finetune" /> Fine-tune a pretrained
                model: GPT-2 from a folder, or a published C2S-Pythia model
              </label>
              {source === "finetune" && (
                <div className="row">
                  <button onClick={chooseBase} data-testid="choose-base">
                    Choose folder…
                  </button>
                  <span className="small muted" data-testid="base-folder">
                    {form.base || "no folder chosen"}
                  </span>
                </div>
              )}
              {source === "finetune" && published && published.info.family === "gpt_neox" && (
                <button onClick={() => setForm({ ...form, base: published.model })} data-testid="base-published">
                  Continue from {published.info.published?.name ?? "the published model in use"}
                </button>
              )}
              <label className="check">
                <input type="radio" checked={source === "continue"} onChange={() => setSource("continue")} disabled={paused.length === 0} /> Continue a stopped
                run {paused.length === 0 && <span className="muted small">(none)</span>}
              </label>
              {source === "continue" &&
                paused.map((r) => (
                  <div className="row" key={r.id}>
                    Run {r.id}: step {r.step} of {r.total_steps}
                    <button onClick={() => resume(r.id)} data-testid={`continue-run-${r.id}`}>
                      Continue
                    </button>
                  </div>
                ))}
            </div>
            {source === "scratch" && (
              <div className="card form">
                <h3>3. How thorough?</h3>
                {presets.map((p) => {
                  const e = estimates[p.preset];
                  return (
                    <label key={p.preset} className="check preset">
                      <input type="radio" checked={form.preset === p.preset} onChange={() => setForm({ ...form, preset: p.preset })} data-testid={`preset-${p.preset}`} />
                      <strong>{p.name}</strong> — <span title={p.details}>{p.summary}</span>
                      {recommended?.preset === p.preset && (
                        <span
                          className="tag"
                          data-testid={`recommended-${p.preset}`}
                          title={`The most thorough choice that should finish within ${formatDuration(recommended.within)} on this computer: a model soon, to see whether the cells are worth a longer run`}
                        >
                          recommended
                        </span>
                      )}
                      <div className="muted small" data-testid={`estimate-${p.preset}`}>
                        {e === undefined ? "timing a few steps on this computer…" : typeof e === "string" ? e : estimateText(e)}
                      </div>
                    </label>
                  );
                })}
              </div>
            )}
          </div>
          <details className="card form">
            <summary data-testid="advanced">Advanced settings</summary>
            <div className="grid">
              <label title="max_steps: each step learns from one small batch of cells; a short run to try things out">
                Stop after this many steps
                <input type="number" min={1} value={form.max_steps ?? ""} placeholder="the whole run" onChange={(e) => setForm({ ...form, max_steps: num(e.target.value) })} data-testid="max-steps" />
              </label>
              <label title="epochs: how many times the model reads every training cell">
                Times each cell is read
                <input type="number" min={0.1} step={0.5} value={form.epochs ?? ""} placeholder="preset" onChange={(e) => setForm({ ...form, epochs: num(e.target.value) })} />
              </label>
              <label title="batch_size: cells the model learns from at once; more uses more memory">
                Cells learned from at once
                <input type="number" min={1} value={form.batch_size ?? ""} placeholder="preset" onChange={(e) => setForm({ ...form, batch_size: num(e.target.value) })} />
              </label>
              <label title="top_k: the most expressed genes of each cell that the model reads">
                Genes read per cell
                <input type="number" min={1} value={form.top_k ?? ""} placeholder="preset" onChange={(e) => setForm({ ...form, top_k: num(e.target.value) })} />
              </label>
              <label title="checkpoint_every: a stopped or crashed run resumes from its last saved point">
                Save progress every … steps
                <input type="number" min={1} value={form.checkpoint_every ?? ""} placeholder="50" onChange={(e) => setForm({ ...form, checkpoint_every: num(e.target.value) })} />
              </label>
              <label title="seed: the same number, data and settings give the same model">
                Random seed (for repeatable runs)
                <input type="number" value={form.seed ?? ""} placeholder="42" onChange={(e) => setForm({ ...form, seed: num(e.target.value) })} />
              </label>
              <label
                className="check"
                title="thinning: each time a cell is read, some of its reads are left out at random (by its raw counts where the converted data keeps them), and the preset reads each cell more times. On the demo the model then wrote cells of the type asked for much more often and named types as often; training takes about twice as long"
              >
                <input type="checkbox" checked={form.thinning ?? false} onChange={(e) => setForm({ ...form, thinning: e.target.checked })} data-testid="thinning" />
                Also read each cell as if sequenced less deeply
              </label>
              <label
                className="check"
                title="common genes (c2s train --skip-common-genes): genes among the first genes of most training cells whatever their type (ribosomal, mitochondrial and the like) are left out of every cell the model reads, so that it reads further into the genes that tell types apart; cells it writes get them back at their usual place. On the blood-cell demo the model then named unseen cells more often and wrote cells more typical of their type; on a lung dataset of very different cell types it did not help"
              >
                <input
                  type="checkbox"
                  checked={form.skip_common_genes ?? false}
                  onChange={(e) => setForm({ ...form, skip_common_genes: e.target.checked })}
                  data-testid="skip-common-genes"
                />
                Skip the genes nearly every cell starts with
              </label>
            </div>
          </details>
          {source !== "continue" && (
            <button className="primary" onClick={start} disabled={form.tasks.length === 0} data-testid="start-training">
              Start training
            </button>
          )}
        </>
      )}
      {active && (
        <div className="dashboard" data-testid="train-dashboard">
          <div className="cards">
            {d?.held_out != null && (
              <div
                className="stat"
                data-testid="held-out-so-far"
                data-step={d.held_out.step}
                title="Validation cells, which the model never trains on, asked their type as the run goes (the same cells each time)"
              >
                <div className="num">{((100 * d.held_out.right) / Math.max(1, d.held_out.cells)).toFixed(0)} %</div>
                unseen cells named right ({d.held_out.right} of {d.held_out.cells}, step {d.held_out.step.toLocaleString(numberLocale)})
              </div>
            )}
            <div className="stat">
              <div className="num">{d?.train_loss != null ? d.train_loss.toFixed(3) : "–"}</div>training loss
            </div>
            <div className="stat">
              <div className="num">{d?.val_loss != null ? d.val_loss.toFixed(3) : job?.loss.filter((p) => p.val != null).slice(-1)[0]?.val?.toFixed(3) ?? "–"}</div>
              validation loss
            </div>
            <div className="stat">
              <div className="num">{d?.tokens_per_s != null ? Math.round(d.tokens_per_s).toLocaleString(numberLocale) : "–"}</div>tokens / s
            </div>
            <div className="stat">
              <div className="num">{job?.status === "running" ? formatDuration(d?.eta_s) : "–"}</div>left
            </div>
            <div className="stat">
              <div className="num small-num">{d?.device ?? "…"}</div>device
            </div>
          </div>
          <JobBar job={job} onCancel={() => api.cancelTraining(active.job, active.run)} cancelLabel="Cancel (not resumable)" />
          {job?.status === "running" && (
            <div className="row">
              <button onClick={() => api.cancelJob(active.job)} data-testid="pause-training">
                Pause (keeps a checkpoint)
              </button>
            </div>
          )}
          <Chart
            name={`loss-run-${active.run}`}
            testId="loss-chart"
            option={lossOption(trainPts, valPts)}
          />
          {job?.status === "ok" && trained && (
            <div className="card success" data-testid="train-done">
              <h3>Training finished</h3>
              {trained.summary.validation && (
                <p data-testid="train-verdict">
                  <strong>
                    The model names the type of {(100 * trained.summary.validation.right / Math.max(1, trained.summary.validation.cells)).toFixed(1)} % of
                    cells it never learned from
                  </strong>{" "}
                  ({trained.summary.validation.right.toLocaleString(numberLocale)} of {trained.summary.validation.cells.toLocaleString(numberLocale)} validation
                  cells). Annotate tells how it does on the test cells, beside a simple baseline.
                </p>
              )}
              <p className="muted small">
                {trained.summary.steps.toLocaleString(numberLocale)} steps in {formatDuration(trained.summary.seconds)};{" "}
                <span title="How surprised the model is by the validation cells' sentences: lower is better">
                  best validation loss {trained.summary.best_val_loss?.toFixed(3) ?? "–"}
                </span>
                .
              </p>
              {active?.estimate != null && trained.summary.resumed_from_step === 0 && (
                <p className="muted small" data-testid="estimate-closeness">
                  {closeness(active.estimate, trained.summary.seconds)}
                </p>
              )}
              {trained.summary.resumed_from_step > 0 && (
                <p data-testid="resumed-from" data-step={trained.summary.resumed_from_step}>
                  Continued from the checkpoint at step {trained.summary.resumed_from_step}.
                </p>
              )}
              <button className="primary" onClick={useModel} data-testid="to-chat">
                Chat with the model →
              </button>
            </div>
          )}
          {job?.status === "cancelled" && (
            <div className="card notice" data-testid="train-paused">
              {state?.runs.find((r) => r.id === active.run)?.status === "cancelled" ? "Cancelled. " : ""}
              Paused at step {trained?.summary.steps ?? job.done}. The last checkpoint is kept.{" "}
              <button onClick={() => resume(active.run)} data-testid="resume-training">
                Resume
              </button>
            </div>
          )}
          {job?.status === "failed" && (
            <div className="card error">
              <button onClick={() => setActive(null)}>Back to the settings</button>
            </div>
          )}
        </div>
      )}
      {(state?.runs.length ?? 0) > 0 && !active && (
        <div className="card">
          <h3>Runs of this project</h3>
          <table>
            <tbody>
              {state!.runs.map((r) => (
                <tr key={r.id}>
                  <td>Run {r.id}</td>
                  <td>
                    {r.request?.preset}
                    {r.request?.thinning ? ", thinned" : ""}
                    {r.request?.skip_common_genes != null ? ", common genes skipped" : ""}
                  </td>
                  <td>{r.status}</td>
                  <td>
                    step {r.step} / {r.total_steps}
                  </td>
                  <td>
                    {r.status === "finished" && (
                      <button onClick={async () => (setModelDir(await api.runModelDir(r.id)), go("chat"))}>Use this model</button>
                    )}
                    {(r.status === "paused" || r.status === "interrupted") && <button onClick={() => resume(r.id)}>Resume</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
