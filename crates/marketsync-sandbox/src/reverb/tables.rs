//! The fake's listings, indexed by SKU so `GET /api/my/listings?sku=` reads only the
//! listings with that SKU. The map is private: every change goes through a method that keeps
//! the index right.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Deref, DerefMut, Index};

use super::api::Listing;

#[derive(Debug, Default)]
struct SkuIndex(HashMap<String, BTreeSet<u64>>);

impl SkuIndex {
    fn add(&mut self, id: u64, sku: Option<&String>) {
        if let Some(s) = sku {
            self.0.entry(s.clone()).or_default().insert(id);
        }
    }

    fn drop_id(&mut self, id: u64, sku: Option<&String>) {
        if let Some(s) = sku
            && let Some(ids) = self.0.get_mut(s)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.0.remove(s);
            }
        }
    }
}

/// The listings by id, indexed by SKU.
#[derive(Debug, Default)]
pub(crate) struct Listings {
    listings: BTreeMap<u64, Listing>,
    skus: SkuIndex,
}

impl Listings {
    /// A table of `(id, listing)` pairs.
    pub(crate) fn from_listings(listings: impl IntoIterator<Item = (u64, Listing)>) -> Self {
        let mut t = Self::default();
        for (id, l) in listings {
            t.insert(id, l);
        }
        t
    }

    pub(crate) fn get(&self, id: &u64) -> Option<&Listing> {
        self.listings.get(id)
    }

    /// A listing to change; the SKU index follows the change when the guard is dropped.
    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<ListingMut<'_>> {
        let listing = self.listings.get_mut(id)?;
        Some(ListingMut {
            id: *id,
            old: listing.sku.clone(),
            listing,
            skus: &mut self.skus,
        })
    }

    /// Adds or replaces a listing.
    pub(crate) fn insert(&mut self, id: u64, l: Listing) {
        if let Some(old) = self.listings.get(&id) {
            self.skus.drop_id(id, old.sku.as_ref());
        }
        self.skus.add(id, l.sku.as_ref());
        self.listings.insert(id, l);
    }

    pub(crate) fn remove(&mut self, id: &u64) -> Option<Listing> {
        let l = self.listings.remove(id)?;
        self.skus.drop_id(*id, l.sku.as_ref());
        Some(l)
    }

    /// Listings in ascending id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Listing> {
        self.listings.values()
    }

    /// Ids in ascending order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u64> {
        self.listings.keys()
    }

    /// The listings whose SKU is exactly `sku`, in ascending id order.
    pub(crate) fn with_sku<'a>(&'a self, sku: &str) -> impl Iterator<Item = &'a Listing> + 'a {
        self.skus
            .0
            .get(sku)
            .into_iter()
            .flatten()
            .filter_map(|id| self.listings.get(id))
    }
}

impl Index<&u64> for Listings {
    type Output = Listing;

    fn index(&self, id: &u64) -> &Listing {
        &self.listings[id]
    }
}

/// A listing being changed ([`Listings::get_mut`]).
#[derive(Debug)]
pub(crate) struct ListingMut<'a> {
    id: u64,
    old: Option<String>,
    listing: &'a mut Listing,
    skus: &'a mut SkuIndex,
}

impl Deref for ListingMut<'_> {
    type Target = Listing;

    fn deref(&self) -> &Listing {
        self.listing
    }
}

impl DerefMut for ListingMut<'_> {
    fn deref_mut(&mut self) -> &mut Listing {
        self.listing
    }
}

impl Drop for ListingMut<'_> {
    fn drop(&mut self) {
        if self.listing.sku != self.old {
            self.skus.drop_id(self.id, self.old.as_ref());
            self.skus.add(self.id, self.listing.sku.as_ref());
        }
    }
}
