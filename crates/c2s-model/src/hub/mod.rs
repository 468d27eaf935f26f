//! Where models come from: the catalogue of published C2S models shipped with
//! C2S Studio, the store over the Hugging Face cache (what is there, accepted
//! licences, which folder a task loads), downloads into it, and model folders
//! described before use.

pub mod catalogue;
pub mod download;
pub mod folder;
pub mod store;

pub use catalogue::{catalogue, CatalogueEntry, Licence};
pub use download::DownloadProgress;
pub use folder::{describe_folder, FolderModel};
pub use store::{LocalStatus, ModelListing, ModelStore};
