//! Shared set-up: an adapter pointed at a wiremock server, Tradera's request headers as matchers,
//! and realistic Tradera REST v4 bodies (shapes from the v4 OpenAPI document).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use marketsync_core::{ManualClock, SecretString};
use marketsync_http::RetryPolicy;
use marketsync_tradera::{TraderaChannel, TraderaConfig, TraderaConfigBuilder};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{MockBuilder, MockServer, Request};

pub const APP_ID: i64 = 4711;
pub const APP_KEY: &str = "5f0c3a9e-APPKEY-4d21-9b7e-7c1d2e3f4a5b";
pub const PUBLIC_KEY: &str = "pub-8c6e2b1a";
pub const USER_ID: i64 = 5_986_811;
pub const TOKEN: &str = "USERTOKEN-29a68060-a96f-4e1b";
pub const TOKEN_2: &str = "USERTOKEN-new-71c2d9e0-b8aa";
pub const SECRETS: [&str; 3] = [APP_KEY, TOKEN, TOKEN_2];

/// The tests' "now".
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap()
}

/// The session's hard expiry in the tests: 30 days after "now".
pub fn expiry() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 4, 9, 0, 0).unwrap()
}

/// A fast retry policy for tests (no jitter, short delays).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        factor: 2.0,
        jitter: false,
        max_elapsed: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(now()))
}

/// A configuration without a session (as before the first login).
pub fn app_builder(server: &MockServer) -> TraderaConfigBuilder {
    TraderaConfig::builder()
        .base_url(server.uri())
        .app_id(APP_ID)
        .app_key(SecretString::from(APP_KEY))
        .public_key(PUBLIC_KEY)
        .connection_name("Tradera – Acme")
        .daily_budget(1000)
        .retry(fast_retry())
        .clock(clock())
}

/// A configuration with the seller's session.
pub fn builder(server: &MockServer) -> TraderaConfigBuilder {
    app_builder(server).session(USER_ID, SecretString::from(TOKEN), Some(expiry()))
}

pub fn channel(server: &MockServer) -> TraderaChannel {
    TraderaChannel::new(builder(server).build().unwrap()).unwrap()
}

/// A request of `verb` to `p` carrying the application headers only.
pub fn app(verb: &str, p: &str) -> MockBuilder {
    wiremock::Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(header("x-app-id", APP_ID.to_string().as_str()))
        .and(header("x-app-key", APP_KEY))
        .and(header("accept", "application/json"))
}

/// A request of `verb` to `p` carrying the application and the user headers.
pub fn user(verb: &str, p: &str) -> MockBuilder {
    user_with(verb, p, TOKEN)
}

/// [`user`] with another token.
pub fn user_with(verb: &str, p: &str, token: &str) -> MockBuilder {
    app(verb, p)
        .and(header("x-user-id", USER_ID.to_string().as_str()))
        .and(header("x-user-token", token))
}

/// [`user`] with exactly this JSON body.
pub fn user_body(verb: &str, p: &str, body: Value) -> MockBuilder {
    user(verb, p)
        .and(header("content-type", "application/json"))
        .and(body_json(body))
}

/// The raw (still percent-encoded) query string of a request.
pub fn raw_query(r: &Request) -> String {
    r.url.query().unwrap_or("").to_owned()
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// A seller item as `GET /v4/listings/seller-items` returns it.
pub fn item(
    id: i64,
    item_type: i32,
    refs: &[&str],
    price: i64,
    remaining: i64,
    end: &str,
) -> Value {
    json!({
        "acceptedBuyerId": 1,
        "acceptsPickup": false,
        "bold": false,
        "buyItNowPrice": price,
        "buyItNowPriceSpecified": true,
        "buyerList": [],
        "categoryId": 302_460,
        "detailedImageLinks": [],
        "duration": 0,
        "endDate": end,
        "featuredItem": false,
        "highlight": false,
        "id": id,
        "imageLinks": [format!("https://img.tradera.net/images/{id}.jpg")],
        "itemAttributes": [1],
        "itemLink": format!("https://www.tradera.com/item/302460/{id}/"),
        "itemType": item_type,
        "longDescription": "<p>Fin skick.</p>",
        "maxBid": 0,
        "maxBidSpecified": false,
        "nextBid": 0,
        "nextBidSpecified": false,
        "openingBid": 0,
        "openingBidSpecified": false,
        "ownReferences": refs,
        "paymentCondition": "Swish eller TraderaPay",
        "paymentOptions": [4096],
        "paymentTypeId": 0,
        "paypal": false,
        "remainingQuantity": remaining,
        "reservePrice": 0,
        "reservePriceManuallySet": false,
        "reservePriceReached": null,
        "reservePriceSpecified": false,
        "restarts": 0,
        "seller": {},
        "shippingCondition": "Skickas inom 2 dagar",
        "shippingOptions": [{"cost": 59, "shippingProductId": 12, "shippingProductIdSpecified": true, "shippingWeight": 1.0, "shippingWeightSpecified": true}],
        "shortDescription": format!("Vinylskiva {id}"),
        "startDate": "2026-01-10T12:00:00",
        "startQuantity": 10,
        "status": {},
        "statusId": 1,
        "thumbnail": false,
        "thumbnailLink": null,
        "totalBids": 0,
        "userSelectedEndDate": false,
        "vat": 25,
        "vatSpecified": true
    })
}

/// A seller order as `GET /v4/orders` returns it: integer SEK prices.
pub fn order(id: i64, refs: &[&str], paid: bool, last_updated: &str) -> Value {
    json!({
        "buyer": {
            "addressLine1": "Storgatan 1", "addressLine2": null, "alias": "skivsamlaren",
            "city": "Uppsala", "countryName": "Sverige", "email": "anna@example.se",
            "firstName": "Anna", "lastName": "Svensson", "phone": "070-1234567",
            "userId": 1_234_567, "zipCode": "753 20"
        },
        "createdDate": "2026-03-04T10:15:00",
        "expiresDate": null,
        "items": [{
            "itemId": 700_100_200,
            "merchantPartNumber": null,
            "ownReferences": refs,
            "quantity": 2,
            "title": "Vinylskiva Abba Arrival",
            "type": 4,
            "unitPrice": 149,
            "vatRate": 25
        }],
        "lastUpdatedDate": last_updated,
        "orderId": id,
        "purchaseOrderId": "3f2b8c1e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
        "seller": {"userId": USER_ID, "alias": "acme"},
        "sellerOrderPayments": if paid {
            json!([{"additionalInfo": [], "amount": 357, "paidDate": "2026-03-04T10:20:00", "paymentCost": 0, "paymentType": "TraderaPay", "reference": "TP-778899"}])
        } else {
            Value::Null
        },
        "shipTo": {
            "addressLine1": "Storgatan 1", "addressLine2": "lgh 1102", "city": "Uppsala",
            "countryName": "Sverige", "name": "Anna Svensson", "zipCode": "753 20"
        },
        "shippingCost": 59,
        "shippingType": "PostNord Varubrev",
        "shippingWeight": 0.5,
        "subTotal": 298
    })
}
