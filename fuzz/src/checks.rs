//! What each fuzz target runs on one input: the adapters' real decoding functions, plus the
//! invariants that must hold whatever the input. Shared by the fuzz targets (`fuzz_targets/`)
//! and by the main workspace's corpus replay test (`tests/fuzz_corpus.rs`, on stable), so both
//! run exactly the same code. Any panic (an invariant broken, or a panic in the adapter) is a
//! crash.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use marketsync_core::{Currency, Order};
use serde_json::Value;

/// A fixed "now", so the same input always gives the same result.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0)
        .single()
        .expect("a valid fixed time")
}

/// Every amount of an order is in the order's currency.
fn check_order(order: &Order) {
    let c = order.currency;
    for m in [&order.total, &order.tax, &order.shipping_price]
        .into_iter()
        .flatten()
    {
        assert_eq!(
            m.currency(),
            c,
            "an amount in another currency than the order's"
        );
    }
    for line in &order.lines {
        assert_eq!(
            line.unit_price.currency(),
            c,
            "a line priced in another currency than the order's"
        );
    }
}

/// How many elements the JSON array at `pointer` holds, when the body is JSON and has one.
fn array_len(body: &[u8], pointer: &str) -> Option<usize> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.pointer(pointer)?.as_array().map(Vec::len)
}

/// ChannelAdvisor: an orders page (every order read, rejected or marked for a whole read: none
/// lost), one order read on its own, a products page, the next link.
pub fn channeladvisor_orders(data: &[u8]) {
    use marketsync_channeladvisor::decode;
    if let Ok(page) = decode::orders_page(data) {
        page.orders.iter().for_each(check_order);
        if let Some(n) = array_len(data, "/value") {
            assert_eq!(
                page.orders.len() + page.rejected.len() + page.items_cut.len(),
                n,
                "an order of the page was lost"
            );
        }
    }
    if let Ok(order) = decode::order(data, decode::OrderOptions::default()) {
        check_order(&order);
    }
    let _ = decode::listings_page(
        data,
        Some("OfferUp"),
        marketsync_channeladvisor::PriceField::default(),
        Some(Currency::USD),
    );
    let _ = decode::next_link(data);
}

/// Reverb: an orders page (none lost), a listings page, the next link.
pub fn reverb_orders(data: &[u8]) {
    use marketsync_reverb::decode;
    if let Ok(page) = decode::orders_page_with(data, Currency::EUR) {
        page.orders.iter().for_each(check_order);
        if let Some(n) = array_len(data, "/orders") {
            assert_eq!(
                page.orders.len() + page.rejected.len(),
                n,
                "an order of the page was lost"
            );
        }
    }
    let _ = decode::listings_page(data);
    let _ = decode::next_link(data);
}

/// Allegro: a checkout-forms page (none lost), one checkout form, a journal page, an offers
/// page.
pub fn allegro_orders(data: &[u8]) {
    use marketsync_allegro::decode;
    if let Ok(page) = decode::orders_page(data) {
        page.orders.iter().for_each(check_order);
        assert_eq!(
            (page.orders.len() + page.rejected.len()) as u64,
            page.forms,
            "an order of the page was lost"
        );
        if let Some(n) = array_len(data, "/checkoutForms") {
            assert_eq!(page.forms as usize, n, "a checkout form was not counted");
        }
    }
    if let Ok(order) = decode::checkout_form(data, Currency::PLN) {
        check_order(&order);
    }
    let _ = decode::events_page(data);
    if let Ok(page) = decode::listings_page(data) {
        assert_eq!(page.listings.len() as u64, page.offers);
    }
}

/// Tradera: an orders answer (none lost), a seller-items answer.
pub fn tradera_orders(data: &[u8]) {
    use marketsync_tradera::decode;
    if let Ok(page) = decode::orders_page(data) {
        page.orders.iter().for_each(check_order);
        if let Some(n) = array_len(data, "") {
            assert_eq!(
                page.orders.len() + page.rejected.len(),
                n,
                "an order of the answer was lost"
            );
        }
    }
    let _ = decode::listings_page(data, now());
}

/// ChannelAdvisor's `$batch` reply. The input is the reply's `Content-Type` (its first line)
/// and body (the rest); the number of requests the batch held is derived from the first byte
/// (modulo 8, plus 1). Every request gets exactly one outcome.
pub fn ca_multipart(data: &[u8]) {
    use marketsync_channeladvisor::decode;
    let requests = usize::from(data.first().copied().unwrap_or(0) % 8) + 1;
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(head);
    let content_type = content_type.trim_end_matches('\r');
    if let Ok(results) = decode::batch_results(content_type, body, requests) {
        assert_eq!(results.len(), requests, "not one outcome per request");
    }
    let _ = decode::batch_reply(content_type, body);
}

/// `Retry-After` values: delta-seconds always parse; nothing panics.
pub fn retry_after(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = marketsync_http::parse_retry_after(text, now());
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        assert!(parsed.is_some(), "delta-seconds not read");
    }
    if let Ok(value) = marketsync_http::HeaderValue::from_str(text) {
        let mut headers = marketsync_http::HeaderMap::new();
        headers.insert("retry-after", value);
        let _ = marketsync_http::retry_after(&headers, now());
    }
}

/// A client on a fixed base URL, to resolve links against.
fn client() -> &'static marketsync_http::HttpClient {
    static CLIENT: OnceLock<marketsync_http::HttpClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        marketsync_http::HttpClient::builder("https://api.example.com/v1/")
            .build()
            .expect("a client on a fixed base URL")
    })
}

/// Resolves a link and checks it stays on the base URL's host.
fn resolve(link: &str) {
    if let Ok(url) = client().resolve_href(link) {
        assert_eq!(url.scheme(), "https", "a link resolved to another scheme");
        assert_eq!(
            url.host_str(),
            Some("api.example.com"),
            "a link resolved to another host"
        );
        assert_eq!(url.port_or_known_default(), Some(443));
    }
    let _ = client().endpoint(link);
}

/// Paging links: Reverb's `_links.next.href` and ChannelAdvisor's `@odata.nextLink` read from
/// the body, and the body itself as a link, each resolved against the base URL (never to another
/// host).
pub fn paging_links(data: &[u8]) {
    if let Some(link) = marketsync_reverb::decode::next_link(data) {
        resolve(&link);
    }
    if let Some(link) = marketsync_channeladvisor::decode::next_link(data) {
        resolve(&link);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        resolve(text);
    }
}
