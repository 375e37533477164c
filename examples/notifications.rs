//! Notifications: the in-app message list after an Allegro connection breaks and is repaired.
//!
//! ```sh
//! cargo run --example notifications
//! ```
//!
//! It starts an in-process Allegro sandbox (speaking Allegro's real REST API), opens a SQLite
//! store and connects an integration the way a seller does: by logging in at Allegro (the
//! device flow, which the sandbox answers as if the seller had approved). Then the seller's
//! login is revoked at Allegro ("logged out of all devices"): the next import fails, the
//! connection is Broken, and the notification is written with the break — one message, however
//! many imports fail after it. The seller repairs it their way (deactivate, reactivate, log in
//! again) and a "works again" message follows. The program prints the message list (newest
//! first, unread marked `*`) with the repair steps, marks the messages read and prints it again.
//!
//! The same notifications go out by e-mail and signed webhook once transports are registered
//! (`marketsync::notify_transports`, feature `notify`) and `Engine::deliver_notifications` (or
//! the scheduler) runs; this example shows the in-app list only. Everything is offline.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use marketsync::lifecycle::Event;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::notify::{MarkRead, Message, MessageQuery, PageRequest};
use marketsync::prelude::*;
use marketsync::{
    AuthorizationCallback, AuthorizationRequest, Decimal, ManualClock, MemoryCatalog, SqliteStore,
};
use marketsync_allegro::{AllegroChannel, AllegroConfig};
use marketsync_sandbox::{AllegroSandbox, Sandbox};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Allegro's device flow: the engine starts the authorization, the seller types the code shown
/// at Allegro's page and allows access (the sandbox plays both), the engine completes it: the
/// session is stored sealed and verified.
async fn log_in(
    engine: &Engine,
    id: IntegrationId,
    sandbox: &AllegroSandbox,
    reactivate: bool,
) -> Result<()> {
    let seller = Actor::User("seller".into());
    let request = AuthorizationRequest {
        redirect_uri: None,
        device_flow: true,
    };
    let start = if reactivate {
        engine.reactivate(id, seller.clone(), &request).await?
    } else {
        engine.begin_authorization(id, &request).await?
    };
    let code = start
        .user_code
        .as_deref()
        .ok_or("Allegro sent no user code")?;
    if !sandbox.approve_device(code) {
        return Err(format!("the Allegro sandbox does not know the code {code}").into());
    }
    engine
        .complete_authorization(
            id,
            &start.pending,
            &AuthorizationCallback::default(),
            seller,
        )
        .await?
        .ok_or("the login is still pending")?;
    Ok(())
}

/// The seller's catalogue: the sandbox's offers with a SKU (`external.id`), under the `allegro`
/// label, priced in złoty.
fn catalog(sandbox: &AllegroSandbox) -> Result<MemoryCatalog> {
    let catalog = MemoryCatalog::new();
    let label = Label::new("allegro")?;
    for (n, id) in sandbox.offer_ids().iter().enumerate() {
        let Some(offer) = sandbox.offer(id) else {
            continue;
        };
        let Some(sku) = offer["external"]["id"].as_str() else {
            continue;
        };
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku: Sku::new(sku)?,
            title: offer["name"].as_str().unwrap_or("Allegro offer").to_owned(),
            price: Money::new(Decimal::new(5_900 + n as i64 * 500, 2), Currency::PLN),
            quantity: 3,
            labels: [label.clone()].into_iter().collect(),
        });
    }
    Ok(catalog)
}

/// Every message of the list, newest first, a page at a time as a host's UI reads it.
async fn all_messages(engine: &Engine, query: &MessageQuery) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    let mut page = Some(PageRequest::first(10));
    while let Some(p) = page {
        let got = engine.messages(query, &p).await?;
        page = p.after(&got);
        out.extend(got.items);
    }
    Ok(out)
}

/// Prints the message list: newest first, `*` for unread; the full text of unread messages
/// with repair steps.
async fn print_list(engine: &Engine, title: &str) -> Result<()> {
    let list = all_messages(engine, &MessageQuery::all()).await?;
    let unread: BTreeSet<String> = all_messages(engine, &MessageQuery::unread())
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    println!(
        "\n{title} ({} messages, {} unread)",
        list.len(),
        unread.len()
    );
    for m in &list {
        let mark = if unread.contains(&m.id) { '*' } else { ' ' };
        println!(
            "  {mark} {}  {}",
            m.created_at.format("%Y-%m-%d %H:%M"),
            m.subject
        );
    }
    for m in list
        .iter()
        .filter(|m| unread.contains(&m.id) && !m.repair.is_empty())
    {
        println!("\n  ── {} ──", m.subject);
        for line in m.body.lines() {
            println!("  │ {line}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let sandbox: Sandbox<AllegroSandbox> = AllegroSandbox::builder()
        .seed(2026)
        .offers(8)
        .orders(12)
        .anchor(clock.now())
        .build()
        .start()
        .await?;
    println!("marketsync notifications");
    println!("  Allegro sandbox: {}", sandbox.base_url());

    // A real program opens a file (`SqliteStore::open`) and takes the key from its secrets.
    let store = Arc::new(SqliteStore::open_in_memory().await?);
    let engine = Engine::builder()
        .store(store.clone())
        .catalog(Arc::new(catalog(&sandbox)?))
        .clock(clock.clone())
        .credential_key(CredentialKey::new("notifications-example", [7; 32]))
        .build();
    let seller = Actor::User("seller".into());

    // Connect: the application's id and secret only; the seller's session comes from logging in.
    let name = "Allegro — sklep";
    let app = sandbox.credentials();
    let channel = AllegroChannel::new(
        AllegroConfig::builder()
            .base_url(sandbox.base_url())
            .auth_base_url(sandbox.base_url())
            .client_id(app.client_id)
            .client_secret(SecretString::from(app.client_secret))
            .connection_name(name)
            .build()?,
    )?;
    let id = engine
        .create_integration(
            name,
            Arc::new(channel),
            IntegrationSettings::new(ChannelKind::Allegro, Currency::PLN),
            seller.clone(),
        )
        .await?;
    log_in(&engine, id, &sandbox, false).await?;
    engine
        .apply(
            id,
            seller.clone(),
            Event::SetLabel {
                label: Some(Label::new("allegro")?),
                support_override: None,
            },
        )
        .await?;
    let now = clock.now();
    engine
        .edit_mappings(id, seller.clone(), |m| {
            for (_, method) in marketsync_sandbox::allegro::seed::DELIVERY_METHODS {
                let service = ShippingService {
                    name: format!("{method} service"),
                    carrier: None,
                    class: Some((*method).to_owned()),
                };
                if let Ok(mapping) = ShippingMapping::new(*method, service, now) {
                    m.insert_shipping(mapping);
                }
            }
        })
        .await?;
    engine.apply(id, seller.clone(), Event::Activate).await?;
    engine
        .apply(
            id,
            seller.clone(),
            Event::SetFeature {
                feature: Feature::Orders,
                on: true,
                support_override: None,
            },
        )
        .await?;
    let import = engine.import_orders(id).await?;
    println!(
        "\nconnected {name}: {} orders imported",
        import.imported.len()
    );

    // The seller logs out of all devices at Allegro: the stored login stops working.
    clock.advance(TimeDelta::minutes(15));
    sandbox.revoke_all_tokens();
    for attempt in 1..=3 {
        match engine.import_orders(id).await {
            Ok(_) => return Err("the import worked with a revoked login".into()),
            Err(EngineError::Channel(e)) => {
                println!("import {attempt}: failed, the connection is Broken: {e}");
            }
            Err(e @ EngineError::Blocked { .. }) => {
                println!("import {attempt}: not tried: {e}");
            }
            Err(e) => return Err(e.into()),
        }
        clock.advance(TimeDelta::minutes(15));
    }
    let broken = all_messages(&engine, &MessageQuery::unread().of(id))
        .await?
        .into_iter()
        .filter(|m| {
            matches!(
                m.notification,
                marketsync::Notification::ConnectionBroken { .. }
            )
        })
        .count();
    if broken != 1 {
        return Err(format!("{broken} \"connection broken\" messages, expected one").into());
    }
    print_list(&engine, "Messages after the break").await?;

    // The repair, the seller's way: deactivate, reactivate, log in again.
    clock.advance(TimeDelta::minutes(20));
    engine.deactivate(id, seller.clone()).await?;
    log_in(&engine, id, &sandbox, true).await?;
    engine.import_orders(id).await?;
    println!("\nrepaired by logging in again: the import works again");
    let restored = all_messages(&engine, &MessageQuery::unread().of(id))
        .await?
        .into_iter()
        .filter(|m| {
            matches!(
                m.notification,
                marketsync::Notification::ConnectionRestored { .. }
            )
        })
        .count();
    if restored != 1 {
        return Err(format!("{restored} \"works again\" messages, expected one").into());
    }
    print_list(&engine, "Messages after the repair").await?;

    // The seller has read them.
    let marked = engine.mark_read(&MarkRead::Integration(id)).await?;
    println!("\nmarked {marked} messages read");
    print_list(&engine, "Messages").await?;
    if !all_messages(&engine, &MessageQuery::unread())
        .await?
        .is_empty()
    {
        return Err("messages still unread after marking them read".into());
    }
    store.close().await;
    Ok(())
}
