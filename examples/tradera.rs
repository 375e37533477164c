//! The Tradera adapter on its own: verify, read items and orders, and show the call budget.
//!
//! ```sh
//! cargo run --example tradera                       # against the in-process sandbox
//! TRADERA_APP_ID=… TRADERA_APP_KEY=… TRADERA_USER_ID=… TRADERA_TOKEN=… \
//!   cargo run --example tradera                     # against the real API
//! ```
//!
//! With the four variables set (the token from Tradera's token login) it talks to
//! `https://api.tradera.com/` (or `TRADERA_BASE_URL`); otherwise it starts the sandbox. It only
//! reads — three calls of the default budget of 100 a day — and changes nothing.

use chrono::{TimeDelta, Utc};
use marketsync::channel::{ListingQuery, OrderQuery};
use marketsync::{Channel, Currency, SecretString};
use marketsync_sandbox::TraderaSandbox;
use marketsync_tradera::{TraderaChannel, TraderaConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<()> {
    // Keeps the sandbox running while the adapter talks to it.
    let mut _sandbox = None;
    let real = (
        env("TRADERA_APP_ID"),
        env("TRADERA_APP_KEY"),
        env("TRADERA_USER_ID"),
        env("TRADERA_TOKEN"),
    );
    let builder = match real {
        (Some(app_id), Some(app_key), Some(user_id), Some(token)) => {
            let base = env("TRADERA_BASE_URL").unwrap_or_else(|| "https://api.tradera.com/".into());
            println!("Tradera at {base}");
            TraderaConfig::builder()
                .base_url(base)
                .app_id(
                    app_id
                        .parse()
                        .map_err(|_| "TRADERA_APP_ID must be a number")?,
                )
                .app_key(SecretString::from(app_key))
                .session(
                    user_id
                        .parse()
                        .map_err(|_| "TRADERA_USER_ID must be a number")?,
                    SecretString::from(token),
                    None,
                )
        }
        _ => {
            let sandbox = TraderaSandbox::builder()
                .seed(7)
                .anchor(Utc::now())
                .build()
                .start()
                .await?;
            println!(
                "Tradera sandbox at {} (set TRADERA_* to use the real API)",
                sandbox.base_url()
            );
            let c = sandbox.credentials();
            let builder = TraderaConfig::builder()
                .base_url(sandbox.base_url())
                .app_id(i64::from(c.app_id))
                .app_key(SecretString::from(c.app_key))
                .session(
                    i64::from(c.user_id),
                    SecretString::from(c.user_token),
                    Some(c.hard_expiration_time),
                );
            _sandbox = Some(sandbox);
            builder
        }
    };
    let channel = TraderaChannel::new(builder.build()?)?;
    let caps = channel.capabilities();
    println!("daily call budget: {:?}", caps.rate_limits.per_day);

    let account = channel.verify().await?;
    println!(
        "verified: user {} ({})",
        account.account_id,
        account.name.as_deref().unwrap_or("-")
    );

    let page = channel.list_listings(&ListingQuery::default()).await?;
    println!("items ({} in all, first 10):", page.listings.len());
    for l in page.listings.iter().take(10) {
        println!(
            "  {:>10}  {:<16} {:?} qty {:?} price {}",
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
            default_currency: Currency::SEK,
            page: None,
            page_size: None,
        })
        .await?;
    println!("orders of the last 30 days:");
    for o in orders.orders.iter().take(15) {
        println!(
            "  {:>10}  {:?} {} line(s), total {}, shipping {:?}",
            o.channel_order_id.as_str(),
            o.status.state,
            o.lines.len(),
            o.total.map(|m| m.to_string()).unwrap_or_default(),
            o.shipping_method.as_deref().unwrap_or("-")
        );
    }
    for r in &orders.rejected {
        println!("  unreadable order {:?}: {}", r.channel_order_id, r.error);
    }
    println!("(read only: nothing was changed)");
    Ok(())
}
