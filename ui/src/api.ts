// Typed calls to the app's Rust commands (src-tauri/src/commands/, one module per screen).
import { invoke } from "@tauri-apps/api/core";
import type { ConvertForm, InputDefaults, InputForm, Inspection } from "./state/forms";
import type { Chat, GroupCall } from "./state/chat";

export interface OpenedDataset {
  project: Project;
  /** What the file holds, with the engine's notes on it (the dataset's warnings). */
  inspection: Inspection;
  /** The engine's conversion defaults (InputOptions::default()). */
  input_defaults: InputDefaults;
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
  thinning?: boolean;
  skip_common_genes?: boolean;
}

export interface Estimate {
  /** Calibrated by the earlier runs of the preset on this computer. */
  seconds: number;
  /** What timing one step gave, and how earlier runs corrected it. */
  timed_seconds: number;
  calibration: { factor: number; runs: number };
  total_steps: number;
  train_cells: number;
  device: string;
  layers: number;
  width: number;
}

/** A training preset in the engine's words (PresetInfo): a plain summary
 * and, for the tooltip, the technical settings. */
export interface PresetInfo {
  preset: string;
  name: string;
  summary: string;
  details: string;
}

/** A marker gene of a type (c2s_data::markers::Marker): the shares of the
 * type's cells and of other cells with it among their first 100 genes. */
export interface Marker {
  gene: string;
  share_in: number;
  share_out: number;
}

// Records made from the Rust types (ui/src/bindings.ts).
import type {
  Artefact,
  DatasetRow,
  EvalForm,
  FileMap,
  GenerateForm,
  GeneratedCell,
  GenerationDefaults,
  LossCurve,
  Project,
  ProjectState,
  RunRow,
  SampledCell,
  Selection,
  TypedCell,
} from "./bindings";
export type { Artefact, DatasetRow, GenerationDefaults, Project, ProjectState, RunRow, SampledCell, Selection, TypedCell };

/** A map of a file's cells (c2s_eval::cell_map::FileMap), a map job's result. */
export type CellMap = FileMap;

export interface ModelInfo {
  labels: string[];
  label_column: string;
  genes: number;
  device: string;
  /** How the weights are kept and computed with (for a tooltip). */
  precision: string;
  word_level: boolean;
  /** Whether the model takes guidance (it learned cells of no given type). */
  guidance: boolean;
}

/** Help / About: what the installed app is and where it keeps things. */
export type About = {
  version: string;
  licence: string;
  licence_text: string;
  /** The third-party notices the packages carry; null in a build from source. */
  notices: string | null;
  home: string;
  models: string;
};

export type PublishedTask = "cell_type_prediction" | "cell_type_generation" | "tissue_prediction" | "tissue_generation" | "natural_language_interpretation";

export interface Licence {
  id: string | null;
  url: string;
  note: string;
}

/** A published model as the model manager lists it (c2s_model::hub::ModelListing). */
export interface ModelListing {
  id: string;
  name: string;
  family: string;
  parameters: number;
  stored_dtype: string | null;
  tasks: PublishedTask[];
  genes_per_cell: number;
  summary: string;
  licence: Licence;
  download_bytes: number;
  download_size_known: boolean;
  memory_bf16_bytes: number;
  memory_f32_bytes: number;
  folder: string | null;
  partial_bytes: number;
  licence_accepted: boolean;
}

/** A model folder described before use (c2s_model::hub::FolderModel). */
export interface FolderModel {
  folder: string;
  family: string;
  parameters: number;
  published: ModelListing | null;
  tasks: PublishedTask[];
}

export type Candidates = { kind: "column"; column: string } | { kind: "list"; types: string[] } | { kind: "common" };

/** CellTypist's refinements of an annotation (the engine's AnnotationRules). */
export interface AnnotationRules {
  unassigned_below: number | null;
  majority_voting: boolean;
  min_share: number;
  only: string[];
}

export interface AnnotationPlan {
  candidates: Candidates;
  truth?: string | null;
  vote_by?: string | null;
  per_group?: number;
}

export const api = {
  appInfo: () => invoke<{ demo_path: string | null; home: string; version: string }>("app_info"),
  about: () => invoke<About>("about"),
  recentProjects: () => invoke<Project[]>("recent_projects"),
  resumableRuns: () => invoke<RunRow[]>("resumable_runs"),
  openDataset: (path: string) => invoke<OpenedDataset>("open_dataset", { path }),
  /** A job; its result is a CellMap. */
  /** `predictions`: an annotation's records, to colour cells by their answer instead of a column. */
  startDatasetMap: (path: string, input: InputForm, colorBy: string | null, method: string, maxCells: number, predictions: string | null = null) =>
    invoke<number>("start_dataset_map", { path, input, colorBy, method, maxCells, predictions }),
  /** What the model in `modelDir` calls the dataset's cells named `names`. */
  callSelectedCells: (projectId: number, datasetId: number, modelDir: string, names: string[]) =>
    invoke<GroupCall>("call_selected_cells", { projectId, datasetId, modelDir, names }),
  /** Each cell of the map drawn by job `map`: its expression of `gene`. */
  mapGeneValues: (map: number, gene: string) => invoke<number[]>("map_gene_values", { map, gene }),
  saveSelection: (projectId: number, name: string, cells: string[]) => invoke<Selection>("save_selection", { projectId, name, cells }),
  selections: (projectId: number) => invoke<Selection[]>("selections", { projectId }),
  deleteSelection: (projectId: number, id: number) => invoke<boolean>("delete_selection", { projectId, id }),
  compareSelection: (projectId: number, id: number, compared: boolean) => invoke<boolean>("compare_selection", { projectId, id, compared }),
  previewSentences: (projectId: number, input: InputForm) =>
    invoke<{ cell_name: string; words: string[]; expressed: number }[]>("preview_sentences", { projectId, input }),
  startConvert: (projectId: number, form: ConvertForm) => invoke<number>("start_convert", { projectId, form }),
  projectState: (projectId: number) => invoke<ProjectState>("project_state", { projectId }),
  /** The engine's recommended preset for these estimates, and the time it aims within. */
  recommendPreset: (estimates: [string, number][]) => invoke<[string, number]>("recommend_preset", { estimates }),
  estimateTraining: (projectId: number, datasetId: number, form: TrainForm) =>
    invoke<Estimate>("estimate_training", { projectId, datasetId, form }),
  startTraining: (projectId: number, datasetId: number, form: TrainForm) =>
    invoke<{ job_id: number; run_id: number; folder: string }>("start_training", { projectId, datasetId, form }),
  resumeTraining: (runId: number) => invoke<{ job_id: number; run_id: number; folder: string }>("resume_training", { runId }),
  cancelJob: (id: number) => invoke<boolean>("cancel_job", { id }),
  cancelTraining: (jobId: number, runId: number) => invoke<boolean>("cancel_training", { jobId, runId }),
  startFreeText: (modelDir: string, form: { prompt: string; temperature?: number; top_k?: number; top_p?: number; max_tokens?: number }) =>
    invoke<number>("start_free_text", { modelDir, form }),
  lossCurve: (runId: number) => invoke<LossCurve>("loss_curve", { runId }),
  modelInfo: (modelDir: string) => invoke<ModelInfo>("model_info", { modelDir }),
  startGenerate: (projectId: number, modelDir: string, form: GenerateForm) => invoke<number>("start_generate", { projectId, modelDir, form }),
  generationDefaults: () => invoke<GenerationDefaults>("generation_defaults"),
  addToComparison: (projectId: number, cells: GeneratedCell[]) => invoke<string>("add_to_comparison", { projectId, cells }),
  predictSentence: (modelDir: string, sentence: string) => invoke<TypedCell>("predict_sentence", { modelDir, sentence }),
  sampleCells: (projectId: number, datasetId: number, n: number) => invoke<SampledCell[]>("sample_cells", { projectId, datasetId, n }),
  startEvaluate: (projectId: number, form: EvalForm) => invoke<number>("start_evaluate", { projectId, form }),
  startGenerateMix: (projectId: number, datasetId: number, runId: number) => invoke<number>("start_generate_mix", { projectId, datasetId, runId }),
  startAnnotate: (projectId: number, datasetId: number, modelDir: string, rules: AnnotationRules) =>
    invoke<number>("start_annotate", { projectId, datasetId, modelDir, rules }),
  saveAnnotated: (projectId: number, predictions: string) => invoke<string>("save_annotated", { projectId, predictions }),
  saveAnnotatedAs: (projectId: number, predictions: string) => invoke<string | null>("save_annotated_as", { projectId, predictions }),
  saveExport: (projectId: number, name: string, data: string) => invoke<string>("save_export", { projectId, name, data }),
  exportPredictions: (projectId: number, predictions: string) => invoke<string>("export_predictions", { projectId, predictions }),
  runModelDir: (runId: number) => invoke<string>("run_model_dir", { runId }),
  chatHistory: (projectId: number) => invoke<Chat | null>("chat_history", { projectId }),
  saveChat: (projectId: number, chat: Chat) => invoke<void>("save_chat", { projectId, chat }),
  /** Opens the native dialog; the app then lets the page name what was chosen. null: cancelled. */
  choosePath: (kind: "dataset" | "model_folder") => invoke<string | null>("choose_path", { kind }),
  showInFolder: (path: string) => invoke<void>("show_in_folder", { path }),
  publishedModels: () => invoke<ModelListing[]>("published_models"),
  acceptLicence: (id: string) => invoke<void>("accept_licence", { id }),
  /** A job; its result is { folder }. */
  startModelDownload: (id: string) => invoke<number>("start_model_download", { id }),
  inspectModel: (model: string) => invoke<FolderModel>("inspect_model", { model }),
  modelsFolder: () => invoke<string>("models_folder"),
  trainPresets: () => invoke<PresetInfo[]>("train_presets"),
  markerGenes: (projectId: number, datasetId: number, column: string) => invoke<Record<string, Marker[]>>("marker_genes", { projectId, datasetId, column }),
  datasetGroups: (projectId: number, datasetId: number) => invoke<Record<string, [string, number][]>>("dataset_groups", { projectId, datasetId }),
  estimatePublishedAnnotation: (projectId: number, datasetId: number, model: string, plan: AnnotationPlan) =>
    invoke<{ seconds: number; prompts: number; cells: number; device: string }>("estimate_published_annotation", { projectId, datasetId, model, plan }),
  startAnnotatePublished: (projectId: number, datasetId: number, model: string, plan: AnnotationPlan, rules: AnnotationRules) =>
    invoke<number>("start_annotate_published", { projectId, datasetId, model, plan, rules }),
  estimatePublishedGeneration: (model: string, cellType: string, n: number) =>
    invoke<number>("estimate_published_generation", { model, cellType, n }),
  startPublishedGenerate: (projectId: number, datasetId: number, model: string, form: { cell_type?: string; tissue?: string; n: number }) =>
    invoke<number>("start_published_generate", { projectId, datasetId, model, form }),
  startDescribeGroup: (projectId: number, datasetId: number, model: string, question: { column: string; value: string; task: "tissue" | "summary" }) =>
    invoke<number>("start_describe_group", { projectId, datasetId, model, question }),
};

/** "1.6 GB", "405 M" and the like. */
export function gigabytes(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

export const TASK_NAMES: Record<PublishedTask, string> = {
  cell_type_prediction: "names cell types",
  cell_type_generation: "writes cells of a type",
  tissue_prediction: "names the tissue of a group of cells",
  tissue_generation: "writes cells of a tissue",
  natural_language_interpretation: "summarises cells in English",
};

export function errorText(e: unknown): string {
  return typeof e === "string" ? e : e instanceof Error ? e.message : JSON.stringify(e);
}
