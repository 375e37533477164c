//! A service tells that its scheduler is still going by its passes: `Scheduler::passes` and
//! `Scheduler::last_pass_at` (the engine's clock), counted by `tick` and by `run`, shared by the
//! scheduler's clones, a pass counting whether its claim succeeded or not.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync_core::{Engine, ManualClock, MemoryStore, Scheduler};
use tokio::sync::mpsc;

#[tokio::test]
async fn passes_are_counted_and_stamped_with_the_engine_clock() {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let engine = Arc::new(
        Engine::builder()
            .store(Arc::new(MemoryStore::new()))
            .clock(clock.clone())
            .build(),
    );
    let scheduler = Scheduler::new(engine, 2);
    assert_eq!(scheduler.passes(), 0);
    assert_eq!(scheduler.last_pass_at(), None);

    scheduler.tick().await.unwrap();
    assert_eq!(scheduler.passes(), 1);
    assert_eq!(scheduler.last_pass_at(), Some(start));

    clock.advance(TimeDelta::minutes(5));
    let clone = scheduler.clone();
    clone.tick().await.unwrap();
    assert_eq!(scheduler.passes(), 2, "clones share the count");
    assert_eq!(
        scheduler.last_pass_at(),
        Some(start + TimeDelta::minutes(5))
    );

    // `run` counts its passes too: it stops once it made two more.
    let (reports, _received) = mpsc::channel(8);
    let watcher = scheduler.clone();
    let summary = scheduler
        .run(
            Duration::from_millis(1),
            async move {
                while watcher.passes() < 4 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            },
            reports,
        )
        .await;
    assert!(summary.passes >= 2, "{summary:?}");
    assert_eq!(scheduler.passes(), 2 + summary.passes);
}
