//! Deterministic seed data for the Reverb fake: the same seed gives the same listings and
//! orders, byte for byte.
//!
//! The constants describe the variety on purpose, so tests elsewhere can configure "a typical
//! setup" and still meet values it does not map.

use chrono::{DateTime, TimeDelta, Utc};

use super::api::{Address, Listing, Order};
use crate::util::DetRng;

/// Every listing `state.slug` the fake serves (the filter values of `GET /api/my/listings`
/// except `all`), with its `description`. The first seeded listings take them in this order.
pub const LISTING_STATES: &[(&str, &str)] = &[
    ("live", "Live"),
    ("draft", "Draft"),
    ("ended", "Ended"),
    ("sold_out", "Sold Out"),
    ("suspended", "Suspended"),
    ("seller_unavailable", "Seller Unavailable"),
    ("ordered", "Ordered"),
];

/// Every order `status` the fake serves. The first seeded orders take them in this order.
pub const ORDER_STATUSES: &[&str] = &[
    "unpaid",
    "payment_pending",
    "pending_review",
    "blocked",
    "partially_paid",
    "paid",
    "shipped",
    "picked_up",
    "received",
    "refunded",
    "cancelled",
];

/// The `shipping_method` values of seeded orders (`local` is local pickup).
pub const SHIPPING_METHODS: &[&str] = &["shipped", "local", "expedited_shipping"];

/// Currencies of seeded orders (the shop lists in USD).
pub const ORDER_CURRENCIES: &[&str] = &["USD", "USD", "USD", "EUR", "GBP"];

/// Currencies a price may be given in (the money enum of the published spec).
pub const CURRENCIES: &[&str] = &["USD", "CAD", "EUR", "GBP", "AUD", "JPY", "NZD", "MXN"];

/// Shipping providers `POST …/ship` accepts (the published spec's list).
pub const PROVIDERS: &[&str] = &[
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "DHLExpress",
    "DHLGlobalMail",
    "DHL Deutschland",
    "Canada Post",
    "Royal Mail",
    "PostNL",
    "Australia Post",
    "EMS",
    "La Poste",
    "China Post",
    "GLS",
    "Parcelforce",
    "Purolator",
    "Interlogistica",
    "Correos España",
    "Ukraine Post",
    "DPD Germany",
    "DPD UK",
    "DPD France",
    "Other",
];

/// Seller-initiated refund reasons (reverb.md §4, low confidence).
pub const REFUND_REASONS: &[&str] = &[
    "buyer_return",
    "lost_shipment",
    "shipping_damage",
    "sold_elsewhere",
    "accidental_order",
    "change_shipping_address",
    "shipping_adjustments",
];

/// SKUs on seeded orders whose listing is gone and that a typical catalog does not hold.
pub const UNKNOWN_SKUS: &[&str] = &["VTG-AMP-1962", "LOT-CABLES-25", "CONSIGN 114/B"];

/// Condition (uuid, display name) pairs of the published spec.
pub const CONDITIONS: &[(&str, &str)] = &[
    ("7c3f45de-2ae0-4c81-8400-fdb6b1d74890", "Brand New"),
    ("9225283f-60c2-4413-ad18-1f5eba7a856f", "B-Stock"),
    ("ac5b9c1e-dc78-466d-b0b3-7cf712967a48", "Mint"),
    ("df268ad1-c462-4ba6-b6db-e007e23922ea", "Excellent"),
    ("ae4d9114-1bd7-4ec5-a4ba-6653af5ac84d", "Very Good"),
    ("f7a3f48c-972a-44c6-b01a-0cd27488d3f6", "Good"),
    ("98777886-76d0-44c8-865e-bb40e669e934", "Fair"),
];

/// (make, model, finish) of seeded listings.
const GEAR: &[(&str, &str, &str)] = &[
    ("Fender", "Stratocaster", "Sunburst"),
    ("Gibson", "Les Paul Standard", "Heritage Cherry"),
    ("Boss", "DD-7 Digital Delay", ""),
    ("Roland", "Juno-60", ""),
    ("Ibanez", "TS9 Tube Screamer", "Green"),
    ("Martin", "D-28", "Natural"),
    ("Korg", "MS-20", ""),
    ("Electro-Harmonix", "Big Muff Pi", ""),
    ("Shure", "SM57", ""),
    ("Marshall", "JCM800 2203", "Black"),
];

/// Buyers of seeded orders (first name, last name, country, locality, region, postal code).
const BUYERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("Dana", "Okafor", "US", "Chicago", "IL", "60607"),
    ("Jürgen", "Müller", "DE", "Köln", "NW", "50667"),
    (
        "Siobhán",
        "O'Neill",
        "GB",
        "Leeds",
        "West Yorkshire",
        "LS1 4DY",
    ),
    ("Mateo", "García", "US", "Austin", "TX", "78701"),
    ("Aiko", "Tanaka", "US", "Portland", "OR", "97205"),
];

/// The numbers the next listing and order get.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub(crate) listing: u64,
    pub(crate) order: u64,
    pub(crate) buyer: u64,
    pub(crate) refund: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Self {
            listing: 71_000_001,
            order: 3_000_001,
            buyer: 900_001,
            refund: 55_001,
        }
    }
}

/// A deterministic uuid-looking string.
pub(crate) fn uuid(rng: &mut DetRng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// Minor units of a currency.
pub(crate) fn minor_units(currency: &str) -> u32 {
    if currency == "JPY" { 0 } else { 2 }
}

/// Seeded listings, oldest first.
pub(crate) fn listings(
    rng: &mut DetRng,
    ids: &mut Ids,
    n: usize,
    anchor: DateTime<Utc>,
) -> Vec<Listing> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let state = if let Some((slug, _)) = LISTING_STATES.get(i) {
            slug
        } else if rng.chance(0.7) {
            "live"
        } else {
            rng.pick(&["draft", "ended", "sold_out"])
        };
        let (make, model, finish) = *rng.pick(GEAR);
        let (condition, condition_name) = *rng.pick(CONDITIONS);
        let new = condition_name == "Brand New" || condition_name == "B-Stock";
        let inventory = match state {
            "sold_out" | "ordered" => 0,
            _ if new => rng.range(2, 15),
            _ => 1,
        };
        let sku = match i % 9 {
            // Listings without a SKU, and SKUs that need escaping in a query.
            4 => None,
            7 => Some(format!("{} #{i}", model.to_uppercase())),
            8 => Some(format!("PED/{:03}", i)),
            _ => Some(format!("REV-{}-{:04}", &make[..3].to_uppercase(), i)),
        };
        let created = anchor - TimeDelta::days(90) + TimeDelta::minutes(rng.range(0, 60 * 24 * 80));
        let id = ids.listing;
        ids.listing += 1;
        let year = rng.range(1958, 2024);
        out.push(Listing {
            id,
            sku,
            make: make.to_owned(),
            model: model.to_owned(),
            title: format!("{year} {make} {model}"),
            description: format!("<p>{make} {model} in {condition_name} condition.</p>"),
            year: Some(year.to_string()),
            finish: (!finish.is_empty()).then(|| finish.to_owned()),
            condition: Some((condition.to_owned(), condition_name.to_owned())),
            price_cents: rng.range(25, 4_000) * 100 + *rng.pick(&[0, 0, 50, 99]),
            currency: "USD".to_owned(),
            inventory,
            has_inventory: new,
            offers_enabled: rng.chance(0.8),
            local_pickup_only: rng.chance(0.1),
            shipping_profile_id: rng.chance(0.6).then(|| "701".to_owned()),
            state: state.to_owned(),
            created_at: created,
            updated_at: created + TimeDelta::hours(rng.range(0, 72)),
            published_at: (state != "draft").then_some(created),
            categories: vec![uuid(rng)],
            photos: vec![format!(
                "https://images.sandbox.example/listings/{id}/main.jpg"
            )],
            upc: None,
        });
    }
    out
}

/// Seeded orders, oldest first. `listings` gives (id, sku, title, unit price in cents).
pub(crate) fn orders(
    rng: &mut DetRng,
    ids: &mut Ids,
    n: usize,
    anchor: DateTime<Utc>,
    listings: &[(u64, Option<String>, String, i64)],
) -> Vec<Order> {
    let mut out = Vec::with_capacity(n);
    let mut bundle: Option<(String, u64)> = None;
    for i in 0..n {
        let status = if let Some(s) = ORDER_STATUSES.get(i) {
            s
        } else {
            *rng.pick(&["paid", "paid", "paid", "shipped", "received", "unpaid"])
        };
        let created = anchor - TimeDelta::days(60) + TimeDelta::minutes(rng.range(0, 60 * 24 * 59));
        let method = match status {
            "picked_up" => "local",
            "shipped" | "received" => *rng.pick(&["shipped", "expedited_shipping"]),
            _ => *rng.pick(SHIPPING_METHODS),
        };
        let (listing_id, sku, title, unit) = if listings.is_empty() || rng.chance(0.15) {
            let sku = *rng.pick(UNKNOWN_SKUS);
            (
                // A listing that has since been deleted.
                60_000_000 + rng.below(1_000_000),
                Some(sku.to_owned()),
                format!("Consignment item {sku}"),
                rng.range(20, 900) * 100,
            )
        } else {
            rng.pick(listings).clone()
        };
        // Two orders from one checkout share a bundle id.
        let bundle_id = match &bundle {
            Some((b, at)) if *at + 1 == i as u64 && i % 10 == 1 => b.clone(),
            _ => format!("{}", 8_000_000 + rng.below(1_000_000)),
        };
        bundle = Some((bundle_id.clone(), i as u64));
        let currency = *rng.pick(ORDER_CURRENCIES);
        let buyer = *rng.pick(BUYERS);
        let spec = OrderInit {
            listing_id,
            sku,
            title,
            quantity: if rng.chance(0.1) { 2 } else { 1 },
            unit_cents: unit,
            currency: currency.to_owned(),
            status: status.to_owned(),
            shipping_method: method.to_owned(),
            created_at: created,
            buyer: (buyer.0.to_owned(), buyer.1.to_owned()),
            address_of: buyer,
            bundle_id,
        };
        out.push(build_order(spec, ids, rng));
    }
    out
}

/// What [`build_order`] needs.
#[derive(Debug, Clone)]
pub(crate) struct OrderInit {
    pub(crate) listing_id: u64,
    pub(crate) sku: Option<String>,
    pub(crate) title: String,
    pub(crate) quantity: i64,
    pub(crate) unit_cents: i64,
    pub(crate) currency: String,
    pub(crate) status: String,
    pub(crate) shipping_method: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) buyer: (String, String),
    pub(crate) address_of: (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ),
    pub(crate) bundle_id: String,
}

/// The default buyer address for orders added from tests.
pub(crate) fn default_buyer() -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    BUYERS[0]
}

/// Builds an order with consistent timestamps, fees and shipping data for its status.
pub(crate) fn build_order(init: OrderInit, ids: &mut Ids, rng: &mut DetRng) -> Order {
    let number = ids.order;
    ids.order += 1;
    let buyer_id = ids.buyer + rng.below(500);
    let local = init.shipping_method == "local";
    let paid = !matches!(
        init.status.as_str(),
        "unpaid" | "payment_pending" | "pending_review" | "blocked"
    );
    let shipped = matches!(init.status.as_str(), "shipped" | "received");
    let created = init.created_at;
    let paid_at = paid.then(|| created + TimeDelta::minutes(rng.range(1, 90)));
    let shipped_at = shipped.then(|| created + TimeDelta::hours(rng.range(12, 96)));
    let updated = shipped_at.or(paid_at).unwrap_or(created) + TimeDelta::minutes(rng.range(0, 30));
    let shipping_cents = if local {
        0
    } else if init.shipping_method == "expedited_shipping" {
        4_500
    } else {
        *rng.pick(&[0, 1_500, 2_500])
    };
    let subtotal = init.unit_cents * init.quantity;
    let tax_cents = if init.currency == "USD" {
        subtotal * 7 / 100
    } else {
        0
    };
    let (first, last) = init.buyer.clone();
    let a = init.address_of;
    Order {
        order_number: number.to_string(),
        uuid: uuid(rng),
        bundle_id: init.bundle_id,
        listing_id: init.listing_id,
        sku: init.sku,
        title: init.title,
        quantity: init.quantity,
        status: init.status.clone(),
        created_at: created,
        updated_at: updated,
        paid_at,
        shipped_at,
        currency: init.currency,
        unit_cents: init.unit_cents,
        shipping_cents,
        tax_cents,
        shipping_method: init.shipping_method,
        local_pickup: local,
        buyer_id,
        buyer_first_name: first.clone(),
        buyer_last_name: last.clone(),
        buyer_email: format!(
            "{}.{}@buyers.sandbox.example",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', "")
        ),
        address: (!local).then(|| Address {
            name: format!("{first} {last}"),
            street_address: format!("{} Main Street", 10 + rng.below(900)),
            extended_address: rng.chance(0.3).then(|| "Apt 4".to_owned()),
            locality: a.3.to_owned(),
            region: a.4.to_owned(),
            postal_code: a.5.to_owned(),
            country_code: a.2.to_owned(),
            phone: format!("555-01{:02}", rng.below(100)),
        }),
        provider: shipped.then(|| (*rng.pick(&["UPS", "USPS", "FedEx", "DHL"])).to_owned()),
        tracking: shipped.then(|| format!("1Z{:016}", rng.below(10_000_000_000_000_000))),
        refunded_cents: if init.status == "refunded" {
            subtotal + shipping_cents + tax_cents
        } else {
            0
        },
        order_type: if rng.chance(0.2) { "offer" } else { "instant" }.to_owned(),
        payment_method: (*rng.pick(&["direct_checkout", "paypal"])).to_owned(),
        notes: Vec::new(),
        remaining_listing_inventory: 0,
    }
}
