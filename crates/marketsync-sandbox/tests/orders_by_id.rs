//! `fetch_orders_by_id` through each real adapter against its sandbox: an order placed at the
//! marketplace is read by its id, in its state at the channel; an id the marketplace does not
//! know is left out; the read never moves the order cursor.

use chrono::{TimeDelta, Utc};
use marketsync_core::{ChannelOrderId, Money, OrderState, Sku};
use marketsync_sandbox::{AllegroHarness, ChannelAdvisorHarness, ReverbHarness, TraderaHarness};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec};

fn spec(h: &dyn ChannelHarness, name: &str, state: OrderState) -> OrderSpec {
    OrderSpec {
        name: name.into(),
        created_at: Utc::now() - TimeDelta::hours(1),
        state,
        skus: vec![Sku::new("BYID-1").unwrap()],
        shipping: "Standard".into(),
        unit_price: Money::new(rust_decimal::Decimal::from(25), h.currency()),
    }
}

/// Places two orders, reads them back by id with an id the marketplace does not know between
/// them, and checks what comes back.
async fn reads_by_id(h: &dyn ChannelHarness, unknown: &str) {
    let channel = h.channel();
    channel.use_credentials(&h.credentials()).await.unwrap();
    assert!(channel.capabilities().orders_get_by_id);
    let paid = h
        .add_order(&spec(h, "byid-paid", OrderState::AwaitingShipment))
        .await;
    let unpaid = h
        .add_order(&spec(h, "byid-unpaid", OrderState::Unpaid))
        .await;
    let unknown = ChannelOrderId::new(unknown).unwrap();
    let page = channel
        .fetch_orders_by_id(
            &[paid.clone(), unknown.clone(), unpaid.clone()],
            h.currency(),
        )
        .await
        .unwrap();
    assert!(page.rejected.is_empty(), "{:?}", page.rejected);
    let mut read: Vec<(ChannelOrderId, OrderState)> = page
        .orders
        .iter()
        .map(|o| (o.channel_order_id.clone(), o.status.state))
        .collect();
    read.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut want = vec![
        (paid, OrderState::AwaitingShipment),
        (unpaid, OrderState::Unpaid),
    ];
    want.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    assert_eq!(read, want, "the unknown id {unknown:?} is left out");
    assert!(page.orders.iter().all(|o| o.lines.len() == 1));
    assert_eq!(page.cursor, None);
    assert_eq!(page.next_page, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverb_reads_orders_by_number() {
    let h = ReverbHarness::start().await.unwrap();
    reads_by_id(&h, "99999999").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allegro_reads_checkout_forms_by_id() {
    let h = AllegroHarness::start().await.unwrap();
    reads_by_id(&h, "00000000-0000-4000-8000-000000000000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channeladvisor_reads_orders_by_id_filter() {
    let h = ChannelAdvisorHarness::start().await.unwrap();
    reads_by_id(&h, "99999999").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tradera_reads_orders_by_id_in_one_call() {
    let h = TraderaHarness::start().await.unwrap();
    reads_by_id(&h, "99999999").await;
}
