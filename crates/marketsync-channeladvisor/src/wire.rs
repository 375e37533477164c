//! ChannelAdvisor's wire format, exactly as sent and received: the JSON entities and action
//! bodies, OData query text, and the `$batch` multipart/mixed request and reply.

use chrono::{DateTime, Utc};
use marketsync_http::batch::{self, BatchItem};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::config::PriceField;

// ----- JSON entities -----

/// An OData collection page: `{"value":[..], "@odata.nextLink": ".."}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(crate) value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(crate) next_link: Option<String>,
    /// `@odata.count`, sent when `$count=true` was asked.
    #[serde(rename = "@odata.count", default)]
    pub(crate) count: Option<u64>,
}

/// `GET /v1/Profiles` element.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Profile {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    pub(crate) account_name: Option<String>,
    pub(crate) company_name: Option<String>,
    pub(crate) currency_code: Option<String>,
}

/// A product as selected by `list_listings` (`$select` + `$expand=Labels`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Product {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    pub(crate) sku: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) total_available_quantity: Option<i64>,
    pub(crate) labels: Option<Vec<ProductLabel>>,
    /// The price fields a listing's price can be kept in (only the configured one is
    /// selected; the others stay `None`).
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) buy_it_now_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) retail_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) store_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) starting_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) reserve_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) second_chance_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) min_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) max_price: Option<Decimal>,
}

impl Product {
    /// The value of one price field, as sent.
    pub(crate) fn price(&self, field: PriceField) -> Option<Decimal> {
        match field {
            PriceField::BuyItNowPrice => self.buy_it_now_price,
            PriceField::RetailPrice => self.retail_price,
            PriceField::StorePrice => self.store_price,
            PriceField::StartingPrice => self.starting_price,
            PriceField::ReservePrice => self.reserve_price,
            PriceField::SecondChancePrice => self.second_chance_price,
            PriceField::MinPrice => self.min_price,
            PriceField::MaxPrice => self.max_price,
        }
    }
}

/// The ProductLabel entity: `ProductID`, `ProfileID`, `Name`.
#[derive(Debug, Deserialize)]
pub(crate) struct ProductLabel {
    #[serde(rename = "Name")]
    pub(crate) name: String,
}

/// An order with `Items` and `Fulfillments` expanded.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Order {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    pub(crate) site_name: Option<String>,
    #[serde(rename = "SiteOrderID")]
    pub(crate) site_order_id: Option<String>,
    pub(crate) currency: Option<String>,
    pub(crate) created_date_utc: DateTime<Utc>,
    pub(crate) updated_date_utc: Option<DateTime<Utc>>,
    pub(crate) checkout_status: Option<String>,
    pub(crate) payment_status: Option<String>,
    pub(crate) shipping_status: Option<String>,
    pub(crate) requested_shipping_carrier: Option<String>,
    pub(crate) requested_shipping_class: Option<String>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) total_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) total_tax_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) total_shipping_price: Option<Decimal>,
    pub(crate) buyer_user_id: Option<String>,
    pub(crate) buyer_email_address: Option<String>,
    pub(crate) shipping_first_name: Option<String>,
    pub(crate) shipping_last_name: Option<String>,
    pub(crate) shipping_company_name: Option<String>,
    pub(crate) shipping_address_line1: Option<String>,
    pub(crate) shipping_address_line2: Option<String>,
    pub(crate) shipping_city: Option<String>,
    pub(crate) shipping_state_or_province: Option<String>,
    pub(crate) shipping_postal_code: Option<String>,
    pub(crate) shipping_country: Option<String>,
    pub(crate) shipping_daytime_phone: Option<String>,
    #[serde(default)]
    pub(crate) items: Vec<OrderItem>,
    /// Present when the expanded `Items` were cut at 20: the order must be read on its own.
    #[serde(rename = "Items@odata.nextLink")]
    pub(crate) items_next_link: Option<String>,
}

/// An order line.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OrderItem {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    #[serde(rename = "ProductID")]
    pub(crate) product_id: Option<u64>,
    pub(crate) sku: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) quantity: i64,
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) unit_price: Option<Decimal>,
}

/// A JSON number (or numeric string) as an exact decimal, through its shortest text form.
fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .to_string()
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(Value::String(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a number, found {other}"
        ))),
    }
}

/// A decimal as a JSON number (ChannelAdvisor's prices are `Edm.Decimal` numbers).
pub(crate) fn number(amount: Decimal) -> Value {
    amount
        .normalize()
        .to_string()
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

// ----- action bodies -----

/// `POST /v1/Products(ID)/UpdateQuantity`: `{"Value":{"UpdateType":..,"Updates":[..]}}`.
#[derive(Debug, Serialize)]
pub(crate) struct UpdateQuantity {
    #[serde(rename = "Value")]
    pub(crate) value: UpdateQuantityValue,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateQuantityValue {
    pub(crate) update_type: &'static str,
    pub(crate) updates: Vec<DcQuantity>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DcQuantity {
    #[serde(rename = "DistributionCenterID")]
    pub(crate) distribution_center_id: u64,
    #[serde(rename = "Quantity")]
    pub(crate) quantity: u32,
}

/// `POST /v1/Orders(ID)/Ship`: `{"Value":{..}}`.
#[derive(Debug, Serialize)]
pub(crate) struct Ship {
    #[serde(rename = "Value")]
    pub(crate) value: ShipValue,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShipValue {
    pub(crate) shipped_date_utc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_carrier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_class: Option<String>,
    #[serde(
        rename = "DistributionCenterID",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) distribution_center_id: Option<u64>,
    pub(crate) delivery_status: &'static str,
    #[serde(rename = "SellerFulfillmentID")]
    pub(crate) seller_fulfillment_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) items: Vec<ShipItem>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ShipItem {
    #[serde(rename = "OrderItemID")]
    pub(crate) order_item_id: u64,
    #[serde(rename = "Quantity")]
    pub(crate) quantity: u32,
}

/// `POST /v1/Orders(ID)/Adjust` and `POST /v1/OrderItems(ID)/Adjust`: the action's parameters
/// at the top level (not in `Value`). `AdjustmentAmount` is an order's; `Quantity` and
/// `ItemAdjustment` are a line's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Adjust {
    pub(crate) reason: &'static str,
    #[serde(rename = "SellerAdjustmentID")]
    pub(crate) seller_adjustment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) adjustment_amount: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) item_adjustment: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refund_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) restock: Option<bool>,
}

// ----- OData query text -----

/// An OData string literal: single quotes around, each `'` inside doubled. URL-encoding comes
/// after, with [`encode`].
pub(crate) fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), so a
/// space is `%20`, never `+`, and `'`, `&`, `#`, `/` and `%` can never end a value early.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs: keys as given (`$filter` keeps its `$`), values [`encode`]d.
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The most SKUs in one `$filter`: ASP.NET OData refuses filters of more than 100 nodes by
/// default (`MaxNodeCount`; ChannelAdvisor's setting is UNCONFIRMED), and each `Sku eq '..'`
/// with its `or` is 4 nodes.
pub(crate) const MAX_SKUS_PER_FILTER: usize = 20;

/// The longest encoded `$filter` value for a SKU lookup, well under the 2,048-character query
/// string IIS accepts by default (ChannelAdvisor answers 414 to longer URIs).
pub(crate) const MAX_FILTER_CHARS: usize = 1500;

/// Splits SKUs into groups whose `Sku eq '..' or ..` filter stays within
/// [`MAX_SKUS_PER_FILTER`] SKUs and [`MAX_FILTER_CHARS`] encoded characters (a single longer
/// SKU gets a group of its own).
pub(crate) fn sku_chunks(skus: &[&str]) -> Vec<Vec<String>> {
    let mut chunks: Vec<Vec<String>> = Vec::new();
    let mut len = 0;
    for sku in skus {
        let term = encode(&format!("Sku eq {} or ", odata_string(sku))).len();
        match chunks.last_mut() {
            Some(c) if c.len() < MAX_SKUS_PER_FILTER && len + term <= MAX_FILTER_CHARS => {
                c.push((*sku).to_owned());
                len += term;
            }
            _ => {
                chunks.push(vec![(*sku).to_owned()]);
                len = term;
            }
        }
    }
    chunks
}

/// `Sku eq 'a' or Sku eq 'b'`.
pub(crate) fn sku_filter(skus: &[String]) -> String {
    skus.iter()
        .map(|s| format!("Sku eq {}", odata_string(s)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// An OData date-time literal (unquoted UTC): `2026-03-02T10:00:00Z`.
pub(crate) fn odata_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ----- $batch -----

/// One request inside a `$batch`.
#[derive(Debug, Clone)]
pub(crate) struct BatchRequest {
    /// `POST`, `PATCH`, `DELETE`.
    pub(crate) method: &'static str,
    /// The absolute URL.
    pub(crate) url: String,
    /// The JSON body, if any.
    pub(crate) body: Option<String>,
}

/// The `multipart/mixed` body of a `$batch` request. Each request goes in a change set of its
/// own with `Content-ID` = its 1-based position: OData v3 (which ChannelAdvisor's batch page
/// links) wants changes inside change sets, and a change set is all-or-nothing with a single
/// answer on failure, so one request per change set keeps every request's own status. Lines end
/// with CRLF. `authorization` (the outer request's `Authorization` value) is repeated on every
/// inner request, in case sub-requests are authenticated on their own (UNCONFIRMED either way).
pub(crate) fn batch_body(boundary: &str, requests: &[BatchRequest], authorization: &str) -> String {
    let items: Vec<BatchItem<batch::BatchRequest>> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut headers = vec![("Authorization".to_owned(), authorization.to_owned())];
            if r.body.is_some() {
                headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            }
            BatchItem::Changeset(vec![batch::BatchRequest {
                content_id: Some((i + 1).to_string()),
                method: r.method.to_owned(),
                url: r.url.clone(),
                headers,
                body: r.body.clone().unwrap_or_default().into_bytes(),
            }])
        })
        .collect();
    batch::encode_requests(boundary, &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_shape() {
        let body = batch_body(
            "batch_1",
            &[
                BatchRequest {
                    method: "POST",
                    url: "https://api.example/v1/Products(5)/UpdateQuantity".into(),
                    body: Some("{}".into()),
                },
                BatchRequest {
                    method: "DELETE",
                    url: "https://api.example/v1/ProductLabels(ProductID=5,Name='A')".into(),
                    body: None,
                },
            ],
            "Bearer t",
        );
        let expected = [
            "--batch_1",
            "Content-Type: multipart/mixed; boundary=changeset_batch_1_1",
            "",
            "--changeset_batch_1_1",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 1",
            "",
            "POST https://api.example/v1/Products(5)/UpdateQuantity HTTP/1.1",
            "Authorization: Bearer t",
            "Content-Type: application/json",
            "",
            "{}",
            "--changeset_batch_1_1--",
            "--batch_1",
            "Content-Type: multipart/mixed; boundary=changeset_batch_1_2",
            "",
            "--changeset_batch_1_2",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 2",
            "",
            "DELETE https://api.example/v1/ProductLabels(ProductID=5,Name='A') HTTP/1.1",
            "Authorization: Bearer t",
            "",
            "--changeset_batch_1_2--",
            "--batch_1--",
            "",
        ]
        .join("\r\n");
        assert_eq!(body, expected);
    }

    #[test]
    fn odata_text() {
        assert_eq!(odata_string("Bob's"), "'Bob''s'");
        assert_eq!(encode("Sku eq 'a&b'"), "Sku%20eq%20%27a%26b%27");
        assert_eq!(
            query_string(&[
                ("$filter", "A eq 'x y'".into()),
                ("exported", "false".into())
            ]),
            "$filter=A%20eq%20%27x%20y%27&exported=false"
        );
        assert_eq!(
            sku_filter(&["a".into(), "b'c".into()]),
            "Sku eq 'a' or Sku eq 'b''c'"
        );
    }

    #[test]
    fn sku_chunking() {
        let skus: Vec<String> = (0..45).map(|i| format!("SKU-{i}")).collect();
        let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
        let chunks = sku_chunks(&refs);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [20, 20, 5]);
        let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(400))).collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        for c in sku_chunks(&refs) {
            assert!(encode(&sku_filter(&c)).len() <= MAX_FILTER_CHARS);
        }
        let huge = "y".repeat(3000);
        assert_eq!(sku_chunks(&[huge.as_str(), "a"]).len(), 2);
    }
}

/// The carrier and class the buyer chose, as the order carries them
/// (`$select=ID,RequestedShippingCarrier,RequestedShippingClass`): what a shipment without its
/// own carrier or class is sent with.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestedShipping {
    #[serde(rename = "RequestedShippingCarrier", default)]
    pub(crate) carrier: Option<String>,
    #[serde(rename = "RequestedShippingClass", default)]
    pub(crate) class: Option<String>,
}

/// The idempotency ids an order already carries (a resend reads them before sending again).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AppliedKeys {
    /// `Fulfillments` (only `SellerFulfillmentID` is read).
    #[serde(default)]
    pub(crate) fulfillments: Vec<AppliedFulfillment>,
    /// `Adjustments` (only `SellerAdjustmentID` is read).
    #[serde(default)]
    pub(crate) adjustments: Vec<AppliedAdjustment>,
}

/// One fulfilment's id as the seller sent it.
#[derive(Debug, Deserialize)]
pub(crate) struct AppliedFulfillment {
    #[serde(rename = "SellerFulfillmentID", default)]
    pub(crate) seller_fulfillment_id: Option<String>,
}

/// One adjustment's id as the seller sent it.
#[derive(Debug, Deserialize)]
pub(crate) struct AppliedAdjustment {
    #[serde(rename = "SellerAdjustmentID", default)]
    pub(crate) seller_adjustment_id: Option<String>,
}
