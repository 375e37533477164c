//! ChannelAdvisor's wire types ↔ marketsync's core types. Pure functions.

use marketsync_core::{
    Address, AdjustmentReason, Buyer, ChannelError, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Currency, CurrencySource, ErrorKind, Money, Order,
    OrderLine, OrderState, OrderStatus, Sku,
};

use crate::config::{PriceField, ShippingMethodText};
use crate::wire;

/// ChannelAdvisor's three statuses as one [`OrderState`], first match wins:
///
/// | ChannelAdvisor | state |
/// |---|---|
/// | `ShippingStatus` `Canceled` | `Cancelled` |
/// | `ShippingStatus` `Shipped` | `Shipped` |
/// | `ShippingStatus` `PartiallyShipped` | `PartiallyShipped` |
/// | `ShippingStatus` `ThirdPartyManaged` | `Unknown` (fulfilled outside the seller's hands) |
/// | `CheckoutStatus` `OnHold` | `OnHold` |
/// | `CheckoutStatus` `NotVisited`/`Visited`, or `PaymentStatus` `NotYetSubmitted`/`Failed` | `Unpaid` |
/// | `PaymentStatus` `Submitted` | `PaymentPending` |
/// | `PaymentStatus` `Cleared`/`Deposited` and `ShippingStatus` `Unshipped`/`PendingShipment` | `AwaitingShipment` |
/// | anything else | `Unknown` |
pub(crate) fn order_state(checkout: &str, payment: &str, shipping: &str) -> OrderState {
    match shipping {
        "Canceled" => return OrderState::Cancelled,
        "Shipped" => return OrderState::Shipped,
        "PartiallyShipped" => return OrderState::PartiallyShipped,
        "ThirdPartyManaged" => return OrderState::Unknown,
        _ => {}
    }
    if checkout == "OnHold" {
        return OrderState::OnHold;
    }
    if matches!(checkout, "NotVisited" | "Visited")
        || matches!(payment, "NotYetSubmitted" | "Failed")
    {
        return OrderState::Unpaid;
    }
    if payment == "Submitted" {
        return OrderState::PaymentPending;
    }
    if matches!(payment, "Cleared" | "Deposited")
        && matches!(shipping, "Unshipped" | "PendingShipment")
    {
        return OrderState::AwaitingShipment;
    }
    OrderState::Unknown
}

/// The raw status text kept with an order: `Checkout: Completed, Payment: Cleared, Shipping:
/// Unshipped`.
pub(crate) fn raw_status(checkout: &str, payment: &str, shipping: &str) -> String {
    format!("Checkout: {checkout}, Payment: {payment}, Shipping: {shipping}")
}

/// The server-side `$filter` for the order states the engine asks for, or `None` when they
/// cannot all be expressed (then every order is downloaded and the engine decides). Each
/// state's clause is a superset of the orders [`order_state`] maps to it, so no order of a
/// wanted state is ever left on the server.
pub(crate) fn status_filter(states: &[OrderState]) -> Option<String> {
    if states.is_empty() {
        return None;
    }
    let mut clauses = Vec::new();
    for s in states {
        let clause = match s {
            OrderState::Cancelled => "ShippingStatus eq 'Canceled'",
            OrderState::Shipped => "ShippingStatus eq 'Shipped'",
            OrderState::PartiallyShipped => "ShippingStatus eq 'PartiallyShipped'",
            OrderState::OnHold => "CheckoutStatus eq 'OnHold'",
            OrderState::Unpaid => {
                "CheckoutStatus eq 'NotVisited' or CheckoutStatus eq 'Visited' or PaymentStatus eq 'NotYetSubmitted' or PaymentStatus eq 'Failed'"
            }
            OrderState::PaymentPending => "PaymentStatus eq 'Submitted'",
            OrderState::AwaitingShipment => {
                "PaymentStatus eq 'Cleared' or PaymentStatus eq 'Deposited'"
            }
            _ => return None,
        };
        if !clauses.contains(&clause) {
            clauses.push(clause);
        }
    }
    Some(clauses.join(" or "))
}

/// The shipping method text of an order (matched exactly against shipping mappings).
pub(crate) fn shipping_text(
    carrier: Option<&str>,
    class: Option<&str>,
    how: ShippingMethodText,
) -> Option<String> {
    let carrier = carrier.map(str::trim).filter(|s| !s.is_empty());
    let class = class.map(str::trim).filter(|s| !s.is_empty());
    match how {
        ShippingMethodText::Class => class.map(str::to_owned),
        ShippingMethodText::Carrier => carrier.map(str::to_owned),
        _ => match (carrier, class) {
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.or(b).map(str::to_owned),
        },
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn unreadable(order_id: u64, why: impl std::fmt::Display) -> ChannelError {
    ChannelError::new(
        ErrorKind::Channel,
        format!("ChannelAdvisor order {order_id} could not be read: {why}"),
    )
}

/// A downloaded order as a core [`Order`]. The currency is the order's `Currency`, else
/// `default_currency`; lines come from `Items` (`ID` is the line id, `ProductID` the listing).
pub(crate) fn to_order(
    o: &wire::Order,
    default_currency: Currency,
    how: ShippingMethodText,
) -> Result<Order, ChannelError> {
    let (currency, currency_source) = match non_empty(&o.currency) {
        Some(code) => (
            Currency::new(&code).map_err(|e| unreadable(o.id, e))?,
            CurrencySource::Channel,
        ),
        None => (default_currency, CurrencySource::IntegrationDefault),
    };
    let money = |d: Option<rust_decimal::Decimal>| d.map(|a| Money::new(a, currency));
    let checkout = o.checkout_status.as_deref().unwrap_or("");
    let payment = o.payment_status.as_deref().unwrap_or("");
    let shipping = o.shipping_status.as_deref().unwrap_or("");
    let mut lines = Vec::with_capacity(o.items.len());
    for item in &o.items {
        let quantity = u32::try_from(item.quantity).map_err(|_| {
            unreadable(
                o.id,
                format!("line {} has quantity {}", item.id, item.quantity),
            )
        })?;
        let sku = match non_empty(&item.sku) {
            Some(s) => Some(Sku::new(s).map_err(|e| unreadable(o.id, e))?),
            None => None,
        };
        lines.push(OrderLine {
            line_id: item.id.to_string(),
            sku,
            listing_id: item
                .product_id
                .and_then(|p| ChannelListingId::new(p.to_string()).ok()),
            title: item.title.clone().unwrap_or_default(),
            quantity,
            unit_price: Money::new(item.unit_price.unwrap_or_default(), currency),
        });
    }
    let name = [&o.shipping_first_name, &o.shipping_last_name]
        .iter()
        .filter_map(|s| non_empty(s))
        .collect::<Vec<_>>()
        .join(" ");
    let address = Address {
        name: (!name.is_empty()).then_some(name),
        company: non_empty(&o.shipping_company_name),
        line1: non_empty(&o.shipping_address_line1),
        line2: non_empty(&o.shipping_address_line2),
        city: non_empty(&o.shipping_city),
        region: non_empty(&o.shipping_state_or_province),
        postal_code: non_empty(&o.shipping_postal_code),
        country: non_empty(&o.shipping_country),
        phone: non_empty(&o.shipping_daytime_phone),
    };
    Ok(Order {
        channel_order_id: ChannelOrderId::new(o.id.to_string()).map_err(|e| unreadable(o.id, e))?,
        marketplace_order_id: non_empty(&o.site_order_id),
        site: non_empty(&o.site_name),
        created_at: o.created_date_utc,
        updated_at: o.updated_date_utc,
        status: OrderStatus::new(
            order_state(checkout, payment, shipping),
            raw_status(checkout, payment, shipping),
        ),
        currency,
        currency_source,
        lines,
        shipping_method: shipping_text(
            o.requested_shipping_carrier.as_deref(),
            o.requested_shipping_class.as_deref(),
            how,
        ),
        shipping_price: money(o.total_shipping_price),
        tax: money(o.total_tax_price),
        total: money(o.total_price),
        shipping_address: (address != Address::default()).then_some(address),
        buyer: Buyer {
            id: non_empty(&o.buyer_user_id),
            name: None,
            email: non_empty(&o.buyer_email_address),
        },
        local_pickup: false,
        revision: None,
    })
}

/// A product as a [`ChannelListing`]. With a label configured, a product carrying it is `Live`
/// (`SoldOut` when `TotalAvailableQuantity` is 0) and one without it is `Ended`: ChannelAdvisor
/// only sends labelled products to the marketplace. Without a label every product is `Live`.
/// `raw_state` lists the product's labels as sent (`Labels: A, B`). The price is the value of
/// `price.0` (the configured price field) in `price.1` (products carry no currency: the
/// configured or the profile's one); none without a currency or a value.
pub(crate) fn to_listing(
    p: &wire::Product,
    label: Option<&str>,
    price: (PriceField, Option<Currency>),
) -> Option<ChannelListing> {
    let names: Vec<&str> = p.labels.iter().flatten().map(|l| l.name.as_str()).collect();
    let quantity = p
        .total_available_quantity
        .map(|q| q.clamp(0, u32::MAX as i64) as u32);
    let state = match label {
        Some(l) if !names.contains(&l) => ChannelListingState::Ended,
        _ if quantity == Some(0) => ChannelListingState::SoldOut,
        _ => ChannelListingState::Live,
    };
    Some(ChannelListing {
        id: ChannelListingId::new(p.id.to_string()).ok()?,
        sku: p.sku.as_deref().and_then(|s| Sku::new(s).ok()),
        title: p.title.clone(),
        price: price
            .1
            .and_then(|currency| Some(Money::new(p.price(price.0)?, currency))),
        quantity,
        state,
        raw_state: format!("Labels: {}", names.join(", ")),
    })
}

/// ChannelAdvisor's `AdjustmentReason` name. `ShippingDamage` (and any later reason) has no
/// ChannelAdvisor counterpart and is sent as `GeneralAdjustment`.
pub(crate) fn adjustment_reason(reason: AdjustmentReason) -> &'static str {
    match reason {
        AdjustmentReason::GeneralAdjustment => "GeneralAdjustment",
        AdjustmentReason::ItemNotAvailable => "ItemNotAvailable",
        AdjustmentReason::CustomerReturnedItem => "CustomerReturnedItem",
        AdjustmentReason::CouldNotShip => "CouldNotShip",
        AdjustmentReason::BuyerCancelled => "BuyerCancelled",
        AdjustmentReason::ShippingAddressUndeliverable => "ShippingAddressUndeliverable",
        AdjustmentReason::MerchandiseNotReceived => "MerchandiseNotReceived",
        _ => "GeneralAdjustment",
    }
}

/// A ChannelAdvisor numeric id (order, order item, product) from its text.
pub(crate) fn numeric_id(what: &str, id: &str) -> Result<u64, ChannelError> {
    id.parse::<u64>().map_err(|_| {
        ChannelError::invalid(format!(
            "{id:?} is not a ChannelAdvisor {what} id (a number)"
        ))
        .with_field(what.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        use OrderState::*;
        let cases = [
            ("Completed", "Cleared", "Unshipped", AwaitingShipment),
            (
                "CompletedAndVisited",
                "Deposited",
                "PendingShipment",
                AwaitingShipment,
            ),
            ("Completed", "Submitted", "Unshipped", PaymentPending),
            ("Completed", "NotYetSubmitted", "Unshipped", Unpaid),
            ("Visited", "Cleared", "Unshipped", Unpaid),
            ("Completed", "Failed", "Unshipped", Unpaid),
            ("OnHold", "Cleared", "Unshipped", OnHold),
            ("Completed", "Cleared", "Shipped", Shipped),
            ("Completed", "Cleared", "PartiallyShipped", PartiallyShipped),
            ("Completed", "Cleared", "Canceled", Cancelled),
            ("Completed", "Cleared", "ThirdPartyManaged", Unknown),
            ("Disabled", "Cleared", "", Unknown),
        ];
        for (c, p, s, want) in cases {
            assert_eq!(order_state(c, p, s), want, "{c}/{p}/{s}");
        }
        assert_eq!(
            raw_status("Completed", "Cleared", "Unshipped"),
            "Checkout: Completed, Payment: Cleared, Shipping: Unshipped"
        );
    }

    #[test]
    fn filters_cover_their_states() {
        assert_eq!(status_filter(&[]), None);
        assert_eq!(status_filter(&[OrderState::Completed]), None);
        assert_eq!(
            status_filter(&[OrderState::AwaitingShipment, OrderState::Cancelled]).unwrap(),
            "PaymentStatus eq 'Cleared' or PaymentStatus eq 'Deposited' or ShippingStatus eq 'Canceled'"
        );
    }

    #[test]
    fn shipping_texts() {
        let t = |how| shipping_text(Some("UPS"), Some("Ground"), how);
        assert_eq!(t(ShippingMethodText::Class).as_deref(), Some("Ground"));
        assert_eq!(t(ShippingMethodText::Carrier).as_deref(), Some("UPS"));
        assert_eq!(
            t(ShippingMethodText::CarrierAndClass).as_deref(),
            Some("UPS Ground")
        );
        assert_eq!(
            shipping_text(None, Some(" "), ShippingMethodText::CarrierAndClass),
            None
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(
            adjustment_reason(AdjustmentReason::BuyerCancelled),
            "BuyerCancelled"
        );
        assert_eq!(
            adjustment_reason(AdjustmentReason::ShippingDamage),
            "GeneralAdjustment"
        );
        assert!(numeric_id("order", "12a").is_err());
        assert_eq!(numeric_id("order", "12").unwrap(), 12);
    }
}
