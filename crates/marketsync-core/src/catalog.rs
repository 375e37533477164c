//! The host's inventory, as the engine reads it.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::ids::{Label, Sku};
use crate::listing::InventoryItem;
use crate::store::StockEvent;

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

    /// Orders were imported: the host reserves or decrements its stock for their lines.
    ///
    /// The engine calls it from [`Engine::propagate_stock`](crate::Engine::propagate_stock)
    /// with the journalled orders ([`StockEvent`]) in journal order (increasing `seq` within one
    /// call), every imported order once, across all integrations and processes (one process
    /// hands events over at a time). Across calls a `seq` may be lower than one already handed
    /// over: with concurrent writers (several workers on PostgreSQL) an event can commit after
    /// one written later. An event is marked handed over only after this returns `Ok`; on
    /// `Err` nothing of the call is marked, the engine stops there and calls again with the
    /// same events later (never skipping one). A crash after this returned but before the
    /// engine marked the events hands them over again: a host that must not count an order
    /// twice records which events it applied (their `seq`s, or the integration and channel
    /// order id, in its own transaction) and ignores those — never "everything at or below the
    /// highest `seq` applied", which would drop an event that committed late.
    ///
    /// After the call the engine reads the SKUs' items ([`Catalog::items_by_sku`]) to send the
    /// new quantities to the other channels; a host that versions its stock sets
    /// [`InventoryItem::stock_version`] so no channel is ever sent an older quantity.
    ///
    /// The default does nothing: a host that does not implement it keeps its stock as before
    /// (the engine still sends the SKUs' current quantities to the other channels).
    async fn orders_imported(&self, events: &[StockEvent]) -> Result<(), CatalogError> {
        let _ = events;
        Ok(())
    }
}
