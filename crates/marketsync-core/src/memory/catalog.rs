//! [`MemoryCatalog`]: the host's inventory kept in memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::catalog::{Catalog, CatalogError, CatalogPage};
use crate::ids::{Label, Sku};
use crate::listing::InventoryItem;
use crate::store::StockEvent;

/// A catalog kept in memory, for tests and examples.
///
/// Its [`Catalog::orders_imported`] decrements each sold SKU's quantity (never below 0) and
/// increments its [`InventoryItem::stock_version`] (from 1 when it had none), applying each
/// event once: an event whose `seq` was applied before is ignored. Every call is kept
/// ([`MemoryCatalog::stock_events_seen`]), and calls can be made to fail
/// ([`MemoryCatalog::fail_orders_imported`]).
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    items: Mutex<BTreeMap<Sku, InventoryItem>>,
    stock: Mutex<StockHook>,
}

/// What [`Catalog::orders_imported`] saw and applied.
#[derive(Debug, Default)]
struct StockHook {
    /// Every event of every successful call, in the order received (repeats included).
    seen: Vec<StockEvent>,
    /// The `seq`s applied.
    applied: std::collections::BTreeSet<u64>,
    /// How many of the next calls fail.
    failures: usize,
}

impl MemoryCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Sku, InventoryItem>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces an item.
    pub fn upsert(&self, item: InventoryItem) {
        self.lock().insert(item.sku.clone(), item);
    }

    /// Removes an item.
    pub fn remove(&self, sku: &Sku) -> Option<InventoryItem> {
        self.lock().remove(sku)
    }

    /// Makes the next `calls` calls of [`Catalog::orders_imported`] fail (with nothing applied),
    /// as a host whose stock system is down.
    pub fn fail_orders_imported(&self, calls: usize) {
        lock(&self.stock).failures = calls;
    }

    /// Every event [`Catalog::orders_imported`] accepted, in the order received, repeats
    /// included (a repeat is received but not applied twice).
    pub fn stock_events_seen(&self) -> Vec<StockEvent> {
        lock(&self.stock).seen.clone()
    }

    /// One item, if any.
    pub fn item(&self, sku: &Sku) -> Option<InventoryItem> {
        self.lock().get(sku).cloned()
    }

    /// Changes an item in place; false if there is none.
    pub fn update(&self, sku: &Sku, f: impl FnOnce(&mut InventoryItem)) -> bool {
        match self.lock().get_mut(sku) {
            Some(item) => {
                f(item);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn items_with_label(
        &self,
        label: &Label,
        page: Option<&str>,
        page_size: usize,
    ) -> Result<CatalogPage, CatalogError> {
        let items = self.lock();
        let mut out = Vec::new();
        let mut next = None;
        let iter = items
            .iter()
            .filter(|(sku, _)| page.is_none_or(|after| sku.as_str() > after))
            .filter(|(_, i)| i.has_label(label));
        for (sku, item) in iter {
            if out.len() == page_size.max(1) {
                next = out
                    .last()
                    .map(|i: &InventoryItem| i.sku.as_str().to_owned());
                let _ = sku;
                break;
            }
            out.push(item.clone());
        }
        Ok(CatalogPage { items: out, next })
    }

    async fn items_by_sku(&self, skus: &[Sku]) -> Result<Vec<InventoryItem>, CatalogError> {
        let items = self.lock();
        Ok(skus.iter().filter_map(|s| items.get(s).cloned()).collect())
    }

    async fn orders_imported(&self, events: &[StockEvent]) -> Result<(), CatalogError> {
        let mut hook = lock(&self.stock);
        if hook.failures > 0 {
            hook.failures -= 1;
            return Err(CatalogError {
                message: "the stock system is unavailable".to_owned(),
            });
        }
        let mut items = self.lock();
        for event in events {
            hook.seen.push(event.clone());
            if !hook.applied.insert(event.seq) {
                continue;
            }
            for line in &event.lines {
                if let Some(item) = items.get_mut(&line.sku) {
                    item.quantity = item.quantity.saturating_sub(line.quantity);
                    item.stock_version = Some(item.stock_version.map_or(1, |v| v + 1));
                }
            }
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
