//! Secrets never appear in Debug, Display, serde (where allowed) or error output.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use marketsync_core::credentials::{
    ApiToken, LoginSession, ManualCredentials, OAuthTokens, SellerSecret,
};
use marketsync_core::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, Channel, ChannelKind,
    Credentials, ExposeSecret, MemoryChannel, PendingAuthorization, SecretString,
};

const SECRETS: &[&str] = &[
    "tok-SECRET-1",
    "sec-SECRET-2",
    "acc-SECRET-3",
    "ref-SECRET-4",
    "ses-SECRET-5",
    "ren-SECRET-6",
    "pw-SECRET-7",
    "key-SECRET-8",
    "pkce-SECRET-9",
    "code-SECRET-10",
];

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_owned())
}

fn all_credentials() -> Vec<Credentials> {
    let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    vec![
        Credentials::ApiToken(ApiToken {
            token: s("tok-SECRET-1"),
        }),
        Credentials::SellerSecret(SellerSecret {
            seller_id: "seller-42".into(),
            seller_secret: s("sec-SECRET-2"),
        }),
        Credentials::OAuth(OAuthTokens {
            access_token: Some(s("acc-SECRET-3")),
            access_expires_at: Some(t),
            refresh_token: s("ref-SECRET-4"),
            refresh_expires_at: Some(t),
            profile_id: Some("12345678".into()),
        }),
        Credentials::LoginSession(LoginSession {
            user_id: Some("777".into()),
            token: s("ses-SECRET-5"),
            expires_at: t,
            refresh_token: Some(s("ren-SECRET-6")),
            refresh_expires_at: Some(t),
        }),
        Credentials::Manual(
            ManualCredentials::default()
                .with_plain("username", "bob")
                .with_secret("password", "pw-SECRET-7")
                .with_secret("api_key", "key-SECRET-8"),
        ),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaked {secret:?}: {text}");
    }
}

#[test]
fn credentials_print_no_secret() {
    for c in all_credentials() {
        assert_clean("Debug", &format!("{c:?}"));
        assert_clean("pretty Debug", &format!("{c:#?}"));
        assert_clean("Display", &format!("{c}"));
        assert_clean(
            "exposed view Debug",
            &format!("{:?}", c.expose_for_storage()),
        );
        // Display still says what the credentials are.
        assert!(!c.to_string().is_empty());
    }
    // The non-secret identifiers stay visible: they are what a person needs to recognise them.
    let shown: Vec<String> = all_credentials().iter().map(|c| c.to_string()).collect();
    assert!(shown.iter().any(|s| s.contains("seller-42")));
    assert!(shown.iter().any(|s| s.contains("12345678")));
    assert!(
        shown
            .iter()
            .any(|s| s.contains("username") && s.contains("password"))
    );
}

#[test]
fn serialising_secrets_is_an_explicit_named_call() {
    // The exposed view is the only way to serialise credentials, and it does carry the secrets
    // (for encrypted storage) — which proves the other paths above had them to leak.
    for c in all_credentials() {
        let json = serde_json::to_string(&c.expose_for_storage()).unwrap();
        assert!(SECRETS.iter().any(|s| json.contains(s)), "{json}");
        let back: Credentials = serde_json::from_str(&json).unwrap();
        assert_clean("Debug after round trip", &format!("{back:?}"));
    }
}

#[test]
fn authorization_state_prints_no_secret() {
    let pending = PendingAuthorization {
        state: "state-visible".into(),
        secret: s("pkce-SECRET-9"),
        started_at: Utc::now(),
        expires_at: None,
        poll_interval: None,
    };
    assert_clean("pending Debug", &format!("{pending:?}"));
    assert_clean(
        "pending exposed Debug",
        &format!("{:?}", pending.expose_for_storage()),
    );
    let json = serde_json::to_string(&pending.expose_for_storage()).unwrap();
    let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
    assert_eq!(back.secret.expose_secret(), "pkce-SECRET-9");

    let callback = AuthorizationCallback::from_params([("code", "code-SECRET-10"), ("state", "x")]);
    let text = format!("{callback:?}");
    assert_clean("callback Debug", &text);
    assert!(
        text.contains("code"),
        "parameter names stay visible: {text}"
    );
    assert_eq!(callback.param("code"), Some("code-SECRET-10"));
}

#[tokio::test]
async fn errors_and_outcomes_print_no_secret() {
    let channel =
        MemoryChannel::new(ChannelKind::Allegro).with_capabilities(marketsync_core::Capabilities {
            login_authorization: true,
            ..marketsync_core::Capabilities::all()
        });
    let start = channel
        .begin_authorization(&AuthorizationRequest::default())
        .await
        .unwrap();
    assert_clean("start Debug", &format!("{start:?}"));
    let state = start.pending.state.clone();
    // A wrong state: the error must not echo the code or the pending secret.
    let bad = AuthorizationCallback::from_params([("code", "code-SECRET-10"), ("state", "nope")]);
    let err = channel
        .complete_authorization(&start.pending, &bad)
        .await
        .unwrap_err();
    assert_clean("error Display", &err.to_string());
    assert_clean("error Debug", &format!("{err:?}"));
    assert!(
        !err.to_string()
            .contains(start.pending.secret.expose_secret())
    );

    let good = AuthorizationCallback::from_params([("code", "code-SECRET-10"), ("state", &state)]);
    let outcome = channel
        .complete_authorization(&start.pending, &good)
        .await
        .unwrap();
    let AuthorizationOutcome::Authorized(creds) = &outcome else {
        panic!("expected credentials, got {outcome:?}");
    };
    let Credentials::LoginSession(session) = creds else {
        panic!("expected a login session");
    };
    let token = session.token.expose_secret().to_owned();
    for text in [
        format!("{outcome:?}"),
        format!("{creds}"),
        format!("{creds:?}"),
    ] {
        assert!(!text.contains(&token), "session token leaked: {text}");
    }
}

#[test]
fn manual_fields_deserialise_as_secrets() {
    let json = r#"{"type":"manual","password":{"kind":"secret","value":"pw-SECRET-7"},"user":{"kind":"plain","value":"bob"}}"#;
    let c: Credentials = serde_json::from_str(json).unwrap();
    assert_clean("Debug", &format!("{c:?}"));
    let Credentials::Manual(m) = c else { panic!() };
    let names: BTreeMap<_, _> = m.fields.iter().collect();
    assert_eq!(names.len(), 2);
}

#[test]
fn authorization_urls_print_without_their_secrets() {
    use marketsync_core::AuthorizationStart;
    // Tradera's token login carries the secret key in the URL the seller opens.
    let url: url::Url =
        "https://api.tradera.com/tokenlogin.aspx?appId=1234&pkey=pub-1&skey=key-SECRET-8"
            .parse()
            .unwrap();
    let start = AuthorizationStart {
        url: url.clone(),
        user_code: Some("ABCD-EFGH".into()),
        pending: PendingAuthorization {
            state: "state-visible".into(),
            secret: s("key-SECRET-8"),
            started_at: Utc::now(),
            expires_at: None,
            poll_interval: None,
        },
    };
    for text in [format!("{start:?}"), format!("{start:#?}")] {
        assert_clean("start Debug", &text);
        assert!(
            text.contains("https://api.tradera.com/tokenlogin.aspx?appId=1234"),
            "host, path and plain parameters stay readable: {text}"
        );
        assert!(text.contains("skey=[REDACTED]"), "{text}");
        assert!(
            text.contains("ABCD-EFGH"),
            "the code the seller types is shown: {text}"
        );
    }
    // The URL itself is untouched: the seller must be sent to the real one.
    assert_eq!(start.url, url);

    // A redirect URI with a code, a token and a password in it.
    let request = AuthorizationRequest {
        redirect_uri: Some(
            "https://bob:pw-SECRET-7@seller.example.com/cb?code=code-SECRET-10&access_token=acc-SECRET-3&shop=main"
                .parse()
                .unwrap(),
        ),
        device_flow: false,
    };
    let text = format!("{request:?}");
    assert_clean("request Debug", &text);
    assert!(text.contains("seller.example.com/cb"), "{text}");
    assert!(text.contains("shop=main"), "{text}");
}
