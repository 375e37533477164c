//! Rate limits: quotas as "never more than n in any window" under tokio's paused time, keys,
//! the daily budget turning into a typed `RateLimited`, and the concurrency cap.

use std::time::{Duration, Instant};

use marketsync_core::{ChannelKind, ErrorKind, RateLimits};
use marketsync_http::{HttpClient, Limits, RateLimiter, RetryPolicy};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(start_paused = true)]
async fn quotas_follow_paused_time() {
    let limiter = RateLimiter::new(Limits::default().per_second(2).guard_permille(0));
    let started = tokio::time::Instant::now();
    let wall = Instant::now();
    for _ in 0..10 {
        limiter.acquire("acct").await.unwrap();
    }
    // Two in any second: pairs at 0, 1, 2, 3 and 4 s of virtual time.
    assert_eq!(started.elapsed(), Duration::from_secs(4));
    assert!(wall.elapsed() < Duration::from_secs(1), "no real sleeping");
}

#[tokio::test(start_paused = true)]
async fn try_acquire_says_how_long_until_the_next_permit() {
    let limiter = RateLimiter::new(Limits::default().per_minute(3).guard_permille(0));
    for _ in 0..3 {
        limiter.try_acquire("acct").unwrap();
    }
    // The window is full until the first permit is a minute old.
    assert_eq!(limiter.try_acquire("acct"), Err(Duration::from_secs(60)));
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(limiter.try_acquire("acct"), Err(Duration::from_secs(40)));
    tokio::time::advance(Duration::from_secs(40)).await;
    assert_eq!(limiter.try_acquire("acct"), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn permits_count_a_guard_longer_than_the_period_by_default() {
    let limits = Limits::default().per_minute(2);
    assert_eq!(limits.guard(), marketsync_http::DEFAULT_GUARD_PERMILLE);
    let limiter = RateLimiter::new(limits);
    limiter.try_acquire("acct").unwrap();
    limiter.try_acquire("acct").unwrap();
    // Full: free again 1 % after the minute (600 ms), not at the minute's edge.
    assert_eq!(
        limiter.try_acquire("acct"),
        Err(Duration::from_millis(60_600))
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        limiter.try_acquire("acct"),
        Err(Duration::from_millis(600)),
        "at the marketplace's own edge a request could still arrive inside its window"
    );
    tokio::time::advance(Duration::from_millis(600)).await;
    assert_eq!(limiter.try_acquire("acct"), Ok(()));

    // A chosen guard, and none.
    let limiter = RateLimiter::new(Limits::default().per_second(1).guard_permille(250));
    limiter.try_acquire("acct").unwrap();
    assert_eq!(
        limiter.try_acquire("acct"),
        Err(Duration::from_millis(1_250))
    );
    let limiter = RateLimiter::new(Limits::default().per_second(1).guard_permille(0));
    limiter.try_acquire("acct").unwrap();
    assert_eq!(limiter.try_acquire("acct"), Err(Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn limits_are_keyed_per_account_and_shared_by_clones() {
    let limiter = RateLimiter::new(Limits::default().per_minute(2));
    let clone = limiter.clone();
    limiter.try_acquire("a").unwrap();
    clone.try_acquire("a").unwrap();
    // The clone drew from the same budget…
    assert!(limiter.try_acquire("a").is_err());
    assert!(clone.try_acquire("a").is_err());
    // …and another account has its own.
    clone.try_acquire("b").unwrap();
    clone.try_acquire("b").unwrap();
    assert!(clone.try_acquire("b").is_err());
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_does_not_spend_the_daily_budget() {
    let limiter = RateLimiter::new(Limits::default().per_second(1).per_day(3).guard_permille(0));
    limiter.try_acquire("a").unwrap();
    // Refused by the per-second quota: the daily one is untouched.
    for _ in 0..5 {
        assert!(limiter.try_acquire("a").unwrap_err() <= Duration::from_secs(1));
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    limiter.try_acquire("a").unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    limiter.try_acquire("a").unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    // Three spent: the fourth waits until the first is a day old.
    let wait = limiter.try_acquire("a").unwrap_err();
    assert_eq!(wait, Duration::from_secs(24 * 3600 - 3));
}

#[tokio::test]
async fn a_daily_quota_of_100_refuses_call_101_with_the_renewal_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(100)
        .mount(&server)
        .await;
    // Tradera's default: 100 calls per 24 h, from the channel's capabilities.
    let limits = Limits::from(&RateLimits {
        per_day: Some(100),
        ..RateLimits::default()
    })
    .max_wait(Duration::from_secs(5));
    let client = HttpClient::builder(&server.uri())
        .channel(ChannelKind::Tradera)
        .account("tradera-user-1")
        .limits(limits)
        .build()
        .unwrap();

    for _ in 0..100 {
        client.get("orders").send().await.unwrap();
    }
    let started = Instant::now();
    let e = client
        .get("orders")
        .operation("fetch_orders")
        .send()
        .await
        .unwrap_err();
    // Refused at once, not after hours of sleep.
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.is_temporary());
    assert_eq!(
        e.http_status(),
        None,
        "our own budget, not the channel's answer"
    );
    assert_eq!(e.channel(), Some(ChannelKind::Tradera));
    assert_eq!(e.operation(), Some("fetch_orders"));
    assert_eq!(e.attempts(), 1);
    // The budget renews when the first call of the 24 h window is a day old, plus the default
    // guard of 1 % (14 min 24 s).
    let wait = e.retry_after().unwrap();
    let day = Duration::from_secs(24 * 3600);
    assert!(
        wait > day + day / 100 - Duration::from_secs(60) && wait <= day + day / 100,
        "{wait:?}"
    );
    // The server saw exactly 100 requests (checked by `expect(100)` on drop, and here).
    assert_eq!(server.received_requests().await.unwrap().len(), 100);
}

#[tokio::test]
async fn a_short_wait_is_slept_not_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = HttpClient::builder(&server.uri())
        .limits(
            Limits::default()
                .per_second(2)
                .max_wait(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    for _ in 0..4 {
        client.get("x").send().await.unwrap();
    }
    // Two in any second: the third and fourth wait for the first second to pass.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn concurrency_is_capped_per_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let shared = RateLimiter::new(Limits::default().concurrency(2));
    let client = HttpClient::builder(&server.uri())
        .account("ca-app")
        .rate_limiter(shared.clone())
        .retry(RetryPolicy::never())
        .build()
        .unwrap();
    // A second client of the same account, sharing the limiter.
    let other = HttpClient::builder(&server.uri())
        .account("ca-app")
        .rate_limiter(shared)
        .build()
        .unwrap();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = if i % 2 == 0 {
            client.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(
            async move { c.get("x").send().await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 6 requests of 300 ms, 2 at a time: at least 3 rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(880),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn no_window_ever_holds_more_than_the_quota() {
    // A token bucket would allow 5 at once and then refill: 10 in the first 10 s. A window never
    // does, however the requests are spread.
    let limiter = RateLimiter::new(
        Limits::default()
            .quota(5, Duration::from_secs(10))
            .max_wait(Duration::from_secs(60)),
    );
    let start = tokio::time::Instant::now();
    let mut times = Vec::new();
    for i in 0..40u64 {
        limiter.acquire("a").await.unwrap();
        times.push(start.elapsed());
        // Irregular gaps between requests.
        tokio::time::advance(Duration::from_millis((i * 7919) % 3000)).await;
    }
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| **u < *t + Duration::from_secs(10))
            .count();
        assert!(
            in_window <= 5,
            "{in_window} requests in the 10 s after {t:?}: {times:?}"
        );
    }
    // And it is not over-cautious: 40 requests at 5 per 10 s need at least 70 s, and the log
    // lets them through in well under 100 s.
    assert!(
        start.elapsed() < Duration::from_secs(100),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn limits_from_capabilities() {
    let limits = Limits::from(&RateLimits {
        per_minute: Some(2000),
        per_day: None,
        concurrent: Some(5),
    });
    assert_eq!(limits.quotas().len(), 1);
    assert_eq!(limits.quotas()[0].count.get(), 2000);
    assert_eq!(limits.quotas()[0].period, Duration::from_secs(60));
    assert_eq!(limits.max_in_flight(), Some(5));
    assert!(Limits::from(&RateLimits::default()).quotas().is_empty());
}

#[tokio::test(start_paused = true)]
async fn many_permits_are_taken_at_one_instant_with_headroom() {
    let limiter = RateLimiter::new(Limits::default().per_minute(10).guard_permille(0));
    limiter.try_acquire("acct").unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    for _ in 0..4 {
        limiter.try_acquire("acct").unwrap();
    }
    // 5 used: 4 more plus 1 of headroom fit, 5 plus 1 do not.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        limiter.try_acquire_many("acct", 5, 1),
        Err(Duration::from_secs(40)),
        "room for 6 comes when the first permit (at 0 s) leaves, at 60 s"
    );
    // A refused request takes nothing.
    assert_eq!(limiter.try_acquire_many("acct", 4, 1), Ok(()));
    // 9 used now: the headroom is the one left.
    assert_eq!(limiter.try_acquire("acct"), Ok(()));
    // At 79 s the five taken at 20 s are still in the window: 6 more need the oldest of them
    // gone, in 1 s; at 80 s all five leave together.
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        limiter.try_acquire_many("acct", 6, 0),
        Err(Duration::from_secs(1))
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(limiter.try_acquire_many("acct", 10, 0), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn more_permits_than_the_quota_wait_for_an_empty_window() {
    let limiter = RateLimiter::new(Limits::default().per_minute(3).guard_permille(0));
    limiter.try_acquire("acct").unwrap();
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(
        limiter.try_acquire_many("acct", 5, 0),
        Err(Duration::from_secs(45))
    );
    tokio::time::advance(Duration::from_secs(45)).await;
    assert_eq!(limiter.try_acquire_many("acct", 5, 0), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn many_permits_count_the_guard_too() {
    // A batch's parts are permits like any other: held the period plus the default 1 %.
    let limiter = RateLimiter::new(Limits::default().per_minute(10));
    assert_eq!(limiter.try_acquire_many("acct", 9, 1), Ok(()));
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        limiter.try_acquire_many("acct", 9, 1),
        Err(Duration::from_millis(600)),
        "at the marketplace's own minute the parts may still be inside its window"
    );
    tokio::time::advance(Duration::from_millis(600)).await;
    assert_eq!(limiter.try_acquire_many("acct", 9, 1), Ok(()));
    // More than the quota: once nothing is left in the guarded window.
    let limiter = RateLimiter::new(Limits::default().per_minute(3));
    limiter.try_acquire("acct").unwrap();
    assert_eq!(
        limiter.try_acquire_many("acct", 5, 0),
        Err(Duration::from_millis(60_600))
    );
}
