//! Credentials and the connection: installing stored tokens, verifying the profile, and the
//! authorization-code flow of a new connection; OfferUp's seller credential.

use chrono::{TimeDelta, Utc};
use marketsync_core::credentials::OAuthTokens;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, BrokenReason, ChannelError, ChannelKind, Credentials, Currency,
    PendingAuthorization, SecretString,
};

use crate::channel::ChannelAdvisorChannel;
use crate::wire;

impl ChannelAdvisorChannel {
    /// Installs credentials stored for this integration: [`Credentials::OAuth`] with the
    /// refresh token (and the access token, when one is held and its expiry known). The next
    /// request uses them, and a remembered renewal failure (a revoked refresh token) is
    /// forgotten.
    ///
    /// The engine calls it (through [`Channel::use_credentials`]) whenever credentials are
    /// entered or rotated (`Engine::enter_credentials`, `Engine::rotate_credentials`) and when
    /// the adapter is attached after a restart (`Engine::attach_channel`). So the repair of a
    /// revoked refresh token is: a new refresh token created at ChannelAdvisor,
    /// `Engine::enter_credentials` with it, then `Engine::verify` — the adapter is neither
    /// rebuilt nor re-registered. A host that drives the adapter without the engine calls this
    /// method itself.
    ///
    /// Errors: `Invalid` for credentials of another kind, or for another profile than the
    /// configured one.
    pub(crate) fn install_credentials(
        &self,
        credentials: &Credentials,
    ) -> Result<(), ChannelError> {
        let op = "use_credentials";
        if let (ChannelKind::OfferUp, Credentials::SellerSecret(_)) =
            (self.config.kind, credentials)
        {
            // OfferUp's seller id and secret are entered in ChannelAdvisor's own settings, not
            // sent by this adapter, which acts with its ChannelAdvisor tokens: nothing changes
            // here (the engine tracks their rotation and verification).
            return Ok(());
        }
        let Credentials::OAuth(tokens) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "ChannelAdvisor takes OAuth credentials (a refresh token), not {:?} credentials",
                    credentials.kind()
                )),
                op,
            ));
        };
        if let Some(profile) = &tokens.profile_id
            && profile.trim() != self.config.profile_id.to_string()
        {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "the credentials are for ChannelAdvisor profile {profile}, but this integration is configured for profile {}",
                    self.config.profile_id
                ))
                .with_field("profile_id"),
                op,
            ));
        }
        let (access_token, expires_at) = match (&tokens.access_token, tokens.access_expires_at) {
            (Some(token), Some(at)) => (token.clone(), Some(at)),
            // Without a usable access token the next request renews it first.
            _ => (
                SecretString::from(""),
                Some(chrono::DateTime::<Utc>::UNIX_EPOCH),
            ),
        };
        self.client.tokens.set_tokens(marketsync_http::TokenSet {
            access_token,
            expires_at,
            refresh_token: Some(tokens.refresh_token.clone()),
            scopes: Vec::new(),
        });
        Ok(())
    }

    pub(crate) async fn verify_profile(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let url = self
            .client
            .url("Profiles", &[])
            .map_err(|e| self.err(e, op))?;
        let profiles: Vec<wire::Profile> = self
            .client
            .get_all(&url, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let profile = profiles
            .into_iter()
            .find(|p| p.id == self.config.profile_id)
            .ok_or_else(|| {
                self.err(
                    ChannelError::auth(
                        BrokenReason::AccountNotUsable,
                        format!(
                            "the ChannelAdvisor token does not give access to profile {}",
                            self.config.profile_id
                        ),
                    ),
                    op,
                )
            })?;
        let currency = profile
            .currency_code
            .as_deref()
            .and_then(|c| Currency::new(c).ok());
        *self
            .profile_currency
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = currency;
        Ok(AccountInfo {
            account_id: profile.id.to_string(),
            name: profile.company_name.or(profile.account_name),
            currency,
            credentials_expire_at: None,
        })
    }

    /// The authorization-code flow of a new connection: ChannelAdvisor's login page
    /// (`/oauth2/authorize`) with the configured redirect URI, the scopes, a fresh `state` and
    /// a PKCE challenge. The code is valid for 5 minutes.
    pub(crate) async fn start_login(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let op = "begin_authorization";
        if self.config.kind != ChannelKind::ChannelAdvisor {
            return Err(self.err(
                ChannelError::unsupported(
                    "OfferUp is connected inside ChannelAdvisor with the OfferUp Seller ID and Seller Secret; authorize the ChannelAdvisor connection instead",
                ),
                op,
            ));
        }
        let scopes: Vec<&str> = self.config.scopes.split_whitespace().collect();
        self.client
            .oauth
            .begin_code_login(
                "ChannelAdvisor",
                request.redirect_uri.as_ref(),
                &scopes,
                Utc::now(),
                TimeDelta::minutes(5),
            )
            .map_err(|e| self.err(e, op))
    }

    /// Exchanges the code (`grant_type=authorization_code`) for an access and a refresh token,
    /// installs them in this adapter, and returns them as [`Credentials::OAuth`] for the
    /// configured profile.
    pub(crate) async fn finish_login(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = "complete_authorization";
        let tokens = self
            .client
            .oauth
            .exchange_callback("ChannelAdvisor", callback, pending)
            .await
            .map_err(|e| self.err(e, op))?;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "ChannelAdvisor returned no refresh token",
                ),
                op,
            ));
        };
        self.client.tokens.set_tokens(tokens.clone());
        Ok(AuthorizationOutcome::Authorized(Credentials::OAuth(
            OAuthTokens {
                access_token: Some(tokens.access_token),
                access_expires_at: tokens.expires_at,
                refresh_token,
                refresh_expires_at: None,
                profile_id: Some(self.config.profile_id.to_string()),
            },
        )))
    }
}

/// OfferUp's credential as the seller has it: the OfferUp Seller ID and Seller Secret ("Auth
/// token") shown in OfferUp Pro, which the seller pastes into ChannelAdvisor (Sell > By Channel >
/// OfferUp Marketplace > Settings). This adapter never sends it anywhere: ChannelAdvisor talks to
/// OfferUp with it. Store it on the OfferUp integration so the host can show which seller is
/// connected; after OfferUp regenerates it (the old one stops working at once), store the new
/// one with `Engine::rotate_credentials`: the integration stays Unverified until
/// `Engine::verify` succeeds again.
pub fn offerup_credentials(
    seller_id: impl Into<String>,
    seller_secret: SecretString,
) -> Credentials {
    Credentials::SellerSecret(marketsync_core::credentials::SellerSecret {
        seller_id: seller_id.into(),
        seller_secret,
    })
}
