//! [`ChannelAdvisorHarness`]: the ChannelAdvisor adapter (`marketsync-channeladvisor`) pointed at
//! a running [`ChannelAdvisorSandbox`], with the sandbox's controls behind the channel
//! conformance suite's [`ChannelHarness`] trait (`marketsync_testkit::channel`).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use marketsync_testkit::channel;
//! use marketsync_core::{MemoryStore, Store};
//! use marketsync_sandbox::channeladvisor::ChannelAdvisorHarness;
//!
//! # async fn run() -> std::io::Result<()> {
//! let harness = ChannelAdvisorHarness::start().await?;
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! channel::import_records_every_reason(&harness, store).await;
//! # Ok(())
//! # }
//! ```

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig, PriceField};
use marketsync_core::credentials::OAuthTokens;
use marketsync_core::{
    Channel, ChannelKind, ChannelListing, ChannelListingId, ChannelListingState, ChannelOrderId,
    Credentials, Currency, ErrorKind, Money, Operation, OrderState, SecretString, Sku,
};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, Received};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::seed::SITES;
use super::{APPLICATION_ID, ChannelAdvisorBuilder, ChannelAdvisorSandbox, NewOrder, PROFILE_ID};
use crate::options::{HarnessOptions, harness_options};
use crate::server::Sandbox;

/// The ChannelAdvisor product label the harness's ChannelAdvisor integration uses: the same
/// name as the integration's label in the conformance suite's rig (`Rig::label`).
pub const HARNESS_LABEL: &str = "conformance";

/// The seller-managed distribution centre the harness's adapter writes quantities to, and where
/// [`ChannelHarness::add_listing`] puts a new product's quantity.
pub const HARNESS_DISTRIBUTION_CENTER: u64 = 1;

/// The site of the orders the harness creates for a ChannelAdvisor integration (one without a
/// site filter): `(SiteID, SiteName)`.
pub const HARNESS_SITE: (i64, &str) = (1, "eBay Fixed Price US");

/// Builds a [`ChannelAdvisorHarness`]: which integration (ChannelAdvisor or OfferUp), its label,
/// and the sandbox behind it.
#[derive(Debug, Clone)]
pub struct ChannelAdvisorHarnessBuilder {
    kind: ChannelKind,
    label: Option<String>,
    opts: HarnessOptions<ChannelAdvisorBuilder>,
}

impl Default for ChannelAdvisorHarnessBuilder {
    fn default() -> Self {
        Self {
            kind: ChannelKind::ChannelAdvisor,
            label: None,
            // No seeded products or orders: the checks create exactly the state they examine.
            opts: HarnessOptions::new(ChannelAdvisorSandbox::builder().products(0).orders(0)),
        }
    }
}

harness_options!(ChannelAdvisorHarnessBuilder, ChannelAdvisorBuilder);

impl ChannelAdvisorHarnessBuilder {
    /// An OfferUp integration through ChannelAdvisor (`ChannelAdvisorConfig::offerup_builder`):
    /// the adapter downloads only orders of the OfferUp site, and treats the OfferUp label as
    /// its feed. Orders the harness adds carry `SiteName` `"OfferUp"`.
    pub fn offerup(mut self) -> Self {
        self.kind = ChannelKind::OfferUp;
        self
    }

    /// The ChannelAdvisor label of the integration's feed (default [`HARNESS_LABEL`], or the
    /// OfferUp label for [`offerup`](Self::offerup)).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Starts the sandbox and builds the adapter pointed at it. Needs a Tokio runtime.
    pub async fn start(self) -> std::io::Result<ChannelAdvisorHarness> {
        let sandbox = self
            .opts
            .sandbox
            .build()
            .start_with(self.opts.knobs)
            .await?;
        let creds = sandbox.credentials();
        let builder = match self.kind {
            ChannelKind::OfferUp => ChannelAdvisorConfig::offerup_builder(),
            _ => ChannelAdvisorConfig::builder().label(HARNESS_LABEL),
        };
        let builder = match self.label {
            Some(label) => builder.label(label),
            None => builder,
        };
        let profile_id = u64::try_from(creds.profile_id).map_err(std::io::Error::other)?;
        let config = builder
            .base_url(sandbox.base_url())
            .application_id(creds.application_id.clone())
            .shared_secret(SecretString::from(creds.shared_secret.clone()))
            .refresh_token(SecretString::from(creds.refresh_token.clone()))
            .profile_id(profile_id)
            .connection_name("Sandbox")
            .distribution_center_id(HARNESS_DISTRIBUTION_CENTER);
        let config = match self.opts.rate_limiter {
            Some(limiter) => config.rate_limiter(limiter),
            None => config,
        };
        let config = config.build().map_err(std::io::Error::other)?;
        let label = config.label().unwrap_or(HARNESS_LABEL).to_owned();
        let site = match config.site_name() {
            Some(name) => (
                SITES.iter().find(|s| s.1 == name).map_or(0, |s| s.0),
                name.to_owned(),
            ),
            None => (HARNESS_SITE.0, HARNESS_SITE.1.to_owned()),
        };
        let price_field = config.price_field();
        let adapter = ChannelAdvisorChannel::new(config).map_err(std::io::Error::other)?;
        Ok(ChannelAdvisorHarness {
            sandbox,
            adapter,
            label,
            site,
            price_field,
            refresh_token: Mutex::new(creds.refresh_token),
            issued: AtomicU32::new(0),
        })
    }
}

/// The ChannelAdvisor adapter pointed at a running [`ChannelAdvisorSandbox`], with the sandbox's
/// controls as the channel conformance suite's [`ChannelHarness`].
///
/// - **Adapter**: built with the sandbox's base URL, application id, shared secret, refresh token
///   and profile, the label [`HARNESS_LABEL`] (OfferUp: the OfferUp label and site), quantities
///   on distribution centre [`HARNESS_DISTRIBUTION_CENTER`], the default price field
///   (`BuyItNowPrice`), the default shipping text (`RequestedShippingClass`) and the default
///   retry policy.
/// - **Listings** are sandbox products: [`add_listing`](ChannelHarness::add_listing) adds one
///   carrying the label, with the quantity on the distribution centre and the price in the
///   price field; [`listing`](ChannelHarness::listing) reads the product from the sandbox's
///   state the way the adapter maps it (`Live` with the label, `SoldOut` at quantity 0, `Ended`
///   without the label, `None` once deleted) and, unlike the adapter (products carry no
///   currency), reports the price field in the profile's currency (USD), so a check can see the
///   price the sync sent.
/// - **Orders** are sandbox orders of the integration's site, with statuses matching the
///   spec's state, `RequestedShippingClass` = the spec's shipping text, `CreatedDateUtc`, the
///   currency, and one line per SKU (quantity 1, the unit price).
/// - **Credentials**: [`revoke_credentials`](ChannelHarness::revoke_credentials) revokes the
///   refresh token, which also invalidates every access token issued from it;
///   [`new_credentials`](ChannelHarness::new_credentials) registers a new refresh token and
///   returns it; the engine hands it to the adapter ([`Channel::use_credentials`]) when it is
///   entered, which is what the repair check proves.
/// - **Failures**: [`fail_next`](ChannelHarness::fail_next) queues the sandbox's own 500
///   (`Transient`) or 429 (`RateLimited`) for the sandbox operations behind the adapter
///   operation ([`sandbox_operations`]).
/// - **Received**: shipments are the sandbox's `Ship` records; refunds and cancellations its
///   `Adjust` records of kind `Refund` and `Cancellation`.
#[derive(Debug)]
pub struct ChannelAdvisorHarness {
    sandbox: Sandbox<ChannelAdvisorSandbox>,
    adapter: ChannelAdvisorChannel,
    label: String,
    site: (i64, String),
    price_field: PriceField,
    refresh_token: Mutex<String>,
    issued: AtomicU32,
}

impl ChannelAdvisorHarness {
    /// A builder (ChannelAdvisor integration, empty sandbox).
    pub fn builder() -> ChannelAdvisorHarnessBuilder {
        ChannelAdvisorHarnessBuilder::default()
    }

    /// A ChannelAdvisor integration on an empty sandbox.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// An OfferUp integration (through ChannelAdvisor) on an empty sandbox.
    pub async fn start_offerup() -> std::io::Result<Self> {
        Self::builder().offerup().start().await
    }

    /// The running sandbox (counters, request log, records, knobs).
    pub fn sandbox(&self) -> &Sandbox<ChannelAdvisorSandbox> {
        &self.sandbox
    }

    /// The adapter (the same one [`ChannelHarness::channel`] hands out).
    pub fn adapter(&self) -> &ChannelAdvisorChannel {
        &self.adapter
    }

    /// The integration's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The `SiteName` of the orders the harness adds.
    pub fn site_name(&self) -> &str {
        &self.site.1
    }

    /// The credentials for a refresh token, as the engine stores them.
    fn oauth(refresh_token: &str) -> Credentials {
        Credentials::OAuth(OAuthTokens {
            access_token: None,
            access_expires_at: None,
            refresh_token: SecretString::from(refresh_token.to_owned()),
            refresh_expires_at: None,
            profile_id: Some(PROFILE_ID.to_string()),
        })
    }

    fn current_refresh_token(&self) -> String {
        self.refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The sandbox operations (counter names) behind an adapter operation, where faults for it are
/// injected. Empty for operations the adapter answers without a call (publishing).
pub fn sandbox_operations(operation: Operation) -> &'static [&'static str] {
    match operation {
        Operation::Verify => &["profiles.list"],
        Operation::ListListings => &["products.list"],
        // Quantity and price updates, and label removals, go in one `$batch`.
        Operation::UpdateListings | Operation::EndListings => &["batch"],
        Operation::PublishListings => &[],
        // An order cut at 20 items is read again on its own (`orders.get`).
        Operation::FetchOrders => &["orders.list", "orders.get"],
        // One `$filter` on the ids (`orders.list`); an order cut at 20 items on its own.
        Operation::FetchOrdersById => &["orders.list", "orders.get"],
        Operation::AcknowledgeOrder => &["orders.export"],
        Operation::Ship => &["orders.ship"],
        Operation::Refund | Operation::Cancel => &["orders.adjust", "order_items.adjust"],
        Operation::Authorize => &["token.code"],
        _ => &[],
    }
}

/// ChannelAdvisor's (`CheckoutStatus`, `PaymentStatus`, `ShippingStatus`) for a state, each
/// mapped back to that state by the adapter (its `convert::order_state`).
pub fn statuses_for(state: OrderState) -> (&'static str, &'static str, &'static str) {
    match state {
        OrderState::Unpaid => ("Completed", "NotYetSubmitted", "Unshipped"),
        OrderState::PaymentPending => ("Completed", "Submitted", "Unshipped"),
        OrderState::AwaitingShipment => ("Completed", "Cleared", "Unshipped"),
        OrderState::PartiallyShipped => ("Completed", "Cleared", "PartiallyShipped"),
        OrderState::Shipped => ("Completed", "Cleared", "Shipped"),
        OrderState::Cancelled => ("Completed", "Cleared", "Canceled"),
        OrderState::OnHold => ("OnHold", "Cleared", "Unshipped"),
        // ChannelAdvisor has no "delivered" or "refunded" order status: the adapter reads
        // those orders' statuses as shipped (a refund is an adjustment, not a status).
        OrderState::Completed | OrderState::Refunded => ("Completed", "Cleared", "Shipped"),
        _ => ("Completed", "Cleared", "ThirdPartyManaged"),
    }
}

/// A JSON number for a decimal amount (what ChannelAdvisor's price fields hold).
fn json_amount(amount: Decimal) -> Value {
    amount
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A decimal amount from a JSON number, exactly as written.
fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .ok(),
        _ => None,
    }
}

fn numeric(id: &str) -> i64 {
    id.parse()
        .unwrap_or_else(|_| panic!("{id:?} is not a ChannelAdvisor id (a number)"))
}

#[async_trait]
impl ChannelHarness for ChannelAdvisorHarness {
    fn channel(&self) -> Arc<dyn Channel> {
        Arc::new(self.adapter.clone())
    }

    fn credentials(&self) -> Credentials {
        Self::oauth(&self.current_refresh_token())
    }

    async fn add_listing(&self, sku: &Sku, price: Money, quantity: u32) -> ChannelListingId {
        let id =
            self.sandbox
                .add_product(sku.as_str(), &[self.label.as_str()], i64::from(quantity));
        let field = self.price_field.as_str();
        self.sandbox.edit_product(id, |p| {
            p.insert("Title".into(), json!(format!("Item {sku}")));
            p.insert(field.into(), json_amount(price.amount()));
        });
        ChannelListingId::new(id.to_string()).expect("a product id is a valid listing id")
    }

    async fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        let product = self.sandbox.product(numeric(id.as_str()))?;
        let labels: Vec<String> = product["Labels"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l["Name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let quantity = product["TotalAvailableQuantity"]
            .as_i64()
            .map(|q| q.clamp(0, i64::from(u32::MAX)) as u32);
        let state = if !labels.contains(&self.label) {
            ChannelListingState::Ended
        } else if quantity == Some(0) {
            ChannelListingState::SoldOut
        } else {
            ChannelListingState::Live
        };
        Some(ChannelListing {
            id: id.clone(),
            sku: product["Sku"].as_str().and_then(|s| Sku::new(s).ok()),
            title: product["Title"].as_str().map(str::to_owned),
            price: decimal(&product[self.price_field.as_str()])
                .map(|a| Money::new(a, Currency::USD)),
            quantity,
            state,
            raw_state: format!("Labels: {}", labels.join(", ")),
        })
    }

    async fn delete_listing_outside(&self, id: &ChannelListingId) {
        self.sandbox.delete_product(numeric(id.as_str()));
    }

    async fn add_order(&self, spec: &OrderSpec) -> ChannelOrderId {
        let (checkout, payment, shipping) = statuses_for(spec.state);
        let cents = |m: Money| {
            (m.amount() * Decimal::ONE_HUNDRED)
                .round()
                .to_i64()
                .expect("a unit price in range")
        };
        let id = self.sandbox.add_order(NewOrder {
            site_name: self.site.1.clone(),
            site_id: self.site.0,
            currency: spec.unit_price.currency().code().to_owned(),
            country: "US".into(),
            statuses: (checkout.into(), payment.into(), shipping.into()),
            carrier: String::new(),
            // The adapter's default shipping text is the requested shipping class.
            class: spec.shipping.clone(),
            lines: spec
                .skus
                .iter()
                .map(|s| (s.as_str().to_owned(), 1, cents(spec.unit_price)))
                .collect(),
            created: Some(spec.created_at),
        });
        ChannelOrderId::new(id.to_string()).expect("an order id is a valid channel order id")
    }

    async fn revoke_credentials(&self) {
        // Revoking the refresh token also invalidates the access tokens issued from it.
        self.sandbox
            .revoke_refresh_token(&self.current_refresh_token());
    }

    async fn new_credentials(&self) -> Credentials {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 2;
        let token = format!("sandbox-refresh-token-{n}");
        self.sandbox
            .add_refresh_token(&token, APPLICATION_ID, &["orders", "inventory"]);
        *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        Self::oauth(&token)
    }

    async fn fail_next(&self, operation: Operation, kind: ErrorKind, times: u32) {
        let ops = sandbox_operations(operation);
        crate::options::fail_next(&self.sandbox, "ChannelAdvisor", ops, kind, times);
    }

    async fn received(&self, order: &ChannelOrderId, what: Received) -> usize {
        let id = numeric(order.as_str());
        let adjustments = |kind: &str| {
            self.sandbox
                .adjustments_of(id)
                .iter()
                .filter(|a| a.kind == kind)
                .count()
        };
        match what {
            Received::Shipments => self.sandbox.shipments_of(id).len(),
            Received::Refunds => adjustments("Refund"),
            Received::Cancellations => adjustments("Cancellation"),
        }
    }
}
