//! The Reverb adapter on its own: verify, read listings and a page of orders.
//!
//! ```sh
//! cargo run --example reverb                        # against the in-process sandbox
//! REVERB_TOKEN=… cargo run --example reverb         # against the real API
//! ```
//!
//! With `REVERB_TOKEN` (a personal access token from reverb.com/my/api_settings) it talks to
//! `https://api.reverb.com/` (or `REVERB_BASE_URL`, e.g. `https://sandbox.reverb.com/`);
//! otherwise it starts the sandbox. It only reads: no listing changes, no shipment, no refund,
//! so it is safe to point at a live shop.

use chrono::{TimeDelta, Utc};
use marketsync::channel::{ListingQuery, OrderQuery};
use marketsync::{Channel, Currency, SecretString};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use marketsync_sandbox::ReverbSandbox;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<()> {
    // Keeps the sandbox running while the adapter talks to it.
    let mut _sandbox = None;
    let (base, token) = match env("REVERB_TOKEN") {
        Some(token) => {
            let base = env("REVERB_BASE_URL").unwrap_or_else(|| "https://api.reverb.com/".into());
            println!("Reverb at {base}");
            (base, token)
        }
        None => {
            let sandbox = ReverbSandbox::builder()
                .seed(7)
                .anchor(Utc::now())
                .build()
                .start()
                .await?;
            println!(
                "Reverb sandbox at {} (set REVERB_TOKEN to use the real API)",
                sandbox.base_url()
            );
            let pair = (sandbox.base_url(), sandbox.token());
            _sandbox = Some(sandbox);
            pair
        }
    };
    let config = ReverbConfig::builder()
        .base_url(base)
        .token(SecretString::from(token))
        .default_currency(Currency::USD)
        .build()?;
    let channel = ReverbChannel::new(config)?;

    let account = channel.verify().await?;
    println!(
        "verified: shop {} ({}), currency {:?}",
        account.account_id,
        account.name.as_deref().unwrap_or("-"),
        account.currency
    );

    let page = channel
        .list_listings(&ListingQuery {
            page_size: Some(10),
            ..Default::default()
        })
        .await?;
    println!("first listings:");
    for l in page.listings.iter().take(10) {
        println!(
            "  {:>10}  {:<18} {:?} qty {:?} price {}",
            l.id.as_str(),
            l.sku.as_ref().map(|s| s.as_str()).unwrap_or("-"),
            l.state,
            l.quantity,
            l.price.map(|p| p.to_string()).unwrap_or_default()
        );
    }

    let orders = channel
        .fetch_orders(&OrderQuery {
            cursor: None,
            created_since: Some(Utc::now() - TimeDelta::days(30)),
            states: vec![],
            default_currency: Currency::USD,
            page: None,
            page_size: Some(20),
        })
        .await?;
    println!("orders of the last 30 days (first page):");
    for o in &orders.orders {
        println!(
            "  {:>10}  {:?} ({}) {} shipping {:?}{}",
            o.channel_order_id.as_str(),
            o.status.state,
            o.status.raw,
            o.total.map(|m| m.to_string()).unwrap_or_default(),
            o.shipping_method.as_deref().unwrap_or("-"),
            if o.local_pickup { ", local pickup" } else { "" }
        );
    }
    for r in &orders.rejected {
        println!("  unreadable order {:?}: {}", r.channel_order_id, r.error);
    }
    println!("(read only: nothing was changed)");
    Ok(())
}
