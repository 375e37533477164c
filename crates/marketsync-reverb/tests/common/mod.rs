//! Shared set-up: an adapter pointed at a wiremock server, Reverb's request headers as matchers,
//! and realistic Reverb bodies (shapes from Reverb's docs and recorded responses).
#![allow(dead_code)]

use std::time::Duration;

use marketsync_core::{Currency, SecretString};
use marketsync_http::{Limits, RetryPolicy};
use marketsync_reverb::{ReverbChannel, ReverbConfig, ReverbConfigBuilder};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

pub const TOKEN: &str = "REVERBTOKEN-p4t9x2";
pub const TOKEN_2: &str = "REVERBTOKEN-new7k1";
pub const SECRETS: [&str; 2] = [TOKEN, TOKEN_2];

/// A fast retry policy for tests (no jitter, short delays, Retry-After slept up to 5 s).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        factor: 2.0,
        jitter: false,
        max_elapsed: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn builder(server: &MockServer) -> ReverbConfigBuilder {
    ReverbConfig::builder()
        .base_url(server.uri())
        .token(SecretString::from(TOKEN))
        .connection_name("Reverb – Acme Guitars")
        .default_currency(Currency::USD)
        .retry(fast_retry())
        .limits(Limits::none())
}

pub fn channel(server: &MockServer) -> ReverbChannel {
    ReverbChannel::new(builder(server).build().unwrap()).unwrap()
}

/// A request of `verb` to `p` carrying every header Reverb needs: the bearer token,
/// `Accept-Version: 3.0` and `Accept: application/hal+json`.
pub fn reverb(verb: &str, p: &str) -> MockBuilder {
    reverb_with(verb, p, TOKEN)
}

/// [`reverb`] with another token.
pub fn reverb_with(verb: &str, p: &str, token: &str) -> MockBuilder {
    wiremock::Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .and(header("accept-version", "3.0"))
        .and(header("accept", "application/hal+json"))
}

/// [`reverb`] with exactly this JSON body, sent as `application/hal+json`.
pub fn reverb_body(verb: &str, p: &str, body: Value) -> MockBuilder {
    reverb(verb, p)
        .and(header("content-type", "application/hal+json"))
        .and(body_json(body))
}

/// The raw (still percent-encoded) query string of a request.
pub fn raw_query(r: &Request) -> String {
    r.url.query().unwrap_or("").to_owned()
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// A Reverb money object.
pub fn money(amount: &str, currency: &str) -> Value {
    let cents: i64 = amount.replace('.', "").parse().unwrap_or(0);
    json!({
        "amount": amount,
        "amount_cents": cents,
        "currency": currency,
        "symbol": if currency == "USD" { "$" } else { "€" },
        "display": format!("{amount} {currency}")
    })
}

/// A listing as `GET /api/my/listings` returns it.
pub fn listing(id: u64, sku: &str, slug: &str, inventory: i64, amount: &str) -> Value {
    json!({
        "id": id,
        "make": "Fender",
        "model": "Stratocaster",
        "finish": "Sunburst",
        "year": "1972",
        "title": format!("Fender Stratocaster {sku}"),
        "created_at": "2026-01-10T12:00:00-06:00",
        "shop_name": "Acme Guitars",
        "description": "<p>Great player.</p>",
        "condition": {"uuid": "ae4d9114-1bd7-4ec5-a4ba-6653af5ac84d", "display_name": "Very Good"},
        "price": money(amount, "USD"),
        "inventory": inventory,
        "has_inventory": inventory > 1,
        "offers_enabled": true,
        "listing_currency": "USD",
        "sku": sku,
        "state": {"slug": slug, "description": slug},
        "shipping_profile_id": 12345,
        "_links": {
            "self": {"href": format!("https://api.reverb.com/api/listings/{id}")},
            "update": {"method": "PUT", "href": format!("https://api.reverb.com/api/listings/{id}")},
            "end": {"method": "PUT", "href": format!("https://api.reverb.com/api/my/listings/{id}/state/end")},
            "web": {"href": format!("https://reverb.com/item/{id}-fender-stratocaster")}
        }
    })
}

/// A selling order as `GET /api/my/orders/selling/all` returns it (the docs' example shape).
pub fn order(number: &str, sku: &str, status: &str, updated_at: &str) -> Value {
    json!({
        "order_number": number,
        "uuid": format!("9b1d6c1e-0000-4000-8000-{:0>12}", number),
        "order_bundle_id": "7788",
        "product_id": "40012345",
        "sku": sku,
        "title": "Fender Stratocaster 1972 Sunburst",
        "quantity": 1,
        "remaining_listing_inventory": 0,
        "status": status,
        "order_type": "instant",
        "order_source": "Reverb",
        "payment_method": "direct_checkout",
        "shop_name": "Acme Guitars",
        "created_at": "2026-03-04T08:12:44-06:00",
        "updated_at": updated_at,
        "paid_at": "2026-03-04T08:13:02-06:00",
        "amount_product": money("1200.00", "USD"),
        "amount_product_subtotal": money("1200.00", "USD"),
        "shipping": money("45.00", "USD"),
        "amount_tax": money("99.00", "USD"),
        "total": money("1344.00", "USD"),
        "buyer_id": 123456,
        "buyer_name": "Jane Buyer",
        "buyer_first_name": "Jane",
        "buyer_last_name": "Buyer",
        "shipping_method": "shipped",
        "local_pickup": false,
        "shipping_address": {
            "name": "Jane Buyer",
            "street_address": "1 Main St",
            "extended_address": "Apt 2",
            "locality": "Chicago",
            "region": "IL",
            "postal_code": "60601",
            "country_code": "US",
            "phone": "555-0100"
        },
        "needs_feedback_for_buyer": false,
        "_links": {
            "ship": {"href": format!("https://api.reverb.com/api/my/orders/selling/{number}/ship")},
            "listing": {"href": "https://api.reverb.com/api/listings/40012345"}
        }
    })
}

/// `GET /api/my/orders/selling/{number}` (one order read by number) answered with [`order`]
/// `number` of `sku` in `status`, updated at `updated_at`; the caller says how often and mounts it.
pub fn order_read(number: &str, sku: &str, status: &str, updated_at: &str) -> Mock {
    reverb("GET", &format!("/api/my/orders/selling/{number}")).respond_with(
        ResponseTemplate::new(200).set_body_json(order(number, sku, status, updated_at)),
    )
}

/// A collection page with an optional `_links.next.href`.
pub fn page(
    key: &str,
    items: Vec<Value>,
    next: Option<&str>,
    current: u32,
    total_pages: u32,
) -> Value {
    let mut links = json!({});
    if let Some(href) = next {
        links["next"] = json!({"href": href});
    }
    let mut body = json!({
        "total": items.len(),
        "current_page": current,
        "total_pages": total_pages,
        "_links": links
    });
    body[key] = Value::Array(items);
    body
}
