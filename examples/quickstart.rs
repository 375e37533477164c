//! Quickstart: walk one integration through its lifecycle on an in-memory channel.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It creates an integration, verifies its credentials, activates it, exchanges listings and
//! orders, survives a broken connection, goes Live, needs a support override there, and is
//! finally deleted — printing each step and, at the end, the audit log.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync::lifecycle::ChannelRules;
use marketsync::{
    Actor, AuditEvent, Buyer, Channel, ChannelKind, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Clock, Context, Credentials, Currency, CurrencySource,
    Feature, IdempotencyKey, IntegrationId, Label, Lifecycle, LifecycleError, ListingQuery,
    ManualClock, MemoryChannel, Money, Order, OrderLine, OrderQuery, OrderState, OrderStatus,
    Shipment, ShipmentRequest, Sku, SupportOverride,
};

type Step<T> = Result<T, Box<dyn std::error::Error>>;

struct Walk {
    clock: Arc<ManualClock>,
    lifecycle: Lifecycle,
    audit: Vec<AuditEvent>,
    step: u32,
}

impl Walk {
    fn ctx(&self, actor: &Actor) -> Context {
        Context::now(actor.clone(), self.clock.as_ref())
    }

    fn say(&mut self, what: &str) {
        self.step += 1;
        println!("\n{:>2}. {what}", self.step);
    }

    fn record(&mut self, events: Vec<AuditEvent>) {
        for e in &events {
            println!("    audit: {:?} by {}", e.change, e.actor);
        }
        self.audit.extend(events);
    }

    fn state(&self) {
        let now = self.clock.now();
        let lc = &self.lifecycle;
        println!(
            "    state: phase {:?}, {:?}, health {:?}, features {:?}, data {}",
            lc.phase(now),
            lc.switch(),
            lc.health().kind(),
            lc.features(),
            match lc.check_exchange(now) {
                Ok(()) => "flows".to_owned(),
                Err(b) => format!("blocked: {b}"),
            }
        );
    }
}

fn sample_order(now: chrono::DateTime<Utc>) -> Step<Order> {
    Ok(Order {
        channel_order_id: ChannelOrderId::new("R-1001")?,
        marketplace_order_id: None,
        site: None,
        created_at: now,
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: "1".into(),
            sku: Some(Sku::new("GTR-STRAT-SB")?),
            listing_id: Some(ChannelListingId::new("L-1")?),
            title: "Sunburst electric guitar".into(),
            quantity: 1,
            unit_price: Money::parse("899.00", "USD")?,
        }],
        shipping_method: Some("Standard Shipping".into()),
        shipping_price: Some(Money::parse("25.00", "USD")?),
        tax: None,
        total: Some(Money::parse("924.00", "USD")?),
        shipping_address: None,
        buyer: Buyer {
            name: Some("Sam Buyer".into()),
            ..Buyer::default()
        },
        local_pickup: false,
        revision: None,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Step<()> {
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let channel = MemoryChannel::new(ChannelKind::Reverb).with_clock(clock.clone());
    let seller = Actor::User("ana@example.com".into());
    let support = Actor::Support("sam (support)".into());

    println!("marketsync quickstart — an integration's lifecycle on an in-memory Reverb channel");
    let id = IntegrationId::new();
    let rules = ChannelRules::from(&channel.capabilities());
    let (lifecycle, created) =
        Lifecycle::create(rules, &Context::now(seller.clone(), clock.as_ref()));
    let mut w = Walk {
        clock: clock.clone(),
        lifecycle,
        audit: vec![created],
        step: 0,
    };
    w.say(&format!(
        "Created integration {id} (phase Setup, enabled, unverified)"
    ));
    w.state();

    w.say("Enter the personal access token");
    let credentials = Credentials::api_token("example-token-never-printed");
    println!("    credentials: {credentials} / {credentials:?}");
    let ev = w.lifecycle.credentials_entered(&w.ctx(&seller))?;
    w.record(ev);

    w.say("Try to activate before verifying");
    match w.lifecycle.activate(&w.ctx(&seller)) {
        Err(e) => println!("    refused: {e}"),
        Ok(_) => return Err("activation should need verified credentials".into()),
    }

    w.say("Verify the credentials with the channel");
    let account = channel.verify().await?;
    println!("    account: {} ({:?})", account.account_id, account.name);
    let ev = w.lifecycle.verification_succeeded(&w.ctx(&seller))?;
    w.record(ev);

    w.say("Set the label, then activate: Testing for 30 days");
    let ev = w
        .lifecycle
        .set_label(&w.ctx(&seller), Some(Label::new("reverb")?), None)?;
    w.record(ev);
    let ev = w.lifecycle.activate(&w.ctx(&seller))?;
    w.record(ev);
    println!("    goes live at {:?}", w.lifecycle.live_at());
    w.state();

    w.say("Turn on listings, orders and the reconciler (whose first run is a dry-run plan)");
    for f in [Feature::Listings, Feature::Orders, Feature::Reconciler] {
        let ev = w.lifecycle.set_feature(&w.ctx(&seller), f, true, None)?;
        w.record(ev);
    }
    println!(
        "    reconcile plan confirmed yet: {}",
        w.lifecycle.reconcile_plan_confirmed()
    );

    w.say("Exchange data: read listings, download an order, ship it");
    channel.add_listing(ChannelListing {
        id: ChannelListingId::new("L-1")?,
        sku: Some(Sku::new("GTR-STRAT-SB")?),
        title: Some("Sunburst electric guitar".into()),
        price: Some(Money::parse("899.00", "USD")?),
        quantity: Some(1),
        state: ChannelListingState::Live,
        raw_state: "live".into(),
    });
    channel.add_order(sample_order(clock.now())?);
    w.lifecycle.check_feature(Feature::Listings, clock.now())?;
    let page = channel.list_listings(&ListingQuery::default()).await?;
    println!("    listings on the channel: {}", page.listings.len());
    w.lifecycle.check_feature(Feature::Orders, clock.now())?;
    let orders = channel
        .fetch_orders(&OrderQuery {
            cursor: None,
            created_since: None,
            states: vec![],
            default_currency: Currency::USD,
            page: None,
            page_size: None,
        })
        .await?;
    for o in &orders.orders {
        println!(
            "    order {}: {} line(s), total {}, shipping {:?}, managed as {:?}",
            o.channel_order_id,
            o.lines.len(),
            o.total.map(|m| m.to_string()).unwrap_or_default(),
            o.shipping_method,
            w.lifecycle.management()
        );
    }
    let shipment = ShipmentRequest {
        order_id: ChannelOrderId::new("R-1001")?,
        shipment: Shipment {
            carrier: Some("UPS".into()),
            method: Some("Ground".into()),
            tracking_number: Some("1Z999AA10123456784".into()),
            shipped_at: clock.now(),
            lines: vec![],
            delivery: Default::default(),
        },
        idempotency_key: IdempotencyKey::generate(),
    };
    channel.ship(&shipment).await?;
    channel.ship(&shipment).await?; // a retry with the same key is absorbed
    println!(
        "    shipments received by the channel: {} (duplicates absorbed: {})",
        channel.shipments().len(),
        channel.stats().duplicate_sends
    );

    w.say("The seller regenerates the token at Reverb: the connection breaks");
    clock.advance(TimeDelta::days(3));
    channel.revoke_credentials("The access token provided is invalid.");
    let err = channel.verify().await.expect_err("revoked");
    println!("    channel error: {err}");
    let reason = err
        .broken_reason()
        .unwrap_or(marketsync::BrokenReason::CredentialsRejected);
    let ev = w.lifecycle.mark_broken(
        &w.ctx(&Actor::System),
        reason,
        err.channel_message().map(str::to_owned),
    )?;
    w.record(ev);
    let again = w
        .lifecycle
        .mark_broken(&w.ctx(&Actor::System), reason, None)?;
    println!(
        "    a second failure changes nothing ({} new events): one notification per break",
        again.len()
    );
    w.state();

    w.say("Repair: enter the new token and verify");
    channel.restore_credentials();
    let ev = w.lifecycle.credentials_entered(&w.ctx(&seller))?;
    w.record(ev);
    channel.verify().await?;
    let ev = w.lifecycle.verification_succeeded(&w.ctx(&seller))?;
    w.record(ev);
    w.state();

    w.say("Disable for a holiday, then enable again (nothing is lost)");
    let ev = w.lifecycle.disable(&w.ctx(&seller))?;
    w.record(ev);
    w.state();
    let ev = w.lifecycle.enable(&w.ctx(&seller))?;
    w.record(ev);

    w.say("Thirty days pass: the integration goes Live");
    clock.advance(TimeDelta::days(30));
    let ev = w.lifecycle.tick(clock.now());
    w.record(ev);
    w.state();

    w.say("In Live, turning orders off needs a support override");
    match w
        .lifecycle
        .set_feature(&w.ctx(&seller), Feature::Orders, false, None)
    {
        Err(e @ LifecycleError::OverrideRequired { .. }) => println!("    refused: {e}"),
        other => return Err(format!("expected an override to be required, got {other:?}").into()),
    }
    let ev = w.lifecycle.set_feature(
        &w.ctx(&support),
        Feature::Orders,
        false,
        Some(SupportOverride::new(
            "sam (support)",
            "seller moves orders to another tool",
        )),
    )?;
    w.record(ev);

    w.say("Delete: first the plan, then the confirmation");
    let plan = w
        .lifecycle
        .plan_delete(vec![ChannelOrderId::new("R-1002")?], clock.now())?;
    for n in &plan.notices {
        println!("    plan: {n}");
    }
    let ev = w.lifecycle.delete(&w.ctx(&seller), plan.confirm())?;
    w.record(ev);
    match w.lifecycle.enable(&w.ctx(&seller)) {
        Err(e) => println!("    after deletion: {e}"),
        Ok(_) => return Err("a deleted integration must not change".into()),
    }

    println!("\nAudit log ({} entries):", w.audit.len());
    for e in &w.audit {
        let over = e
            .support_override
            .as_ref()
            .map(|o| format!(" [override by {}: {}]", o.by, o.reason))
            .unwrap_or_default();
        println!(
            "  {}  {:<28} {:?}{over}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.actor.to_string(),
            e.change
        );
    }
    Ok(())
}
