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

/// The release after: a rename, a rename written as remove + add, a renamed model, a
/// NOT NULL constraint and a dropped column (with `--deploy-phases`: the drop goes to a
/// `post` migration).
const DROPS: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shelf", "0003_title_index")]

    operations = [
        migrations.RenameField(model_name="book", old_name="format", new_name="binding"),
        migrations.RemoveField(model_name="book", name="nick"),
        migrations.AddField(
            model_name="book",
            name="handle",
            field=models.CharField(max_length=20, null=True),
        ),
        migrations.AlterField(
            model_name="book",
            name="blurb",
            field=models.TextField(default=""),
        ),
        migrations.RemoveField(model_name="book", name="pages"),
        migrations.RenameModel(old_name="Author", new_name="Writer"),
    ]
"#;

/// `models.py` as the user writes it for that release (no pins: the fix adds them).
const DROPS_MODELS: &str = r#"from django.db import models


class Writer(models.Model):
    name = models.CharField(max_length=100)


class Book(models.Model):
    title = models.CharField(max_length=200, db_index=True)
    isbn = models.CharField(max_length=13, null=True, unique=True)
    author = models.ForeignKey(Writer, null=True, on_delete=models.CASCADE)
    binding = models.CharField(max_length=20, default="paperback")
    handle = models.CharField(max_length=20, null=True)
    blurb = models.TextField(default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["title"], condition=models.Q(isbn__isnull=False), name="uniq_title_with_isbn"
            ),
        ]
"#;

/// The two-release fixes keep the data the unsafe migration loses, and `models.py` gets
/// the pins the state now has.
#[test]
fn renames_and_drops_keep_the_data_and_pin_models_py() {
    let setup = |dir: &Path| {
        std::fs::write(dir.join("shelf/migrations/0004_drops.py"), DROPS).expect("write");
        std::fs::write(dir.join("shelf/models.py"), DROPS_MODELS).expect("write");
        // The old release: books with a nickname and a nullable blurb; no check on pages.
        let initial = dir.join("shelf/migrations/0001_initial.py");
        let text = std::fs::read_to_string(&initial).expect("read").replace(
            r#"("pages", models.IntegerField(default=0)),"#,
            r#"("pages", models.IntegerField(default=0)),
                ("nick", models.CharField(max_length=20, null=True)),
                ("blurb", models.TextField(null=True)),"#,
        );
        std::fs::write(&initial, text).expect("write");
        let second = dir.join("shelf/migrations/0002_book_changes.py");
        let text = std::fs::read_to_string(&second).expect("read");
        let start = text
            .find("        migrations.AddConstraint(")
            .expect("check");
        let end = start
            + text[start..]
                .find(
                    "        ),
",
                )
                .expect("end")
            + "        ),
"
            .len();
        std::fs::write(&second, format!("{}{}", &text[..start], &text[end..])).expect("write");
    };
    let unfixed = fixture();
    let fixed = fixture();
    setup(unfixed.path());
    setup(fixed.path());
    let pg = Postgres::start();
    let (ok, text) = try_manage(
        unfixed.path(),
        &pg,
        "rehearsal",
        &["makemigrations", "--check", "--dry-run", "shelf"],
    );
    assert!(ok, "the test's models.py matches its migrations: {text}");

    let run = migrail(
        fixed.path(),
        &[
            "fix",
            "--no-config",
            "--deploy-phases",
            "shelf/migrations/0004_drops.py",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let again = migrail(
        fixed.path(),
        &[
            "fix",
            "--all",
            "--no-config",
            "--deploy-phases",
            "--select",
            "drop-column,rename-column,rename-table,rename-as-remove-add,set-not-null",
            ".",
        ],
    );
    assert!(again.stdout.contains("Nothing to fix."), "{}", again.stdout);
    let lint = migrail(
        fixed.path(),
        &[
            "lint",
            "--no-config",
            "--deploy-phases",
            "--select",
            "drop-column,rename-column,rename-table,rename-as-remove-add,set-not-null",
            "--all",
            ".",
        ],
    );
    assert_eq!(lint.code, 0, "{}", lint.stdout);
    let models = std::fs::read_to_string(fixed.path().join("shelf/models.py")).expect("read");
    for pin in [
        r#"binding = models.CharField(max_length=20, default="paperback", db_column="format")"#,
        r#"handle = models.CharField(max_length=20, null=True, db_column="nick")"#,
        r#"db_table = "shelf_author""#,
    ] {
        assert!(
            models.contains(pin),
            "models.py keeps `{pin}`:
{models}"
        );
    }
    let check = manage(
        fixed.path(),
        &pg,
        "rehearsal",
        &["makemigrations", "--check", "--dry-run", "shelf"],
    );
    assert!(check.contains("No changes detected"), "{check}");
    // The drop runs in a `post` migration.
    let plan = migrail(
        fixed.path(),
        &["plan", "--no-config", "--deploy-phases", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let drop_phase = doc["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("_drops_step2"))
        })
        .map(|m| m["phase"].clone());
    assert_eq!(
        drop_phase,
        Some(serde_json::json!("post")),
        "{}",
        plan.stdout
    );

    for (work, db) in [(&unfixed, "unfixed"), (&fixed, "fixed")] {
        pg.query(&format!("create database {db}"));
        manage(
            work.path(),
            &pg,
            db,
            &["migrate", "--noinput", "shelf", "0003_title_index"],
        );
        pg.query_in(
            db,
            "insert into shelf_author (name) values ('Ada'), ('Alan')",
        );
        pg.query_in(
            db,
            "insert into shelf_book (title, pages, nick, format) values \
             ('A', 1, 'ada', 'paperback'), ('B', 2, null, 'paperback')",
        );
        manage(work.path(), &pg, db, &["migrate", "--noinput"]);
    }
    // The unsafe migration lost the nicknames; the fix kept them, in the column the old
    // release knows, and the renamed field's column under its old name.
    assert_eq!(
        pg.query_in(
            "unfixed",
            "select coalesce(handle, '-') from shelf_book order by id"
        ),
        ["-", "-"]
    );
    assert_eq!(
        pg.query_in(
            "fixed",
            "select coalesce(nick, '-'), blurb from shelf_book order by id"
        ),
        ["ada|", "-|"]
    );
    let columns = |db: &str| {
        pg.query_in(db, "select column_name from information_schema.columns where table_name = 'shelf_book' order by 1")
    };
    assert!(
        columns("fixed").contains(&"format".to_string()),
        "{:?}",
        columns("fixed")
    );
    assert!(
        !columns("fixed").contains(&"pages".to_string()),
        "dropped in the post migration"
    );
    assert_eq!(
        pg.query_in("fixed", "select is_nullable from information_schema.columns where table_name = 'shelf_book' and column_name = 'blurb'"),
        ["NO"]
    );
    assert!(
        pg.query_in(
            "fixed",
            "select conname from pg_constraint where conname like '%not_null'"
        )
        .is_empty(),
        "the temporary CHECK is dropped"
    );
    // Backwards to the old release.
    manage(
        fixed.path(),
        &pg,
        "fixed",
        &["migrate", "--noinput", "shelf", "0003_title_index"],
    );
}

/// With Django 5.0+ pinned (`django-version`, or the project's requirements), the NOT NULL
/// column gets a `db_default` instead, and `models.py` says so too.
#[test]
fn with_django_5_the_not_null_column_gets_a_db_default() {
    let dir = fixture();
    std::fs::write(
        dir.path().join("requirements.txt"),
        "Django==5.2.19\npsycopg[binary]\n",
    )
    .expect("write");
    let run = migrail(
        dir.path(),
        &[
            "fix",
            "--no-config",
            "--select",
            "add-not-null-column",
            "--all",
            ".",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let second = std::fs::read_to_string(dir.path().join("shelf/migrations/0002_book_changes.py"))
        .expect("read");
    assert!(
        second.contains(
            r#"field=models.CharField(default="paperback", max_length=20, db_default="paperback"),"#
        ),
        "{second}"
    );
    let models = std::fs::read_to_string(dir.path().join("shelf/models.py")).expect("read");
    assert!(
        models.contains(r#"format = models.CharField(max_length=20, default="paperback", db_default="paperback")"#),
        "{models}"
    );
    let pg = Postgres::start();
    let check = manage(
        dir.path(),
        &pg,
        "rehearsal",
        &["makemigrations", "--check", "--dry-run", "shelf"],
    );
    assert!(check.contains("No changes detected"), "{check}");
    manage(dir.path(), &pg, "rehearsal", &["migrate", "--noinput"]);
    assert_eq!(
        pg.query("select column_default from information_schema.columns where table_name = 'shelf_book' and column_name = 'format'"),
        ["'paperback'::character varying"]
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
            .contains("add-check-constraint]: not fixed: the fix needs a new migration after this one, and a migration it may not edit depends on it"),
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
