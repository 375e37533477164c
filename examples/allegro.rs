//! The Allegro adapter on its own: verify, read offers and orders.
//!
//! ```sh
//! cargo run --example allegro                       # against the in-process sandbox
//! ALLEGRO_CLIENT_ID=… ALLEGRO_CLIENT_SECRET=… ALLEGRO_REFRESH_TOKEN=… \
//!   cargo run --example allegro                     # against Allegro (ALLEGRO_ENV=sandbox for
//!                                                   # allegrosandbox.pl)
//! ```
//!
//! With the three variables set it renews an access token from the refresh token (Allegro
//! rotates refresh tokens: the new one is printed nowhere and is lost when the program ends, so
//! use a token you can afford to replace) and talks to Allegro; otherwise it starts the sandbox.
//! It only reads.

use chrono::{TimeDelta, Utc};
use marketsync::channel::{ListingQuery, OrderQuery};
use marketsync::credentials::LoginSession;
use marketsync::{Channel, Currency, SecretString};
use marketsync_allegro::{AllegroChannel, AllegroConfig, Environment};
use marketsync_sandbox::AllegroSandbox;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A stored login: without an access token, one is renewed from the refresh token first.
fn session(access: Option<String>, refresh: String) -> LoginSession {
    let now = Utc::now();
    LoginSession {
        user_id: None,
        expires_at: if access.is_some() {
            now + TimeDelta::hours(11)
        } else {
            now
        },
        token: SecretString::from(access.unwrap_or_default()),
        refresh_token: Some(SecretString::from(refresh)),
        refresh_expires_at: Some(now + TimeDelta::days(90)),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // Keeps the sandbox running while the adapter talks to it.
    let mut _sandbox = None;
    let builder = match (
        env("ALLEGRO_CLIENT_ID"),
        env("ALLEGRO_CLIENT_SECRET"),
        env("ALLEGRO_REFRESH_TOKEN"),
    ) {
        (Some(id), Some(secret), Some(refresh)) => {
            let environment = match env("ALLEGRO_ENV").as_deref() {
                Some("sandbox") => Environment::Sandbox,
                _ => Environment::Production,
            };
            println!("Allegro ({environment:?})");
            AllegroConfig::builder()
                .environment(environment)
                .client_id(id)
                .client_secret(SecretString::from(secret))
                .session(session(None, refresh))
        }
        _ => {
            let sandbox = AllegroSandbox::builder()
                .seed(7)
                .anchor(Utc::now())
                .build()
                .start()
                .await?;
            println!(
                "Allegro sandbox at {} (set ALLEGRO_* to use Allegro)",
                sandbox.base_url()
            );
            let c = sandbox.credentials();
            let builder = AllegroConfig::builder()
                .base_url(sandbox.base_url())
                .auth_base_url(sandbox.base_url())
                .client_id(c.client_id)
                .client_secret(SecretString::from(c.client_secret))
                .session(session(Some(c.access_token), c.refresh_token));
            _sandbox = Some(sandbox);
            builder
        }
    };
    let channel = AllegroChannel::new(builder.build()?)?;

    let account = channel.verify().await?;
    println!(
        "verified: user {} ({})",
        account.account_id,
        account.name.as_deref().unwrap_or("-")
    );

    let page = channel
        .list_listings(&ListingQuery {
            page_size: Some(10),
            ..Default::default()
        })
        .await?;
    println!("offers (first page):");
    for l in page.listings.iter().take(10) {
        println!(
            "  {:>12}  {:<14} {:?} qty {:?} price {}",
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
            default_currency: Currency::PLN,
            page: None,
            page_size: Some(20),
        })
        .await?;
    println!("orders of the last 30 days (first page):");
    for o in orders.orders.iter().take(15) {
        println!(
            "  {}  {:?} ({}) {} line(s), delivery {:?}",
            o.channel_order_id.as_str(),
            o.status.state,
            o.status.raw,
            o.lines.len(),
            o.shipping_method.as_deref().unwrap_or("-")
        );
    }
    for r in &orders.rejected {
        println!("  unreadable order {:?}: {}", r.channel_order_id, r.error);
    }
    println!("(read only: nothing was changed)");
    Ok(())
}
