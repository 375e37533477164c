//! The ChannelAdvisor REST API v1 surface: routing, auth, and one handler per endpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::batch::{self, Item};
use super::odata::{self, Expr, Key, KeyValue, Segment};
use super::seed::{self, Fulfillment, Ids, Order, Product, money, ts};
use super::tables::{Catalog, OrderBook, ProductMut};
use super::{AdjustmentRecord, ShipmentRecord};
use crate::marketplace::Response;
use crate::util::{DetRng, base64_decode, mix, parse_query};

pub(crate) const DENIED: &str = "Authorization has been denied for this request.";
const NS: &str = "ChannelAdvisor.RestApi.V1.Models";

pub(crate) const DELIVERY_STATUSES: &[&str] = &[
    "NoChange",
    "InTransit",
    "ReadyForPickup",
    "Complete",
    "Canceled",
    "ThirdPartyManaged",
    "Confirmed",
    "PickAndPack",
    "LabelCreated",
    "Held",
];
pub(crate) const ADJUSTMENT_REASONS: &[&str] = &[
    "GeneralAdjustment",
    "ItemNotAvailable",
    "CustomerReturnedItem",
    "CouldNotShip",
    "AlternateItemProvided",
    "BuyerCancelled",
    "CustomerExchange",
    "MerchandiseNotReceived",
    "ShippingAddressUndeliverable",
];
const UPDATE_TYPES: &[&str] = &[
    "Absolute",
    "Relative",
    "Available",
    "InStock",
    "UnShipped",
    "Unconfirmed",
];

/// A registered application (application id + shared secret).
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) secret: String,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub(crate) app: String,
    pub(crate) profiles: Vec<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) app: String,
    pub(crate) refresh: String,
    pub(crate) profiles: Vec<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) revoked: bool,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) seed: u64,
    pub(crate) token_ttl: TimeDelta,
    pub(crate) orders_page_size: usize,
    pub(crate) products_page_size: usize,
    pub(crate) expanded_cap: usize,
    pub(crate) max_batch_parts: Option<usize>,
    pub(crate) retry_after_header: bool,
    pub(crate) carriers: Vec<(String, Vec<String>)>,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) refresh: BTreeMap<String, RefreshToken>,
    pub(crate) access: HashMap<String, AccessToken>,
    pub(crate) token_counter: u64,
    pub(crate) profiles: Vec<Map<String, Value>>,
    pub(crate) dcs: Vec<Map<String, Value>>,
    pub(crate) products: Catalog,
    /// The orders and each application's export marks.
    pub(crate) orders: OrderBook,
    /// (application id, order id) → number of successful Export calls.
    pub(crate) export_calls: BTreeMap<(String, i64), u32>,
    pub(crate) shipments: Vec<ShipmentRecord>,
    pub(crate) adjustments: Vec<AdjustmentRecord>,
    pub(crate) ids: Ids,
    pub(crate) rng: DetRng,
    pub(crate) seeded_orders: usize,
}

/// Who is calling: resolved from a valid access token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) app: String,
    pub(crate) profiles: Vec<i64>,
    pub(crate) scopes: Vec<String>,
}

/// One API call, top-level or a batch part.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: String,
    /// Percent-decoded path.
    pub(crate) path: String,
    /// Path as sent (for links).
    pub(crate) raw_path: String,
    pub(crate) raw_query: Option<String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) base_url: String,
    pub(crate) now: DateTime<Utc>,
    pub(crate) in_batch: bool,
    /// Token given by the enclosing batch request, when this is a part.
    pub(crate) inherited_token: Option<String>,
}

impl Call {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The access token: `Authorization: Bearer`, then `?access_token=`, then the batch's.
    pub(crate) fn token(&self) -> Option<String> {
        self.header("authorization")
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_owned())
            })
            .or_else(|| self.param("access_token").map(str::to_owned))
            .or_else(|| self.inherited_token.clone())
    }

    fn token_in_query(&self) -> Option<&str> {
        self.param("access_token")
    }

    fn full_uri(&self) -> String {
        match &self.raw_query {
            Some(q) => format!("{}{}?{}", self.base_url, self.raw_path, q),
            None => format!("{}{}", self.base_url, self.raw_path),
        }
    }
}

/// The endpoints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Token,
    Batch,
    Profiles,
    DcList,
    DcGet(i64),
    ProductList,
    ProductCreate,
    ProductGet(i64),
    ProductUpdate(i64),
    ProductDelete(i64),
    UpdateQuantity(i64),
    ProductLabelList(i64),
    ProductDcQuantities(i64),
    LabelAdd {
        product: i64,
        name: String,
        alias: bool,
    },
    LabelRemove {
        product: i64,
        name: String,
        alias: bool,
    },
    LabelGet {
        product: i64,
        name: String,
    },
    LabelList,
    OrderList,
    OrderGet(i64),
    OrderItems(i64),
    Export(i64),
    Unexport(i64),
    Ship(i64),
    Adjust(i64),
    ItemAdjust(i64),
    MethodNotAllowed,
    NotFound,
}

impl Op {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Token => "token",
            Op::Batch => "batch",
            Op::Profiles => "profiles.list",
            Op::DcList => "distribution_centers.list",
            Op::DcGet(_) => "distribution_centers.get",
            Op::ProductList => "products.list",
            Op::ProductCreate => "products.create",
            Op::ProductGet(_) => "products.get",
            Op::ProductUpdate(_) => "products.update",
            Op::ProductDelete(_) => "products.delete",
            Op::UpdateQuantity(_) => "products.update_quantity",
            Op::ProductLabelList(_) => "products.labels",
            Op::ProductDcQuantities(_) => "products.dc_quantities",
            Op::LabelAdd { .. } => "labels.add",
            Op::LabelRemove { .. } => "labels.remove",
            Op::LabelGet { .. } => "labels.get",
            Op::LabelList => "labels.list",
            Op::OrderList => "orders.list",
            Op::OrderGet(_) => "orders.get",
            Op::OrderItems(_) => "orders.items",
            Op::Export(_) => "orders.export",
            Op::Unexport(_) => "orders.unexport",
            Op::Ship(_) => "orders.ship",
            Op::Adjust(_) => "orders.adjust",
            Op::ItemAdjust(_) => "order_items.adjust",
            Op::MethodNotAllowed => "method_not_allowed",
            Op::NotFound => "not_found",
        }
    }

    /// (area, write) the token's scope must cover; `None`: any valid token.
    fn scope(&self) -> Option<(&'static str, bool)> {
        Some(match self {
            Op::Token | Op::Batch | Op::Profiles | Op::MethodNotAllowed | Op::NotFound => {
                return None;
            }
            Op::DcList | Op::DcGet(_) => return None,
            Op::ProductList
            | Op::ProductGet(_)
            | Op::ProductLabelList(_)
            | Op::ProductDcQuantities(_)
            | Op::LabelGet { .. }
            | Op::LabelList => ("inventory", false),
            Op::ProductCreate
            | Op::ProductUpdate(_)
            | Op::ProductDelete(_)
            | Op::UpdateQuantity(_)
            | Op::LabelAdd { .. }
            | Op::LabelRemove { .. } => ("inventory", true),
            Op::OrderList | Op::OrderGet(_) | Op::OrderItems(_) => ("orders", false),
            Op::Export(_) | Op::Unexport(_) | Op::Ship(_) | Op::Adjust(_) | Op::ItemAdjust(_) => {
                ("orders", true)
            }
        })
    }
}

fn int_key(seg: &Segment) -> Option<i64> {
    seg.key.as_ref().and_then(Key::int)
}

/// Resolves method + decoded path to an endpoint.
pub(crate) fn resolve(method: &str, path: &str) -> Op {
    let Some(segs) = odata::parse_path(path) else {
        return Op::NotFound;
    };
    let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
    let m = method;
    let allow = |ok: bool, op: Op| if ok { op } else { Op::MethodNotAllowed };
    match names.as_slice() {
        ["oauth2", "token"] if segs[1].key.is_none() => allow(m == "POST", Op::Token),
        ["v1", "$batch"] => allow(m == "POST", Op::Batch),
        ["v1", "Profiles"] if segs[1].key.is_none() => allow(m == "GET", Op::Profiles),
        ["v1", "DistributionCenters"] => match int_key(&segs[1]) {
            None if segs[1].key.is_none() => allow(m == "GET", Op::DcList),
            Some(id) => allow(m == "GET", Op::DcGet(id)),
            None => Op::NotFound,
        },
        ["v1", "Products"] => match (&segs[1].key, int_key(&segs[1])) {
            (None, _) => match m {
                "GET" => Op::ProductList,
                "POST" => Op::ProductCreate,
                _ => Op::MethodNotAllowed,
            },
            (Some(_), Some(id)) => match m {
                "GET" => Op::ProductGet(id),
                "PATCH" | "PUT" => Op::ProductUpdate(id),
                "DELETE" => Op::ProductDelete(id),
                _ => Op::MethodNotAllowed,
            },
            _ => Op::NotFound,
        },
        ["v1", "Products", sub] => {
            let Some(id) = int_key(&segs[1]) else {
                return Op::NotFound;
            };
            match (*sub, &segs[2].key) {
                ("UpdateQuantity", None) => allow(m == "POST", Op::UpdateQuantity(id)),
                ("DCQuantities", None) => allow(m == "GET", Op::ProductDcQuantities(id)),
                ("Labels", None) => allow(m == "GET", Op::ProductLabelList(id)),
                ("Labels", Some(k)) => match k.string() {
                    Some(name) => {
                        let name = name.to_owned();
                        match m {
                            "PUT" | "PATCH" => Op::LabelAdd {
                                product: id,
                                name,
                                alias: true,
                            },
                            "DELETE" => Op::LabelRemove {
                                product: id,
                                name,
                                alias: true,
                            },
                            "GET" => Op::LabelGet { product: id, name },
                            _ => Op::MethodNotAllowed,
                        }
                    }
                    None => Op::NotFound,
                },
                _ => Op::NotFound,
            }
        }
        ["v1", "ProductLabels"] => match &segs[1].key {
            None => allow(m == "GET", Op::LabelList),
            Some(k) => {
                let (Some(KeyValue::Int(product)), Some(KeyValue::Str(name))) =
                    (k.named("ProductID"), k.named("Name"))
                else {
                    return Op::NotFound;
                };
                let (product, name) = (*product, name.clone());
                match m {
                    "PUT" | "PATCH" | "POST" => Op::LabelAdd {
                        product,
                        name,
                        alias: false,
                    },
                    "DELETE" => Op::LabelRemove {
                        product,
                        name,
                        alias: false,
                    },
                    "GET" => Op::LabelGet { product, name },
                    _ => Op::MethodNotAllowed,
                }
            }
        },
        ["v1", "Orders"] => match (&segs[1].key, int_key(&segs[1])) {
            (None, _) => allow(m == "GET", Op::OrderList),
            (Some(_), Some(id)) => allow(m == "GET", Op::OrderGet(id)),
            _ => Op::NotFound,
        },
        ["v1", "Orders", sub] if segs[2].key.is_none() => {
            let Some(id) = int_key(&segs[1]) else {
                return Op::NotFound;
            };
            match *sub {
                "Items" => allow(m == "GET", Op::OrderItems(id)),
                "Export" => match m {
                    "POST" => Op::Export(id),
                    "DELETE" => Op::Unexport(id),
                    _ => Op::MethodNotAllowed,
                },
                "Ship" => allow(m == "POST", Op::Ship(id)),
                "Adjust" => allow(m == "POST", Op::Adjust(id)),
                _ => Op::NotFound,
            }
        }
        ["v1", "OrderItems", "Adjust"] if segs[2].key.is_none() => match int_key(&segs[1]) {
            Some(id) => allow(m == "POST", Op::ItemAdjust(id)),
            None => Op::NotFound,
        },
        _ => Op::NotFound,
    }
}

/// `{"error":{"code":"","message":...}}` (OData style).
pub(crate) fn odata_error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"error": {"code": "", "message": message}}))
}

/// `{"Message":...}` (ASP.NET Web API style).
pub(crate) fn message_error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "Message": message }))
}

fn no_property(name: &str, ty: &str) -> Response {
    odata_error(
        400,
        &format!("Could not find a property named '{name}' on type '{NS}.{ty}'."),
    )
}

fn not_found(what: &str, id: impl std::fmt::Display) -> Response {
    odata_error(404, &format!("No {what} found with key '{id}'."))
}

fn parse_body(call: &Call) -> Result<Value, Response> {
    if call.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&call.body)
        .map_err(|e| odata_error(400, &format!("The request body is not valid JSON: {e}")))
}

impl State {
    /// Issues a new access token for a refresh token.
    pub(crate) fn issue_access(&mut self, refresh: &str, now: DateTime<Utc>) -> Option<String> {
        let rt = self.refresh.get(refresh)?.clone();
        self.token_counter += 1;
        let n = self.token_counter;
        let token = format!(
            "sbx-at-{:016x}{:016x}",
            mix(self.seed ^ n),
            mix(n.wrapping_mul(31))
        );
        self.access.insert(
            token.clone(),
            AccessToken {
                app: rt.app,
                refresh: refresh.to_owned(),
                profiles: rt.profiles,
                scopes: rt.scopes,
                expires_at: now + self.token_ttl,
                revoked: false,
            },
        );
        Some(token)
    }

    fn refresh_usable(&self, refresh: &str, now: DateTime<Utc>) -> bool {
        self.refresh
            .get(refresh)
            .is_some_and(|r| r.revoked_at.is_none_or(|at| now < at))
    }

    /// The caller behind an access token, if the token is valid now.
    pub(crate) fn caller(&self, token: &str, now: DateTime<Utc>) -> Option<Caller> {
        let at = self.access.get(token)?;
        if at.revoked || now >= at.expires_at || !self.refresh_usable(&at.refresh, now) {
            return None;
        }
        Some(Caller {
            app: at.app.clone(),
            profiles: at.profiles.clone(),
            scopes: at.scopes.clone(),
        })
    }

    /// `POST /oauth2/token`.
    pub(crate) fn token_endpoint(&mut self, call: &Call) -> Response {
        let oauth_error = |code: &str| Response::json(400, &json!({ "error": code }));
        let basic = call.header("authorization").and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            let decoded = String::from_utf8(base64_decode(rest)?).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
        let Some((app_id, secret)) = basic else {
            return oauth_error("invalid_client");
        };
        if self.apps.get(&app_id).is_none_or(|a| a.secret != secret) {
            return oauth_error("invalid_client");
        }
        let form_ok = call.header("content-type").is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !form_ok {
            return oauth_error("invalid_request");
        }
        let form = parse_query(&String::from_utf8_lossy(&call.body));
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match get("grant_type").as_deref() {
            Some("refresh_token") => {
                let Some(refresh) = get("refresh_token") else {
                    return oauth_error("invalid_request");
                };
                let owned = self.refresh.get(&refresh).is_some_and(|r| r.app == app_id);
                if !owned || !self.refresh_usable(&refresh, call.now) {
                    return oauth_error("invalid_grant");
                }
                match self.issue_access(&refresh, call.now) {
                    Some(token) => Response::json(
                        200,
                        &json!({
                            "access_token": token,
                            "token_type": "bearer",
                            "expires_in": self.token_ttl.num_seconds(),
                        }),
                    ),
                    None => oauth_error("invalid_grant"),
                }
            }
            None => oauth_error("invalid_request"),
            Some(_) => oauth_error("unsupported_grant_type"),
        }
    }

    /// One API call (not the token endpoint, not `$batch`).
    pub(crate) fn api(&mut self, call: &Call) -> Response {
        let op = resolve(&call.method, &call.path);
        let denied = |batch: bool| {
            if batch {
                odata_error(401, DENIED)
            } else {
                message_error(401, DENIED)
            }
        };
        match op {
            Op::NotFound => {
                return message_error(
                    404,
                    &format!(
                        "No HTTP resource was found that matches the request URI '{}'.",
                        call.full_uri()
                    ),
                );
            }
            Op::MethodNotAllowed => {
                return message_error(
                    405,
                    &format!(
                        "The requested resource does not support http method '{}'.",
                        call.method
                    ),
                );
            }
            Op::Token | Op::Batch if call.in_batch => {
                return odata_error(400, "This request is not allowed inside a batch.");
            }
            _ => {}
        }
        let Some(caller) = call.token().and_then(|t| self.caller(&t, call.now)) else {
            return denied(call.in_batch);
        };
        if let Some((area, write)) = op.scope() {
            let ok = caller
                .scopes
                .iter()
                .any(|s| s == area || (!write && *s == format!("{area}.readonly")));
            if !ok {
                return denied(call.in_batch);
            }
        }
        if call.in_batch {
            let alias = matches!(
                op,
                Op::LabelAdd { alias: true, .. } | Op::LabelRemove { alias: true, .. }
            );
            if alias || matches!(op, Op::Export(_) | Op::Unexport(_)) {
                return odata_error(
                    400,
                    "This request is not supported in a batch; send it on its own or use the entity URI.",
                );
            }
        }
        match op {
            Op::Profiles => {
                let rows: Vec<Value> = self
                    .profiles
                    .iter()
                    .filter(|p| caller.profiles.contains(&p["ID"].as_i64().unwrap_or(0)))
                    .map(|p| Value::Object(p.clone()))
                    .collect();
                collection(call, "Profiles", rows, None)
            }
            Op::DcList => {
                let rows = self.dcs.iter().map(|d| Value::Object(d.clone())).collect();
                collection(call, "DistributionCenters", rows, None)
            }
            Op::DcGet(id) => match self.dcs.iter().find(|d| d["ID"] == json!(id)) {
                Some(d) => entity(call, "DistributionCenters", d.clone()),
                None => not_found("DistributionCenter", id),
            },
            Op::ProductList => self.product_list(call, &caller),
            Op::ProductGet(id) => match self.visible_product(id, &caller) {
                Some(p) => {
                    let full = product_view(p);
                    match shape(call, full, &PRODUCT_SHAPE, false, &[]) {
                        Ok(v) => entity(call, "Products", v),
                        Err(r) => r,
                    }
                }
                None => not_found("Product", id),
            },
            Op::ProductCreate => self.product_create(call, &caller),
            Op::ProductUpdate(id) => self.product_update(call, &caller, id),
            Op::ProductDelete(id) => {
                if self.visible_product(id, &caller).is_none() {
                    return not_found("Product", id);
                }
                self.products.remove(&id);
                Response::empty(204)
            }
            Op::UpdateQuantity(id) => self.update_quantity(call, &caller, id),
            Op::ProductLabelList(id) => match self.visible_product(id, &caller) {
                Some(p) => collection(call, "ProductLabels", label_rows(p), None),
                None => not_found("Product", id),
            },
            Op::ProductDcQuantities(id) => match self.visible_product(id, &caller) {
                Some(p) => collection(call, "DCQuantities", dc_rows(p), None),
                None => not_found("Product", id),
            },
            Op::LabelList => {
                let mut rows = Vec::new();
                for p in self.products.values() {
                    if caller.profiles.contains(&profile_of(&p.fields)) {
                        rows.extend(label_rows(p));
                    }
                }
                let filter = match parse_filter_param(
                    call,
                    &|n| ["ProductID", "ProfileID", "Name"].contains(&n),
                    "ProductLabel",
                ) {
                    Ok(f) => f,
                    Err(r) => return r,
                };
                let mut kept = Vec::new();
                for r in rows {
                    if let Some(f) = &filter {
                        match odata::matches(f, r.as_object().unwrap_or(&Map::new())) {
                            Ok(true) => kept.push(r),
                            Ok(false) => {}
                            Err(e) => return odata_error(400, &e),
                        }
                    } else {
                        kept.push(r);
                    }
                }
                collection(call, "ProductLabels", kept, None)
            }
            Op::LabelGet { product, name } => match self.visible_product(product, &caller) {
                Some(p) if p.labels.contains(&name) => entity(
                    call,
                    "ProductLabels",
                    label_row(p, &name).as_object().cloned().unwrap_or_default(),
                ),
                Some(_) => not_found("ProductLabel", format!("ProductID={product},Name='{name}'")),
                None => not_found("Product", product),
            },
            Op::LabelAdd { product, name, .. } => {
                if name.trim().is_empty() {
                    return odata_error(400, "A label name is required.");
                }
                let now = call.now;
                match self.visible_product_mut(product, &caller) {
                    Some(mut p) => {
                        p.labels.insert(name);
                        p.fields.insert("UpdateDateUtc".into(), json!(ts(now)));
                        Response::empty(204)
                    }
                    None => not_found("Product", product),
                }
            }
            Op::LabelRemove { product, name, .. } => {
                let now = call.now;
                match self.visible_product_mut(product, &caller) {
                    Some(mut p) => {
                        if !p.labels.remove(&name) {
                            return not_found(
                                "ProductLabel",
                                format!("ProductID={product},Name='{name}'"),
                            );
                        }
                        p.fields.insert("UpdateDateUtc".into(), json!(ts(now)));
                        Response::empty(204)
                    }
                    None => not_found("Product", product),
                }
            }
            Op::OrderList => self.order_list(call, &caller),
            Op::OrderGet(id) => match self.visible_order(id, &caller) {
                Some(o) => {
                    let full = order_view(o);
                    match shape(call, full, &ORDER_SHAPE, false, &[]) {
                        Ok(v) => entity(call, "Orders", v),
                        Err(r) => r,
                    }
                }
                None => not_found("Order", id),
            },
            Op::OrderItems(id) => match self.visible_order(id, &caller) {
                Some(o) => {
                    let rows = o.items.iter().map(|i| Value::Object(i.clone())).collect();
                    collection(call, "OrderItems", rows, Some(self.expanded_cap))
                }
                None => not_found("Order", id),
            },
            Op::Export(id) | Op::Unexport(id) => {
                if self.visible_order(id, &caller).is_none() {
                    return not_found("Order", id);
                }
                if matches!(op, Op::Export(_)) {
                    self.orders.export(&caller.app, id);
                    *self
                        .export_calls
                        .entry((caller.app.clone(), id))
                        .or_default() += 1;
                } else {
                    self.orders.unexport(&caller.app, id);
                }
                Response::empty(204)
            }
            Op::Ship(id) => self.ship(call, &caller, id),
            Op::Adjust(id) => self.adjust(call, &caller, id, None),
            Op::ItemAdjust(item) => match self.orders.order_of_item(item) {
                Some(id) if self.visible_order(id, &caller).is_some() => {
                    self.adjust(call, &caller, id, Some(item))
                }
                _ => not_found("OrderItem", item),
            },
            Op::Token | Op::Batch | Op::NotFound | Op::MethodNotAllowed => {
                odata_error(400, "Unexpected request.")
            }
        }
    }

    fn visible_product(&self, id: i64, caller: &Caller) -> Option<&Product> {
        self.products
            .get(&id)
            .filter(|p| caller.profiles.contains(&profile_of(&p.fields)))
    }

    fn visible_product_mut(&mut self, id: i64, caller: &Caller) -> Option<ProductMut<'_>> {
        self.products
            .get_mut(&id)
            .filter(|p| caller.profiles.contains(&profile_of(&p.fields)))
    }

    fn visible_order(&self, id: i64, caller: &Caller) -> Option<&Order> {
        self.orders
            .get(&id)
            .filter(|o| caller.profiles.contains(&profile_of(&o.fields)))
    }

    fn product_list(&mut self, call: &Call, caller: &Caller) -> Response {
        let visible = |p: &&Product| caller.profiles.contains(&profile_of(&p.fields));
        // Property names are checked against the first product the caller sees (any name
        // passes when there is none).
        let first = self.products.values().find(visible);
        let known = |n: &str| {
            first.is_none_or(|p| n == "Labels" || n == "DCQuantities" || p.fields.contains_key(n))
        };
        let filter = match parse_filter_param(call, &known, PRODUCT_SHAPE.ty) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let sizes = (self.products_page_size, self.expanded_cap);
        let products = &self.products;
        // A SKU lookup reads only the products with those SKUs (and any whose `Sku` would
        // make the comparison fail): no other product can match or fail.
        if let Some(skus) = filter.as_ref().and_then(odata::sku_restriction) {
            let mut ids: BTreeSet<i64> = products.ids_with_odd_sku().collect();
            for sku in &skus {
                ids.extend(products.ids_by_sku(sku));
            }
            let rows = ids
                .into_iter()
                .filter_map(|id| products.get(&id))
                .filter(visible)
                .map(|p| (p, true));
            let src = Rows {
                known: &known,
                field: &product_field,
                view: &product_view,
                infallible: false,
            };
            return list(call, filter.as_ref(), rows, src, &PRODUCT_SHAPE, sizes).0;
        }
        let key = clean_key(call, caller);
        let infallible = products.filter_is_clean(&key);
        let rows = products.values().filter(visible).map(|p| (p, true));
        let src = Rows {
            known: &known,
            field: &product_field,
            view: &product_view,
            infallible,
        };
        let (response, clean) = list(call, filter.as_ref(), rows, src, &PRODUCT_SHAPE, sizes);
        if clean && !infallible && filter.is_some() {
            self.products.mark_filter_clean(key);
        }
        response
    }

    fn order_list(&mut self, call: &Call, caller: &Caller) -> Response {
        let exported = match call
            .param("exported")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => None,
            Some("false") => Some(false),
            Some("true") => Some(true),
            Some(other) => {
                return odata_error(
                    400,
                    &format!("The value '{other}' is not valid for exported."),
                );
            }
        };
        let orders = &self.orders;
        let app = caller.app.as_str();
        let visible = |o: &&Order| caller.profiles.contains(&profile_of(&o.fields));
        let listed = || -> Box<dyn Iterator<Item = &Order> + '_> {
            match exported {
                None => Box::new(orders.values()),
                Some(false) => orders.unexported_by(app),
                Some(true) => Box::new(orders.exported_by(app)),
            }
        };
        // Property names are checked against the first order listed (any name passes when
        // there is none).
        let first = listed().find(visible);
        let known = |n: &str| {
            first.is_none_or(|o| {
                matches!(n, "Items" | "Fulfillments" | "Adjustments") || o.fields.contains_key(n)
            })
        };
        let filter = match parse_filter_param(call, &known, ORDER_SHAPE.ty) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let sizes = (self.orders_page_size, self.expanded_cap);
        let key = clean_key(call, caller);
        let infallible = filter.is_none() || orders.filter_is_clean(&key);
        let (response, clean) = if infallible {
            // The filter cannot fail on any order: only the listed ones are read, up to the
            // end of the page.
            let src = Rows {
                known: &known,
                field: &order_field,
                view: &order_view,
                infallible,
            };
            let rows = listed().filter(visible).map(|o| (o, true));
            list(call, filter.as_ref(), rows, src, &ORDER_SHAPE, sizes)
        } else {
            // Evaluated once on every order the caller sees, to learn whether it can fail;
            // only the listed ones are returned or report a failure.
            let src = Rows {
                known: &known,
                field: &order_field,
                view: &order_view,
                infallible,
            };
            let rows = orders.iter().filter(|(_, o)| visible(o)).map(|(id, o)| {
                let in_list = match exported {
                    None => true,
                    Some(want) => orders.is_exported(app, *id) == want,
                };
                (o, in_list)
            });
            list(call, filter.as_ref(), rows, src, &ORDER_SHAPE, sizes)
        };
        if clean && !infallible {
            self.orders.mark_filter_clean(key);
        }
        response
    }

    fn product_create(&mut self, call: &Call, caller: &Caller) -> Response {
        let body = match parse_body(call) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return odata_error(400, "The request body must be a JSON object."),
            Err(r) => return r,
        };
        let Some(sku) = body.get("Sku").and_then(Value::as_str).map(str::to_owned) else {
            return odata_error(400, "The Sku field is required.");
        };
        if self.products.ids_by_sku(&sku).next().is_some() {
            return odata_error(400, &format!("A product with Sku '{sku}' already exists."));
        }
        let profile = caller.profiles.first().copied().unwrap_or(0);
        let id = self.ids.product;
        self.ids.product += 1;
        let mut p = seed::blank_product(id, profile, &sku, call.now);
        if let Err(r) = apply_patch(&mut p.fields, &body) {
            return r;
        }
        let view = product_view(&p);
        self.products.insert(id, p);
        let mut r = entity(call, "Products", strip_navs(view, &PRODUCT_SHAPE));
        r.status = 201;
        r
    }

    fn product_update(&mut self, call: &Call, caller: &Caller, id: i64) -> Response {
        let body = match parse_body(call) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return odata_error(400, "The request body must be a JSON object."),
            Err(r) => return r,
        };
        let now = call.now;
        let Some(mut p) = self.visible_product_mut(id, caller) else {
            return not_found("Product", id);
        };
        let mut fields = p.fields.clone();
        if let Err(r) = apply_patch(&mut fields, &body) {
            return r;
        }
        fields.insert("UpdateDateUtc".into(), json!(ts(now)));
        p.fields = fields;
        Response::empty(204)
    }

    fn update_quantity(&mut self, call: &Call, caller: &Caller, id: i64) -> Response {
        let body = match parse_body(call) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let Some(value) = body.get("Value").and_then(Value::as_object) else {
            return odata_error(400, "The request must wrap its parameters in 'Value'.");
        };
        let Some(kind) = value.get("UpdateType").and_then(Value::as_str) else {
            return odata_error(400, "UpdateType is required.");
        };
        if !UPDATE_TYPES.contains(&kind) {
            return odata_error(400, &format!("The UpdateType '{kind}' is not valid."));
        }
        let Some(updates) = value.get("Updates").and_then(Value::as_array) else {
            return odata_error(400, "Updates is required.");
        };
        let mut changes = Vec::new();
        for u in updates {
            let (Some(dc), Some(qty)) = (
                u.get("DistributionCenterID").and_then(Value::as_i64),
                u.get("Quantity").and_then(Value::as_i64),
            ) else {
                return odata_error(400, "Each update needs DistributionCenterID and Quantity.");
            };
            let Some(dc_row) = self.dcs.iter().find(|d| d["ID"] == json!(dc)) else {
                return odata_error(400, &format!("Distribution center {dc} does not exist."));
            };
            if dc_row["IsExternallyManaged"] == json!(true) {
                return odata_error(
                    400,
                    &format!(
                        "Distribution center {dc} is externally managed; its quantity cannot be updated."
                    ),
                );
            }
            changes.push((dc, qty));
        }
        let now = call.now;
        let Some(mut p) = self.visible_product_mut(id, caller) else {
            return not_found("Product", id);
        };
        if p.fields["IsParent"] == json!(true) {
            return odata_error(400, "Parent products have no quantity.");
        }
        for (dc, qty) in changes {
            let slot = p.dc.entry(dc).or_insert(0);
            *slot = if kind == "Relative" { *slot + qty } else { qty };
        }
        seed::refresh_totals(&mut p);
        p.fields
            .insert("QuantityUpdateDateUtc".into(), json!(ts(now)));
        p.fields.insert("UpdateDateUtc".into(), json!(ts(now)));
        Response::empty(204)
    }

    fn ship(&mut self, call: &Call, caller: &Caller, id: i64) -> Response {
        let body = match parse_body(call) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let Some(value) = body.get("Value").and_then(Value::as_object).cloned() else {
            return odata_error(400, "The request must wrap its parameters in 'Value'.");
        };
        let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(carrier), Some(class)) = (text("ShippingCarrier"), text("ShippingClass")) else {
            return odata_error(400, "ShippingCarrier and ShippingClass are required.");
        };
        let known = self.carriers.iter().any(|(c, classes)| {
            c.eq_ignore_ascii_case(&carrier)
                && classes.iter().any(|k| k.eq_ignore_ascii_case(&class))
        });
        if !known {
            return odata_error(
                400,
                &format!(
                    "The shipping carrier '{carrier}' and class '{class}' are not a valid combination for this account."
                ),
            );
        }
        let delivery = text("DeliveryStatus").unwrap_or_else(|| "Complete".to_owned());
        if !DELIVERY_STATUSES.contains(&delivery.as_str()) {
            return odata_error(
                400,
                &format!("The DeliveryStatus '{delivery}' is not valid."),
            );
        }
        let shipped_at = match value.get("ShippedDateUtc") {
            None | Some(Value::Null) => call.now,
            Some(Value::String(s)) => match odata::parse_datetime(s) {
                Some(d) => d,
                None => {
                    return odata_error(400, &format!("ShippedDateUtc '{s}' is not a valid date."));
                }
            },
            Some(_) => return odata_error(400, "ShippedDateUtc must be a date string."),
        };
        let now = call.now;
        let profile;
        let requested: Vec<Value> = value
            .get("Items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        {
            let Some(order) = self.visible_order(id, caller) else {
                return not_found("Order", id);
            };
            if order.fields["ShippingStatus"] == json!("Canceled") {
                return odata_error(
                    400,
                    &format!("Order {id} is canceled and cannot be shipped."),
                );
            }
            profile = profile_of(&order.fields);
        }
        let order = self.orders.get_mut(&id).expect("checked above");
        // Resolve the shipped lines (all of them when no Items are given).
        let mut lines: Vec<(i64, i64, i64)> = Vec::new();
        if requested.is_empty() {
            for it in &order.items {
                lines.push((
                    it["ID"].as_i64().unwrap_or(0),
                    it["ProductID"].as_i64().unwrap_or(0),
                    it["Quantity"].as_i64().unwrap_or(0),
                ));
            }
        } else {
            for r in &requested {
                let found = order.items.iter().find(|it| {
                    r.get("OrderItemID").is_some_and(|v| *v == it["ID"])
                        || r.get("Sku").is_some_and(|v| *v == it["Sku"])
                        || r.get("ProductID").is_some_and(|v| *v == it["ProductID"])
                });
                let Some(it) = found else {
                    return odata_error(400, &format!("An item to ship is not on order {id}: {r}"));
                };
                let max = it["Quantity"].as_i64().unwrap_or(0);
                let qty = r.get("Quantity").and_then(Value::as_i64).unwrap_or(max);
                if qty <= 0 || qty > max {
                    return odata_error(
                        400,
                        &format!("Invalid quantity {qty} for order item {}.", it["ID"]),
                    );
                }
                lines.push((
                    it["ID"].as_i64().unwrap_or(0),
                    it["ProductID"].as_i64().unwrap_or(0),
                    qty,
                ));
            }
        }
        let fid = self.ids.fulfillment;
        self.ids.fulfillment += 1;
        let mut f = Fulfillment {
            fields: Map::new(),
            items: Vec::new(),
        };
        for (k, v) in [
            ("ID", json!(fid)),
            ("ProfileID", json!(profile)),
            ("OrderID", json!(id)),
            ("CreatedDateUtc", json!(ts(now))),
            ("UpdatedDateUtc", json!(ts(now))),
            (
                "Type",
                json!(
                    value
                        .get("FulfillmentType")
                        .cloned()
                        .unwrap_or(json!("Ship"))
                ),
            ),
            ("DeliveryStatus", json!(delivery)),
            (
                "TrackingNumber",
                value.get("TrackingNumber").cloned().unwrap_or(Value::Null),
            ),
            (
                "TrackingUrl",
                value.get("TrackingUrl").cloned().unwrap_or(Value::Null),
            ),
            (
                "ReturnTrackingNumber",
                value
                    .get("ReturnTrackingNumber")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            ("ShippingCarrier", json!(carrier)),
            ("ShippingClass", json!(class)),
            (
                "DistributionCenterID",
                value
                    .get("DistributionCenterID")
                    .cloned()
                    .unwrap_or(json!(1)),
            ),
            ("ExternalFulfillmentCenterCode", Value::Null),
            ("ExternalFulfillmentStatus", Value::Null),
            ("ShippingCost", money(0)),
            ("InsuranceCost", money(0)),
            ("TaxCost", money(0)),
            ("ShippedDateUtc", json!(ts(shipped_at))),
            (
                "SellerFulfillmentID",
                value
                    .get("SellerFulfillmentID")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            ("HasShippingLabel", json!(false)),
        ] {
            f.fields.insert(k.into(), v);
        }
        for (item_id, product_id, qty) in &lines {
            let fi = self.ids.fulfillment_item;
            self.ids.fulfillment_item += 1;
            f.items.push(
                json!({"ID": fi, "FulfillmentID": fid, "OrderID": id, "OrderItemID": item_id,
                    "ProductID": product_id, "Quantity": qty})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            );
        }
        // The pending fulfilment created with the order gives way to the real one.
        order
            .fulfillments
            .retain(|f| !(f.fields["DeliveryStatus"] == json!("NoChange") && f.items.is_empty()));
        order.fulfillments.push(f);
        let mut shipped: BTreeMap<i64, i64> = BTreeMap::new();
        for f in &order.fulfillments {
            if f.fields["DeliveryStatus"] == json!("Complete") {
                for i in &f.items {
                    *shipped
                        .entry(i["OrderItemID"].as_i64().unwrap_or(0))
                        .or_default() += i["Quantity"].as_i64().unwrap_or(0);
                }
            }
        }
        let all = order.items.iter().all(|it| {
            shipped
                .get(&it["ID"].as_i64().unwrap_or(0))
                .copied()
                .unwrap_or(0)
                >= it["Quantity"].as_i64().unwrap_or(0)
        });
        if delivery == "Complete" {
            let status = if all { "Shipped" } else { "PartiallyShipped" };
            order.fields.insert("ShippingStatus".into(), json!(status));
            order
                .fields
                .insert("ShippingDateUtc".into(), json!(ts(shipped_at)));
        }
        order.fields.insert("UpdatedDateUtc".into(), json!(ts(now)));
        self.shipments.push(ShipmentRecord {
            order_id: id,
            application_id: caller.app.clone(),
            seller_fulfillment_id: text("SellerFulfillmentID"),
            tracking_number: text("TrackingNumber"),
            carrier,
            class,
            delivery_status: delivery,
            shipped_at,
            items: lines.iter().map(|(i, _, q)| (*i, *q)).collect(),
            body: Value::Object(value),
            at: now,
        });
        Response::empty(204)
    }

    fn adjust(&mut self, call: &Call, caller: &Caller, id: i64, item: Option<i64>) -> Response {
        let body = match parse_body(call) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return odata_error(400, "The request body must be a JSON object."),
            Err(r) => return r,
        };
        let reason = match body.get("Reason") {
            None | Some(Value::Null) => "GeneralAdjustment".to_owned(),
            Some(Value::String(r)) if ADJUSTMENT_REASONS.contains(&r.as_str()) => r.clone(),
            Some(other) => return odata_error(400, &format!("The Reason '{other}' is not valid.")),
        };
        let refund_only = body.get("RefundOnly") == Some(&json!(true));
        let now = call.now;
        if self.visible_order(id, caller).is_none() {
            return not_found("Order", id);
        }
        let Some(order) = self.orders.get_mut(&id) else {
            return not_found("Order", id);
        };
        let status = order.fields["ShippingStatus"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let shipped = matches!(status.as_str(), "Shipped" | "PartiallyShipped");
        if let Some(item_id) = item {
            let it = order
                .items
                .iter()
                .find(|i| i["ID"] == json!(item_id))
                .cloned()
                .unwrap_or_default();
            let max = it["Quantity"].as_i64().unwrap_or(0);
            let already: i64 = order
                .adjustments
                .iter()
                .filter(|a| {
                    a["OrderItemID"] == json!(item_id) && a["Type"] == json!("Cancellation")
                })
                .map(|a| a["Quantity"].as_i64().unwrap_or(0))
                .sum();
            if let Some(q) = body.get("Quantity") {
                let Some(q) = q.as_i64() else {
                    return odata_error(400, "Quantity must be an integer.");
                };
                if q <= 0 || q + already > max {
                    return odata_error(
                        400,
                        &format!("Quantity {q} exceeds what is left on order item {item_id}."),
                    );
                }
            }
        } else if status == "Canceled" && !refund_only {
            return odata_error(400, &format!("Order {id} is already canceled."));
        }
        let kind = if refund_only || shipped {
            "Refund"
        } else {
            "Cancellation"
        };
        let aid = self.ids.adjustment;
        self.ids.adjustment += 1;
        let amount = body
            .get("AdjustmentAmount")
            .or_else(|| body.get("ItemAdjustment"))
            .cloned()
            .unwrap_or(Value::Null);
        let quantity = body.get("Quantity").cloned().unwrap_or(Value::Null);
        let quantity = if item.is_some() && quantity.is_null() {
            order
                .items
                .iter()
                .find(|i| i["ID"] == json!(item))
                .map(|i| i["Quantity"].clone())
                .unwrap_or(Value::Null)
        } else {
            quantity
        };
        order.adjustments.push(
            json!({
                "ID": aid, "ProfileID": profile_of(&order.fields), "OrderID": id,
                "OrderItemID": item, "Type": kind, "RequestStatus": "SubmittedNotProcessed",
                "Reason": reason, "SellerAdjustmentID": body.get("SellerAdjustmentID").cloned().unwrap_or(Value::Null),
                "SiteAdjustmentID": null, "AdjustmentAmount": amount, "Quantity": quantity,
                "CreatedDateUtc": ts(now)
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        );
        if kind == "Cancellation" {
            let cancelled_all = match item {
                None => body.get("AdjustmentAmount").is_none_or(Value::is_null),
                Some(_) => order.items.iter().all(|it| {
                    let cancelled: i64 = order
                        .adjustments
                        .iter()
                        .filter(|a| {
                            a["OrderItemID"] == it["ID"] && a["Type"] == json!("Cancellation")
                        })
                        .map(|a| a["Quantity"].as_i64().unwrap_or(0))
                        .sum();
                    cancelled >= it["Quantity"].as_i64().unwrap_or(0)
                }),
            };
            if cancelled_all {
                order
                    .fields
                    .insert("ShippingStatus".into(), json!("Canceled"));
                for f in &mut order.fulfillments {
                    if f.fields["DeliveryStatus"] == json!("NoChange") {
                        f.fields.insert("DeliveryStatus".into(), json!("Canceled"));
                    }
                }
            }
        }
        order.fields.insert("UpdatedDateUtc".into(), json!(ts(now)));
        self.adjustments.push(AdjustmentRecord {
            order_id: id,
            order_item_id: item,
            application_id: caller.app.clone(),
            seller_adjustment_id: body
                .get("SellerAdjustmentID")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reason,
            kind: kind.to_owned(),
            body: Value::Object(body),
            at: now,
        });
        Response::empty(204)
    }

    /// `POST /v1/$batch`.
    pub(crate) fn batch(&mut self, call: &Call) -> Response {
        let ctype = call.header("content-type").unwrap_or("").to_owned();
        let json_in = ctype.to_ascii_lowercase().starts_with("application/json");
        let parsed = if json_in {
            batch::parse_json(&call.body)
        } else if ctype.to_ascii_lowercase().starts_with("multipart/mixed") {
            batch::parse_multipart(&call.body, &ctype)
        } else {
            Err(format!(
                "The batch request must be multipart/mixed, not '{ctype}'."
            ))
        };
        let items = match parsed {
            Ok(items) => items,
            Err(e) => return odata_error(400, &e),
        };
        let count: usize = items.iter().map(|i| i.parts().len()).sum();
        if let Some(max) = self.max_batch_parts
            && count > max
        {
            return odata_error(
                400,
                &format!("A batch may hold at most {max} requests; this one has {count}."),
            );
        }
        let outer_token = call.token();
        let mut results = Vec::new();
        let mut ops = Vec::new();
        for item in &items {
            let mut rendered = Vec::new();
            for part in item.parts() {
                let sub = part_call(part, call, outer_token.clone());
                ops.push(resolve(&sub.method, &sub.path).name().to_owned());
                rendered.push((part.content_id.clone(), self.api(&sub)));
            }
            results.push((matches!(item, Item::Changeset(_)), rendered));
        }
        let wants_json = call
            .header("accept")
            .is_some_and(|a| a.contains("application/json") && !a.contains("multipart"));
        let mut response = if wants_json || json_in {
            Response::json(200, &batch::render_json(&results))
        } else {
            let (ctype, body) = batch::render_multipart(
                mix(self.seed ^ self.token_counter ^ count as u64),
                &results,
            );
            let mut r = Response::empty(200).with_header("content-type", ctype);
            r.body = body.into_bytes();
            r
        };
        response
            .headers
            .push(("odata-version".into(), "4.0".into()));
        response.sub_operations = ops;
        response
    }
}

/// Builds the call for one batch part.
pub(crate) fn part_call(part: &batch::Part, outer: &Call, token: Option<String>) -> Call {
    let url = part.url.as_str();
    let rel = if let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    {
        rest.find('/')
            .map(|i| rest[i..].to_owned())
            .unwrap_or_else(|| "/".into())
    } else if url.starts_with('/') {
        url.to_owned()
    } else {
        format!("/v1/{url}")
    };
    let (raw_path, raw_query) = match rel.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (rel, None),
    };
    Call {
        method: part.method.clone(),
        path: crate::util::percent_decode(&raw_path, false),
        query: raw_query.as_deref().map(parse_query).unwrap_or_default(),
        raw_path,
        raw_query,
        headers: part.headers.clone(),
        body: part.body.clone(),
        base_url: outer.base_url.clone(),
        now: outer.now,
        in_batch: true,
        inherited_token: token,
    }
}

pub(crate) fn profile_of(fields: &Map<String, Value>) -> i64 {
    fields.get("ProfileID").and_then(Value::as_i64).unwrap_or(0)
}

fn label_row(p: &Product, name: &str) -> Value {
    json!({"ProductID": p.fields["ID"], "ProfileID": p.fields["ProfileID"], "Name": name})
}

fn label_rows(p: &Product) -> Vec<Value> {
    p.labels.iter().map(|l| label_row(p, l)).collect()
}

fn dc_rows(p: &Product) -> Vec<Value> {
    p.dc.iter()
        .map(|(dc, q)| {
            json!({"ProductID": p.fields["ID"], "ProfileID": p.fields["ProfileID"],
                "DistributionCenterID": dc, "AvailableQuantity": q})
        })
        .collect()
}

/// A product with its navigation collections inlined (for filtering and expanding).
pub(crate) fn product_view(p: &Product) -> Map<String, Value> {
    let mut m = p.fields.clone();
    m.insert("Labels".into(), Value::Array(label_rows(p)));
    m.insert("DCQuantities".into(), Value::Array(dc_rows(p)));
    m
}

/// An order with its navigation collections inlined.
pub(crate) fn order_view(o: &Order) -> Map<String, Value> {
    let mut m = o.fields.clone();
    m.insert(
        "Items".into(),
        Value::Array(o.items.iter().cloned().map(Value::Object).collect()),
    );
    m.insert(
        "Fulfillments".into(),
        Value::Array(o.fulfillments.iter().map(fulfillment_view).collect()),
    );
    m.insert(
        "Adjustments".into(),
        Value::Array(o.adjustments.iter().cloned().map(Value::Object).collect()),
    );
    m
}

/// A fulfilment with its items inlined.
fn fulfillment_view(f: &Fulfillment) -> Value {
    let mut fm = f.fields.clone();
    fm.insert(
        "Items".into(),
        Value::Array(f.items.iter().cloned().map(Value::Object).collect()),
    );
    Value::Object(fm)
}

/// The entity type name and navigation properties of a set.
pub(crate) struct Shape {
    set: &'static str,
    ty: &'static str,
    navs: &'static [&'static str],
}

pub(crate) const PRODUCT_SHAPE: Shape = Shape {
    set: "Products",
    ty: "Product",
    navs: &[
        "Labels",
        "DCQuantities",
        "Attributes",
        "Images",
        "BundleComponents",
        "Children",
    ],
};
pub(crate) const ORDER_SHAPE: Shape = Shape {
    set: "Orders",
    ty: "Order",
    navs: &[
        "Items",
        "Fulfillments",
        "Adjustments",
        "CustomFields",
        "OrderAttributes",
    ],
};

fn strip_navs(mut m: Map<String, Value>, shape: &Shape) -> Map<String, Value> {
    for n in shape.navs {
        m.remove(*n);
    }
    m
}

fn apply_patch(fields: &mut Map<String, Value>, body: &Map<String, Value>) -> Result<(), Response> {
    for (k, v) in body {
        if k.starts_with('@') {
            continue;
        }
        let Some(current) = fields.get(k) else {
            return Err(odata_error(
                400,
                &format!(
                    "The property '{k}' does not exist on type '{NS}.Product'. Make sure to only use property names that are defined by the type."
                ),
            ));
        };
        if k == "ID" || k == "ProfileID" {
            return Err(odata_error(
                400,
                &format!("The property '{k}' cannot be changed."),
            ));
        }
        let compatible = v.is_null()
            || current.is_null()
            || (current.is_number() && v.is_number())
            || (current.is_string() && v.is_string())
            || (current.is_boolean() && v.is_boolean());
        if !compatible {
            return Err(odata_error(
                400,
                &format!("The value given for '{k}' has the wrong type."),
            ));
        }
        fields.insert(k.clone(), v.clone());
    }
    Ok(())
}

fn parse_filter_param(
    call: &Call,
    known: &dyn Fn(&str) -> bool,
    ty: &str,
) -> Result<Option<Expr>, Response> {
    let Some(src) = call.param("$filter") else {
        return Ok(None);
    };
    let expr = odata::parse_filter(src).map_err(|e| {
        odata_error(
            400,
            &format!("The query specified in the URI is not valid. {e} in '{src}'."),
        )
    })?;
    if let Some(unknown) = expr.unknown_property(known) {
        return Err(no_property(&unknown, ty));
    }
    Ok(Some(expr))
}

/// `$expand` items: name → nested `$expand` names.
fn parse_expand(call: &Call, shape: &Shape) -> Result<Vec<(String, Vec<String>)>, Response> {
    let Some(src) = call.param("$expand") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in odata::split_list(src) {
        let (name, nested) = match item.split_once('(') {
            Some((n, rest)) => (n.trim().to_owned(), rest.trim_end_matches(')').to_owned()),
            None => (item.clone(), String::new()),
        };
        if !shape.navs.contains(&name.as_str()) {
            return Err(no_property(&name, shape.ty));
        }
        let mut inner = Vec::new();
        for opt in nested.split(';') {
            if let Some(list) = opt.trim().strip_prefix("$expand=") {
                inner.extend(
                    odata::split_list(list)
                        .into_iter()
                        .map(|s| s.split('(').next().unwrap_or("").trim().to_owned()),
                );
            }
        }
        out.push((name, inner));
    }
    Ok(out)
}

/// Applies `$select` and `$expand` to one entity view. `cap` limits expanded collections
/// (list responses), adding `Name@odata.nextLink`.
fn shape(
    call: &Call,
    mut view: Map<String, Value>,
    shape: &Shape,
    capped: bool,
    cap: &[usize],
) -> Result<Map<String, Value>, Response> {
    let expand = parse_expand(call, shape)?;
    let select = call.param("$select").map(odata::split_list);
    if let Some(sel) = &select {
        for s in sel {
            if s != "*" && !view.contains_key(s) {
                return Err(no_property(s, shape.ty));
            }
        }
    }
    let id = view.get("ID").cloned().unwrap_or(Value::Null);
    let mut out = Map::new();
    for (k, v) in &view {
        if shape.navs.contains(&k.as_str()) {
            continue;
        }
        let keep = match &select {
            None => true,
            Some(sel) => sel.iter().any(|s| s == k || s == "*"),
        };
        if keep {
            out.insert(k.clone(), v.clone());
        }
    }
    for (name, nested) in expand {
        let mut rows = match view.remove(&name) {
            Some(Value::Array(rows)) => rows,
            _ => Vec::new(),
        };
        if name == "Fulfillments" && !nested.iter().any(|n| n == "Items") {
            for r in &mut rows {
                if let Some(o) = r.as_object_mut() {
                    o.remove("Items");
                }
            }
        }
        if capped
            && let Some(max) = cap.first().copied()
            && rows.len() > max
        {
            rows.truncate(max);
            let mut link = format!(
                "{}/v1/{}({})/{}?$skip={}",
                call.base_url, shape.set, id, name, max
            );
            if let Some(t) = call.token_in_query() {
                link.push_str(&format!("&access_token={t}"));
            }
            out.insert(format!("{name}@odata.nextLink"), json!(link));
        }
        out.insert(name, Value::Array(rows));
    }
    Ok(out)
}

fn entity(call: &Call, set: &str, mut fields: Map<String, Value>) -> Response {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1/$metadata#{}/$entity", call.base_url, set)),
    );
    m.append(&mut fields);
    Response::json(200, &Value::Object(m)).with_header("odata-version", "4.0")
}

fn parse_usize(call: &Call, name: &str) -> Result<Option<usize>, Response> {
    match call.param(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| odata_error(400, &format!("Invalid value '{v}' for {name}."))),
    }
}

/// Paging over a plain collection (no filter), e.g. `/Orders(ID)/Items`.
fn collection(call: &Call, set: &str, rows: Vec<Value>, page: Option<usize>) -> Response {
    let skip = match parse_usize(call, "$skip") {
        Ok(v) => v.unwrap_or(0),
        Err(r) => return r,
    };
    let page = page.unwrap_or(usize::MAX);
    let total = rows.len();
    let value: Vec<Value> = rows.into_iter().skip(skip).take(page).collect();
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1/$metadata#{}", call.base_url, set)),
    );
    let returned = value.len();
    m.insert("value".into(), Value::Array(value));
    if skip + returned < total {
        m.insert(
            "@odata.nextLink".into(),
            json!(next_link(call, skip + returned, None)),
        );
    }
    Response::json(200, &Value::Object(m)).with_header("odata-version", "4.0")
}

/// The absolute next-page URL: the original query with `$skip` (and `$top`) replaced.
fn next_link(call: &Call, skip: usize, top: Option<usize>) -> String {
    let mut pairs: Vec<String> = call
        .raw_query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = crate::util::percent_decode(p.split('=').next().unwrap_or(""), true);
            name != "$skip" && !(top.is_some() && name == "$top")
        })
        .map(str::to_owned)
        .collect();
    if let Some(t) = top {
        pairs.push(format!("$top={t}"));
    }
    pairs.push(format!("$skip={skip}"));
    format!("{}{}?{}", call.base_url, call.raw_path, pairs.join("&"))
}

/// A root property of a product as the list filter sees it (its view's entry).
fn product_field(p: &Product, name: &str) -> Value {
    match name {
        "Labels" => Value::Array(label_rows(p)),
        "DCQuantities" => Value::Array(dc_rows(p)),
        _ => p.fields.get(name).cloned().unwrap_or(Value::Null),
    }
}

/// A root property of an order as the list filter sees it (its view's entry).
fn order_field(o: &Order, name: &str) -> Value {
    match name {
        "Items" => Value::Array(o.items.iter().cloned().map(Value::Object).collect()),
        "Fulfillments" => Value::Array(o.fulfillments.iter().map(fulfillment_view).collect()),
        "Adjustments" => Value::Array(o.adjustments.iter().cloned().map(Value::Object).collect()),
        _ => o.fields.get(name).cloned().unwrap_or(Value::Null),
    }
}

/// The key under which a collection remembers that a list filter evaluates without errors.
fn clean_key(call: &Call, caller: &Caller) -> String {
    format!(
        "{:?}\n{}",
        caller.profiles,
        call.param("$filter").unwrap_or_default()
    )
}

/// How [`list`] reads the rows of a collection.
struct Rows<'a, T> {
    /// Whether a root property name exists (`$orderby`).
    known: &'a dyn Fn(&str) -> bool,
    /// A root property of a row, navigation collections included.
    field: &'a dyn Fn(&T, &str) -> Value,
    /// A row with its navigation collections inlined.
    view: &'a dyn Fn(&T) -> Map<String, Value>,
    /// The filter cannot fail on any row given: reading may stop after the page.
    infallible: bool,
}

/// `$filter`, `$orderby`, `$count`, `$top`/`$skip`, `$select`/`$expand` and server paging.
///
/// `rows` are the collection's rows in id order, each with whether it is listed; a row not
/// given must be one the filter rejects without failing. Unlisted rows are only evaluated (to
/// learn whether the filter can fail on them). Only the returned page is rendered. Returns the
/// answer and whether the filter was evaluated on every row given without failing.
fn list<'a, T: 'a>(
    call: &Call,
    filter: Option<&Expr>,
    rows: impl Iterator<Item = (&'a T, bool)>,
    src: Rows<'_, T>,
    shape_of: &Shape,
    (page_size, cap): (usize, usize),
) -> (Response, bool) {
    let orderby = |known: &dyn Fn(&str) -> bool| -> Result<Vec<(String, bool)>, Response> {
        let mut keys = Vec::new();
        if let Some(order) = call.param("$orderby") {
            for part in odata::split_list(order) {
                let mut words = part.split_whitespace();
                let name = words.next().unwrap_or("").to_owned();
                let desc = matches!(words.next(), Some(d) if d.eq_ignore_ascii_case("desc"));
                if !known(&name) {
                    return Err(no_property(&name, shape_of.ty));
                }
                keys.push((name, desc));
            }
        }
        Ok(keys)
    };
    let paging = || match (parse_usize(call, "$skip"), parse_usize(call, "$top")) {
        (Ok(s), Ok(t)) => Ok((s.unwrap_or(0), t)),
        (Err(r), _) | (_, Err(r)) => Err(r),
    };
    let counted = call
        .param("$count")
        .is_some_and(|c| c.eq_ignore_ascii_case("true"));
    // Without possible filter failures, the checks that follow the filtering can come first,
    // and the reading can stop once the page and one more row are found.
    let early = src.infallible || filter.is_none();
    let mut checked = None;
    let mut limit = None;
    if early {
        let keys = match orderby(src.known) {
            Ok(k) => k,
            Err(r) => return (r, true),
        };
        let (skip, top) = match paging() {
            Ok(p) => p,
            Err(r) => return (r, true),
        };
        if keys.is_empty() && !counted {
            let take = top.unwrap_or(usize::MAX).min(page_size.max(1));
            limit = Some(skip.saturating_add(take).saturating_add(1));
        }
        checked = Some((keys, skip, top));
    }
    let mut clean = true;
    let mut kept: Vec<&T> = Vec::new();
    for (row, listed) in rows {
        let hit = match filter {
            None => true,
            Some(f) => match odata::matches_with(f, &|n| (src.field)(row, n)) {
                Ok(hit) => hit,
                Err(e) if listed => {
                    return (
                        odata_error(
                            400,
                            &format!("The query specified in the URI is not valid. {e}."),
                        ),
                        false,
                    );
                }
                Err(_) => {
                    clean = false;
                    false
                }
            },
        };
        if listed && hit {
            kept.push(row);
            if limit.is_some_and(|l| kept.len() >= l) {
                break;
            }
        }
    }
    let (keys, skip, top) = match checked {
        Some(c) => c,
        None => {
            let keys = match orderby(src.known) {
                Ok(k) => k,
                Err(r) => return (r, clean),
            };
            match paging() {
                Ok((skip, top)) => (keys, skip, top),
                Err(r) => return (r, clean),
            }
        }
    };
    if !keys.is_empty() {
        let mut keyed: Vec<(Vec<Value>, &T)> = kept
            .into_iter()
            .map(|r| (keys.iter().map(|(k, _)| (src.field)(r, k)).collect(), r))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for (i, (_, desc)) in keys.iter().enumerate() {
                let o = odata::cmp_json(&a[i], &b[i]);
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        kept = keyed.into_iter().map(|(_, r)| r).collect();
    }
    // With a limit, `total` may stop one past the page: enough to know whether more follow.
    let total = kept.len();
    let want = top.unwrap_or(usize::MAX);
    let take = want.min(page_size.max(1));
    let mut value = Vec::new();
    for r in kept.into_iter().skip(skip).take(take) {
        match shape(call, (src.view)(r), shape_of, true, &[cap]) {
            Ok(v) => value.push(Value::Object(v)),
            Err(resp) => return (resp, clean),
        }
    }
    let returned = value.len();
    let mut m = Map::new();
    let select = call
        .param("$select")
        .map(|s| format!("({s})"))
        .unwrap_or_default();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1/$metadata#{}{}",
            call.base_url, shape_of.set, select
        )),
    );
    if counted {
        m.insert("@odata.count".into(), json!(total));
    }
    m.insert("value".into(), Value::Array(value));
    let remaining_top = top.map(|t| t.saturating_sub(returned));
    let more = skip + returned < total && remaining_top != Some(0);
    if more {
        m.insert(
            "@odata.nextLink".into(),
            json!(next_link(call, skip + returned, remaining_top)),
        );
    }
    (
        Response::json(200, &Value::Object(m)).with_header("odata-version", "4.0"),
        clean,
    )
}
