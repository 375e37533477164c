//! Every operation against a wiremock ChannelAdvisor: the exact requests sent and the parsing
//! of realistic answers.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::*;
use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig, PUBLISH_UNSUPPORTED};
use marketsync_core::{
    AdjustmentReason, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    BrokenReason, Cancellation, CancellationRequest, Channel, ChannelListingId,
    ChannelListingState, ChannelOrderId, Credentials, Currency, CurrencySource, EndListing,
    EndReason, ErrorKind, ExposeSecret, IdempotencyKey, LineQuantity, ListingQuery, ListingUpdate,
    Money, NewListing, OrderQuery, OrderState, Refund, RefundLine, RefundRequest, SecretString,
    Shipment, ShipmentRequest, Sku,
};
use serde_json::json;
use url::Url;
use wiremock::matchers::{body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

/// Path and raw query (wiremock reports the host as the Host header without the port).
fn path_and_query(u: &Url) -> String {
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

fn profiles_body() -> serde_json::Value {
    json!({
        "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Profiles",
        "value": [
            {"ID": 87654321, "AccountName": "other", "CompanyName": "Other Co", "CurrencyCode": "EUR"},
            {"ID": PROFILE, "AccountName": "acme-us", "CompanyName": "Acme Inc", "CurrencyCode": "USD",
             "TimeZoneRegion": "Eastern", "DefaultDistributionCenterID": 3}
        ]
    })
}

// ----- auth -----

#[tokio::test]
async fn verify_refreshes_with_basic_auth_then_reads_the_profile() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_1}").as_str(),
        ))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profiles_body()))
        .expect(1)
        .mount(&server)
        .await;
    let info = channel(&server).verify().await.unwrap();
    assert_eq!(info.account_id, PROFILE.to_string());
    assert_eq!(info.name.as_deref(), Some("Acme Inc"));
    assert_eq!(info.currency, Some(Currency::USD));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2, "one refresh, one API call");
    assert_eq!(reqs[0].url.path(), "/oauth2/token");
}

#[tokio::test]
async fn verify_refuses_a_token_without_the_profile() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [{"ID": 1, "AccountName": "x"}]})),
        )
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::AccountNotUsable));
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let server = MockServer::start().await;
    // First token ACCESS_1, then ACCESS_2.
    mount_rotating_tokens(&server).await;
    mount_profiles_for(
        &server,
        ACCESS_1,
        ResponseTemplate::new(401)
            .set_body_json(json!({"Message": "Authorization has been denied for this request."})),
    )
    .await;
    mount_profiles_for(
        &server,
        ACCESS_2,
        ResponseTemplate::new(200).set_body_json(profiles_body()),
    )
    .await;
    channel(&server).verify().await.unwrap();
    let reqs = server.received_requests().await.unwrap();
    let paths: Vec<&str> = reqs.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        paths,
        [
            "/oauth2/token",
            "/v1/Profiles",
            "/oauth2/token",
            "/v1/Profiles"
        ]
    );
}

#[tokio::test]
async fn a_401_after_the_refresh_is_an_auth_error_with_the_aspnet_message() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"$id": "1", "Message": "Authorization has been denied for this request."}),
        ))
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.channel_message(),
        Some("Authorization has been denied for this request.")
    );
    assert_eq!(api_requests(&server).await.len(), 2, "retried exactly once");
}

#[tokio::test]
async fn a_revoked_refresh_token_is_auth_with_the_token_endpoints_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "The refresh token has been revoked."
        })))
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.channel_message(),
        Some("The refresh token has been revoked.")
    );
    assert!(
        api_requests(&server).await.is_empty(),
        "no API call without a token"
    );
    // A bare 400 (the documented answer for bad Basic credentials) is Auth too.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
}

#[tokio::test]
async fn a_new_refresh_token_repairs_the_adapter_through_use_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token={REFRESH}"
        )))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", BASIC))
        .and(body_string(
            "grant_type=refresh_token&refresh_token=NEW-REFRESH-TOKEN",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_2}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(profiles_body()))
        .mount(&server)
        .await;
    let ca = channel(&server);
    assert_eq!(ca.verify().await.unwrap_err().kind(), ErrorKind::Auth);
    // The failure is remembered: the old token is not tried again.
    assert_eq!(ca.verify().await.unwrap_err().kind(), ErrorKind::Auth);
    let oauth = |profile: Option<&str>| {
        Credentials::OAuth(marketsync_core::credentials::OAuthTokens {
            access_token: None,
            access_expires_at: None,
            refresh_token: SecretString::from("NEW-REFRESH-TOKEN"),
            refresh_expires_at: None,
            profile_id: profile.map(str::to_owned),
        })
    };
    // Other kinds of credentials, or another profile's, are refused and change nothing.
    let e = ca
        .use_credentials(&Credentials::api_token("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let e = ca.use_credentials(&oauth(Some("999"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(ca.verify().await.unwrap_err().kind(), ErrorKind::Auth);
    ca.use_credentials(&oauth(Some(&PROFILE.to_string())))
        .await
        .unwrap();
    let info = ca.verify().await.unwrap();
    assert_eq!(info.account_id, PROFILE.to_string());
}

// ----- rate limits -----

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_retries() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profiles_body()))
        .mount(&server)
        .await;
    channel(&server).verify().await.unwrap();
    assert_eq!(api_requests(&server).await.len(), 3);
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profiles_body()))
        .mount(&server)
        .await;
    let started = Instant::now();
    channel(&server).verify().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    // Persistent throttling ends as RateLimited once the attempts are used.
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    let e = channel(&server).verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(api_requests(&server).await.len(), 4);
}

#[test]
fn capabilities_carry_the_documented_limits() {
    let config = ChannelAdvisorConfig::builder()
        .application_id("a")
        .shared_secret(SecretString::from("s"))
        .refresh_token(SecretString::from("r"))
        .profile_id(1)
        .label("L")
        .build()
        .unwrap();
    let caps = ChannelAdvisorChannel::capabilities_for(&config);
    assert_eq!(caps.rate_limits.per_minute, Some(2000));
    assert_eq!(caps.rate_limits.concurrent, Some(5));
    assert!(caps.orders_acknowledge && caps.shipping_mappings_required && caps.listings_reconcile);
    assert!(!caps.listings_publish && !caps.fulfillment_required);
    assert!(caps.orders_carry_currency);
    assert!(
        caps.listings_update_reports_missing,
        "a $batch part of a gone product answers 404: NotFound for that listing"
    );
    assert_eq!(caps.listings_update_max_batch, 50);
    assert_eq!(caps.listings_end_max_batch, 100);
}

// ----- listings -----

fn product(id: u64, sku: &str, qty: i64, labels: &[&str]) -> serde_json::Value {
    json!({
        "ID": id, "Sku": sku, "Title": format!("Title {sku}"), "TotalAvailableQuantity": qty,
        "Labels": labels.iter().map(|l| json!({"ProductID": id, "ProfileID": PROFILE, "Name": l})).collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn list_by_sku_quotes_encodes_chunks_and_follows_next_links() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let next = format!(
        "{}/v1/Products?$filter=whatever&$expand=Labels&$skip=100",
        server.uri()
    );
    // The follow-up page is matched by its $skip, first so it wins over the catch-all below.
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .and(wiremock::matchers::query_param("$skip", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [product(103, "C", 0, &["eBay Feed"])]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Products",
            "value": [product(101, "O'Neil Tee", 4, &["eBay Feed", "Amazon"]), product(102, "B", 2, &["Amazon"])],
            "@odata.nextLink": next
        })))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut skus = vec![sku("O'Neil Tee"), sku("B&B/1")];
    skus.extend((0..23).map(|i| sku(&format!("S{i}"))));
    let mut query = ListingQuery {
        skus,
        include_ended: true,
        page: None,
        page_size: Some(500),
    };
    let page = ch.list_listings(&query).await.unwrap();
    assert_eq!(page.listings.len(), 2);
    let a = &page.listings[0];
    assert_eq!(a.id, lid("101"));
    assert_eq!(a.sku, Some(sku("O'Neil Tee")));
    assert_eq!(a.quantity, Some(4));
    assert_eq!(a.state, ChannelListingState::Live);
    assert_eq!(a.raw_state, "Labels: eBay Feed, Amazon");
    assert_eq!(
        page.listings[1].state,
        ChannelListingState::Ended,
        "no label"
    );

    let reqs = api_requests(&server).await;
    let q = raw_query(&reqs[0]);
    assert!(
        q.starts_with("$filter=ProfileID%20eq%2012345678%20and%20%28Sku%20eq%20%27O%27%27Neil%20Tee%27%20or%20Sku%20eq%20%27B%26B%2F1%27%20or%20Sku%20eq%20%27S0%27"),
        "{q}"
    );
    assert!(
        q.ends_with(
            "&$expand=Labels&$select=ID%2CSku%2CTitle%2CTotalAvailableQuantity%2CBuyItNowPrice"
        ),
        "{q}"
    );
    let filter = param(&reqs[0], "$filter").unwrap();
    assert_eq!(filter.matches("Sku eq").count(), 20, "20 SKUs per request");
    assert!(!filter.contains("Labels/any"), "ended products are wanted");
    assert!(param(&reqs[0], "$top").is_none(), "never $top");

    // The next link is followed exactly.
    query.page = page.next_page;
    let page = ch.list_listings(&query).await.unwrap();
    assert_eq!(page.listings[0].state, ChannelListingState::SoldOut);
    let reqs = api_requests(&server).await;
    assert_eq!(
        path_and_query(&reqs[1].url),
        path_and_query(&Url::parse(&next).unwrap())
    );
    // Then the second chunk of SKUs.
    query.page = page.next_page;
    let page = ch.list_listings(&query).await.unwrap();
    let reqs = api_requests(&server).await;
    let filter = param(&reqs[2], "$filter").unwrap();
    assert_eq!(filter.matches("Sku eq").count(), 5);
    assert!(filter.contains("Sku eq 'S22'"));
    // The catch-all answers with a next link again; a real server would not. Stop here.
    assert!(page.next_page.is_some());
}

#[tokio::test]
async fn list_for_link_and_reconcile_filters_on_the_label() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [product(101, "A", 4, &["eBay Feed"])]
        })))
        .mount(&server)
        .await;
    let page = channel(&server)
        .list_listings(&ListingQuery::default())
        .await
        .unwrap();
    assert_eq!(page.listings.len(), 1);
    assert!(page.next_page.is_none());
    let reqs = api_requests(&server).await;
    assert_eq!(
        param(&reqs[0], "$filter").unwrap(),
        "ProfileID eq 12345678 and Labels/any(l: l/Name eq 'eBay Feed')"
    );
    assert_eq!(param(&reqs[0], "$expand").unwrap(), "Labels");
}

#[tokio::test]
async fn publish_is_unsupported_with_the_rule() {
    let server = MockServer::start().await;
    let e = channel(&server)
        .publish_listings(&[NewListing {
            sku: sku("A"),
            title: "t".into(),
            price: usd("1.00"),
            quantity: 1,
            publish: true,
        }])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.message(), PUBLISH_UNSUPPORTED);
    assert!(server.received_requests().await.unwrap().is_empty());
}

fn update(id: &str, s: &str, price: Option<&str>, qty: Option<u32>) -> ListingUpdate {
    ListingUpdate {
        listing_id: lid(id),
        sku: sku(s),
        price: price.map(usd),
        quantity: qty,
        title: Some("ignored".into()),
    }
}

/// Captures the boundary the adapter chose, to answer with matching Content-IDs.
fn request_boundary(r: &wiremock::Request) -> String {
    let ct = r.headers.get("content-type").unwrap().to_str().unwrap();
    ct.split("boundary=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn updates_go_through_one_batch_with_a_status_per_listing() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let reply = multipart_reply(
        "batchresponse_77",
        &[
            (1, "204 No Content", ""),
            (2, "200 OK", r#"{"ID":101,"BuyItNowPrice":19.99}"#),
            (
                3,
                "404 Not Found",
                r#"{"error":{"code":"","message":"Product 102 was not found."}}"#,
            ),
            (
                4,
                "400 Bad Request",
                r#"{"error":{"code":"","message":"BuyItNowPrice must be positive."}}"#,
            ),
            (
                5,
                "401 Unauthorized",
                r#"{"error":{"code":"","message":"Authorization has been denied for this request."}}"#,
            ),
        ],
    );
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .and(header("accept", "multipart/mixed"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_1}").as_str(),
        ))
        .respond_with(multipart_response("batchresponse_77", reply))
        .expect(1)
        .mount(&server)
        .await;
    let updates = [
        update("101", "A", Some("19.99"), Some(7)),
        update("102", "B", None, Some(1)),
        update("103", "C", Some("0.00"), None),
        update("104", "D", None, Some(2)),
        update("not-a-number", "E", None, Some(2)),
        update("105", "F", None, None),
    ];
    let out = channel(&server).update_listings(&updates).await.unwrap();
    assert_eq!(out.len(), 6);
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("101"));
    let b = out[1].result.as_ref().unwrap_err();
    assert_eq!(b.kind(), ErrorKind::NotFound);
    assert_eq!(b.channel_message(), Some("Product 102 was not found."));
    let c = out[2].result.as_ref().unwrap_err();
    assert_eq!(c.kind(), ErrorKind::Invalid);
    assert_eq!(c.channel_message(), Some("BuyItNowPrice must be positive."));
    assert_eq!(out[3].result.as_ref().unwrap_err().kind(), ErrorKind::Auth);
    assert_eq!(
        out[4].result.as_ref().unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert!(out[5].result.is_ok(), "nothing to send");
    assert_eq!(out[1].sku, Some(sku("B")));

    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let boundary = request_boundary(&reqs[0]);
    assert!(boundary.starts_with("batch_"));
    let body = String::from_utf8(reqs[0].body.clone()).unwrap();
    let base = server.uri();
    let bearer_line = format!("Authorization: Bearer {ACCESS_1}\r\n");
    let expected_parts = [
        format!(
            "POST {base}/v1/Products(101)/UpdateQuantity HTTP/1.1\r\n{bearer_line}Content-Type: application/json\r\n\r\n{{\"Value\":{{\"UpdateType\":\"UnShipped\",\"Updates\":[{{\"DistributionCenterID\":3,\"Quantity\":7}}]}}}}\r\n"
        ),
        format!(
            "PATCH {base}/v1/Products(101) HTTP/1.1\r\n{bearer_line}Content-Type: application/json\r\n\r\n{{\"BuyItNowPrice\":19.99}}\r\n"
        ),
        format!("POST {base}/v1/Products(102)/UpdateQuantity HTTP/1.1\r\n"),
        format!(
            "PATCH {base}/v1/Products(103) HTTP/1.1\r\n{bearer_line}Content-Type: application/json\r\n\r\n{{\"BuyItNowPrice\":0}}\r\n"
        ),
        format!("POST {base}/v1/Products(104)/UpdateQuantity HTTP/1.1\r\n"),
    ];
    for p in &expected_parts {
        assert!(body.contains(p.as_str()), "missing {p:?} in {body}");
    }
    for n in 1..=5 {
        assert!(body.contains(&format!("Content-ID: {n}\r\n")));
    }
    assert!(!body.contains("Content-ID: 6\r\n"));
    assert!(body.ends_with(&format!("--{boundary}--\r\n")));
    assert!(!body.contains("ignored"), "titles are not sent");
}

#[tokio::test]
async fn a_truncated_batch_reply_is_a_typed_error_per_unanswered_listing() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let full = multipart_reply(
        "b",
        &[
            (1, "204 No Content", ""),
            (2, "204 No Content", ""),
            (3, "204 No Content", ""),
        ],
    );
    let cut = full.find("Content-ID: 2").unwrap();
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(multipart_response("b", full[..cut].to_owned()))
        .mount(&server)
        .await;
    let updates = [
        update("1", "A", None, Some(1)),
        update("2", "B", None, Some(1)),
        update("3", "C", None, Some(1)),
    ];
    let out = channel(&server).update_listings(&updates).await.unwrap();
    assert!(out[0].result.is_ok());
    for o in &out[1..] {
        let e = o.result.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert!(e.message().contains("no answer"));
    }
}

#[tokio::test]
async fn the_json_batch_reply_form_is_read_too() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "responses": [
                {"id": "2", "status": 404, "headers": {"content-type": "application/json"},
                 "body": {"error": {"code": "", "message": "Not found"}}},
                {"id": "1", "status": 204, "headers": {}}
            ]
        })))
        .mount(&server)
        .await;
    let out = channel(&server)
        .update_listings(&[
            update("1", "A", None, Some(1)),
            update("2", "B", None, Some(1)),
        ])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "matched by id, not position");
    assert_eq!(
        out[1].result.as_ref().unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_failed_batch_is_retried_then_reported_per_listing() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .mount(&server)
        .await;
    let out = channel(&server)
        .update_listings(&[update("1", "A", None, Some(1))])
        .await
        .unwrap();
    assert_eq!(
        out[0].result.as_ref().unwrap_err().kind(),
        ErrorKind::Transient
    );
    assert_eq!(
        api_requests(&server).await.len(),
        4,
        "the batch is idempotent: retried"
    );
}

#[tokio::test]
async fn price_field_and_update_type_are_configurable() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(multipart_response(
            "b",
            multipart_reply("b", &[(1, "204 No Content", ""), (2, "204 No Content", "")]),
        ))
        .mount(&server)
        .await;
    let ch = ChannelAdvisorChannel::new(
        builder(&server)
            .price_field(marketsync_channeladvisor::PriceField::RetailPrice)
            .quantity_update_type(marketsync_channeladvisor::QuantityUpdateType::Absolute)
            .build()
            .unwrap(),
    )
    .unwrap();
    ch.update_listings(&[update("9", "A", Some("5.50"), Some(0))])
        .await
        .unwrap();
    let body = String::from_utf8(api_requests(&server).await[0].body.clone()).unwrap();
    assert!(body.contains(
        r#"{"Value":{"UpdateType":"Absolute","Updates":[{"DistributionCenterID":3,"Quantity":0}]}}"#
    ));
    assert!(body.contains(r#"{"RetailPrice":5.5}"#));
}

#[tokio::test]
async fn end_listings_deletes_the_label_in_a_batch() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(multipart_response(
            "b",
            multipart_reply(
                "b",
                &[
                    (1, "204 No Content", ""),
                    (
                        2,
                        "404 Not Found",
                        r#"{"error":{"code":"","message":"Not found"}}"#,
                    ),
                    (
                        3,
                        "400 Bad Request",
                        r#"{"error":{"code":"","message":"Label is locked."}}"#,
                    ),
                ],
            ),
        ))
        .mount(&server)
        .await;
    let end = |id: &str| EndListing {
        listing_id: lid(id),
        sku: Some(sku("X")),
        reason: EndReason::NotOnLabel,
    };
    let ch =
        ChannelAdvisorChannel::new(builder(&server).label("Bob's Feed").build().unwrap()).unwrap();
    let out = ch
        .end_listings(&[end("201"), end("202"), end("203")])
        .await
        .unwrap();
    assert!(out[0].result.is_ok());
    assert!(out[1].result.is_ok(), "label already gone");
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.channel_message(), Some("Label is locked."));
    let body = String::from_utf8(api_requests(&server).await[0].body.clone()).unwrap();
    let base = server.uri();
    assert!(
        body.contains(&format!(
            "DELETE {base}/v1/ProductLabels(ProductID=201,Name='Bob%27%27s%20Feed') HTTP/1.1\r\n"
        )),
        "{body}"
    );
    assert!(body.contains("ProductLabels(ProductID=203,"));
}

// ----- orders -----

fn order_json(id: u64, site: &str) -> serde_json::Value {
    json!({
        "ID": id, "ProfileID": PROFILE, "SiteID": 640, "SiteName": site,
        "SiteOrderID": format!("OU-{id}"), "SellerOrderID": null, "Currency": "USD",
        "CreatedDateUtc": "2026-03-02T10:15:30Z", "ImportDateUtc": "2026-03-02T10:30:00.123Z",
        "UpdatedDateUtc": "2026-03-02T10:31:00Z",
        "CheckoutStatus": "Completed", "PaymentStatus": "Cleared", "ShippingStatus": "Unshipped",
        "RequestedShippingCarrier": "UPS", "RequestedShippingClass": "Ground",
        "TotalPrice": 47.5, "TotalTaxPrice": 2.5, "TotalShippingPrice": 5.0,
        "BuyerUserId": "buyer42", "BuyerEmailAddress": "b@example.com",
        "ShippingFirstName": "Ana", "ShippingLastName": "Lind", "ShippingAddressLine1": "1 Main St",
        "ShippingCity": "Austin", "ShippingStateOrProvince": "TX", "ShippingPostalCode": "73301",
        "ShippingCountry": "US",
        "Items": [
            {"ID": 9001, "OrderID": id, "ProductID": 101, "Sku": "A", "Title": "Tee", "Quantity": 2, "UnitPrice": 10.0},
            {"ID": 9002, "OrderID": id, "ProductID": 102, "Sku": "B", "Title": "Cap", "Quantity": 1, "UnitPrice": 20.0}
        ],
        "Fulfillments": [{"ID": 77, "OrderID": id, "Type": "Ship", "DeliveryStatus": "NoChange",
                          "ShippingCarrier": "UPS", "ShippingClass": "Ground"}]
    })
}

fn order_query() -> OrderQuery {
    OrderQuery {
        cursor: None,
        created_since: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
        states: Vec::new(),
        default_currency: Currency::EUR,
        page: None,
        page_size: Some(10),
    }
}

#[tokio::test]
async fn fetch_orders_asks_for_unexported_orders_and_follows_next_links() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let next = format!(
        "{}/v1/Orders?exported=false&$filter=ProfileID%20eq%2012345678&$expand=Items,Fulfillments&$skip=100",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .and(wiremock::matchers::query_param("$skip", "100"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": [order_json(5003, "eBay")]})),
        )
        .mount(&server)
        .await;
    let mut no_currency = order_json(5002, "eBay");
    no_currency["Currency"] = json!(null);
    let mut broken = order_json(5004, "eBay");
    broken["Items"][0]["Quantity"] = json!("two");
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Orders",
            "value": [order_json(5001, "eBay Fixed Price US"), no_currency, broken, {"Nonsense": true}],
            "@odata.nextLink": next
        })))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut query = order_query();
    let page = ch.fetch_orders(&query).await.unwrap();
    assert!(
        page.cursor.is_none(),
        "the export flag is the feed position"
    );
    assert_eq!(page.orders.len(), 2);
    let o = &page.orders[0];
    assert_eq!(o.channel_order_id, oid("5001"));
    assert_eq!(o.marketplace_order_id.as_deref(), Some("OU-5001"));
    assert_eq!(o.site.as_deref(), Some("eBay Fixed Price US"));
    assert_eq!(o.status.state, OrderState::AwaitingShipment);
    assert_eq!(
        o.status.raw,
        "Checkout: Completed, Payment: Cleared, Shipping: Unshipped"
    );
    assert_eq!(o.shipping_method.as_deref(), Some("Ground"));
    assert_eq!(o.currency, Currency::USD);
    assert_eq!(o.currency_source, CurrencySource::Channel);
    assert_eq!(o.total, Some(usd("47.50")));
    assert_eq!(o.lines.len(), 2);
    assert_eq!(o.lines[0].line_id, "9001");
    assert_eq!(o.lines[0].sku, Some(sku("A")));
    assert_eq!(o.lines[0].quantity, 2);
    assert_eq!(o.lines[0].unit_price, usd("10.00"));
    assert_eq!(o.lines[0].listing_id, Some(lid("101")));
    assert_eq!(o.buyer.email.as_deref(), Some("b@example.com"));
    assert_eq!(
        o.shipping_address.as_ref().unwrap().name.as_deref(),
        Some("Ana Lind")
    );
    assert_eq!(page.orders[1].currency, Currency::EUR);
    assert_eq!(
        page.orders[1].currency_source,
        CurrencySource::IntegrationDefault
    );
    assert_eq!(
        page.rejected.len(),
        2,
        "unreadable orders are reported, not dropped"
    );
    assert_eq!(page.rejected[0].channel_order_id, Some(oid("5004")));
    assert_eq!(page.rejected[1].channel_order_id, None);

    let reqs = api_requests(&server).await;
    assert_eq!(
        raw_query(&reqs[0]),
        "exported=false&$filter=ProfileID%20eq%2012345678%20and%20CreatedDateUtc%20ge%202026-03-01T00%3A00%3A00Z&$expand=Items%2CFulfillments"
    );
    assert!(param(&reqs[0], "$top").is_none() && param(&reqs[0], "$skip").is_none());

    query.page = page.next_page;
    let page = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(page.orders[0].channel_order_id, oid("5003"));
    assert!(page.next_page.is_none());
    assert_eq!(
        path_and_query(&api_requests(&server).await[1].url),
        path_and_query(&Url::parse(&next).unwrap())
    );
}

#[tokio::test]
async fn an_order_with_more_than_twenty_items_is_read_on_its_own() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let mut cut = order_json(6001, "eBay");
    cut["Items@odata.nextLink"] = json!(format!("{}/v1/Orders(6001)/Items?$skip=20", server.uri()));
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [cut]})))
        .mount(&server)
        .await;
    let mut full = order_json(6001, "eBay");
    full["Items"].as_array_mut().unwrap().push(
        json!({"ID": 9003, "ProductID": 103, "Sku": "C", "Title": "Sock", "Quantity": 1, "UnitPrice": 3.0}),
    );
    Mock::given(method("GET"))
        .and(path("/v1/Orders(6001)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(full))
        .mount(&server)
        .await;
    let page = channel(&server).fetch_orders(&order_query()).await.unwrap();
    assert_eq!(page.orders[0].lines.len(), 3);
    let reqs = api_requests(&server).await;
    assert_eq!(
        param(&reqs[1], "$expand").as_deref(),
        Some("Items,Fulfillments")
    );
}

#[tokio::test]
async fn status_hints_become_a_server_filter() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let query = OrderQuery {
        created_since: None,
        states: vec![OrderState::AwaitingShipment],
        ..order_query()
    };
    channel(&server).fetch_orders(&query).await.unwrap();
    let reqs = api_requests(&server).await;
    assert_eq!(
        param(&reqs[0], "$filter").unwrap(),
        "ProfileID eq 12345678 and (PaymentStatus eq 'Cleared' or PaymentStatus eq 'Deposited')"
    );
}

#[tokio::test]
async fn offerup_filters_orders_to_its_site() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [order_json(7001, "OfferUp")]})),
        )
        .mount(&server)
        .await;
    let ch = offerup_channel(&server);
    assert_eq!(ch.kind(), marketsync_core::ChannelKind::OfferUp);
    assert!(!ch.capabilities().login_authorization);
    let page = ch.fetch_orders(&order_query()).await.unwrap();
    assert_eq!(page.orders[0].site.as_deref(), Some("OfferUp"));
    let reqs = api_requests(&server).await;
    assert_eq!(
        param(&reqs[0], "$filter").unwrap(),
        "ProfileID eq 12345678 and CreatedDateUtc ge 2026-03-01T00:00:00Z and SiteName eq 'OfferUp'"
    );
    let e = ch
        .begin_authorization(&AuthorizationRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[tokio::test]
async fn acknowledge_posts_export() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5001)/Export"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_1}").as_str(),
        ))
        .and(body_string(""))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    channel(&server)
        .acknowledge_order(&oid("5001"))
        .await
        .unwrap();
    let e = channel(&server)
        .acknowledge_order(&oid("x1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn ship_sends_the_shipment_with_the_key_as_seller_fulfillment_id() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5001)/Ship"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"Value": {
            "ShippedDateUtc": "2026-03-03T14:00:00Z",
            "TrackingNumber": "1Z999",
            "ShippingCarrier": "UPS",
            "ShippingClass": "Ground",
            "DistributionCenterID": 3,
            "DeliveryStatus": "Complete",
            "SellerFulfillmentID": "ship-key-1",
            "Items": [{"OrderItemID": 9001, "Quantity": 1}]
        }})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5002)/Ship"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": "", "message": "Invalid ShippingCarrier 'Pigeon'."}}),
        ))
        .mount(&server)
        .await;
    let shipment = Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some("1Z999".into()),
        shipped_at: Utc.with_ymd_and_hms(2026, 3, 3, 14, 0, 0).unwrap(),
        lines: vec![LineQuantity {
            line_id: "9001".into(),
            quantity: 1,
        }],
        delivery: Default::default(),
    };
    let ch = channel(&server);
    ch.ship(&ShipmentRequest {
        order_id: oid("5001"),
        shipment: shipment.clone(),
        idempotency_key: key("ship-key-1"),
        resend: false,
    })
    .await
    .unwrap();
    let e = ch
        .ship(&ShipmentRequest {
            order_id: oid("5002"),
            shipment: Shipment {
                lines: Vec::new(),
                ..shipment
            },
            idempotency_key: key("ship-key-2"),
            resend: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.channel_message(),
        Some("Invalid ShippingCarrier 'Pigeon'.")
    );
    assert_eq!(e.operation(), Some("ship"));
    let body: serde_json::Value =
        serde_json::from_slice(&api_requests(&server).await[1].body).unwrap();
    assert!(
        body["Value"].get("Items").is_none(),
        "whole order: no Items"
    );
    assert_eq!(api_requests(&server).await.len(), 2, "a 400 is not retried");
}

/// The order as `GET /v1/Orders(ID)?$select=ID&$expand=Fulfillments,Adjustments` answers it,
/// carrying the given seller ids.
fn applied(id: u64, fulfillments: &[&str], adjustments: &[&str]) -> serde_json::Value {
    json!({
        "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Orders(ID,Fulfillments,Adjustments)/$entity",
        "ID": id,
        "Fulfillments": fulfillments.iter().enumerate().map(|(i, f)| json!({
            "ID": 700 + i, "OrderID": id, "Type": "Ship", "DeliveryStatus": "Complete",
            "SellerFulfillmentID": f, "TrackingNumber": "1Z999"
        })).collect::<Vec<_>>(),
        "Adjustments": adjustments.iter().enumerate().map(|(i, a)| json!({
            "ID": 800 + i, "OrderID": id, "Type": "Refund", "RequestStatus": "SubmittedNotProcessed",
            "SellerAdjustmentID": a
        })).collect::<Vec<_>>()
    })
}

async fn mount_applied(server: &MockServer, id: u64, body: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/Orders({id})")))
        .and(wiremock::matchers::query_param("$select", "ID"))
        .and(wiremock::matchers::query_param(
            "$expand",
            "Fulfillments,Adjustments",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

/// A resend (an earlier attempt may have been applied without its outcome being recorded)
/// reads the order's fulfilment and adjustment ids first and sends only what is not there;
/// a first attempt sends without reading.
#[tokio::test]
async fn a_resend_skips_what_the_order_already_carries() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    // Shipped already under this key: nothing is posted.
    mount_applied(&server, 5001, applied(5001, &["ship-key-1"], &[])).await;
    // One of two refunded lines was applied: only the other is posted.
    mount_applied(&server, 5002, applied(5002, &[], &["refund-key-9001"])).await;
    // Not applied: the resend posts it.
    mount_applied(&server, 5003, applied(5003, &["other-key"], &["other-key"])).await;
    Mock::given(method("POST"))
        .and(path("/v1/OrderItems(9002)/Adjust"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5003)/Ship"))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&server)
        .await;
    let shipment = Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some("1Z999".into()),
        shipped_at: Utc.with_ymd_and_hms(2026, 3, 3, 14, 0, 0).unwrap(),
        lines: Vec::new(),
        delivery: Default::default(),
    };
    let ch = channel(&server);
    let ship = |order: &str, key_text: &str, resend: bool| ShipmentRequest {
        order_id: oid(order),
        shipment: shipment.clone(),
        idempotency_key: key(key_text),
        resend,
    };
    ch.ship(&ship("5001", "ship-key-1", true)).await.unwrap();
    ch.refund(&RefundRequest {
        order_id: oid("5002"),
        refund: Refund {
            amount: None,
            lines: ["9001", "9002"]
                .into_iter()
                .map(|l| RefundLine {
                    line_id: l.into(),
                    quantity: Some(1),
                    amount: None,
                })
                .collect(),
            reason: AdjustmentReason::CustomerReturnedItem,
            restock: false,
            note: None,
        },
        idempotency_key: key("refund-key"),
        resend: true,
    })
    .await
    .unwrap();
    ch.ship(&ship("5003", "ship-key-3", true)).await.unwrap();
    // A first attempt does not read the order.
    ch.ship(&ship("5003", "ship-key-4", false)).await.unwrap();
    let sent: Vec<String> = api_requests(&server)
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        sent,
        [
            "GET /v1/Orders(5001)",
            "GET /v1/Orders(5002)",
            "POST /v1/OrderItems(9002)/Adjust",
            "GET /v1/Orders(5003)",
            "POST /v1/Orders(5003)/Ship",
            "POST /v1/Orders(5003)/Ship",
        ]
    );
}

#[tokio::test]
async fn refunds_and_cancellations_adjust_with_reason_and_key() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5001)/Adjust"))
        .and(body_json(json!({
            "Reason": "CustomerReturnedItem", "SellerAdjustmentID": "refund-1",
            "AdjustmentAmount": 12.5, "RefundOnly": true, "Restock": true
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/OrderItems(9002)/Adjust"))
        .and(body_json(json!({
            "Reason": "GeneralAdjustment", "SellerAdjustmentID": "refund-2-9002",
            "Quantity": 1, "ItemAdjustment": 4, "RefundOnly": true, "Restock": false
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5003)/Adjust"))
        .and(body_json(
            json!({"Reason": "BuyerCancelled", "SellerAdjustmentID": "cancel-1"}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/OrderItems(9005)/Adjust"))
        .and(body_json(json!({"Reason": "ItemNotAvailable", "SellerAdjustmentID": "cancel-2-9005", "Quantity": 2})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5009)/Adjust"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"$id": "1", "Message": "No HTTP resource was found that matches the request URI."}),
        ))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let refund = |lines, amount, reason, restock| Refund {
        amount,
        lines,
        reason,
        restock,
        note: None,
    };
    ch.refund(&RefundRequest {
        order_id: oid("5001"),
        refund: refund(
            Vec::new(),
            Some(usd("12.50")),
            AdjustmentReason::CustomerReturnedItem,
            true,
        ),
        idempotency_key: key("refund-1"),
        resend: false,
    })
    .await
    .unwrap();
    ch.refund(&RefundRequest {
        order_id: oid("5002"),
        refund: refund(
            vec![RefundLine {
                line_id: "9002".into(),
                quantity: Some(1),
                amount: Some(usd("4.00")),
            }],
            None,
            AdjustmentReason::ShippingDamage,
            false,
        ),
        idempotency_key: key("refund-2"),
        resend: false,
    })
    .await
    .unwrap();
    ch.cancel(&CancellationRequest {
        order_id: oid("5003"),
        cancellation: Cancellation {
            lines: Vec::new(),
            reason: AdjustmentReason::BuyerCancelled,
        },
        idempotency_key: key("cancel-1"),
        resend: false,
    })
    .await
    .unwrap();
    ch.cancel(&CancellationRequest {
        order_id: oid("5004"),
        cancellation: Cancellation {
            lines: vec![LineQuantity {
                line_id: "9005".into(),
                quantity: 2,
            }],
            reason: AdjustmentReason::ItemNotAvailable,
        },
        idempotency_key: key("cancel-2"),
        resend: false,
    })
    .await
    .unwrap();
    let e = ch
        .cancel(&CancellationRequest {
            order_id: oid("5009"),
            cancellation: Cancellation {
                lines: Vec::new(),
                reason: AdjustmentReason::GeneralAdjustment,
            },
            idempotency_key: key("cancel-3"),
            resend: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.channel_message(),
        Some("No HTTP resource was found that matches the request URI.")
    );
}

// ----- authorization code flow -----

#[tokio::test]
async fn the_authorization_code_flow_installs_new_tokens() {
    let server = MockServer::start().await;
    let redirect = Url::parse("https://seller.example/ca/callback").unwrap();
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", BASIC))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=authorization_code",
        ))
        .and(wiremock::matchers::body_string_contains("code=CODE-1"))
        .and(wiremock::matchers::body_string_contains(
            "redirect_uri=https%3A%2F%2Fseller.example%2Fca%2Fcallback",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_2, "token_type": "bearer", "expires_in": 3600,
            "refresh_token": "REFRESHTOKEN-new"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_2}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(profiles_body()))
        .mount(&server)
        .await;
    let ch = ChannelAdvisorChannel::new(
        builder(&server)
            .redirect_uri(redirect.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(ch.capabilities().login_authorization);
    let start = ch
        .begin_authorization(&AuthorizationRequest {
            redirect_uri: Some(redirect.clone()),
            device_flow: false,
        })
        .await
        .unwrap();
    assert_eq!(start.url.path(), "/oauth2/authorize");
    let q: std::collections::HashMap<_, _> = start.url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], APP_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], redirect.as_str());
    assert_eq!(q["scope"], "orders inventory");
    assert_eq!(q["state"], start.pending.state);
    let callback = AuthorizationCallback::from_params([
        ("code", "CODE-1"),
        ("state", start.pending.state.as_str()),
    ]);
    let outcome = ch
        .complete_authorization(&start.pending, &callback)
        .await
        .unwrap();
    let AuthorizationOutcome::Authorized(Credentials::OAuth(t)) = outcome else {
        panic!("expected OAuth credentials");
    };
    assert_eq!(t.refresh_token.expose_secret(), "REFRESHTOKEN-new");
    assert_eq!(t.profile_id.as_deref(), Some("12345678"));
    // The adapter uses the new access token at once, without a refresh.
    ch.verify().await.unwrap();

    // A wrong state or a refusal never reaches the token endpoint.
    let bad = AuthorizationCallback::from_params([("code", "CODE-1"), ("state", "other")]);
    assert_eq!(
        ch.complete_authorization(&start.pending, &bad)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Auth
    );
    let denied = AuthorizationCallback::from_params([("error", "access_denied")]);
    let e = ch
        .complete_authorization(&start.pending, &denied)
        .await
        .unwrap_err();
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
    let other = Url::parse("https://elsewhere.example/cb").unwrap();
    let e = ch
        .begin_authorization(&AuthorizationRequest {
            redirect_uri: Some(other),
            device_flow: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

// ----- config -----

#[test]
fn config_requires_the_profile_id_with_a_typed_error() {
    let e = ChannelAdvisorConfig::builder()
        .application_id("a")
        .shared_secret(SecretString::from("s"))
        .refresh_token(SecretString::from("r"))
        .build()
        .unwrap_err();
    assert_eq!(e, marketsync_channeladvisor::ConfigError::MissingProfileId);
    assert!(e.to_string().contains("apid"));
    let e = ChannelAdvisorConfig::builder()
        .profile_id(1)
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        marketsync_channeladvisor::ConfigError::Missing("application_id")
    );
    let c = ChannelAdvisorConfig::offerup_builder()
        .application_id("a")
        .shared_secret(SecretString::from("s"))
        .refresh_token(SecretString::from("r"))
        .profile_id(1)
        .build()
        .unwrap();
    assert_eq!(c.site_name(), Some("OfferUp"));
    assert_eq!(c.label(), Some("OfferUp"));
    assert_eq!(c.connection_name(), "OfferUp");
    assert_eq!(c.base_url().as_str(), "https://api.channeladvisor.com/");
    assert_eq!(c.price_field().as_str(), "BuyItNowPrice");
}
