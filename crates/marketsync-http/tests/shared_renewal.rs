//! The token manager's renewal hooks ([`TokenStore::begin_renewal`], `store_renewed`,
//! `end_renewal`) with a store shared by several "processes": a fake store in memory standing
//! for a database (tokens, a version, one renewal lease), against a wiremock token endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};
use marketsync_core::{ChannelError, Clock, ErrorKind, ExposeSecret, ManualClock, SecretString};
use marketsync_http::{
    OAuthClient, OAuthConfig, TokenManager, TokenOptions, TokenSet, TokenStore, Url,
};
use tokio::sync::{OwnedMutexGuard, Semaphore};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
    ))
}

fn oauth(server: &MockServer, clock: Arc<ManualClock>) -> OAuthClient {
    let base = Url::parse(&server.uri()).unwrap();
    let config = OAuthConfig::new(
        "app-1",
        Some(SecretString::from("app-secret-1")),
        base.join("/auth/oauth/token").unwrap(),
    );
    OAuthClient::new(config).unwrap().with_clock(clock)
}

fn manager(
    server: &MockServer,
    clock: &Arc<ManualClock>,
    tokens: TokenSet,
    store: FakeStore,
) -> TokenManager {
    TokenManager::with_options(
        oauth(server, clock.clone()),
        tokens,
        store,
        TokenOptions {
            clock: clock.clone(),
            ..TokenOptions::default()
        },
    )
}

/// Tokens whose access token expires `in_seconds` after the clock's now.
fn tokens(clock: &ManualClock, access: &str, refresh: &str, in_seconds: i64) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(access),
        expires_at: Some(clock.now() + TimeDelta::seconds(in_seconds)),
        refresh_token: Some(SecretString::from(refresh)),
        scopes: Vec::new(),
    }
}

/// The token endpoint answering a new pair, expected `times` times.
async fn token_endpoint(server: &MockServer, access: &str, refresh: &str, times: u64) {
    let body = serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 43199,
        "refresh_token": refresh,
    });
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(body.to_string()),
        )
        .expect(times)
        .mount(server)
        .await;
}

/// What every "process" shares: the stored tokens, their version, one renewal lease, and the
/// calls made on the hooks.
struct Shared {
    stored: Mutex<(TokenSet, u64)>,
    lease: Arc<tokio::sync::Mutex<()>>,
    log: Mutex<Vec<String>>,
}

impl Shared {
    fn new(tokens: TokenSet) -> Arc<Self> {
        Arc::new(Self {
            stored: Mutex::new((tokens, 1)),
            lease: Arc::new(tokio::sync::Mutex::new(())),
            log: Mutex::new(Vec::new()),
        })
    }

    fn stored(&self) -> (TokenSet, u64) {
        self.stored.lock().unwrap().clone()
    }

    /// "Another process renewed": new tokens stored with the version incremented.
    fn replace(&self, tokens: TokenSet) {
        let mut st = self.stored.lock().unwrap();
        st.0 = tokens;
        st.1 += 1;
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// One process's view of the shared store, as the engine's credential sink behaves: the lease
/// taken in `begin_renewal`, the stored tokens handed back when their version changed since
/// this process last saw it, a compare-and-swap on that version when storing.
struct FakeStore {
    name: &'static str,
    shared: Arc<Shared>,
    seen: Mutex<u64>,
    held: Mutex<Option<OwnedMutexGuard<()>>>,
    fail_begin: bool,
    /// Tokens another writer stores between the begin of a renewal and its store.
    meanwhile: Mutex<Option<TokenSet>>,
    /// How many of the next `store_renewed` calls fail (the database is unreachable).
    failing_saves: AtomicUsize,
    /// When set, a `store_renewed` after a failed one waits for a permit first.
    retry_gate: Option<Arc<Semaphore>>,
    /// The renewal lease lapsed and another process took it: `extend_renewal` answers false.
    lease_lost: bool,
}

impl FakeStore {
    fn new(name: &'static str, shared: &Arc<Shared>) -> Self {
        Self {
            name,
            seen: Mutex::new(shared.stored().1),
            shared: shared.clone(),
            held: Mutex::new(None),
            fail_begin: false,
            meanwhile: Mutex::new(None),
            failing_saves: AtomicUsize::new(0),
            retry_gate: None,
            lease_lost: false,
        }
    }

    fn note(&self, what: &str) {
        self.shared
            .log
            .lock()
            .unwrap()
            .push(format!("{} {what}", self.name));
    }
}

#[async_trait]
impl TokenStore for FakeStore {
    async fn store(&self, tokens: TokenSet) -> Result<(), ChannelError> {
        self.note("store");
        self.shared.replace(tokens);
        Ok(())
    }

    async fn begin_renewal(&self) -> Result<Option<TokenSet>, ChannelError> {
        if self.fail_begin {
            self.note("begin failed");
            return Err(ChannelError::transient("the store is unreachable"));
        }
        let guard = self.shared.lease.clone().lock_owned().await;
        *self.held.lock().unwrap() = Some(guard);
        self.note("begin");
        let (tokens, version) = self.shared.stored();
        let mut seen = self.seen.lock().unwrap();
        if *seen == version {
            return Ok(None);
        }
        *seen = version;
        Ok(Some(tokens))
    }

    async fn extend_renewal(&self) -> Result<bool, ChannelError> {
        if self.lease_lost {
            self.note("extend: lost");
            return Ok(false);
        }
        Ok(true)
    }

    async fn store_renewed(&self, tokens: TokenSet) -> Result<Option<TokenSet>, ChannelError> {
        if self
            .failing_saves
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.note("store_renewed failed");
            return Err(ChannelError::transient("the database is unreachable"));
        }
        if let Some(gate) = &self.retry_gate
            && self
                .shared
                .log()
                .iter()
                .any(|l| l == &format!("{} store_renewed failed", self.name))
        {
            gate.acquire().await.unwrap().forget();
        }
        if let Some(other) = self.meanwhile.lock().unwrap().take() {
            self.shared.replace(other);
        }
        let mut stored = self.shared.stored.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        if stored.1 != *seen {
            *seen = stored.1;
            drop(stored);
            self.note("store_renewed superseded");
            return Ok(Some(self.shared.stored().0));
        }
        stored.0 = tokens;
        stored.1 += 1;
        *seen = stored.1;
        drop(stored);
        self.note("store_renewed");
        Ok(None)
    }

    async fn end_renewal(&self) {
        self.note("end");
        self.held.lock().unwrap().take();
    }
}

#[tokio::test]
async fn newer_stored_tokens_are_adopted_without_a_refresh() {
    let server = MockServer::start().await;
    token_endpoint(&server, "access-mine", "refresh-mine", 0).await;
    let clock = clock();
    let old = tokens(&clock, "access-old", "refresh-old", 3600);
    let shared = Shared::new(old.clone());
    let manager = manager(&server, &clock, old, FakeStore::new("a", &shared));
    // Another process renewed and stored; ours was refused (its renewal revoked it).
    shared.replace(tokens(&clock, "access-theirs", "refresh-theirs", 3600));
    manager.invalidate(&SecretString::from("access-old"));

    let token = manager.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), "access-theirs");
    assert_eq!(shared.log(), ["a begin", "a end"]);
    // Adopted for good: the next call uses it without any renewal.
    let again = manager.access_token().await.unwrap();
    assert_eq!(again.expose_secret(), "access-theirs");
    assert_eq!(shared.log().len(), 2);
    server.verify().await;
}

#[tokio::test]
async fn stored_tokens_like_ours_are_refreshed_and_stored_with_the_lease_held() {
    let server = MockServer::start().await;
    token_endpoint(&server, "access-new", "refresh-new", 1).await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let store = FakeStore::new("a", &shared);
    // This process knows an older version: the store hands back the tokens, which are ours.
    *store.seen.lock().unwrap() = 0;
    let manager = manager(&server, &clock, expired, store);

    let token = manager.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), "access-new");
    assert_eq!(shared.log(), ["a begin", "a store_renewed", "a end"]);
    let (stored, version) = shared.stored();
    assert_eq!(stored.refresh_token.unwrap().expose_secret(), "refresh-new");
    assert_eq!(version, 2);
    server.verify().await;
}

#[tokio::test]
async fn newer_stored_tokens_that_are_due_too_are_refreshed_with_their_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(body_string_contains("refresh_token=refresh-theirs"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "application/json").set_body_string(
            serde_json::json!({"access_token": "access-new", "token_type": "bearer", "expires_in": 43199, "refresh_token": "refresh-new"}).to_string(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let old = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(old.clone());
    let manager = manager(&server, &clock, old, FakeStore::new("a", &shared));
    shared.replace(tokens(&clock, "access-theirs", "refresh-theirs", -5));

    let token = manager.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), "access-new");
    assert_eq!(shared.log(), ["a begin", "a store_renewed", "a end"]);
    server.verify().await;
}

#[tokio::test]
async fn tokens_stored_elsewhere_during_the_renewal_win() {
    let server = MockServer::start().await;
    token_endpoint(&server, "access-mine", "refresh-mine", 1).await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let store = FakeStore::new("a", &shared);
    // The seller logs in again while the refresh runs: the login's tokens are stored after
    // the renewal began and before it stores.
    *store.meanwhile.lock().unwrap() = Some(tokens(&clock, "access-login", "refresh-login", 3600));
    let manager = manager(&server, &clock, expired, store);

    let token = manager.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), "access-login");
    assert_eq!(
        shared.log(),
        ["a begin", "a store_renewed superseded", "a end"]
    );
    let (stored, _) = shared.stored();
    assert_eq!(
        stored.access_token.expose_secret(),
        "access-login",
        "nothing overwritten"
    );
    // The login's tokens are used from now on, without another renewal.
    assert_eq!(
        manager.access_token().await.unwrap().expose_secret(),
        "access-login"
    );
    assert_eq!(shared.log().len(), 3);
    server.verify().await;
}

#[tokio::test]
async fn a_store_that_cannot_begin_a_renewal_stops_it_before_any_refresh() {
    let server = MockServer::start().await;
    token_endpoint(&server, "access-new", "refresh-new", 0).await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let mut store = FakeStore::new("a", &shared);
    store.fail_begin = true;
    let manager = manager(&server, &clock, expired, store);

    let e = manager.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("the store is unreachable"), "{e}");
    assert_eq!(shared.log(), ["a begin failed"], "no end without a begin");
    server.verify().await;
}

#[tokio::test]
async fn a_failed_refresh_still_ends_the_renewal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/json")
                .set_body_string(r#"{"error":"invalid_grant"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let manager = manager(&server, &clock, expired, FakeStore::new("a", &shared));

    let e = manager.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(shared.log(), ["a begin", "a end"]);
    // The lease is free again: another process can take it at once.
    assert!(shared.lease.try_lock().is_ok());
    server.verify().await;
}

#[tokio::test]
async fn two_processes_renewing_at_once_refresh_once() {
    let server = MockServer::start().await;
    token_endpoint(&server, "access-new", "refresh-new", 1).await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let a = manager(
        &server,
        &clock,
        expired.clone(),
        FakeStore::new("a", &shared),
    );
    let b = manager(&server, &clock, expired, FakeStore::new("b", &shared));

    let mut calls = Vec::new();
    for _ in 0..10 {
        calls.push(tokio::spawn({
            let a = a.clone();
            async move { a.access_token().await }
        }));
        calls.push(tokio::spawn({
            let b = b.clone();
            async move { b.access_token().await }
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().expose_secret(), "access-new");
    }
    // One process refreshed and stored; the other waited for the lease and adopted the result.
    let log = shared.log();
    assert_eq!(
        log.iter().filter(|l| l.ends_with("store_renewed")).count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.ends_with(" begin")).count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.ends_with(" end")).count(),
        2,
        "{log:?}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_failed_save_keeps_the_renewal_until_the_renewed_tokens_are_stored() {
    let server = MockServer::start().await;
    // One refresh in all: the refresh token is spent once, by `a`.
    token_endpoint(&server, "access-new", "refresh-new", 1).await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let mut store = FakeStore::new("a", &shared);
    store.failing_saves = AtomicUsize::new(1);
    let gate = Arc::new(Semaphore::new(0));
    store.retry_gate = Some(gate.clone());
    let a = manager(&server, &clock, expired.clone(), store);
    // Another process, started from the same stored tokens.
    let b = manager(&server, &clock, expired, FakeStore::new("b", &shared));

    // The refresh succeeded but the store refused the new pair: the caller gets a transient
    // error, and the renewal lease is NOT given back ("refresh-old" is spent).
    let e = a.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("the database is unreachable"), "{e}");
    assert!(!e.to_string().contains("refresh-new"), "{e}");
    assert_eq!(shared.log(), ["a begin", "a store_renewed failed"]);
    assert!(shared.lease.try_lock().is_err(), "the lease is still held");
    // Meanwhile callers get the failure without starting another renewal.
    assert!(a.access_token().await.is_err());
    assert_eq!(shared.log().len(), 2, "{:?}", shared.log());

    // The store is back: the retry (after extending the lease) stores the pair, then ends.
    gate.add_permits(1);
    a.renewals_idle().await;
    assert_eq!(
        shared.log(),
        [
            "a begin",
            "a store_renewed failed",
            "a store_renewed",
            "a end"
        ]
    );
    assert!(shared.lease.try_lock().is_ok(), "the lease is given back");
    let (stored, _) = shared.stored();
    assert_eq!(stored.refresh_token.unwrap().expose_secret(), "refresh-new");
    assert_eq!(
        a.access_token().await.unwrap().expose_secret(),
        "access-new"
    );

    // The other process, whose tokens are stale, adopts the stored pair; nothing is refreshed.
    assert_eq!(
        b.access_token().await.unwrap().expose_secret(),
        "access-new"
    );
    server.verify().await;
}

#[tokio::test]
async fn the_lease_is_extended_before_the_refresh_and_a_lost_lease_refreshes_nothing() {
    let server = MockServer::start().await;
    token_endpoint(&server, "access-new", "refresh-new", 0).await;
    let clock = clock();
    let expired = tokens(&clock, "access-old", "refresh-old", -10);
    let shared = Shared::new(expired.clone());
    let mut store = FakeStore::new("a", &shared);
    // The lease lapsed while this process waited (for the store, for a connection) and
    // another one took it: it may be refreshing with "refresh-old" right now.
    store.lease_lost = true;
    let manager = manager(&server, &clock, expired, store);

    let e = manager.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(
        e.to_string().contains("taken over by another process"),
        "{e}"
    );
    assert_eq!(shared.log(), ["a begin", "a extend: lost", "a end"]);
    // Not Broken: the next call begins a renewal again.
    assert!(manager.access_token().await.is_err());
    assert_eq!(shared.log().len(), 6, "{:?}", shared.log());
    server.verify().await;
}
