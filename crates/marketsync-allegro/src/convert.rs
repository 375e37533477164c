//! Allegro's wire types ↔ marketsync's core types: offers, checkout forms, statuses, money (as
//! exact decimal strings), refund reasons, command ids, and the login session.

use chrono::{DateTime, Months, Utc};
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    Address, AdjustmentReason, Buyer, ChannelError, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Currency, CurrencySource, ErrorKind, Money, Order,
    OrderLine, OrderState, OrderStatus, Sku,
};
use marketsync_http::TokenSet;

use crate::wire::{self, CheckoutForm, Offer};

/// How long a refresh token lives: 3 months from when it was issued (each renewal issues a new
/// one, so the window slides).
pub(crate) const REFRESH_TOKEN_LIFETIME: Months = Months::new(3);

fn unreadable(what: impl Into<String>) -> ChannelError {
    ChannelError::new(ErrorKind::Channel, what)
}

/// Exact money from Allegro's `{"amount": "…", "currency": "…"}`.
pub(crate) fn money(price: &wire::Price) -> Result<Money, ChannelError> {
    Money::parse(price.amount.trim(), price.currency.trim()).map_err(|e| {
        unreadable(format!(
            "Allegro sent an amount that could not be read ({:?} {:?}): {e}",
            price.amount, price.currency
        ))
    })
}

/// Money as Allegro takes it: the amount as a plain decimal string, exactly as held.
pub(crate) fn price(money: &Money) -> wire::Price {
    wire::Price {
        amount: money.amount().to_string(),
        currency: money.currency().code().to_owned(),
    }
}

/// The core state of an offer's `publication.status` (and stock).
pub(crate) fn listing_state(status: Option<&str>, available: Option<i64>) -> ChannelListingState {
    match status {
        Some("ACTIVE") if available == Some(0) => ChannelListingState::SoldOut,
        Some("ACTIVE") => ChannelListingState::Live,
        // Being listed (or scheduled): not buyable yet.
        Some("INACTIVE" | "ACTIVATING") => ChannelListingState::Draft,
        Some("ENDED") => ChannelListingState::Ended,
        _ => ChannelListingState::Other,
    }
}

/// An offer as a channel listing; `external.id` is the SKU.
pub(crate) fn to_listing(offer: &Offer) -> Result<ChannelListing, ChannelError> {
    let id = ChannelListingId::new(offer.id.clone())
        .map_err(|e| unreadable(format!("an Allegro offer id could not be read: {e}")))?;
    let status = offer.publication.as_ref().and_then(|p| p.status.clone());
    let available = offer.stock.as_ref().and_then(|s| s.available);
    let price = match offer.selling_mode.as_ref().and_then(|m| m.price.as_ref()) {
        Some(p) => Some(money(p)?),
        None => None,
    };
    Ok(ChannelListing {
        id,
        sku: offer
            .external
            .as_ref()
            .and_then(|e| e.id.as_deref())
            .and_then(|s| Sku::new(s).ok()),
        title: offer.name.clone(),
        price,
        quantity: available.and_then(|q| u32::try_from(q).ok()),
        state: listing_state(status.as_deref(), available),
        raw_state: status.unwrap_or_default(),
    })
}

/// The core state of a checkout form: the buyer's side (`status`) first, then the seller's
/// fulfilment status.
pub(crate) fn order_state(status: Option<&str>, fulfillment: Option<&str>) -> OrderState {
    match status {
        Some("BOUGHT") => OrderState::Unpaid,
        Some("FILLED_IN") => OrderState::PaymentPending,
        Some("CANCELLED") => OrderState::Cancelled,
        Some("READY_FOR_PROCESSING") => match fulfillment {
            None | Some("NEW" | "PROCESSING" | "READY_FOR_SHIPMENT" | "READY_FOR_PICKUP") => {
                OrderState::AwaitingShipment
            }
            Some("SENT") => OrderState::Shipped,
            Some("PICKED_UP") => OrderState::Completed,
            Some("CANCELLED") => OrderState::Cancelled,
            Some("SUSPENDED") => OrderState::OnHold,
            Some("RETURNED") => OrderState::Refunded,
            Some(_) => OrderState::Unknown,
        },
        _ => OrderState::Unknown,
    }
}

/// The raw status text: `READY_FOR_PROCESSING / NEW` (the form's status, then the fulfilment
/// status when there is one).
pub(crate) fn raw_status(status: Option<&str>, fulfillment: Option<&str>) -> String {
    match fulfillment {
        Some(f) => format!("{} / {f}", status.unwrap_or("")),
        None => status.unwrap_or("").to_owned(),
    }
}

fn date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn join_name(first: Option<&String>, last: Option<&String>) -> Option<String> {
    let parts: Vec<String> = [first, last].into_iter().filter_map(non_empty).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A checkout form as an order. Every amount is exact; the currency is the order's total's
/// (else the first line's, else `default_currency`), and a line price or delivery cost in
/// another currency makes the order unreadable.
pub(crate) fn to_order(
    form: &CheckoutForm,
    default_currency: Currency,
) -> Result<Order, ChannelError> {
    let channel_order_id = ChannelOrderId::new(form.id.clone())
        .map_err(|e| unreadable(format!("an Allegro order id could not be read: {e}")))?;
    let total = match form.summary.as_ref().and_then(|s| s.total_to_pay.as_ref()) {
        Some(p) => Some(money(p)?),
        None => None,
    };
    let first_line_currency = form
        .line_items
        .first()
        .and_then(|l| Currency::new(l.price.currency.trim()).ok());
    let (currency, currency_source) = match total.map(|t| t.currency()).or(first_line_currency) {
        Some(c) => (c, CurrencySource::Channel),
        None => (default_currency, CurrencySource::IntegrationDefault),
    };
    let mut lines = Vec::with_capacity(form.line_items.len());
    for item in &form.line_items {
        let quantity = item
            .quantity
            .as_u64()
            .or_else(|| {
                item.quantity
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| {
                unreadable(format!(
                    "line {} has a quantity that is not a whole number: {}",
                    item.id, item.quantity
                ))
            })?;
        lines.push(OrderLine {
            line_id: item.id.clone(),
            sku: item
                .offer
                .external
                .as_ref()
                .and_then(|e| e.id.as_deref())
                .and_then(|s| Sku::new(s).ok()),
            listing_id: item
                .offer
                .id
                .as_deref()
                .and_then(|id| ChannelListingId::new(id).ok()),
            title: item.offer.name.clone().unwrap_or_default(),
            quantity,
            unit_price: money(&item.price)?,
        });
    }
    let bought_at = form
        .line_items
        .iter()
        .filter_map(|l| l.bought_at.as_deref().and_then(date))
        .min();
    let updated_at = form.updated_at.as_deref().and_then(date);
    let created_at = bought_at.or(updated_at).ok_or_else(|| {
        unreadable(format!(
            "order {} has neither a purchase time nor an update time",
            form.id
        ))
    })?;
    let fulfillment = form.fulfillment.as_ref().and_then(|f| f.status.as_deref());
    let delivery = form.delivery.as_ref();
    let shipping_price = match delivery.and_then(|d| d.cost.as_ref()) {
        Some(p) => Some(money(p)?),
        None => None,
    };
    // Every amount of an order is in the order's currency: an order mixing currencies cannot
    // be read (its amounts could not be added up or compared).
    if let Some(other) = lines
        .iter()
        .map(|l| l.unit_price.currency())
        .chain(shipping_price.as_ref().map(|m| m.currency()))
        .find(|c| *c != currency)
    {
        return Err(unreadable(format!(
            "order {} has amounts in more than one currency ({} and {})",
            form.id,
            currency.code(),
            other.code()
        )));
    }
    let shipping_address = delivery.and_then(|d| d.address.as_ref()).map(|a| Address {
        name: join_name(a.first_name.as_ref(), a.last_name.as_ref()),
        company: non_empty(a.company_name.as_ref()),
        line1: non_empty(a.street.as_ref()),
        line2: None,
        city: non_empty(a.city.as_ref()),
        region: None,
        postal_code: non_empty(a.zip_code.as_ref()),
        country: non_empty(a.country_code.as_ref()),
        phone: non_empty(a.phone_number.as_ref()),
    });
    let buyer = form
        .buyer
        .as_ref()
        .map(|b| Buyer {
            id: non_empty(b.login.as_ref()).or_else(|| non_empty(b.id.as_ref())),
            name: join_name(b.first_name.as_ref(), b.last_name.as_ref()),
            email: non_empty(b.email.as_ref()),
        })
        .unwrap_or_default();
    Ok(Order {
        channel_order_id,
        marketplace_order_id: None,
        site: form.marketplace.as_ref().map(|m| m.id.clone()),
        created_at,
        updated_at,
        status: OrderStatus::new(
            order_state(form.status.as_deref(), fulfillment),
            raw_status(form.status.as_deref(), fulfillment),
        ),
        currency,
        currency_source,
        lines,
        shipping_method: delivery
            .and_then(|d| d.method.as_ref())
            .and_then(|m| m.name.clone()),
        shipping_price,
        tax: None,
        total,
        shipping_address,
        buyer,
        local_pickup: false,
        revision: form.revision.clone(),
    })
}

/// Allegro's refund reason for a core adjustment reason.
pub(crate) fn refund_reason(reason: AdjustmentReason) -> &'static str {
    match reason {
        AdjustmentReason::ItemNotAvailable | AdjustmentReason::CouldNotShip => {
            "PRODUCT_NOT_AVAILABLE"
        }
        AdjustmentReason::BuyerCancelled => "CANCELLED_BY_BUYER",
        AdjustmentReason::MerchandiseNotReceived | AdjustmentReason::ShippingDamage => "COMPLAINT",
        _ => "REFUND",
    }
}

/// 64-bit FNV-1a over length-prefixed parts (stable across builds).
pub(crate) fn digest(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in (p.len() as u64).to_le_bytes().iter().chain(p.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// A UUID (version-4 layout, as Allegro's command ids are) derived from `parts`: the same parts
/// always give the same id.
pub(crate) fn derived_uuid(parts: &[&str]) -> String {
    let a = digest(0x5bd1_e995, parts);
    let b = digest(0x27d4_eb2f_1656_67c5, parts);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The `commandId` of a refund: the idempotency key itself when it is a UUID, else a UUID
/// derived from it, so every attempt of one refund carries the same id.
pub(crate) fn refund_command_id(key: &str) -> String {
    match uuid::Uuid::parse_str(key) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => derived_uuid(&["refund", key]),
    }
}

/// The credentials to store for tokens Allegro issued at `obtained_at` (a login, or a
/// renewal): a [`LoginSession`] whose refresh token expires 3 months later, so the engine's
/// "credentials expiring" notice comes before the seller must log in again.
pub fn login_session(tokens: &TokenSet, obtained_at: DateTime<Utc>) -> LoginSession {
    LoginSession {
        user_id: None,
        token: tokens.access_token.clone(),
        expires_at: tokens.expires_at.unwrap_or(obtained_at),
        refresh_token: tokens.refresh_token.clone(),
        refresh_expires_at: tokens
            .refresh_token
            .as_ref()
            .and_then(|_| obtained_at.checked_add_months(REFRESH_TOKEN_LIFETIME)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(
            listing_state(Some("ACTIVE"), Some(3)),
            ChannelListingState::Live
        );
        assert_eq!(
            listing_state(Some("ACTIVE"), Some(0)),
            ChannelListingState::SoldOut
        );
        assert_eq!(
            listing_state(Some("ENDED"), None),
            ChannelListingState::Ended
        );
        assert_eq!(
            listing_state(Some("INACTIVE"), None),
            ChannelListingState::Draft
        );
        assert_eq!(
            order_state(Some("READY_FOR_PROCESSING"), Some("SENT")),
            OrderState::Shipped
        );
        assert_eq!(order_state(Some("BOUGHT"), None), OrderState::Unpaid);
        assert_eq!(
            order_state(Some("READY_FOR_PROCESSING"), Some("NEW")),
            OrderState::AwaitingShipment
        );
    }

    #[test]
    fn money_is_exact() {
        let m = money(&wire::Price {
            amount: "1234.50".into(),
            currency: "PLN".into(),
        })
        .unwrap();
        assert_eq!(m.amount().to_string(), "1234.50");
        assert_eq!(price(&m).amount, "1234.50");
    }

    #[test]
    fn ids() {
        let a = derived_uuid(&["q", "5", "1,2"]);
        assert_eq!(a, derived_uuid(&["q", "5", "1,2"]));
        assert_ne!(a, derived_uuid(&["q", "6", "1,2"]));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
        let k = "0e2c9b4e-3c55-4a3e-9a43-5d1a3a9f4c11";
        assert_eq!(refund_command_id(k), k);
        assert_eq!(refund_command_id("r-1"), refund_command_id("r-1"));
    }

    #[test]
    fn session_lives_three_months() {
        let now = DateTime::parse_from_rfc3339("2026-03-05T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = login_session(
            &TokenSet {
                access_token: "a".to_owned().into(),
                expires_at: Some(now + chrono::TimeDelta::hours(12)),
                refresh_token: Some("r".to_owned().into()),
                scopes: vec![],
            },
            now,
        );
        assert_eq!(
            s.refresh_expires_at.unwrap().to_rfc3339(),
            "2026-06-05T09:00:00+00:00"
        );
    }
}
