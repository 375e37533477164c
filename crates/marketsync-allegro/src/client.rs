//! The HTTP calls to Allegro, over marketsync-http's client: bearer tokens from the token
//! manager (renewed ahead of expiry and once after a 401, single-flight, the rotated pair
//! persisted before use), `Accept`/`Content-Type: application/vnd.allegro.public.v1+json`,
//! 9,000 requests a minute per client id, retries with backoff, errors through
//! [`parse_error`](crate::error::parse_error).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    ChannelError, Clock, CredentialSink, Credentials, Renewal, SavedRenewal, SecretString,
};
use marketsync_http::{
    ClientAuth, HttpClient, HttpResponse, Method, OAuthClient, OAuthConfig, TokenManager,
    TokenOptions, TokenSet, TokenStore,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::AllegroConfig;
use crate::convert::{REFRESH_TOKEN_LIFETIME, login_session};
use crate::error::{ConfigError, parse_error};
use crate::wire::MEDIA_TYPE;

/// The engine's credential sink, once given.
pub(crate) type SinkSlot = Arc<Mutex<Option<Arc<dyn CredentialSink>>>>;

/// The HTTP side of the adapter.
#[derive(Clone, Debug)]
pub(crate) struct AllegroClient {
    pub(crate) http: HttpClient,
    pub(crate) tokens: TokenManager,
    pub(crate) oauth: OAuthClient,
    /// When the current refresh token stops working (3 months after it was issued).
    pub(crate) refresh_expires_at: Arc<Mutex<Option<DateTime<Utc>>>>,
    /// Where the engine wants renewed credentials saved ([`Channel::use_credential_sink`]).
    ///
    /// [`Channel::use_credential_sink`]: marketsync_core::Channel::use_credential_sink
    pub(crate) sink: SinkSlot,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Tokens as the token manager holds them, from a stored session (or none yet: an already
/// expired, empty token without a refresh token, so a call before the login fails with
/// `LoginRequired`).
pub(crate) fn token_set(session: Option<&LoginSession>) -> TokenSet {
    match session {
        Some(s) => TokenSet {
            access_token: s.token.clone(),
            expires_at: Some(s.expires_at),
            refresh_token: s.refresh_token.clone(),
            scopes: Vec::new(),
        },
        None => TokenSet {
            access_token: SecretString::from(""),
            expires_at: Some(DateTime::<Utc>::UNIX_EPOCH),
            refresh_token: None,
            scopes: Vec::new(),
        },
    }
}

/// Where the token manager persists renewed tokens: the engine's credential sink (what a
/// restart, and every other worker on the same store, reads back), then the host's own
/// [`TokenStore`] when one was configured.
///
/// Every renewal rotates the refresh token, and a used one is refused, so renewals go through
/// the sink's renewal hooks: the sink lets one worker renew at a time and hands a worker whose
/// tokens are stale the ones another worker renewed, which the token manager adopts instead of
/// spending a used refresh token. Without an engine sink the host store's hooks are used.
/// Only once the new pair is stored does the refresh token's 3-month window restart.
struct SessionStore {
    sink: SinkSlot,
    host: Option<Arc<dyn TokenStore>>,
    clock: Arc<dyn Clock>,
    refresh_expires_at: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl SessionStore {
    fn sink(&self) -> Option<Arc<dyn CredentialSink>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_refresh_expiry(&self, at: Option<DateTime<Utc>>) {
        *self
            .refresh_expires_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Tokens from credentials another worker stored (a login session), noting when their
    /// refresh token expires.
    fn adopt(&self, credentials: Credentials) -> Result<TokenSet, ChannelError> {
        match credentials {
            Credentials::LoginSession(session) => {
                self.set_refresh_expiry(session.refresh_expires_at);
                Ok(token_set(Some(&session)))
            }
            other => Err(ChannelError::invalid(format!(
                "the stored Allegro credentials are {:?} credentials, not a login session",
                other.kind()
            ))),
        }
    }
}

#[async_trait]
impl TokenStore for SessionStore {
    async fn store(&self, tokens: TokenSet) -> Result<(), ChannelError> {
        if let Some(sink) = self.sink() {
            let session = login_session(&tokens, self.clock.now());
            sink.save(&Credentials::LoginSession(session)).await?;
        }
        if let Some(host) = &self.host {
            host.store(tokens).await?;
        }
        self.set_refresh_expiry(self.clock.now().checked_add_months(REFRESH_TOKEN_LIFETIME));
        Ok(())
    }

    async fn begin_renewal(&self) -> Result<Option<TokenSet>, ChannelError> {
        match (self.sink(), &self.host) {
            (Some(sink), _) => match sink.begin_renewal().await? {
                Renewal::Renew => Ok(None),
                Renewal::UseStored(credentials) => match self.adopt(credentials) {
                    Ok(tokens) => Ok(Some(tokens)),
                    Err(e) => {
                        sink.end_renewal().await;
                        Err(e)
                    }
                },
            },
            (None, Some(host)) => host.begin_renewal().await,
            (None, None) => Ok(None),
        }
    }

    async fn store_renewed(&self, tokens: TokenSet) -> Result<Option<TokenSet>, ChannelError> {
        let Some(sink) = self.sink() else {
            let theirs = match &self.host {
                Some(host) => host.store_renewed(tokens).await?,
                None => None,
            };
            if theirs.is_none() {
                self.set_refresh_expiry(
                    self.clock.now().checked_add_months(REFRESH_TOKEN_LIFETIME),
                );
            }
            return Ok(theirs);
        };
        let session = login_session(&tokens, self.clock.now());
        let expires = session.refresh_expires_at;
        match sink
            .save_renewed(&Credentials::LoginSession(session))
            .await?
        {
            SavedRenewal::Saved => {
                if let Some(host) = &self.host {
                    host.store(tokens).await?;
                }
                self.set_refresh_expiry(expires);
                Ok(None)
            }
            SavedRenewal::Superseded(theirs) => self.adopt(theirs).map(Some),
        }
    }

    async fn extend_renewal(&self) -> Result<bool, ChannelError> {
        match (self.sink(), &self.host) {
            (Some(sink), _) => sink.extend_renewal().await,
            (None, Some(host)) => host.extend_renewal().await,
            (None, None) => Ok(true),
        }
    }

    async fn end_renewal(&self) {
        match (self.sink(), &self.host) {
            (Some(sink), _) => sink.end_renewal().await,
            (None, Some(host)) => host.end_renewal().await,
            (None, None) => {}
        }
    }
}

impl AllegroClient {
    pub(crate) fn new(config: &AllegroConfig) -> Result<Self, ChannelError> {
        let cfg_err = |e: ConfigError| ChannelError::invalid(e.to_string());
        let mut oauth_config = OAuthConfig::new(
            config.client_id.clone(),
            Some(config.client_secret.clone()),
            config.token_url().map_err(cfg_err)?,
        )
        .with_authorize_url(config.authorize_url().map_err(cfg_err)?)
        .with_device_authorization_url(config.device_url().map_err(cfg_err)?)
        // `Authorization: Basic base64(client_id:client_secret)` on every token request.
        .with_client_auth(ClientAuth::Basic);
        if let Some(uri) = &config.redirect_uri {
            oauth_config = oauth_config.with_redirect_url(uri.clone());
        }
        let oauth = OAuthClient::new(oauth_config)?.with_clock(config.clock.clone());

        let refresh_expires_at = Arc::new(Mutex::new(
            config.session.as_ref().and_then(|s| s.refresh_expires_at),
        ));
        let sink: SinkSlot = Arc::new(Mutex::new(None));
        let persist = SessionStore {
            sink: sink.clone(),
            host: config.token_store.clone(),
            clock: config.clock.clone(),
            refresh_expires_at: refresh_expires_at.clone(),
        };
        let tokens = TokenManager::with_options(
            oauth.clone(),
            token_set(config.session.as_ref()),
            persist,
            TokenOptions {
                refresh_margin: config.refresh_margin,
                clock: config.clock.clone(),
            },
        );
        let mut builder = HttpClient::builder(config.api_base_url.as_str())
            .channel(marketsync_core::ChannelKind::Allegro)
            // Allegro's limit is per client id, so that is the limiter's key.
            .account(config.client_id.clone())
            .default_header("Accept", MEDIA_TYPE)
            .limits(config.limits.clone())
            .retry(config.retry.clone())
            .parse_error(parse_error)
            .clock(config.clock.clone())
            .oauth(tokens.clone());
        if let Some(limiter) = &config.rate_limiter {
            builder = builder.rate_limiter(limiter.clone());
        }
        Ok(Self {
            http: builder.build()?,
            tokens,
            oauth,
            refresh_expires_at,
            sink,
            clock: config.clock.clone(),
        })
    }

    /// `GET` of an API path with query parameters (repeated names allowed).
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<T, ChannelError> {
        self.http.get_query(path, query, operation).await?.json()
    }

    /// `GET` of an API path with a query: the response itself (a success), for
    /// [`crate::decode`] to read.
    pub(crate) async fn get_response(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.http.get_query(path, query, operation).await
    }

    /// A request with a JSON body in Allegro's media type. `retry_safe` allows retries of a
    /// `POST` (one carrying its own idempotency id in the body); `PUT`s are retried anyway.
    pub(crate) async fn send_json<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: &B,
        operation: &'static str,
        retry_safe: bool,
    ) -> Result<HttpResponse, ChannelError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ChannelError::invalid("the request body could not be encoded as JSON").with_source(e)
        })?;
        let mut request = self
            .http
            .request(method.clone(), path)
            .query(query.iter().map(|(k, v)| (*k, v.as_str())))
            .operation(operation)
            .body(bytes, MEDIA_TYPE);
        if method == Method::POST {
            request = request.idempotent(retry_safe);
        }
        request.send().await
    }

    /// Installs tokens from a login or from stored credentials, clearing a remembered failure.
    pub(crate) fn install(&self, tokens: TokenSet, refresh_expires_at: Option<DateTime<Utc>>) {
        self.tokens.set_tokens(tokens);
        *self
            .refresh_expires_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = refresh_expires_at;
    }

    pub(crate) fn refresh_expires_at(&self) -> Option<DateTime<Utc>> {
        *self
            .refresh_expires_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
