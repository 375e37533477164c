//! A Reverb integration configured from a config file (JSON): it builds a working channel, and
//! a wrong config names its field.

use marketsync_core::{Channel, ErrorKind};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-from-a-file-31337";

#[tokio::test]
async fn a_json_config_builds_a_working_channel() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/shop"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "98765", "name": "Acme Guitars", "currency": "USD"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let config: ReverbConfig = serde_json::from_value(json!({
        "base_url": server.uri(),
        "token": TOKEN,
        "connection_name": "Reverb – from a file",
        "default_currency": "USD",
        "page_size": 50
    }))
    .unwrap();
    assert!(!format!("{config:?}").contains(TOKEN));
    let channel = ReverbChannel::new(config).unwrap();
    assert_eq!(channel.config().page_size(), 50);
    let account = channel.verify().await.unwrap();
    assert_eq!(account.name.as_deref(), Some("Acme Guitars"));
}

#[test]
fn a_wrong_config_names_its_field() {
    let unknown = serde_json::from_value::<ReverbConfig>(
        json!({"token": "t", "default_currency": "USD", "currency": "USD"}),
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("`currency`"), "{unknown}");
    let missing = serde_json::from_value::<ReverbConfig>(json!({"token": "t"})).unwrap_err();
    assert!(
        missing.to_string().contains("default_currency"),
        "{missing}"
    );
    let blank: ReverbConfig =
        serde_json::from_value(json!({"token": " ", "default_currency": "USD"})).unwrap();
    let e = ReverbChannel::new(blank).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.field(), Some("token"));
    assert!(!format!("{e:?}").contains(TOKEN));
}
