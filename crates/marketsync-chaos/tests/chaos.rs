//! The short chaos run, as an ordinary test: the `marketsync-chaos` binary for 50 seconds of
//! SIGKILLed workers (at least 50 kills) under 20% 5xx, 5% 429, 2% dropped connections, revoked
//! and repaired credentials, listings deleted and orders edited outside, then the drain run and
//! the checks against the sandboxes' records (nothing lost, nothing duplicated, no panic).
//!
//! `MARKETSYNC_CHAOS_SEED` replays a seed (the kill moments and outside actions; the interleaving
//! with the worker's progress is the machine's). The long variant is run by hand: see
//! RELIABILITY.md.

#![cfg(unix)]

use std::process::Command;

#[test]
fn short_chaos_run_loses_and_duplicates_nothing() {
    let seed: u64 = std::env::var("MARKETSYNC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let dir = std::env::temp_dir().join(format!("marketsync-chaos-test-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_marketsync-chaos"))
        .args(["run", "--seed", &seed.to_string(), "--duration", "50"])
        .args(["--min-kills", "50"])
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
    assert!(field("kills") >= 50, "{result}");
    assert!(field("orders") > 0, "{result}");
    assert!(field("faults") > 0, "{result}");
    assert_eq!(field("lost"), 0, "{stdout}");
    assert_eq!(field("duplicates"), 0, "{stdout}");
    assert_eq!(field("panics"), 0, "{stdout}");
    println!("{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
