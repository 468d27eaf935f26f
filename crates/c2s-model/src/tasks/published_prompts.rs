//! The prompts the published C2S models were trained on (cell2sentence 1.2.0,
//! REFERENCE.md section 8), built byte for byte as the reference builds them,
//! and tokenised as its training did: prompt and response tokenised apart
//! and joined by ids, so the response's first word carries no leading space.
//! The published models answer only these formats.

use std::collections::HashMap;

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};

/// What a published model can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishedTask {
    /// One cell's sentence -> its cell type.
    CellTypePrediction,
    /// A cell type -> a cell sentence.
    CellTypeGeneration,
    /// Several cells' sentences -> their tissue.
    TissuePrediction,
    /// A tissue -> several cells' sentences.
    TissueGeneration,
    /// Several cells' sentences -> an English summary.
    NaturalLanguageInterpretation,
}

impl PublishedTask {
    pub const ALL: [PublishedTask; 5] = [
        PublishedTask::CellTypePrediction,
        PublishedTask::CellTypeGeneration,
        PublishedTask::TissuePrediction,
        PublishedTask::TissueGeneration,
        PublishedTask::NaturalLanguageInterpretation,
    ];

    /// The reference's prompt file for the task (shipped verbatim).
    fn file(self) -> &'static str {
        match self {
            PublishedTask::CellTypePrediction => include_str!(
                "../../prompts/cell2sentence-1.2.0/single_cell_cell_type_prediction_prompts.json"
            ),
            PublishedTask::CellTypeGeneration => include_str!(
                "../../prompts/cell2sentence-1.2.0/single_cell_cell_type_conditional_generation_prompts.json"
            ),
            PublishedTask::TissuePrediction => include_str!(
                "../../prompts/cell2sentence-1.2.0/multi_cell_tissue_prediction_prompts.json"
            ),
            PublishedTask::TissueGeneration => include_str!(
                "../../prompts/cell2sentence-1.2.0/multi_cell_tissue_conditional_generation.json"
            ),
            PublishedTask::NaturalLanguageInterpretation => include_str!(
                "../../prompts/cell2sentence-1.2.0/multi_cell_natural_lang_interpretation_prompts.json"
            ),
        }
    }

    /// Whether the prompt holds several cells.
    pub fn multi_cell(self) -> bool {
        !matches!(
            self,
            PublishedTask::CellTypePrediction | PublishedTask::CellTypeGeneration
        )
    }
}

/// A task's templates: the paraphrases of the input, and the one response.
#[derive(Debug, Clone, Deserialize)]
pub struct PromptSet {
    pub model_input: Vec<String>,
    pub response: Vec<String>,
}

impl PromptSet {
    /// The task's set, parsed once per process (prompts are built per cell).
    pub fn of(task: PublishedTask) -> &'static PromptSet {
        static SETS: std::sync::OnceLock<Vec<PromptSet>> = std::sync::OnceLock::new();
        let sets = SETS.get_or_init(|| {
            PublishedTask::ALL
                .iter()
                .map(|t| serde_json::from_str(t.file()).expect("the shipped prompt sets parse"))
                .collect()
        });
        let i = PublishedTask::ALL
            .iter()
            .position(|t| *t == task)
            .expect("every task is in ALL");
        &sets[i]
    }
}

/// The organism as the prompts name it, from the dataset's species.
pub(crate) fn organism_name(species: &str) -> &'static str {
    let s = species.to_ascii_lowercase();
    if s.contains("mouse") || s.contains("mus") {
        "Mus musculus"
    } else {
        "Homo sapiens"
    }
}

/// The organism a converted dataset's cells come from, as the prompts name
/// it: from the species its manifest records, else Homo sapiens.
pub fn dataset_organism(dir: &std::path::Path) -> &'static str {
    organism_name(&c2s_data::manifest::read_species(dir).unwrap_or_default())
}

/// What a prompt is about. Cells are their genes, highest expression first.
#[derive(Debug, Clone, Default)]
pub struct PromptInput<'a> {
    /// Genes per cell in the prompt (`{num_genes}`, as the reference
    /// writes it: the number asked for, even where a cell has fewer).
    pub num_genes: usize,
    pub organism: &'a str,
    /// One cell for the single-cell tasks, the group for the others.
    pub cells: Vec<Vec<&'a str>>,
    /// `{num_cells}` when no cells are given (generating a group).
    pub num_cells: Option<usize>,
    pub cell_type: Option<&'a str>,
    pub tissue: Option<&'a str>,
    pub summary: Option<&'a str>,
}

/// A filled-in prompt and response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPrompt {
    pub prompt: String,
    pub response: String,
}

/// The reference's multi-cell layout: for each cell i, "Cell i:\n", its first
/// `num_genes` genes joined by spaces, then ".\n".
pub(crate) fn multi_cell_sentences(cells: &[Vec<&str>], num_genes: usize) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        out.push_str(&format!("Cell {}:\n", i + 1));
        out.push_str(&c[..c.len().min(num_genes)].join(" "));
        out.push_str(".\n");
    }
    out
}

/// Python's `str.format` for templates of plain `{name}` fields (and `{{`,
/// `}}`), which is all the prompt files use; a field not given is an error.
fn format(template: &str, fields: &HashMap<&str, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let close = tail.find('}').filter(|_| tail.starts_with('{'));
        let Some(close) = close else {
            return Err(template_error(template, "an unmatched brace"));
        };
        let name = &tail[1..close];
        let value = fields
            .get(name)
            .ok_or_else(|| template_error(template, &format!("no value for {{{name}}}")))?;
        out.push_str(value);
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn template_error(template: &str, problem: &str) -> ModelError {
    ModelError::Input(
        format!("prompt template `{template}`: {problem}"),
        "this task needs that field (a cell type, tissue or summary)".into(),
    )
}

/// Fills template `index` of the task's paraphrases (0 is the one
/// REFERENCE.md quotes) and the response.
pub fn build_prompt(
    task: PublishedTask,
    index: usize,
    input: &PromptInput,
) -> Result<PublishedPrompt> {
    if input.num_genes == 0 {
        // The prompt would name "0 gene names" and hold no cell.
        return Err(ModelError::Input(
            "0 genes per cell in the prompt".into(),
            "use at least 1 (leave it out for the models' own default)".into(),
        ));
    }
    let set = PromptSet::of(task);
    let template = set.model_input.get(index).ok_or_else(|| {
        ModelError::Input(
            format!(
                "the task has {} prompt templates, not {}",
                set.model_input.len(),
                index + 1
            ),
            "pick a template from 0".into(),
        )
    })?;
    let mut fields: HashMap<&str, String> = HashMap::new();
    fields.insert("num_genes", input.num_genes.to_string());
    fields.insert("organism", input.organism.to_string());
    if task.multi_cell() {
        fields.insert(
            "num_cells",
            input.num_cells.unwrap_or(input.cells.len()).to_string(),
        );
        fields.insert(
            "multi_cell_sentences",
            multi_cell_sentences(&input.cells, input.num_genes),
        );
    } else if let Some(c) = input.cells.first() {
        fields.insert("cell_sentence", c[..c.len().min(input.num_genes)].join(" "));
    }
    for (k, v) in [
        ("cell_type", input.cell_type),
        ("tissue", input.tissue),
        ("abstract", input.summary),
    ] {
        if let Some(v) = v {
            fields.insert(k, v.to_string());
        }
    }
    Ok(PublishedPrompt {
        prompt: format(template, &fields)?,
        // The response is filled only when its field is known (training).
        response: format(&set.response[0], &fields).unwrap_or_default(),
    })
}

/// `build_prompt` with a template drawn at random, as the reference draws
/// one per example (training on the models' paraphrases).
pub(crate) fn draw_prompt(
    task: PublishedTask,
    input: &PromptInput,
    rng: &mut impl Rng,
) -> Result<PublishedPrompt> {
    let n = PromptSet::of(task).model_input.len();
    let index = *(0..n).collect::<Vec<_>>().choose(rng).expect("templates");
    build_prompt(task, index, input)
}

/// Token ids as the published models were trained (cell2sentence 1.2.0
/// `tokenize_loss_on_response`): the prompt with the tokenizer's special
/// tokens (Gemma's `<bos>`; GPT-NeoX adds none), then each response tokenised
/// on its own, without special tokens, then the end-of-text id.
pub struct PublishedTokens<'a> {
    pub tok: &'a Tokenizer,
    pub eos: u32,
}

impl PublishedTokens<'_> {
    pub fn prompt(&self, text: &str) -> Result<Vec<u32>> {
        self.encode(text, true)
    }

    /// A response's ids (a label such as "B cell."), end id appended.
    pub fn response(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(text, false)?;
        ids.push(self.eos);
        Ok(ids)
    }

    fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        self.tok
            .encode(text, special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| {
                ModelError::Input(format!("cannot tokenize: {e}"), "check the text".into())
            })
    }
}

/// A training example in the published format: prompt and response
/// tokenised apart and joined, end id appended; the loss counts from the
/// response on. The task is drawn from `tasks` (cell-type prediction or
/// generation), the template at random.
pub(crate) fn published_example(
    tok: &PublishedTokens,
    task: crate::prompts::Task,
    cell: &crate::prompts::CellInfo,
    top_k: usize,
    max_len: usize,
    rng: &mut impl Rng,
) -> Result<crate::prompts::EncodedExample> {
    let task = match task {
        crate::prompts::Task::CellTypePrediction => PublishedTask::CellTypePrediction,
        crate::prompts::Task::CellTypeGeneration => PublishedTask::CellTypeGeneration,
        crate::prompts::Task::UnconditionalGeneration => {
            return Err(ModelError::Input(
                "the published prompt sets have no unconditional generation".into(),
                "train the published model on cell-type prediction and generation".into(),
            ))
        }
    };
    let genes: Vec<&str> = cell.genes.iter().take(top_k).copied().collect();
    let input = PromptInput {
        num_genes: top_k,
        organism: cell.organism,
        cells: vec![genes],
        cell_type: cell.cell_type,
        ..Default::default()
    };
    let p = draw_prompt(task, &input, rng)?;
    let mut ids = tok.prompt(&p.prompt)?;
    let response_start = ids.len();
    if response_start >= max_len {
        return Err(ModelError::Input(
            format!("the prompt is {response_start} tokens, longer than the model's context of {max_len}"),
            "use fewer genes per cell (top k)".into(),
        ));
    }
    ids.extend(tok.response(&p.response)?);
    ids.truncate(max_len);
    Ok(crate::prompts::EncodedExample {
        ids,
        response_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organism_comes_from_the_dataset_manifest() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(dataset_organism(dir.path()), "Homo sapiens", "no manifest");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/wu2020-tcells-200.h5ad");
        let ds = dir.path().join("ds");
        let never = std::sync::atomic::AtomicBool::new(false);
        let job = c2s_data::Job {
            progress: &|_| {},
            cancel: &never,
        };
        c2s_data::convert(&src, &ds, &Default::default(), &job).unwrap();
        assert_eq!(dataset_organism(&ds), "Homo sapiens");
        let manifest = ds.join(c2s_data::dataset::MANIFEST_JSON);
        let with_species = |species: &str| {
            let text = std::fs::read_to_string(&manifest).unwrap();
            let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            doc["summary"]["species"] = species.into();
            std::fs::write(&manifest, doc.to_string()).unwrap();
        };
        with_species("mouse");
        assert_eq!(dataset_organism(&ds), "Mus musculus");
        with_species("unknown");
        assert_eq!(dataset_organism(&ds), "Homo sapiens");
    }

    /// The first template of each set, as REFERENCE.md section 8 quotes it.
    #[test]
    fn prompts_are_the_references_byte_for_byte() {
        let a = ["MALAT1", "B2M", "TMSB4X"];
        let b = ["CD74", "HLA-DRA", "MS4A1"];
        let one = PromptInput {
            num_genes: 2,
            organism: "Homo sapiens",
            cells: vec![a.to_vec()],
            cell_type: Some("B cell"),
            ..Default::default()
        };
        let p = build_prompt(PublishedTask::CellTypePrediction, 0, &one).unwrap();
        assert_eq!(
            p.prompt,
            "The following is a list of 2 gene names ordered by descending expression level in a Homo sapiens cell. Your task is to give the cell type which this cell belongs to based on its gene expression.\nCell sentence: MALAT1 B2M.\nThe cell type corresponding to these genes is:"
        );
        assert_eq!(p.response, "B cell.");
        let g = build_prompt(PublishedTask::CellTypeGeneration, 0, &one).unwrap();
        assert_eq!(
            g.prompt,
            "Generate a list of 2 genes in order of descending expression which represent a Homo sapiens cell of cell type B cell.\nCell sentence:"
        );
        assert_eq!(g.response, "MALAT1 B2M.");
        let group = PromptInput {
            num_genes: 2,
            organism: "Mus musculus",
            cells: vec![a.to_vec(), b.to_vec()],
            tissue: Some("lung"),
            summary: Some("Immune cells of the lung"),
            ..Default::default()
        };
        let cells = "Cell 1:\nMALAT1 B2M.\nCell 2:\nCD74 HLA-DRA.\n";
        let t = build_prompt(PublishedTask::TissuePrediction, 0, &group).unwrap();
        assert_eq!(
            t.prompt,
            format!("The following is a list of 2 gene names ordered by descending expression level for 2 different Mus musculus cells. Your task is to give the tissue which these cells belong to based on their gene expression.\nCell sentences:\n{cells}.\nThe tissue which these cells belong to is:")
        );
        assert_eq!(t.response, "lung.");
        let tg = build_prompt(PublishedTask::TissueGeneration, 0, &group).unwrap();
        assert_eq!(
            tg.prompt,
            "Generate a list of 2 genes in order of descending expression for 2 different Mus musculus cells from a lung tissue.\nCell sentences:\n"
        );
        assert_eq!(tg.response, format!("{cells}."));
        // Generating a group: the number of cells asked for, no cells given.
        let asked = PromptInput {
            cells: Vec::new(),
            num_cells: Some(5),
            ..group.clone()
        };
        let tg5 = build_prompt(PublishedTask::TissueGeneration, 0, &asked).unwrap();
        assert!(
            tg5.prompt.contains("for 5 different Mus musculus cells"),
            "{}",
            tg5.prompt
        );
        let s = build_prompt(PublishedTask::NaturalLanguageInterpretation, 0, &group).unwrap();
        assert_eq!(
            s.prompt,
            format!("The following is a list of 2 gene names ordered by descending expression level for 2 different Mus musculus cells. Your task is to produce an abstract summary summarizing the biological information contained in these cells.\n{cells}.\nAbstract summary:")
        );
        assert_eq!(s.response, "Immune cells of the lung.");
        let none = PromptInput {
            num_genes: 0,
            ..one.clone()
        };
        let e = build_prompt(PublishedTask::CellTypePrediction, 0, &none).unwrap_err();
        assert!(e.to_string().contains("0 genes per cell"), "{e}");
        // Every paraphrase fills; a missing field is an error, not a blank.
        for task in PublishedTask::ALL {
            for i in 0..PromptSet::of(task).model_input.len() {
                build_prompt(task, i, &one)
                    .or_else(|_| build_prompt(task, i, &group))
                    .unwrap();
            }
        }
        let no_type = PromptInput {
            cell_type: None,
            ..one
        };
        assert!(build_prompt(PublishedTask::CellTypeGeneration, 0, &no_type).is_err());
        assert!(build_prompt(PublishedTask::CellTypePrediction, 99, &no_type).is_err());
    }

    #[test]
    fn formatting_handles_braces_as_python_does() {
        let fields = HashMap::from([("a", "1".to_string())]);
        assert_eq!(format("x{a}y{{z}}", &fields).unwrap(), "x1y{z}");
        assert!(format("x{b}", &fields).is_err());
        assert!(format("x{a", &fields).is_err());
        assert_eq!(organism_name("mouse"), "Mus musculus");
        assert_eq!(organism_name("human"), "Homo sapiens");
    }
}
