//! `TraderaSandbox`: a stateful fake of the Tradera REST API v4 (beta) seller surface: app and
//! user headers, token login by secret key, shop items, queued requests, orders, and the
//! per-application daily call budget.
//!
//! See the crate README for the endpoints covered and the known differences from the real
//! service.

mod api;
mod harness;
pub mod seed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::Clock;
use serde_json::Value;

use crate::marketplace::{Marketplace, RateLimits, Request, Response, Route, Throttle};
use crate::options::{SandboxOptions, sandbox_options, setters};
use crate::server::{Knobs, Sandbox};
use crate::util::mix;
use api::{Op, Options, State, UserToken};

pub use crate::channeladvisor::default_anchor;
pub use harness::{
    HARNESS_DAILY_BUDGET, SEK_PER_UNIT, TraderaHarness, TraderaHarnessBuilder, kronor,
    sandbox_operations,
};

/// The application id (`X-App-Id`) the sandbox knows.
pub const APP_ID: i32 = 4_711;
/// The application key (`X-App-Key`) the sandbox knows.
pub const APP_KEY: &str = "5d3c0b1e-7a4f-4c2d-9e8b-0f1a2b3c4d5e";
/// The application's public key (`pkey` of the token-login page). The sandbox serves no login
/// page, so nothing checks it; [`TraderaSandbox::login_with_secret_key`] stands for the login.
pub const PUBLIC_KEY: &str = "sandbox-tradera-public-key";
/// The seller's Tradera member id (`X-User-Id`).
pub const USER_ID: i32 = 5_123_456;
/// The seller's alias.
pub const USER_ALIAS: &str = "sandbox_butiken";
/// The user token the sandbox starts with (valid for the builder's token lifetime).
pub const USER_TOKEN: &str = "sandbox-tradera-user-token";

/// What an adapter needs to talk to the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraderaCredentials {
    /// `X-App-Id`.
    pub app_id: i32,
    /// `X-App-Key`.
    pub app_key: String,
    /// `X-User-Id`.
    pub user_id: i32,
    /// `X-User-Token` (the token the sandbox starts with).
    pub user_token: String,
    /// When that token stops working.
    pub hard_expiration_time: DateTime<Utc>,
}

/// One `PUT /v4/listings/shop-items/quantities` (every request that got past authentication and
/// parsed, including ones whose items all failed validation).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityUpdate {
    /// `(id, quantity)` pairs as sent, in order.
    pub items: Vec<(i64, i64)>,
    /// How many were applied.
    pub successful: usize,
    /// `(id, message)` of the refused ones.
    pub errors: Vec<(i64, String)>,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One `PUT /v4/listings/shop-items/prices`.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceUpdate {
    /// `(id, price)` pairs as sent (whole SEK), in order.
    pub items: Vec<(i64, i64)>,
    /// The queued request ids of the accepted ones.
    pub request_ids: Vec<i64>,
    /// `(id, message)` of the refused ones.
    pub errors: Vec<(i64, String)>,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `POST /v4/orders/{orderId}/ship`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipRecord {
    /// The order.
    pub order_id: i64,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `DELETE /v4/listings/shop-items/{itemId}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionRecord {
    /// The shop item.
    pub item_id: i64,
    /// The queued request id answered.
    pub request_id: i64,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `DELETE /v4/listings/items/{itemId}` (an auction or fixed-price item ended).
#[derive(Debug, Clone, PartialEq)]
pub struct EndedItem {
    /// The item.
    pub item_id: i64,
    /// Its item type (1 = auction, 3 = fixed price).
    pub item_type: i64,
    /// Whether it was active until this call (`false`: it had ended already; the answer was
    /// `true` all the same).
    pub was_active: bool,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One queued request (shop item create, price change, removal) and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRequest {
    /// `requestId`.
    pub request_id: i64,
    /// `itemId`.
    pub item_id: i64,
    /// `create`, `price` or `delete`.
    pub kind: String,
    /// `resultCode` reported by `GET /v4/listings/request-results`.
    pub result_code: i64,
    /// `message`.
    pub message: String,
    /// The body as parsed (`null` for a delete).
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// An order to add from a test ([`TraderaSandbox::add_order`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// Lines: `(item id, quantity)`. The item's title, price and own references are copied
    /// when it exists; otherwise the line is `"Okänd vara"` at 100 SEK without references.
    pub items: Vec<(i64, i64)>,
    /// `shippingType`.
    pub shipping_type: String,
    /// `shippingCost` in whole SEK.
    pub shipping_cost: i64,
    /// Paid through Tradera Pay (a `sellerOrderPayments` entry) or not (`null`).
    pub paid: bool,
    /// `createdDate`; `None`: now.
    pub created: Option<DateTime<Utc>>,
}

impl Default for NewOrder {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            shipping_type: "PostNord MyPack Collect".into(),
            shipping_cost: 59,
            paid: true,
            created: None,
        }
    }
}

/// Builder for [`TraderaSandbox`]. Defaults: seed 0, 30 seller items, 40 orders, the default
/// anchor, the system clock, a daily budget of 100 calls, no `Retry-After` on 429.
#[derive(Debug, Clone)]
pub struct TraderaBuilder {
    opts: SandboxOptions,
    daily_budget: Option<u32>,
    token_lifetime: Duration,
}

impl Default for TraderaBuilder {
    fn default() -> Self {
        Self {
            opts: SandboxOptions::new(30, 40, None),
            daily_budget: Some(100),
            token_lifetime: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

sandbox_options!(TraderaBuilder, items, "seller items", retry_after_header);

setters!(TraderaBuilder {
    /// Calls per application per sliding 24 hours (default 100, as documented for the default
    /// quota; `None`: unlimited).
    daily_budget: Option<u32>,
    /// How long a user token lives before its `hardExpirationTime` (default 365 days; the real
    /// lifetime is UNCONFIRMED).
    token_lifetime: Duration,
});

impl TraderaBuilder {
    /// Builds the sandbox with its seeded data.
    pub fn build(self) -> TraderaSandbox {
        let clock = self.opts.clock();
        let lifetime = TimeDelta::from_std(self.token_lifetime).unwrap_or(TimeDelta::MAX);
        let mut rng = self.opts.rng();
        let items = seed::items(&mut rng, self.opts.catalog, self.opts.anchor);
        let orders = seed::orders(&mut rng, self.opts.orders, self.opts.anchor, &items);
        let expires = clock.now() + lifetime;
        let state = State {
            seed: self.opts.seed,
            opts: Options {
                daily_budget: self.daily_budget,
                retry_after_header: self.opts.retry_after_header,
                token_lifetime: lifetime,
            },
            tokens: BTreeMap::from([(
                USER_TOKEN.to_owned(),
                UserToken {
                    user_id: i64::from(USER_ID),
                    expires,
                    revoked: false,
                },
            )]),
            secret_keys: BTreeMap::new(),
            token_counter: 0,
            next_item_id: items.keys().max().copied().unwrap_or(seed::FIRST_ITEM_ID) + 1,
            next_request_id: seed::FIRST_REQUEST_ID,
            next_order_id: orders.keys().max().copied().unwrap_or(seed::FIRST_ORDER_ID) + 1,
            items,
            orders,
            calls: Vec::new(),
            quantity_updates: Vec::new(),
            price_updates: Vec::new(),
            ships: Vec::new(),
            deletions: Vec::new(),
            ended_items: Vec::new(),
            queued: Vec::new(),
            fail_next_queued: None,
        };
        TraderaSandbox {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                clock,
            }),
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

/// A stateful fake of the Tradera REST API v4 seller surface. Cheap to clone (shared state);
/// serve it with [`TraderaSandbox::start`] or [`Sandbox::start`].
#[derive(Debug, Clone)]
pub struct TraderaSandbox {
    inner: Arc<Inner>,
}

crate::handle::sandbox_handle!(TraderaSandbox, TraderaBuilder);

impl TraderaSandbox {
    fn clock_now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The seed the data was generated from.
    pub fn seed(&self) -> u64 {
        self.state().seed
    }

    // --- credentials -----------------------------------------------------------------------

    /// The application credentials and the user token the sandbox starts with.
    pub fn credentials(&self) -> TraderaCredentials {
        let st = self.state();
        TraderaCredentials {
            app_id: APP_ID,
            app_key: APP_KEY.to_owned(),
            user_id: USER_ID,
            user_token: USER_TOKEN.to_owned(),
            hard_expiration_time: st
                .tokens
                .get(USER_TOKEN)
                .map(|t| t.expires)
                .unwrap_or_default(),
        }
    }

    /// "The user logged in at Tradera's login page with this secret key": `POST /v4/auth/token`
    /// with [`USER_ID`] and this key then answers a token, once.
    pub fn login_with_secret_key(&self, secret_key: &str) {
        self.state()
            .secret_keys
            .insert(secret_key.to_owned(), false);
    }

    /// Issues a new user token for [`USER_ID`] (lifetime from the builder); returns it with its
    /// hard expiration time.
    pub fn issue_user_token(&self) -> (String, DateTime<Utc>) {
        let now = self.clock_now();
        self.state().issue_token(now)
    }

    /// Revokes a user token: requests with it get 403.
    pub fn revoke_user_token(&self, token: &str) -> bool {
        match self.state().tokens.get_mut(token) {
            Some(t) => {
                t.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Moves a token's hard expiration time to now: requests with it get 403 from now on.
    pub fn expire_user_token(&self, token: &str) -> bool {
        let now = self.clock_now();
        match self.state().tokens.get_mut(token) {
            Some(t) => {
                t.expires = now;
                true
            }
            None => false,
        }
    }

    // --- the daily budget ------------------------------------------------------------------

    /// Calls counted against the application's budget in the last 24 hours.
    pub fn calls_in_window(&self) -> usize {
        let now = self.clock_now();
        let mut st = self.state();
        st.prune_calls(now);
        st.calls.len()
    }

    /// Forgets every counted call ("a new day").
    pub fn reset_daily_budget(&self) {
        self.state().calls.clear();
    }

    // --- records ---------------------------------------------------------------------------

    /// Every quantity update received, in order.
    pub fn quantity_updates(&self) -> Vec<QuantityUpdate> {
        self.state().quantity_updates.clone()
    }

    /// Every price update received, in order.
    pub fn price_updates(&self) -> Vec<PriceUpdate> {
        self.state().price_updates.clone()
    }

    /// Every accepted ship, in order.
    pub fn ships(&self) -> Vec<ShipRecord> {
        self.state().ships.clone()
    }

    /// Every accepted shop item removal, in order.
    pub fn deletions(&self) -> Vec<DeletionRecord> {
        self.state().deletions.clone()
    }

    /// Every accepted end of an auction or fixed-price item, in order.
    pub fn ended_items(&self) -> Vec<EndedItem> {
        self.state().ended_items.clone()
    }

    /// Every queued request, in order.
    pub fn queued_requests(&self) -> Vec<QueuedRequest> {
        self.state().queued.clone()
    }

    /// Makes the next queued create fail in the second (asynchronous) step: the request id is
    /// answered, no item is created, and its result carries `result_code` and `message`.
    pub fn fail_next_queued(&self, result_code: i64, message: &str) {
        self.state().fail_next_queued = Some((result_code, message.to_owned()));
    }

    // --- items -----------------------------------------------------------------------------

    /// Ids of all items (including removed ones), ascending.
    pub fn item_ids(&self) -> Vec<i64> {
        self.state().items.keys().copied().collect()
    }

    /// An item's wire JSON (as `GET /v4/listings/items/{id}` answers it).
    pub fn item(&self, id: i64) -> Option<Value> {
        let now = self.clock_now();
        let st = self.state();
        st.items.get(&id).map(|i| api::item_view(i, now))
    }

    /// The id of the first item carrying this own reference.
    pub fn item_id_by_reference(&self, reference: &str) -> Option<i64> {
        self.state()
            .items
            .values()
            .find(|i| i.own_references.iter().any(|r| r == reference))
            .map(|i| i.id)
    }

    /// An item's current quantity.
    pub fn quantity(&self, id: i64) -> Option<i64> {
        self.state().items.get(&id).map(|i| i.quantity)
    }

    /// An item's current price in whole SEK.
    pub fn price(&self, id: i64) -> Option<i64> {
        self.state().items.get(&id).map(|i| i.price)
    }

    /// Deletes an item outside the API ("removed in Tradera's web UI"): gone from every list,
    /// 404 by id, and updates to it fail validation.
    pub fn delete_item(&self, id: i64) -> bool {
        self.state().items.remove(&id).is_some()
    }

    /// Sets an item's quantity outside the API ("sold elsewhere").
    pub fn set_quantity(&self, id: i64, quantity: i64) -> bool {
        match self.state().items.get_mut(&id) {
            Some(i) => {
                i.quantity = quantity;
                true
            }
            None => false,
        }
    }

    // --- orders ----------------------------------------------------------------------------

    /// Ids of all orders, ascending.
    pub fn order_ids(&self) -> Vec<i64> {
        self.state().orders.keys().copied().collect()
    }

    /// An order's wire JSON.
    pub fn order(&self, id: i64) -> Option<Value> {
        self.state().orders.get(&id).map(api::order_view)
    }

    /// Sets an order's `lastUpdatedDate` outside the API (e.g. "the buyer paid").
    pub fn set_order_last_updated(&self, id: i64, at: DateTime<Utc>) -> bool {
        match self.state().orders.get_mut(&id) {
            Some(o) => {
                o.last_updated = at;
                true
            }
            None => false,
        }
    }

    /// The buyer pays an unpaid order now: a Tradera Pay payment appears and
    /// `lastUpdatedDate` moves to now. False when unknown or already paid.
    pub fn pay_order(&self, id: i64) -> bool {
        let now = self.clock_now();
        let mut st = self.state();
        let Some(o) = st.orders.get_mut(&id) else {
            return false;
        };
        if o.payment.is_some() {
            return false;
        }
        let amount = o.sub_total() + o.shipping_cost;
        o.payment = Some(api::Payment {
            payment_type: "TraderaPay".into(),
            reference: format!("TP-{:010}", mix(id as u64) % 10_000_000_000),
            amount,
            paid: now,
        });
        o.last_updated = now;
        true
    }

    /// Adds an order as if a buyer had just bought; returns its id.
    pub fn add_order(&self, order: NewOrder) -> i64 {
        let now = self.clock_now();
        let mut st = self.state();
        let id = st.next_order_id;
        st.next_order_id += 1;
        let created = order.created.unwrap_or(now);
        let lines = order
            .items
            .iter()
            .map(|&(item_id, quantity)| match st.items.get(&item_id) {
                Some(i) => api::OrderLine {
                    item_id,
                    item_type: i.item_type,
                    title: i.title.clone(),
                    quantity,
                    unit_price: i.price,
                    vat_rate: i.vat,
                    own_references: i.own_references.clone(),
                    merchant_part_number: i.own_references.first().cloned(),
                },
                None => api::OrderLine {
                    item_id,
                    item_type: seed::SHOP_ITEM,
                    title: "Okänd vara".into(),
                    quantity,
                    unit_price: 100,
                    vat_rate: 25,
                    own_references: Vec::new(),
                    merchant_part_number: None,
                },
            })
            .collect();
        let mut o = seed::blank_order(
            id,
            created,
            lines,
            &order.shipping_type,
            order.shipping_cost,
        );
        if order.paid {
            o.payment = Some(api::Payment {
                payment_type: "TraderaPay".into(),
                reference: format!("TP-{:010}", mix(id as u64) % 10_000_000_000),
                amount: o.sub_total() + o.shipping_cost,
                paid: created,
            });
        }
        st.orders.insert(id, o);
        id
    }
}

impl Marketplace for TraderaSandbox {
    fn name(&self) -> &'static str {
        "tradera"
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn route(&self, request: &Request) -> Route {
        let op = api::resolve(&request.method, &request.decoded_path());
        // The daily budget is enforced by the fake itself (the framework's windows are per
        // minute); nothing is metered here.
        Route::unmetered(op.name())
    }

    fn rate_limits(&self) -> RateLimits {
        RateLimits::default()
    }

    fn handle(&self, request: &Request) -> Response {
        let now = self.clock_now();
        let op = api::resolve(&request.method, &request.decoded_path());
        let mut st = self.state();
        if let Err(r) = api::check_app(request) {
            return r;
        }
        if let Err(r) = st.spend_budget(now) {
            return r;
        }
        if op == Op::NotFound {
            return api::error(404, "NotFound", "The requested resource was not found.");
        }
        if op.needs_user()
            && let Err(r) = st.check_user(request, now)
        {
            return r;
        }
        st.handle(&op, request, now)
    }

    fn throttled(&self, _request: &Request, _why: Throttle) -> Response {
        let now = self.clock_now();
        self.state().budget_exceeded(now)
    }

    fn server_error(&self, _request: &Request) -> Response {
        api::error(500, "InternalServerError", "An unexpected error occurred.")
    }
}
