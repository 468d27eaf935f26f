//! The published-model tasks' error paths: a cancelled job, a prompt longer
//! than the context, requests that cannot be answered. A tiny random
//! GPT-NeoX with the real GPT-NeoX tokenizer stands in for C2S-Pythia.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use c2s_model::cells::CellInput;
use c2s_model::published::{
    annotate_cells, annotate_groups, describe_group, generate_published, AnnotateRequest,
    PublishedGenerateRequest, PublishedModel,
};
use c2s_model::published_prompts::PublishedTask;
use c2s_model::{init_any, save_model, GptNeoxConfig, ModelError};

fn tiny_pythia(dir: &Path, context: usize) -> PublishedModel {
    let cfg = GptNeoxConfig::new(50304, context, 16, 1, 2);
    let m = init_any(&cfg.into(), &candle_core::Device::Cpu, 9).unwrap();
    save_model(dir, m.model.config(), &m.vars).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/gpt-neox-tokenizer/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    PublishedModel::load_on(dir, &candle_core::Device::Cpu, "CPU").unwrap()
}

fn request(candidates: &[&str], num_genes: usize) -> AnnotateRequest {
    AnnotateRequest {
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        num_genes,
        organism: "Homo sapiens".into(),
        free: false,
    }
}

const CELLS: [CellInput<'static>; 2] = [
    CellInput {
        name: "a",
        sentence: "MALAT1 B2M CD74 HLA-DRA MS4A1",
    },
    CellInput {
        name: "b",
        sentence: "MALAT1 CD3E IL7R LTB",
    },
];

#[test]
fn cancelled_jobs_stop_with_cancelled() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny_pythia(t.path(), 2048);
    let stop = AtomicBool::new(true);
    let r = annotate_cells(&m, &CELLS, &request(&["B cell"], 5), &|_, _| {}, &stop);
    assert!(matches!(r, Err(ModelError::Cancelled)), "{r:?}");
    let g = PublishedGenerateRequest {
        types: vec!["B cell".into()],
        per_type: 2,
        num_genes: 5,
        organism: "Homo sapiens".into(),
        temperature: 1.0,
        top_k: 50,
        top_p: 0.95,
        batch_size: 2,
        seed: 1,
        known_genes: Vec::new(),
    };
    let r = generate_published(&m, &g, &|_, _| {}, &stop);
    assert!(matches!(r, Err(ModelError::Cancelled)), "{r:?}");
}

#[test]
fn unanswerable_requests_are_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny_pythia(t.path(), 64);
    let go = AtomicBool::new(false);
    // A prompt longer than the model's context of 64 tokens.
    let long: String = (0..100).map(|i| format!("GENE{i} ")).collect();
    let cell = [CellInput {
        name: "long",
        sentence: &long,
    }];
    let err = annotate_cells(&m, &cell, &request(&["B cell"], 100), &|_, _| {}, &go)
        .unwrap_err()
        .to_string();
    assert!(err.contains("context of 64"), "{err}");
    // No candidates.
    let err = annotate_cells(&m, &CELLS, &request(&[], 5), &|_, _| {}, &go).unwrap_err();
    assert!(err.to_string().contains("no candidate"), "{err}");
    // One group label per cell.
    let err = annotate_groups(
        &m,
        &CELLS,
        &[Some("1")],
        2,
        &request(&["B cell"], 5),
        &|_, _| {},
        &go,
    )
    .unwrap_err();
    assert!(err.to_string().contains("group"), "{err}");
    // A single-cell task is no question about a group.
    let err = describe_group(
        &m,
        PublishedTask::CellTypePrediction,
        &CELLS,
        5,
        "Homo sapiens",
        4,
    )
    .unwrap_err();
    assert!(err.to_string().contains("group"), "{err}");
    let err = describe_group(
        &m,
        PublishedTask::TissuePrediction,
        &[],
        5,
        "Homo sapiens",
        4,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no cells"), "{err}");
}

fn record(
    name: &str,
    sentence: &str,
    labels: &[(&str, Option<&str>)],
) -> c2s_data::dataset::SentenceRecord {
    c2s_data::dataset::SentenceRecord {
        cell_name: name.into(),
        sentence: sentence.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect(),
        counts: None,
    }
}

/// A dataset annotated as both front ends ask: candidates from a column, a
/// typed list or the shipped list; every cell or a vote per group; agreement
/// counted against the column; bad plans refused before any work.
#[test]
fn datasets_are_annotated_by_plan() {
    use c2s_model::published_annotation::{
        annotate_dataset, estimate_seconds, Candidates, DatasetAnnotation,
    };
    let t = tempfile::tempdir().unwrap();
    let m = tiny_pythia(t.path(), 2048);
    let recs = [
        record(
            "a",
            "MALAT1 B2M CD74 HLA-DRA MS4A1",
            &[("type", Some("B cell")), ("cluster", Some("0"))],
        ),
        record(
            "b",
            "MALAT1 CD3E IL7R LTB",
            &[("type", Some("T cell")), ("cluster", Some("1"))],
        ),
        record(
            "c",
            "MALAT1 CD3E IL7R",
            &[("type", None), ("cluster", Some("1"))],
        ),
    ];
    let refs: Vec<&_> = recs.iter().collect();
    let never = AtomicBool::new(false);
    let by_column = DatasetAnnotation {
        candidates: Candidates::Column {
            column: "type".into(),
        },
        num_genes: 5,
        ..Default::default()
    };
    assert_eq!(
        by_column.candidates.resolve(&refs).unwrap(),
        ["B cell", "T cell"]
    );
    let done = annotate_dataset(&m, &refs, &by_column, &|_, _| {}, &never).unwrap();
    assert_eq!((done.candidates, done.prompts, done.labelled), (2, 3, 2));
    assert_eq!(done.truth_column.as_deref(), Some("type"));
    let agree = done
        .truths
        .iter()
        .zip(&done.predictions)
        .filter(|(t, p)| t.is_some() && t.as_deref() == p.predicted.as_deref())
        .count();
    assert_eq!(done.agree, agree);
    assert!(done.predictions.iter().all(|p| p.confidence.is_some()));
    // Answers limited to some of the candidates; one they lack is refused.
    let only = DatasetAnnotation {
        only: vec!["T cell".into()],
        ..by_column.clone()
    };
    let done = annotate_dataset(&m, &refs, &only, &|_, _| {}, &never).unwrap();
    assert_eq!(done.candidates, 1);
    assert!(done
        .predictions
        .iter()
        .all(|p| p.predicted.as_deref() == Some("T cell")));
    let e = annotate_dataset(
        &m,
        &refs,
        &DatasetAnnotation {
            only: vec!["neuron".into()],
            ..by_column.clone()
        },
        &|_, _| {},
        &never,
    )
    .unwrap_err();
    assert!(e.to_string().contains("\"neuron\""), "{e}");

    // A vote per cluster: one prompt per cluster, every member gets its answer.
    let vote = DatasetAnnotation {
        candidates: Candidates::List {
            types: vec![
                " B cell".into(),
                "T cell".into(),
                "B cell".into(),
                "".into(),
            ],
        },
        vote_by: Some("cluster".into()),
        per_group: 1,
        num_genes: 5,
        ..Default::default()
    };
    assert_eq!(
        vote.candidates.resolve(&refs).unwrap(),
        ["B cell", "T cell"]
    );
    assert_eq!(vote.prompts(&refs).unwrap(), 2);
    let done = annotate_dataset(&m, &refs, &vote, &|_, _| {}, &never).unwrap();
    assert_eq!(done.prompts, 2);
    assert_eq!(done.predictions[1].predicted, done.predictions[2].predicted);
    assert!(done.truth_column.is_none() && done.accuracy().is_none());
    assert!(estimate_seconds(&m, &refs, &vote).unwrap() > 0.0);
    assert!(Candidates::Common.resolve(&refs).unwrap().len() > 20);
    let group = c2s_model::published_annotation::cells_of_group(&refs, "cluster", "1", 5).unwrap();
    assert_eq!(
        group
            .iter()
            .map(|r| r.cell_name.as_str())
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    let e = c2s_model::published_annotation::cells_of_group(&refs, "cluster", "9", 5).unwrap_err();
    assert!(e.to_string().contains("`9`"), "{e}");
    // A group given by its cells' names (a saved selection): the dataset's
    // order, unknown names skipped, none known refused.
    let names = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let picked =
        c2s_model::published_annotation::cells_named(&refs, &names(&["c", "zz", "a"]), 5).unwrap();
    let picked: Vec<&str> = picked.iter().map(|r| r.cell_name.as_str()).collect();
    assert_eq!(picked, ["a", "c"]);
    let e = c2s_model::published_annotation::cells_named(&refs, &names(&["zz"]), 5).unwrap_err();
    assert!(
        e.to_string().contains("none of the 1 selected cells"),
        "{e}"
    );

    // Refused, with what to do.
    let bad = |plan: DatasetAnnotation| {
        annotate_dataset(&m, &refs, &plan, &|_, _| {}, &never)
            .unwrap_err()
            .to_string()
    };
    let e = bad(DatasetAnnotation {
        candidates: Candidates::Column {
            column: "tissue".into(),
        },
        ..Default::default()
    });
    assert!(e.contains("`tissue`") && e.contains("hint"), "{e}");
    let e = bad(DatasetAnnotation {
        candidates: Candidates::List {
            types: vec![" ".into()],
        },
        ..Default::default()
    });
    assert!(e.contains("no candidate"), "{e}");
    let e = bad(DatasetAnnotation {
        vote_by: Some("leiden".into()),
        ..Default::default()
    });
    assert!(e.contains("`leiden`"), "{e}");
    let e = annotate_dataset(&m, &[], &DatasetAnnotation::default(), &|_, _| {}, &never)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no cells"), "{e}");
}

/// Groups of cells of a tissue: one text per group, each asked for with the
/// tissue-conditioned prompt; cancel stops before any.
#[test]
fn tissue_groups_are_written_per_group() {
    use c2s_model::published::{generate_tissue_cells, TissueGenerateRequest};
    let t = tempfile::tempdir().unwrap();
    let m = tiny_pythia(t.path(), 2048);
    let mut req = TissueGenerateRequest::for_tissues(vec!["lung".into(), "blood".into()], 2);
    req.num_genes = 3;
    req.cells_per_group = 2;
    req.batch_size = 3;
    let seen = std::sync::Mutex::new(Vec::new());
    let g = generate_tissue_cells(
        &m,
        &req,
        &|done, total| seen.lock().unwrap().push((done, total)),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), [(3, 4), (4, 4)]);
    for c in &g.cells {
        assert!(
            c.cell_name.starts_with("generated_lung_")
                || c.cell_name.starts_with("generated_blood_"),
            "{}",
            c.cell_name
        );
        assert!(c.cell_type.is_none() && !c.cell_sentence.is_empty());
    }
    let r = generate_tissue_cells(&m, &req, &|_, _| {}, &AtomicBool::new(true));
    assert!(matches!(r, Err(ModelError::Cancelled)), "{r:?}");
}

/// The time estimate shown before generating: a measured, finite figure,
/// and nothing to wait for when nothing is asked (the scaling is tested in
/// the module).
#[test]
fn generation_time_is_estimated_before_the_job() {
    use c2s_model::published::estimate_generation_seconds;
    let t = tempfile::tempdir().unwrap();
    let m = tiny_pythia(t.path(), 2048);
    let mut req = PublishedGenerateRequest::for_types(vec!["B cell".into()], 3);
    req.num_genes = 20;
    req.batch_size = 2;
    let s = estimate_generation_seconds(&m, &req).unwrap();
    assert!(s.is_finite() && s > 0.0, "{s}");
    req.per_type = 0;
    assert_eq!(estimate_generation_seconds(&m, &req).unwrap(), 0.0);
}
