//! The host's catalogue as a JSON file: an array of inventory items, read again every time the
//! engine asks, so the host may rewrite it (atomically: write another file, then rename it)
//! while the service runs. A missing file is an empty catalogue.

use std::path::PathBuf;

use async_trait::async_trait;
use marketsync::{Catalog, CatalogError, CatalogPage, InventoryItem, Label, Sku};

/// A catalogue read from a JSON file on every call.
#[derive(Clone, Debug)]
pub struct FileCatalog {
    path: PathBuf,
}

impl FileCatalog {
    /// The catalogue in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Every item in the file, sorted by SKU.
    pub fn read(&self) -> Result<Vec<InventoryItem>, CatalogError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(CatalogError {
                    message: format!("cannot read {}: {e}", self.path.display()),
                });
            }
        };
        let mut items: Vec<InventoryItem> =
            serde_json::from_str(&text).map_err(|e| CatalogError {
                message: format!(
                    "{} is not a JSON array of inventory items: {e}",
                    self.path.display()
                ),
            })?;
        items.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(items)
    }
}

#[async_trait]
impl Catalog for FileCatalog {
    async fn items_with_label(
        &self,
        label: &Label,
        page: Option<&str>,
        page_size: usize,
    ) -> Result<CatalogPage, CatalogError> {
        let mut items: Vec<InventoryItem> = self
            .read()?
            .into_iter()
            .filter(|i| page.is_none_or(|after| i.sku.as_str() > after))
            .filter(|i| i.labels.contains(label))
            .collect();
        let size = page_size.max(1);
        let next = if items.len() > size {
            items.truncate(size);
            items.last().map(|i| i.sku.as_str().to_owned())
        } else {
            None
        };
        Ok(CatalogPage { items, next })
    }

    async fn items_by_sku(&self, skus: &[Sku]) -> Result<Vec<InventoryItem>, CatalogError> {
        Ok(self
            .read()?
            .into_iter()
            .filter(|i| skus.contains(&i.sku))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item as a host writes it in the file.
    fn item(sku: &str, labels: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "sku": sku,
            "title": sku,
            "price": {"amount": "10.00", "currency": "USD"},
            "quantity": 1,
            "labels": labels,
        })
    }

    #[tokio::test]
    async fn pages_by_label_and_reads_the_file_again() {
        let dir = std::env::temp_dir().join(format!("marketsync-cli-cat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("catalog.json");
        let catalog = FileCatalog::new(&path);
        let shop = Label::new("shop").unwrap();
        assert!(
            catalog
                .items_with_label(&shop, None, 10)
                .await
                .unwrap()
                .items
                .is_empty()
        );

        let items = vec![
            item("C", &["shop"]),
            item("A", &["shop"]),
            item("B", &[]),
            item("D", &["shop"]),
        ];
        std::fs::write(&path, serde_json::Value::Array(items).to_string()).unwrap();
        let first = catalog.items_with_label(&shop, None, 2).await.unwrap();
        let skus: Vec<&str> = first.items.iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(skus, ["A", "C"]);
        let second = catalog
            .items_with_label(&shop, first.next.as_deref(), 2)
            .await
            .unwrap();
        assert_eq!(second.items.len(), 1);
        assert_eq!(second.next, None);
        let found = catalog
            .items_by_sku(&[Sku::new("B").unwrap(), Sku::new("Z").unwrap()])
            .await
            .unwrap();
        assert_eq!(found.len(), 1);

        std::fs::write(&path, "{not json").unwrap();
        let e = catalog.items_by_sku(&[]).await.unwrap_err();
        assert!(e.message.contains("catalog.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
