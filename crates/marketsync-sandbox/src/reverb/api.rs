//! The Reverb API surface: routing, headers, auth, and one handler per endpoint.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use super::seed::{self, CURRENCIES, Ids, PROVIDERS, REFUND_REASONS};
use super::{EndRecord, ListingWrite, PickupRecord, RefundRecord, ShipmentRecord};
use crate::marketplace::{Request, Response};
use crate::util::{DetRng, mix, parse_query};

/// The scopes a seller sync needs; the default token has them all.
pub(crate) const SELLER_SCOPES: &[&str] = &[
    "public",
    "read_listings",
    "write_listings",
    "read_orders",
    "write_orders",
    "read_profile",
];

/// The message of a 401 (the 2015 recorded shape carries `message`, `details` and `_links`).
pub(crate) const UNAUTHORIZED: &str = "You must log in to access this endpoint";

/// A stored listing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listing {
    pub(crate) id: u64,
    pub(crate) sku: Option<String>,
    pub(crate) make: String,
    pub(crate) model: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) year: Option<String>,
    pub(crate) finish: Option<String>,
    /// (uuid, display name).
    pub(crate) condition: Option<(String, String)>,
    pub(crate) price_cents: i64,
    pub(crate) currency: String,
    pub(crate) inventory: i64,
    pub(crate) has_inventory: bool,
    pub(crate) offers_enabled: bool,
    pub(crate) local_pickup_only: bool,
    pub(crate) shipping_profile_id: Option<String>,
    pub(crate) state: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) published_at: Option<DateTime<Utc>>,
    pub(crate) categories: Vec<String>,
    pub(crate) photos: Vec<String>,
    pub(crate) upc: Option<String>,
}

/// A shipping address.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Address {
    pub(crate) name: String,
    pub(crate) street_address: String,
    pub(crate) extended_address: Option<String>,
    pub(crate) locality: String,
    pub(crate) region: String,
    pub(crate) postal_code: String,
    pub(crate) country_code: String,
    pub(crate) phone: String,
}

/// A stored order (one listing line).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub(crate) order_number: String,
    pub(crate) uuid: String,
    pub(crate) bundle_id: String,
    pub(crate) listing_id: u64,
    pub(crate) sku: Option<String>,
    pub(crate) title: String,
    pub(crate) quantity: i64,
    pub(crate) status: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) paid_at: Option<DateTime<Utc>>,
    pub(crate) shipped_at: Option<DateTime<Utc>>,
    pub(crate) currency: String,
    pub(crate) unit_cents: i64,
    pub(crate) shipping_cents: i64,
    pub(crate) tax_cents: i64,
    pub(crate) shipping_method: String,
    pub(crate) local_pickup: bool,
    pub(crate) buyer_id: u64,
    pub(crate) buyer_first_name: String,
    pub(crate) buyer_last_name: String,
    pub(crate) buyer_email: String,
    pub(crate) address: Option<Address>,
    pub(crate) provider: Option<String>,
    pub(crate) tracking: Option<String>,
    pub(crate) refunded_cents: i64,
    pub(crate) order_type: String,
    pub(crate) payment_method: String,
    pub(crate) notes: Vec<String>,
    pub(crate) remaining_listing_inventory: i64,
}

impl Order {
    pub(crate) fn total_cents(&self) -> i64 {
        self.unit_cents * self.quantity + self.shipping_cents + self.tax_cents
    }
}

/// A personal access token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) scopes: Vec<String>,
    pub(crate) revoked: bool,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) seed: u64,
    pub(crate) opts: Options,
    pub(crate) tokens: BTreeMap<String, Token>,
    pub(crate) token_counter: u64,
    pub(crate) listings: super::tables::Listings,
    pub(crate) orders: BTreeMap<String, Order>,
    pub(crate) shipments: Vec<ShipmentRecord>,
    pub(crate) pickups: Vec<PickupRecord>,
    pub(crate) refunds: Vec<RefundRecord>,
    pub(crate) ends: Vec<EndRecord>,
    pub(crate) listing_writes: Vec<ListingWrite>,
    pub(crate) ids: Ids,
    pub(crate) rng: DetRng,
    pub(crate) seeded_orders: usize,
}

/// The builder's behaviour settings.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) shop_currency: String,
    pub(crate) listings_per_page: usize,
    pub(crate) orders_per_page: usize,
    pub(crate) max_per_page: usize,
    pub(crate) relative_links: bool,
    pub(crate) require_accept_version: bool,
    pub(crate) validation_status: u16,
    pub(crate) retry_after_header: bool,
    pub(crate) legacy_401_body: bool,
    pub(crate) offset: FixedOffset,
}

/// The endpoints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Account,
    Shop,
    MyListings,
    MyDrafts,
    ListingCreate,
    ListingGet(String),
    ListingUpdate(String),
    ListingDelete(String),
    ListingEnd(String),
    OrdersAll,
    OrdersAwaiting,
    OrdersUnpaid,
    OrderGet(String),
    OrderShip(String),
    OrderPickup(String),
    OrderRefund(String),
    MethodNotAllowed,
    NotFound,
}

impl Op {
    /// The counter name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Account => "account.get",
            Op::Shop => "shop.get",
            Op::MyListings => "listings.list",
            Op::MyDrafts => "listings.drafts",
            Op::ListingCreate => "listings.create",
            Op::ListingGet(_) => "listings.get",
            Op::ListingUpdate(_) => "listings.update",
            Op::ListingDelete(_) => "listings.delete",
            Op::ListingEnd(_) => "listings.end",
            Op::OrdersAll => "orders.all",
            Op::OrdersAwaiting => "orders.awaiting_shipment",
            Op::OrdersUnpaid => "orders.unpaid",
            Op::OrderGet(_) => "orders.get",
            Op::OrderShip(_) => "orders.ship",
            Op::OrderPickup(_) => "orders.mark_picked_up",
            Op::OrderRefund(_) => "orders.refund",
            Op::MethodNotAllowed => "method_not_allowed",
            Op::NotFound => "not_found",
        }
    }

    /// The scope the endpoint needs (`None`: no token needed).
    pub(crate) fn scope_needed(&self) -> Option<&'static str> {
        match self {
            Op::Account | Op::Shop => Some("read_profile"),
            Op::MyListings | Op::MyDrafts => Some("read_listings"),
            Op::ListingGet(_) => None,
            Op::ListingCreate | Op::ListingUpdate(_) | Op::ListingDelete(_) | Op::ListingEnd(_) => {
                Some("write_listings")
            }
            Op::OrdersAll | Op::OrdersAwaiting | Op::OrdersUnpaid | Op::OrderGet(_) => {
                Some("read_orders")
            }
            Op::OrderShip(_) | Op::OrderPickup(_) | Op::OrderRefund(_) => Some("write_orders"),
            Op::MethodNotAllowed | Op::NotFound => None,
        }
    }
}

/// Resolves method + percent-decoded path to an endpoint.
pub(crate) fn resolve(method: &str, path: &str) -> Op {
    let path = path.trim_end_matches('/');
    let Some(rest) = path.strip_prefix("/api/") else {
        return Op::NotFound;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let m = method;
    let allow = |ok: bool, op: Op| if ok { op } else { Op::MethodNotAllowed };
    match segs.as_slice() {
        ["my", "account"] => allow(m == "GET", Op::Account),
        ["shop"] => allow(m == "GET", Op::Shop),
        ["my", "listings"] => allow(m == "GET", Op::MyListings),
        ["my", "listings", "drafts"] => allow(m == "GET", Op::MyDrafts),
        ["my", "listings", id, "state", "end"] => allow(m == "PUT", Op::ListingEnd((*id).into())),
        ["listings"] => allow(m == "POST", Op::ListingCreate),
        ["listings", id] => match m {
            "GET" => Op::ListingGet((*id).into()),
            "PUT" => Op::ListingUpdate((*id).into()),
            "DELETE" => Op::ListingDelete((*id).into()),
            _ => Op::MethodNotAllowed,
        },
        ["my", "orders", "selling", "all"] => allow(m == "GET", Op::OrdersAll),
        ["my", "orders", "selling", "awaiting_shipment"] => allow(m == "GET", Op::OrdersAwaiting),
        ["my", "orders", "selling", "unpaid"] => allow(m == "GET", Op::OrdersUnpaid),
        ["my", "orders", "selling", n] => allow(m == "GET", Op::OrderGet((*n).into())),
        ["my", "orders", "selling", n, "ship"] => allow(m == "POST", Op::OrderShip((*n).into())),
        ["my", "orders", "selling", n, "mark_picked_up"] => {
            allow(m == "POST", Op::OrderPickup((*n).into()))
        }
        ["my", "orders", "selling", n, "refund_requests"] => {
            allow(m == "POST", Op::OrderRefund((*n).into()))
        }
        _ => Op::NotFound,
    }
}

/// A listing id from a path segment: the numeric id or the slug `"<id>-<title-slug>"`.
fn listing_id(segment: &str) -> Option<u64> {
    let digits: String = segment.chars().take_while(char::is_ascii_digit).collect();
    let rest = &segment[digits.len()..];
    if digits.is_empty() || !(rest.is_empty() || rest.starts_with('-')) {
        return None;
    }
    digits.parse().ok()
}

/// A Reverb JSON response (`application/hal+json`, `Vary: Accept-Version`, a request id).
pub(crate) fn hal(status: u16, body: &Value, seq: u64) -> Response {
    let mut r = Response::json(status, body);
    r.headers = vec![
        (
            "content-type".into(),
            "application/hal+json; charset=utf-8".into(),
        ),
        ("vary".into(), "Accept-Version".into()),
        (
            "x-request-id".into(),
            format!("{:032x}", mix(seq) as u128 | ((mix(!seq) as u128) << 64)),
        ),
    ];
    r
}

/// The rows `start..start + len` of `rows` sorted by `order` (a total order), without
/// sorting the rest: the rows before the page are moved in front of it and the rows after it
/// behind, in any order.
fn page_rows<'r, 't, T>(
    rows: &'r mut [&'t T],
    start: usize,
    len: usize,
    order: impl Fn(&&T, &&T) -> Ordering,
) -> &'r [&'t T] {
    if start >= rows.len() || len == 0 {
        return &[];
    }
    if start > 0 {
        rows.select_nth_unstable_by(start, &order);
    }
    let tail = &mut rows[start..];
    if tail.len() > len {
        tail.select_nth_unstable_by(len - 1, &order);
    }
    let end = len.min(tail.len());
    let page = &mut tail[..end];
    page.sort_by(&order);
    page
}

/// `{"message": ..}` with a status.
pub(crate) fn message(status: u16, text: &str, seq: u64) -> Response {
    hal(status, &json!({ "message": text }), seq)
}

fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A Reverb money object.
pub(crate) fn money(cents: i64, currency: &str) -> Value {
    let units = seed::minor_units(currency);
    let amount = Decimal::new(cents, units);
    let symbol = match currency {
        "USD" | "CAD" | "AUD" | "NZD" | "MXN" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "",
    };
    let prefix = match currency {
        "CAD" => "C$",
        "AUD" => "A$",
        "NZD" => "NZ$",
        "MXN" => "MX$",
        _ => symbol,
    };
    let amount_text = format!("{amount:.prec$}", prec = units as usize);
    json!({
        "amount": amount_text,
        "amount_cents": cents,
        "currency": currency,
        "symbol": symbol,
        "display": format!("{prefix}{}", with_thousands(&amount_text)),
    })
}

fn with_thousands(amount: &str) -> String {
    let (neg, digits) = match amount.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, amount),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if neg { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// Parses a decimal amount (a decimal string, or a JSON number) into minor units.
fn cents_of(v: &Value, currency: &str) -> Result<i64, String> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return Err("must be a decimal amount".into()),
    };
    let d = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{text:?} is not a valid amount"))?;
    let scaled = (d * Decimal::from(10i64.pow(seed::minor_units(currency))))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    scaled
        .to_i64()
        .ok_or_else(|| format!("{text:?} is out of range"))
}

/// An integer field: a JSON integer, or a numeric string (form bodies).
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean field: JSON `true`/`false`, or `"true"`/`"1"`/`"false"`/`"0"` (form bodies).
fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A request body as Reverb parses it: JSON for `application/hal+json` / `application/json`,
/// form parameters (`a[b]=c` nests) for a form content type *or none at all*.
fn parse_body(request: &Request) -> Result<Map<String, Value>, String> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let ctype = request
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/hal+json") || ctype.starts_with("application/json") {
        return match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err("the body must be a JSON object".into()),
            Err(e) => Err(format!("the body is not valid JSON: {e}")),
        };
    }
    let mut out = Map::new();
    for (k, v) in parse_query(&String::from_utf8_lossy(&request.body)) {
        match k.split_once('[') {
            Some((outer, inner)) if inner.ends_with(']') => {
                let inner = inner.trim_end_matches(']');
                let slot = out
                    .entry(outer.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = slot {
                    m.insert(inner.to_owned(), Value::String(v));
                }
            }
            _ => {
                out.insert(k, Value::String(v));
            }
        }
    }
    Ok(out)
}

/// Parses a date filter: RFC 3339 (offset or `Z`), with or without fractions, or a bare date
/// (midnight UTC). A `+` sent unencoded arrives as a space and fails here.
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M%:z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Validation errors: field → messages.
#[derive(Debug, Default)]
struct Errors(BTreeMap<String, Vec<String>>);

impl Errors {
    fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.0.entry(field.to_owned()).or_default().push(msg.into());
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    }
}

impl State {
    fn ts(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.opts.offset)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    fn validation(&self, summary: &str, errors: &Errors, seq: u64) -> Response {
        hal(
            self.opts.validation_status,
            &json!({ "message": summary, "errors": errors.to_json() }),
            seq,
        )
    }

    /// The answer to a missing, unknown or revoked token.
    pub(crate) fn unauthorized(&self, seq: u64) -> Response {
        let body = if self.opts.legacy_401_body {
            json!({ "error": UNAUTHORIZED })
        } else {
            json!({
                "message": UNAUTHORIZED,
                "details": "The personal access token is missing, invalid or revoked.",
                "_links": {}
            })
        };
        hal(401, &body, seq)
    }

    /// The bearer token of a request.
    pub(crate) fn bearer(request: &Request) -> Option<String> {
        let h = request.header("authorization")?;
        let (scheme, rest) = h.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_owned())
    }

    /// Whether the token is known and not revoked.
    pub(crate) fn valid_token(&self, token: &str) -> Option<&Token> {
        self.tokens.get(token).filter(|t| !t.revoked)
    }

    pub(crate) fn listing_view(&self, l: &Listing, base: &str) -> Value {
        let slug = format!("{}-{}", l.id, slugify(&l.title));
        let desc = seed::LISTING_STATES
            .iter()
            .find(|(s, _)| *s == l.state)
            .map_or(l.state.as_str(), |(_, d)| d);
        let href = |p: String| json!({ "href": format!("{base}/api{p}") });
        json!({
            "id": l.id,
            "make": l.make,
            "model": l.model,
            "finish": l.finish,
            "year": l.year,
            "title": l.title,
            "description": l.description,
            "created_at": self.ts(l.created_at),
            "updated_at": self.ts(l.updated_at),
            "published_at": l.published_at.map(|t| self.ts(t)),
            "shop_name": super::SHOP_NAME,
            "condition": l.condition.as_ref().map(|(uuid, name)| json!({
                "uuid": uuid, "display_name": name, "slug": slugify(name)
            })),
            "price": money(l.price_cents, &l.currency),
            "listing_currency": l.currency,
            "inventory": l.inventory,
            "has_inventory": l.has_inventory,
            "offers_enabled": l.offers_enabled,
            "sku": l.sku,
            "upc": l.upc,
            "handmade": false,
            "local_pickup_only": l.local_pickup_only,
            "shipping_profile_id": l.shipping_profile_id,
            "categories": l.categories.iter().map(|u| json!({ "uuid": u })).collect::<Vec<_>>(),
            "photos": l.photos.iter().map(|p| json!({ "_links": {
                "full": { "href": p }, "large_crop": { "href": p },
                "small_crop": { "href": p }, "thumbnail": { "href": p }
            }})).collect::<Vec<_>>(),
            "state": { "slug": l.state, "description": desc },
            "draft": l.state == "draft",
            "live": l.state == "live",
            "location": { "country_code": "US", "region": "IL", "locality": "Chicago" },
            "_links": {
                "self": href(format!("/listings/{slug}")),
                "update": { "href": format!("{base}/api/listings/{slug}"), "method": "PUT" },
                "end": { "href": format!("{base}/api/my/listings/{slug}/state/end"), "method": "PUT" },
                "web": { "href": format!("https://reverb.com/item/{slug}") },
                "shop": href("/shop".into()),
            }
        })
    }

    pub(crate) fn order_view(&self, o: &Order, base: &str) -> Value {
        let m = |c: i64| money(c, &o.currency);
        let n = &o.order_number;
        let subtotal = o.unit_cents * o.quantity;
        let total = o.total_cents();
        let fee = subtotal * 5 / 100;
        let checkout_fee = (total * 319 / 10_000) + 49;
        let mut links = json!({
            "self": { "href": format!("{base}/api/my/orders/selling/{n}") },
            "listing": { "href": format!("{base}/api/listings/{}", o.listing_id) },
            "packing_slip": { "href": format!("https://reverb.com/my/selling/orders/{n}/packing_slip.pdf") },
            "contact_buyer": { "href": format!("{base}/api/my/conversations") },
        });
        if o.status == "paid" {
            let key = if o.local_pickup {
                "mark_picked_up"
            } else {
                "ship"
            };
            links[key] = json!({ "href": format!("{base}/api/my/orders/selling/{n}/{key}") });
        }
        json!({
            "order_number": n,
            "uuid": o.uuid,
            "order_bundle_id": o.bundle_id,
            "product_id": o.listing_id.to_string(),
            "sku": o.sku,
            "title": o.title,
            "quantity": o.quantity,
            "remaining_listing_inventory": o.remaining_listing_inventory,
            "status": o.status,
            "created_at": self.ts(o.created_at),
            "updated_at": self.ts(o.updated_at),
            "paid_at": o.paid_at.map(|t| self.ts(t)),
            "shipped_at": o.shipped_at.map(|t| self.ts(t)),
            "order_type": o.order_type,
            "order_source": "Reverb",
            "payment_method": o.payment_method,
            "shop_name": super::SHOP_NAME,
            "buyer_id": o.buyer_id,
            "buyer_name": format!("{} {}", o.buyer_first_name, o.buyer_last_name),
            "buyer_first_name": o.buyer_first_name,
            "buyer_last_name": o.buyer_last_name,
            "buyer_email": o.buyer_email,
            "shipping_address": o.address.as_ref().map(|a| json!({
                "name": a.name, "street_address": a.street_address,
                "extended_address": a.extended_address, "locality": a.locality,
                "region": a.region, "postal_code": a.postal_code,
                "country_code": a.country_code, "phone": a.phone,
                "unformatted_phone": a.phone,
            })),
            "shipping_method": o.shipping_method,
            "local_pickup": o.local_pickup,
            "shipment_status": match o.status.as_str() {
                "shipped" => Value::from("in_transit"),
                "received" => Value::from("delivered"),
                _ => Value::Null,
            },
            "shipping_provider": o.provider,
            "shipping_code": o.tracking,
            "amount_product": m(o.unit_cents),
            "amount_product_subtotal": m(subtotal),
            "shipping": m(o.shipping_cents),
            "amount_tax": m(o.tax_cents),
            "tax_responsible_party": if o.tax_cents > 0 { "reverb" } else { "seller" },
            "shipping_taxed": false,
            "total": m(total),
            "selling_fee": m(fee),
            "direct_checkout_fee": m(checkout_fee),
            "direct_checkout_payout": m(total - fee - checkout_fee),
            "amount_refunded": m(o.refunded_cents),
            "needs_feedback_for_buyer": false,
            "needs_feedback_for_seller": false,
            "order_notes": o.notes,
            "photos": [],
            "_links": links,
        })
    }

    fn shop_view(&self, base: &str) -> Value {
        json!({
            "id": super::SHOP_ID,
            "name": super::SHOP_NAME,
            "slug": super::SHOP_SLUG,
            "currency": self.opts.shop_currency,
            "description": "Vintage and new gear, shipped from Chicago.",
            "address": {
                "name": super::SHOP_NAME, "street_address": "1 Sandbox Way",
                "locality": "Chicago", "region": "IL", "postal_code": "60607",
                "country_code": "US", "phone": "555-0100"
            },
            "shipping_profiles": [
                { "id": "701", "name": "Standard US" },
                { "id": "702", "name": "Heavy items" }
            ],
            "_links": {
                "self": { "href": format!("{base}/api/shop") },
                "listings": { "href": format!("{base}/api/my/listings") },
                "web": { "href": format!("https://reverb.com/shop/{}", super::SHOP_SLUG) },
            }
        })
    }

    /// One page of a collection, with `total`, `current_page`, `total_pages` and
    /// `_links.next` / `_links.prev` (absolute or host-relative). `hits` are the matching rows
    /// in any order and `order` a total order: only the rows of the page are put in order and
    /// rendered.
    fn page<T>(
        &self,
        request: &Request,
        key: &str,
        mut hits: Vec<&T>,
        order: impl Fn(&&T, &&T) -> Ordering,
        render: impl Fn(&T) -> Value,
        default_per_page: usize,
    ) -> Result<Value, Response> {
        let num = |name: &str, default: usize| -> Result<usize, Response> {
            match request.query_param(name) {
                None => Ok(default),
                Some(v) if v.trim().is_empty() => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| message(400, &format!("{name} is invalid"), request.seq)),
            }
        };
        let page = num("page", 1)?.max(1);
        let per_page = num("per_page", default_per_page)?.clamp(1, self.opts.max_per_page);
        let total = hits.len();
        let total_pages = total.div_ceil(per_page).max(1);
        let start = (page - 1).saturating_mul(per_page);
        let slice: Vec<Value> = page_rows(&mut hits, start, per_page, order)
            .iter()
            .map(|r| render(r))
            .collect();
        let link = |p: usize| {
            let mut query: Vec<String> = request
                .query
                .as_deref()
                .unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("page"))
                .map(str::to_owned)
                .collect();
            query.push(format!("page={p}"));
            let rel = format!("{}?{}", request.path, query.join("&"));
            let href = if self.opts.relative_links {
                rel
            } else {
                format!("{}{rel}", request.base_url)
            };
            json!({ "href": href })
        };
        let mut links = Map::new();
        if page < total_pages {
            links.insert("next".into(), link(page + 1));
        }
        if page > 1 {
            links.insert("prev".into(), link(page - 1));
        }
        Ok(json!({
            "total": total,
            "current_page": page,
            "total_pages": total_pages,
            key: slice,
            "_links": links,
        }))
    }

    /// Handles an authenticated, header-checked request.
    pub(crate) fn handle(&mut self, op: &Op, request: &Request) -> Response {
        let seq = request.seq;
        let base = request.base_url.clone();
        match op {
            Op::Account => hal(
                200,
                &json!({
                    "user_id": super::USER_ID,
                    "first_name": "Sam",
                    "last_name": "Sandbox",
                    "email": super::ACCOUNT_EMAIL,
                    "currency": self.opts.shop_currency,
                    "locale_code": "en",
                    "shipping_region_code": "US_CON",
                    "shop": { "id": super::SHOP_ID, "slug": super::SHOP_SLUG, "name": super::SHOP_NAME },
                    "_links": {
                        "self": { "href": format!("{base}/api/my/account") },
                        "shop": { "href": format!("{base}/api/shop") },
                    }
                }),
                seq,
            ),
            Op::Shop => hal(200, &self.shop_view(&base), seq),
            Op::MyListings | Op::MyDrafts => self.list_listings(op, request),
            Op::ListingGet(id) => match self.find_listing(id) {
                Some(l) => hal(200, &self.listing_view(l, &base), seq),
                None => not_found(seq),
            },
            Op::ListingCreate => self.create_listing(request),
            Op::ListingUpdate(id) => self.update_listing(id, request),
            Op::ListingDelete(id) => {
                let Some(l) = self.find_listing(id) else {
                    return not_found(seq);
                };
                if l.state != "draft" {
                    return message(
                        406,
                        "Only draft listings can be deleted; end a live listing instead.",
                        seq,
                    );
                }
                let lid = l.id;
                self.listings.remove(&lid);
                self.listing_writes.push(ListingWrite {
                    listing_id: lid,
                    operation: "delete".into(),
                    body: Value::Null,
                    at: request.received_at,
                });
                hal(
                    200,
                    &json!({ "message": "Your draft listing has been deleted." }),
                    seq,
                )
            }
            Op::ListingEnd(id) => self.end_listing(id, request),
            Op::OrdersAll | Op::OrdersAwaiting | Op::OrdersUnpaid => self.list_orders(op, request),
            Op::OrderGet(n) => match self.orders.get(n) {
                Some(o) => hal(200, &self.order_view(o, &base), seq),
                None => not_found(seq),
            },
            Op::OrderShip(n) => self.ship(n, request),
            Op::OrderPickup(n) => self.pickup(n, request),
            Op::OrderRefund(n) => self.refund(n, request),
            Op::MethodNotAllowed => message(405, "405 Not Allowed", seq),
            Op::NotFound => not_found(seq),
        }
    }

    fn find_listing(&self, segment: &str) -> Option<&Listing> {
        listing_id(segment).and_then(|id| self.listings.get(&id))
    }

    fn list_listings(&self, op: &Op, request: &Request) -> Response {
        let state = if *op == Op::MyDrafts {
            "draft".to_owned()
        } else {
            request
                .query_param("state")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "live".into())
        };
        if state != "all" && !seed::LISTING_STATES.iter().any(|(s, _)| *s == state) {
            return message(400, "state does not have a valid value", request.seq);
        }
        let sku = request.query_param("sku");
        let candidates: Box<dyn Iterator<Item = &Listing>> = match &sku {
            Some(s) => Box::new(self.listings.with_sku(s)),
            None => Box::new(self.listings.values()),
        };
        let hits: Vec<&Listing> = candidates
            .filter(|l| state == "all" || l.state == state)
            .collect();
        // Newest first.
        let newest_first =
            |a: &&Listing, b: &&Listing| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id));
        let view = |l: &Listing| self.listing_view(l, &request.base_url);
        match self.page(
            request,
            "listings",
            hits,
            newest_first,
            view,
            self.opts.listings_per_page,
        ) {
            Ok(body) => hal(200, &body, request.seq),
            Err(r) => r,
        }
    }

    fn list_orders(&self, op: &Op, request: &Request) -> Response {
        let mut bounds = [None; 4];
        for (i, name) in [
            "created_start_date",
            "created_end_date",
            "updated_start_date",
            "updated_end_date",
        ]
        .iter()
        .enumerate()
        {
            if let Some(v) = request.query_param(name).filter(|v| !v.is_empty()) {
                match parse_date(&v) {
                    Some(t) => bounds[i] = Some(t),
                    None => {
                        let mut e = Errors::default();
                        e.add(name, format!("{v:?} is not a valid ISO 8601 date"));
                        return hal(
                            400,
                            &json!({ "message": format!("{name} is invalid"), "errors": e.to_json() }),
                            request.seq,
                        );
                    }
                }
            }
        }
        let within = |t: DateTime<Utc>, lo: Option<DateTime<Utc>>, hi: Option<DateTime<Utc>>| {
            lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
        };
        let hits: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| match op {
                Op::OrdersAwaiting => o.status == "paid",
                Op::OrdersUnpaid => o.status == "unpaid",
                _ => true,
            })
            .filter(|o| within(o.created_at, bounds[0], bounds[1]))
            .filter(|o| within(o.updated_at, bounds[2], bounds[3]))
            .collect();
        // Newest first.
        let newest_first = |a: &&Order, b: &&Order| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.order_number.len().cmp(&a.order_number.len()))
                .then(b.order_number.cmp(&a.order_number))
        };
        let view = |o: &Order| self.order_view(o, &request.base_url);
        match self.page(
            request,
            "orders",
            hits,
            newest_first,
            view,
            self.opts.orders_per_page,
        ) {
            Ok(body) => hal(200, &body, request.seq),
            Err(r) => r,
        }
    }

    /// Applies listing fields from a create or update body onto `l`; collects errors.
    fn apply_listing_fields(
        &self,
        l: &mut Listing,
        body: &Map<String, Value>,
        errors: &mut Errors,
    ) {
        for (field, slot) in [
            ("make", &mut l.make),
            ("model", &mut l.model),
            ("title", &mut l.title),
            ("description", &mut l.description),
        ] {
            if let Some(v) = body.get(field) {
                match str_of(v) {
                    Some(s) => *slot = s,
                    None => errors.add(field, "must be a string"),
                }
            }
        }
        if let Some(v) = body.get("sku") {
            match v {
                Value::Null => l.sku = None,
                v => match str_of(v) {
                    Some(s) if s.trim().is_empty() => l.sku = None,
                    Some(s) => l.sku = Some(s),
                    None => errors.add("sku", "must be a string"),
                },
            }
        }
        if let Some(v) = body.get("year") {
            l.year = str_of(v);
        }
        if let Some(v) = body.get("finish") {
            l.finish = str_of(v);
        }
        if let Some(v) = body.get("upc") {
            l.upc = str_of(v);
        }
        if let Some(v) = body.get("shipping_profile_id") {
            l.shipping_profile_id = str_of(v);
        }
        if let Some(v) = body.get("offers_enabled") {
            match bool_of(v) {
                Some(b) => l.offers_enabled = b,
                None => errors.add("offers_enabled", "must be true or false"),
            }
        }
        if let Some(v) = body.get("condition") {
            let uuid = v.get("uuid").and_then(Value::as_str);
            match uuid.and_then(|u| seed::CONDITIONS.iter().find(|(id, _)| *id == u)) {
                Some((id, name)) => l.condition = Some(((*id).into(), (*name).into())),
                None => errors.add(
                    "condition",
                    "must be {\"uuid\": <a listing condition uuid>}",
                ),
            }
        }
        if let Some(v) = body.get("categories") {
            match v.as_array() {
                Some(cats) => {
                    l.categories = cats
                        .iter()
                        .filter_map(|c| c.get("uuid").and_then(Value::as_str).map(str::to_owned))
                        .collect();
                }
                None => errors.add("categories", "must be a list of {\"uuid\": ..}"),
            }
        }
        if let Some(v) = body.get("photos") {
            match v.as_array() {
                Some(ps) => l.photos = ps.iter().filter_map(str_of).collect(),
                None => errors.add("photos", "must be a list of image URLs"),
            }
        }
        if let Some(v) = body.get("price") {
            match v {
                Value::Object(p) => {
                    let currency = p
                        .get("currency")
                        .and_then(str_of)
                        .unwrap_or_else(|| self.opts.shop_currency.clone());
                    if !CURRENCIES.contains(&currency.as_str()) {
                        errors.add("price", format!("currency {currency:?} is not supported"));
                    } else if currency != self.opts.shop_currency {
                        errors.add(
                            "price",
                            format!(
                                "currency must be {}, the shop's listing currency (got {currency})",
                                self.opts.shop_currency
                            ),
                        );
                    } else {
                        match p.get("amount").map(|a| cents_of(a, &currency)) {
                            None => errors.add("price", "amount can't be blank"),
                            Some(Err(e)) => errors.add("price", e),
                            Some(Ok(c)) if c <= 0 => {
                                errors.add("price", "amount must be greater than 0")
                            }
                            Some(Ok(c)) => {
                                l.price_cents = c;
                                l.currency = currency;
                            }
                        }
                    }
                }
                _ => errors.add(
                    "price",
                    "must be an object {\"amount\": \"<decimal>\", \"currency\": \"<code>\"}",
                ),
            }
        }
        if let Some(v) = body.get("has_inventory") {
            match bool_of(v) {
                Some(b) => l.has_inventory = b,
                None => errors.add("has_inventory", "must be true or false"),
            }
        }
        if let Some(v) = body.get("inventory") {
            match int_of(v) {
                Some(n) if n < 0 => errors.add("inventory", "must be greater than or equal to 0"),
                Some(n) => {
                    l.inventory = n;
                    if n > 1 {
                        l.has_inventory = true;
                    }
                }
                None => errors.add("inventory", "must be a whole number"),
            }
        }
    }

    fn create_listing(&mut self, request: &Request) -> Response {
        let seq = request.seq;
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(e) => return message(400, &e, seq),
        };
        let now = request.received_at;
        let mut l = Listing {
            id: 0,
            sku: None,
            make: String::new(),
            model: String::new(),
            title: String::new(),
            description: String::new(),
            year: None,
            finish: None,
            condition: None,
            price_cents: 0,
            currency: self.opts.shop_currency.clone(),
            inventory: 1,
            has_inventory: false,
            offers_enabled: true,
            local_pickup_only: false,
            shipping_profile_id: None,
            state: "draft".into(),
            created_at: now,
            updated_at: now,
            published_at: None,
            categories: Vec::new(),
            photos: Vec::new(),
            upc: None,
        };
        let mut errors = Errors::default();
        self.apply_listing_fields(&mut l, &body, &mut errors);
        // Reverb guesses make and model from the title when they are missing.
        if l.make.trim().is_empty() || l.model.trim().is_empty() {
            let mut words = l.title.split_whitespace();
            if l.make.trim().is_empty() {
                match words.next() {
                    Some(w) => l.make = w.to_owned(),
                    None => errors.add("make", "can't be blank"),
                }
            }
            if l.model.trim().is_empty() {
                let rest: Vec<&str> = words.collect();
                l.model = if rest.is_empty() {
                    "Unknown".into()
                } else {
                    rest.join(" ")
                };
            }
        }
        if l.title.trim().is_empty() {
            l.title = format!("{} {}", l.make, l.model).trim().to_owned();
        }
        let publish = body.get("publish").and_then(bool_of).unwrap_or(false);
        if publish {
            self.check_publishable(&l, &mut errors);
        }
        if !errors.is_empty() {
            return self.validation("Your listing could not be saved.", &errors, seq);
        }
        if publish {
            l.state = if l.inventory > 0 { "live" } else { "sold_out" }.into();
            l.published_at = Some(now);
        }
        l.id = self.ids.listing;
        self.ids.listing += 1;
        let id = l.id;
        self.listing_writes.push(ListingWrite {
            listing_id: id,
            operation: "create".into(),
            body: Value::Object(body),
            at: now,
        });
        let view = self.listing_view(&l, &request.base_url);
        self.listings.insert(id, l);
        let text = if publish {
            "Your listing has been created and published."
        } else {
            "Your draft listing has been created. Publish it when it is ready."
        };
        hal(
            201,
            &json!({ "message": text, "listing": view, "errors": {}, "warnings": [] }),
            seq,
        )
    }

    fn check_publishable(&self, l: &Listing, errors: &mut Errors) {
        if l.price_cents <= 0 {
            errors.add("price", "can't be blank to publish");
        }
    }

    fn update_listing(&mut self, id: &str, request: &Request) -> Response {
        let seq = request.seq;
        let Some(lid) = self.find_listing(id).map(|l| l.id) else {
            return not_found(seq);
        };
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(e) => return message(400, &e, seq),
        };
        let now = request.received_at;
        let mut l = self.listings[&lid].clone();
        let mut errors = Errors::default();
        self.apply_listing_fields(&mut l, &body, &mut errors);
        let publish = body.get("publish").and_then(bool_of).unwrap_or(false);
        if publish {
            if l.state == "ended" {
                errors.add("publish", "an ended listing cannot be published again");
            }
            self.check_publishable(&l, &mut errors);
        }
        if !errors.is_empty() {
            return self.validation("Your listing could not be saved.", &errors, seq);
        }
        if publish && l.state == "draft" {
            l.state = "live".into();
            l.published_at = Some(now);
        }
        // Stock runs out and comes back (UNCONFIRMED: the real transition).
        if l.state == "live" && l.inventory == 0 {
            l.state = "sold_out".into();
        } else if l.state == "sold_out" && l.inventory > 0 {
            l.state = "live".into();
        }
        l.updated_at = now;
        self.listing_writes.push(ListingWrite {
            listing_id: lid,
            operation: "update".into(),
            body: Value::Object(body),
            at: now,
        });
        let view = self.listing_view(&l, &request.base_url);
        self.listings.insert(lid, l);
        hal(
            200,
            &json!({ "message": "Your listing has been updated.", "listing": view, "errors": {}, "warnings": [] }),
            seq,
        )
    }

    fn end_listing(&mut self, id: &str, request: &Request) -> Response {
        let seq = request.seq;
        let Some(lid) = self.find_listing(id).map(|l| l.id) else {
            return not_found(seq);
        };
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(e) => return message(400, &e, seq),
        };
        let reason = body.get("reason").and_then(str_of);
        let mut errors = Errors::default();
        match reason.as_deref() {
            Some("not_sold" | "reverb_sale") => {}
            Some(other) => errors.add(
                "reason",
                format!("{other:?} is not one of not_sold, reverb_sale"),
            ),
            None => errors.add("reason", "is missing"),
        }
        if self.listings[&lid].state == "draft" {
            errors.add("state", "a draft cannot be ended; delete it instead");
        }
        if !errors.is_empty() {
            return self.validation("The listing could not be ended.", &errors, seq);
        }
        let now = request.received_at;
        self.ends.push(EndRecord {
            listing_id: lid,
            reason: reason.unwrap_or_default(),
            at: now,
        });
        self.listing_writes.push(ListingWrite {
            listing_id: lid,
            operation: "end".into(),
            body: Value::Object(body),
            at: now,
        });
        {
            let mut l = self.listings.get_mut(&lid).expect("listing exists");
            if l.state != "ended" {
                l.state = "ended".into();
                l.updated_at = now;
            }
        }
        let view = self.listing_view(&self.listings[&lid], &request.base_url);
        hal(
            200,
            &json!({ "message": "Your listing has been ended.", "listing": view }),
            seq,
        )
    }

    fn ship(&mut self, number: &str, request: &Request) -> Response {
        let seq = request.seq;
        if !self.orders.contains_key(number) {
            return not_found(seq);
        }
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(e) => return message(400, &e, seq),
        };
        let missing: Vec<&str> = ["provider", "tracking_number", "send_notification"]
            .into_iter()
            .filter(|k| body.get(*k).is_none_or(Value::is_null))
            .collect();
        if !missing.is_empty() {
            let mut e = Errors::default();
            for k in &missing {
                e.add(k, "is missing");
            }
            let text = missing
                .iter()
                .map(|k| format!("{k} is missing"))
                .collect::<Vec<_>>()
                .join(", ");
            return hal(400, &json!({ "message": text, "errors": e.to_json() }), seq);
        }
        let mut errors = Errors::default();
        let provider_sent = body.get("provider").and_then(str_of).unwrap_or_default();
        let provider = PROVIDERS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(provider_sent.trim()))
            .map(|p| (*p).to_owned());
        if provider.is_none() {
            errors.add(
                "provider",
                format!("{provider_sent:?} is not a supported shipping provider (use \"Other\")"),
            );
        }
        let tracking = body
            .get("tracking_number")
            .and_then(str_of)
            .unwrap_or_default();
        if tracking.trim().is_empty() {
            errors.add("tracking_number", "can't be blank");
        }
        let notify = body.get("send_notification").and_then(bool_of);
        if notify.is_none() {
            errors.add("send_notification", "must be true or false");
        }
        let order = &self.orders[number];
        if order.local_pickup {
            errors.add(
                "shipping_method",
                "a local pickup order is marked picked up, not shipped",
            );
        } else if !matches!(order.status.as_str(), "paid" | "shipped") {
            errors.add(
                "status",
                format!("an order that is {} cannot be shipped", order.status),
            );
        }
        if !errors.is_empty() {
            return self.validation("The order could not be marked as shipped.", &errors, seq);
        }
        let now = request.received_at;
        let provider = provider.unwrap_or_default();
        self.shipments.push(ShipmentRecord {
            order_number: number.to_owned(),
            provider: provider.clone(),
            tracking_number: tracking.clone(),
            send_notification: notify.unwrap_or(false),
            body: Value::Object(body),
            at: now,
        });
        let o = self.orders.get_mut(number).expect("order exists");
        o.status = "shipped".into();
        o.shipped_at = Some(now);
        o.updated_at = now;
        o.provider = Some(provider);
        o.tracking = Some(tracking);
        let view = self.order_view(&self.orders[number], &request.base_url);
        hal(200, &view, seq)
    }

    fn pickup(&mut self, number: &str, request: &Request) -> Response {
        let seq = request.seq;
        let Some(order) = self.orders.get(number) else {
            return not_found(seq);
        };
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(e) => return message(400, &e, seq),
        };
        let mut errors = Errors::default();
        if !order.local_pickup {
            errors.add(
                "shipping_method",
                "only local pickup orders can be marked picked up",
            );
        } else if !matches!(order.status.as_str(), "paid" | "picked_up") {
            errors.add(
                "status",
                format!("an order that is {} cannot be picked up", order.status),
            );
        }
        if !errors.is_empty() {
            return self.validation("The order could not be marked as picked up.", &errors, seq);
        }
        let now = request.received_at;
        self.pickups.push(PickupRecord {
            order_number: number.to_owned(),
            date: body.get("date").and_then(str_of),
            body: Value::Object(body),
            at: now,
        });
        let o = self.orders.get_mut(number).expect("order exists");
        o.status = "picked_up".into();
        o.updated_at = now;
        let view = self.order_view(&self.orders[number], &request.base_url);
        hal(200, &view, seq)
    }

    fn refund(&mut self, number: &str, request: &Request) -> Response {
        let seq = request.seq;
        let Some(order) = self.orders.get(number).cloned() else {
            return not_found(seq);
        };
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(e) => return message(400, &e, seq),
        };
        let mut errors = Errors::default();
        let state = body
            .get("state")
            .and_then(str_of)
            .unwrap_or_else(|| "approved".into());
        if !matches!(state.as_str(), "approved" | "conditionally_approved") {
            errors.add("state", "must be approved or conditionally_approved");
        }
        let reason = body.get("reason").and_then(str_of);
        match reason.as_deref() {
            None => errors.add("reason", "is missing"),
            Some(r) if !REFUND_REASONS.contains(&r) => {
                errors.add("reason", format!("{r:?} is not a valid reason"))
            }
            Some(_) => {}
        }
        let remaining = order.total_cents() - order.refunded_cents;
        let mut amount = remaining;
        match body.get("refund_amount") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                let currency = m.get("currency").and_then(str_of).unwrap_or_default();
                if currency != order.currency {
                    errors.add(
                        "refund_amount",
                        format!(
                            "currency must be {}, the order's currency (got {currency:?})",
                            order.currency
                        ),
                    );
                } else {
                    match m.get("amount").map(|a| cents_of(a, &currency)) {
                        None => errors.add("refund_amount", "amount can't be blank"),
                        Some(Err(e)) => errors.add("refund_amount", e),
                        Some(Ok(c)) if c <= 0 => {
                            errors.add("refund_amount", "must be greater than 0")
                        }
                        Some(Ok(c)) if c > remaining => errors.add(
                            "refund_amount",
                            format!(
                                "cannot exceed the refundable amount {}",
                                money(remaining, &order.currency)["display"]
                                    .as_str()
                                    .unwrap_or("")
                            ),
                        ),
                        Some(Ok(c)) => amount = c,
                    }
                }
            }
            Some(_) => errors.add("refund_amount", "must be {\"amount\", \"currency\"}"),
        }
        if matches!(
            order.status.as_str(),
            "unpaid" | "payment_pending" | "pending_review" | "blocked" | "cancelled"
        ) {
            errors.add(
                "order",
                format!("an order that is {} cannot be refunded", order.status),
            );
        } else if remaining <= 0 {
            errors.add("order", "the order is already fully refunded");
        }
        if !errors.is_empty() {
            return self.validation("The refund request could not be created.", &errors, seq);
        }
        let now = request.received_at;
        let id = self.ids.refund;
        self.ids.refund += 1;
        let refunded_in_full = amount >= remaining;
        self.refunds.push(RefundRecord {
            refunded_in_full,
            id,
            order_number: number.to_owned(),
            state: state.clone(),
            reason: reason.clone().unwrap_or_default(),
            amount_cents: amount,
            currency: order.currency.clone(),
            note: body.get("note").and_then(str_of),
            body: Value::Object(body),
            at: now,
        });
        let o = self.orders.get_mut(number).expect("order exists");
        o.refunded_cents += amount;
        if o.refunded_cents >= o.total_cents() {
            o.status = "refunded".into();
        }
        o.updated_at = now;
        hal(
            201,
            &json!({
                "id": id,
                "order_number": number,
                "state": state,
                "reason": reason,
                "refund_amount": money(amount, &order.currency),
                "created_at": self.ts(now),
                "_links": {
                    "self": { "href": format!("{}/api/my/refund_requests/selling/{id}", request.base_url) },
                    "order": { "href": format!("{}/api/my/orders/selling/{number}", request.base_url) },
                }
            }),
            seq,
        )
    }
}

pub(crate) fn not_found(seq: u64) -> Response {
    message(404, "The requested resource could not be found.", seq)
}
