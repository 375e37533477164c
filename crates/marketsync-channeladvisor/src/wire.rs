//! ChannelAdvisor's wire format, exactly as sent and received: the JSON entities and action
//! bodies, OData query text, and the `$batch` multipart/mixed request and reply.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
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
pub(crate) struct Profile {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    #[serde(rename = "AccountName", default)]
    pub(crate) account_name: Option<String>,
    #[serde(rename = "CompanyName", default)]
    pub(crate) company_name: Option<String>,
    #[serde(rename = "CurrencyCode", default)]
    pub(crate) currency_code: Option<String>,
}

/// A product as selected by `list_listings` (`$select` + `$expand=Labels`).
#[derive(Debug, Deserialize)]
pub(crate) struct Product {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    #[serde(rename = "Sku", default)]
    pub(crate) sku: Option<String>,
    #[serde(rename = "Title", default)]
    pub(crate) title: Option<String>,
    #[serde(rename = "TotalAvailableQuantity", default)]
    pub(crate) total_available_quantity: Option<i64>,
    #[serde(rename = "Labels", default)]
    pub(crate) labels: Option<Vec<ProductLabel>>,
    /// The price fields a listing's price can be kept in (only the configured one is
    /// selected; the others stay `None`).
    #[serde(rename = "BuyItNowPrice", default, deserialize_with = "decimal")]
    pub(crate) buy_it_now_price: Option<Decimal>,
    #[serde(rename = "RetailPrice", default, deserialize_with = "decimal")]
    pub(crate) retail_price: Option<Decimal>,
    #[serde(rename = "StorePrice", default, deserialize_with = "decimal")]
    pub(crate) store_price: Option<Decimal>,
    #[serde(rename = "StartingPrice", default, deserialize_with = "decimal")]
    pub(crate) starting_price: Option<Decimal>,
    #[serde(rename = "ReservePrice", default, deserialize_with = "decimal")]
    pub(crate) reserve_price: Option<Decimal>,
    #[serde(rename = "SecondChancePrice", default, deserialize_with = "decimal")]
    pub(crate) second_chance_price: Option<Decimal>,
    #[serde(rename = "MinPrice", default, deserialize_with = "decimal")]
    pub(crate) min_price: Option<Decimal>,
    #[serde(rename = "MaxPrice", default, deserialize_with = "decimal")]
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
pub(crate) struct Order {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    #[serde(rename = "SiteName", default)]
    pub(crate) site_name: Option<String>,
    #[serde(rename = "SiteOrderID", default)]
    pub(crate) site_order_id: Option<String>,
    #[serde(rename = "Currency", default)]
    pub(crate) currency: Option<String>,
    #[serde(rename = "CreatedDateUtc")]
    pub(crate) created_date_utc: DateTime<Utc>,
    #[serde(rename = "UpdatedDateUtc", default)]
    pub(crate) updated_date_utc: Option<DateTime<Utc>>,
    #[serde(rename = "CheckoutStatus", default)]
    pub(crate) checkout_status: Option<String>,
    #[serde(rename = "PaymentStatus", default)]
    pub(crate) payment_status: Option<String>,
    #[serde(rename = "ShippingStatus", default)]
    pub(crate) shipping_status: Option<String>,
    #[serde(rename = "RequestedShippingCarrier", default)]
    pub(crate) requested_shipping_carrier: Option<String>,
    #[serde(rename = "RequestedShippingClass", default)]
    pub(crate) requested_shipping_class: Option<String>,
    #[serde(rename = "TotalPrice", default, deserialize_with = "decimal")]
    pub(crate) total_price: Option<Decimal>,
    #[serde(rename = "TotalTaxPrice", default, deserialize_with = "decimal")]
    pub(crate) total_tax_price: Option<Decimal>,
    #[serde(rename = "TotalShippingPrice", default, deserialize_with = "decimal")]
    pub(crate) total_shipping_price: Option<Decimal>,
    #[serde(rename = "BuyerUserId", default)]
    pub(crate) buyer_user_id: Option<String>,
    #[serde(rename = "BuyerEmailAddress", default)]
    pub(crate) buyer_email_address: Option<String>,
    #[serde(rename = "ShippingFirstName", default)]
    pub(crate) shipping_first_name: Option<String>,
    #[serde(rename = "ShippingLastName", default)]
    pub(crate) shipping_last_name: Option<String>,
    #[serde(rename = "ShippingCompanyName", default)]
    pub(crate) shipping_company_name: Option<String>,
    #[serde(rename = "ShippingAddressLine1", default)]
    pub(crate) shipping_address_line1: Option<String>,
    #[serde(rename = "ShippingAddressLine2", default)]
    pub(crate) shipping_address_line2: Option<String>,
    #[serde(rename = "ShippingCity", default)]
    pub(crate) shipping_city: Option<String>,
    #[serde(rename = "ShippingStateOrProvince", default)]
    pub(crate) shipping_state_or_province: Option<String>,
    #[serde(rename = "ShippingPostalCode", default)]
    pub(crate) shipping_postal_code: Option<String>,
    #[serde(rename = "ShippingCountry", default)]
    pub(crate) shipping_country: Option<String>,
    #[serde(rename = "ShippingDaytimePhone", default)]
    pub(crate) shipping_daytime_phone: Option<String>,
    #[serde(rename = "Items", default)]
    pub(crate) items: Vec<OrderItem>,
    /// Present when the expanded `Items` were cut at 20: the order must be read on its own.
    #[serde(rename = "Items@odata.nextLink", default)]
    pub(crate) items_next_link: Option<String>,
}

/// An order line.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderItem {
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    #[serde(rename = "ProductID", default)]
    pub(crate) product_id: Option<u64>,
    #[serde(rename = "Sku", default)]
    pub(crate) sku: Option<String>,
    #[serde(rename = "Title", default)]
    pub(crate) title: Option<String>,
    #[serde(rename = "Quantity")]
    pub(crate) quantity: i64,
    #[serde(rename = "UnitPrice", default, deserialize_with = "decimal")]
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
pub(crate) struct UpdateQuantityValue {
    #[serde(rename = "UpdateType")]
    pub(crate) update_type: &'static str,
    #[serde(rename = "Updates")]
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
pub(crate) struct ShipValue {
    #[serde(rename = "ShippedDateUtc")]
    pub(crate) shipped_date_utc: String,
    #[serde(rename = "TrackingNumber", skip_serializing_if = "Option::is_none")]
    pub(crate) tracking_number: Option<String>,
    #[serde(rename = "ShippingCarrier", skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_carrier: Option<String>,
    #[serde(rename = "ShippingClass", skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_class: Option<String>,
    #[serde(
        rename = "DistributionCenterID",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) distribution_center_id: Option<u64>,
    #[serde(rename = "DeliveryStatus")]
    pub(crate) delivery_status: &'static str,
    #[serde(rename = "SellerFulfillmentID")]
    pub(crate) seller_fulfillment_id: String,
    #[serde(rename = "Items", skip_serializing_if = "Vec::is_empty")]
    pub(crate) items: Vec<ShipItem>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ShipItem {
    #[serde(rename = "OrderItemID")]
    pub(crate) order_item_id: u64,
    #[serde(rename = "Quantity")]
    pub(crate) quantity: u32,
}

/// `POST /v1/Orders(ID)/Adjust`: the action's parameters at the top level (not in `Value`).
#[derive(Debug, Serialize)]
pub(crate) struct OrderAdjust {
    #[serde(rename = "Reason")]
    pub(crate) reason: &'static str,
    #[serde(rename = "SellerAdjustmentID")]
    pub(crate) seller_adjustment_id: String,
    #[serde(rename = "AdjustmentAmount", skip_serializing_if = "Option::is_none")]
    pub(crate) adjustment_amount: Option<Value>,
    #[serde(rename = "RefundOnly", skip_serializing_if = "Option::is_none")]
    pub(crate) refund_only: Option<bool>,
    #[serde(rename = "Restock", skip_serializing_if = "Option::is_none")]
    pub(crate) restock: Option<bool>,
}

/// `POST /v1/OrderItems(ID)/Adjust`.
#[derive(Debug, Serialize)]
pub(crate) struct ItemAdjust {
    #[serde(rename = "Reason")]
    pub(crate) reason: &'static str,
    #[serde(rename = "SellerAdjustmentID")]
    pub(crate) seller_adjustment_id: String,
    #[serde(rename = "Quantity", skip_serializing_if = "Option::is_none")]
    pub(crate) quantity: Option<u32>,
    #[serde(rename = "ItemAdjustment", skip_serializing_if = "Option::is_none")]
    pub(crate) item_adjustment: Option<Value>,
    #[serde(rename = "RefundOnly", skip_serializing_if = "Option::is_none")]
    pub(crate) refund_only: Option<bool>,
    #[serde(rename = "Restock", skip_serializing_if = "Option::is_none")]
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
    let mut out = String::new();
    for (i, r) in requests.iter().enumerate() {
        let n = i + 1;
        let changeset = format!("changeset_{boundary}_{n}");
        out.push_str(&format!("--{boundary}\r\n"));
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        ));
        out.push_str(&format!("--{changeset}\r\n"));
        out.push_str("Content-Type: application/http\r\n");
        out.push_str("Content-Transfer-Encoding: binary\r\n");
        out.push_str(&format!("Content-ID: {n}\r\n\r\n"));
        out.push_str(&format!("{} {} HTTP/1.1\r\n", r.method, r.url));
        out.push_str(&format!("Authorization: {authorization}\r\n"));
        match &r.body {
            Some(body) => {
                out.push_str("Content-Type: application/json\r\n\r\n");
                out.push_str(body);
                out.push_str("\r\n");
            }
            None => out.push_str("\r\n"),
        }
        out.push_str(&format!("--{changeset}--\r\n"));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// The answer to one request of a `$batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchPart {
    /// The `Content-ID` echoed, when there was one.
    pub(crate) content_id: Option<String>,
    /// The part's HTTP status.
    pub(crate) status: u16,
    /// The part's body.
    pub(crate) body: Vec<u8>,
}

/// Why a `$batch` reply could not be read at all (parts that cannot be read are left out and
/// reported per request by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BatchReplyError {
    #[error("the $batch reply has no multipart boundary in its Content-Type")]
    NoBoundary,
    #[error("the $batch reply could not be read as JSON: {0}")]
    Json(String),
    #[error("the $batch reply has an unexpected Content-Type {0:?}")]
    ContentType(String),
}

/// Reads a `$batch` reply: `multipart/mixed` (parts and change sets, nested up to
/// [`MAX_MULTIPART_DEPTH`] levels) or
/// the JSON form `{"responses":[{"id","status","body"}]}`.
pub(crate) fn parse_batch_reply(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<BatchPart>, BatchReplyError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" {
        return parse_json_reply(body);
    }
    if media != "multipart/mixed" {
        return Err(BatchReplyError::ContentType(content_type.to_owned()));
    }
    let boundary = boundary_of(content_type).ok_or(BatchReplyError::NoBoundary)?;
    let text = String::from_utf8_lossy(body);
    let mut parts = Vec::new();
    parse_multipart(&text, &boundary, MAX_MULTIPART_DEPTH, &mut parts);
    Ok(parts)
}

fn parse_json_reply(body: &[u8]) -> Result<Vec<BatchPart>, BatchReplyError> {
    #[derive(Deserialize)]
    struct Reply {
        responses: Vec<Response>,
    }
    #[derive(Deserialize)]
    struct Response {
        #[serde(default)]
        id: Option<Value>,
        status: u16,
        #[serde(default)]
        body: Option<Value>,
    }
    let reply: Reply =
        serde_json::from_slice(body).map_err(|e| BatchReplyError::Json(e.to_string()))?;
    Ok(reply
        .responses
        .into_iter()
        .map(|r| BatchPart {
            content_id: r.id.map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            status: r.status,
            body: match r.body {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => s.into_bytes(),
                Some(v) => v.to_string().into_bytes(),
            },
        })
        .collect())
}

/// How deep multipart bodies may nest inside a `$batch` reply (below its top level).
pub(crate) const MAX_MULTIPART_DEPTH: usize = 8;

/// The `boundary` parameter of a multipart content type (quoted or not).
pub(crate) fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// Splits a head from its body at the first empty line (CRLF or bare LF).
fn split_head(text: &str) -> (&str, &str) {
    let crlf = text.find("\r\n\r\n").map(|i| (i, 4));
    let lf = text.find("\n\n").map(|i| (i, 2));
    let cut = match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match cut {
        Some((i, n)) => (&text[..i], &text[i + n..]),
        None => (text, ""),
    }
}

fn headers_of(head: &str) -> BTreeMap<String, String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// Collects the answers of one multipart body. Only parts followed by another delimiter are
/// complete: a reply cut off in the middle loses the part being cut (and every later one),
/// never panics, and the caller reports each request without an answer.
///
/// Change sets nest at most [`MAX_MULTIPART_DEPTH`] levels: OData nests one level (a batch of
/// change sets), and a hostile reply nested deeper must not exhaust the stack; its deeper parts
/// are left out (reported by the caller as requests without an answer).
fn parse_multipart(text: &str, boundary: &str, depth: usize, out: &mut Vec<BatchPart>) {
    let delimiter = format!("--{boundary}");
    let mut pieces = text.split(delimiter.as_str()).skip(1).peekable();
    while let Some(piece) = pieces.next() {
        if piece.starts_with("--") {
            return; // the close delimiter
        }
        if pieces.peek().is_none() {
            return; // not followed by a delimiter: cut off
        }
        let piece = piece.strip_prefix("\r\n").unwrap_or(piece);
        let piece = piece.strip_prefix('\n').unwrap_or(piece);
        let (head, body) = split_head(piece);
        let headers = headers_of(head);
        let content_type = headers.get("content-type").cloned().unwrap_or_default();
        if content_type
            .to_ascii_lowercase()
            .starts_with("multipart/mixed")
        {
            if let Some(inner) = boundary_of(&content_type).filter(|_| depth > 0) {
                parse_multipart(body, &inner, depth - 1, out);
            }
            continue;
        }
        if let Some(part) = parse_http_part(body, headers.get("content-id").cloned()) {
            out.push(part);
        }
    }
}

/// One `application/http` part: `HTTP/1.1 204 No Content`, headers, empty line, body.
fn parse_http_part(text: &str, content_id: Option<String>) -> Option<BatchPart> {
    let (head, body) = split_head(text);
    let mut lines = head.lines();
    let status_line = lines.next()?.trim();
    let mut words = status_line.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = words.next()?.parse().ok()?;
    let inner = headers_of(&lines.collect::<Vec<_>>().join("\n"));
    let body = body.strip_suffix("\r\n").unwrap_or(body);
    let body = body.strip_suffix('\n').unwrap_or(body);
    Some(BatchPart {
        content_id: content_id.or_else(|| inner.get("content-id").cloned()),
        status,
        body: body.as_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/mixed; boundary=batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b";

    /// A reply as ASP.NET OData writes it: one change set per request, mixed statuses.
    fn reply() -> String {
        [
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b",
            "Content-Type: multipart/mixed; boundary=changesetresponse_a",
            "",
            "--changesetresponse_a",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 1",
            "",
            "HTTP/1.1 204 No Content",
            "",
            "",
            "--changesetresponse_a--",
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b",
            "Content-Type: multipart/mixed; boundary=changesetresponse_b",
            "",
            "--changesetresponse_b",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 2",
            "",
            "HTTP/1.1 404 Not Found",
            "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true",
            "OData-Version: 4.0",
            "",
            r#"{"error":{"code":"","message":"Product 2 not found."}}"#,
            "--changesetresponse_b--",
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 3",
            "",
            "HTTP/1.1 400 Bad Request",
            "Content-Type: application/json; odata.metadata=minimal",
            "",
            r#"{"error":{"code":"","message":"Quantity must not be negative."}}"#,
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b--",
            "",
        ]
        .join("\r\n")
    }

    #[test]
    fn reads_nested_and_flat_parts() {
        let parts = parse_batch_reply(CT, reply().as_bytes()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        assert_eq!(parts[0].status, 204);
        assert!(parts[0].body.is_empty());
        assert_eq!(parts[1].status, 404);
        assert_eq!(
            String::from_utf8_lossy(&parts[1].body),
            r#"{"error":{"code":"","message":"Product 2 not found."}}"#
        );
        assert_eq!(parts[2].content_id.as_deref(), Some("3"));
        assert_eq!(parts[2].status, 400);
    }

    #[test]
    fn bare_lf_and_quoted_boundary() {
        let text = reply().replace("\r\n", "\n");
        let ct = "multipart/mixed; boundary=\"batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b\"";
        let parts = parse_batch_reply(ct, text.as_bytes()).unwrap();
        assert_eq!(
            parts.iter().map(|p| p.status).collect::<Vec<_>>(),
            [204, 404, 400]
        );
    }

    #[test]
    fn truncated_reply_keeps_complete_parts_only() {
        let full = reply();
        for cut in 0..full.len() {
            // Never panics; never invents a part; keeps a prefix of the real ones.
            let parts = parse_batch_reply(CT, &full.as_bytes()[..cut]).unwrap();
            assert!(parts.len() <= 3);
            let all = parse_batch_reply(CT, full.as_bytes()).unwrap();
            for (p, q) in parts.iter().zip(&all) {
                assert_eq!(p.content_id, q.content_id);
                assert_eq!(p.status, q.status);
            }
        }
        let cut = full.find("HTTP/1.1 400").unwrap();
        let parts = parse_batch_reply(CT, &full.as_bytes()[..cut]).unwrap();
        assert_eq!(parts.len(), 2);
    }

    #[test]
    fn garbage_is_no_parts_not_a_panic() {
        assert!(parse_batch_reply(CT, b"").unwrap().is_empty());
        assert!(
            parse_batch_reply(CT, b"--batchresponse_x\r\nnonsense")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_batch_reply("multipart/mixed", b"x"),
            Err(BatchReplyError::NoBoundary)
        );
        assert!(matches!(
            parse_batch_reply("text/html", b"<html>"),
            Err(BatchReplyError::ContentType(_))
        ));
    }

    #[test]
    fn json_reply() {
        let body = br#"{"responses":[
            {"id":"1","status":204,"headers":{}},
            {"id":"2","status":404,"headers":{"content-type":"application/json"},"body":{"error":{"code":"","message":"Not found"}}}
        ]}"#;
        let parts = parse_batch_reply("application/json; odata.metadata=minimal", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].content_id.as_deref(), Some("2"));
        assert_eq!(parts[1].status, 404);
        assert!(String::from_utf8_lossy(&parts[1].body).contains("Not found"));
        assert!(matches!(
            parse_batch_reply("application/json", b"{"),
            Err(BatchReplyError::Json(_))
        ));
    }

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
pub(crate) struct AppliedKeys {
    /// `Fulfillments` (only `SellerFulfillmentID` is read).
    #[serde(rename = "Fulfillments", default)]
    pub(crate) fulfillments: Vec<AppliedFulfillment>,
    /// `Adjustments` (only `SellerAdjustmentID` is read).
    #[serde(rename = "Adjustments", default)]
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
