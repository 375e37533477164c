//! Tradera's wire types ↔ marketsync's core types. Pure functions.

use chrono::{DateTime, NaiveDateTime, Utc};
use marketsync_core::{
    Address, Buyer, ChannelError, ChannelListing, ChannelListingId, ChannelListingState,
    ChannelOrderId, Currency, CurrencySource, ErrorKind, Money, Order, OrderLine, OrderState,
    OrderStatus, Sku,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::wire;

/// Tradera's item types that are *not* shop items (1 = auction, 3 = fixed price, "Endast Köp
/// Nu"): they end with `DELETE /v4/listings/items/{id}`; every other type is removed with
/// `DELETE /v4/listings/shop-items/{id}`.
pub(crate) const NON_SHOP_ITEM_TYPES: [i32; 2] = [1, 3];

/// A date-time Tradera sent: RFC 3339 with an offset, or without an offset (ASP.NET's usual
/// form), which is read as UTC (whether Tradera means Swedish local time is unconfirmed; the
/// order overlap covers the difference).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Whole Swedish kronor as exact [`Money`] (Tradera's prices are integer SEK, VAT included).
pub(crate) fn sek(kronor: i64) -> Money {
    Money::new(Decimal::from(kronor), Currency::SEK)
}

/// A price as whole kronor for Tradera: the currency must be SEK and the amount a whole number
/// (Tradera takes integers; rounding would change the seller's price).
pub(crate) fn whole_kronor(price: &Money) -> Result<i64, ChannelError> {
    if price.currency() != Currency::SEK {
        return Err(ChannelError::invalid(format!(
            "Tradera prices are in SEK, not {}",
            price.currency().code()
        ))
        .with_field("price"));
    }
    let amount = price.amount();
    if amount.fract() != Decimal::ZERO || amount.is_sign_negative() {
        return Err(ChannelError::invalid(format!(
            "Tradera takes whole, non-negative kronor; {amount} SEK is not"
        ))
        .with_field("price"));
    }
    amount
        .to_i64()
        .filter(|k| *k <= i64::from(i32::MAX))
        .ok_or_else(|| ChannelError::invalid("the price is too large").with_field("price"))
}

/// A listing or order id as the 32-bit number Tradera uses in paths and bodies.
pub(crate) fn numeric_id(what: &str, id: &str) -> Result<i64, ChannelError> {
    id.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n > 0)
        .map(i64::from)
        .ok_or_else(|| ChannelError::invalid(format!("{id:?} is not a Tradera {what}")))
}

/// The item's own references (`ownReferences`), trimmed, empty ones left out.
pub(crate) fn own_references(refs: Option<&[String]>) -> Vec<String> {
    refs.unwrap_or_default()
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A seller item as a [`ChannelListing`]. The SKU is the first own reference (Tradera lets a
/// seller keep several; [`crate::TraderaChannel`] matches a wanted SKU against all of them).
/// Price: the Buy Now price of shop and fixed-price items, else the opening bid, in whole SEK.
/// State: ended when `endDate` has passed, sold out at `remainingQuantity` 0, else live; the raw
/// state is `itemType <n> statusId <n>` (Tradera's status codes are undocumented).
pub(crate) fn to_listing(
    item: &wire::Item<'_>,
    sku: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ChannelListing, ChannelError> {
    let id = ChannelListingId::new(item.id.to_string())
        .map_err(|e| ChannelError::new(ErrorKind::Channel, e.to_string()))?;
    let sku = sku
        .or_else(|| item.references().next())
        .and_then(|s| Sku::new(s).ok());
    let price = match (item.buy_it_now_price, item.buy_it_now_price_specified) {
        (Some(p), Some(true)) => Some(p),
        (Some(p), None) if p > 0 => Some(p),
        _ => item.opening_bid.filter(|p| *p > 0),
    }
    .map(sek);
    let quantity = item.remaining_quantity.map(|q| q.max(0) as u32);
    let ended = item
        .end_date
        .as_ref()
        .and_then(|d| parse_time(d.as_str()))
        .is_some_and(|end| end <= now);
    let state = if ended {
        ChannelListingState::Ended
    } else if quantity == Some(0) {
        ChannelListingState::SoldOut
    } else {
        ChannelListingState::Live
    };
    Ok(ChannelListing {
        id,
        sku,
        title: item
            .short_description
            .as_ref()
            .map(|t| t.as_str().to_owned()),
        price,
        quantity,
        state,
        raw_state: format!(
            "itemType {} statusId {}",
            item.item_type.map(|t| t.to_string()).unwrap_or_default(),
            item.status_id.map(|t| t.to_string()).unwrap_or_default()
        ),
    })
}

/// An order's state. Tradera's `SellerOrder` has no status field: an order with a payment
/// (`sellerOrderPayments`, TraderaPay only) is `AwaitingShipment` (raw `paid`), any other is
/// `Unpaid` (raw `unpaid`) — a seller paid outside TraderaPay imports unpaid orders by adding
/// `Unpaid` to the integration's imported states.
pub(crate) fn order_status(order: &wire::SellerOrder) -> OrderStatus {
    let paid = order
        .seller_order_payments
        .as_ref()
        .is_some_and(|p| !p.is_empty());
    if paid {
        OrderStatus::new(OrderState::AwaitingShipment, "paid")
    } else {
        OrderStatus::new(OrderState::Unpaid, "unpaid")
    }
}

/// Whether a shipping type is a pickup (`Avhämtning` in Swedish; "pickup" in English).
pub(crate) fn is_pickup(shipping_type: Option<&str>) -> bool {
    shipping_type.is_some_and(|t| {
        let t = t.to_lowercase();
        t.contains("avhämt") || t.contains("pickup") || t.contains("pick up")
    })
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A Tradera order as an [`Order`]: integer SEK prices as exact SEK [`Money`], the shipping
/// type text as `shipping_method` (matched by shipping mappings), `orderId` as the channel order
/// id and `purchaseOrderId` as the marketplace order id. One line per item (line id = item id;
/// SKU = the first own reference, else the merchant part number). Total = `subTotal` +
/// `shippingCost`. The address is `shipTo`, else the buyer's own address.
pub(crate) fn to_order(o: &wire::SellerOrder) -> Result<Order, ChannelError> {
    let unreadable = |why: String| {
        ChannelError::new(
            ErrorKind::Channel,
            format!("Tradera order {} could not be read: {why}", o.order_id),
        )
    };
    let channel_order_id =
        ChannelOrderId::new(o.order_id.to_string()).map_err(|e| unreadable(e.to_string()))?;
    let created_at = o
        .created_date
        .as_deref()
        .and_then(parse_time)
        .ok_or_else(|| unreadable("no readable createdDate".into()))?;
    let updated_at = o.last_updated_date.as_deref().and_then(parse_time);
    let mut lines = Vec::new();
    for item in o.items.as_deref().unwrap_or_default() {
        let quantity = u32::try_from(item.quantity).map_err(|_| {
            unreadable(format!(
                "item {} has quantity {}",
                item.item_id, item.quantity
            ))
        })?;
        let sku = own_references(item.own_references.as_deref())
            .into_iter()
            .next()
            .or_else(|| non_empty(item.merchant_part_number.as_ref()))
            .and_then(|s| Sku::new(s).ok());
        lines.push(OrderLine {
            line_id: item.item_id.to_string(),
            sku,
            listing_id: ChannelListingId::new(item.item_id.to_string()).ok(),
            title: item.title.clone().unwrap_or_default(),
            quantity,
            unit_price: sek(item.unit_price),
        });
    }
    if lines.is_empty() {
        return Err(unreadable("it has no items".into()));
    }
    let shipping_price = o.shipping_cost.map(sek);
    let total = o.sub_total.map(|s| sek(s + o.shipping_cost.unwrap_or(0)));
    let address = |a: &wire::OrderAddress| Address {
        name: non_empty(a.name.as_ref()),
        line1: non_empty(a.address_line1.as_ref()),
        line2: non_empty(a.address_line2.as_ref()),
        city: non_empty(a.city.as_ref()),
        postal_code: non_empty(a.zip_code.as_ref()),
        country: non_empty(a.country_name.as_ref()),
        ..Address::default()
    };
    let address = match (&o.ship_to, &o.buyer) {
        (Some(a), _) => Some(address(a)),
        (None, Some(b)) if b.address.address_line1.is_some() => Some(Address {
            name: buyer_name(b),
            phone: non_empty(b.phone.as_ref()),
            ..address(&b.address)
        }),
        _ => None,
    };
    let buyer = o
        .buyer
        .as_ref()
        .map(|b| Buyer {
            id: b.user_id.map(|i| i.to_string()),
            name: buyer_name(b),
            email: non_empty(b.email.as_ref()),
        })
        .unwrap_or_default();
    let shipping_method = non_empty(o.shipping_type.as_ref());
    Ok(Order {
        channel_order_id,
        marketplace_order_id: non_empty(o.purchase_order_id.as_ref()),
        site: None,
        created_at,
        updated_at,
        status: order_status(o),
        currency: Currency::SEK,
        currency_source: CurrencySource::Channel,
        lines,
        local_pickup: is_pickup(shipping_method.as_deref()),
        shipping_method,
        shipping_price,
        tax: None,
        total,
        shipping_address: address,
        buyer,
        revision: o.last_updated_date.clone(),
    })
}

fn buyer_name(b: &wire::OrderUser) -> Option<String> {
    let full = [b.first_name.as_deref(), b.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if full.is_empty() {
        non_empty(b.alias.as_ref())
    } else {
        Some(full)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_with_and_without_offset() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 15, 0).unwrap();
        assert_eq!(parse_time("2026-03-04T10:15:00Z"), Some(at));
        assert_eq!(parse_time("2026-03-04T11:15:00+01:00"), Some(at));
        assert_eq!(parse_time("2026-03-04T10:15:00"), Some(at));
        assert_eq!(parse_time("2026-03-04T10:15:00.000"), Some(at));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn kronor_are_exact_and_whole() {
        assert_eq!(sek(349), Money::parse("349", "SEK").unwrap());
        assert_eq!(
            whole_kronor(&Money::parse("349", "SEK").unwrap()).unwrap(),
            349
        );
        assert_eq!(
            whole_kronor(&Money::parse("349.00", "SEK").unwrap()).unwrap(),
            349
        );
        let e = whole_kronor(&Money::parse("349.50", "SEK").unwrap()).unwrap_err();
        assert_eq!(e.field(), Some("price"));
        assert!(whole_kronor(&Money::parse("10", "EUR").unwrap()).is_err());
        assert!(whole_kronor(&Money::parse("-1", "SEK").unwrap()).is_err());
    }

    #[test]
    fn ids_are_positive_32_bit_numbers() {
        assert_eq!(numeric_id("item id", " 123 ").unwrap(), 123);
        assert!(numeric_id("item id", "0").is_err());
        assert!(numeric_id("item id", "abc").is_err());
        assert!(numeric_id("item id", "99999999999").is_err());
    }

    #[test]
    fn pickups() {
        assert!(is_pickup(Some("Avhämtning")));
        assert!(is_pickup(Some("Pickup")));
        assert!(!is_pickup(Some("PostNord Varubrev")));
        assert!(!is_pickup(None));
    }
}
