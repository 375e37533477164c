//! The HTTP calls to Tradera REST v4, over marketsync-http's client: the application's
//! `X-App-Id` and `X-App-Key` on every call, the seller's `X-User-Id` and `X-User-Token` on user
//! calls (the key and the token as sensitive headers), `Accept: application/json`, the daily
//! budget's rate limiter, retries, errors through [`parse_error`].

use std::sync::{Arc, RwLock};

use marketsync_core::{BrokenReason, ChannelError, ChannelKind};
use marketsync_http::{HttpClient, HttpClientBuilder, HttpResponse, Method, RateLimiter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Session, TraderaConfig};
use crate::error::parse_error;

/// The media type asked for and sent.
pub const JSON: &str = "application/json";

/// The HTTP side of the adapter: one client with the application's headers (the token fetch),
/// and one with the seller's session too, replaced when new credentials arrive. Both draw from
/// one rate limiter, keyed by the application (Tradera's budget is per application).
#[derive(Debug)]
pub(crate) struct TraderaClient {
    app: HttpClient,
    user: RwLock<Option<(HttpClient, Session)>>,
    limiter: RateLimiter,
    config: Arc<TraderaConfig>,
}

impl TraderaClient {
    pub(crate) fn new(config: Arc<TraderaConfig>) -> Result<Self, ChannelError> {
        let limiter = config
            .rate_limiter
            .clone()
            .unwrap_or_else(|| RateLimiter::new(config.limits()));
        let app = Self::base(&config, &limiter).build()?;
        let user = match &config.session {
            Some(s) => Some((Self::user_client(&config, &limiter, s)?, s.clone())),
            None => None,
        };
        Ok(Self {
            app,
            user: RwLock::new(user),
            limiter,
            config,
        })
    }

    fn base(config: &TraderaConfig, limiter: &RateLimiter) -> HttpClientBuilder {
        HttpClient::builder(config.base_url.as_str())
            .channel(ChannelKind::Tradera)
            .account(format!("tradera-app-{}", config.app_id))
            .default_header("Accept", JSON)
            .default_header("X-App-Id", &config.app_id.to_string())
            .sensitive_header("X-App-Key", config.app_key.clone())
            .rate_limiter(limiter.clone())
            .retry(config.retry.clone())
            .clock(config.clock.clone())
            .parse_error(parse_error)
    }

    fn user_client(
        config: &TraderaConfig,
        limiter: &RateLimiter,
        session: &Session,
    ) -> Result<HttpClient, ChannelError> {
        Self::base(config, limiter)
            .default_header("X-User-Id", &session.user_id.to_string())
            .sensitive_header("X-User-Token", session.token.clone())
            .build()
    }

    /// Uses `session` for every later user call.
    pub(crate) fn set_session(&self, session: Session) -> Result<(), ChannelError> {
        let http = Self::user_client(&self.config, &self.limiter, &session)?;
        *self.user.write().unwrap_or_else(|e| e.into_inner()) = Some((http, session));
        Ok(())
    }

    /// The session's user id and hard expiry, when there is a session.
    pub(crate) fn session(&self) -> Option<(i64, Option<chrono::DateTime<chrono::Utc>>)> {
        self.user
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, s)| (s.user_id, s.expires_at))
    }

    /// The client for user calls; without a session, or once its hard expiry has passed, an
    /// `Auth` error (`LoginRequired`) before any call is made — no budget is spent on a call
    /// Tradera would refuse.
    fn user(&self) -> Result<HttpClient, ChannelError> {
        let guard = self.user.read().unwrap_or_else(|e| e.into_inner());
        let Some((http, session)) = guard.as_ref() else {
            return Err(ChannelError::auth(
                BrokenReason::LoginRequired,
                "there is no Tradera login session: the seller must log in at Tradera",
            ));
        };
        if let Some(at) = session.expires_at
            && at <= self.config.clock.now()
        {
            return Err(ChannelError::auth(
                BrokenReason::LoginRequired,
                format!(
                    "the Tradera login expired at {at} (hard expiry): the seller must log in at Tradera again"
                ),
            ));
        }
        Ok(http.clone())
    }

    /// `GET` of a user path with a query, decoded from JSON.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<T, ChannelError> {
        self.user()?.get_query(path, query, operation).await?.json()
    }

    /// `GET` of an API path with a query: the response itself (a success), for
    /// [`crate::decode`] to read.
    pub(crate) async fn get_response(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.user()?.get_query(path, query, operation).await
    }

    /// A user request with a JSON body. `PUT`s set absolute values and are retried on temporary
    /// failures; `POST`s are not (a queued creation sent twice would list the item twice),
    /// except after a 429, which Tradera did not process.
    pub(crate) async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.user()?
            .request(method, path)
            .json(body)
            .operation(operation)
            .send()
            .await
    }

    /// A user request without a body (`DELETE`, the ship `POST`). `idempotent` says whether a
    /// temporary failure may be retried.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        idempotent: bool,
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.user()?
            .request(method, path)
            .idempotent(idempotent)
            .operation(operation)
            .send()
            .await
    }

    /// An application call (no user headers) with a JSON body: the token fetch.
    pub(crate) async fn app_post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        operation: &'static str,
    ) -> Result<T, ChannelError> {
        self.app
            .post(path)
            .json(body)
            .operation(operation)
            .send()
            .await?
            .json()
    }
}
