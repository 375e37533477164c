//! Orders: downloads by date window (created, then last-updated), reads by id, shipments.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::{
    ChannelError, ChannelKind, ChannelOrderId, Cursor, ErrorKind, Order, OrderPage, OrderQuery,
    PageToken, ShipmentRequest,
};
use marketsync_http::adapter::{cursor_text, with_status};
use marketsync_http::{CursorHold, Method};

use crate::channel::TraderaChannel;
use crate::convert::{self, numeric_id};
use crate::{decode, wire};

/// The most orders one `GET /v4/orders/{orderIds}` asks for (Tradera documents no maximum;
/// its shipping-codes read of the same shape takes 50).
pub const ORDERS_BY_ID_BATCH: usize = 50;

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

impl TraderaChannel {
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

    fn updated_since(&self, cursor: &Cursor) -> Option<DateTime<Utc>> {
        marketsync_http::adapter::updated_since(
            cursor,
            self.config.order_overlap,
            convert::parse_time,
            ChannelKind::Tradera,
        )
    }

    /// [`Channel::fetch_orders`](marketsync_core::Channel::fetch_orders).
    pub(crate) async fn download_orders(
        &self,
        query: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
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
        let page = decode::orders_page(response.bytes())
            .map_err(|e| self.err(with_status(e, response.status().as_u16()), op))?;
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

    /// [`Channel::fetch_orders_by_id`](marketsync_core::Channel::fetch_orders_by_id).
    pub(crate) async fn reread_orders(
        &self,
        ids: &[ChannelOrderId],
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
            let page = decode::read_orders(response.bytes(), op)
                .map_err(|e| self.err(with_status(e, response.status().as_u16()), op))?;
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

    /// [`Channel::ship`](marketsync_core::Channel::ship).
    pub(crate) async fn ship_order(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let op = "ship";
        let id = numeric_id("order id", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        self.client
            .call(Method::POST, &format!("v4/orders/{id}/ship"), true, op)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e, op))
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
}
