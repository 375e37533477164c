//! [`MemoryCatalog`]: the host's inventory kept in memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::catalog::{Catalog, CatalogError, CatalogPage};
use crate::ids::{Label, Sku};
use crate::listing::InventoryItem;

/// A catalog kept in memory, for tests and examples.
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    items: Mutex<BTreeMap<Sku, InventoryItem>>,
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
}
