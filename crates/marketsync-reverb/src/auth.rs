//! Credentials: the personal access token (Reverb has no login flow; see
//! [`AUTHORIZATION_UNSUPPORTED`](crate::AUTHORIZATION_UNSUPPORTED)) and the check of it.

use marketsync_core::{AccountInfo, ChannelError, Credentials, Currency};
use secrecy::ExposeSecret;

use crate::channel::ReverbChannel;
use crate::wire;

impl ReverbChannel {
    /// [`Channel::use_credentials`](marketsync_core::Channel::use_credentials): the token of
    /// [`Credentials::ApiToken`] for every later request, in this adapter and all its clones.
    pub(crate) fn use_token(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let op = "use_credentials";
        let Credentials::ApiToken(token) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "Reverb takes a personal access token (API token credentials), not {:?} credentials",
                    credentials.kind()
                )),
                op,
            ));
        };
        if token.token.expose_secret().trim().is_empty() {
            return Err(self.err(
                ChannelError::invalid("the personal access token is empty").with_field("token"),
                op,
            ));
        }
        self.client
            .set_token(token.token.clone())
            .map_err(|e| self.err(e, op))
    }

    /// [`Channel::verify`](marketsync_core::Channel::verify): `GET /api/shop`.
    pub(crate) async fn read_shop(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let shop: wire::Shop = self
            .client
            .get("api/shop", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(AccountInfo {
            account_id: shop.id,
            name: shop.name,
            currency: shop.currency.as_deref().and_then(|c| Currency::new(c).ok()),
            credentials_expire_at: None,
        })
    }
}
