//! `ReverbSandbox`: a stateful fake of the Reverb API (HAL+JSON, `Accept-Version: 3.0`,
//! personal access tokens).
//!
//! See the crate README for the endpoints covered and the known differences from the real
//! service.
//!
//! Unlike the other fakes, its answers are not checked against the marketplace's OpenAPI
//! document: Reverb's published spec (the 2019 snapshot in the API notes) describes no response
//! bodies at all — every response is a `description` only — so there is no schema to check them
//! against (`tests/spec_responses_reverb.rs` keeps that claim true).

mod api;
pub mod harness;
pub mod seed;
mod tables;

pub use harness::{ReverbHarness, ReverbHarnessBuilder};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, FixedOffset, Utc};
use marketsync_core::Clock;
use serde_json::{Value, json};

use crate::handle::Shared;
use crate::marketplace::{Marketplace, RateLimits, Request, Response, Route, Throttle};
use crate::options::{SandboxOptions, sandbox_options, setters};
use crate::server::{Knobs, Sandbox};
use crate::util::mix;
use api::{Listing, Op, Options, State, Token};
use seed::{Ids, OrderInit};

pub use crate::channeladvisor::default_anchor;

/// The personal access token the sandbox knows from the start (every seller scope).
pub const TOKEN: &str = "sandbox-reverb-personal-token";
/// The shop's id.
pub const SHOP_ID: u64 = 424_242;
/// The shop's name.
pub const SHOP_NAME: &str = "Sandbox Strings & Things";
/// The shop's slug.
pub const SHOP_SLUG: &str = "sandbox-strings-and-things";
/// The account's user id.
pub const USER_ID: u64 = 31_337;
/// The account's e-mail address.
pub const ACCOUNT_EMAIL: &str = "seller@sandbox.example";

/// One accepted `POST /api/my/orders/selling/{order_number}/ship`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentRecord {
    /// The order number.
    pub order_number: String,
    /// The provider, in the spelling of the accepted list (matched case-insensitively).
    pub provider: String,
    /// The tracking number.
    pub tracking_number: String,
    /// `send_notification`.
    pub send_notification: bool,
    /// The body as parsed.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `POST /api/my/orders/selling/{order_number}/mark_picked_up`.
#[derive(Debug, Clone, PartialEq)]
pub struct PickupRecord {
    /// The order number.
    pub order_number: String,
    /// The `date` sent, if any.
    pub date: Option<String>,
    /// The body as parsed.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `POST /api/my/orders/selling/{order_number}/refund_requests`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRecord {
    /// The refund request's id.
    pub id: u64,
    /// The order number.
    pub order_number: String,
    /// `state` (default `approved`).
    pub state: String,
    /// `reason`.
    pub reason: String,
    /// The amount refunded in minor units (the remaining total when no `refund_amount` was sent).
    pub amount_cents: i64,
    /// The order's currency.
    pub currency: String,
    /// `note`, if sent.
    pub note: Option<String>,
    /// Whether this request left the order fully refunded (how a whole order is cancelled:
    /// Reverb has no cancel endpoint).
    pub refunded_in_full: bool,
    /// The body as parsed.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `PUT /api/my/listings/{id}/state/end`.
#[derive(Debug, Clone, PartialEq)]
pub struct EndRecord {
    /// The listing.
    pub listing_id: u64,
    /// `reason` (`not_sold` or `reverb_sale`).
    pub reason: String,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted listing write through the API (create, update, end, delete).
#[derive(Debug, Clone, PartialEq)]
pub struct ListingWrite {
    /// The listing.
    pub listing_id: u64,
    /// `create`, `update`, `end` or `delete`.
    pub operation: String,
    /// The body as parsed (`null` for a delete).
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// A listing to add from a test ([`ReverbSandbox::add_listing`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewListing {
    /// The SKU, if any.
    pub sku: Option<String>,
    /// Title (make and model are taken from it).
    pub title: String,
    /// Price in minor units.
    pub price_cents: i64,
    /// Price currency (default: USD, the shop's currency).
    pub currency: String,
    /// Inventory.
    pub inventory: i64,
    /// `state.slug` (default `live`).
    pub state: String,
    /// `created_at`; `None`: now.
    pub created: Option<DateTime<Utc>>,
}

impl Default for NewListing {
    fn default() -> Self {
        Self {
            sku: Some("SANDBOX-SKU-1".into()),
            title: "Fender Stratocaster".into(),
            price_cents: 99_900,
            currency: "USD".into(),
            inventory: 1,
            state: "live".into(),
            created: None,
        }
    }
}

/// An order to add from a test ([`ReverbSandbox::add_order`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// The listing sold (`product_id`); `None`: looked up by SKU, else a listing id that does
    /// not exist.
    pub listing_id: Option<u64>,
    /// The SKU on the order.
    pub sku: Option<String>,
    /// Title (default: the listing's, or `"Item <sku>"`).
    pub title: Option<String>,
    /// Quantity.
    pub quantity: i64,
    /// Unit price in minor units.
    pub unit_cents: i64,
    /// Currency.
    pub currency: String,
    /// `status` (see [`seed::ORDER_STATUSES`]).
    pub status: String,
    /// `shipping_method`: `shipped`, `expedited_shipping` or `local` (local pickup).
    pub shipping_method: String,
    /// `created_at`; `None`: now.
    pub created: Option<DateTime<Utc>>,
    /// Buyer (first, last name).
    pub buyer: (String, String),
}

impl Default for NewOrder {
    fn default() -> Self {
        Self {
            listing_id: None,
            sku: Some("SANDBOX-SKU-1".into()),
            title: None,
            quantity: 1,
            unit_cents: 1_999,
            currency: "USD".into(),
            status: "paid".into(),
            shipping_method: "shipped".into(),
            created: None,
            buyer: ("Test".into(), "Buyer".into()),
        }
    }
}

/// Builder for [`ReverbSandbox`]. Defaults: seed 0, 40 listings, 60 orders, the default
/// anchor, the system clock, 300 requests per sliding minute per shop (invented: none are
/// published), no `Retry-After` on 429.
#[derive(Debug, Clone)]
pub struct ReverbBuilder {
    opts: SandboxOptions,
    listings_per_page: usize,
    orders_per_page: usize,
    max_per_page: usize,
    relative_links: bool,
    require_accept_version: bool,
    validation_status: u16,
    legacy_401_body: bool,
    utc_offset_minutes: i32,
    shop_currency: String,
}

impl Default for ReverbBuilder {
    fn default() -> Self {
        Self {
            opts: SandboxOptions::new(40, 60, Some(300)),
            listings_per_page: 24,
            orders_per_page: 24,
            max_per_page: 100,
            relative_links: false,
            require_accept_version: true,
            validation_status: 412,
            legacy_401_body: false,
            utc_offset_minutes: -5 * 60,
            shop_currency: "USD".into(),
        }
    }
}

sandbox_options!(
    ReverbBuilder,
    listings,
    "listings",
    per_minute,
    retry_after_header
);

setters!(ReverbBuilder {
    /// Default `per_page` of `GET /api/my/listings` (default 24, as documented).
    listings_per_page: usize => |n| n.max(1),
    /// Default `per_page` of the order lists (default 24, as documented).
    orders_per_page: usize => |n| n.max(1),
    /// The largest `per_page` honoured; larger values are cut to it (default 100; the real
    /// maximum is UNCONFIRMED).
    max_per_page: usize => |n| n.max(1),
    /// Serve `_links.next.href` / `prev` host-relative (`/api/...?page=2`, as 2015-16 live
    /// responses did) instead of absolute (today's docs). Default off.
    relative_links: bool,
    /// Refuse requests without `Accept-Version: 3.0` with 400 (default on; the real service
    /// answers them in version 1.0, which the sandbox does not serve).
    require_accept_version: bool,
    /// The status of validation errors (default 412 as documented; 422 is the alternative).
    validation_status: u16,
    /// Answer 401 with the legacy `{"error": ..}` body instead of `{"message", "details",
    /// "_links"}` (default off).
    legacy_401_body: bool,
    /// The UTC offset timestamps are rendered in (default -300 minutes, `-05:00`).
    utc_offset_minutes: i32,
    /// The shop's currency (default USD); listing prices must be in it.
    shop_currency: &str => |currency| currency.to_owned(),
});

impl ReverbBuilder {
    /// Builds the sandbox with its seeded data.
    pub fn build(self) -> ReverbSandbox {
        let clock = self.opts.clock();
        let mut rng = self.opts.rng();
        let mut ids = Ids::default();
        let listings = seed::listings(&mut rng, &mut ids, self.opts.catalog, self.opts.anchor);
        let sold: Vec<(u64, Option<String>, String, i64)> = listings
            .iter()
            .filter(|l| l.state != "draft")
            .map(|l| (l.id, l.sku.clone(), l.title.clone(), l.price_cents))
            .collect();
        let orders = seed::orders(
            &mut rng,
            &mut ids,
            self.opts.orders,
            self.opts.anchor,
            &sold,
        );
        let offset = FixedOffset::east_opt(self.utc_offset_minutes * 60)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
        let state = State {
            seed: self.opts.seed,
            opts: Options {
                shop_currency: self.shop_currency,
                listings_per_page: self.listings_per_page,
                orders_per_page: self.orders_per_page,
                max_per_page: self.max_per_page,
                relative_links: self.relative_links,
                require_accept_version: self.require_accept_version,
                validation_status: self.validation_status,
                retry_after_header: self.opts.retry_after_header,
                legacy_401_body: self.legacy_401_body,
                offset,
            },
            tokens: BTreeMap::from([(
                TOKEN.to_owned(),
                Token {
                    scopes: api::SELLER_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                    revoked: false,
                },
            )]),
            token_counter: 1,
            listings: tables::Listings::from_listings(listings.into_iter().map(|l| (l.id, l))),
            orders: orders
                .into_iter()
                .map(|o| (o.order_number.clone(), o))
                .collect(),
            shipments: Vec::new(),
            pickups: Vec::new(),
            refunds: Vec::new(),
            ends: Vec::new(),
            listing_writes: Vec::new(),
            ids,
            rng,
            seeded_orders: self.opts.orders,
        };
        ReverbSandbox {
            inner: Arc::new(Shared {
                state: Mutex::new(state),
                clock,
                limits: RateLimits {
                    per_minute: self.opts.per_minute,
                    concurrent: None,
                },
            }),
        }
    }
}

/// A stateful fake of the Reverb API. Cheap to clone (shared state); serve it with
/// [`ReverbSandbox::start`] or [`Sandbox::start`].
#[derive(Debug, Clone)]
pub struct ReverbSandbox {
    inner: Arc<Shared<State>>,
}

crate::handle::sandbox_handle!(ReverbSandbox, ReverbBuilder);

impl ReverbSandbox {
    /// The seed the data was generated from.
    pub fn seed(&self) -> u64 {
        self.state().seed
    }

    // --- tokens --------------------------------------------------------------------------

    /// The personal access token the sandbox starts with ([`TOKEN`]).
    pub fn token(&self) -> String {
        TOKEN.to_owned()
    }

    /// Issues a new personal access token with every seller scope ("the seller generated a new
    /// token in the Reverb UI").
    pub fn issue_token(&self) -> String {
        let mut st = self.state();
        st.token_counter += 1;
        let token = format!("sandbox-reverb-token-{}", st.token_counter);
        st.tokens.insert(
            token.clone(),
            Token {
                scopes: api::SELLER_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                revoked: false,
            },
        );
        token
    }

    /// Registers a token with the given scopes (e.g. `["read_orders"]`); a request needing
    /// another scope gets 403.
    pub fn add_token(&self, token: &str, scopes: &[&str]) {
        self.state().tokens.insert(
            token.to_owned(),
            Token {
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                revoked: false,
            },
        );
    }

    /// Revokes a token at once: every request with it gets 401.
    pub fn revoke_token(&self, token: &str) {
        if let Some(t) = self.state().tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    // --- listings ------------------------------------------------------------------------

    /// Ids of all listings, ascending.
    pub fn listing_ids(&self) -> Vec<u64> {
        self.state().listings.keys().copied().collect()
    }

    /// The id of the (first) listing with this SKU.
    pub fn listing_id(&self, sku: &str) -> Option<u64> {
        self.state().listings.with_sku(sku).next().map(|l| l.id)
    }

    /// A listing's wire JSON (links on `https://api.reverb.com`).
    pub fn listing(&self, id: u64) -> Option<Value> {
        let st = self.state();
        st.listings
            .get(&id)
            .map(|l| st.listing_view(l, "https://api.reverb.com"))
    }

    /// Adds a listing outside the API; returns its id.
    pub fn add_listing(&self, listing: NewListing) -> u64 {
        let now = self.now();
        let mut st = self.state();
        let id = st.ids.listing;
        st.ids.listing += 1;
        let mut words = listing.title.split_whitespace();
        let make = words.next().unwrap_or("Unknown").to_owned();
        let model = {
            let rest: Vec<&str> = words.collect();
            if rest.is_empty() {
                "Unknown".to_owned()
            } else {
                rest.join(" ")
            }
        };
        let created = listing.created.unwrap_or(now);
        st.listings.insert(
            id,
            Listing {
                id,
                sku: listing.sku,
                make,
                model,
                title: listing.title,
                description: String::new(),
                year: None,
                finish: None,
                condition: Some((seed::CONDITIONS[0].0.into(), seed::CONDITIONS[0].1.into())),
                price_cents: listing.price_cents,
                currency: listing.currency,
                inventory: listing.inventory,
                has_inventory: listing.inventory > 1,
                offers_enabled: true,
                local_pickup_only: false,
                shipping_profile_id: Some("701".into()),
                published_at: (listing.state != "draft").then_some(created),
                state: listing.state,
                created_at: created,
                updated_at: created,
                categories: Vec::new(),
                photos: Vec::new(),
                upc: None,
            },
        );
        id
    }

    /// Deletes a listing outside the API (404 afterwards).
    pub fn delete_listing(&self, id: u64) -> bool {
        self.state().listings.remove(&id).is_some()
    }

    /// Ends a listing outside the API ("the seller ended it in the Reverb UI").
    pub fn end_listing(&self, id: u64) -> bool {
        self.set_listing_state(id, "ended")
    }

    /// Sets a listing's `state.slug` outside the API (bumps `updated_at`).
    pub fn set_listing_state(&self, id: u64, slug: &str) -> bool {
        let now = self.now();
        let mut st = self.state();
        let Some(mut l) = st.listings.get_mut(&id) else {
            return false;
        };
        l.state = slug.to_owned();
        l.updated_at = now;
        true
    }

    /// Sets a listing's inventory outside the API ("sold elsewhere"; bumps `updated_at`).
    pub fn set_listing_inventory(&self, id: u64, inventory: i64) -> bool {
        let now = self.now();
        let mut st = self.state();
        let Some(mut l) = st.listings.get_mut(&id) else {
            return false;
        };
        l.inventory = inventory;
        l.updated_at = now;
        true
    }

    // --- orders --------------------------------------------------------------------------

    /// Order numbers of all orders, oldest number first.
    pub fn order_numbers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state().orders.keys().cloned().collect();
        v.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        v
    }

    /// An order's wire JSON (links on `https://api.reverb.com`).
    pub fn order(&self, order_number: &str) -> Option<Value> {
        let st = self.state();
        st.orders
            .get(order_number)
            .map(|o| st.order_view(o, "https://api.reverb.com"))
    }

    /// Adds an order as if a buyer had just checked out; returns its order number. The listing
    /// sold loses the quantity from its inventory (`sold_out` at 0), as Reverb does on a sale.
    pub fn add_order(&self, order: NewOrder) -> String {
        let now = self.now();
        let mut st = self.state();
        let listing = match order.listing_id {
            Some(id) => st.listings.get(&id).cloned(),
            None => order
                .sku
                .as_deref()
                .and_then(|sku| st.listings.with_sku(sku).next().cloned()),
        };
        let listing_id = order
            .listing_id
            .or(listing.as_ref().map(|l| l.id))
            .unwrap_or(60_999_999);
        let title = order
            .title
            .or(listing.map(|l| l.title))
            .unwrap_or_else(|| format!("Item {}", order.sku.as_deref().unwrap_or("")));
        let bundle = format!("{}", 9_000_000 + st.ids.order);
        let init = OrderInit {
            listing_id,
            sku: order.sku,
            title,
            quantity: order.quantity,
            unit_cents: order.unit_cents,
            currency: order.currency,
            status: order.status,
            shipping_method: order.shipping_method,
            created_at: order.created.unwrap_or(now),
            buyer: order.buyer,
            address_of: seed::default_buyer(),
            bundle_id: bundle,
        };
        let quantity = init.quantity;
        let n = insert_order(&mut st, init);
        // Reverb decrements the listing's inventory itself on a sale.
        let remaining = st.listings.get_mut(&listing_id).map(|mut l| {
            l.inventory = (l.inventory - quantity).max(0);
            if l.inventory == 0 && l.state == "live" {
                l.state = "sold_out".into();
            }
            l.updated_at = now;
            l.inventory
        });
        // Nothing happened after now: an order placed a minute ago was not paid an hour later.
        if let Some(o) = st.orders.get_mut(&n) {
            let clamp = |t: DateTime<Utc>| t.min(now).max(o.created_at);
            o.paid_at = o.paid_at.map(clamp);
            o.shipped_at = o.shipped_at.map(clamp);
            o.updated_at = clamp(o.updated_at);
            o.remaining_listing_inventory = remaining.unwrap_or(0);
        }
        n
    }

    /// Adds `n` more generated orders (deterministic after the seed), created now.
    pub fn add_seeded_orders(&self, n: usize) -> Vec<String> {
        let now = self.now();
        let mut st = self.state();
        let sold: Vec<(u64, Option<String>, String, i64)> = st
            .listings
            .values()
            .filter(|l| l.state != "draft")
            .map(|l| (l.id, l.sku.clone(), l.title.clone(), l.price_cents))
            .collect();
        let mut rng = st.rng.clone();
        let mut ids = st.ids.clone();
        let orders = seed::orders(
            &mut rng,
            &mut ids,
            n + seed::ORDER_STATUSES.len(),
            now,
            &sold,
        );
        st.rng = rng;
        st.ids = ids;
        st.seeded_orders += n;
        let mut out = Vec::new();
        // Past the first statuses: the mostly importable mix.
        for mut o in orders.into_iter().skip(seed::ORDER_STATUSES.len()) {
            let shift = now - o.created_at;
            o.created_at += shift;
            o.updated_at += shift;
            o.paid_at = o.paid_at.map(|t| t + shift);
            o.shipped_at = o.shipped_at.map(|t| t + shift);
            out.push(o.order_number.clone());
            st.orders.insert(o.order_number.clone(), o);
        }
        out
    }

    /// Sets an order's status outside the API and bumps its `updated_at` to now.
    pub fn set_order_status(&self, order_number: &str, status: &str) -> bool {
        let now = self.now();
        let mut st = self.state();
        let Some(o) = st.orders.get_mut(order_number) else {
            return false;
        };
        o.status = status.to_owned();
        o.updated_at = now;
        true
    }

    /// Sets an order's `updated_at` outside the API.
    pub fn set_order_updated_at(&self, order_number: &str, at: DateTime<Utc>) -> bool {
        let mut st = self.state();
        let Some(o) = st.orders.get_mut(order_number) else {
            return false;
        };
        o.updated_at = at;
        true
    }

    /// Deletes an order outside the API (404 afterwards).
    pub fn delete_order(&self, order_number: &str) -> bool {
        self.state().orders.remove(order_number).is_some()
    }

    // --- records -------------------------------------------------------------------------

    /// Every accepted `ship`, in order received.
    pub fn shipments(&self) -> Vec<ShipmentRecord> {
        self.state().shipments.clone()
    }

    /// Accepted `ship` calls for one order.
    pub fn shipments_of(&self, order_number: &str) -> Vec<ShipmentRecord> {
        self.shipments()
            .into_iter()
            .filter(|s| s.order_number == order_number)
            .collect()
    }

    /// Every accepted `mark_picked_up`, in order received.
    pub fn pickups(&self) -> Vec<PickupRecord> {
        self.state().pickups.clone()
    }

    /// Accepted `mark_picked_up` calls for one order.
    pub fn pickups_of(&self, order_number: &str) -> Vec<PickupRecord> {
        self.pickups()
            .into_iter()
            .filter(|s| s.order_number == order_number)
            .collect()
    }

    /// Every accepted refund request, in order received.
    pub fn refunds(&self) -> Vec<RefundRecord> {
        self.state().refunds.clone()
    }

    /// Accepted refund requests for one order.
    pub fn refunds_of(&self, order_number: &str) -> Vec<RefundRecord> {
        self.refunds()
            .into_iter()
            .filter(|s| s.order_number == order_number)
            .collect()
    }

    /// Every accepted `state/end`, in order received.
    pub fn ends(&self) -> Vec<EndRecord> {
        self.state().ends.clone()
    }

    /// Every accepted listing write (create, update, end, delete), in order received.
    pub fn listing_writes(&self) -> Vec<ListingWrite> {
        self.state().listing_writes.clone()
    }
}

fn insert_order(st: &mut State, init: OrderInit) -> String {
    let mut rng = st.rng.clone();
    let order = seed::build_order(init, &mut st.ids, &mut rng);
    st.rng = rng;
    let n = order.order_number.clone();
    st.orders.insert(n.clone(), order);
    n
}

/// Whether an `Accept` header allows a JSON answer (absent: yes).
fn accepts_json(accept: Option<&str>) -> bool {
    accept.is_none_or(|a| {
        a.split(',').any(|part| {
            let media = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(
                media.as_str(),
                "application/hal+json" | "application/json" | "*/*" | "application/*" | ""
            )
        })
    })
}

impl Marketplace for ReverbSandbox {
    fn name(&self) -> &'static str {
        "reverb"
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn route(&self, request: &Request) -> Route {
        let op = api::resolve(&request.method, &request.decoded_path());
        let st = self.state();
        let authed = State::bearer(request).is_some_and(|t| st.valid_token(&t).is_some());
        Route {
            operation: op.name().to_owned(),
            // One personal token = one shop; the budget is the shop's.
            rate_key: authed.then(|| format!("shop:{SHOP_ID}")),
            concurrency_key: None,
            cost: 1,
        }
    }

    fn rate_limits(&self) -> RateLimits {
        self.inner.limits
    }

    fn handle(&self, request: &Request) -> Response {
        let op = api::resolve(&request.method, &request.decoded_path());
        let seq = request.seq;
        let mut st = self.state();
        if op == Op::NotFound {
            return api::not_found(seq);
        }
        match request.header("accept-version").map(str::trim) {
            Some("3.0") => {}
            None if !st.opts.require_accept_version => {}
            other => {
                let text = match other {
                    None => "The Accept-Version header is missing: the sandbox serves version 3.0 only (Reverb would answer in version 1.0).".to_owned(),
                    Some(v) => format!("Accept-Version {v:?} is not served by the sandbox; send 3.0."),
                };
                return api::message(400, &text, seq);
            }
        }
        if !accepts_json(request.header("accept")) {
            return api::message(
                406,
                "Not Acceptable: send Accept: application/hal+json",
                seq,
            );
        }
        let token = State::bearer(request);
        let token_state = token.as_deref().and_then(|t| st.valid_token(t)).cloned();
        match op.scope_needed() {
            Some(scope) => match &token_state {
                None => return st.unauthorized(seq),
                Some(t) if !t.scopes.iter().any(|s| s == scope) => {
                    return api::hal(
                        403,
                        &json!({
                            "message": "You are not authorized to perform this action.",
                            "error_type": null
                        }),
                        seq,
                    );
                }
                Some(_) => {}
            },
            // Public endpoints: a token that is sent must still be valid.
            None if token.is_some() && token_state.is_none() => return st.unauthorized(seq),
            None => {}
        }
        let response = st.handle(&op, request);
        if request.method == "GET" && response.status == 200 {
            let etag = format!(
                "W/\"{:016x}\"",
                response
                    .body
                    .iter()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| mix(h ^ u64::from(*b)))
            );
            if request
                .header("if-none-match")
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
            {
                let mut r = Response::empty(304);
                r.headers = response
                    .headers
                    .into_iter()
                    .filter(|(k, _)| k != "content-type")
                    .collect();
                return r.with_header("etag", etag);
            }
            return response.with_header("etag", etag);
        }
        response
    }

    fn throttled(&self, request: &Request, why: Throttle) -> Response {
        let st = self.state();
        let mut r = api::message(429, "Rate limit exceeded. Please slow down.", request.seq);
        if st.opts.retry_after_header {
            let secs = match why {
                Throttle::PerMinute { retry_after } => retry_after.as_secs().max(1),
                Throttle::Concurrency => 1,
            };
            r = r.with_header("retry-after", secs.to_string());
        }
        r
    }

    fn server_error(&self, request: &Request) -> Response {
        api::message(500, "Internal Server Error", request.seq)
    }
}
