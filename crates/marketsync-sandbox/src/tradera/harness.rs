//! [`TraderaHarness`]: the Tradera adapter (`marketsync-tradera`) pointed at a running
//! [`TraderaSandbox`], with the sandbox's controls behind the channel conformance suite's
//! [`ChannelHarness`] trait (`marketsync_testkit::channel`).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use marketsync_testkit::channel;
//! use marketsync_core::{MemoryStore, Store};
//! use marketsync_sandbox::tradera::TraderaHarness;
//!
//! # async fn run() -> std::io::Result<()> {
//! let harness = TraderaHarness::start().await?;
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! channel::import_records_every_reason(&harness, store).await;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    Channel, ChannelListing, ChannelListingId, ChannelListingState, ChannelOrderId, Credentials,
    Currency, ErrorKind, Money, Operation, OrderState, SecretString, Sku,
};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, Received};
use marketsync_tradera::{TraderaChannel, TraderaConfig};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::api::Item;
use super::seed::SHOP_ITEM;
use super::{NewOrder, TraderaBuilder, TraderaSandbox, USER_ID};
use crate::options::{HarnessOptions, harness_options};
use crate::server::Sandbox;

/// The daily call budget the harness gives the sandbox and the adapter by default: large, so the
/// conformance checks are never throttled by Tradera's budget (only by injected 429s).
pub const HARNESS_DAILY_BUDGET: u32 = 10_000;

/// Whole kronor per unit of any currency other than SEK, the fixed rate at which the harness
/// writes the suite's prices (USD by default) as Tradera's integer SEK.
pub const SEK_PER_UNIT: i64 = 10;

/// Builds a [`TraderaHarness`]: the sandbox behind it, its knobs and the daily budget.
///
/// The sandbox's own daily budget is replaced by [`daily_budget`](Self::daily_budget).
#[derive(Debug, Clone)]
pub struct TraderaHarnessBuilder {
    opts: HarnessOptions<TraderaBuilder>,
    daily_budget: u32,
}

impl Default for TraderaHarnessBuilder {
    fn default() -> Self {
        Self {
            // No seeded items or orders: the checks create exactly the state they examine.
            opts: HarnessOptions::new(TraderaSandbox::builder().items(0).orders(0)),
            daily_budget: HARNESS_DAILY_BUDGET,
        }
    }
}

harness_options!(TraderaHarnessBuilder, TraderaBuilder);

impl TraderaHarnessBuilder {
    /// Calls per 24 hours, for the sandbox and the adapter alike (default
    /// [`HARNESS_DAILY_BUDGET`]).
    pub fn daily_budget(mut self, calls: u32) -> Self {
        self.daily_budget = calls;
        self
    }

    /// Starts the sandbox and builds the adapter pointed at it. Needs a Tokio runtime.
    pub async fn start(self) -> std::io::Result<TraderaHarness> {
        let sandbox = self
            .opts
            .sandbox
            .daily_budget(Some(self.daily_budget))
            .build()
            .start_with(self.opts.knobs)
            .await?;
        let creds = sandbox.credentials();
        let config = TraderaConfig::builder()
            .base_url(sandbox.base_url())
            .app_id(i64::from(creds.app_id))
            .app_key(SecretString::from(creds.app_key.clone()))
            .session(
                i64::from(creds.user_id),
                SecretString::from(creds.user_token.clone()),
                Some(creds.hard_expiration_time),
            )
            .connection_name("Sandbox")
            .daily_budget(self.daily_budget);
        let config = match self.opts.rate_limiter {
            Some(limiter) => config.rate_limiter(limiter),
            None => config,
        };
        let config = config.build().map_err(std::io::Error::other)?;
        let adapter = TraderaChannel::new(config).map_err(std::io::Error::other)?;
        Ok(TraderaHarness {
            sandbox,
            adapter,
            token: Mutex::new((creds.user_token, creds.hard_expiration_time)),
        })
    }
}

/// The Tradera adapter pointed at a running [`TraderaSandbox`], with the sandbox's controls as
/// the channel conformance suite's [`ChannelHarness`].
///
/// - **Adapter**: built with the sandbox's base URL, its application id and key ([`APP_ID`](super::APP_ID),
///   [`APP_KEY`](super::APP_KEY)), the sandbox's starting login session for [`USER_ID`], the connection name
///   `Sandbox`, and a daily budget of [`HARNESS_DAILY_BUDGET`] (the sandbox gets the same), with
///   the adapter's default retry policy and queued-result polling.
/// - **Money**: Tradera's prices are whole SEK. Prices the suite gives in SEK are rounded to
///   whole kronor; any other currency (the suite's USD) is converted at [`SEK_PER_UNIT`] kronor
///   per unit, so the suite's `10.00` USD orders are 100 SEK orders; the adapter reports them in
///   SEK, which the engine stores as they come.
/// - **Listings** are shop items of the sandbox: [`add_listing`](ChannelHarness::add_listing)
///   adds one with the SKU as its only own reference, the price in kronor and the quantity;
///   [`listing`](ChannelHarness::listing) reads the item as the sandbox serves it and maps it the
///   way the adapter does (ended once its end date has passed, which a removal through the API
///   brings forward; sold out at 0; else live);
///   [`delete_listing_outside`](ChannelHarness::delete_listing_outside) deletes it ("removed in
///   Tradera's web UI": gone from every list).
/// - **Orders** are sandbox orders, one line per SKU: each line is the seller's shop item with
///   that own reference (created if there is none), at the spec's unit price. Tradera's order has
///   no status: `AwaitingShipment` is an order paid through Tradera Pay, `Unpaid` one without a
///   payment; other states panic (the adapter reads no other). The shipping text is the order's
///   `shippingType`.
/// - **Credentials** are a [`Credentials::LoginSession`] for [`USER_ID`] with the sandbox token
///   and its hard expiry. [`revoke_credentials`](ChannelHarness::revoke_credentials) revokes the
///   current token (403 from then on); [`new_credentials`](ChannelHarness::new_credentials)
///   issues a new token at the sandbox ("the seller logged in again") and returns its session;
///   the engine hands it to the adapter ([`Channel::use_credentials`]).
/// - **Failures**: [`fail_next`](ChannelHarness::fail_next) queues the sandbox's own 500
///   (`Transient`) or 429 (`RateLimited`, Tradera's budget answer) for the sandbox operations
///   behind the adapter operation ([`sandbox_operations`]).
/// - **Received**: shipments are the sandbox's ship records; Tradera has no refund or
///   cancellation call, so none is ever received.
#[derive(Debug)]
pub struct TraderaHarness {
    sandbox: Sandbox<TraderaSandbox>,
    adapter: TraderaChannel,
    token: Mutex<(String, DateTime<Utc>)>,
}

impl TraderaHarness {
    /// A builder (empty sandbox, budget [`HARNESS_DAILY_BUDGET`]).
    pub fn builder() -> TraderaHarnessBuilder {
        TraderaHarnessBuilder::default()
    }

    /// The adapter on an empty sandbox.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// The running sandbox (counters, request log, records, knobs).
    pub fn sandbox(&self) -> &Sandbox<TraderaSandbox> {
        &self.sandbox
    }

    /// The adapter (the same one [`ChannelHarness::channel`] hands out).
    pub fn adapter(&self) -> &TraderaChannel {
        &self.adapter
    }

    /// The user token the harness last handed out, and its hard expiry.
    pub fn current_token(&self) -> (String, DateTime<Utc>) {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn session(&self) -> Credentials {
        let (token, expires_at) = self.current_token();
        Credentials::LoginSession(LoginSession {
            user_id: Some(USER_ID.to_string()),
            token: SecretString::from(token),
            expires_at,
            refresh_token: None,
            refresh_expires_at: None,
        })
    }

    /// Adds a live shop item with `sku` as its own reference; returns its id.
    fn add_item(&self, sku: &Sku, kronor: i64, quantity: u32) -> i64 {
        let now = self.sandbox.clock_now();
        let mut st = self.sandbox.state();
        let id = st.next_item_id;
        st.next_item_id += 1;
        st.items.insert(
            id,
            Item {
                id,
                item_type: SHOP_ITEM,
                title: format!("Item {sku}"),
                description: format!("Item {sku}, created by the conformance harness."),
                category_id: 344_481,
                price: kronor,
                quantity: i64::from(quantity),
                start_quantity: i64::from(quantity.max(1)),
                vat: 25,
                own_references: vec![sku.as_str().to_owned()],
                start: now - TimeDelta::days(1),
                end: now + TimeDelta::days(3650),
                deactivated: None,
            },
        );
        id
    }
}

/// The sandbox operations (counter names) behind an adapter operation, where faults for it are
/// injected. Empty for operations the adapter answers without a call.
pub fn sandbox_operations(operation: Operation) -> &'static [&'static str] {
    match operation {
        Operation::Verify => &["users.me"],
        Operation::ListListings => &["items.seller"],
        Operation::UpdateListings => &["shop_items.quantities", "shop_items.prices"],
        Operation::PublishListings => &["shop_items.create"],
        Operation::EndListings => &["shop_items.delete", "items.end"],
        Operation::FetchOrders => &["orders.list"],
        Operation::FetchOrdersById => &["orders.get"],
        Operation::Ship => &["orders.ship"],
        _ => &[],
    }
}

/// A price as Tradera's whole kronor: SEK rounded to the krona, any other currency at
/// [`SEK_PER_UNIT`] kronor per unit, rounded. At least 1 (Tradera refuses prices below 1 SEK).
pub fn kronor(price: Money) -> i64 {
    let amount = if price.currency() == Currency::SEK {
        price.amount()
    } else {
        price.amount() * Decimal::from(SEK_PER_UNIT)
    };
    amount.round().to_i64().expect("an amount in range").max(1)
}

fn numeric(id: &str) -> i64 {
    id.parse()
        .unwrap_or_else(|_| panic!("{id:?} is not a Tradera id (a number)"))
}

#[async_trait]
impl ChannelHarness for TraderaHarness {
    fn channel(&self) -> Arc<dyn Channel> {
        Arc::new(self.adapter.clone())
    }

    fn credentials(&self) -> Credentials {
        self.session()
    }

    async fn add_listing(&self, sku: &Sku, price: Money, quantity: u32) -> ChannelListingId {
        let id = self.add_item(sku, kronor(price), quantity);
        ChannelListingId::new(id.to_string()).expect("an item id is a valid listing id")
    }

    async fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        let i = self.sandbox.item(numeric(id.as_str()))?;
        let now = self.sandbox.clock_now();
        let quantity = i["remainingQuantity"]
            .as_i64()
            .map(|q| q.clamp(0, i64::from(u32::MAX)) as u32);
        let ended = i["endDate"]
            .as_str()
            .and_then(marketsync_tradera::decode::parse_time)
            .is_some_and(|end| end <= now);
        let state = if ended {
            ChannelListingState::Ended
        } else if quantity == Some(0) {
            ChannelListingState::SoldOut
        } else {
            ChannelListingState::Live
        };
        let price = match i["itemType"].as_i64() {
            Some(super::seed::AUCTION) => i["openingBid"].as_i64(),
            _ => i["buyItNowPrice"].as_i64(),
        };
        Some(ChannelListing {
            id: id.clone(),
            sku: i["ownReferences"][0]
                .as_str()
                .and_then(|s| Sku::new(s).ok()),
            title: i["shortDescription"].as_str().map(str::to_owned),
            price: price.map(marketsync_tradera::decode::sek),
            quantity,
            state,
            raw_state: format!("itemType {} statusId {}", i["itemType"], i["statusId"]),
        })
    }

    async fn delete_listing_outside(&self, id: &ChannelListingId) {
        self.sandbox.delete_item(numeric(id.as_str()));
    }

    async fn add_order(&self, spec: &OrderSpec) -> ChannelOrderId {
        let paid = match spec.state {
            OrderState::AwaitingShipment => true,
            OrderState::Unpaid => false,
            other => panic!(
                "a Tradera order is paid (AwaitingShipment) or unpaid; it has no state {other:?} (spec {:?})",
                spec.name
            ),
        };
        let unit = kronor(spec.unit_price);
        let items = spec
            .skus
            .iter()
            .map(|sku| {
                let id = self
                    .sandbox
                    .item_id_by_reference(sku.as_str())
                    .unwrap_or_else(|| self.add_item(sku, unit, 10));
                (id, 1)
            })
            .collect();
        let id = self.sandbox.add_order(NewOrder {
            items,
            shipping_type: spec.shipping.clone(),
            paid,
            created: Some(spec.created_at),
            ..NewOrder::default()
        });
        // Each line at the spec's price, whatever the item costs now.
        {
            let mut st = self.sandbox.state();
            let o = st.orders.get_mut(&id).expect("the order just added");
            for line in &mut o.lines {
                line.unit_price = unit;
            }
            let amount = o.sub_total() + o.shipping_cost;
            if let Some(p) = o.payment.as_mut() {
                p.amount = amount;
            }
        }
        ChannelOrderId::new(id.to_string()).expect("an order id is a valid channel order id")
    }

    async fn revoke_credentials(&self) {
        self.sandbox.revoke_user_token(&self.current_token().0);
    }

    async fn new_credentials(&self) -> Credentials {
        let issued = self.sandbox.issue_user_token();
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = issued;
        self.session()
    }

    async fn fail_next(&self, operation: Operation, kind: ErrorKind, times: u32) {
        let ops = sandbox_operations(operation);
        crate::options::fail_next(&self.sandbox, "Tradera", ops, kind, times);
    }

    fn currency(&self) -> Currency {
        Currency::SEK
    }

    async fn received(&self, order: &ChannelOrderId, what: Received) -> usize {
        match what {
            Received::Shipments => {
                let Ok(id) = order.as_str().parse::<i64>() else {
                    return 0;
                };
                self.sandbox
                    .ships()
                    .iter()
                    .filter(|s| s.order_id == id)
                    .count()
            }
            // Tradera's REST API v4 has neither call: nothing can be received.
            Received::Refunds | Received::Cancellations => 0,
        }
    }
}
