//! Real cells the user selected, put beside generated cells: scored as the
//! generated ones are, without the reference cells they would match exactly.

mod common;

use c2s_eval::evaluate::selection_set_name;
use c2s_eval::{evaluate, EvalInputs, GeneratedOptions, NamedCells};
use common::{dataset, field};

#[test]
fn selected_cells_are_scored_beside_the_generated_ones_without_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, generated, records) = dataset(dir.path());
    let names = |split: &str| -> Vec<String> {
        records
            .iter()
            .filter(|r| field(r, "split") == Some(split))
            .map(|r| r.cell_name.clone())
            .collect()
    };
    let (train, test) = (names("train"), names("test"));
    // Training cells and 5 of the test cells (the reference the others are
    // compared with): the test cells are left out of the selection.
    let mixed = NamedCells {
        name: "mixed".into(),
        cells: train.iter().take(40).chain(&test[..5]).cloned().collect(),
    };
    let only_reference = NamedCells {
        name: "reference only".into(),
        cells: test[..3].to_vec(),
    };
    let inputs = EvalInputs {
        dataset: ds.clone(),
        generated: Some(generated.clone()),
        selections: vec![mixed, only_reference],
        ..Default::default()
    };
    let opts = GeneratedOptions {
        gw_cells: 50,
        ..Default::default()
    };
    let r = evaluate(&inputs, &opts, &|_| {}).unwrap();
    let g = r.generated.as_ref().unwrap();
    let names: Vec<&str> = g.sets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[0], "generated");
    assert_eq!(
        names[4..],
        [selection_set_name("mixed").as_str()],
        "{names:?}: the selection of reference cells only is skipped"
    );
    let sel = &g.sets[4];
    assert_eq!(sel.n_cells, 40, "the 5 reference cells are left out");
    // k-NN scores the cells of types the reference holds.
    let type_of = |name: &str| {
        field(
            records.iter().find(|r| r.cell_name == name).unwrap(),
            "cluster_orig",
        )
    };
    let reference_types: std::collections::HashSet<_> = test.iter().map(|n| type_of(n)).collect();
    let expected = train[..40]
        .iter()
        .filter(|n| reference_types.contains(&type_of(n)))
        .count();
    assert!(expected > 20);
    assert_eq!(sel.n_scored, expected);
    assert!(sel.gw_distance.is_some() && sel.mean_pearson.is_some());
    // Real training cells look like their own clusters far more often than
    // real cells with shuffled labels do.
    let knn5 = |i: usize| g.sets[i].knn_accuracy.iter().find(|p| p.0 == 5).unwrap().1;
    assert!(knn5(4) > knn5(3) + 0.1, "{} against {}", knn5(4), knn5(3));
    let notes = r.notes.join("\n");
    assert!(
        notes.contains("5 of the 45 cells of the selection \"mixed\"")
            && notes.contains("\"reference only\" has no cells outside"),
        "{notes}"
    );
    // On both maps, the selected cells are marked as such, with their types.
    let selected: Vec<_> = g.pca.iter().filter(|p| p.source == "selected").collect();
    assert_eq!(selected.len(), 40);
    assert_eq!(
        g.umap
            .as_ref()
            .unwrap()
            .iter()
            .filter(|p| p.source == "selected")
            .count(),
        40
    );
    let first_type = field(
        records.iter().find(|r| r.cell_name == train[0]).unwrap(),
        "cluster_orig",
    )
    .unwrap();
    assert_eq!(selected[0].label, first_type);

    // Cells the dataset lacks (a conversion may filter out cells of the
    // .h5ad's map) are left out, and the note names the first.
    let ghost = EvalInputs {
        selections: vec![NamedCells {
            name: "ghosts".into(),
            cells: vec!["no-such-cell".into(), "nor-this".into(), train[0].clone()],
        }],
        ..inputs.clone()
    };
    let r = evaluate(&ghost, &opts, &|_| {}).unwrap();
    assert_eq!(r.generated.unwrap().sets[4].n_cells, 1);
    let notes = r.notes.join("\n");
    assert!(
        notes.contains("2 cells of the selection \"ghosts\" are not in the dataset (the first: \"no-such-cell\")"),
        "{notes}"
    );
    // Selections go beside generated cells: without any, a clear refusal.
    let alone = EvalInputs {
        generated: None,
        ..inputs
    };
    let e = evaluate(&alone, &opts, &|_| {}).unwrap_err().to_string();
    assert!(e.contains("beside generated cells"), "{e}");
}

#[test]
fn a_list_of_cell_names_is_read_one_a_line_and_named_after_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd cluster.txt");
    std::fs::write(&path, "c1\n\n  c7 \nc9\n").unwrap();
    let sel = NamedCells::read_list(&path).unwrap();
    assert_eq!(sel.name, "odd cluster");
    assert_eq!(sel.cells, ["c1", "c7", "c9"]);
    std::fs::write(&path, "\n \n").unwrap();
    let e = NamedCells::read_list(&path).unwrap_err().to_string();
    assert!(e.contains("names no cells"), "{e}");
    let e = NamedCells::read_list(&dir.path().join("missing.txt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.txt"), "{e}");
}
