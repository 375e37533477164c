//! OAuth2 on the `oauth2` crate, over our own reqwest client: the token endpoint calls
//! (refresh, authorization code with PKCE, device flow) and the [`TokenManager`] that keeps an
//! access token fresh.
//!
//! Failures of the token endpoint become [`ChannelError`]s: `invalid_grant` is
//! `Auth` / [`BrokenReason::LoginRequired`], bad client credentials are `Auth` /
//! [`BrokenReason::CredentialsRejected`], 429 is `RateLimited`, 5xx and connection failures are
//! `Transient`. The error carries the endpoint's own message, with every secret of the request
//! (refresh token, code, verifier, client secret) replaced by `[REDACTED]` — Allegro echoes the
//! refresh token in its `invalid_grant` description.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::redact::{RedactedUrl, redact_opt_url, redact_url_str};
use marketsync_core::{
    AuthorizationCallback, AuthorizationStart, BrokenReason, ChannelError, Clock, ErrorKind,
    ExposeSecret, PendingAuthorization, SecretString, SystemClock,
};
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;
use url::Url;

use crate::classify::{ErrorResponse, channel_message, redact, redact_body};
use crate::client::{USER_AGENT, copy_error, transport, transport_error};
use crate::retry::retry_after;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic `client_id:client_secret` (ChannelAdvisor, Allegro).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
}

/// The OAuth2 endpoints and client credentials of one marketplace application.
#[derive(Clone)]
pub struct OAuthConfig {
    /// The client (application) id.
    pub client_id: String,
    /// The client secret, when the application has one.
    pub client_secret: Option<SecretString>,
    /// The token endpoint.
    pub token_url: Url,
    /// The authorization (login page) endpoint, for the authorization-code flow.
    pub authorize_url: Option<Url>,
    /// The device authorization endpoint, for the device flow.
    pub device_authorization_url: Option<Url>,
    /// Where the channel sends the seller back after logging in.
    pub redirect_url: Option<Url>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// Timeout of one token-endpoint request.
    pub timeout: Duration,
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("token_url", &RedactedUrl(&self.token_url))
            .field(
                "authorize_url",
                &redact_opt_url(self.authorize_url.as_ref()),
            )
            .field(
                "device_authorization_url",
                &redact_opt_url(self.device_authorization_url.as_ref()),
            )
            .field("redirect_url", &redact_opt_url(self.redirect_url.as_ref()))
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

impl OAuthConfig {
    /// A configuration with a token endpoint, HTTP Basic client authentication and a 30 s
    /// timeout. Add the other endpoints with the `with_` methods.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        token_url: Url,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            token_url,
            authorize_url: None,
            device_authorization_url: None,
            redirect_url: None,
            client_auth: ClientAuth::Basic,
            timeout: Duration::from_secs(30),
        }
    }

    /// Sets the authorization endpoint.
    pub fn with_authorize_url(mut self, url: Url) -> Self {
        self.authorize_url = Some(url);
        self
    }

    /// Sets the device authorization endpoint.
    pub fn with_device_authorization_url(mut self, url: Url) -> Self {
        self.device_authorization_url = Some(url);
        self
    }

    /// Sets the redirect URL.
    pub fn with_redirect_url(mut self, url: Url) -> Self {
        self.redirect_url = Some(url);
        self
    }

    /// Sets how the client authenticates at the token endpoint.
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }
}

/// Tokens from the token endpoint.
#[derive(Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: SecretString,
    /// When the access token expires, when the channel said.
    pub expires_at: Option<DateTime<Utc>>,
    /// The refresh token, when there is one.
    pub refresh_token: Option<SecretString>,
    /// The granted scopes, when the channel said.
    pub scopes: Vec<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl TokenSet {
    /// Whether the access token is still good for at least `margin` at `now` (a token without
    /// a known expiry is good until the channel refuses it).
    pub fn is_fresh(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = TimeDelta::from_std(margin).unwrap_or(TimeDelta::MAX);
        self.expires_at
            .is_none_or(|exp| now.checked_add_signed(margin).is_some_and(|t| t < exp))
    }

    fn from_response(
        response: &BasicTokenResponse,
        now: DateTime<Utc>,
        previous_refresh: Option<&SecretString>,
    ) -> Self {
        Self {
            access_token: SecretString::from(response.access_token().secret().as_str()),
            expires_at: response
                .expires_in()
                .and_then(|d| TimeDelta::from_std(d).ok())
                .and_then(|d| now.checked_add_signed(d)),
            refresh_token: response
                .refresh_token()
                .map(|r| SecretString::from(r.secret().as_str()))
                .or_else(|| previous_refresh.cloned()),
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        }
    }
}

/// The first step of an authorization-code login with PKCE.
pub struct AuthorizationCodeStart {
    /// The channel's login page, with `state` and the S256 `code_challenge`.
    pub url: Url,
    /// The state value the channel must send back.
    pub state: String,
    /// The PKCE verifier, kept (encrypted) until [`OAuthClient::exchange_code`].
    pub pkce_verifier: SecretString,
}

impl fmt::Debug for AuthorizationCodeStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeStart")
            .field("url", &RedactedUrl(&self.url))
            .field("state", &self.state)
            .field("pkce_verifier", &"[REDACTED]")
            .finish()
    }
}

/// The first step of a device-flow login: what to show the seller, and what to poll with.
pub struct DeviceAuthorization {
    /// The page where the seller types the code.
    pub verification_uri: String,
    /// The page with the code filled in, when the channel gives one.
    pub verification_uri_complete: Option<String>,
    /// The code the seller types.
    pub user_code: String,
    /// The device code to poll with (secret).
    pub device_code: SecretString,
    /// How long the codes are valid.
    pub expires_in: Duration,
    /// How long to wait between polls.
    pub interval: Duration,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("verification_uri", &redact_url_str(&self.verification_uri))
            .field(
                "verification_uri_complete",
                &self
                    .verification_uri_complete
                    .as_deref()
                    .map(redact_url_str),
            )
            .field("user_code", &self.user_code)
            .field("device_code", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The outcome of one device-flow poll.
#[derive(Debug)]
pub enum DevicePoll {
    /// The seller approved; these are the tokens.
    Authorized(TokenSet),
    /// The seller has not finished (`authorization_pending`, or `slow_down`, which adds 5 s to
    /// the interval); poll again after `poll_after`.
    Pending {
        /// How long to wait before the next poll.
        poll_after: Duration,
    },
}

/// What our HTTP function hands back to `oauth2` when the token endpoint did not answer 200.
#[derive(Debug)]
struct TokenHttpError {
    error: ChannelError,
    oauth_error: Option<String>,
}

impl fmt::Display for TokenHttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for TokenHttpError {}

/// `oauth2`'s HTTP client: our reqwest client, through [`OAuthClient::execute`].
struct TokenHttp<'a>(&'a OAuthClient);

type TokenFuture<'c> =
    Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TokenHttpError>> + Send + 'c>>;

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = TokenHttpError;
    type Future = TokenFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.0.execute(request))
    }
}

/// Token-endpoint calls for one application: refresh, authorization code with PKCE, device
/// flow. Requests go through our own reqwest client (rustls, our user agent, timeouts, tracing).
#[derive(Clone)]
pub struct OAuthClient {
    config: Arc<OAuthConfig>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// A client for `config`, reading time from the system clock.
    pub fn new(config: OAuthConfig) -> Result<Self, ChannelError> {
        Ok(Self {
            http: transport(USER_AGENT, Some(Duration::from_secs(10)))?,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for token expiry times.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn base(
        &self,
    ) -> oauth2::basic::BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        let c = &self.config;
        let mut client = BasicClient::new(ClientId::new(c.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(c.token_url.clone()))
            .set_auth_type(match c.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::RequestBody => AuthType::RequestBody,
            });
        if let Some(secret) = &c.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        if let Some(redirect) = &c.redirect_url {
            client = client.set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
        }
        client
    }

    fn missing(what: &str) -> ChannelError {
        ChannelError::unsupported(format!("the OAuth configuration has no {what}"))
    }

    /// Exchanges a refresh token for new tokens. A response without a refresh token keeps the
    /// old one (ChannelAdvisor's refresh tokens do not rotate; Allegro's do).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ChannelError> {
        let client = self.base();
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let http = TokenHttp(self);
        let response = client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await
            .map_err(map_token_error)?;
        Ok(TokenSet::from_response(
            &response,
            self.now(),
            Some(refresh_token),
        ))
    }

    /// Starts an authorization-code login with PKCE: the login page URL with a fresh `state`
    /// and an S256 challenge.
    pub fn authorize(&self, scopes: &[&str]) -> Result<AuthorizationCodeStart, ChannelError> {
        let auth_url = self
            .config
            .authorize_url
            .clone()
            .ok_or_else(|| Self::missing("authorization URL"))?;
        let client = self.base().set_auth_uri(AuthUrl::from_url(auth_url));
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationCodeStart {
            url,
            state: state.secret().clone(),
            pkce_verifier: SecretString::from(verifier.secret().as_str()),
        })
    }

    /// Completes an authorization-code login: checks that `returned_state` is the state of
    /// [`authorize`](Self::authorize), then exchanges the code (with the PKCE verifier).
    pub async fn exchange_code(
        &self,
        code: &SecretString,
        returned_state: &str,
        expected_state: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenSet, ChannelError> {
        if returned_state != expected_state {
            return Err(ChannelError::auth(
                BrokenReason::LoginRequired,
                "the login answer does not belong to this authorization (state mismatch); start the login again",
            ));
        }
        let client = self.base();
        let http = TokenHttp(self);
        let response = client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&http)
            .await
            .map_err(map_token_error)?;
        Ok(TokenSet::from_response(&response, self.now(), None))
    }

    /// Starts an authorization-code login of a new connection: checks that a redirect URI is
    /// registered (the config's `redirect_url`) and that the host asks for that one
    /// (`requested`), then builds the login page's URL ([`authorize`](Self::authorize)) and the
    /// pending authorization the host keeps until the seller comes back (state, PKCE verifier,
    /// valid `valid_for` from `now`). `marketplace` names the marketplace in the errors, which
    /// are `Invalid` on the field `redirect_uri`.
    pub fn begin_code_login(
        &self,
        marketplace: &str,
        requested: Option<&Url>,
        scopes: &[&str],
        now: DateTime<Utc>,
        valid_for: TimeDelta,
    ) -> Result<AuthorizationStart, ChannelError> {
        let Some(registered) = &self.config.redirect_url else {
            return Err(ChannelError::invalid(format!(
                "no redirect URI is configured for the {marketplace} application"
            ))
            .with_field("redirect_uri"));
        };
        if requested.is_some_and(|r| r != registered) {
            return Err(ChannelError::invalid(format!(
                "the redirect URI must be the one registered for the {marketplace} application"
            ))
            .with_field("redirect_uri"));
        }
        let start = self.authorize(scopes)?;
        Ok(AuthorizationStart {
            url: start.url,
            user_code: None,
            pending: PendingAuthorization {
                state: start.state,
                secret: start.pkce_verifier,
                started_at: now,
                expires_at: now.checked_add_signed(valid_for),
                poll_interval: None,
            },
        })
    }

    /// Completes an authorization-code login from the redirect the seller's browser brought
    /// back: an `error` parameter (the seller refused, or the marketplace failed) is `Auth` /
    /// `LoginRequired` with the marketplace's `error_description`; without a `code` it is
    /// `Invalid`; otherwise the code is exchanged ([`exchange_code`](Self::exchange_code)) with
    /// the callback's `state` checked against `pending`'s. `marketplace` names the marketplace
    /// in the errors.
    pub async fn exchange_callback(
        &self,
        marketplace: &str,
        callback: &AuthorizationCallback,
        pending: &PendingAuthorization,
    ) -> Result<TokenSet, ChannelError> {
        if let Some(error) = callback.param("error") {
            let message = callback
                .param("error_description")
                .unwrap_or(error)
                .to_owned();
            return Err(ChannelError::auth(
                BrokenReason::LoginRequired,
                format!("the seller did not grant access at {marketplace}"),
            )
            .with_channel_message(message));
        }
        let code = callback.param("code").ok_or_else(|| {
            ChannelError::invalid(format!("{marketplace} sent no authorization code"))
        })?;
        self.exchange_code(
            &SecretString::from(code),
            callback.param("state").unwrap_or(""),
            &pending.state,
            &pending.secret,
        )
        .await
    }

    /// Starts a device-flow login: the verification page and the code the seller types there.
    pub async fn begin_device(&self, scopes: &[&str]) -> Result<DeviceAuthorization, ChannelError> {
        let device_url = self
            .config
            .device_authorization_url
            .clone()
            .ok_or_else(|| Self::missing("device authorization URL"))?;
        let client = self
            .base()
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(device_url));
        let http = TokenHttp(self);
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .request_async(&http)
            .await
            .map_err(map_token_error)?;
        Ok(DeviceAuthorization {
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|u| u.secret().clone()),
            user_code: details.user_code().secret().clone(),
            device_code: SecretString::from(details.device_code().secret().as_str()),
            expires_in: details.expires_in(),
            interval: details.interval(),
        })
    }

    /// Polls the token endpoint once for a device-flow login. `authorization_pending` and
    /// `slow_down` are [`DevicePoll::Pending`]; `access_denied` and `expired_token` are `Auth`
    /// errors with [`BrokenReason::LoginRequired`].
    ///
    /// This is one form POST (RFC 8628 section 3.4) whose answer is parsed with `oauth2`'s token
    /// response type: `oauth2`'s own poll loop retries failed requests until the code expires,
    /// which does not fit a host that polls step by step.
    pub async fn poll_device(
        &self,
        device_code: &SecretString,
        interval: Duration,
    ) -> Result<DevicePoll, ChannelError> {
        let c = &self.config;
        let mut form = vec![
            ("grant_type", DEVICE_GRANT.to_owned()),
            ("device_code", device_code.expose_secret().to_owned()),
        ];
        let mut request = self.http.post(c.token_url.clone());
        match (&c.client_auth, &c.client_secret) {
            (ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 section 2.3.1: both parts form-encoded before Basic encoding.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request =
                    request.basic_auth(encode(&c.client_id), Some(encode(secret.expose_secret())));
            }
            (_, secret) => {
                form.push(("client_id", c.client_id.clone()));
                if let Some(secret) = secret {
                    form.push(("client_secret", secret.expose_secret().to_owned()));
                }
            }
        }
        let request = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .build()
            .map_err(|e| {
                ChannelError::new(ErrorKind::Channel, "could not build the device poll")
                    .with_source(e.without_url())
            })?;
        let secrets = vec![device_code.expose_secret().to_owned()];
        match self.send_token_request(request, secrets).await {
            Ok((_, body)) => {
                let response: BasicTokenResponse = serde_json::from_slice(&body).map_err(|_| {
                    ChannelError::new(
                        ErrorKind::Channel,
                        "the token endpoint's answer could not be read",
                    )
                })?;
                Ok(DevicePoll::Authorized(TokenSet::from_response(
                    &response,
                    self.now(),
                    None,
                )))
            }
            Err(e) => match e.oauth_error.as_deref() {
                Some("authorization_pending") => Ok(DevicePoll::Pending {
                    poll_after: interval,
                }),
                Some("slow_down") => Ok(DevicePoll::Pending {
                    poll_after: interval + Duration::from_secs(5),
                }),
                _ => Err(e.error),
            },
        }
    }

    /// `oauth2`'s HTTP function: one token-endpoint request through [`send_token_request`]
    /// (Self::send_token_request). 200 goes back to `oauth2` to be parsed; anything else is a
    /// classified [`ChannelError`].
    async fn execute(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, TokenHttpError> {
        let secrets = form_secrets(request.body());
        let req = reqwest::Request::try_from(request).map_err(|e| TokenHttpError {
            error: ChannelError::new(ErrorKind::Channel, "could not build the token request")
                .with_source(e.without_url()),
            oauth_error: None,
        })?;
        let (headers, body) = self.send_token_request(req, secrets).await?;
        let mut response = oauth2::http::Response::new(body);
        *response.status_mut() = StatusCode::OK;
        *response.headers_mut() = headers;
        Ok(response)
    }

    /// Sends one token-endpoint request. Returns the headers and body of a 200; anything else
    /// becomes a classified [`ChannelError`], with the request's secrets (`secrets`, plus the
    /// client secret) redacted from the endpoint's message.
    async fn send_token_request(
        &self,
        mut req: reqwest::Request,
        mut secrets: Vec<String>,
    ) -> Result<(HeaderMap, Vec<u8>), TokenHttpError> {
        if let Some(s) = &self.config.client_secret {
            secrets.push(s.expose_secret().to_owned());
        }
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        if let Some(auth) = req.headers_mut().get_mut(reqwest::header::AUTHORIZATION) {
            auth.set_sensitive(true);
        }
        *req.timeout_mut() = Some(self.config.timeout);

        let span = tracing::info_span!(
            "marketsync_http.token_request",
            path = %req.url().path(),
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        async {
            let started = tokio::time::Instant::now();
            let outcome = async {
                let response = self.http.execute(req).await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .await;
            let span = tracing::Span::current();
            span.record("duration_ms", started.elapsed().as_millis() as u64);
            let (status, mut headers, body) = outcome.map_err(|e| TokenHttpError {
                error: transport_error(e),
                oauth_error: None,
            })?;
            span.record("status", status.as_u16());
            let body = redact_body(body, &secret_refs);

            if status == StatusCode::OK {
                let body = lenient_numbers(body);
                // oauth2 insists on a JSON content type; some endpoints label JSON otherwise.
                if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
                    headers.insert(
                        reqwest::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                return Ok((headers, body));
            }
            let response = ErrorResponse {
                status,
                headers: &headers,
                body: &body,
                received_at: self.now(),
            };
            let error = classify_token_error(&response);
            tracing::debug!(kind = %error.kind(), "token request failed");
            Err(TokenHttpError {
                oauth_error: oauth_error_code(&body),
                error,
            })
        }
        .instrument(span)
        .await
    }
}

/// The values of the secret parameters of a token-request form.
fn form_secrets(body: &[u8]) -> Vec<String> {
    url::form_urlencoded::parse(body)
        .filter(|(k, _)| {
            matches!(
                k.as_ref(),
                "refresh_token"
                    | "code"
                    | "code_verifier"
                    | "device_code"
                    | "client_secret"
                    | "password"
                    | "assertion"
            )
        })
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// Some channels send `expires_in` / `interval` as strings (Allegro's device-flow sample);
/// `oauth2` wants numbers.
fn lenient_numbers(body: Vec<u8>) -> Vec<u8> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let mut changed = false;
    for key in ["expires_in", "interval"] {
        if let Some(Value::String(s)) = map.get(key)
            && let Ok(n) = s.trim().parse::<u64>()
        {
            map.insert(key.to_owned(), Value::from(n));
            changed = true;
        }
    }
    if changed {
        serde_json::to_vec(&Value::Object(map)).unwrap_or(body)
    } else {
        body
    }
}

fn oauth_error_code(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(map) => match map.get("error")? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Classifies a failed token-endpoint response (refresh, code exchange, device poll):
///
/// | answer | kind | reason |
/// |---|---|---|
/// | `invalid_grant`, `access_denied`, `expired_token` | `Auth` | `LoginRequired` |
/// | `invalid_client`, `unauthorized_client`, other 400, 401 | `Auth` | `CredentialsRejected` |
/// | `invalid_scope`, 403 | `Auth` | `PermissionDenied` |
/// | 429 | `RateLimited` (with `Retry-After`) | |
/// | 408, 5xx | `Transient` | |
///
/// The channel message is the endpoint's `error_description`, else its `error`, else
/// `message`, else the raw text. Redact secrets from the body before calling this.
pub fn classify_token_error(response: &ErrorResponse<'_>) -> ChannelError {
    let status = response.status.as_u16();
    let code = oauth_error_code(response.body);
    let error = match (status, code.as_deref()) {
        (429, _) => ChannelError::rate_limited(
            retry_after(response.headers, response.received_at),
            "the token endpoint's rate limit was exceeded",
        ),
        (408 | 500..=599, _) => {
            ChannelError::transient("the token endpoint had a temporary failure")
        }
        (_, Some("invalid_grant")) => ChannelError::auth(
            BrokenReason::LoginRequired,
            "the channel refused to renew the login (invalid_grant); the seller must log in again",
        ),
        (_, Some("access_denied")) => ChannelError::auth(
            BrokenReason::LoginRequired,
            "the seller did not approve the access",
        ),
        (_, Some("expired_token")) => ChannelError::auth(
            BrokenReason::LoginRequired,
            "the login code expired before the seller finished; start the login again",
        ),
        (_, Some("invalid_client" | "unauthorized_client")) => ChannelError::auth(
            BrokenReason::CredentialsRejected,
            "the channel rejected the application's client credentials",
        ),
        (_, Some("invalid_scope")) | (403, _) => ChannelError::auth(
            BrokenReason::PermissionDenied,
            "the channel refused the requested permissions",
        ),
        (400..=499, _) => ChannelError::auth(
            BrokenReason::CredentialsRejected,
            "the token endpoint refused the credentials",
        ),
        _ => ChannelError::new(
            ErrorKind::Channel,
            format!("the token endpoint answered with unexpected HTTP status {status}"),
        ),
    }
    .with_http_status(status);
    match channel_message(response.body) {
        Some(m) => error.with_channel_message(m),
        None => error,
    }
}

fn map_token_error<T: oauth2::ErrorResponse + 'static>(
    e: RequestTokenError<TokenHttpError, T>,
) -> ChannelError {
    match e {
        RequestTokenError::Request(e) => e.error,
        // Not reached with our HTTP function (it turns every non-200 into `Request`), kept
        // for completeness; the server's text is not copied as it could echo a secret.
        RequestTokenError::ServerResponse(_) => ChannelError::auth(
            BrokenReason::CredentialsRejected,
            "the token endpoint refused the request",
        ),
        // The parse error's text could quote a token: name only where it failed.
        RequestTokenError::Parse(e, _) => ChannelError::new(
            ErrorKind::Channel,
            format!(
                "the token endpoint's answer could not be read (at `{}`)",
                e.path()
            ),
        ),
        RequestTokenError::Other(why) => ChannelError::new(
            ErrorKind::Channel,
            format!("the token endpoint's answer could not be read: {why}"),
        ),
    }
}

/// Receives renewed tokens and persists them. Called after every successful refresh, before
/// the new access token is used by anyone; with rotating refresh tokens (Allegro's are
/// single-use) the new refresh token is the only one that still works.
///
/// # Several processes
///
/// The [`TokenManager`] renews once at a time within one process. When several processes share
/// one account's tokens, the store coordinates them across processes through three hooks
/// around each renewal, whose default bodies suit a single process:
///
/// 1. [`begin_renewal`](Self::begin_renewal), before the token endpoint is called: waits until
///    this process may renew, and may return the tokens stored now (another process may have
///    renewed them). The manager adopts those instead of refreshing when they differ from its
///    own, and refreshes them only if they too are due.
/// 2. [`extend_renewal`](Self::extend_renewal) right before the token endpoint is called: the
///    manager does not call it unless this answers `Ok(true)` (still held).
/// 3. [`store_renewed`](Self::store_renewed) with the renewed tokens; it may answer that
///    another process stored other tokens first, which the manager then uses.
/// 4. [`end_renewal`](Self::end_renewal), once, after storing or on failure — but not while
///    the renewed tokens are unsaved: the manager then keeps the renewal (extending it before
///    each try) and retries `store_renewed` in the background until the tokens are stored or
///    superseded, or the renewal is lost, and only then ends it. Releasing it earlier would let
///    another process renew with the stored refresh token, which this one has already spent.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Persists `tokens`. An error means the new access token is not used (the tokens stay in
    /// memory and the next request tries to persist them again).
    async fn store(&self, tokens: TokenSet) -> Result<(), ChannelError>;

    /// Called at the start of every renewal, before the refresh call: returns when this
    /// process may renew (holding that right until [`end_renewal`](Self::end_renewal)), with
    /// the tokens stored now when they may be newer than the manager's. An error fails the
    /// renewal (nothing refreshed, `end_renewal` not called). The default returns `None` at
    /// once.
    async fn begin_renewal(&self) -> Result<Option<TokenSet>, ChannelError> {
        Ok(None)
    }

    /// Persists renewed tokens within a renewal. `Some(tokens)`: nothing was written because
    /// other tokens were stored since the renewal began; the manager uses those. The default
    /// calls [`store`](Self::store).
    async fn store_renewed(&self, tokens: TokenSet) -> Result<Option<TokenSet>, ChannelError> {
        self.store(tokens).await.map(|()| None)
    }

    /// Extends the renewal [`begin_renewal`](Self::begin_renewal) started: `Ok(true)` while
    /// this process still holds it, `Ok(false)` when it was lost (another process may renew
    /// now). Called right before the token endpoint, which is not called otherwise, and before
    /// each new try of storing unsaved renewed tokens. The default answers `Ok(true)`.
    async fn extend_renewal(&self) -> Result<bool, ChannelError> {
        Ok(true)
    }

    /// Ends a renewal that [`begin_renewal`](Self::begin_renewal) started, after storing or
    /// on failure. The default does nothing.
    async fn end_renewal(&self) {}
}

#[async_trait]
impl<F, Fut> TokenStore for F
where
    F: Fn(TokenSet) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), ChannelError>> + Send,
{
    async fn store(&self, tokens: TokenSet) -> Result<(), ChannelError> {
        self(tokens).await
    }
}

/// Options of a [`TokenManager`].
#[derive(Clone, Debug)]
pub struct TokenOptions {
    /// Renew when the access token has less than this left (default 5 minutes).
    pub refresh_margin: Duration,
    /// The wall clock (default: the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for TokenOptions {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(300),
            clock: Arc::new(SystemClock),
        }
    }
}

type Outcome = Result<SecretString, ChannelError>;

struct State {
    tokens: TokenSet,
    /// The token store has the current tokens.
    persisted: bool,
    /// The channel refused the current access token (a 401).
    stale: bool,
    /// A permanent renewal failure; repeated until [`TokenManager::set_tokens`].
    failed: Option<ChannelError>,
    /// The renewal in flight, shared by every waiter.
    inflight: Option<watch::Receiver<Option<OutcomeCopy>>>,
}

/// An outcome that every waiter can take a copy of.
struct OutcomeCopy(Outcome);

impl Clone for OutcomeCopy {
    fn clone(&self) -> Self {
        OutcomeCopy(match &self.0 {
            Ok(t) => Ok(t.clone()),
            Err(e) => Err(copy_error(e)),
        })
    }
}

struct ManagerInner {
    oauth: OAuthClient,
    store: Box<dyn TokenStore>,
    options: TokenOptions,
    state: Mutex<State>,
}

/// Keeps one account's access token fresh. Cheap to clone; clones share the state.
///
/// - Renews before expiry (with [`TokenOptions::refresh_margin`]).
/// - Single-flight: however many callers find the token stale at once, one renewal runs; the
///   others wait for its outcome. The renewal runs in its own task, so a caller that gives up
///   waiting cannot cut it off between the channel rotating the refresh token and the new one
///   being stored. No lock is held across the HTTP call or the store call. A host shutting
///   down waits for it with [`renewals_idle`](Self::renewals_idle).
/// - Renewed tokens go to the [`TokenStore`] before the new access token is handed to anyone.
/// - A permanent failure (`invalid_grant`) is remembered and returned at once until
///   [`set_tokens`](Self::set_tokens) installs new tokens from a fresh login.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<ManagerInner>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("TokenManager")
            .field("oauth", &self.inner.oauth)
            .field("tokens", &st.tokens)
            .field("renewing", &st.inflight.is_some())
            .field("failed", &st.failed.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager starting from `tokens` (as loaded from storage), with default options.
    pub fn new(oauth: OAuthClient, tokens: TokenSet, store: impl TokenStore + 'static) -> Self {
        Self::with_options(oauth, tokens, store, TokenOptions::default())
    }

    /// A manager with explicit options.
    pub fn with_options(
        oauth: OAuthClient,
        tokens: TokenSet,
        store: impl TokenStore + 'static,
        options: TokenOptions,
    ) -> Self {
        Self {
            inner: Arc::new(ManagerInner {
                oauth,
                store: Box::new(store),
                options,
                state: Mutex::new(State {
                    tokens,
                    persisted: true,
                    stale: false,
                    failed: None,
                    inflight: None,
                }),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the current access token expires, when known.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.lock().tokens.expires_at
    }

    /// A fresh access token, renewing it first when needed.
    pub async fn access_token(&self) -> Result<SecretString, ChannelError> {
        let mut rx = {
            let mut st = self.lock();
            if let Some(e) = &st.failed {
                return Err(copy_error(e));
            }
            let now = self.inner.options.clock.now();
            if st.persisted
                && !st.stale
                && st.tokens.is_fresh(now, self.inner.options.refresh_margin)
            {
                return Ok(st.tokens.access_token.clone());
            }
            match &st.inflight {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    st.inflight = Some(rx.clone());
                    let inner = self.inner.clone();
                    tokio::spawn(async move {
                        let outcome = match inner.renew().await {
                            Renewed::Done(outcome) => outcome,
                            Renewed::Unsaved(error, tokens) => {
                                // The waiters learn of the failure now, and so does every
                                // caller until the tokens are stored (the renewal stays in
                                // flight meanwhile, so no other one starts).
                                tx.send_replace(Some(OutcomeCopy(Err(error))));
                                inner.keep_saving(tokens).await
                            }
                        };
                        inner
                            .state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .inflight = None;
                        tx.send_replace(Some(OutcomeCopy(outcome)));
                    });
                    rx
                }
            }
        };
        let outcome = match rx.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        };
        match outcome {
            Some(OutcomeCopy(result)) => result,
            None => Err(ChannelError::transient(
                "the token renewal stopped before it finished",
            )),
        }
    }

    /// Returns once no renewal is in flight: none was, or the one running has finished,
    /// including its background retries of storing renewed tokens (see
    /// [`TokenStore::end_renewal`]). A host shutting down waits for this (with a deadline of
    /// its own: while the store stays unreachable, the retries go on) so that it does not stop
    /// the runtime between the token endpoint rotating the refresh token and the new one
    /// being stored.
    pub async fn renewals_idle(&self) {
        loop {
            let Some(mut rx) = self.lock().inflight.clone() else {
                return;
            };
            // Never true: returns when the renewal task ends and drops its sender.
            let _ = rx.wait_for(|_| false).await;
        }
    }

    /// Marks `used` as refused by the channel (a 401), so the next
    /// [`access_token`](Self::access_token) renews it. Does nothing if the token has already
    /// been replaced, so many requests failing with the same token cause one renewal.
    pub fn invalidate(&self, used: &SecretString) {
        let mut st = self.lock();
        if st.tokens.access_token.expose_secret() == used.expose_secret() {
            st.stale = true;
        }
    }

    /// Installs tokens from a fresh login (already persisted by the caller) and clears a
    /// remembered failure.
    pub fn set_tokens(&self, tokens: TokenSet) {
        let mut st = self.lock();
        st.tokens = tokens;
        st.persisted = true;
        st.stale = false;
        st.failed = None;
    }
}

impl ManagerInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One renewal, between the store's [`TokenStore::begin_renewal`] and
    /// [`TokenStore::end_renewal`]; when the renewed tokens could not be stored, the renewal is
    /// not ended ([`Renewed::Unsaved`]: the caller goes on with [`keep_saving`](Self::keep_saving)).
    async fn renew(&self) -> Renewed {
        let stored = match self.store.begin_renewal().await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "the token store refused to begin a renewal");
                return Renewed::Done(Err(ChannelError::transient(format!(
                    "the token renewal could not begin: {e}"
                ))));
            }
        };
        let renewed = self.renew_begun(stored).await;
        if let Renewed::Done(_) = renewed {
            self.store.end_renewal().await;
        }
        renewed
    }

    /// Retries storing renewed `tokens` (with backoff, extending the renewal before each try)
    /// until they are stored or superseded, the renewal is lost, or a fresh login replaced
    /// them; then ends the renewal.
    async fn keep_saving(&self, tokens: TokenSet) -> Outcome {
        let (mut pause, longest) = SAVE_RETRY;
        let outcome = loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(longest);
            if self.lock().tokens.access_token.expose_secret()
                != tokens.access_token.expose_secret()
            {
                // A fresh login replaced them: nothing of this renewal is left to store.
                break Err(ChannelError::transient(
                    "the renewed tokens were replaced before they could be stored",
                ));
            }
            match self.store.extend_renewal().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        "the token renewal was lost while its tokens were still unsaved; the next renewal may need a new login"
                    );
                    break Err(ChannelError::transient(
                        "the token renewal was lost before the renewed tokens could be stored",
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "extending the token renewal failed; retrying");
                    continue;
                }
            }
            match self.store.store_renewed(tokens.clone()).await {
                Ok(theirs) => break Ok(self.stored(&tokens, theirs)),
                Err(e) => {
                    tracing::warn!(error = %redact(&e.to_string(), &secret_strs(&tokens)), "storing renewed tokens failed again; retrying");
                }
            }
        };
        self.store.end_renewal().await;
        outcome
    }

    /// Records the outcome of a successful [`TokenStore::store_renewed`] of `tokens`: the
    /// access token to hand out.
    fn stored(&self, tokens: &TokenSet, theirs: Option<TokenSet>) -> SecretString {
        let mut st = self.lock();
        if let Some(theirs) = theirs {
            // Another process stored other tokens first: theirs are what is stored, so use them.
            tracing::debug!("the store holds tokens renewed elsewhere; using those");
            st.tokens = theirs.clone();
            st.persisted = true;
            st.stale = false;
            return theirs.access_token;
        }
        // Only mark stored if nobody replaced the tokens meanwhile.
        if st.tokens.access_token.expose_secret() == tokens.access_token.expose_secret() {
            st.persisted = true;
        }
        tokens.access_token.clone()
    }

    /// Adopts `stored` tokens when they are newer and still good, else refreshes at the token
    /// endpoint (unless the tokens in memory are fresh but not yet stored), then stores them;
    /// only then is the access token handed out.
    async fn renew_begun(&self, stored: Option<TokenSet>) -> Renewed {
        let now = self.options.clock.now();
        let (mut tokens, needs_refresh) = {
            let st = self.lock();
            let fresh = !st.stale && st.tokens.is_fresh(now, self.options.refresh_margin);
            (st.tokens.clone(), !fresh || st.persisted)
        };
        // Tokens stored by another process replace ours only while ours are stored too: fresh
        // tokens of ours not yet stored hold the only live refresh token.
        if needs_refresh
            && let Some(stored) = stored
            && !same_tokens(&stored, &tokens)
        {
            let usable = stored.access_token.expose_secret() != tokens.access_token.expose_secret()
                && stored.is_fresh(now, self.options.refresh_margin);
            {
                let mut st = self.lock();
                st.tokens = stored.clone();
                st.persisted = true;
                st.stale = false;
            }
            if usable {
                tracing::debug!("adopted tokens renewed by another process");
                return Renewed::Done(Ok(stored.access_token));
            }
            tokens = stored;
        }
        let tokens = if needs_refresh {
            let Some(refresh_token) = &tokens.refresh_token else {
                let e = ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "the access token expired and there is no refresh token; the seller must log in again",
                );
                self.lock().failed = Some(copy_error(&e));
                return Renewed::Done(Err(e));
            };
            // The renewal may have lapsed while this process waited (for the store, for the
            // lease): another process may hold it now, so the refresh token is spent only
            // while it is still ours.
            match self.store.extend_renewal().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("the token renewal was lost before the refresh; not refreshing");
                    return Renewed::Done(Err(ChannelError::transient(
                        "the token renewal was taken over by another process before the refresh; try again",
                    )));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "extending the token renewal failed; not refreshing");
                    return Renewed::Done(Err(ChannelError::transient(format!(
                        "the token renewal could not be extended before the refresh: {e}"
                    ))));
                }
            }
            let span = tracing::info_span!("marketsync_http.token_refresh");
            match self.oauth.refresh(refresh_token).instrument(span).await {
                Ok(new) => {
                    let mut st = self.lock();
                    st.tokens = new.clone();
                    st.persisted = false;
                    st.stale = false;
                    new
                }
                Err(e) => {
                    tracing::warn!(error = %e, "token refresh failed");
                    if e.kind() == ErrorKind::Auth {
                        self.lock().failed = Some(copy_error(&e));
                    }
                    return Renewed::Done(Err(e));
                }
            }
        } else {
            tokens
        };
        match self.store.store_renewed(tokens.clone()).await {
            Ok(theirs) => Renewed::Done(Ok(self.stored(&tokens, theirs))),
            Err(e) => {
                let why = redact(&e.to_string(), &secret_strs(&tokens));
                tracing::warn!(error = %why, "storing renewed tokens failed; retrying in the background");
                let error = ChannelError::transient(format!(
                    "the renewed tokens could not be stored yet (retrying): {why}"
                ));
                Renewed::Unsaved(error, tokens)
            }
        }
    }
}

/// The first and the longest pause between two tries at storing renewed tokens.
const SAVE_RETRY: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// How a renewal ended.
enum Renewed {
    /// Finished (the store's renewal ended): the outcome for every waiter.
    Done(Outcome),
    /// The tokens were renewed (or were unsaved already) but could not be stored: the renewal
    /// is still held, and the tokens must be stored before it is ended.
    Unsaved(ChannelError, TokenSet),
}

/// Whether two token sets hold the same access and refresh tokens.
fn same_tokens(a: &TokenSet, b: &TokenSet) -> bool {
    a.access_token.expose_secret() == b.access_token.expose_secret()
        && a.refresh_token.as_ref().map(|t| t.expose_secret())
            == b.refresh_token.as_ref().map(|t| t.expose_secret())
}

fn secret_strs(tokens: &TokenSet) -> Vec<&str> {
    let mut out = vec![tokens.access_token.expose_secret()];
    if let Some(r) = &tokens.refresh_token {
        out.push(r.expose_secret());
    }
    out
}
