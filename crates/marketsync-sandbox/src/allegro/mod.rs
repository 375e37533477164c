//! `AllegroSandbox`: a stateful fake of the Allegro REST API (`application/vnd.allegro.public.v1+json`,
//! OAuth2 with rotating refresh tokens, the device flow and PKCE).
//!
//! See the crate README for the endpoints covered and the known differences from the real
//! service.

mod api;
pub mod harness;
mod pkce;
pub mod seed;

pub use harness::{AllegroHarness, AllegroHarnessBuilder};
pub use pkce::code_challenge;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::Clock;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::marketplace::{Marketplace, RateLimits, Request, Response, Route, Throttle};
use crate::options::{SandboxOptions, sandbox_options, setters};
use crate::server::{Knobs, Sandbox};
use crate::util::DetRng;
use api::{Op, Options, State};

pub use crate::channeladvisor::default_anchor;

/// The client id the sandbox knows from the start.
pub const CLIENT_ID: &str = "sandbox-allegro-client";
/// Its client secret.
pub const CLIENT_SECRET: &str = "sandbox-allegro-secret";
/// The seller's user id (`GET /me`, the token's `user_name` claim).
pub const USER_ID: u64 = 98_765_432;
/// The seller's login.
pub const LOGIN: &str = "sandbox-seller";

/// The credentials a test hands the adapter: a client and a token pair issued at build time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// An access token valid for the configured lifetime from build time.
    pub access_token: String,
    /// Its refresh token.
    pub refresh_token: String,
}

/// One accepted change command (`PUT /sale/offer-…-commands/{commandId}`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    /// The command id.
    pub command_id: String,
    /// `price`, `quantity` or `publication`.
    pub kind: String,
    /// The offers named.
    pub offer_ids: Vec<String>,
    /// The body as parsed.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `PUT /order/checkout-forms/{id}/fulfillment`.
#[derive(Debug, Clone, PartialEq)]
pub struct FulfillmentRecord {
    /// The checkout form.
    pub order_id: String,
    /// The status set.
    pub status: String,
    /// The `checkoutForm.revision` sent, if any.
    pub revision: Option<String>,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One accepted `POST /order/checkout-forms/{id}/shipments`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentRecord {
    /// The shipment's id.
    pub id: String,
    /// The checkout form.
    pub order_id: String,
    /// `carrierId`.
    pub carrier_id: String,
    /// `carrierName` (the carrier's name unless `OTHER`).
    pub carrier_name: String,
    /// `waybill`.
    pub waybill: String,
    /// Line item ids (empty: the whole order).
    pub line_items: Vec<String>,
    /// The body as parsed.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One refund created by `POST /payments/refunds` (a repeated `commandId` creates none).
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRecord {
    /// The refund's id.
    pub id: String,
    /// `commandId`, if sent.
    pub command_id: Option<String>,
    /// `order.id`.
    pub order_id: String,
    /// `payment.id`.
    pub payment_id: String,
    /// `reason`.
    pub reason: String,
    /// `totalValue` in PLN.
    pub total: Decimal,
    /// The body as parsed.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// Builder for [`AllegroSandbox`]. Defaults: seed 0, 40 offers, 30 checkout forms, the default
/// anchor, the system clock, 9,000 requests per sliding minute per client id.
#[derive(Debug, Clone)]
pub struct AllegroBuilder {
    opts: SandboxOptions,
    access_ttl: TimeDelta,
    refresh_grace: TimeDelta,
    code_ttl: TimeDelta,
    device_interval: TimeDelta,
    command_polls: u32,
    command_delay: TimeDelta,
}

impl Default for AllegroBuilder {
    fn default() -> Self {
        Self {
            opts: SandboxOptions::new(40, 30, Some(9_000)),
            access_ttl: TimeDelta::hours(12),
            refresh_grace: TimeDelta::seconds(60),
            code_ttl: TimeDelta::seconds(10),
            device_interval: TimeDelta::seconds(5),
            command_polls: 1,
            command_delay: TimeDelta::seconds(5),
        }
    }
}

sandbox_options!(AllegroBuilder, offers, "offers", per_minute);

setters!(AllegroBuilder {
    /// Access token lifetime (default 12 h; `expires_in` is one second less).
    access_ttl: TimeDelta,
    /// How long a used refresh token still works (default 60 s). Every use of a used refresh
    /// token is counted either way ([`AllegroSandbox::refresh_token_reuses`]).
    refresh_grace: TimeDelta,
    /// How long an authorization code is valid (default 10 s).
    code_ttl: TimeDelta,
    /// The device flow's polling `interval` (default 5 s); faster polls get `slow_down`.
    device_interval: TimeDelta,
    /// How many status polls (`GET …/{commandId}` or `…/tasks`) still see a command
    /// unprocessed (default 1: the second poll sees it done; 0: the first).
    command_polls: u32,
    /// Clock time after which a command is done at its next poll, whatever the poll count
    /// (default 5 s).
    command_delay: TimeDelta,
});

impl AllegroBuilder {
    /// Refuses a used refresh token at once with `invalid_grant` (a grace of 0), so a client
    /// that spends one refresh token twice — two workers renewing at the same moment — fails
    /// visibly instead of being let off by the grace window. The uses are counted either way
    /// ([`AllegroSandbox::refresh_token_reuses`]).
    pub fn refuse_reused_refresh_tokens(mut self) -> Self {
        self.refresh_grace = TimeDelta::zero();
        self
    }

    /// Builds the sandbox with its seeded data.
    pub fn build(self) -> AllegroSandbox {
        let clock = self.opts.clock();
        let mut rng = self.opts.rng();
        let offers = seed::offers(&mut rng, self.opts.catalog, self.opts.anchor);
        let (orders, events) = seed::orders(&mut rng, self.opts.orders, self.opts.anchor, &offers);
        let mut state = State {
            seed: self.opts.seed,
            opts: Options {
                access_ttl: self.access_ttl,
                refresh_ttl: TimeDelta::days(90),
                refresh_grace: self.refresh_grace,
                code_ttl: self.code_ttl,
                device_ttl: TimeDelta::seconds(3600),
                device_interval: self.device_interval,
                command_polls: self.command_polls,
                command_delay: self.command_delay,
            },
            clients: BTreeMap::from([(CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())]),
            access: BTreeMap::new(),
            refresh: BTreeMap::new(),
            codes: BTreeMap::new(),
            devices: BTreeMap::new(),
            token_counter: 0,
            refresh_reuses: 0,
            offers: offers.into_iter().map(|o| (o.id.clone(), o)).collect(),
            orders: orders.into_iter().map(|o| (o.id.clone(), o)).collect(),
            events,
            commands: BTreeMap::new(),
            command_records: Vec::new(),
            fulfillments: Vec::new(),
            shipments: Vec::new(),
            refunds: Vec::new(),
            rng: DetRng::new(self.opts.seed ^ 0xA11E_6120),
        };
        let (access, refresh) = state.issue_pair(CLIENT_ID, clock.now());
        AllegroSandbox {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                clock,
                limits: RateLimits {
                    per_minute: self.opts.per_minute,
                    concurrent: None,
                },
                initial: Credentials {
                    client_id: CLIENT_ID.into(),
                    client_secret: CLIENT_SECRET.into(),
                    access_token: access,
                    refresh_token: refresh,
                },
            }),
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
    initial: Credentials,
}

/// A stateful fake of the Allegro REST API. Cheap to clone (shared state); serve it with
/// [`AllegroSandbox::start`] or [`Sandbox::start`].
#[derive(Debug, Clone)]
pub struct AllegroSandbox {
    inner: Arc<Inner>,
}

crate::handle::sandbox_handle!(AllegroSandbox, AllegroBuilder);

impl AllegroSandbox {
    fn clock_now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The seed the data was generated from.
    pub fn seed(&self) -> u64 {
        self.state().seed
    }

    // --- auth helpers ----------------------------------------------------------------------

    /// The client and the token pair issued at build time.
    pub fn credentials(&self) -> Credentials {
        self.inner.initial.clone()
    }

    /// Registers another client (application).
    pub fn add_client(&self, client_id: &str, secret: &str) {
        self.state()
            .clients
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// Mints a fresh token pair for a client, as if the user had just authorized it.
    pub fn issue_tokens(&self, client_id: &str) -> (String, String) {
        let now = self.clock_now();
        self.state().issue_pair(client_id, now)
    }

    /// "The user logged in" on the authorize page: issues a single-use authorization code for
    /// the client, valid for the configured code lifetime. With `redirect_uri` the exchange must
    /// repeat it; with `code_challenge` (S256, see [`code_challenge`]) it must carry the
    /// matching `code_verifier`.
    pub fn login(
        &self,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_challenge: Option<&str>,
    ) -> String {
        let now = self.clock_now();
        let mut st = self.state();
        let code = format!("{:016x}", st.rng.next_u64());
        st.codes.insert(
            code.clone(),
            api::Code {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.map(str::to_owned),
                challenge: code_challenge.map(str::to_owned),
                issued_at: now,
                used: false,
            },
        );
        code
    }

    /// "The user entered the code and allowed access": the next poll gets tokens. False when
    /// no device authorization has this user code.
    pub fn approve_device(&self, user_code: &str) -> bool {
        self.set_device(user_code, true)
    }

    /// "The user refused": polls get `access_denied`.
    pub fn deny_device(&self, user_code: &str) -> bool {
        self.set_device(user_code, false)
    }

    fn set_device(&self, user_code: &str, approve: bool) -> bool {
        let mut st = self.state();
        match st.devices.values_mut().find(|d| d.user_code == user_code) {
            Some(d) => {
                d.approved = approve;
                d.denied = !approve;
                true
            }
            None => false,
        }
    }

    /// Revokes a refresh token and the access token issued with it.
    pub fn revoke_refresh_token(&self, token: &str) {
        let mut st = self.state();
        let access = st.refresh.get_mut(token).map(|r| {
            r.revoked = true;
            r.access.clone()
        });
        if let Some(a) = access.and_then(|a| st.access.get_mut(&a)) {
            a.revoked = true;
        }
    }

    /// Revokes an access token.
    pub fn revoke_access_token(&self, token: &str) {
        if let Some(a) = self.state().access.get_mut(token) {
            a.revoked = true;
        }
    }

    /// Revokes every token ("the user logged out of all devices", changed the password).
    pub fn revoke_all_tokens(&self) {
        let mut st = self.state();
        st.access.values_mut().for_each(|a| a.revoked = true);
        st.refresh.values_mut().for_each(|r| r.revoked = true);
    }

    /// How many refresh requests presented a refresh token that had been used already (accepted
    /// within the grace window or refused): each one is a refresh token spent twice.
    pub fn refresh_token_reuses(&self) -> u64 {
        self.state().refresh_reuses
    }

    /// Whether an access token would be accepted now.
    pub fn access_token_valid(&self, token: &str) -> bool {
        let now = self.clock_now();
        self.state()
            .access
            .get(token)
            .is_some_and(|a| !a.revoked && a.expires_at > now)
    }

    // --- offers ----------------------------------------------------------------------------

    /// Ids of all offers (deleted ones excluded), ascending.
    pub fn offer_ids(&self) -> Vec<String> {
        self.state()
            .offers
            .values()
            .filter(|o| !o.deleted)
            .map(|o| o.id.clone())
            .collect()
    }

    /// The id of the (first) offer with this external id.
    pub fn offer_id_by_external(&self, external_id: &str) -> Option<String> {
        self.state()
            .offers
            .values()
            .find(|o| !o.deleted && o.external_id.as_deref() == Some(external_id))
            .map(|o| o.id.clone())
    }

    /// An offer as `GET /sale/product-offers/{id}` renders it.
    pub fn offer(&self, id: &str) -> Option<Value> {
        self.state()
            .offers
            .get(id)
            .filter(|o| !o.deleted)
            .map(State::offer_detail)
    }

    /// Ends an offer outside the API ("the seller ended it on the website"). False if unknown.
    pub fn end_offer(&self, id: &str) -> bool {
        let now = self.clock_now();
        match self.state().offers.get_mut(id) {
            Some(o) => {
                o.status = "ENDED".into();
                o.ended_at = Some(now);
                o.updated_at = now;
                true
            }
            None => false,
        }
    }

    /// Deletes an offer outside the API (it then answers 404). False if unknown.
    pub fn delete_offer(&self, id: &str) -> bool {
        match self.state().offers.get_mut(id) {
            Some(o) => {
                o.deleted = true;
                true
            }
            None => false,
        }
    }

    /// Finishes a command now, whatever its poll count.
    pub fn complete_command(&self, command_id: &str) {
        let now = self.clock_now();
        self.state().complete_command(command_id, now);
    }

    // --- orders ----------------------------------------------------------------------------

    /// Ids of all checkout forms, ascending.
    pub fn order_ids(&self) -> Vec<String> {
        self.state().orders.keys().cloned().collect()
    }

    /// A checkout form as `GET /order/checkout-forms/{id}` renders it.
    pub fn order(&self, id: &str) -> Option<Value> {
        self.state().orders.get(id).map(State::order_view)
    }

    /// How many events the journal holds.
    pub fn event_count(&self) -> usize {
        self.state().events.len()
    }

    /// "The buyer changed the order" (address, delivery method): a new revision, `updatedAt`
    /// now, and a `BUYER_MODIFIED` event. Returns the new revision.
    pub fn buyer_modifies_order(&self, id: &str) -> Option<String> {
        let now = self.clock_now();
        let mut st = self.state();
        let revision = format!("{:08x}", st.rng.next_u64() >> 32);
        let o = st.orders.get_mut(id)?;
        o.revision = revision.clone();
        o.updated_at = now;
        o.street = format!("{} m. 2", o.street);
        st.push_event("BUYER_MODIFIED", id, now);
        Some(revision)
    }

    /// "The buyer cancelled": status `CANCELLED`, a new revision and a `BUYER_CANCELLED` event.
    pub fn buyer_cancels_order(&self, id: &str) -> bool {
        let now = self.clock_now();
        let mut st = self.state();
        let revision = format!("{:08x}", st.rng.next_u64() >> 32);
        let Some(o) = st.orders.get_mut(id) else {
            return false;
        };
        o.status = "CANCELLED".into();
        o.revision = revision;
        o.updated_at = now;
        st.push_event("BUYER_CANCELLED", id, now);
        true
    }

    // --- records ---------------------------------------------------------------------------

    /// Accepted change commands, oldest first.
    pub fn commands(&self) -> Vec<CommandRecord> {
        self.state().command_records.clone()
    }

    /// Accepted fulfillment changes, oldest first.
    pub fn fulfillment_changes(&self) -> Vec<FulfillmentRecord> {
        self.state().fulfillments.clone()
    }

    /// Accepted shipments (tracking numbers), oldest first.
    pub fn shipments(&self) -> Vec<ShipmentRecord> {
        self.state().shipments.clone()
    }

    /// Refunds created, oldest first.
    pub fn refunds(&self) -> Vec<RefundRecord> {
        self.state().refunds.clone()
    }
}

fn accepts(request: &Request) -> bool {
    request
        .header("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains(api::MEDIA))
}

impl Marketplace for AllegroSandbox {
    fn name(&self) -> &'static str {
        "allegro"
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock_now()
    }

    fn route(&self, request: &Request) -> Route {
        let op = api::resolve(&request.method, &request.decoded_path());
        let st = self.state();
        let client = match op {
            Op::Token | Op::Device => api::basic(request).map(|(id, _)| id),
            _ => api::bearer(request).and_then(|t| st.access.get(&t).map(|a| a.client_id.clone())),
        };
        Route {
            operation: op.name(),
            rate_key: client.map(|c| format!("client:{c}")),
            concurrency_key: None,
            cost: 1,
        }
    }

    fn rate_limits(&self) -> RateLimits {
        self.inner.limits
    }

    fn handle(&self, request: &Request) -> Response {
        let op = api::resolve(&request.method, &request.decoded_path());
        let now = self.clock_now();
        let mut st = self.state();
        match &op {
            Op::NotFound => {
                return api::errors(404, "NotFoundException", "Resource not found", None);
            }
            Op::MethodNotAllowed => {
                return api::errors(
                    405,
                    "MethodNotAllowedException",
                    &format!("Request method '{}' not supported", request.method),
                    None,
                );
            }
            Op::Token => return st.token(request, now),
            Op::Device => return st.device(request, now),
            _ => {}
        }
        if let Err(r) = st.check_access(request, now) {
            return r;
        }
        if !accepts(request) {
            return api::errors(
                406,
                "NotAcceptableException",
                "Not acceptable representation requested. Please check 'Accept' request header",
                None,
            );
        }
        match op {
            Op::Me => api::vnd(
                200,
                &json!({
                    "id": USER_ID.to_string(),
                    "login": LOGIN,
                    "firstName": "Sandbox",
                    "lastName": "Seller",
                    "email": "seller@sandbox.example",
                    "baseMarketplace": {"id": "allegro-pl"},
                    "company": {"name": "Sandbox Sp. z o.o.", "taxId": "5250000000"},
                    "features": [],
                }),
            ),
            Op::OffersList => st.offers_list(request),
            Op::OfferGet(id) => st.offer_get(&id),
            Op::OfferOperation(id, _) => {
                Response::empty(303).with_header("location", format!("/sale/product-offers/{id}"))
            }
            Op::OfferCreate => st.offer_create(request, now),
            Op::CommandPut(kind, id) => st.command_put(request, kind, &id, now),
            Op::CommandGet(_, id) => st.command_get(&id, now),
            Op::CommandTasks(_, id) => st.command_tasks(request, &id, now),
            Op::OrdersList => st.orders_list(request),
            Op::OrderGet(id) => st.order_get(&id),
            Op::Events => st.events(request),
            Op::EventStats => st.event_stats(),
            Op::Fulfillment(id) => st.fulfillment(request, &id, now),
            Op::ShipmentsAdd(id) => st.shipment_add(request, &id, now),
            Op::ShipmentsList(id) => st.shipments_list(&id),
            Op::Refund => st.refund(request, now),
            Op::Token | Op::Device | Op::NotFound | Op::MethodNotAllowed => {
                api::errors(404, "NotFoundException", "Resource not found", None)
            }
        }
    }

    fn throttled(&self, _request: &Request, _why: Throttle) -> Response {
        api::errors(
            429,
            "TooManyRequestsException",
            "Too many requests. The limit for this client id is exceeded; try again in a minute.",
            None,
        )
    }

    fn server_error(&self, _request: &Request) -> Response {
        api::errors(
            500,
            "InternalServerErrorException",
            "Internal server error",
            None,
        )
    }
}
