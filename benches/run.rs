//! The lock guard's and the preflight's overhead on an uncontended database: prints
//! figures, asserts nothing.
//!
//! `cargo bench --bench run` starts PostgreSQL from Debian's packages on a free loopback
//! port (as the rehearsal test does), installs Django and psycopg into a throwaway
//! virtualenv (tests/rehearsal/requirements.txt), and times `migrail run --backend local`
//! applying `examples/rehearsal`'s five migrations to an empty schema, alternating the
//! default (behind the lock guard: `manage.py shell -c`, one `SET` per connection, one
//! `SHOW`, the retry loop around `migrate`, the preflight's check of each migration) with
//! `--lock-timeout 0 --preflight off` (the plain `manage.py migrate`), for `MIGRAIL_BENCH_ROUNDS` rounds (default 7). Nothing holds a lock, so no
//! retry happens: the difference is the guard's fixed cost.
//!
//! Then the preflight's cost: the project in tests/preflight, its `0002` making a column of
//! a 100,000-row table unique and another NOT NULL (both checked: a GROUP BY over the table
//! and a scan for NULLs), applied to a fresh copy of that table each round, alternating the
//! default (`--preflight on`) with `--preflight off`.

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

/// A throwaway copy of the repository's folder `folder`.
fn copy_of(folder: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    venv::check(
        &format!("copy {folder}"),
        Command::new("cp")
            .arg("-R")
            .arg(repo().join(folder).join("."))
            .arg(dir.path()),
    );
    dir
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

const PREFLIGHT_0002: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AlterField("item", "code", models.CharField(max_length=20, null=True, unique=True)),
        migrations.AlterField("item", "qty", models.IntegerField()),
    ]
"#;

/// One run of the preflight project against a fresh copy of the 100,000-row table:
/// (wall time, the checks' own query time in ms).
fn preflight_run(
    work: &Path,
    python: &Path,
    pg: &postgres::Postgres,
    round: usize,
    mode: &str,
) -> (Duration, f64) {
    let db = format!("r{round}_{mode}");
    pg.query(&format!("CREATE DATABASE {db} TEMPLATE base100k"));
    let json = work.join("result.json");
    let started = Instant::now();
    let out = pg
        .migrail(work, python)
        .env("PGDATABASE", &db)
        .args([
            "run",
            "--backend",
            "local",
            "--preflight",
            mode,
            "--json-out",
        ])
        .arg(&json)
        .output()
        .expect("migrail runs");
    let took = started.elapsed();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("result")).expect("JSON");
    let ms = doc["preflight"]
        .as_array()
        .map_or(0.0, |c| c.iter().filter_map(|c| c["ms"].as_f64()).sum());
    if mode == "on" {
        assert_eq!(doc["preflight"].as_array().map_or(0, Vec::len), 2, "{text}");
    }
    pg.query(&format!("DROP DATABASE {db}"));
    (took, ms)
}

fn preflight(python: &Path, pg: &postgres::Postgres, rounds: usize) {
    let dir = copy_of("tests/preflight");
    let work = dir.path();
    pg.query("CREATE DATABASE base100k");
    let out = pg
        .migrail(work, python)
        .env("PGDATABASE", "base100k")
        .args(["run", "--backend", "local", "--preflight", "off"])
        .output()
        .expect("migrail runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pg.query_in(
        "base100k",
        "INSERT INTO shop_item (code, qty) SELECT 'c' || g, g FROM generate_series(1, 100000) g",
    );
    pg.query_in("base100k", "VACUUM ANALYZE shop_item");
    std::fs::write(work.join("shop/migrations/0002_change.py"), PREFLIGHT_0002).expect("write");
    preflight_run(work, python, pg, 0, "on");
    preflight_run(work, python, pg, 0, "off");
    let (mut on, mut off, mut queries) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (t, ms) = preflight_run(work, python, pg, round, "on");
        on.push(t);
        queries.push(ms);
        off.push(preflight_run(work, python, pg, round, "off").0);
    }
    queries.sort_by(f64::total_cmp);
    println!("preflight, {rounds} alternating rounds, a unique and a NOT NULL on 100,000 rows:");
    let (a, b) = (
        series("--preflight on: ", &on),
        series("--preflight off:", &off),
    );
    println!(
        "  difference of the medians: {:+.3} s; the two checks' queries: median {:.0} ms",
        a - b,
        queries[queries.len() / 2]
    );
}

/// Print a series' median, minimum and maximum; returns the median in seconds.
fn series(label: &str, times: &[Duration]) -> f64 {
    let m = median(times.to_vec()).as_secs_f64();
    println!(
        "  {label} median {m:.3} s  (min {:.3}, max {:.3})",
        times.iter().min().map_or(0.0, Duration::as_secs_f64),
        times.iter().max().map_or(0.0, Duration::as_secs_f64)
    );
    m
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
    let dir = copy_of("examples/rehearsal");
    let work = dir.path().to_path_buf();
    // One warm-up of each (imports, page cache).
    run(&work, &python, &pg, &[]);
    run(
        &work,
        &python,
        &pg,
        &["--lock-timeout", "0", "--preflight", "off"],
    );
    let (mut guarded, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        guarded.push(run(&work, &python, &pg, &[]));
        plain.push(run(
            &work,
            &python,
            &pg,
            &["--lock-timeout", "0", "--preflight", "off"],
        ));
    }
    println!(
        "lock guard overhead, {rounds} alternating rounds, 5 migrations from an empty schema:"
    );
    let (g, p) = (
        series("guarded (default: lock_timeout 5s, preflight):", &guarded),
        series("plain   (--lock-timeout 0 --preflight off):", &plain),
    );
    println!(
        "  difference of the medians: {:+.3} s ({:+.1} %)",
        g - p,
        (g / p - 1.0) * 100.0
    );
    preflight(&python, &pg, rounds);
}
