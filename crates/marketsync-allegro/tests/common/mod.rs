//! Shared set-up: an adapter pointed at a wiremock server (API and auth host both), Allegro's
//! request headers as matchers, and realistic Allegro bodies (shapes from the official OpenAPI
//! document and its examples).
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketsync_allegro::{AllegroChannel, AllegroConfig, AllegroConfigBuilder, CommandPolling};
use marketsync_core::SecretString;
use marketsync_core::credentials::LoginSession;
use marketsync_http::{Limits, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

pub const VND: &str = "application/vnd.allegro.public.v1+json";
pub const CLIENT_ID: &str = "allegro-app-1";
pub const CLIENT_SECRET: &str = "ALLEGROSECRET-q8w2";
/// base64("allegro-app-1:ALLEGROSECRET-q8w2")
pub const BASIC: &str = "Basic YWxsZWdyby1hcHAtMTpBTExFR1JPU0VDUkVULXE4dzI=";
pub const ACCESS_1: &str = "ACCESSTOKEN-a1x9";
pub const ACCESS_2: &str = "ACCESSTOKEN-b2y8";
pub const REFRESH_1: &str = "REFRESHTOKEN-r1k7";
pub const REFRESH_2: &str = "REFRESHTOKEN-r2m6";
pub const SECRETS: [&str; 5] = [CLIENT_SECRET, ACCESS_1, ACCESS_2, REFRESH_1, REFRESH_2];

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap()
}

/// A fast retry policy for tests (no jitter, short delays).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        factor: 2.0,
        jitter: false,
        max_elapsed: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(1),
    }
}

/// A session whose access token (`ACCESS_1`) is good for 12 hours from the real clock.
pub fn session() -> LoginSession {
    LoginSession {
        user_id: None,
        token: SecretString::from(ACCESS_1),
        expires_at: Utc::now() + TimeDelta::hours(12),
        refresh_token: Some(SecretString::from(REFRESH_1)),
        refresh_expires_at: Some(Utc::now() + TimeDelta::days(90)),
    }
}

pub fn builder(server: &MockServer) -> AllegroConfigBuilder {
    AllegroConfig::builder()
        .base_url(server.uri())
        .auth_base_url(server.uri())
        .client_id(CLIENT_ID)
        .client_secret(SecretString::from(CLIENT_SECRET))
        .session(session())
        .retry(fast_retry())
        .limits(Limits::none())
        .command_polling(CommandPolling {
            interval: Duration::from_millis(10),
            max_polls: 4,
        })
}

pub fn channel(server: &MockServer) -> AllegroChannel {
    AllegroChannel::new(builder(server).build().unwrap()).unwrap()
}

/// A request of `verb` to `p` with Allegro's `Accept` and the bearer token `ACCESS_1`.
pub fn allegro(verb: &str, p: &str) -> MockBuilder {
    allegro_with(verb, p, ACCESS_1)
}

/// `GET /order/checkout-forms/{form}` answering the form ready for processing (one line of
/// `GTR-001`, fulfilment `NEW`) at `revision`.
pub fn ready_form(form: &str, revision: &str) -> Mock {
    allegro("GET", &format!("/order/checkout-forms/{form}")).respond_with(
        ResponseTemplate::new(200).set_body_json(checkout_form(
            form,
            "GTR-001",
            "READY_FOR_PROCESSING",
            "NEW",
            revision,
        )),
    )
}

/// [`allegro`] with another token.
pub fn allegro_with(verb: &str, p: &str, token: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .and(header("accept", VND))
}

/// [`allegro`] with exactly this JSON body, sent as Allegro's media type.
pub fn allegro_body(verb: &str, p: &str, body: Value) -> MockBuilder {
    allegro(verb, p)
        .and(header("content-type", VND))
        .and(body_json(body))
}

/// The raw (still percent-encoded) query string of a request.
pub fn raw_query(r: &Request) -> String {
    r.url.query().unwrap_or("").to_owned()
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

pub fn token_body(access: &str, refresh: &str) -> Value {
    json!({
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": refresh,
        "expires_in": 43199,
        "scope": "allegro:api:sale:offers:read allegro:api:orders:read",
        "allegro_api": true,
        "jti": "9f1a6c0e-5d3b-4a7e-8c2d-1b0e4f6a7c8d"
    })
}

/// An offer as `GET /sale/offers` returns it (`OfferListingDto`).
pub fn offer(id: &str, sku: &str, status: &str, available: i64, amount: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Gitara akustyczna {sku}"),
        "category": {"id": "257931"},
        "primaryImage": {"url": "https://a.allegroimg.com/original/11e0d1/abc"},
        "sellingMode": {"format": "BUY_NOW", "price": {"amount": amount, "currency": "PLN"}},
        "saleInfo": {"currentPrice": null, "biddersCount": null},
        "stock": {"available": available, "sold": 3},
        "stats": {"watchersCount": 2, "visitsCount": 140},
        "publication": {
            "status": status,
            "startingAt": null,
            "startedAt": "2026-01-10T12:00:00.000Z",
            "endingAt": null,
            "endedAt": null,
            "marketplaces": {"base": {"id": "allegro-pl"}, "additional": []}
        },
        "afterSalesServices": {"impliedWarranty": {"id": "0b7c7b5e"}},
        "external": {"id": sku},
        "delivery": {"shippingRates": {"id": "7d4b0a2e"}},
        "isFulfillment": false
    })
}

/// A checkout form (`CheckoutForm`), realistic: money as strings, a pickup-less courier
/// delivery.
pub fn checkout_form(
    id: &str,
    sku: &str,
    status: &str,
    fulfillment: &str,
    revision: &str,
) -> Value {
    json!({
        "id": id,
        "messageToSeller": "Proszę o szybką wysyłkę",
        "buyer": {
            "id": "23123123",
            "email": "8awgqyk6a5+cub31c122@allegromail.pl",
            "login": "User_Login",
            "firstName": "Jan",
            "lastName": "Kowalski",
            "companyName": null,
            "guest": false,
            "personalIdentity": "67062589524",
            "phoneNumber": "+48 123 456 789",
            "preferences": {"language": "pl-PL"},
            "address": {"street": "Grunwaldzka 182", "city": "Poznań", "postCode": "60-166", "countryCode": "PL"}
        },
        "payment": {
            "id": "0f8f1d13-7e9e-11e8-9b00-c5b0dfb78ea6",
            "type": "ONLINE",
            "provider": "P24",
            "finishedAt": "2026-03-04T14:26:11.982Z",
            "paidAmount": {"amount": "1311.99", "currency": "PLN"},
            "reconciliation": {"amount": "1311.99", "currency": "PLN"},
            "features": []
        },
        "status": status,
        "fulfillment": {"status": fulfillment, "shipmentSummary": {"lineItemsSent": "NONE"}, "provider": {"id": "SELLER"}},
        "delivery": {
            "address": {
                "firstName": "Jan",
                "lastName": "Kowalski",
                "street": "Grunwaldzka 182",
                "city": "Poznań",
                "zipCode": "60-166",
                "countryCode": "PL",
                "companyName": null,
                "phoneNumber": "+48 123 456 789",
                "modifiedAt": null
            },
            "method": {"id": "1fa56f79-4b6a-4821-a6f2-ca9c16d5c925", "name": "Allegro Kurier DPD"},
            "pickupPoint": null,
            "cost": {"amount": "12.00", "currency": "PLN"},
            "time": {"from": "2026-03-06T00:00:00Z", "to": "2026-03-07T00:00:00Z", "guaranteed": null, "dispatch": null},
            "smart": true,
            "cancellation": null,
            "calculatedNumberOfPackages": 1
        },
        "invoice": {"required": false, "address": null, "dueDate": null, "features": []},
        "lineItems": [
            {
                "id": "62ae358b-8f65-4fc4-9c77-bedf604a2e2b",
                "offer": {"id": "7763155620", "name": "Gitara akustyczna", "external": {"id": sku}, "productSet": null},
                "quantity": 1,
                "originalPrice": {"amount": "1299.99", "currency": "PLN"},
                "price": {"amount": "1299.99", "currency": "PLN"},
                "reconciliation": {"value": {"amount": "1299.99", "currency": "PLN"}, "type": "BILLING", "quantity": 1},
                "selectedAdditionalServices": [],
                "vouchers": [],
                "tax": {"rate": "23.00", "subject": "GOODS", "exemption": null},
                "boughtAt": "2026-03-04T14:25:07.000Z",
                "discounts": []
            }
        ],
        "surcharges": [],
        "discounts": [],
        "note": {"text": ""},
        "marketplace": {"id": "allegro-pl"},
        "summary": {"totalToPay": {"amount": "1311.99", "currency": "PLN"}},
        "updatedAt": "2026-03-04T14:30:00.000Z",
        "revision": revision
    })
}

/// An order event (`OrderEvent`).
pub fn event(id: &str, kind: &str, form_id: &str) -> Value {
    json!({
        "id": id,
        "occurredAt": "2026-03-04T14:26:12.000Z",
        "type": kind,
        "order": {
            "seller": {"id": "44455566"},
            "buyer": {"id": "23123123", "email": "8awgqyk6a5+cub31c122@allegromail.pl", "login": "User_Login", "guest": false},
            "lineItems": [{
                "id": "62ae358b-8f65-4fc4-9c77-bedf604a2e2b",
                "offer": {"id": "7763155620", "name": "Gitara akustyczna", "external": {"id": "GTR-001"}},
                "quantity": 1,
                "originalPrice": {"amount": "1299.99", "currency": "PLN"},
                "price": {"amount": "1299.99", "currency": "PLN"},
                "boughtAt": "2026-03-04T14:25:07.000Z"
            }],
            "checkoutForm": {"id": form_id, "revision": "7a4f2e1c"},
            "marketplace": {"id": "allegro-pl"}
        }
    })
}

/// A command's answer (`GeneralReport`) just after registration.
pub fn report(id: &str) -> Value {
    json!({
        "id": id,
        "createdAt": "2026-03-05T09:00:00.123Z",
        "completedAt": null,
        "taskCount": {"total": 0, "success": 0, "failed": 0}
    })
}

/// One task (`CommandTask`).
pub fn task(offer: &str, status: &str, field: &str) -> Value {
    match status {
        "FAIL" => json!({
            "offer": {"id": offer},
            "field": field,
            "status": "FAIL",
            "message": "The offer does not exist.",
            "errors": [{"code": "OFFER_NOT_FOUND", "message": "Offer not found", "details": null, "path": "", "userMessage": "The offer does not exist.", "metadata": {}}]
        }),
        _ => {
            json!({"offer": {"id": offer}, "field": field, "status": status, "message": null, "errors": []})
        }
    }
}
