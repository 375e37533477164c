//! The host's inventory, as the engine reads it.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::ids::{Label, Sku};
use crate::listing::InventoryItem;

/// A failure reading the host's catalog.
#[derive(Debug, thiserror::Error)]
#[error("catalog: {message}")]
pub struct CatalogError {
    /// What failed.
    pub message: String,
}

/// One page of catalog items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogPage {
    /// The items.
    pub items: Vec<InventoryItem>,
    /// Where the next page starts, if any.
    pub next: Option<String>,
}

/// The host's inventory. The engine reads items with a label in pages, and looks SKUs up.
#[async_trait]
pub trait Catalog: Send + Sync + Debug {
    /// One page of the items carrying `label`, starting at `page` (`None` for the first).
    async fn items_with_label(
        &self,
        label: &Label,
        page: Option<&str>,
        page_size: usize,
    ) -> Result<CatalogPage, CatalogError>;

    /// The items with these SKUs (missing SKUs are simply absent from the result).
    async fn items_by_sku(&self, skus: &[Sku]) -> Result<Vec<InventoryItem>, CatalogError>;
}
