//! `c2s`: Cell2Sentence from the command line. A thin layer over the engine crates.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

mod cell_io;
mod eval_cmd;
mod model_cmds;
mod models_cmd;
mod published_cmds;
mod rules_args;

use anyhow::{Context, Result};
use c2s_data::anndata::MatrixId;
use c2s_data::dataset::{Exports, ParquetCompression};
use c2s_data::preprocess::{LogBase, Preprocess};
use c2s_data::{ConvertOptions, InputOptions, Job, Progress};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "c2s",
    version,
    about = "C2S Studio: turn single-cell data into cell sentences (genes ranked by expression) and back",
    long_about = "C2S Studio turns each cell of a single-cell RNA-seq dataset into a 'cell sentence': \
its expressed genes written from most to least expressed. Language models learn from these sentences.\n\n\
Typical use:\n  c2s inspect data.h5ad\n  c2s convert data.h5ad -o my-dataset --labels cell_type\n  \
c2s reconstruct my-dataset -o reconstructed.h5ad"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a file holds: cells, genes, matrices (raw counts? normalised? scaled?),
    /// cell annotations with their counts, the gene-symbol column and the species.
    Inspect {
        /// An .h5ad file, or a 10x Genomics Cell Ranger .h5 file.
        file: PathBuf,
        /// Print JSON for scripts instead of a readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Turn every cell into a cell sentence and save a dataset folder (Parquet, JSONL,
    /// text, gene vocabulary, train/validation/test splits, expression fit, manifest).
    Convert(ConvertArgs),
    /// Fit how expression falls with a gene's rank (used to turn sentences back into
    /// expression), on a sample of cells, and report R², Pearson and Spearman.
    Fit(FitArgs),
    /// Turn sentences (for example generated cells) back into expression values and
    /// save them as an .h5ad file that scanpy opens.
    Reconstruct(ReconstructArgs),
    /// Teach a language model (GPT-2) the cells of a converted dataset: to name a
    /// cell's type from its genes and to write cells of a given type. Shows
    /// progress and the loss; Ctrl-C stops it and --resume continues it.
    Train(model_cmds::TrainArgs),
    /// Predict the cell type of each cell with a trained model; every answer is
    /// one of the types the model learned, with a confidence.
    Predict(model_cmds::PredictArgs),
    /// Write new cells with a trained model: cell sentences of the types you ask
    /// for, by default only genes the model knows, each at most once.
    Generate(model_cmds::GenerateArgs),
    /// Compute an embedding (a vector) per cell with a trained model, for
    /// clustering and plots.
    Embed(model_cmds::EmbedArgs),
    /// Name the cell type of every cell with a published C2S model (no
    /// training): each candidate type is scored and the likeliest one wins,
    /// with a confidence. Candidates: a label column, a list, or common types.
    Annotate(published_cmds::AnnotateArgs),
    /// Ask a published C2S model about a group of cells: the tissue they come
    /// from, or an English summary.
    Describe(published_cmds::DescribeArgs),
    /// The marker genes of each cell type of a converted dataset: genes among
    /// the first 100 of at least half a type's cells, 25 points more often
    /// than in other cells (the chat marks them in generated cells).
    Markers {
        /// A dataset folder made by `c2s convert`.
        dataset: PathBuf,
        /// The label column. Default: the dataset's first one.
        #[arg(long)]
        label: Option<String>,
        /// Print JSON for scripts instead of a readable list.
        #[arg(long)]
        json: bool,
    },
    /// Measure what a model learned and write a report a browser opens: accuracy
    /// of its predictions, how real its generated cells look, its loss curves,
    /// each beside baselines; every plot also as PNG and SVG.
    Eval(eval_cmd::EvalArgs),
    /// The published C2S models: list them (size, memory, tasks, licence),
    /// read and accept a licence, download one into the Hugging Face cache
    /// (progress; Ctrl-C stops it, running it again resumes).
    Models {
        #[command(subcommand)]
        command: Option<models_cmd::ModelsCommand>,
    },
}

#[derive(Args)]
struct InputArgs {
    /// Which expression matrix to use: X, raw, or layer:NAME. Default: the one
    /// holding raw counts if there is one, else X.
    #[arg(long)]
    matrix: Option<MatrixId>,
    /// A gene-table (var) column holding gene symbols, e.g. gene_symbols or
    /// feature_name. Default: the file's gene names (var_names).
    #[arg(long)]
    gene_column: Option<String>,
    /// Accept repeated gene and cell names by suffixing later copies (-1,
    /// -2, ...), as anndata's var_names_make_unique and obs_names_make_unique do.
    #[arg(long)]
    make_unique: bool,
    /// Drop cells expressing fewer genes than this (the reference tutorials use 200).
    #[arg(long, default_value_t = Preprocess::default().min_genes)]
    min_genes: usize,
    /// Drop genes expressed in fewer cells than this (the reference tutorials use 3).
    #[arg(long, default_value_t = Preprocess::default().min_cells)]
    min_cells: usize,
    /// Scale each cell to this total before the log. Default: the median cell total.
    #[arg(long)]
    target_sum: Option<f64>,
    /// Logarithm used for normalised expression: 10 (the reference) or e.
    #[arg(long, default_value_t = Preprocess::default().log_base, value_parser = log_base_parser())]
    log_base: LogBase,
    /// Random seed: tie order between equally expressed genes, splits, fit sample.
    #[arg(long, default_value_t = InputOptions::default().seed)]
    seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    Auto,
    Zstd,
    None,
}

/// The engine's logarithm bases, by their ids.
fn log_base_parser() -> impl clap::builder::TypedValueParser<Value = LogBase> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(LogBase::ALL.map(LogBase::id))
        .map(|s| s.parse::<LogBase>().expect("one of the listed bases"))
}

impl InputArgs {
    fn options(&self) -> InputOptions {
        InputOptions {
            matrix: self.matrix.clone(),
            gene_column: self.gene_column.clone(),
            make_unique: self.make_unique,
            preprocess: Preprocess {
                min_genes: self.min_genes,
                min_cells: self.min_cells,
                target_sum: self.target_sum,
                log_base: self.log_base,
            },
            seed: self.seed,
            ..InputOptions::default()
        }
    }
}

#[derive(Args)]
struct ConvertArgs {
    /// An .h5ad file, or a 10x Genomics Cell Ranger .h5 file.
    file: PathBuf,
    /// The dataset folder to create.
    #[arg(short, long)]
    output: PathBuf,
    /// Cell annotation (obs) columns to keep beside each sentence, e.g. cell_type.
    /// Repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// Keep each label's share equal in train, validation and test (an obs
    /// column, kept beside the sentences as with --labels).
    #[arg(long)]
    stratify: Option<String>,
    /// Cells sampled for the expression fit.
    #[arg(long, default_value_t = ConvertOptions::default().fit_cells)]
    fit_cells: usize,
    /// Skip the JSONL and plain-text copies (Parquet is always written).
    #[arg(long)]
    parquet_only: bool,
    /// How sentences.parquet is stored: zstd (about half the size, slower to
    /// write), none (plain, quickest), or auto: zstd for matrices of more than
    /// 50 million values (about 50,000 cells), where it saves gigabytes.
    #[arg(long, value_enum, default_value_t = CompressionArg::Auto)]
    compression: CompressionArg,
    /// Replace the output folder if it exists.
    #[arg(long)]
    force: bool,
    /// Print the summary as JSON, with the seconds the conversion took.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args)]
struct FitArgs {
    /// An .h5ad file, or a 10x Genomics Cell Ranger .h5 file.
    file: PathBuf,
    /// Write the fit here (JSON). Without it, only print.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Number of randomly chosen cells to fit on.
    #[arg(long, default_value_t = ConvertOptions::default().fit_cells)]
    sample: usize,
    /// Fit on these cells instead: a file of cell positions (from 0), one per line
    /// or as a JSON list.
    #[arg(long)]
    cells_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args)]
struct ReconstructArgs {
    /// Sentences: a dataset folder, a .parquet, a .jsonl (field cell_sentence) or a
    /// text file with one sentence per line.
    sentences: PathBuf,
    /// The dataset folder whose vocabulary and fit to use (default: SENTENCES if it is one).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// A vocabulary.tsv (overrides --dataset).
    #[arg(long)]
    vocabulary: Option<PathBuf>,
    /// A fit.json (overrides --dataset).
    #[arg(long)]
    fit: Option<PathBuf>,
    /// The .h5ad file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

fn progress_bar() -> ProgressBar {
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {pos}/{len} cells ({per_sec}, ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Runs `f` with a progress bar drawn from the engine's progress reports.
fn with_progress<T>(f: impl FnOnce(&Job) -> c2s_data::Result<T>) -> c2s_data::Result<T> {
    let pb = progress_bar();
    let stage = Mutex::new(String::new());
    let report = |p: Progress| {
        let mut s = stage.lock().expect("not poisoned");
        if *s != p.stage {
            *s = p.stage.to_string();
            pb.reset();
            pb.set_message(p.stage.to_string());
        }
        pb.set_length(p.total);
        pb.set_position(p.done);
    };
    let r = f(&Job {
        progress: &report,
        cancel: &CANCEL,
    });
    pb.finish_and_clear();
    r
}

/// Set by Ctrl-C (or SIGTERM): every long command stops at its next cell,
/// step or stage and writes nothing.
pub(crate) static CANCEL: AtomicBool = AtomicBool::new(false);

/// The engine's allocator (see `c2s_model::allocator`): tensors freed each
/// step are reused instead of faulted in again.
#[global_allocator]
static ALLOCATOR: c2s_model::allocator::Allocator = c2s_model::allocator::Allocator;

/// Whether a command failed because Ctrl-C stopped it.
fn is_cancelled(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<c2s_model::ModelError>(),
        Some(c2s_model::ModelError::Cancelled)
    ) || matches!(
        e.downcast_ref::<c2s_eval::EvalError>(),
        Some(c2s_eval::EvalError::Cancelled)
    ) || matches!(
        e.downcast_ref::<c2s_data::DataError>(),
        Some(c2s_data::DataError::Cancelled)
    )
}

fn main() {
    // One job, then exit: keep what is freed for the next step.
    c2s_model::allocator::keep_freed_memory();
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130); // a second Ctrl-C: stop at once
        }
        eprintln!("\nCancelling...");
    });
    if let Err(e) = run(Cli::parse()) {
        if is_cancelled(&e) {
            eprintln!("Cancelled; nothing was written.");
            std::process::exit(130);
        }
        // Engine errors already say everything (file, field, cause, hint).
        match e.downcast_ref::<c2s_data::DataError>() {
            Some(d) => eprintln!("error: {d}"),
            None => eprintln!("error: {e:#}"),
        }
        std::process::exit(1);
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect { file, json } => {
            let r = c2s_data::inspect(&file)?;
            if json {
                return print_json(&r);
            }
            print_inspection(&r);
        }
        Command::Convert(a) => run_convert(&a)?,
        Command::Markers {
            dataset,
            label,
            json,
        } => run_markers(&dataset, label, json)?,
        Command::Fit(a) => run_fit(&a)?,
        Command::Train(a) => model_cmds::run_train(&a, &CANCEL)?,
        Command::Predict(a) => model_cmds::run_predict(&a)?,
        Command::Generate(a) => model_cmds::run_generate(&a)?,
        Command::Embed(a) => model_cmds::run_embed(&a)?,
        Command::Annotate(a) => published_cmds::run_annotate(&a, &CANCEL)?,
        Command::Describe(a) => published_cmds::run_describe(&a)?,
        Command::Eval(a) => eval_cmd::run_eval(&a)?,
        Command::Models { command } => models_cmd::run(command, &CANCEL)?,
        Command::Reconstruct(a) => run_reconstruct(&a)?,
    }
    Ok(())
}

fn run_convert(a: &ConvertArgs) -> Result<()> {
    let opts = ConvertOptions {
        input: a.input.options(),
        labels: a.labels.clone(),
        stratify: a.stratify.clone(),
        fit_cells: a.fit_cells,
        exports: if a.parquet_only {
            Exports {
                jsonl: false,
                text: false,
            }
        } else {
            Exports::default()
        },
        parquet_compression: match a.compression {
            CompressionArg::Auto => ParquetCompression::Auto,
            CompressionArg::Zstd => ParquetCompression::Zstd,
            CompressionArg::None => ParquetCompression::None,
        },
        overwrite: a.force,
        ..ConvertOptions::default()
    };
    let t = std::time::Instant::now();
    let s = with_progress(|job| c2s_data::convert(&a.file, &a.output, &opts, job))?;
    if a.json {
        // The time goes to the printout only: the manifest, which
        // holds the same summary, stays the same from run to run.
        let mut doc = serde_json::to_value(&s)?;
        doc["seconds"] = t.elapsed().as_secs_f64().into();
        return print_json(&doc);
    }
    println!(
        "Wrote {} ({:.1} s)",
        s.output.display(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "  matrix {} ({}), gene names from {}",
        s.matrix,
        kind_text(s.value_kind),
        s.gene_names_from
    );
    println!(
        "  {} of {} cells, {} of {} genes, {:.0} genes per cell on average",
        s.cells, s.cells_in_file, s.genes, s.genes_in_file, s.mean_genes_per_cell
    );
    println!(
        "  splits: {} train, {} validation, {} test",
        s.splits[0], s.splits[1], s.splits[2]
    );
    if let Some(f) = &s.fit {
        println!(
            "  expression fit: slope {:.4}, intercept {:.4}, R² {:.3}, Pearson {:.3}, Spearman {:.3}",
            f.slope, f.intercept, f.r_squared, f.pearson_r, f.spearman_rho
        );
    }
    for n in &s.notes {
        println!("  note: {n}");
    }

    Ok(())
}

fn run_markers(dataset: &Path, label: Option<String>, json: bool) -> Result<()> {
    let records = c2s_data::dataset::read_dataset(dataset)?;
    let label = match label {
        Some(l) => l,
        None => c2s_data::dataset::default_label_column(&records).with_context(|| {
            format!(
                "{}: the dataset has no label column; convert it again with --labels",
                dataset.display()
            )
        })?,
    };
    if !records.iter().any(|r| r.label(&label).is_some()) {
        anyhow::bail!(
            "{}: no cell has a `{label}` label; give another with --label",
            dataset.display()
        );
    }
    let m = c2s_data::markers::marker_genes(
        &records,
        &label,
        &c2s_data::markers::MarkerOptions::default(),
    );
    if json {
        return print_json(&m);
    }
    for (t, genes) in &m {
        let list: Vec<String> = genes
            .iter()
            .map(|g| {
                format!(
                    "{} ({:.0} % / {:.0} %)",
                    g.gene,
                    100.0 * g.share_in,
                    100.0 * g.share_out
                )
            })
            .collect();
        println!(
            "{t}: {}",
            if list.is_empty() {
                "none stand out".to_string()
            } else {
                list.join(", ")
            }
        );
    }
    println!("(% of the type's cells / of other cells with the gene among their first 100)");

    Ok(())
}

fn run_fit(a: &FitArgs) -> Result<()> {
    let cells = a.cells_file.as_deref().map(read_cells).transpose()?;
    let s =
        with_progress(|job| c2s_data::fit_file(&a.file, &a.input.options(), cells, a.sample, job))?;
    if let Some(out) = &a.output {
        let tmp = out.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&s)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        return print_json(&s);
    }
    match &s.fit {
        Some(f) => println!(
            "slope {:.4}, intercept {:.4}, R² {:.4}, Pearson {:.4}, Spearman {:.4} ({} cells, {} points)",
            f.slope, f.intercept, f.r_squared, f.pearson_r, f.spearman_rho, f.n_cells, f.n_points
        ),
        None => println!("too few expressed genes to fit"),
    }

    Ok(())
}

fn run_reconstruct(a: &ReconstructArgs) -> Result<()> {
    let dir = a
        .dataset
        .clone()
        .or_else(|| a.sentences.is_dir().then(|| a.sentences.clone()));
    let pick = |explicit: &Option<PathBuf>, name: &str| -> Result<PathBuf> {
        explicit
            .clone()
            .or_else(|| dir.as_ref().map(|d| d.join(name)))
            .with_context(|| {
                format!(
                    "no {name}: give --dataset DIR (a folder made by c2s convert) or --{}",
                    name.trim_end_matches(".tsv").trim_end_matches(".json")
                )
            })
    };
    // Claimed for the whole job: a second one writing this file is refused.
    let _claim = c2s_data::output::claim_file_output(&a.output, a.force)?;
    let vocab = pick(&a.vocabulary, "vocabulary.tsv")?;
    let fit = pick(&a.fit, "fit.json")?;
    let s = c2s_data::reconstruct::reconstruct_file(&a.sentences, &vocab, &fit, &a.output)?;
    if a.json {
        return print_json(&s);
    }
    println!(
        "Wrote {}: {} cells x {} genes; {:.1} % of words are known genes, {:.1} % of gene mentions are unique",
        a.output.display(),
        s.cells,
        s.genes,
        100.0 * s.valid_share,
        100.0 * s.unique_share
    );

    Ok(())
}

fn read_cells(path: &Path) -> Result<Vec<usize>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(v) = serde_json::from_str::<Vec<usize>>(&text) {
        return Ok(v);
    }
    text.split_whitespace()
        .map(|w| w.trim_matches(',').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| {
            format!(
                "{}: expected cell positions (whole numbers from 0), one per line or a JSON list",
                path.display()
            )
        })
}

fn kind_text(k: c2s_data::matrix::ValueKind) -> &'static str {
    k.describe()
}

fn print_inspection(r: &c2s_data::Inspection) {
    println!("{}", r.path.display());
    println!(
        "  format: {:?}; {} cells x {} genes; species: {}",
        r.format, r.cells, r.genes, r.species
    );
    println!("  matrices:");
    for m in &r.matrices {
        let default = if m.name == r.default_matrix {
            "  <- used by convert"
        } else {
            ""
        };
        println!(
            "    {:<14} {:?} {} {} x {}: {}{}",
            m.name, m.storage, m.dtype, m.cells, m.genes, m.description, default
        );
    }
    match &r.gene_symbol_column {
        Some(c) => println!("  gene symbols: var column `{c}` (use --gene-column {c})"),
        None => println!(
            "  gene symbols: var_names, e.g. {}",
            r.example_genes.join(", ")
        ),
    }
    println!("  cell columns (obs):");
    for c in &r.obs_columns {
        let tops: Vec<String> = c
            .top_values
            .iter()
            .take(8)
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        let more = if c.distinct > 8 { ", ..." } else { "" };
        println!(
            "    {:<20} {:<11} {} values: {}{}",
            c.name,
            c.kind,
            c.distinct,
            tops.join(", "),
            more
        );
    }
    println!(
        "  gene columns (var): {}",
        r.var_columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for n in &r.notes {
        match &n.fix {
            Some(f) => println!("  note: {} ({}: {})", n.message, f.label, f.option()),
            None => println!("  note: {}", n.message),
        }
    }
}
