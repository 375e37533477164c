//! The short multi-worker chaos run, as an ordinary test: the `marketsync-chaos` binary with
//! three worker processes at once on one PostgreSQL database (a new schema for the run), each
//! SIGKILLed at its own random moments (100 ms to 4 s after its start) for 50 seconds (at least
//! 50 kills over the three), under the same faults as the SQLite run (20% 5xx, 5% 429, 2%
//! dropped connections, revoked and repaired credentials, listings deleted and orders edited
//! outside), with Allegro access tokens that live 10 s and a sandbox that refuses and counts a
//! refresh token used twice. Then the drain run (one worker) and the checks: nothing lost,
//! nothing duplicated, no refresh token used twice, no panic.
//!
//! Needs `MARKETSYNC_TEST_POSTGRES_URL` (a database the test may create schemas in; `.ci/run`
//! sets it, and `eval "$(.ci/postgres.sh)"` starts a throwaway server locally). Without it the
//! test says so and passes. `MARKETSYNC_CHAOS_SEED` replays a seed.

#![cfg(unix)]

use std::process::Command;

#[test]
fn three_workers_on_postgres_lose_duplicate_and_reuse_nothing() {
    let Ok(url) = std::env::var("MARKETSYNC_TEST_POSTGRES_URL") else {
        eprintln!(
            "NOT RUN: the multi-worker chaos run on PostgreSQL needs MARKETSYNC_TEST_POSTGRES_URL \
             (start a throwaway server with `eval \"$(.ci/postgres.sh)\"`)"
        );
        return;
    };
    let seed: u64 = std::env::var("MARKETSYNC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let dir = std::env::temp_dir().join(format!("marketsync-chaos-pg-test-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_marketsync-chaos"))
        .args(["run", "--seed", &seed.to_string(), "--duration", "50"])
        .args(["--min-kills", "50", "--workers", "3", "--store", &url])
        // Three workers start up side by side on a small machine: a longer life than the
        // single-worker run's 2.5 s lets most of them get to work before their kill.
        .args(["--kill-max-ms", "4000"])
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("run the chaos binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    assert!(
        out.status.success(),
        "chaos run failed (seed {seed}, {:?}):\n{stdout}\n--- parent ---\n{stderr}\n--- worker log (end) ---\n{tail}",
        out.status
    );
    let result = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}"));
    let field = |name: &str| -> u64 {
        result
            .split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {result}"))
    };
    assert!(result.starts_with("RESULT ok"), "{stdout}");
    assert_eq!(field("workers"), 3, "{result}");
    assert!(field("kills") >= 50, "{result}");
    assert!(field("orders") > 0, "{result}");
    assert!(field("faults") > 0, "{result}");
    // Allegro's tokens were renewed during the run (the reuse count means something).
    assert!(field("token_calls") > 0, "{result}");
    assert_eq!(field("token_reuses"), 0, "{stdout}");
    assert_eq!(field("lost"), 0, "{stdout}");
    assert_eq!(field("duplicates"), 0, "{stdout}");
    assert_eq!(field("panics"), 0, "{stdout}");
    // The summary names the store without its password, if the URL has one.
    assert!(stdout.contains("PostgreSQL postgres"), "{stdout}");
    println!("{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
