//! The malformed-input corpus: each damaged or unusable input is generated
//! here and given to every command that reads it. Each must fail with exit
//! code 1 and a short message naming the file and the fault with a hint:
//! no panic, no output (not even a hidden temporary), no silent success.

use std::path::{Path, PathBuf};
use std::process::Command;

use c2s_data::h5ad_writer::{write_h5ad, H5adContent};

mod common;
use common::TINY_MODEL;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

/// A small .h5ad through the engine's writer: 3 cells x 3 genes, raw counts.
fn h5ad(path: &Path, cells: &[&str], genes: &[&str]) {
    let rows: [[f32; 3]; 3] = [[5.0, 0.0, 2.0], [0.0, 7.0, 1.0], [3.0, 1.0, 9.0]];
    let (mut data, mut indices, mut indptr) = (vec![], vec![], vec![0u64]);
    for r in &rows[..cells.len()] {
        for (j, &v) in r[..genes.len()].iter().enumerate() {
            if v != 0.0 {
                data.push(v);
                indices.push(j as u32);
            }
        }
        indptr.push(data.len() as u64);
    }
    let obs: Vec<String> = cells.iter().map(|s| s.to_string()).collect();
    let var: Vec<String> = genes.iter().map(|s| s.to_string()).collect();
    let labels = vec![(
        "cell_type".to_string(),
        (0..cells.len())
            .map(|i| Some(format!("type{}", i % 2)))
            .collect(),
    )];
    write_h5ad(
        path,
        &H5adContent {
            obs_names: &obs,
            obs_columns: &labels,
            var_names: &var,
            indptr: &indptr,
            indices: &indices,
            data: &data,
        },
    )
    .unwrap();
}

const CELLS: [&str; 3] = ["c0", "c1", "c2"];
const GENES: [&str; 3] = ["CD3D", "MS4A1", "LYZ"];

/// Rewrites one dataset of an .h5ad in place.
fn tamper<T: hdf5::H5Type + Clone>(path: &Path, field: &str, edit: impl FnOnce(&mut Vec<T>)) {
    let f = hdf5::File::open_rw(path).unwrap();
    let ds = f.dataset(field).unwrap();
    let mut v: Vec<T> = ds.read_raw().unwrap();
    edit(&mut v);
    ds.write_raw(&v).unwrap();
}

/// A damaged input and what each command reading it must say.
struct Case {
    name: &'static str,
    /// Makes the input in the folder given; returns its path.
    make: fn(&Path) -> PathBuf,
    /// (command and arguments with `IN` and `OUT` placeholders, words of
    /// the expected message)
    runs: &'static [(&'static [&'static str], &'static str)],
}

const READ_H5: &[&str] = &["inspect", "IN"];
const CONVERT: &[&str] = &["convert", "IN", "-o", "OUT"];
const CONVERT_LABELS: &[&str] = &["convert", "IN", "-o", "OUT", "--labels", "cell_type"];
const FIT: &[&str] = &["fit", "IN", "-o", "OUT"];
const TRAIN: &[&str] = &["train", "IN", "-o", "OUT", "--max-steps", "1"];
const PREDICT: &[&str] = &["predict", "/no/model", "IN", "-o", "OUT"];
const RECONSTRUCT: &[&str] = &["reconstruct", "IN", "-o", "OUT"];
const EVAL_PREDICTIONS: &[&str] = &["eval", "DS", "--predictions", "IN", "-o", "OUT"];
// A damaged model folder (IN) with a good dataset (DS).
const PREDICT_WITH: &[&str] = &["predict", "IN", "DS", "-o", "OUT"];
const GENERATE_WITH: &[&str] = &["generate", "IN", "-o", "OUT", "-n", "1"];
const ANNOTATE_WITH: &[&str] = &[
    "annotate",
    "IN",
    "DS",
    "-o",
    "OUT",
    "--candidates",
    "a,b",
    "--limit",
    "1",
];

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "not an HDF5 file",
            make: |d| {
                let p = d.join("notes.h5ad");
                std::fs::write(&p, "cell,gene\n").unwrap();
                p
            },
            runs: &[
                (READ_H5, "not an HDF5 file"),
                (CONVERT, "not an HDF5 file"),
                (FIT, "not an HDF5 file"),
            ],
        },
        Case {
            name: "cut short",
            make: |d| {
                let p = d.join("cut.h5ad");
                let b = std::fs::read(data("wu2020-tcells-200.h5ad")).unwrap();
                std::fs::write(&p, &b[..b.len() / 3]).unwrap();
                p
            },
            runs: &[(READ_H5, "cut short"), (CONVERT, "cut short")],
        },
        Case {
            name: "HDF5 but not AnnData",
            make: |d| {
                let p = d.join("other.h5");
                hdf5::File::create(&p)
                    .unwrap()
                    .create_group("images")
                    .unwrap();
                p
            },
            runs: &[(READ_H5, "not AnnData"), (CONVERT, "not AnnData")],
        },
        Case {
            name: "NaN in the matrix",
            make: |d| {
                let p = d.join("nan.h5ad");
                h5ad(&p, &CELLS, &GENES);
                tamper::<f32>(&p, "X/data", |v| v[1] = f32::NAN);
                p
            },
            runs: &[(CONVERT, "NaN or infinite"), (FIT, "NaN or infinite")],
        },
        Case {
            name: "scaled matrix",
            make: |d| {
                let p = d.join("scaled.h5ad");
                h5ad(&p, &CELLS, &GENES);
                tamper::<f32>(&p, "X/data", |v| v[0] = -1.5);
                p
            },
            runs: &[(CONVERT, "negative values"), (FIT, "negative values")],
        },
        Case {
            name: "gene index past the genes",
            make: |d| {
                let p = d.join("index.h5ad");
                h5ad(&p, &CELLS, &GENES);
                tamper::<i32>(&p, "X/indices", |v| v[2] = 99);
                p
            },
            runs: &[(CONVERT, "X/indices")],
        },
        Case {
            name: "repeated gene names",
            make: |d| {
                let p = d.join("genes.h5ad");
                h5ad(&p, &CELLS, &["CD3D", "CD3D", "LYZ"]);
                p
            },
            runs: &[(CONVERT, "more than once")],
        },
        Case {
            name: "a gene name with a space",
            make: |d| {
                let p = d.join("spaced.h5ad");
                h5ad(&p, &CELLS, &["CD3D", "HLA DRA", "LYZ"]);
                p
            },
            runs: &[(CONVERT, "holds a space")],
        },
        Case {
            name: "repeated cell names",
            make: |d| {
                let p = d.join("cells.h5ad");
                h5ad(&p, &["c0", "c0", "c2"], &GENES);
                p
            },
            runs: &[(CONVERT, "cell names occur more than once")],
        },
        Case {
            name: "categorical code past the categories",
            make: |d| {
                let p = d.join("codes.h5ad");
                h5ad(&p, &CELLS, &GENES);
                tamper::<i32>(&p, "obs/cell_type/codes", |v| v[2] = 100);
                p
            },
            runs: &[(CONVERT_LABELS, "names no category")],
        },
        Case {
            name: "a label column that is not there",
            make: |d| {
                let p = d.join("nolabel.h5ad");
                h5ad(&p, &CELLS, &GENES);
                p
            },
            runs: &[(
                &["convert", "IN", "-o", "OUT", "--labels", "celltype"],
                "no cell column `celltype`",
            )],
        },
        Case {
            name: "a sentence file where a dataset folder belongs",
            make: |d| {
                let p = d.join("sentences.txt");
                std::fs::write(&p, "CD3D LYZ\n").unwrap();
                p
            },
            runs: &[
                (TRAIN, "a dataset folder made by c2s convert is needed"),
                (PREDICT, "a dataset folder"),
            ],
        },
        Case {
            name: "a vocabulary line without a count",
            make: |d| {
                let ds = converted(d);
                std::fs::write(ds.join("vocabulary.tsv"), "CD3D\t2\nLYZ\n").unwrap();
                ds
            },
            runs: &[(TRAIN, "has no tab"), (RECONSTRUCT, "has no tab")],
        },
        Case {
            name: "damaged sentences.parquet",
            make: |d| {
                let ds = converted(d);
                let pq = ds.join("sentences.parquet");
                let b = std::fs::read(&pq).unwrap();
                std::fs::write(&pq, &b[..b.len() / 2]).unwrap();
                ds
            },
            runs: &[
                (TRAIN, "cannot read this Parquet file"),
                (PREDICT, "cannot read this Parquet file"),
                (RECONSTRUCT, "cannot read this Parquet file"),
            ],
        },
        Case {
            name: "a model of a family C2S does not run",
            make: |d| {
                damaged_model(d, "llama-model", |m| {
                    edit_json(&m.join("config.json"), |c| c["model_type"] = "llama".into())
                })
            },
            runs: &[
                (PREDICT_WITH, "model_type is `llama`"),
                (GENERATE_WITH, "model_type is `llama`"),
                (ANNOTATE_WITH, "model_type is `llama`"),
            ],
        },
        Case {
            name: "config.json and weights of different sizes",
            make: |d| {
                damaged_model(d, "wide-model", |m| {
                    edit_json(&m.join("config.json"), |c| c["n_embd"] = 64.into())
                })
            },
            runs: &[
                (PREDICT_WITH, "`transformer.wte.weight` has shape"),
                (ANNOTATE_WITH, "config.json implies"),
            ],
        },
        Case {
            name: "config.json with more layers than the weights",
            make: |d| {
                damaged_model(d, "deep-model", |m| {
                    edit_json(&m.join("config.json"), |c| c["n_layer"] = 2.into())
                })
            },
            runs: &[(PREDICT_WITH, "`transformer.h.1.ln_1.weight` is missing")],
        },
        Case {
            name: "weights cut short",
            make: |d| {
                damaged_model(d, "cut-model", |m| {
                    let w = m.join("model.safetensors");
                    let b = std::fs::read(&w).unwrap();
                    std::fs::write(&w, &b[..b.len() / 2]).unwrap();
                })
            },
            runs: &[
                (PREDICT_WITH, "ends past the end of the file"),
                (GENERATE_WITH, "ends past the end of the file"),
                (ANNOTATE_WITH, "ends past the end of the file"),
            ],
        },
        Case {
            name: "no weights",
            make: |d| {
                damaged_model(d, "empty-model", |m| {
                    std::fs::remove_file(m.join("model.safetensors")).unwrap()
                })
            },
            runs: &[
                (PREDICT_WITH, "no model.safetensors"),
                (ANNOTATE_WITH, "no model.safetensors"),
            ],
        },
        Case {
            name: "no tokenizer",
            make: |d| {
                damaged_model(d, "untokenized-model", |m| {
                    std::fs::remove_file(m.join("tokenizer.json")).unwrap()
                })
            },
            runs: &[
                (PREDICT_WITH, "tokenizer.json"),
                (ANNOTATE_WITH, "no tokenizer.json"),
            ],
        },
        Case {
            name: "damaged config.json",
            make: |d| {
                damaged_model(d, "truncated-model", |m| {
                    std::fs::write(m.join("config.json"), "{\"model_type\": ").unwrap();
                })
            },
            runs: &[
                (PREDICT_WITH, "not a JSON object"),
                (ANNOTATE_WITH, "not a JSON object"),
            ],
        },
        Case {
            name: "damaged tokenizer.json",
            make: |d| {
                damaged_model(d, "badtok-model", |m| {
                    std::fs::write(m.join("tokenizer.json"), "{\"version\": ").unwrap();
                })
            },
            runs: &[(PREDICT_WITH, "tokenizer"), (GENERATE_WITH, "tokenizer")],
        },
        Case {
            name: "a model card without cell types",
            make: |d| {
                damaged_model(d, "unlabelled-model", |m| {
                    edit_json(&m.join("c2s.json"), |c| c["labels"] = serde_json::json!([]))
                })
            },
            runs: &[
                (PREDICT_WITH, "lists no cell types"),
                (GENERATE_WITH, "lists no cell types"),
            ],
        },
        Case {
            name: "a predictions file with a broken line",
            make: |d| {
                converted(d);
                let p = d.join("broken-predictions.jsonl");
                std::fs::write(
                    &p,
                    "{\"cell_name\": \"c0\", \"predicted\": \"type0\"}\nnot json\n",
                )
                .unwrap();
                p
            },
            runs: &[(EVAL_PREDICTIONS, "line 2")],
        },
        Case {
            name: "predictions of cells the dataset lacks",
            make: |d| {
                converted(d);
                let p = d.join("foreign-predictions.jsonl");
                std::fs::write(
                    &p,
                    "{\"cell_name\": \"c9\", \"predicted\": \"type0\", \"true\": \"type0\"}\n",
                )
                .unwrap();
                p
            },
            runs: &[(EVAL_PREDICTIONS, "the cell \"c9\" is not in the dataset")],
        },
    ]
}

/// A tiny model trained on the 3-cell dataset (`d/ds`), copied to `d/NAME`
/// and damaged by `damage`.
fn damaged_model(d: &Path, name: &str, damage: impl FnOnce(&Path)) -> PathBuf {
    let ds = converted(d);
    let run = d.join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_c2s"))
        .args(["train", ds.to_str().unwrap(), "-o", run.to_str().unwrap()])
        .args(["--max-steps", "1"])
        .args(TINY_MODEL)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = d.join(name);
    std::fs::create_dir(&model).unwrap();
    for f in std::fs::read_dir(run.join("model")).unwrap().flatten() {
        std::fs::copy(f.path(), model.join(f.file_name())).unwrap();
    }
    damage(&model);
    model
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

/// The 3-cell file converted into `d/ds`.
fn converted(d: &Path) -> PathBuf {
    let f = d.join("good.h5ad");
    h5ad(&f, &CELLS, &GENES);
    let ds = d.join("ds");
    let o = Command::new(env!("CARGO_BIN_EXE_c2s"))
        .args([
            "convert",
            f.to_str().unwrap(),
            "-o",
            ds.to_str().unwrap(),
            "--labels",
            "cell_type",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ds
}

#[test]
fn every_malformed_input_is_refused_clearly_by_every_command() {
    let mut failures = Vec::new();
    for case in cases() {
        let t = tempfile::tempdir().unwrap();
        let input = (case.make)(t.path());
        let ds = t.path().join("ds");
        let outs = t.path().join("outputs");
        std::fs::create_dir(&outs).unwrap();
        for (i, (cmd, needle)) in case.runs.iter().enumerate() {
            let out = outs.join(format!("out-{i}"));
            let args: Vec<&str> = cmd
                .iter()
                .map(|a| match *a {
                    "IN" => input.to_str().unwrap(),
                    "OUT" => out.to_str().unwrap(),
                    "DS" => ds.to_str().unwrap(),
                    a => a,
                })
                .collect();
            let o = Command::new(env!("CARGO_BIN_EXE_c2s"))
                .args(&args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            let name = input.file_name().unwrap().to_string_lossy();
            let left: Vec<String> = std::fs::read_dir(&outs)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let problems = [
                (o.status.code() != Some(1), "exit code is not 1"),
                (err.contains("panicked"), "a panic"),
                (!err.starts_with("error: "), "no `error:` line"),
                (!err.contains(needle), "the fault is not named"),
                (!err.contains(name.as_ref()), "the file is not named"),
                (!err.contains("hint:"), "no hint"),
                (err.lines().count() > 8, "more than a few lines"),
                (!left.is_empty(), "an output was left"),
            ];
            for (bad, what) in problems {
                if bad {
                    failures.push(format!(
                        "{} / c2s {}: {what} (expected {needle:?}; left {left:?})\n{err}",
                        case.name,
                        cmd.join(" ")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
