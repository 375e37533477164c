//! The adapter's configuration: where ChannelAdvisor is, the application's credentials, the
//! profile, and how listings and orders map onto ChannelAdvisor's fields.
//!
//! Built with [`ChannelAdvisorConfig::builder`] (a ChannelAdvisor integration) or
//! [`ChannelAdvisorConfig::offerup_builder`] (OfferUp through ChannelAdvisor). `Debug` is written
//! by hand and never prints the shared secret or a token.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketsync_core::{ChannelKind, Currency, SecretString};
use marketsync_http::{RateLimiter, RetryPolicy, TokenSet, TokenStore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::error::ConfigError;

/// The default API host. The REST API lives under `v1/`, the OAuth endpoints under `oauth2/`.
pub const DEFAULT_BASE_URL: &str = "https://api.channeladvisor.com/";

/// The OfferUp site name used by default to pick OfferUp orders (`SiteName`).
///
/// UNCONFIRMED: ChannelAdvisor's exact `SiteName` for OfferUp was not found in any public
/// source, so it is configurable ([`ChannelAdvisorConfigBuilder::site_name`]).
pub const DEFAULT_OFFERUP_SITE_NAME: &str = "OfferUp";

/// The ChannelAdvisor label used by default for OfferUp's product feed.
///
/// UNCONFIRMED: ChannelAdvisor creates a default label per marketplace; its name for OfferUp was
/// not found, so it is configurable ([`ChannelAdvisorConfigBuilder::label`]).
pub const DEFAULT_OFFERUP_LABEL: &str = "OfferUp";

/// The OAuth scopes asked for in the authorization-code flow.
pub const DEFAULT_SCOPES: &str = "orders inventory";

/// How `UpdateQuantity` applies the quantity (ChannelAdvisor's `UpdateType`). The engine always
/// sends absolute quantities, so `Relative` is deliberately not offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum QuantityUpdateType {
    /// `UnShipped`: the quantity is what is available plus what is sold but not shipped yet;
    /// ChannelAdvisor recommends it when orders flow through ChannelAdvisor (the default).
    #[default]
    UnShipped,
    /// `Absolute`: the quantity on hand in the distribution centre.
    Absolute,
    /// `Available`: the quantity available to sell.
    Available,
    /// `InStock`: the quantity in stock.
    InStock,
}

impl QuantityUpdateType {
    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            QuantityUpdateType::UnShipped => "UnShipped",
            QuantityUpdateType::Absolute => "Absolute",
            QuantityUpdateType::Available => "Available",
            QuantityUpdateType::InStock => "InStock",
        }
    }
}

/// The product price field a listing's price is written to (`PATCH /v1/Products(ID)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PriceField {
    /// `BuyItNowPrice` (the default; the fixed price most marketplaces use).
    #[default]
    BuyItNowPrice,
    /// `RetailPrice`.
    RetailPrice,
    /// `StorePrice`.
    StorePrice,
    /// `StartingPrice` (auctions).
    StartingPrice,
    /// `ReservePrice` (auctions).
    ReservePrice,
    /// `SecondChancePrice`.
    SecondChancePrice,
    /// `MinPrice`.
    MinPrice,
    /// `MaxPrice`.
    MaxPrice,
}

impl PriceField {
    /// The wire field name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PriceField::BuyItNowPrice => "BuyItNowPrice",
            PriceField::RetailPrice => "RetailPrice",
            PriceField::StorePrice => "StorePrice",
            PriceField::StartingPrice => "StartingPrice",
            PriceField::ReservePrice => "ReservePrice",
            PriceField::SecondChancePrice => "SecondChancePrice",
            PriceField::MinPrice => "MinPrice",
            PriceField::MaxPrice => "MaxPrice",
        }
    }
}

/// Which order fields make the shipping method text that shipping mappings match (exactly,
/// case-sensitively). In a config file: `class`, `carrier` or `carrier_and_class`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ShippingMethodText {
    /// `RequestedShippingClass` alone (the default), e.g. `Ground`.
    #[default]
    Class,
    /// `RequestedShippingCarrier` alone, e.g. `UPS`.
    Carrier,
    /// Carrier and class joined by one space, e.g. `UPS Ground` (an empty part is left out).
    CarrierAndClass,
}

/// The configuration of one ChannelAdvisor (or OfferUp) integration.
///
/// Built with [`builder`](Self::builder) / [`offerup_builder`](Self::offerup_builder), or read
/// from a config file: it is a serde type. Unknown fields are refused; the secrets are read but
/// never written; every value is checked as [`ChannelAdvisorConfigBuilder::build`] checks it,
/// and an error names the field. The fields (only the first four are required):
///
/// | field | default |
/// |---|---|
/// | `application_id` | required |
/// | `shared_secret` | required; read, never written |
/// | `refresh_token` | required; read, never written |
/// | `profile_id` | required |
/// | `kind` | `"channel_advisor"` (`"offer_up"`: OfferUp through ChannelAdvisor) |
/// | `base_url` | [`DEFAULT_BASE_URL`] |
/// | `connection_name` | the channel's name |
/// | `distribution_center_id` | none (quantities cannot be sent) |
/// | `quantity_update_type` | `"UnShipped"` |
/// | `price_field` | `"BuyItNowPrice"` |
/// | `price_currency` | none (the profile's) |
/// | `label` | none; OfferUp: [`DEFAULT_OFFERUP_LABEL`] |
/// | `site_name` | none; OfferUp: [`DEFAULT_OFFERUP_SITE_NAME`] |
/// | `shipping_method_text` | `"class"` |
/// | `redirect_uri` | none |
/// | `scopes` | [`DEFAULT_SCOPES`] |
///
/// The retry policy, a shared rate limiter and a token store are set in code (the builder).
///
/// ```
/// # use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig};
/// let config: ChannelAdvisorConfig = serde_json::from_str(r#"{
///     "application_id": "my-app",
///     "shared_secret": "my-shared-secret",
///     "refresh_token": "my-refresh-token",
///     "profile_id": 12345678,
///     "label": "OfferUp",
///     "distribution_center_id": 1
/// }"#)?;
/// let channel = ChannelAdvisorChannel::new(config)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ChannelAdvisorConfig {
    pub(crate) kind: ChannelKind,
    pub(crate) base_url: Url,
    pub(crate) application_id: String,
    pub(crate) shared_secret: SecretString,
    pub(crate) refresh_token: SecretString,
    pub(crate) access_token: Option<(SecretString, DateTime<Utc>)>,
    pub(crate) profile_id: u64,
    pub(crate) connection_name: String,
    pub(crate) distribution_center_id: Option<u64>,
    pub(crate) quantity_update_type: QuantityUpdateType,
    pub(crate) price_field: PriceField,
    pub(crate) price_currency: Option<Currency>,
    pub(crate) label: Option<String>,
    pub(crate) site_name: Option<String>,
    pub(crate) shipping_method_text: ShippingMethodText,
    pub(crate) redirect_uri: Option<Url>,
    pub(crate) scopes: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) token_store: Option<Arc<dyn TokenStore>>,
}

impl fmt::Debug for ChannelAdvisorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelAdvisorConfig")
            .field("kind", &self.kind)
            .field(
                "base_url",
                &marketsync_core::redact::RedactedUrl(&self.base_url),
            )
            .field("application_id", &self.application_id)
            .field("shared_secret", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("profile_id", &self.profile_id)
            .field("connection_name", &self.connection_name)
            .field("distribution_center_id", &self.distribution_center_id)
            .field("quantity_update_type", &self.quantity_update_type)
            .field("price_field", &self.price_field)
            .field("label", &self.label)
            .field("site_name", &self.site_name)
            .field("shipping_method_text", &self.shipping_method_text)
            .field(
                "redirect_uri",
                &marketsync_core::redact::redact_opt_url(self.redirect_uri.as_ref()),
            )
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ChannelAdvisorConfig {
    /// A builder for a ChannelAdvisor integration.
    pub fn builder() -> ChannelAdvisorConfigBuilder {
        ChannelAdvisorConfigBuilder::new(ChannelKind::ChannelAdvisor)
    }

    /// A builder for OfferUp through ChannelAdvisor: orders are filtered to the OfferUp site
    /// ([`DEFAULT_OFFERUP_SITE_NAME`]) and listings to the OfferUp label
    /// ([`DEFAULT_OFFERUP_LABEL`]); both can be changed.
    pub fn offerup_builder() -> ChannelAdvisorConfigBuilder {
        ChannelAdvisorConfigBuilder::new(ChannelKind::OfferUp)
            .site_name(DEFAULT_OFFERUP_SITE_NAME)
            .label(DEFAULT_OFFERUP_LABEL)
    }

    /// ChannelAdvisor or OfferUp.
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// The API host (ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The ChannelAdvisor profile (account) id.
    pub fn profile_id(&self) -> u64 {
        self.profile_id
    }

    /// The connection's display name.
    pub fn connection_name(&self) -> &str {
        &self.connection_name
    }

    /// The distribution centre quantities are written to.
    pub fn distribution_center_id(&self) -> Option<u64> {
        self.distribution_center_id
    }

    /// The label that puts a product in this integration's marketplace feed.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The `SiteName` orders are filtered to.
    pub fn site_name(&self) -> Option<&str> {
        self.site_name.as_deref()
    }

    /// The price field written.
    pub fn price_field(&self) -> PriceField {
        self.price_field
    }

    /// The currency of the profile's product prices, when configured (see
    /// [`ChannelAdvisorConfigBuilder::price_currency`]).
    pub fn price_currency(&self) -> Option<Currency> {
        self.price_currency
    }

    /// The quantity update type.
    pub fn quantity_update_type(&self) -> QuantityUpdateType {
        self.quantity_update_type
    }

    /// How the shipping method text is made.
    pub fn shipping_method_text(&self) -> ShippingMethodText {
        self.shipping_method_text
    }

    pub(crate) fn api_url(&self) -> Url {
        self.base_url
            .join("v1/")
            .unwrap_or_else(|_| self.base_url.clone())
    }

    pub(crate) fn token_url(&self) -> Result<Url, ConfigError> {
        self.base_url
            .join("oauth2/token")
            .map_err(|e| ConfigError::InvalidBaseUrl(e.to_string()))
    }

    pub(crate) fn authorize_url(&self) -> Result<Url, ConfigError> {
        self.base_url
            .join("oauth2/authorize")
            .map_err(|e| ConfigError::InvalidBaseUrl(e.to_string()))
    }

    /// The starting tokens: the configured access token, or an already expired empty one so
    /// that the first request renews it with the refresh token.
    pub(crate) fn initial_tokens(&self) -> TokenSet {
        let (access_token, expires_at) = match &self.access_token {
            Some((t, at)) => (t.clone(), Some(*at)),
            None => (SecretString::from(""), Some(DateTime::<Utc>::UNIX_EPOCH)),
        };
        TokenSet {
            access_token,
            expires_at,
            refresh_token: Some(self.refresh_token.clone()),
            scopes: Vec::new(),
        }
    }
}

/// Builds a [`ChannelAdvisorConfig`]; [`build`](Self::build) reports what is missing.
pub struct ChannelAdvisorConfigBuilder {
    kind: ChannelKind,
    base_url: String,
    application_id: Option<String>,
    shared_secret: Option<SecretString>,
    refresh_token: Option<SecretString>,
    access_token: Option<(SecretString, DateTime<Utc>)>,
    profile_id: Option<u64>,
    connection_name: Option<String>,
    distribution_center_id: Option<u64>,
    quantity_update_type: QuantityUpdateType,
    price_field: PriceField,
    price_currency: Option<Currency>,
    label: Option<String>,
    site_name: Option<String>,
    shipping_method_text: ShippingMethodText,
    redirect_uri: Option<Url>,
    scopes: String,
    retry: RetryPolicy,
    rate_limiter: Option<RateLimiter>,
    token_store: Option<Arc<dyn TokenStore>>,
}

impl fmt::Debug for ChannelAdvisorConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelAdvisorConfigBuilder")
            .field("kind", &self.kind)
            .field(
                "base_url",
                &marketsync_core::redact::redact_url_str(&self.base_url),
            )
            .field("application_id", &self.application_id)
            .field(
                "shared_secret",
                &self.shared_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("profile_id", &self.profile_id)
            .field("label", &self.label)
            .field("site_name", &self.site_name)
            .finish_non_exhaustive()
    }
}

impl ChannelAdvisorConfigBuilder {
    fn new(kind: ChannelKind) -> Self {
        Self {
            kind,
            base_url: DEFAULT_BASE_URL.to_owned(),
            application_id: None,
            shared_secret: None,
            refresh_token: None,
            access_token: None,
            profile_id: None,
            connection_name: None,
            distribution_center_id: None,
            quantity_update_type: QuantityUpdateType::default(),
            price_field: PriceField::default(),
            price_currency: None,
            label: None,
            site_name: None,
            shipping_method_text: ShippingMethodText::default(),
            redirect_uri: None,
            scopes: DEFAULT_SCOPES.to_owned(),
            retry: RetryPolicy::default(),
            rate_limiter: None,
            token_store: None,
        }
    }

    /// The API host (default [`DEFAULT_BASE_URL`]); tests point it at a mock server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The application id from the developer console (required).
    pub fn application_id(mut self, id: impl Into<String>) -> Self {
        self.application_id = Some(id.into());
        self
    }

    /// The application's shared secret (required).
    pub fn shared_secret(mut self, secret: SecretString) -> Self {
        self.shared_secret = Some(secret);
        self
    }

    /// The refresh token granted for the profile (required). ChannelAdvisor's refresh tokens are
    /// reusable and do not rotate.
    pub fn refresh_token(mut self, token: SecretString) -> Self {
        self.refresh_token = Some(token);
        self
    }

    /// An access token already held and when it expires (optional; without one the first
    /// request renews it).
    pub fn access_token(mut self, token: SecretString, expires_at: DateTime<Utc>) -> Self {
        self.access_token = Some((token, expires_at));
        self
    }

    /// The ChannelAdvisor profile id (required): the number after `?apid=` in the UI.
    pub fn profile_id(mut self, profile_id: u64) -> Self {
        self.profile_id = Some(profile_id);
        self
    }

    /// The connection's display name (default: the channel's name).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// The distribution centre quantities are written to (needed to sync quantities).
    pub fn distribution_center_id(mut self, id: u64) -> Self {
        self.distribution_center_id = Some(id);
        self
    }

    /// The quantity update type (default `UnShipped`).
    pub fn quantity_update_type(mut self, update_type: QuantityUpdateType) -> Self {
        self.quantity_update_type = update_type;
        self
    }

    /// The price field written (default `BuyItNowPrice`). Listings read report it as their
    /// price.
    pub fn price_field(mut self, field: PriceField) -> Self {
        self.price_field = field;
        self
    }

    /// The currency of the profile's product prices. ChannelAdvisor products carry prices
    /// without a currency; listings read report the [price field](Self::price_field) in this
    /// one. Without it, the currency the profile reports (`CurrencyCode`, read by `verify`) is
    /// used once `verify` has run on the adapter; until then listings carry no price.
    pub fn price_currency(mut self, currency: Currency) -> Self {
        self.price_currency = Some(currency);
        self
    }

    /// The label that puts a product into this integration's marketplace feed. Without one,
    /// listings cannot be reconciled and every product counts as listed.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Only orders of this `SiteName` are downloaded (OfferUp: [`DEFAULT_OFFERUP_SITE_NAME`]).
    pub fn site_name(mut self, site: impl Into<String>) -> Self {
        self.site_name = Some(site.into());
        self
    }

    /// How the shipping method text is made (default: the requested shipping class).
    pub fn shipping_method_text(mut self, text: ShippingMethodText) -> Self {
        self.shipping_method_text = text;
        self
    }

    /// The redirect URI registered for the application, for the authorization-code flow.
    pub fn redirect_uri(mut self, uri: Url) -> Self {
        self.redirect_uri = Some(uri);
        self
    }

    /// The OAuth scopes asked for in the authorization-code flow (default
    /// [`DEFAULT_SCOPES`]).
    pub fn scopes(mut self, scopes: impl Into<String>) -> Self {
        self.scopes = scopes.into();
        self
    }

    /// The retry policy of every request (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// A rate limiter shared with other integrations (keyed by profile id). By default each
    /// adapter has its own, holding the profile to 2,000 requests a minute and 5 in flight.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Where renewed access tokens are persisted (default: kept in memory only; the refresh
    /// token never changes).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.token_store = Some(store);
        self
    }

    /// The configuration, or what is missing or wrong.
    pub fn build(self) -> Result<ChannelAdvisorConfig, ConfigError> {
        let base_url = marketsync_http::adapter::base_url(&self.base_url)
            .map_err(ConfigError::InvalidBaseUrl)?;
        let application_id = self
            .application_id
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigError::Missing("application_id"))?;
        let shared_secret = self
            .shared_secret
            .ok_or(ConfigError::Missing("shared_secret"))?;
        let refresh_token = self
            .refresh_token
            .ok_or(ConfigError::Missing("refresh_token"))?;
        let profile_id = self.profile_id.ok_or(ConfigError::MissingProfileId)?;
        if self.label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                field: "label",
                reason: "must not be empty",
            });
        }
        if self
            .site_name
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                field: "site_name",
                reason: "must not be empty",
            });
        }
        Ok(ChannelAdvisorConfig {
            kind: self.kind,
            base_url,
            application_id,
            shared_secret,
            refresh_token,
            access_token: self.access_token,
            profile_id,
            connection_name: self
                .connection_name
                .unwrap_or_else(|| self.kind.display_name().to_owned()),
            distribution_center_id: self.distribution_center_id,
            quantity_update_type: self.quantity_update_type,
            price_field: self.price_field,
            price_currency: self.price_currency,
            label: self.label,
            site_name: self.site_name,
            shipping_method_text: self.shipping_method_text,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            retry: self.retry,
            rate_limiter: self.rate_limiter,
            token_store: self.token_store,
        })
    }
}

/// A configuration as a config file holds it (see [`ChannelAdvisorConfig`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default = "channel_advisor")]
    kind: ChannelKind,
    #[serde(default = "default_base_url")]
    base_url: String,
    application_id: String,
    #[serde(skip_serializing)]
    shared_secret: SecretString,
    #[serde(skip_serializing)]
    refresh_token: SecretString,
    profile_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connection_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    distribution_center_id: Option<u64>,
    #[serde(default)]
    quantity_update_type: QuantityUpdateType,
    #[serde(default)]
    price_field: PriceField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    price_currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    site_name: Option<String>,
    #[serde(default)]
    shipping_method_text: ShippingMethodText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<Url>,
    #[serde(default = "default_scopes")]
    scopes: String,
}

fn channel_advisor() -> ChannelKind {
    ChannelKind::ChannelAdvisor
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_scopes() -> String {
    DEFAULT_SCOPES.to_owned()
}

impl<'de> Deserialize<'de> for ChannelAdvisorConfig {
    /// Reads a config file's fields (see [`ChannelAdvisorConfig`]) and checks them as
    /// [`ChannelAdvisorConfigBuilder::build`] does.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = ConfigFile::deserialize(deserializer)?;
        let mut b = match f.kind {
            ChannelKind::ChannelAdvisor => ChannelAdvisorConfig::builder(),
            ChannelKind::OfferUp => ChannelAdvisorConfig::offerup_builder(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "`kind` must be channel_advisor or offer_up, not {other}"
                )));
            }
        }
        .base_url(f.base_url)
        .application_id(f.application_id)
        .shared_secret(f.shared_secret)
        .refresh_token(f.refresh_token)
        .profile_id(f.profile_id)
        .quantity_update_type(f.quantity_update_type)
        .price_field(f.price_field)
        .shipping_method_text(f.shipping_method_text)
        .scopes(f.scopes);
        b.connection_name = f.connection_name;
        b.distribution_center_id = f.distribution_center_id;
        b.price_currency = f.price_currency;
        b.label = f.label.or(b.label);
        b.site_name = f.site_name.or(b.site_name);
        b.redirect_uri = f.redirect_uri;
        b.build().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ChannelAdvisorConfig {
    /// Writes the config file's fields, without the secrets.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ConfigFile {
            kind: self.kind,
            base_url: self.base_url.to_string(),
            application_id: self.application_id.clone(),
            shared_secret: SecretString::from(""),
            refresh_token: SecretString::from(""),
            profile_id: self.profile_id,
            connection_name: Some(self.connection_name.clone()),
            distribution_center_id: self.distribution_center_id,
            quantity_update_type: self.quantity_update_type,
            price_field: self.price_field,
            price_currency: self.price_currency,
            label: self.label.clone(),
            site_name: self.site_name.clone(),
            shipping_method_text: self.shipping_method_text,
            redirect_uri: self.redirect_uri.clone(),
            scopes: self.scopes.clone(),
        }
        .serialize(serializer)
    }
}
