//! The published C2S models C2S Studio offers, read from the list shipped with
//! it (`catalogue/published-models.json`): what each model is, what it can be
//! asked, what it costs to download and hold, and its licence.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::models::config::Family;
use crate::tasks::published_prompts::PublishedTask;

/// A licence as the catalogue records it. `id` is an SPDX identifier, or
/// `None` where the model card did not state one when the list was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    pub id: Option<String>,
    /// Where to read it in full.
    pub url: String,
    /// What it means for the user, in a sentence.
    pub note: String,
}

impl Licence {
    /// What an acceptance is recorded against: a change of licence asks again.
    pub(crate) fn key(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("model card {}", self.url))
    }

    /// The licence's name for a screen.
    pub fn name(&self) -> &str {
        self.id.as_deref().unwrap_or("see the model card")
    }
}

/// One published model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    /// Hugging Face Hub id (`owner/name`).
    pub id: String,
    pub name: String,
    pub family: Family,
    pub parameters: u64,
    /// `f32` or `bf16`; `None` where not known (sizes then assume f32).
    pub stored_dtype: Option<String>,
    pub tasks: Vec<PublishedTask>,
    /// Genes a cell sentence held in training.
    pub genes_per_cell: usize,
    pub summary: String,
    pub licence: Licence,
}

impl CatalogueEntry {
    /// Bytes to download: the weights in their stored number type (an upper
    /// bound when that is not known).
    pub fn download_bytes(&self) -> u64 {
        let per = match self.stored_dtype.as_deref() {
            Some("bf16") | Some("f16") => 2,
            _ => 4,
        };
        self.parameters * per
    }

    /// Whether `download_bytes` is the real size rather than an upper bound.
    pub fn download_size_known(&self) -> bool {
        self.stored_dtype.is_some()
    }

    /// Memory the weights take in bf16 (or f16) and in f32.
    pub(crate) fn memory_bytes(&self) -> (u64, u64) {
        (self.parameters * 2, self.parameters * 4)
    }

    /// The Hub page of the model.
    pub fn url(&self) -> String {
        format!("https://huggingface.co/{}", self.id)
    }

    pub fn can(&self, task: PublishedTask) -> bool {
        self.tasks.contains(&task)
    }
}

#[derive(Deserialize)]
struct CatalogueFile {
    models: Vec<CatalogueEntry>,
}

/// Every published model C2S Studio knows, in the shipped order.
pub fn catalogue() -> &'static [CatalogueEntry] {
    static CATALOGUE: OnceLock<Vec<CatalogueEntry>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let file: CatalogueFile =
            serde_json::from_str(include_str!("../../catalogue/published-models.json"))
                .expect("the shipped catalogue parses (tested)");
        file.models
    })
}

/// The entry of a Hub id, or of its name without the owner, any case.
pub fn find(id: &str) -> Option<&'static CatalogueEntry> {
    let id = id.trim();
    catalogue().iter().find(|e| {
        e.id.eq_ignore_ascii_case(id)
            || e.id
                .rsplit('/')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_is_complete() {
        let all = catalogue();
        assert!(all.len() >= 7);
        for e in all {
            assert!(e.id.starts_with("vandijklab/"), "{}", e.id);
            assert!(
                matches!(e.family, Family::GptNeox | Family::Gemma2),
                "{}",
                e.id
            );
            assert!(
                !e.tasks.is_empty() && e.parameters > 100_000_000,
                "{}",
                e.id
            );
            assert!(e.licence.url.starts_with("https://"), "{}", e.id);
            assert!(!e.summary.is_empty() && !e.licence.note.is_empty());
            assert_eq!(find(&e.id).map(|f| &f.id), Some(&e.id));
        }
        let ids: std::collections::HashSet<_> = all.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), all.len(), "duplicate ids");
    }

    #[test]
    fn sizes_and_lookup() {
        let e = find("c2s-pythia-410m-cell-type-conditioned-cell-generation").unwrap();
        assert_eq!(e.family, Family::GptNeox);
        assert_eq!(e.download_bytes(), 405_334_016 * 4);
        assert!(e.download_size_known());
        assert_eq!(e.memory_bytes(), (810_668_032, 1_621_336_064));
        assert_eq!(e.licence.key(), "CC-BY-NC-ND-4.0");
        assert!(find("no-such-model").is_none());
        let unknown = find("vandijklab/C2S-Scale-Gemma-2-2B").unwrap();
        assert!(!unknown.download_size_known());
        assert!(unknown.licence.key().contains("huggingface.co"));
        assert!(unknown.can(PublishedTask::NaturalLanguageInterpretation));
    }
}
