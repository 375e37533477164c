#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod client;
pub mod config;
pub mod convert;
pub mod decode;
pub mod error;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, TimeDelta};
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, BrokenReason, CancellationRequest, Capabilities, Channel, ChannelError,
    ChannelKind, ChannelListingId, ChannelOrderId, CredentialSink, Credentials, Currency, Cursor,
    Delivery, EndListing, ErrorKind, ListingOutcome, ListingPage, ListingQuery, ListingUpdate,
    Money, NewListing, OrderPage, OrderQuery, PageToken, PendingAuthorization, RateLimits,
    RefundRequest, RejectedOrder, SecretString, ShipmentRequest,
};
use marketsync_http::{Method, TokenSet};
use serde_json::{Value, json};
use url::Url;

pub use config::{
    AllegroConfig, AllegroConfigBuilder, CommandPolling, Environment, REQUESTS_PER_MINUTE,
};
pub use convert::login_session;
pub use error::{ConfigError, parse_error};

use client::AllegroClient;
use error::{copy, is_account_wide, task_error};
use wire::{CheckoutForm, IdOnly, OfferCriterium};

/// Allegro's rule for cancellations: there is no seller cancellation in the API.
pub const CANCEL_UNSUPPORTED: &str = "Allegro has no seller cancellation: the buyer (or Allegro) cancels a purchase; the seller can only set the fulfilment status CANCELLED in Sales Center or refund the payment (send a refund instead)";

/// The most offers one batch command carries (`offerCriteria[].offers`).
pub const MAX_OFFERS_PER_COMMAND: usize = 1000;

/// The most `external.id` values one `GET /sale/offers` takes.
pub const MAX_EXTERNAL_IDS: usize = 100;

/// The most offers one `GET /sale/offers` page returns.
pub const MAX_OFFERS_PAGE: u32 = 1000;

/// The most checkout forms one `GET /order/checkout-forms` page returns.
pub const MAX_ORDERS_PAGE: u32 = 100;

/// The event types read from the order journal. `FULFILLMENT_STATUS_CHANGED` is left out: the
/// seller's own status changes (ours included) do not change what is imported.
pub const ORDER_EVENT_TYPES: [&str; 6] = [
    "BOUGHT",
    "FILLED_IN",
    "READY_FOR_PROCESSING",
    "BUYER_CANCELLED",
    "BUYER_MODIFIED",
    "AUTO_CANCELLED",
];

/// How many times a fulfilment status change re-reads the order after a 409 (outdated
/// revision) before giving up.
const FULFILLMENT_ATTEMPTS: u32 = 3;

/// The marker of a device-flow authorization in [`PendingAuthorization::state`].
const DEVICE_STATE_PREFIX: &str = "device:";

/// The three batch commands the adapter sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum CommandKind {
    Quantity,
    Price,
    Publication,
}

impl CommandKind {
    fn path(&self) -> &'static str {
        match self {
            CommandKind::Quantity => "sale/offer-quantity-change-commands",
            CommandKind::Price => "sale/offer-price-change-commands",
            CommandKind::Publication => "sale/offer-publication-commands",
        }
    }

    fn as_str(&self) -> &'static str {
        match self {
            CommandKind::Quantity => "quantity",
            CommandKind::Price => "price",
            CommandKind::Publication => "publication",
        }
    }
}

/// One command to send: a modification applied to every offer in `offers`.
struct Group {
    kind: CommandKind,
    /// The modification, as text (`FIXED 5`, `FIXED_PRICE 19.99 PLN`, `END`).
    key: String,
    body: Value,
    offers: Vec<String>,
}

type TaskResults = BTreeMap<String, Result<(), ChannelError>>;

/// The Allegro adapter. Cheap to clone; clones share the token manager, the rate limiter and
/// the commands in flight.
#[derive(Clone, Debug)]
pub struct AllegroChannel {
    config: Arc<AllegroConfig>,
    client: AllegroClient,
    /// Commands sent whose tasks were not all finished when the call returned, by content:
    /// the next call with the same content reuses the id (Allegro answers 409) and reads the
    /// tasks again instead of sending a new command.
    pending: Arc<Mutex<HashMap<u64, String>>>,
}

impl AllegroChannel {
    /// An adapter for `config`.
    pub fn new(config: AllegroConfig) -> Result<Self, ChannelError> {
        let client = AllegroClient::new(&config)?;
        Ok(Self {
            config: Arc::new(config),
            client,
            pending: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AllegroConfig {
        &self.config
    }

    /// When the current refresh token stops working (3 months after it was issued), when known.
    pub fn refresh_expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.client.refresh_expires_at()
    }

    /// The capabilities for a configuration (see the crate docs for each value and why).
    pub fn capabilities_for(config: &AllegroConfig) -> Capabilities {
        Capabilities {
            listings_link: true,
            listings_sync: true,
            listings_publish: config.can_publish(),
            listings_reconcile: true,
            orders_get: true,
            orders_acknowledge: false,
            orders_ship: true,
            orders_refund: true,
            orders_cancel: false,
            shipping_mappings_required: false,
            fulfillment_required: false,
            login_authorization: true,
            orders_carry_currency: true,
            // A task for an offer Allegro does not have fails with "The offer does not exist."
            // (`OfferNotFoundException`): `NotFound` for that offer (see `error::task_error`).
            listings_update_reports_missing: true,
            // `GET /order/checkout-forms/{id}`, one request per order (the list has no id
            // filter).
            orders_get_by_id: true,
            listings_update_max_batch: MAX_OFFERS_PER_COMMAND as u32,
            listings_end_max_batch: MAX_OFFERS_PER_COMMAND as u32,
            orders_page_max: MAX_ORDERS_PAGE,
            rate_limits: RateLimits {
                per_minute: Some(REQUESTS_PER_MINUTE),
                per_day: None,
                concurrent: None,
            },
        }
    }

    fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        let e = if e.channel().is_none() {
            e.with_channel(ChannelKind::Allegro)
        } else {
            e
        };
        if e.operation().is_none() {
            e.with_operation(operation)
        } else {
            e
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends every group as one command (`PUT …/{commandId}`; 409 = already sent, as when a
    /// retry follows a lost answer) and reads the tasks until every offer is done or the
    /// polling budget is spent. One result per offer per group, in group order. An error
    /// concerning the whole account (`Auth`, `RateLimited`) ends the call.
    async fn run_commands(
        &self,
        groups: &[Group],
        op: &'static str,
    ) -> Result<Vec<TaskResults>, ChannelError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut results: Vec<TaskResults> = Vec::with_capacity(groups.len());
        // (group index, command id, content digest) of the commands Allegro accepted.
        let mut submitted: Vec<(usize, String, u64)> = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let offers = g.offers.join(",");
            let digest = convert::digest(0, &[g.kind.as_str(), &g.key, &offers]);
            let id = self.pending().get(&digest).cloned().unwrap_or_else(|| {
                convert::derived_uuid(&[&nonce, g.kind.as_str(), &g.key, &offers])
            });
            self.pending().insert(digest, id.clone());
            let path = format!("{}/{id}", g.kind.path());
            let sent = self
                .client
                .send_json(Method::PUT, &path, &[], &g.body, op, true)
                .await;
            match sent {
                Ok(_) => submitted.push((i, id, digest)),
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    tracing::debug!(command = %id, "command id already used: reading its tasks");
                    submitted.push((i, id, digest));
                }
                Err(e) if is_account_wide(&e) => {
                    self.pending().remove(&digest);
                    return Err(e);
                }
                Err(e) => {
                    self.pending().remove(&digest);
                    // A 404 to the command as a whole names no offer: not `NotFound` for each
                    // (every link of the command would be marked broken), a `Channel` error.
                    let e = if e.kind() == ErrorKind::NotFound {
                        command_not_found(&e, g.kind)
                    } else {
                        e
                    };
                    results.push(TaskResults::new());
                    let r = results.last_mut().expect("just pushed");
                    for o in &g.offers {
                        r.insert(o.clone(), Err(copy(&e)));
                    }
                    continue;
                }
            }
            results.push(TaskResults::new());
        }

        let polling = self.config.polling;
        let mut open: Vec<(usize, String, u64)> = submitted;
        for round in 0..polling.max_polls {
            if open.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(polling.interval).await;
            }
            let mut still_open = Vec::new();
            for (i, id, digest) in open {
                let group = &groups[i];
                let path = format!("{}/{id}/tasks", group.kind.path());
                let query = [("limit", "1000".to_owned()), ("offset", "0".to_owned())];
                let report: wire::TaskReport = match self.client.get(&path, &query, op).await {
                    Ok(r) => r,
                    Err(e) if is_account_wide(&e) => return Err(e),
                    Err(e) => {
                        tracing::debug!(command = %id, error = %e, "reading the tasks failed");
                        still_open.push((i, id, digest));
                        continue;
                    }
                };
                let r = &mut results[i];
                for task in report.tasks {
                    let Some(offer) = task.offer.map(|o| o.id) else {
                        continue;
                    };
                    if !group.offers.contains(&offer) {
                        continue;
                    }
                    match task.status.as_deref() {
                        Some("SUCCESS") => {
                            r.insert(offer, Ok(()));
                        }
                        Some("FAIL") => {
                            r.insert(
                                offer,
                                Err(task_error(task.message.as_deref(), &task.errors)),
                            );
                        }
                        _ => {}
                    }
                }
                if group.offers.iter().all(|o| r.contains_key(o)) {
                    self.pending().remove(&digest);
                } else {
                    still_open.push((i, id, digest));
                }
            }
            open = still_open;
        }
        for (i, id, _) in open {
            let r = &mut results[i];
            for o in &groups[i].offers {
                r.entry(o.clone()).or_insert_with(|| {
                    Err(ChannelError::transient(format!(
                        "Allegro is still processing {} command {id}; the next sync reads its result",
                        groups[i].kind.as_str()
                    )))
                });
            }
        }
        Ok(results)
    }

    /// The groups for `offers` with one modification, at most [`MAX_OFFERS_PER_COMMAND`] each.
    fn groups(
        kind: CommandKind,
        key: &str,
        body: &dyn Fn(&[String]) -> Value,
        offers: &BTreeSet<String>,
    ) -> Vec<Group> {
        let offers: Vec<String> = offers.iter().cloned().collect();
        offers
            .chunks(MAX_OFFERS_PER_COMMAND)
            .map(|chunk| Group {
                kind,
                key: key.to_owned(),
                body: body(chunk),
                offers: chunk.to_vec(),
            })
            .collect()
    }

    fn end_groups(offers: &BTreeSet<String>) -> Vec<Group> {
        Self::groups(
            CommandKind::Publication,
            "END",
            &|ids| {
                json!(wire::PublicationCommand {
                    publication: wire::PublicationAction { action: "END" },
                    offer_criteria: OfferCriterium::offers(ids),
                })
            },
            offers,
        )
    }

    /// One page of checkout forms of the first import (no cursor yet). `held`: an earlier
    /// page rejected a form without an id, so this import gives no cursor (see below).
    async fn fetch_forms(
        &self,
        query: &OrderQuery,
        offset: u64,
        latest_event: Option<String>,
        held: bool,
        op: &'static str,
    ) -> Result<OrderPage, ChannelError> {
        let limit = query
            .page_size
            .unwrap_or(MAX_ORDERS_PAGE)
            .clamp(1, MAX_ORDERS_PAGE);
        let mut params = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
        if let Some(since) = query.created_since {
            params.push((
                "lineItems.boughtAt.gte",
                since.to_rfc3339_opts(SecondsFormat::Millis, true),
            ));
        }
        let response = self
            .client
            .get_response("order/checkout-forms", &params, op)
            .await?;
        let page = decode::orders_page_with(response.bytes(), query.default_currency)
            .map_err(|e| e.with_http_status(response.status().as_u16()))?;
        let n = page.forms;
        // A form rejected without an id cannot be recorded, nor read again by id, and the
        // journal after the position taken holds no event of it: the import gives no cursor,
        // so the next run imports by checkout forms again, until the form reads.
        let held = held || page.rejected.iter().any(|r| r.channel_order_id.is_none());
        let mut out = OrderPage {
            orders: page.orders,
            rejected: page.rejected,
            ..OrderPage::default()
        };
        let total = page.total_count.unwrap_or(0);
        if n > 0 && offset + n < total {
            out.next_page = Some(PageToken(format!(
                "forms|{}|{}{}",
                offset + n,
                latest_event.unwrap_or_default(),
                if held { "|held" } else { "" }
            )));
        } else if !held {
            // The journal position taken before the first page: every order placed since is
            // in the journal after it.
            out.cursor = latest_event.map(Cursor);
        }
        Ok(out)
    }

    /// One page of the order journal after `from`, each order read from its checkout form.
    async fn fetch_events(
        &self,
        query: &OrderQuery,
        from: &str,
        op: &'static str,
    ) -> Result<OrderPage, ChannelError> {
        let limit = query.page_size.unwrap_or(100).clamp(1, 1000);
        let mut params = vec![("from", from.to_owned()), ("limit", limit.to_string())];
        params.extend(ORDER_EVENT_TYPES.iter().map(|t| ("type", (*t).to_owned())));
        let response = self
            .client
            .get_response("order/events", &params, op)
            .await?;
        let page = decode::events_page(response.bytes())
            .map_err(|e| e.with_http_status(response.status().as_u16()))?;
        let mut out = OrderPage::default();
        let mut seen = BTreeSet::new();
        for event in &page.events {
            let id = &event.order.checkout_form.id;
            if !seen.insert(id.clone()) {
                continue;
            }
            let path = format!("order/checkout-forms/{}", encode(id));
            match self.client.get::<Value>(&path, &[], op).await {
                // A form whose own id cannot be read is rejected with the id the journal
                // named: without one, the engine could not record it, and the cursor would
                // pass it for good.
                Ok(value) => match decode::read_form(value, query.default_currency) {
                    Ok(order) => out.orders.push(order),
                    Err(mut r) => {
                        if r.channel_order_id.is_none() {
                            r.channel_order_id = ChannelOrderId::new(id.clone()).ok();
                        }
                        out.rejected.push(r);
                    }
                },
                // A temporary failure fails the page: recording the order as unreadable would
                // let the cursor pass it, and it would never be imported.
                Err(e) if is_account_wide(&e) || e.is_temporary() => return Err(e),
                Err(e) => out.rejected.push(RejectedOrder {
                    channel_order_id: ChannelOrderId::new(id.clone()).ok(),
                    error: self.err(e, op),
                }),
            }
        }
        let last = page
            .events
            .last()
            .map(|e| e.id.clone())
            .unwrap_or_else(|| from.to_owned());
        if page.events.len() as u32 >= limit {
            out.next_page = Some(PageToken(format!("events|{last}")));
        } else {
            out.cursor = Some(Cursor(last));
        }
        Ok(out)
    }

    async fn checkout_form(
        &self,
        id: &str,
        op: &'static str,
    ) -> Result<CheckoutForm, ChannelError> {
        self.client
            .get(&format!("order/checkout-forms/{}", encode(id)), &[], op)
            .await
    }

    /// Sets the seller's fulfilment status with the order's current revision; a 409 (the buyer
    /// changed the order meanwhile) re-reads the order and tries again with the new revision.
    async fn set_fulfillment(
        &self,
        id: &str,
        status: &str,
        op: &'static str,
    ) -> Result<(), ChannelError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let form = self.checkout_form(id, op).await?;
            if form.fulfillment.as_ref().and_then(|f| f.status.as_deref()) == Some(status) {
                return Ok(());
            }
            let query: Vec<(&str, String)> = form
                .revision
                .map(|r| vec![("checkoutForm.revision", r)])
                .unwrap_or_default();
            let body = wire::Fulfillment {
                status: Some(status.to_owned()),
            };
            let path = format!("order/checkout-forms/{}/fulfillment", encode(id));
            match self
                .client
                .send_json(Method::PUT, &path, &query, &body, op, true)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < FULFILLMENT_ATTEMPTS => {
                    tracing::debug!("the checkout form changed meanwhile: reading it again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn ship_once(
        &self,
        request: &ShipmentRequest,
        op: &'static str,
    ) -> Result<(), ChannelError> {
        let id = request.order_id.as_str();
        let s = &request.shipment;
        if let Some(waybill) = s
            .tracking_number
            .as_deref()
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            let path = format!("order/checkout-forms/{}/shipments", encode(id));
            // Adding a tracking number is not idempotent: skip it when an earlier attempt
            // (whose answer was lost) already added it.
            let existing: wire::Waybills = self.client.get(&path, &[], op).await?;
            if !existing
                .shipments
                .iter()
                .any(|w| w.waybill.as_deref() == Some(waybill))
            {
                let (carrier_id, carrier_name) = match s.carrier.as_deref().map(str::trim) {
                    Some(c) if !c.is_empty() && c != "OTHER" => (c.to_owned(), None),
                    _ => (
                        "OTHER".to_owned(),
                        Some(
                            s.method
                                .as_deref()
                                .or(s.carrier.as_deref())
                                .filter(|m| !m.trim().is_empty() && *m != "OTHER")
                                .unwrap_or("Other")
                                .chars()
                                .take(30)
                                .collect(),
                        ),
                    ),
                };
                let body = wire::AddWaybill {
                    carrier_id,
                    waybill: waybill.to_owned(),
                    carrier_name,
                    line_items: s
                        .lines
                        .iter()
                        .map(|l| IdOnly {
                            id: l.line_id.clone(),
                        })
                        .collect(),
                };
                self.client
                    .send_json(Method::POST, &path, &[], &body, op, false)
                    .await?;
            }
        }
        if s.lines.is_empty() {
            let status = match s.delivery {
                Delivery::PickedUp => "PICKED_UP",
                _ => "SENT",
            };
            self.set_fulfillment(id, status, op).await?;
        }
        Ok(())
    }

    async fn refund_once(
        &self,
        request: &RefundRequest,
        op: &'static str,
    ) -> Result<(), ChannelError> {
        let r = &request.refund;
        let form = self.checkout_form(request.order_id.as_str(), op).await?;
        let payment_id = form
            .payment
            .as_ref()
            .and_then(|p| p.id.clone())
            .ok_or_else(|| {
                ChannelError::invalid("the Allegro order has no payment to refund")
                    .with_field("payment.id")
            })?;
        let mut line_items = Vec::new();
        let mut delivery = None;
        if r.lines.is_empty() {
            if r.amount.is_some() {
                return Err(ChannelError::invalid(
                    "Allegro refunds per line item: give the lines (or no amount for a full refund)",
                )
                .with_field("lines"));
            }
            for l in &form.line_items {
                let quantity = l.quantity.as_u64().and_then(|q| u32::try_from(q).ok());
                line_items.push(wire::RefundLineItem {
                    id: l.id.clone(),
                    kind: "QUANTITY",
                    quantity,
                    value: None,
                });
            }
            delivery = form
                .delivery
                .as_ref()
                .and_then(|d| d.cost.clone())
                .filter(|c| convert::money(c).is_ok_and(|m| !m.amount().is_zero()))
                .map(|value| wire::RefundValue { value });
        } else {
            for l in &r.lines {
                let item = match (l.quantity, &l.amount) {
                    (Some(q), _) => wire::RefundLineItem {
                        id: l.line_id.clone(),
                        kind: "QUANTITY",
                        quantity: Some(q),
                        value: None,
                    },
                    (None, Some(m)) => wire::RefundLineItem {
                        id: l.line_id.clone(),
                        kind: "AMOUNT",
                        quantity: None,
                        value: Some(convert::price(m)),
                    },
                    (None, None) => {
                        return Err(ChannelError::invalid(format!(
                            "refund line {} has neither a quantity nor an amount",
                            l.line_id
                        ))
                        .with_field("lines"));
                    }
                };
                line_items.push(item);
            }
        }
        let body = wire::InitializeRefund {
            payment: IdOnly { id: payment_id },
            order: IdOnly {
                id: request.order_id.as_str().to_owned(),
            },
            command_id: convert::refund_command_id(request.idempotency_key.as_str()),
            reason: convert::refund_reason(r.reason),
            line_items,
            delivery,
            seller_comment: r.note.as_ref().map(|n| n.chars().take(250).collect()),
        };
        // The commandId makes the POST safe to send again: Allegro refunds once per id.
        let response = match self
            .client
            .send_json(Method::POST, "payments/refunds", &[], &body, op, true)
            .await
        {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                tracing::debug!("refund command id already used: the refund exists");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let details: wire::RefundDetails = response.json()?;
        match details.status.as_deref() {
            Some(s @ ("CANCELED" | "VALIDATE_FAILED")) => Err(ChannelError::invalid(
                "Allegro did not carry out the refund",
            )
            .with_channel_message(format!("refund status {s}"))),
            _ => Ok(()),
        }
    }
}

/// A 404 answered to a whole batch command, as the `Channel` error each of its offers gets.
fn command_not_found(e: &ChannelError, kind: CommandKind) -> ChannelError {
    let mut out = ChannelError::new(
        ErrorKind::Channel,
        format!(
            "Allegro answered the {} command with not found: {}",
            kind.as_str(),
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

/// A path segment, percent-encoded.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn outcome(
    id: &ChannelListingId,
    sku: Option<marketsync_core::Sku>,
    r: Result<(), ChannelError>,
) -> ListingOutcome {
    ListingOutcome {
        listing_id: Some(id.clone()),
        sku,
        result: r.map(|()| id.clone()),
    }
}

fn price_key(m: &Money) -> String {
    format!(
        "FIXED_PRICE {} {}",
        m.amount().normalize(),
        m.currency().code()
    )
}

/// The currency of an Allegro marketplace (`allegro-pl` …), where known.
fn marketplace_currency(id: &str) -> Option<Currency> {
    match id {
        "allegro-pl" => Some(Currency::PLN),
        "allegro-cz" => Currency::new("CZK").ok(),
        "allegro-sk" => Some(Currency::EUR),
        "allegro-hu" => Currency::new("HUF").ok(),
        _ => None,
    }
}

#[async_trait]
impl Channel for AllegroChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Allegro
    }

    fn capabilities(&self) -> Capabilities {
        Self::capabilities_for(&self.config)
    }

    /// Installs a [`Credentials::LoginSession`] (access token, its expiry, the refresh token and
    /// the refresh token's expiry) in the token manager, forgetting a remembered renewal
    /// failure: after the seller logs in again the integration works at once.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let Credentials::LoginSession(session) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "Allegro takes a login session (from the seller logging in at Allegro), not {:?} credentials",
                    credentials.kind()
                )),
                "use_credentials",
            ));
        };
        self.client
            .install(client::token_set(Some(session)), session.refresh_expires_at);
        Ok(())
    }

    /// Every renewal rotates Allegro's refresh token: the new pair is saved through this sink
    /// (the engine's vault) before the new access token is used, so a restart never hands back
    /// a spent refresh token.
    fn use_credential_sink(&self, sink: Arc<dyn CredentialSink>) {
        *self.client.sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// `GET /me`.
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let me: wire::Me = self
            .client
            .get("me", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(AccountInfo {
            currency: me
                .base_marketplace
                .as_ref()
                .and_then(|m| marketplace_currency(&m.id)),
            account_id: me.id,
            name: me.login,
            credentials_expire_at: self.client.refresh_expires_at(),
        })
    }

    /// `GET /sale/offers` by `external.id` (at most 100 per request) or every offer, `limit` /
    /// `offset` paging; without `include_ended` only `INACTIVE`, `ACTIVATING` and `ACTIVE`.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let skus: Vec<&str> = query.skus.iter().map(|s| s.as_str()).collect();
        let chunks: Vec<&[&str]> = skus.chunks(MAX_EXTERNAL_IDS).collect();
        let (chunk, offset) = match &query.page {
            Some(PageToken(t)) => {
                let (c, o) = t.split_once(':').unwrap_or((t.as_str(), "0"));
                (
                    c.parse::<usize>().unwrap_or(0),
                    o.parse::<u64>().unwrap_or(0),
                )
            }
            None => (0, 0),
        };
        if !chunks.is_empty() && chunk >= chunks.len() {
            return Ok(ListingPage::default());
        }
        let limit = query
            .page_size
            .unwrap_or(MAX_OFFERS_PAGE)
            .clamp(1, MAX_OFFERS_PAGE);
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(c) = chunks.get(chunk) {
            params.extend(c.iter().map(|s| ("external.id", (*s).to_owned())));
        }
        if !query.include_ended {
            for s in ["INACTIVE", "ACTIVATING", "ACTIVE"] {
                params.push(("publication.status", s.to_owned()));
            }
        }
        params.push(("limit", limit.to_string()));
        params.push(("offset", offset.to_string()));
        let response = self
            .client
            .get_response("sale/offers", &params, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let page = decode::listings_page(response.bytes()).map_err(|e| {
            let e = if e.http_status().is_none() {
                e.with_http_status(response.status().as_u16())
            } else {
                e
            };
            self.err(e, op)
        })?;
        let n = page.offers;
        let listings = page.listings;
        let more_here = n > 0 && offset + n < page.total_count.unwrap_or(0);
        let next_page = if more_here {
            Some(PageToken(format!("{chunk}:{}", offset + n)))
        } else if chunk + 1 < chunks.len() {
            Some(PageToken(format!("{}:0", chunk + 1)))
        } else {
            None
        };
        Ok(ListingPage {
            listings,
            next_page,
        })
    }

    /// Price and quantity through the change commands, grouped by identical modification: one
    /// `FIXED` quantity command per distinct quantity, one `FIXED_PRICE` command per distinct
    /// price (each up to 1,000 offers); quantity 0, which a quantity command cannot set, ends
    /// the offer (publication command `END`). Then the tasks are polled; an update succeeds
    /// when every part of it did. Titles are not sent.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "update_listings";
        let mut quantities: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        let mut ends: BTreeSet<String> = BTreeSet::new();
        let mut prices: BTreeMap<String, (Money, BTreeSet<String>)> = BTreeMap::new();
        for u in updates {
            let id = u.listing_id.as_str().to_owned();
            match u.quantity {
                Some(0) => {
                    ends.insert(id.clone());
                }
                Some(q) => {
                    quantities.entry(q).or_default().insert(id.clone());
                }
                None => {}
            }
            if let Some(p) = &u.price {
                prices
                    .entry(price_key(p))
                    .or_insert_with(|| (*p, BTreeSet::new()))
                    .1
                    .insert(id);
            }
        }
        let mut groups = Vec::new();
        for (q, offers) in &quantities {
            let q = *q;
            groups.extend(Self::groups(
                CommandKind::Quantity,
                &format!("FIXED {q}"),
                &|ids| {
                    json!(wire::QuantityCommand {
                        modification: wire::QuantityModification {
                            change_type: "FIXED",
                            value: q,
                        },
                        offer_criteria: OfferCriterium::offers(ids),
                    })
                },
                offers,
            ));
        }
        for (key, (money, offers)) in &prices {
            groups.extend(Self::groups(
                CommandKind::Price,
                key,
                &|ids| {
                    json!(wire::PriceCommand {
                        modification: wire::PriceModification {
                            kind: "FIXED_PRICE",
                            price: convert::price(money),
                        },
                        offer_criteria: OfferCriterium::offers(ids),
                    })
                },
                offers,
            ));
        }
        // Ending comes last, once the price and quantity changes are done: Allegro refuses to
        // change an ended offer, and processes commands in no particular order, so a price
        // change sent alongside the END of the same offer (a quantity of 0 with the item's
        // price) could fail with "the offer has ended".
        let mut results = self
            .run_commands(&groups, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let end_groups = Self::end_groups(&ends);
        results.extend(
            self.run_commands(&end_groups, op)
                .await
                .map_err(|e| self.err(e, op))?,
        );
        groups.extend(end_groups);
        let mut by_part: HashMap<(CommandKind, String, String), Result<(), ChannelError>> =
            HashMap::new();
        for (g, r) in groups.iter().zip(results) {
            for (offer, result) in r {
                by_part.insert((g.kind, g.key.clone(), offer), result);
            }
        }
        let part = |kind: CommandKind, key: String, id: &str| -> Result<(), ChannelError> {
            match by_part.get(&(kind, key, id.to_owned())) {
                Some(Ok(())) => Ok(()),
                Some(Err(e)) => Err(copy(e)),
                None => Err(ChannelError::transient("no result for this offer")),
            }
        };
        Ok(updates
            .iter()
            .map(|u| {
                let id = u.listing_id.as_str();
                let quantity = match u.quantity {
                    Some(0) => part(CommandKind::Publication, "END".into(), id),
                    Some(q) => part(CommandKind::Quantity, format!("FIXED {q}"), id),
                    None => Ok(()),
                };
                let price = match &u.price {
                    Some(p) => part(CommandKind::Price, price_key(p), id),
                    None => Ok(()),
                };
                let r = quantity.and(price).map_err(|e| self.err(e, op));
                outcome(&u.listing_id, Some(u.sku.clone()), r)
            })
            .collect())
    }

    /// `POST /sale/product-offers`, one per listing, from the configured offer template with
    /// `name`, `external.id`, `sellingMode.price`, `stock.available` and `publication.status`
    /// (`ACTIVE` or `INACTIVE`) set. Sent once (a create is not idempotent); 201 and 202 both
    /// give the new offer's id.
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "publish_listings";
        let Some(template) = &self.config.offer_template else {
            return Err(self.err(
                ChannelError::unsupported(
                    "publishing on Allegro needs an offer template (category, product, delivery and after-sales settings): configure AllegroConfigBuilder::offer_template, or create the offer in Sales Center and link it by external id",
                ),
                op,
            ));
        };
        let mut out = Vec::with_capacity(listings.len());
        for l in listings {
            let mut body = template.clone();
            if let Some(map) = body.as_object_mut() {
                map.insert("name".into(), json!(l.title));
                map.insert("external".into(), json!({"id": l.sku.as_str()}));
                let selling = map.entry("sellingMode").or_insert_with(|| json!({}));
                if let Some(s) = selling.as_object_mut() {
                    s.insert("price".into(), json!(convert::price(&l.price)));
                }
                map.insert("stock".into(), json!({"available": l.quantity}));
                let publication = map.entry("publication").or_insert_with(|| json!({}));
                if let Some(p) = publication.as_object_mut() {
                    p.insert(
                        "status".into(),
                        json!(if l.publish { "ACTIVE" } else { "INACTIVE" }),
                    );
                }
            }
            let result = self
                .client
                .send_json(Method::POST, "sale/product-offers", &[], &body, op, false)
                .await
                .and_then(|r| r.json::<wire::CreatedOffer>())
                .and_then(|c| {
                    ChannelListingId::new(c.id).map_err(|e| {
                        ChannelError::new(
                            ErrorKind::Channel,
                            format!("Allegro sent an unusable offer id: {e}"),
                        )
                    })
                });
            match result {
                Ok(id) => out.push(ListingOutcome {
                    listing_id: Some(id.clone()),
                    sku: Some(l.sku.clone()),
                    result: Ok(id),
                }),
                Err(e) if is_account_wide(&e) => return Err(self.err(e, op)),
                Err(e) => out.push(ListingOutcome {
                    listing_id: None,
                    sku: Some(l.sku.clone()),
                    result: Err(self.err(e, op)),
                }),
            }
        }
        Ok(out)
    }

    /// Publication command `END` for up to 1,000 offers, then its tasks are polled. An offer
    /// Allegro no longer has counts as ended.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "end_listings";
        let ids: BTreeSet<String> = listings
            .iter()
            .map(|l| l.listing_id.as_str().to_owned())
            .collect();
        let groups = Self::end_groups(&ids);
        let results = self
            .run_commands(&groups, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let mut by_offer: HashMap<String, Result<(), ChannelError>> = HashMap::new();
        for r in results {
            by_offer.extend(r);
        }
        Ok(listings
            .iter()
            .map(|l| {
                let r = match by_offer.get(l.listing_id.as_str()) {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Some(Err(e)) => Err(self.err(copy(e), op)),
                    None => Err(self.err(ChannelError::transient("no result for this offer"), op)),
                };
                outcome(&l.listing_id, l.sku.clone(), r)
            })
            .collect())
    }

    /// The first download (no cursor): `GET /order/event-stats` for the journal's position,
    /// then `GET /order/checkout-forms` from `created_since` (`lineItems.boughtAt.gte`),
    /// `limit`/`offset` paging; the cursor (the journal position) comes with the last page.
    /// Later downloads: `GET /order/events?from=<cursor>` and each order's checkout form; the
    /// cursor is the last event id, with the last page only.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders";
        let result = match (&query.page, &query.cursor) {
            (Some(PageToken(t)), _) => match t.split('|').collect::<Vec<_>>().as_slice() {
                ["forms", offset, latest, held @ ..] if matches!(held, [] | ["held"]) => {
                    let latest = (!latest.is_empty()).then(|| (*latest).to_owned());
                    let held = !held.is_empty();
                    self.fetch_forms(query, offset.parse().unwrap_or(0), latest, held, op)
                        .await
                }
                ["events", from] => self.fetch_events(query, from, op).await,
                _ => Err(ChannelError::invalid(
                    "the page token does not belong to an Allegro order download",
                )),
            },
            (None, Some(Cursor(from))) => self.fetch_events(query, from, op).await,
            (None, None) => {
                let stats: Result<wire::EventStats, _> =
                    self.client.get("order/event-stats", &[], op).await;
                match stats {
                    Ok(s) => {
                        self.fetch_forms(query, 0, s.latest_event.map(|e| e.id), false, op)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        result.map_err(|e| self.err(e, op))
    }

    /// `GET /order/checkout-forms/{id}`, one request per order (the checkout-forms list has
    /// no id filter). A form Allegro does not know (404) is left out; one it sends that cannot
    /// be read, or whose read is refused for that form alone (400, 422), is rejected with its
    /// id. An authorization failure, a rate limit or a temporary failure fails the call.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders_by_id";
        let mut out = OrderPage::default();
        for id in ids {
            let path = format!("order/checkout-forms/{}", encode(id.as_str()));
            let error = match self.client.get::<Value>(&path, &[], op).await {
                Ok(value) => match decode::read_form(value, default_currency) {
                    Ok(order) => {
                        out.orders.push(order);
                        continue;
                    }
                    Err(r) => r.error,
                },
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) if is_account_wide(&e) || e.is_temporary() => {
                    return Err(self.err(e, op));
                }
                Err(e) => e,
            };
            out.rejected.push(RejectedOrder {
                channel_order_id: Some(id.clone()),
                error: self.err(error, op),
            });
        }
        Ok(out)
    }

    /// Unsupported: Allegro keeps no "exported" flag; the journal cursor is the position.
    async fn acknowledge_order(&self, _order: &ChannelOrderId) -> Result<(), ChannelError> {
        Err(self.err(
            ChannelError::unsupported(
                "Allegro has no order acknowledgement; the order journal's cursor is the feed position",
            ),
            "acknowledge_order",
        ))
    }

    /// The tracking number through `POST /order/checkout-forms/{id}/shipments` (`carrierId` =
    /// the shipment's carrier, else `OTHER` with the method as `carrierName`; skipped when the
    /// order already has it), then for a whole-order shipment the fulfilment status `SENT`
    /// (`PICKED_UP` for a pickup) with the order's revision.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let op = "ship";
        self.ship_once(request, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `POST /payments/refunds` with the order's payment id, the lines (by quantity or amount;
    /// a full refund is every line plus delivery) and `commandId` = the idempotency key (as a
    /// UUID), so retries never refund twice.
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let op = "refund";
        self.refund_once(request, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// Unsupported: see [`CANCEL_UNSUPPORTED`].
    async fn cancel(&self, _request: &CancellationRequest) -> Result<(), ChannelError> {
        Err(self.err(ChannelError::unsupported(CANCEL_UNSUPPORTED), "cancel"))
    }

    /// The device flow (`device_flow: true`: `POST /auth/oauth/device`, the seller types the
    /// user code at Allegro's page) or the authorization code with PKCE (Allegro's login page
    /// with the configured redirect URI, `state` and an S256 challenge).
    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let op = "begin_authorization";
        let scopes: Vec<&str> = self.config.scopes.iter().map(String::as_str).collect();
        let now = self.client.clock.now();
        if request.device_flow {
            let device = self
                .client
                .oauth
                .begin_device(&scopes)
                .await
                .map_err(|e| self.err(e, op))?;
            let page = device
                .verification_uri_complete
                .as_deref()
                .unwrap_or(&device.verification_uri);
            let url = Url::parse(page).map_err(|e| {
                self.err(
                    ChannelError::new(
                        ErrorKind::Channel,
                        format!("Allegro sent an unusable verification page: {e}"),
                    ),
                    op,
                )
            })?;
            return Ok(AuthorizationStart {
                url,
                user_code: Some(device.user_code),
                pending: PendingAuthorization {
                    state: format!("{DEVICE_STATE_PREFIX}{}", uuid::Uuid::new_v4()),
                    secret: device.device_code,
                    started_at: now,
                    expires_at: TimeDelta::from_std(device.expires_in)
                        .ok()
                        .and_then(|d| now.checked_add_signed(d)),
                    poll_interval: Some(device.interval),
                },
            });
        }
        let Some(configured) = &self.config.redirect_uri else {
            return Err(self.err(
                ChannelError::invalid("no redirect URI is configured for the Allegro application")
                    .with_field("redirect_uri"),
                op,
            ));
        };
        if request
            .redirect_uri
            .as_ref()
            .is_some_and(|r| r != configured)
        {
            return Err(self.err(
                ChannelError::invalid(
                    "the redirect URI must be the one registered for the Allegro application",
                )
                .with_field("redirect_uri"),
                op,
            ));
        }
        let start = self
            .client
            .oauth
            .authorize(&scopes)
            .map_err(|e| self.err(e, op))?;
        Ok(AuthorizationStart {
            url: start.url,
            user_code: None,
            pending: PendingAuthorization {
                state: start.state,
                secret: start.pkce_verifier,
                started_at: now,
                expires_at: Some(now + TimeDelta::hours(1)),
                poll_interval: None,
            },
        })
    }

    /// Device flow: one poll of the token endpoint (`authorization_pending` / `slow_down` →
    /// `Pending`). Code flow: the code (valid 10 seconds) exchanged with the PKCE verifier.
    /// The tokens are installed here and returned as a [`Credentials::LoginSession`] whose
    /// refresh token expires 3 months from now.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = "complete_authorization";
        let tokens: TokenSet = if pending.state.starts_with(DEVICE_STATE_PREFIX) {
            let interval = pending.poll_interval.unwrap_or(Duration::from_secs(5));
            match self
                .client
                .oauth
                .poll_device(&pending.secret, interval)
                .await
                .map_err(|e| self.err(e, op))?
            {
                marketsync_http::DevicePoll::Pending { poll_after } => {
                    return Ok(AuthorizationOutcome::Pending { poll_after });
                }
                marketsync_http::DevicePoll::Authorized(t) => t,
            }
        } else {
            if let Some(error) = callback.param("error") {
                let message = callback
                    .param("error_description")
                    .unwrap_or(error)
                    .to_owned();
                return Err(self.err(
                    ChannelError::auth(
                        BrokenReason::LoginRequired,
                        "the seller did not grant access at Allegro",
                    )
                    .with_channel_message(message),
                    op,
                ));
            }
            let code = callback.param("code").ok_or_else(|| {
                self.err(
                    ChannelError::invalid("Allegro sent no authorization code"),
                    op,
                )
            })?;
            self.client
                .oauth
                .exchange_code(
                    &SecretString::from(code),
                    callback.param("state").unwrap_or(""),
                    &pending.state,
                    &pending.secret,
                )
                .await
                .map_err(|e| self.err(e, op))?
        };
        if tokens.refresh_token.is_none() {
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "Allegro returned no refresh token",
                ),
                op,
            ));
        }
        let session = convert::login_session(&tokens, self.client.clock.now());
        self.client.install(tokens, session.refresh_expires_at);
        Ok(AuthorizationOutcome::Authorized(Credentials::LoginSession(
            session,
        )))
    }
}
