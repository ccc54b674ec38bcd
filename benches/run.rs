//! The lock guard's overhead on an uncontended database: prints figures, asserts nothing.
//!
//! `cargo bench --bench run` starts PostgreSQL from Debian's packages on a free loopback
//! port (as the rehearsal test does), installs Django and psycopg into a throwaway
//! virtualenv (tests/rehearsal/requirements.txt), and times `migrail run --backend local`
//! applying `examples/rehearsal`'s five migrations to an empty schema, alternating the
//! default (behind the lock guard: `manage.py shell -c`, one `SET` per connection, one
//! `SHOW`, the retry loop around `migrate`) with `--lock-timeout 0` (the plain `manage.py
//! migrate`), for `MIGRAIL_BENCH_ROUNDS` rounds (default 7). Nothing holds a lock, so no
//! retry happens: the difference is the guard's fixed cost.

#[path = "../tests/support/postgres.rs"]
mod postgres;
#[path = "../tests/support/venv.rs"]
mod venv;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(work: &Path, python: &Path, pg: &postgres::Postgres, extra: &[&str]) -> Duration {
    pg.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
    let started = Instant::now();
    let out = pg
        .migrail(work, python)
        .args(["run", "--backend", "local"])
        .args(extra)
        .args(["--", "python", "manage.py", "migrate", "--noinput"])
        .output()
        .expect("migrail runs");
    let took = started.elapsed();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("... OK").count(), 5, "{text}");
    assert!(
        !text.contains("lock timeout on"),
        "no retry expected: {text}"
    );
    took
}

fn main() {
    let rounds: usize = std::env::var("MIGRAIL_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let python = venv::venv(
        "rehearsal-venv",
        &repo().join("tests/rehearsal/requirements.txt"),
    );
    let pg = postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    venv::check(
        "copy examples/rehearsal",
        Command::new("cp")
            .arg("-R")
            .arg(repo().join("examples/rehearsal/."))
            .arg(dir.path()),
    );
    let work = dir.path().to_path_buf();
    // One warm-up of each (imports, page cache).
    run(&work, &python, &pg, &[]);
    run(&work, &python, &pg, &["--lock-timeout", "0"]);
    let (mut guarded, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        guarded.push(run(&work, &python, &pg, &[]));
        plain.push(run(&work, &python, &pg, &["--lock-timeout", "0"]));
    }
    let (g, p) = (median(guarded.clone()), median(plain.clone()));
    println!(
        "lock guard overhead, {rounds} alternating rounds, 5 migrations from an empty schema:"
    );
    println!(
        "  guarded (default, lock_timeout 5s): median {:.3} s  (min {:.3}, max {:.3})",
        g.as_secs_f64(),
        guarded.iter().min().map_or(0.0, Duration::as_secs_f64),
        guarded.iter().max().map_or(0.0, Duration::as_secs_f64)
    );
    println!(
        "  plain   (--lock-timeout 0):         median {:.3} s  (min {:.3}, max {:.3})",
        p.as_secs_f64(),
        plain.iter().min().map_or(0.0, Duration::as_secs_f64),
        plain.iter().max().map_or(0.0, Duration::as_secs_f64)
    );
    println!(
        "  difference of the medians: {:+.3} s ({:+.1} %)",
        g.as_secs_f64() - p.as_secs_f64(),
        (g.as_secs_f64() / p.as_secs_f64() - 1.0) * 100.0
    );
}
