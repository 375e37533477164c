#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod client;
pub mod config;
pub mod convert;
pub mod decode;
pub mod error;
mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, BrokenReason, CancellationRequest, Capabilities, Channel, ChannelError,
    ChannelKind, ChannelListingId, ChannelOrderId, Credentials, Currency, Cursor, EndListing,
    ErrorKind, ListingOutcome, ListingPage, ListingQuery, ListingUpdate, NewListing, Order,
    OrderPage, OrderQuery, PageToken, PendingAuthorization, RateLimits, RefundRequest,
    SecretString, ShipmentRequest,
};
use marketsync_http::{CursorHold, Method};
use secrecy::ExposeSecret;
use serde_json::Value;

pub use client::JSON;
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_CONNECTION_NAME, DEFAULT_DAILY_BUDGET, DEFAULT_FIRST_WINDOW,
    DEFAULT_LOGIN_URL, DEFAULT_MAX_WAIT, DEFAULT_ORDER_OVERLAP, END_BATCH, MAX_BATCH,
    TraderaConfig, TraderaConfigBuilder, default_retry,
};
pub use error::{ConfigError, EXHAUSTED_WAIT, parse_error};

use client::TraderaClient;
use config::Session;
use convert::numeric_id;

/// The most orders one `GET /v4/orders/{orderIds}` asks for (Tradera documents no maximum;
/// its shipping-codes read of the same shape takes 50).
pub const ORDERS_BY_ID_BATCH: usize = 50;

/// Why `acknowledge_order` is unsupported.
pub const ACKNOWLEDGE_UNSUPPORTED: &str = "Tradera has no flag to mark an order as taken: the adapter's order cursor (a last-updated watermark) is the position in Tradera's orders";

/// Why refunds are unsupported.
pub const REFUND_UNSUPPORTED: &str = "Tradera's REST API v4 has no refund call (refunds are made in TraderaPay or by the seller directly)";

/// Why cancellations are unsupported.
pub const CANCEL_UNSUPPORTED: &str = "Tradera's REST API v4 has no order cancellation call";

/// The result code the adapter reads as success in `GET /v4/listings/request-results`.
/// Tradera's codes are flags (1 to 256) whose meanings are unconfirmed; 1 is taken as success.
pub const RESULT_OK: i64 = 1;

/// What the adapter supports with a daily budget of `daily_budget` calls (see the crate docs
/// for each value and why).
pub fn capabilities(daily_budget: u32) -> Capabilities {
    Capabilities {
        listings_link: true,
        listings_sync: true,
        listings_publish: true,
        listings_reconcile: true,
        orders_get: true,
        orders_acknowledge: false,
        // `GET /v4/orders/{orderIds}`: up to 50 orders a call, each call one of the day's.
        orders_get_by_id: true,
        orders_ship: true,
        orders_refund: false,
        orders_cancel: false,
        shipping_mappings_required: false,
        fulfillment_required: false,
        login_authorization: true,
        // Tradera's money is SEK by definition.
        orders_carry_currency: true,
        // The batch calls' validation errors name an item Tradera does not have ("… was not
        // found"): `NotFound` for that listing (see `refused`).
        listings_update_reports_missing: true,
        listings_update_max_batch: MAX_BATCH,
        listings_end_max_batch: END_BATCH,
        // No paging: a date window comes back in one answer.
        orders_page_max: u32::MAX,
        rate_limits: RateLimits {
            per_day: Some(daily_budget),
            ..RateLimits::default()
        },
    }
}

/// The outcome of one queued request, as `GET /v4/listings/request-results` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedResult {
    /// Tradera's request id.
    pub request_id: i64,
    /// Tradera's result code (a flag, 1 to 256; meanings unconfirmed).
    pub result_code: i64,
    /// Tradera's message, when it sent one.
    pub message: Option<String>,
}

impl QueuedResult {
    /// Whether the request failed: a code other than [`RESULT_OK`] that comes with a message.
    /// A result without a message is not taken as a failure (the meanings of the codes are
    /// unconfirmed, and a wrong failure would hide a listing that exists).
    pub fn is_failure(&self) -> bool {
        self.result_code != RESULT_OK && self.message.as_deref().is_some_and(|m| !m.is_empty())
    }
}

/// The Tradera adapter. Cheap to clone; clones share the session, the daily budget and the
/// connection pool.
#[derive(Clone, Debug)]
pub struct TraderaChannel {
    config: Arc<TraderaConfig>,
    client: Arc<TraderaClient>,
    /// The auctions and fixed-price items seen in listing reads (their ids), to end each item
    /// with the right call; every other item is a shop item.
    non_shop_items: Arc<Mutex<HashSet<i64>>>,
}

/// Errors that concern the whole account, not one listing: returned for the whole call.
fn whole_call(e: &ChannelError) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::RateLimited)
}

/// Whether an error answered to ending a listing means there is nothing left to end, so the
/// listing counts as ended: a 404 (`NotFound`). Tradera's v4 spec says of
/// `GET /v4/listings/items/{itemId}` that it "returns 404 if the item does not exist or does
/// not belong to the seller", and its `DELETE` answers the same way; either way the item is no
/// longer on sale in this seller's account, which is what ending wanted. A queued removal whose
/// result says the item is missing is read the same way (see `refused`). Every other error (400,
/// an answer of `false`, a 5xx) is a failure of that listing.
fn gone_already(e: &ChannelError) -> bool {
    e.kind() == ErrorKind::NotFound
}

/// A copy of an error for each listing of a failed batch.
fn copy(e: &ChannelError) -> ChannelError {
    let mut out = ChannelError::new(e.kind(), e.message()).set_temporary(e.is_temporary());
    if let Some(s) = e.http_status() {
        out = out.with_http_status(s);
    }
    if let Some(m) = e.channel_message() {
        out = out.with_channel_message(m);
    }
    if let Some(f) = e.field() {
        out = out.with_field(f);
    }
    out
}

/// A failure of a whole batch call, for each of its listings. A 404 answered to the batch as a
/// whole does not say that any one item is missing, so it is not `NotFound` for each (which
/// would mark every link of the batch broken) but a `Channel` error.
fn batch_failure(e: &ChannelError) -> ChannelError {
    if e.kind() != ErrorKind::NotFound {
        return copy(e);
    }
    let mut out = ChannelError::new(
        ErrorKind::Channel,
        format!(
            "Tradera answered the batch call with not found: {}",
            e.message()
        ),
    );
    if let Some(s) = e.http_status() {
        out = out.with_http_status(s);
    }
    if let Some(m) = e.channel_message() {
        out = out.with_channel_message(m);
    }
    out
}

/// Tradera's refusal of one listing: `NotFound` when its message says the item does not exist
/// ([`error::says_item_missing`]: the engine marks the link broken), else `Invalid`.
fn refused(message: Option<&str>, field: &str) -> ChannelError {
    let mut e = if message.is_some_and(error::says_item_missing) {
        ChannelError::not_found("Tradera has no such item (removed, or never the seller's)")
    } else {
        ChannelError::invalid("Tradera refused the change for this listing")
    }
    .with_field(field);
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        e = e.with_channel_message(m.trim());
    }
    e
}

fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An order page token: `<mode> <from> <end> <watermark or -> <hold>`, the next window of one
/// download (see [`CursorHold`](marketsync_http::CursorHold)).
fn order_token(
    mode: u8,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    mark: Option<DateTime<Utc>>,
    hold: CursorHold,
) -> PageToken {
    PageToken(format!(
        "{mode} {} {} {} {}",
        cursor_text(from),
        cursor_text(end),
        mark.map(cursor_text).unwrap_or_else(|| "-".into()),
        hold.to_token()
    ))
}

type Window = (
    u8,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    CursorHold,
);

fn parse_order_token(token: &PageToken) -> Option<Window> {
    let mut parts = token.0.split(' ');
    let mode = parts.next()?.parse().ok().filter(|m| *m <= 1)?;
    let from = convert::parse_time(parts.next()?)?;
    let end = convert::parse_time(parts.next()?)?;
    let mark = match parts.next()? {
        "-" => None,
        m => Some(convert::parse_time(m)?),
    };
    let hold = CursorHold::from_token(parts.next()?)?;
    Some((mode, from, end, mark, hold))
}

/// When an order (as sent) was last changed: `lastUpdatedDate`, else `createdDate`.
fn changed_at(order: &Value) -> Option<DateTime<Utc>> {
    ["lastUpdatedDate", "createdDate"].iter().find_map(|k| {
        order
            .get(*k)
            .and_then(Value::as_str)
            .and_then(convert::parse_time)
    })
}

fn order_id(order: &Value) -> Option<ChannelOrderId> {
    let text = match order.get("orderId")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    ChannelOrderId::new(text).ok()
}

impl TraderaChannel {
    /// An adapter for `config`.
    pub fn new(config: TraderaConfig) -> Result<Self, ChannelError> {
        let config = Arc::new(config);
        let client = TraderaClient::new(config.clone())?;
        Ok(Self {
            config,
            client: Arc::new(client),
            non_shop_items: Arc::default(),
        })
    }

    /// The configuration (its session is the one the adapter was built with, if any).
    pub fn config(&self) -> &TraderaConfig {
        &self.config
    }

    /// Uses a login session ([`Credentials::LoginSession`] with the seller's Tradera user id)
    /// for every later call, in this adapter and all its clones. The engine does this through
    /// [`Channel::use_credentials`] when credentials are entered, after a login, and when the
    /// channel is attached after a restart.
    ///
    /// Errors: `Invalid` for credentials of another kind, a missing or non-numeric user id, or
    /// an empty token.
    pub fn set_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let op = "use_credentials";
        let Credentials::LoginSession(s) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "Tradera takes a login session (the seller logs in at Tradera), not {:?} credentials",
                    credentials.kind()
                )),
                op,
            ));
        };
        let user_id = s
            .user_id
            .as_deref()
            .and_then(|u| u.trim().parse::<i64>().ok())
            .filter(|u| *u > 0)
            .ok_or_else(|| {
                self.err(
                    ChannelError::invalid(
                        "a Tradera login session needs the seller's numeric user id",
                    )
                    .with_field("user_id"),
                    op,
                )
            })?;
        if s.token.expose_secret().trim().is_empty() {
            return Err(self.err(
                ChannelError::invalid("the Tradera user token is empty").with_field("token"),
                op,
            ));
        }
        self.client
            .set_session(Session {
                user_id,
                token: s.token.clone(),
                expires_at: Some(s.expires_at),
            })
            .map_err(|e| self.err(e, op))
    }

    /// The token-login URL for a secret key: `<login_url>?appId=..&pkey=..&skey=..`.
    pub fn login_url(&self, secret_key: &str) -> Result<url::Url, ChannelError> {
        let pkey = self.config.public_key.as_deref().ok_or_else(|| {
            ChannelError::invalid(
                "the application's public key is needed to start a Tradera login (TraderaConfigBuilder::public_key)",
            )
            .with_field("public_key")
        })?;
        let mut url = self.config.login_url.clone();
        url.query_pairs_mut()
            .append_pair("appId", &self.config.app_id.to_string())
            .append_pair("pkey", pkey)
            .append_pair("skey", secret_key);
        Ok(url)
    }

    /// `GET /v4/listings/request-results?requestIds=a&requestIds=b..`: the outcome of queued
    /// requests, one call for all of them.
    pub async fn request_results(
        &self,
        request_ids: &[i64],
    ) -> Result<Vec<QueuedResult>, ChannelError> {
        let op = "request_results";
        if request_ids.is_empty() {
            return Ok(Vec::new());
        }
        let q: Vec<(&str, String)> = request_ids
            .iter()
            .map(|id| ("requestIds", id.to_string()))
            .collect();
        let results: Vec<wire::RequestResult> = self
            .client
            .get("v4/listings/request-results", &q, op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(results
            .into_iter()
            .map(|r| QueuedResult {
                request_id: r.request_id,
                result_code: r.result_code,
                message: r.message,
            })
            .collect())
    }

    /// `GET /v4/orders/{id,id,..}`: orders by id, in one call.
    pub async fn orders_by_id(&self, ids: &[ChannelOrderId]) -> Result<Vec<Order>, ChannelError> {
        let op = "orders_by_id";
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let numbers = ids
            .iter()
            .map(|i| numeric_id("order id", i.as_str()).map(|n| n.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e, op))?;
        let orders: Vec<wire::SellerOrder> = self
            .client
            .get(&format!("v4/orders/{}", numbers.join(",")), &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        orders
            .iter()
            .map(|o| convert::to_order(o).map_err(|e| self.err(e, op)))
            .collect()
    }

    /// Ends an auction or fixed-price item: `DELETE /v4/listings/items/{id}`, answered with the
    /// spec's `boolean` (`false`: Tradera did not end it, a failure of this listing).
    async fn end_item(&self, id: i64, op: &'static str) -> Result<(), ChannelError> {
        let ended = self
            .client
            .call(Method::DELETE, &format!("v4/listings/items/{id}"), true, op)
            .await?
            .json::<bool>()?;
        if ended {
            Ok(())
        } else {
            Err(ChannelError::new(
                ErrorKind::Channel,
                format!("Tradera did not end item {id}"),
            ))
        }
    }

    /// Ends an item whose shop-item removal answered 404 and whose type no listing read told:
    /// reads it (`GET /v4/listings/items/{id}`) and ends an auction or fixed-price item with
    /// [`end_item`](Self::end_item). A 404 to the read leaves the 404 (gone already); a shop
    /// item that Tradera does not find for removal is gone too.
    async fn end_unknown_item(&self, id: i64, op: &'static str) -> Result<(), ChannelError> {
        let item_type = self
            .client
            .get_response(&format!("v4/listings/items/{id}"), &[], op)
            .await?
            .json::<Value>()?
            .get("itemType")
            .and_then(Value::as_i64);
        match item_type.and_then(|t| i32::try_from(t).ok()) {
            Some(t) if convert::NON_SHOP_ITEM_TYPES.contains(&t) => {
                self.non_shop_items
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id);
                self.end_item(id, op).await
            }
            _ => Err(ChannelError::not_found(format!(
                "Tradera found no shop item {id} to remove"
            ))),
        }
    }

    fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        let e = if e.channel().is_none() {
            e.with_channel(ChannelKind::Tradera)
        } else {
            e
        };
        if e.operation().is_none() {
            e.with_operation(operation)
        } else {
            e
        }
    }

    /// Polls the results of queued requests once (when configured) and returns the failures by
    /// request id. A failed poll is logged and ignored unless it concerns the whole account:
    /// the requests were accepted, and the next listing read shows what Tradera made of them.
    async fn queued_failures(
        &self,
        request_ids: &[i64],
    ) -> Result<BTreeMap<i64, QueuedResult>, ChannelError> {
        if !self.config.poll_queued || request_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        match self.request_results(request_ids).await {
            Ok(results) => Ok(results
                .into_iter()
                .filter(QueuedResult::is_failure)
                .map(|r| (r.request_id, r))
                .collect()),
            Err(e) if whole_call(&e) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "the results of queued Tradera requests could not be read");
                Ok(BTreeMap::new())
            }
        }
    }

    fn updated_since(&self, cursor: &Cursor) -> Option<DateTime<Utc>> {
        match convert::parse_time(&cursor.0) {
            Some(at) => Some(
                at - TimeDelta::from_std(self.config.order_overlap).unwrap_or(TimeDelta::zero()),
            ),
            None => {
                tracing::warn!(cursor = %cursor.0, "the stored Tradera order cursor is not a time; downloading as a first run");
                None
            }
        }
    }
}

#[async_trait]
impl Channel for TraderaChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Tradera
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.config.daily_budget)
    }

    /// See [`TraderaChannel::set_credentials`].
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.set_credentials(credentials)
    }

    /// `GET /v4/users/me`: the seller's user id, alias and currency; the session's hard expiry
    /// is `credentials_expire_at`. One call of the budget.
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let me: wire::UserInfo = self
            .client
            .get("v4/users/me", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(AccountInfo {
            account_id: me.id.to_string(),
            name: me.alias,
            currency: me
                .currency_code
                .as_deref()
                .and_then(|c| Currency::new(c).ok())
                .or(Some(Currency::SEK)),
            credentials_expire_at: self.client.session().and_then(|(_, at)| at),
        })
    }

    /// One `GET /v4/listings/seller-items` (no query: every item) for the whole read, whatever
    /// the SKUs asked for — Tradera has no filter by own reference, and one call is all the
    /// budget allows. Items are matched by own reference (`ownReferences`, exactly); ended ones
    /// are left out unless asked for. One page. The answer (every item of the seller: it has no
    /// paging) is read as a stream ([`decode::seller_items`]): only the listings asked for are
    /// kept, and the body is dropped as soon as it is read.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let response = self
            .client
            .get_response("v4/listings/seller-items", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        let status = response.status().as_u16();
        let skus: Option<HashSet<&str>> =
            (!query.skus.is_empty()).then(|| query.skus.iter().map(|s| s.as_str()).collect());
        let filter = decode::ItemFilter {
            skus: skus.as_ref(),
            include_ended: query.include_ended,
        };
        let read = decode::seller_items(response.bytes(), self.config.clock.now(), filter);
        drop(response);
        let items = read.map_err(|e| {
            let e = if e.http_status().is_none() {
                e.with_http_status(status)
            } else {
                e
            };
            self.err(e, op)
        })?;
        {
            let mut known = self
                .non_shop_items
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            known.extend(items.non_shop_items.iter().copied());
        }
        Ok(ListingPage {
            listings: items.listings,
            next_page: None,
        })
    }

    /// At most two batch calls for the whole batch: `PUT /v4/listings/shop-items/quantities`
    /// with `{"shopItems": [{"id", "quantity"}]}` — the quantity is the **absolute** stock (the
    /// request type has no delta field; `ShopItemData.quantity`, a delta, is never used) — and
    /// `PUT /v4/listings/shop-items/prices` with whole SEK prices, which Tradera queues; their
    /// results are polled with one `GET /v4/listings/request-results` when configured. Tradera's
    /// `validationErrors` and failed queued results are `Invalid` for their listing only; a
    /// price that is not whole SEK is `Invalid` before any call. Titles are not synced.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "update_listings";
        let mut results: Vec<Result<(), ChannelError>> = Vec::with_capacity(updates.len());
        let mut ids: Vec<Option<i64>> = Vec::with_capacity(updates.len());
        let mut quantities: Vec<wire::QuantityItem> = Vec::new();
        let mut prices: Vec<wire::PriceItem> = Vec::new();
        for u in updates {
            let id = match numeric_id("item id", u.listing_id.as_str()) {
                Ok(id) => id,
                Err(e) => {
                    results.push(Err(e));
                    ids.push(None);
                    continue;
                }
            };
            let price = match u.price.as_ref().map(convert::whole_kronor).transpose() {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    ids.push(None);
                    continue;
                }
            };
            if let Some(q) = u.quantity {
                quantities.push(wire::QuantityItem {
                    id,
                    quantity: i64::from(q),
                });
            }
            if let Some(price) = price {
                prices.push(wire::PriceItem { id, price });
            }
            results.push(Ok(()));
            ids.push(Some(id));
        }
        let fail = |results: &mut Vec<Result<(), ChannelError>>, id: i64, e: ChannelError| {
            for (i, r) in results.iter_mut().enumerate() {
                if ids[i] == Some(id) && r.is_ok() {
                    *r = Err(copy(&e));
                }
            }
        };

        if !quantities.is_empty() {
            let sent = self
                .client
                .send(
                    Method::PUT,
                    "v4/listings/shop-items/quantities",
                    &wire::SetQuantities {
                        shop_items: &quantities,
                    },
                    op,
                )
                .await
                .and_then(|r| r.json::<wire::SetQuantitiesResult>());
            match sent {
                Ok(answer) => {
                    for v in answer.validation_errors.unwrap_or_default() {
                        if let Some(item) = v.item {
                            fail(
                                &mut results,
                                item.id,
                                refused(v.error_message.as_deref(), "quantity"),
                            );
                        }
                    }
                }
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                Err(e) => {
                    for q in &quantities {
                        fail(&mut results, q.id, batch_failure(&e));
                    }
                }
            }
        }

        if !prices.is_empty() {
            let sent = self
                .client
                .send(
                    Method::PUT,
                    "v4/listings/shop-items/prices",
                    &wire::SetPrices {
                        shop_items: &prices,
                    },
                    op,
                )
                .await
                .and_then(|r| r.json::<wire::SetPricesResult>());
            match sent {
                Ok(answer) => {
                    for v in answer.validation_errors.unwrap_or_default() {
                        if let Some(item) = v.item {
                            fail(
                                &mut results,
                                item.id,
                                refused(v.error_message.as_deref(), "price"),
                            );
                        }
                    }
                    let queued = answer.queued_request_responses.unwrap_or_default();
                    let request_ids: Vec<i64> = queued.iter().map(|q| q.request_id).collect();
                    let failures = self
                        .queued_failures(&request_ids)
                        .await
                        .map_err(|e| self.err(e, op))?;
                    for q in &queued {
                        if let Some(f) = failures.get(&q.request_id) {
                            fail(
                                &mut results,
                                q.item_id,
                                refused(f.message.as_deref(), "price"),
                            );
                        }
                    }
                }
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                Err(e) => {
                    for p in &prices {
                        fail(&mut results, p.id, batch_failure(&e));
                    }
                }
            }
        }

        Ok(updates
            .iter()
            .zip(results)
            .map(|(u, r)| ListingOutcome {
                listing_id: Some(u.listing_id.clone()),
                sku: Some(u.sku.clone()),
                result: r
                    .map(|()| u.listing_id.clone())
                    .map_err(|e| self.err(e, op)),
            })
            .collect())
    }

    /// One `POST /v4/listings/shop-items` per listing with `title`, `ownReferences: [sku]`,
    /// `price` (whole SEK), `absoluteQuantity` (never the delta `quantity`) and the configured
    /// `categoryId`. Tradera queues the creation and answers the new item's id; the results are
    /// polled once for the batch when configured. Tradera has no drafts: a shop item is live.
    /// Sent once: a creation is not repeated after a lost answer (a duplicate listing is worse
    /// than a failure the next link run clears up by own reference).
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "publish_listings";
        let mut results: Vec<Result<wire::Queued, ChannelError>> = Vec::new();
        for n in listings {
            let price = match convert::whole_kronor(&n.price) {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let body = wire::NewShopItem {
                title: n.title.clone(),
                own_references: vec![n.sku.as_str().to_owned()],
                price,
                absolute_quantity: i64::from(n.quantity),
                category_id: self.config.category_id,
            };
            let sent = self
                .client
                .send(Method::POST, "v4/listings/shop-items", &body, op)
                .await
                .and_then(|r| r.json::<wire::Queued>());
            match sent {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                r => results.push(r),
            }
        }
        let request_ids: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|q| q.request_id))
            .collect();
        let failures = self
            .queued_failures(&request_ids)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(listings
            .iter()
            .zip(results)
            .map(|(n, r)| {
                let result = r.and_then(|q| {
                    if let Some(f) = failures.get(&q.request_id) {
                        return Err(refused(f.message.as_deref(), "listing"));
                    }
                    if q.item_id <= 0 {
                        return Err(ChannelError::new(
                            ErrorKind::Channel,
                            format!(
                                "Tradera queued the new shop item (request {}) without its item id; link listings to find it by own reference",
                                q.request_id
                            ),
                        ));
                    }
                    ChannelListingId::new(q.item_id.to_string())
                        .map_err(|e| ChannelError::new(ErrorKind::Channel, e.to_string()))
                });
                let result = result.map_err(|e| self.err(e, op));
                ListingOutcome {
                    listing_id: result.as_ref().ok().cloned(),
                    sku: Some(n.sku.clone()),
                    result,
                }
            })
            .collect())
    }

    /// One call per listing: `DELETE /v4/listings/items/{id}` for an auction or fixed-price item
    /// (item type 1 or 3, as seen in a listing read), else
    /// `DELETE /v4/listings/shop-items/{id}` (queued; results polled once for the batch when
    /// configured). Where the removal of an item not seen in a listing read answers 404, the
    /// item is read (`GET /v4/listings/items/{id}`): an auction or fixed-price item is ended
    /// with its own route, a missing one is gone. What counts as gone already (done, not an
    /// error) is `gone_already`.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "end_listings";
        let mut results: Vec<Result<Option<i64>, ChannelError>> = Vec::new();
        for l in listings {
            let id = match numeric_id("item id", l.listing_id.as_str()) {
                Ok(id) => id,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let non_shop = self
                .non_shop_items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&id);
            let sent = if non_shop {
                self.end_item(id, op).await.map(|()| None)
            } else {
                let removed = self
                    .client
                    .call(
                        Method::DELETE,
                        &format!("v4/listings/shop-items/{id}"),
                        true,
                        op,
                    )
                    .await
                    .and_then(|r| r.json::<wire::Queued>())
                    .map(|q| Some(q.request_id));
                match removed {
                    // Not a shop item, or gone: its own read says which.
                    Err(e) if gone_already(&e) => {
                        self.end_unknown_item(id, op).await.map(|()| None)
                    }
                    r => r,
                }
            };
            match sent {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                Err(e) if gone_already(&e) => results.push(Ok(None)),
                r => results.push(r),
            }
        }
        let request_ids: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied().flatten())
            .collect();
        let failures = self
            .queued_failures(&request_ids)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(listings
            .iter()
            .zip(results)
            .map(|(l, r)| {
                let result = r
                    .and_then(|request| match request.and_then(|id| failures.get(&id)) {
                        Some(f) => match refused(f.message.as_deref(), "listing") {
                            // Gone already, as with a 404: nothing is left to end.
                            e if e.kind() == ErrorKind::NotFound => Ok(l.listing_id.clone()),
                            e => Err(e),
                        },
                        None => Ok(l.listing_id.clone()),
                    })
                    .map_err(|e| self.err(e, op));
                ListingOutcome {
                    listing_id: Some(l.listing_id.clone()),
                    sku: l.sku.clone(),
                    result,
                }
            })
            .collect())
    }

    /// One `GET /v4/orders?fromDate=..&toDate=..&queryDateMode=..` per date window (one window
    /// per download unless [`TraderaConfigBuilder::order_window`] limits it). The first run
    /// (no cursor) asks by creation date (`queryDateMode=0`) from the engine's created-since
    /// time; later runs ask by last-updated date (`queryDateMode=1`, mapping assumed) from the
    /// cursor minus the overlap, to now. The cursor — the highest `lastUpdatedDate` seen, never
    /// lower than the previous one — is returned only with the last window. It never passes an
    /// order that could not be read: it stops at the oldest `lastUpdatedDate` of the
    /// download's rejected orders, or stays where it was when a rejected order has no readable
    /// time, so the next run downloads the order again.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders";
        let previous = query
            .cursor
            .as_ref()
            .and_then(|c| convert::parse_time(&c.0));
        let now = self.config.clock.now();
        let (mode, from, end, mark, hold) = match &query.page {
            Some(token) => parse_order_token(token).ok_or_else(|| {
                self.err(
                    ChannelError::invalid("not a page token of a Tradera order download"),
                    op,
                )
            })?,
            None => match query.cursor.as_ref().and_then(|c| self.updated_since(c)) {
                Some(since) => (1, since, now, previous, CursorHold::None),
                None => {
                    let first = TimeDelta::from_std(self.config.first_window)
                        .unwrap_or(TimeDelta::days(30));
                    (
                        0,
                        query.created_since.unwrap_or(now - first),
                        now,
                        None,
                        CursorHold::None,
                    )
                }
            },
        };
        let to = match self
            .config
            .order_window
            .and_then(|w| TimeDelta::from_std(w).ok())
        {
            Some(w) if from + w < end => from + w,
            _ => end,
        };
        let q = [
            ("fromDate", wire::datetime(from)),
            ("toDate", wire::datetime(to)),
            ("queryDateMode", mode.to_string()),
        ];
        let response = self
            .client
            .get_response("v4/orders", &q, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let page = decode::orders_page(response.bytes()).map_err(|e| {
            let e = if e.http_status().is_none() {
                e.with_http_status(response.status().as_u16())
            } else {
                e
            };
            self.err(e, op)
        })?;
        let watermark = mark.max(previous).max(page.latest_change);
        let hold = hold.and(page.hold);
        let mut out = OrderPage {
            orders: page.orders,
            rejected: page.rejected,
            ..OrderPage::default()
        };
        if to < end {
            out.next_page = Some(order_token(mode, to, end, watermark, hold));
        } else {
            out.cursor = hold
                .cursor(watermark, previous)
                .map(|w| Cursor(cursor_text(w)));
        }
        Ok(out)
    }

    /// `GET /v4/orders/{orderIds}` (comma-separated), [`ORDERS_BY_ID_BATCH`] orders a call,
    /// each call one of the day's budget. Tradera leaves an order it does not know out of the
    /// answer, and so does this read. Should Tradera answer 404 for several orders, the orders
    /// are asked again in two halves until the unknown ones are alone (each half one more
    /// call). An order of the answer that cannot be read is rejected with its id; when its id
    /// cannot be read either, every asked order missing from the answer is rejected (one of
    /// them is that order). An id that cannot be a Tradera order (not a positive number) is
    /// not sent. A refused token, a rate limit or an answer that is not a list of orders fails
    /// the call. Tradera's money is SEK: `default_currency` is not used.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        _default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders_by_id";
        let mut asked: Vec<(i64, ChannelOrderId)> = Vec::new();
        for id in ids {
            match numeric_id("order id", id.as_str()) {
                Ok(n) if !asked.iter().any(|(m, _)| *m == n) => asked.push((n, id.clone())),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(order = %id.as_str(), "not a Tradera order id; left out");
                }
            }
        }
        // The calls to make, the next one last.
        let mut calls: Vec<Vec<(i64, ChannelOrderId)>> = asked
            .chunks(ORDERS_BY_ID_BATCH)
            .rev()
            .map(<[_]>::to_vec)
            .collect();
        let mut out = OrderPage::default();
        while let Some(call) = calls.pop() {
            let numbers: Vec<String> = call.iter().map(|(n, _)| n.to_string()).collect();
            let response = match self
                .client
                .get_response(&format!("v4/orders/{}", numbers.join(",")), &[], op)
                .await
            {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if call.len() > 1 {
                        let (first, second) = call.split_at(call.len() / 2);
                        calls.push(second.to_vec());
                        calls.push(first.to_vec());
                    }
                    continue;
                }
                Err(e) => return Err(self.err(e, op)),
            };
            let page = decode::read_orders(response.bytes(), op).map_err(|e| {
                let e = if e.http_status().is_none() {
                    e.with_http_status(response.status().as_u16())
                } else {
                    e
                };
                self.err(e, op)
            })?;
            let answered: HashSet<&str> = page
                .orders
                .iter()
                .map(|o| o.channel_order_id.as_str())
                .chain(
                    page.rejected
                        .iter()
                        .filter_map(|r| r.channel_order_id.as_ref().map(|i| i.as_str())),
                )
                .collect();
            let anonymous = page.rejected.iter().any(|r| r.channel_order_id.is_none());
            let missing: Vec<ChannelOrderId> = call
                .iter()
                .filter(|(n, _)| !answered.contains(n.to_string().as_str()))
                .map(|(_, id)| id.clone())
                .collect();
            out.orders.extend(page.orders);
            for r in page.rejected {
                if r.channel_order_id.is_some() {
                    out.rejected.push(marketsync_core::RejectedOrder {
                        channel_order_id: r.channel_order_id,
                        error: self.err(r.error, op),
                    });
                }
            }
            if anonymous {
                for id in missing {
                    out.rejected.push(marketsync_core::RejectedOrder {
                        channel_order_id: Some(id),
                        error: self.err(
                            ChannelError::new(
                                ErrorKind::Channel,
                                "Tradera sent an order of this read that could not be read, without a readable orderId, and this order was not among those read",
                            ),
                            op,
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Unsupported: see [`ACKNOWLEDGE_UNSUPPORTED`].
    async fn acknowledge_order(&self, _order: &ChannelOrderId) -> Result<(), ChannelError> {
        Err(self.err(
            ChannelError::unsupported(ACKNOWLEDGE_UNSUPPORTED),
            "acknowledge_order",
        ))
    }

    /// `POST /v4/orders/{orderId}/ship` without a body: Tradera's call takes only the order id,
    /// so the carrier, tracking number and lines are not sent (the whole order is marked
    /// shipped). Marking an order shipped twice changes nothing, so a temporary failure is
    /// retried.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let op = "ship";
        let id = numeric_id("order id", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        self.client
            .call(Method::POST, &format!("v4/orders/{id}/ship"), true, op)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e, op))
    }

    /// Unsupported: see [`REFUND_UNSUPPORTED`].
    async fn refund(&self, _request: &RefundRequest) -> Result<(), ChannelError> {
        Err(self.err(ChannelError::unsupported(REFUND_UNSUPPORTED), "refund"))
    }

    /// Unsupported: see [`CANCEL_UNSUPPORTED`].
    async fn cancel(&self, _request: &CancellationRequest) -> Result<(), ChannelError> {
        Err(self.err(ChannelError::unsupported(CANCEL_UNSUPPORTED), "cancel"))
    }

    /// The token-login URL (`<login_url>?appId=..&pkey=..&skey=..`) with a freshly generated
    /// secret key (a UUID, 36 characters), kept as the pending secret. No call is made. Where
    /// Tradera sends the seller afterwards is the application's Accept URL, set at Tradera, so
    /// `redirect_uri` is not used.
    async fn begin_authorization(
        &self,
        _request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let op = "begin_authorization";
        let secret_key = uuid::Uuid::new_v4().to_string();
        let url = self.login_url(&secret_key).map_err(|e| self.err(e, op))?;
        Ok(AuthorizationStart {
            url,
            user_code: None,
            pending: PendingAuthorization {
                state: uuid::Uuid::new_v4().to_string(),
                secret: SecretString::from(secret_key),
                started_at: self.config.clock.now(),
                expires_at: None,
                poll_interval: None,
            },
        })
    }

    /// `POST /v4/auth/token` with `{"userId", "secretKey"}` (application headers only): the
    /// user id from the callback's `userId` (Tradera appends it to the Accept URL), else the
    /// current session's; the secret key from the pending flow. The answer's `authToken` and
    /// `hardExpirationTime` become a [`Credentials::LoginSession`] with that hard expiry and
    /// no refresh token — the engine warns before it and the seller logs in again.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = "complete_authorization";
        let user_id = callback
            .param("userId")
            .and_then(|u| u.trim().parse::<i64>().ok())
            .filter(|u| *u > 0)
            .or_else(|| self.client.session().map(|(u, _)| u))
            .ok_or_else(|| {
                self.err(
                    ChannelError::invalid(
                        "the Tradera login callback carries no userId (the seller's Tradera user id)",
                    )
                    .with_field("userId"),
                    op,
                )
            })?;
        let secret_key = pending.secret.expose_secret();
        if secret_key.trim().is_empty() {
            return Err(self.err(
                ChannelError::invalid("the pending Tradera login has no secret key"),
                op,
            ));
        }
        let token: wire::Token = self
            .client
            .app_post(
                "v4/auth/token",
                &wire::FetchToken {
                    user_id,
                    secret_key,
                },
                op,
            )
            .await
            .map_err(|e| self.err(e, op))?;
        let Some(auth_token) = token.auth_token.filter(|t| !t.trim().is_empty()) else {
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "Tradera gave no token for this login: the seller has not approved the application (or the secret key was used already)",
                ),
                op,
            ));
        };
        let expires_at = token
            .hard_expiration_time
            .as_deref()
            .and_then(convert::parse_time)
            .ok_or_else(|| {
                self.err(
                    ChannelError::new(
                        ErrorKind::Channel,
                        "Tradera's token came without a readable hardExpirationTime",
                    ),
                    op,
                )
            })?;
        Ok(AuthorizationOutcome::Authorized(Credentials::LoginSession(
            LoginSession {
                user_id: Some(user_id.to_string()),
                token: SecretString::from(auth_token),
                expires_at,
                refresh_token: None,
                refresh_expires_at: None,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn order_tokens_round_trip() {
        let a = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap();
        let t = order_token(1, a, b, Some(b), CursorHold::None);
        assert_eq!(
            t.0,
            "1 2026-03-01T00:00:00Z 2026-03-05T09:00:00Z 2026-03-05T09:00:00Z -"
        );
        assert_eq!(
            parse_order_token(&t),
            Some((1, a, b, Some(b), CursorHold::None))
        );
        for hold in [CursorHold::At(a), CursorHold::Previous] {
            assert_eq!(
                parse_order_token(&order_token(0, a, b, None, hold)),
                Some((0, a, b, None, hold))
            );
        }
        assert_eq!(parse_order_token(&PageToken("nonsense".into())), None);
        assert_eq!(parse_order_token(&PageToken("7 x y -".into())), None);
        assert_eq!(
            parse_order_token(&PageToken(
                "1 2026-03-01T00:00:00Z 2026-03-05T09:00:00Z -".into()
            )),
            None
        );
    }

    #[test]
    fn queued_failures_need_a_message_and_another_code() {
        let r = |code, m: Option<&str>| QueuedResult {
            request_id: 1,
            result_code: code,
            message: m.map(str::to_owned),
        };
        assert!(!r(RESULT_OK, Some("Done")).is_failure());
        assert!(!r(2, None).is_failure());
        assert!(r(4, Some("Invalid category")).is_failure());
    }

    #[test]
    fn capability_values() {
        let c = capabilities(100);
        assert!(c.login_authorization && c.listings_publish && c.listings_reconcile);
        assert!(!c.orders_refund && !c.orders_cancel && !c.orders_acknowledge);
        assert_eq!(c.rate_limits.per_day, Some(100));
        assert_eq!(capabilities(5000).rate_limits.per_day, Some(5000));
        assert_eq!(c.update_batch(), MAX_BATCH as usize);
    }
}
