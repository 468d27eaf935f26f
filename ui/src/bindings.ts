// Made from the Rust types by ts-rs (src-tauri/src/bindings.rs): do not edit.
// After changing a type: C2S_WRITE_BINDINGS=1 cargo test -p c2s-studio bindings

export type EvalReport = { c2s_version: string, dataset: string, label_column: string, prediction: PredictionReport | null, generated: GeneratedReport | null, loss_curve: LossCurve | null, fit: FitPlotData | null, 
/**
 * What was skipped and why.
 */
notes: Array<string>, seconds: number, };

export type LossCurve = { train: Array<[number, number]>, validation: Array<[number, number]>, };

export type FitPlotData = { slope: number, intercept: number, r_squared: number, 
/**
 * (log10(1 + rank), expression) of a few real cells.
 */
points: Array<[number, number]>, n_cells: number, };

export type NamedCells = { name: string, cells: Array<string>, };

export type PredictionReport = { 
/**
 * The dataset split scored ("test" unless asked otherwise): figures
 * about a model are of cells it did not learn from.
 */
split: string, 
/**
 * Predictions of cells of other splits, left out.
 */
left_out: number, model: ClassificationReport, baselines: Array<Baseline>, 
/**
 * Mean confidence of right and of wrong answers, when given.
 */
mean_confidence_right: number | null, mean_confidence_wrong: number | null, };

export type Baseline = { name: string, accuracy: number, macro_f1: number, 
/**
 * The model against this baseline, cell by cell.
 */
paired: Paired, };

export type Paired = { 
/**
 * Cells the model names right and the baseline wrong.
 */
model_only: number, 
/**
 * Cells the baseline names right and the model wrong.
 */
baseline_only: number, 
/**
 * Two-sided p-value: the chance of a split at least this uneven were
 * both equally good.
 */
p_value: number, standing: Standing, };

export type Standing = "better" | "level" | "worse";

export type ClassificationReport = { n_cells: number, accuracy: number, macro_f1: number, classes: Array<ClassMetrics>, 
/**
 * Sorted labels (truth and predictions); rows: truth, columns: predicted.
 */
labels: Array<string>, confusion: Array<Array<number>>, };

export type ClassMetrics = { label: string, precision: number, recall: number, f1: number, 
/**
 * Cells of this class in the truth.
 */
support: number, };

export type GeneratedReport = { top_k: number | null, n_reference: number, panel_genes: number, pca_explained_variance_ratio: Array<number>, gw_cells: number, gw_epsilon: number, 
/**
 * generated, then the ceiling, the two floors and the user's selections.
 */
sets: Array<SetMetrics>, pca: Array<PlotPoint>, umap: Array<PlotPoint> | null, mean_expression: Array<TypeMeans>, };

export type SetMetrics = { name: string, n_cells: number, 
/**
 * Cells with a requested type in the reference, the ones k-NN scores.
 */
n_scored: number, 
/**
 * (k, accuracy).
 */
knn_accuracy: Array<[number, number]>, 
/**
 * (k, the mean over the requested types of each type's accuracy): each
 * type counts once, so a set with a few cells of each type (generated
 * cells) compares fairly with one whose types are as common as in the
 * tissue (held-out real cells), where the common types dominate.
 */
balanced_knn_accuracy: Array<[number, number]>, 
/**
 * Each requested type's k-NN accuracy.
 */
knn_by_type: Array<TypeKnn>, gw_distance: number | null, gene_shares: GeneShares, type_correlation: Array<TypeCorrelation>, mean_pearson: number | null, mean_spearman: number | null, };

export type TypeKnn = { cell_type: string, n_scored: number, 
/**
 * (k, accuracy).
 */
knn_accuracy: Array<[number, number]>, };

export type TypeCorrelation = { cell_type: string, n_real: number, n_set: number, pearson: number | null, spearman: number | null, };

export type PlotPoint = { x: number, y: number, label: string, 
/**
 * "real", "generated" or "selected" (real cells the user chose).
 */
source: string, };

export type TypeMeans = { cell_type: string, genes: Array<GeneMean>, };

export type GeneMean = { gene: string, real: number, generated: number, };

export type GeneShares = { words: number, 
/**
 * Words that are genes of the vocabulary.
 */
valid_share: number, 
/**
 * Distinct genes per cell over valid words.
 */
unique_share: number, };

export type TypedCell = { "kind": "not_genes", words: number, known: number, } | { "kind": "named" } & TypedCellCall;

export type TypedCellCall = { label: string, confidence: number, ranking: Array<[string, number]>, 
/**
 * The words read that are not genes the model knows.
 */
unknown_genes: Array<string>, 
/**
 * How many words were read: the first `top_k` of the model's card.
 */
read: number, };

export type GroupCall = { 
/**
 * Cells asked about.
 */
asked: number, 
/**
 * Of those, the cells the converted dataset holds (the others were
 * filtered out at conversion).
 */
found: number, 
/**
 * Of those, the cells scored: all of them, or an even spread of
 * `max_cells` when there are more.
 */
scored: number, 
/**
 * Each type the model named, with how many of the scored cells it
 * named so: most first, ties in name order.
 */
types: Array<[string, number]>, };

export type Selection = { id: number, name: string, 
/**
 * The cells' names (obs names), as the map gave them.
 */
cells: Array<string>, 
/**
 * Whether Compare puts these cells beside the generated ones.
 */
compared: boolean, };

export type Project = { id: number, name: string, source_path: string, folder: string, opened_at: string, };

export type ProjectState = { project: Project, datasets: Array<DatasetRow>, runs: Array<RunRow>, generated: Array<Artefact>, annotations: Array<Artefact>, };

export type Inspection = { path: string, format: FileFormat, cells: number, genes: number, matrices: Array<MatrixReport>, 
/**
 * The matrix `convert` uses unless told otherwise.
 */
default_matrix: string, obs_columns: Array<ColumnSummary>, var_columns: Array<ColumnSummary>, 
/**
 * `None`: var_names hold the symbols; else the var column that seems to.
 */
gene_symbol_column: string | null, gene_names_look_like_ensembl: boolean, species: string, example_genes: Array<string>, 
/**
 * What to know before converting the file, each with the setting that
 * deals with it, if one does: the app shows them with a button, the
 * CLI with the option.
 */
notes: Array<Note>, };

export type MatrixReport = { name: string, field: string, storage: Storage, dtype: string, cells: number, genes: number, stored_values: number | null, holds: ValueKind, description: string, };

export type Storage = "csr" | "csc" | "dense";

export type FileFormat = "h5ad" | "h5ad_legacy" | "cell_ranger_h5";

export type ColumnSummary = { name: string, kind: string, distinct: number, missing: number, 
/**
 * Up to 50 most frequent values with their counts (for label-like columns).
 */
top_values: Array<[string, number]>, };

export type Note = { message: string, fix: InputFix | null, };

export type InputFix = { 
/**
 * What the setting does, for a button ("Use gene symbols from the
 * column `gene_symbols`").
 */
label: string, 
/**
 * Take gene names from this var column (`InputOptions::gene_column`).
 */
gene_column: string, };

export type DatasetRow = { id: number, project_id: number, folder: string, summary: ConvertSummary, created_at: string, };

export type RunRow = { id: number, project_id: number, dataset_id: number | null, folder: string, request: TrainRequest, 
/**
 * running, paused, interrupted, finished, failed
 */
status: string, step: number, total_steps: number, 
/**
 * How the run ended, or why it failed.
 */
summary: TrainSummary | { error: string } | null, updated_at: string, };

export type Artefact = { id: number, kind: string, path: string, 
/**
 * Predictions: the model that made them (and whether it is published).
 */
meta: { model: string; published?: boolean } | null, created_at: string, };

export type JobProgress = { id: number, kind: string, stage: string, done: number, total: number, 
/**
 * Job-specific figures (losses, tokens/s, ETA, ...).
 */
detail: ProgressDetail | null, };

export type ProgressDetail = { "of": "training" } & TrainingFigures | { "of": "download", file: string, };

export type JobDone = { id: number, kind: string, status: JobStatus, 
/**
 * What the job made; a cancelled job may hand over what it had.
 */
result: JobResult | null, error: string | null, };

export type JobStatus = "ok" | "cancelled" | "failed";

export type JobResult = { "job": "convert" } & Converted | { "job": "map" } & FileMap | { "job": "train" } & Trained | { "job": "generate" } & ChatCells | { "job": "generate_mix" } & MixCells | { "job": "free_text" } & FreeText | { "job": "evaluate" } & Evaluated | { "job": "annotate" } & Annotation | { "job": "download" } & Downloaded | { "job": "describe" } & GroupAnswer;

export type ChatText = { job_id: number, cell: number, text: string, };

export type Converted = { dataset_id: number, folder: string, summary: ConvertSummary, };

export type ConvertSummary = { 
/**
 * Where the folder is (left out of its manifest: the folder travels).
 */
output?: string, matrix: string, value_kind: ValueKind, gene_names_from: string, cells_in_file: number, genes_in_file: number, cells: number, genes: number, expressed_values: number, mean_genes_per_cell: number, splits: [number, number, number], fit: RankFit | null, notes: Array<string>, 
/**
 * "human", "mouse" or "unknown", from the gene names' case: the
 * organism the published models' prompts name.
 */
species: string, };

export type ValueKind = "raw_counts" | "normalized" | "log_normalized" | "scaled" | "non_finite" | "empty";

export type RankFit = { slope: number, intercept: number, 
/**
 * Over all non-zero points, predictions against observed values.
 */
r_squared: number, pearson_r: number, spearman_rho: number, n_cells: number, n_points: number, n_fit_points: number, };

export type FileMap = { x: Array<number>, y: Array<number>, 
/**
 * Each point's value of the colour column, or its answer.
 */
labels: Array<string> | null, 
/**
 * "PCA" or "UMAP".
 */
method: string, axis_names: [string, string], n_cells_in_file: number, 
/**
 * The file's genes, sorted, for the colour-by-gene search.
 */
genes: Array<string>, 
/**
 * Each point's cell name, for the tooltips.
 */
names: Array<string>, 
/**
 * With answers: each point's confidence in its answer (none for a
 * cell not annotated or answered freely), to colour the map by.
 */
confidences: Array<number | null> | null, };

export type TrainingFigures = { device: string, train_loss: number | null, val_loss: number | null, tokens_per_s: number | null, eta_s: number | null, epoch: number | null, lr: number | null, 
/**
 * The latest count of unseen cells named right, and its step.
 */
held_out: HeldOutFigure | null, };

export type HeldOutFigure = { step: number, cells: number, right: number, };

export type Trained = { run_id: number, summary: TrainSummary, };

export type TrainSummary = { steps: number, total_steps: number, final_train_loss: number, best_val_loss: number | null, stopped_early: boolean, cancelled: boolean, resumed_from_step: number, seconds: number, model_dir: string, 
/**
 * How the finished model names validation cells' types (runs that
 * learn to name types; none when cancelled).
 */
validation: ValidationCheck | null, };

export type ValidationCheck = { cells: number, right: number, };

export type TrainRequest = { dataset: string, output: string, preset: Preset, 
/**
 * Fine-tune this model (a Hugging Face folder or Hub id); implies FineTune.
 */
base: string | null, 
/**
 * The cell annotation to learn (default: the dataset's first label column).
 */
label: string | null, resume: boolean, 
/**
 * The tasks mixed in training (default: the preset's, prediction and
 * type-conditioned generation).
 */
tasks: Array<Task> | null, 
/**
 * Organism named in the prompts (default: the dataset's species).
 */
organism: string | null, top_k: number | null, epochs: number | null, max_steps: number | null, batch_size: number | null, 
/**
 * Peak learning rate (default: the preset's; 1e-4 when fine-tuning).
 */
lr: number | null, checkpoint_every: number | null, layers: number | null, width: number | null, heads: number | null, context: number | null, seed: number, 
/**
 * Thin the training cells as if sequenced less deeply, afresh each
 * epoch (`TrainOptions::thinning`; off by default).
 */
thinning: boolean, 
/**
 * Leave out of every cell the genes within the first `top_k` of more
 * than this share of training cells (`CommonGenes`; off by default).
 */
skip_common_genes: number | null, };

export type Preset = "quick" | "standard" | "thorough" | "fine-tune";

export type Task = "cell_type_prediction" | "cell_type_generation" | "unconditional_generation";

export type ChatCells = { cells: Array<ChatCell>, valid_share: number, unique_share: number, 
/**
 * Whether generation was limited to known genes.
 */
constrained: boolean, };

export type ChatCell = { words: Array<ChatWord>, cell_name: string, cell_sentence: string, cell_type: string | null, };

export type ChatWord = { gene: string, valid: boolean, };

export type GeneratedCell = { cell_name: string, cell_sentence: string, cell_type: string | null, };

export type FreeText = { text: string, };

export type SampledCell = { cell_name: string, sentence: string, labels: { [key in string]?: string | null }, split: string | null, };

export type GenerationDefaults = { temperature: number, top_k: number, top_p: number, guidance: number, 
/**
 * Any token allowed, not only the model's genes once each.
 */
free: boolean, };

export type Evaluated = { report: EvalReport, folder: string, };

export type MixCells = { 
/**
 * Each type written and its number of cells, commonest first.
 */
types: Array<[string, number]>, 
/**
 * Types of those cells the model did not learn.
 */
left_out: Array<string>, cells: number, valid_share: number, unique_share: number, };

export type Annotation = { 
/**
 * The prediction records (JSON lines).
 */
predictions: string, cells: number, 
/**
 * The column the answers are scored against.
 */
label_column: string | null, 
/**
 * Over every cell with a label, training cells included.
 */
report: ClassificationReport | null, 
/**
 * How a published model was asked.
 */
published: PublishedAnnotation | null, 
/**
 * Cells by final answer ("?" for none).
 */
counts: Record<string, number>, unassigned_below: number | null, 
/**
 * Cells by confidence, in CONFIDENCE_BINS equal bins (none: no cell
 * has a confidence).
 */
confidence_histogram: Array<number> | null, 
/**
 * Cells Unassigned (when a threshold was applied).
 */
unassigned: number | null, 
/**
 * Over-clusters that voted (with majority voting).
 */
over_clusters: number | null, 
/**
 * Cells in Heterogeneous clusters (with majority voting).
 */
heterogeneous: number | null, held_out: PredictionReport | null, held_out_error: string | null, };

export type PublishedAnnotation = { 
/**
 * Cells asked (a sample of each group when voting by group).
 */
prompts: number, 
/**
 * Candidate labels.
 */
candidates: number, 
/**
 * The column whose groups took their cells' majority answer.
 */
voted: string | null, };

export type AnswerSummary = { 
/**
 * Cells by final answer ("?" for none).
 */
counts: Record<string, number>, unassigned_below: number | null, 
/**
 * Cells by confidence, in CONFIDENCE_BINS equal bins (none: no cell
 * has a confidence).
 */
confidence_histogram: Array<number> | null, 
/**
 * Cells Unassigned (when a threshold was applied).
 */
unassigned: number | null, 
/**
 * Over-clusters that voted (with majority voting).
 */
over_clusters: number | null, 
/**
 * Cells in Heterogeneous clusters (with majority voting).
 */
heterogeneous: number | null, };

export type HeldOut = { held_out: PredictionReport | null, held_out_error: string | null, };

export type VoteSummary = { 
/**
 * Cells Unassigned (when a threshold was applied).
 */
unassigned: number | null, 
/**
 * Over-clusters that voted (with majority voting).
 */
over_clusters: number | null, 
/**
 * Cells in Heterogeneous clusters (with majority voting).
 */
heterogeneous: number | null, };

export type Downloaded = { folder: string, };

export type GroupAnswer = { answer: string, 
/**
 * "tissue" or "summary".
 */
task: string, 
/**
 * The cells asked about.
 */
cells: Array<string>, column: string, value: string, };

export type GenerateForm = { cell_type?: string | null, n: number, temperature?: number | null, top_k?: number | null, top_p?: number | null, free: boolean, seed?: number | null, 
/**
 * How typical of the type (classifier-free guidance); the engine's
 * default when absent.
 */
guidance?: number | null, };

export type EvalForm = { dataset_id: number, run_id?: number | null, with_generated: boolean, with_predictions: boolean, };
