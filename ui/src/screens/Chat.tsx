import { numberLocale } from "../state/format";
import { useEffect, useRef, useState } from "react";
import { api, errorText, type GenerationDefaults, type Marker, type ModelInfo } from "../api";
import { markerEvidence, markerNote, notUnderstood, parseRequest, type Message } from "../state/chat";
import { formatDuration } from "../state/jobs";
import { useApp } from "../store";

export function Chat() {
  const { project, state, modelDir, setModelDir, chat, dispatchChat, jobs, dispatchJob, go, notify, published } = useApp();
  const [groups, setGroups] = useState<Record<string, [string, number][]>>({});
  const [groupCol, setGroupCol] = useState("");
  const [groupVal, setGroupVal] = useState("");
  const [pubType, setPubType] = useState("");
  const [pubN, setPubN] = useState(3);
  // Seconds writing the cells will take here, measured before the job.
  const [pubEstimate, setPubEstimate] = useState<number | null>(null);
  const [tissue, setTissue] = useState("");
  const [groupsN, setGroupsN] = useState(1);
  const dataset = state?.datasets[0];
  const [info, setInfo] = useState<ModelInfo | null>(null);
  // Marker genes of each type in the user's data, marked in generated cells.
  const [markers, setMarkers] = useState<Record<string, Marker[]>>({});
  useEffect(() => {
    setMarkers({});
    if (project && dataset && info?.label_column)
      api
        .markerGenes(project.id, dataset.id, info.label_column)
        .then(setMarkers)
        .catch(() => {});
  }, [project?.id, dataset?.id, info?.label_column]);
  const [infoError, setInfoError] = useState<string | null>(null);
  const [n, setN] = useState(5);
  const [cellType, setCellType] = useState("");
  const [sentence, setSentence] = useState("");
  const [picked, setPicked] = useState<{ name: string; sentence: string; split: string | null; truth: string | null } | null>(null);
  const [typed, setTyped] = useState("");
  // Sampling settings start from the engine's (generation_defaults); the
  // controls that need them wait for them.
  const [settings, setSettings] = useState<GenerationDefaults | null>(null);
  const [running, setRunning] = useState<number | null>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const finished = state?.runs.filter((r) => r.status === "finished") ?? [];

  useEffect(() => {
    api
      .generationDefaults()
      .then(setSettings)
      .catch((e) => dispatchChat({ type: "error", text: errorText(e) }));
  }, []);

  useEffect(() => {
    if (!modelDir && finished.length > 0) api.runModelDir(finished[0].id).then(setModelDir).catch(() => {});
  }, [finished.length]);

  useEffect(() => {
    setInfo(null);
    setInfoError(null);
    if (!modelDir) return;
    api
      .modelInfo(modelDir)
      .then((i) => {
        setInfo(i);
        setCellType(i.labels[0] ?? "");
      })
      .catch((e) => setInfoError(errorText(e)));
  }, [modelDir]);

  useEffect(() => bottom.current?.scrollIntoView({ block: "end" }), [chat]);

  // Cells selected on a map ("What type are these?"), asked once the
  // model and the converted dataset are known.
  useEffect(() => {
    const raw = sessionStorage.getItem("askCells");
    if (!raw || !modelDir || !project || !dataset) return;
    sessionStorage.removeItem("askCells");
    const names: string[] = JSON.parse(raw).names ?? [];
    (async () => {
      dispatchChat({ type: "user", text: `What type are these ${names.length.toLocaleString(numberLocale)} cells (selected on the map)?` });
      try {
        dispatchChat({ type: "group", call: await api.callSelectedCells(project.id, dataset.id, modelDir, names), model: trainedName });
      } catch (e) {
        dispatchChat({ type: "error", text: errorText(e) });
      }
    })();
  }, [modelDir, project?.id, dataset?.id]);

  // The dataset's label columns: the groups to ask a published model about.
  useEffect(() => {
    if (!project || !dataset || !published) return;
    api
      .datasetGroups(project.id, dataset.id)
      .then((g) => {
        setGroups(g);
        const col = Object.keys(g)[0] ?? "";
        setGroupCol(col);
        setGroupVal(g[col]?.[0]?.[0] ?? "");
        setPubType((t) => t || (g[col]?.[0]?.[0] ?? ""));
      })
      .catch(() => {});
  }, [project?.id, dataset?.id, published?.model]);

  // A generation's end arrives as a job event.
  useEffect(() => {
    if (running == null) return;
    const j = jobs[running];
    if (!j || j.status === "running") return;
    const r = j.status === "ok" ? j.result : null;
    if (r?.job === "free_text") dispatchChat({ type: "stopped", jobId: running, error: null, text: r.text });
    else if (r?.job === "describe")
      dispatchChat({
        type: "stopped",
        jobId: running,
        error: null,
        text: `The model answers: “${r.answer || "(nothing)"}” (asked about ${r.cells.length} cells of ${r.column} = ${r.value}).`,
      });
    else if (r?.job === "generate") dispatchChat({ type: "generated", jobId: running, result: r });
    else dispatchChat({ type: "stopped", jobId: running, error: j.error });
    setRunning(null);
  }, [running, jobs]);

  // Which model answered, as the replies name it.
  const run = finished.find((r) => modelDir?.startsWith(r.folder));
  const baseName = (p: string) => p.replace(/[\\/]+$/, "").split(/[\\/]/).filter(Boolean).slice(-2).join("/");
  const trainedName = run ? `Run ${run.id} (${run.request?.preset ?? "model"})` : modelDir ? baseName(modelDir) : undefined;
  const publishedName = published ? (published.info.published?.name ?? baseName(published.info.folder)) : undefined;

  async function generate(count: number, type: string | null) {
    if (!modelDir || !project || !settings) return;
    const what = `${count} cell${count === 1 ? "" : "s"}${type ? ` of type ${type}` : ""}`;
    dispatchChat({ type: "user", text: `Generate ${what}` });
    try {
      // Guidance only for models that learned cells of no given type; the
      // engine picks plain sampling for the others.
      const { guidance, ...rest } = settings;
      const form = { cell_type: type, n: count, ...rest, guidance: info?.guidance ? guidance : undefined };
      const id = await api.startGenerate(project.id, modelDir, form);
      dispatchJob({ type: "started", id, kind: "generate" });
      dispatchChat({ type: "generating", jobId: id, text: `Writing ${what}`, model: trainedName });
      setRunning(id);
    } catch (e) {
      dispatchChat({ type: "error", text: errorText(e) });
    }
  }

  async function askGroup(task: "tissue" | "summary") {
    if (!published || !project || !dataset || !groupCol || !groupVal) return;
    const q = task === "tissue" ? "Which tissue do these cells come from?" : "Summarise these cells.";
    dispatchChat({ type: "user", text: `${q} (cells of ${groupCol} = ${groupVal})` });
    try {
      const id = await api.startDescribeGroup(project.id, dataset.id, published.model, { column: groupCol, value: groupVal, task });
      dispatchJob({ type: "started", id, kind: "describe" });
      dispatchChat({ type: "generating", jobId: id, text: "Reading the cells…", model: publishedName });
      setRunning(id);
    } catch (e) {
      dispatchChat({ type: "error", text: errorText(e) });
    }
  }

  useEffect(() => {
    setPubEstimate(null);
    const model = published?.model;
    if (!model || !pubType.trim() || pubN < 1 || running != null || !published.info.tasks.includes("cell_type_generation")) return;
    let live = true;
    // Measured once the form rests: each measurement runs the model briefly.
    const t = setTimeout(() => {
      api
        .estimatePublishedGeneration(model, pubType, pubN)
        .then((s) => live && setPubEstimate(s))
        .catch(() => {});
    }, 800);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [published?.model, pubType, pubN, running]);

  async function publishedGenerate() {
    if (!published || !project || !dataset || !pubType.trim()) return;
    const what = `${pubN} cell${pubN === 1 ? "" : "s"} of type ${pubType}`;
    dispatchChat({ type: "user", text: `Generate ${what}` });
    try {
      const id = await api.startPublishedGenerate(project.id, dataset.id, published.model, { cell_type: pubType.trim(), n: pubN });
      dispatchJob({ type: "started", id, kind: "generate" });
      dispatchChat({ type: "generating", jobId: id, text: `Writing ${what}`, model: publishedName });
      setRunning(id);
    } catch (e) {
      dispatchChat({ type: "error", text: errorText(e) });
    }
  }

  async function tissueGenerate() {
    if (!published || !project || !dataset || !tissue.trim()) return;
    const what = `${groupsN} group${groupsN === 1 ? "" : "s"} of cells from ${tissue}`;
    dispatchChat({ type: "user", text: `Generate ${what}` });
    try {
      const id = await api.startPublishedGenerate(project.id, dataset.id, published.model, { tissue: tissue.trim(), n: groupsN });
      dispatchJob({ type: "started", id, kind: "generate" });
      dispatchChat({ type: "generating", jobId: id, text: `Writing ${what}`, model: publishedName });
      setRunning(id);
    } catch (e) {
      dispatchChat({ type: "error", text: errorText(e) });
    }
  }

  async function predict(s: string) {
    if (!modelDir) return;
    // A cell picked from the dataset (and not edited since) is named, with what the dataset calls it.
    const cell = picked && picked.sentence === s ? picked : null;
    const about = cell ? ` (cell ${cell.name}${cell.split === "test" ? ", held out from training" : ""})` : "";
    const question = `What type is this cell${about}? ${s.slice(0, 200)}${s.length > 200 ? "…" : ""}`;
    try {
      const genes = s.split(/[\s,]+/).filter(Boolean);
      const r = await api.predictSentence(modelDir, s);
      if (r.kind === "not_genes") {
        dispatchChat({ type: "user", text: s });
        dispatchChat({ type: "error", text: notUnderstood(info?.labels ?? [], r) });
        return;
      }
      dispatchChat({ type: "user", text: question });
      dispatchChat({ type: "prediction", result: r, asked: r.read, truth: cell?.truth ?? undefined, model: trainedName, genes: genes.slice(0, r.read) });
    } catch (e) {
      dispatchChat({ type: "user", text: question });
      dispatchChat({ type: "error", text: errorText(e) });
    }
  }

  async function pickCell() {
    const ds = state?.datasets[0];
    if (!ds) return notify("convert the dataset first", true);
    try {
      const c = (await api.sampleCells(project!.id, ds.id, 1))[0];
      if (!c) return;
      setSentence(c.sentence);
      setPicked({ name: c.cell_name, sentence: c.sentence, split: c.split ?? null, truth: info ? (c.labels?.[info.label_column] ?? null) : null });
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function add(m: Message) {
    if (!project || !m.cells) return;
    try {
      await api.addToComparison(project.id, m.cells);
      dispatchChat({ type: "added", id: m.id });
      notify(`Added ${m.cells.length} cells to the comparison: Compare puts them beside real cells`);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function freeText(prompt: string) {
    if (!settings) return;
    dispatchChat({ type: "user", text: prompt });
    try {
      const id = await api.startFreeText(modelDir!, { prompt, temperature: settings.temperature, top_k: settings.top_k, top_p: settings.top_p });
      dispatchJob({ type: "started", id, kind: "free-text" });
      dispatchChat({ type: "generating", jobId: id, text: "", model: trainedName });
      setRunning(id);
    } catch (e) {
      dispatchChat({ type: "error", text: errorText(e) });
    }
  }

  function send() {
    const r = parseRequest(typed, info?.labels ?? [], !!info && !info.word_level);
    // Fine-tuned GPT-2 keeps its English: anything else goes to it as text.
    if (!r && info && !info.word_level) {
      freeText(typed);
    } else if (!r) {
      dispatchChat({ type: "user", text: typed });
      dispatchChat({ type: "error", text: notUnderstood(info?.labels ?? []) });
    } else if (r.kind === "unknown-type") {
      dispatchChat({ type: "user", text: typed });
      dispatchChat({
        type: "error",
        text: `This model has not learned “${r.asked}”. It knows: ${info?.labels.join(", ") ?? "…"}.`,
      });
    } else if (r.kind === "generate") generate(r.n, r.cellType);
    else predict(r.sentence);
    setTyped("");
  }

  return (
    <div className="screen chat-screen">
      <div className="chat-side">
        <div className="card form">
          <h3>Model</h3>
          {finished.length > 0 && (
            <select
              aria-label="Trained model to chat with"
              value={finished.find((r) => modelDir?.startsWith(r.folder))?.id ?? ""}
              onChange={async (e) => {
                if (e.target.value) setModelDir(await api.runModelDir(+e.target.value));
              }}
            >
              <option value="">choose a trained run</option>
              {finished.map((r) => (
                <option key={r.id} value={r.id}>
                  Run {r.id} ({r.request?.preset})
                </option>
              ))}
            </select>
          )}
          <button
            onClick={async () => {
              try {
                const d = await api.choosePath("model_folder");
                if (d) setModelDir(d);
              } catch (e) {
                notify(errorText(e), true);
              }
            }}
            data-testid="choose-model"
          >
            {finished.length > 0 ? "or a model folder…" : "Choose a model folder…"}
          </button>
          {info && (
            <p className="muted small" data-testid="model-info">
              Knows {info.labels.length} cell types and {info.genes.toLocaleString(numberLocale)} genes; runs on{" "}
              <span title={`${info.precision}: how the model keeps its numbers and computes with them`}>{info.device}</span>.
              {!info.word_level && " It keeps its English: text other than a request goes to it as it is."}
            </p>
          )}
          {infoError && <div className="error-text">{infoError}</div>}
          {!modelDir && finished.length === 0 && (
            <p>
              No trained model yet. <a href="#" onClick={(e) => (e.preventDefault(), go("train"))}>Train one →</a>
            </p>
          )}
        </div>
        {published && (
          <div className="card form" data-testid="published-chat">
            <h3>Published model</h3>
            <p className="small muted">{published.info.published?.name ?? published.info.folder}</p>
            <label>
              Cells of{" "}
              <select
                value={groupCol}
                onChange={(e) => {
                  setGroupCol(e.target.value);
                  setGroupVal(groups[e.target.value]?.[0]?.[0] ?? "");
                }}
                data-testid="group-column"
              >
                {Object.keys(groups).map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>{" "}
              ={" "}
              <select aria-label="Value of the column" value={groupVal} onChange={(e) => setGroupVal(e.target.value)} data-testid="group-value">
                {(groups[groupCol] ?? []).map(([v, n]) => (
                  <option key={v} value={v}>
                    {v} ({n})
                  </option>
                ))}
              </select>
            </label>
            <div className="row">
              <button
                className="primary"
                disabled={running != null || !groupVal || !published.info.tasks.includes("tissue_prediction")}
                title={published.info.tasks.includes("tissue_prediction") ? "asks about 5 cells of the group" : "this model was not trained to name tissues"}
                onClick={() => askGroup("tissue")}
                data-testid="ask-tissue"
              >
                Which tissue?
              </button>
              <button
                disabled={running != null || !groupVal || !published.info.tasks.includes("natural_language_interpretation")}
                title={published.info.tasks.includes("natural_language_interpretation") ? "an English summary of 5 cells of the group" : "this model was not trained to summarise cells"}
                onClick={() => askGroup("summary")}
                data-testid="ask-summary"
              >
                Summarise
              </button>
            </div>
            <div className="row">
              <input type="number" aria-label="How many cells to write" min={1} max={100} value={pubN} onChange={(e) => setPubN(+e.target.value)} style={{ width: "4em" }} data-testid="pub-gen-n" />
              cells of type
              <input aria-label="Cell type to write" value={pubType} onChange={(e) => setPubType(e.target.value)} placeholder="B cell" data-testid="pub-gen-type" />
            </div>
            <button
              className="primary"
              disabled={running != null || !pubType.trim() || !published.info.tasks.includes("cell_type_generation")}
              title={published.info.tasks.includes("cell_type_generation") ? "" : "this model was not trained to write cells"}
              onClick={publishedGenerate}
              data-testid="pub-generate"
            >
              Generate
            </button>
            {pubEstimate != null && (
              <span className="muted small" title="measured on a few words just now; the cells' real length changes it" data-testid="pub-gen-estimate">
                about {formatDuration(pubEstimate)} on this computer
              </span>
            )}
            <div className="row">
              <input type="number" aria-label="How many groups of cells to write" min={1} max={100} value={groupsN} onChange={(e) => setGroupsN(+e.target.value)} style={{ width: "4em" }} data-testid="pub-groups-n" />
              <span title="each group is 5 cells written together, as the multi-cell models learned">groups of cells from</span>
              <input aria-label="Tissue" value={tissue} onChange={(e) => setTissue(e.target.value)} placeholder="lung" data-testid="pub-tissue" />
            </div>
            <button
              disabled={running != null || !tissue.trim() || !published.info.tasks.includes("tissue_generation")}
              title={published.info.tasks.includes("tissue_generation") ? "" : "this model was not trained to write cells of a tissue"}
              onClick={tissueGenerate}
              data-testid="pub-generate-tissue"
            >
              Generate groups
            </button>
          </div>
        )}
        <div className="card form">
          <h3>Generate cells</h3>
          <div className="row">
            <input type="number" aria-label="How many cells to write" min={1} max={1000} value={n} onChange={(e) => setN(+e.target.value)} style={{ width: "5em" }} data-testid="gen-n" />
            cells of type
          </div>
          <select aria-label="Cell type to write" value={cellType} onChange={(e) => setCellType(e.target.value)} data-testid="gen-type">
            <option value="">any type</option>
            {info?.labels.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
          {cellType && info?.guidance && settings && (
            <label
              className="slider"
              title="How strongly the cells lean toward what sets this type apart from other cells (classifier-free guidance: 1 is the model as it is, 0 ignores the type, higher is more typical and less varied)"
            >
              How typical of the type
              <input
                type="range"
                min={0}
                max={4}
                step={0.25}
                value={settings.guidance}
                onChange={(e) => setSettings({ ...settings, guidance: +e.target.value })}
                data-testid="gen-guidance"
              />
              <span>{settings.guidance.toFixed(2)}</span>
            </label>
          )}
          <button className="primary" disabled={!info || !settings || running != null} onClick={() => generate(n, cellType || null)} data-testid="generate">
            Generate
          </button>
          {running != null && (
            <button className="danger" onClick={() => api.cancelJob(running)}>
              Stop
            </button>
          )}
          {settings && (
            <details>
              <summary>Sampling settings</summary>
              <label>
                Temperature <input type="number" step={0.1} min={0} value={settings.temperature} onChange={(e) => setSettings({ ...settings, temperature: +e.target.value })} />
              </label>
              <label>
                Top-k <input type="number" min={1} value={settings.top_k} onChange={(e) => setSettings({ ...settings, top_k: +e.target.value })} />
              </label>
              <label>
                Top-p <input type="number" step={0.05} min={0.05} max={1} value={settings.top_p} onChange={(e) => setSettings({ ...settings, top_p: +e.target.value })} />
              </label>
              <label className="check">
                <input type="checkbox" checked={!settings.free} onChange={(e) => setSettings({ ...settings, free: !e.target.checked })} /> Only genes the model knows,
                each once
              </label>
            </details>
          )}
        </div>
        <div className="card form">
          <h3>What type is this cell?</h3>
          <textarea rows={4} aria-label="Genes of one cell, most expressed first" placeholder="paste genes, most expressed first" value={sentence} onChange={(e) => setSentence(e.target.value)} data-testid="ask-sentence" />
          <div className="row">
            <button onClick={pickCell} data-testid="pick-cell">
              Pick a cell from the dataset
            </button>
            <button className="primary" disabled={!info || !sentence.trim()} onClick={() => predict(sentence)} data-testid="ask">
              Ask
            </button>
          </div>
        </div>
      </div>
      <div className="chat-main">
        <div className="messages" data-testid="messages" role="log" aria-label="Conversation with the model" tabIndex={0}>
          {chat.messages.length === 0 && <p className="muted">Ask for cells of a type, or paste a cell's genes to learn its type.</p>}
          {chat.messages.map((m) => (
            <div key={m.id} className={`msg ${m.role}`} data-testid={`msg-${m.role}`} data-kind={m.cells ? "cells" : m.prediction ? "prediction" : m.jobId != null ? "text" : "note"}>
              {m.model && (
                <div className="muted small msg-from" data-testid="msg-from">
                  {m.model}
                </div>
              )}
              <div>{m.text}</div>
              {m.streaming &&
                Object.entries(m.streaming).map(([k, t]) => (
                  <div key={k} className="mono small streaming">
                    {t}
                  </div>
                ))}
              {m.cells && (
                <div data-testid="generated-cells">
                  <p className="muted small">
                    {(100 * (m.validShare ?? 0)).toFixed(1)} % of the words are genes the model knows; {(100 * (m.uniqueShare ?? 0)).toFixed(1)} % of those are unique
                    in their cell.
                  </p>
                  {m.cells.map((c) => (
                    <div className="cell" key={c.cell_name}>
                      <div className="small muted">
                        {c.cell_type ?? "cell"}
                        {c.cell_type && markers[c.cell_type]?.length ? (
                          <span data-testid="cell-markers" data-markers={markers[c.cell_type].length}>
                            {" "}
                            · its marker genes in your data are in <strong className="gene marker">bold</strong>:{" "}
                            {markers[c.cell_type].filter((mk) => c.words.some((w) => w.gene === mk.gene)).length} of {markers[c.cell_type].length} here
                          </span>
                        ) : null}
                      </div>
                      <div className="genes">
                        {c.words.slice(0, 60).map((w, k) => {
                          const note = markerNote(w.gene, c.cell_type, markers);
                          return (
                            <span
                              key={k}
                              className={!w.valid ? "gene invalid" : note ? "gene marker" : "gene"}
                              title={!w.valid ? "not a gene the model knows" : (note ?? "a known gene")}
                            >
                              {w.gene}
                            </span>
                          );
                        })}
                        {c.words.length > 60 && <span className="muted small"> … {c.words.length - 60} more</span>}
                      </div>
                    </div>
                  ))}
                  <button onClick={() => add(m)} disabled={m.added} data-testid="add-to-comparison">
                    {m.added ? "Added to the comparison" : "Add to comparison"}
                  </button>
                </div>
              )}
              {m.prediction && (
                <div className="ranking" data-testid="prediction">
                  {m.prediction.ranking.slice(0, 5).map(([l, p]) => (
                    <div key={l} className="rank-row">
                      <span className="rank-label">{l}</span>
                      <span className="rank-bar" style={{ width: `${Math.max(1, 100 * p)}%` }} />
                      <span className="small">{(100 * p).toFixed(1)} %</span>
                    </div>
                  ))}
                  {(() => {
                    const evidence = markerEvidence(m.genes, m.prediction.label, markers);
                    return (
                      evidence && (
                        <p className="small" data-testid="prediction-evidence">
                          {evidence}
                        </p>
                      )
                    );
                  })()}
                  {m.prediction.unknown_genes.length > 0 && (
                    <p className="muted small">The model does not know: {m.prediction.unknown_genes.slice(0, 12).join(", ")}</p>
                  )}
                </div>
              )}
            </div>
          ))}
          <div ref={bottom} />
        </div>
        <form
          className="row composer"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed.trim()) send();
          }}
        >
          <input className="wide" aria-label="Message to the model" placeholder="e.g. generate 10 cells of type B cells" value={typed} onChange={(e) => setTyped(e.target.value)} disabled={!info} data-testid="chat-input" />
          <button type="submit" disabled={!info} data-testid="chat-send">
            Send
          </button>
        </form>
      </div>
    </div>
  );
}
