//! The fake's product and order tables with the indexes that keep a request's work
//! proportional to what it reads, not to the whole catalogue or order book.
//!
//! The maps are private so every change goes through a method that keeps the indexes right:
//! products by `Sku`, the orders each application has not exported, the order of each order
//! item, and a generation counter per table that every change moves on (filters known to
//! evaluate without errors are remembered per generation).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};

use serde_json::Value;

use super::seed::{Order, Product};

/// How many filters known to evaluate without errors a table remembers.
const MAX_CLEAN_FILTERS: usize = 256;

/// How a product's `Sku` is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SkuKey {
    /// A string: found by [`Catalog::ids_by_sku`].
    Text(String),
    /// Missing or null: `Sku eq '..'` is false.
    Absent,
    /// Any other JSON type: `Sku eq '..'` fails, so filters on `Sku` must still look at it.
    Odd,
}

fn sku_key(p: &Product) -> SkuKey {
    match p.fields.get("Sku") {
        None | Some(Value::Null) => SkuKey::Absent,
        Some(Value::String(s)) => SkuKey::Text(s.clone()),
        Some(_) => SkuKey::Odd,
    }
}

#[derive(Debug, Default)]
struct SkuIndex {
    by_sku: HashMap<String, BTreeSet<i64>>,
    odd: BTreeSet<i64>,
}

impl SkuIndex {
    fn add(&mut self, id: i64, key: &SkuKey) {
        match key {
            SkuKey::Text(s) => {
                self.by_sku.entry(s.clone()).or_default().insert(id);
            }
            SkuKey::Odd => {
                self.odd.insert(id);
            }
            SkuKey::Absent => {}
        }
    }

    fn drop_id(&mut self, id: i64, key: &SkuKey) {
        match key {
            SkuKey::Text(s) => {
                if let Some(ids) = self.by_sku.get_mut(s) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.by_sku.remove(s);
                    }
                }
            }
            SkuKey::Odd => {
                self.odd.remove(&id);
            }
            SkuKey::Absent => {}
        }
    }
}

/// Filters (by key) known to evaluate without an error on every row at a generation.
#[derive(Debug, Default)]
struct CleanFilters {
    generation: u64,
    keys: BTreeSet<String>,
}

impl CleanFilters {
    fn bump(&mut self) {
        self.generation += 1;
        self.keys.clear();
    }

    fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.keys.len() >= MAX_CLEAN_FILTERS {
            self.keys.clear();
        }
        self.keys.insert(key);
    }
}

/// The products, by id, indexed by `Sku`.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    products: BTreeMap<i64, Product>,
    skus: SkuIndex,
    clean: CleanFilters,
}

impl Catalog {
    /// A catalogue of `(id, product)` pairs.
    pub(crate) fn from_products(products: impl IntoIterator<Item = (i64, Product)>) -> Self {
        let mut c = Self::default();
        for (id, p) in products {
            c.insert(id, p);
        }
        c
    }

    pub(crate) fn get(&self, id: &i64) -> Option<&Product> {
        self.products.get(id)
    }

    /// A product to change; the `Sku` index follows the change when the guard is dropped.
    pub(crate) fn get_mut(&mut self, id: &i64) -> Option<ProductMut<'_>> {
        let p = self.products.get_mut(id)?;
        self.clean.bump();
        Some(ProductMut {
            id: *id,
            old: sku_key(p),
            product: p,
            skus: &mut self.skus,
        })
    }

    /// Adds or replaces a product.
    pub(crate) fn insert(&mut self, id: i64, p: Product) {
        self.clean.bump();
        if let Some(old) = self.products.get(&id) {
            self.skus.drop_id(id, &sku_key(old));
        }
        self.skus.add(id, &sku_key(&p));
        self.products.insert(id, p);
    }

    pub(crate) fn remove(&mut self, id: &i64) -> Option<Product> {
        let p = self.products.remove(id)?;
        self.clean.bump();
        self.skus.drop_id(*id, &sku_key(&p));
        Some(p)
    }

    /// Products in ascending id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }

    /// Ids in ascending order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &i64> {
        self.products.keys()
    }

    /// Ids (ascending) of the products whose `Sku` is exactly this string.
    pub(crate) fn ids_by_sku(&self, sku: &str) -> impl Iterator<Item = i64> + '_ {
        self.skus.by_sku.get(sku).into_iter().flatten().copied()
    }

    /// Ids (ascending) of the products whose `Sku` is neither a string nor null.
    pub(crate) fn ids_with_odd_sku(&self) -> impl Iterator<Item = i64> + '_ {
        self.skus.odd.iter().copied()
    }

    /// Whether a filter (by key) evaluated on every product without an error since the last
    /// change.
    pub(crate) fn filter_is_clean(&self, key: &str) -> bool {
        self.clean.contains(key)
    }

    /// Remembers that a filter evaluated on every product without an error.
    pub(crate) fn mark_filter_clean(&mut self, key: String) {
        self.clean.insert(key);
    }
}

/// A product being changed ([`Catalog::get_mut`]).
#[derive(Debug)]
pub(crate) struct ProductMut<'a> {
    id: i64,
    old: SkuKey,
    product: &'a mut Product,
    skus: &'a mut SkuIndex,
}

impl Deref for ProductMut<'_> {
    type Target = Product;

    fn deref(&self) -> &Product {
        self.product
    }
}

impl DerefMut for ProductMut<'_> {
    fn deref_mut(&mut self) -> &mut Product {
        self.product
    }
}

impl Drop for ProductMut<'_> {
    fn drop(&mut self) {
        let new = sku_key(self.product);
        if new != self.old {
            self.skus.drop_id(self.id, &self.old);
            self.skus.add(self.id, &new);
        }
    }
}

/// The orders, by id, with each application's export state.
#[derive(Debug, Default)]
pub(crate) struct OrderBook {
    orders: BTreeMap<i64, Order>,
    /// (application id, order id) → currently exported.
    exported: BTreeSet<(String, i64)>,
    /// For each application that has exported an order: the orders it has not exported.
    /// An application without an entry has exported none.
    unexported: HashMap<String, BTreeSet<i64>>,
    /// Order item id → order id.
    item_orders: HashMap<i64, i64>,
    clean: CleanFilters,
}

impl OrderBook {
    /// An order book of `(id, order)` pairs, none exported.
    pub(crate) fn from_orders(orders: impl IntoIterator<Item = (i64, Order)>) -> Self {
        let mut b = Self::default();
        for (id, o) in orders {
            b.insert(id, o);
        }
        b
    }

    pub(crate) fn get(&self, id: &i64) -> Option<&Order> {
        self.orders.get(id)
    }

    /// An order to change (its items must stay as they are).
    pub(crate) fn get_mut(&mut self, id: &i64) -> Option<&mut Order> {
        let o = self.orders.get_mut(id)?;
        self.clean.bump();
        Some(o)
    }

    /// Adds an order (not exported by anyone).
    pub(crate) fn insert(&mut self, id: i64, o: Order) {
        self.clean.bump();
        if let Some(old) = self.orders.get(&id) {
            for it in &old.items {
                if let Some(item) = it.get("ID").and_then(Value::as_i64) {
                    self.item_orders.remove(&item);
                }
            }
        }
        for it in &o.items {
            if let Some(item) = it.get("ID").and_then(Value::as_i64) {
                self.item_orders.entry(item).or_insert(id);
            }
        }
        for (app, ids) in &mut self.unexported {
            if !self.exported.contains(&(app.clone(), id)) {
                ids.insert(id);
            }
        }
        self.orders.insert(id, o);
    }

    /// Orders in ascending id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Ids in ascending order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &i64> {
        self.orders.keys()
    }

    /// (id, order) in ascending id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&i64, &Order)> {
        self.orders.iter()
    }

    /// The order holding an order item.
    pub(crate) fn order_of_item(&self, item: i64) -> Option<i64> {
        self.item_orders.get(&item).copied()
    }

    /// Whether the application has the order marked exported.
    pub(crate) fn is_exported(&self, app: &str, id: i64) -> bool {
        self.exported.contains(&(app.to_owned(), id))
    }

    /// Marks an existing order exported for the application.
    pub(crate) fn export(&mut self, app: &str, id: i64) {
        if !self.unexported.contains_key(app) {
            let ids = self.orders.keys().copied().collect();
            self.unexported.insert(app.to_owned(), ids);
        }
        if let Some(ids) = self.unexported.get_mut(app) {
            ids.remove(&id);
        }
        self.exported.insert((app.to_owned(), id));
    }

    /// Clears the application's export mark of an existing order.
    pub(crate) fn unexport(&mut self, app: &str, id: i64) {
        if self.exported.remove(&(app.to_owned(), id))
            && let Some(ids) = self.unexported.get_mut(app)
        {
            ids.insert(id);
        }
    }

    /// Ids of the orders the application has marked exported, ascending.
    pub(crate) fn exported_ids<'a>(&'a self, app: &'a str) -> impl Iterator<Item = i64> + 'a {
        let from = (app.to_owned(), i64::MIN);
        self.exported
            .range(from..)
            .take_while(move |(a, _)| a == app)
            .map(|(_, id)| *id)
    }

    /// The orders the application has marked exported, ascending.
    pub(crate) fn exported_by<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a Order> {
        self.exported_ids(app).filter_map(|id| self.orders.get(&id))
    }

    /// The orders the application has not marked exported, ascending.
    pub(crate) fn unexported_by<'a>(
        &'a self,
        app: &str,
    ) -> Box<dyn Iterator<Item = &'a Order> + 'a> {
        match self.unexported.get(app) {
            Some(ids) => Box::new(ids.iter().filter_map(|id| self.orders.get(id))),
            None => Box::new(self.orders.values()),
        }
    }

    /// Whether a filter (by key) evaluated on every order without an error since the last
    /// change of an order (export marks are not part of an order).
    pub(crate) fn filter_is_clean(&self, key: &str) -> bool {
        self.clean.contains(key)
    }

    /// Remembers that a filter evaluated on every order without an error.
    pub(crate) fn mark_filter_clean(&mut self, key: String) {
        self.clean.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn product(id: i64, sku: &str) -> Product {
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        super::super::seed::blank_product(id, 1, sku, now)
    }

    #[test]
    fn the_sku_index_follows_every_change() {
        let mut c = Catalog::from_products([(1, product(1, "A")), (2, product(2, "B"))]);
        c.insert(3, product(3, "A"));
        assert_eq!(c.ids_by_sku("A").collect::<Vec<_>>(), vec![1, 3]);
        c.get_mut(&1)
            .unwrap()
            .fields
            .insert("Sku".into(), json!("C"));
        assert_eq!(c.ids_by_sku("A").collect::<Vec<_>>(), vec![3]);
        assert_eq!(c.ids_by_sku("C").collect::<Vec<_>>(), vec![1]);
        c.get_mut(&2).unwrap().fields.insert("Sku".into(), json!(7));
        assert_eq!(c.ids_by_sku("B").count(), 0);
        assert_eq!(c.ids_with_odd_sku().collect::<Vec<_>>(), vec![2]);
        c.get_mut(&2)
            .unwrap()
            .fields
            .insert("Sku".into(), Value::Null);
        assert_eq!(c.ids_with_odd_sku().count(), 0);
        c.remove(&3);
        assert_eq!(c.ids_by_sku("A").count(), 0);
        c.insert(1, product(1, "D"));
        assert_eq!(c.ids_by_sku("C").count(), 0);
        assert_eq!(c.ids_by_sku("D").collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn changes_forget_clean_filters() {
        let mut c = Catalog::from_products([(1, product(1, "A"))]);
        c.mark_filter_clean("f".into());
        assert!(c.filter_is_clean("f"));
        drop(c.get_mut(&1));
        assert!(!c.filter_is_clean("f"));
    }

    #[test]
    fn export_state_per_application() {
        let order = |id: i64, item: i64| Order {
            fields: json!({"ID": id}).as_object().cloned().unwrap(),
            items: vec![json!({"ID": item}).as_object().cloned().unwrap()],
            fulfillments: Vec::new(),
            adjustments: Vec::new(),
        };
        let ids = |it: Box<dyn Iterator<Item = &Order> + '_>| -> Vec<i64> {
            it.map(|o| o.fields["ID"].as_i64().unwrap()).collect()
        };
        let mut b = OrderBook::from_orders([(1, order(1, 11)), (2, order(2, 12))]);
        assert_eq!(ids(b.unexported_by("app")), vec![1, 2]);
        b.export("app", 1);
        assert_eq!(ids(b.unexported_by("app")), vec![2]);
        assert_eq!(ids(b.unexported_by("other")), vec![1, 2]);
        assert_eq!(ids(Box::new(b.exported_by("app"))), vec![1]);
        assert!(b.is_exported("app", 1) && !b.is_exported("other", 1));
        b.insert(3, order(3, 13));
        assert_eq!(ids(b.unexported_by("app")), vec![2, 3]);
        b.unexport("app", 1);
        b.unexport("app", 2);
        assert_eq!(ids(b.unexported_by("app")), vec![1, 2, 3]);
        assert_eq!(b.exported_by("app").count(), 0);
        assert_eq!(b.order_of_item(13), Some(3));
        assert_eq!(b.order_of_item(99), None);
    }
}
