// The model manager: the published C2S models (what each can do, its size,
// the memory it needs, its licence), downloads with progress and cancel, and
// a model folder already on this computer.
import { useEffect, useState } from "react";
import { api, errorText, gigabytes, TASK_NAMES, type ModelListing } from "../api";
import { JobBar } from "../components/JobBar";
import { Modal } from "../components/Modal";
import { useApp } from "../store";

export function Models() {
  const { published, setPublished, jobs, dispatchJob, notify, go, project } = useApp();
  const [models, setModels] = useState<ModelListing[]>([]);
  const [folder, setFolder] = useState("");
  const [where, setWhere] = useState("");
  const [asking, setAsking] = useState<ModelListing | null>(null);
  const [downloads, setDownloads] = useState<Record<string, number>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [folderError, setFolderError] = useState<string | null>(null);

  const reload = () => api.publishedModels().then(setModels).catch((e) => notify(errorText(e), true));
  useEffect(() => {
    reload();
    api.modelsFolder().then(setWhere).catch(() => {});
  }, []);
  // A finished download shows as downloaded.
  const ended = Object.values(downloads).filter((id) => jobs[id] && jobs[id].status !== "running").length;
  useEffect(() => {
    if (ended > 0) reload();
  }, [ended]);

  async function use(model: string, chosen = false) {
    try {
      const info = await api.inspectModel(model);
      setPublished({ model, info });
      setFolderError(null);
      notify(`Using ${info.published?.name ?? info.folder}`);
    } catch (e) {
      if (chosen) setFolderError(errorText(e));
      else notify(errorText(e), true);
    }
  }

  async function download(m: ModelListing) {
    setErrors((e) => ({ ...e, [m.id]: "" }));
    try {
      const id = await api.startModelDownload(m.id);
      dispatchJob({ type: "started", id, kind: "download" });
      setDownloads((d) => ({ ...d, [m.id]: id }));
    } catch (e) {
      setErrors((x) => ({ ...x, [m.id]: errorText(e) }));
    }
  }

  async function accept(m: ModelListing) {
    try {
      await api.acceptLicence(m.id);
      setAsking(null);
      await reload();
      await download({ ...m, licence_accepted: true });
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function browse() {
    try {
      const picked = await api.choosePath("model_folder");
      if (!picked) return;
      setFolder(picked);
      await use(picked, true);
    } catch (e) {
      setFolderError(errorText(e));
    }
  }

  return (
    <div className="screen" data-testid="models-screen">
      <h2>Published models</h2>
      <p>
        Models the Cell2Sentence team trained on more than 57 million human and mouse cells. They name cell types, write new cells and describe groups of
        cells without any training on your data.
      </p>
      {published && (
        <div className="card success" data-testid="model-in-use">
          <strong>In use: {published.info.published?.name ?? published.info.folder}</strong>
          <p className="small">
            {published.info.family === "gemma2" ? "Gemma-2" : published.info.family === "gpt_neox" ? "GPT-NeoX" : "GPT-2"},{" "}
            {(published.info.parameters / 1e6).toFixed(0)} M parameters; it {published.info.tasks.map((t) => TASK_NAMES[t]).join(", ")}.
          </p>
          {project && (
            <div className="row">
              <button onClick={() => go("annotate")} data-testid="models-to-annotate">
                Annotate the dataset →
              </button>
              <button onClick={() => go("chat")}>Ask it in the chat →</button>
            </div>
          )}
        </div>
      )}

      <div className="model-list">
        {models.map((m) => {
          const job = downloads[m.id] != null ? jobs[downloads[m.id]] : undefined;
          const slug = m.id.split("/")[1];
          return (
            <div className="card model-card" key={m.id} data-testid={`model-${slug}`}>
              <h3>{m.name}</h3>
              <p className="small">{m.summary}</p>
              <p className="small muted">
                <span title="the neural network design">{m.family === "gemma2" ? "Gemma-2" : "GPT-NeoX (Pythia)"}</span> ·{" "}
                <span title="numbers the model learned; more means slower but often better">{(m.parameters / 1e6).toLocaleString(undefined, { maximumFractionDigits: 0 })} M parameters</span> ·{" "}
                <span title={m.download_size_known ? "size of the files to download" : "an upper bound: the files' number type is not recorded"}>
                  download {m.download_size_known ? "" : "up to "}
                  {gigabytes(m.download_bytes)}
                </span>{" "}
                ·{" "}
                <span title="memory the weights take: in bf16 (half precision, GPUs) and in f32 (full precision, this app on a CPU)">
                  memory {gigabytes(m.memory_bf16_bytes)} / {gigabytes(m.memory_f32_bytes)}
                </span>
              </p>
              <p className="small">It {m.tasks.map((t) => TASK_NAMES[t]).join(", ")}.</p>
              <p className="small">
                Licence: <a href={m.licence.url} target="_blank" rel="noreferrer">{m.licence.id ?? "see the model card"}</a>
                {m.licence_accepted && " (accepted)"}
              </p>
              <div className="row">
                {m.folder ? (
                  <button className="primary" onClick={() => use(m.id)} data-testid={`use-${slug}`}>
                    Use
                  </button>
                ) : (
                  <button
                    className="primary"
                    disabled={job?.status === "running"}
                    onClick={() => (m.licence_accepted ? download(m) : setAsking(m))}
                    data-testid={`download-${slug}`}
                  >
                    {m.partial_bytes > 0 ? `Resume download (${gigabytes(m.partial_bytes)} here)` : "Download"}
                  </button>
                )}
                <span className="small muted">{m.folder ? "downloaded" : ""}</span>
              </div>
              <JobBar job={job} testId={`job-download-${slug}`} />
              {errors[m.id] && (
                <div className="error-text" data-testid="download-error">
                  {errors[m.id]}
                </div>
              )}
              {job?.status === "failed" && /offline|cannot reach/.test(job.error ?? "") && (
                <p className="small" data-testid="offline-hint">
                  No connection to the Hugging Face Hub. Copy the model's folder from a computer that has it and choose it below.
                </p>
              )}
            </div>
          );
        })}
      </div>

      <div className="card form">
        <h3>A model folder on this computer</h3>
        <p className="small muted">
          A folder with config.json, model.safetensors and tokenizer.json: a published model copied from elsewhere, or any GPT-2, GPT-NeoX or Gemma-2
          model. Downloads go to {where || "the Hugging Face cache"}.
        </p>
        <div className="row">
          <button type="button" className="primary" onClick={browse} data-testid="use-folder">
            Choose a folder…
          </button>
          {folder && <span className="small muted" data-testid="model-folder">{folder}</span>}
        </div>
        {folderError && (
          <div className="error-text" data-testid="folder-error">
            {folderError}
          </div>
        )}
      </div>

      {asking && (
        <Modal label={`Licence of ${asking.name}`} testId="licence-dialog" onClose={() => setAsking(null)}>
          <h3>Licence of {asking.name}</h3>
          <p>
            <strong>{asking.licence.id ?? "Not stated in C2S Studio's list"}</strong>
          </p>
          <p>{asking.licence.note}</p>
          <p className="small">
            Read it in full: <a href={asking.licence.url} target="_blank" rel="noreferrer">{asking.licence.url}</a>
          </p>
          <div className="row">
            <button className="primary" onClick={() => accept(asking)} data-testid="accept-licence">
              I accept: download
            </button>
            <button onClick={() => setAsking(null)} data-testid="decline-licence" data-autofocus>
              Cancel
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}
