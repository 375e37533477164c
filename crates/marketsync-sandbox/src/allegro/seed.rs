//! Deterministic seed data for the Allegro fake: the same seed gives the same offers, checkout
//! forms and events, byte for byte.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use super::api::{Event, LineItem, Offer, Order};
use crate::util::DetRng;

/// Offer `publication.status` values; the first seeded offers take them in this order.
pub const PUBLICATION_STATUSES: &[&str] = &["ACTIVE", "INACTIVE", "ENDED", "ACTIVATING"];

/// Checkout form `status` values; the first seeded forms take them in this order.
pub const ORDER_STATUSES: &[&str] = &["BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "CANCELLED"];

/// Seller fulfillment statuses settable through `PUT …/fulfillment` (`RETURNED` is set only
/// by Allegro).
pub const FULFILLMENT_STATUSES: &[&str] = &[
    "NEW",
    "PROCESSING",
    "READY_FOR_SHIPMENT",
    "READY_FOR_PICKUP",
    "SENT",
    "PICKED_UP",
    "CANCELLED",
    "SUSPENDED",
];

/// Delivery methods of seeded forms: `(method id, name)`.
pub const DELIVERY_METHODS: &[(&str, &str)] = &[
    (
        "b20ef9e1-faa2-4f25-9032-adbea23e5cb9",
        "Allegro Paczkomaty InPost",
    ),
    ("7203cb90-864c-4cda-bf08-dc883f0c78ad", "Allegro Kurier DPD"),
    ("98f86f81-0018-41c5-ac83-073a56fc7021", "Allegro One Box"),
    ("c3066682-97a3-42fe-9eb5-3beeccab840c", "Kurier DHL"),
    ("1fa56f79-4b6a-4821-a6f2-ca9c16d5c925", "Odbiór osobisty"),
    (
        "845efe05-0c96-47ef-a8ac-e5ef3ba5e8e1",
        "Poczta Polska List polecony priorytetowy",
    ),
];

/// Carrier ids `POST …/shipments` accepts (`OTHER` needs `carrierName`).
pub const CARRIERS: &[(&str, &str)] = &[
    ("INPOST", "InPost"),
    ("DPD", "DPD"),
    ("DHL", "DHL"),
    ("UPS", "UPS"),
    ("GLS", "GLS"),
    ("POCZTA_POLSKA", "Poczta Polska"),
    ("ALLEGRO", "Allegro One Kurier"),
    ("OTHER", "Inny przewoźnik"),
];

/// External ids on order lines that no seeded offer carries (a legacy catalog, a typo, an id
/// with characters that need escaping).
pub const FOREIGN_EXTERNAL_IDS: &[&str] = &["LEGACY-0007", "kubek-ceramiczny-2", "A&B 12+007"];

const NAMES: &[&str] = &[
    "Kubek ceramiczny 350 ml",
    "Słuchawki bezprzewodowe BT",
    "Plecak miejski 25 l",
    "Lampka biurkowa LED",
    "Kabel USB-C 2 m",
    "Zestaw śrubokrętów 24 el.",
    "Termos stalowy 0,75 l",
    "Koszulka bawełniana M",
];

const BUYERS: &[(&str, &str, &str)] = &[
    ("Anna", "Kowalska", "ania_k"),
    ("Piotr", "Nowak", "piotrek1988"),
    ("Katarzyna", "Wiśniewska", "kasia-w"),
    ("Tomasz", "Wójcik", "tomwoj"),
    ("Zofia", "Kamińska", "zosia.k"),
];

const CITIES: &[(&str, &str)] = &[
    ("Warszawa", "00-001"),
    ("Kraków", "30-001"),
    ("Poznań", "60-001"),
    ("Gdańsk", "80-001"),
    ("Łódź", "90-001"),
];

/// A deterministic UUID-looking id.
pub(crate) fn uuid(rng: &mut DetRng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Seeded offers, newest last.
pub(crate) fn offers(rng: &mut DetRng, n: usize, anchor: DateTime<Utc>) -> Vec<Offer> {
    (0..n)
        .map(|i| {
            let status = if i < PUBLICATION_STATUSES.len() {
                PUBLICATION_STATUSES[i]
            } else if rng.chance(0.15) {
                "ENDED"
            } else if rng.chance(0.1) {
                "INACTIVE"
            } else {
                "ACTIVE"
            };
            let created = anchor - TimeDelta::hours((n - i) as i64 * 7);
            let external_id = if i % 9 == 8 {
                None
            } else {
                Some(format!("SKU-{:04}", i + 1))
            };
            Offer {
                id: (7_700_000_000 + i as u64 * 37 + rng.below(30)).to_string(),
                name: format!("{} #{}", rng.pick(NAMES), i + 1),
                external_id,
                price: Decimal::new(rng.range(499, 49_999), 2),
                currency: "PLN".into(),
                available: if status == "ENDED" {
                    0
                } else {
                    rng.range(0, 40)
                },
                sold: rng.range(0, 25),
                status: status.into(),
                category_id: format!("{}", 250_000 + rng.below(900)),
                created_at: created,
                updated_at: created,
                started_at: (status != "INACTIVE").then_some(created),
                ended_at: (status == "ENDED").then_some(created + TimeDelta::hours(3)),
                deleted: false,
            }
        })
        .collect()
}

/// Seeded checkout forms and their events; `offers` are the lines' candidates.
pub(crate) fn orders(
    rng: &mut DetRng,
    n: usize,
    anchor: DateTime<Utc>,
    offers: &[Offer],
) -> (Vec<Order>, Vec<Event>) {
    let mut orders = Vec::with_capacity(n);
    let mut raw_events = Vec::new();
    for i in 0..n {
        let status = if i < ORDER_STATUSES.len() {
            ORDER_STATUSES[i]
        } else {
            *rng.pick(&[
                "READY_FOR_PROCESSING",
                "READY_FOR_PROCESSING",
                "READY_FOR_PROCESSING",
                "BOUGHT",
                "FILLED_IN",
                "CANCELLED",
            ])
        };
        let bought = anchor - TimeDelta::minutes((n - i) as i64 * 53 + rng.range(0, 40));
        let lines = 1 + rng.below(3) as usize + usize::from(i % 4 == 2);
        let mut line_items = Vec::new();
        for l in 0..lines {
            let (offer_id, name, external_id, price) = if (i + l) % 11 == 5 {
                let ext = FOREIGN_EXTERNAL_IDS[(i + l) % FOREIGN_EXTERNAL_IDS.len()];
                (
                    (7_600_000_000u64 + rng.below(100_000)).to_string(),
                    format!("Stara oferta {ext}"),
                    Some(ext.to_owned()),
                    Decimal::new(rng.range(999, 9_999), 2),
                )
            } else {
                let o = rng.pick(offers);
                (o.id.clone(), o.name.clone(), o.external_id.clone(), o.price)
            };
            line_items.push(LineItem {
                id: uuid(rng),
                offer_id,
                offer_name: name,
                external_id,
                quantity: rng.range(1, 3),
                price,
                bought_at: bought,
            });
        }
        let (first, last, login) = *rng.pick(BUYERS);
        let (city, zip) = *rng.pick(CITIES);
        let method = *rng.pick(DELIVERY_METHODS);
        let filled = status != "BOUGHT";
        let mut updated = bought;
        let id = uuid(rng);
        raw_events.push((bought, "BOUGHT", id.clone()));
        if filled {
            updated = bought + TimeDelta::minutes(2);
            raw_events.push((updated, "FILLED_IN", id.clone()));
        }
        if status == "READY_FOR_PROCESSING" {
            updated = bought + TimeDelta::minutes(5);
            raw_events.push((updated, "READY_FOR_PROCESSING", id.clone()));
        }
        if status == "CANCELLED" {
            updated = bought + TimeDelta::minutes(20);
            raw_events.push((updated, "BUYER_CANCELLED", id.clone()));
        }
        let fulfillment = if status == "READY_FOR_PROCESSING" && rng.chance(0.3) {
            "PROCESSING"
        } else {
            "NEW"
        };
        orders.push(Order {
            id,
            status: status.into(),
            revision: format!("{:08x}", rng.next_u64() >> 32),
            updated_at: updated,
            buyer_id: (40_000_000 + rng.below(1_000_000)).to_string(),
            buyer_first: first.into(),
            buyer_last: last.into(),
            buyer_login: login.into(),
            city: city.into(),
            zip: zip.into(),
            street: format!("ul. Długa {}", rng.range(1, 120)),
            method_id: method.0.into(),
            method_name: method.1.into(),
            delivery_cost: Decimal::new(*rng.pick(&[0, 899, 1299, 1599]), 2),
            payment_id: uuid(rng),
            payment_type: (*rng.pick(&["ONLINE", "ONLINE", "CASH_ON_DELIVERY"])).into(),
            paid: matches!(status, "READY_FOR_PROCESSING" | "CANCELLED"),
            paid_at: filled.then_some(bought + TimeDelta::minutes(4)),
            fulfillment: fulfillment.into(),
            line_items,
            message_to_seller: (i % 5 == 1).then(|| "Proszę o szybką wysyłkę".to_owned()),
            sent: "NONE".into(),
        });
    }
    raw_events.sort_by_key(|e| e.0);
    let events = raw_events
        .into_iter()
        .enumerate()
        .map(|(i, (at, kind, order_id))| Event {
            id: event_id(i as u64 + 1),
            kind: kind.into(),
            occurred_at: at,
            order_id,
            revision: None,
        })
        .collect();
    (orders, events)
}

/// The id of the `n`th event (1-based): opaque text that sorts as the journal does.
pub(crate) fn event_id(n: u64) -> String {
    format!("{}", 3_000_000_000_000u64 + n)
}
