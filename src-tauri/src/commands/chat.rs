//! Chat: generated cells, a cell's type, free text, marker genes, and the
//! conversation kept per project.

use super::*;
use c2s_model::cells::GeneratedCell;

#[derive(Debug, Clone, Deserialize)]
pub struct FreeTextForm {
    pub prompt: String,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<usize>,
}

/// What a model wrote after a text.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FreeText {
    pub text: String,
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
    let (prompt, sampling) = form.request(&model)?;
    Ok(state.jobs.spawn(&app, "free-text", move |ctx| {
        free_text_job(ctx, &model, &prompt, &sampling)
    }))
}

impl FreeTextForm {
    /// The prompt's tokens and the sampling settings (the reference's top-k
    /// and top-p unless the form says otherwise).
    fn request(
        &self,
        model: &TrainedModel,
    ) -> CmdResult<(Vec<u32>, c2s_model::generate::Sampling)> {
        let prompt = c2s_model::tokenizer::encode(&model.tok, &self.prompt).map_err(text)?;
        let ctx_len = model.loaded.model.context_len();
        let max_new = self
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
        let sampling = c2s_model::generate::Sampling {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.or(d.top_k),
            top_p: self.top_p.or(d.top_p),
            max_new,
            ..d
        };
        Ok((prompt, sampling))
    }
}

/// Continues the prompt, streaming the words to `chat-text`.
fn free_text_job(
    ctx: &JobCtx,
    model: &TrainedModel,
    prompt: &[u32],
    sampling: &c2s_model::generate::Sampling,
) -> anyhow::Result<Outcome> {
    let mut ids = Vec::new();
    let mut on_token = |t| {
        ids.push(t);
        let text = c2s_model::tokenizer::decode_text(&model.tok, &ids);
        ctx.emit(
            "chat-text",
            ChatText {
                job_id: ctx.id,
                cell: 0,
                text,
            },
        );
        !ctx.cancelled()
    };
    let ids_out = c2s_model::generate::sample_while(
        &model.loaded.model,
        prompt,
        model.eos,
        sampling,
        None,
        &mut on_token,
    )?;
    let text = FreeText {
        text: c2s_model::tokenizer::decode_text(&model.tok, &ids_out),
    };
    if ctx.cancelled() {
        return Ok(Outcome::Cancelled(Some(JobResult::FreeText(text))));
    }
    Ok(Outcome::Ok(JobResult::FreeText(text)))
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

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[ts(optional_fields = nullable)]
pub struct GenerateForm {
    pub cell_type: Option<String>,
    pub n: usize,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    #[serde(default)]
    pub free: bool,
    #[ts(type = "number | null", optional)]
    pub seed: Option<u64>,
    /// How typical of the type (classifier-free guidance); the engine's
    /// default when absent.
    pub guidance: Option<f64>,
}

/// The engine's sampling settings for new cells, which the chat starts from.
#[derive(Serialize, ts_rs::TS)]
pub struct GenerationDefaults {
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub guidance: f64,
    /// Any token allowed, not only the model's genes once each.
    pub free: bool,
}

#[tauri::command]
pub fn generation_defaults() -> GenerationDefaults {
    let d = GenerateRequest::default();
    GenerationDefaults {
        temperature: d.temperature,
        top_k: d.top_k,
        top_p: d.top_p,
        guidance: c2s_model::cells::DEFAULT_GUIDANCE,
        free: d.free,
    }
}

/// The `chat-text` event: the words of a reply (or of a cell) so far.
#[derive(Clone, Serialize, ts_rs::TS)]
pub struct ChatText {
    #[ts(type = "number")]
    pub job_id: u64,
    pub cell: usize,
    pub text: String,
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
    let req = form.request()?;
    c2s_model::cells::guidance_for(&model.card, req.guidance).map_err(text)?;
    Ok(state
        .jobs
        .spawn(&app, "generate", move |ctx| generate_job(ctx, &model, &req)))
}

impl GenerateForm {
    /// The engine's request, its defaults where the form has no value.
    fn request(&self) -> CmdResult<GenerateRequest> {
        if self.n == 0 || self.n > 1000 {
            return Err("ask for between 1 and 1,000 cells".into());
        }
        let d = GenerateRequest::default();
        Ok(GenerateRequest {
            types: vec![self.cell_type.clone().filter(|t| !t.is_empty())],
            per_type: self.n,
            counts: Vec::new(),
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p: self.top_p.unwrap_or(d.top_p),
            free: self.free,
            stop: Vec::new(),
            batch_size: 1,
            seed: self.seed.unwrap_or(d.seed),
            guidance: self.guidance,
        })
    }
}

/// Writes the cells one at a time, streaming each one's words to `chat-text`.
fn generate_job(
    ctx: &JobCtx,
    model: &TrainedModel,
    req: &GenerateRequest,
) -> anyhow::Result<Outcome> {
    let mut on_text = |cell: usize, t: &str| {
        let text = t.to_string();
        ctx.emit(
            "chat-text",
            ChatText {
                job_id: ctx.id,
                cell,
                text,
            },
        )
    };
    let progress = |done, total| ctx.progress("generating", done as u64, total as u64, None);
    let g = generate_cells(model, req, &mut on_text, &progress, &ctx.cancel);
    let g = match g {
        Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    // Common genes the model was trained without come back in its cells:
    // known too.
    Ok(Outcome::Ok(JobResult::Generate(ChatCells::of(
        &g,
        &model.card.cell_gene_set(),
    ))))
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

/// Generated cells as the chat shows them, with the shares of valid and
/// unique genes.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ChatCells {
    pub cells: Vec<ChatCell>,
    pub valid_share: f64,
    pub unique_share: f64,
    /// Whether generation was limited to known genes.
    pub constrained: bool,
}

/// A generated cell with each word marked as a known gene or not.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ChatCell {
    #[serde(flatten)]
    pub cell: GeneratedCell,
    pub words: Vec<ChatWord>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ChatWord {
    pub gene: String,
    pub valid: bool,
}

impl ChatCells {
    /// Marks each word as one of the `known` genes or not.
    pub(crate) fn of(
        g: &c2s_model::cells::GeneratedCells,
        known: &std::collections::HashSet<&str>,
    ) -> Self {
        let cells = g
            .cells
            .iter()
            .map(|c| ChatCell {
                words: c
                    .cell_sentence
                    .split_whitespace()
                    .map(|w| ChatWord {
                        gene: w.to_string(),
                        valid: known.contains(w),
                    })
                    .collect(),
                cell: c.clone(),
            })
            .collect();
        ChatCells {
            cells,
            valid_share: g.valid_share,
            unique_share: g.unique_share,
            constrained: g.constrained,
        }
    }
}

/// Keeps generated cells for Compare (JSON lines, as `c2s generate` writes).
#[tauri::command]
pub fn add_to_comparison(
    project_id: i64,
    cells: Vec<GeneratedCell>,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let path = Path::new(&project.folder).join("generated.jsonl");
    let mut lines = std::fs::read_to_string(&path).unwrap_or_default();
    lines.push_str(&c2s_model::cells::generated_jsonl(&cells));
    c2s_data::output::write_file(&path, lines.as_bytes(), true).map_err(text)?;
    let s = state.store.lock_anyway();
    s.add_artefact_once(project_id, "generated", &path)
        .map_err(text)?;
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
) -> CmdResult<Vec<SampledCell>> {
    let folder = dataset_folder(&state, project_id, dataset_id)?;
    let records = read_sentences(&folder).map_err(text)?;
    let picked = c2s_eval::evaluate::held_out_sample(&records, n, rand::random());
    Ok(picked.into_iter().map(SampledCell::of).collect())
}

/// A real cell to ask about in the chat: its first 100 genes, what the
/// dataset calls it, and its split.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SampledCell {
    pub cell_name: String,
    pub sentence: String,
    pub labels: BTreeMap<String, Option<String>>,
    pub split: Option<String>,
}

impl SampledCell {
    fn of(r: &c2s_data::dataset::SentenceRecord) -> Self {
        SampledCell {
            cell_name: r.cell_name.clone(),
            sentence: r
                .sentence
                .split(' ')
                .take(100)
                .collect::<Vec<_>>()
                .join(" "),
            labels: r.labels.iter().cloned().collect(),
            split: r.label("split").map(String::from),
        }
    }
}
