//! Two worker processes renewing one Allegro login at the same moment, over one store.
//!
//! Each "process" is an engine with its own Allegro channel for the same integration; both run
//! over one store (a `MemoryStore` shared through an `Arc`, or one SQLite file opened twice)
//! against one Allegro sandbox that refuses a used refresh token at once and counts every
//! reuse. Access tokens live 10 minutes; each round moves the shared clock past their expiry
//! and calls both engines concurrently, so both find their token stale at the same moment.
//! The store's renewal lease and compare-and-swap must make one worker renew and the other
//! adopt the stored result: no refresh token is spent twice, nothing goes Broken, and the
//! store always holds the live refresh token (a third engine started from it works).
//!
//! Without the store's coordination (two channels with a plain host token store) the same
//! moment spends one refresh token twice — the sandbox counts it and refuses it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use marketsync::allegro::{AllegroChannel, AllegroConfig};
use marketsync::credentials::LoginSession;
use marketsync::lifecycle::HealthKind;
use marketsync::{
    Actor, ChannelError, ChannelKind, Clock, CredentialKey, Credentials, Currency, Engine,
    ErrorKind, IntegrationId, IntegrationSettings, ManualClock, MemoryCatalog, MemoryNotifier,
    MemoryStore, SecretString, SqliteStore, Store,
};
use marketsync_http::{Limits, RetryPolicy, TokenSet, TokenStore};
use marketsync_sandbox::allegro::{self, default_anchor};
use marketsync_sandbox::{AllegroSandbox, Sandbox};
use secrecy::ExposeSecret;

const ACCESS_TTL: TimeDelta = TimeDelta::minutes(10);
/// Rounds in which both workers renew at the same moment.
const ROUNDS: usize = 12;
/// Concurrent calls per worker in each round.
const CALLS: usize = 4;

fn key() -> CredentialKey {
    CredentialKey::new("k", [5; 32])
}

async fn sandbox(clock: &Arc<ManualClock>) -> Sandbox<AllegroSandbox> {
    AllegroSandbox::builder()
        .offers(0)
        .orders(0)
        .access_ttl(ACCESS_TTL)
        .refuse_reused_refresh_tokens()
        .clock(clock.clone())
        .build()
        .start()
        .await
        .expect("the sandbox starts")
}

/// The login session of the sandbox's initial token pair.
fn session(al: &Sandbox<AllegroSandbox>, now: DateTime<Utc>) -> LoginSession {
    let creds = al.credentials();
    LoginSession {
        user_id: Some(allegro::USER_ID.to_string()),
        token: SecretString::from(creds.access_token),
        // `expires_in` is one second less than the lifetime.
        expires_at: now + ACCESS_TTL - TimeDelta::seconds(1),
        refresh_token: Some(SecretString::from(creds.refresh_token)),
        refresh_expires_at: Some(now + TimeDelta::days(90)),
    }
}

/// One worker's Allegro channel, as a host builds it: no session of its own (the engine hands
/// it the stored one), or `session` and `token_store` for a host that keeps tokens itself.
fn channel(
    al: &Sandbox<AllegroSandbox>,
    clock: &Arc<ManualClock>,
    session: Option<LoginSession>,
    token_store: Option<Arc<dyn TokenStore>>,
) -> AllegroChannel {
    let mut config = AllegroConfig::builder()
        .base_url(al.base_url())
        .auth_base_url(al.base_url())
        .client_id(allegro::CLIENT_ID)
        .client_secret(SecretString::from(allegro::CLIENT_SECRET))
        .limits(Limits::none())
        // Renew in the last minute of the 10-minute access token.
        .refresh_margin(Duration::from_secs(60))
        .retry(RetryPolicy {
            max_attempts: 2,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            factor: 2.0,
            jitter: false,
            max_elapsed: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(1),
        })
        .clock(clock.clone());
    if let Some(s) = session {
        config = config.session(s);
    }
    if let Some(t) = token_store {
        config = config.token_store(t);
    }
    AllegroChannel::new(config.build().expect("config")).expect("channel")
}

fn engine(store: Arc<dyn Store>, clock: &Arc<ManualClock>) -> Engine {
    Engine::new(
        store,
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        clock.clone(),
    )
    .with_credential_key(key())
}

/// The host's one-time set-up: an Allegro integration with the seller's login stored and
/// verified.
async fn set_up(
    store: Arc<dyn Store>,
    al: &Sandbox<AllegroSandbox>,
    clock: &Arc<ManualClock>,
) -> IntegrationId {
    let host = engine(store, clock);
    let id = host
        .create_integration(
            "Allegro — main",
            Arc::new(channel(al, clock, None, None)),
            IntegrationSettings::new(ChannelKind::Allegro, Currency::PLN),
            Actor::System,
        )
        .await
        .expect("integration");
    host.enter_credentials(
        id,
        &Credentials::LoginSession(session(al, clock.now())),
        Actor::System,
    )
    .await
    .expect("login stored");
    host.verify(id, Actor::System).await.expect("verified");
    id
}

/// A worker process: an engine over `store` with its own channel attached from the store.
async fn worker(
    store: Arc<dyn Store>,
    al: &Sandbox<AllegroSandbox>,
    clock: &Arc<ManualClock>,
    id: IntegrationId,
) -> Arc<Engine> {
    let engine = engine(store, clock);
    engine
        .attach_channel(id, Arc::new(channel(al, clock, None, None)))
        .await
        .expect("attached from the store");
    Arc::new(engine)
}

/// `CALLS` concurrent verifications on each worker: each needs a fresh access token.
async fn call_all_at_once(workers: &[Arc<Engine>], id: IntegrationId) {
    let mut calls = Vec::new();
    for _ in 0..CALLS {
        for w in workers {
            let w = w.clone();
            calls.push(tokio::spawn(
                async move { w.verify(id, Actor::System).await },
            ));
        }
    }
    for call in calls {
        call.await.expect("joined").expect("every call succeeds");
    }
}

async fn health(engine: &Engine, id: IntegrationId) -> HealthKind {
    engine
        .integration(id)
        .await
        .expect("record")
        .lifecycle
        .health()
        .kind()
}

/// The scenario over two handles of one store (`a`, `b`) and a third for the late worker.
async fn two_workers_renew_together(a: Arc<dyn Store>, b: Arc<dyn Store>, c: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(default_anchor()));
    let al = sandbox(&clock).await;
    let id = set_up(a.clone(), &al, &clock).await;
    let workers = [
        worker(a, &al, &clock, id).await,
        worker(b, &al, &clock, id).await,
    ];
    let before = al.counters().get("oauth.token");

    for round in 0..ROUNDS {
        // Every access token is past its expiry: both workers must renew now.
        clock.advance(ACCESS_TTL + TimeDelta::seconds(1));
        call_all_at_once(&workers, id).await;
        assert_eq!(
            al.refresh_token_reuses(),
            0,
            "round {round}: a refresh token was spent twice"
        );
        for w in &workers {
            assert_eq!(health(w, id).await, HealthKind::Healthy, "round {round}");
        }
        // What is stored is what works: the stored access token is live.
        let stored = workers[0].credentials(id).await.expect("stored");
        let Credentials::LoginSession(s) = stored else {
            panic!("a login session is stored");
        };
        assert!(
            al.access_token_valid(s.token.expose_secret()),
            "round {round}: the stored access token is not the live one"
        );
    }
    // One renewal per round, whichever worker did it; the other adopted it.
    let renewals = al.counters().get("oauth.token") - before;
    assert_eq!(renewals, ROUNDS as u64, "one refresh per round");

    // A third worker started afterwards from the store renews with the live refresh token.
    let late = worker(c, &al, &clock, id).await;
    clock.advance(ACCESS_TTL + TimeDelta::seconds(1));
    late.verify(id, Actor::System)
        .await
        .expect("the stored refresh token is the live one");
    assert_eq!(al.refresh_token_reuses(), 0);
    assert_eq!(health(&late, id).await, HealthKind::Healthy);
    // And the first two adopt what it stored.
    call_all_at_once(&workers, id).await;
    assert_eq!(al.refresh_token_reuses(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_memory_store_never_spend_a_refresh_token_twice() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    two_workers_renew_together(store.clone(), store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_sqlite_file_never_spend_a_refresh_token_twice() {
    let dir = std::env::temp_dir().join(format!(
        "marketsync-shared-renewal-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("store.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open"));
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open again"));
    let c: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open a third time"));
    two_workers_renew_together(a, b, c).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_stores_coordination_a_refresh_token_is_spent_twice() {
    let clock = Arc::new(ManualClock::new(default_anchor()));
    let al = sandbox(&clock).await;
    // A host's own token store, shared by both channels: it keeps what it is given, with no
    // renewal coordination (the default hooks).
    let kept: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    let plain: Arc<dyn TokenStore> = Arc::new(move |tokens: TokenSet| {
        let kept = kept.clone();
        async move {
            *kept.lock().expect("lock") = Some(tokens);
            Ok::<(), ChannelError>(())
        }
    });
    let login = session(&al, clock.now());
    let channels = [
        channel(&al, &clock, Some(login.clone()), Some(plain.clone())),
        channel(&al, &clock, Some(login), Some(plain)),
    ];
    clock.advance(ACCESS_TTL + TimeDelta::seconds(1));
    let (first, second) = tokio::join!(
        marketsync::Channel::verify(&channels[0]),
        marketsync::Channel::verify(&channels[1]),
    );
    // Both renewed with the one refresh token: the second use is counted and refused.
    assert_eq!(al.refresh_token_reuses(), 1);
    let errors: Vec<ChannelError> = [first, second]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1, "exactly one worker lost: {errors:?}");
    assert_eq!(errors[0].kind(), ErrorKind::Auth, "{}", errors[0]);
}
