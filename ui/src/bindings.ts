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

export type Baseline = { name: string, accuracy: number, macro_f1: number, };

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

export type TypedCellCall = { label: string, confidence: number, ranking: Array<[string, number]>, unknown_genes: Array<string>, };

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
