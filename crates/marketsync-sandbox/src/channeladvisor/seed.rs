//! Deterministic seed data: the same seed gives the same products and orders, byte for byte.
//!
//! The constants describe the variety on purpose, so tests elsewhere can configure "a typical
//! setup" and still meet values it does not map.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::util::DetRng;

/// The `SiteName` of OfferUp orders (the real value is UNCONFIRMED).
pub const OFFERUP_SITE_NAME: &str = "OfferUp";

/// A marketplace site orders come from: (`SiteID`, `SiteName`, `Currency`, country).
/// The site ids are invented; the names follow ChannelAdvisor's style.
pub const SITES: &[(i64, &str, &str, &str)] = &[
    (640, "Amazon Seller Central - US", "USD", "US"),
    (1065, OFFERUP_SITE_NAME, "USD", "US"),
    (683, "Amazon Seller Central - DE", "EUR", "DE"),
    (578, "eBay Fixed Price UK", "GBP", "GB"),
    (700, "Amazon Seller Central - CA", "CAD", "CA"),
    (1, "eBay Fixed Price US", "USD", "US"),
    (951, "Walmart Marketplace", "USD", "US"),
];

/// `RequestedShippingClass` texts a typical setup maps (exact, case-sensitive).
pub const TYPICAL_SHIPPING_CLASSES: &[&str] = &[
    "Standard",
    "Expedited",
    "Ground",
    "Priority Mail",
    "Next Day",
];

/// `RequestedShippingClass` texts that seeded orders use and a typical setup does not map
/// (note the lower-case near miss).
pub const UNMAPPED_SHIPPING_CLASSES: &[&str] = &["Local Pickup", "Economy (5-8 days)", "standard"];

/// SKUs that appear on seeded order lines but not in the seeded catalog (`ProductID` 0).
pub const UNKNOWN_SKUS: &[&str] = &["LEGACY-0042", "DISCONTINUED-7", "PROMO-BUNDLE-X2"];

/// Labels seeded products carry.
pub const LABELS: &[&str] = &["OfferUp", "eBay", "Amazon", "Walmart", "Clearance"];

/// (`CheckoutStatus`, `PaymentStatus`, `ShippingStatus`) combinations the first seeded orders
/// take, in this order: together they use every value of each enum.
pub const STATUS_COMBINATIONS: &[(&str, &str, &str)] = &[
    ("Completed", "Cleared", "Unshipped"),
    ("CompletedAndVisited", "Cleared", "Unshipped"),
    ("CompletedOffline", "Deposited", "PendingShipment"),
    ("Completed", "Submitted", "Unshipped"),
    ("Completed", "Cleared", "PartiallyShipped"),
    ("Completed", "Cleared", "Shipped"),
    ("Completed", "Cleared", "Canceled"),
    ("Completed", "Cleared", "ThirdPartyManaged"),
    ("NotVisited", "NotYetSubmitted", "Unshipped"),
    ("Visited", "NotYetSubmitted", "Unshipped"),
    ("Completed", "Failed", "Unshipped"),
    ("OnHold", "Cleared", "Unshipped"),
    ("Disabled", "NotYetSubmitted", "Canceled"),
];

/// Requested (carrier, class) pairs of seeded orders.
const REQUESTED: &[(&str, &str)] = &[
    ("", "Standard"),
    ("", "Expedited"),
    ("UPS", "Ground"),
    ("USPS", "Priority Mail"),
    ("FedEx", "Next Day"),
    ("", "Economy (5-8 days)"),
    ("", "standard"),
];

/// Carrier → classes the sandbox account knows; `Ship` refuses other combinations.
pub const CARRIERS: &[(&str, &[&str])] = &[
    ("UPS", &["Ground", "2nd Day Air", "Next Day Air"]),
    (
        "FedEx",
        &["Ground", "Home Delivery", "2Day", "Standard Overnight"],
    ),
    (
        "USPS",
        &[
            "Priority Mail",
            "First Class",
            "Ground Advantage",
            "Media Mail",
        ],
    ),
    ("DHL", &["Express Worldwide", "Paket"]),
    ("Royal Mail", &["Tracked 24", "Tracked 48"]),
    ("Canada Post", &["Expedited Parcel", "Regular Parcel"]),
    ("Other", &["Standard", "Local Pickup"]),
];

const ADJECTIVES: &[&str] = &[
    "Classic", "Vintage", "Compact", "Deluxe", "Rugged", "Organic", "Wireless", "Handmade",
];
const NOUNS: &[&str] = &[
    "Guitar Strap",
    "Espresso Cup",
    "Desk Lamp",
    "Backpack",
    "Phone Case",
    "Tea Kettle",
    "Yoga Mat",
    "Bike Light",
    "Notebook",
    "Water Bottle",
];
const BRANDS: &[&str] = &["Acme", "Northwind", "Globex", "Initech", "Umbrella"];
const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro",
];
const LAST: &[&str] = &[
    "Lovelace", "O'Neil", "Müller", "Smith", "Nakamura", "García",
];

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn money(cents: i64) -> Value {
    Value::from(cents as f64 / 100.0)
}

/// A stored product: the wire fields plus its labels and per-distribution-centre quantities.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Product {
    pub(crate) fields: Map<String, Value>,
    pub(crate) labels: BTreeSet<String>,
    pub(crate) dc: BTreeMap<i64, i64>,
}

/// A stored order with its collections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub(crate) fields: Map<String, Value>,
    pub(crate) items: Vec<Map<String, Value>>,
    pub(crate) fulfillments: Vec<Fulfillment>,
    pub(crate) adjustments: Vec<Map<String, Value>>,
}

/// A stored fulfilment with its items.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fulfillment {
    pub(crate) fields: Map<String, Value>,
    pub(crate) items: Vec<Map<String, Value>>,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Ids handed out by the store; seeding and later additions share them.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub(crate) product: i64,
    pub(crate) order: i64,
    pub(crate) item: i64,
    pub(crate) fulfillment: i64,
    pub(crate) fulfillment_item: i64,
    pub(crate) adjustment: i64,
}

impl Default for Ids {
    fn default() -> Self {
        Self {
            product: 100_001,
            order: 500_001,
            item: 900_001,
            fulfillment: 700_001,
            fulfillment_item: 750_001,
            adjustment: 800_001,
        }
    }
}

fn next(id: &mut i64) -> i64 {
    let v = *id;
    *id += 1;
    v
}

/// A new product with every field at its default.
pub(crate) fn blank_product(id: i64, profile: i64, sku: &str, now: DateTime<Utc>) -> Product {
    let fields = obj(json!({
        "ID": id, "ProfileID": profile,
        "CreateDateUtc": ts(now), "UpdateDateUtc": ts(now), "QuantityUpdateDateUtc": ts(now),
        "LastSaleDateUtc": null,
        "IsAvailableInStore": false, "IsBlocked": false, "BlockComment": null,
        "IsExternalQuantityBlocked": false, "InfiniteQuantity": false,
        "ProductType": "Item", "BundleType": "None",
        "IsParent": false, "IsInRelationship": false, "ParentProductID": null, "ParentSku": null,
        "RelationshipName": null, "VaryBy": null,
        "Sku": sku, "Title": null, "Subtitle": null, "ShortDescription": null, "Description": null,
        "Brand": null, "Manufacturer": null, "MPN": null, "UPC": null, "EAN": null, "ISBN": null,
        "ASIN": null, "Condition": "New", "Classification": null, "WarehouseLocation": null,
        "Weight": null, "Height": null, "Length": null, "Width": null,
        "Cost": null, "Margin": null, "RetailPrice": null, "StartingPrice": null,
        "ReservePrice": null, "BuyItNowPrice": null, "StorePrice": null,
        "SecondChancePrice": null, "MinPrice": null, "MaxPrice": null,
        "TotalAvailableQuantity": 0, "TotalQuantity": 0, "OpenAllocatedQuantity": 0,
        "PendingCheckoutQuantity": 0, "PendingPaymentQuantity": 0, "PendingShipmentQuantity": 0,
        "QuantitySoldLast7Days": 0, "QuantitySoldLast30Days": 0, "Flag": "None"
    }));
    Product {
        fields,
        labels: BTreeSet::new(),
        dc: BTreeMap::new(),
    }
}

/// The seeded catalog.
pub(crate) fn products(
    rng: &mut DetRng,
    ids: &mut Ids,
    profile: i64,
    n: usize,
    anchor: DateTime<Utc>,
) -> Vec<Product> {
    let mut out: Vec<Product> = Vec::with_capacity(n);
    let mut parent: Option<(i64, String)> = None;
    for i in 0..n {
        let sku = match i % 10 {
            3 => format!("KID'S-TEE-{i:03}"),
            7 => format!("A&B 12+{i:03}"),
            _ => format!("SKU-{i:04}"),
        };
        let created = anchor - TimeDelta::days(400) + TimeDelta::hours(rng.range(0, 24 * 300));
        let id = next(&mut ids.product);
        let mut p = blank_product(id, profile, &sku, created);
        let updated = created + TimeDelta::hours(rng.range(1, 24 * 60));
        let f = &mut p.fields;
        f.insert("UpdateDateUtc".into(), json!(ts(updated)));
        f.insert("QuantityUpdateDateUtc".into(), json!(ts(updated)));
        let title = format!("{} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS));
        f.insert("Title".into(), json!(title));
        f.insert("Brand".into(), json!(rng.pick(BRANDS)));
        f.insert(
            "MPN".into(),
            json!(format!("MPN-{:06}", rng.below(1_000_000))),
        );
        f.insert(
            "UPC".into(),
            json!(format!("0{:011}", rng.below(100_000_000_000))),
        );
        let retail = rng.range(499, 19_999);
        f.insert("RetailPrice".into(), money(retail));
        f.insert("BuyItNowPrice".into(), money(retail - retail / 10));
        f.insert("Cost".into(), money(retail / 2));
        f.insert("Weight".into(), money(rng.range(10, 500)));
        if i % 17 == 5 {
            f.insert("IsBlocked".into(), json!(true));
            f.insert("BlockComment".into(), json!("Blocked by the seller"));
        }
        let is_parent = i % 12 == 0 && i > 0;
        if is_parent {
            f.insert("IsParent".into(), json!(true));
            f.insert("IsInRelationship".into(), json!(true));
            f.insert("ProductType".into(), json!("Parent"));
            f.insert("RelationshipName".into(), json!("Size"));
            f.insert("VaryBy".into(), json!("Size"));
            f.insert("TotalAvailableQuantity".into(), Value::Null);
            parent = Some((id, sku.clone()));
        } else {
            if i % 12 <= 2
                && i > 12
                && let Some((pid, psku)) = &parent
            {
                f.insert("ProductType".into(), json!("Child"));
                f.insert("IsInRelationship".into(), json!(true));
                f.insert("ParentProductID".into(), json!(pid));
                f.insert("ParentSku".into(), json!(psku));
                f.insert("RelationshipName".into(), json!("Size"));
            }
            p.dc.insert(1, rng.range(0, 50));
            if rng.chance(0.5) {
                p.dc.insert(2, rng.range(0, 20));
            }
            if rng.chance(0.2) {
                p.dc.insert(3, rng.range(0, 30));
            }
        }
        if i == 0 {
            p.labels.insert("OfferUp".into());
        }
        if rng.chance(0.8) {
            for label in LABELS {
                if rng.chance(0.35) {
                    p.labels.insert((*label).to_owned());
                }
            }
        }
        refresh_totals(&mut p);
        out.push(p);
    }
    out
}

/// Recomputes the quantity totals from the per-DC quantities.
pub(crate) fn refresh_totals(p: &mut Product) {
    if p.fields.get("IsParent") == Some(&json!(true)) {
        return;
    }
    let total: i64 = p.dc.values().sum();
    p.fields
        .insert("TotalAvailableQuantity".into(), json!(total));
    p.fields.insert("TotalQuantity".into(), json!(total));
}

/// What an order is made of, before ids and totals; see [`crate::channeladvisor::NewOrder`].
pub(crate) struct OrderSpec {
    pub(crate) site: (i64, String, String, String),
    pub(crate) statuses: (String, String, String),
    pub(crate) carrier: String,
    pub(crate) class: String,
    pub(crate) lines: Vec<(String, i64, i64, i64)>, // sku, product id, quantity, unit cents
    pub(crate) created: DateTime<Utc>,
    pub(crate) buyer: (String, String),
}

/// Builds a stored order from a spec.
pub(crate) fn build_order(
    spec: &OrderSpec,
    ids: &mut Ids,
    profile: i64,
    rng: &mut DetRng,
) -> Order {
    let id = next(&mut ids.order);
    let (site_id, site_name, currency, country) = &spec.site;
    let (checkout, payment, shipping) = &spec.statuses;
    let created = spec.created;
    let imported = created + TimeDelta::minutes(rng.range(5, 30));
    let mut updated = imported + TimeDelta::minutes(rng.range(0, 60 * 48));
    let tax_rate = if country == "US" { 8 } else { 0 };
    let mut items = Vec::new();
    let mut subtotal = 0i64;
    let mut tax_total = 0i64;
    let mut ship_total = 0i64;
    for (n, (sku, product_id, qty, unit)) in spec.lines.iter().enumerate() {
        let item_id = next(&mut ids.item);
        let line = unit * qty;
        let tax = line * tax_rate / 100;
        let ship = if n == 0 { 499 } else { 0 };
        subtotal += line;
        tax_total += tax;
        ship_total += ship;
        items.push(obj(json!({
            "ID": item_id, "ProfileID": profile, "OrderID": id, "ProductID": product_id,
            "SiteOrderItemID": format!("{}-{}", site_id, item_id),
            "SellerOrderItemID": null, "SiteListingID": format!("L{}", product_id),
            "Sku": sku, "Title": format!("Item {sku}"), "Quantity": qty,
            "UnitPrice": money(*unit), "TaxPrice": money(tax), "ShippingPrice": money(ship),
            "ShippingTaxPrice": money(0), "RecyclingFee": money(0),
            "UnitEstimatedShippingCost": money(0), "GiftMessage": null, "GiftNotes": null,
            "GiftPrice": money(0), "GiftTaxPrice": money(0), "IsBundle": false,
            "ItemURL": null, "HarmonizedCode": null
        })));
    }
    let paid = matches!(payment.as_str(), "Cleared" | "Deposited" | "Submitted");
    let checked_out = checkout.starts_with("Completed");
    let shipped = matches!(shipping.as_str(), "Shipped" | "PartiallyShipped");
    let ship_date = shipped.then(|| imported + TimeDelta::hours(rng.range(2, 40)));
    if let Some(d) = ship_date
        && d > updated
    {
        updated = d;
    }
    let site_order_id = match site_name.as_str() {
        OFFERUP_SITE_NAME => format!("OU{}", rng.range(10_000_000, 99_999_999)),
        s if s.starts_with("Amazon") => format!(
            "{:03}-{:07}-{:07}",
            rng.range(100, 999),
            rng.below(10_000_000),
            rng.below(10_000_000)
        ),
        s if s.starts_with("eBay") => {
            format!(
                "{:02}-{:05}-{:05}",
                rng.below(100),
                rng.below(100_000),
                rng.below(100_000)
            )
        }
        _ => format!("{}", rng.range(1_000_000_000, 9_999_999_999)),
    };
    let (first, last) = &spec.buyer;
    let (city, region, postal) = match country.as_str() {
        "DE" => ("Berlin", "BE", "10115"),
        "GB" => ("London", "LND", "SW1A 1AA"),
        "CA" => ("Toronto", "ON", "M5V 2T6"),
        _ => ("Raleigh", "NC", "27601"),
    };
    let third_party = shipping == "ThirdPartyManaged";
    let mut fields = obj(json!({
        "ID": id, "ProfileID": profile, "SiteID": site_id, "SiteName": site_name,
        "SiteAccountID": 10_000 + site_id, "SiteOrderID": site_order_id,
        "SecondarySiteOrderID": null, "SellerOrderID": null, "CheckoutSourceID": null,
        "Currency": currency,
        "CreatedDateUtc": ts(created), "ImportDateUtc": ts(imported), "UpdatedDateUtc": ts(updated),
        "PublicNotes": null, "PrivateNotes": null, "SpecialInstructions": null,
        "TotalPrice": money(subtotal + tax_total + ship_total), "TotalTaxPrice": money(tax_total),
        "TotalShippingPrice": money(ship_total), "TotalShippingTaxPrice": money(0),
        "TotalInsurancePrice": money(0), "TotalGiftOptionPrice": money(0),
        "TotalGiftOptionTaxPrice": money(0), "AdditionalCostOrDiscount": money(0),
        "EstimatedShipDateUtc": ts(created + TimeDelta::days(2)),
        "DeliverByDateUtc": ts(created + TimeDelta::days(7)),
        "RequestedShippingCarrier": spec.carrier, "RequestedShippingClass": spec.class,
        "ResellerID": null, "FlagID": 0, "FlagDescription": null, "OrderTags": null,
        "DistributionCenterTypeRollup": if third_party { "ExternallyManaged" } else { "SellerManaged" },
        "CheckoutStatus": checkout, "PaymentStatus": payment, "ShippingStatus": shipping,
        "CheckoutDateUtc": if checked_out { json!(ts(created)) } else { Value::Null },
        "PaymentDateUtc": if paid { json!(ts(created + TimeDelta::minutes(1))) } else { Value::Null },
        "ShippingDateUtc": ship_date.map(|d| json!(ts(d))).unwrap_or(Value::Null),
        "BuyerUserId": format!("buyer{}", id), "BuyerEmailAddress": format!("buyer{}@example.com", id),
        "BuyerEmailOptIn": false, "OrderTaxType": "InclusiveVat", "ShippingTaxType": "InclusiveVat",
        "GiftOptionsTaxType": "InclusiveVat",
        "PaymentMethod": if site_name == OFFERUP_SITE_NAME { "OfferUp Pay" } else { "Marketplace" },
        "PaymentTransactionID": null, "PaymentPaypalAccountID": null,
        "PaymentCreditCardLast4": null, "PaymentMerchantReferenceNumber": null,
        "PromotionCode": null, "PromotionAmount": money(0),
        "UserDataPresent": true, "UserDataRemovalDateUTC": null
    }));
    for prefix in ["Shipping", "Billing"] {
        for (k, v) in [
            ("Title", Value::Null),
            ("FirstName", json!(first)),
            ("LastName", json!(last)),
            ("Suffix", Value::Null),
            ("CompanyName", Value::Null),
            ("CompanyJobTitle", Value::Null),
            ("DaytimePhone", json!("555-0100")),
            ("EveningPhone", Value::Null),
            (
                "AddressLine1",
                json!(format!("{} Main Street", 1 + id % 200)),
            ),
            ("AddressLine2", Value::Null),
            ("City", json!(city)),
            ("StateOrProvince", json!(region)),
            ("StateOrProvinceName", Value::Null),
            ("PostalCode", json!(postal)),
            ("Country", json!(country)),
        ] {
            fields.insert(format!("{prefix}{k}"), v);
        }
    }
    let mut order = Order {
        fields,
        items,
        fulfillments: Vec::new(),
        adjustments: Vec::new(),
    };
    // Every order has a fulfilment from creation, carrying the requested carrier and class.
    let status = match shipping.as_str() {
        "Shipped" => "Complete",
        "Canceled" => "Canceled",
        "ThirdPartyManaged" => "ThirdPartyManaged",
        _ => "NoChange",
    };
    let fid = next(&mut ids.fulfillment);
    let mut f = Fulfillment {
        fields: obj(json!({
            "ID": fid, "ProfileID": profile, "OrderID": id,
            "CreatedDateUtc": ts(imported), "UpdatedDateUtc": ts(updated), "Type": "Ship",
            "DeliveryStatus": status, "TrackingNumber": null, "TrackingUrl": null,
            "ReturnTrackingNumber": null, "ShippingCarrier": spec.carrier,
            "ShippingClass": spec.class, "DistributionCenterID": 1,
            "ExternalFulfillmentCenterCode": null, "ExternalFulfillmentStatus": null,
            "ShippingCost": money(0), "InsuranceCost": money(0), "TaxCost": money(0),
            "ShippedDateUtc": null, "SellerFulfillmentID": null, "HasShippingLabel": false
        })),
        items: Vec::new(),
    };
    let lines: Vec<(i64, i64, i64)> = order
        .items
        .iter()
        .map(|it| {
            (
                it["ID"].as_i64().unwrap_or(0),
                it["ProductID"].as_i64().unwrap_or(0),
                it["Quantity"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    if shipped {
        let tracking = format!("1Z{:016}", rng.below(10_000_000_000_000_000));
        f.fields.insert("DeliveryStatus".into(), json!("Complete"));
        f.fields.insert("TrackingNumber".into(), json!(tracking));
        f.fields
            .insert("ShippedDateUtc".into(), json!(ship_date.map(ts)));
        let take = if shipping == "PartiallyShipped" {
            1
        } else {
            lines.len()
        };
        for (item_id, product_id, qty) in lines.iter().take(take) {
            f.items.push(obj(json!({
                "ID": next(&mut ids.fulfillment_item), "FulfillmentID": fid, "OrderID": id,
                "OrderItemID": item_id, "ProductID": product_id, "Quantity": qty
            })));
        }
    }
    order.fulfillments.push(f);
    if shipping == "Canceled" {
        order.adjustments.push(obj(json!({
            "ID": next(&mut ids.adjustment), "ProfileID": profile, "OrderID": id,
            "OrderItemID": null, "Type": "Cancellation", "RequestStatus": "PostProcessingComplete",
            "Reason": "BuyerCancelled", "SellerAdjustmentID": null, "SiteAdjustmentID": null,
            "AdjustmentAmount": money(0), "CreatedDateUtc": ts(updated)
        })));
    }
    order
}

/// The seeded orders, `n` of them, placed over the 60 days before `anchor`.
pub(crate) fn orders(
    rng: &mut DetRng,
    ids: &mut Ids,
    profile: i64,
    n: usize,
    anchor: DateTime<Utc>,
    catalog: &[(String, i64, i64)], // sku, id, retail cents
) -> Vec<Order> {
    let span_minutes = 60 * 24 * 60;
    (0..n)
        .map(|k| {
            let created = anchor - TimeDelta::minutes(span_minutes)
                + TimeDelta::minutes((k as i64 * span_minutes) / n.max(1) as i64)
                + TimeDelta::minutes(rng.range(0, 59));
            let spec = random_spec(rng, k, created, catalog);
            build_order(&spec, ids, profile, rng)
        })
        .collect()
}

/// The variety of seeded order `k`.
pub(crate) fn random_spec(
    rng: &mut DetRng,
    k: usize,
    created: DateTime<Utc>,
    catalog: &[(String, i64, i64)],
) -> OrderSpec {
    let statuses = if k < STATUS_COMBINATIONS.len() {
        STATUS_COMBINATIONS[k]
    } else if rng.chance(0.7) {
        STATUS_COMBINATIONS[0]
    } else {
        *rng.pick(STATUS_COMBINATIONS)
    };
    let site = if k < SITES.len() {
        SITES[k]
    } else if k % 4 == 1 {
        SITES[1]
    } else {
        *rng.pick(SITES)
    };
    let (carrier, class) = if site.1 == OFFERUP_SITE_NAME && rng.chance(0.4) {
        ("", "Local Pickup")
    } else {
        *rng.pick(REQUESTED)
    };
    let count = if k == 5 {
        23
    } else {
        match rng.below(100) {
            0..=54 => 1,
            55..=79 => 2,
            80..=91 => 3,
            _ => 4,
        }
    };
    let mut lines = Vec::new();
    for _ in 0..count {
        let qty = rng.range(1, 3);
        if catalog.is_empty() || rng.chance(0.06) || (k == 3 && lines.is_empty()) {
            let sku = *rng.pick(UNKNOWN_SKUS);
            lines.push((sku.to_owned(), 0, qty, rng.range(299, 4_999)));
        } else {
            let (sku, id, retail) = rng.pick(catalog).clone();
            lines.push((sku, id, qty, retail));
        }
    }
    OrderSpec {
        site: (
            site.0,
            site.1.to_owned(),
            site.2.to_owned(),
            site.3.to_owned(),
        ),
        statuses: (
            statuses.0.to_owned(),
            statuses.1.to_owned(),
            statuses.2.to_owned(),
        ),
        carrier: carrier.to_owned(),
        class: class.to_owned(),
        lines,
        created,
        buyer: ((*rng.pick(FIRST)).to_owned(), (*rng.pick(LAST)).to_owned()),
    }
}
