//! Shared set-up: an adapter pointed at a wiremock server with a token endpoint.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_channeladvisor::{
    ChannelAdvisorChannel, ChannelAdvisorConfig, ChannelAdvisorConfigBuilder,
};
use marketsync_core::{
    Actor, Engine, IntegrationId, SecretString, ShippingMapping, ShippingService,
};
use marketsync_http::RetryPolicy;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const APP_ID: &str = "app-1";
pub const SHARED_SECRET: &str = "SHAREDSECRET-z9q1";
pub const REFRESH: &str = "REFRESHTOKEN-k3x7";
pub const ACCESS_1: &str = "ACCESSTOKEN-1a";
pub const ACCESS_2: &str = "ACCESSTOKEN-2b";
/// base64("app-1:SHAREDSECRET-z9q1")
pub const BASIC: &str = "Basic YXBwLTE6U0hBUkVEU0VDUkVULXo5cTE=";
pub const PROFILE: u64 = 12345678;
pub const SECRETS: [&str; 4] = [SHARED_SECRET, REFRESH, ACCESS_1, ACCESS_2];

/// A fast retry policy for tests (no jitter, short delays).
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

pub fn builder(server: &MockServer) -> ChannelAdvisorConfigBuilder {
    ChannelAdvisorConfig::builder()
        .base_url(server.uri())
        .application_id(APP_ID)
        .shared_secret(SecretString::from(SHARED_SECRET))
        .refresh_token(SecretString::from(REFRESH))
        .profile_id(PROFILE)
        .distribution_center_id(3)
        .label("eBay Feed")
        .retry(fast_retry())
}

pub fn channel(server: &MockServer) -> ChannelAdvisorChannel {
    ChannelAdvisorChannel::new(builder(server).build().unwrap()).unwrap()
}

/// The OfferUp connection (through ChannelAdvisor) pointed at `server`.
pub fn offerup_channel(server: &MockServer) -> ChannelAdvisorChannel {
    let config = ChannelAdvisorConfig::offerup_builder()
        .base_url(server.uri())
        .application_id(APP_ID)
        .shared_secret(SecretString::from(SHARED_SECRET))
        .refresh_token(SecretString::from(REFRESH))
        .profile_id(PROFILE)
        .retry(fast_retry())
        .build()
        .unwrap();
    ChannelAdvisorChannel::new(config).unwrap()
}

pub fn token_body(access: &str) -> serde_json::Value {
    serde_json::json!({"access_token": access, "token_type": "bearer", "expires_in": 3600})
}

/// The token endpoint exactly as ChannelAdvisor expects it: Basic client auth, form body with
/// the refresh grant. Answers `ACCESS_1`.
pub async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", BASIC))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token={REFRESH}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_1)))
        .mount(server)
        .await;
}

/// The token endpoint answers `ACCESS_1` once, then `ACCESS_2` for every refresh.
pub async fn mount_rotating_tokens(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_1)))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2)))
        .mount(server)
        .await;
}

/// `GET /v1/Profiles` sent with the bearer token `access` answers `response`.
pub async fn mount_profiles_for(server: &MockServer, access: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Maps the channel's shipping text `Ground` to UPS Ground on the integration `id` (as of
/// `at`).
pub async fn map_ground_to_ups(engine: &Engine, id: IntegrationId, at: DateTime<Utc>) {
    let mapping = ShippingMapping::new(
        "Ground",
        ShippingService {
            name: "ups-ground".into(),
            carrier: Some("UPS".into()),
            class: Some("Ground".into()),
        },
        at,
    )
    .unwrap();
    engine
        .edit_mappings(id, Actor::System, |m| {
            m.insert_shipping(mapping.clone());
        })
        .await
        .unwrap();
}

/// Requests received other than the token endpoint's.
pub async fn api_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() != "/oauth2/token")
        .collect()
}

/// The raw (still percent-encoded) query string of a request.
pub fn raw_query(r: &Request) -> String {
    r.url.query().unwrap_or("").to_owned()
}

/// A query parameter, decoded.
pub fn param(r: &Request, name: &str) -> Option<String> {
    r.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn bearer(r: &Request) -> String {
    r.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A `$batch` reply: one change set per answer, `(content id, status line, body)`.
pub fn multipart_reply(boundary: &str, parts: &[(usize, &str, &str)]) -> String {
    let mut out = String::new();
    for (id, status, body) in parts {
        let cs = format!("changesetresponse_{id}");
        out.push_str(&format!("--{boundary}\r\n"));
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary={cs}\r\n\r\n"
        ));
        out.push_str(&format!("--{cs}\r\n"));
        out.push_str("Content-Type: application/http\r\n");
        out.push_str("Content-Transfer-Encoding: binary\r\n");
        out.push_str(&format!("Content-ID: {id}\r\n\r\n"));
        out.push_str(&format!("HTTP/1.1 {status}\r\n"));
        if body.is_empty() {
            out.push_str("\r\n\r\n");
        } else {
            out.push_str(
                "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true\r\n",
            );
            out.push_str("OData-Version: 4.0\r\n\r\n");
            out.push_str(body);
            out.push_str("\r\n");
        }
        out.push_str(&format!("--{cs}--\r\n"));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

pub fn multipart_response(boundary: &str, body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        body.into_bytes(),
        &format!("multipart/mixed; boundary={boundary}"),
    )
}
