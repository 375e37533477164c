//! Allegro's JSON exactly as it is sent and received (field names from the official OpenAPI
//! document). Unknown fields are ignored: Allegro adds fields without notice.
//!
//! Crate-private; the DTOs carry the documented fields whether the adapter reads them or not.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of every request and response body (`Accept` and `Content-Type`).
pub(crate) const MEDIA_TYPE: &str = "application/vnd.allegro.public.v1+json";

/// `Price` / `BuyNowPrice`: `{"amount": "123.45", "currency": "PLN"}`, the amount a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Price {
    /// The amount, as a decimal string.
    pub(crate) amount: String,
    /// ISO 4217 code.
    pub(crate) currency: String,
}

/// One element of `ErrorsHolder.errors` (also `CommandTask.errors`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiError {
    /// Machine code.
    pub(crate) code: Option<String>,
    /// English, technical.
    pub(crate) message: Option<String>,
    /// The offending field.
    pub(crate) path: Option<String>,
    /// Localised, for the seller.
    pub(crate) user_message: Option<String>,
}

// ----- /me -----

/// `GET /me`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Me {
    /// The user id.
    pub(crate) id: String,
    /// The login.
    pub(crate) login: Option<String>,
    /// The base marketplace.
    #[serde(rename = "baseMarketplace")]
    pub(crate) base_marketplace: Option<IdOnly>,
}

/// `{"id": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdOnly {
    /// The id.
    pub(crate) id: String,
}

// ----- offers -----

/// `GET /sale/offers` (`OffersSearchResultDto`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OfferList {
    /// The offers.
    #[serde(default)]
    pub(crate) offers: Vec<Offer>,
    /// Offers in this page.
    pub(crate) count: Option<u64>,
    /// Offers matching the filters.
    pub(crate) total_count: Option<u64>,
}

/// One offer (`OfferListingDto`), the fields the adapter reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Offer {
    /// The offer id.
    pub(crate) id: String,
    /// The title.
    pub(crate) name: Option<String>,
    /// Price and format.
    pub(crate) selling_mode: Option<SellingMode>,
    /// Stock.
    pub(crate) stock: Option<Stock>,
    /// Publication status.
    pub(crate) publication: Option<Publication>,
    /// The seller's SKU.
    pub(crate) external: Option<External>,
}

/// `sellingMode`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct SellingMode {
    /// `BUY_NOW`, `AUCTION`, `ADVERTISEMENT`.
    pub(crate) format: Option<String>,
    /// The buy-now price.
    pub(crate) price: Option<Price>,
}

/// `stock`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Stock {
    /// Available quantity.
    pub(crate) available: Option<i64>,
}

/// `publication`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Publication {
    /// `INACTIVE`, `ACTIVATING`, `ACTIVE`, `ENDED`.
    pub(crate) status: Option<String>,
}

/// `external` (`ExternalId`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct External {
    /// The id in the seller's system (the SKU), at most 100 characters.
    pub(crate) id: Option<String>,
}

// ----- batch commands -----

/// `offerCriteria[]` (`OfferCriterium`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct OfferCriterium {
    /// Up to 1,000 offers.
    pub(crate) offers: Vec<IdOnly>,
    /// Always `CONTAINS_OFFERS`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
}

impl OfferCriterium {
    /// `CONTAINS_OFFERS` with these offer ids.
    pub(crate) fn offers(ids: &[String]) -> Vec<Self> {
        vec![Self {
            offers: ids.iter().map(|id| IdOnly { id: id.clone() }).collect(),
            kind: "CONTAINS_OFFERS",
        }]
    }
}

/// `PUT /sale/offer-quantity-change-commands/{commandId}` (`OfferQuantityChangeCommand`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuantityCommand {
    /// The one change applied to every offer.
    pub(crate) modification: QuantityModification,
    /// The offers.
    pub(crate) offer_criteria: Vec<OfferCriterium>,
}

/// `QuantityModification`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuantityModification {
    /// `FIXED` (the engine's quantities are absolute).
    pub(crate) change_type: &'static str,
    /// The new stock (> 0).
    pub(crate) value: u32,
}

/// `PUT /sale/offer-price-change-commands/{commandId}` (`OfferPriceChangeCommand`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriceCommand {
    /// The one change applied to every offer.
    pub(crate) modification: PriceModification,
    /// The offers.
    pub(crate) offer_criteria: Vec<OfferCriterium>,
}

/// `PriceModificationFixedPrice`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PriceModification {
    /// `FIXED_PRICE`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The new buy-now price.
    pub(crate) price: Price,
}

/// `PUT /sale/offer-publication-commands/{commandId}` (`PublicationChangeCommandDto`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublicationCommand {
    /// The action.
    pub(crate) publication: PublicationAction,
    /// The offers.
    pub(crate) offer_criteria: Vec<OfferCriterium>,
}

/// `Publication_modification`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PublicationAction {
    /// `END` (or `ACTIVATE`).
    pub(crate) action: &'static str,
}

/// `GeneralReport`: the answer to a command.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeneralReport {
    /// The command id.
    pub(crate) id: Option<String>,
    /// Set once every task finished.
    pub(crate) completed_at: Option<String>,
    /// Task counts.
    pub(crate) task_count: Option<TaskCount>,
}

/// `TaskCount`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct TaskCount {
    /// Scheduled.
    pub(crate) total: Option<u64>,
    /// Succeeded so far.
    pub(crate) success: Option<u64>,
    /// Failed so far.
    pub(crate) failed: Option<u64>,
}

/// `TaskReport`: `GET …/{commandId}/tasks`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct TaskReport {
    /// One task per offer.
    #[serde(default)]
    pub(crate) tasks: Vec<CommandTask>,
}

/// `CommandTask`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct CommandTask {
    /// The offer.
    pub(crate) offer: Option<IdOnly>,
    /// The field changed.
    pub(crate) field: Option<String>,
    /// `NEW`, `SUCCESS`, `FAIL`.
    pub(crate) status: Option<String>,
    /// Why it failed.
    pub(crate) message: Option<String>,
    /// Details.
    #[serde(default)]
    pub(crate) errors: Vec<ApiError>,
}

// ----- product offers -----

/// `SaleProductOfferResponseV1`, the one field read.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct CreatedOffer {
    /// The new offer's id.
    pub(crate) id: String,
}

// ----- orders -----

/// `GET /order/event-stats`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventStats {
    /// The newest event, absent when the journal is empty.
    pub(crate) latest_event: Option<LatestEvent>,
}

/// `LatestOrderEvent`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LatestEvent {
    /// The event id.
    pub(crate) id: String,
    /// When it happened.
    pub(crate) occurred_at: Option<String>,
}

/// `GET /order/events` (`OrderEventsList`).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct EventList {
    /// The events, oldest first.
    #[serde(default)]
    pub(crate) events: Vec<OrderEvent>,
}

/// `OrderEvent`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderEvent {
    /// The event id (the cursor).
    pub(crate) id: String,
    /// `BOUGHT`, `FILLED_IN`, …
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    /// When.
    pub(crate) occurred_at: Option<String>,
    /// The order.
    pub(crate) order: EventOrder,
}

/// `OrderEventData`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventOrder {
    /// The checkout form.
    pub(crate) checkout_form: EventCheckoutForm,
}

/// `CheckoutFormReference`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct EventCheckoutForm {
    /// The checkout form (order) id.
    pub(crate) id: String,
    /// Its revision at the event.
    pub(crate) revision: Option<String>,
}

/// `GET /order/checkout-forms` (`CheckoutForms`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckoutForms {
    /// The orders, as raw JSON so that one unreadable order does not hide the others.
    #[serde(default)]
    pub(crate) checkout_forms: Vec<Value>,
    /// In this page.
    pub(crate) count: Option<u64>,
    /// Matching.
    pub(crate) total_count: Option<u64>,
}

/// `CheckoutForm`: an order.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckoutForm {
    /// The order id (a UUID).
    pub(crate) id: String,
    /// `BOUGHT`, `FILLED_IN`, `READY_FOR_PROCESSING`, `CANCELLED`.
    pub(crate) status: Option<String>,
    /// The seller's status.
    pub(crate) fulfillment: Option<Fulfillment>,
    /// Buyer.
    pub(crate) buyer: Option<CheckoutBuyer>,
    /// Payment.
    pub(crate) payment: Option<Payment>,
    /// Delivery.
    pub(crate) delivery: Option<CheckoutDelivery>,
    /// Lines.
    #[serde(default)]
    pub(crate) line_items: Vec<LineItem>,
    /// Totals.
    pub(crate) summary: Option<Summary>,
    /// Last change.
    pub(crate) updated_at: Option<String>,
    /// The revision (optimistic locking of the fulfilment status).
    pub(crate) revision: Option<String>,
    /// The marketplace.
    pub(crate) marketplace: Option<IdOnly>,
}

/// `CheckoutFormFulfillment`; also the body of `PUT …/fulfillment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fulfillment {
    /// `NEW`, `PROCESSING`, `READY_FOR_SHIPMENT`, `READY_FOR_PICKUP`, `SENT`, `PICKED_UP`,
    /// `CANCELLED`, `SUSPENDED`, `RETURNED`.
    pub(crate) status: Option<String>,
}

/// `CheckoutFormBuyerReference`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckoutBuyer {
    /// Buyer id.
    pub(crate) id: Option<String>,
    /// E-mail (masked by Allegro).
    pub(crate) email: Option<String>,
    /// Login.
    pub(crate) login: Option<String>,
    /// First name.
    pub(crate) first_name: Option<String>,
    /// Last name.
    pub(crate) last_name: Option<String>,
}

/// `CheckoutFormPaymentReference`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Payment {
    /// The payment id (refunds refer to it).
    pub(crate) id: Option<String>,
    /// `ONLINE`, `CASH_ON_DELIVERY`, …
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    /// When paid.
    pub(crate) finished_at: Option<String>,
    /// Amount paid.
    pub(crate) paid_amount: Option<Price>,
}

/// `CheckoutFormDeliveryReference`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckoutDelivery {
    /// Ship-to address.
    pub(crate) address: Option<DeliveryAddress>,
    /// The delivery method the buyer chose.
    pub(crate) method: Option<DeliveryMethod>,
    /// What the buyer pays for delivery.
    pub(crate) cost: Option<Price>,
}

/// `CheckoutFormDeliveryMethod`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct DeliveryMethod {
    /// Method id.
    pub(crate) id: Option<String>,
    /// Method name (matched against shipping mappings).
    pub(crate) name: Option<String>,
}

/// `CheckoutFormDeliveryAddress`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryAddress {
    /// First name.
    pub(crate) first_name: Option<String>,
    /// Last name.
    pub(crate) last_name: Option<String>,
    /// Street and number.
    pub(crate) street: Option<String>,
    /// City.
    pub(crate) city: Option<String>,
    /// Postal code.
    pub(crate) zip_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub(crate) country_code: Option<String>,
    /// Company.
    pub(crate) company_name: Option<String>,
    /// Phone.
    pub(crate) phone_number: Option<String>,
}

/// `CheckoutFormLineItem`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineItem {
    /// The line id.
    pub(crate) id: String,
    /// The offer sold.
    pub(crate) offer: LineOffer,
    /// Quantity (a JSON number).
    pub(crate) quantity: serde_json::Number,
    /// Unit price paid.
    pub(crate) price: Price,
    /// When bought.
    pub(crate) bought_at: Option<String>,
}

/// `OfferReference`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LineOffer {
    /// Offer id.
    pub(crate) id: Option<String>,
    /// Title.
    pub(crate) name: Option<String>,
    /// The seller's SKU.
    pub(crate) external: Option<External>,
}

/// `CheckoutFormSummary`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    /// What the buyer pays in all.
    pub(crate) total_to_pay: Option<Price>,
}

/// `POST /order/checkout-forms/{id}/shipments` (`CheckoutFormAddWaybillRequest`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddWaybill {
    /// Carrier id (`GET /order/carriers`), `OTHER` with a name for others.
    pub(crate) carrier_id: String,
    /// The tracking number (at most 64 characters).
    pub(crate) waybill: String,
    /// Only with `OTHER` (at most 30 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) carrier_name: Option<String>,
    /// The lines shipped; absent for the whole order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) line_items: Vec<IdOnly>,
}

/// `GET /order/checkout-forms/{id}/shipments`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Waybills {
    /// Tracking numbers already added.
    #[serde(default)]
    pub(crate) shipments: Vec<Waybill>,
}

/// `CheckoutFormAddWaybillCreated`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Waybill {
    /// Shipment id.
    pub(crate) id: Option<String>,
    /// The tracking number.
    pub(crate) waybill: Option<String>,
    /// Carrier id.
    pub(crate) carrier_id: Option<String>,
}

/// `POST /payments/refunds` (`InitializeRefund`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InitializeRefund {
    /// The payment refunded.
    pub(crate) payment: IdOnly,
    /// The order.
    pub(crate) order: IdOnly,
    /// The refund's UUID: Allegro's idempotency key.
    pub(crate) command_id: String,
    /// `REFUND`, `COMPLAINT`, `PRODUCT_NOT_AVAILABLE`, …
    pub(crate) reason: &'static str,
    /// Lines refunded.
    pub(crate) line_items: Vec<RefundLineItem>,
    /// Delivery refunded (full refunds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) delivery: Option<RefundValue>,
    /// The seller's note (at most 250 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seller_comment: Option<String>,
}

/// `RefundLineItem`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RefundLineItem {
    /// The line id.
    pub(crate) id: String,
    /// `QUANTITY` or `AMOUNT`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// For `QUANTITY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quantity: Option<u32>,
    /// For `AMOUNT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<Price>,
}

/// `{"value": Price}`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RefundValue {
    /// The amount.
    pub(crate) value: Price,
}

/// `RefundDetails`, the fields read.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RefundDetails {
    /// The refund id.
    pub(crate) id: Option<String>,
    /// `NEW`, `VALIDATED`, `IN_PROGRESS`, `SUCCESS`, `PARTIAL`, `CANCELED`, `VALIDATE_FAILED`.
    pub(crate) status: Option<String>,
}
