//! The worker: the process the parent SIGKILLs. It opens the run's store, points the real
//! adapters at the parent's sandboxes, attaches them to the stored integrations (the engine hands
//! each the stored credentials) and loops over every integration: link and sync listings, import
//! orders, record the decided shipment, refund or cancellation of every newly imported order in
//! the outbox (with a host key shared by every integration or with none, and always twice), and
//! send the outbox. It never exits by itself, except in drain mode.
//!
//! Several workers may run at once over one store (`run --workers N`): each runs every
//! integration, and the store's guarantees keep that safe (one import per order, one outbox
//! entry per key and one sender per entry, one credential renewer at a time). The host side of
//! the run — numbering its own keys — is shared across workers the way a host with several
//! processes would share it: under a lock, here the store's named lease [`HOST_KEY_LEASE`].
//!
//! **Drain mode** (`--drain`, run once after the kills, with faults off) runs the same loop on a
//! clock that moves 25 hours ahead every cycle, so every outbox entry a failure postponed (by at
//! most an hour, or a day for Tradera's budget-exhausted 429) is due at the next cycle, and
//! every lease a killed worker held has lapsed. It exits 0 after two quiet cycles in a row (no
//! error, nothing imported, nothing left to send, every integration healthy), 2 if it never got
//! there.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::store::{LedgerFilter, OrderOutcome, OutboxEntry, OutboxState};
use marketsync_core::{
    AdjustmentReason, Cancellation, Channel, ChannelOrderId, Clock, CredentialKey, Engine,
    EngineError, Health, IdempotencyKey, IntegrationId, MemoryCatalog, MemoryNotifier, Refund,
    SealedCredentials, SecretString, Shipment, Store,
};

use crate::{
    Action, FINAL_QUANTITY, Keying, LISTINGS, Market, Plan, PlanEntry, RunStore, action_for,
    catalog_item, host_key, keying_for,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The worker-log marker of a worker that opened the store and attached its adapters.
pub const UP: &str = "up and attached";

/// The worker-log marker of a finished pass over every integration.
pub const PASS: &str = "finished pass";

/// What a drain run ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainEnd {
    /// Two quiet cycles in a row.
    Quiet,
    /// The cycle limit was reached first.
    NotQuiet,
}

/// A clock that is the system clock plus an offset the drain run moves forward.
#[derive(Debug, Default)]
struct JumpClock {
    offset_hours: AtomicI64,
}

impl JumpClock {
    fn jump(&self, hours: i64) {
        self.offset_hours.fetch_add(hours, Ordering::SeqCst);
    }
}

impl Clock for JumpClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::hours(self.offset_hours.load(Ordering::SeqCst))
    }
}

/// The retry policy of the worker's adapters: the library's default shape (exponential backoff
/// with jitter, temporary errors only, `Retry-After` honoured) with short delays, so a worker
/// makes progress between kills under 20% 5xx.
pub fn retry_policy() -> marketsync_http::RetryPolicy {
    marketsync_http::RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(400),
        max_elapsed: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(2),
        ..marketsync_http::RetryPolicy::default()
    }
}

/// The adapter of a plan entry, pointed at its sandbox. Built with the sandbox's application
/// credentials (constants of the sandbox crate); the seller's credentials come from the store
/// when the engine attaches it.
pub fn build_channel(entry: &PlanEntry) -> Result<Arc<dyn Channel>, BoxError> {
    use marketsync_sandbox::{allegro, channeladvisor, tradera};
    let base = entry.base_url.clone();
    Ok(match entry.market {
        Market::ChannelAdvisor => {
            let config = marketsync_channeladvisor::ChannelAdvisorConfig::builder()
                .label(channeladvisor::harness::HARNESS_LABEL)
                .base_url(base)
                .application_id(channeladvisor::APPLICATION_ID)
                .shared_secret(SecretString::from(channeladvisor::SHARED_SECRET))
                .refresh_token(SecretString::from(channeladvisor::REFRESH_TOKEN))
                .profile_id(u64::try_from(channeladvisor::PROFILE_ID)?)
                .connection_name("Chaos")
                .distribution_center_id(channeladvisor::harness::HARNESS_DISTRIBUTION_CENTER)
                .retry(retry_policy())
                .build()?;
            Arc::new(marketsync_channeladvisor::ChannelAdvisorChannel::new(
                config,
            )?)
        }
        Market::Reverb => {
            let config = marketsync_reverb::ReverbConfig::builder()
                .base_url(base)
                .token(SecretString::from(marketsync_sandbox::reverb::TOKEN))
                .connection_name("Chaos")
                .default_currency(Market::Reverb.currency())
                .retry(retry_policy())
                .build()?;
            Arc::new(marketsync_reverb::ReverbChannel::new(config)?)
        }
        Market::Allegro => {
            let config = marketsync_allegro::AllegroConfig::builder()
                .base_url(base.clone())
                .auth_base_url(base)
                .client_id(allegro::CLIENT_ID)
                .client_secret(SecretString::from(allegro::CLIENT_SECRET))
                .connection_name("Chaos")
                // The run's access tokens live seconds, not hours: renewals (each rotating the
                // refresh token) happen all the time, by whichever worker gets there first.
                .refresh_margin(crate::run::ALLEGRO_REFRESH_MARGIN)
                .command_polling(marketsync_allegro::CommandPolling {
                    interval: Duration::from_millis(20),
                    max_polls: 10,
                })
                .retry(retry_policy())
                .build()?;
            Arc::new(marketsync_allegro::AllegroChannel::new(config)?)
        }
        Market::Tradera => {
            let config = marketsync_tradera::TraderaConfig::builder()
                .base_url(base)
                .app_id(i64::from(tradera::APP_ID))
                .app_key(SecretString::from(tradera::APP_KEY))
                .connection_name("Chaos")
                .daily_budget(crate::run::TRADERA_DAILY_BUDGET)
                .retry(retry_policy())
                .build()?;
            Arc::new(marketsync_tradera::TraderaChannel::new(config)?)
        }
    })
}

struct Slot {
    entry: PlanEntry,
    channel: Arc<dyn Channel>,
    sealed: Option<SealedCredentials>,
    /// Several workers run (host keys are numbered under [`HOST_KEY_LEASE`]).
    shared: bool,
}

/// Writes one line to the worker log (stderr) in one write: several workers append to the same
/// log file, and a line written in pieces could interleave with another worker's.
pub fn say(line: impl std::fmt::Display) {
    let text = format!("[worker {}] {line}\n", std::process::id());
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn log(market: Market, op: &str, what: impl std::fmt::Display) {
    say(format_args!("{market} {op}: {what}"));
}

/// The named lease (per integration: `chaos-host-keys:{integration}`) a worker holds while it
/// numbers and records a host key, when several workers run: two workers numbering at once
/// would give two orders one number (the second refused as a conflict, recorded later) or one
/// order two numbers (two requests: a real duplicate, made by the host).
pub const HOST_KEY_LEASE: &str = "chaos-host-keys";

/// How long a host-key lease lasts (a killed holder's lapses after this): far longer than the
/// read and two writes done under it, even on a loaded machine.
const HOST_KEY_LEASE_FOR: Duration = Duration::from_secs(10);

/// The host's lock on its key numbering for one integration (a store lease), taken only when
/// several workers run.
struct HostKeys<'a> {
    store: &'a dyn Store,
    name: String,
    holder: String,
}

impl<'a> HostKeys<'a> {
    /// Waits (up to about 30 s: past a killed holder's lease) for the lock.
    async fn lock(store: &'a dyn Store, id: IntegrationId) -> Result<Self, BoxError> {
        let lock = HostKeys {
            store,
            name: format!("{HOST_KEY_LEASE}:{id}"),
            holder: format!("chaos-worker-{}", std::process::id()),
        };
        for _ in 0..600 {
            if store
                .try_lease(&lock.name, &lock.holder, HOST_KEY_LEASE_FOR)
                .await?
            {
                return Ok(lock);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{}: still held by another worker after 30 s", lock.name).into())
    }

    async fn unlock(self) -> Result<(), BoxError> {
        Ok(self.store.release_lease(&self.name, &self.holder).await?)
    }
}

/// The worker-log marker of a host key reused for another request that the engine accepted
/// (it must refuse it with `EngineError::IdempotencyConflict`). The parent counts these lines.
pub const KEY_REUSE_UNDETECTED: &str = "key reused for another request was accepted";

/// Submits an order's action once, with the request built now (a host rebuilds it on every
/// click or retry: the shipment's time differs, nothing else).
async fn submit(
    engine: &Engine,
    id: IntegrationId,
    order: &ChannelOrderId,
    action: Action,
    key: Option<IdempotencyKey>,
    tracking: &str,
) -> Result<OutboxEntry, EngineError> {
    match action {
        Action::Ship => {
            let shipment = Shipment {
                carrier: Some("UPS".into()),
                method: Some("Ground".into()),
                tracking_number: Some(tracking.into()),
                shipped_at: engine.clock().now(),
                lines: vec![],
                delivery: Default::default(),
            };
            engine.ship(id, order, shipment, key).await
        }
        Action::Refund => {
            let refund = Refund {
                amount: None,
                lines: vec![],
                reason: AdjustmentReason::CustomerReturnedItem,
                restock: false,
                note: None,
            };
            engine.refund(id, order, refund, key).await
        }
        Action::Cancel => {
            let cancellation = Cancellation {
                lines: vec![],
                reason: AdjustmentReason::BuyerCancelled,
            };
            engine.cancel(id, order, cancellation, key).await
        }
    }
}

/// The tracking number of every shipment the worker decides.
const TRACKING: &str = "1Z999AA10123456784";

/// Records the action decided for an order as a host does under failures: with a host key
/// numbered per integration ([`host_key`]; the same keys in every integration) or with none
/// ([`keying_for`]), and always twice in a row (a double click, a retry after a timeout), which
/// must make one entry. A host key is then tried once for another request (another tracking
/// number), which must be refused as a conflict. With `shared` (several workers), the number is
/// chosen and recorded under the integration's [`HOST_KEY_LEASE`].
async fn enqueue(
    engine: &Engine,
    id: IntegrationId,
    order: &ChannelOrderId,
    action: Action,
    shared: bool,
) -> Result<(), BoxError> {
    let key = match keying_for(order) {
        Keying::Derived => {
            for _ in 0..2 {
                submit(engine, id, order, action, None, TRACKING).await?;
            }
            None
        }
        Keying::Host => {
            let lock = if shared {
                Some(HostKeys::lock(engine.store().as_ref(), id).await?)
            } else {
                None
            };
            let recorded = host_keyed(engine, id, order, action).await;
            if let Some(lock) = lock {
                lock.unlock().await?;
            }
            Some(recorded?)
        }
    };
    if let Some(key) = key {
        match submit(
            engine,
            id,
            order,
            Action::Ship,
            Some(key.clone()),
            "1ZOTHER",
        )
        .await
        {
            Err(EngineError::IdempotencyConflict { .. }) => {}
            Ok(entry) => say(format_args!(
                "{KEY_REUSE_UNDETECTED}: {key} for order {order} ({:?})",
                entry.item.action.name()
            )),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Records an order's action with a host key, twice: the key it has if it was recorded before,
/// else the next number. Returns the key.
async fn host_keyed(
    engine: &Engine,
    id: IntegrationId,
    order: &ChannelOrderId,
    action: Action,
) -> Result<IdempotencyKey, BoxError> {
    let outbox = engine.store().outbox(id).await?;
    // A retry keeps the key it had; a new request takes the next number.
    let known = outbox
        .iter()
        .find(|e| e.item.order_id == *order && e.item.action.name() == action.name());
    let key = match known {
        Some(e) => e.item.idempotency_key.clone(),
        None => host_key(action, outbox.len() + 1),
    };
    for _ in 0..2 {
        submit(engine, id, order, action, Some(key.clone()), TRACKING).await?;
    }
    Ok(key)
}

/// Records the decided action of every imported order that has none in the outbox yet (a kill
/// may have landed between an import and its enqueue). With `resubmit`, the actions recorded
/// without a key are submitted again too, as a host that lost track of them after a restart
/// does (each must stay one entry). Returns how many were recorded.
async fn catch_up(engine: &Engine, slot: &Slot, resubmit: bool) -> Result<usize, BoxError> {
    let id = slot.entry.id;
    let caps = slot.channel.capabilities();
    let known: BTreeSet<(String, &'static str)> = engine
        .store()
        .outbox(id)
        .await?
        .into_iter()
        .map(|e| (e.item.order_id.as_str().to_owned(), e.item.action.name()))
        .collect();
    let mut added = 0;
    for entry in engine.store().ledger(id, LedgerFilter::All).await? {
        if entry.outcome != OrderOutcome::Imported {
            continue;
        }
        let order = &entry.channel_order_id;
        let Some(action) = action_for(order, &caps) else {
            continue;
        };
        if known.contains(&(order.as_str().to_owned(), action.name())) {
            if resubmit && keying_for(order) == Keying::Derived {
                submit(engine, id, order, action, None, TRACKING).await?;
            }
            continue;
        }
        enqueue(engine, id, order, action, slot.shared).await?;
        added += 1;
    }
    Ok(added)
}

/// Runs the worker on a plan until killed, or, in drain mode, until quiet.
pub async fn work(plan: &Plan, drain: bool) -> Result<DrainEnd, BoxError> {
    let started = std::time::Instant::now();
    let run_store = RunStore::open(&plan.store).await?;
    let store = run_store.dyn_store();
    let catalog = Arc::new(MemoryCatalog::new());
    let clock = Arc::new(JumpClock::default());
    let engine = Engine::new(
        store.clone(),
        catalog.clone(),
        Arc::new(MemoryNotifier::new()),
        clock.clone(),
    )
    .with_credential_key(CredentialKey::from_hex("chaos", &plan.key_hex)?)
    // A killed worker's claims lapse quickly, so the next one sends them.
    .with_outbox_lease(Duration::from_secs(2));
    let mut slots = Vec::new();
    for entry in &plan.integrations {
        let channel = build_channel(entry)?;
        engine.attach_channel(entry.id, channel.clone()).await?;
        let sealed = store.credentials(entry.id).await?;
        slots.push(Slot {
            entry: entry.clone(),
            channel,
            sealed,
            shared: plan.workers > 1,
        });
    }
    for slot in &slots {
        if let Err(e) = catch_up(&engine, slot, false).await {
            log(slot.entry.market, "catch up", e);
        }
    }
    // The parent counts these lines: workers that got to work, and passes they finished.
    say(format_args!("{UP} in {} ms", started.elapsed().as_millis()));
    let engine = Arc::new(engine);
    if !drain {
        // Each integration on its own loop, as a scheduler runs them: a slow marketplace
        // (Reverb's one call per listing) never holds the others back.
        let mut tasks = tokio::task::JoinSet::new();
        for mut slot in slots {
            let (engine, store, catalog) = (engine.clone(), store.clone(), catalog.clone());
            tasks.spawn(async move {
                for cycle in 1.. {
                    let t = std::time::Instant::now();
                    run_cycle(&engine, store.as_ref(), &catalog, &mut slot, cycle, false).await;
                    // The scheduler's pause between runs (a blocked integration must not spin).
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    say(format_args!(
                        "{} {PASS} {cycle} in {} ms",
                        slot.entry.market,
                        t.elapsed().as_millis()
                    ));
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done?;
        }
        return Err("every integration loop ended".into());
    }
    // Drain: passes in lockstep (the integrations of a pass concurrently), so "quiet" means
    // every integration was quiet in the same pass.
    let mut quiet_cycles = 0;
    for cycle in 1..=40 {
        clock.jump(25);
        let began = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for mut slot in std::mem::take(&mut slots) {
            let (engine, store, catalog) = (engine.clone(), store.clone(), catalog.clone());
            tasks.spawn(async move {
                let quiet =
                    run_cycle(&engine, store.as_ref(), &catalog, &mut slot, cycle, true).await;
                (slot, quiet)
            });
        }
        let mut quiet = true;
        while let Some(done) = tasks.join_next().await {
            let (slot, q) = done?;
            quiet &= q;
            slots.push(slot);
        }
        slots.sort_by_key(|s| s.entry.market);
        say(format_args!(
            "drain {PASS} {cycle} in {} ms: {}",
            began.elapsed().as_millis(),
            if quiet { "quiet" } else { "busy" }
        ));
        quiet_cycles = if quiet { quiet_cycles + 1 } else { 0 };
        if quiet_cycles >= 2 {
            return Ok(DrainEnd::Quiet);
        }
    }
    Ok(DrainEnd::NotQuiet)
}

/// One pass over one integration. Returns whether it was quiet (drain mode's end condition).
async fn run_cycle(
    engine: &Engine,
    store: &dyn Store,
    catalog: &MemoryCatalog,
    slot: &mut Slot,
    cycle: u64,
    drain: bool,
) -> bool {
    let (market, id) = (slot.entry.market, slot.entry.id);
    let mut quiet = true;
    // Credentials the seller entered since (a repair) reach this adapter here.
    // Attaching again hands the adapter the stored credentials with their version, as at start.
    match store.credentials(id).await {
        Ok(sealed) if sealed != slot.sealed => {
            match engine.attach_channel(id, slot.channel.clone()).await {
                Ok(()) => slot.sealed = sealed,
                Err(e) => log(market, "use stored credentials", e),
            }
        }
        Ok(_) => {}
        Err(e) => log(market, "read credentials", e),
    }
    for i in 0..LISTINGS {
        let quantity = if drain {
            FINAL_QUANTITY
        } else {
            // Every item changes every fourth pass (Reverb takes one call per listing).
            1 + ((cycle / 4 + i as u64) % 9) as u32
        };
        catalog.upsert(catalog_item(market, i, quantity));
    }
    if let Err(e) = engine.link_listings(id).await {
        log(market, "link", e);
        quiet = false;
    }
    match engine.sync_listings(id).await {
        Ok(r) if r.stopped.is_some() => {
            log(market, "sync stopped", r.stopped.unwrap_or_default());
            quiet = false;
        }
        Ok(_) => {}
        Err(e) => {
            log(market, "sync", e);
            quiet = false;
        }
    }
    let caps = slot.channel.capabilities();
    match engine.import_orders(id).await {
        Ok(r) => {
            if !r.imported.is_empty()
                || !r.released.is_empty()
                || r.stopped.is_some()
                || !r.acknowledge_failed.is_empty()
            {
                quiet = false;
            }
            if let Some(why) = &r.stopped {
                log(market, "import stopped", why);
            }
            for order in r.imported.iter().chain(&r.released) {
                if let Some(action) = action_for(order, &caps)
                    && let Err(e) = enqueue(engine, id, order, action, slot.shared).await
                {
                    log(market, "enqueue", e);
                    quiet = false;
                }
            }
        }
        Err(e) => {
            log(market, "import", e);
            quiet = false;
        }
    }
    if drain {
        match catch_up(engine, slot, true).await {
            Ok(0) => {}
            Ok(_) => quiet = false,
            Err(e) => {
                log(market, "catch up", e);
                quiet = false;
            }
        }
    }
    match engine.sync_orders(id).await {
        Ok(r) => {
            if !r.sent.is_empty() || !r.failed.is_empty() || r.stopped.is_some() {
                quiet = false;
            }
            for f in &r.failed {
                log(
                    market,
                    "send",
                    format!("{} {}: {}", f.order_id, f.action, f.error),
                );
            }
        }
        Err(e) => {
            log(market, "send outbox", e);
            quiet = false;
        }
    }
    if drain && quiet {
        // Quiet also means nothing is left to send and the connection is healthy.
        match engine.store().outbox(id).await {
            Ok(entries) => {
                if entries
                    .iter()
                    .any(|e| matches!(e.state, OutboxState::Pending))
                {
                    quiet = false;
                }
            }
            Err(_) => quiet = false,
        }
        match engine.integration(id).await {
            Ok(rec) if matches!(rec.lifecycle.health(), Health::Healthy) => {}
            _ => quiet = false,
        }
    }
    quiet
}
