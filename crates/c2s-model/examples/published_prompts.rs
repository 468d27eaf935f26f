//! Prints the published models' prompts for fixed cells, every template of
//! every task, as JSON: tests/interop/check_published_prompts.py compares
//! them with cell2sentence 1.2.0's own formatter.

use c2s_model::published_prompts::{build_prompt, PromptInput, PromptSet, PublishedTask};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = ["MALAT1", "B2M", "TMSB4X", "RPL13", "CD74"];
    let b = ["CD3E", "IL7R", "LTB"];
    let mut out = serde_json::Map::new();
    for task in PublishedTask::ALL {
        let input = PromptInput {
            num_genes: 4,
            organism: "Homo sapiens",
            cells: if task.multi_cell() {
                vec![a.to_vec(), b.to_vec()]
            } else {
                vec![a.to_vec()]
            },
            cell_type: Some("CD14-positive monocyte"),
            tissue: Some("blood"),
            summary: Some("Monocytes and T cells of the blood"),
            num_cells: None,
        };
        let prompts = (0..PromptSet::of(task).model_input.len())
            .map(|i| build_prompt(task, i, &input))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(
            serde_json::to_value(task)?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            serde_json::to_value(prompts)?,
        );
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
