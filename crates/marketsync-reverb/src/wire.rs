//! Reverb's wire format, exactly as sent and received (HAL+JSON, API version 3.0): the shop,
//! listings with their state objects, selling orders with money objects, `_links`, and the
//! request bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ----- shared -----

/// `_links` of a collection: only `next` is followed (absent on the last page).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Links {
    pub(crate) next: Option<Link>,
}

/// One HAL link.
#[derive(Debug, Deserialize)]
pub(crate) struct Link {
    pub(crate) href: String,
}

/// A Reverb money object: `{"amount": "5000.00", "amount_cents": 500000, "currency": "USD",
/// "symbol": "$", "display": "$5,000"}`. The amount is read from its decimal string only, never
/// through a float; a money object whose amount is not a string does not parse.
#[derive(Debug, Deserialize)]
pub(crate) struct Money {
    pub(crate) amount: String,
    pub(crate) currency: String,
}

/// An id Reverb sends as a number or as a string, kept as text.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id (number or string), found {other}"
        ))),
    }
}

/// [`id_text`] for an optional field (missing or `null` is `None`).
fn opt_id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an id (number or string), found {other}"
        ))),
    }
}

/// A count (`total`, `total_pages`): a whole number, else `None` (never an error: the count
/// only guides how listings are read, the listings themselves are what matters).
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| v.as_u64()))
}

// ----- shop -----

/// `GET /api/shop`: the token's own shop.
#[derive(Debug, Deserialize)]
pub(crate) struct Shop {
    #[serde(deserialize_with = "id_text")]
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) currency: Option<String>,
}

// ----- listings -----

/// `GET /api/my/listings`: `{"total", "current_page", "total_pages", "listings": [..],
/// "_links": {"next": {"href"}}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListingsPage {
    #[serde(default)]
    pub(crate) listings: Vec<Listing>,
    /// Read leniently: a count that is not a whole number is no count.
    #[serde(default, deserialize_with = "lenient_count")]
    pub(crate) total: Option<u64>,
    /// Read leniently, as `total`.
    #[serde(default, deserialize_with = "lenient_count")]
    pub(crate) total_pages: Option<u64>,
    #[serde(rename = "_links", default)]
    pub(crate) links: Links,
}

/// A listing as `GET /api/my/listings` returns it (the fields read here).
#[derive(Debug, Deserialize)]
pub(crate) struct Listing {
    #[serde(deserialize_with = "id_text")]
    pub(crate) id: String,
    pub(crate) sku: Option<String>,
    pub(crate) title: Option<String>,
    /// Read leniently: a price that cannot be read is reported as no price, never as a missing
    /// listing (which the engine would take for a broken link).
    pub(crate) price: Option<Value>,
    pub(crate) inventory: Option<i64>,
    pub(crate) state: Option<ListingState>,
}

/// A listing's state object: `{"slug": "live", "description": "Live"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListingState {
    pub(crate) slug: Option<String>,
}

/// The answer to `POST /api/listings`: `{"message", "listing": {..}, "errors": {}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Created {
    pub(crate) listing: Option<CreatedListing>,
}

/// The created listing (its id is all that is read).
#[derive(Debug, Deserialize)]
pub(crate) struct CreatedListing {
    #[serde(deserialize_with = "id_text")]
    pub(crate) id: String,
}

// ----- orders -----

/// `GET /api/my/orders/selling/all`: `{"total", "current_page", "total_pages", "orders": [..],
/// "_links": {"next": {"href"}}}`. Orders are read one by one so that one unreadable order does
/// not hide the others.
#[derive(Debug, Deserialize)]
pub(crate) struct OrdersPage {
    #[serde(default)]
    pub(crate) orders: Vec<Value>,
    #[serde(rename = "_links", default)]
    pub(crate) links: Links,
}

/// A selling order (one listing per order).
#[derive(Debug, Deserialize)]
pub(crate) struct Order {
    #[serde(deserialize_with = "id_text")]
    pub(crate) order_number: String,
    pub(crate) uuid: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: Option<DateTime<Utc>>,
    pub(crate) status: Option<String>,
    pub(crate) sku: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) quantity: Option<u32>,
    #[serde(default, deserialize_with = "opt_id_text")]
    pub(crate) product_id: Option<String>,
    pub(crate) amount_product: Option<Money>,
    pub(crate) amount_product_subtotal: Option<Money>,
    pub(crate) shipping: Option<Money>,
    pub(crate) amount_tax: Option<Money>,
    pub(crate) total: Option<Money>,
    #[serde(default, deserialize_with = "opt_id_text")]
    pub(crate) buyer_id: Option<String>,
    pub(crate) buyer_name: Option<String>,
    pub(crate) buyer_first_name: Option<String>,
    pub(crate) buyer_last_name: Option<String>,
    pub(crate) buyer_email: Option<String>,
    pub(crate) shipping_address: Option<Address>,
    pub(crate) shipping_method: Option<String>,
    pub(crate) local_pickup: Option<bool>,
}

/// An order's `shipping_address` (the fields Reverb's Magento plugin reads).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Address {
    pub(crate) name: Option<String>,
    pub(crate) street_address: Option<String>,
    pub(crate) extended_address: Option<String>,
    pub(crate) locality: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) postal_code: Option<String>,
    pub(crate) country_code: Option<String>,
    pub(crate) phone: Option<String>,
}

// ----- request bodies -----

/// A money object as sent: `{"amount": "12.50", "currency": "USD"}`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct MoneyBody {
    pub(crate) amount: String,
    pub(crate) currency: String,
}

/// `PUT /api/listings/{id}`: only the fields that change.
#[derive(Debug, Serialize)]
pub(crate) struct UpdateListing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) inventory: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) price: Option<MoneyBody>,
}

/// `POST /api/listings`: a draft unless `publish` is true.
#[derive(Debug, Serialize)]
pub(crate) struct NewListing {
    pub(crate) sku: String,
    pub(crate) title: String,
    pub(crate) price: MoneyBody,
    pub(crate) has_inventory: bool,
    pub(crate) inventory: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_profile_id: Option<String>,
    pub(crate) publish: bool,
}

/// `PUT /api/my/listings/{id}/state/end`.
#[derive(Debug, Serialize)]
pub(crate) struct EndListing {
    pub(crate) reason: &'static str,
}

/// `POST /api/my/orders/selling/{order_number}/ship`: all three fields are required.
#[derive(Debug, Serialize)]
pub(crate) struct Ship {
    pub(crate) provider: String,
    pub(crate) tracking_number: String,
    pub(crate) send_notification: bool,
}

/// `POST /api/my/orders/selling/{order_number}/mark_picked_up`.
#[derive(Debug, Serialize)]
pub(crate) struct PickedUp {
    pub(crate) date: String,
}

/// `POST /api/my/orders/selling/{order_number}/refund_requests`, a seller-initiated refund.
/// The field names come from a third-party summary of Reverb's docs only (low confidence): the
/// body carries nothing beyond them.
#[derive(Debug, Serialize)]
pub(crate) struct Refund {
    pub(crate) state: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) refund_amount: MoneyBody,
}

/// A time as Reverb's date filters and bodies take it: ISO 8601 in UTC written with a `-00:00`
/// offset (`2015-04-09T10:52:23-00:00`, the form in Reverb's docs). A `+00:00` offset would need
/// its `+` percent-encoded in a query, and whether `Z` is accepted is unconfirmed; `-00:00`
/// avoids both.
pub(crate) fn datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S-00:00").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn ids_as_numbers_or_text() {
        let l: Listing = serde_json::from_str(r#"{"id": 123}"#).unwrap();
        assert_eq!(l.id, "123");
        let l: Listing = serde_json::from_str(r#"{"id": "123-fender-strat"}"#).unwrap();
        assert_eq!(l.id, "123-fender-strat");
        assert!(serde_json::from_str::<Listing>(r#"{"id": 1.5}"#).is_err());
    }

    #[test]
    fn money_amounts_are_strings_only() {
        let m: Money = serde_json::from_str(
            r#"{"amount":"5000.00","amount_cents":500000,"currency":"USD","symbol":"$","display":"$5,000"}"#,
        )
        .unwrap();
        assert_eq!(m.amount, "5000.00");
        assert!(serde_json::from_str::<Money>(r#"{"amount":5000.0,"currency":"USD"}"#).is_err());
    }

    #[test]
    fn dates_without_plus() {
        let at = Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap();
        assert_eq!(datetime(at), "2026-03-05T09:00:00-00:00");
    }

    #[test]
    fn bodies() {
        let b = UpdateListing {
            title: None,
            inventory: Some(3),
            price: Some(MoneyBody {
                amount: "12.50".into(),
                currency: "USD".into(),
            }),
        };
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"inventory":3,"price":{"amount":"12.50","currency":"USD"}}"#
        );
    }
}
