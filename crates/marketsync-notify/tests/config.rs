//! Configuration: read as a host writes it (TOML), refused at setup with the field named, and
//! secrets that never print.

use std::time::Duration;

use marketsync_core::{IntegrationId, SecretString, Transport};
use marketsync_notify::{
    ConfigError, EmailConfig, EmailTransport, Security, WebhookConfig, WebhookSecret,
    WebhookTransport,
};

const PASSWORD: &str = "smtp-pass-4b9e1d";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn email(toml_text: &str) -> Result<EmailTransport, ConfigError> {
    let config: EmailConfig = toml::from_str(toml_text).expect("the TOML reads");
    EmailTransport::new(config)
}

fn webhook(toml_text: &str) -> Result<WebhookTransport, ConfigError> {
    let config: WebhookConfig = toml::from_str(toml_text).expect("the TOML reads");
    WebhookTransport::new(config)
}

fn refused_field(result: Result<impl std::fmt::Debug, ConfigError>) -> String {
    let e = result.expect_err("refused at setup");
    let text = e.to_string();
    assert!(text.contains(e.field()), "{text}");
    assert!(!text.contains(PASSWORD) && !text.contains(SECRET), "{text}");
    e.field().to_owned()
}

#[test]
fn email_configs_as_a_host_writes_them() {
    let integration = IntegrationId::new();
    let transport = email(&format!(
        r#"
        host = "smtp.shop.example"
        security = "tls"
        username = "alerts@shop.example"
        password = "{PASSWORD}"
        from = "Shop alerts <alerts@shop.example>"
        to = ["owner@shop.example", "ops@shop.example"]
        timeout_secs = 20

        [recipients]
        "{}" = ["allegro-team@shop.example"]
        "#,
        integration.as_uuid()
    ))
    .expect("usable");
    assert_eq!(transport.name(), "email");
    assert_eq!(
        transport.recipients(&integration),
        ["allegro-team@shop.example"]
    );
    assert_eq!(
        transport.recipients(&IntegrationId::new()),
        ["owner@shop.example", "ops@shop.example"]
    );

    // One address for `to`, the defaults for the rest (STARTTLS on 587).
    let config: EmailConfig = toml::from_str(
        r#"
        host = "localhost"
        from = "alerts@shop.example"
        to = "owner@shop.example"
        "#,
    )
    .expect("reads");
    assert_eq!(config.effective_port(), 587);
    EmailTransport::new(config).expect("usable");

    // Unknown fields are refused (a typo never passes silently).
    assert!(
        toml::from_str::<EmailConfig>(
            "host = \"h\"\nfrom = \"a@b.example\"\nto = \"c@d.example\"\nsecurty = \"tls\"\n"
        )
        .is_err()
    );
}

#[test]
fn bad_email_configs_name_the_field() {
    let base = "host = \"smtp.shop.example\"\nfrom = \"alerts@shop.example\"\n";
    assert_eq!(
        refused_field(email(&format!(
            "{base}to = [\"owner@shop.example\", \"not an address\"]"
        ))),
        "to[1]"
    );
    assert_eq!(refused_field(email(&format!("{base}to = []"))), "to");
    assert_eq!(
        refused_field(email(
            "host = \"h.example\"\nfrom = \"alerts-at-shop\"\nto = \"o@shop.example\""
        )),
        "from"
    );
    assert_eq!(
        refused_field(email(&format!(
            "{base}to = \"o@shop.example\"\nusername = \"alerts\""
        ))),
        "password"
    );
    assert_eq!(
        refused_field(email(&format!(
            "{base}to = \"o@shop.example\"\npassword = \"{PASSWORD}\""
        ))),
        "username"
    );
    assert_eq!(
        refused_field(email(&format!(
            "{base}to = \"o@shop.example\"\nsecurity = \"none\"\nusername = \"a\"\npassword = \"{PASSWORD}\""
        ))),
        "security"
    );
    assert_eq!(
        refused_field(email(&format!(
            "{base}to = \"o@shop.example\"\nroot_certificate = \"/nonexistent/ca.pem\""
        ))),
        "root_certificate"
    );
    let integration = IntegrationId::new();
    assert_eq!(
        refused_field(email(&format!(
            "{base}to = \"o@shop.example\"\n[recipients]\n\"{}\" = []",
            integration.as_uuid()
        ))),
        format!("recipients.{}", integration.as_uuid())
    );
    assert_eq!(
        refused_field(EmailTransport::new(
            EmailConfig::new("smtp.shop.example", "a@shop.example", ["b@shop.example"])
                .timeout(Duration::ZERO)
        )),
        "timeout_secs"
    );
}

#[test]
fn webhook_configs_as_a_host_writes_them() {
    let integration = IntegrationId::new();
    let transport = webhook(&format!(
        r#"
        name = "ops-webhook"
        url = "https://hooks.shop.example/marketsync"
        secret = "{SECRET}"
        timeout_secs = 5
        integrations = ["{}"]
        "#,
        integration.as_uuid()
    ))
    .expect("usable");
    assert_eq!(transport.name(), "ops-webhook");
    assert!(transport.sends_for(&integration));
    assert!(!transport.sends_for(&IntegrationId::new()));
}

#[test]
fn bad_webhook_configs_name_the_field() {
    let with =
        |url: &str, secret: &str| webhook(&format!("url = \"{url}\"\nsecret = \"{secret}\""));
    assert_eq!(
        refused_field(with("ftp://hooks.shop.example/x", SECRET)),
        "url"
    );
    assert_eq!(refused_field(with("not a url", SECRET)), "url");
    assert_eq!(refused_field(with("", SECRET)), "url");
    assert_eq!(
        refused_field(with(
            "https://hooks.shop.example/",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )),
        "secret"
    );
    assert_eq!(
        refused_field(with("https://hooks.shop.example/", "whsec_%%%not-base64")),
        "secret"
    );
    assert_eq!(
        refused_field(with("https://hooks.shop.example/", "whsec_c2hvcnQ=")),
        "secret"
    );
}

#[test]
fn secrets_never_print() {
    let email_config: EmailConfig = toml::from_str(&format!(
        "host = \"smtp.shop.example\"\nfrom = \"a@shop.example\"\nto = \"b@shop.example\"\nusername = \"a\"\npassword = \"{PASSWORD}\""
    ))
    .expect("reads");
    let email_transport = EmailTransport::new(email_config.clone()).expect("usable");
    let webhook_config = WebhookConfig::new(
        "https://hooks.shop.example/x?token=url-token-93af",
        SecretString::from(SECRET.to_owned()),
    );
    let webhook_transport = WebhookTransport::new(webhook_config.clone()).expect("usable");
    let secret = WebhookSecret::parse(&SecretString::from(SECRET.to_owned())).expect("parses");
    let key_part = SECRET.trim_start_matches("whsec_");

    let printed = [
        format!("{email_config:?}"),
        format!("{email_transport:?}"),
        format!("{webhook_config:?}"),
        format!("{webhook_transport:?}"),
        format!("{secret:?}"),
        serde_json::to_string(&email_config).expect("writes"),
        serde_json::to_string(&webhook_config).expect("writes"),
    ];
    for text in &printed {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(key_part), "{text}");
        assert!(!text.contains("url-token-93af"), "{text}");
    }
    assert!(printed[0].contains("[REDACTED]") && printed[2].contains("[REDACTED]"));
    assert_eq!(email_transport.name(), "email");
    assert_eq!(Security::default(), Security::Starttls);
}
