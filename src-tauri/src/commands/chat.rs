//! Chat: generated cells, a cell's type, free text, marker genes, and the
//! conversation kept per project.

use super::*;

#[derive(Debug, Clone, Deserialize)]
pub struct FreeTextForm {
    pub prompt: String,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<usize>,
}

/// Free text for models that keep language (fine-tuned GPT-2): the prompt
/// goes to the model as it is and the continuation streams to `chat-text`.
// async: the model loads off the window's thread.
#[tauri::command(async)]
pub fn start_free_text(
    model_dir: String,
    form: FreeTextForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let prompt = c2s_model::tokenizer::encode(&model.tok, &form.prompt).map_err(text)?;
    let ctx_len = model.loaded.model.context_len();
    let max_new = form
        .max_tokens
        .unwrap_or(128)
        .min(ctx_len.saturating_sub(prompt.len()));
    if prompt.is_empty() || max_new == 0 {
        return Err(format!(
            "the text is {} tokens; this model reads at most {ctx_len}",
            prompt.len()
        ));
    }
    let d = c2s_model::generate::Sampling::default();
    let s = c2s_model::generate::Sampling {
        temperature: form.temperature.unwrap_or(d.temperature),
        top_k: Some(form.top_k.unwrap_or(50)),
        top_p: Some(form.top_p.unwrap_or(0.95)),
        max_new,
        ..d
    };
    Ok(state.jobs.spawn(&app, "free-text", move |ctx| {
        let mut ids = Vec::new();
        let ids_out = c2s_model::generate::sample_while(
            &model.loaded.model,
            &prompt,
            model.eos,
            &s,
            None,
            &mut |t| {
                ids.push(t);
                ctx.emit(
                    "chat-text",
                    ChatText {
                        job_id: ctx.id,
                        cell: 0,
                        text: c2s_model::tokenizer::decode_text(&model.tok, &ids),
                    },
                );
                !ctx.cancelled()
            },
        )?;
        let text = c2s_model::tokenizer::decode_text(&model.tok, &ids_out);
        if ctx.cancelled() {
            return Ok(Outcome::Cancelled(json!({"text": text})));
        }
        Ok(Outcome::Ok(json!({"text": text})))
    }))
}

/// The project's chat as the window last saved it (none yet: null).
#[tauri::command(async)]
pub fn chat_history(project_id: i64, state: State<'_, AppState>) -> CmdResult<Option<Value>> {
    project_of(&state, project_id)?;
    state.store.lock_anyway().chat(project_id).map_err(text)
}

/// Keeps the project's chat (the window saves it as it changes), so it
/// survives a restart.
#[tauri::command(async)]
pub fn save_chat(project_id: i64, chat: Value, state: State<'_, AppState>) -> CmdResult<()> {
    project_of(&state, project_id)?;
    state
        .store
        .lock_anyway()
        .save_chat(project_id, &chat)
        .map_err(text)
}

#[derive(Serialize)]
pub struct ModelInfo {
    pub labels: Vec<String>,
    pub label_column: String,
    pub genes: usize,
    pub device: String,
    /// How the weights are kept and computed with, for a tooltip.
    pub precision: String,
    pub word_level: bool,
    /// Whether the model takes guidance (it learned cells of no given type).
    pub guidance: bool,
}

#[tauri::command(async)]
pub fn model_info(model_dir: String, state: State<'_, AppState>) -> CmdResult<ModelInfo> {
    let m = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    Ok(ModelInfo {
        labels: m.card.labels.clone(),
        label_column: m.card.label_column.clone(),
        genes: m.card.genes.len(),
        device: m.device_name.clone(),
        precision: m.precision.clone(),
        word_level: c2s_model::tokenizer::is_word_level(&m.tok),
        guidance: m.card.learned_unconditional
            && m.card.prompt_style == c2s_model::prompts::PromptStyle::Studio,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct GenerateForm {
    pub cell_type: Option<String>,
    pub n: usize,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    #[serde(default)]
    pub free: bool,
    pub seed: Option<u64>,
    /// How typical of the type (classifier-free guidance); the engine's
    /// default when absent.
    pub guidance: Option<f64>,
}

/// The engine's sampling settings for new cells, which the chat starts from.
#[derive(Serialize)]
pub struct GenerationDefaults {
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub guidance: f64,
}

#[tauri::command]
pub fn generation_defaults() -> GenerationDefaults {
    let d = GenerateRequest::default();
    GenerationDefaults {
        temperature: d.temperature,
        top_k: d.top_k,
        top_p: d.top_p,
        guidance: c2s_model::cells::DEFAULT_GUIDANCE,
    }
}

#[derive(Clone, Serialize)]
struct ChatText {
    job_id: u64,
    cell: usize,
    text: String,
}

/// Generates cells in the chat: words stream to `chat-text` events, one cell
/// at a time; the cells are saved in the project for Compare.
// async: the model loads off the window's thread.
#[tauri::command(async)]
pub fn start_generate(
    project_id: i64,
    model_dir: String,
    form: GenerateForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    project_of(&state, project_id)?;
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    if form.n == 0 || form.n > 1000 {
        return Err("ask for between 1 and 1,000 cells".into());
    }
    let d = GenerateRequest::default();
    let req = GenerateRequest {
        types: vec![form.cell_type.clone().filter(|t| !t.is_empty())],
        per_type: form.n,
        temperature: form.temperature.unwrap_or(d.temperature),
        top_k: form.top_k.unwrap_or(d.top_k),
        top_p: form.top_p.unwrap_or(d.top_p),
        free: form.free,
        stop: Vec::new(),
        batch_size: 1,
        seed: form.seed.unwrap_or(d.seed),
        guidance: form.guidance,
    };
    c2s_model::cells::guidance_for(&model.card, req.guidance).map_err(text)?;
    Ok(state.jobs.spawn(&app, "generate", move |ctx| {
        let mut on_text = |cell: usize, t: &str| {
            ctx.emit(
                "chat-text",
                ChatText {
                    job_id: ctx.id,
                    cell,
                    text: t.to_string(),
                },
            )
        };
        let g = generate_cells(
            &model,
            &req,
            &mut on_text,
            &|done, total| ctx.progress("generating", done as u64, total as u64, Value::Null),
            &ctx.cancel,
        );
        let g = match g {
            Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        Ok(Outcome::Ok(generated_result(&g, &model.card.genes)))
    }))
}

/// Marker genes of each type of the dataset's label `column`: the chat marks
/// them in generated cells of that type.
#[tauri::command(async)]
pub fn marker_genes(
    project_id: i64,
    dataset_id: i64,
    column: String,
    state: State<'_, AppState>,
) -> CmdResult<std::collections::BTreeMap<String, Vec<c2s_data::markers::Marker>>> {
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let records = c2s_data::dataset::read_dataset(&ds).map_err(text)?;
    Ok(c2s_data::markers::marker_genes(
        &records,
        &column,
        &c2s_data::markers::MarkerOptions::default(),
    ))
}

/// Generated cells as the chat shows them: each word marked as one of the
/// `known` genes or not, with the shares of valid and unique genes.
pub(crate) fn generated_result(g: &c2s_model::cells::GeneratedCells, known: &[String]) -> Value {
    let known: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
    let cells: Vec<Value> = g
        .cells
        .iter()
        .map(|c| {
            let words: Vec<Value> = c
                .cell_sentence
                .split_whitespace()
                .map(|w| json!({"gene": w, "valid": known.contains(w)}))
                .collect();
            json!({"cell_name": c.cell_name, "cell_type": c.cell_type, "cell_sentence": c.cell_sentence, "words": words})
        })
        .collect();
    json!({
        "cells": cells, "valid_share": g.valid_share, "unique_share": g.unique_share,
        "constrained": g.constrained,
    })
}

/// Keeps generated cells for Compare (JSON lines, as `c2s generate` writes).
#[tauri::command]
pub fn add_to_comparison(
    project_id: i64,
    cells: Vec<Value>,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let path = Path::new(&project.folder).join("generated.jsonl");
    let mut lines = std::fs::read_to_string(&path).unwrap_or_default();
    for c in &cells {
        let line = json!({"cell_name": c["cell_name"], "cell_sentence": c["cell_sentence"], "cell_type": c["cell_type"]});
        lines.push_str(&format!("{line}\n"));
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, lines)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(text_io(&path))?;
    let s = state.store.lock_anyway();
    if s.artefacts(project_id, "generated")
        .map_err(text)?
        .is_empty()
    {
        s.add_artefact(project_id, "generated", &path, None)
            .map_err(text)?;
    }
    Ok(path.to_string_lossy().into())
}

/// What the model in `model_dir` calls the cells of the project's dataset
/// named `names` (selected on a map): each type it names, counted over an
/// even spread of at most `GROUP_CALL_CELLS` of them.
#[tauri::command(async)]
pub fn call_selected_cells(
    project_id: i64,
    dataset_id: i64,
    model_dir: String,
    names: Vec<String>,
    state: State<'_, AppState>,
) -> CmdResult<c2s_model::cells::GroupCall> {
    let m = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let records = read_sentences(&dataset_folder(&state, project_id, dataset_id)?).map_err(text)?;
    c2s_model::cells::call_group(
        &m,
        &records,
        &names,
        c2s_model::cells::GROUP_CALL_CELLS,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .map_err(text)
}

/// "What type is this cell?" of a typed or pasted cell: every known type
/// scored by the model, or, when too few words are genes it knows, no cell.
#[tauri::command(async)]
pub fn predict_sentence(
    model_dir: String,
    sentence: String,
    state: State<'_, AppState>,
) -> CmdResult<c2s_model::cells::TypedCell> {
    let m = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    c2s_model::cells::name_typed_cell(&m, &sentence).map_err(text)
}

/// A few real cells of a dataset to ask about in the chat: drawn afresh
/// each time from the held-out test cells (all cells if the dataset has no
/// split), so a model is asked about cells it never learned from; each with
/// its labels and split, so the chat can say what the dataset calls it.
#[tauri::command(async)]
pub fn sample_cells(
    project_id: i64,
    dataset_id: i64,
    n: usize,
    state: State<'_, AppState>,
) -> CmdResult<Vec<Value>> {
    let folder = dataset_folder(&state, project_id, dataset_id)?;
    let records = read_sentences(&folder).map_err(text)?;
    let held_out: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].label("split") == Some(c2s_eval::evaluate::HELD_OUT))
        .collect();
    let pool = if held_out.is_empty() {
        (0..records.len()).collect()
    } else {
        held_out
    };
    let pick = c2s_data::convert::sample_rows(pool.len(), n, rand::random());
    Ok(pick
        .into_iter()
        .map(|k| {
            let r = &records[pool[k]];
            let labels: BTreeMap<&str, Option<&str>> =
                r.labels.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            json!({"cell_name": r.cell_name, "sentence": r.sentence.split(' ').take(100).collect::<Vec<_>>().join(" "), "labels": labels, "split": r.label("split")})
        })
        .collect())
}
