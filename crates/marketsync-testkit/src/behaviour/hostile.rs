//! The `hostile` capability: orders answers no marketplace should send — a huge page, deeply
//! nested JSON, a truncated or misshapen body, bytes that are not JSON — are read whole or
//! refused as a typed `Channel` error for the page, never a crash.
//!
//! The fixture serves a raw body as the answer to the adapter's first orders request (with
//! wiremock or a sandbox) and knows the marketplace's envelope and a readable order; the
//! hostile *orders* of each marketplace (its own fields, enums and units) stay in that
//! adapter's tests.

use async_trait::async_trait;
use marketsync_core::{ChannelError, ErrorKind, OrderPage};
use serde_json::Value;

use super::AdapterFixture;

/// A fixture that answers the adapter's orders download with a given body.
#[async_trait]
pub trait RawBodyFixture: AdapterFixture {
    /// Serves `body` with status 200 as the first orders answer and returns what
    /// `Channel::fetch_orders` made of it.
    async fn fetch_orders_raw(&self, body: Vec<u8>) -> Result<OrderPage, ChannelError>;

    /// A readable order numbered `n` (distinct `n`, distinct ids).
    fn order(&self, n: u64) -> Value;

    /// The orders answer carrying `orders` (the marketplace's envelope, one page, no next page).
    fn page(&self, orders: Vec<Value>) -> Value;

    /// Answers that are JSON but not the marketplace's shape (the list a string or an object,
    /// a next-page link of the wrong type, …).
    fn misshapen(&self) -> Vec<Value>;

    /// The marketplace's own assertions on the huge page read whole. Default: none.
    fn check_page(&self, page: &OrderPage) {
        let _ = page;
    }

    /// The marketplace's own assertions on an unreadable answer's error. Default: none.
    fn check_unreadable(&self, error: &ChannelError) {
        let _ = error;
    }
}

const DEPTH: usize = 100_000;
const MARK: &str = "\"@@nested@@\"";

fn assert_unreadable<F: RawBodyFixture>(fixture: &F, e: &ChannelError, what: &str) {
    assert_eq!(e.kind(), ErrorKind::Channel, "{what}: {e}");
    assert_eq!(e.channel(), Some(fixture.kind()), "{what}: {e}");
    assert_eq!(e.operation(), Some("fetch_orders"), "{what}: {e}");
    assert_eq!(e.http_status(), Some(200), "{what}: {e}");
    fixture.check_unreadable(e);
}

async fn refused<F: RawBodyFixture>(fixture: &F, body: Vec<u8>) -> ChannelError {
    let what = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
    match fixture.fetch_orders_raw(body).await {
        Ok(page) => panic!("{what}: read as {} orders", page.orders.len()),
        Err(e) => {
            assert_unreadable(fixture, &e, &what);
            e
        }
    }
}

/// A page of 50,000 orders is read whole: every order, each once, none rejected.
pub async fn a_huge_orders_page_is_read_whole<F: RawBodyFixture>(fixture: &F) {
    let n = 50_000u64;
    let orders = (0..n).map(|i| fixture.order(i)).collect();
    let body = fixture.page(orders).to_string().into_bytes();
    let page = fixture
        .fetch_orders_raw(body)
        .await
        .expect("a huge page is read");
    assert_eq!(page.orders.len() as u64, n, "{:?}", page.rejected.first());
    assert!(page.rejected.is_empty(), "{:?}", page.rejected.first());
    let ids: std::collections::BTreeSet<&str> = page
        .orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(ids.len() as u64, n, "every order once");
    fixture.check_page(&page);
}

/// JSON nested 100,000 deep — unclosed, closed, and inside the envelope's order list — is a
/// typed error for the page (the parser's depth limit), not a stack overflow.
pub async fn deeply_nested_json_is_a_typed_error_not_a_crash<F: RawBodyFixture>(fixture: &F) {
    let inside = fixture
        .page(vec![Value::String("@@nested@@".into())])
        .to_string()
        .replace(MARK, &"{\"a\":".repeat(DEPTH));
    for body in [
        "[".repeat(DEPTH),
        format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        inside,
    ] {
        refused(fixture, body.into_bytes()).await;
    }
}

/// An answer cut anywhere, one of the wrong shape, an HTML error page and bytes that are not
/// UTF-8 are each a typed error for the page.
pub async fn a_truncated_or_misshapen_body_is_a_typed_error_for_the_page<F: RawBodyFixture>(
    fixture: &F,
) {
    let full = fixture
        .page(vec![fixture.order(1), fixture.order(2)])
        .to_string();
    for cut in [0, 1, full.len() / 3, full.len() / 2, full.len() - 1] {
        refused(fixture, full.as_bytes()[..cut].to_vec()).await;
    }
    for body in fixture.misshapen() {
        refused(fixture, body.to_string().into_bytes()).await;
    }
    for body in [
        b"<html>502 Bad Gateway</html>".to_vec(),
        vec![0xff, 0xfe, 0x00],
    ] {
        refused(fixture, body).await;
    }
}
