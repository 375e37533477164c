//! Orders: downloads by updated-since watermark, reads by number, shipments, refunds and
//! cancellation (a full refund).

use chrono::{DateTime, Utc};
use marketsync_core::{
    CancellationRequest, ChannelError, ChannelKind, ChannelOrderId, Currency, Cursor, Delivery,
    ErrorKind, Money, OrderPage, OrderQuery, PageToken, RefundRequest, ShipmentRequest,
};
use marketsync_http::adapter::{cursor_text, with_status};
use marketsync_http::{CursorHold, Method};
use serde_json::Value;

use crate::channel::{PARTIAL_CANCEL_UNSUPPORTED, ReverbChannel};
use crate::convert::{self, path_id};
use crate::{decode, wire};

/// An order page token: the highest `updated_at` seen so far in this download (`-` for none),
/// the hold of the orders it could not read (see [`CursorHold`](marketsync_http::CursorHold)) and the next link.
fn order_token(watermark: Option<DateTime<Utc>>, hold: CursorHold, link: &str) -> PageToken {
    let mark = watermark.map(cursor_text).unwrap_or_else(|| "-".to_owned());
    PageToken(format!("{mark} {} {link}", hold.to_token()))
}

fn parse_order_token(token: &PageToken) -> Option<(Option<DateTime<Utc>>, CursorHold, String)> {
    let (mark, rest) = token.0.split_once(' ')?;
    let (hold, link) = rest.split_once(' ')?;
    let mark = match mark {
        "-" => None,
        m => Some(parse_time(m)?),
    };
    Some((mark, CursorHold::from_token(hold)?, link.to_owned()))
}

/// A Reverb time (RFC 3339).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl ReverbChannel {
    /// Where an order download starts: the stored watermark minus the overlap. An unreadable
    /// cursor is ignored (the engine drops orders it has seen, so reading more is harmless).
    fn updated_since(&self, cursor: Option<&Cursor>) -> Option<DateTime<Utc>> {
        marketsync_http::adapter::updated_since(
            cursor?,
            self.config.order_overlap,
            parse_time,
            ChannelKind::Reverb,
        )
    }

    /// [`Channel::fetch_orders`](marketsync_core::Channel::fetch_orders).
    pub(crate) async fn download_orders(
        &self,
        query: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders";
        let previous = query.cursor.as_ref().and_then(|c| parse_time(&c.0));
        let (mark, hold, response) = match &query.page {
            Some(token) => {
                let (mark, hold, link) = parse_order_token(token).ok_or_else(|| {
                    self.err(
                        ChannelError::invalid("not a page token of a Reverb order download"),
                        op,
                    )
                })?;
                let response = self
                    .client
                    .get_href_response(&link, op)
                    .await
                    .map_err(|e| self.err(e, op))?;
                (mark.max(previous), hold, response)
            }
            None => {
                let mut q: Vec<(&str, String)> = Vec::new();
                if let Some(since) = self.updated_since(query.cursor.as_ref()) {
                    q.push(("updated_start_date", wire::datetime(since)));
                }
                if let Some(since) = query.created_since {
                    q.push(("created_start_date", wire::datetime(since)));
                }
                q.push(("per_page", self.per_page(query.page_size)));
                let response = self
                    .client
                    .get_response("api/my/orders/selling/all", &q, op)
                    .await
                    .map_err(|e| self.err(e, op))?;
                (previous, CursorHold::None, response)
            }
        };
        let page = decode::orders_page_with(response.bytes(), query.default_currency)
            .map_err(|e| self.err(with_status(e, response.status().as_u16()), op))?;
        let watermark = mark.max(page.latest_change);
        let hold = hold.and(page.hold);
        let mut out = OrderPage {
            orders: page.orders,
            rejected: page.rejected,
            ..OrderPage::default()
        };
        match page.next_link {
            Some(next) => {
                let url = self.client.resolve(&next).map_err(|e| self.err(e, op))?;
                out.next_page = Some(order_token(watermark, hold, url.as_str()));
            }
            None => {
                out.cursor = hold
                    .cursor(watermark, previous)
                    .map(|w| Cursor(cursor_text(w)));
            }
        }
        Ok(out)
    }

    /// [`Channel::fetch_orders_by_id`](marketsync_core::Channel::fetch_orders_by_id).
    pub(crate) async fn reread_orders(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders_by_id";
        let mut out = OrderPage::default();
        for id in ids {
            let Ok(number) = path_id("order number", id.as_str()) else {
                tracing::warn!(order = %id.as_str(), "not a Reverb order number; left out");
                continue;
            };
            let response = match self
                .client
                .get_response(&format!("api/my/orders/selling/{number}"), &[], op)
                .await
            {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(e, op)),
            };
            match decode::order(response.bytes(), default_currency) {
                Ok(o) => out.orders.push(o),
                Err(e) => out.rejected.push(marketsync_core::RejectedOrder {
                    channel_order_id: Some(id.clone()),
                    error: self.err(with_status(e, response.status().as_u16()), op),
                }),
            }
        }
        Ok(out)
    }

    /// [`Channel::ship`](marketsync_core::Channel::ship).
    pub(crate) async fn ship_order(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let op = "ship";
        let s = &request.shipment;
        let number =
            path_id("order number", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        if request.resend {
            // An earlier attempt may have been applied without its outcome being recorded, and
            // Reverb takes no idempotency key: an order already shipped or picked up is done.
            let order = self
                .read_order(number, op)
                .await
                .map_err(|e| self.err(e, op))?;
            if matches!(
                order.status.raw.as_str(),
                "shipped" | "picked_up" | "received"
            ) {
                return Ok(());
            }
        }
        let sent = match s.delivery {
            Delivery::PickedUp => {
                let body = wire::PickedUp {
                    date: wire::datetime(s.shipped_at),
                };
                self.client
                    .send(
                        Method::POST,
                        &format!("api/my/orders/selling/{number}/mark_picked_up"),
                        &body,
                        op,
                    )
                    .await
            }
            Delivery::Shipped => {
                let tracking_number = s
                    .tracking_number
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        self.err(
                            ChannelError::invalid(
                                "Reverb needs a tracking number to mark an order shipped",
                            )
                            .with_field("tracking_number"),
                            op,
                        )
                    })?;
                let body = wire::Ship {
                    provider: convert::provider(s.carrier.as_deref()).to_owned(),
                    tracking_number: tracking_number.to_owned(),
                    send_notification: self.config.send_notification,
                };
                self.client
                    .send(
                        Method::POST,
                        &format!("api/my/orders/selling/{number}/ship"),
                        &body,
                        op,
                    )
                    .await
            }
        };
        sent.map(|_| ()).map_err(|e| self.err(e, op))
    }

    /// [`Channel::refund`](marketsync_core::Channel::refund).
    pub(crate) async fn refund_order(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let op = "refund";
        let r = &request.refund;
        let number =
            path_id("order number", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        let reason = convert::refund_reason(r.reason).map_err(|e| self.err(e, op))?;
        let amount = match (r.amount, r.lines.is_empty()) {
            (Some(a), _) => a,
            (None, true) => match self
                .refundable_total(number, op)
                .await
                .map_err(|e| self.err(e, op))?
            {
                Some(total) => total,
                None => return Ok(()),
            },
            (None, false) => {
                let amounts: Option<Vec<Money>> = r.lines.iter().map(|l| l.amount).collect();
                let currency = r.lines.iter().find_map(|l| l.amount.map(|m| m.currency()));
                match (amounts, currency) {
                    (Some(a), Some(c)) => Money::sum(c, a.iter()).map_err(|e| {
                        self.err(
                            ChannelError::invalid(e.to_string()).with_field("refund_amount"),
                            op,
                        )
                    })?,
                    _ => {
                        return Err(self.err(
                            ChannelError::invalid(
                                "Reverb refunds an amount: give the refund's amount, or an amount on every line",
                            )
                            .with_field("refund_amount"),
                            op,
                        ));
                    }
                }
            }
        };
        self.refund_request(number, reason, &amount, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// [`Channel::cancel`](marketsync_core::Channel::cancel).
    pub(crate) async fn cancel_order(
        &self,
        request: &CancellationRequest,
    ) -> Result<(), ChannelError> {
        let op = "cancel";
        let c = &request.cancellation;
        if !c.lines.is_empty() {
            return Err(self.err(ChannelError::unsupported(PARTIAL_CANCEL_UNSUPPORTED), op));
        }
        let number =
            path_id("order number", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        let reason = convert::refund_reason(c.reason).map_err(|e| self.err(e, op))?;
        let Some(total) = self
            .refundable_total(number, op)
            .await
            .map_err(|e| self.err(e, op))?
        else {
            return Ok(());
        };
        self.refund_request(number, reason, &total, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `GET /api/my/orders/selling/{order_number}`.
    async fn read_order(
        &self,
        number: &str,
        operation: &'static str,
    ) -> Result<marketsync_core::Order, ChannelError> {
        let value: Value = self
            .client
            .get(&format!("api/my/orders/selling/{number}"), &[], operation)
            .await?;
        let order: wire::Order = serde_json::from_value(value).map_err(|e| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("Reverb order {number} could not be read: {e}"),
            )
        })?;
        convert::to_order(&order, self.config.default_currency)
    }

    /// `POST /api/my/orders/selling/{order_number}/refund_requests` with `state: approved`.
    /// Sent once: several refund requests per order are allowed, so a repeat could refund
    /// twice.
    async fn refund_request(
        &self,
        number: &str,
        reason: &'static str,
        amount: &Money,
        operation: &'static str,
    ) -> Result<(), ChannelError> {
        if amount.is_negative() || amount.amount().is_zero() {
            return Err(
                ChannelError::invalid("a Reverb refund must be for more than zero")
                    .with_field("refund_amount"),
            );
        }
        let body = wire::Refund {
            state: "approved",
            reason,
            refund_amount: convert::money_body(amount),
        };
        self.client
            .send(
                Method::POST,
                &format!("api/my/orders/selling/{number}/refund_requests"),
                &body,
                operation,
            )
            .await
            .map(|_| ())
    }

    /// The full amount of an order, read from Reverb; `None` when it is already refunded or
    /// cancelled (nothing left to refund: a retry after a lost answer lands here).
    async fn refundable_total(
        &self,
        number: &str,
        operation: &'static str,
    ) -> Result<Option<Money>, ChannelError> {
        let order = self.read_order(number, operation).await?;
        if matches!(order.status.raw.as_str(), "refunded" | "cancelled") {
            return Ok(None);
        }
        order.total.map(Some).ok_or_else(|| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("Reverb order {number} has no total to refund"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn order_tokens_round_trip() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap();
        let t = order_token(
            Some(at),
            CursorHold::None,
            "https://x/api/my/orders/selling/all?page=2",
        );
        assert_eq!(
            t.0,
            "2026-03-04T10:00:00Z - https://x/api/my/orders/selling/all?page=2"
        );
        assert_eq!(
            parse_order_token(&t),
            Some((
                Some(at),
                CursorHold::None,
                "https://x/api/my/orders/selling/all?page=2".to_owned()
            ))
        );
        let held = Utc.with_ymd_and_hms(2026, 3, 4, 9, 0, 0).unwrap();
        for hold in [CursorHold::At(held), CursorHold::Previous] {
            let t = order_token(None, hold, "https://x/p");
            assert_eq!(
                parse_order_token(&t),
                Some((None, hold, "https://x/p".to_owned()))
            );
        }
        assert_eq!(parse_order_token(&PageToken("nonsense".into())), None);
        assert_eq!(parse_order_token(&PageToken("- https://x/p".into())), None);
    }
}
