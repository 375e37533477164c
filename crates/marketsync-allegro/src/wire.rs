//! Allegro's JSON exactly as it is sent and received (field names from the official OpenAPI
//! document). Unknown fields are ignored: Allegro adds fields without notice.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of every request and response body (`Accept` and `Content-Type`).
pub const MEDIA_TYPE: &str = "application/vnd.allegro.public.v1+json";

/// `Price` / `BuyNowPrice`: `{"amount": "123.45", "currency": "PLN"}`, the amount a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// The amount, as a decimal string.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

/// One element of `ErrorsHolder.errors` (also `CommandTask.errors`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// Machine code.
    pub code: Option<String>,
    /// English, technical.
    pub message: Option<String>,
    /// The offending field.
    pub path: Option<String>,
    /// Localised, for the seller.
    pub user_message: Option<String>,
}

// ----- /me -----

/// `GET /me`.
#[derive(Clone, Debug, Deserialize)]
pub struct Me {
    /// The user id.
    pub id: String,
    /// The login.
    pub login: Option<String>,
    /// The base marketplace.
    #[serde(rename = "baseMarketplace")]
    pub base_marketplace: Option<IdOnly>,
}

/// `{"id": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdOnly {
    /// The id.
    pub id: String,
}

// ----- offers -----

/// `GET /sale/offers` (`OffersSearchResultDto`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferList {
    /// The offers.
    #[serde(default)]
    pub offers: Vec<Offer>,
    /// Offers in this page.
    pub count: Option<u64>,
    /// Offers matching the filters.
    pub total_count: Option<u64>,
}

/// One offer (`OfferListingDto`), the fields the adapter reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// The offer id.
    pub id: String,
    /// The title.
    pub name: Option<String>,
    /// Price and format.
    pub selling_mode: Option<SellingMode>,
    /// Stock.
    pub stock: Option<Stock>,
    /// Publication status.
    pub publication: Option<Publication>,
    /// The seller's SKU.
    pub external: Option<External>,
}

/// `sellingMode`.
#[derive(Clone, Debug, Deserialize)]
pub struct SellingMode {
    /// `BUY_NOW`, `AUCTION`, `ADVERTISEMENT`.
    pub format: Option<String>,
    /// The buy-now price.
    pub price: Option<Price>,
}

/// `stock`.
#[derive(Clone, Debug, Deserialize)]
pub struct Stock {
    /// Available quantity.
    pub available: Option<i64>,
}

/// `publication`.
#[derive(Clone, Debug, Deserialize)]
pub struct Publication {
    /// `INACTIVE`, `ACTIVATING`, `ACTIVE`, `ENDED`.
    pub status: Option<String>,
}

/// `external` (`ExternalId`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct External {
    /// The id in the seller's system (the SKU), at most 100 characters.
    pub id: Option<String>,
}

// ----- batch commands -----

/// `offerCriteria[]` (`OfferCriterium`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OfferCriterium {
    /// Up to 1,000 offers.
    pub offers: Vec<IdOnly>,
    /// Always `CONTAINS_OFFERS`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl OfferCriterium {
    /// `CONTAINS_OFFERS` with these offer ids.
    pub fn offers(ids: &[String]) -> Vec<Self> {
        vec![Self {
            offers: ids.iter().map(|id| IdOnly { id: id.clone() }).collect(),
            kind: "CONTAINS_OFFERS",
        }]
    }
}

/// `PUT /sale/offer-quantity-change-commands/{commandId}` (`OfferQuantityChangeCommand`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantityCommand {
    /// The one change applied to every offer.
    pub modification: QuantityModification,
    /// The offers.
    pub offer_criteria: Vec<OfferCriterium>,
}

/// `QuantityModification`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantityModification {
    /// `FIXED` (the engine's quantities are absolute).
    pub change_type: &'static str,
    /// The new stock (> 0).
    pub value: u32,
}

/// `PUT /sale/offer-price-change-commands/{commandId}` (`OfferPriceChangeCommand`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceCommand {
    /// The one change applied to every offer.
    pub modification: PriceModification,
    /// The offers.
    pub offer_criteria: Vec<OfferCriterium>,
}

/// `PriceModificationFixedPrice`.
#[derive(Clone, Debug, Serialize)]
pub struct PriceModification {
    /// `FIXED_PRICE`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The new buy-now price.
    pub price: Price,
}

/// `PUT /sale/offer-publication-commands/{commandId}` (`PublicationChangeCommandDto`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicationCommand {
    /// The action.
    pub publication: PublicationAction,
    /// The offers.
    pub offer_criteria: Vec<OfferCriterium>,
}

/// `Publication_modification`.
#[derive(Clone, Debug, Serialize)]
pub struct PublicationAction {
    /// `END` (or `ACTIVATE`).
    pub action: &'static str,
}

/// `GeneralReport`: the answer to a command.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneralReport {
    /// The command id.
    pub id: Option<String>,
    /// Set once every task finished.
    pub completed_at: Option<String>,
    /// Task counts.
    pub task_count: Option<TaskCount>,
}

/// `TaskCount`.
#[derive(Clone, Debug, Deserialize)]
pub struct TaskCount {
    /// Scheduled.
    pub total: Option<u64>,
    /// Succeeded so far.
    pub success: Option<u64>,
    /// Failed so far.
    pub failed: Option<u64>,
}

/// `TaskReport`: `GET …/{commandId}/tasks`.
#[derive(Clone, Debug, Deserialize)]
pub struct TaskReport {
    /// One task per offer.
    #[serde(default)]
    pub tasks: Vec<CommandTask>,
}

/// `CommandTask`.
#[derive(Clone, Debug, Deserialize)]
pub struct CommandTask {
    /// The offer.
    pub offer: Option<IdOnly>,
    /// The field changed.
    pub field: Option<String>,
    /// `NEW`, `SUCCESS`, `FAIL`.
    pub status: Option<String>,
    /// Why it failed.
    pub message: Option<String>,
    /// Details.
    #[serde(default)]
    pub errors: Vec<ApiError>,
}

// ----- product offers -----

/// `SaleProductOfferResponseV1`, the one field read.
#[derive(Clone, Debug, Deserialize)]
pub struct CreatedOffer {
    /// The new offer's id.
    pub id: String,
}

// ----- orders -----

/// `GET /order/event-stats`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStats {
    /// The newest event, absent when the journal is empty.
    pub latest_event: Option<LatestEvent>,
}

/// `LatestOrderEvent`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatestEvent {
    /// The event id.
    pub id: String,
    /// When it happened.
    pub occurred_at: Option<String>,
}

/// `GET /order/events` (`OrderEventsList`).
#[derive(Clone, Debug, Deserialize)]
pub struct EventList {
    /// The events, oldest first.
    #[serde(default)]
    pub events: Vec<OrderEvent>,
}

/// `OrderEvent`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    /// The event id (the cursor).
    pub id: String,
    /// `BOUGHT`, `FILLED_IN`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// When.
    pub occurred_at: Option<String>,
    /// The order.
    pub order: EventOrder,
}

/// `OrderEventData`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOrder {
    /// The checkout form.
    pub checkout_form: EventCheckoutForm,
}

/// `CheckoutFormReference`.
#[derive(Clone, Debug, Deserialize)]
pub struct EventCheckoutForm {
    /// The checkout form (order) id.
    pub id: String,
    /// Its revision at the event.
    pub revision: Option<String>,
}

/// `GET /order/checkout-forms` (`CheckoutForms`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutForms {
    /// The orders, as raw JSON so that one unreadable order does not hide the others.
    #[serde(default)]
    pub checkout_forms: Vec<Value>,
    /// In this page.
    pub count: Option<u64>,
    /// Matching.
    pub total_count: Option<u64>,
}

/// `CheckoutForm`: an order.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutForm {
    /// The order id (a UUID).
    pub id: String,
    /// `BOUGHT`, `FILLED_IN`, `READY_FOR_PROCESSING`, `CANCELLED`.
    pub status: Option<String>,
    /// The seller's status.
    pub fulfillment: Option<Fulfillment>,
    /// Buyer.
    pub buyer: Option<CheckoutBuyer>,
    /// Payment.
    pub payment: Option<Payment>,
    /// Delivery.
    pub delivery: Option<CheckoutDelivery>,
    /// Lines.
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// Totals.
    pub summary: Option<Summary>,
    /// Last change.
    pub updated_at: Option<String>,
    /// The revision (optimistic locking of the fulfilment status).
    pub revision: Option<String>,
    /// The marketplace.
    pub marketplace: Option<IdOnly>,
}

/// `CheckoutFormFulfillment`; also the body of `PUT …/fulfillment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    /// `NEW`, `PROCESSING`, `READY_FOR_SHIPMENT`, `READY_FOR_PICKUP`, `SENT`, `PICKED_UP`,
    /// `CANCELLED`, `SUSPENDED`, `RETURNED`.
    pub status: Option<String>,
}

/// `CheckoutFormBuyerReference`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutBuyer {
    /// Buyer id.
    pub id: Option<String>,
    /// E-mail (masked by Allegro).
    pub email: Option<String>,
    /// Login.
    pub login: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
}

/// `CheckoutFormPaymentReference`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The payment id (refunds refer to it).
    pub id: Option<String>,
    /// `ONLINE`, `CASH_ON_DELIVERY`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// When paid.
    pub finished_at: Option<String>,
    /// Amount paid.
    pub paid_amount: Option<Price>,
}

/// `CheckoutFormDeliveryReference`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutDelivery {
    /// Ship-to address.
    pub address: Option<DeliveryAddress>,
    /// The delivery method the buyer chose.
    pub method: Option<DeliveryMethod>,
    /// What the buyer pays for delivery.
    pub cost: Option<Price>,
}

/// `CheckoutFormDeliveryMethod`.
#[derive(Clone, Debug, Deserialize)]
pub struct DeliveryMethod {
    /// Method id.
    pub id: Option<String>,
    /// Method name (matched against shipping mappings).
    pub name: Option<String>,
}

/// `CheckoutFormDeliveryAddress`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAddress {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Street and number.
    pub street: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub zip_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country_code: Option<String>,
    /// Company.
    pub company_name: Option<String>,
    /// Phone.
    pub phone_number: Option<String>,
}

/// `CheckoutFormLineItem`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// The line id.
    pub id: String,
    /// The offer sold.
    pub offer: LineOffer,
    /// Quantity (a JSON number).
    pub quantity: serde_json::Number,
    /// Unit price paid.
    pub price: Price,
    /// When bought.
    pub bought_at: Option<String>,
}

/// `OfferReference`.
#[derive(Clone, Debug, Deserialize)]
pub struct LineOffer {
    /// Offer id.
    pub id: Option<String>,
    /// Title.
    pub name: Option<String>,
    /// The seller's SKU.
    pub external: Option<External>,
}

/// `CheckoutFormSummary`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// What the buyer pays in all.
    pub total_to_pay: Option<Price>,
}

/// `POST /order/checkout-forms/{id}/shipments` (`CheckoutFormAddWaybillRequest`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddWaybill {
    /// Carrier id (`GET /order/carriers`), `OTHER` with a name for others.
    pub carrier_id: String,
    /// The tracking number (at most 64 characters).
    pub waybill: String,
    /// Only with `OTHER` (at most 30 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_name: Option<String>,
    /// The lines shipped; absent for the whole order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<IdOnly>,
}

/// `GET /order/checkout-forms/{id}/shipments`.
#[derive(Clone, Debug, Deserialize)]
pub struct Waybills {
    /// Tracking numbers already added.
    #[serde(default)]
    pub shipments: Vec<Waybill>,
}

/// `CheckoutFormAddWaybillCreated`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waybill {
    /// Shipment id.
    pub id: Option<String>,
    /// The tracking number.
    pub waybill: Option<String>,
    /// Carrier id.
    pub carrier_id: Option<String>,
}

/// `POST /payments/refunds` (`InitializeRefund`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeRefund {
    /// The payment refunded.
    pub payment: IdOnly,
    /// The order.
    pub order: IdOnly,
    /// The refund's UUID: Allegro's idempotency key.
    pub command_id: String,
    /// `REFUND`, `COMPLAINT`, `PRODUCT_NOT_AVAILABLE`, …
    pub reason: &'static str,
    /// Lines refunded.
    pub line_items: Vec<RefundLineItem>,
    /// Delivery refunded (full refunds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<RefundValue>,
    /// The seller's note (at most 250 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_comment: Option<String>,
}

/// `RefundLineItem`.
#[derive(Clone, Debug, Serialize)]
pub struct RefundLineItem {
    /// The line id.
    pub id: String,
    /// `QUANTITY` or `AMOUNT`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// For `QUANTITY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// For `AMOUNT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Price>,
}

/// `{"value": Price}`.
#[derive(Clone, Debug, Serialize)]
pub struct RefundValue {
    /// The amount.
    pub value: Price,
}

/// `RefundDetails`, the fields read.
#[derive(Clone, Debug, Deserialize)]
pub struct RefundDetails {
    /// The refund id.
    pub id: Option<String>,
    /// `NEW`, `VALIDATED`, `IN_PROGRESS`, `SUCCESS`, `PARTIAL`, `CANCELED`, `VALIDATE_FAILED`.
    pub status: Option<String>,
}
