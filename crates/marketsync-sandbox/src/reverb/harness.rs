//! [`ReverbHarness`]: the Reverb adapter (`marketsync-reverb`) pointed at a running
//! [`ReverbSandbox`], with the sandbox's controls behind the channel conformance suite's
//! [`ChannelHarness`] trait (`marketsync_testkit::channel`).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use marketsync_testkit::channel;
//! use marketsync_core::{MemoryStore, Store};
//! use marketsync_sandbox::reverb::ReverbHarness;
//!
//! # async fn run() -> std::io::Result<()> {
//! let harness = ReverbHarness::start().await?;
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! channel::import_records_every_reason(&harness, store).await;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketsync_core::{
    Channel, ChannelListing, ChannelListingId, ChannelOrderId, Credentials, Currency, ErrorKind,
    Money, Operation, OrderState, SecretString, Sku,
};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, Received};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{NewListing, NewOrder, ReverbBuilder, ReverbSandbox};
use crate::options::{HarnessOptions, harness_options};
use crate::server::Sandbox;

/// Builds a [`ReverbHarness`]: the sandbox behind it and its knobs.
#[derive(Debug, Clone)]
pub struct ReverbHarnessBuilder {
    opts: HarnessOptions<ReverbBuilder>,
}

impl Default for ReverbHarnessBuilder {
    fn default() -> Self {
        Self {
            // No seeded listings or orders: the checks create exactly the state they examine.
            opts: HarnessOptions::new(ReverbSandbox::builder().listings(0).orders(0)),
        }
    }
}

harness_options!(ReverbHarnessBuilder, ReverbBuilder);

impl ReverbHarnessBuilder {
    /// Starts the sandbox and builds the adapter pointed at it. Needs a Tokio runtime.
    pub async fn start(self) -> std::io::Result<ReverbHarness> {
        let sandbox = self
            .opts
            .sandbox
            .build()
            .start_with(self.opts.knobs)
            .await?;
        let token = sandbox.token();
        let config = ReverbConfig::builder()
            .base_url(sandbox.base_url())
            .token(SecretString::from(token.clone()))
            .connection_name("Sandbox")
            .default_currency(Currency::USD);
        let config = match self.opts.rate_limiter {
            Some(limiter) => config.rate_limiter(limiter),
            None => config,
        };
        let config = config.build().map_err(std::io::Error::other)?;
        let adapter = ReverbChannel::new(config).map_err(std::io::Error::other)?;
        Ok(ReverbHarness {
            sandbox,
            adapter,
            token: Mutex::new(token),
        })
    }
}

/// The Reverb adapter pointed at a running [`ReverbSandbox`], with the sandbox's controls as the
/// channel conformance suite's [`ChannelHarness`].
///
/// - **Adapter**: built with the sandbox's base URL, its personal access token, the connection
///   name `Sandbox`, default currency USD, and the adapter's default page size, rate limiter and
///   retry policy.
/// - **Listings** are sandbox listings: [`add_listing`](ChannelHarness::add_listing) adds a
///   `live` one (`sold_out` at quantity 0) with the SKU, inventory and price;
///   [`listing`](ChannelHarness::listing) reads it from the sandbox's state and maps its
///   `state.slug` the way the adapter does (`marketsync_reverb::decode::listing_state`);
///   [`delete_listing_outside`](ChannelHarness::delete_listing_outside) removes it (404).
/// - **Orders** are sandbox orders, one per spec: Reverb's order is one listing line, so a spec
///   must carry exactly one SKU. The state becomes the Reverb `status` the adapter reads back
///   as that state ([`status_for`]); the spec's shipping text, free text that Reverb's
///   `shipping_method` (`shipped`, `expedited_shipping`, `local`) cannot carry, picks the
///   method ([`shipping_method_for`]).
/// - **Credentials**: [`revoke_credentials`](ChannelHarness::revoke_credentials) revokes the
///   current token (401 from then on); [`new_credentials`](ChannelHarness::new_credentials)
///   issues a new token at the sandbox ("the seller generated a new personal access token") and
///   returns it; the engine hands it to the adapter ([`Channel::use_credentials`]) when it is
///   entered, which is what the repair check proves.
/// - **Failures**: [`fail_next`](ChannelHarness::fail_next) queues the sandbox's own 500
///   (`Transient`) or 429 (`RateLimited`) for the sandbox operations behind the adapter
///   operation ([`sandbox_operations`]).
/// - **Received**: shipments are the sandbox's `ship` and `mark_picked_up` records; refunds are
///   its refund requests; cancellations, which Reverb does not have, are the refund requests
///   that refunded the whole order (how the adapter cancels).
#[derive(Debug)]
pub struct ReverbHarness {
    sandbox: Sandbox<ReverbSandbox>,
    adapter: ReverbChannel,
    token: Mutex<String>,
}

impl ReverbHarness {
    /// A builder (empty sandbox).
    pub fn builder() -> ReverbHarnessBuilder {
        ReverbHarnessBuilder::default()
    }

    /// The adapter on an empty sandbox.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// The running sandbox (counters, request log, records, knobs).
    pub fn sandbox(&self) -> &Sandbox<ReverbSandbox> {
        &self.sandbox
    }

    /// The adapter (the same one [`ChannelHarness::channel`] hands out).
    pub fn adapter(&self) -> &ReverbChannel {
        &self.adapter
    }

    /// The token the adapter currently uses.
    pub fn current_token(&self) -> String {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The sandbox operations (counter names) behind an adapter operation, where faults for it are
/// injected. Empty for operations the adapter answers without a call.
pub fn sandbox_operations(operation: Operation) -> &'static [&'static str] {
    match operation {
        Operation::Verify => &["shop.get"],
        Operation::ListListings => &["listings.list"],
        Operation::UpdateListings => &["listings.update"],
        Operation::PublishListings => &["listings.create"],
        Operation::EndListings => &["listings.end"],
        Operation::FetchOrders => &["orders.all"],
        Operation::FetchOrdersById => &["orders.get"],
        Operation::Ship => &["orders.ship", "orders.mark_picked_up"],
        // A full refund or a cancellation reads the order first; the write is what may fail.
        Operation::Refund | Operation::Cancel => &["orders.refund"],
        _ => &[],
    }
}

/// The Reverb order `status` for a state, each read back as that state by the adapter
/// (`marketsync_reverb::decode::order_state`). `None` for states Reverb has no status for
/// (an order is one listing line, so it is never partially shipped).
pub fn status_for(state: OrderState) -> Option<&'static str> {
    Some(match state {
        OrderState::Unpaid => "unpaid",
        OrderState::PaymentPending => "payment_pending",
        OrderState::AwaitingShipment => "paid",
        OrderState::Shipped => "shipped",
        OrderState::Completed => "received",
        OrderState::Cancelled => "cancelled",
        OrderState::Refunded => "refunded",
        OrderState::OnHold => "blocked",
        _ => return None,
    })
}

/// Reverb's `shipping_method` for a free shipping text: `local` for a pickup, `expedited_shipping`
/// for an expedited service, else `shipped`.
pub fn shipping_method_for(text: &str) -> &'static str {
    let t = text.to_ascii_lowercase();
    if t.contains("pickup") || t.contains("pick up") || t == "local" {
        "local"
    } else if t.contains("expedited") || t.contains("express") {
        "expedited_shipping"
    } else {
        "shipped"
    }
}

fn minor_units(m: Money) -> i64 {
    let scale = Decimal::from(10i64.pow(m.currency().minor_units()));
    (m.amount() * scale)
        .round()
        .to_i64()
        .expect("an amount in range")
}

fn numeric(id: &str) -> u64 {
    id.parse()
        .unwrap_or_else(|_| panic!("{id:?} is not a Reverb listing id (a number)"))
}

#[async_trait]
impl ChannelHarness for ReverbHarness {
    fn channel(&self) -> Arc<dyn Channel> {
        Arc::new(self.adapter.clone())
    }

    fn credentials(&self) -> Credentials {
        Credentials::api_token(self.current_token())
    }

    async fn add_listing(&self, sku: &Sku, price: Money, quantity: u32) -> ChannelListingId {
        let id = self.sandbox.add_listing(NewListing {
            sku: Some(sku.as_str().to_owned()),
            title: format!("Item {sku}"),
            price_cents: minor_units(price),
            currency: price.currency().code().to_owned(),
            inventory: i64::from(quantity),
            state: if quantity > 0 { "live" } else { "sold_out" }.to_owned(),
            created: None,
        });
        ChannelListingId::new(id.to_string()).expect("a listing id is a valid listing id")
    }

    async fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        let l = self.sandbox.listing(numeric(id.as_str()))?;
        let slug = l["state"]["slug"].as_str().unwrap_or("").to_owned();
        let inventory = l["inventory"].as_i64();
        Some(ChannelListing {
            id: id.clone(),
            sku: l["sku"].as_str().and_then(|s| Sku::new(s).ok()),
            title: l["title"].as_str().map(str::to_owned),
            price: match (
                l["price"]["amount"].as_str(),
                l["price"]["currency"].as_str(),
            ) {
                (Some(a), Some(c)) => Money::parse(a, c).ok(),
                _ => None,
            },
            quantity: inventory.map(|q| q.clamp(0, i64::from(u32::MAX)) as u32),
            state: marketsync_reverb::decode::listing_state(&slug, inventory),
            raw_state: slug,
        })
    }

    async fn delete_listing_outside(&self, id: &ChannelListingId) {
        self.sandbox.delete_listing(numeric(id.as_str()));
    }

    async fn add_order(&self, spec: &OrderSpec) -> ChannelOrderId {
        let [sku] = spec.skus.as_slice() else {
            panic!(
                "a Reverb order is one listing line: the spec {:?} must carry exactly one SKU",
                spec.name
            )
        };
        let status = status_for(spec.state).unwrap_or_else(|| {
            panic!(
                "Reverb has no order status for {:?} (spec {:?})",
                spec.state, spec.name
            )
        });
        let number = self.sandbox.add_order(NewOrder {
            listing_id: None,
            sku: Some(sku.as_str().to_owned()),
            title: Some(format!("Item {sku}")),
            quantity: 1,
            unit_cents: minor_units(spec.unit_price),
            currency: spec.unit_price.currency().code().to_owned(),
            status: status.to_owned(),
            shipping_method: shipping_method_for(&spec.shipping).to_owned(),
            created: Some(spec.created_at),
            buyer: ("Conformance".into(), spec.name.clone()),
        });
        ChannelOrderId::new(number).expect("an order number is a valid channel order id")
    }

    async fn revoke_credentials(&self) {
        self.sandbox.revoke_token(&self.current_token());
    }

    async fn new_credentials(&self) -> Credentials {
        let token = self.sandbox.issue_token();
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        Credentials::api_token(token)
    }

    async fn fail_next(&self, operation: Operation, kind: ErrorKind, times: u32) {
        let ops = sandbox_operations(operation);
        crate::options::fail_next(&self.sandbox, "Reverb", ops, kind, times);
    }

    async fn received(&self, order: &ChannelOrderId, what: Received) -> usize {
        let n = order.as_str();
        match what {
            Received::Shipments => {
                self.sandbox.shipments_of(n).len() + self.sandbox.pickups_of(n).len()
            }
            Received::Refunds => self.sandbox.refunds_of(n).len(),
            Received::Cancellations => self
                .sandbox
                .refunds_of(n)
                .iter()
                .filter(|r| r.refunded_in_full)
                .count(),
        }
    }
}
