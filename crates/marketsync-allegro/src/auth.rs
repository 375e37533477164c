//! Credentials and the login: installing a stored login session, verifying the account, and the
//! device flow or the authorization code with PKCE.

use std::time::Duration;

use chrono::TimeDelta;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, BrokenReason, ChannelError, Credentials, Currency, ErrorKind,
    PendingAuthorization,
};
use marketsync_http::TokenSet;
use url::Url;

use crate::channel::AllegroChannel;
use crate::{client, convert, wire};

/// The marker of a device-flow authorization in [`PendingAuthorization::state`].
const DEVICE_STATE_PREFIX: &str = "device:";

impl AllegroChannel {
    /// Installs a [`Credentials::LoginSession`] (access token, its expiry, the refresh token and
    /// the refresh token's expiry) in the token manager, forgetting a remembered renewal
    /// failure: after the seller logs in again the integration works at once.
    pub(crate) async fn install_session(
        &self,
        credentials: &Credentials,
    ) -> Result<(), ChannelError> {
        let Credentials::LoginSession(session) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "Allegro takes a login session (from the seller logging in at Allegro), not {:?} credentials",
                    credentials.kind()
                )),
                "use_credentials",
            ));
        };
        self.client
            .install(client::token_set(Some(session)), session.refresh_expires_at);
        Ok(())
    }

    /// `GET /me`.
    pub(crate) async fn verify_account(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let me: wire::Me = self
            .client
            .get("me", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(AccountInfo {
            currency: me
                .base_marketplace
                .as_ref()
                .and_then(|m| marketplace_currency(&m.id)),
            account_id: me.id,
            name: me.login,
            credentials_expire_at: self.client.refresh_expires_at(),
        })
    }

    /// The device flow (`device_flow: true`: `POST /auth/oauth/device`, the seller types the
    /// user code at Allegro's page) or the authorization code with PKCE (Allegro's login page
    /// with the configured redirect URI, `state` and an S256 challenge).
    pub(crate) async fn start_login(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let op = "begin_authorization";
        let scopes: Vec<&str> = self.config.scopes.iter().map(String::as_str).collect();
        let now = self.client.clock.now();
        if request.device_flow {
            let device = self
                .client
                .oauth
                .begin_device(&scopes)
                .await
                .map_err(|e| self.err(e, op))?;
            let page = device
                .verification_uri_complete
                .as_deref()
                .unwrap_or(&device.verification_uri);
            let url = Url::parse(page).map_err(|e| {
                self.err(
                    ChannelError::new(
                        ErrorKind::Channel,
                        format!("Allegro sent an unusable verification page: {e}"),
                    ),
                    op,
                )
            })?;
            return Ok(AuthorizationStart {
                url,
                user_code: Some(device.user_code),
                pending: PendingAuthorization {
                    state: format!("{DEVICE_STATE_PREFIX}{}", uuid::Uuid::new_v4()),
                    secret: device.device_code,
                    started_at: now,
                    expires_at: TimeDelta::from_std(device.expires_in)
                        .ok()
                        .and_then(|d| now.checked_add_signed(d)),
                    poll_interval: Some(device.interval),
                },
            });
        }
        self.client
            .oauth
            .begin_code_login(
                "Allegro",
                request.redirect_uri.as_ref(),
                &scopes,
                now,
                TimeDelta::hours(1),
            )
            .map_err(|e| self.err(e, op))
    }

    /// Device flow: one poll of the token endpoint (`authorization_pending` / `slow_down` →
    /// `Pending`). Code flow: the code (valid 10 seconds) exchanged with the PKCE verifier.
    /// The tokens are installed here and returned as a [`Credentials::LoginSession`] whose
    /// refresh token expires 3 months from now.
    pub(crate) async fn finish_login(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = "complete_authorization";
        let tokens: TokenSet = if pending.state.starts_with(DEVICE_STATE_PREFIX) {
            let interval = pending.poll_interval.unwrap_or(Duration::from_secs(5));
            match self
                .client
                .oauth
                .poll_device(&pending.secret, interval)
                .await
                .map_err(|e| self.err(e, op))?
            {
                marketsync_http::DevicePoll::Pending { poll_after } => {
                    return Ok(AuthorizationOutcome::Pending { poll_after });
                }
                marketsync_http::DevicePoll::Authorized(t) => t,
            }
        } else {
            self.client
                .oauth
                .exchange_callback("Allegro", callback, pending)
                .await
                .map_err(|e| self.err(e, op))?
        };
        if tokens.refresh_token.is_none() {
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "Allegro returned no refresh token",
                ),
                op,
            ));
        }
        let session = convert::login_session(&tokens, self.client.clock.now());
        self.client.install(tokens, session.refresh_expires_at);
        Ok(AuthorizationOutcome::Authorized(Credentials::LoginSession(
            session,
        )))
    }
}

/// The currency of an Allegro marketplace (`allegro-pl` …), where known.
fn marketplace_currency(id: &str) -> Option<Currency> {
    match id {
        "allegro-pl" => Some(Currency::PLN),
        "allegro-cz" => Currency::new("CZK").ok(),
        "allegro-sk" => Some(Currency::EUR),
        "allegro-hu" => Currency::new("HUF").ok(),
        _ => None,
    }
}
