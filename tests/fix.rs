//! The proof of `migrail fix`, with real parts: the project in `fixtures/fixable` (its
//! `models.py` matches the final state; `0002_book_changes` and `0003_title_index` hold one
//! unsafe operation per fixable rule) is fixed with `migrail fix --all`, and then, with
//! Django (PyPI, pinned in tests/rehearsal/requirements.txt) and PostgreSQL (Debian's
//! packages, on 127.0.0.1):
//! - the fixed files parse, `migrail lint` finds nothing left, the graph keeps one leaf;
//! - Django's `makemigrations --check --dry-run` reports no changes (the model state is
//!   the one `models.py` describes), and Django's state equals the unfixed one;
//! - `migrate` succeeds from an empty database and from the database before the unsafe
//!   migrations; the schema — columns, types, nullability, index and constraint names and
//!   definitions, validated or not — equals the unfixed migrations' schema, except for the
//!   database default the fix intends on `format`;
//! - `migrate` backwards to before the fixed migrations works;
//! - `fix` a second time changes nothing; `fix --diff` writes nothing and exits 1.

#![cfg(unix)]

#[path = "support/django.rs"]
mod django;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/venv.rs"]
mod venv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use django::{copy_tree, manage, schema, state, try_manage};
use postgres::Postgres;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    code: i32,
    stdout: String,
}

fn migrail(work: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work)
        .args(args)
        .output()
        .expect("migrail runs");
    Run {
        code: out.status.code().expect("an exit code (no panic)"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

/// Every file of the migrations folder, by name.
fn migrations(work: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(work.join("shelf/migrations"))
        .expect("migrations")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "py"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read"),
            )
        })
        .collect()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("fixtures/fixable"), dir.path());
    dir
}

#[test]
fn fixed_migrations_keep_the_state_and_build_the_same_schema() {
    let unfixed = fixture();
    let fixed = fixture();

    // --diff: what would change, nothing written, exit 1.
    let before = migrations(fixed.path());
    let diff = migrail(
        fixed.path(),
        &["fix", "--all", "--no-config", "--diff", "."],
    );
    assert_eq!(diff.code, 1, "{}", diff.stdout);
    assert!(
        diff.stdout
            .contains("+++ b/shelf/migrations/0002_book_changes.py"),
        "{}",
        diff.stdout
    );
    assert_eq!(migrations(fixed.path()), before, "--diff wrote nothing");

    let run = migrail(fixed.path(), &["fix", "--all", "--no-config", "."]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("Fixed "), "{}", run.stdout);
    let after = migrations(fixed.path());
    assert!(
        after.len() > before.len(),
        "new migrations written: {:?}",
        after.keys()
    );
    for name in before.keys() {
        assert!(after.contains_key(name), "{name} kept (never renamed)");
    }
    // Comments and formatting outside the operations stay.
    assert!(after["0002_book_changes.py"].starts_with("# The release under review"));

    // A second run changes nothing.
    let again = migrail(fixed.path(), &["fix", "--all", "--no-config", "."]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(again.stdout.contains("Nothing to fix."), "{}", again.stdout);
    assert_eq!(migrations(fixed.path()), after, "fix twice is a no-op");

    // Lint: nothing left, no syntax error, one leaf.
    let lint = migrail(
        fixed.path(),
        &["lint", "--all", "--no-config", "--warnings-as-errors", "."],
    );
    assert_eq!(lint.code, 0, "the fixed tree lints clean:\n{}", lint.stdout);

    let pg = Postgres::start();
    // Django: the models match the fixed migrations, and the state is the unfixed one's.
    let check = manage(
        fixed.path(),
        &pg,
        "rehearsal",
        &["makemigrations", "--check", "--dry-run", "shelf"],
    );
    assert!(check.contains("No changes detected"), "{check}");
    let (ok, text) = try_manage(
        unfixed.path(),
        &pg,
        "rehearsal",
        &["makemigrations", "--check", "--dry-run", "shelf"],
    );
    assert!(ok, "the fixture's models match its migrations: {text}");
    assert_eq!(
        state(fixed.path()),
        state(unfixed.path()),
        "Django's model state"
    );

    // PostgreSQL: from empty, and from before the unsafe migrations.
    for db in ["unfixed", "fixed_empty", "fixed_before"] {
        pg.query(&format!("create database {db}"));
    }
    manage(unfixed.path(), &pg, "unfixed", &["migrate", "--noinput"]);
    manage(fixed.path(), &pg, "fixed_empty", &["migrate", "--noinput"]);
    manage(
        fixed.path(),
        &pg,
        "fixed_before",
        &["migrate", "--noinput", "shelf", "0001_initial"],
    );
    pg.query_in(
        "fixed_before",
        "insert into shelf_book (title, isbn, pages) values ('A tale', '1', 1), ('Another', null, 2)",
    );
    manage(fixed.path(), &pg, "fixed_before", &["migrate", "--noinput"]);

    let expected: Vec<String> = schema(&pg, "unfixed", "shelf")
        .into_iter()
        // The one intended difference: `format` keeps its database default.
        .map(|row| {
            if row.starts_with("column|shelf_book|format|") {
                row.replacen("|NO|", "|NO|'paperback'::character varying", 1)
            } else {
                row
            }
        })
        .collect();
    println!(
        "{} schema rows compared (columns, indexes, constraints), {} migrations after the fix",
        expected.len(),
        after.len()
    );
    assert!(expected.len() >= 20, "too little compared: {expected:#?}");
    for db in ["fixed_empty", "fixed_before"] {
        let got = schema(&pg, db, "shelf");
        assert_eq!(
            got,
            expected,
            "{db}: the fixed schema differs from the unfixed one\nfixed:\n{}\nunfixed (with the intended default):\n{}",
            got.join("\n"),
            expected.join("\n")
        );
    }
    // Backwards to before the fixed migrations.
    manage(
        fixed.path(),
        &pg,
        "fixed_before",
        &["migrate", "--noinput", "shelf", "0001_initial"],
    );
    let back = schema(&pg, "fixed_before", "shelf");
    assert!(
        !back
            .iter()
            .any(|r| r.contains("author_id") || r.contains("pages_gte_0")),
        "migrated back: {back:#?}"
    );
}

/// A migration outside the scope that depends on the one fixed: the fixes that need a new
/// migration are not applied (the graph would get two leaves), and the summary says so.
#[test]
fn fixes_needing_a_new_migration_wait_for_the_dependents_in_scope() {
    let dir = fixture();
    let run = migrail(
        dir.path(),
        &[
            "fix",
            "--no-config",
            "shelf/migrations/0002_book_changes.py",
        ],
    );
    assert!(
        run.stdout
            .contains("later migrations outside the scope depend on this one")
            || run.stdout.contains("no automatic fix"),
        "{}",
        run.stdout
    );
    let third = std::fs::read_to_string(dir.path().join("shelf/migrations/0003_title_index.py"))
        .expect("read");
    assert!(
        third.contains("(\"shelf\", \"0002_book_changes\")"),
        "a migration outside the scope is never edited:\n{third}"
    );
    let lint = migrail(
        dir.path(),
        &[
            "lint",
            "--all",
            "--no-config",
            "--select",
            "multiple-leaf-nodes",
            ".",
        ],
    );
    assert_eq!(lint.code, 0, "one leaf per app:\n{}", lint.stdout);
}
