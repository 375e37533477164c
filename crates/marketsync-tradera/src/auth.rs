//! Credentials: Tradera's token login (the login URL, the token fetch), the login session
//! handed over by the engine, and `verify`.

use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationStart, BrokenReason,
    ChannelError, Credentials, Currency, ErrorKind, PendingAuthorization, SecretString,
};
use secrecy::ExposeSecret;

use crate::channel::TraderaChannel;
use crate::config::Session;
use crate::{convert, wire};

impl TraderaChannel {
    /// [`Channel::use_credentials`](marketsync_core::Channel::use_credentials).
    pub(crate) fn use_session(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let op = "use_credentials";
        let Credentials::LoginSession(s) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "Tradera takes a login session (the seller logs in at Tradera), not {:?} credentials",
                    credentials.kind()
                )),
                op,
            ));
        };
        let user_id = s
            .user_id
            .as_deref()
            .and_then(|u| u.trim().parse::<i64>().ok())
            .filter(|u| *u > 0)
            .ok_or_else(|| {
                self.err(
                    ChannelError::invalid(
                        "a Tradera login session needs the seller's numeric user id",
                    )
                    .with_field("user_id"),
                    op,
                )
            })?;
        if s.token.expose_secret().trim().is_empty() {
            return Err(self.err(
                ChannelError::invalid("the Tradera user token is empty").with_field("token"),
                op,
            ));
        }
        self.client
            .set_session(Session {
                user_id,
                token: s.token.clone(),
                expires_at: Some(s.expires_at),
            })
            .map_err(|e| self.err(e, op))
    }

    /// The token-login URL for a secret key: `<login_url>?appId=..&pkey=..&skey=..`.
    pub fn login_url(&self, secret_key: &str) -> Result<url::Url, ChannelError> {
        let pkey = self.config.public_key.as_deref().ok_or_else(|| {
            ChannelError::invalid(
                "the application's public key is needed to start a Tradera login (TraderaConfigBuilder::public_key)",
            )
            .with_field("public_key")
        })?;
        let mut url = self.config.login_url.clone();
        url.query_pairs_mut()
            .append_pair("appId", &self.config.app_id.to_string())
            .append_pair("pkey", pkey)
            .append_pair("skey", secret_key);
        Ok(url)
    }

    /// [`Channel::verify`](marketsync_core::Channel::verify).
    pub(crate) async fn read_user(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let me: wire::UserInfo = self
            .client
            .get("v4/users/me", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(AccountInfo {
            account_id: me.id.to_string(),
            name: me.alias,
            currency: me
                .currency_code
                .as_deref()
                .and_then(|c| Currency::new(c).ok())
                .or(Some(Currency::SEK)),
            credentials_expire_at: self.client.session().and_then(|(_, at)| at),
        })
    }

    /// [`Channel::begin_authorization`](marketsync_core::Channel::begin_authorization).
    pub(crate) fn start_login(&self) -> Result<AuthorizationStart, ChannelError> {
        let op = "begin_authorization";
        let secret_key = uuid::Uuid::new_v4().to_string();
        let url = self.login_url(&secret_key).map_err(|e| self.err(e, op))?;
        Ok(AuthorizationStart {
            url,
            user_code: None,
            pending: PendingAuthorization {
                state: uuid::Uuid::new_v4().to_string(),
                secret: SecretString::from(secret_key),
                started_at: self.config.clock.now(),
                expires_at: None,
                poll_interval: None,
            },
        })
    }

    /// [`Channel::complete_authorization`](marketsync_core::Channel::complete_authorization).
    pub(crate) async fn fetch_token(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = "complete_authorization";
        let user_id = callback
            .param("userId")
            .and_then(|u| u.trim().parse::<i64>().ok())
            .filter(|u| *u > 0)
            .or_else(|| self.client.session().map(|(u, _)| u))
            .ok_or_else(|| {
                self.err(
                    ChannelError::invalid(
                        "the Tradera login callback carries no userId (the seller's Tradera user id)",
                    )
                    .with_field("userId"),
                    op,
                )
            })?;
        let secret_key = pending.secret.expose_secret();
        if secret_key.trim().is_empty() {
            return Err(self.err(
                ChannelError::invalid("the pending Tradera login has no secret key"),
                op,
            ));
        }
        let token: wire::Token = self
            .client
            .app_post(
                "v4/auth/token",
                &wire::FetchToken {
                    user_id,
                    secret_key,
                },
                op,
            )
            .await
            .map_err(|e| self.err(e, op))?;
        let Some(auth_token) = token.auth_token.filter(|t| !t.trim().is_empty()) else {
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "Tradera gave no token for this login: the seller has not approved the application (or the secret key was used already)",
                ),
                op,
            ));
        };
        let expires_at = token
            .hard_expiration_time
            .as_deref()
            .and_then(convert::parse_time)
            .ok_or_else(|| {
                self.err(
                    ChannelError::new(
                        ErrorKind::Channel,
                        "Tradera's token came without a readable hardExpirationTime",
                    ),
                    op,
                )
            })?;
        Ok(AuthorizationOutcome::Authorized(Credentials::LoginSession(
            LoginSession {
                user_id: Some(user_id.to_string()),
                token: SecretString::from(auth_token),
                expires_at,
                refresh_token: None,
                refresh_expires_at: None,
            },
        )))
    }
}
