//! The ChannelAdvisor sandbox's RESPONSES checked against ChannelAdvisor's documented shapes.
//!
//! ChannelAdvisor publishes no OpenAPI document (its OData `$metadata` is served live only), so
//! the document checked against here is written from the project's fact sheet
//! (`api/channeladvisor.md`, §3–§5 and §7): the entities' field lists (Product, ProductLabel,
//! Order, OrderItem, Fulfillment, FulfillmentItem, Adjustment, Profile), each entity closed to
//! the fields listed there (OData values may be `null`, so every field is nullable and
//! untyped), the OData collection envelope (`@odata.context`, `value`, `@odata.nextLink`,
//! `@odata.count`), `204` with no body for the actions (Ship, Adjust, Export, label changes), and
//! the error bodies `{"error": {"code", "message"}}` (OData) or `{"Message"}` (ASP.NET's own
//! 401 and routing errors). The same checker as for the official
//! documents runs on it (`marketsync_testkit::openapi`); request paths are spelled with
//! the OData key as its own segment (`/v1/Orders(5001)/Ship` → `/v1/Orders/{key}/Ship`).

mod common;
mod spec_check;

use std::sync::OnceLock;

use common::*;
use marketsync_sandbox::ChannelAdvisorSandbox;
use marketsync_testkit::openapi::RequestSchemas;
use serde_json::{Map, Value, json};
use spec_check::Responses;

const PRODUCT: &[&str] = &[
    "ID",
    "ProfileID",
    "Sku",
    "Title",
    "Subtitle",
    "ShortDescription",
    "Description",
    "Brand",
    "Manufacturer",
    "MPN",
    "UPC",
    "EAN",
    "ISBN",
    "ASIN",
    "Condition",
    "Classification",
    "WarehouseLocation",
    "Weight",
    "Height",
    "Length",
    "Width",
    "Cost",
    "Margin",
    "RetailPrice",
    "StartingPrice",
    "ReservePrice",
    "BuyItNowPrice",
    "StorePrice",
    "SecondChancePrice",
    "MinPrice",
    "MaxPrice",
    "TotalAvailableQuantity",
    "TotalQuantity",
    "OpenAllocatedQuantity",
    "PendingCheckoutQuantity",
    "PendingPaymentQuantity",
    "PendingShipmentQuantity",
    "OpenAllocatedQuantityPooled",
    "PendingCheckoutQuantityPooled",
    "PendingPaymentQuantityPooled",
    "PendingShipmentQuantityPooled",
    "TotalQuantityPooled",
    "QuantitySoldLast7Days",
    "QuantitySoldLast14Days",
    "QuantitySoldLast30Days",
    "QuantitySoldLast60Days",
    "QuantitySoldLast90Days",
    "IsParent",
    "IsInRelationship",
    "ParentProductID",
    "ParentSku",
    "RelationshipName",
    "VaryBy",
    "CopyToChildren",
    "BundleType",
    "ProductType",
    "IsBlocked",
    "BlockComment",
    "IsExternalQuantityBlocked",
    "InfiniteQuantity",
    "Flag",
    "CreateDateUtc",
    "UpdateDateUtc",
    "QuantityUpdateDateUtc",
    "LastSaleDateUtc",
    "IsAvailableInStore",
];
const ORDER: &[&str] = &[
    "ID",
    "ProfileID",
    "SiteID",
    "SiteName",
    "SiteAccountID",
    "SiteOrderID",
    "SecondarySiteOrderID",
    "SellerOrderID",
    "CheckoutSourceID",
    "Currency",
    "CreatedDateUtc",
    "ImportDateUtc",
    "UpdatedDateUtc",
    "PublicNotes",
    "PrivateNotes",
    "SpecialInstructions",
    "TotalPrice",
    "TotalTaxPrice",
    "TotalShippingPrice",
    "TotalShippingTaxPrice",
    "TotalInsurancePrice",
    "TotalGiftOptionPrice",
    "TotalGiftOptionTaxPrice",
    "AdditionalCostOrDiscount",
    "EstimatedShipDateUtc",
    "DeliverByDateUtc",
    "RequestedShippingCarrier",
    "RequestedShippingClass",
    "ResellerID",
    "FlagID",
    "FlagDescription",
    "OrderTags",
    "DistributionCenterTypeRollup",
    "CheckoutStatus",
    "PaymentStatus",
    "ShippingStatus",
    "CheckoutDateUtc",
    "PaymentDateUtc",
    "ShippingDateUtc",
    "BuyerUserId",
    "BuyerEmailAddress",
    "BuyerEmailOptIn",
    "OrderTaxType",
    "ShippingTaxType",
    "GiftOptionsTaxType",
    "PaymentMethod",
    "PaymentTransactionID",
    "PaymentPaypalAccountID",
    "PaymentCreditCardLast4",
    "PaymentMerchantReferenceNumber",
    "PromotionCode",
    "PromotionAmount",
    "UserDataPresent",
    "UserDataRemovalDateUTC",
];
const ADDRESS: &[&str] = &[
    "Title",
    "FirstName",
    "LastName",
    "Suffix",
    "CompanyName",
    "CompanyJobTitle",
    "DaytimePhone",
    "EveningPhone",
    "AddressLine1",
    "AddressLine2",
    "City",
    "StateOrProvince",
    "StateOrProvinceName",
    "PostalCode",
    "Country",
];
const ORDER_ITEM: &[&str] = &[
    "ID",
    "ProfileID",
    "OrderID",
    "ProductID",
    "SiteOrderItemID",
    "SellerOrderItemID",
    "SiteListingID",
    "Sku",
    "Title",
    "Quantity",
    "UnitPrice",
    "TaxPrice",
    "ShippingPrice",
    "ShippingTaxPrice",
    "RecyclingFee",
    "UnitEstimatedShippingCost",
    "GiftMessage",
    "GiftNotes",
    "GiftPrice",
    "GiftTaxPrice",
    "IsBundle",
    "ItemURL",
    "HarmonizedCode",
    "ReferenceSku",
    "ReferenceProductID",
];
const FULFILLMENT: &[&str] = &[
    "ID",
    "ProfileID",
    "OrderID",
    "CreatedDateUtc",
    "UpdatedDateUtc",
    "Type",
    "DeliveryStatus",
    "TrackingNumber",
    "TrackingUrl",
    "ReturnTrackingNumber",
    "ShippingCarrier",
    "ShippingClass",
    "DistributionCenterID",
    "ExternalFulfillmentCenterCode",
    "ExternalFulfillmentStatus",
    "ShippingCost",
    "InsuranceCost",
    "TaxCost",
    "ShippedDateUtc",
    "SellerFulfillmentID",
    "HasShippingLabel",
];
const FULFILLMENT_ITEM: &[&str] = &[
    "ID",
    "ProfileID",
    "FulfillmentID",
    "OrderID",
    "OrderItemID",
    "ProductID",
    "Quantity",
];
/// Adjustment (§6: the Adjust action's fields as kept on the order).
const ADJUSTMENT: &[&str] = &[
    "ID",
    "ProfileID",
    "OrderID",
    "OrderItemID",
    "CreatedDateUtc",
    "SellerAdjustmentID",
    "SiteAdjustmentID",
    "Reason",
    "Comment",
    "AdjustmentAmount",
    "AdjustmentTaxAmount",
    "ShippingAdjustment",
    "ShippingTaxAdjustment",
    "GiftWrapAdjustment",
    "GiftWrapTaxAdjustment",
    "RecyclingFeeAdjustment",
    "Quantity",
    "Type",
    "RequestStatus",
    "IsRestock",
    "RefundOnly",
];
const PRODUCT_LABEL: &[&str] = &["ProductID", "ProfileID", "Name"];
const DC_QUANTITY: &[&str] = &[
    "ProductID",
    "ProfileID",
    "DistributionCenterID",
    "AvailableQuantity",
];
const PROFILE: &[&str] = &[
    "ID",
    "AccountName",
    "CompanyName",
    "CurrencyCode",
    "TimeZoneRegion",
    "TimeZoneDescription",
    "DefaultDistributionCenterID",
];

/// A closed object of untyped, nullable fields, plus navigation collections.
fn entity(fields: &[&str], navigations: &[(&str, &str)]) -> Value {
    let mut properties: Map<String, Value> = fields
        .iter()
        .map(|f| ((*f).to_owned(), json!({})))
        .collect();
    for (name, target) in navigations {
        properties.insert(
            (*name).to_owned(),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{target}")}}),
        );
        properties.insert(format!("{name}@odata.nextLink"), json!({"type": "string"}));
    }
    properties.insert("@odata.context".into(), json!({"type": "string"}));
    json!({"type": "object", "properties": properties})
}

fn collection(target: &str) -> Value {
    json!({
        "type": "object",
        "required": ["value"],
        "properties": {
            "@odata.context": {"type": "string"},
            "@odata.nextLink": {"type": "string"},
            "@odata.count": {"type": "integer"},
            "value": {"type": "array", "items": {"$ref": format!("#/components/schemas/{target}")}}
        }
    })
}

fn ok(schema: Value) -> Value {
    json!({"200": {"content": {"application/json": {"schema": schema}}}, "default": {"$ref": "#/components/responses/Error"}})
}

fn no_content() -> Value {
    json!({"204": {"description": "done"}, "default": {"$ref": "#/components/responses/Error"}})
}

fn entity_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The document written from the fact sheet.
fn spec() -> &'static RequestSchemas {
    static SPEC: OnceLock<RequestSchemas> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut order_fields: Vec<String> = ORDER.iter().map(|f| (*f).to_owned()).collect();
        for prefix in ["Shipping", "Billing"] {
            order_fields.extend(ADDRESS.iter().map(|f| format!("{prefix}{f}")));
        }
        let order_fields: Vec<&str> = order_fields.iter().map(String::as_str).collect();
        RequestSchemas::from_json(json!({
            "paths": {
                "/v1/Profiles": {"get": {"responses": ok(collection("Profile"))}},
                "/v1/Products": {"get": {"responses": ok(collection("Product"))}},
                "/v1/Products/{key}": {
                    "get": {"responses": ok(entity_ref("Product"))},
                    "patch": {"responses": no_content()}
                },
                "/v1/Products/{key}/UpdateQuantity": {"post": {"responses": no_content()}},
                "/v1/ProductLabels/{key}": {
                    "put": {"responses": no_content()},
                    "delete": {"responses": no_content()}
                },
                "/v1/Orders": {"get": {"responses": ok(collection("Order"))}},
                "/v1/Orders/{key}": {"get": {"responses": ok(entity_ref("Order"))}},
                "/v1/Orders/{key}/Items": {"get": {"responses": ok(collection("OrderItem"))}},
                "/v1/Orders/{key}/Ship": {"post": {"responses": no_content()}},
                "/v1/Orders/{key}/Export": {"post": {"responses": no_content()}},
                "/v1/Orders/{key}/Adjust": {"post": {"responses": no_content()}},
                "/v1/OrderItems/{key}/Adjust": {"post": {"responses": no_content()}}
            },
            "components": {
                // §7: OData errors, and ASP.NET Web API's own (401 "Authorization has been
                // denied for this request.", routing errors).
                "responses": {"Error": {"content": {"application/json": {"schema": {"oneOf": [
                    {
                        "type": "object",
                        "required": ["error"],
                        "properties": {"error": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                        }}
                    },
                    {
                        "type": "object",
                        "required": ["Message"],
                        "properties": {"$id": {"type": "string"}, "Message": {"type": "string"}}
                    }
                ]}}}}},
                "schemas": {
                    "Product": entity(PRODUCT, &[
                        ("Labels", "ProductLabel"), ("DCQuantities", "DCQuantity")
                    ]),
                    "ProductLabel": entity(PRODUCT_LABEL, &[]),
                    "DCQuantity": entity(DC_QUANTITY, &[]),
                    "Order": entity(&order_fields, &[
                        ("Items", "OrderItem"), ("Fulfillments", "Fulfillment"),
                        ("Adjustments", "Adjustment")
                    ]),
                    "OrderItem": entity(ORDER_ITEM, &[
                        ("FulfillmentItems", "FulfillmentItem"), ("Adjustments", "Adjustment")
                    ]),
                    "Fulfillment": entity(FULFILLMENT, &[("Items", "FulfillmentItem")]),
                    "FulfillmentItem": entity(FULFILLMENT_ITEM, &[]),
                    "Adjustment": entity(ADJUSTMENT, &[]),
                    "Profile": entity(PROFILE, &[])
                }
            }
        }))
    })
}

/// `/v1/Orders(5001)/Ship` → `/v1/Orders/{key}/Ship`: the OData key as its own segment.
fn odata_path(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.split_once('(') {
            Some((name, _)) => format!("{name}/{{key}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_answer_of_the_main_routes_matches_the_fact_sheet() {
    let ca = start(ChannelAdvisorSandbox::builder()).await;
    let mut r = Responses::new(spec()).with_path_map(odata_path);
    let c = r.client().clone();
    let token = token(&ca, &c).await;
    let base = format!("{}/v1", ca.base_url());
    let get = |url: String| c.get(url).bearer_auth(&token);

    r.send(get(format!("{base}/Profiles"))).await;
    // Listings read, as the adapter asks and in full.
    let (_, products) = r
        .send(get(format!(
            "{base}/Products?$expand=Labels&$select=ID,Sku,Title,TotalAvailableQuantity,BuyItNowPrice&$count=true"
        )))
        .await;
    assert!(
        products["value"][0].get("BuyItNowPrice").is_some(),
        "the price is served when selected: {}",
        products["value"][0]
    );
    let (_, all) = r
        .send(get(format!("{base}/Products?$expand=Labels,DCQuantities")))
        .await;
    let product = all["value"][0]["ID"].as_i64().expect("a product");
    r.send(get(format!("{base}/Products({product})"))).await;

    // Orders read.
    let (_, orders) = r
        .send(get(format!(
            "{base}/Orders?exported=false&$expand=Items,Fulfillments($expand=Items),Adjustments"
        )))
        .await;
    let unshipped = orders["value"]
        .as_array()
        .expect("orders")
        .iter()
        .find(|o| o["ShippingStatus"] == "Unshipped" && o["PaymentStatus"] == "Cleared")
        .cloned()
        .expect("an unshipped, paid order");
    let order = unshipped["ID"].as_i64().expect("id");
    r.send(get(format!(
        "{base}/Orders({order})?$expand=Items,Fulfillments($expand=Items),Adjustments"
    )))
    .await;
    r.send(get(format!("{base}/Orders({order})/Items"))).await;

    // Writes.
    let (status, _) = r
        .send(
            c.post(format!("{base}/Orders({order})/Ship"))
                .bearer_auth(&token)
                .json(&json!({"Value": {
                    "ShippedDateUtc": "2025-06-01T10:00:00Z", "TrackingNumber": "1Z999",
                    "ShippingCarrier": unshipped["RequestedShippingCarrier"],
                    "ShippingClass": unshipped["RequestedShippingClass"],
                    "DeliveryStatus": "Complete", "SellerFulfillmentID": "ship-1"
                }})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = r
        .send(
            c.post(format!("{base}/Orders({order})/Export"))
                .bearer_auth(&token)
                .header("Content-Length", "0"),
        )
        .await;
    assert_eq!(status, 204);

    // Errors.
    let (status, _) = r.send(get(format!("{base}/Orders(999999999)"))).await;
    assert_eq!(status, 404);
    let (status, _) = r
        .send(
            c.post(format!("{base}/Orders({order})/Ship"))
                .bearer_auth(&token)
                .json(&json!({"Value": {"ShippingCarrier": "UPS"}})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = r.send(c.get(format!("{base}/Orders"))).await;
    assert_eq!(status, 401);

    r.assert_all_conform(&[
        "GET /v1/Profiles → 200",
        "GET /v1/Products → 200",
        "GET /v1/Products/{key} → 200",
        "GET /v1/Orders → 200",
        "GET /v1/Orders/{key} → 200",
        "GET /v1/Orders/{key}/Items → 200",
        "POST /v1/Orders/{key}/Ship → 204",
        "POST /v1/Orders/{key}/Export → 204",
        "GET /v1/Orders/{key} → 404",
        "POST /v1/Orders/{key}/Ship → 400",
        "GET /v1/Orders → 401",
    ]);
}
