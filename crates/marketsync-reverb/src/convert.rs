//! Reverb's wire types ↔ marketsync's core types. Pure functions.

use marketsync_core::{
    Address, AdjustmentReason, Buyer, ChannelError, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Currency, CurrencySource, EndReason, ErrorKind, Money,
    Order, OrderLine, OrderState, OrderStatus, Sku,
};
use rust_decimal::Decimal;

use crate::wire;

/// A Reverb order `status` as an [`OrderState`]; the raw text is kept beside it.
///
/// | Reverb | state |
/// |---|---|
/// | `unpaid` | `Unpaid` |
/// | `payment_pending`, `pending_review`, `partially_paid` | `PaymentPending` |
/// | `blocked` | `OnHold` |
/// | `paid` | `AwaitingShipment` (or awaiting pickup, see [`Order::local_pickup`]) |
/// | `shipped` | `Shipped` |
/// | `picked_up`, `received` | `Completed` |
/// | `refunded` | `Refunded` |
/// | `cancelled` | `Cancelled` |
/// | anything else (Reverb's list is treated as open) | `Unknown` |
pub(crate) fn order_state(status: &str) -> OrderState {
    match status {
        "unpaid" => OrderState::Unpaid,
        "payment_pending" | "pending_review" | "partially_paid" => OrderState::PaymentPending,
        "blocked" => OrderState::OnHold,
        "paid" => OrderState::AwaitingShipment,
        "shipped" => OrderState::Shipped,
        "picked_up" | "received" => OrderState::Completed,
        "refunded" => OrderState::Refunded,
        "cancelled" => OrderState::Cancelled,
        _ => OrderState::Unknown,
    }
}

/// A listing's `state.slug` as a [`ChannelListingState`].
///
/// | Reverb slug | state |
/// |---|---|
/// | `draft` | `Draft` |
/// | `live` | `Live` (`SoldOut` when `inventory` is 0) |
/// | `sold_out`, `sold`, `ordered` | `SoldOut` |
/// | `ended` | `Ended` (ended outside, or by reconcile) |
/// | `suspended`, `seller_unavailable`, anything else | `Other` (may come back; not a broken link) |
///
/// Reverb's full list of slugs in responses is unconfirmed; the query values documented are
/// `draft ended live ordered sold_out suspended seller_unavailable`.
pub(crate) fn listing_state(slug: &str, inventory: Option<i64>) -> ChannelListingState {
    match slug {
        "draft" => ChannelListingState::Draft,
        "live" if inventory == Some(0) => ChannelListingState::SoldOut,
        "live" => ChannelListingState::Live,
        "sold_out" | "sold" | "ordered" => ChannelListingState::SoldOut,
        "ended" => ChannelListingState::Ended,
        _ => ChannelListingState::Other,
    }
}

/// The shipping method text of an order, matched exactly by shipping mappings: Reverb's
/// `shipping_method` exactly as sent (`shipped`, `local`, `expedited_shipping`, …); when Reverb
/// sent none, `local` for a local-pickup order, else none.
pub(crate) fn shipping_method_text(
    shipping_method: Option<&str>,
    local_pickup: bool,
) -> Option<String> {
    match shipping_method.filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(s.to_owned()),
        None if local_pickup => Some("local".to_owned()),
        None => None,
    }
}

/// The shipping providers Reverb's API takes (swagger 2019 list), with the spellings accepted
/// for each besides its own (compared without case, spaces, hyphens or dots).
const PROVIDERS: &[(&str, &[&str])] = &[
    ("UPS", &[]),
    ("USPS", &[]),
    ("FedEx", &[]),
    ("DHL", &[]),
    ("DHLExpress", &[]),
    ("DHLGlobalMail", &[]),
    ("DHL Deutschland", &["DHL Germany"]),
    ("Canada Post", &[]),
    ("Royal Mail", &[]),
    ("PostNL", &[]),
    ("Australia Post", &[]),
    ("EMS", &[]),
    ("La Poste", &[]),
    ("China Post", &[]),
    ("GLS", &[]),
    ("Parcelforce", &[]),
    ("Purolator", &[]),
    ("Interlogistica", &[]),
    ("Correos España", &["Correos Espana", "Correos"]),
    ("Ukraine Post", &[]),
    ("DPD Germany", &[]),
    ("DPD UK", &[]),
    ("DPD France", &[]),
    ("Other", &[]),
];

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reverb's `provider` for a carrier name: its spelling from Reverb's list when the name matches
/// one (`usps` → `USPS`, `DHL Express` → `DHLExpress`), else `Other`, as Reverb's own Magento
/// plugin does for carriers Reverb does not know.
pub(crate) fn provider(carrier: Option<&str>) -> &'static str {
    let Some(carrier) = carrier.map(fold).filter(|c| !c.is_empty()) else {
        return "Other";
    };
    PROVIDERS
        .iter()
        .find(|(name, aliases)| fold(name) == carrier || aliases.iter().any(|a| fold(a) == carrier))
        .map(|(name, _)| *name)
        .unwrap_or("Other")
}

/// Reverb's refund `reason` for an adjustment reason (the reason list comes from a third-party
/// summary of Reverb's docs, low confidence):
///
/// | reason | Reverb |
/// |---|---|
/// | `CustomerReturnedItem` | `buyer_return` |
/// | `MerchandiseNotReceived` | `lost_shipment` |
/// | `ShippingDamage` | `shipping_damage` |
/// | `ItemNotAvailable`, `CouldNotShip` | `sold_elsewhere` |
/// | `BuyerCancelled` | `accidental_order` |
/// | `ShippingAddressUndeliverable` | `change_shipping_address` |
/// | `GeneralAdjustment` | refused: Reverb has no general reason, and picking one would tell Reverb something untrue |
pub(crate) fn refund_reason(reason: AdjustmentReason) -> Result<&'static str, ChannelError> {
    match reason {
        AdjustmentReason::CustomerReturnedItem => Ok("buyer_return"),
        AdjustmentReason::MerchandiseNotReceived => Ok("lost_shipment"),
        AdjustmentReason::ShippingDamage => Ok("shipping_damage"),
        AdjustmentReason::ItemNotAvailable | AdjustmentReason::CouldNotShip => Ok("sold_elsewhere"),
        AdjustmentReason::BuyerCancelled => Ok("accidental_order"),
        AdjustmentReason::ShippingAddressUndeliverable => Ok("change_shipping_address"),
        _ => Err(ChannelError::invalid(
            "Reverb refunds need a specific reason (returned item, merchandise not received, shipping damage, item not available, could not ship, buyer cancelled, address undeliverable); a general adjustment has no Reverb reason",
        )
        .with_field("reason")),
    }
}

/// Reverb's end `reason`: always `not_sold`. The other value, `reverb_sale`, says the item was
/// sold to a Reverb buyer off the platform and makes Reverb charge fees, which none of the
/// engine's reasons mean.
pub(crate) fn end_reason(_reason: EndReason) -> &'static str {
    "not_sold"
}

/// A money amount as Reverb's decimal string, rounded to the currency's minor units and written
/// with all of them (`12.5 USD` → `"12.50"`, `1200 JPY` → `"1200"`).
pub(crate) fn amount_text(money: &Money) -> String {
    let mut amount = money.round_to_minor_units().amount();
    amount.rescale(money.currency().minor_units());
    amount.to_string()
}

/// A money object to send.
pub(crate) fn money_body(money: &Money) -> wire::MoneyBody {
    wire::MoneyBody {
        amount: amount_text(money),
        currency: money.currency().code().to_owned(),
    }
}

/// A money object as received, exactly from its decimal string.
pub(crate) fn money(m: &wire::Money) -> Result<Money, ChannelError> {
    Money::parse(&m.amount, &m.currency).map_err(|e| {
        ChannelError::new(
            ErrorKind::Channel,
            format!("a Reverb money object could not be read: {e}"),
        )
    })
}

/// A text id checked for use as one path segment (Reverb ids are numbers, listing slugs are
/// `<id>-<words>`): letters, digits, `-` and `_` only.
pub(crate) fn path_id<'a>(what: &'static str, id: &'a str) -> Result<&'a str, ChannelError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(
            ChannelError::invalid(format!("{id:?} is not a Reverb {what}"))
                .with_field(what.replace(' ', "_")),
        )
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A listing as a [`ChannelListing`]. The price is reported when its money object can be read.
pub(crate) fn to_listing(l: &wire::Listing) -> Result<ChannelListing, ChannelError> {
    let unreadable = |why: String| {
        ChannelError::new(
            ErrorKind::Channel,
            format!("Reverb listing {:?} could not be read: {why}", l.id),
        )
    };
    let slug = l
        .state
        .as_ref()
        .and_then(|s| s.slug.clone())
        .unwrap_or_default();
    let price = l
        .price
        .as_ref()
        .and_then(|v| serde_json::from_value::<wire::Money>(v.clone()).ok())
        .and_then(|m| money(&m).ok());
    Ok(ChannelListing {
        id: ChannelListingId::new(l.id.clone()).map_err(|e| unreadable(e.to_string()))?,
        sku: match non_empty(&l.sku) {
            Some(s) => Some(Sku::new(s).map_err(|e| unreadable(e.to_string()))?),
            None => None,
        },
        title: l.title.clone(),
        price,
        quantity: l.inventory.map(|q| q.clamp(0, i64::from(u32::MAX)) as u32),
        state: listing_state(&slug, l.inventory),
        raw_state: slug,
    })
}

/// A selling order as a core [`Order`] with its one line (line id = the order number).
///
/// The currency is the one of the order's money objects (`total`, `amount_product`, `shipping`,
/// `amount_tax`), which must all agree; an order with none uses `default_currency`. The unit
/// price is `amount_product` (Reverb's `amount_product_subtotal` is it times the quantity), or
/// the subtotal divided by the quantity when only that is sent.
pub(crate) fn to_order(o: &wire::Order, default_currency: Currency) -> Result<Order, ChannelError> {
    let unreadable = |why: String| {
        ChannelError::new(
            ErrorKind::Channel,
            format!("Reverb order {} could not be read: {why}", o.order_number),
        )
    };
    let read = |m: &Option<wire::Money>| -> Result<Option<Money>, ChannelError> {
        m.as_ref()
            .map(money)
            .transpose()
            .map_err(|e| unreadable(e.message().to_owned()))
    };
    let total = read(&o.total)?;
    let product = read(&o.amount_product)?;
    let subtotal = read(&o.amount_product_subtotal)?;
    let shipping = read(&o.shipping)?;
    let tax = read(&o.amount_tax)?;
    let amounts = [&total, &product, &subtotal, &shipping, &tax];
    let (currency, currency_source) = match amounts.iter().find_map(|m| m.map(|m| m.currency())) {
        Some(c) => (c, CurrencySource::Channel),
        None => (default_currency, CurrencySource::IntegrationDefault),
    };
    if let Some(other) = amounts
        .iter()
        .filter_map(|m| m.map(|m| m.currency()))
        .find(|c| *c != currency)
    {
        return Err(unreadable(format!(
            "its amounts are in both {currency} and {other}"
        )));
    }
    let quantity = o.quantity.unwrap_or(1);
    let unit_price = match (product, subtotal) {
        (Some(p), _) => p,
        (None, Some(s)) if quantity > 0 => Money::new(
            s.amount()
                .checked_div(Decimal::from(quantity))
                .ok_or_else(|| unreadable("its subtotal cannot be divided".into()))?,
            currency,
        )
        .round_to_minor_units(),
        _ => return Err(unreadable("it has no product amount".into())),
    };
    let order_id =
        ChannelOrderId::new(o.order_number.clone()).map_err(|e| unreadable(e.to_string()))?;
    let sku = match non_empty(&o.sku) {
        Some(s) => Some(Sku::new(s).map_err(|e| unreadable(e.to_string()))?),
        None => None,
    };
    let raw_status = o.status.clone().unwrap_or_default();
    let local_pickup =
        o.local_pickup.unwrap_or(false) || o.shipping_method.as_deref() == Some("local");
    let address = o.shipping_address.as_ref().map(|a| Address {
        name: non_empty(&a.name),
        company: None,
        line1: non_empty(&a.street_address),
        line2: non_empty(&a.extended_address),
        city: non_empty(&a.locality),
        region: non_empty(&a.region),
        postal_code: non_empty(&a.postal_code),
        country: non_empty(&a.country_code),
        phone: non_empty(&a.phone),
    });
    let buyer_name = non_empty(&o.buyer_name).or_else(|| {
        let joined = [&o.buyer_first_name, &o.buyer_last_name]
            .iter()
            .filter_map(|s| non_empty(s))
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    });
    Ok(Order {
        channel_order_id: order_id.clone(),
        marketplace_order_id: non_empty(&o.uuid),
        site: None,
        created_at: o.created_at,
        updated_at: o.updated_at,
        status: OrderStatus::new(order_state(&raw_status), raw_status),
        currency,
        currency_source,
        lines: vec![OrderLine {
            line_id: order_id.as_str().to_owned(),
            sku,
            listing_id: o
                .product_id
                .as_ref()
                .and_then(|p| ChannelListingId::new(p.clone()).ok()),
            title: o.title.clone().unwrap_or_default(),
            quantity,
            unit_price,
        }],
        shipping_method: shipping_method_text(o.shipping_method.as_deref(), local_pickup),
        shipping_price: shipping,
        tax,
        total,
        shipping_address: address.filter(|a| *a != Address::default()),
        buyer: Buyer {
            id: non_empty(&o.buyer_id),
            name: buyer_name,
            email: non_empty(&o.buyer_email),
        },
        local_pickup,
        revision: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status() {
        use OrderState::*;
        let cases = [
            ("unpaid", Unpaid),
            ("payment_pending", PaymentPending),
            ("pending_review", PaymentPending),
            ("partially_paid", PaymentPending),
            ("blocked", OnHold),
            ("paid", AwaitingShipment),
            ("shipped", Shipped),
            ("picked_up", Completed),
            ("received", Completed),
            ("refunded", Refunded),
            ("cancelled", Cancelled),
            ("layaway", Unknown),
            ("", Unknown),
        ];
        for (raw, want) in cases {
            assert_eq!(order_state(raw), want, "{raw}");
        }
    }

    #[test]
    fn listing_states() {
        use ChannelListingState::*;
        assert_eq!(listing_state("live", Some(2)), Live);
        assert_eq!(listing_state("live", Some(0)), SoldOut);
        assert_eq!(listing_state("draft", None), Draft);
        assert_eq!(listing_state("sold_out", None), SoldOut);
        assert_eq!(listing_state("ordered", Some(0)), SoldOut);
        assert_eq!(listing_state("ended", Some(1)), Ended);
        assert_eq!(listing_state("suspended", Some(1)), Other);
        assert_eq!(listing_state("", None), Other);
    }

    #[test]
    fn providers() {
        assert_eq!(provider(Some("usps")), "USPS");
        assert_eq!(provider(Some("Fedex")), "FedEx");
        assert_eq!(provider(Some("DHL Express")), "DHLExpress");
        assert_eq!(provider(Some("DHL Germany")), "DHL Deutschland");
        assert_eq!(provider(Some("royal-mail")), "Royal Mail");
        assert_eq!(provider(Some("Hermes")), "Other");
        assert_eq!(provider(Some(" ")), "Other");
        assert_eq!(provider(None), "Other");
    }

    #[test]
    fn reasons() {
        assert_eq!(
            refund_reason(AdjustmentReason::CustomerReturnedItem).unwrap(),
            "buyer_return"
        );
        assert_eq!(
            refund_reason(AdjustmentReason::BuyerCancelled).unwrap(),
            "accidental_order"
        );
        let e = refund_reason(AdjustmentReason::GeneralAdjustment).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.field(), Some("reason"));
        assert_eq!(end_reason(EndReason::SoldElsewhere), "not_sold");
    }

    #[test]
    fn amounts() {
        assert_eq!(amount_text(&Money::parse("12.5", "USD").unwrap()), "12.50");
        assert_eq!(
            amount_text(&Money::parse("12.345", "USD").unwrap()),
            "12.34"
        );
        assert_eq!(amount_text(&Money::parse("1200", "JPY").unwrap()), "1200");
        assert_eq!(amount_text(&Money::parse("7", "EUR").unwrap()), "7.00");
    }

    #[test]
    fn shipping_texts() {
        assert_eq!(
            shipping_method_text(Some("shipped"), false).as_deref(),
            Some("shipped")
        );
        assert_eq!(
            shipping_method_text(Some("local"), true).as_deref(),
            Some("local")
        );
        assert_eq!(shipping_method_text(None, true).as_deref(), Some("local"));
        assert_eq!(shipping_method_text(Some(""), false), None);
    }

    #[test]
    fn path_ids() {
        assert_eq!(path_id("listing id", "123").unwrap(), "123");
        assert!(path_id("listing id", "12/../x").is_err());
        assert_eq!(
            path_id("order number", "a b").unwrap_err().field(),
            Some("order_number")
        );
    }
}
