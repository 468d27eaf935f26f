//! Where models come from: the catalogue of published C2S models shipped with
//! C2S Studio, and the store that downloads them into the Hugging Face cache
//! and keeps the licences the user accepted.

pub mod catalogue;
pub mod store;

pub use catalogue::{catalogue, CatalogueEntry, Licence};
pub use store::{
    describe_folder, DownloadProgress, FolderModel, LocalStatus, ModelListing, ModelStore,
};
