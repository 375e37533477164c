//! The HTTP calls to Reverb, over marketsync-http's client: the personal access token as
//! `Authorization: Bearer`, `Accept-Version: 3.0`, HAL+JSON, the adapter's rate limiter,
//! retries with backoff, errors through [`parse_error`].

use std::sync::{Arc, RwLock};

use marketsync_core::{ChannelError, ChannelKind, SecretString};
use marketsync_http::{Auth, HttpClient, HttpResponse, Method, RateLimiter, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ReverbConfig;
use crate::error::parse_error;

/// The API version every request asks for. Without the header Reverb answers as version 1.0.
pub const ACCEPT_VERSION: &str = "3.0";

/// The media type of every response asked for, and of every request body sent.
pub const HAL_JSON: &str = "application/hal+json";

/// The HTTP side of the adapter. The token can be replaced (a seller who regenerates it at
/// Reverb); the rate limiter stays the same across replacements.
#[derive(Debug)]
pub(crate) struct ReverbClient {
    http: RwLock<HttpClient>,
    limiter: RateLimiter,
    config: Arc<ReverbConfig>,
}

impl ReverbClient {
    pub(crate) fn new(config: Arc<ReverbConfig>) -> Result<Self, ChannelError> {
        let limiter = config
            .rate_limiter
            .clone()
            .unwrap_or_else(|| RateLimiter::new(config.limits.clone()));
        let http = Self::build(&config, config.token.clone(), &limiter)?;
        Ok(Self {
            http: RwLock::new(http),
            limiter,
            config,
        })
    }

    fn build(
        config: &ReverbConfig,
        token: SecretString,
        limiter: &RateLimiter,
    ) -> Result<HttpClient, ChannelError> {
        HttpClient::builder(config.base_url.as_str())
            .channel(ChannelKind::Reverb)
            .account(config.connection_name.clone())
            .default_header("Accept-Version", ACCEPT_VERSION)
            .default_header("Accept", HAL_JSON)
            .auth(Auth::Bearer(token))
            .rate_limiter(limiter.clone())
            .retry(config.retry.clone())
            .parse_error(parse_error)
            .build()
    }

    /// Replaces the personal access token for every later request.
    pub(crate) fn set_token(&self, token: SecretString) -> Result<(), ChannelError> {
        let http = Self::build(&self.config, token, &self.limiter)?;
        *self.http.write().unwrap_or_else(|e| e.into_inner()) = http;
        Ok(())
    }

    /// The current client (a cheap clone sharing the limiter and connection pool).
    fn http(&self) -> HttpClient {
        self.http.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Resolves a `_links` href against the configured host (absolute and host-relative hrefs;
    /// another host is refused).
    pub(crate) fn resolve(&self, href: &str) -> Result<Url, ChannelError> {
        self.http().resolve_href(href)
    }

    /// `GET` of an API path with a query, decoded from JSON.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<T, ChannelError> {
        self.http().get_query(path, query, operation).await?.json()
    }

    /// `GET` of an API path with a query: the response itself (a success), for
    /// [`crate::decode`] to read.
    pub(crate) async fn get_response(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.http().get_query(path, query, operation).await
    }

    /// `GET` of a link Reverb sent (`_links.next.href`): the response itself (a success).
    pub(crate) async fn get_href_response(
        &self,
        href: &str,
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.http()
            .request_href(Method::GET, href)
            .operation(operation)
            .send()
            .await
    }

    /// A request with a JSON body sent as `application/hal+json`. `PUT`s are retried on
    /// temporary failures (they set absolute values); `POST`s are not (a shipment or a refund
    /// request sent twice may be applied twice, and Reverb takes no idempotency key), except
    /// after a 429, which Reverb did not process.
    pub(crate) async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ChannelError::invalid("the request body could not be encoded as JSON").with_source(e)
        })?;
        self.http()
            .request(method, path)
            .body(bytes, HAL_JSON)
            .operation(operation)
            .send()
            .await
    }
}
