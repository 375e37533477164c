//! Shipping and SKU mappings, with the exact, case-sensitive lookup the seeds describe.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Sku, ValueError};

/// The seller's own shipping service an order is mapped to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShippingService {
    /// The service's name in the seller's system.
    pub name: String,
    /// Carrier, when the service names one.
    pub carrier: Option<String>,
    /// Class or method, when the service names one.
    pub class: Option<String>,
}

/// Channel shipping-method text → the seller's shipping service.
///
/// The text is matched exactly: same characters, same case, same spaces. "Standard" and
/// "standard" are different mappings: the channel's shipping method name must match the
/// mapping's shipping text exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingMapping {
    /// The channel's shipping-method text.
    pub channel_text: String,
    /// The service it maps to.
    pub service: ShippingService,
    /// When the mapping was made. It applies to orders downloaded after that.
    pub created_at: DateTime<Utc>,
}

impl ShippingMapping {
    /// A mapping; the text must not be empty.
    pub fn new(
        channel_text: impl Into<String>,
        service: ShippingService,
        created_at: DateTime<Utc>,
    ) -> Result<Self, ValueError> {
        let channel_text = channel_text.into();
        if channel_text.is_empty() {
            return Err(ValueError::new(
                "shipping mapping text",
                &channel_text,
                "must not be empty",
            ));
        }
        Ok(Self {
            channel_text,
            service,
            created_at,
        })
    }
}

/// Channel SKU → the seller's inventory SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuMapping {
    /// The SKU as the channel sends it.
    pub channel_sku: Sku,
    /// The seller's inventory SKU.
    pub inventory_sku: Sku,
    /// When the mapping was made. It applies to orders downloaded after that.
    pub created_at: DateTime<Utc>,
}

/// How one channel SKU was resolved to an inventory SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "sku", rename_all = "snake_case")]
pub enum SkuResolution {
    /// Through a SKU mapping.
    Mapped(Sku),
    /// The catalog has the same SKU.
    Same(Sku),
    /// Neither: the order waits for a mapping.
    Unmapped,
}

impl SkuResolution {
    /// The inventory SKU, when resolved.
    pub fn sku(&self) -> Option<&Sku> {
        match self {
            SkuResolution::Mapped(s) | SkuResolution::Same(s) => Some(s),
            SkuResolution::Unmapped => None,
        }
    }
}

/// All mappings of one integration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSet {
    shipping: BTreeMap<String, ShippingMapping>,
    skus: BTreeMap<Sku, SkuMapping>,
}

impl MappingSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the shipping mapping for its text.
    pub fn insert_shipping(&mut self, mapping: ShippingMapping) -> Option<ShippingMapping> {
        self.shipping.insert(mapping.channel_text.clone(), mapping)
    }

    /// Removes the shipping mapping for exactly this text.
    pub fn remove_shipping(&mut self, channel_text: &str) -> Option<ShippingMapping> {
        self.shipping.remove(channel_text)
    }

    /// Adds or replaces the SKU mapping for its channel SKU.
    pub fn insert_sku(&mut self, mapping: SkuMapping) -> Option<SkuMapping> {
        self.skus.insert(mapping.channel_sku.clone(), mapping)
    }

    /// Removes the SKU mapping for exactly this channel SKU.
    pub fn remove_sku(&mut self, channel_sku: &Sku) -> Option<SkuMapping> {
        self.skus.remove(channel_sku)
    }

    /// The shipping mapping for exactly this text (case-sensitive, no trimming).
    pub fn shipping(&self, channel_text: &str) -> Option<&ShippingMapping> {
        self.shipping.get(channel_text)
    }

    /// The SKU mapping for exactly this channel SKU (case-sensitive).
    pub fn sku(&self, channel_sku: &Sku) -> Option<&SkuMapping> {
        self.skus.get(channel_sku)
    }

    /// Resolves a channel SKU: the SKU mapping if one exists, else the same SKU when the catalog
    /// has it (`in_catalog`), else unmapped.
    pub fn resolve_sku(
        &self,
        channel_sku: &Sku,
        in_catalog: impl Fn(&Sku) -> bool,
    ) -> SkuResolution {
        if let Some(m) = self.skus.get(channel_sku) {
            SkuResolution::Mapped(m.inventory_sku.clone())
        } else if in_catalog(channel_sku) {
            SkuResolution::Same(channel_sku.clone())
        } else {
            SkuResolution::Unmapped
        }
    }

    /// Every shipping mapping, by text.
    pub fn shipping_mappings(&self) -> impl Iterator<Item = &ShippingMapping> {
        self.shipping.values()
    }

    /// Every SKU mapping, by channel SKU.
    pub fn sku_mappings(&self) -> impl Iterator<Item = &SkuMapping> {
        self.skus.values()
    }

    /// Whether any shipping mapping exists (required before importing on some channels).
    pub fn has_shipping_mappings(&self) -> bool {
        !self.shipping.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> ShippingService {
        ShippingService {
            name: name.into(),
            carrier: Some("UPS".into()),
            class: Some("Ground".into()),
        }
    }

    #[test]
    fn shipping_lookup_is_exact_and_case_sensitive() {
        let mut set = MappingSet::new();
        set.insert_shipping(ShippingMapping::new("Standard", service("std"), Utc::now()).unwrap());
        assert_eq!(set.shipping("Standard").unwrap().service.name, "std");
        assert!(set.shipping("standard").is_none());
        assert!(set.shipping("Standard ").is_none());
        assert!(set.shipping(" Standard").is_none());
        assert!(set.shipping("STANDARD").is_none());
        assert!(ShippingMapping::new("", service("x"), Utc::now()).is_err());
    }

    #[test]
    fn sku_resolution_order() {
        let mut set = MappingSet::new();
        let a = Sku::new("CH-1").unwrap();
        let inv = Sku::new("INV-1").unwrap();
        set.insert_sku(SkuMapping {
            channel_sku: a.clone(),
            inventory_sku: inv.clone(),
            created_at: Utc::now(),
        });
        // A mapping wins even when the catalog also has the channel SKU.
        assert_eq!(set.resolve_sku(&a, |_| true), SkuResolution::Mapped(inv));
        let b = Sku::new("B").unwrap();
        assert_eq!(
            set.resolve_sku(&b, |s| s.as_str() == "B"),
            SkuResolution::Same(b.clone())
        );
        assert_eq!(set.resolve_sku(&b, |_| false), SkuResolution::Unmapped);
        // Case-sensitive: "ch-1" is not mapped.
        let lower = Sku::new("ch-1").unwrap();
        assert_eq!(set.resolve_sku(&lower, |_| false), SkuResolution::Unmapped);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(serde_json::from_str::<MappingSet>(&json).unwrap(), set);
    }
}
