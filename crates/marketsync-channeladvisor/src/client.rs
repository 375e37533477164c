//! The HTTP calls to ChannelAdvisor, over marketsync-http's client: bearer tokens from the
//! token manager (renewed before expiry, and once after a 401), 2,000 requests a minute and 5
//! in flight per profile, retries with backoff, errors through [`parse_error`].

use std::sync::Arc;
use std::time::Duration;

use marketsync_core::{ChannelError, ErrorKind, ExposeSecret};
use marketsync_http::{
    ClientAuth, HttpClient, HttpResponse, Limits, Method, OAuthClient, OAuthConfig, TokenManager,
    TokenSet, TokenStore, copy_error,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ChannelAdvisorConfig;
use crate::error::{ConfigError, parse_error};
use crate::wire::{self, BatchRequest, Page};

/// ChannelAdvisor's documented limits: 2,000 requests a minute per profile, 5 at once.
pub const REQUESTS_PER_MINUTE: u32 = 2000;
/// Requests in flight at once.
pub const CONCURRENT_REQUESTS: u32 = 5;
/// The most requests ChannelAdvisor recommends in one `$batch`.
pub const MAX_BATCH: usize = 100;

/// The HTTP side of the adapter.
#[derive(Clone, Debug)]
pub(crate) struct CaClient {
    pub(crate) http: HttpClient,
    pub(crate) tokens: TokenManager,
    pub(crate) oauth: OAuthClient,
    account: String,
}

impl CaClient {
    pub(crate) fn new(config: &ChannelAdvisorConfig) -> Result<Self, ChannelError> {
        let cfg_err = |e: ConfigError| ChannelError::invalid(e.to_string());
        let mut oauth_config = OAuthConfig::new(
            config.application_id.clone(),
            Some(config.shared_secret.clone()),
            config.token_url().map_err(cfg_err)?,
        )
        .with_authorize_url(config.authorize_url().map_err(cfg_err)?)
        // `Authorization: Basic base64(applicationId:sharedSecret)`. The oauth2 crate
        // form-encodes both parts first (RFC 6749 2.3.1); ChannelAdvisor's ids and secrets are
        // plain alphanumerics, for which that changes nothing.
        .with_client_auth(ClientAuth::Basic);
        if let Some(uri) = &config.redirect_uri {
            oauth_config = oauth_config.with_redirect_url(uri.clone());
        }
        let oauth = OAuthClient::new(oauth_config)?;
        let store: Option<Arc<dyn TokenStore>> = config.token_store.clone();
        let tokens = TokenManager::new(
            oauth.clone(),
            config.initial_tokens(),
            move |t: TokenSet| {
                let store = store.clone();
                async move {
                    match store {
                        Some(s) => s.store(t).await,
                        None => Ok(()),
                    }
                }
            },
        );
        let account = config.profile_id.to_string();
        let mut builder = HttpClient::builder(config.api_url().as_str())
            .channel(config.kind)
            .account(account.clone())
            .default_header("Accept", "application/json")
            .limits(
                Limits::default()
                    .per_minute(REQUESTS_PER_MINUTE)
                    .concurrency(CONCURRENT_REQUESTS as usize),
            )
            .retry(config.retry.clone())
            .parse_error(parse_error)
            .oauth(tokens.clone());
        if let Some(limiter) = &config.rate_limiter {
            builder = builder.rate_limiter(limiter.clone());
        }
        Ok(Self {
            http: builder.build()?,
            tokens,
            oauth,
            account,
        })
    }

    /// The absolute URL of an API path with an OData query (`$` kept, values percent-encoded).
    pub(crate) fn url(&self, path: &str, query: &[(&str, String)]) -> Result<String, ChannelError> {
        let mut url = self.http.endpoint(path)?;
        if !query.is_empty() {
            url.set_query(Some(&wire::query_string(query)));
        }
        Ok(url.to_string())
    }

    /// `GET` of an absolute URL (made by [`url`](Self::url), or a next link the channel sent).
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        operation: &'static str,
    ) -> Result<T, ChannelError> {
        self.http
            .request_href(Method::GET, url)
            .operation(operation)
            .send()
            .await?
            .json()
    }

    /// `GET` of an absolute URL: the response itself (a success), for [`crate::decode`] to read.
    pub(crate) async fn get_response(
        &self,
        url: &str,
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.http
            .request_href(Method::GET, url)
            .operation(operation)
            .send()
            .await
    }

    /// Every page of a collection, following `@odata.nextLink` exactly.
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        url: &str,
        operation: &'static str,
    ) -> Result<Vec<T>, ChannelError> {
        let mut out = Vec::new();
        let mut next = Some(url.to_owned());
        while let Some(url) = next {
            let page: Page<T> = self.get(&url, operation).await?;
            out.extend(page.value);
            next = page.next_link;
        }
        Ok(out)
    }

    /// A `POST` of an action (expects 2xx, usually 204). `retry_safe` marks actions that may be
    /// sent twice without harm (Export); others are sent once and a temporary failure goes back
    /// to the engine's outbox, which retries with the same idempotency key.
    pub(crate) async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: Option<&B>,
        operation: &'static str,
        retry_safe: bool,
    ) -> Result<(), ChannelError> {
        let mut request = self
            .http
            .post(path)
            .operation(operation)
            .idempotent(retry_safe);
        request = match body {
            Some(b) => request.json(b),
            // An action without parameters (Export) still says its body is empty: IIS front
            // ends answer a POST without `Content-Length` with 411 Length Required.
            None => request
                .body(Vec::new(), "application/json")
                .header("Content-Length", "0"),
        };
        request.send().await.map(|_| ())
    }

    /// Sends requests through `POST /v1/$batch`, at most [`MAX_BATCH`] per batch, and returns one
    /// result per request, in order: `Ok` for a 2xx part, the part's classified error
    /// otherwise, and a `Transient` error for a request the reply has no answer for (a reply
    /// cut off). An error of a whole batch is returned as is when it is `Auth` (it concerns
    /// every request), else given to each request of that batch.
    ///
    /// The batch is retried on temporary failures: every request sent this way is idempotent
    /// (absolute quantities, a price, removing a label).
    pub(crate) async fn batch(
        &self,
        requests: &[BatchRequest],
        operation: &'static str,
    ) -> Result<Vec<Result<(), ChannelError>>, ChannelError> {
        let mut results = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(MAX_BATCH) {
            match self.batch_once(chunk, operation).await {
                Ok(r) => results.extend(r),
                Err(e) if e.kind() == ErrorKind::Auth => return Err(e),
                Err(e) => results.extend(chunk.iter().map(|_| Err(copy_error(&e)))),
            }
        }
        Ok(results)
    }

    async fn batch_once(
        &self,
        requests: &[BatchRequest],
        operation: &'static str,
    ) -> Result<Vec<Result<(), ChannelError>>, ChannelError> {
        // ChannelAdvisor counts each inner request against the per-profile limit as well as
        // the batch itself, so the inner ones take permits too.
        self.charge(requests.len()).await?;
        let token = self.tokens.access_token().await?;
        let boundary = format!("batch_{}", uuid::Uuid::new_v4());
        let body = wire::batch_body(
            &boundary,
            requests,
            &format!("Bearer {}", token.expose_secret()),
        );
        let response = self
            .http
            .post("$batch")
            .operation(operation)
            .header("Accept", "multipart/mixed")
            .body(body, &format!("multipart/mixed; boundary={boundary}"))
            .idempotent(true)
            .send()
            .await?;
        let content_type = response.header("content-type").unwrap_or("");
        let results = crate::decode::batch_results(content_type, response.bytes(), requests.len())
            .map_err(|e| e.with_http_status(response.status().as_u16()))?;
        Ok(results
            .into_iter()
            .map(|r| r.map_err(|e| e.with_operation(operation)))
            .collect())
    }

    /// Takes `n` extra rate permits for the profile (inner requests of a batch), all at one
    /// instant with room left for the batch itself: ChannelAdvisor counts the batch and its
    /// parts when it arrives, so permits taken one by one as the window frees up would be dated
    /// earlier than ChannelAdvisor dates them, and the next minute would overrun its budget
    /// (429s).
    async fn charge(&self, n: usize) -> Result<(), ChannelError> {
        let limiter = self.http.rate_limiter();
        let max_wait = limiter.limits().max_wait_duration();
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        loop {
            match limiter.try_acquire_many(&self.account, n, 1) {
                Ok(()) => return Ok(()),
                Err(wait) if wait <= max_wait => tokio::time::sleep(wait).await,
                Err(wait) => {
                    return Err(ChannelError::rate_limited(
                        Some(wait.max(Duration::from_secs(1))),
                        "the request budget of this ChannelAdvisor profile is used up",
                    ));
                }
            }
        }
    }
}
