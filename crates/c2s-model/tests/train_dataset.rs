//! Training a converted dataset folder: presets, the saved request, the
//! time estimate and the model card, as the CLI and the app use them.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use c2s_data::{convert, ConvertOptions, Job};
use c2s_model::cells::{
    call_group, generate_cells, predict_cells, CellInput, GenerateRequest, TypedCell,
};
use c2s_model::train_dataset::{prepare_training, Preset, TrainRequest};
use c2s_model::{ModelCard, ModelError, TrainedModel};

fn dataset(dir: &Path) -> std::path::PathBuf {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/wu2020-tcells-200.h5ad");
    let out = dir.join("ds");
    let never = AtomicBool::new(false);
    let opts = ConvertOptions {
        labels: vec!["cluster_orig".into()],
        ..Default::default()
    };
    convert(
        &src,
        &out,
        &opts,
        &Job {
            progress: &|_| {},
            cancel: &never,
        },
    )
    .unwrap();
    out
}

#[test]
fn presets_choose_the_model_and_a_run_trains_and_writes_its_card() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let run = dir.path().join("run");
    let shapes: Vec<(usize, usize)> = [Preset::Quick, Preset::Standard, Preset::Thorough]
        .into_iter()
        .map(|p| {
            let prepared = prepare_training(&TrainRequest::new(&ds, &run, p)).unwrap();
            assert_eq!(prepared.label, "cluster_orig");
            assert_eq!(prepared.train_cells.len(), 160);
            assert!(prepared.estimate_seconds().unwrap() > 0.0);
            prepared.model_shape()
        })
        .collect();
    assert_eq!(shapes, vec![(2, 128), (4, 256), (6, 384)]);

    // A short run: the request is saved for resuming, the card at the end.
    let mut req = TrainRequest::new(&ds, &run, Preset::Quick);
    req.max_steps = Some(3);
    req.layers = Some(1);
    req.width = Some(32);
    req.heads = Some(2);
    let prepared = prepare_training(&req).unwrap();
    assert_eq!(prepared.total_steps(), 3);
    let never = AtomicBool::new(false);
    let n_val = prepared.val_cells.len();
    assert!(n_val > 0);
    let seen = std::sync::Mutex::new(Vec::new());
    let s = prepared
        .run(&|p| seen.lock().unwrap().push(p.held_out), &never)
        .unwrap();
    assert_eq!(s.steps, 3);
    // The last step asked the model in training about held-out cells; the
    // loss log keeps the figure for the curve.
    let seen = seen.into_inner().unwrap();
    let last = seen
        .last()
        .copied()
        .flatten()
        .expect("a held-out check at the last step");
    assert_eq!(
        last.cells,
        n_val.min(c2s_model::train_dataset::RUNNING_CHECK_CELLS)
    );
    assert!(last.right <= last.cells);
    assert!(
        seen[..2].iter().all(Option::is_none),
        "steps 1 and 2 validate nothing"
    );
    let log = std::fs::read_to_string(run.join(c2s_model::train::LOSS_LOG)).unwrap();
    let final_line: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(final_line["held_out_cells"], last.cells);
    assert_eq!(final_line["held_out_right"], last.right);
    let saved = TrainRequest::read_from_run(&run).unwrap();
    assert_eq!(saved.max_steps, Some(3));
    let card = ModelCard::read(&s.model_dir).unwrap();
    assert_eq!(card.label_column, "cluster_orig");
    assert_eq!(card.labels.len(), 16);
    assert!(!card.genes.is_empty());
    let mut m = TrainedModel::load(&s.model_dir).unwrap();
    assert_eq!(m.loaded.model.n_layer(), 1);
    // The finished model was asked the type of every validation cell: the
    // answers it gives when asked afterwards, counted alike.
    let never_again = AtomicBool::new(false);
    let v = s.validation.expect("a model that names types is checked");
    let all = c2s_data::dataset::read_sentences(&ds).unwrap();
    let val: Vec<_> = all
        .iter()
        .filter(|r| r.label("split") == Some("val") && r.label("cluster_orig").is_some())
        .collect();
    assert_eq!(v.cells, val.len());
    assert_eq!(v.cells, 20);
    // The model has one token for each gene some cell holds among its first
    // top_k (in the vocabulary's order), and none for the others.
    let vocab = c2s_data::Vocabulary::read_tsv(&ds.join("vocabulary.tsv")).unwrap();
    let read: std::collections::HashSet<&str> = all
        .iter()
        .flat_map(|r| r.sentence.split(' ').take(card.top_k))
        .collect();
    let within: Vec<&String> = vocab
        .genes
        .iter()
        .filter(|g| read.contains(g.as_str()))
        .collect();
    assert!(within.len() < vocab.genes.len());
    assert_eq!(card.genes.iter().collect::<Vec<_>>(), within);
    for g in &vocab.genes {
        assert_eq!(
            m.tok.token_to_id(g).is_some(),
            read.contains(g.as_str()),
            "{g}"
        );
    }
    let inputs: Vec<CellInput> = val
        .iter()
        .map(|r| CellInput {
            name: &r.cell_name,
            sentence: &r.sentence,
        })
        .collect();
    let answers = predict_cells(&m, &inputs, false, &[], &|_, _| {}, &never_again).unwrap();
    let right = answers
        .iter()
        .zip(&val)
        .filter(|(a, r)| a.predicted.as_deref() == r.label("cluster_orig"))
        .count();
    assert_eq!(v.right, right);

    // A model that learned to write cells of a given type names types by
    // both directions: the answer's likelihood plus GENERATIVE_WEIGHT times
    // log P(the cell's first genes | type), normalised over the types.
    assert!(card.learned_generation() && m.weigh_genes);
    both_directions_are_weighed_as_documented(&m, &val[0].sentence);
    let train: Vec<_> = all
        .iter()
        .filter(|r| r.label("split") == Some("train"))
        .collect();
    neighbours_weigh_the_answer_as_documented(&mut m, &inputs, &train);

    // The cell workflows stop on a cancel and work without one.
    let records = c2s_data::dataset::read_sentences(&ds).unwrap();
    let cells: Vec<CellInput> = records
        .iter()
        .take(3)
        .map(|r| CellInput {
            name: &r.cell_name,
            sentence: &r.sentence,
        })
        .collect();
    let cancelled = AtomicBool::new(true);
    let err = predict_cells(&m, &cells, false, &[], &|_, _| {}, &cancelled).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled), "{err}");
    let gen = GenerateRequest {
        per_type: 2,
        ..Default::default()
    };
    let err = generate_cells(&m, &gen, &mut |_, _| {}, &|_, _| {}, &cancelled).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled), "{err}");
    let p = predict_cells(&m, &cells, false, &[], &|_, _| {}, &never).unwrap();
    assert!(p
        .iter()
        .all(|c| card.labels.contains(c.predicted.as_ref().unwrap())));
    // Answers limited to a subset of the types: each names one of them, with
    // confidences over the subset; a type the model lacks is refused.
    let only = vec![card.labels[1].clone()];
    let p = predict_cells(&m, &cells, false, &only, &|_, _| {}, &never).unwrap();
    assert!(p
        .iter()
        .all(|c| c.predicted.as_ref() == Some(&only[0]) && c.confidence == Some(1.0)));
    let err = predict_cells(
        &m,
        &cells,
        false,
        &["neuron".to_string()],
        &|_, _| {},
        &never,
    )
    .unwrap_err();
    assert!(err.to_string().contains("\"neuron\""), "{err}");
    // A group of cells by name (a lasso selection): the cells the dataset
    // holds, an even spread of at most 4, their answers counted.
    let names: Vec<String> = records
        .iter()
        .take(10)
        .map(|r| r.cell_name.clone())
        .chain(["not-a-cell".to_string()])
        .collect();
    let g = call_group(&m, &records, &names, 4, &never).unwrap();
    assert_eq!((g.asked, g.found, g.scored), (11, 10, 4));
    let spread: Vec<CellInput> = [0, 2, 5, 7]
        .iter()
        .map(|&i| CellInput {
            name: &records[i].cell_name,
            sentence: &records[i].sentence,
        })
        .collect();
    let each = predict_cells(&m, &spread, false, &[], &|_, _| {}, &never).unwrap();
    for (t, n) in &g.types {
        let want = each
            .iter()
            .filter(|c| c.predicted.as_ref() == Some(t))
            .count();
        assert_eq!(*n, want, "{t}");
    }
    assert_eq!(g.types.iter().map(|t| t.1).sum::<usize>(), 4);
    assert!(g.types.windows(2).all(|w| w[0].1 >= w[1].1));
    assert!(matches!(
        call_group(&m, &records, &names, 4, &cancelled).unwrap_err(),
        ModelError::Cancelled
    ));
    // A cell typed in the chat: read as genes only when at least half its
    // words are genes the model knows; then named as a dataset cell is.
    let typed = |text: &str| c2s_model::cells::name_typed_cell(&m, text).unwrap();
    assert_eq!(
        typed("what is the weather like"),
        TypedCell::NotGenes { words: 5, known: 0 }
    );
    let first: Vec<&str> = records[0].sentence.split_whitespace().take(3).collect();
    let lower = format!("{}, {} nope1 NOPE2", first[0].to_lowercase(), first[1]);
    let TypedCell::Named(call) = typed(&lower) else {
        panic!("2 of 4 words are genes: read as a cell");
    };
    assert_eq!(call.unknown_genes, ["NOPE1", "NOPE2"]);
    assert_eq!(call.ranking.len(), card.labels.len());
    assert_eq!(call.ranking[0], (call.label.clone(), call.confidence));
    assert!(matches!(
        typed(&format!("{} x y z", first[0])),
        TypedCell::NotGenes { words: 4, known: 1 }
    ));
    // A whole sentence goes on past the genes the model knows: only the
    // words it reads (the first top_k) are judged.
    let long = records
        .iter()
        .find(|r| {
            let words: Vec<&str> = r.sentence.split(' ').collect();
            let unknown = words
                .iter()
                .filter(|w| !card.genes.contains(&w.to_string()));
            words.len() > card.top_k && 2 * unknown.count() > words.len()
        })
        .expect("a cell most of whose genes the model does not know");
    let TypedCell::Named(call) = typed(&long.sentence) else {
        panic!("a dataset cell is a cell")
    };
    assert_eq!(call.read, card.top_k);
    assert!(call.unknown_genes.is_empty());
    let whole = typed(&records[0].sentence);
    let TypedCell::Named(whole) = whole else {
        panic!("a dataset cell is a cell")
    };
    let one = CellInput {
        name: &records[0].cell_name,
        sentence: &records[0].sentence,
    };
    let same = predict_cells(&m, &[one], false, &[], &|_, _| {}, &never).unwrap();
    assert_eq!(Some(whole.label), same[0].predicted);
    assert_eq!(Some(whole.confidence), same[0].confidence);
    let g = generate_cells(&m, &gen, &mut |_, _| {}, &|_, _| {}, &never).unwrap();
    assert_eq!(g.cells.len(), 2);
    // Guided cells of a type keep to known genes, each once.
    let typed = GenerateRequest {
        types: vec![Some(card.labels[0].clone())],
        per_type: 3,
        guidance: Some(2.5),
        ..Default::default()
    };
    let g = generate_cells(&m, &typed, &mut |_, _| {}, &|_, _| {}, &never).unwrap();
    assert_eq!(g.cells.len(), 3);
    assert!(g.constrained && g.valid_share == 1.0 && g.unique_share == 1.0);
    let bad = GenerateRequest {
        guidance: Some(-1.0),
        ..typed.clone()
    };
    let err = generate_cells(&m, &bad, &mut |_, _| {}, &|_, _| {}, &never).unwrap_err();
    assert!(err.to_string().contains("guidance weight"), "{err}");
    // Counts of cells for a mix of types: one a type.
    let mismatched = GenerateRequest {
        counts: vec![1, 2],
        ..typed.clone()
    };
    let err = generate_cells(&m, &mismatched, &mut |_, _| {}, &|_, _| {}, &never).unwrap_err();
    assert!(
        err.to_string().contains("2 counts of cells for 1 types"),
        "{err}"
    );
    // The run learned cells of no given type (some generation examples drop
    // their type); a model that did not is refused guidance, not misled.
    assert!(card.learned_unconditional);
    m.card.learned_unconditional = false;
    let err =
        generate_cells(&m, &guided_by_2(&typed), &mut |_, _| {}, &|_, _| {}, &never).unwrap_err();
    assert!(
        err.to_string().contains("learned cells of no given type"),
        "{err}"
    );
    // Unless asked, such a model samples plainly, and one that learned
    // them is guided by the default.
    let plain = GenerateRequest {
        guidance: None,
        ..typed.clone()
    };
    assert_eq!(c2s_model::cells::guidance_for(&m.card, None).unwrap(), 1.0);
    let g = generate_cells(&m, &plain, &mut |_, _| {}, &|_, _| {}, &never).unwrap();
    assert_eq!(g.cells.len(), 3);
    m.card.learned_unconditional = true;
    assert_eq!(
        c2s_model::cells::guidance_for(&m.card, None).unwrap(),
        c2s_model::cells::DEFAULT_GUIDANCE
    );

    // The run folder is protected, and fine-tuning keeps the pretrained shape.
    let err = prepare_training(&req).err().unwrap().to_string();
    assert!(
        err.contains("already holds a run") && err.contains("--resume"),
        "{err}"
    );
    let mut ft = TrainRequest::new(&ds, &dir.path().join("ft"), Preset::FineTune);
    ft.layers = Some(2);
    let err = prepare_training(&ft).err().unwrap().to_string();
    assert!(err.contains("come from the pretrained model"), "{err}");
}

/// A copy of `req` with guidance on (2.0).
fn guided_by_2(req: &GenerateRequest) -> GenerateRequest {
    GenerateRequest {
        guidance: Some(2.0),
        ..req.clone()
    }
}

/// Prompts name the dataset's organism unless the request names one (the
/// app never named one, so every dataset was prompted as human).
#[test]
fn training_prompts_name_the_datasets_organism() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let run = dir.path().join("run");
    let organism = |req: &TrainRequest| prepare_training(req).unwrap().options.organism;
    let req = TrainRequest::new(&ds, &run, Preset::Quick);
    assert_eq!(organism(&req), "Homo sapiens");
    let manifest = ds.join("manifest.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(doc["summary"]["species"], "human");
    doc["summary"]["species"] = "mouse".into();
    std::fs::write(&manifest, doc.to_string()).unwrap();
    assert_eq!(organism(&req), "Mus musculus");
    let named = TrainRequest {
        organism: Some("Danio rerio".into()),
        ..req
    };
    assert_eq!(organism(&named), "Danio rerio");
}

/// The model folder keeps its training cells' map (`m` was loaded from it);
/// `predict_cells` adds
/// VOTE_WEIGHT x log(share of the 5 nearest + 0.01) to the answer's
/// log-probabilities, and names the cell by the model alone without it.
fn neighbours_weigh_the_answer_as_documented(
    m: &mut TrainedModel,
    cells: &[CellInput],
    train: &[&c2s_data::dataset::SentenceRecord],
) {
    use c2s_model::neighbours::{NEIGHBOURS, VOTE_WEIGHT};
    let map = m
        .neighbours
        .take()
        .expect("a model that names types keeps its training cells' map");
    let labels = m.card.labels.clone();
    // Each training cell is its own nearest: its type has at least one vote.
    for r in train {
        let shares = map.vote(&r.sentence, &labels);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let own = labels
            .iter()
            .position(|l| Some(l.as_str()) == r.label("cluster_orig"))
            .unwrap();
        assert!(shares[own] >= 1.0 / NEIGHBOURS as f64, "{}", r.cell_name);
    }
    let never = AtomicBool::new(false);
    let alone = predict_cells(m, cells, false, &[], &|_, _| {}, &never).unwrap();
    let templates = c2s_model::prompts::Templates::default_set();
    let p = m.predictor(&templates, labels.clone()).unwrap();
    let expected: Vec<(String, f64)> = cells
        .iter()
        .zip(&alone)
        .map(|(c, a)| {
            let answer = p
                .predict(&m.card.cell_genes(c.sentence.split_whitespace()))
                .unwrap();
            assert_eq!(a.predicted.as_deref(), Some(answer.label.as_str()));
            let ll = &answer.log_likelihoods;
            let max = ll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_z = max + ll.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            let scores: Vec<f64> = ll
                .iter()
                .zip(map.vote(c.sentence, &labels))
                .map(|(l, v)| l - log_z + VOTE_WEIGHT * (v + 0.01).ln())
                .collect();
            let best = (0..scores.len())
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap();
            let z: f64 = scores.iter().map(|s| (s - scores[best]).exp()).sum();
            (labels[best].clone(), 1.0 / z)
        })
        .collect();
    drop(p);
    m.neighbours = Some(map);
    let weighed = predict_cells(m, cells, false, &[], &|_, _| {}, &never).unwrap();
    for (w, (label, confidence)) in weighed.iter().zip(&expected) {
        assert_eq!(w.predicted.as_deref(), Some(label.as_str()));
        assert!((w.confidence.unwrap() - confidence).abs() < 1e-6);
    }
}

fn both_directions_are_weighed_as_documented(m: &TrainedModel, sentence: &str) {
    use c2s_model::predict::{
        score_each_alone, GENERATIVE_GENES, GENERATIVE_TYPES, GENERATIVE_WEIGHT,
    };
    use c2s_model::prompts::{encode_example, make_example, CellInfo, Task, Templates};
    let templates = Templates::default_set();
    let genes: Vec<&str> = sentence.split_whitespace().take(m.card.top_k).collect();
    let both = m.predictor(&templates, m.card.labels.clone()).unwrap();
    let answer_only = m
        .predictor(&templates, m.card.labels.clone())
        .unwrap()
        .with_generative(None);
    let (b, a) = (
        both.predict(&genes).unwrap(),
        answer_only.predict(&genes).unwrap(),
    );
    // The shared cache and the batched genes change no score.
    let alone = both.predict_alone(&genes).unwrap();
    for (x, y) in b.log_likelihoods.iter().zip(&alone.log_likelihoods) {
        assert!((x - y).abs() < 1e-3, "{x} against {y}");
    }
    // The answer's three likeliest types' genes scored alone, one sequence
    // at a time; the other types take the lowest of them.
    let mut top: Vec<usize> = (0..a.log_likelihoods.len()).collect();
    top.sort_by(|&x, &y| a.log_likelihoods[y].total_cmp(&a.log_likelihoods[x]));
    top.truncate(GENERATIVE_TYPES);
    let given: Vec<f64> = top
        .iter()
        .map(|&i| {
            let info = CellInfo {
                genes: &genes,
                cell_type: Some(&m.card.labels[i]),
                organism: &m.card.organism,
            };
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
            let ex = make_example(
                &templates,
                Task::CellTypeGeneration,
                &info,
                m.card.top_k,
                &mut rng,
            )
            .unwrap();
            let e = encode_example(&m.tok, &ex, m.eos, usize::MAX).unwrap();
            let end = (e.response_start + GENERATIVE_GENES).min(e.ids.len());
            let (prompt, genes) = (
                &e.ids[..e.response_start],
                e.ids[e.response_start..end].to_vec(),
            );
            score_each_alone(&m.loaded.model, prompt, &[genes]).unwrap()[0]
        })
        .collect();
    let max = given.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z = max + given.iter().map(|g| (g - max).exp()).sum::<f64>().ln();
    let worst = given.iter().map(|g| g - z).fold(f64::INFINITY, f64::min);
    // A 3-step model is unsure of every answer, so the genes are weighed.
    assert!(
        a.confidence < c2s_model::predict::GENERATIVE_BELOW,
        "{}",
        a.confidence
    );
    for (i, (x, y)) in b.log_likelihoods.iter().zip(&a.log_likelihoods).enumerate() {
        let g = top
            .iter()
            .position(|&t| t == i)
            .map_or(worst, |j| given[j] - z);
        let want = y + GENERATIVE_WEIGHT * g;
        assert!((x - want).abs() < 1e-3, "{x} against {want}");
    }
    assert_ne!(b.log_likelihoods, a.log_likelihoods);
}

/// Thinned training cells of a dataset that keeps raw counts (wu2020 holds
/// raw counts) carry their counts, and a new model has tokens for the genes
/// that thinning may bring into a cell's first top_k.
#[test]
fn thinning_reads_the_counts_and_gives_tokens_to_genes_that_may_climb() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let all = c2s_data::dataset::read_dataset_with_counts(&ds).unwrap();
    assert!(all.iter().all(|r| r.counts.is_some()));
    let mut req = TrainRequest::new(&ds, &dir.path().join("run"), Preset::Quick);
    (req.max_steps, req.layers, req.width, req.heads) = (Some(1), Some(1), Some(32), Some(2));
    let plain = prepare_training(&req).unwrap();
    assert!(plain.train_cells.iter().all(|c| c.counts.is_none()));
    drop(plain);
    req.thinning = true;
    let prepared = prepare_training(&req).unwrap();
    let top_k = prepared.options.top_k;
    for c in &prepared.train_cells {
        let counts = c.counts.as_ref().expect("raw counts read");
        assert_eq!(counts.len(), c.genes.len());
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most first");
        let r = all
            .iter()
            .find(|r| r.sentence.starts_with(&c.genes.join(" ")))
            .unwrap();
        assert_eq!(&r.counts.as_ref().unwrap()[..counts.len()], &counts[..]);
    }
    let s = prepared.run(&|_| {}, &AtomicBool::new(false)).unwrap();
    let card = ModelCard::read(&s.model_dir).unwrap();
    let depth = top_k + top_k / 2;
    let read: std::collections::HashSet<&str> = all
        .iter()
        .flat_map(|r| r.sentence.split(' ').take(depth))
        .collect();
    let vocab = c2s_data::Vocabulary::read_tsv(&ds.join("vocabulary.tsv")).unwrap();
    let within: Vec<&String> = vocab
        .genes
        .iter()
        .filter(|g| read.contains(g.as_str()))
        .collect();
    assert_eq!(card.genes.iter().collect::<Vec<_>>(), within);
}

#[test]
fn common_genes_are_left_out_of_every_cell_read_and_put_back_in_cells_written() {
    use c2s_data::common_genes::CommonGenes;
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let all = c2s_data::dataset::read_dataset_with_counts(&ds).unwrap();
    let mut req = TrainRequest::new(&ds, &dir.path().join("run"), Preset::Quick);
    (req.max_steps, req.layers, req.width, req.heads) = (Some(2), Some(1), Some(32), Some(2));
    req.thinning = true;
    req.skip_common_genes = Some(CommonGenes::DEFAULT_SHARE);
    let prepared = prepare_training(&req).unwrap();
    let top_k = prepared.options.top_k;
    // Found in the training cells only, no label read.
    let train = all.iter().filter(|r| r.label("split") == Some("train"));
    let cells = train.map(|r| (r.sentence.as_str(), r.label("cluster_orig")));
    let want = CommonGenes::find(cells, top_k, 0.7);
    assert!(want.genes.len() > 10, "{:?}", want.genes);
    let common = want.set();
    // Each training cell is its sentence without them, its counts alongside.
    for c in &prepared.train_cells {
        assert!(c.genes.iter().all(|g| !common.contains(g.as_str())));
        let r = all
            .iter()
            .find(|r| {
                let kept: Vec<&str> = r
                    .sentence
                    .split(' ')
                    .filter(|g| !common.contains(g))
                    .collect();
                kept.starts_with(&c.genes.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .expect("a dataset cell");
        let count_of: std::collections::HashMap<&str, u32> = r
            .sentence
            .split(' ')
            .zip(r.counts.as_ref().unwrap().iter().copied())
            .collect();
        let counts = c.counts.as_ref().unwrap();
        assert_eq!(counts.len(), c.genes.len());
        for (g, n) in c.genes.iter().zip(counts) {
            assert_eq!(count_of[g.as_str()], *n, "{g}");
        }
    }
    let s = prepared.run(&|_| {}, &AtomicBool::new(false)).unwrap();
    let card = ModelCard::read(&s.model_dir).unwrap();
    assert_eq!(card.common_genes.as_ref(), Some(&want));
    // Resumed, the run reads its cells as it started, or is refused.
    let resumed = TrainRequest {
        resume: true,
        skip_common_genes: None,
        ..req.clone()
    };
    let e = prepare_training(&resumed).err().expect("refused");
    assert!(
        e.to_string()
            .contains("started with --skip-common-genes 0.7"),
        "{e}"
    );
    let mut m = TrainedModel::load(&s.model_dir).unwrap();
    for g in &want.genes {
        assert!(
            m.tok.token_to_id(&g.gene).is_none(),
            "{} has no token",
            g.gene
        );
        assert!(!card.genes.contains(&g.gene));
    }
    // A cell is read without them: the same answer as for its sentence
    // without them.
    let never = AtomicBool::new(false);
    let r = all
        .iter()
        .find(|r| r.label("split") == Some("val"))
        .unwrap();
    let trimmed: String = r
        .sentence
        .split(' ')
        .filter(|g| !common.contains(g))
        .collect::<Vec<_>>()
        .join(" ");
    assert_ne!(trimmed, r.sentence);
    let cells = [
        CellInput {
            name: "whole",
            sentence: &r.sentence,
        },
        CellInput {
            name: "trimmed",
            sentence: &trimmed,
        },
    ];
    // The model's own answer (the training cells' vote reads whole cells,
    // common genes and all).
    let map = m.neighbours.take();
    assert!(map.is_some());
    let p = predict_cells(&m, &cells, false, &[], &|_, _| {}, &never).unwrap();
    assert_eq!(
        (&p[0].predicted, p[0].confidence),
        (&p[1].predicted, p[1].confidence)
    );
    m.neighbours = map;
    let (e, _) = c2s_model::cells::embed_cells(&m, &cells, 2, &|_, _| {}, &never).unwrap();
    assert_eq!(e[0], e[1]);
    // Typed in the chat, the common genes are neither read nor unknown.
    let TypedCell::Named(call) = c2s_model::cells::name_typed_cell(&m, &r.sentence).unwrap() else {
        panic!("a dataset cell is a cell");
    };
    assert!(call
        .unknown_genes
        .iter()
        .all(|g| !common.contains(g.as_str())));
    assert_eq!(call.read, trimmed.split(' ').count().min(top_k));
    // Cells written get each of them back once, at their typical place.
    let gen = GenerateRequest {
        types: vec![Some(card.labels[0].clone())],
        per_type: 2,
        ..Default::default()
    };
    let g = generate_cells(&m, &gen, &mut |_, _| {}, &|_, _| {}, &never).unwrap();
    let known = card.cell_gene_set();
    for c in &g.cells {
        let words: Vec<&str> = c.cell_sentence.split(' ').collect();
        for cg in &want.genes {
            assert_eq!(
                words.iter().filter(|w| **w == cg.gene).count(),
                1,
                "{}",
                cg.gene
            );
        }
        let written: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !common.contains(w))
            .collect();
        let ty = c.cell_type.as_deref();
        // The one earliest in cells of the type at its mean place there, when
        // the model wrote that many genes.
        let (place, first) = want
            .genes
            .iter()
            .map(|g| (g.by_type[ty.unwrap()], &g.gene))
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))
            .unwrap();
        let at = words.iter().position(|w| w == first).unwrap();
        if written.len() >= place.ceil() as usize {
            assert_eq!(at, place.ceil() as usize, "{}", c.cell_sentence);
        }
        assert_eq!(want.restore(&written.join(" "), ty), c.cell_sentence);
        assert!(
            words.iter().all(|w| known.contains(w)),
            "{}",
            c.cell_sentence
        );
    }
    assert_eq!((g.valid_share, g.unique_share), (1.0, 1.0));
}
