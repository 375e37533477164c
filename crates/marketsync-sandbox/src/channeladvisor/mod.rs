//! `ChannelAdvisorSandbox`: a stateful fake of the ChannelAdvisor REST API v1.
//!
//! See the crate README for the endpoints covered and the known differences from the real
//! service.

mod api;
mod batch;
pub mod harness;
mod odata;
pub mod seed;
mod tables;

pub use harness::{ChannelAdvisorHarness, ChannelAdvisorHarnessBuilder};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketsync_core::Clock;
use serde_json::{Map, Value, json};

use crate::handle::Shared;
use crate::marketplace::{Marketplace, RateLimits, Request, Response, Route, Throttle};
use crate::options::{SandboxOptions, sandbox_options, setters};
use crate::server::{Knobs, Sandbox};
use crate::util::parse_query;
use api::{App, Call, Op, RefreshToken, State};
use seed::{Ids, OrderSpec};

/// The application id of the default sandbox application.
pub const APPLICATION_ID: &str = "sandbox-application-id";
/// The shared secret of the default sandbox application.
pub const SHARED_SECRET: &str = "sandbox-shared-secret";
/// The refresh token the sandbox knows from the start (scopes `orders inventory`).
pub const REFRESH_TOKEN: &str = "sandbox-refresh-token";
/// The profile (account) id of the default profile.
pub const PROFILE_ID: i64 = 12_345_678;

/// The credentials a test hands to an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCredentials {
    /// Application id (HTTP Basic user at the token endpoint).
    pub application_id: String,
    /// Shared secret (HTTP Basic password).
    pub shared_secret: String,
    /// A refresh token the sandbox accepts.
    pub refresh_token: String,
    /// The profile id.
    pub profile_id: i64,
}

/// One `POST /v1/Orders(ID)/Ship` the sandbox accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentRecord {
    /// The order.
    pub order_id: i64,
    /// The application that sent it.
    pub application_id: String,
    /// `SellerFulfillmentID`, when given.
    pub seller_fulfillment_id: Option<String>,
    /// `TrackingNumber`, when given.
    pub tracking_number: Option<String>,
    /// `ShippingCarrier`.
    pub carrier: String,
    /// `ShippingClass`.
    pub class: String,
    /// `DeliveryStatus` (default `Complete`).
    pub delivery_status: String,
    /// `ShippedDateUtc` (default: when received).
    pub shipped_at: DateTime<Utc>,
    /// (order item id, quantity) shipped.
    pub items: Vec<(i64, i64)>,
    /// The `Value` object as sent.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One `POST /v1/Orders(ID)/Adjust` or `/v1/OrderItems(ID)/Adjust` the sandbox accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjustmentRecord {
    /// The order.
    pub order_id: i64,
    /// The order item, for item-level adjustments.
    pub order_item_id: Option<i64>,
    /// The application that sent it.
    pub application_id: String,
    /// `SellerAdjustmentID`, when given.
    pub seller_adjustment_id: Option<String>,
    /// `Reason` (default `GeneralAdjustment`).
    pub reason: String,
    /// `Cancellation` or `Refund`.
    pub kind: String,
    /// The body as sent.
    pub body: Value,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// An order to add from a test ([`ChannelAdvisorSandbox::add_order`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// `SiteName` (`"OfferUp"`, `"eBay Fixed Price US"`, ...).
    pub site_name: String,
    /// `SiteID`.
    pub site_id: i64,
    /// `Currency`.
    pub currency: String,
    /// `ShippingCountry` / `BillingCountry`.
    pub country: String,
    /// (`CheckoutStatus`, `PaymentStatus`, `ShippingStatus`).
    pub statuses: (String, String, String),
    /// `RequestedShippingCarrier`.
    pub carrier: String,
    /// `RequestedShippingClass`.
    pub class: String,
    /// Lines: (SKU, quantity, unit price in minor units). The product id is looked up by SKU
    /// (0 when the catalog has no such SKU).
    pub lines: Vec<(String, i64, i64)>,
    /// `CreatedDateUtc`; `None`: now.
    pub created: Option<DateTime<Utc>>,
}

impl Default for NewOrder {
    fn default() -> Self {
        Self {
            site_name: seed::OFFERUP_SITE_NAME.into(),
            site_id: 1065,
            currency: "USD".into(),
            country: "US".into(),
            statuses: ("Completed".into(), "Cleared".into(), "Unshipped".into()),
            carrier: String::new(),
            class: "Standard".into(),
            lines: vec![("SKU-0000".into(), 1, 1999)],
            created: None,
        }
    }
}

/// Builder for [`ChannelAdvisorSandbox`]. Defaults: seed 0, 40 products, 60 orders, the default
/// anchor, the system clock, 2,000 requests per minute per profile, 5 concurrent requests, no
/// `Retry-After` on 429.
#[derive(Debug, Clone)]
pub struct ChannelAdvisorBuilder {
    opts: SandboxOptions,
    token_ttl: Duration,
    orders_page_size: usize,
    products_page_size: usize,
    expanded_cap: usize,
    concurrent: Option<u32>,
    max_batch_parts: Option<usize>,
}

impl Default for ChannelAdvisorBuilder {
    fn default() -> Self {
        Self {
            opts: SandboxOptions::new(40, 60, Some(2000)),
            token_ttl: Duration::from_secs(3600),
            orders_page_size: 100,
            products_page_size: 100,
            expanded_cap: 20,
            concurrent: Some(5),
            max_batch_parts: None,
        }
    }
}

sandbox_options!(
    ChannelAdvisorBuilder,
    products,
    "products",
    per_minute,
    retry_after_header
);

/// The fixed moment seeded data is placed before (orders over the 60 days up to it).
pub fn default_anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

setters!(ChannelAdvisorBuilder {
    /// Lifetime of access tokens (default 3600 s).
    token_ttl: Duration,
    /// Orders per page of `GET /v1/Orders` (default 100).
    orders_page_size: usize => |n| n.max(1),
    /// Products per page of `GET /v1/Products` (default 100).
    products_page_size: usize => |n| n.max(1),
    /// Concurrent requests per application (default 5; `None`: unlimited).
    concurrent: Option<u32>,
    /// Refuse batches with more parts than this (default: no hard limit, as documented).
    max_batch_parts: Option<usize>,
});

impl ChannelAdvisorBuilder {
    /// Items per expanded collection in list responses (default 20, as documented).
    pub fn expanded_collection_cap(mut self, n: usize) -> Self {
        self.expanded_cap = n.max(1);
        self
    }

    /// Builds the sandbox with its seeded data.
    pub fn build(self) -> ChannelAdvisorSandbox {
        let clock = self.opts.clock();
        let mut rng = self.opts.rng();
        let mut ids = Ids::default();
        let products = seed::products(
            &mut rng,
            &mut ids,
            PROFILE_ID,
            self.opts.catalog,
            self.opts.anchor,
        );
        let catalog: Vec<(String, i64, i64)> = products
            .iter()
            .filter(|p| p.fields["IsParent"] != json!(true))
            .map(|p| {
                (
                    p.fields["Sku"].as_str().unwrap_or("").to_owned(),
                    p.fields["ID"].as_i64().unwrap_or(0),
                    (p.fields["RetailPrice"].as_f64().unwrap_or(0.0) * 100.0).round() as i64,
                )
            })
            .collect();
        let orders = seed::orders(
            &mut rng,
            &mut ids,
            PROFILE_ID,
            self.opts.orders,
            self.opts.anchor,
            &catalog,
        );
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        let state = State {
            seed: self.opts.seed,
            token_ttl: TimeDelta::from_std(self.token_ttl).unwrap_or(TimeDelta::hours(1)),
            orders_page_size: self.orders_page_size,
            products_page_size: self.products_page_size,
            expanded_cap: self.expanded_cap,
            max_batch_parts: self.max_batch_parts,
            retry_after_header: self.opts.retry_after_header,
            carriers: seed::CARRIERS
                .iter()
                .map(|(c, cl)| {
                    (
                        (*c).to_owned(),
                        cl.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect(),
            apps: BTreeMap::from([(
                APPLICATION_ID.to_owned(),
                App {
                    secret: SHARED_SECRET.to_owned(),
                },
            )]),
            refresh: BTreeMap::from([(
                REFRESH_TOKEN.to_owned(),
                RefreshToken {
                    app: APPLICATION_ID.to_owned(),
                    profiles: vec![PROFILE_ID],
                    scopes: vec!["orders".into(), "inventory".into()],
                    revoked_at: None,
                },
            )]),
            access: HashMap::new(),
            token_counter: 0,
            profiles: vec![obj(json!({
                "ID": PROFILE_ID, "AccountName": "sandbox-seller",
                "CompanyName": "Sandbox Goods Ltd", "CurrencyCode": "USD",
                "TimeZoneRegion": "EST", "TimeZoneDescription": "(UTC-05:00) Eastern Time (US & Canada)",
                "DefaultDistributionCenterID": 1
            }))],
            dcs: vec![
                dc(1, "Main Warehouse", "MAIN", "Warehouse", false),
                dc(2, "East Coast", "EAST", "Warehouse", false),
                dc(
                    3,
                    "Marketplace Fulfilment",
                    "FBA",
                    "ExternallyManaged",
                    true,
                ),
            ],
            products: tables::Catalog::from_products(
                products
                    .into_iter()
                    .map(|p| (p.fields["ID"].as_i64().unwrap_or(0), p)),
            ),
            orders: tables::OrderBook::from_orders(
                orders
                    .into_iter()
                    .map(|o| (o.fields["ID"].as_i64().unwrap_or(0), o)),
            ),
            export_calls: BTreeMap::new(),
            shipments: Vec::new(),
            adjustments: Vec::new(),
            ids,
            rng,
            seeded_orders: self.opts.orders,
        };
        ChannelAdvisorSandbox {
            inner: Arc::new(Shared {
                state: Mutex::new(state),
                clock,
                limits: RateLimits {
                    per_minute: self.opts.per_minute,
                    concurrent: self.concurrent,
                },
            }),
        }
    }
}

fn dc(id: i64, name: &str, code: &str, ty: &str, external: bool) -> Map<String, Value> {
    json!({
        "ID": id, "ProfileID": PROFILE_ID, "Name": name, "Code": code,
        "ContactName": null, "ContactEmail": null, "ContactPhone": null,
        "Address1": format!("{id} Depot Road"), "Address2": null, "City": "Raleigh",
        "StateOrProvince": "NC", "Country": "US", "PostalCode": "27601",
        "PickupLocation": false, "ShipLocation": true, "Type": ty,
        "FulfillmentPartnerName": null, "ExternallyManaged": external,
        "IsExternallyManaged": external, "IsDeleted": false, "DeletedDateUtc": null
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// A stateful fake of the ChannelAdvisor REST API v1. Cheap to clone (shared state); serve it
/// with [`ChannelAdvisorSandbox::start`] or [`Sandbox::start`].
#[derive(Debug, Clone)]
pub struct ChannelAdvisorSandbox {
    inner: Arc<Shared<State>>,
}

crate::handle::sandbox_handle!(ChannelAdvisorSandbox, ChannelAdvisorBuilder);

impl ChannelAdvisorSandbox {
    // --- credentials ---------------------------------------------------------------------

    /// The default application's credentials and refresh token.
    pub fn credentials(&self) -> SandboxCredentials {
        SandboxCredentials {
            application_id: APPLICATION_ID.into(),
            shared_secret: SHARED_SECRET.into(),
            refresh_token: REFRESH_TOKEN.into(),
            profile_id: PROFILE_ID,
        }
    }

    /// Registers another application.
    pub fn add_application(&self, application_id: &str, shared_secret: &str) {
        self.state().apps.insert(
            application_id.into(),
            App {
                secret: shared_secret.into(),
            },
        );
    }

    /// Registers a refresh token for an application, covering the default profile.
    /// `scopes`: e.g. `["orders", "inventory.readonly"]`.
    pub fn add_refresh_token(&self, token: &str, application_id: &str, scopes: &[&str]) {
        self.state().refresh.insert(
            token.into(),
            RefreshToken {
                app: application_id.into(),
                profiles: vec![PROFILE_ID],
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                revoked_at: None,
            },
        );
    }

    /// Issues an access token for the default refresh token without an HTTP round trip.
    pub fn issue_access_token(&self) -> String {
        let now = self.now();
        self.state()
            .issue_access(REFRESH_TOKEN, now)
            .unwrap_or_default()
    }

    /// Revokes a refresh token now: refresh grants fail with 400 and the access tokens issued
    /// from it stop working (401).
    pub fn revoke_refresh_token(&self, token: &str) {
        let now = self.now();
        self.revoke_refresh_token_at(token, now);
    }

    /// Revokes a refresh token from the moment `at` (by the sandbox clock) on.
    pub fn revoke_refresh_token_at(&self, token: &str, at: DateTime<Utc>) {
        if let Some(r) = self.state().refresh.get_mut(token) {
            r.revoked_at = Some(at);
        }
    }

    /// Invalidates one access token at once.
    pub fn revoke_access_token(&self, token: &str) {
        if let Some(t) = self.state().access.get_mut(token) {
            t.revoked = true;
        }
    }

    // --- catalog -------------------------------------------------------------------------

    /// Ids of all products, ascending.
    pub fn product_ids(&self) -> Vec<i64> {
        self.state().products.keys().copied().collect()
    }

    /// The product id for a SKU.
    pub fn product_id(&self, sku: &str) -> Option<i64> {
        let st = self.state();
        st.products
            .ids_by_sku(sku)
            .next()
            .and_then(|id| st.products.get(&id))
            .and_then(|p| p.fields["ID"].as_i64())
    }

    /// A product's wire JSON with `Labels` and `DCQuantities` inlined.
    pub fn product(&self, id: i64) -> Option<Value> {
        self.state()
            .products
            .get(&id)
            .map(|p| Value::Object(api::product_view(p)))
    }

    /// A product's labels.
    pub fn labels(&self, id: i64) -> Vec<String> {
        self.state()
            .products
            .get(&id)
            .map(|p| p.labels.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The quantity of a product at a distribution centre.
    pub fn dc_quantity(&self, id: i64, distribution_center: i64) -> Option<i64> {
        self.state()
            .products
            .get(&id)
            .and_then(|p| p.dc.get(&distribution_center).copied())
    }

    /// Adds a product outside the API (quantity `quantity` at distribution centre 1).
    pub fn add_product(&self, sku: &str, labels: &[&str], quantity: i64) -> i64 {
        let now = self.now();
        let mut st = self.state();
        let id = st.ids.product;
        st.ids.product += 1;
        let mut p = seed::blank_product(id, PROFILE_ID, sku, now);
        p.fields
            .insert("Title".into(), json!(format!("Product {sku}")));
        p.labels = labels.iter().map(|l| (*l).to_owned()).collect();
        p.dc.insert(1, quantity);
        seed::refresh_totals(&mut p);
        st.products.insert(id, p);
        id
    }

    /// Edits a product's fields outside the API ("the seller changed it in the ChannelAdvisor
    /// UI"), e.g. a price field, and bumps its `UpdateDateUtc` to now. Labels and quantities
    /// have their own helpers and endpoints; `ID` and `ProfileID` are kept.
    pub fn edit_product(&self, id: i64, edit: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let now = self.now();
        let mut st = self.state();
        let Some(mut p) = st.products.get_mut(&id) else {
            return false;
        };
        let (pid, profile) = (p.fields["ID"].clone(), p.fields["ProfileID"].clone());
        edit(&mut p.fields);
        p.fields.insert("ID".into(), pid);
        p.fields.insert("ProfileID".into(), profile);
        p.fields
            .insert("UpdateDateUtc".into(), json!(seed::ts(now)));
        true
    }

    /// Deletes a product outside the API ("the seller deleted it in the ChannelAdvisor UI").
    pub fn delete_product(&self, id: i64) -> bool {
        self.state().products.remove(&id).is_some()
    }

    // --- orders --------------------------------------------------------------------------

    /// Ids of all orders, ascending.
    pub fn order_ids(&self) -> Vec<i64> {
        self.state().orders.keys().copied().collect()
    }

    /// An order's wire JSON with `Items`, `Fulfillments` (with items) and `Adjustments`.
    pub fn order(&self, id: i64) -> Option<Value> {
        self.state()
            .orders
            .get(&id)
            .map(|o| Value::Object(api::order_view(o)))
    }

    /// Edits an order outside the API and bumps its `UpdatedDateUtc` to now.
    pub fn edit_order(&self, id: i64, edit: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let now = self.now();
        let mut st = self.state();
        let Some(o) = st.orders.get_mut(&id) else {
            return false;
        };
        edit(&mut o.fields);
        o.fields
            .insert("UpdatedDateUtc".into(), json!(seed::ts(now)));
        true
    }

    /// Sets an order's statuses outside the API (bumping `UpdatedDateUtc`).
    pub fn set_order_status(&self, id: i64, checkout: &str, payment: &str, shipping: &str) -> bool {
        self.edit_order(id, |o| {
            o.insert("CheckoutStatus".into(), json!(checkout));
            o.insert("PaymentStatus".into(), json!(payment));
            o.insert("ShippingStatus".into(), json!(shipping));
        })
    }

    /// Adds an order as if a marketplace had just sent it; returns its id.
    pub fn add_order(&self, order: NewOrder) -> i64 {
        let now = self.now();
        let mut st = self.state();
        let lines = order
            .lines
            .iter()
            .map(|(sku, qty, unit)| {
                let pid = st
                    .products
                    .ids_by_sku(sku)
                    .next()
                    .and_then(|id| st.products.get(&id))
                    .and_then(|p| p.fields["ID"].as_i64())
                    .unwrap_or(0);
                (sku.clone(), pid, *qty, *unit)
            })
            .collect();
        let spec = OrderSpec {
            site: (
                order.site_id,
                order.site_name,
                order.currency,
                order.country,
            ),
            statuses: order.statuses,
            carrier: order.carrier,
            class: order.class,
            lines,
            created: order.created.unwrap_or(now),
            buyer: ("Test".into(), "Buyer".into()),
        };
        insert_order(&mut st, &spec)
    }

    /// Adds `n` more generated orders (deterministic after the seed), created now.
    pub fn add_seeded_orders(&self, n: usize) -> Vec<i64> {
        let now = self.now();
        let mut st = self.state();
        let catalog: Vec<(String, i64, i64)> = st
            .products
            .values()
            .filter(|p| p.fields["IsParent"] != json!(true))
            .map(|p| {
                (
                    p.fields["Sku"].as_str().unwrap_or("").to_owned(),
                    p.fields["ID"].as_i64().unwrap_or(0),
                    (p.fields["RetailPrice"].as_f64().unwrap_or(9.99) * 100.0).round() as i64,
                )
            })
            .collect();
        let mut out = Vec::new();
        for _ in 0..n {
            let k = st.seeded_orders;
            st.seeded_orders += 1;
            let mut rng = st.rng.clone();
            let spec = seed::random_spec(
                &mut rng,
                k.max(seed::STATUS_COMBINATIONS.len()),
                now,
                &catalog,
            );
            st.rng = rng;
            out.push(insert_order(&mut st, &spec));
        }
        out
    }

    /// Whether the default application has the order marked exported.
    pub fn is_exported(&self, order_id: i64) -> bool {
        self.state().orders.is_exported(APPLICATION_ID, order_id)
    }

    /// Orders the default application has marked exported, ascending.
    pub fn exported_orders(&self) -> Vec<i64> {
        self.state().orders.exported_ids(APPLICATION_ID).collect()
    }

    /// How many times the default application called `Export` for the order.
    pub fn export_count(&self, order_id: i64) -> u32 {
        self.export_count_for(APPLICATION_ID, order_id)
    }

    /// How many times an application called `Export` for the order.
    pub fn export_count_for(&self, application_id: &str, order_id: i64) -> u32 {
        self.state()
            .export_calls
            .get(&(application_id.to_owned(), order_id))
            .copied()
            .unwrap_or(0)
    }

    /// Every accepted `Ship`, in order received.
    pub fn shipments(&self) -> Vec<ShipmentRecord> {
        self.state().shipments.clone()
    }

    /// Accepted `Ship` calls for one order.
    pub fn shipments_of(&self, order_id: i64) -> Vec<ShipmentRecord> {
        self.shipments()
            .into_iter()
            .filter(|s| s.order_id == order_id)
            .collect()
    }

    /// Every accepted `Adjust` (order or item level), in order received.
    pub fn adjustments(&self) -> Vec<AdjustmentRecord> {
        self.state().adjustments.clone()
    }

    /// Accepted adjustments for one order.
    pub fn adjustments_of(&self, order_id: i64) -> Vec<AdjustmentRecord> {
        self.adjustments()
            .into_iter()
            .filter(|a| a.order_id == order_id)
            .collect()
    }

    fn call(&self, request: &Request) -> Call {
        Call {
            method: request.method.clone(),
            path: request.decoded_path(),
            raw_path: request.path.clone(),
            raw_query: request.query.clone(),
            query: request.query_pairs(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            base_url: request.base_url.clone(),
            now: request.received_at,
            in_batch: false,
            inherited_token: None,
        }
    }
}

fn insert_order(st: &mut State, spec: &OrderSpec) -> i64 {
    let mut rng = st.rng.clone();
    let order = seed::build_order(spec, &mut st.ids, PROFILE_ID, &mut rng);
    st.rng = rng;
    let id = order.fields["ID"].as_i64().unwrap_or(0);
    st.orders.insert(id, order);
    id
}

impl Marketplace for ChannelAdvisorSandbox {
    fn name(&self) -> &'static str {
        "channeladvisor"
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn route(&self, request: &Request) -> Route {
        let call = self.call(request);
        let op = api::resolve(&call.method, &call.path);
        if op == Op::Token {
            let form = parse_query(&String::from_utf8_lossy(&request.body));
            let grant = form
                .iter()
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            let name = match grant {
                "refresh_token" => "token.refresh",
                "authorization_code" => "token.code",
                "soap" => "token.soap",
                _ => "token",
            };
            return Route::unmetered(name);
        }
        let st = self.state();
        let mut cost = 1u32;
        let mut token = call.token();
        if op == Op::Batch {
            let ctype = call
                .headers
                .iter()
                .find(|(k, _)| k == "content-type")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let items = if ctype.to_ascii_lowercase().starts_with("application/json") {
                batch::parse_json(&request.body)
            } else {
                batch::parse_multipart(&request.body, &ctype)
            }
            .unwrap_or_default();
            for item in &items {
                for part in item.parts() {
                    cost += 1;
                    if token.is_none() {
                        token = api::part_call(part, &call, None).token();
                    }
                }
            }
        }
        let caller = token.and_then(|t| st.caller(&t, request.received_at));
        Route {
            operation: op.name().to_owned(),
            rate_key: caller
                .as_ref()
                .and_then(|c| c.profiles.first())
                .map(|p| format!("profile:{p}")),
            concurrency_key: caller.as_ref().map(|c| format!("application:{}", c.app)),
            cost,
        }
    }

    fn rate_limits(&self) -> RateLimits {
        self.inner.limits
    }

    fn handle(&self, request: &Request) -> Response {
        let call = self.call(request);
        let op = api::resolve(&call.method, &call.path);
        let mut st = self.state();
        match op {
            Op::Token => st.token_endpoint(&call),
            Op::Batch => st.batch(&call),
            _ => st.api(&call),
        }
    }

    fn throttled(&self, _request: &Request, why: Throttle) -> Response {
        let st = self.state();
        let mut r = api::odata_error(429, "Too Many Requests");
        if st.retry_after_header {
            let secs = match why {
                Throttle::PerMinute { retry_after } => retry_after.as_secs().max(1),
                Throttle::Concurrency => 1,
            };
            r = r.with_header("retry-after", secs.to_string());
        }
        r
    }

    fn server_error(&self, _request: &Request) -> Response {
        api::message_error(500, "An error has occurred.")
    }
}
