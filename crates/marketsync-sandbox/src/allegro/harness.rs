//! [`AllegroHarness`]: the Allegro adapter (`marketsync-allegro`) pointed at a running
//! [`AllegroSandbox`], with the sandbox's controls behind the channel conformance suite's
//! [`ChannelHarness`] trait (`marketsync_testkit::channel`).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use marketsync_testkit::channel;
//! use marketsync_core::{MemoryStore, Store};
//! use marketsync_sandbox::allegro::AllegroHarness;
//!
//! # async fn run() -> std::io::Result<()> {
//! let harness = AllegroHarness::start().await?;
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! channel::import_records_every_reason(&harness, store).await;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use marketsync_allegro::{AllegroChannel, AllegroConfig, CommandPolling};
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    Channel, ChannelListing, ChannelListingId, ChannelListingState, ChannelOrderId, Credentials,
    ErrorKind, Money, Operation, OrderState, SecretString, Sku,
};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, Received};
use rust_decimal::Decimal;
use serde_json::json;

use super::api::{LineItem, Offer, Order};
use super::{AllegroBuilder, AllegroSandbox, CLIENT_ID, CLIENT_SECRET, USER_ID, seed};
use crate::marketplace::Marketplace;
use crate::options::{HarnessOptions, harness_options};
use crate::server::Sandbox;

/// The fixed, test-only rate at which the harness writes a USD order price as the PLN the
/// sandbox's checkout forms carry (they are always in PLN, as on allegro.pl).
pub const PLN_PER_USD: Decimal = Decimal::from_parts(4, 0, 0, false, 0);

/// How long the sandbox's access tokens live (its builder's default).
const ACCESS_TTL: TimeDelta = TimeDelta::hours(12);

/// Builds an [`AllegroHarness`]: the sandbox behind it and its knobs.
///
/// The default sandbox has no seeded offers or orders and finishes commands at the first poll;
/// a sandbox given instead should keep the default access token lifetime (12 h): the harness
/// reports it.
#[derive(Debug, Clone)]
pub struct AllegroHarnessBuilder {
    opts: HarnessOptions<AllegroBuilder>,
}

impl Default for AllegroHarnessBuilder {
    fn default() -> Self {
        Self {
            // No seeded offers or orders: the checks create exactly the state they examine.
            // Commands finish at their first status poll, so a sync sees its result at once.
            opts: HarnessOptions::new(
                AllegroSandbox::builder()
                    .offers(0)
                    .orders(0)
                    .access_ttl(ACCESS_TTL)
                    .command_polls(0),
            ),
        }
    }
}

harness_options!(AllegroHarnessBuilder, AllegroBuilder);

impl AllegroHarnessBuilder {
    /// Starts the sandbox and builds the adapter pointed at it. Needs a Tokio runtime.
    pub async fn start(self) -> std::io::Result<AllegroHarness> {
        let sandbox = self
            .opts
            .sandbox
            .build()
            .start_with(self.opts.knobs)
            .await?;
        let initial = sandbox.credentials();
        let session = login_session(&initial.access_token, &initial.refresh_token, sandbox.now());
        let base = sandbox.base_url();
        let config = AllegroConfig::builder()
            .base_url(base.clone())
            .auth_base_url(base)
            .client_id(CLIENT_ID)
            .client_secret(SecretString::from(CLIENT_SECRET.to_owned()))
            .session(session.clone())
            .connection_name("Sandbox")
            .command_polling(CommandPolling {
                interval: Duration::from_millis(20),
                max_polls: 10,
            })
            .offer_template(offer_template());
        let config = match self.opts.rate_limiter {
            Some(limiter) => config.rate_limiter(limiter),
            None => config,
        };
        let config = config.build().map_err(std::io::Error::other)?;
        let adapter = AllegroChannel::new(config).map_err(std::io::Error::other)?;
        Ok(AllegroHarness {
            sandbox,
            adapter,
            session: Mutex::new(session),
        })
    }
}

/// The id of the shipping rates (price list) the harness's offer template names: Allegro's ids
/// of seller definitions are UUIDs.
pub const SHIPPING_RATES_ID: &str = "5c7bbf8b-b294-4737-bbda-894320c413b8";
/// The id of the implied warranty definition the template names (`format: uuid` in the spec).
pub const IMPLIED_WARRANTY_ID: &str = "09f0b4cc-7880-11e9-8f9e-2a86e4085a59";
/// The id of the return policy definition the template names (`format: uuid` in the spec).
pub const RETURN_POLICY_ID: &str = "3f2b8c1e-1a2b-4c3d-9e8f-0a1b2c3d4e5f";

/// The offer template the harness configures, so publishing is exercised: a category, and the
/// delivery and after-sales settings a real account would name, by UUID as Allegro's
/// definitions are ([`SHIPPING_RATES_ID`], [`IMPLIED_WARRANTY_ID`], [`RETURN_POLICY_ID`]); the
/// adapter fills in name, external id, price, stock and publication status.
pub fn offer_template() -> serde_json::Value {
    json!({
        "category": {"id": "257931"},
        "delivery": {"shippingRates": {"id": SHIPPING_RATES_ID}, "handlingTime": "PT24H"},
        "afterSalesServices": {
            "impliedWarranty": {"id": IMPLIED_WARRANTY_ID},
            "returnPolicy": {"id": RETURN_POLICY_ID},
        },
        "language": "pl-PL",
    })
}

fn login_session(access: &str, refresh: &str, now: DateTime<Utc>) -> LoginSession {
    LoginSession {
        user_id: Some(USER_ID.to_string()),
        token: SecretString::from(access.to_owned()),
        // `expires_in` is one second less than the lifetime.
        expires_at: now + ACCESS_TTL - TimeDelta::seconds(1),
        refresh_token: Some(SecretString::from(refresh.to_owned())),
        refresh_expires_at: Some(now + TimeDelta::days(90)),
    }
}

/// The Allegro adapter pointed at a running [`AllegroSandbox`], with the sandbox's controls as
/// the channel conformance suite's [`ChannelHarness`].
///
/// - **Adapter**: built with the sandbox's address as both API and auth base URL, the sandbox's
///   client id and secret, a login session of the token pair the sandbox issued for its test
///   user, command polling every 20 ms (at most 10 polls; the sandbox finishes a command at its
///   first poll), and an [`offer_template`], so publishing is supported and exercised.
/// - **Listings** are sandbox offers: [`add_listing`](ChannelHarness::add_listing) adds an
///   `ACTIVE` offer with the SKU as `external.id`, the price in its own currency (USD in the
///   suite) and the stock; [`listing`](ChannelHarness::listing) renders it the way the adapter
///   reads offers (`marketsync_allegro::decode::offer`), except that an `ENDED` offer shows
///   quantity 0: Allegro refuses a stock of 0 on an offer, so the adapter sends quantity 0 as
///   ending the offer, which nobody can buy from any more;
///   [`delete_listing_outside`](ChannelHarness::delete_listing_outside) deletes it (404).
/// - **Orders** are checkout forms, one line per SKU, each line with its own offer id; the state
///   becomes the `status` and fulfilment status the adapter reads back as that state
///   ([`status_for`]); the shipping text is the delivery method's name. Checkout forms are in
///   PLN: a USD price is written at [`PLN_PER_USD`]. Each new form also gets its journal events
///   (`BOUGHT`, `FILLED_IN`, `READY_FOR_PROCESSING`, `BUYER_CANCELLED`) so later runs, which
///   read the journal, see it.
/// - **Credentials**: a [`LoginSession`] of the sandbox's test user (access and refresh token,
///   their expiries). [`revoke_credentials`](ChannelHarness::revoke_credentials) revokes every
///   token of the user (the sandbox has one user, and the adapter's rotated pairs belong to the
///   same session), so the refresh fails too; [`new_credentials`](ChannelHarness::new_credentials)
///   issues a new pair ("the seller logged in again") and returns it as a login session, which
///   the engine hands to the adapter through [`Channel::use_credentials`].
/// - **Failures**: [`fail_next`](ChannelHarness::fail_next) queues the sandbox's own 500
///   (`Transient`) or 429 (`RateLimited`) for the sandbox operations behind the adapter
///   operation ([`sandbox_operations`]).
/// - **Received**: shipments are the tracking numbers added to the form (`POST …/shipments`);
///   refunds are the refunds created (`POST /payments/refunds`, once per `commandId`);
///   cancellations, which a seller cannot make on Allegro, are fulfilment changes to
///   `CANCELLED` (the adapter makes none: it refuses `cancel` without a call).
#[derive(Debug)]
pub struct AllegroHarness {
    sandbox: Sandbox<AllegroSandbox>,
    adapter: AllegroChannel,
    session: Mutex<LoginSession>,
}

impl AllegroHarness {
    /// A builder (empty sandbox).
    pub fn builder() -> AllegroHarnessBuilder {
        AllegroHarnessBuilder::default()
    }

    /// The adapter on an empty sandbox.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// The running sandbox (counters, request log, records, knobs).
    pub fn sandbox(&self) -> &Sandbox<AllegroSandbox> {
        &self.sandbox
    }

    /// The adapter (the same one [`ChannelHarness::channel`] hands out).
    pub fn adapter(&self) -> &AllegroChannel {
        &self.adapter
    }

    /// The login session the harness last handed out.
    pub fn current_session(&self) -> LoginSession {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The sandbox operations (counter names) behind an adapter operation, where faults for it are
/// injected. Empty for operations the adapter answers without a call.
pub fn sandbox_operations(operation: Operation) -> &'static [&'static str] {
    match operation {
        Operation::Verify => &["me.get"],
        Operation::ListListings => &["offers.list"],
        Operation::UpdateListings => &[
            "commands.quantity.create",
            "commands.price.create",
            "commands.publication.create",
        ],
        Operation::PublishListings => &["offers.create"],
        Operation::EndListings => &["commands.publication.create"],
        Operation::FetchOrders => &[
            "orders.event_stats",
            "orders.list",
            "orders.events",
            "orders.get",
        ],
        Operation::FetchOrdersById => &["orders.get"],
        // Reads come first; the writes are what may fail.
        Operation::Ship => &["orders.shipments.add", "orders.fulfillment"],
        Operation::Refund => &["payments.refund"],
        _ => &[],
    }
}

/// The checkout form `status` and fulfilment status for a state, each read back as that state
/// by the adapter (its `convert::order_state`). `None` for states Allegro has no
/// status for.
pub fn status_for(state: OrderState) -> Option<(&'static str, &'static str)> {
    Some(match state {
        OrderState::Unpaid => ("BOUGHT", "NEW"),
        OrderState::PaymentPending => ("FILLED_IN", "NEW"),
        OrderState::AwaitingShipment => ("READY_FOR_PROCESSING", "NEW"),
        OrderState::Shipped => ("READY_FOR_PROCESSING", "SENT"),
        OrderState::Completed => ("READY_FOR_PROCESSING", "PICKED_UP"),
        OrderState::Cancelled => ("CANCELLED", "NEW"),
        OrderState::Refunded => ("READY_FOR_PROCESSING", "RETURNED"),
        OrderState::OnHold => ("READY_FOR_PROCESSING", "SUSPENDED"),
        _ => return None,
    })
}

/// A price as the PLN amount of a checkout form.
fn pln(m: Money) -> Decimal {
    match m.currency().code() {
        "PLN" => m.amount(),
        "USD" => (m.amount() * PLN_PER_USD).round_dp(2),
        other => panic!("the Allegro harness writes orders in PLN or USD, not {other}"),
    }
}

#[async_trait]
impl ChannelHarness for AllegroHarness {
    fn channel(&self) -> Arc<dyn Channel> {
        Arc::new(self.adapter.clone())
    }

    fn credentials(&self) -> Credentials {
        Credentials::LoginSession(self.current_session())
    }

    async fn add_listing(&self, sku: &Sku, price: Money, quantity: u32) -> ChannelListingId {
        let now = self.sandbox.now();
        let mut st = self.sandbox.state();
        let id = loop {
            let candidate = (7_900_000_000 + st.rng.below(100_000_000)).to_string();
            if !st.offers.contains_key(&candidate) {
                break candidate;
            }
        };
        st.offers.insert(
            id.clone(),
            Offer {
                id: id.clone(),
                name: format!("Item {sku}"),
                external_id: Some(sku.as_str().to_owned()),
                price: price.amount(),
                currency: price.currency().code().to_owned(),
                available: i64::from(quantity),
                sold: 0,
                status: "ACTIVE".into(),
                category_id: "257931".into(),
                created_at: now,
                updated_at: now,
                started_at: Some(now),
                ended_at: None,
                deleted: false,
            },
        );
        ChannelListingId::new(id).expect("an offer id is a valid listing id")
    }

    async fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        let detail = self.sandbox.offer(id.as_str())?;
        let mut listing = marketsync_allegro::decode::offer(detail)
            .expect("the sandbox renders offers the adapter reads");
        if listing.state == ChannelListingState::Ended {
            listing.quantity = Some(0);
        }
        Some(listing)
    }

    async fn delete_listing_outside(&self, id: &ChannelListingId) {
        assert!(
            self.sandbox.delete_offer(id.as_str()),
            "no sandbox offer {id}"
        );
    }

    async fn add_order(&self, spec: &OrderSpec) -> ChannelOrderId {
        let (status, fulfillment) = status_for(spec.state).unwrap_or_else(|| {
            panic!(
                "Allegro has no checkout form status for {:?} (spec {:?})",
                spec.state, spec.name
            )
        });
        let now = self.sandbox.now();
        let price = pln(spec.unit_price);
        let mut st = self.sandbox.state();
        let line_items = spec
            .skus
            .iter()
            .map(|sku| LineItem {
                id: seed::uuid(&mut st.rng),
                offer_id: (7_500_000_000 + st.rng.below(100_000_000)).to_string(),
                offer_name: format!("Item {sku}"),
                external_id: Some(sku.as_str().to_owned()),
                quantity: 1,
                price,
                bought_at: spec.created_at,
            })
            .collect();
        let id = seed::uuid(&mut st.rng);
        let paid = status == "READY_FOR_PROCESSING";
        let order = Order {
            id: id.clone(),
            status: status.into(),
            revision: format!("{:08x}", st.rng.next_u64() >> 32),
            updated_at: now.max(spec.created_at),
            buyer_id: (40_000_000 + st.rng.below(1_000_000)).to_string(),
            buyer_first: "Conformance".into(),
            buyer_last: spec.name.clone(),
            buyer_login: format!("conformance-{}", st.rng.below(1_000_000)),
            city: "Warszawa".into(),
            zip: "00-001".into(),
            street: "ul. Długa 1".into(),
            method_id: format!("sandbox-method-{}", st.rng.below(1_000_000)),
            method_name: spec.shipping.clone(),
            delivery_cost: Decimal::ZERO,
            payment_id: seed::uuid(&mut st.rng),
            payment_type: "ONLINE".into(),
            paid,
            paid_at: paid.then_some(spec.created_at),
            fulfillment: fulfillment.into(),
            line_items,
            message_to_seller: None,
            sent: "NONE".into(),
        };
        st.orders.insert(id.clone(), order);
        st.push_event("BOUGHT", &id, now);
        if status != "BOUGHT" {
            st.push_event("FILLED_IN", &id, now);
        }
        match status {
            "READY_FOR_PROCESSING" => st.push_event("READY_FOR_PROCESSING", &id, now),
            "CANCELLED" => st.push_event("BUYER_CANCELLED", &id, now),
            _ => {}
        }
        ChannelOrderId::new(id).expect("a checkout form id is a valid channel order id")
    }

    async fn revoke_credentials(&self) {
        self.sandbox.revoke_all_tokens();
    }

    async fn new_credentials(&self) -> Credentials {
        let (access, refresh) = self.sandbox.issue_tokens(CLIENT_ID);
        let session = login_session(&access, &refresh, self.sandbox.now());
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = session.clone();
        Credentials::LoginSession(session)
    }

    async fn fail_next(&self, operation: Operation, kind: ErrorKind, times: u32) {
        let ops = sandbox_operations(operation);
        crate::options::fail_next(&self.sandbox, "Allegro", ops, kind, times);
    }

    async fn received(&self, order: &ChannelOrderId, what: Received) -> usize {
        let id = order.as_str();
        match what {
            Received::Shipments => self
                .sandbox
                .shipments()
                .iter()
                .filter(|s| s.order_id == id)
                .count(),
            Received::Refunds => self
                .sandbox
                .refunds()
                .iter()
                .filter(|r| r.order_id == id)
                .count(),
            Received::Cancellations => self
                .sandbox
                .fulfillment_changes()
                .iter()
                .filter(|f| f.order_id == id && f.status == "CANCELLED")
                .count(),
        }
    }
}
