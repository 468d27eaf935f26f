//! Prints, as JSON lines, each cell's log-likelihood of every type a trained
//! model knows (the first line lists the types), for trying re-scorings of
//! its answers outside the engine (bench/annotation_rescoring.py).
//!
//! usage: label_scores MODEL_DIR DATASET SPLIT   (SPLIT: train, val, test or all)

use c2s_model::prompts::Templates;
use c2s_model::TrainedModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, dataset, split] = args.as_slice() else {
        return Err("usage: label_scores MODEL_DIR DATASET SPLIT".into());
    };
    let split: c2s_data::split::SplitChoice = split.parse()?;
    let m = TrainedModel::load(std::path::Path::new(model))?;
    let records = c2s_data::dataset::read_dataset(std::path::Path::new(dataset))?;
    let templates = Templates::default_set();
    let p = m.predictor(&templates, m.card.labels.clone())?;
    println!("{}", serde_json::json!({ "labels": m.card.labels }));
    for r in records.iter().filter(|r| split.holds(r.label("split"))) {
        let genes = m.card.cell_genes(r.sentence.split_whitespace());
        let scored = p.predict(&genes)?;
        println!(
            "{}",
            serde_json::json!({
                "cell_name": r.cell_name,
                "true": r.label(&m.card.label_column),
                "split": r.label("split"),
                "log_likelihoods": scored.log_likelihoods,
            })
        );
    }
    Ok(())
}
