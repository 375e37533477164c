//! The Allegro API surface: state, routing, media types, auth, and one handler per endpoint.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::pkce::{base64url, code_challenge};
use super::seed::{self, CARRIERS, FULFILLMENT_STATUSES};
use super::{CommandRecord, FulfillmentRecord, RefundRecord, ShipmentRecord};
use crate::marketplace::{Request, Response};
use crate::util::{DetRng, base64_decode, parse_query};

/// The media type of every request and response body.
pub(crate) const MEDIA: &str = "application/vnd.allegro.public.v1+json";

/// A stored offer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Offer {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) external_id: Option<String>,
    pub(crate) price: Decimal,
    pub(crate) currency: String,
    pub(crate) available: i64,
    pub(crate) sold: i64,
    pub(crate) status: String,
    pub(crate) category_id: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) ended_at: Option<DateTime<Utc>>,
    pub(crate) deleted: bool,
}

/// One line of a checkout form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineItem {
    pub(crate) id: String,
    pub(crate) offer_id: String,
    pub(crate) offer_name: String,
    pub(crate) external_id: Option<String>,
    pub(crate) quantity: i64,
    pub(crate) price: Decimal,
    pub(crate) bought_at: DateTime<Utc>,
}

/// A stored checkout form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) revision: String,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) buyer_id: String,
    pub(crate) buyer_first: String,
    pub(crate) buyer_last: String,
    pub(crate) buyer_login: String,
    pub(crate) city: String,
    pub(crate) zip: String,
    pub(crate) street: String,
    pub(crate) method_id: String,
    pub(crate) method_name: String,
    pub(crate) delivery_cost: Decimal,
    pub(crate) payment_id: String,
    pub(crate) payment_type: String,
    pub(crate) paid: bool,
    pub(crate) paid_at: Option<DateTime<Utc>>,
    pub(crate) fulfillment: String,
    pub(crate) line_items: Vec<LineItem>,
    pub(crate) message_to_seller: Option<String>,
    pub(crate) sent: String,
}

impl Order {
    pub(crate) fn bought_at(&self) -> DateTime<Utc> {
        self.line_items
            .iter()
            .map(|l| l.bought_at)
            .min()
            .unwrap_or(self.updated_at)
    }

    pub(crate) fn total(&self) -> Decimal {
        self.line_items
            .iter()
            .map(|l| l.price * Decimal::from(l.quantity))
            .sum::<Decimal>()
            + self.delivery_cost
    }
}

/// One entry of the order event journal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) order_id: String,
    /// The form's revision when the event happened (`None`: the current one).
    pub(crate) revision: Option<String>,
}

/// An access token.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub(crate) client_id: String,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) revoked: bool,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub(crate) struct Refresh {
    pub(crate) client_id: String,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) used_at: Option<DateTime<Utc>>,
    pub(crate) revoked: bool,
    /// The access token issued with it.
    pub(crate) access: String,
}

/// An authorization code ("the user logged in").
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) challenge: Option<String>,
    pub(crate) issued_at: DateTime<Utc>,
    pub(crate) used: bool,
}

/// A device authorization.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub(crate) client_id: String,
    pub(crate) user_code: String,
    pub(crate) issued_at: DateTime<Utc>,
    pub(crate) approved: bool,
    pub(crate) denied: bool,
    pub(crate) last_poll: Option<DateTime<Utc>>,
    pub(crate) used: bool,
}

/// One offer's task in a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Task {
    pub(crate) offer_id: String,
    pub(crate) status: String,
    pub(crate) message: String,
}

/// A batch command (price, quantity, publication).
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) kind: &'static str,
    pub(crate) body: Value,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) polls: u32,
    pub(crate) tasks: Vec<Task>,
}

/// The builder's behaviour settings.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) access_ttl: TimeDelta,
    pub(crate) refresh_ttl: TimeDelta,
    pub(crate) refresh_grace: TimeDelta,
    pub(crate) code_ttl: TimeDelta,
    pub(crate) device_ttl: TimeDelta,
    pub(crate) device_interval: TimeDelta,
    pub(crate) command_polls: u32,
    pub(crate) command_delay: TimeDelta,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) seed: u64,
    pub(crate) opts: Options,
    pub(crate) clients: BTreeMap<String, String>,
    pub(crate) access: BTreeMap<String, Access>,
    pub(crate) refresh: BTreeMap<String, Refresh>,
    pub(crate) codes: BTreeMap<String, Code>,
    pub(crate) devices: BTreeMap<String, Device>,
    pub(crate) token_counter: u64,
    /// Refresh requests that presented an already used refresh token.
    pub(crate) refresh_reuses: u64,
    pub(crate) offers: BTreeMap<String, Offer>,
    pub(crate) orders: BTreeMap<String, Order>,
    pub(crate) events: Vec<Event>,
    pub(crate) commands: BTreeMap<String, Command>,
    pub(crate) command_records: Vec<CommandRecord>,
    pub(crate) fulfillments: Vec<FulfillmentRecord>,
    pub(crate) shipments: Vec<ShipmentRecord>,
    pub(crate) refunds: Vec<RefundRecord>,
    pub(crate) rng: DetRng,
}

/// The endpoints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Token,
    Device,
    Me,
    OffersList,
    OfferGet(String),
    OfferOperation(String, String),
    OfferCreate,
    CommandPut(&'static str, String),
    CommandGet(&'static str, String),
    CommandTasks(&'static str, String),
    OrdersList,
    OrderGet(String),
    Events,
    EventStats,
    Fulfillment(String),
    ShipmentsAdd(String),
    ShipmentsList(String),
    Refund,
    MethodNotAllowed,
    NotFound,
}

const COMMAND_KINDS: &[(&str, &str)] = &[
    ("offer-price-change-commands", "price"),
    ("offer-quantity-change-commands", "quantity"),
    ("offer-publication-commands", "publication"),
];

impl Op {
    /// The counter name.
    pub(crate) fn name(&self) -> String {
        match self {
            Op::Token => "oauth.token".into(),
            Op::Device => "oauth.device".into(),
            Op::Me => "me.get".into(),
            Op::OffersList => "offers.list".into(),
            Op::OfferGet(_) => "offers.get".into(),
            Op::OfferOperation(..) => "offers.operation".into(),
            Op::OfferCreate => "offers.create".into(),
            Op::CommandPut(k, _) => format!("commands.{k}.create"),
            Op::CommandGet(k, _) => format!("commands.{k}.get"),
            Op::CommandTasks(k, _) => format!("commands.{k}.tasks"),
            Op::OrdersList => "orders.list".into(),
            Op::OrderGet(_) => "orders.get".into(),
            Op::Events => "orders.events".into(),
            Op::EventStats => "orders.event_stats".into(),
            Op::Fulfillment(_) => "orders.fulfillment".into(),
            Op::ShipmentsAdd(_) => "orders.shipments.add".into(),
            Op::ShipmentsList(_) => "orders.shipments.list".into(),
            Op::Refund => "payments.refund".into(),
            Op::MethodNotAllowed => "method_not_allowed".into(),
            Op::NotFound => "not_found".into(),
        }
    }
}

/// Resolves method and decoded path to an operation.
pub(crate) fn resolve(method: &str, path: &str) -> Op {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let m = method;
    let one = |op: Op, allowed: &str| {
        if m == allowed {
            op
        } else {
            Op::MethodNotAllowed
        }
    };
    match segs.as_slice() {
        ["auth", "oauth", "token"] => one(Op::Token, "POST"),
        ["auth", "oauth", "device"] => one(Op::Device, "POST"),
        ["me"] => one(Op::Me, "GET"),
        ["sale", "offers"] => one(Op::OffersList, "GET"),
        ["sale", "product-offers"] => one(Op::OfferCreate, "POST"),
        ["sale", "product-offers", id] => one(Op::OfferGet((*id).into()), "GET"),
        ["sale", "product-offers", id, "operations", op] => {
            one(Op::OfferOperation((*id).into(), (*op).into()), "GET")
        }
        ["sale", kind, id, rest @ ..] => {
            let Some((_, k)) = COMMAND_KINDS.iter().find(|(p, _)| p == kind) else {
                return Op::NotFound;
            };
            match rest {
                [] if m == "PUT" => Op::CommandPut(k, (*id).into()),
                [] => one(Op::CommandGet(k, (*id).into()), "GET"),
                ["tasks"] => one(Op::CommandTasks(k, (*id).into()), "GET"),
                _ => Op::NotFound,
            }
        }
        ["order", "checkout-forms"] => one(Op::OrdersList, "GET"),
        ["order", "checkout-forms", id] => one(Op::OrderGet((*id).into()), "GET"),
        ["order", "checkout-forms", id, "fulfillment"] => one(Op::Fulfillment((*id).into()), "PUT"),
        ["order", "checkout-forms", id, "shipments"] => match m {
            "POST" => Op::ShipmentsAdd((*id).into()),
            "GET" => Op::ShipmentsList((*id).into()),
            _ => Op::MethodNotAllowed,
        },
        ["order", "events"] => one(Op::Events, "GET"),
        ["order", "event-stats"] => one(Op::EventStats, "GET"),
        ["payments", "refunds"] => one(Op::Refund, "POST"),
        _ => Op::NotFound,
    }
}

// --- wire helpers ---------------------------------------------------------------------------

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn money(amount: Decimal, currency: &str) -> Value {
    json!({"amount": amount.round_dp(2).to_string(), "currency": currency})
}

/// A body in the Allegro media type.
pub(crate) fn vnd(status: u16, body: &Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), MEDIA.into())],
        body: body.to_string().into_bytes(),
        sub_operations: Vec::new(),
    }
}

/// `value` without the object members whose value is `null`, at every depth. Allegro's
/// schemas allow `null` almost nowhere in the offer, checkout form, event and refund answers
/// (`nullable` is rare in the official document): a field without a value is left out, as the
/// schemas describe it. Views whose `null` the schema allows and requires (a command's
/// `completedAt`, an error's `path`) are built without this.
pub(crate) fn omit_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, omit_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(omit_nulls).collect()),
        other => other,
    }
}

/// An `ErrorsHolder` answer with one error.
pub(crate) fn errors(status: u16, code: &str, message: &str, path: Option<&str>) -> Response {
    vnd(
        status,
        &json!({"errors": [{
            "code": code,
            "message": message,
            "details": null,
            "path": path,
            "userMessage": message,
            "metadata": {},
        }]}),
    )
}

/// An OAuth-style error (`{"error","error_description"}`), as JSON.
pub(crate) fn auth_error(status: u16, error: &str, description: Option<&str>) -> Response {
    let body = match description {
        Some(d) => json!({"error": error, "error_description": d}),
        None => json!({"error": error}),
    };
    Response::json(status, &body)
}

fn not_found(what: &str) -> Response {
    errors(404, "NotFoundException", &format!("{what} not found"), None)
}

fn unprocessable(message: &str, path: &str) -> Response {
    errors(422, "VALIDATION_ERROR", message, Some(path))
}

/// The form fields of a token request: body (form-encoded) then query string.
fn form(req: &Request) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = req.query_pairs().into_iter().collect();
    let body = String::from_utf8_lossy(&req.body);
    for (k, v) in parse_query(&body) {
        out.insert(k, v);
    }
    out
}

/// The client id and secret of an HTTP Basic header.
pub(crate) fn basic(req: &Request) -> Option<(String, String)> {
    let h = req.header("authorization")?;
    let enc = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))?;
    let dec = String::from_utf8(base64_decode(enc)?).ok()?;
    let (id, secret) = dec.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

pub(crate) fn bearer(req: &Request) -> Option<String> {
    let h = req.header("authorization")?;
    h.strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .map(|t| t.trim().to_owned())
}

fn json_body(req: &Request) -> Result<Value, Response> {
    let ct = req.header("content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with(MEDIA) {
        return Err(errors(
            415,
            "UnsupportedMediaTypeException",
            &format!("Content type '{ct}' not supported; send '{MEDIA}'"),
            None,
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        errors(
            400,
            "JsonParseException",
            &format!("Malformed request body: {e}"),
            None,
        )
    })
}

fn param_usize(req: &Request, name: &str, default: usize) -> Result<usize, Response> {
    match req.query_param(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| unprocessable(&format!("Invalid value of parameter '{name}'"), name)),
    }
}

fn param_time(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
    match req.query_param(name) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(&v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| unprocessable(&format!("Invalid date in parameter '{name}'"), name)),
    }
}

// --- state ----------------------------------------------------------------------------------

impl State {
    /// Mints a token pair for a client.
    pub(crate) fn issue_pair(&mut self, client_id: &str, now: DateTime<Utc>) -> (String, String) {
        self.token_counter += 1;
        let n = self.token_counter;
        let jti = seed::uuid(&mut self.rng);
        let expires = now + self.opts.access_ttl;
        let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = json!({
            "user_name": super::USER_ID,
            "client_id": client_id,
            "scope": ["allegro:api:sale:offers:read", "allegro:api:sale:offers:write", "allegro:api:orders:read", "allegro:api:orders:write", "allegro:api:payments:write", "allegro:api:profile:read"],
            "allegro_api": true,
            "exp": expires.timestamp(),
            "jti": jti,
        });
        let access = format!(
            "{header}.{}.sandbox{n}",
            base64url(claims.to_string().as_bytes())
        );
        let refresh = format!("sandbox-allegro-refresh-{:016x}-{n}", self.rng.next_u64());
        self.access.insert(
            access.clone(),
            Access {
                client_id: client_id.to_owned(),
                expires_at: expires,
                revoked: false,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Refresh {
                client_id: client_id.to_owned(),
                expires_at: now + self.opts.refresh_ttl,
                used_at: None,
                revoked: false,
                access: access.clone(),
            },
        );
        (access, refresh)
    }

    fn token_response(&mut self, client_id: &str, now: DateTime<Utc>) -> Response {
        let (access, refresh) = self.issue_pair(client_id, now);
        let jti = seed::uuid(&mut self.rng);
        Response::json(
            200,
            &json!({
                "access_token": access,
                "token_type": "bearer",
                "refresh_token": refresh,
                "expires_in": (self.opts.access_ttl.num_seconds() - 1).max(0),
                "scope": "allegro:api:sale:offers:read allegro:api:sale:offers:write allegro:api:orders:read allegro:api:orders:write allegro:api:payments:write allegro:api:profile:read",
                "allegro_api": true,
                "jti": jti,
            }),
        )
    }

    /// The client id of a valid access token, or the 401.
    pub(crate) fn check_access(
        &self,
        req: &Request,
        now: DateTime<Utc>,
    ) -> Result<String, Response> {
        let Some(token) = bearer(req) else {
            return Err(auth_error(
                401,
                "unauthorized",
                Some("Full authentication is required to access this resource"),
            ));
        };
        match self.access.get(&token) {
            Some(a) if a.revoked => Err(auth_error(
                401,
                "invalid_token",
                Some(&format!("Invalid access token: {token}")),
            )),
            Some(a) if a.expires_at <= now => Err(auth_error(
                401,
                "invalid_token",
                Some(&format!("Access token expired: {token}")),
            )),
            Some(a) => Ok(a.client_id.clone()),
            None => Err(auth_error(
                401,
                "invalid_token",
                Some("Cannot convert access token to JSON"),
            )),
        }
    }

    fn client_auth(&self, req: &Request) -> Result<String, Response> {
        match basic(req) {
            Some((id, secret)) if self.clients.get(&id) == Some(&secret) => Ok(id),
            _ => Err(auth_error(
                401,
                "unauthorized",
                Some("Full authentication is required to access this resource"),
            )),
        }
    }

    // --- oauth ------------------------------------------------------------------------------

    pub(crate) fn token(&mut self, req: &Request, now: DateTime<Utc>) -> Response {
        let f = form(req);
        let grant = f.get("grant_type").cloned().unwrap_or_default();
        match grant.as_str() {
            "refresh_token" => {
                let client = match self.client_auth(req) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let token = f.get("refresh_token").cloned().unwrap_or_default();
                let grace = self.opts.refresh_grace;
                if self
                    .refresh
                    .get(&token)
                    .is_some_and(|r| r.used_at.is_some())
                {
                    self.refresh_reuses += 1;
                }
                let valid = self.refresh.get(&token).is_some_and(|r| {
                    !r.revoked
                        && r.client_id == client
                        && r.expires_at > now
                        && r.used_at.is_none_or(|t| now - t < grace)
                });
                if !valid {
                    return auth_error(
                        400,
                        "invalid_grant",
                        Some(&format!("Invalid refresh token: {token}")),
                    );
                }
                let old_access = self.refresh.get_mut(&token).map(|r| {
                    r.used_at.get_or_insert(now);
                    r.access.clone()
                });
                if let Some(a) = old_access.and_then(|a| self.access.get_mut(&a)) {
                    a.revoked = true;
                }
                self.token_response(&client, now)
            }
            "authorization_code" => {
                let Some(code) = f.get("code").cloned().filter(|c| !c.is_empty()) else {
                    return auth_error(
                        400,
                        "invalid_request",
                        Some("An authorization code must be supplied."),
                    );
                };
                let client = match self.client_auth(req) {
                    Ok(c) => c,
                    // With PKCE the client may identify itself in the body instead.
                    Err(r) => match (f.get("client_id"), f.get("code_verifier")) {
                        (Some(id), Some(_)) if self.clients.contains_key(id) => id.clone(),
                        _ => return r,
                    },
                };
                let invalid = || {
                    auth_error(
                        400,
                        "invalid_grant",
                        Some(&format!("Invalid authorization code: {code}")),
                    )
                };
                let code_ttl = self.opts.code_ttl;
                let Some(c) = self.codes.get_mut(&code) else {
                    return invalid();
                };
                if c.used || c.client_id != client || now - c.issued_at > code_ttl {
                    return invalid();
                }
                if let Some(uri) = &c.redirect_uri
                    && f.get("redirect_uri") != Some(uri)
                {
                    return auth_error(400, "invalid_grant", Some("Redirect URI mismatch."));
                }
                if let Some(challenge) = &c.challenge {
                    let ok = f
                        .get("code_verifier")
                        .is_some_and(|v| code_challenge(v) == *challenge);
                    if !ok {
                        return auth_error(400, "invalid_grant", Some("Invalid code verifier."));
                    }
                }
                c.used = true;
                self.token_response(&client, now)
            }
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let client = match self.client_auth(req) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let code = f.get("device_code").cloned().unwrap_or_default();
                let (ttl, interval) = (self.opts.device_ttl, self.opts.device_interval);
                let Some(d) = self.devices.get_mut(&code) else {
                    return auth_error(400, "Invalid device code", None);
                };
                if d.used || d.client_id != client {
                    return auth_error(400, "Invalid device code", None);
                }
                if now - d.issued_at >= ttl {
                    return auth_error(400, "expired_token", Some("Device code expired."));
                }
                if d.denied {
                    return auth_error(400, "access_denied", None);
                }
                let too_fast = d.last_poll.is_some_and(|t| now - t < interval);
                d.last_poll = Some(now);
                if too_fast {
                    return auth_error(400, "slow_down", None);
                }
                if !d.approved {
                    return auth_error(400, "authorization_pending", None);
                }
                d.used = true;
                self.token_response(&client, now)
            }
            "" => auth_error(400, "invalid_request", Some("Missing grant type")),
            other => auth_error(
                400,
                "unsupported_grant_type",
                Some(&format!("Unsupported grant type: {other}")),
            ),
        }
    }

    pub(crate) fn device(&mut self, req: &Request, now: DateTime<Utc>) -> Response {
        let client = match self.client_auth(req) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let f = form(req);
        if f.get("client_id").is_some_and(|id| *id != client) {
            return auth_error(400, "invalid_request", Some("client_id mismatch"));
        }
        let device_code = format!(
            "{:032x}",
            u128::from(self.rng.next_u64()) << 64 | u128::from(self.rng.next_u64())
        );
        let n = self.rng.next_u64();
        let user_code = format!(
            "{:03}{:03}{:03}",
            n % 1000,
            (n >> 16) % 1000,
            (n >> 32) % 1000
        );
        self.devices.insert(
            device_code.clone(),
            Device {
                client_id: client,
                user_code: user_code.clone(),
                issued_at: now,
                approved: false,
                denied: false,
                last_poll: None,
                used: false,
            },
        );
        Response::json(
            200,
            &json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": "https://allegro.pl.allegrosandbox.pl/skojarz-aplikacje",
                "verification_uri_complete": format!("https://allegro.pl.allegrosandbox.pl/skojarz-aplikacje?code={user_code}"),
                "expires_in": self.opts.device_ttl.num_seconds(),
                "interval": self.opts.device_interval.num_seconds(),
            }),
        )
    }

    // --- offers -----------------------------------------------------------------------------

    pub(crate) fn offer_list_item(o: &Offer) -> Value {
        omit_nulls(json!({
            "id": o.id,
            "name": o.name,
            "category": {"id": o.category_id},
            "primaryImage": {"url": format!("https://a.allegroimg.com/original/sandbox/{}", o.id)},
            "sellingMode": {"format": "BUY_NOW", "price": money(o.price, &o.currency), "minimalPrice": null, "startingPrice": null},
            "saleInfo": {"currentPrice": null, "biddersCount": 0},
            "stock": {"available": o.available, "sold": o.sold},
            "stats": {"watchersCount": 0, "visitsCount": 0},
            "publication": {
                "status": o.status,
                "startingAt": null,
                "startedAt": o.started_at.map(ts),
                "endingAt": null,
                "endedAt": o.ended_at.map(ts),
                "marketplaces": {"base": {"id": "allegro-pl"}, "additional": []},
            },
            "afterSalesServices": null,
            "additionalServices": null,
            "external": o.external_id.as_ref().map(|e| json!({"id": e})),
            "delivery": {"shippingRates": {"id": "sandbox-shipping-rates"}},
            "b2b": {"buyableOnlyByBusiness": false},
            "fundraisingCampaign": null,
            "additionalMarketplaces": {},
        }))
    }

    pub(crate) fn offer_detail(o: &Offer) -> Value {
        omit_nulls(json!({
            "id": o.id,
            "name": o.name,
            "productSet": [],
            "category": {"id": o.category_id},
            "parameters": [],
            "sellingMode": {"format": "BUY_NOW", "price": money(o.price, &o.currency)},
            "stock": {"available": o.available, "unit": "UNIT"},
            "publication": {
                "status": o.status,
                "duration": null,
                "startingAt": null,
                "endingAt": null,
                "endedBy": if o.status == "ENDED" { json!("USER") } else { Value::Null },
                "marketplaces": {"base": {"id": "allegro-pl"}, "additional": []},
            },
            "delivery": {"shippingRates": {"id": "sandbox-shipping-rates"}, "handlingTime": "PT24H"},
            "external": o.external_id.as_ref().map(|e| json!({"id": e})),
            "language": "pl-PL",
            "createdAt": ts(o.created_at),
            "updatedAt": ts(o.updated_at),
        }))
    }

    pub(crate) fn offers_list(&self, req: &Request) -> Response {
        let limit = match param_usize(req, "limit", 20) {
            Ok(l) if (1..=1000).contains(&l) => l,
            Ok(_) => return unprocessable("limit must be between 1 and 1000", "limit"),
            Err(r) => return r,
        };
        let offset = match param_usize(req, "offset", 0) {
            Ok(o) if o <= 9_999_999 => o,
            Ok(_) => return unprocessable("offset must be between 0 and 9999999", "offset"),
            Err(r) => return r,
        };
        let pairs = req.query_pairs();
        let values = |name: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
                .collect()
        };
        let external = values("external.id");
        if external.len() > 100 {
            return unprocessable("external.id accepts at most 100 values", "external.id");
        }
        if external.iter().any(|e| e.chars().count() > 100) {
            return unprocessable(
                "external.id values are at most 100 characters",
                "external.id",
            );
        }
        let statuses = values("publication.status");
        let ids = values("offer.id");
        let name = req.query_param("name").map(|n| n.to_lowercase());
        let mut list: Vec<&Offer> = self
            .offers
            .values()
            .filter(|o| !o.deleted)
            .filter(|o| {
                external.is_empty() || o.external_id.as_ref().is_some_and(|e| external.contains(e))
            })
            .filter(|o| statuses.is_empty() || statuses.contains(&o.status))
            .filter(|o| ids.is_empty() || ids.contains(&o.id))
            .filter(|o| {
                name.as_ref()
                    .is_none_or(|n| o.name.to_lowercase().contains(n))
            })
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let total = list.len();
        let page: Vec<Value> = list
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(Self::offer_list_item)
            .collect();
        vnd(
            200,
            &json!({"offers": page, "count": page.len(), "totalCount": total}),
        )
    }

    pub(crate) fn offer_get(&self, id: &str) -> Response {
        match self.offers.get(id).filter(|o| !o.deleted) {
            Some(o) => vnd(200, &Self::offer_detail(o)),
            None => not_found(&format!("Offer {id}")),
        }
    }

    pub(crate) fn offer_create(&mut self, req: &Request, now: DateTime<Utc>) -> Response {
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let name = body["name"].as_str().unwrap_or("").to_owned();
        if name.is_empty() || name.chars().count() > 75 {
            return unprocessable("name is required, at most 75 characters", "name");
        }
        let price = body["sellingMode"]["price"]["amount"]
            .as_str()
            .and_then(|a| Decimal::from_str(a).ok())
            .filter(|p| *p > Decimal::ZERO);
        let Some(price) = price else {
            return unprocessable(
                "sellingMode.price.amount must be a positive decimal string",
                "sellingMode.price.amount",
            );
        };
        let external_id = body["external"]["id"].as_str().map(str::to_owned);
        if external_id
            .as_ref()
            .is_some_and(|e| e.chars().count() > 100)
        {
            return unprocessable("external.id is at most 100 characters", "external.id");
        }
        let activate = body["publication"]["status"].as_str() == Some("ACTIVE");
        let id = loop {
            let candidate = (7_800_000_000 + self.rng.below(100_000_000)).to_string();
            if !self.offers.contains_key(&candidate) {
                break candidate;
            }
        };
        let offer = Offer {
            id: id.clone(),
            name,
            external_id,
            price,
            currency: body["sellingMode"]["price"]["currency"]
                .as_str()
                .unwrap_or("PLN")
                .to_owned(),
            available: body["stock"]["available"].as_i64().unwrap_or(1),
            sold: 0,
            status: if activate { "ACTIVE" } else { "INACTIVE" }.into(),
            category_id: body["category"]["id"]
                .as_str()
                .unwrap_or("257931")
                .to_owned(),
            created_at: now,
            updated_at: now,
            started_at: activate.then_some(now),
            ended_at: None,
            deleted: false,
        };
        let view = Self::offer_detail(&offer);
        self.offers.insert(id.clone(), offer);
        if activate {
            let op = seed::uuid(&mut self.rng);
            vnd(202, &view).with_header(
                "location",
                format!("/sale/product-offers/{id}/operations/{op}"),
            )
        } else {
            vnd(201, &view)
        }
    }

    // --- commands ---------------------------------------------------------------------------

    pub(crate) fn command_put(
        &mut self,
        req: &Request,
        kind: &'static str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Response {
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        if self.commands.contains_key(id) {
            return errors(409, "CONFLICT", "Command id was already used", None);
        }
        let mut offer_ids = Vec::new();
        for criterion in body["offerCriteria"].as_array().into_iter().flatten() {
            if criterion["type"].as_str().unwrap_or("CONTAINS_OFFERS") != "CONTAINS_OFFERS" {
                return unprocessable(
                    "Only CONTAINS_OFFERS criteria are supported",
                    "offerCriteria.type",
                );
            }
            for o in criterion["offers"].as_array().into_iter().flatten() {
                match o["id"].as_str() {
                    Some(i) => offer_ids.push(i.to_owned()),
                    None => {
                        return unprocessable("offer id is required", "offerCriteria.offers.id");
                    }
                }
            }
        }
        if offer_ids.is_empty() {
            return unprocessable(
                "offerCriteria must name at least one offer",
                "offerCriteria",
            );
        }
        if offer_ids.len() > 1000 {
            return unprocessable("A command may contain at most 1000 offers", "offerCriteria");
        }
        let valid = match kind {
            "price" => {
                let t = body["modification"]["type"].as_str().unwrap_or("");
                match t {
                    "FIXED_PRICE" => body["modification"]["price"]["amount"]
                        .as_str()
                        .and_then(|a| Decimal::from_str(a).ok())
                        .is_some(),
                    "INCREASE_PRICE" | "DECREASE_PRICE" => body["modification"]["value"]["amount"]
                        .as_str()
                        .and_then(|a| Decimal::from_str(a).ok())
                        .is_some(),
                    "INCREASE_PERCENTAGE" | "DECREASE_PERCENTAGE" => {
                        body["modification"]["percentage"]
                            .as_str()
                            .and_then(|a| Decimal::from_str(a).ok())
                            .is_some()
                    }
                    _ => false,
                }
            }
            "quantity" => {
                matches!(
                    body["modification"]["changeType"].as_str(),
                    Some("FIXED" | "GAIN")
                ) && body["modification"]["value"].as_i64().is_some()
            }
            _ => matches!(
                body["publication"]["action"].as_str(),
                Some("ACTIVATE" | "END")
            ),
        };
        if !valid {
            return unprocessable(
                "Invalid modification",
                if kind == "publication" {
                    "publication.action"
                } else {
                    "modification"
                },
            );
        }
        self.commands.insert(
            id.to_owned(),
            Command {
                kind,
                body: body.clone(),
                created_at: now,
                completed_at: None,
                polls: 0,
                tasks: offer_ids
                    .iter()
                    .map(|o| Task {
                        offer_id: o.clone(),
                        status: "NEW".into(),
                        message: String::new(),
                    })
                    .collect(),
            },
        );
        self.command_records.push(CommandRecord {
            command_id: id.to_owned(),
            kind: kind.to_owned(),
            offer_ids,
            body,
            at: now,
        });
        let report = self.report(id);
        vnd(201, &report)
    }

    fn report(&self, id: &str) -> Value {
        let Some(c) = self.commands.get(id) else {
            return Value::Null;
        };
        let count = |s: &str| c.tasks.iter().filter(|t| t.status == s).count();
        json!({
            "id": id,
            "createdAt": ts(c.created_at),
            "completedAt": c.completed_at.map(ts),
            "taskCount": {"total": c.tasks.len(), "success": count("SUCCESS"), "failed": count("FAIL")},
        })
    }

    /// Counts a status poll and completes the command when its time has come.
    fn poll_command(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let (polls, delay) = (self.opts.command_polls, self.opts.command_delay);
        let Some(c) = self.commands.get_mut(id) else {
            return false;
        };
        if c.completed_at.is_none() {
            c.polls += 1;
            if c.polls > polls || now - c.created_at >= delay {
                self.complete_command(id, now);
            }
        }
        true
    }

    /// Applies a command to the offers and settles its tasks.
    pub(crate) fn complete_command(&mut self, id: &str, now: DateTime<Utc>) {
        let Some(mut c) = self.commands.remove(id) else {
            return;
        };
        if c.completed_at.is_none() {
            let m = &c.body["modification"];
            let dec = |v: &Value| {
                v.as_str()
                    .and_then(|a| Decimal::from_str(a).ok())
                    .unwrap_or_default()
            };
            for task in &mut c.tasks {
                let offer = self.offers.get_mut(&task.offer_id).filter(|o| !o.deleted);
                let (status, message) = match offer {
                    None => ("FAIL", format!("Offer {} not found", task.offer_id)),
                    Some(o) if o.status == "ENDED" && c.kind != "publication" => (
                        "FAIL",
                        format!("Offer {} has ended and cannot be modified", o.id),
                    ),
                    Some(o) => match c.kind {
                        "price" => {
                            let new = match m["type"].as_str().unwrap_or("") {
                                "FIXED_PRICE" => dec(&m["price"]["amount"]),
                                "INCREASE_PRICE" => o.price + dec(&m["value"]["amount"]),
                                "DECREASE_PRICE" => o.price - dec(&m["value"]["amount"]),
                                "INCREASE_PERCENTAGE" => {
                                    o.price * (Decimal::ONE_HUNDRED + dec(&m["percentage"]))
                                        / Decimal::ONE_HUNDRED
                                }
                                _ => {
                                    o.price * (Decimal::ONE_HUNDRED - dec(&m["percentage"]))
                                        / Decimal::ONE_HUNDRED
                                }
                            }
                            .round_dp(2);
                            if new <= Decimal::ZERO {
                                ("FAIL", "The price must be greater than 0".to_owned())
                            } else {
                                o.price = new;
                                o.updated_at = now;
                                ("SUCCESS", String::new())
                            }
                        }
                        "quantity" => {
                            let v = m["value"].as_i64().unwrap_or(0);
                            let new = if m["changeType"].as_str() == Some("GAIN") {
                                o.available + v
                            } else {
                                v
                            };
                            if new < 0 {
                                ("FAIL", "The quantity cannot be negative".to_owned())
                            } else {
                                o.available = new;
                                o.updated_at = now;
                                ("SUCCESS", String::new())
                            }
                        }
                        _ => {
                            if c.body["publication"]["action"].as_str() == Some("END") {
                                if o.status == "ENDED" {
                                    ("FAIL", format!("Offer {} has already ended", o.id))
                                } else {
                                    o.status = "ENDED".into();
                                    o.ended_at = Some(now);
                                    o.updated_at = now;
                                    ("SUCCESS", String::new())
                                }
                            } else {
                                o.status = "ACTIVE".into();
                                o.started_at = Some(now);
                                o.ended_at = None;
                                o.updated_at = now;
                                ("SUCCESS", String::new())
                            }
                        }
                    },
                };
                task.status = status.into();
                task.message = message;
            }
            c.completed_at = Some(now);
        }
        self.commands.insert(id.to_owned(), c);
    }

    pub(crate) fn command_get(&mut self, id: &str, now: DateTime<Utc>) -> Response {
        if !self.poll_command(id, now) {
            return not_found(&format!("Command {id}"));
        }
        vnd(200, &self.report(id))
    }

    pub(crate) fn command_tasks(
        &mut self,
        req: &Request,
        id: &str,
        now: DateTime<Utc>,
    ) -> Response {
        if !self.poll_command(id, now) {
            return not_found(&format!("Command {id}"));
        }
        let limit = match param_usize(req, "limit", 100) {
            Ok(l) if (1..=1000).contains(&l) => l,
            Ok(_) => return unprocessable("limit must be between 1 and 1000", "limit"),
            Err(r) => return r,
        };
        let offset = match param_usize(req, "offset", 0) {
            Ok(o) if o <= 999 => o,
            Ok(_) => return unprocessable("offset must be between 0 and 999", "offset"),
            Err(r) => return r,
        };
        let Some(c) = self.commands.get(id) else {
            return not_found(&format!("Command {id}"));
        };
        let field = c.kind;
        let tasks: Vec<Value> = c
            .tasks
            .iter()
            .skip(offset)
            .take(limit)
            .map(|t| {
                let errs = if t.status == "FAIL" {
                    json!([{"code": "OfferModificationException", "message": t.message, "details": null, "path": null, "userMessage": t.message}])
                } else {
                    json!([])
                };
                json!({
                    "offer": {"id": t.offer_id},
                    "field": field,
                    "status": t.status,
                    "message": t.message,
                    "errors": errs,
                })
            })
            .collect();
        vnd(200, &json!({"tasks": tasks}))
    }

    // --- orders -----------------------------------------------------------------------------

    pub(crate) fn order_view(o: &Order) -> Value {
        let lines: Vec<Value> = o
            .line_items
            .iter()
            .map(|l| {
                json!({
                    "id": l.id,
                    "offer": {
                        "id": l.offer_id,
                        "name": l.offer_name,
                        "external": l.external_id.as_ref().map(|e| json!({"id": e})),
                        "productSet": null,
                    },
                    "quantity": l.quantity,
                    "originalPrice": money(l.price, "PLN"),
                    "price": money(l.price, "PLN"),
                    "reconciliation": null,
                    "selectedAdditionalServices": [],
                    "vouchers": [],
                    "tax": null,
                    "boughtAt": ts(l.bought_at),
                })
            })
            .collect();
        let filled = o.status != "BOUGHT";
        omit_nulls(json!({
            "id": o.id,
            "messageToSeller": o.message_to_seller,
            "buyer": {
                "id": o.buyer_id,
                "email": format!("{}@allegromail.pl", o.buyer_login.replace(['.', '_'], "-")),
                "login": o.buyer_login,
                "firstName": o.buyer_first,
                "lastName": o.buyer_last,
                "companyName": null,
                "guest": false,
                "personalIdentity": null,
                "phoneNumber": "+48 500 600 700",
                "preferences": {"language": "pl-PL"},
                "address": {"street": o.street, "city": o.city, "postCode": o.zip, "countryCode": "PL"},
            },
            "payment": {
                "id": o.payment_id,
                "type": o.payment_type,
                "provider": if o.payment_type == "ONLINE" { json!("P24") } else { Value::Null },
                "finishedAt": o.paid_at.filter(|_| o.paid).map(ts),
                "paidAmount": if o.paid { money(o.total(), "PLN") } else { Value::Null },
                "reconciliation": null,
                "features": [],
            },
            "status": o.status,
            "fulfillment": {
                "status": o.fulfillment,
                "shipmentSummary": {"lineItemsSent": o.sent},
                "provider": {"id": "SELLER"},
            },
            "delivery": {
                "address": if filled { json!({
                    "firstName": o.buyer_first,
                    "lastName": o.buyer_last,
                    "street": o.street,
                    "city": o.city,
                    "zipCode": o.zip,
                    "countryCode": "PL",
                    "companyName": null,
                    "phoneNumber": "+48 500 600 700",
                    "modifiedAt": null,
                }) } else { Value::Null },
                "method": {"id": o.method_id, "name": o.method_name},
                "pickupPoint": null,
                "cost": money(o.delivery_cost, "PLN"),
                "time": null,
                "smart": false,
                "cancellation": null,
                "calculatedNumberOfPackages": 1,
            },
            "invoice": {"required": false, "address": null, "dueDate": null, "features": []},
            "lineItems": lines,
            "surcharges": [],
            "note": null,
            "marketplace": {"id": "allegro-pl"},
            "summary": {"totalToPay": money(o.total(), "PLN")},
            "updatedAt": ts(o.updated_at),
            "revision": o.revision,
        }))
    }

    pub(crate) fn orders_list(&self, req: &Request) -> Response {
        let limit = match param_usize(req, "limit", 100) {
            Ok(l) if (1..=100).contains(&l) => l,
            Ok(_) => return unprocessable("limit must be between 1 and 100", "limit"),
            Err(r) => return r,
        };
        let offset = match param_usize(req, "offset", 0) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let mut bounds = Vec::new();
        for name in [
            "lineItems.boughtAt.gte",
            "lineItems.boughtAt.lte",
            "updatedAt.gte",
            "updatedAt.lte",
        ] {
            match param_time(req, name) {
                Ok(t) => bounds.push(t),
                Err(r) => return r,
            }
        }
        let pairs = req.query_pairs();
        let statuses: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == "status")
            .map(|(_, v)| v.as_str())
            .collect();
        let fstatus: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == "fulfillment.status")
            .map(|(_, v)| v.as_str())
            .collect();
        let login = req.query_param("buyer.login");
        let mut list: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| statuses.is_empty() || statuses.contains(&o.status.as_str()))
            .filter(|o| fstatus.is_empty() || fstatus.contains(&o.fulfillment.as_str()))
            .filter(|o| login.as_ref().is_none_or(|l| *l == o.buyer_login))
            .filter(|o| bounds[0].is_none_or(|t| o.bought_at() >= t))
            .filter(|o| bounds[1].is_none_or(|t| o.bought_at() <= t))
            .filter(|o| bounds[2].is_none_or(|t| o.updated_at >= t))
            .filter(|o| bounds[3].is_none_or(|t| o.updated_at <= t))
            .collect();
        match req.query_param("sort").as_deref() {
            None | Some("-lineItems.boughtAt") => {
                list.sort_by(|a, b| b.bought_at().cmp(&a.bought_at()).then(a.id.cmp(&b.id)))
            }
            Some("lineItems.boughtAt") => {
                list.sort_by(|a, b| a.bought_at().cmp(&b.bought_at()).then(a.id.cmp(&b.id)))
            }
            Some("updatedAt") => {
                list.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then(a.id.cmp(&b.id)))
            }
            Some("-updatedAt") => {
                list.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)))
            }
            Some(_) => return unprocessable("Invalid sort", "sort"),
        }
        let total = list.len();
        let page: Vec<Value> = list
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(Self::order_view)
            .collect();
        vnd(
            200,
            &json!({"checkoutForms": page, "count": page.len(), "totalCount": total}),
        )
    }

    pub(crate) fn order_get(&self, id: &str) -> Response {
        match self.orders.get(id) {
            Some(o) => vnd(200, &Self::order_view(o)),
            None => not_found(&format!("Checkout form {id}")),
        }
    }

    fn event_view(&self, e: &Event) -> Value {
        let o = self.orders.get(&e.order_id);
        let lines: Vec<Value> = o
            .map(|o| {
                o.line_items
                    .iter()
                    .map(|l| {
                        json!({
                            "id": l.id,
                            "offer": {"id": l.offer_id, "name": l.offer_name, "external": l.external_id.as_ref().map(|x| json!({"id": x}))},
                            "quantity": l.quantity,
                            "originalPrice": money(l.price, "PLN"),
                            "price": money(l.price, "PLN"),
                            "boughtAt": ts(l.bought_at),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let revision = e.revision.clone().or_else(|| o.map(|o| o.revision.clone()));
        omit_nulls(json!({
            "id": e.id,
            "type": e.kind,
            "occurredAt": ts(e.occurred_at),
            "order": {
                "seller": {"id": super::USER_ID.to_string()},
                "buyer": o.map(|o| json!({"id": o.buyer_id, "email": format!("{}@allegromail.pl", o.buyer_login.replace(['.', '_'], "-")), "login": o.buyer_login, "guest": false})),
                "lineItems": lines,
                "checkoutForm": {"id": e.order_id, "revision": revision},
                "marketplace": {"id": "allegro-pl"},
            },
        }))
    }

    pub(crate) fn events(&self, req: &Request) -> Response {
        let limit = match param_usize(req, "limit", 100) {
            Ok(l) if (1..=1000).contains(&l) => l,
            Ok(_) => return unprocessable("limit must be between 1 and 1000", "limit"),
            Err(r) => return r,
        };
        let types: Vec<String> = req
            .query_pairs()
            .into_iter()
            .filter(|(k, _)| k == "type")
            .map(|(_, v)| v)
            .collect();
        let start = match req.query_param("from") {
            None => 0,
            Some(from) => match self.events.iter().position(|e| e.id == from) {
                Some(i) => i + 1,
                // An event id the journal does not know (never issued, or older than its 60
                // days): the spec lists one answer for incorrect query parameters of
                // `GET /order/events`, 422 ("Unprocessable Entity - Returned when query
                // parameters are incorrect."), so that is what the sandbox sends; what the real
                // service does for an expired id is not documented.
                None => {
                    return unprocessable(&format!("Event {from} not found"), "from");
                }
            },
        };
        let list: Vec<Value> = self.events[start..]
            .iter()
            .filter(|e| types.is_empty() || types.contains(&e.kind))
            .take(limit)
            .map(|e| self.event_view(e))
            .collect();
        vnd(200, &json!({"events": list}))
    }

    pub(crate) fn event_stats(&self) -> Response {
        let latest = self
            .events
            .last()
            .map(|e| json!({"id": e.id, "occurredAt": ts(e.occurred_at)}));
        vnd(200, &json!({"latestEvent": latest}))
    }

    pub(crate) fn push_event(&mut self, kind: &str, order_id: &str, at: DateTime<Utc>) {
        let n = self.events.len() as u64 + 1;
        let revision = self.orders.get(order_id).map(|o| o.revision.clone());
        self.events.push(Event {
            id: seed::event_id(n),
            kind: kind.into(),
            occurred_at: at,
            order_id: order_id.into(),
            revision,
        });
    }

    pub(crate) fn fulfillment(&mut self, req: &Request, id: &str, now: DateTime<Utc>) -> Response {
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Some(order) = self.orders.get_mut(id) else {
            return not_found(&format!("Checkout form {id}"));
        };
        let revision = req.query_param("checkoutForm.revision");
        if revision.as_ref().is_some_and(|r| *r != order.revision) {
            return errors(
                409,
                "OptimisticLockingFailureException",
                "The checkout form has been modified in the meantime (outdated revision)",
                Some("checkoutForm.revision"),
            );
        }
        let status = body["status"].as_str().unwrap_or("");
        if !FULFILLMENT_STATUSES.contains(&status) {
            return unprocessable(&format!("Status '{status}' cannot be set"), "status");
        }
        order.fulfillment = status.to_owned();
        order.updated_at = now;
        self.fulfillments.push(FulfillmentRecord {
            order_id: id.to_owned(),
            status: status.to_owned(),
            revision,
            at: now,
        });
        self.push_event("FULFILLMENT_STATUS_CHANGED", id, now);
        Response::empty(204)
    }

    fn shipment_view(s: &ShipmentRecord) -> Value {
        json!({
            "id": s.id,
            "waybill": s.waybill,
            "carrierId": s.carrier_id,
            "carrierName": s.carrier_name,
            "lineItems": s.line_items.iter().map(|l| json!({"id": l})).collect::<Vec<_>>(),
            "createdAt": ts(s.at),
        })
    }

    pub(crate) fn shipment_add(&mut self, req: &Request, id: &str, now: DateTime<Utc>) -> Response {
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Some(order) = self.orders.get(id) else {
            return not_found(&format!("Checkout form {id}"));
        };
        let carrier = body["carrierId"].as_str().unwrap_or("");
        let Some((_, default_name)) = CARRIERS.iter().find(|(c, _)| *c == carrier) else {
            return errors(
                400,
                "VALIDATION_ERROR",
                &format!("Unknown carrier '{carrier}'"),
                Some("carrierId"),
            );
        };
        let waybill = body["waybill"].as_str().unwrap_or("").trim().to_owned();
        if waybill.is_empty() || waybill.chars().count() > 64 {
            return errors(
                400,
                "VALIDATION_ERROR",
                "waybill is required, at most 64 characters",
                Some("waybill"),
            );
        }
        let carrier_name = match (carrier, body["carrierName"].as_str()) {
            ("OTHER", Some(n)) if !n.is_empty() && n.chars().count() <= 30 => n.to_owned(),
            ("OTHER", _) => {
                return errors(
                    400,
                    "VALIDATION_ERROR",
                    "carrierName is required for OTHER (at most 30 characters)",
                    Some("carrierName"),
                );
            }
            (_, _) => (*default_name).to_owned(),
        };
        let mut lines = Vec::new();
        for l in body["lineItems"].as_array().into_iter().flatten() {
            let lid = l["id"].as_str().unwrap_or("");
            if !order.line_items.iter().any(|x| x.id == lid) {
                return unprocessable(&format!("Line item {lid} is not in the order"), "lineItems");
            }
            lines.push(lid.to_owned());
        }
        let record = ShipmentRecord {
            id: seed::uuid(&mut self.rng),
            order_id: id.to_owned(),
            carrier_id: carrier.to_owned(),
            carrier_name,
            waybill,
            line_items: lines,
            body: body.clone(),
            at: now,
        };
        let view = Self::shipment_view(&record);
        self.shipments.push(record);
        let total = self.orders.get(id).map_or(0, |o| o.line_items.len());
        let mut sent: Vec<&String> = Vec::new();
        let mut all = false;
        for s in self.shipments.iter().filter(|s| s.order_id == id) {
            if s.line_items.is_empty() {
                all = true;
            }
            sent.extend(s.line_items.iter());
        }
        sent.sort();
        sent.dedup();
        if let Some(o) = self.orders.get_mut(id) {
            o.sent = if all || sent.len() >= total {
                "ALL"
            } else {
                "SOME"
            }
            .into();
        }
        vnd(201, &view)
    }

    pub(crate) fn shipments_list(&self, id: &str) -> Response {
        if !self.orders.contains_key(id) {
            return not_found(&format!("Checkout form {id}"));
        }
        let list: Vec<Value> = self
            .shipments
            .iter()
            .filter(|s| s.order_id == id)
            .map(Self::shipment_view)
            .collect();
        vnd(200, &json!({"shipments": list}))
    }

    fn refund_view(r: &RefundRecord) -> Value {
        omit_nulls(json!({
            "id": r.id,
            "payment": {"id": r.payment_id},
            "order": {"id": r.order_id},
            "createdAt": ts(r.at),
            "status": "NEW",
            "reason": r.reason,
            "totalValue": money(r.total, "PLN"),
            "lineItems": r.body["lineItems"],
            "sellerComment": r.body["sellerComment"],
        }))
    }

    pub(crate) fn refund(&mut self, req: &Request, now: DateTime<Utc>) -> Response {
        const REASONS: &[&str] = &[
            "REFUND",
            "COMPLAINT",
            "PRODUCT_NOT_AVAILABLE",
            "PAID_VALUE_TOO_LOW",
            "OVERPAID",
            "CANCELLED_BY_BUYER",
            "NOT_COLLECTED",
        ];
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let command_id = body["commandId"].as_str().map(str::to_owned);
        if let Some(cid) = &command_id
            && let Some(r) = self
                .refunds
                .iter()
                .find(|r| r.command_id.as_ref() == Some(cid))
        {
            return vnd(200, &Self::refund_view(r));
        }
        let order_id = body["order"]["id"].as_str().unwrap_or("");
        let Some(order) = self.orders.get(order_id) else {
            return unprocessable(&format!("Order {order_id} not found"), "order.id");
        };
        let payment_id = body["payment"]["id"].as_str().unwrap_or("");
        if payment_id != order.payment_id {
            return unprocessable("The payment does not belong to the order", "payment.id");
        }
        let reason = body["reason"].as_str().unwrap_or("");
        if !REASONS.contains(&reason) {
            return unprocessable(&format!("Invalid reason '{reason}'"), "reason");
        }
        let mut total = Decimal::ZERO;
        for l in body["lineItems"].as_array().into_iter().flatten() {
            let lid = l["id"].as_str().unwrap_or("");
            let Some(line) = order.line_items.iter().find(|x| x.id == lid) else {
                return unprocessable(
                    &format!("Line item {lid} is not in the order"),
                    "lineItems.id",
                );
            };
            match l["type"].as_str() {
                Some("QUANTITY") => {
                    let q = l["quantity"].as_i64().unwrap_or(0);
                    if q < 1 || q > line.quantity {
                        return unprocessable("Invalid quantity", "lineItems.quantity");
                    }
                    total += line.price * Decimal::from(q);
                }
                Some("AMOUNT") => {
                    let v = l["value"]["amount"]
                        .as_str()
                        .and_then(|a| Decimal::from_str(a).ok());
                    match v {
                        Some(v) if v > Decimal::ZERO => total += v,
                        _ => return unprocessable("Invalid value", "lineItems.value"),
                    }
                }
                _ => {
                    return unprocessable(
                        "lineItems.type must be QUANTITY or AMOUNT",
                        "lineItems.type",
                    );
                }
            }
        }
        if body["delivery"]["value"]["amount"].is_string() {
            total += body["delivery"]["value"]["amount"]
                .as_str()
                .and_then(|a| Decimal::from_str(a).ok())
                .unwrap_or_default();
        }
        if total <= Decimal::ZERO {
            return unprocessable("Nothing to refund", "lineItems");
        }
        let record = RefundRecord {
            id: seed::uuid(&mut self.rng),
            command_id,
            order_id: order_id.to_owned(),
            payment_id: payment_id.to_owned(),
            reason: reason.to_owned(),
            total,
            body,
            at: now,
        };
        let view = Self::refund_view(&record);
        self.refunds.push(record);
        vnd(200, &view)
    }
}
