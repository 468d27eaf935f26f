//! Prompt templates (editable JSON, REFERENCE.md section 4) and training
//! examples built from them: prompt, response, and which tokens the loss sees.

use std::collections::BTreeMap;
use std::path::Path;

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};
use crate::tokenizer::encode;

/// The templates shipped with C2S Studio.
pub(crate) const DEFAULT_TEMPLATES: &str = include_str!("../../prompts/c2s-templates.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Task {
    CellTypePrediction,
    CellTypeGeneration,
    UnconditionalGeneration,
}

impl Task {
    pub(crate) fn needs_label(self) -> bool {
        !matches!(self, Task::UnconditionalGeneration)
    }

    /// Whether the cell's genes are in the prompt (read), not the answer.
    pub(crate) fn reads_cell(self) -> bool {
        matches!(self, Task::CellTypePrediction)
    }
}

/// Which prompts a model is trained and asked with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// C2S Studio's editable templates (`Templates`), the answer after a
    /// space: models trained here from scratch or from GPT-2.
    #[default]
    Studio,
    /// The published C2S models' prompt sets and tokenisation
    /// (tasks::published_prompts): fine-tuning a published model keeps the
    /// format it already answers.
    Published,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskTemplates {
    pub prompts: Vec<String>,
    pub response: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Templates {
    #[serde(default)]
    pub about: String,
    pub tasks: BTreeMap<Task, TaskTemplates>,
}

impl Templates {
    pub fn default_set() -> Self {
        serde_json::from_str(DEFAULT_TEMPLATES).expect("the shipped templates parse")
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?;
        let t: Templates = serde_json::from_str(&text).map_err(|e| {
            ModelError::bad(
                path,
                format!("not a template file: {e}"),
                "start from prompts/c2s-templates.json and edit it",
            )
        })?;
        for (task, tt) in &t.tasks {
            if tt.prompts.is_empty() {
                return Err(ModelError::bad(
                    path,
                    format!("task {task:?} has no prompt"),
                    "give each task at least one prompt",
                ));
            }
        }
        Ok(t)
    }

    pub fn task(&self, task: Task) -> Result<&TaskTemplates> {
        self.tasks.get(&task).ok_or_else(|| {
            ModelError::Input(
                format!("the templates have no task {task:?}"),
                "add it to the template file".into(),
            )
        })
    }

    /// Every template text, for building a word-level vocabulary.
    pub fn texts(&self) -> Vec<String> {
        self.tasks
            .values()
            .flat_map(|t| t.prompts.iter().cloned().chain([t.response.clone()]))
            .collect()
    }
}

/// What one example is about.
#[derive(Debug, Clone)]
pub struct CellInfo<'a> {
    /// The full sentence's genes, highest expression first.
    pub genes: &'a [&'a str],
    pub cell_type: Option<&'a str>,
    pub organism: &'a str,
}

/// A filled-in template.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub prompt: String,
    pub response: String,
}

fn fill(template: &str, cell: &CellInfo, top_k: usize) -> String {
    let k = cell.genes.len().min(top_k);
    template
        .replace("{num_genes}", &k.to_string())
        .replace("{organism}", cell.organism)
        .replace("{cell_sentence}", &cell.genes[..k].join(" "))
        .replace("{cell_type}", cell.cell_type.unwrap_or(""))
}

/// Fills a randomly drawn template of `task`, keeping the top `top_k` genes.
pub fn make_example(
    templates: &Templates,
    task: Task,
    cell: &CellInfo,
    top_k: usize,
    rng: &mut impl Rng,
) -> Result<Example> {
    let tt = templates.task(task)?;
    if task.needs_label() && cell.cell_type.is_none() {
        return Err(ModelError::Input(
            format!("{task:?} needs a cell type"),
            "choose a label column when converting".into(),
        ));
    }
    let prompt = tt.prompts.choose(rng).expect("checked non-empty");
    Ok(Example {
        prompt: fill(prompt, cell, top_k),
        response: fill(&tt.response, cell, top_k),
    })
}

/// Token ids of prompt + response + end token, and which positions the loss
/// counts: only the response and the end token (REFERENCE.md section 4).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedExample {
    pub ids: Vec<u32>,
    /// Index of the first response token.
    pub response_start: usize,
}

impl EncodedExample {
    /// Next-token targets for positions `0..len-1`, `None` where masked.
    pub(crate) fn targets(&self) -> Vec<Option<u32>> {
        (0..self.ids.len().saturating_sub(1))
            .map(|i| (i + 1 >= self.response_start).then_some(self.ids[i + 1]))
            .collect()
    }
}

pub fn encode_example(
    tok: &Tokenizer,
    ex: &Example,
    eos: u32,
    max_len: usize,
) -> Result<EncodedExample> {
    let mut ids = encode(tok, &ex.prompt)?;
    let response_start = ids.len();
    if response_start >= max_len {
        return Err(ModelError::Input(
            format!("the prompt is {response_start} tokens, longer than the model's context of {max_len}"),
            "use fewer genes per cell (top k) or a model with a longer context".into(),
        ));
    }
    // A leading space keeps byte-level BPE tokens as they appear mid-text.
    ids.extend(encode(tok, &format!(" {}", ex.response))?);
    ids.push(eos);
    ids.truncate(max_len);
    Ok(EncodedExample {
        ids,
        response_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn templates_fill_and_mask_the_prompt() {
        let t = Templates::default_set();
        let genes = ["MALAT1", "B2M", "CD74", "HLA-DRA"];
        let cell = CellInfo {
            genes: &genes,
            cell_type: Some("B cell"),
            organism: "Homo sapiens",
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let ex = make_example(&t, Task::CellTypePrediction, &cell, 3, &mut rng).unwrap();
        assert!(
            ex.prompt.contains("list of 3 gene names")
                && ex.prompt.contains("Cell sentence: MALAT1 B2M CD74.\n")
        );
        assert_eq!(ex.response, "B cell.");
        let g = make_example(&t, Task::CellTypeGeneration, &cell, 10, &mut rng).unwrap();
        assert!(g.prompt.contains("cell type B cell."));
        assert_eq!(g.response, "MALAT1 B2M CD74 HLA-DRA.");
        let none = CellInfo {
            cell_type: None,
            ..cell
        };
        assert!(make_example(&t, Task::CellTypePrediction, &none, 3, &mut rng).is_err());

        let tok = crate::tokenizer::gene_tokenizer(
            &genes.map(String::from),
            &[t.texts(), vec!["B cell".into()]].concat(),
        )
        .unwrap();
        let enc = encode_example(&tok, &ex, 0, 1000).unwrap();
        let targets = enc.targets();
        // Only the response ("B", "cell", ".") and the end token are learned.
        let learned: Vec<u32> = targets.iter().flatten().copied().collect();
        assert_eq!(learned.len(), 4);
        assert_eq!(*learned.last().unwrap(), 0);
        assert!(encode_example(&tok, &ex, 0, 5).is_err());
    }
}
