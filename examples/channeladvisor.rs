//! The ChannelAdvisor adapter on its own: verify, read listings and a page of orders.
//!
//! ```sh
//! cargo run --example channeladvisor                 # against the in-process sandbox
//! CHANNELADVISOR_APPLICATION_ID=… CHANNELADVISOR_SHARED_SECRET=… \
//! CHANNELADVISOR_REFRESH_TOKEN=… CHANNELADVISOR_PROFILE_ID=… \
//!   cargo run --example channeladvisor               # against the real API
//! ```
//!
//! With all four variables set it talks to `https://api.channeladvisor.com/` (or
//! `CHANNELADVISOR_BASE_URL`); otherwise it starts the sandbox. It only reads: it never marks an
//! order exported, ships or changes a product, so it is safe to point at a live account.
//! `CHANNELADVISOR_LABEL` limits the listings to one product label.

use chrono::{TimeDelta, Utc};
use marketsync::channel::{ListingQuery, OrderQuery};
use marketsync::{Channel, Currency, SecretString};
use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig};
use marketsync_sandbox::ChannelAdvisorSandbox;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<()> {
    let real = (
        env("CHANNELADVISOR_APPLICATION_ID"),
        env("CHANNELADVISOR_SHARED_SECRET"),
        env("CHANNELADVISOR_REFRESH_TOKEN"),
        env("CHANNELADVISOR_PROFILE_ID"),
    );
    // Keeps the sandbox running while the adapter talks to it.
    let mut _sandbox = None;
    let builder = match real {
        (Some(app), Some(secret), Some(refresh), Some(profile)) => {
            let base = env("CHANNELADVISOR_BASE_URL")
                .unwrap_or_else(|| "https://api.channeladvisor.com/".into());
            println!("ChannelAdvisor at {base} (profile {profile})");
            ChannelAdvisorConfig::builder()
                .base_url(base)
                .application_id(app)
                .shared_secret(SecretString::from(secret))
                .refresh_token(SecretString::from(refresh))
                .profile_id(
                    profile
                        .parse()
                        .map_err(|_| "CHANNELADVISOR_PROFILE_ID must be a number")?,
                )
        }
        _ => {
            let sandbox = ChannelAdvisorSandbox::builder()
                .seed(7)
                .anchor(Utc::now())
                .build()
                .start()
                .await?;
            let c = sandbox.credentials();
            println!(
                "ChannelAdvisor sandbox at {} (set CHANNELADVISOR_* to use the real API)",
                sandbox.base_url()
            );
            let builder = ChannelAdvisorConfig::builder()
                .base_url(sandbox.base_url())
                .application_id(c.application_id)
                .shared_secret(SecretString::from(c.shared_secret))
                .refresh_token(SecretString::from(c.refresh_token))
                .profile_id(c.profile_id as u64);
            _sandbox = Some(sandbox);
            builder
        }
    };
    let builder = match env("CHANNELADVISOR_LABEL") {
        Some(label) => builder.label(label),
        None => builder,
    };
    let channel = ChannelAdvisorChannel::new(builder.build()?)?;
    println!("capabilities: {:?}", channel.capabilities());

    let account = channel.verify().await?;
    println!(
        "verified: account {} ({})",
        account.account_id,
        account.name.as_deref().unwrap_or("-")
    );

    let page = channel
        .list_listings(&ListingQuery {
            page_size: Some(10),
            ..Default::default()
        })
        .await?;
    println!("first listings ({} shown):", page.listings.len().min(10));
    for l in page.listings.iter().take(10) {
        println!(
            "  {:>10}  {:<20} {:?} qty {:?}",
            l.id.as_str(),
            l.sku.as_ref().map(|s| s.as_str()).unwrap_or("-"),
            l.state,
            l.quantity
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
    println!(
        "orders not yet exported (first page, {} shown):",
        orders.orders.len()
    );
    for o in &orders.orders {
        println!(
            "  {:>10}  {:<28} {:?} {} line(s) shipping {:?}",
            o.channel_order_id.as_str(),
            o.site.as_deref().unwrap_or("-"),
            o.status.state,
            o.lines.len(),
            o.shipping_method.as_deref().unwrap_or("-")
        );
    }
    for r in &orders.rejected {
        println!("  unreadable order {:?}: {}", r.channel_order_id, r.error);
    }
    println!("(read only: no order was marked exported)");
    Ok(())
}
