//! MySQL and MariaDB with real parts: MariaDB 10.11 from Debian's packages on 127.0.0.1,
//! Django 5.2 with its MySQL backend (`mysqlclient`, built against Debian's client
//! library; pinned in tests/mysql/requirements.txt, in a throwaway virtualenv), and the
//! fixture project `tests/mysql/project` whose settings name `django.db.backends.mysql`.
//!
//! - the verdicts: every migration of the `verdicts` app is one operation on a table with
//!   rows; its DDL, as Django's `sqlmigrate` prints it, is run with `ALGORITHM=INPLACE,
//!   LOCK=NONE` asserted, and the server's answer (accepted, or refused: it needs a copy)
//!   must be migrail's `mysql-table-copy` verdict, found with no configuration;
//! - the lock guard: a blocker's open transaction holds the table's metadata lock; the
//!   `ALTER` waits the timeout, not the blocker's whole transaction, and so does an
//!   application query queued behind it; the migration is retried and applies; with no
//!   retries it fails, unrecorded, naming the lock timeout;
//! - a migration that fails half way says exactly what was applied.

#![cfg(unix)]

#[path = "support/mariadb.rs"]
mod mariadb;
#[path = "support/venv.rs"]
mod venv;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mariadb::MariaDb;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One server for the whole binary (each test has its own database).
fn server() -> &'static MariaDb {
    static SERVER: OnceLock<MariaDb> = OnceLock::new();
    SERVER.get_or_init(MariaDb::start)
}

fn python() -> PathBuf {
    venv::venv("mysql-venv", &repo().join("tests/mysql/requirements.txt"))
}

/// The fixture copied to a working directory.
fn project() -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("tests/mysql/project"), work.path());
    work
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "__pycache__") {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

fn env<'a>(cmd: &'a mut Command, db: &str) -> &'a mut Command {
    cmd.env("MYSQL_PORT", server().port.to_string())
        .env("MYSQL_DATABASE", db)
        .env(
            "PATH",
            format!(
                "{}:{}",
                python().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env_remove("GITHUB_OUTPUT")
        .env_remove("DJANGO_SETTINGS_MODULE")
}

fn manage(work: &Path, db: &str, args: &[&str]) -> (bool, String) {
    let out = env(Command::new(python().join("python")).current_dir(work), db)
        .arg("manage.py")
        .args(args)
        .output()
        .expect("manage.py runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

struct Run {
    code: i32,
    text: String,
}

fn migrail_run(work: &Path, db: &str, flags: &[&str], migrate: &[&str]) -> Run {
    let out = env(
        Command::new(env!("CARGO_BIN_EXE_migrail")).current_dir(work),
        db,
    )
    .args(["run", "--backend", "local"])
    .args(flags)
    .args(["--", "python", "manage.py", "migrate", "--noinput"])
    .args(migrate)
    .output()
    .expect("migrail runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

fn recorded(db: &str, app: &str) -> Vec<String> {
    server()
        .sql(&format!(
            "SELECT name FROM `{db}`.django_migrations WHERE app = '{app}' ORDER BY name"
        ))
        .lines()
        .map(str::to_string)
        .collect()
}

fn columns(db: &str, table: &str) -> Vec<String> {
    server()
        .sql(&format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = '{db}' \
             AND table_name = '{table}' ORDER BY ordinal_position"
        ))
        .lines()
        .map(str::to_string)
        .collect()
}

/// `statement` with the online algorithm asserted, when it is DDL MySQL has the clause for.
fn asserted(statement: &str) -> Option<String> {
    let s = statement.trim().trim_end_matches(';');
    let upper = s.to_ascii_uppercase();
    if upper.starts_with("ALTER TABLE") {
        Some(format!("{s}, ALGORITHM=INPLACE, LOCK=NONE"))
    } else if upper.starts_with("CREATE INDEX") || upper.starts_with("CREATE UNIQUE INDEX") {
        Some(format!("{s} ALGORITHM=INPLACE LOCK=NONE"))
    } else if let Some(rest) = upper.strip_prefix("DROP INDEX ") {
        // `DROP INDEX i ON t`, as the equivalent ALTER TABLE.
        let (index, table) = rest.split_once(" ON ")?;
        let (index, table) = (&s[11..11 + index.len()], &s[s.len() - table.len()..]);
        Some(format!(
            "ALTER TABLE {table} DROP INDEX {index}, ALGORITHM=INPLACE, LOCK=NONE"
        ))
    } else {
        None
    }
}

#[test]
fn verdicts_agree_with_what_mariadb_accepts_online() {
    let db = "verdicts";
    server().database(db);
    let work = project();
    let (ok, text) = manage(
        work.path(),
        db,
        &["migrate", "verdicts", "0001", "--noinput"],
    );
    assert!(ok, "{text}");

    // migrail, with no configuration: the settings say MySQL; the server is MariaDB 10.11.
    std::fs::write(
        work.path().join("migrail.toml"),
        "database = \"mariadb\"\ndatabase-version = \"10.11\"\n",
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work.path())
        .args(["lint", "--format", "json", "verdicts"])
        .env_remove("DJANGO_SETTINGS_MODULE")
        .output()
        .expect("lint runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["database"]["engine"], "mariadb", "{report:#}");
    let copies: BTreeSet<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "mysql-table-copy")
        .map(|f| f["migration"].as_str().unwrap_or_default().to_string())
        .collect();
    // No PostgreSQL lock rule speaks on MySQL.
    for f in report["findings"].as_array().expect("findings") {
        let rule = f["rule"].as_str().unwrap_or_default();
        assert!(
            !matches!(
                rule,
                "add-index-not-concurrently"
                    | "drop-index-not-concurrently"
                    | "add-foreign-key-validates"
                    | "alter-column-type"
                    | "add-check-constraint"
                    | "add-unique"
            ),
            "{f:#}"
        );
        let text = format!(
            "{}{}",
            f["message"].as_str().unwrap_or_default(),
            f["help"].as_str().unwrap_or_default()
        );
        // PostgreSQL's recipes and names: concurrent builds, NOT VALID constraints, its
        // locks, double-quoted identifiers in SQL.
        assert!(
            !text.contains("CONCURRENTLY")
                && !text.contains("VALIDATE CONSTRAINT")
                && !text.contains(") NOT VALID")
                && !text.contains("ACCESS EXCLUSIVE")
                && !text.contains("PostgreSQL")
                && !text.contains("TABLE \""),
            "PostgreSQL advice on MySQL: {f:#}"
        );
    }

    let mut names: Vec<String> = std::fs::read_dir(work.path().join("verdicts/migrations"))
        .expect("migrations")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".py") && n != "__init__.py" && !n.starts_with("0001"))
        .map(|n| n.trim_end_matches(".py").to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 18, "{names:?}");
    let mut disagreements = Vec::new();
    let mut server_copies = 0;
    for name in &names {
        let (ok, sql) = manage(work.path(), db, &["sqlmigrate", "verdicts", name]);
        assert!(ok, "{sql}");
        let mut needs_copy = Vec::new();
        for statement in sql
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("--"))
        {
            let done = match asserted(statement) {
                Some(online) => match server().try_sql(&format!("USE `{db}`; {online}")) {
                    Ok(_) => true,
                    Err(e) if e.contains("ERROR 1845") || e.contains("ERROR 1846") => {
                        needs_copy.push(format!("{statement} -> {}", e.trim()));
                        false
                    }
                    Err(e) => panic!("{name}: {online}: {e}"),
                },
                None => false,
            };
            if !done {
                server().sql(&format!("USE `{db}`; {statement}"));
            }
        }
        let (ok, text) = manage(
            work.path(),
            db,
            &["migrate", "verdicts", name, "--fake", "--noinput"],
        );
        assert!(ok, "{text}");
        let server_says = !needs_copy.is_empty();
        server_copies += usize::from(server_says);
        if server_says != copies.contains(name) {
            disagreements.push(format!(
                "{name}: MariaDB {} a copy{}; migrail {}",
                if server_says { "needs" } else { "needs no" },
                if server_says {
                    format!(" ({})", needs_copy.join("; "))
                } else {
                    String::new()
                },
                if copies.contains(name) {
                    "reports one"
                } else {
                    "reports none"
                }
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // Both kinds were exercised.
    assert!(
        server_copies >= 6 && server_copies < names.len(),
        "{server_copies} of {}",
        names.len()
    );
    println!(
        "{} operations on a populated table: {server_copies} need ALGORITHM=COPY on MariaDB 10.11, all as migrail said",
        names.len()
    );
}

/// A session that opens a transaction reading `shop_book` (its metadata lock held until
/// the end) and keeps it `seconds`.
#[allow(clippy::zombie_processes)]
fn blocker(db: &str, seconds: u32) -> std::process::Child {
    let child = server()
        .client(Some(db))
        .args([
            "-e",
            &format!("BEGIN; SELECT COUNT(*) FROM shop_book; SELECT SLEEP({seconds}); COMMIT;"),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("client starts");
    // Its SELECT has run once the server shows it sleeping.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server()
        .sql("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'")
        .trim()
        .eq("1")
    {
        assert!(Instant::now() < deadline, "the blocker never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn at_0001(db: &str) -> tempfile::TempDir {
    server().database(db);
    let work = project();
    let r = migrail_run(work.path(), db, &[], &["shop", "0001"]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        r.text
            .contains("migrail: lock_wait_timeout 5 s in effect on database 'default' (MariaDB"),
        "{}",
        r.text
    );
    work
}

#[test]
fn the_lock_guard_bounds_the_metadata_lock_wait_and_retries() {
    let db = "guard";
    let work = at_0001(db);
    let mut holder = blocker(db, 5);
    let started = Instant::now();
    let r = std::thread::scope(|s| {
        let run = s.spawn(|| {
            migrail_run(
                work.path(),
                db,
                &["--lock-timeout", "1500ms"],
                &["shop", "0002"],
            )
        });
        // The application, while the ALTER waits for its lock: queued behind it, but only
        // for the timeout.
        std::thread::sleep(Duration::from_millis(600));
        let app = Instant::now();
        server().sql(&format!("SELECT COUNT(*) FROM `{db}`.shop_book"));
        let waited = app.elapsed();
        assert!(
            waited < Duration::from_millis(3500),
            "the application waited {waited:?}, the blocker's whole transaction"
        );
        run.join().expect("run thread")
    });
    let _ = holder.wait();
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        r.text.contains(
            "migrail: lock_wait_timeout 2 s in effect on database 'default' (MariaDB, SET SESSION on each \
             connection, SELECT @@SESSION.lock_wait_timeout) (whole seconds: --lock-timeout 1500 ms rounded up)"
        ),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(
            "migrail: lock timeout on shop_book while applying shop.0002_book_subtitle, retry 1/5"
        ),
        "{}",
        r.text
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it never waited"
    );
    assert!(columns(db, "shop_book").contains(&"subtitle".to_string()));
    assert_eq!(recorded(db, "shop"), ["0001_initial", "0002_book_subtitle"]);
}

#[test]
fn with_no_retry_the_lock_timeout_fails_the_migration_unrecorded() {
    let db = "noretry";
    let work = at_0001(db);
    let mut holder = blocker(db, 4);
    let r = migrail_run(
        work.path(),
        db,
        &["--lock-timeout", "1s", "--lock-retries", "0"],
        &["shop", "0002"],
    );
    let _ = holder.wait();
    assert_ne!(r.code, 0, "{}", r.text);
    assert!(
        r.text.contains(
            "migrail: lock timeout on shop_book while applying shop.0002_book_subtitle: gave up after 0 retries \
             (lock_wait_timeout 1 s)"
        ) && r.text.contains("Lock wait timeout exceeded"),
        "{}",
        r.text
    );
    assert_eq!(recorded(db, "shop"), ["0001_initial"]);
    assert!(!columns(db, "shop_book").contains(&"subtitle".to_string()));
}

#[test]
fn a_migration_that_fails_half_way_says_exactly_what_was_applied() {
    let db = "partial";
    let work = at_0001(db);
    // Without the preflight, which would have refused it (the next test).
    let r = migrail_run(work.path(), db, &["--preflight", "off"], &["shop", "0003"]);
    assert_ne!(r.code, 0, "{}", r.text);
    assert!(
        r.text.contains(
            "migrail: shop.0003_book_code_note_required failed part way: MariaDB commits each DDL statement"
        ) && r.text.contains("migrail: operations completed: Add field code to book")
            && r.text.contains("migrail: applied: ALTER TABLE `shop_book` ADD COLUMN `code` varchar(10) NULL")
            && r.text.contains("manage.py migrate --fake shop 0003_book_code_note_required"),
        "{}",
        r.text
    );
    // What it said is what the database holds.
    assert!(columns(db, "shop_book").contains(&"code".to_string()));
    assert_eq!(recorded(db, "shop"), ["0001_initial", "0002_book_subtitle"]);
    // And migrail warned before it ran.
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work.path())
        .args(["lint", "shop/migrations/0003_book_code_note_required.py"])
        .env_remove("DJANGO_SETTINGS_MODULE")
        .output()
        .expect("lint runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning[mysql-partial-migration]: AlterField can fail on the rows (NULL values in `shop_book`.`note`)"),
        "{text}"
    );
    assert!(
        text.contains("(MySQL 8.0, assumed: set `database-version`, from the settings)"),
        "{text}"
    );
}

#[test]
fn the_preflight_refuses_a_migration_the_rows_would_fail_before_anything_runs() {
    let db = "preflight";
    let work = at_0001(db);
    let r = migrail_run(work.path(), db, &[], &["shop", "0003"]);
    assert_eq!(r.code, 133, "{}", r.text);
    assert!(
        r.text.contains("migrail: preflight refused shop.0003_book_code_note_required: 1 check(s) failed; it was not started and nothing was recorded"),
        "{}",
        r.text
    );
    let check = r
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("migrail: preflight: "))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["check"] == "null")
        .unwrap_or_else(|| panic!("no null check:\n{}", r.text));
    assert_eq!(check["verdict"], "violation", "{check:#}");
    assert_eq!(check["count"], 2, "{check:#}");
    assert_eq!(check["table"], "shop_book", "{check:#}");
    // Nothing of it ran: not the column 0003 adds first either.
    assert!(!columns(db, "shop_book").contains(&"code".to_string()));
    assert_eq!(recorded(db, "shop"), ["0001_initial", "0002_book_subtitle"]);

    // Fixed data: it passes, and a unique index over duplicates is refused the same way.
    server().sql(&format!(
        "UPDATE `{db}`.shop_book SET note = 'n' WHERE note IS NULL"
    ));
    let r = migrail_run(work.path(), db, &[], &["shop", "0003"]);
    assert_eq!(r.code, 0, "{}", r.text);
    std::fs::write(
        work.path().join("shop/migrations/0004_book_note_unique.py"),
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    \
         dependencies = [(\"shop\", \"0003_book_code_note_required\")]\n\n    operations = [\n        \
         migrations.AlterField(\"book\", \"note\", models.CharField(max_length=20, unique=True)),\n    ]\n",
    )
    .expect("write 0004");
    let r = migrail_run(work.path(), db, &[], &["shop", "0004"]);
    assert_eq!(r.code, 133, "{}", r.text);
    assert!(
        r.text.contains("\"check\": \"unique\"") && r.text.contains("\"verdict\": \"violation\""),
        "{}",
        r.text
    );
}

/// The old release's INSERT into `verdicts_item`, naming only the columns it knows.
fn old_release_insert(db: &str, name: &str, extra: &[(&str, &str)]) -> Result<String, String> {
    let mut columns = vec!["name", "pages", "price", "note", "shelf_ref"];
    let mut values = vec![
        format!("'{name}'"),
        "4".into(),
        "1.00".into(),
        "'y'".into(),
        "1".into(),
    ];
    for (c, v) in extra {
        columns.push(c);
        values.push((*v).to_string());
    }
    server().try_sql(&format!(
        "INSERT INTO `{db}`.verdicts_item ({}) VALUES ({})",
        columns.join(", "),
        values.join(", ")
    ))
}

#[test]
fn the_fixes_apply_on_mariadb_while_the_old_release_writes() {
    // Control: without the fix, the old release's INSERT fails once 0003 ran (Django drops
    // the column default it used to fill the rows).
    let control = "fixes_control";
    server().database(control);
    let work = project();
    let (ok, text) = manage(
        work.path(),
        control,
        &["migrate", "verdicts", "0003", "--noinput"],
    );
    assert!(ok, "{text}");
    let e = old_release_insert(control, "z", &[]).expect_err("the unfixed column has no default");
    assert!(e.contains("doesn't have a default value"), "{e}");

    let db = "fixes";
    server().database(db);
    let work = project();
    let files = [
        "verdicts/migrations/0003_add_literal_default.py",
        "verdicts/migrations/0013_remove_field.py",
        "verdicts/migrations/0014_rename_field.py",
    ];
    let out = env(
        Command::new(env!("CARGO_BIN_EXE_migrail")).current_dir(work.path()),
        db,
    )
    .arg("fix")
    .args(files)
    .output()
    .expect("fix runs");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Fixed 3 findings in 3 migrations"), "{said}");
    for f in files {
        let text = std::fs::read_to_string(work.path().join(f)).expect("fixed file");
        assert!(
            !text.contains("ALTER TABLE \""),
            "PostgreSQL quoting in {f}:\n{text}"
        );
    }
    // The new release's migrations, the old release writing between them.
    let step = |target: &str| {
        let (ok, text) = manage(
            work.path(),
            db,
            &["migrate", "verdicts", target, "--noinput"],
        );
        assert!(ok, "{target}: {text}");
    };
    step("0003");
    old_release_insert(db, "d", &[])
        .expect("the old release leaves out `stock`: its database default fills it");
    assert_eq!(
        server()
            .sql(&format!(
                "SELECT stock FROM `{db}`.verdicts_item WHERE name = 'd'"
            ))
            .trim(),
        "3"
    );
    step("0013");
    old_release_insert(db, "e", &[("gone", "5")]).expect("the old release still writes `gone`");
    step("0014");
    old_release_insert(db, "f", &[("gone", "5"), ("old_name", "6")])
        .expect("the old release still writes `old_name`");
    // And the rest of the history applies on top.
    let (ok, text) = manage(work.path(), db, &["migrate", "verdicts", "--noinput"]);
    assert!(ok, "{text}");
    // Nothing left for migrail to fix in them.
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work.path())
        .args(["lint", "--format", "json"])
        .args(files)
        .env_remove("DJANGO_SETTINGS_MODULE")
        .output()
        .expect("lint runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let left: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(left.is_empty(), "{left:#?}");
}

/// The fixture with only the `shop` app, its 0003 replaced by `subtitle` made NOT NULL
/// (the rows 0001 inserted hold NULL there).
fn shop_with_required_subtitle() -> tempfile::TempDir {
    let work = project();
    let settings = work.path().join("mysite/settings.py");
    let text = std::fs::read_to_string(&settings).expect("settings");
    std::fs::write(&settings, text.replace(", \"verdicts\"]", "]")).expect("settings");
    std::fs::remove_dir_all(work.path().join("verdicts")).expect("rm verdicts");
    std::fs::remove_file(
        work.path()
            .join("shop/migrations/0003_book_code_note_required.py"),
    )
    .expect("rm 0003");
    std::fs::write(
        work.path().join("shop/migrations/0003_book_subtitle_required.py"),
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    \
         dependencies = [(\"shop\", \"0002_book_subtitle\")]\n\n    operations = [\n        \
         migrations.AlterField(\"book\", \"subtitle\", models.CharField(max_length=20, default=\"-\")),\n    ]\n",
    )
    .expect("write 0003");
    work
}

fn column_definition(db: &str, table: &str, column: &str) -> String {
    server().sql(&format!(
        "SELECT COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, 'none'), COALESCE(COLLATION_NAME, 'none'), \
         COLUMN_COMMENT, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}' \
         AND COLUMN_NAME = '{column}'"
    ))
}

#[test]
fn the_set_not_null_fix_ends_where_django_ends_and_the_old_release_writes_null_between() {
    // What Django's own AlterField leaves on MariaDB.
    let control = "notnull_control";
    server().database(control);
    let work = shop_with_required_subtitle();
    let (ok, text) = manage(work.path(), control, &["migrate", "--noinput"]);
    assert!(ok, "{text}");
    let django = column_definition(control, "shop_book", "subtitle");
    assert!(django.contains("varchar(20)\tNO"), "{django}");

    // The fixed project, deploying in phases.
    let db = "notnull";
    server().database(db);
    let work = shop_with_required_subtitle();
    std::fs::write(work.path().join("migrail.toml"), "deploy-phases = true\n").expect("config");
    let out = env(
        Command::new(env!("CARGO_BIN_EXE_migrail")).current_dir(work.path()),
        db,
    )
    .args(["fix", "shop/migrations/0003_book_subtitle_required.py"])
    .output()
    .expect("fix runs");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("Fixed 1 finding in 1 migration, 1 new file"),
        "{said}"
    );
    let r = migrail_run(work.path(), db, &["--phase", "pre"], &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(
        server()
            .sql(&format!(
                "SELECT COUNT(*) FROM `{db}`.shop_book WHERE subtitle IS NULL"
            ))
            .trim(),
        "0",
        "the rows are filled before the rollout"
    );
    // The old release, during the rollout, still writes NULL: the column takes it.
    server().sql(&format!(
        "INSERT INTO `{db}`.shop_book (title, note, subtitle) VALUES ('old', 'x', NULL)"
    ));
    let r = migrail_run(work.path(), db, &["--phase", "post"], &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        r.text.contains("0004"),
        "the MODIFY ran after the rollout:\n{}",
        r.text
    );
    assert_eq!(
        server()
            .sql(&format!(
                "SELECT subtitle FROM `{db}`.shop_book WHERE title = 'old'"
            ))
            .trim(),
        "-"
    );
    // Where Django's own migration ends: the same column definition.
    assert_eq!(column_definition(db, "shop_book", "subtitle"), django);
}
