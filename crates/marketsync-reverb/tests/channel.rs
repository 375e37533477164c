//! Every operation against a wiremock Reverb: the exact requests sent (method, path, query,
//! headers, body) and the parsing of realistic answers.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::*;
use marketsync_core::{
    AdjustmentReason, AuthorizationRequest, BrokenReason, Cancellation, CancellationRequest,
    Channel, ChannelKind, ChannelListing, ChannelListingId, ChannelListingState, ChannelOrderId,
    Credentials, Currency, CurrencySource, Cursor, Delivery, EndListing, EndReason, ErrorKind,
    IdempotencyKey, LineQuantity, ListingQuery, ListingUpdate, Money, NewListing, OrderQuery,
    OrderState, Refund, RefundLine, RefundRequest, Shipment, ShipmentRequest, Sku,
};
use marketsync_reverb::{
    ACKNOWLEDGE_UNSUPPORTED, PARTIAL_CANCEL_UNSUPPORTED, ReverbChannel, capabilities,
};
use serde_json::json;
use wiremock::matchers::{query_param, query_param_is_missing};
use wiremock::{MockBuilder, MockServer, ResponseTemplate};

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn lid(s: &str) -> ChannelListingId {
    ChannelListingId::new(s).unwrap()
}

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

fn usd(s: &str) -> Money {
    Money::parse(s, "USD").unwrap()
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

fn orders_query(cursor: Option<&str>, page_size: Option<u32>) -> OrderQuery {
    OrderQuery {
        cursor: cursor.map(|c| Cursor(c.to_owned())),
        created_since: None,
        states: Vec::new(),
        default_currency: Currency::USD,
        page: None,
        page_size,
    }
}

fn shipment(carrier: Option<&str>, tracking: Option<&str>, delivery: Delivery) -> ShipmentRequest {
    ShipmentRequest {
        order_id: oid("51234567"),
        shipment: Shipment {
            carrier: carrier.map(str::to_owned),
            method: None,
            tracking_number: tracking.map(str::to_owned),
            shipped_at: Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap(),
            lines: Vec::new(),
            delivery,
        },
        idempotency_key: key("ship-1"),
        resend: false,
    }
}

fn refund(
    amount: Option<Money>,
    lines: Vec<RefundLine>,
    reason: AdjustmentReason,
) -> RefundRequest {
    RefundRequest {
        order_id: oid("51234567"),
        refund: Refund {
            amount,
            lines,
            reason,
            restock: true,
            note: Some("sorry".into()),
        },
        idempotency_key: key("refund-1"),
        resend: false,
    }
}

/// Order 51234567's refund request: approved, for `reason`, of `amount` USD.
fn refund_request(reason: &str, amount: &str) -> MockBuilder {
    reverb_body(
        "POST",
        "/api/my/orders/selling/51234567/refund_requests",
        json!({"state": "approved", "reason": reason, "refund_amount": {"amount": amount, "currency": "USD"}}),
    )
}

/// Reverb's answers to a full refund of order 51234567 (1344.00 USD in all) in `status`: the
/// order read once, then one refund request for `reason`, answered as refund `id`.
async fn mount_full_refund(server: &MockServer, status: &str, reason: &str, id: u64) {
    order_read("51234567", "GTR-001", status, "2026-03-04T10:00:00Z")
        .expect(1)
        .mount(server)
        .await;
    refund_request(reason, "1344.00")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": id})))
        .expect(1)
        .mount(server)
        .await;
}

// ----- connection -----

#[tokio::test]
async fn verify_reads_the_shop_with_reverbs_headers() {
    let server = MockServer::start().await;
    reverb("GET", "/api/shop")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 98765, "slug": "acme-guitars", "name": "Acme Guitars", "currency": "USD",
            "shipping_profiles": [{"id": 12345, "name": "Standard"}],
            "_links": {"web": {"href": "https://reverb.com/shop/acme-guitars"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    assert_eq!(ch.kind(), ChannelKind::Reverb);
    let info = ch.verify().await.unwrap();
    assert_eq!(info.account_id, "98765");
    assert_eq!(info.name.as_deref(), Some("Acme Guitars"));
    assert_eq!(info.currency, Some(Currency::USD));
    assert_eq!(info.credentials_expire_at, None);
    let reqs = requests(&server).await;
    assert_eq!(raw_query(&reqs[0]), "");
    assert!(reqs[0].headers.get("content-type").is_none(), "no body");
}

#[tokio::test]
async fn a_refused_token_is_auth_with_reverbs_message() {
    let server = MockServer::start().await;
    reverb("GET", "/api/shop")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "You must log in to access this endpoint",
            "details": "Invalid token or token has been revoked.",
            "_links": {"email_auth": {"href": "https://api.reverb.com/api/auth/email"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
    assert_eq!(
        e.channel_message(),
        Some("You must log in to access this endpoint")
    );
    assert_eq!(e.http_status(), Some(401));
    assert_eq!(e.channel(), Some(ChannelKind::Reverb));
    assert_eq!(e.operation(), Some("verify"));
    assert!(!e.is_temporary());

    // The older body shape: {"error": ".."}.
    let server = MockServer::start().await;
    reverb("GET", "/api/shop")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "You must log in to access this endpoint"})),
        )
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.channel_message(),
        Some("You must log in to access this endpoint")
    );
}

#[tokio::test]
async fn use_credentials_replaces_the_token_for_every_clone() {
    let server = MockServer::start().await;
    let shop = json!({"id": 98765, "name": "Acme Guitars", "currency": "USD"});
    reverb_with("GET", "/api/shop", TOKEN)
        .respond_with(ResponseTemplate::new(200).set_body_json(shop.clone()))
        .expect(1)
        .mount(&server)
        .await;
    reverb_with("GET", "/api/shop", TOKEN_2)
        .respond_with(ResponseTemplate::new(200).set_body_json(shop))
        .expect(2)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let clone = ch.clone();
    ch.verify().await.unwrap();
    ch.use_credentials(&Credentials::api_token(TOKEN_2))
        .await
        .unwrap();
    ch.verify().await.unwrap();
    clone.verify().await.unwrap();

    let e = ch
        .use_credentials(&Credentials::seller_secret("s", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let e = ch
        .use_credentials(&Credentials::api_token(" "))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("token"));
}

#[tokio::test]
async fn capabilities_and_unsupported_operations() {
    let server = MockServer::start().await;
    let ch = channel(&server);
    assert_eq!(ch.capabilities(), capabilities());
    let c = ch.capabilities();
    assert!(c.listings_link && c.listings_sync && c.listings_publish && c.listings_reconcile);
    assert!(c.orders_get && c.orders_ship && c.orders_refund && c.orders_cancel);
    assert!(!c.orders_acknowledge && !c.shipping_mappings_required && !c.login_authorization);
    assert!(c.orders_carry_currency);
    assert_eq!(
        (c.listings_update_max_batch, c.listings_end_max_batch),
        (1, 1)
    );
    assert_eq!(c.rate_limits.per_minute, None);

    let e = ch.acknowledge_order(&oid("1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.message(), ACKNOWLEDGE_UNSUPPORTED);
    let e = ch
        .begin_authorization(&AuthorizationRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(requests(&server).await.is_empty());
}

// ----- listings -----

#[tokio::test]
async fn every_listing_through_absolute_and_host_relative_next_links() {
    let server = MockServer::start().await;
    let uri = server.uri();
    reverb("GET", "/api/my/listings")
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![
                listing(101, "GTR-001", "live", 1, "1200.00"),
                listing(102, "GTR-002", "draft", 1, "899.50"),
            ],
            Some(&format!(
                "{uri}/api/my/listings?page=2&per_page=100&state=all"
            )),
            1,
            3,
        )))
        .mount(&server)
        .await;
    reverb("GET", "/api/my/listings")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![
                listing(103, "GTR-003", "sold_out", 0, "450.00"),
                listing(104, "GTR-004", "ended", 1, "300.00"),
            ],
            Some("/api/my/listings?page=3&per_page=100&state=all"),
            2,
            3,
        )))
        .mount(&server)
        .await;
    reverb("GET", "/api/my/listings")
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![listing(105, "GTR-005", "suspended", 2, "99.99")],
            None,
            3,
            3,
        )))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut query = ListingQuery {
        include_ended: true,
        ..ListingQuery::default()
    };
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let p = ch.list_listings(&query).await.unwrap();
        pages += 1;
        all.extend(p.listings);
        match p.next_page {
            Some(t) => query.page = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let states: Vec<(&str, ChannelListingState, &str)> = all
        .iter()
        .map(|l| (l.id.as_str(), l.state, l.raw_state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("101", ChannelListingState::Live, "live"),
            ("102", ChannelListingState::Draft, "draft"),
            ("103", ChannelListingState::SoldOut, "sold_out"),
            ("104", ChannelListingState::Ended, "ended"),
            ("105", ChannelListingState::Other, "suspended"),
        ]
    );
    assert_eq!(all[0].sku, Some(sku("GTR-001")));
    assert_eq!(all[0].price, Some(usd("1200.00")));
    assert_eq!(all[1].price, Some(usd("899.50")));
    assert_eq!(all[2].quantity, Some(0));
    assert_eq!(all[4].quantity, Some(2));
    assert_eq!(all[0].title.as_deref(), Some("Fender Stratocaster GTR-001"));

    let reqs = requests(&server).await;
    let queries: Vec<String> = reqs.iter().map(raw_query).collect();
    assert_eq!(
        queries,
        [
            "state=all&per_page=100",
            "page=2&per_page=100&state=all",
            "page=3&per_page=100&state=all"
        ]
    );

    // Without ended listings, the ended one is left out.
    let p = ch.list_listings(&ListingQuery::default()).await.unwrap();
    assert!(p.listings.iter().all(|l| l.id.as_str() != "104"));
}

/// Every page of a listing download, as the engine reads it: the listings and the number of
/// calls.
async fn read_all(ch: &ReverbChannel, mut query: ListingQuery) -> (Vec<ChannelListing>, usize) {
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let p = ch.list_listings(&query).await.unwrap();
        calls += 1;
        all.extend(p.listings);
        match p.next_page {
            Some(t) => query.page = Some(t),
            None => return (all, calls),
        }
    }
}

/// Every request's method, path and raw query.
async fn sent(server: &MockServer) -> Vec<(String, String, String)> {
    requests(server)
        .await
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned(), raw_query(r)))
        .collect()
}

fn get_listings(query: &str) -> (String, String, String) {
    ("GET".into(), "/api/my/listings".into(), query.into())
}

fn skus_query(skus: &[&str], include_ended: bool) -> ListingQuery {
    ListingQuery {
        skus: skus.iter().map(|s| sku(s)).collect(),
        include_ended,
        page: None,
        page_size: None,
    }
}

#[tokio::test]
async fn one_sku_is_one_lookup_with_exact_matches_only() {
    let server = MockServer::start().await;
    reverb("GET", "/api/my/listings")
        .and(query_param("sku", "GTR 404/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![
                listing(101, "GTR 404/x", "live", 1, "1200.00"),
                // A broader match must not be taken for the SKU asked for.
                listing(150, "GTR 404/x-B", "live", 1, "10.00"),
            ],
            None,
            1,
            1,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut query = skus_query(&["GTR 404/x"], true);
    query.page_size = Some(10);
    let (all, calls) = read_all(&ch, query).await;
    assert_eq!(calls, 1);
    let ids: Vec<&str> = all.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["101"]);
    assert_eq!(
        sent(&server).await,
        [get_listings("state=all&sku=GTR+404%2Fx&per_page=10")]
    );
}

#[tokio::test]
async fn skus_of_a_large_shop_are_looked_up_one_by_one_after_its_first_page() {
    let server = MockServer::start().await;
    let uri = server.uri();
    // The first page of the whole shop: 40 pages, more than the 2 SKUs asked for.
    reverb("GET", "/api/my/listings")
        .and(query_param_is_missing("sku"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![
                listing(101, "GTR-001", "live", 1, "1200.00"),
                listing(120, "OTHER", "live", 1, "5.00"),
            ],
            Some(&format!(
                "{uri}/api/my/listings?page=2&per_page=100&state=all"
            )),
            1,
            40,
        )))
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/listings")
        .and(query_param("sku", "GTR-001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![
                listing(101, "GTR-001", "live", 1, "1200.00"),
                listing(150, "GTR-001-B", "live", 1, "10.00"),
            ],
            None,
            1,
            1,
        )))
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/listings")
        .and(query_param("sku", "GTR-404"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![],
            None,
            1,
            0,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let (all, calls) = read_all(&ch, skus_query(&["GTR-001", "GTR-404"], true)).await;
    assert_eq!(calls, 3);
    let ids: Vec<&str> = all.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["101"], "once: the first page of the shop is dropped");
    assert_eq!(
        sent(&server).await,
        [
            get_listings("state=all&per_page=100"),
            get_listings("state=all&sku=GTR-001&per_page=100"),
            get_listings("state=all&sku=GTR-404&per_page=100"),
        ]
    );
}

/// A shop of `n` listings `S-000`.. (ids 1000..), 100 a page, newest first; `S-005` ended.
async fn mount_shop(server: &MockServer, n: usize) {
    let uri = server.uri();
    let pages = n.div_ceil(100);
    for p in 1..=pages {
        let items = (100 * (p - 1)..(100 * p).min(n))
            .map(|i| {
                let slug = if i == 5 { "ended" } else { "live" };
                listing(1000 + i as u64, &format!("S-{i:03}"), slug, 1, "10.00")
            })
            .collect();
        let next = (p < pages).then(|| {
            format!(
                "{uri}/api/my/listings?page={}&per_page=100&state=all",
                p + 1
            )
        });
        let mock = reverb("GET", "/api/my/listings").and(query_param_is_missing("sku"));
        let mock = if p == 1 {
            mock.and(query_param_is_missing("page"))
        } else {
            mock.and(query_param("page", p.to_string()))
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            items,
            next.as_deref(),
            p as u32,
            pages as u32,
        )))
        .mount(server)
        .await;
    }
}

#[tokio::test]
async fn many_skus_read_the_whole_shop_100_a_page_and_look_up_only_the_unseen() {
    let server = MockServer::start().await;
    mount_shop(&server, 250).await;
    // Not in the shop's pages: deleted, or moved between pages while they were read.
    reverb("GET", "/api/my/listings")
        .and(query_param("sku", "GONE-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![],
            None,
            1,
            0,
        )))
        .expect(2)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/listings")
        .and(query_param("sku", "MOVED"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![listing(2000, "MOVED", "live", 1, "10.00")],
            None,
            1,
            1,
        )))
        .expect(2)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut asked: Vec<String> = (0..200).map(|i| format!("S-{i:03}")).collect();
    asked.insert(17, "GONE-1".into());
    asked.push("MOVED".into());
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();

    let (all, calls) = read_all(&ch, skus_query(&asked, false)).await;
    assert_eq!(calls, 5, "3 pages of the shop, then 2 lookups");
    let mut ids: Vec<u64> = all.iter().map(|l| l.id.as_str().parse().unwrap()).collect();
    ids.sort_unstable();
    let mut expected: Vec<u64> = (1000..1200).filter(|&i| i != 1005).collect();
    expected.push(2000);
    assert_eq!(ids, expected, "the SKUs asked for, no ended one, each once");
    let uri_q = |p: u32| format!("page={p}&per_page=100&state=all");
    let exact = [
        get_listings("state=all&per_page=100"),
        get_listings(&uri_q(2)),
        get_listings(&uri_q(3)),
        get_listings("state=all&sku=GONE-1&per_page=100"),
        get_listings("state=all&sku=MOVED&per_page=100"),
    ];
    assert_eq!(sent(&server).await, exact);

    // With ended listings, the ended one is read too; the same requests again.
    let (all, _) = read_all(&ch, skus_query(&asked, true)).await;
    assert_eq!(all.len(), 201);
    assert!(all.iter().any(|l| l.state == ChannelListingState::Ended));
    assert_eq!(sent(&server).await[5..], exact);
}

#[tokio::test]
async fn a_shop_of_one_page_is_read_once_and_what_it_lacks_is_gone() {
    let server = MockServer::start().await;
    mount_shop(&server, 30).await;
    let ch = channel(&server);
    let (all, calls) = read_all(&ch, skus_query(&["S-001", "S-029", "GONE-1"], true)).await;
    assert_eq!(calls, 1);
    let ids: Vec<&str> = all.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["1001", "1029"]);
    assert_eq!(
        sent(&server).await,
        [get_listings("state=all&per_page=100")]
    );
}

#[tokio::test]
async fn a_page_token_of_another_listing_download_is_refused() {
    let server = MockServer::start().await;
    mount_shop(&server, 250).await;
    let ch = channel(&server);
    let mut query = skus_query(&["S-001", "S-002", "S-003"], false);
    let first = ch.list_listings(&query).await.unwrap();
    assert_eq!(first.listings.len(), 3);
    query.page = first.next_page;
    query.skus.pop();
    let e = ch.list_listings(&query).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.operation(), Some("list_listings"));
    assert_eq!(sent(&server).await.len(), 1, "nothing sent for it");
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    reverb("GET", "/api/my/listings")
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![],
            Some("https://elsewhere.example/api/my/listings?page=2"),
            1,
            2,
        )))
        .mount(&server)
        .await;
    let e = channel(&server)
        .list_listings(&ListingQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn updates_are_one_put_each_with_per_listing_outcomes() {
    let server = MockServer::start().await;
    reverb_body(
        "PUT",
        "/api/listings/101",
        json!({"inventory": 3, "price": {"amount": "12.50", "currency": "USD"}}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "message": "Your listing has been updated.",
        "listing": listing(101, "GTR-001", "live", 3, "12.50")
    })))
    .expect(1)
    .mount(&server)
    .await;
    reverb_body("PUT", "/api/listings/102", json!({"inventory": 0}))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "Listing not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    reverb_body(
        "PUT",
        "/api/listings/103",
        json!({"price": {"amount": "0.00", "currency": "USD"}}),
    )
    .respond_with(ResponseTemplate::new(412).set_body_json(json!({
        "message": "Your listing could not be saved.",
        "errors": {"price": ["must be greater than 0"]}
    })))
    .expect(1)
    .mount(&server)
    .await;
    reverb_body("PUT", "/api/listings/104", json!({"inventory": 5}))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation failed",
            "errors": {"inventory": ["multiple inventory is not allowed for this condition"]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let update = |id: &str, price: Option<Money>, quantity: Option<u32>| ListingUpdate {
        listing_id: lid(id),
        sku: sku(&format!("SKU-{id}")),
        price,
        quantity,
        title: Some("Inventory title".into()),
    };
    let out = channel(&server)
        .update_listings(&[
            update("101", Some(usd("12.5")), Some(3)),
            update("102", None, Some(0)),
            update("103", Some(usd("0")), None),
            update("104", None, Some(5)),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("101"));
    assert_eq!(out[0].sku, Some(sku("SKU-101")));
    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "the engine's broken link");
    assert_eq!(e.channel_message(), Some("Listing not found"));
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Invalid,
        "412 is validation, not a conflict"
    );
    assert_eq!(e.field(), Some("price"));
    assert_eq!(
        e.channel_message(),
        Some("Your listing could not be saved. (price: must be greater than 0)")
    );
    assert_eq!(e.operation(), Some("update_listings"));
    let e = out[3].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.field(), Some("inventory"));
    assert_eq!(e.http_status(), Some(422));
}

#[tokio::test]
async fn an_update_of_a_listing_gone_from_reverb_is_not_found_and_the_others_are_sent() {
    let server = MockServer::start().await;
    for (id, status) in [("101", 200), ("102", 404), ("103", 200)] {
        let body = if status == 404 {
            // Reverb's error shape (`message`), as the sandbox sends it for an unknown listing.
            json!({"message": "The requested resource could not be found."})
        } else {
            json!({
                "message": "Your listing has been updated.",
                "listing": listing(id.parse().unwrap(), &format!("SKU-{id}"), "live", 2, "10.00")
            })
        };
        reverb_body(
            "PUT",
            &format!("/api/listings/{id}"),
            json!({"inventory": 2}),
        )
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    }
    let updates: Vec<ListingUpdate> = ["101", "102", "103"]
        .iter()
        .map(|id| ListingUpdate {
            listing_id: lid(id),
            sku: sku(&format!("SKU-{id}")),
            price: None,
            quantity: Some(2),
            title: None,
        })
        .collect();
    let out = channel(&server).update_listings(&updates).await.unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("101"));
    assert_eq!(out[2].result.as_ref().unwrap(), &lid("103"));
    assert_eq!(out[1].listing_id, Some(lid("102")));
    assert_eq!(out[1].sku, Some(sku("SKU-102")));
    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.http_status(), Some(404));
    assert_eq!(
        e.channel_message(),
        Some("The requested resource could not be found.")
    );
    assert_eq!(e.operation(), Some("update_listings"));
    assert_eq!(e.channel(), Some(ChannelKind::Reverb));
    let puts: Vec<String> = sent(&server)
        .await
        .into_iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        puts,
        [
            "PUT /api/listings/101",
            "PUT /api/listings/102",
            "PUT /api/listings/103"
        ],
        "the 404 is not retried"
    );
}

#[tokio::test]
async fn titles_are_sent_only_when_configured() {
    let server = MockServer::start().await;
    reverb_body(
        "PUT",
        "/api/listings/101",
        json!({"title": "Fender Strat 1972", "inventory": 1, "price": {"amount": "1200.00", "currency": "USD"}}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "ok"})))
    .expect(1)
    .mount(&server)
    .await;
    let ch = ReverbChannel::new(builder(&server).sync_titles(true).build().unwrap()).unwrap();
    let out = ch
        .update_listings(&[ListingUpdate {
            listing_id: lid("101"),
            sku: sku("GTR-001"),
            price: Some(usd("1200")),
            quantity: Some(1),
            title: Some("Fender Strat 1972".into()),
        }])
        .await
        .unwrap();
    assert!(out[0].result.is_ok());
}

#[tokio::test]
async fn an_auth_failure_fails_the_whole_call() {
    let server = MockServer::start().await;
    reverb("PUT", "/api/listings/101")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "You must log in to access this endpoint"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    reverb("PUT", "/api/listings/102")
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let update = |id: &str| ListingUpdate {
        listing_id: lid(id),
        sku: sku("A"),
        price: None,
        quantity: Some(1),
        title: None,
    };
    let e = channel(&server)
        .update_listings(&[update("101"), update("102")])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.channel_message(),
        Some("You must log in to access this endpoint")
    );
}

#[tokio::test]
async fn publish_creates_drafts_unless_asked_to_publish() {
    let server = MockServer::start().await;
    reverb_body(
        "POST",
        "/api/listings",
        json!({
            "sku": "GTR-010", "title": "Gibson SG Standard",
            "price": {"amount": "999.00", "currency": "USD"},
            "has_inventory": false, "inventory": 1, "publish": false
        }),
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(json!({
        "message": "Your draft listing has been created. You can publish it when you're ready.",
        "listing": listing(201, "GTR-010", "draft", 1, "999.00"),
        "errors": {}
    })))
    .expect(1)
    .mount(&server)
    .await;
    reverb_body(
        "POST",
        "/api/listings",
        json!({
            "sku": "PED-020", "title": "Boss DS-1",
            "price": {"amount": "49.90", "currency": "USD"},
            "has_inventory": true, "inventory": 3,
            "shipping_profile_id": "12345", "publish": true
        }),
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(json!({
        "message": "Your listing has been published.",
        "listing": listing(202, "PED-020", "live", 3, "49.90"),
        "errors": {}
    })))
    .expect(1)
    .mount(&server)
    .await;
    reverb(
        "POST",
        "/api/listings",
    )
    .and(wiremock::matchers::body_partial_json(json!({"sku": "AMP-030"})))
    // Raw text: `json!` would sort the keys, and the order Reverb sends them in matters.
    .respond_with(ResponseTemplate::new(422).set_body_raw(
        r#"{"message":"Your listing could not be published.","errors":{"make":["can't be blank"],"condition":["can't be blank"]}}"#,
        "application/hal+json",
    ))
    .expect(1)
    .mount(&server)
    .await;

    let draft = NewListing {
        sku: sku("GTR-010"),
        title: "Gibson SG Standard".into(),
        price: usd("999"),
        quantity: 1,
        publish: false,
    };
    let out = channel(&server).publish_listings(&[draft]).await.unwrap();
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("201"));
    assert_eq!(out[0].listing_id, Some(lid("201")));

    let with_profile = ReverbChannel::new(
        builder(&server)
            .shipping_profile_id("12345")
            .build()
            .unwrap(),
    )
    .unwrap();
    let out = with_profile
        .publish_listings(&[
            NewListing {
                sku: sku("PED-020"),
                title: "Boss DS-1".into(),
                price: usd("49.9"),
                quantity: 3,
                publish: true,
            },
            NewListing {
                sku: sku("AMP-030"),
                title: "Amp".into(),
                price: usd("10"),
                quantity: 1,
                publish: true,
            },
        ])
        .await
        .unwrap();
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("202"));
    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.field(), Some("make"), "the first field Reverb named");
    assert!(
        e.channel_message()
            .unwrap()
            .contains("condition: can't be blank")
    );
    assert_eq!(out[1].sku, Some(sku("AMP-030")));
    assert_eq!(out[1].listing_id, None);
}

#[tokio::test]
async fn end_listings_with_reason_not_sold() {
    let server = MockServer::start().await;
    reverb_body(
        "PUT",
        "/api/my/listings/101/state/end",
        json!({"reason": "not_sold"}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "message": "Your listing has been ended.",
        "listing": listing(101, "GTR-001", "ended", 1, "1200.00")
    })))
    .expect(1)
    .mount(&server)
    .await;
    reverb_body(
        "PUT",
        "/api/my/listings/102/state/end",
        json!({"reason": "not_sold"}),
    )
    .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not found"})))
    .expect(1)
    .mount(&server)
    .await;
    reverb_body(
        "PUT",
        "/api/my/listings/103/state/end",
        json!({"reason": "not_sold"}),
    )
    .respond_with(ResponseTemplate::new(422).set_body_json(json!({
        "message": "This listing cannot be ended.",
        "errors": {"state": ["is already sold"]}
    })))
    .expect(1)
    .mount(&server)
    .await;
    let end = |id: &str, reason| EndListing {
        listing_id: lid(id),
        sku: Some(sku("X")),
        reason,
    };
    let out = channel(&server)
        .end_listings(&[
            end("101", EndReason::NotOnLabel),
            end("102", EndReason::SoldElsewhere),
            end("103", EndReason::SellerRequest),
        ])
        .await
        .unwrap();
    assert!(out[0].result.is_ok());
    assert!(out[1].result.is_ok(), "already gone: nothing left to end");
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!((e.kind(), e.field()), (ErrorKind::Invalid, Some("state")));
}

// ----- orders -----

#[tokio::test]
async fn first_download_pages_parses_and_gives_the_cursor_only_at_the_end() {
    let server = MockServer::start().await;
    let uri = server.uri();
    let mut pickup = order(
        "51234568",
        "GTR-002",
        "picked_up",
        "2026-03-04T07:30:00-06:00",
    );
    pickup["shipping_method"] = json!("local");
    pickup["local_pickup"] = json!(true);
    pickup["shipping_address"] = json!(null);
    pickup["shipping"] = money("0.00", "USD");
    let mut float_money = order("51234570", "GTR-004", "paid", "2026-03-04T08:00:00-06:00");
    float_money["total"] = json!({"amount": 1344.0, "currency": "USD"});
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![
                // 10:00 -06:00 = 16:00 UTC: the highest of the download, on the first page.
                order("51234567", "GTR-001", "paid", "2026-03-04T10:00:00-06:00"),
                pickup,
            ],
            Some(&format!(
                "{uri}/api/my/orders/selling/all?created_start_date=2026-02-03T09%3A00%3A00-00%3A00&page=2&per_page=100"
            )),
            1,
            2,
        )))
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![
                order(
                    "51234569",
                    "GTR-003",
                    "shipped",
                    "2026-03-04T09:00:00-06:00",
                ),
                float_money,
            ],
            None,
            2,
            2,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let ch = channel(&server);
    let mut query = orders_query(None, None);
    query.created_since = Some(Utc.with_ymd_and_hms(2026, 2, 3, 9, 0, 0).unwrap());
    let first = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(first.orders.len(), 2);
    assert!(first.rejected.is_empty());
    assert_eq!(first.cursor, None, "no cursor before the last page");
    assert!(first.next_page.is_some());

    let o = &first.orders[0];
    assert_eq!(o.channel_order_id, oid("51234567"));
    assert_eq!(
        o.marketplace_order_id.as_deref(),
        Some("9b1d6c1e-0000-4000-8000-000051234567")
    );
    assert_eq!(o.status.state, OrderState::AwaitingShipment);
    assert_eq!(o.status.raw, "paid");
    assert_eq!(
        o.created_at,
        Utc.with_ymd_and_hms(2026, 3, 4, 14, 12, 44).unwrap()
    );
    assert_eq!(
        o.updated_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 4, 16, 0, 0).unwrap())
    );
    assert_eq!(o.currency, Currency::USD);
    assert_eq!(o.currency_source, CurrencySource::Channel);
    assert_eq!(o.lines.len(), 1);
    let line = &o.lines[0];
    assert_eq!(line.line_id, "51234567");
    assert_eq!(line.sku, Some(sku("GTR-001")));
    assert_eq!(line.listing_id, Some(lid("40012345")));
    assert_eq!(line.quantity, 1);
    assert_eq!(line.unit_price, usd("1200.00"));
    assert_eq!(line.title, "Fender Stratocaster 1972 Sunburst");
    assert_eq!(o.shipping_price, Some(usd("45.00")));
    assert_eq!(o.tax, Some(usd("99.00")));
    assert_eq!(o.total, Some(usd("1344.00")));
    assert_eq!(o.shipping_method.as_deref(), Some("shipped"));
    assert!(!o.local_pickup);
    let a = o.shipping_address.as_ref().unwrap();
    assert_eq!(
        (a.line1.as_deref(), a.line2.as_deref(), a.city.as_deref()),
        (Some("1 Main St"), Some("Apt 2"), Some("Chicago"))
    );
    assert_eq!(
        (
            a.region.as_deref(),
            a.postal_code.as_deref(),
            a.country.as_deref()
        ),
        (Some("IL"), Some("60601"), Some("US"))
    );
    assert_eq!(o.buyer.id.as_deref(), Some("123456"));
    assert_eq!(o.buyer.name.as_deref(), Some("Jane Buyer"));

    let p = &first.orders[1];
    assert!(p.local_pickup);
    assert_eq!(p.shipping_method.as_deref(), Some("local"));
    assert_eq!(p.status.state, OrderState::Completed);
    assert_eq!(p.shipping_address, None);

    query.page = first.next_page;
    let last = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(last.orders.len(), 1);
    assert_eq!(last.orders[0].status.state, OrderState::Shipped);
    assert_eq!(last.rejected.len(), 1, "reported, not dropped");
    assert_eq!(last.rejected[0].channel_order_id, Some(oid("51234570")));
    assert_eq!(last.rejected[0].error.kind(), ErrorKind::Channel);
    assert!(last.next_page.is_none());
    assert_eq!(
        last.cursor,
        Some(Cursor("2026-03-04T14:00:00Z".into())),
        "the highest updated_at of the whole download (16:00), held at the unreadable order's \
         (08:00 -06:00) so that the next run downloads it again"
    );

    let reqs = requests(&server).await;
    let q = raw_query(&reqs[0]);
    assert_eq!(
        q,
        "created_start_date=2026-02-03T09%3A00%3A00-00%3A00&per_page=100"
    );
    assert!(!q.contains('+') && !q.contains("%2B"));
}

#[tokio::test]
async fn host_relative_next_links_and_the_next_run_from_the_cursor() {
    let server = MockServer::start().await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            // Within the overlap: older than the cursor, which must not go back.
            vec![order("51234567", "GTR-001", "shipped", "2026-03-04T15:58:00Z")],
            Some("/api/my/orders/selling/all?page=2&per_page=25&updated_start_date=2026-03-04T15%3A55%3A00-00%3A00"),
            1,
            2,
        )))
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page("orders", vec![], None, 2, 2)))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut query = orders_query(Some("2026-03-04T16:00:00Z"), Some(25));
    let first = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(first.cursor, None);
    query.page = first.next_page;
    let last = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(last.cursor, Some(Cursor("2026-03-04T16:00:00Z".into())));
    let reqs = requests(&server).await;
    assert_eq!(
        raw_query(&reqs[0]),
        "updated_start_date=2026-03-04T15%3A55%3A00-00%3A00&per_page=25",
        "cursor minus five minutes"
    );
    assert_eq!(reqs[1].url.path(), "/api/my/orders/selling/all");
    assert_eq!(
        raw_query(&reqs[1]),
        "page=2&per_page=25&updated_start_date=2026-03-04T15%3A55%3A00-00%3A00"
    );
}

#[tokio::test]
async fn every_documented_status_is_mapped_and_kept_raw() {
    let server = MockServer::start().await;
    let statuses = [
        ("unpaid", OrderState::Unpaid),
        ("payment_pending", OrderState::PaymentPending),
        ("pending_review", OrderState::PaymentPending),
        ("partially_paid", OrderState::PaymentPending),
        ("blocked", OrderState::OnHold),
        ("paid", OrderState::AwaitingShipment),
        ("shipped", OrderState::Shipped),
        ("picked_up", OrderState::Completed),
        ("received", OrderState::Completed),
        ("refunded", OrderState::Refunded),
        ("cancelled", OrderState::Cancelled),
        ("something_new", OrderState::Unknown),
    ];
    let orders = statuses
        .iter()
        .enumerate()
        .map(|(i, (s, _))| order(&format!("{}", 1000 + i), "A", s, "2026-03-04T10:00:00Z"))
        .collect();
    reverb("GET", "/api/my/orders/selling/all")
        .respond_with(ResponseTemplate::new(200).set_body_json(page("orders", orders, None, 1, 1)))
        .mount(&server)
        .await;
    let got = channel(&server)
        .fetch_orders(&orders_query(None, None))
        .await
        .unwrap();
    assert_eq!(got.orders.len(), statuses.len());
    for (o, (raw, state)) in got.orders.iter().zip(statuses) {
        assert_eq!((o.status.raw.as_str(), o.status.state), (raw, state));
    }
    assert_eq!(raw_query(&requests(&server).await[0]), "per_page=100");
}

#[tokio::test]
async fn an_order_without_money_uses_the_default_currency() {
    let server = MockServer::start().await;
    let mut o = order("77", "A", "paid", "2026-03-04T10:00:00Z");
    for k in ["amount_product", "shipping", "amount_tax", "total"] {
        o.as_object_mut().unwrap().remove(k);
    }
    o["amount_product_subtotal"] = json!({"amount": "30.00", "currency": "EUR"});
    o["quantity"] = json!(3);
    let mut none = order("78", "A", "paid", "2026-03-04T10:00:00Z");
    for k in [
        "amount_product",
        "amount_product_subtotal",
        "shipping",
        "amount_tax",
        "total",
    ] {
        none.as_object_mut().unwrap().remove(k);
    }
    reverb("GET", "/api/my/orders/selling/all")
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![o, none],
            None,
            1,
            1,
        )))
        .mount(&server)
        .await;
    let got = channel(&server)
        .fetch_orders(&orders_query(None, None))
        .await
        .unwrap();
    let o = &got.orders[0];
    assert_eq!(o.currency, Currency::EUR);
    assert_eq!(o.lines[0].unit_price, Money::parse("10.00", "EUR").unwrap());
    // No amount at all: unreadable, reported.
    assert_eq!(got.rejected[0].channel_order_id, Some(oid("78")));
}

// ----- shipments, refunds, cancellations -----

#[tokio::test]
async fn ship_sends_provider_tracking_and_notification() {
    let server = MockServer::start().await;
    reverb_body(
        "POST",
        "/api/my/orders/selling/51234567/ship",
        json!({"provider": "USPS", "tracking_number": "9400111899223344556677", "send_notification": true}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "Order marked shipped"})))
    .expect(1)
    .mount(&server)
    .await;
    reverb_body(
        "POST",
        "/api/my/orders/selling/51234567/ship",
        json!({"provider": "Other", "tracking_number": "H1234", "send_notification": true}),
    )
    .respond_with(ResponseTemplate::new(200))
    .expect(1)
    .mount(&server)
    .await;
    let ch = channel(&server);
    ch.ship(&shipment(
        Some("usps"),
        Some("9400111899223344556677"),
        Delivery::Shipped,
    ))
    .await
    .unwrap();
    ch.ship(&shipment(Some("Hermes"), Some("H1234"), Delivery::Shipped))
        .await
        .unwrap();

    let e = ch
        .ship(&shipment(Some("UPS"), None, Delivery::Shipped))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::Invalid, Some("tracking_number"))
    );
    assert_eq!(
        requests(&server).await.len(),
        2,
        "nothing sent without tracking"
    );
}

/// A resend (an earlier attempt may have been applied without its outcome being recorded)
/// reads the order first: one already shipped is left alone; one still paid is shipped. A
/// first attempt does not read.
#[tokio::test]
async fn a_resend_ships_only_an_order_not_shipped_yet() {
    let server = MockServer::start().await;
    order_read("51234567", "GTR-1", "shipped", "2026-03-05T09:00:00-06:00")
        .up_to_n_times(1)
        .mount(&server)
        .await;
    order_read("51234567", "GTR-1", "paid", "2026-03-05T09:00:00-06:00")
        .mount(&server)
        .await;
    reverb("POST", "/api/my/orders/selling/51234567/ship")
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let resend = ShipmentRequest {
        resend: true,
        ..shipment(Some("UPS"), Some("1Z999"), Delivery::Shipped)
    };
    ch.ship(&resend).await.unwrap();
    ch.ship(&resend).await.unwrap();
    ch.ship(&shipment(Some("UPS"), Some("1Z999"), Delivery::Shipped))
        .await
        .unwrap();
    let sent: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        sent,
        [
            "GET /api/my/orders/selling/51234567",
            "GET /api/my/orders/selling/51234567",
            "POST /api/my/orders/selling/51234567/ship",
            "POST /api/my/orders/selling/51234567/ship",
        ]
    );
}

#[tokio::test]
async fn ship_is_sent_once_on_a_server_error() {
    let server = MockServer::start().await;
    reverb("POST", "/api/my/orders/selling/51234567/ship")
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .expect(1)
        .mount(&server)
        .await;
    let e = channel(&server)
        .ship(&shipment(Some("UPS"), Some("1Z999"), Delivery::Shipped))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Transient,
        "the engine's outbox retries it"
    );
}

#[tokio::test]
async fn a_pickup_marks_the_order_picked_up() {
    let server = MockServer::start().await;
    reverb_body(
        "POST",
        "/api/my/orders/selling/51234567/mark_picked_up",
        json!({"date": "2026-03-05T09:00:00-00:00"}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
    .expect(1)
    .mount(&server)
    .await;
    channel(&server)
        .ship(&shipment(None, None, Delivery::PickedUp))
        .await
        .unwrap();
}

#[tokio::test]
async fn refunds_by_amount_or_line_amounts_are_sent_once() {
    let server = MockServer::start().await;
    refund_request("buyer_return", "100.00")
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 5555, "state": "approved"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    refund_request("shipping_damage", "15.50")
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    ch.refund(&refund(
        Some(usd("100")),
        vec![],
        AdjustmentReason::CustomerReturnedItem,
    ))
    .await
    .unwrap();
    let lines = vec![
        RefundLine {
            line_id: "51234567".into(),
            quantity: None,
            amount: Some(usd("10")),
        },
        RefundLine {
            line_id: "51234567".into(),
            quantity: None,
            amount: Some(usd("5.5")),
        },
    ];
    let e = ch
        .refund(&refund(None, lines, AdjustmentReason::ShippingDamage))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Transient,
        "not repeated: it could refund twice"
    );

    let e = ch
        .refund(&refund(
            Some(usd("1")),
            vec![],
            AdjustmentReason::GeneralAdjustment,
        ))
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.field()), (ErrorKind::Invalid, Some("reason")));
    let e = ch
        .refund(&refund(
            None,
            vec![RefundLine {
                line_id: "51234567".into(),
                quantity: Some(1),
                amount: None,
            }],
            AdjustmentReason::CustomerReturnedItem,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("refund_amount"));
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_full_refund_reads_the_total_first() {
    let server = MockServer::start().await;
    mount_full_refund(&server, "shipped", "lost_shipment", 5556).await;
    channel(&server)
        .refund(&refund(
            None,
            vec![],
            AdjustmentReason::MerchandiseNotReceived,
        ))
        .await
        .unwrap();

    // Already refunded (a retry after a lost answer): nothing is sent.
    let server = MockServer::start().await;
    order_read("51234567", "GTR-001", "refunded", "2026-03-04T10:00:00Z")
        .expect(1)
        .mount(&server)
        .await;
    channel(&server)
        .refund(&refund(
            None,
            vec![],
            AdjustmentReason::MerchandiseNotReceived,
        ))
        .await
        .unwrap();
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn cancel_is_a_full_refund_of_the_whole_order() {
    let server = MockServer::start().await;
    mount_full_refund(&server, "paid", "accidental_order", 5557).await;
    let ch = channel(&server);
    let cancel = |lines: Vec<LineQuantity>| CancellationRequest {
        order_id: oid("51234567"),
        cancellation: Cancellation {
            lines,
            reason: AdjustmentReason::BuyerCancelled,
        },
        idempotency_key: key("cancel-1"),
        resend: false,
    };
    ch.cancel(&cancel(vec![])).await.unwrap();
    let e = ch
        .cancel(&cancel(vec![LineQuantity {
            line_id: "51234567".into(),
            quantity: 1,
        }]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.message(), PARTIAL_CANCEL_UNSUPPORTED);
    assert_eq!(requests(&server).await.len(), 2);
}

// ----- rate limits -----

#[tokio::test]
async fn a_429_waits_the_retry_after_reverb_sent() {
    let server = MockServer::start().await;
    reverb("GET", "/api/shop")
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"message": "Rate limit exceeded"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/shop")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "Acme"})))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    channel(&server).verify().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );

    // A 429 means Reverb did not process the request: even a shipment is sent again.
    let server = MockServer::start().await;
    reverb("POST", "/api/my/orders/selling/51234567/ship")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    reverb("POST", "/api/my/orders/selling/51234567/ship")
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    channel(&server)
        .ship(&shipment(Some("UPS"), Some("1Z999"), Delivery::Shipped))
        .await
        .unwrap();
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_long_retry_after_ends_the_call_with_the_wait() {
    let server = MockServer::start().await;
    reverb("PUT", "/api/listings/101")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .expect(1)
        .mount(&server)
        .await;
    let e = channel(&server)
        .update_listings(&[ListingUpdate {
            listing_id: lid("101"),
            sku: sku("A"),
            price: None,
            quantity: Some(1),
            title: None,
        }])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
}
