//! Deterministic seed data for the Tradera fake: a Swedish second-hand and small-shop seller
//! with shop items, a few auctions, and orders over the 30 days before the anchor.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::api::{Item, Order, OrderLine, Payment, Person};
use super::{USER_ALIAS, USER_ID};
use crate::util::DetRng;

/// `itemType` of an auction.
pub const AUCTION: i64 = 1;
/// `itemType` of a fixed-price ("Endast Köp Nu") item.
pub const FIXED_PRICE: i64 = 3;
/// `itemType` the sandbox gives shop items (UNCONFIRMED: the spec lists 1, 3, 4, 5 without
/// names).
pub const SHOP_ITEM: i64 = 4;

/// The first seeded item id.
pub const FIRST_ITEM_ID: i64 = 640_100_000;
/// The first queued request id.
pub const FIRST_REQUEST_ID: i64 = 9_100_001;
/// The first seeded order id.
pub const FIRST_ORDER_ID: i64 = 2_450_000;

/// The `shippingType` values seeded orders carry.
pub const SHIPPING_TYPES: &[&str] = &[
    "PostNord MyPack Collect",
    "PostNord Varubrev",
    "DHL Service Point",
    "Schenker Ombud",
    "Budbee Box",
    "Instabox",
    "Hämtas av köparen",
];

/// Own references seeded items carry: not the SKUs of a typical catalog (free text, spaces,
/// Swedish letters, slashes, several per item, or none).
const REFERENCES: &[&[&str]] = &[
    &["LAGER-B12/röd"],
    &["Hylla 3 låda 2"],
    &["ÅÄÖ-42 #3"],
    &["SKU-1001", "EAN 7310865004703"],
    &[],
    &["kartong: vinter-23"],
    &["1001"],
    &["VINTAGE/LAMPA/07", "inköp 2024-03"],
];

const TITLES: &[(&str, i64)] = &[
    ("Gustavsberg kaffekopp Blå Anemon", 349),
    ("IKEA PS 2014 taklampa vit", 450),
    ("Orrefors vas Sofiero", 895),
    ("Rörstrand Mon Amie tallrik", 179),
    ("Lego Technic 42083 Bugatti Chiron", 3_290),
    ("Vinterjacka dam stl 38 Fjällräven", 1_150),
    ("Teak sidobord 1960-tal", 2_400),
    ("Vinylskiva ABBA Arrival 1976", 220),
    ("Marimekko Unikko kudde", 399),
    ("Hasselblad objektiv 80 mm", 6_900),
    ("Dala häst 13 cm röd", 260),
    ("Pinnstol vitmålad", 595),
];

const CATEGORIES: &[i64] = &[344_481, 302_130, 1_612, 2_904, 16];

const BUYERS: &[(&str, &str, &str, &str)] = &[
    ("Anna", "Lindqvist", "Göteborg", "411 05"),
    ("Erik", "Johansson", "Stockholm", "113 55"),
    ("Maja", "Öberg", "Malmö", "211 22"),
    ("Lars", "Nilsson", "Umeå", "903 26"),
    ("Sofia", "Ekström", "Uppsala", "753 20"),
    ("Johan", "Åkesson", "Västerås", "722 12"),
];

/// The seller (also the `seller` of every order and `GET /v4/users/me`).
pub(crate) fn seller() -> Person {
    Person {
        user_id: i64::from(USER_ID),
        alias: USER_ALIAS.into(),
        first_name: "Karin".into(),
        last_name: "Sandberg".into(),
        address: "Storgatan 12".into(),
        zip: "582 23".into(),
        city: "Linköping".into(),
        country: "Sverige".into(),
        email: "karin@sandbox.example".into(),
        phone: "013-12 34 56".into(),
    }
}

/// Seeds `n` items: mostly shop items, every seventh an auction, every eleventh fixed price;
/// a few shop items removed, one activated in the future.
pub(crate) fn items(rng: &mut DetRng, n: usize, anchor: DateTime<Utc>) -> BTreeMap<i64, Item> {
    let mut out = BTreeMap::new();
    for k in 0..n {
        let id = FIRST_ITEM_ID + (k as i64) * 7 + rng.range(0, 6);
        let (title, base) = *rng.pick(TITLES);
        let item_type = if k % 7 == 3 {
            AUCTION
        } else if k % 11 == 5 {
            FIXED_PRICE
        } else {
            SHOP_ITEM
        };
        let start = anchor - TimeDelta::days(rng.range(5, 200));
        let end = if item_type == SHOP_ITEM {
            start + TimeDelta::days(3650)
        } else {
            anchor + TimeDelta::days(rng.range(-3, 10))
        };
        let quantity = match item_type {
            SHOP_ITEM => rng.range(0, 25),
            _ => 1,
        };
        let refs: Vec<String> = REFERENCES[k % REFERENCES.len()]
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
        let mut item = Item {
            id,
            item_type,
            title: format!("{title} #{}", k + 1),
            description: format!("{title}. Fint skick, se bilder."),
            category_id: *rng.pick(CATEGORIES),
            price: base + rng.range(-2, 8) * 10,
            quantity,
            start_quantity: quantity.max(1),
            vat: if rng.chance(0.8) { 25 } else { 0 },
            own_references: refs,
            start,
            end,
            deactivated: None,
        };
        if item_type == SHOP_ITEM && k % 13 == 12 {
            item.deactivated = Some(anchor - TimeDelta::days(2));
        }
        if k == 9 && item_type == SHOP_ITEM {
            item.start = anchor + TimeDelta::days(30);
        }
        out.insert(id, item);
    }
    out
}

/// An order with generated buyer data and no payment.
pub(crate) fn blank_order(
    id: i64,
    created: DateTime<Utc>,
    lines: Vec<OrderLine>,
    shipping_type: &str,
    shipping_cost: i64,
) -> Order {
    let mut rng = DetRng::new(id as u64);
    let (first, last, city, zip) = *rng.pick(BUYERS);
    let pickup = shipping_type == "Hämtas av köparen";
    Order {
        id,
        purchase_order_id: uuid(&mut rng),
        created,
        last_updated: created,
        expires: (!pickup).then(|| created + TimeDelta::days(3)),
        buyer: Person {
            user_id: 7_000_000 + rng.range(0, 999_999),
            alias: format!("{}{}", first.to_lowercase(), rng.range(10, 99)),
            first_name: first.into(),
            last_name: last.into(),
            address: format!("Bygatan {}", rng.range(1, 80)),
            zip: zip.into(),
            city: city.into(),
            country: "Sverige".into(),
            email: format!("{}.{}@example.se", first.to_lowercase(), id),
            phone: format!(
                "070-{:03} {:02} {:02}",
                rng.range(0, 999),
                rng.range(0, 99),
                rng.range(0, 99)
            ),
        },
        ship_to: !pickup,
        lines,
        payment: None,
        shipping_type: shipping_type.to_owned(),
        shipping_cost: if pickup { 0 } else { shipping_cost },
        shipping_weight: (!pickup).then(|| f64::from(rng.range(1, 40) as i32) / 10.0),
    }
}

fn uuid(rng: &mut DetRng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// Seeds `n` orders over the 30 days before `anchor`: one to three lines (some items no longer
/// listed), every shipping type, about two in three paid (payment present, `lastUpdatedDate`
/// at payment), the rest unpaid (`sellerOrderPayments: null`).
pub(crate) fn orders(
    rng: &mut DetRng,
    n: usize,
    anchor: DateTime<Utc>,
    items: &BTreeMap<i64, Item>,
) -> BTreeMap<i64, Order> {
    let sellable: Vec<&Item> = items.values().collect();
    let mut out = BTreeMap::new();
    for k in 0..n {
        let id = FIRST_ORDER_ID + (k as i64) * 3 + rng.range(0, 2);
        let created = anchor - TimeDelta::minutes(rng.range(60, 30 * 24 * 60));
        let lines_n = match rng.below(10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let mut lines = Vec::new();
        for _ in 0..lines_n {
            let line = if sellable.is_empty() || rng.chance(0.08) {
                OrderLine {
                    item_id: FIRST_ITEM_ID - 1 - rng.range(0, 99_999),
                    item_type: FIXED_PRICE,
                    title: "Begagnad bok – Astrid Lindgren".into(),
                    quantity: 1,
                    unit_price: 75,
                    vat_rate: 0,
                    own_references: Vec::new(),
                    merchant_part_number: None,
                }
            } else {
                let i = *rng.pick(&sellable);
                OrderLine {
                    item_id: i.id,
                    item_type: i.item_type,
                    title: i.title.clone(),
                    quantity: if i.item_type == SHOP_ITEM {
                        rng.range(1, 3)
                    } else {
                        1
                    },
                    unit_price: i.price,
                    vat_rate: i.vat,
                    own_references: i.own_references.clone(),
                    merchant_part_number: if rng.chance(0.5) {
                        i.own_references.first().cloned()
                    } else {
                        None
                    },
                }
            };
            lines.push(line);
        }
        let shipping = SHIPPING_TYPES[k % SHIPPING_TYPES.len()];
        let mut o = blank_order(id, created, lines, shipping, rng.range(39, 129));
        if k % 3 != 2 {
            let paid = (created + TimeDelta::minutes(rng.range(2, 48 * 60))).min(anchor);
            o.payment = Some(Payment {
                payment_type: if rng.chance(0.7) {
                    "TraderaPay"
                } else {
                    "Swish"
                }
                .into(),
                reference: format!("TP-{:010}", rng.below(10_000_000_000)),
                amount: o.sub_total() + o.shipping_cost,
                paid,
            });
            o.last_updated = paid;
        }
        out.insert(id, o);
    }
    out
}
