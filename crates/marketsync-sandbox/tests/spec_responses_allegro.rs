//! The Allegro sandbox's RESPONSES checked against Allegro's official OpenAPI document
//! (`marketsync-allegro/tests/fixtures/allegro-openapi.yaml`, the copy of the project's
//! `api/specs/allegro-openapi.yaml`): each main route is driven with a plain reqwest client — the
//! account, offers read (list and one), offer create, change commands (create, summary, tasks),
//! checkout forms read (list and one), the event journal and its stats, fulfillment, shipments,
//! refunds — and errors (unknown offer, bad paging, a reused command id, an unknown carrier, an
//! unknown event id, a foreign line item, an outdated revision), and every JSON body is checked
//! against the response schema of its operation, status and media type: no field the schema
//! does not know, every value of the schema's type and format, `null` only where `nullable`.
//!
//! Where the document lists a status without describing its body (the `422` of
//! `GET /order/events`, the `404` of the command routes), the body cannot be checked; those are
//! marked `(body not described)` and still must be answered with the status the document lists.

mod spec_check;

use std::sync::{Arc, OnceLock};

use marketsync_core::ManualClock;
use marketsync_sandbox::allegro::default_anchor;
use marketsync_sandbox::{AllegroSandbox, Sandbox};
use marketsync_testkit::openapi::RequestSchemas;
use reqwest::Method;
use serde_json::{Value, json};
use spec_check::{Responses, yaml_spec};

const MEDIA: &str = "application/vnd.allegro.public.v1+json";

fn spec() -> &'static RequestSchemas {
    static SPEC: OnceLock<RequestSchemas> = OnceLock::new();
    SPEC.get_or_init(|| {
        yaml_spec(include_str!(
            "../../marketsync-allegro/tests/fixtures/allegro-openapi.yaml"
        ))
    })
}

struct Api<'a> {
    base: String,
    token: String,
    r: Responses<'a>,
}

impl Api<'_> {
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .r
            .client()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Accept", MEDIA);
        if let Some(b) = body {
            rb = rb.header("Content-Type", MEDIA).body(b.to_string());
        }
        self.r.send(rb).await
    }

    async fn get(&mut self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }
}

#[tokio::test]
async fn every_answer_of_the_main_routes_matches_the_spec() {
    let clock = Arc::new(ManualClock::new(default_anchor()));
    let al: Sandbox<AllegroSandbox> = AllegroSandbox::builder()
        .clock(clock)
        .build()
        .start()
        .await
        .expect("sandbox starts");
    let mut api = Api {
        base: al.base_url(),
        token: al.credentials().access_token,
        r: Responses::new(spec()),
    };

    // Account and offers read.
    api.get("/me").await;
    api.get("/sale/offers?limit=1000").await;
    let ended = api.get("/sale/offers?publication.status=ENDED").await.1;
    assert!(
        ended["count"].as_u64().unwrap_or(0) >= 1,
        "the seed has ended offers"
    );
    for sku in ["SKU-0001", "SKU-0003"] {
        let id = al.offer_id_by_external(sku).expect("seeded");
        api.get(&format!("/sale/product-offers/{id}")).await;
    }

    // Offer create (draft and published).
    for status in ["INACTIVE", "ACTIVE"] {
        let (code, created) = api
            .call(
                Method::POST,
                "/sale/product-offers",
                Some(json!({
                    "name": format!("Nowa oferta {status}"),
                    "sellingMode": {"price": {"amount": "12.50", "currency": "PLN"}},
                    "stock": {"available": 3},
                    "external": {"id": format!("NEW-{status}")},
                    "publication": {"status": status}
                })),
            )
            .await;
        assert!(code == 201 || code == 202, "{code} {created}");
    }

    // Change commands.
    let active = al.offer_id_by_external("SKU-0001").expect("seeded");
    let command = "/sale/offer-quantity-change-commands/5b1f3a2e-0000-4000-8000-000000000001";
    let body = json!({
        "modification": {"changeType": "FIXED", "value": 17},
        "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": active}, {"id": "999"}]}],
    });
    api.call(Method::PUT, command, Some(body.clone())).await;
    api.get(command).await;
    api.get(command).await;
    api.get(&format!("{command}/tasks")).await;
    let price = "/sale/offer-price-change-commands/5b1f3a2e-0000-4000-8000-000000000002";
    api.call(
        Method::PUT,
        price,
        Some(json!({
            "modification": {"type": "FIXED_PRICE", "price": {"amount": "20.00", "currency": "PLN"}},
            "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": active}]}],
        })),
    )
    .await;
    let publication = "/sale/offer-publication-commands/5b1f3a2e-0000-4000-8000-000000000003";
    api.call(
        Method::PUT,
        publication,
        Some(json!({
            "publication": {"action": "END"},
            "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": active}]}],
        })),
    )
    .await;
    for c in [price, publication] {
        api.get(c).await;
        api.get(c).await;
        api.get(&format!("{c}/tasks")).await;
    }
    // Ended now: its read has `publication.endedAt`… as the schema allows.
    api.get(&format!("/sale/product-offers/{active}")).await;
    api.get(&format!("/sale/offers?offer.id={active}")).await;

    // Orders read.
    let forms = api.get("/order/checkout-forms?limit=100").await.1;
    for f in forms["checkoutForms"].as_array().expect("forms") {
        let id = f["id"].as_str().expect("id");
        api.get(&format!("/order/checkout-forms/{id}")).await;
    }
    let stats = api.get("/order/event-stats").await.1;
    let events = api.get("/order/events?limit=1000").await.1;
    assert!(!events["events"].as_array().expect("events").is_empty());
    let latest = stats["latestEvent"]["id"]
        .as_str()
        .expect("a latest event")
        .to_owned();
    api.get(&format!("/order/events?from={latest}")).await;

    // Fulfillment, shipments, refunds.
    let ready = api
        .get("/order/checkout-forms?status=READY_FOR_PROCESSING&limit=1")
        .await
        .1;
    let form = ready["checkoutForms"][0].clone();
    let id = form["id"].as_str().expect("id").to_owned();
    let revision = form["revision"].as_str().expect("revision").to_owned();
    api.call(
        Method::PUT,
        &format!("/order/checkout-forms/{id}/fulfillment?checkoutForm.revision={revision}"),
        Some(json!({"status": "READY_FOR_SHIPMENT"})),
    )
    .await;
    api.call(
        Method::POST,
        &format!("/order/checkout-forms/{id}/shipments"),
        Some(json!({"carrierId": "INPOST", "waybill": "620000000000000000000001"})),
    )
    .await;
    api.get(&format!("/order/checkout-forms/{id}/shipments"))
        .await;
    let line = &form["lineItems"][0];
    api.call(
        Method::POST,
        "/payments/refunds",
        Some(json!({
            "payment": {"id": form["payment"]["id"]},
            "order": {"id": id},
            "commandId": "2f1f0000-0000-4000-8000-000000000009",
            "reason": "REFUND",
            "lineItems": [{"id": line["id"], "type": "QUANTITY", "quantity": 1}],
        })),
    )
    .await;

    // Errors.
    let gone = al.offer_id_by_external("SKU-0002").expect("seeded");
    al.delete_offer(&gone);
    assert_eq!(
        api.get(&format!("/sale/product-offers/{gone}")).await.0,
        404
    );
    assert_eq!(api.get("/order/checkout-forms?limit=101").await.0, 422);
    assert_eq!(api.get("/order/checkout-forms/no-such-form").await.0, 404);
    assert_eq!(
        api.call(Method::PUT, command, Some(body)).await.0,
        409,
        "a reused command id"
    );
    assert_eq!(
        api.call(
            Method::POST,
            &format!("/order/checkout-forms/{id}/shipments"),
            Some(json!({"carrierId": "NOPE", "waybill": "1"})),
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            Method::PUT,
            &format!("/order/checkout-forms/{id}/fulfillment?checkoutForm.revision=stale"),
            Some(json!({"status": "SENT"})),
        )
        .await
        .0,
        409
    );
    // An event id the journal does not know: the spec's answer to incorrect query
    // parameters, 422 (not an undocumented 400).
    assert_eq!(api.get("/order/events?from=no-such-event").await.0, 422);
    assert_eq!(api.get("/order/events?limit=0").await.0, 422);

    api.r.assert_all_conform(&[
        "GET /me → 200",
        "GET /sale/offers → 200",
        "GET /sale/product-offers/{offerId} → 200",
        "POST /sale/product-offers → 201",
        "POST /sale/product-offers → 202",
        "PUT /sale/offer-quantity-change-commands/{commandId} → 201",
        "GET /sale/offer-quantity-change-commands/{commandId} → 200",
        "GET /sale/offer-quantity-change-commands/{commandId}/tasks → 200",
        "PUT /sale/offer-price-change-commands/{commandId} → 201",
        "GET /sale/offer-price-change-commands/{commandId}/tasks → 200",
        "PUT /sale/offer-publication-commands/{commandId} → 201",
        "GET /sale/offer-publication-commands/{commandId}/tasks → 200",
        "GET /order/checkout-forms → 200",
        "GET /order/checkout-forms/{id} → 200",
        "GET /order/event-stats → 200",
        "GET /order/events → 200",
        "PUT /order/checkout-forms/{id}/fulfillment → 204",
        "POST /order/checkout-forms/{id}/shipments → 201",
        "GET /order/checkout-forms/{id}/shipments → 200",
        "POST /payments/refunds → 200",
        "GET /sale/product-offers/{offerId} → 404",
        "PUT /sale/offer-quantity-change-commands/{commandId} → 409 (body not described)",
        "POST /order/checkout-forms/{id}/shipments → 400",
        "PUT /order/checkout-forms/{id}/fulfillment → 409",
        "GET /order/events → 422 (body not described)",
    ]);
}

/// The harness's offer template, completed with what the adapter fills in, is a valid
/// `POST /sale/product-offers` body: the after-sales ids the spec types `format: uuid` are
/// UUIDs.
#[test]
fn the_harness_offer_template_is_a_valid_offer_request() {
    let mut body = marketsync_sandbox::allegro::harness::offer_template();
    let fields = body.as_object_mut().expect("an object");
    for (k, v) in [
        ("name", json!("Koszulka bawełniana")),
        ("external", json!({"id": "SKU-1"})),
        (
            "sellingMode",
            json!({"price": {"amount": "49.99", "currency": "PLN"}}),
        ),
        ("stock", json!({"available": 3})),
        ("publication", json!({"status": "INACTIVE"})),
    ] {
        fields.insert(k.to_owned(), v);
    }
    assert_eq!(
        spec().check_request_body("POST", "/sale/product-offers", MEDIA, &body),
        Ok(())
    );
}
