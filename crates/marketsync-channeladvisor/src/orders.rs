//! Orders: the download by export flag, reads by id, the export mark, shipments, refunds and
//! cancellations (adjustments), each resend checked against the ids the order already carries.

use std::collections::{BTreeSet, HashSet};

use marketsync_core::{
    CancellationRequest, ChannelError, ChannelOrderId, Currency, ErrorKind, IdempotencyKey,
    OrderPage, OrderQuery, PageToken, RefundRequest, RejectedOrder, ShipmentRequest,
};
use serde_json::Value;

use crate::channel::{ChannelAdvisorChannel, with_status};
use crate::convert::{self, numeric_id};
use crate::{decode, wire};

/// Orders per `fetch_orders_by_id` request: the `$filter` holds one `ID eq n` clause each (20,
/// as the SKU filters of listing reads, keeps the filter far below any URL limit).
pub const ORDERS_BY_ID_PER_REQUEST: usize = 20;

impl ChannelAdvisorChannel {
    /// The `$filter` of an order download.
    fn order_filter(&self, query: &OrderQuery) -> String {
        let mut clauses = vec![self.profile_clause()];
        if let Some(since) = query.created_since {
            clauses.push(format!("CreatedDateUtc ge {}", wire::odata_datetime(since)));
        }
        if let Some(site) = &self.config.site_name {
            clauses.push(format!("SiteName eq {}", wire::odata_string(site)));
        }
        if let Some(states) = convert::status_filter(&query.states) {
            clauses.push(format!("({states})"));
        }
        clauses.join(" and ")
    }

    /// Reads an order whose items the page cut, on its own.
    async fn read_whole_order(
        &self,
        order: &wire::Order,
        options: decode::OrderOptions,
        operation: &'static str,
    ) -> Result<marketsync_core::Order, RejectedOrder> {
        let reject = |error: ChannelError| RejectedOrder {
            channel_order_id: ChannelOrderId::new(order.id.to_string()).ok(),
            error: self.err(error, operation),
        };
        // More than 20 items: the list cut them; the order read on its own has them all.
        let url = self
            .client
            .url(
                &format!("Orders({})", order.id),
                &[("$expand", "Items,Fulfillments".to_owned())],
            )
            .map_err(reject)?;
        let response = self
            .client
            .get_response(&url, operation)
            .await
            .map_err(reject)?;
        decode::order(response.bytes(), options).map_err(|e| reject(with_status(e, &response)))
    }

    /// One request of [`fetch_orders_by_id`](Channel::fetch_orders_by_id): the orders of
    /// `ids` (numbers), every page of the answer, into `out`.
    async fn orders_by_id(
        &self,
        ids: &[(u64, ChannelOrderId)],
        options: decode::OrderOptions,
        out: &mut OrderPage,
    ) -> Result<(), ChannelError> {
        let op = "fetch_orders_by_id";
        let mut clauses = vec![self.profile_clause()];
        if let Some(site) = &self.config.site_name {
            clauses.push(format!("SiteName eq {}", wire::odata_string(site)));
        }
        let any: Vec<String> = ids.iter().map(|(n, _)| format!("ID eq {n}")).collect();
        clauses.push(format!("({})", any.join(" or ")));
        let mut url = self
            .client
            .url(
                "Orders",
                &[
                    ("$filter", clauses.join(" and ")),
                    ("$expand", "Items,Fulfillments".to_owned()),
                ],
            )
            .map_err(|e| self.err(e, op))?;
        let mut answered: HashSet<String> = HashSet::new();
        let mut anonymous = false;
        loop {
            let response = self
                .client
                .get_response(&url, op)
                .await
                .map_err(|e| self.err(e, op))?;
            let (entries, next_link) = decode::order_entries(response.bytes(), options)
                .map_err(|e| self.err(with_status(e, &response), op))?;
            for entry in entries {
                let result = match entry {
                    decode::Entry::Read(o) => Ok(*o),
                    decode::Entry::Rejected(r) => Err(r),
                    decode::Entry::ItemsCut(o) => {
                        match self.read_whole_order(&o, options, op).await {
                            Err(r)
                                if r.error.kind() == ErrorKind::Auth || r.error.is_temporary() =>
                            {
                                return Err(r.error);
                            }
                            other => other,
                        }
                    }
                };
                match result {
                    Ok(o) => {
                        answered.insert(o.channel_order_id.as_str().to_owned());
                        out.orders.push(o);
                    }
                    Err(r) => match r.channel_order_id {
                        Some(id) => {
                            answered.insert(id.as_str().to_owned());
                            out.rejected.push(RejectedOrder {
                                channel_order_id: Some(id),
                                error: self.err(r.error, op),
                            });
                        }
                        None => anonymous = true,
                    },
                }
            }
            match next_link {
                Some(next) => url = next,
                None => break,
            }
        }
        if anonymous {
            for (n, id) in ids {
                if !answered.contains(&n.to_string()) {
                    out.rejected.push(RejectedOrder {
                        channel_order_id: Some(id.clone()),
                        error: self.err(
                            ChannelError::new(
                                ErrorKind::Channel,
                                "ChannelAdvisor sent an order of this read that could not be read, without a readable ID, and this order was not among those read",
                            ),
                            op,
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The carrier and class a shipment is sent with: the given ones (blank counts as none),
    /// and for one that is missing the order's requested one (one read of the order, only
    /// then). `Invalid` (field `carrier` or `method`) when one is still missing.
    async fn shipping_service(
        &self,
        order_id: u64,
        carrier: Option<&str>,
        class: Option<&str>,
        op: &'static str,
    ) -> Result<(String, String), ChannelError> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (mut carrier, mut class) = (given(carrier), given(class));
        if carrier.is_none() || class.is_none() {
            let url = self
                .client
                .url(
                    &format!("Orders({order_id})"),
                    &[(
                        "$select",
                        "ID,RequestedShippingCarrier,RequestedShippingClass".to_owned(),
                    )],
                )
                .map_err(|e| self.err(e, op))?;
            let requested: wire::RequestedShipping = self
                .client
                .get(&url, op)
                .await
                .map_err(|e| self.err(e, op))?;
            carrier = carrier.or_else(|| given(requested.carrier.as_deref()));
            class = class.or_else(|| given(requested.class.as_deref()));
        }
        match (carrier, class) {
            (Some(carrier), Some(class)) => Ok((carrier, class)),
            (None, _) => Err(self.err(
                ChannelError::invalid(format!(
                    "ChannelAdvisor needs a shipping carrier to ship order {order_id}, and neither the shipment nor the order names one: give the shipment's carrier"
                ))
                .with_field("carrier"),
                op,
            )),
            (_, None) => Err(self.err(
                ChannelError::invalid(format!(
                    "ChannelAdvisor needs a shipping class to ship order {order_id}, and neither the shipment nor the order names one: give the shipment's method (map the order's shipping text to a service)"
                ))
                .with_field("method"),
                op,
            )),
        }
    }

    /// The `SellerFulfillmentID`s and `SellerAdjustmentID`s the order already carries:
    /// `GET /v1/Orders(ID)?$select=ID&$expand=Fulfillments,Adjustments`.
    ///
    /// ChannelAdvisor keeps the ids it was sent but does not refuse a second request with the
    /// same one (unconfirmed: nothing documents it doing so, so the safe reading is that it
    /// would ship or adjust twice). A resend — an earlier attempt may have been applied without
    /// its outcome being recorded — therefore reads them first and skips what is there.
    async fn applied_keys(
        &self,
        order_id: u64,
        operation: &'static str,
    ) -> Result<BTreeSet<String>, ChannelError> {
        let url = self
            .client
            .url(
                &format!("Orders({order_id})"),
                &[
                    ("$select", "ID".to_owned()),
                    ("$expand", "Fulfillments,Adjustments".to_owned()),
                ],
            )
            .map_err(|e| self.err(e, operation))?;
        let order: wire::AppliedKeys = self
            .client
            .get(&url, operation)
            .await
            .map_err(|e| self.err(e, operation))?;
        Ok(order
            .fulfillments
            .into_iter()
            .filter_map(|f| f.seller_fulfillment_id)
            .chain(
                order
                    .adjustments
                    .into_iter()
                    .filter_map(|a| a.seller_adjustment_id),
            )
            .collect())
    }

    async fn adjust(
        &self,
        order_id: &ChannelOrderId,
        order_body: Option<wire::Adjust>,
        item_bodies: Vec<(u64, wire::Adjust)>,
        operation: &'static str,
        resend: bool,
    ) -> Result<(), ChannelError> {
        let oid = numeric_id("order", order_id.as_str()).map_err(|e| self.err(e, operation))?;
        let applied = if resend {
            self.applied_keys(oid, operation).await?
        } else {
            BTreeSet::new()
        };
        if let Some(body) = order_body.filter(|b| !applied.contains(&b.seller_adjustment_id)) {
            self.client
                .post(
                    &format!("Orders({oid})/Adjust"),
                    Some(&body),
                    operation,
                    false,
                )
                .await
                .map_err(|e| self.err(e, operation))?;
        }
        for (item, body) in item_bodies
            .into_iter()
            .filter(|(_, b)| !applied.contains(&b.seller_adjustment_id))
        {
            self.client
                .post(
                    &format!("OrderItems({item})/Adjust"),
                    Some(&body),
                    operation,
                    false,
                )
                .await
                .map_err(|e| self.err(e, operation))?;
        }
        Ok(())
    }

    /// `GET /v1/Orders?exported=false&$filter=..&$expand=Items,Fulfillments`, following
    /// `@odata.nextLink`. No cursor: the export flag, set by
    /// [`acknowledge_order`](Channel::acknowledge_order) after the engine recorded an order, is
    /// the feed position.
    pub(crate) async fn download_orders(
        &self,
        query: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders";
        let url = match &query.page {
            Some(p) => p.0.clone(),
            None => self
                .client
                .url(
                    "Orders",
                    &[
                        ("exported", "false".to_owned()),
                        ("$filter", self.order_filter(query)),
                        ("$expand", "Items,Fulfillments".to_owned()),
                    ],
                )
                .map_err(|e| self.err(e, op))?,
        };
        let response = self
            .client
            .get_response(&url, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let options = decode::OrderOptions {
            default_currency: query.default_currency,
            shipping_method_text: self.config.shipping_method_text,
        };
        let (entries, next_link) = decode::order_entries(response.bytes(), options)
            .map_err(|e| self.err(with_status(e, &response), op))?;
        let mut out = OrderPage {
            next_page: next_link.map(PageToken),
            ..OrderPage::default()
        };
        for entry in entries {
            match entry {
                decode::Entry::Read(o) => out.orders.push(*o),
                decode::Entry::Rejected(r) => out.rejected.push(RejectedOrder {
                    channel_order_id: r.channel_order_id,
                    error: self.err(r.error, op),
                }),
                decode::Entry::ItemsCut(o) => match self.read_whole_order(&o, options, op).await {
                    Ok(o) => out.orders.push(o),
                    // A temporary failure fails the page rather than recording the order as
                    // unreadable: it is read again on the next attempt.
                    Err(r) if r.error.kind() == ErrorKind::Auth || r.error.is_temporary() => {
                        return Err(r.error);
                    }
                    Err(r) => out.rejected.push(r),
                },
            }
        }
        Ok(out)
    }

    /// `GET /v1/Orders?$filter=ProfileID eq P [and SiteName eq 'S'] and (ID eq 1 or ID eq 2 ..)
    /// &$expand=Items,Fulfillments`, [`ORDERS_BY_ID_PER_REQUEST`] ids a request, following
    /// `@odata.nextLink`; no `exported` parameter, so exported orders are read too. An order
    /// ChannelAdvisor does not know (or of another profile or site) is simply not in the
    /// answer. An order that cannot be read is rejected with its id (when its own `ID` cannot
    /// be read either, every asked order missing from the answer is rejected). An id that is
    /// not a number cannot be a ChannelAdvisor order and is not sent. A failed request fails
    /// the call.
    pub(crate) async fn read_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let mut asked: Vec<(u64, ChannelOrderId)> = Vec::new();
        for id in ids {
            match numeric_id("order", id.as_str()) {
                Ok(n) if !asked.iter().any(|(m, _)| *m == n) => asked.push((n, id.clone())),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(order = %id.as_str(), "not a ChannelAdvisor order id; left out");
                }
            }
        }
        let options = decode::OrderOptions {
            default_currency,
            shipping_method_text: self.config.shipping_method_text,
        };
        let mut out = OrderPage::default();
        for chunk in asked.chunks(ORDERS_BY_ID_PER_REQUEST) {
            self.orders_by_id(chunk, options, &mut out).await?;
        }
        Ok(out)
    }

    /// `POST /v1/Orders(ID)/Export` (204). Marking an order exported twice is harmless, so the
    /// call is retried on temporary failures.
    pub(crate) async fn mark_exported(&self, order: &ChannelOrderId) -> Result<(), ChannelError> {
        let op = "acknowledge_order";
        let id = numeric_id("order", order.as_str()).map_err(|e| self.err(e, op))?;
        self.client
            .post::<Value>(&format!("Orders({id})/Export"), None, op, true)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `POST /v1/Orders(ID)/Ship` with `DeliveryStatus: Complete` and the idempotency key as
    /// `SellerFulfillmentID`; `Items` only for a partial shipment.
    ///
    /// `ShippingCarrier` and `ShippingClass` are always sent: ChannelAdvisor needs both to pass
    /// the shipment on (they must be a carrier/class pair of the account). They are the
    /// shipment's `carrier` and `method`; one the host leaves out (no shipping service mapped)
    /// is taken from the order itself — `RequestedShippingCarrier` / `RequestedShippingClass`,
    /// what the buyer chose, read with
    /// `GET /v1/Orders(ID)?$select=ID,RequestedShippingCarrier,RequestedShippingClass` (see
    /// `shipping_service`). Where the order has none either, nothing
    /// is sent: an `Invalid` error on the field `method` (or `carrier`) says which is missing.
    pub(crate) async fn send_shipment(
        &self,
        request: &ShipmentRequest,
    ) -> Result<(), ChannelError> {
        let op = "ship";
        let s = &request.shipment;
        let id = numeric_id("order", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        let mut items = Vec::with_capacity(s.lines.len());
        for l in &s.lines {
            items.push(wire::ShipItem {
                order_item_id: numeric_id("order item", &l.line_id).map_err(|e| self.err(e, op))?,
                quantity: l.quantity,
            });
        }
        if request.resend
            && self
                .applied_keys(id, op)
                .await?
                .contains(request.idempotency_key.as_str())
        {
            // The earlier attempt was applied: the fulfilment with this key is there.
            return Ok(());
        }
        let (carrier, class) = self
            .shipping_service(id, s.carrier.as_deref(), s.method.as_deref(), op)
            .await?;
        let body = wire::Ship {
            value: wire::ShipValue {
                shipped_date_utc: wire::odata_datetime(s.shipped_at),
                tracking_number: s.tracking_number.clone(),
                shipping_carrier: Some(carrier),
                shipping_class: Some(class),
                distribution_center_id: self.config.distribution_center_id,
                delivery_status: "Complete",
                seller_fulfillment_id: request.idempotency_key.to_string(),
                items,
            },
        };
        self.client
            .post(&format!("Orders({id})/Ship"), Some(&body), op, false)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `POST /v1/Orders(ID)/Adjust` (whole order, `AdjustmentAmount` when an amount is given)
    /// or `POST /v1/OrderItems(ID)/Adjust` per line (`Quantity` and/or `ItemAdjustment`), with
    /// `RefundOnly: true`, the reason and the idempotency key as `SellerAdjustmentID`
    /// (`<key>-<line id>` per line).
    pub(crate) async fn send_refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let r = &request.refund;
        let lines = r
            .lines
            .iter()
            .map(|l| {
                (
                    l.line_id.as_str(),
                    l.quantity,
                    l.amount.map(|m| wire::number(m.amount())),
                )
            })
            .collect();
        let adjustment = Adjustment {
            reason: convert::adjustment_reason(r.reason),
            refund_restock: Some(r.restock),
            amount: r.amount.map(|m| wire::number(m.amount())),
            lines,
        };
        self.send_adjustment(
            &request.order_id,
            &request.idempotency_key,
            request.resend,
            adjustment,
            "refund",
        )
        .await
    }

    /// `POST /v1/Orders(ID)/Adjust` (whole order) or `POST /v1/OrderItems(ID)/Adjust` per line
    /// with `Quantity`, the reason and the idempotency key as `SellerAdjustmentID`.
    pub(crate) async fn send_cancellation(
        &self,
        request: &CancellationRequest,
    ) -> Result<(), ChannelError> {
        let c = &request.cancellation;
        let lines = c
            .lines
            .iter()
            .map(|l| (l.line_id.as_str(), Some(l.quantity), None))
            .collect();
        let adjustment = Adjustment {
            reason: convert::adjustment_reason(c.reason),
            refund_restock: None,
            amount: None,
            lines,
        };
        self.send_adjustment(
            &request.order_id,
            &request.idempotency_key,
            request.resend,
            adjustment,
            "cancel",
        )
        .await
    }

    /// Sends `adjustment` (a refund or a cancellation) with the idempotency key as
    /// `SellerAdjustmentID` (`<key>-<line id>` per line): for the whole order when it has no
    /// lines, else per line.
    async fn send_adjustment(
        &self,
        order_id: &ChannelOrderId,
        key: &IdempotencyKey,
        resend: bool,
        adjustment: Adjustment<'_>,
        op: &'static str,
    ) -> Result<(), ChannelError> {
        let key = key.as_str();
        let refund_only = adjustment.refund_restock.map(|_| true);
        if adjustment.lines.is_empty() {
            let body = wire::Adjust {
                reason: adjustment.reason,
                seller_adjustment_id: key.to_owned(),
                adjustment_amount: adjustment.amount,
                quantity: None,
                item_adjustment: None,
                refund_only,
                restock: adjustment.refund_restock,
            };
            return self
                .adjust(order_id, Some(body), Vec::new(), op, resend)
                .await;
        }
        let mut items = Vec::with_capacity(adjustment.lines.len());
        for (line_id, quantity, amount) in adjustment.lines {
            let item = numeric_id("order item", line_id).map_err(|e| self.err(e, op))?;
            items.push((
                item,
                wire::Adjust {
                    reason: adjustment.reason,
                    seller_adjustment_id: format!("{key}-{line_id}"),
                    adjustment_amount: None,
                    quantity,
                    item_adjustment: amount,
                    refund_only,
                    restock: adjustment.refund_restock,
                },
            ));
        }
        self.adjust(order_id, None, items, op, resend).await
    }
}

/// A refund or a cancellation as ChannelAdvisor adjusts it.
struct Adjustment<'a> {
    reason: &'static str,
    /// For a refund (`RefundOnly: true`): whether to restock.
    refund_restock: Option<bool>,
    /// The amount of a whole-order adjustment.
    amount: Option<serde_json::Value>,
    /// (line id, quantity, amount) per line; none for the whole order.
    lines: Vec<(&'a str, Option<u32>, Option<serde_json::Value>)>,
}
