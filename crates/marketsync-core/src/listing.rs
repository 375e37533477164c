//! Listings: the seller's inventory items, what a channel shows of them, and the changes sent.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ChannelError;
use crate::ids::{ChannelListingId, IntegrationId, Label, Sku};
use crate::money::Money;

/// The seller's own product record, given to the engine by the host program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// The seller's SKU.
    pub sku: Sku,
    /// Title.
    pub title: String,
    /// Selling price.
    pub price: Money,
    /// Quantity available to sell (absolute, never a delta).
    pub quantity: u32,
    /// Labels; an integration lists only items carrying its label.
    #[serde(default)]
    pub labels: BTreeSet<Label>,
    /// The host's version of `quantity`: higher is newer. When set, the targeted propagation
    /// of a sale never sends a listing a quantity older than one already sent to it
    /// ([`Listing::last_stock_version`]); `None` when the host does not version its stock.
    #[serde(default)]
    pub stock_version: Option<u64>,
}

impl InventoryItem {
    /// Whether the item carries exactly this label (case-sensitive).
    pub fn has_label(&self, label: &Label) -> bool {
        self.labels.contains(label)
    }
}

/// The state of a listing as the channel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelListingState {
    /// Not published yet (Reverb draft, Allegro INACTIVE).
    Draft,
    /// Live and buyable.
    Live,
    /// Live but with no stock left.
    SoldOut,
    /// Ended, delisted or removed from the channel's feed.
    Ended,
    /// A state this library does not know; see the raw state.
    Other,
}

/// One listing as the channel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelListing {
    /// The channel's id of the listing.
    pub id: ChannelListingId,
    /// The SKU on the channel, if it has one (before SKU mapping).
    pub sku: Option<Sku>,
    /// Title on the channel.
    pub title: Option<String>,
    /// Price on the channel.
    pub price: Option<Money>,
    /// Quantity on the channel.
    pub quantity: Option<u32>,
    /// Normalised state.
    pub state: ChannelListingState,
    /// The channel's own state text, exactly as sent.
    pub raw_state: String,
}

/// The link state of a listing in the engine's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingStatus {
    /// Linked to a channel listing; synced.
    Linked,
    /// Not linked to any channel listing.
    Unlinked,
    /// Was linked, but the channel listing no longer exists. Never relinked automatically: the
    /// host unlinks and relinks it.
    BrokenLink,
    /// Linked, but the channel listing was ended (by reconcile or outside).
    Ended,
    /// Being published: recorded before the channel is asked to create the listing, so that an
    /// answer lost to a timeout or a crash cannot publish it twice. The next publish looks the
    /// SKU up at the channel and links the listing it finds, or creates it when there is none;
    /// linking treats it as unlinked. A publish the channel refused removes it again.
    Publishing,
}

/// The engine's record of one item's listing on one integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The integration.
    pub integration_id: IntegrationId,
    /// The seller's SKU.
    pub sku: Sku,
    /// The linked channel listing, if any.
    pub channel_listing_id: Option<ChannelListingId>,
    /// The SKU the channel listing carries (differs from `sku` when a SKU mapping applies).
    pub channel_sku: Option<Sku>,
    /// The link state.
    pub status: ListingStatus,
    /// Fingerprint of the content last sent successfully.
    pub last_sent: Option<Fingerprint>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
    /// The catalogue's [`InventoryItem::stock_version`] of the quantity last sent successfully
    /// (`None` while none was sent or the host does not version its stock). A quantity with an
    /// older version is never sent to this listing.
    #[serde(default)]
    pub last_stock_version: Option<u64>,
}

impl Listing {
    /// Whether no channel listing is linked: [`ListingStatus::Unlinked`], or
    /// [`ListingStatus::Publishing`] (a publish whose outcome is not known yet), which linking
    /// and the next publish may link.
    pub fn is_unlinked(&self) -> bool {
        matches!(
            self.status,
            ListingStatus::Unlinked | ListingStatus::Publishing
        )
    }
}

/// A change to send for one linked listing. Quantities are absolute, never deltas, so a change
/// sent twice cannot count stock twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingUpdate {
    /// The channel listing to change.
    pub listing_id: ChannelListingId,
    /// The seller's SKU (for reports).
    pub sku: Sku,
    /// New price, when it changed.
    pub price: Option<Money>,
    /// New absolute quantity, when it changed.
    pub quantity: Option<u32>,
    /// New title, where the channel takes one.
    pub title: Option<String>,
}

impl ListingUpdate {
    /// The full content of `item` for `listing_id`.
    pub fn from_item(listing_id: ChannelListingId, item: &InventoryItem) -> Self {
        Self {
            listing_id,
            sku: item.sku.clone(),
            price: Some(item.price),
            quantity: Some(item.quantity),
            title: Some(item.title.clone()),
        }
    }

    /// The fingerprint of this content, compared with the last one sent to skip unchanged
    /// listings.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Fingerprint::hasher();
        h.field(self.listing_id.as_str());
        h.field(self.sku.as_str());
        match &self.price {
            Some(p) => {
                h.field(&p.amount().normalize().to_string());
                h.field(p.currency().code());
            }
            None => h.field("-"),
        }
        match self.quantity {
            Some(q) => h.field(&q.to_string()),
            None => h.field("-"),
        }
        h.field(self.title.as_deref().unwrap_or("-"));
        h.finish()
    }
}

/// A content fingerprint: 64-bit FNV-1a over the fields, stable across builds and platforms so
/// it can be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    fn hasher() -> FingerprintHasher {
        FingerprintHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

struct FingerprintHasher(u64);

impl FingerprintHasher {
    fn field(&mut self, s: &str) {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        for b in (s.len() as u64).to_le_bytes().iter().chain(s.as_bytes()) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(self) -> Fingerprint {
        Fingerprint(self.0)
    }
}

/// A new listing to create on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewListing {
    /// The seller's SKU (the channel's own key for it, where it has one).
    pub sku: Sku,
    /// Title.
    pub title: String,
    /// Price.
    pub price: Money,
    /// Absolute quantity.
    pub quantity: u32,
    /// Publish at once; otherwise the listing is created as a draft where the channel has
    /// drafts.
    pub publish: bool,
}

/// Why a listing is being ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// Reconcile: the item is not on the integration's label.
    NotOnLabel,
    /// The item was sold elsewhere.
    SoldElsewhere,
    /// The seller asked for it.
    SellerRequest,
}

/// A listing to end or delist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndListing {
    /// The channel listing.
    pub listing_id: ChannelListingId,
    /// The SKU on the channel, when known (for reports).
    pub sku: Option<Sku>,
    /// Why.
    pub reason: EndReason,
}

/// What happened to one listing in a batch call: the listing's id, or the error for it alone.
#[derive(Debug)]
pub struct ListingOutcome {
    /// The listing the outcome is for (the channel id of an update or end; for a publish, the
    /// SKU's new listing id on success).
    pub listing_id: Option<ChannelListingId>,
    /// The SKU, when known.
    pub sku: Option<Sku>,
    /// `Ok` with the channel listing id, or the error for this listing.
    pub result: Result<ChannelListingId, ChannelError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use rust_decimal::dec;

    fn update(price: rust_decimal::Decimal, qty: u32) -> ListingUpdate {
        ListingUpdate {
            listing_id: ChannelListingId::new("1").unwrap(),
            sku: Sku::new("A").unwrap(),
            price: Some(Money::new(price, Currency::USD)),
            quantity: Some(qty),
            title: Some("t".into()),
        }
    }

    #[test]
    fn fingerprint_tracks_content() {
        assert_eq!(
            update(dec!(1.50), 3).fingerprint(),
            update(dec!(1.5), 3).fingerprint()
        );
        assert_ne!(
            update(dec!(1.5), 3).fingerprint(),
            update(dec!(1.5), 4).fingerprint()
        );
        assert_ne!(
            update(dec!(1.5), 3).fingerprint(),
            update(dec!(1.51), 3).fingerprint()
        );
        // Stable across builds and platforms: a stored fingerprint must keep meaning the same
        // content. The value was computed independently (FNV-1a 64 over length-prefixed fields).
        assert_eq!(
            update(dec!(1.5), 3).fingerprint().to_string(),
            "5b66a9a0606c7a64"
        );
        // More pinned values (computed independently): a long decimal with trailing zeros,
        // u32::MAX, zero.
        assert_eq!(
            update(dec!(1234567.000100), u32::MAX)
                .fingerprint()
                .to_string(),
            "f572fdf60d050cc7"
        );
        assert_eq!(
            update(dec!(0.00), 0).fingerprint().to_string(),
            "c3363b3f0193989f"
        );
    }
}
