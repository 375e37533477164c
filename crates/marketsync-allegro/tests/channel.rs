//! Every operation against wiremock: the exact requests (method, path, query, Allegro's media
//! types, the bearer token, the body) and the reading of realistic answers.

mod common;

use std::collections::BTreeSet;

use common::*;
use marketsync_core::{
    AdjustmentReason, Cancellation, CancellationRequest, Channel, ChannelListingId,
    ChannelListingState, ChannelOrderId, Cursor, Delivery, EndListing, EndReason, ErrorKind,
    IdempotencyKey, LineQuantity, ListingQuery, ListingUpdate, Money, OrderQuery, OrderState,
    PageToken, Refund, RefundRequest, Shipment, ShipmentRequest, Sku,
};
use serde_json::json;
use wiremock::matchers::query_param;
use wiremock::{MockServer, ResponseTemplate};

fn update(id: &str, sku: &str, amount: &str, qty: u32) -> ListingUpdate {
    ListingUpdate {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: Sku::new(sku).unwrap(),
        price: Some(Money::parse(amount, "PLN").unwrap()),
        quantity: Some(qty),
        title: Some("ignored".into()),
    }
}

fn order_query(cursor: Option<&str>) -> OrderQuery {
    OrderQuery {
        cursor: cursor.map(|c| Cursor(c.into())),
        created_since: Some(now() - chrono::TimeDelta::days(30)),
        states: vec![],
        default_currency: marketsync_core::Currency::PLN,
        page: None,
        page_size: None,
    }
}

#[tokio::test]
async fn capabilities() {
    let server = MockServer::start().await;
    let caps = channel(&server).capabilities();
    assert!(caps.login_authorization);
    assert!(!caps.orders_cancel);
    assert!(!caps.orders_acknowledge);
    assert!(!caps.listings_publish, "no offer template");
    assert_eq!(caps.listings_update_max_batch, 1000);
    assert_eq!(caps.rate_limits.per_minute, Some(9000));
    let with_template = marketsync_allegro::AllegroChannel::new(
        builder(&server)
            .offer_template(json!({"category": {"id": "257931"}}))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(with_template.capabilities().listings_publish);
}

#[tokio::test]
async fn verify_reads_me() {
    let server = MockServer::start().await;
    allegro("GET", "/me")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "44455566", "login": "gitarownia", "firstName": "Anna", "lastName": "Nowak",
            "email": "anna@example.pl", "baseMarketplace": {"id": "allegro-pl"},
            "company": {"name": "Gitarownia sp. z o.o.", "taxId": "PL1234567890"}, "features": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let info = channel(&server).verify().await.unwrap();
    assert_eq!(info.account_id, "44455566");
    assert_eq!(info.name.as_deref(), Some("gitarownia"));
    assert_eq!(info.currency, Some(marketsync_core::Currency::PLN));
    assert!(info.credentials_expire_at.is_some());
}

#[tokio::test]
async fn listings_by_external_id_with_paging() {
    let server = MockServer::start().await;
    allegro("GET", "/sale/offers")
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "offers": [offer("7763155620", "GTR-001", "ACTIVE", 4, "1299.99"),
                       offer("7763155621", "GTR-002", "ACTIVE", 0, "899.00")],
            "count": 2, "totalCount": 3
        })))
        .mount(&server)
        .await;
    allegro("GET", "/sale/offers")
        .and(query_param("offset", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "offers": [offer("7763155622", "GTR-003", "ENDED", 1, "10.50")],
            "count": 1, "totalCount": 3
        })))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let query = ListingQuery {
        skus: vec![
            Sku::new("GTR-001").unwrap(),
            Sku::new("GTR-002").unwrap(),
            Sku::new("GTR-003").unwrap(),
        ],
        include_ended: true,
        page: None,
        page_size: Some(2),
    };
    let page = ch.list_listings(&query).await.unwrap();
    assert_eq!(page.listings.len(), 2);
    let first = &page.listings[0];
    assert_eq!(first.id.as_str(), "7763155620");
    assert_eq!(first.sku.as_ref().unwrap().as_str(), "GTR-001");
    assert_eq!(first.price.unwrap().amount().to_string(), "1299.99");
    assert_eq!(first.quantity, Some(4));
    assert_eq!(first.state, ChannelListingState::Live);
    assert_eq!(page.listings[1].state, ChannelListingState::SoldOut);
    assert_eq!(page.next_page, Some(PageToken("0:2".into())));
    let page2 = ch
        .list_listings(&ListingQuery {
            page: page.next_page.clone(),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(page2.listings[0].state, ChannelListingState::Ended);
    assert_eq!(page2.listings[0].raw_state, "ENDED");
    assert!(page2.next_page.is_none());

    let reqs = requests(&server).await;
    assert_eq!(
        raw_query(&reqs[0]),
        "external.id=GTR-001&external.id=GTR-002&external.id=GTR-003&limit=2&offset=0"
    );

    // Without include_ended: only the live statuses.
    server.reset().await;
    allegro("GET", "/sale/offers")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"offers": [], "count": 0, "totalCount": 0})),
        )
        .mount(&server)
        .await;
    ch.list_listings(&ListingQuery::default()).await.unwrap();
    assert_eq!(
        raw_query(&requests(&server).await[0]),
        "publication.status=INACTIVE&publication.status=ACTIVATING&publication.status=ACTIVE&limit=1000&offset=0"
    );
}

#[tokio::test]
async fn more_than_100_skus_are_split() {
    let server = MockServer::start().await;
    allegro("GET", "/sale/offers")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"offers": [], "count": 0, "totalCount": 0})),
        )
        .mount(&server)
        .await;
    let ch = channel(&server);
    let skus: Vec<Sku> = (0..150)
        .map(|i| Sku::new(format!("S-{i}")).unwrap())
        .collect();
    let query = ListingQuery {
        skus,
        include_ended: true,
        page: None,
        page_size: None,
    };
    let p1 = ch.list_listings(&query).await.unwrap();
    assert_eq!(p1.next_page, Some(PageToken("1:0".into())));
    let p2 = ch
        .list_listings(&ListingQuery {
            page: p1.next_page,
            ..query
        })
        .await
        .unwrap();
    assert!(p2.next_page.is_none());
    let reqs = requests(&server).await;
    assert_eq!(
        reqs[0]
            .url
            .query_pairs()
            .filter(|(k, _)| k == "external.id")
            .count(),
        100
    );
    assert_eq!(
        reqs[1]
            .url
            .query_pairs()
            .filter(|(k, _)| k == "external.id")
            .count(),
        50
    );
}

/// Three updates: two share quantity 5, two share price 19.99 → one quantity command per
/// distinct quantity, one price command per distinct price; tasks polled until done.
#[tokio::test]
async fn updates_are_grouped_into_commands_and_polled() {
    let server = MockServer::start().await;
    // Quantity and price commands: any id, 201 with a report.
    for prefix in ["quantity", "price"] {
        wiremock::Mock::given(wiremock::matchers::method("PUT"))
            .and(wiremock::matchers::path_regex(format!(
                "^/sale/offer-{prefix}-change-commands/[0-9a-f-]{{36}}$"
            )))
            .and(wiremock::matchers::header(
                "authorization",
                format!("Bearer {ACCESS_1}").as_str(),
            ))
            .and(wiremock::matchers::header("accept", VND))
            .and(wiremock::matchers::header("content-type", VND))
            .respond_with(ResponseTemplate::new(201).set_body_json(report("x")))
            .mount(&server)
            .await;
    }
    // Tasks: first read NEW, then done; offer 3's price fails (offer gone).
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-(quantity|price)-change-commands/.*/tasks$",
        ))
        .and(query_param("limit", "1000"))
        .and(query_param("offset", "0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"tasks": [task("1", "NEW", "stock.available")]})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-quantity-change-commands/.*/tasks$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": [
            task("1", "SUCCESS", "stock.available"), task("2", "SUCCESS", "stock.available"),
            task("3", "SUCCESS", "stock.available")]})))
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-price-change-commands/.*/tasks$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": [
            task("1", "SUCCESS", "sellingMode.price"), task("2", "SUCCESS", "sellingMode.price"),
            task("3", "FAIL", "sellingMode.price")]})))
        .mount(&server)
        .await;

    let ch = channel(&server);
    let out = ch
        .update_listings(&[
            update("1", "A", "19.99", 5),
            update("2", "B", "19.990", 5),
            update("3", "C", "25.00", 7),
        ])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    assert!(out[1].result.is_ok());
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "a vanished offer is a broken link"
    );
    assert_eq!(
        e.channel_message(),
        Some("The offer does not exist. (The offer does not exist.)")
    );

    let reqs = requests(&server).await;
    let puts: Vec<_> = reqs.iter().filter(|r| r.method.as_str() == "PUT").collect();
    assert_eq!(
        puts.len(),
        4,
        "quantity 5, quantity 7, price 19.99, price 25.00"
    );
    let bodies: BTreeSet<String> = puts
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> = [
        json!({"modification": {"changeType": "FIXED", "value": 5}, "offerCriteria": [{"offers": [{"id": "1"}, {"id": "2"}], "type": "CONTAINS_OFFERS"}]}),
        json!({"modification": {"changeType": "FIXED", "value": 7}, "offerCriteria": [{"offers": [{"id": "3"}], "type": "CONTAINS_OFFERS"}]}),
        json!({"modification": {"type": "FIXED_PRICE", "price": {"amount": "19.99", "currency": "PLN"}}, "offerCriteria": [{"offers": [{"id": "1"}, {"id": "2"}], "type": "CONTAINS_OFFERS"}]}),
        json!({"modification": {"type": "FIXED_PRICE", "price": {"amount": "25.00", "currency": "PLN"}}, "offerCriteria": [{"offers": [{"id": "3"}], "type": "CONTAINS_OFFERS"}]}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();
    assert_eq!(bodies, expected);
    let ids: BTreeSet<&str> = puts
        .iter()
        .map(|r| r.url.path().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "a distinct command id per command");
}

/// A 409 on the command (its id was already used: an earlier attempt got through) counts as
/// submitted, and the tasks are read.
#[tokio::test]
async fn conflict_on_a_command_is_already_submitted() {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("PUT"))
        .and(wiremock::matchers::path_regex("^/sale/offer-quantity-change-commands/[0-9a-f-]{36}$"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"errors": [{
            "code": "CommandAlreadyExistsException", "message": "Command id was already used",
            "details": null, "path": null, "userMessage": "Command id was already used", "metadata": {}}]})))
        .expect(1)
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-quantity-change-commands/[0-9a-f-]{36}/tasks$",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"tasks": [task("9", "SUCCESS", "stock.available")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let out = ch
        .update_listings(&[ListingUpdate {
            price: None,
            ..update("9", "Z", "1", 3)
        }])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    let reqs = requests(&server).await;
    let put_id = reqs[0].url.path().rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        reqs[1].url.path(),
        format!("/sale/offer-quantity-change-commands/{put_id}/tasks")
    );
}

/// Tasks still NEW when polling stops: the offer is Transient, and the next call with the same
/// content reuses the command id (so Allegro answers 409 instead of applying it twice).
#[tokio::test]
async fn unfinished_commands_are_resumed_with_the_same_id() {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("PUT"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-quantity-change-commands/",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(report("x")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("PUT"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-quantity-change-commands/",
        ))
        .respond_with(ResponseTemplate::new(409))
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex("/tasks$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"tasks": [task("9", "NEW", "stock.available")]})),
        )
        .up_to_n_times(4)
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex("/tasks$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"tasks": [task("9", "SUCCESS", "stock.available")]})),
        )
        .mount(&server)
        .await;
    let ch = channel(&server);
    let u = [ListingUpdate {
        price: None,
        ..update("9", "Z", "1", 3)
    }];
    let first = ch.update_listings(&u).await.unwrap();
    let e = first[0].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    let second = ch.update_listings(&u).await.unwrap();
    assert!(second[0].result.is_ok());
    let reqs = requests(&server).await;
    let puts: Vec<_> = reqs
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0], puts[1], "the same command id both times");
}

#[tokio::test]
async fn quantity_zero_and_reconcile_end_the_offer() {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("PUT"))
        .and(wiremock::matchers::path_regex(
            "^/sale/offer-publication-commands/[0-9a-f-]{36}$",
        ))
        .and(wiremock::matchers::header("content-type", VND))
        .and(wiremock::matchers::body_json(json!({
            "publication": {"action": "END"},
            "offerCriteria": [{"offers": [{"id": "11"}, {"id": "12"}], "type": "CONTAINS_OFFERS"}]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(report("x")))
        .expect(1)
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex("^/sale/offer-publication-commands/.*/tasks$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": [
            task("11", "SUCCESS", "publication.status"), task("12", "FAIL", "publication.status")]})))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let out = ch
        .end_listings(&[
            EndListing {
                listing_id: ChannelListingId::new("11").unwrap(),
                sku: None,
                reason: EndReason::NotOnLabel,
            },
            EndListing {
                listing_id: ChannelListingId::new("12").unwrap(),
                sku: None,
                reason: EndReason::NotOnLabel,
            },
        ])
        .await
        .unwrap();
    assert!(out[0].result.is_ok());
    assert!(
        out[1].result.is_ok(),
        "an offer Allegro no longer has is ended already"
    );
}

#[tokio::test]
async fn publish_unsupported_without_template_and_cancel_unsupported() {
    let server = MockServer::start().await;
    let ch = channel(&server);
    let e = ch.publish_listings(&[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = ch
        .cancel(&CancellationRequest {
            order_id: ChannelOrderId::new("x").unwrap(),
            cancellation: Cancellation {
                lines: vec![],
                reason: AdjustmentReason::BuyerCancelled,
            },
            idempotency_key: IdempotencyKey::generate(),
            resend: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("fulfilment status CANCELLED"));
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn publish_through_product_offers() {
    let server = MockServer::start().await;
    allegro_body(
        "POST",
        "/sale/product-offers",
        json!({
            "category": {"id": "257931"},
            "productSet": [{"product": {"id": "c9e39cae-9cb6-11e9-a2a3-2a2ae2dbcce4"}}],
            "name": "Gitara",
            "external": {"id": "GTR-009"},
            "sellingMode": {"format": "BUY_NOW", "price": {"amount": "499.00", "currency": "PLN"}},
            "stock": {"available": 2},
            "publication": {"status": "INACTIVE"}
        }),
    )
    .respond_with(
        ResponseTemplate::new(202).set_body_json(json!({"id": "7763159999", "name": "Gitara"})),
    )
    .expect(1)
    .mount(&server)
    .await;
    let ch = marketsync_allegro::AllegroChannel::new(
        builder(&server)
            .offer_template(json!({
                "category": {"id": "257931"},
                "productSet": [{"product": {"id": "c9e39cae-9cb6-11e9-a2a3-2a2ae2dbcce4"}}],
                "sellingMode": {"format": "BUY_NOW"}
            }))
            .build()
            .unwrap(),
    )
    .unwrap();
    let out = ch
        .publish_listings(&[marketsync_core::NewListing {
            sku: Sku::new("GTR-009").unwrap(),
            title: "Gitara".into(),
            price: Money::parse("499.00", "PLN").unwrap(),
            quantity: 2,
            publish: false,
        }])
        .await
        .unwrap();
    assert_eq!(out[0].result.as_ref().unwrap().as_str(), "7763159999");
}

/// A fresh integration: the journal position first, then checkout forms of the window; the
/// cursor (the latest event id) only with the last page.
#[tokio::test]
async fn first_import_by_checkout_forms_then_cursor() {
    let server = MockServer::start().await;
    allegro("GET", "/order/event-stats")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "latestEvent": {"id": "MTEzMjQzODU3NA", "occurredAt": "2026-03-05T08:59:00.000Z"}})))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [checkout_form("29738e61-7f6a-11e8-ac45-09db60ede9d6", "GTR-001", "READY_FOR_PROCESSING", "NEW", "8a3b")],
            "count": 1, "totalCount": 2})))
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [{"id": "broken-1", "lineItems": "nope"}],
            "count": 1, "totalCount": 2})))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let q = order_query(None);
    let p1 = ch.fetch_orders(&q).await.unwrap();
    assert_eq!(p1.orders.len(), 1);
    assert!(p1.cursor.is_none(), "no cursor before the last page");
    let o = &p1.orders[0];
    assert_eq!(
        o.channel_order_id.as_str(),
        "29738e61-7f6a-11e8-ac45-09db60ede9d6"
    );
    assert_eq!(o.status.state, OrderState::AwaitingShipment);
    assert_eq!(o.status.raw, "READY_FOR_PROCESSING / NEW");
    assert_eq!(o.shipping_method.as_deref(), Some("Allegro Kurier DPD"));
    assert_eq!(o.shipping_price.unwrap().amount().to_string(), "12.00");
    assert_eq!(o.total.unwrap().amount().to_string(), "1311.99");
    assert_eq!(o.lines[0].sku.as_ref().unwrap().as_str(), "GTR-001");
    assert_eq!(o.lines[0].unit_price.amount().to_string(), "1299.99");
    assert_eq!(o.lines[0].line_id, "62ae358b-8f65-4fc4-9c77-bedf604a2e2b");
    assert_eq!(
        o.lines[0].listing_id.as_ref().unwrap().as_str(),
        "7763155620"
    );
    assert_eq!(o.revision.as_deref(), Some("8a3b"));
    assert_eq!(o.currency, marketsync_core::Currency::PLN);
    let addr = o.shipping_address.as_ref().unwrap();
    assert_eq!(addr.name.as_deref(), Some("Jan Kowalski"));
    assert_eq!(addr.postal_code.as_deref(), Some("60-166"));
    assert_eq!(o.buyer.id.as_deref(), Some("User_Login"));
    assert_eq!(o.created_at.to_rfc3339(), "2026-03-04T14:25:07+00:00");

    let p2 = ch
        .fetch_orders(&OrderQuery {
            page: p1.next_page.clone(),
            ..q
        })
        .await
        .unwrap();
    assert_eq!(
        p2.rejected.len(),
        1,
        "an unreadable order is reported, not dropped"
    );
    assert_eq!(
        p2.rejected[0].channel_order_id.as_ref().unwrap().as_str(),
        "broken-1"
    );
    assert_eq!(p2.cursor, Some(Cursor("MTEzMjQzODU3NA".into())));
    assert!(p2.next_page.is_none());
    let reqs = requests(&server).await;
    assert_eq!(
        reqs[0].url.path(),
        "/order/event-stats",
        "journal position taken first"
    );
    assert_eq!(
        raw_query(&reqs[1]),
        "limit=100&offset=0&lineItems.boughtAt.gte=2026-02-03T09%3A00%3A00.000Z"
    );
}

#[tokio::test]
async fn incremental_import_through_events() {
    let server = MockServer::start().await;
    let form = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
    allegro("GET", "/order/events")
        .and(query_param("from", "MTEzMjQzODU3NA"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": [
            event("MTEzMjQzODU3NQ", "BOUGHT", form),
            event("MTEzMjQzODU3Ng", "READY_FOR_PROCESSING", form),
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    ready_form(form, "8a3b").expect(1).mount(&server).await;
    let page = channel(&server)
        .fetch_orders(&order_query(Some("MTEzMjQzODU3NA")))
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1, "one read per distinct order");
    assert_eq!(page.cursor, Some(Cursor("MTEzMjQzODU3Ng".into())));
    assert!(page.next_page.is_none());
    let reqs = requests(&server).await;
    assert_eq!(
        raw_query(&reqs[0]),
        "from=MTEzMjQzODU3NA&limit=100&type=BOUGHT&type=FILLED_IN&type=READY_FOR_PROCESSING&type=BUYER_CANCELLED&type=BUYER_MODIFIED&type=AUTO_CANCELLED"
    );
}

/// A checkout form that cannot be read for now (5xx after the retries) fails the journal page,
/// so the cursor does not pass it; a form that is gone (404) is one unreadable order.
#[tokio::test]
async fn a_form_unreadable_for_now_fails_the_page_and_keeps_the_cursor() {
    let server = MockServer::start().await;
    let gone = "4a1b2c3d-0000-11e8-ac45-09db60ede9d6";
    let failing = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
    allegro("GET", "/order/events")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": [
            event("EV-1", "READY_FOR_PROCESSING", gone),
            event("EV-2", "READY_FOR_PROCESSING", failing),
        ]})))
        .mount(&server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{gone}"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": [{
            "code": "NOT_FOUND", "message": "Checkout form not found", "userMessage": "Nie znaleziono"}]})))
        .mount(&server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{failing}"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"errors": [{
            "code": "SERVICE_UNAVAILABLE", "message": "Try again later"}]})))
        .mount(&server)
        .await;
    let err = channel(&server)
        .fetch_orders(&order_query(Some("EV-0")))
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    // Only the failing form: the journal itself answered.
    ready_form(failing, "r1")
        .with_priority(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders(&order_query(Some("EV-0")))
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(page.rejected.len(), 1, "the form that is gone");
    assert_eq!(
        page.rejected[0]
            .channel_order_id
            .as_ref()
            .map(|o| o.as_str()),
        Some(gone)
    );
    assert_eq!(page.cursor, Some(Cursor("EV-2".into())));
}

#[tokio::test]
async fn ship_adds_the_waybill_and_sets_sent_retrying_an_outdated_revision() {
    let server = MockServer::start().await;
    let form = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
    allegro("GET", &format!("/order/checkout-forms/{form}/shipments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"shipments": []})))
        .expect(1)
        .mount(&server)
        .await;
    allegro_body(
        "POST",
        &format!("/order/checkout-forms/{form}/shipments"),
        json!({"carrierId": "DPD", "waybill": "0000123456789"}),
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(json!({
        "id": "c3ac0b3e-ce0e-4bd2-a3b5-1b2c3d4e5f60", "waybill": "0000123456789", "carrierId": "DPD",
        "carrierName": null, "lineItems": [], "createdAt": "2026-03-05T09:00:00.000Z"})))
    .expect(1)
    .mount(&server)
    .await;
    // The first read gives revision r1; the PUT with it is refused (409); the re-read gives r2.
    ready_form(form, "r1").up_to_n_times(1).mount(&server).await;
    ready_form(form, "r2").mount(&server).await;
    allegro_body("PUT", &format!("/order/checkout-forms/{form}/fulfillment"), json!({"status": "SENT"}))
        .and(query_param("checkoutForm.revision", "r1"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"errors": [{
            "code": "CONFLICT", "message": "Checkout form revision is outdated", "userMessage": "Order has changed"}]})))
        .expect(1)
        .mount(&server)
        .await;
    allegro_body(
        "PUT",
        &format!("/order/checkout-forms/{form}/fulfillment"),
        json!({"status": "SENT"}),
    )
    .and(query_param("checkoutForm.revision", "r2"))
    .respond_with(ResponseTemplate::new(204))
    .expect(1)
    .mount(&server)
    .await;
    channel(&server)
        .ship(&ShipmentRequest {
            order_id: ChannelOrderId::new(form).unwrap(),
            shipment: Shipment {
                carrier: Some("DPD".into()),
                method: Some("Allegro Kurier DPD".into()),
                tracking_number: Some("0000123456789".into()),
                shipped_at: now(),
                lines: vec![],
                delivery: Delivery::Shipped,
            },
            idempotency_key: IdempotencyKey::new("ship-1").unwrap(),
            resend: false,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn partial_shipment_with_other_carrier_and_existing_waybill() {
    let server = MockServer::start().await;
    let form = "f-1";
    allegro("GET", "/order/checkout-forms/f-1/shipments")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"shipments": []})))
        .mount(&server)
        .await;
    allegro_body(
        "POST",
        "/order/checkout-forms/f-1/shipments",
        json!({"carrierId": "OTHER", "waybill": "XY1", "carrierName": "Kurier lokalny", "lineItems": [{"id": "line-1"}]}),
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "s1", "waybill": "XY1"})))
    .expect(1)
    .mount(&server)
    .await;
    let ch = channel(&server);
    let req = ShipmentRequest {
        order_id: ChannelOrderId::new(form).unwrap(),
        shipment: Shipment {
            carrier: None,
            method: Some("Kurier lokalny".into()),
            tracking_number: Some("XY1".into()),
            shipped_at: now(),
            lines: vec![LineQuantity {
                line_id: "line-1".into(),
                quantity: 1,
            }],
            delivery: Delivery::Shipped,
        },
        idempotency_key: IdempotencyKey::new("ship-2").unwrap(),
        resend: false,
    };
    ch.ship(&req).await.unwrap();
    // A retry after a lost answer: the waybill is there, nothing is added twice.
    server.reset().await;
    allegro("GET", "/order/checkout-forms/f-1/shipments")
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"shipments": [{"id": "s1", "waybill": "XY1", "carrierId": "OTHER"}]}),
        ))
        .mount(&server)
        .await;
    ch.ship(&req).await.unwrap();
    assert_eq!(
        requests(&server).await.len(),
        1,
        "no POST, no status change for a partial shipment"
    );
}

#[tokio::test]
async fn refund_with_command_id() {
    let server = MockServer::start().await;
    let form = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
    let key = "5b1c7a0e-2f4d-4c8a-9e6b-3d2a1f0e9c8b";
    allegro("GET", &format!("/order/checkout-forms/{form}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(checkout_form(
            form,
            "GTR-001",
            "READY_FOR_PROCESSING",
            "SENT",
            "r1",
        )))
        .mount(&server)
        .await;
    allegro_body(
        "POST",
        "/payments/refunds",
        json!({
            "payment": {"id": "0f8f1d13-7e9e-11e8-9b00-c5b0dfb78ea6"},
            "order": {"id": form},
            "commandId": key,
            "reason": "PRODUCT_NOT_AVAILABLE",
            "lineItems": [{"id": "62ae358b-8f65-4fc4-9c77-bedf604a2e2b", "type": "QUANTITY", "quantity": 1}],
            "delivery": {"value": {"amount": "12.00", "currency": "PLN"}},
            "sellerComment": "Brak towaru"
        }),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "id": "b8d3f2c1-0e9a-4b7c-8d6e-5f4a3b2c1d0e", "payment": {"id": "0f8f1d13-7e9e-11e8-9b00-c5b0dfb78ea6"},
        "reason": "PRODUCT_NOT_AVAILABLE", "status": "NEW", "createdAt": "2026-03-05T09:00:00.000Z",
        "totalValue": {"amount": "1311.99", "currency": "PLN"}})))
    .expect(1)
    .mount(&server)
    .await;
    channel(&server)
        .refund(&RefundRequest {
            order_id: ChannelOrderId::new(form).unwrap(),
            refund: Refund {
                amount: None,
                lines: vec![],
                reason: AdjustmentReason::ItemNotAvailable,
                restock: true,
                note: Some("Brak towaru".into()),
            },
            idempotency_key: IdempotencyKey::new(key).unwrap(),
            resend: false,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn rate_limit_and_both_error_shapes() {
    let server = MockServer::start().await;
    allegro("GET", "/me")
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(60)));
    assert_eq!(
        requests(&server).await.len(),
        1,
        "a one-minute block is not retried inside"
    );

    server.reset().await;
    allegro("GET", "/order/events")
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"errors": [{
            "code": "VALIDATION_ERROR", "message": "limit must be less than or equal to 1000",
            "details": null, "path": "limit", "userMessage": "Invalid limit", "metadata": {}}]})))
        .mount(&server)
        .await;
    let e = channel(&server)
        .fetch_orders(&order_query(Some("1")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.channel_message(), Some("Invalid limit"));
    assert_eq!(e.field(), Some("limit"));
    assert_eq!(e.operation(), Some("fetch_orders"));
}
