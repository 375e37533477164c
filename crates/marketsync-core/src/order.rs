//! Orders as downloaded from a channel, and what is sent back: shipments, refunds, cancellations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelListingId, ChannelOrderId, Sku, ValueError};
use crate::money::{Currency, Money};

/// A postal address. Every part is optional because channels leave different parts out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Recipient name.
    pub name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// First street line.
    pub line1: Option<String>,
    /// Second street line.
    pub line2: Option<String>,
    /// City or locality.
    pub city: Option<String>,
    /// State, province or region.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country, as ISO 3166-1 alpha-2 where the channel gives a code, else as sent.
    pub country: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// The buyer, as far as the channel tells.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    /// The channel's id or login of the buyer.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

/// The normalised state of an order, the same for every channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrderState {
    /// Placed, not paid.
    Unpaid,
    /// Payment started but not confirmed (pending review, partially paid).
    PaymentPending,
    /// Paid and ready to ship.
    AwaitingShipment,
    /// Some lines shipped.
    PartiallyShipped,
    /// Shipped.
    Shipped,
    /// Delivered, picked up or received.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Refunded.
    Refunded,
    /// Held or blocked by the channel.
    OnHold,
    /// A status this library does not know; see the raw status.
    Unknown,
}

impl OrderState {
    /// Whether the seller still has work to do for an order in this state.
    pub fn is_unfulfilled(&self) -> bool {
        matches!(
            self,
            OrderState::Unpaid
                | OrderState::PaymentPending
                | OrderState::AwaitingShipment
                | OrderState::PartiallyShipped
                | OrderState::OnHold
                | OrderState::Unknown
        )
    }
}

/// An order's status: the normalised state and the channel's own text, exactly as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    /// Normalised.
    pub state: OrderState,
    /// The channel's own status text (ChannelAdvisor combines its three statuses).
    pub raw: String,
}

impl OrderStatus {
    /// A status from its normalised state and raw text.
    pub fn new(state: OrderState, raw: impl Into<String>) -> Self {
        Self {
            state,
            raw: raw.into(),
        }
    }
}

/// Where an order's currency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurrencySource {
    /// The channel sent it with the order.
    Channel,
    /// The channel sent none; the integration's default currency was used.
    IntegrationDefault,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The channel's id of the line (used for partial shipments and refunds).
    pub line_id: String,
    /// The SKU as the channel sent it, before SKU mapping.
    pub sku: Option<Sku>,
    /// The channel listing sold, when known.
    pub listing_id: Option<ChannelListingId>,
    /// Title.
    pub title: String,
    /// Quantity.
    pub quantity: u32,
    /// Price of one unit.
    pub unit_price: Money,
}

/// An order as downloaded from a channel, normalised by its adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The channel's id of the order (what ship/refund/cancel calls take).
    pub channel_order_id: ChannelOrderId,
    /// The marketplace's own order number where it differs (ChannelAdvisor's SiteOrderID).
    pub marketplace_order_id: Option<String>,
    /// The marketplace site, where one channel serves several (ChannelAdvisor's SiteName, e.g.
    /// OfferUp).
    pub site: Option<String>,
    /// When the buyer placed it.
    pub created_at: DateTime<Utc>,
    /// When the channel last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// Status.
    pub status: OrderStatus,
    /// The order's currency. Every amount of the order is in it.
    pub currency: Currency,
    /// Whether the currency came from the channel or the integration's default.
    pub currency_source: CurrencySource,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// The shipping method text exactly as the channel sent it (matched against shipping
    /// mappings).
    pub shipping_method: Option<String>,
    /// Shipping price charged to the buyer.
    pub shipping_price: Option<Money>,
    /// Tax.
    pub tax: Option<Money>,
    /// Order total as the channel states it.
    pub total: Option<Money>,
    /// Ship-to address.
    pub shipping_address: Option<Address>,
    /// Buyer.
    pub buyer: Buyer,
    /// The buyer collects it in person (Reverb local pickup).
    pub local_pickup: bool,
    /// The channel's revision of the order, where it versions orders (Allegro).
    pub revision: Option<String>,
}

/// Who fulfils an order, decided when it is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Management {
    /// Fulfilled through the integration: shipments, refunds and cancellations are sent.
    Managed,
    /// Imported while the fulfilments switch was off: nothing is ever sent to the channel for it.
    ThirdPartyManaged,
}

/// An idempotency key: the same on every attempt to send one shipment, refund or cancellation,
/// so the channel (where it honours keys) never applies it twice.
///
/// A key names one request **within one integration**: several integrations may use the same
/// key (a host building keys as `ship-{order}` for every shop), each gets its own outbox entry.
/// Within an integration, the same key with the same request is the same entry (an idempotent
/// retry), and the same key with another request (other order, action, tracking number,
/// carrier, lines, amount, reason, …) is refused with
/// [`EngineError::IdempotencyConflict`](crate::engine::EngineError::IdempotencyConflict).
///
/// When the host gives no key, `Engine::ship`, `refund` and `cancel` derive one from the
/// request's content ([`OutboxItem::derived_key`](crate::store::OutboxItem::derived_key),
/// prefixed [`DERIVED_PREFIX`](Self::DERIVED_PREFIX)): the same request made twice — a double
/// click, a host retrying after a timeout — is one entry and reaches the channel once. A host
/// that really means a second identical request (a second partial refund of the same amount)
/// passes its own key for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The prefix of the keys the engine derives from a request when the host gives none
    /// (`auto-` and 48 hex digits). Hosts should not start their own keys with it.
    pub const DERIVED_PREFIX: &'static str = "auto-";

    /// Whether the engine derived this key from a request ([`DERIVED_PREFIX`](Self::DERIVED_PREFIX)).
    pub fn is_derived(&self) -> bool {
        self.0.starts_with(Self::DERIVED_PREFIX)
    }

    /// A new random key (a UUID v4, accepted by every channel that takes keys).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// A key from text: 1 to 64 printable ASCII characters.
    pub fn new(key: impl Into<String>) -> Result<Self, ValueError> {
        let key = key.into();
        if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValueError::new(
                "idempotency key",
                &key,
                "1 to 64 printable ASCII characters",
            ));
        }
        Ok(Self(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<IdempotencyKey> for String {
    fn from(value: IdempotencyKey) -> Self {
        value.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the goods reach the buyer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Handed to a carrier.
    #[default]
    Shipped,
    /// Collected by the buyer (Reverb "mark picked up").
    PickedUp,
}

/// A quantity of one order line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineQuantity {
    /// The channel's line id.
    pub line_id: String,
    /// Quantity.
    pub quantity: u32,
}

/// A shipment to report to the channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// Carrier, as the channel names it (ChannelAdvisor ShippingCarrier, Reverb provider,
    /// Allegro carrierId).
    pub carrier: Option<String>,
    /// Shipping method or class (ChannelAdvisor ShippingClass).
    pub method: Option<String>,
    /// Tracking number.
    pub tracking_number: Option<String>,
    /// When it shipped.
    pub shipped_at: DateTime<Utc>,
    /// The lines shipped; empty means the whole order.
    pub lines: Vec<LineQuantity>,
    /// Shipped or picked up.
    #[serde(default)]
    pub delivery: Delivery,
}

/// Why money is refunded or an order cancelled (ChannelAdvisor's adjustment reasons, which the
/// other channels' reasons map onto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdjustmentReason {
    /// No specific reason.
    GeneralAdjustment,
    /// The item is not available.
    ItemNotAvailable,
    /// The buyer returned the item.
    CustomerReturnedItem,
    /// The seller could not ship.
    CouldNotShip,
    /// The buyer cancelled.
    BuyerCancelled,
    /// The address is undeliverable.
    ShippingAddressUndeliverable,
    /// The buyer did not receive the goods.
    MerchandiseNotReceived,
    /// Damaged in shipping.
    ShippingDamage,
}

/// A refund line: a quantity of a line, or an amount off it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    /// The channel's line id.
    pub line_id: String,
    /// Quantity refunded, when refunding by quantity.
    pub quantity: Option<u32>,
    /// Amount refunded, when refunding by amount.
    pub amount: Option<Money>,
}

/// A refund to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Total to refund; `None` with no lines means a full refund.
    pub amount: Option<Money>,
    /// Per-line refunds; empty means order level.
    pub lines: Vec<RefundLine>,
    /// Why.
    pub reason: AdjustmentReason,
    /// Put the stock back.
    pub restock: bool,
    /// A note for the buyer where the channel takes one.
    pub note: Option<String>,
}

/// A cancellation to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The lines cancelled; empty means the whole order.
    pub lines: Vec<LineQuantity>,
    /// Why.
    pub reason: AdjustmentReason,
}

/// A shipment for one order, with the key that stays the same on every attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRequest {
    /// The order.
    pub order_id: ChannelOrderId,
    /// The shipment.
    pub shipment: Shipment,
    /// The idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// True when an earlier attempt may have reached the channel without its outcome being
    /// recorded (the process stopped, the answer was lost, the channel failed in a way that
    /// may have applied it). A channel that cannot deduplicate by the idempotency key itself
    /// checks what it already holds before sending again; the first attempt costs no check.
    #[serde(default)]
    pub resend: bool,
}

/// A refund for one order, with its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The order.
    pub order_id: ChannelOrderId,
    /// The refund.
    pub refund: Refund,
    /// The idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// True when an earlier attempt may have reached the channel without its outcome being
    /// recorded (the process stopped, the answer was lost, the channel failed in a way that
    /// may have applied it). A channel that cannot deduplicate by the idempotency key itself
    /// checks what it already holds before sending again; the first attempt costs no check.
    #[serde(default)]
    pub resend: bool,
}

/// A cancellation for one order, with its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationRequest {
    /// The order.
    pub order_id: ChannelOrderId,
    /// The cancellation.
    pub cancellation: Cancellation,
    /// The idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// True when an earlier attempt may have reached the channel without its outcome being
    /// recorded (the process stopped, the answer was lost, the channel failed in a way that
    /// may have applied it). A channel that cannot deduplicate by the idempotency key itself
    /// checks what it already holds before sending again; the first attempt costs no check.
    #[serde(default)]
    pub resend: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys() {
        let a = IdempotencyKey::generate();
        assert_ne!(a, IdempotencyKey::generate());
        assert_eq!(a.as_str().len(), 36);
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("x".repeat(65)).is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<IdempotencyKey>(&json).unwrap(), a);
        assert!(serde_json::from_str::<IdempotencyKey>("\"\"").is_err());
    }
}
