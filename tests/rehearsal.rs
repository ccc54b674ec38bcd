//! The deploy rehearsal, with real parts end to end: the Django project in
//! `examples/rehearsal` (Django and psycopg from PyPI, pinned in
//! tests/rehearsal/requirements.txt, in a throwaway virtualenv) against PostgreSQL from
//! Debian's packages, started here on 127.0.0.1 on a free port and stopped at the end.
//! The production database is at the old release (0001–0002); the new release adds a
//! nullable column before the rollout and drops another after it.

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/venv.rs"]
mod venv;

use postgres::{Postgres, Run};

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example project copied to a working directory, with only the migrations named.
fn project(migrations: &[&str]) -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    let src = repo().join("examples/rehearsal");
    for f in [
        "manage.py",
        "rehearsal/__init__.py",
        "rehearsal/settings.py",
        "library/__init__.py",
        "library/models.py",
        "library/migrations/__init__.py",
    ] {
        let to = work.path().join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(src.join(f), to).expect("copy");
    }
    add(work.path(), migrations);
    work
}

fn add(work: &Path, migrations: &[&str]) {
    for m in migrations {
        std::fs::copy(
            repo()
                .join("examples/rehearsal/library/migrations")
                .join(format!("{m}.py")),
            work.join("library/migrations").join(format!("{m}.py")),
        )
        .expect("copy migration");
    }
}

fn migrail(work: &Path, pg: &Postgres, args: &[&str]) -> Run {
    migrail_with(work, pg, args, &[])
}

/// `migrail(...)` with more environment (`PGPORT` of a pooler).
fn migrail_with(work: &Path, pg: &Postgres, args: &[&str], env: &[(&str, String)]) -> Run {
    let python = venv::venv(
        "rehearsal-venv",
        &repo().join("tests/rehearsal/requirements.txt"),
    );
    let json = work.join("result.json");
    let _ = std::fs::remove_file(&json);
    let out = pg
        .migrail(work, &python)
        .args(args)
        .arg("--json-out")
        .arg(&json)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["--", "python", "manage.py", "migrate", "--noinput"])
        .output()
        .expect("migrail runs");
    Run::of(out, &json)
}

fn lint(work: &Path, files: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work)
        .arg("lint")
        .args(files.iter().map(|f| format!("library/migrations/{f}.py")))
        .output()
        .expect("lint runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const OLD: &[&str] = &["0001_initial", "0002_book_published"];
const NEW: &[&str] = &[
    "0003_book_subtitle",
    "0004_remove_book_legacy_code_state",
    "0005_drop_book_legacy_code",
];

#[test]
fn the_new_release_migrates_in_two_phases_against_postgresql() {
    let pg = Postgres::start();
    // Production runs the old release.
    let work = project(OLD);
    let r = migrail(work.path(), &pg, &["run", "--backend", "local"]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(
        pg.applied(),
        ["library.0001_initial", "library.0002_book_published"]
    );

    // The unsafe variant of the new release is flagged; the safe one passes.
    let unsafe_work = project(OLD);
    std::fs::write(
        unsafe_work.path().join("library/migrations/0003_remove_book_legacy_code.py"),
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"library\", \"0002_book_published\")]\n    operations = [migrations.RemoveField(\"book\", \"legacy_code\")]\n",
    )
    .expect("write");
    let (code, text) = lint(unsafe_work.path(), &["0003_remove_book_legacy_code"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("error[drop-column]"), "{text}");
    add(work.path(), NEW);
    let (code, text) = lint(work.path(), NEW);
    assert_eq!(code, 0, "{text}");

    // Before the rollout: exactly the pre-deploy migrations.
    let r = migrail(
        work.path(),
        &pg,
        &["run", "--backend", "local", "--phase", "pre"],
    );
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(
        pg.applied(),
        [
            "library.0001_initial",
            "library.0002_book_published",
            "library.0003_book_subtitle",
            "library.0004_remove_book_legacy_code_state"
        ]
    );
    assert_eq!(
        pg.columns(),
        ["id", "legacy_code", "published", "subtitle", "title"],
        "the old release still has its column"
    );
    assert_eq!(
        r.result["applied"],
        serde_json::json!([
            "library.0003_book_subtitle",
            "library.0004_remove_book_legacy_code_state"
        ])
    );

    // The same phase again applies nothing.
    let r = migrail(
        work.path(),
        &pg,
        &["run", "--backend", "local", "--phase", "pre"],
    );
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(r.result["applied"], serde_json::json!([]));

    // After the rollout: the rest.
    let r = migrail(
        work.path(),
        &pg,
        &["run", "--backend", "local", "--phase", "post"],
    );
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(
        pg.applied().last().map(String::as_str),
        Some("library.0005_drop_book_legacy_code")
    );
    assert_eq!(pg.columns(), ["id", "published", "subtitle", "title"]);
    let r = migrail(
        work.path(),
        &pg,
        &["run", "--backend", "local", "--phase", "post"],
    );
    assert_eq!(
        (r.code, r.result["applied"].clone()),
        (0, serde_json::json!([])),
        "{}",
        r.text
    );
}

#[test]
fn a_migration_that_raises_fails_with_its_traceback() {
    let pg = Postgres::start();
    let work = project(OLD);
    std::fs::write(
        work.path().join("library/migrations/0003_backfill.py"),
        "from django.db import migrations\n\n\ndef backfill(apps, schema_editor):\n    raise RuntimeError(\"backfill failed: no such publisher 42\")\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"library\", \"0002_book_published\")]\n    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]\n",
    )
    .expect("write");
    let r = migrail(
        work.path(),
        &pg,
        &["run", "--backend", "local", "--phase", "pre"],
    );
    assert_ne!(r.code, 0, "{}", r.text);
    assert_eq!(r.result["outcome"], "failed");
    assert!(
        r.text.contains("Traceback")
            && r.text
                .contains("RuntimeError: backfill failed: no such publisher 42"),
        "{}",
        r.text
    );
    let tail = r.result["log_tail"].to_string();
    assert!(tail.contains("RuntimeError: backfill failed"), "{tail}");
    assert_eq!(
        r.result["applied"],
        serde_json::json!(["library.0001_initial", "library.0002_book_published"])
    );
    assert!(!pg.applied().iter().any(|m| m == "library.0003_backfill"));
}

// ---- bounded lock waits (`--lock-timeout`, `--lock-retries`) ---------------------------

/// A session that holds `mode` on `library_book` for `seconds`, returned once the lock
/// is granted (the caller waits for it; psql ends by itself after `seconds`).
#[allow(clippy::zombie_processes)]
fn blocker(pg: &Postgres, mode: &str, seconds: f64) -> std::process::Child {
    let sql = format!(
        "BEGIN; LOCK TABLE library_book IN {mode} MODE; SELECT pg_sleep({seconds}); COMMIT;"
    );
    let mut child = pg
        .cmd("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "postgres",
        ])
        .args(["-d", "rehearsal", "-q", "-c", &sql])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql starts");
    let lock = mode.replace(' ', "").to_lowercase();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let held = pg.query(&format!(
            "select count(*) from pg_locks l join pg_class c on c.oid = l.relation \
             where c.relname = 'library_book' and l.granted and lower(l.mode) = '{lock}lock'"
        ));
        if held.first().map(String::as_str) == Some("1") {
            return child;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the blocker never got its lock");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// How long a plain `SELECT` on the table takes, from a third session.
fn timed_select(pg: &Postgres) -> std::time::Duration {
    let started = std::time::Instant::now();
    pg.query("select count(*) from library_book");
    started.elapsed()
}

fn invalid_indexes(pg: &Postgres) -> Vec<String> {
    pg.query("select indexrelid::regclass::text from pg_index where not indisvalid")
}

/// PostgreSQL with the old release (0001–0002) migrated, the guard at its defaults.
fn at_the_old_release() -> (Postgres, tempfile::TempDir, Run) {
    let pg = Postgres::start();
    let work = project(OLD);
    let r = migrail(work.path(), &pg, &["run", "--backend", "local"]);
    assert_eq!(r.code, 0, "{}", r.text);
    (pg, work, r)
}

const TITLE_INDEX: &str = r#"from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("library", "0002_book_published")]
    operations = [
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
        AddIndexConcurrently("book", models.Index(fields=["title"], name="book_title_idx")),
    ]
"#;

#[test]
fn a_lock_timeout_bounds_the_queue_and_the_atomic_migration_is_retried() {
    let (pg, work, r) = at_the_old_release();
    assert!(
        r.text
            .contains("migrail: lock_timeout 5s in effect on database 'default'"),
        "the default guard says it is in effect: {}",
        r.text
    );
    add(work.path(), &["0003_book_subtitle"]);
    // A long read transaction holds ACCESS SHARE for 6 s: the ALTER TABLE must not make
    // every later query on the table wait for it.
    let mut holder = blocker(&pg, "ACCESS SHARE", 6.0);
    let (r, select) = std::thread::scope(|s| {
        let run = s.spawn(|| {
            migrail(
                work.path(),
                &pg,
                &["run", "--backend", "local", "--lock-timeout", "1s"],
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(2000));
        let select = timed_select(&pg);
        (run.join().expect("migrail thread"), select)
    });
    let _ = holder.wait();
    assert_eq!(r.code, 0, "{}", r.text);
    // Without the guard it would wait until the blocker ends (about 4 s from here).
    assert!(
        select < std::time::Duration::from_millis(2500),
        "a SELECT queued {select:?} behind the migration"
    );
    assert!(pg
        .applied()
        .contains(&"library.0003_book_subtitle".to_string()));
    assert!(
        r.text
            .contains("migrail: lock_timeout 1s in effect on database 'default'"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(
            "migrail: lock timeout on library_book while applying library.0003_book_subtitle, retry 1/5 in "
        ),
        "{}",
        r.text
    );
    let retries = r.result["lock_retries"].as_array().expect("lock_retries");
    assert!(!retries.is_empty(), "{}", r.result);
    assert_eq!(retries[0]["migration"], "library.0003_book_subtitle");
    assert_eq!(retries[0]["table"], "library_book");
    assert!(retries[0]["wait_seconds"].as_f64().is_some_and(|w| w > 0.5));
}

#[test]
fn the_lock_timeout_holds_with_options_in_the_settings_and_no_retry_fails_cleanly() {
    let (pg, work, _) = at_the_old_release();
    // libpq ignores PGOPTIONS when the settings pass OPTIONS["options"].
    let settings = work.path().join("rehearsal/settings.py");
    let mut text = std::fs::read_to_string(&settings).expect("settings");
    text.push_str(
        "DATABASES[\"default\"][\"OPTIONS\"] = {\"options\": \"-c search_path=public\"}\n",
    );
    std::fs::write(&settings, text).expect("write settings");
    add(work.path(), &["0003_book_subtitle"]);
    let mut holder = blocker(&pg, "ACCESS SHARE", 4.0);
    let r = migrail(
        work.path(),
        &pg,
        &[
            "run",
            "--backend",
            "local",
            "--lock-timeout",
            "1s",
            "--lock-retries",
            "0",
        ],
    );
    let _ = holder.wait();
    assert_eq!(r.code, 1, "the command's failure: {}", r.text);
    assert!(
        r.text
            .contains("migrail: lock_timeout 1s in effect on database 'default'"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(
            "migrail: lock timeout on library_book while applying library.0003_book_subtitle: gave up after 0 retries"
        ) && r.text.contains("canceling statement due to lock timeout"),
        "{}",
        r.text
    );
    assert!(!pg
        .applied()
        .contains(&"library.0003_book_subtitle".to_string()));
    assert_eq!(r.result["outcome"], "failed");

    // `--lock-timeout 0` with a statement timeout leaves the project's own lock_timeout.
    let mut text = std::fs::read_to_string(&settings).expect("settings");
    text.push_str(
        "DATABASES[\"default\"][\"OPTIONS\"] = {\"options\": \"-c lock_timeout=3000\"}\n",
    );
    std::fs::write(&settings, text).expect("write settings");
    let r = migrail(
        work.path(),
        &pg,
        &[
            "run",
            "--backend",
            "local",
            "--lock-timeout",
            "0",
            "--statement-timeout",
            "1m",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        r.text
            .contains("migrail: lock_timeout 3s in effect on database 'default'")
            && r.text.contains("statement_timeout 1min"),
        "{}",
        r.text
    );
}

#[test]
fn a_concurrent_index_build_waits_out_a_writer_and_leaves_no_invalid_index() {
    let (pg, work, _) = at_the_old_release();
    std::fs::write(
        work.path()
            .join("library/migrations/0003_book_title_idx.py"),
        TITLE_INDEX,
    )
    .expect("write");
    // A writer's transaction: CREATE INDEX CONCURRENTLY waits for it. With the 1 s lock
    // timeout it would be cancelled mid-build and leave an INVALID index.
    let mut holder = blocker(&pg, "ROW EXCLUSIVE", 3.0);
    let r = migrail(
        work.path(),
        &pg,
        &["run", "--backend", "local", "--lock-timeout", "1s"],
    );
    let _ = holder.wait();
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        !r.text.contains("lock timeout on"),
        "not retried: {}",
        r.text
    );
    assert_eq!(invalid_indexes(&pg), Vec::<String>::new());
    assert_eq!(
        pg.query("select count(*) from pg_indexes where indexname = 'book_title_idx'"),
        ["1"]
    );
}

#[test]
fn a_non_atomic_migration_that_fails_says_what_ran_and_how_to_clear_the_invalid_index() {
    let (pg, work, _) = at_the_old_release();
    std::fs::write(
        work.path()
            .join("library/migrations/0003_book_title_idx.py"),
        TITLE_INDEX,
    )
    .expect("write");
    // The build waits for a writer's transaction (no timeout of migrail's reaches a
    // concurrent build) and is cancelled while it waits, as an operator would: it leaves
    // an INVALID index.
    let mut holder = blocker(&pg, "ROW EXCLUSIVE", 4.0);
    let r = std::thread::scope(|s| {
        let run = s.spawn(|| {
            migrail(
                work.path(),
                &pg,
                &["run", "--backend", "local", "--lock-timeout", "1s"],
            )
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let waiting = pg.query(
                "select pid from pg_stat_activity where query ilike 'CREATE INDEX CONCURRENTLY%' \
                 and wait_event_type = 'Lock'",
            );
            if let Some(pid) = waiting.first() {
                // Longer than the lock timeout: the build was not bounded by it.
                std::thread::sleep(std::time::Duration::from_millis(1500));
                pg.query(&format!("select pg_cancel_backend({pid})"));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the build never waited for the writer"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        run.join().expect("migrail thread")
    });
    let _ = holder.wait();
    assert_eq!(r.code, 1, "{}", r.text);
    assert!(
        r.text.contains(
            "migrail: library.0003_book_title_idx is not atomic (atomic = False): it is not retried; the operations that ran stay applied: Raw SQL operation"
        ),
        "{}",
        r.text
    );
    assert_eq!(invalid_indexes(&pg), ["book_title_idx"]);
    assert!(
        r.text
            .contains("DROP INDEX CONCURRENTLY IF EXISTS book_title_idx;"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("retry 1/"), "{}", r.text);
}

// ---- behind PgBouncer in transaction pooling ------------------------------------------

/// What `n` pooled clients at once see (each holds its server connection for a second,
/// so each gets another one): (backend pid, lock_timeout, statement_timeout).
fn pool_settings(pg: &Postgres, port: u16, n: usize) -> Vec<(String, String, String)> {
    let sql = "select pg_backend_pid(), current_setting('lock_timeout'), \
               current_setting('statement_timeout'), pg_sleep(1)";
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..n)
            .map(|_| s.spawn(|| pg.psql(port, "rehearsal", sql).expect("a pooled client")))
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client thread"))
            .map(|line| {
                let f: Vec<&str> = line.split('|').collect();
                (f[0].to_string(), f[1].to_string(), f[2].to_string())
            })
            .collect()
    })
}

#[test]
fn behind_pgbouncer_in_transaction_mode_no_setting_outlives_the_migrations() {
    let (pg, work, _) = at_the_old_release();
    let bouncer = pg.pgbouncer("transaction", 2);
    // Django behind transaction pooling, as its documentation asks.
    let settings = work.path().join("rehearsal/settings.py");
    let mut text = std::fs::read_to_string(&settings).expect("settings");
    text.push_str("DATABASES[\"default\"][\"DISABLE_SERVER_SIDE_CURSORS\"] = True\n");
    std::fs::write(&settings, text).expect("write settings");
    // An atomic migration, then a non-atomic one with a concurrent index build.
    add(work.path(), &["0003_book_subtitle"]);
    std::fs::write(
        work.path()
            .join("library/migrations/0004_book_title_idx.py"),
        TITLE_INDEX.replace("0002_book_published", "0003_book_subtitle"),
    )
    .expect("write");
    // Both server connections exist before the run, so the check afterwards sees both.
    let warm = pool_settings(&pg, bouncer.port, 2);
    assert_ne!(warm[0].0, warm[1].0, "two server connections: {warm:?}");

    // A long read (straight to PostgreSQL) holds the table for 5 s.
    let mut holder = blocker(&pg, "ACCESS SHARE", 5.0);
    let (r, select) = std::thread::scope(|s| {
        let run = s.spawn(|| {
            migrail_with(
                work.path(),
                &pg,
                &[
                    "run",
                    "--backend",
                    "local",
                    "--lock-timeout",
                    "1s",
                    "--statement-timeout",
                    "1m",
                ],
                &[("PGPORT", bouncer.port.to_string())],
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(2000));
        // The application, through the pooler, while the migration waits for its lock.
        let started = std::time::Instant::now();
        pg.psql(
            bouncer.port,
            "rehearsal",
            "select count(*) from library_book",
        )
        .expect("the application's query");
        let select = started.elapsed();
        (run.join().expect("migrail thread"), select)
    });
    let _ = holder.wait();
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        r.text
            .contains("migrail: a pooler in transaction mode serves database 'default'"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("migrail: lock_timeout 1s in effect on database 'default'"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(
            "lock timeout on library_book while applying library.0003_book_subtitle, retry 1/5"
        ),
        "{}",
        r.text
    );
    assert!(
        select < std::time::Duration::from_millis(2500),
        "the application's SELECT queued {select:?} behind the migration"
    );
    let applied = pg.applied();
    for m in ["library.0003_book_subtitle", "library.0004_book_title_idx"] {
        assert!(applied.contains(&m.to_string()), "{applied:?}");
    }
    assert_eq!(invalid_indexes(&pg), Vec::<String>::new());
    assert!(!r.text.contains("migrail: warning"), "{}", r.text);

    // Every server connection of the pool is back at the server's defaults.
    let after = pool_settings(&pg, bouncer.port, 2);
    assert_ne!(after[0].0, after[1].0, "both server connections: {after:?}");
    for (pid, lock, statement) in &after {
        assert_eq!(
            (lock.as_str(), statement.as_str()),
            ("0", "0"),
            "server connection {pid} kept a setting: {after:?}"
        );
    }
    // The check sees a session setting when there is one: a client's plain SET stays on
    // its server connection for the next client.
    pg.psql(bouncer.port, "rehearsal", "SET lock_timeout = '3s'")
        .expect("SET");
    let leaked = pool_settings(&pg, bouncer.port, 2);
    assert!(leaked.iter().any(|(_, lock, _)| lock == "3s"), "{leaked:?}");
}
