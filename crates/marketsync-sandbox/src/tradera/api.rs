//! The Tradera REST v4 surface: routing, app and user headers, the daily budget, and one
//! handler per endpoint.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::seed::{self, SHOP_ITEM};
use super::{
    APP_ID, APP_KEY, DeletionRecord, EndedItem, PriceUpdate, QuantityUpdate, QueuedRequest,
    ShipRecord, USER_ALIAS, USER_ID,
};
use crate::marketplace::{Request, Response};
use crate::util::mix;

/// `resultCode` of a queued request that succeeded (UNCONFIRMED: the enum's meanings are not
/// documented).
pub(crate) const RESULT_OK: i64 = 1;

/// A stored item (shop item, auction or fixed price).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub(crate) id: i64,
    pub(crate) item_type: i64,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) category_id: i64,
    pub(crate) price: i64,
    pub(crate) quantity: i64,
    pub(crate) start_quantity: i64,
    pub(crate) vat: i64,
    pub(crate) own_references: Vec<String>,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// Set by `DELETE /v4/listings/shop-items/{id}` (Tradera deactivates rather than deletes).
    pub(crate) deactivated: Option<DateTime<Utc>>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderLine {
    pub(crate) item_id: i64,
    pub(crate) item_type: i64,
    pub(crate) title: String,
    pub(crate) quantity: i64,
    pub(crate) unit_price: i64,
    pub(crate) vat_rate: i64,
    pub(crate) own_references: Vec<String>,
    pub(crate) merchant_part_number: Option<String>,
}

/// A Tradera Pay payment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Payment {
    pub(crate) payment_type: String,
    pub(crate) reference: String,
    pub(crate) amount: i64,
    pub(crate) paid: DateTime<Utc>,
}

/// A person on an order (buyer or seller).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Person {
    pub(crate) user_id: i64,
    pub(crate) alias: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) address: String,
    pub(crate) zip: String,
    pub(crate) city: String,
    pub(crate) country: String,
    pub(crate) email: String,
    pub(crate) phone: String,
}

/// A stored order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub(crate) id: i64,
    pub(crate) purchase_order_id: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) last_updated: DateTime<Utc>,
    pub(crate) expires: Option<DateTime<Utc>>,
    pub(crate) buyer: Person,
    pub(crate) ship_to: bool,
    pub(crate) lines: Vec<OrderLine>,
    pub(crate) payment: Option<Payment>,
    pub(crate) shipping_type: String,
    pub(crate) shipping_cost: i64,
    pub(crate) shipping_weight: Option<f64>,
}

impl Order {
    pub(crate) fn sub_total(&self) -> i64 {
        self.lines.iter().map(|l| l.unit_price * l.quantity).sum()
    }
}

/// A user token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserToken {
    pub(crate) user_id: i64,
    pub(crate) expires: DateTime<Utc>,
    pub(crate) revoked: bool,
}

/// The builder's behaviour settings.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) daily_budget: Option<u32>,
    pub(crate) retry_after_header: bool,
    pub(crate) token_lifetime: TimeDelta,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) seed: u64,
    pub(crate) opts: Options,
    pub(crate) tokens: BTreeMap<String, UserToken>,
    /// Secret keys from token logins; `true` once fetched.
    pub(crate) secret_keys: BTreeMap<String, bool>,
    pub(crate) token_counter: u64,
    pub(crate) next_item_id: i64,
    pub(crate) next_request_id: i64,
    pub(crate) next_order_id: i64,
    pub(crate) items: BTreeMap<i64, Item>,
    pub(crate) orders: BTreeMap<i64, Order>,
    /// When each call counted against the daily budget arrived.
    pub(crate) calls: Vec<DateTime<Utc>>,
    pub(crate) quantity_updates: Vec<QuantityUpdate>,
    pub(crate) price_updates: Vec<PriceUpdate>,
    pub(crate) ships: Vec<ShipRecord>,
    pub(crate) deletions: Vec<DeletionRecord>,
    pub(crate) ended_items: Vec<EndedItem>,
    pub(crate) queued: Vec<QueuedRequest>,
    pub(crate) fail_next_queued: Option<(i64, String)>,
}

/// The operations the fake resolves a request to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    FetchToken,
    Me,
    SellerItems,
    GetItem(String),
    CreateShopItem,
    SetQuantities,
    SetPrices,
    RemoveShopItem(String),
    EndItem(String),
    RequestResults,
    OrdersByDate,
    OrdersByIds(String),
    Ship(String),
    NotFound,
}

impl Op {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::FetchToken => "auth.token",
            Op::Me => "users.me",
            Op::SellerItems => "items.seller",
            Op::GetItem(_) => "items.get",
            Op::CreateShopItem => "shop_items.create",
            Op::SetQuantities => "shop_items.quantities",
            Op::SetPrices => "shop_items.prices",
            Op::RemoveShopItem(_) => "shop_items.delete",
            Op::EndItem(_) => "items.end",
            Op::RequestResults => "requests.results",
            Op::OrdersByDate => "orders.list",
            Op::OrdersByIds(_) => "orders.get",
            Op::Ship(_) => "orders.ship",
            Op::NotFound => "not_found",
        }
    }

    /// Whether the call needs `X-User-Id` / `X-User-Token`.
    pub(crate) fn needs_user(&self) -> bool {
        !matches!(self, Op::FetchToken | Op::NotFound)
    }
}

/// Method + decoded path → operation.
pub(crate) fn resolve(method: &str, path: &str) -> Op {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    let owned = |s: &str| s.to_owned();
    match (method, segs.as_slice()) {
        ("POST", ["v4", "auth", "token"]) => Op::FetchToken,
        ("GET", ["v4", "users", "me"]) => Op::Me,
        ("GET", ["v4", "listings", "seller-items"]) => Op::SellerItems,
        ("GET", ["v4", "listings", "items", id]) => Op::GetItem(owned(id)),
        ("POST", ["v4", "listings", "shop-items"]) => Op::CreateShopItem,
        ("PUT", ["v4", "listings", "shop-items", "quantities"]) => Op::SetQuantities,
        ("PUT", ["v4", "listings", "shop-items", "prices"]) => Op::SetPrices,
        ("DELETE", ["v4", "listings", "shop-items", id]) => Op::RemoveShopItem(owned(id)),
        ("DELETE", ["v4", "listings", "items", id]) => Op::EndItem(owned(id)),
        ("GET", ["v4", "listings", "request-results"]) => Op::RequestResults,
        ("GET", ["v4", "orders"]) => Op::OrdersByDate,
        ("GET", ["v4", "orders", ids]) => Op::OrdersByIds(owned(ids)),
        ("POST", ["v4", "orders", id, "ship"]) => Op::Ship(owned(id)),
        _ => Op::NotFound,
    }
}

/// The Tradera error body `{"error":{"code","message"}}`.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

fn bad_request(message: &str) -> Response {
    error(400, "BadRequest", message)
}

fn not_found(message: &str) -> Response {
    error(404, "NotFound", message)
}

/// `X-App-Id` and `X-App-Key` must name the sandbox's application.
pub(crate) fn check_app(request: &Request) -> Result<(), Response> {
    let id_ok = request
        .header("x-app-id")
        .and_then(|v| v.trim().parse::<i32>().ok())
        == Some(APP_ID);
    let key_ok = request
        .header("x-app-key")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(APP_KEY));
    if id_ok && key_ok {
        Ok(())
    } else {
        Err(error(
            401,
            "Unauthorized",
            "Missing or invalid application credentials (X-App-Id, X-App-Key).",
        ))
    }
}

/// Timestamps as the sandbox renders them: UTC, seconds, `Z`.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Accepts RFC 3339, a naive date-time (taken as UTC) or a date.
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn parse_body(request: &Request) -> Result<Value, Response> {
    serde_json::from_slice(&request.body)
        .map_err(|e| bad_request(&format!("The request body is not valid JSON: {e}")))
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .filter(|n| i32::try_from(*n).is_ok())
        .or_else(|| {
            v.as_str()
                .and_then(|s| s.trim().parse::<i32>().ok().map(i64::from))
        })
}

/// The seller view of an item (the `Item` schema's fields that the sandbox knows).
pub(crate) fn item_view(i: &Item, now: DateTime<Utc>) -> Value {
    let active = i.deactivated.is_none_or(|d| d > now) && i.end > now;
    let auction = i.item_type == seed::AUCTION;
    json!({
        "acceptedBuyerId": 1,
        "acceptsPickup": false,
        "buyItNowPrice": if auction { 0 } else { i.price },
        "buyItNowPriceSpecified": !auction,
        "categoryId": i.category_id,
        "endDate": ts(i.deactivated.map_or(i.end, |d| d.min(i.end))),
        "id": i.id,
        "itemLink": format!("https://www.tradera.com/item/{}/{}", i.category_id, i.id),
        "itemType": i.item_type,
        "longDescription": i.description,
        "openingBid": if auction { i.price } else { 0 },
        "openingBidSpecified": auction,
        "ownReferences": i.own_references,
        "remainingQuantity": i.quantity,
        "seller": { },
        "shortDescription": i.title,
        "startDate": ts(i.start),
        "startQuantity": i.start_quantity,
        "status": { },
        "statusId": if active { 1 } else { 2 },
        "vat": i.vat,
        "vatSpecified": true,
    })
}

fn person_view(p: &Person) -> Value {
    json!({
        "addressLine1": p.address,
        "addressLine2": null,
        "alias": p.alias,
        "city": p.city,
        "countryName": p.country,
        "email": p.email,
        "firstName": p.first_name,
        "lastName": p.last_name,
        "phone": p.phone,
        "userId": p.user_id,
        "zipCode": p.zip,
    })
}

/// The `SellerOrder` JSON. `shipTo` is left out when the order has no delivery address (an
/// auction-type pickup, fact sheet B5): the v4 schema does not allow it `null`.
pub(crate) fn order_view(o: &Order) -> Value {
    let seller = seed::seller();
    let ship_to = if o.ship_to {
        json!({
            "addressLine1": o.buyer.address,
            "addressLine2": null,
            "city": o.buyer.city,
            "countryName": o.buyer.country,
            "name": format!("{} {}", o.buyer.first_name, o.buyer.last_name),
            "zipCode": o.buyer.zip,
        })
    } else {
        Value::Null
    };
    let payments = o.payment.as_ref().map_or(Value::Null, |p| {
        json!([{
            "additionalInfo": [{ "key": "PaymentMethod", "value": "Card" }],
            "amount": p.amount,
            "paidDate": ts(p.paid),
            "paymentCost": 0,
            "paymentType": p.payment_type,
            "reference": p.reference,
        }])
    });
    let items: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            json!({
                "itemId": l.item_id,
                "merchantPartNumber": l.merchant_part_number,
                "ownReferences": l.own_references,
                "quantity": l.quantity,
                "title": l.title,
                "type": l.item_type,
                "unitPrice": l.unit_price,
                "vatRate": l.vat_rate,
            })
        })
        .collect();
    let mut view = json!({
        "buyer": person_view(&o.buyer),
        "createdDate": ts(o.created),
        "expiresDate": o.expires.map(ts),
        "items": items,
        "lastUpdatedDate": ts(o.last_updated),
        "orderId": o.id,
        "purchaseOrderId": o.purchase_order_id,
        "seller": person_view(&seller),
        "sellerOrderPayments": payments,
        "shipTo": ship_to,
        "shippingCost": o.shipping_cost,
        "shippingType": o.shipping_type,
        "shippingWeight": o.shipping_weight,
        "subTotal": o.sub_total(),
    });
    if let Some(fields) = view.as_object_mut() {
        fields.retain(|k, v| k != "shipTo" || !v.is_null());
    }
    view
}

impl State {
    /// Issues a token for the seller.
    pub(crate) fn issue_token(&mut self, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        self.token_counter += 1;
        let n = self.token_counter;
        let token = format!(
            "{:016x}{:016x}",
            mix(self.seed ^ n),
            mix(n.wrapping_mul(0x9E37_79B9))
        );
        let expires = now + self.opts.token_lifetime;
        self.tokens.insert(
            token.clone(),
            UserToken {
                user_id: i64::from(USER_ID),
                expires,
                revoked: false,
            },
        );
        (token, expires)
    }

    pub(crate) fn prune_calls(&mut self, now: DateTime<Utc>) {
        let start = now - TimeDelta::hours(24);
        self.calls.retain(|t| *t > start);
    }

    /// The budget's 429.
    pub(crate) fn budget_exceeded(&mut self, now: DateTime<Utc>) -> Response {
        self.prune_calls(now);
        let response = error(
            429,
            "TooManyRequests",
            "Rate limit exceeded: the application's call quota for the last 24 hours is used up. Wait before retrying.",
        );
        if self.opts.retry_after_header {
            let wait = self.calls.first().map_or(0, |t| {
                (*t + TimeDelta::hours(24) - now).num_seconds().max(1)
            });
            response.with_header("retry-after", wait.to_string())
        } else {
            response
        }
    }

    /// Counts one call against the application's budget, or answers 429.
    pub(crate) fn spend_budget(&mut self, now: DateTime<Utc>) -> Result<(), Response> {
        let Some(limit) = self.opts.daily_budget else {
            return Ok(());
        };
        self.prune_calls(now);
        if self.calls.len() >= limit as usize {
            return Err(self.budget_exceeded(now));
        }
        self.calls.push(now);
        Ok(())
    }

    /// `X-User-Id` and `X-User-Token`: missing → 401, wrong, revoked or expired → 403.
    pub(crate) fn check_user(&self, request: &Request, now: DateTime<Utc>) -> Result<(), Response> {
        let (Some(user), Some(token)) =
            (request.header("x-user-id"), request.header("x-user-token"))
        else {
            return Err(error(
                401,
                "Unauthorized",
                "This call needs user authorization (X-User-Id, X-User-Token).",
            ));
        };
        let user = user.trim().parse::<i64>().ok();
        match self.tokens.get(token.trim()) {
            Some(t) if Some(t.user_id) == user && !t.revoked && t.expires > now => Ok(()),
            Some(t) if Some(t.user_id) == user && !t.revoked => Err(error(
                403,
                "Forbidden",
                "The user token has expired; the user must log in again.",
            )),
            _ => Err(error(
                403,
                "Forbidden",
                "The user token is invalid for this user and application.",
            )),
        }
    }

    pub(crate) fn handle(&mut self, op: &Op, request: &Request, now: DateTime<Utc>) -> Response {
        match op {
            Op::FetchToken => self.fetch_token(request, now),
            Op::Me => Response::json(200, &me()),
            Op::SellerItems => self.seller_items(request, now),
            Op::GetItem(id) => match id.parse::<i64>().ok().and_then(|id| self.items.get(&id)) {
                Some(i) => Response::json(200, &item_view(i, now)),
                None => not_found("The item does not exist or does not belong to the seller."),
            },
            Op::CreateShopItem => self.create_shop_item(request, now),
            Op::SetQuantities => self.set_quantities(request, now),
            Op::SetPrices => self.set_prices(request, now),
            Op::RemoveShopItem(id) => self.remove_shop_item(id, now),
            Op::EndItem(id) => self.end_item(id, now),
            Op::RequestResults => self.request_results(request),
            Op::OrdersByDate => self.orders_by_date(request),
            Op::OrdersByIds(ids) => self.orders_by_ids(ids),
            Op::Ship(id) => self.ship(id, now),
            Op::NotFound => not_found("The requested resource was not found."),
        }
    }

    fn fetch_token(&mut self, request: &Request, now: DateTime<Utc>) -> Response {
        let body = match parse_body(request) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let user = body.get("userId").and_then(int);
        let Some(key) = body.get("secretKey").and_then(Value::as_str) else {
            return bad_request("secretKey is required.");
        };
        if user != Some(i64::from(USER_ID)) {
            return bad_request("Invalid userId or secretKey.");
        }
        match self.secret_keys.get(key) {
            Some(false) => {
                self.secret_keys.insert(key.to_owned(), true);
                let (token, expires) = self.issue_token(now);
                Response::json(
                    200,
                    &json!({ "authToken": token, "hardExpirationTime": ts(expires) }),
                )
            }
            Some(true) => bad_request("The secret key has already been used."),
            None => bad_request("Invalid userId or secretKey."),
        }
    }

    fn seller_items(&self, request: &Request, now: DateTime<Utc>) -> Response {
        let mut dates = BTreeMap::new();
        for name in ["minEndDate", "maxEndDate", "maxStartDate"] {
            if let Some(v) = request.query_param(name).filter(|v| !v.is_empty()) {
                match parse_date(&v) {
                    Some(t) => {
                        dates.insert(name, t);
                    }
                    None => {
                        return bad_request(&format!("The value '{v}' is not valid for {name}."));
                    }
                }
            }
        }
        let category = request
            .query_param("categoryId")
            .and_then(|v| v.parse::<i64>().ok());
        let active = request
            .query_param("filterActive")
            .and_then(|v| v.parse::<i64>().ok());
        let list: Vec<Value> = self
            .items
            .values()
            // GetSellerItems omits shop items whose activation date is in the future.
            .filter(|i| i.start <= now)
            .filter(|i| category.is_none_or(|c| c == 0 || c == i.category_id))
            .filter(|i| {
                let is_active = i.deactivated.is_none_or(|d| d > now) && i.end > now;
                match active {
                    Some(1) => is_active,
                    Some(2) => !is_active,
                    _ => true,
                }
            })
            .filter(|i| dates.get("minEndDate").is_none_or(|t| i.end >= *t))
            .filter(|i| dates.get("maxEndDate").is_none_or(|t| i.end <= *t))
            .filter(|i| dates.get("maxStartDate").is_none_or(|t| i.start <= *t))
            .map(|i| item_view(i, now))
            .collect();
        Response::json(200, &Value::Array(list))
    }

    fn queue(&mut self, item_id: i64, kind: &str, body: Value, now: DateTime<Utc>) -> i64 {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.queued.push(QueuedRequest {
            request_id,
            item_id,
            kind: kind.to_owned(),
            result_code: RESULT_OK,
            message: "OK".into(),
            body,
            at: now,
        });
        request_id
    }

    fn create_shop_item(&mut self, request: &Request, now: DateTime<Utc>) -> Response {
        let body = match parse_body(request) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return bad_request("The request body must be a ShopItemData object."),
            Err(r) => return r,
        };
        let item = match validate_shop_item(&body, now) {
            Ok(i) => i,
            Err(msg) => return bad_request(&msg),
        };
        let id = self.next_item_id;
        self.next_item_id += 1;
        let request_id = self.queue(id, "create", Value::Object(body), now);
        match self.fail_next_queued.take() {
            Some((code, message)) => {
                if let Some(q) = self.queued.last_mut() {
                    q.result_code = code;
                    q.message = message;
                }
            }
            None => {
                self.items.insert(id, Item { id, ..item });
            }
        }
        Response::json(200, &json!({ "itemId": id, "requestId": request_id }))
    }

    /// Parses `{shopItems:[{id, <field>}]}`; 400 when the list is missing or empty.
    fn batch(request: &Request, field: &str) -> Result<Vec<(i64, Option<i64>)>, Response> {
        let body = parse_body(request)?;
        let list = body
            .get("shopItems")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad_request("shopItems must be a non-empty array."))?;
        Ok(list
            .iter()
            .map(|e| {
                (
                    e.get("id").and_then(int).unwrap_or(0),
                    e.get(field).and_then(int),
                )
            })
            .collect())
    }

    /// Why a shop item cannot be updated, if it cannot.
    fn update_refusal(&self, id: i64, now: DateTime<Utc>) -> Option<String> {
        match self.items.get(&id) {
            None => Some(format!("Shop item {id} was not found.")),
            Some(i) if i.item_type != SHOP_ITEM => Some(format!("Item {id} is not a shop item.")),
            Some(i) if i.deactivated.is_some_and(|d| d <= now) => {
                Some(format!("Shop item {id} has been removed."))
            }
            Some(_) => None,
        }
    }

    fn set_quantities(&mut self, request: &Request, now: DateTime<Utc>) -> Response {
        let list = match Self::batch(request, "quantity") {
            Ok(l) => l,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let mut wire_errors = Vec::new();
        let mut successful = 0;
        for &(id, quantity) in &list {
            let refusal = self.update_refusal(id, now).or(match quantity {
                None => Some("quantity is required.".into()),
                Some(q) if q < 0 => Some("quantity must not be negative.".into()),
                Some(_) => None,
            });
            match refusal {
                Some(msg) => {
                    wire_errors.push(json!({
                        "errorMessage": msg,
                        "item": { "id": id, "quantity": quantity.unwrap_or(0) }
                    }));
                    errors.push((id, msg));
                }
                None => {
                    if let (Some(i), Some(q)) = (self.items.get_mut(&id), quantity) {
                        i.quantity = q;
                    }
                    successful += 1;
                }
            }
        }
        self.quantity_updates.push(QuantityUpdate {
            items: list.iter().map(|(i, q)| (*i, q.unwrap_or(0))).collect(),
            successful,
            errors,
            at: now,
        });
        Response::json(
            200,
            &json!({ "successfulUpdates": successful, "validationErrors": wire_errors }),
        )
    }

    fn set_prices(&mut self, request: &Request, now: DateTime<Utc>) -> Response {
        let list = match Self::batch(request, "price") {
            Ok(l) => l,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let mut wire_errors = Vec::new();
        let mut queued = Vec::new();
        let mut request_ids = Vec::new();
        for &(id, price) in &list {
            let refusal = self.update_refusal(id, now).or(match price {
                None => Some("price is required.".into()),
                Some(p) if p <= 0 => Some("price must be a positive whole number of SEK.".into()),
                Some(_) => None,
            });
            match (refusal, price) {
                (None, Some(p)) => {
                    if let Some(i) = self.items.get_mut(&id) {
                        i.price = p;
                    }
                    let rid = self.queue(id, "price", json!({ "id": id, "price": p }), now);
                    queued.push(json!({ "itemId": id, "requestId": rid }));
                    request_ids.push(rid);
                }
                (refusal, _) => {
                    let msg = refusal.unwrap_or_default();
                    wire_errors.push(json!({
                        "errorMessage": msg,
                        "item": { "id": id, "price": price.unwrap_or(0) }
                    }));
                    errors.push((id, msg));
                }
            }
        }
        self.price_updates.push(PriceUpdate {
            items: list.iter().map(|(i, p)| (*i, p.unwrap_or(0))).collect(),
            request_ids,
            errors,
            at: now,
        });
        Response::json(
            200,
            &json!({ "queuedRequestResponses": queued, "validationErrors": wire_errors }),
        )
    }

    fn remove_shop_item(&mut self, id: &str, now: DateTime<Utc>) -> Response {
        let Ok(id) = id.parse::<i64>() else {
            return bad_request("itemId must be an integer.");
        };
        if let Some(msg) = self.update_refusal(id, now) {
            return not_found(&msg);
        }
        if let Some(i) = self.items.get_mut(&id) {
            i.deactivated = Some(now);
        }
        let request_id = self.queue(id, "delete", Value::Null, now);
        self.deletions.push(DeletionRecord {
            item_id: id,
            request_id,
            at: now,
        });
        Response::json(200, &json!({ "itemId": id, "requestId": request_id }))
    }

    /// `DELETE /v4/listings/items/{itemId}` ("Ends (deletes) an item listing", SOAP `EndItem`):
    /// an auction (type 1) or fixed-price (type 3) item of the seller ends now, synchronously,
    /// and the answer is the spec's `boolean` — `true`. An item that has ended already answers
    /// `true` too (it is ended; nothing changes). An item that does not exist or is not the
    /// seller's answers 404, as `GET /v4/listings/items/{itemId}` does (the spec's summary of
    /// that route). A shop item is not ended here (the spec has `DELETE …/shop-items/{itemId}`
    /// for it; what Tradera answers is undocumented): the sandbox answers 400 naming that route.
    fn end_item(&mut self, id: &str, now: DateTime<Utc>) -> Response {
        let Ok(id) = id.parse::<i64>() else {
            return bad_request("itemId must be an integer.");
        };
        let Some(item) = self.items.get_mut(&id) else {
            return not_found("The item does not exist or does not belong to the seller.");
        };
        if item.item_type == SHOP_ITEM {
            return bad_request(&format!(
                "Item {id} is a shop item; remove it with DELETE /v4/listings/shop-items/{id}."
            ));
        }
        let was_active = item.deactivated.is_none_or(|d| d > now) && item.end > now;
        if was_active {
            item.end = now;
        }
        self.ended_items.push(EndedItem {
            item_id: id,
            item_type: item.item_type,
            was_active,
            at: now,
        });
        Response::json(200, &Value::Bool(true))
    }

    fn request_results(&self, request: &Request) -> Response {
        let mut ids = Vec::new();
        for (k, v) in request.query_pairs() {
            if !k.eq_ignore_ascii_case("requestIds") && !k.eq_ignore_ascii_case("requestIds[]") {
                continue;
            }
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part.parse::<i64>() {
                    Ok(n) => ids.push(n),
                    Err(_) => {
                        return bad_request(&format!(
                            "The value '{part}' is not valid for requestIds."
                        ));
                    }
                }
            }
        }
        if ids.is_empty() {
            return bad_request("requestIds is required.");
        }
        let list: Vec<Value> = ids
            .iter()
            .filter_map(|id| self.queued.iter().find(|q| q.request_id == *id))
            .map(|q| {
                json!({ "message": q.message, "requestId": q.request_id, "resultCode": q.result_code })
            })
            .collect();
        Response::json(200, &Value::Array(list))
    }

    fn orders_by_date(&self, request: &Request) -> Response {
        let mut range = Vec::new();
        for name in ["fromDate", "toDate"] {
            match request.query_param(name).filter(|v| !v.is_empty()) {
                None => return bad_request(&format!("{name} is required.")),
                Some(v) => match parse_date(&v) {
                    Some(t) => range.push(t),
                    None => {
                        return bad_request(&format!("The value '{v}' is not valid for {name}."));
                    }
                },
            }
        }
        let (from, to) = (range[0], range[1]);
        let by_updated = match request.query_param("queryDateMode").as_deref() {
            None | Some("") | Some("0") | Some("CreatedDate") => false,
            Some("1") | Some("LastUpdatedDate") => true,
            Some(v) => {
                return bad_request(&format!("The value '{v}' is not valid for queryDateMode."));
            }
        };
        let list: Vec<Value> = self
            .orders
            .values()
            .filter(|o| {
                let t = if by_updated {
                    o.last_updated
                } else {
                    o.created
                };
                t >= from && t <= to
            })
            .map(order_view)
            .collect();
        Response::json(200, &Value::Array(list))
    }

    fn orders_by_ids(&self, ids: &str) -> Response {
        let mut list = Vec::new();
        for part in ids.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Ok(id) = part.parse::<i64>() else {
                return bad_request(&format!("The value '{part}' is not a valid order id."));
            };
            if let Some(o) = self.orders.get(&id) {
                list.push(order_view(o));
            }
        }
        Response::json(200, &Value::Array(list))
    }

    fn ship(&mut self, id: &str, now: DateTime<Utc>) -> Response {
        let Ok(id) = id.parse::<i64>() else {
            return bad_request("orderId must be an integer.");
        };
        let Some(o) = self.orders.get_mut(&id) else {
            return not_found(&format!("Order {id} was not found."));
        };
        o.last_updated = now;
        self.ships.push(ShipRecord {
            order_id: id,
            at: now,
        });
        Response::json(200, &json!({ "orderId": id }))
    }
}

/// `GET /v4/users/me`.
fn me() -> Value {
    let s = seed::seller();
    json!({
        "address": s.address,
        "alias": USER_ALIAS,
        "city": s.city,
        "countryName": s.country,
        "currencyCode": "SEK",
        "email": s.email,
        "firstName": s.first_name,
        "id": USER_ID,
        "languageCodeIso2": "sv",
        "lastName": s.last_name,
        "personalNumber": null,
        "phoneNumber": s.phone,
        "zipCode": s.zip,
    })
}

/// First-step validation of a `ShopItemData` body (limits from the spec's field docs).
fn validate_shop_item(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Item, String> {
    let title = body
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or("title is required.")?;
    if title.chars().count() > 80 {
        return Err("title must be at most 80 characters.".into());
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    if description.chars().count() > 7000 {
        return Err("description must be at most 7000 characters.".into());
    }
    let price = body
        .get("price")
        .and_then(int)
        .filter(|p| *p > 0)
        .ok_or("price is required and must be a positive whole number of SEK.")?;
    let quantity = body.get("quantity").and_then(int);
    let absolute = body.get("absoluteQuantity").and_then(int);
    if quantity.is_some() && absolute.is_some() {
        return Err("It is not allowed to provide both AbsoluteQuantity and Quantity.".into());
    }
    let quantity = absolute.or(quantity).unwrap_or(0);
    if quantity < 0 {
        return Err("quantity must not be negative.".into());
    }
    let mut refs = Vec::new();
    if let Some(list) = body.get("ownReferences").and_then(Value::as_array) {
        for r in list {
            let r = r.as_str().ok_or("ownReferences must be strings.")?;
            if r.chars().count() > 60 {
                return Err("each own reference must be at most 60 characters.".into());
            }
            refs.push(r.to_owned());
        }
    }
    let start = body
        .get("activateDate")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .unwrap_or(now);
    Ok(Item {
        id: 0,
        item_type: SHOP_ITEM,
        title: title.to_owned(),
        description: description.to_owned(),
        category_id: body.get("categoryId").and_then(int).unwrap_or(344_481),
        price,
        quantity,
        start_quantity: quantity,
        vat: body.get("vat").and_then(int).unwrap_or(25),
        own_references: refs,
        start,
        end: start + TimeDelta::days(365 * 10),
        deactivated: body
            .get("deactivateDate")
            .and_then(Value::as_str)
            .and_then(parse_date),
    })
}
