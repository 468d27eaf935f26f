// Typed calls to the app's Rust commands (src-tauri/src/commands.rs).
import { invoke } from "@tauri-apps/api/core";
import type { ConvertForm, InputForm, Inspection } from "./state/forms";

export interface Project {
  id: number;
  name: string;
  source_path: string;
  folder: string;
  opened_at: string;
}

export interface Warning {
  message: string;
  fix_label: string | null;
  fix: Record<string, string> | null;
}

export interface OpenedDataset {
  project: Project;
  inspection: Inspection;
  warnings: Warning[];
}

export interface DatasetRow {
  id: number;
  project_id: number;
  folder: string;
  summary: any;
  created_at: string;
}

export interface RunRow {
  id: number;
  project_id: number;
  dataset_id: number | null;
  folder: string;
  request: any;
  status: string;
  step: number;
  total_steps: number;
  summary: any;
  updated_at: string;
}

export interface Artefact {
  id: number;
  kind: string;
  path: string;
  meta: any;
  created_at: string;
}

export interface ProjectState {
  project: Project;
  datasets: DatasetRow[];
  runs: RunRow[];
  generated: Artefact[];
  annotations: Artefact[];
}

export interface TrainForm {
  preset: string;
  base?: string | null;
  label?: string | null;
  tasks: string[];
  max_steps?: number | null;
  epochs?: number | null;
  batch_size?: number | null;
  top_k?: number | null;
  checkpoint_every?: number | null;
  seed?: number | null;
}

export interface Estimate {
  seconds: number;
  total_steps: number;
  train_cells: number;
  device: string;
  layers: number;
  width: number;
}

export interface CellMap {
  x: number[];
  y: number[];
  labels: string[] | null;
  method: string;
  axis_names: [string, string];
  n_cells_in_file: number;
}

export interface ModelInfo {
  labels: string[];
  label_column: string;
  genes: number;
  device: string;
  word_level: boolean;
}

export const api = {
  appInfo: () => invoke<{ demo_path: string | null; home: string; version: string }>("app_info"),
  recentProjects: () => invoke<Project[]>("recent_projects"),
  resumableRuns: () => invoke<RunRow[]>("resumable_runs"),
  openDataset: (path: string) => invoke<OpenedDataset>("open_dataset", { path }),
  /** A job; its result is a CellMap. */
  startDatasetMap: (path: string, input: InputForm, colorBy: string | null, method: string, maxCells: number) =>
    invoke<number>("start_dataset_map", { path, input, colorBy, method, maxCells }),
  previewSentences: (path: string, input: InputForm) =>
    invoke<{ cell_name: string; words: string[]; expressed: number }[]>("preview_sentences", { path, input }),
  startConvert: (projectId: number, form: ConvertForm) => invoke<number>("start_convert", { projectId, form }),
  projectState: (projectId: number) => invoke<ProjectState>("project_state", { projectId }),
  estimateTraining: (projectId: number, datasetId: number, form: TrainForm) =>
    invoke<Estimate>("estimate_training", { projectId, datasetId, form }),
  startTraining: (projectId: number, datasetId: number, form: TrainForm) =>
    invoke<{ job_id: number; run_id: number; folder: string }>("start_training", { projectId, datasetId, form }),
  resumeTraining: (runId: number) => invoke<{ job_id: number; run_id: number; folder: string }>("resume_training", { runId }),
  cancelJob: (id: number) => invoke<boolean>("cancel_job", { id }),
  cancelTraining: (jobId: number, runId: number) => invoke<boolean>("cancel_training", { jobId, runId }),
  startFreeText: (modelDir: string, form: { prompt: string; temperature?: number; top_k?: number; top_p?: number; max_tokens?: number }) =>
    invoke<number>("start_free_text", { modelDir, form }),
  lossCurve: (runFolder: string) => invoke<{ train: [number, number][]; validation: [number, number][] }>("loss_curve", { runFolder }),
  modelInfo: (modelDir: string) => invoke<ModelInfo>("model_info", { modelDir }),
  startGenerate: (projectId: number, modelDir: string, form: any) => invoke<number>("start_generate", { projectId, modelDir, form }),
  addToComparison: (projectId: number, cells: any[]) => invoke<string>("add_to_comparison", { projectId, cells }),
  predictSentence: (modelDir: string, sentence: string) => invoke<any>("predict_sentence", { modelDir, sentence }),
  sampleCells: (datasetFolder: string, n: number) => invoke<any[]>("sample_cells", { datasetFolder, n }),
  startEvaluate: (projectId: number, form: any) => invoke<number>("start_evaluate", { projectId, form }),
  startAnnotate: (projectId: number, datasetId: number, modelDir: string) =>
    invoke<number>("start_annotate", { projectId, datasetId, modelDir }),
  saveAnnotated: (projectId: number, predictions: string) => invoke<string>("save_annotated", { projectId, predictions }),
  saveAnnotatedAs: (projectId: number, predictions: string) => invoke<string | null>("save_annotated_as", { projectId, predictions }),
  saveExport: (projectId: number, name: string, data: string) => invoke<string>("save_export", { projectId, name, data }),
  runModelDir: (runId: number) => invoke<string>("run_model_dir", { runId }),
};

export function errorText(e: unknown): string {
  return typeof e === "string" ? e : e instanceof Error ? e.message : JSON.stringify(e);
}
