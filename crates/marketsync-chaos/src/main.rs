//! `marketsync-chaos`: the chaos runner (`run`) and the process it kills (`worker`).
//!
//! ```text
//! marketsync-chaos run [--seed N] [--duration SECS] [--dir PATH] [--min-kills N]
//!                      [--store PATH|postgres://URL] [--workers N]
//!                      [--order-every-ms N] [--kill-min-ms N] [--kill-max-ms N]
//! marketsync-chaos worker --plan PATH [--drain]
//! ```
//!
//! `--store`: the SQLite file (default `chaos.db` in `--dir`) or a PostgreSQL database URL, in
//! which each run creates its own new schema. `--workers N` (default 1): N worker processes run
//! at the same time over the one store, each SIGKILLed and restarted on its own; `--min-kills`
//! counts the kills of all of them. The drain after the kill phase is always one worker.
//!
//! `run` exits 0 when every check passed, 1 when one failed, 2 on a usage or setup error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use marketsync_chaos::run::{RunOptions, run};
use marketsync_chaos::worker::{DrainEnd, work};
use marketsync_chaos::{Plan, StoreLocation};

const USAGE: &str = "usage: marketsync-chaos run [--seed N] [--duration SECS] [--dir PATH] [--min-kills N] [--store PATH|postgres://URL] [--workers N] [--order-every-ms N] [--kill-min-ms N] [--kill-max-ms N]\n       marketsync-chaos worker --plan PATH [--drain]\n  --store    the SQLite file (default: chaos.db in --dir) or a postgres:// URL (each run makes its own schema)\n  --workers  worker processes running at once, each killed and restarted on its own (default 1)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => parent(&args[1..]),
        Some("worker") => worker(&args[1..]),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("marketsync-chaos: {e}");
            ExitCode::from(2)
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `--name value` pairs and bare `--flag`s.
fn options(args: &[String], flags: &[&str]) -> Result<Vec<(String, Option<String>)>, BoxError> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a:?}\n{USAGE}"))?;
        if flags.contains(&name) {
            out.push((name.to_owned(), None));
        } else {
            let v = it
                .next()
                .ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
            out.push((name.to_owned(), Some(v.clone())));
        }
    }
    Ok(out)
}

fn number(v: Option<String>, name: &str) -> Result<u64, BoxError> {
    v.as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| format!("--{name} needs a whole number").into())
}

fn parent(args: &[String]) -> Result<ExitCode, BoxError> {
    let seed_default = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut opts = RunOptions::new(
        seed_default,
        Duration::from_secs(60),
        std::env::temp_dir().join(format!("marketsync-chaos-{}", std::process::id())),
        std::env::current_exe()?,
    );
    for (name, v) in options(args, &[])? {
        match name.as_str() {
            "seed" => opts.seed = number(v, &name)?,
            "duration" => opts.duration = Duration::from_secs(number(v, &name)?),
            "dir" => opts.dir = PathBuf::from(v.unwrap_or_default()),
            "store" => opts.store = Some(StoreLocation::parse(&v.unwrap_or_default())),
            "workers" => {
                opts.workers = usize::try_from(number(v, &name)?)?;
                if opts.workers == 0 {
                    return Err(format!("--workers needs at least 1\n{USAGE}").into());
                }
            }
            "min-kills" => opts.min_kills = u32::try_from(number(v, &name)?)?,
            "order-every-ms" => opts.order_every = Duration::from_millis(number(v, &name)?),
            "kill-min-ms" => opts.kill_min = Duration::from_millis(number(v, &name)?),
            "kill-max-ms" => opts.kill_max = Duration::from_millis(number(v, &name)?),
            other => return Err(format!("unknown option --{other}\n{USAGE}").into()),
        }
    }
    eprintln!(
        "[parent] seed {} for {} s in {}, {} worker(s) at once on {}",
        opts.seed,
        opts.duration.as_secs(),
        opts.dir.display(),
        opts.workers,
        opts.store.as_ref().map_or_else(
            || "the SQLite file in that directory".to_owned(),
            |s| s.to_string()
        )
    );
    let summary = run(&opts)?;
    println!("{summary}");
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn worker(args: &[String]) -> Result<ExitCode, BoxError> {
    let (mut plan, mut drain) = (None, false);
    for (name, v) in options(args, &["drain"])? {
        match name.as_str() {
            "plan" => plan = v.map(PathBuf::from),
            "drain" => drain = true,
            other => return Err(format!("unknown option --{other}\n{USAGE}").into()),
        }
    }
    let plan = Plan::read(&plan.ok_or(USAGE)?)?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The parent counts these lines in the worker log.
        eprintln!("[worker {}] panicked at {info}", std::process::id());
        previous(info);
    }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(work(&plan, drain))? {
        DrainEnd::Quiet => Ok(ExitCode::SUCCESS),
        DrainEnd::NotQuiet => Ok(ExitCode::from(3)),
    }
}
