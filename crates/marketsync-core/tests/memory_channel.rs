//! MemoryChannel behaves like a real channel: paging, cursors, idempotency, scripted failures.

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync_core::{
    Address, Buyer, Capabilities, Channel, ChannelKind, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Currency, CurrencySource, EndListing, EndReason,
    ErrorKind, IdempotencyKey, ListingQuery, ListingUpdate, MemoryChannel, Money, NewListing,
    Operation, Order, OrderLine, OrderQuery, OrderState, OrderStatus, Shipment, ShipmentRequest,
    Sku,
};

fn listing(id: &str, sku: &str) -> ChannelListing {
    ChannelListing {
        id: ChannelListingId::new(id).unwrap(),
        sku: Some(Sku::new(sku).unwrap()),
        title: Some(format!("Item {sku}")),
        price: Some(Money::parse("10.00", "USD").unwrap()),
        quantity: Some(1),
        state: ChannelListingState::Live,
        raw_state: "live".into(),
    }
}

fn order(id: &str, day: u32) -> Order {
    Order {
        channel_order_id: ChannelOrderId::new(id).unwrap(),
        marketplace_order_id: None,
        site: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap(),
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(Sku::new("A").unwrap()),
            listing_id: None,
            title: "A".into(),
            quantity: 2,
            unit_price: Money::parse("5.00", "USD").unwrap(),
        }],
        shipping_method: Some("Standard".into()),
        shipping_price: Some(Money::parse("1.00", "USD").unwrap()),
        tax: None,
        total: Some(Money::parse("11.00", "USD").unwrap()),
        shipping_address: Some(Address::default()),
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    }
}

fn query(cursor: Option<marketsync_core::Cursor>) -> OrderQuery {
    OrderQuery {
        cursor,
        created_since: None,
        states: vec![],
        default_currency: Currency::EUR,
        page: None,
        page_size: None,
    }
}

#[tokio::test]
async fn listings_page_and_filter_by_sku() {
    let ch = MemoryChannel::new(ChannelKind::Reverb).with_page_size(2);
    for i in 0..5 {
        ch.add_listing(listing(&format!("L{i}"), &format!("S{i}")));
    }
    let mut seen = Vec::new();
    let mut q = ListingQuery::default();
    loop {
        let page = ch.list_listings(&q).await.unwrap();
        assert!(page.listings.len() <= 2);
        seen.extend(page.listings.into_iter().map(|l| l.id));
        match page.next_page {
            Some(p) => q.page = Some(p),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let only = ch
        .list_listings(&ListingQuery {
            skus: vec![Sku::new("S3").unwrap()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only.listings.len(), 1);
    assert_eq!(only.listings[0].id.as_str(), "L3");
}

#[tokio::test]
async fn updates_report_each_listing_separately() {
    let ch = MemoryChannel::new(ChannelKind::Reverb);
    ch.add_listing(listing("L1", "A"));
    let updates = vec![
        ListingUpdate {
            listing_id: ChannelListingId::new("L1").unwrap(),
            sku: Sku::new("A").unwrap(),
            price: Some(Money::parse("12.50", "USD").unwrap()),
            quantity: Some(7),
            title: None,
        },
        ListingUpdate {
            listing_id: ChannelListingId::new("GONE").unwrap(),
            sku: Sku::new("B").unwrap(),
            price: None,
            quantity: Some(1),
            title: None,
        },
    ];
    let out = ch.update_listings(&updates).await.unwrap();
    assert!(out[0].result.is_ok());
    assert_eq!(
        out[1].result.as_ref().unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let l = ch.listing(&ChannelListingId::new("L1").unwrap()).unwrap();
    assert_eq!(l.quantity, Some(7));
    assert_eq!(l.price, Some(Money::parse("12.5", "USD").unwrap()));

    // Batches over the channel's maximum are refused whole.
    let small = MemoryChannel::new(ChannelKind::Reverb).with_capabilities(Capabilities {
        listings_update_max_batch: 1,
        ..Capabilities::all()
    });
    let err = small.update_listings(&updates).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn publish_end_and_outside_deletion() {
    let ch = MemoryChannel::new(ChannelKind::Reverb);
    let out = ch
        .publish_listings(&[NewListing {
            sku: Sku::new("N").unwrap(),
            title: "New".into(),
            price: Money::parse("3", "USD").unwrap(),
            quantity: 1,
            publish: false,
        }])
        .await
        .unwrap();
    let id = out[0].result.as_ref().unwrap().clone();
    assert_eq!(ch.listing(&id).unwrap().state, ChannelListingState::Draft);
    let ended = ch
        .end_listings(&[EndListing {
            listing_id: id.clone(),
            sku: None,
            reason: EndReason::NotOnLabel,
        }])
        .await
        .unwrap();
    assert!(ended[0].result.is_ok());
    assert_eq!(ch.listing(&id).unwrap().state, ChannelListingState::Ended);
    assert!(ch.delete_listing_outside(&id).is_some());
    assert!(ch.listing(&id).is_none());

    let ca = MemoryChannel::new(ChannelKind::ChannelAdvisor).with_capabilities(Capabilities {
        listings_publish: false,
        ..Capabilities::all()
    });
    let err = ca.publish_listings(&[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[tokio::test]
async fn order_cursor_never_skips_and_edits_reappear() {
    let ch = MemoryChannel::new(ChannelKind::Reverb)
        .with_page_size(2)
        .with_capabilities(Capabilities {
            orders_acknowledge: false,
            ..Capabilities::all()
        });
    for i in 1..=5 {
        ch.add_order(order(&format!("O{i}"), i));
    }
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = ch.fetch_orders(&query(cursor.clone())).await.unwrap();
        if page.orders.is_empty() {
            break;
        }
        seen.extend(page.orders.iter().map(|o| o.channel_order_id.to_string()));
        cursor = page.cursor;
    }
    assert_eq!(seen, ["O1", "O2", "O3", "O4", "O5"]);
    // An order edited outside comes again after the cursor.
    assert!(
        ch.edit_order_outside(&ChannelOrderId::new("O2").unwrap(), |o| {
            o.status = OrderStatus::new(OrderState::Cancelled, "cancelled");
        })
    );
    let page = ch.fetch_orders(&query(cursor)).await.unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(page.orders[0].status.state, OrderState::Cancelled);
    // A malformed cursor is a typed error, not a silent restart.
    let err = ch
        .fetch_orders(&query(Some(marketsync_core::Cursor("x".into()))))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn acknowledged_orders_are_not_downloaded_again() {
    let ch = MemoryChannel::new(ChannelKind::ChannelAdvisor);
    ch.add_order(order("O1", 1));
    ch.add_order(order("O2", 2));
    ch.acknowledge_order(&ChannelOrderId::new("O1").unwrap())
        .await
        .unwrap();
    let page = ch.fetch_orders(&query(None)).await.unwrap();
    let ids: Vec<_> = page
        .orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(ids, ["O2"]);
}

#[tokio::test]
async fn default_currency_is_used_where_the_channel_has_none() {
    let ch = MemoryChannel::new(ChannelKind::Tradera).with_capabilities(Capabilities {
        orders_carry_currency: false,
        ..Capabilities::all()
    });
    ch.add_order(order("O1", 1));
    let page = ch.fetch_orders(&query(None)).await.unwrap();
    let o = &page.orders[0];
    assert_eq!(o.currency, Currency::EUR);
    assert_eq!(o.currency_source, CurrencySource::IntegrationDefault);
    assert_eq!(o.lines[0].unit_price.currency(), Currency::EUR);
    assert_eq!(o.total.unwrap().currency(), Currency::EUR);
}

#[tokio::test]
async fn scripted_failures_and_idempotent_sends() {
    let ch = MemoryChannel::new(ChannelKind::Reverb);
    ch.add_order(order("O1", 1));
    let req = ShipmentRequest {
        order_id: ChannelOrderId::new("O1").unwrap(),
        shipment: Shipment {
            carrier: Some("UPS".into()),
            method: Some("Ground".into()),
            tracking_number: Some("1Z".into()),
            shipped_at: Utc::now(),
            lines: vec![],
            delivery: Default::default(),
        },
        idempotency_key: IdempotencyKey::generate(),
        resend: false,
    };
    ch.fail_nth(Operation::Ship, 1, ErrorKind::Transient);
    let err = ch.ship(&req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.is_temporary());
    assert!(ch.shipments().is_empty());
    // Applied, but the answer is lost: the retry with the same key is absorbed.
    ch.add_failure(marketsync_core::memory::FailureRule {
        operation: Operation::Ship,
        on_call: None,
        times: 1,
        kind: ErrorKind::Transient,
        after_applying: true,
    });
    assert!(ch.ship(&req).await.is_err());
    ch.ship(&req).await.unwrap();
    assert_eq!(ch.shipments().len(), 1);
    assert_eq!(ch.stats().duplicate_sends, 1);
    assert_eq!(ch.calls(Operation::Ship), 3);

    ch.fail_next(Operation::Verify, 2, ErrorKind::RateLimited);
    for _ in 0..2 {
        let e = ch.verify().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert!(e.retry_after().is_some());
    }
    ch.verify().await.unwrap();

    ch.revoke_credentials("Authorization has been denied for this request.");
    let e = ch.verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.channel_message(),
        Some("Authorization has been denied for this request.")
    );
    ch.restore_credentials();
    ch.verify().await.unwrap();
}

#[tokio::test]
async fn device_flow_polls_until_approved() {
    let clock = std::sync::Arc::new(marketsync_core::ManualClock::new(Utc::now()));
    let ch = MemoryChannel::new(ChannelKind::Allegro)
        .with_clock(clock.clone())
        .with_capabilities(Capabilities {
            login_authorization: true,
            ..Capabilities::all()
        });
    let start = ch
        .begin_authorization(&marketsync_core::AuthorizationRequest {
            redirect_uri: None,
            device_flow: true,
        })
        .await
        .unwrap();
    assert!(start.user_code.is_some());
    let none = marketsync_core::AuthorizationCallback::default();
    let pending = ch
        .complete_authorization(&start.pending, &none)
        .await
        .unwrap();
    assert!(matches!(
        pending,
        marketsync_core::AuthorizationOutcome::Pending { .. }
    ));
    let ok = marketsync_core::AuthorizationCallback::from_params([("approved", "1")]);
    let done = ch
        .complete_authorization(&start.pending, &ok)
        .await
        .unwrap();
    assert!(matches!(
        done,
        marketsync_core::AuthorizationOutcome::Authorized(_)
    ));
    // After the flow's expiry it cannot complete.
    clock.advance(TimeDelta::minutes(11));
    let err = ch
        .complete_authorization(&start.pending, &ok)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}
