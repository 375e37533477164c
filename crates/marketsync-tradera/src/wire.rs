//! Tradera REST v4's JSON, exactly as sent and received (camelCase; schemas of the v4 OpenAPI
//! document, `v4-beta`). Only the fields the adapter reads or writes are declared; unknown
//! fields are ignored, and every field Tradera may leave out is optional.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A date-time as sent in queries: UTC with a `Z` (`2026-03-05T09:00:00Z`).
pub(crate) fn datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `POST /v4/auth/token` body (`FetchTokenRequest`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FetchToken<'a> {
    pub(crate) user_id: i64,
    pub(crate) secret_key: &'a str,
}

/// `POST /v4/auth/token` answer (`Token`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Token {
    pub(crate) auth_token: Option<String>,
    pub(crate) hard_expiration_time: Option<String>,
}

/// `GET /v4/users/me` (`UserInfo`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserInfo {
    pub(crate) id: i64,
    pub(crate) alias: Option<String>,
    pub(crate) currency_code: Option<String>,
}

/// A string of a response body: borrowed from the body when it holds no escapes (the usual
/// case), else unescaped into its own allocation. Reading a large answer this way allocates
/// nothing per string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl Text<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// One item of `GET /v4/listings/seller-items` (`Item`), its strings borrowed from the body:
/// only the fields a listing needs; the item's other fields (descriptions, images, shipping
/// options …) are skipped without being kept.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Item<'a> {
    pub(crate) id: i64,
    pub(crate) item_type: Option<i32>,
    #[serde(borrow)]
    pub(crate) short_description: Option<Text<'a>>,
    #[serde(borrow)]
    pub(crate) own_references: Option<Vec<Text<'a>>>,
    pub(crate) buy_it_now_price: Option<i64>,
    pub(crate) buy_it_now_price_specified: Option<bool>,
    pub(crate) opening_bid: Option<i64>,
    pub(crate) remaining_quantity: Option<i64>,
    #[serde(borrow)]
    pub(crate) end_date: Option<Text<'a>>,
    pub(crate) status_id: Option<i32>,
}

impl Item<'_> {
    /// The own references, trimmed, empty ones left out, in Tradera's order.
    pub(crate) fn references(&self) -> impl Iterator<Item = &str> {
        self.own_references
            .iter()
            .flatten()
            .map(|r| r.as_str().trim())
            .filter(|r| !r.is_empty())
    }
}

/// An entry of a batch call, by its item id.
pub(crate) trait BatchItem {
    /// The item id.
    fn id(&self) -> i64;
}

/// One entry of a quantity batch (`SetQuantityShopItem`): the id and the quantity. This type
/// has no delta field, so a delta cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuantityItem {
    pub(crate) id: i64,
    pub(crate) quantity: i64,
}

/// One entry of a price batch (`SetPriceShopItem`): whole kronor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PriceItem {
    pub(crate) id: i64,
    pub(crate) price: i64,
}

impl BatchItem for QuantityItem {
    fn id(&self) -> i64 {
        self.id
    }
}

impl BatchItem for PriceItem {
    fn id(&self) -> i64 {
        self.id
    }
}

/// The body of a batch call: `PUT /v4/listings/shop-items/quantities`
/// (`SetQuantityOnShopItemsRequest`) or `…/prices` (`SetPriceOnShopItemsRequest`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShopItems<'a, T> {
    pub(crate) shop_items: &'a [T],
}

/// The answer of a batch call (`SetQuantityOnShopItemsResult`, `SetPriceOnShopItemsResult`):
/// the refused entries and, for prices, the queued requests.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchResult<T> {
    pub(crate) queued_request_responses: Option<Vec<Queued>>,
    pub(crate) validation_errors: Option<Vec<ItemError<T>>>,
}

/// One refused entry of a batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemError<T> {
    pub(crate) error_message: Option<String>,
    pub(crate) item: Option<T>,
}

/// A queued request (`QueuedRequestResponse`): Tradera validated the first step and will
/// process the rest later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Queued {
    pub(crate) item_id: i64,
    pub(crate) request_id: i64,
}

/// `POST /v4/listings/shop-items` body (`ShopItemData`). The quantity is `absoluteQuantity`;
/// the delta field `quantity` is deliberately absent from this type.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewShopItem {
    pub(crate) title: String,
    pub(crate) own_references: Vec<String>,
    pub(crate) price: i64,
    pub(crate) absolute_quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) category_id: Option<i32>,
}

/// One result of `GET /v4/listings/request-results` (`RequestResult`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RequestResult {
    pub(crate) request_id: i64,
    pub(crate) result_code: i64,
    pub(crate) message: Option<String>,
}

/// `GET /v4/orders` / `GET /v4/orders/{ids}` (`SellerOrder`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SellerOrder {
    pub(crate) order_id: i64,
    pub(crate) purchase_order_id: Option<String>,
    pub(crate) created_date: Option<String>,
    pub(crate) last_updated_date: Option<String>,
    pub(crate) buyer: Option<OrderUser>,
    pub(crate) ship_to: Option<OrderAddress>,
    pub(crate) items: Option<Vec<OrderItem>>,
    pub(crate) seller_order_payments: Option<Vec<Payment>>,
    pub(crate) shipping_type: Option<String>,
    pub(crate) shipping_cost: Option<i64>,
    pub(crate) sub_total: Option<i64>,
}

/// `SellerOrderUser`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct OrderUser {
    pub(crate) user_id: Option<i64>,
    pub(crate) alias: Option<String>,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    /// `addressLine1`, `addressLine2`, `zipCode`, `city`, `countryName`.
    #[serde(flatten)]
    pub(crate) address: OrderAddress,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
}

/// `SellerOrderAddress`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct OrderAddress {
    pub(crate) name: Option<String>,
    pub(crate) address_line1: Option<String>,
    pub(crate) address_line2: Option<String>,
    pub(crate) zip_code: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) country_name: Option<String>,
}

/// `SellerOrderItem`: prices in whole kronor, including VAT.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct OrderItem {
    pub(crate) item_id: i64,
    pub(crate) title: Option<String>,
    pub(crate) quantity: i64,
    pub(crate) unit_price: i64,
    pub(crate) own_references: Option<Vec<String>>,
    pub(crate) merchant_part_number: Option<String>,
}

/// `SellerOrderPayment` (TraderaPay payments only; absent until paid).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Payment {
    pub(crate) payment_type: Option<String>,
    pub(crate) amount: Option<i64>,
}
