//! Credentials: what proves an integration may act for a marketplace account.
//!
//! Every secret is a [`SecretString`]: `Debug` shows `[REDACTED]`, and there is no `Display` or
//! `Serialize` of a secret. Reading one is an explicit `expose_secret()`; serialising credentials
//! (for encrypted storage) is the explicit, named call [`Credentials::expose_for_storage`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

/// An API token used as is (Reverb's personal access token). Replaced by hand.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiToken {
    /// The token.
    pub token: SecretString,
}

/// A seller id and secret (OfferUp's Seller ID + Seller Secret). Regenerating the secret makes
/// the old one stop working at once.
#[derive(Clone, Debug, Deserialize)]
pub struct SellerSecret {
    /// The seller id (not secret).
    pub seller_id: String,
    /// The seller secret ("auth token").
    pub seller_secret: SecretString,
}

/// OAuth tokens for an account (ChannelAdvisor: a reusable refresh token and a one-hour access
/// token, plus the profile id the tokens act for).
#[derive(Clone, Debug, Deserialize)]
pub struct OAuthTokens {
    /// The current access token, if one has been obtained.
    pub access_token: Option<SecretString>,
    /// When the access token expires.
    pub access_expires_at: Option<DateTime<Utc>>,
    /// The refresh token.
    pub refresh_token: SecretString,
    /// When the refresh token stops working, where the channel says.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The account/profile the tokens act for (ChannelAdvisor ProfileID).
    pub profile_id: Option<String>,
}

/// A login-type session: obtained by the seller logging in at the channel's own page (Allegro,
/// Tradera), with an expiry. Renewed automatically where the channel allows (Allegro's rotating
/// refresh token); otherwise the seller must log in again before it expires (Tradera).
#[derive(Clone, Debug, Deserialize)]
pub struct LoginSession {
    /// The channel's id of the user who logged in (Tradera user id, Allegro user name).
    pub user_id: Option<String>,
    /// The session/access token.
    pub token: SecretString,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// The renewal token, where the channel has one (single-use and rotating on Allegro).
    pub refresh_token: Option<SecretString>,
    /// When the renewal token itself expires (Allegro: 3 months). After that the seller must log
    /// in again.
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// One field of manually entered credentials.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ManualField {
    /// A value that is not secret (a username, a merchant id).
    Plain(String),
    /// A secret (a password, an API key).
    Secret(SecretString),
}

/// Credentials entered by hand as the channel asks: username, password, API token, merchant id…
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct ManualCredentials {
    /// The fields, by name.
    pub fields: BTreeMap<String, ManualField>,
}

impl ManualCredentials {
    /// Adds a plain field.
    pub fn with_plain(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields
            .insert(name.into(), ManualField::Plain(value.into()));
        self
    }

    /// Adds a secret field.
    pub fn with_secret(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.insert(
            name.into(),
            ManualField::Secret(SecretString::from(value.into())),
        );
        self
    }
}

/// The credentials of one integration.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Credentials {
    /// An API token (Reverb).
    ApiToken(ApiToken),
    /// Seller id + secret (OfferUp, entered into ChannelAdvisor).
    SellerSecret(SellerSecret),
    /// OAuth tokens + profile id (ChannelAdvisor).
    #[serde(rename = "oauth")]
    OAuth(OAuthTokens),
    /// A login-type session with expiry (Allegro, Tradera).
    LoginSession(LoginSession),
    /// Manually entered fields.
    Manual(ManualCredentials),
}

/// Which kind of credentials, without any of their content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// [`Credentials::ApiToken`].
    ApiToken,
    /// [`Credentials::SellerSecret`].
    SellerSecret,
    /// [`Credentials::OAuth`].
    #[serde(rename = "oauth")]
    OAuth,
    /// [`Credentials::LoginSession`].
    LoginSession,
    /// [`Credentials::Manual`].
    Manual,
}

impl Credentials {
    /// An API token.
    pub fn api_token(token: impl Into<String>) -> Self {
        Credentials::ApiToken(ApiToken {
            token: SecretString::from(token.into()),
        })
    }

    /// A seller id and secret.
    pub fn seller_secret(seller_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials::SellerSecret(SellerSecret {
            seller_id: seller_id.into(),
            seller_secret: SecretString::from(secret.into()),
        })
    }

    /// Which kind these are.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credentials::ApiToken(_) => CredentialKind::ApiToken,
            Credentials::SellerSecret(_) => CredentialKind::SellerSecret,
            Credentials::OAuth(_) => CredentialKind::OAuth,
            Credentials::LoginSession(_) => CredentialKind::LoginSession,
            Credentials::Manual(_) => CredentialKind::Manual,
        }
    }

    /// The moment after which the seller must act (log in again, or replace the credentials),
    /// when the credentials have one. Drives the "credentials expiring" notice.
    ///
    /// For a renewable session this is the end of the renewal token's life, not the access
    /// token's, which is renewed automatically.
    pub fn must_renew_by(&self) -> Option<DateTime<Utc>> {
        match self {
            Credentials::OAuth(t) => t.refresh_expires_at,
            Credentials::LoginSession(s) => match (&s.refresh_token, s.refresh_expires_at) {
                (Some(_), Some(at)) => Some(at),
                (Some(_), None) => None,
                (None, _) => Some(s.expires_at),
            },
            _ => None,
        }
    }

    /// A view that serialises every secret in clear text, for storing the credentials
    /// *encrypted*. Never log or display what it produces.
    pub fn expose_for_storage(&self) -> ExposedCredentials<'_> {
        ExposedCredentials(self)
    }
}

impl fmt::Display for Credentials {
    /// Names the kind and the non-secret identifiers only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApiToken(_) => f.write_str("API token"),
            Credentials::SellerSecret(s) => write!(f, "seller secret for seller {}", s.seller_id),
            Credentials::OAuth(t) => match &t.profile_id {
                Some(p) => write!(f, "OAuth tokens for profile {p}"),
                None => f.write_str("OAuth tokens"),
            },
            Credentials::LoginSession(s) => write!(f, "login session expiring {}", s.expires_at),
            Credentials::Manual(m) => {
                write!(f, "manual credentials (")?;
                for (i, name) in m.fields.keys().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(name)?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Credentials with their secrets exposed for serialisation. Made only by
/// [`Credentials::expose_for_storage`]; its JSON reads back with `serde` into [`Credentials`].
pub struct ExposedCredentials<'a>(&'a Credentials);

impl fmt::Debug for ExposedCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Even the exposing view does not print secrets.
        f.debug_tuple("ExposedCredentials").field(self.0).finish()
    }
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn expose_opt<S: Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// Serialisation mirror of [`Credentials`] with the same shape as its `Deserialize`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Mirror<'a> {
    ApiToken {
        #[serde(serialize_with = "expose")]
        token: &'a SecretString,
    },
    SellerSecret {
        seller_id: &'a str,
        #[serde(serialize_with = "expose")]
        seller_secret: &'a SecretString,
    },
    #[serde(rename = "oauth")]
    OAuth {
        #[serde(serialize_with = "expose_opt")]
        access_token: &'a Option<SecretString>,
        access_expires_at: Option<DateTime<Utc>>,
        #[serde(serialize_with = "expose")]
        refresh_token: &'a SecretString,
        refresh_expires_at: Option<DateTime<Utc>>,
        profile_id: &'a Option<String>,
    },
    LoginSession {
        user_id: &'a Option<String>,
        #[serde(serialize_with = "expose")]
        token: &'a SecretString,
        expires_at: DateTime<Utc>,
        #[serde(serialize_with = "expose_opt")]
        refresh_token: &'a Option<SecretString>,
        refresh_expires_at: Option<DateTime<Utc>>,
    },
    Manual(BTreeMap<&'a str, MirrorField<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
enum MirrorField<'a> {
    Plain(&'a str),
    Secret(#[serde(serialize_with = "expose")] &'a SecretString),
}

impl Serialize for ExposedCredentials<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `&&SecretString` deref: the serialize_with helpers take `&SecretString`.
        let mirror = match self.0 {
            Credentials::ApiToken(t) => Mirror::ApiToken { token: &t.token },
            Credentials::SellerSecret(t) => Mirror::SellerSecret {
                seller_id: &t.seller_id,
                seller_secret: &t.seller_secret,
            },
            Credentials::OAuth(t) => Mirror::OAuth {
                access_token: &t.access_token,
                access_expires_at: t.access_expires_at,
                refresh_token: &t.refresh_token,
                refresh_expires_at: t.refresh_expires_at,
                profile_id: &t.profile_id,
            },
            Credentials::LoginSession(t) => Mirror::LoginSession {
                user_id: &t.user_id,
                token: &t.token,
                expires_at: t.expires_at,
                refresh_token: &t.refresh_token,
                refresh_expires_at: t.refresh_expires_at,
            },
            Credentials::Manual(m) => Mirror::Manual(
                m.fields
                    .iter()
                    .map(|(k, v)| {
                        let f = match v {
                            ManualField::Plain(p) => MirrorField::Plain(p),
                            ManualField::Secret(s) => MirrorField::Secret(s),
                        };
                        (k.as_str(), f)
                    })
                    .collect(),
            ),
        };
        mirror.serialize(s)
    }
}

/// What the host supplies to start a login-type authorization.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// Where the channel should send the seller back after logging in (authorization-code
    /// flows).
    pub redirect_uri: Option<Url>,
    /// Use the device flow (the seller types a code at the channel's page) where the channel
    /// has one.
    pub device_flow: bool,
}

/// The first step of a login-type authorization: where to send the seller, and what to keep
/// until the second step.
///
/// The URL can hold a secret (Tradera's `skey`): `Debug` prints it through
/// [`RedactedUrl`](crate::redact::RedactedUrl). Send the seller to `url` itself.
pub struct AuthorizationStart {
    /// The URL of the channel's login page.
    pub url: Url,
    /// The code the seller types at the page (device flow).
    pub user_code: Option<String>,
    /// What to keep for [`Channel::complete_authorization`](crate::Channel::complete_authorization).
    pub pending: PendingAuthorization,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field(
                "redirect_uri",
                &crate::redact::redact_opt_url(self.redirect_uri.as_ref()),
            )
            .field("device_flow", &self.device_flow)
            .finish()
    }
}

impl fmt::Debug for AuthorizationStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationStart")
            .field("url", &crate::redact::RedactedUrl(&self.url))
            .field("user_code", &self.user_code)
            .field("pending", &self.pending)
            .finish()
    }
}

/// State kept between the two steps of an authorization. Holds a secret (a PKCE verifier, a
/// device code, Tradera's secret key); store it only encrypted, through
/// [`PendingAuthorization::expose_for_storage`].
#[derive(Clone, Debug, Deserialize)]
pub struct PendingAuthorization {
    /// The state value sent to the channel and expected back.
    pub state: String,
    /// The secret half of the flow.
    pub secret: SecretString,
    /// When the flow started.
    pub started_at: DateTime<Utc>,
    /// When the flow can no longer complete.
    pub expires_at: Option<DateTime<Utc>>,
    /// How long to wait between polls (device flow).
    pub poll_interval: Option<Duration>,
}

impl PendingAuthorization {
    /// A view that serialises the secret in clear text, for encrypted storage.
    pub fn expose_for_storage(&self) -> ExposedPending<'_> {
        ExposedPending(self)
    }
}

/// [`PendingAuthorization`] with its secret exposed for serialisation.
pub struct ExposedPending<'a>(&'a PendingAuthorization);

impl fmt::Debug for ExposedPending<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExposedPending").field(self.0).finish()
    }
}

impl Serialize for ExposedPending<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct P<'a> {
            state: &'a str,
            #[serde(serialize_with = "expose")]
            secret: &'a SecretString,
            started_at: DateTime<Utc>,
            expires_at: Option<DateTime<Utc>>,
            poll_interval: Option<Duration>,
        }
        P {
            state: &self.0.state,
            secret: &self.0.secret,
            started_at: self.0.started_at,
            expires_at: self.0.expires_at,
            poll_interval: self.0.poll_interval,
        }
        .serialize(s)
    }
}

/// What the channel handed back after the seller logged in: the query parameters of the
/// redirect (`code`, `state`, Tradera's `userId` and `token`), or nothing for a device-flow poll.
#[derive(Clone, Default, Deserialize)]
pub struct AuthorizationCallback {
    /// The parameters, by name.
    pub params: BTreeMap<String, SecretString>,
}

impl AuthorizationCallback {
    /// A callback from parameters.
    pub fn from_params<K: Into<String>, V: Into<String>>(
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            params: params
                .into_iter()
                .map(|(k, v)| (k.into(), SecretString::from(v.into())))
                .collect(),
        }
    }

    /// One parameter, exposed.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(|v| v.expose_secret())
    }
}

impl fmt::Debug for AuthorizationCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: a code or a token in a callback is as good as a password.
        f.debug_struct("AuthorizationCallback")
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The result of the second step of an authorization.
#[derive(Debug)]
pub enum AuthorizationOutcome {
    /// The seller logged in; these are the new credentials.
    Authorized(Credentials),
    /// Device flow: the seller has not finished yet; poll again after the interval.
    Pending {
        /// How long to wait before polling again.
        poll_after: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_round_trip() {
        let all = [
            Credentials::api_token("tok-1"),
            Credentials::seller_secret("seller-9", "sec-2"),
            Credentials::OAuth(OAuthTokens {
                access_token: Some("acc-3".to_owned().into()),
                access_expires_at: Some(Utc::now()),
                refresh_token: "ref-4".to_owned().into(),
                refresh_expires_at: None,
                profile_id: Some("12345678".into()),
            }),
            Credentials::LoginSession(LoginSession {
                user_id: Some("77".into()),
                token: "ses-5".to_owned().into(),
                expires_at: Utc::now(),
                refresh_token: Some("ren-6".to_owned().into()),
                refresh_expires_at: Some(Utc::now()),
            }),
            Credentials::Manual(
                ManualCredentials::default()
                    .with_plain("username", "bob")
                    .with_secret("password", "pw-7"),
            ),
        ];
        for c in all {
            let json = serde_json::to_string(&c.expose_for_storage()).unwrap();
            let back: Credentials = serde_json::from_str(&json).unwrap();
            assert_eq!(back.kind(), c.kind());
            assert_eq!(
                serde_json::to_string(&back.expose_for_storage()).unwrap(),
                json
            );
        }
    }
}
