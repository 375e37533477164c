//! Orders: the first import by checkout forms, then the order event journal; reads by id;
//! shipments (tracking number and fulfilment status) and refunds.

use std::collections::BTreeSet;

use chrono::SecondsFormat;
use marketsync_core::{
    ChannelError, ChannelOrderId, Currency, Cursor, Delivery, ErrorKind, OrderPage, OrderQuery,
    PageToken, RefundRequest, RejectedOrder, ShipmentRequest,
};
use marketsync_http::Method;
use serde_json::Value;

use crate::channel::AllegroChannel;
use crate::error::is_account_wide;
use crate::wire::{self, CheckoutForm, IdOnly};
use crate::{convert, decode};

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

impl AllegroChannel {
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
        let page = decode::events(response.bytes())
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

    /// The first download (no cursor): `GET /order/event-stats` for the journal's position,
    /// then `GET /order/checkout-forms` from `created_since` (`lineItems.boughtAt.gte`),
    /// `limit`/`offset` paging; the cursor (the journal position) comes with the last page.
    /// Later downloads: `GET /order/events?from=<cursor>` and each order's checkout form; the
    /// cursor is the last event id, with the last page only.
    pub(crate) async fn download_orders(
        &self,
        query: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
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
    pub(crate) async fn read_orders_by_id(
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

    /// The tracking number through `POST /order/checkout-forms/{id}/shipments` (`carrierId` =
    /// the shipment's carrier, else `OTHER` with the method as `carrierName`; skipped when the
    /// order already has it), then for a whole-order shipment the fulfilment status `SENT`
    /// (`PICKED_UP` for a pickup) with the order's revision.
    pub(crate) async fn send_shipment(
        &self,
        request: &ShipmentRequest,
    ) -> Result<(), ChannelError> {
        let op = "ship";
        self.ship_once(request, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `POST /payments/refunds` with the order's payment id, the lines (by quantity or amount;
    /// a full refund is every line plus delivery) and `commandId` = the idempotency key (as a
    /// UUID), so retries never refund twice.
    pub(crate) async fn send_refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let op = "refund";
        self.refund_once(request, op)
            .await
            .map_err(|e| self.err(e, op))
    }
}

/// A path segment, percent-encoded.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
