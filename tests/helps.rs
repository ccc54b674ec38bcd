//! The helps can be pasted as they are, proven with real parts: for each unsafe migration
//! below, the code of migrail's help (split into migrations where the help says "then, in
//! the next migration") replaces it in a copy of `examples/rehearsal`, and against Django
//! (PyPI, pinned in tests/rehearsal/requirements.txt) and PostgreSQL (Debian's packages,
//! on 127.0.0.1):
//! - `migrail lint` finds nothing of the rule in the pasted migrations;
//! - `migrate` runs them from the old release's database, and back to it;
//! - Django's own model state (`tests/django/dump_state.py`) equals the unsafe
//!   migration's;
//! - the schema (columns with types, nullability and defaults; indexes with their names
//!   and definitions; constraints with their names, definitions and whether they are
//!   validated) equals what the unsafe migration builds: the helps name indexes and
//!   constraints as Django does.

#![cfg(unix)]

#[path = "support/django.rs"]
mod django;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/venv.rs"]
mod venv;

use django::{manage, manage_with, schema, state_with};
use postgres::Postgres;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const HEADER: &str = "from django.conf import settings\n\
from django.contrib.postgres.operations import (\n    AddConstraintNotValid,\n    AddIndexConcurrently,\n    RemoveIndexConcurrently,\n    ValidateConstraint,\n)\n\
from django.db import migrations, models\nimport django.db.models.deletion\nimport django.db.models.functions\nimport django.utils.timezone\n\n\n";

/// A migration file of the `library` app.
fn migration(dependency: &str, atomic: bool, operations: &str) -> String {
    let atomic = if atomic { "" } else { "    atomic = False\n" };
    format!(
        "{HEADER}class Migration(migrations.Migration):\n{atomic}    dependencies = [(\"library\", \"{dependency}\")]\n\n    operations = [\n{operations}\n    ]\n"
    )
}

/// The example project with its old release (0001, 0002) and `extra` migrations.
fn project(extra: &[(String, String)]) -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    let src = repo().join("examples/rehearsal");
    for f in [
        "manage.py",
        "rehearsal/__init__.py",
        "rehearsal/settings.py",
        "library/__init__.py",
        "library/models.py",
        "library/migrations/__init__.py",
        "library/migrations/0001_initial.py",
        "library/migrations/0002_book_published.py",
    ] {
        let to = work.path().join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(src.join(f), to).expect("copy");
    }
    for (name, text) in extra {
        std::fs::write(
            work.path()
                .join("library/migrations")
                .join(format!("{name}.py")),
            text,
        )
        .expect("write migration");
    }
    work
}

/// The help's code, as migrations: lines indented by four spaces are code; a prose line
/// saying "then" (or a `# in the next migration` comment) starts the next migration.
fn pasted(help: &str) -> Vec<String> {
    let mut blocks: Vec<Vec<String>> = vec![Vec::new()];
    for line in help.lines() {
        match line.strip_prefix("    ") {
            Some(code) => {
                let (code, next) = match code.split_once("  # in the next migration") {
                    Some((c, _)) => (c, true),
                    None => (code, false),
                };
                let code = code.split("  # from django.contrib").next().unwrap_or(code);
                if next {
                    blocks.push(Vec::new());
                }
                if let Some(b) = blocks.last_mut() {
                    b.push(format!("        {code}"));
                }
            }
            None if line.starts_with("then") && blocks.last().is_some_and(|b| !b.is_empty()) => {
                blocks.push(Vec::new())
            }
            None => {}
        }
    }
    blocks
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| b.join("\n"))
        .collect()
}

fn lint_json(work: &Path, files: &[String], rule: &str) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work)
        .args(["lint", "--no-config", "--format", "json", "--select", rule])
        .args(files)
        .output()
        .expect("lint runs");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("lint JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    doc["findings"].as_array().cloned().unwrap_or_default()
}

struct Scenario<'a> {
    name: &'a str,
    rule: &'a str,
    /// Operations of a migration before the unsafe one (after the old release), if any.
    setup: Option<&'a str>,
    /// The unsafe operation.
    unsafe_op: &'a str,
}

const SCENARIOS: &[Scenario<'static>] = &[
    Scenario {
        name: "fk",
        rule: "add-foreign-key-validates",
        setup: Some(
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))]),"#,
        ),
        unsafe_op: r#"        migrations.AddField("book", "author", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="library.author")),"#,
    },
    Scenario {
        // Any change to a constrained key's column: Django drops the constraint and adds
        // it back, validating every row.
        name: "fk_alter",
        rule: "add-foreign-key-validates",
        setup: Some(
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))]),
        migrations.AddField("book", "author", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="library.author")),"#,
        ),
        unsafe_op: r#"        migrations.AlterField("book", "author", models.ForeignKey(null=True, db_index=False, on_delete=django.db.models.deletion.CASCADE, to="library.author")),"#,
    },
    Scenario {
        name: "unique",
        rule: "add-unique",
        setup: None,
        unsafe_op: r#"        migrations.AlterField("book", "title", models.CharField(max_length=200, unique=True)),"#,
    },
    Scenario {
        name: "unique_together",
        rule: "add-unique",
        setup: None,
        unsafe_op: r#"        migrations.AlterUniqueTogether(name="book", unique_together={("title", "published")}),"#,
    },
    Scenario {
        name: "unique_nulls_not_distinct",
        rule: "add-unique",
        setup: None,
        unsafe_op: r#"        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title", "published"], nulls_distinct=False, name="uniq_title_published_nnd")),"#,
    },
    Scenario {
        name: "partial_unique",
        rule: "add-unique",
        setup: None,
        unsafe_op: r#"        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title"], condition=models.Q(published__isnull=False, legacy_code="x"), name="uniq_published_title")),"#,
    },
    Scenario {
        name: "expression_unique",
        rule: "add-unique",
        setup: None,
        unsafe_op: r#"        migrations.AddConstraint("book", models.UniqueConstraint(django.db.models.functions.Lower("title"), name="uniq_title_ci")),"#,
    },
    Scenario {
        name: "index",
        rule: "add-index-not-concurrently",
        setup: None,
        unsafe_op: r#"        migrations.AddIndex("book", models.Index(fields=["-published", "title"], name="book_pub_title_idx", condition=models.Q(published__isnull=False))),"#,
    },
    Scenario {
        name: "db_index",
        rule: "add-index-not-concurrently",
        setup: None,
        unsafe_op: r#"        migrations.AddField("book", "isbn", models.CharField(max_length=13, null=True, db_index=True)),"#,
    },
    Scenario {
        name: "drop_db_index",
        rule: "drop-index-not-concurrently",
        setup: Some(
            r#"        migrations.AddField("book", "isbn", models.CharField(max_length=13, null=True, db_index=True)),"#,
        ),
        unsafe_op: r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, null=True)),"#,
    },
    Scenario {
        name: "remove_index",
        rule: "drop-index-not-concurrently",
        setup: Some(
            r#"        migrations.AddIndex("book", models.Index(fields=["title"], name="book_title_idx")),"#,
        ),
        unsafe_op: r#"        migrations.RemoveIndex("book", "book_title_idx"),"#,
    },
    Scenario {
        name: "set_not_null",
        rule: "set-not-null",
        setup: Some(
            r#"        migrations.AddField("book", "isbn", models.CharField(max_length=13, null=True)),"#,
        ),
        unsafe_op: r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, default="unknown")),"#,
    },
    Scenario {
        name: "set_not_null_callable",
        rule: "set-not-null",
        setup: None,
        unsafe_op: r#"        migrations.AlterField("book", "published", models.DateField(default=django.utils.timezone.now)),"#,
    },
    Scenario {
        name: "check",
        rule: "add-check-constraint",
        setup: None,
        unsafe_op: r#"        migrations.AddConstraint("book", models.CheckConstraint(condition=models.Q(title__startswith="A") | models.Q(published__isnull=True), name="title_a_or_draft")),"#,
    },
];

#[test]
fn helps_pasted_as_they_are_migrate_to_the_same_schema_and_state() {
    let pg = Postgres::start();
    let bin = django::python_bin();
    let failures: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|s| prove(s, &pg, &bin, None).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Django 6.1's database-level `on_delete` (`DB_CASCADE`, `DB_SET_NULL`), on tables with
/// rows: Django's own `sqlmigrate` drops the constraint and adds it back validated (what
/// `add-foreign-key-validates` says), and the help pasted as it is ends in the same
/// constraint, `ON DELETE` clause included, and the same state. Needs a Python of at least
/// 3.12 (Django 6.1's own requirement).
#[test]
fn database_on_delete_helps_on_django_6_1() {
    let pg = Postgres::start();
    let bin = django::django61_bin();
    let author = r#"        migrations.CreateModel(name="Author", fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))]),"#;
    let cases = [
        (
            "db_cascade",
            "models.CASCADE",
            "models.DB_CASCADE",
            " ON DELETE CASCADE",
        ),
        (
            "db_set_null",
            "models.SET_NULL",
            "models.DB_SET_NULL",
            " ON DELETE SET NULL",
        ),
        (
            "back_from_db_cascade",
            "models.DB_CASCADE",
            "models.CASCADE",
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (name, from, to, clause) in cases {
        let setup = format!(
            "{author}\n        migrations.AddField(\"book\", \"author\", models.ForeignKey(null=True, on_delete={from}, to=\"library.author\")),"
        );
        let unsafe_op = format!(
            "        migrations.AlterField(\"book\", \"author\", models.ForeignKey(null=True, on_delete={to}, to=\"library.author\")),"
        );
        let s = Scenario {
            name,
            rule: "add-foreign-key-validates",
            setup: Some(&setup),
            unsafe_op: &unsafe_op,
        };
        let rows = "insert into library_author (id) select g from generate_series(1, 50) g; \
                    insert into library_book (title, legacy_code, published, author_id) \
                    select 'b' || g, 'x', null, 1 + g % 50 from generate_series(1, 500) g";
        match prove(&s, &pg, &bin, Some(rows)) {
            Ok(sqlmigrate) => {
                // Django's own SQL: the constraint dropped, then added back validated,
                // with the new ON DELETE clause.
                let add = sqlmigrate
                    .lines()
                    .find(|l| l.contains("ADD CONSTRAINT") && l.contains("FOREIGN KEY"));
                let ok = sqlmigrate.contains("DROP CONSTRAINT")
                    && add.is_some_and(|l| {
                        !l.contains("NOT VALID")
                            && l.contains(&format!("(\"id\"){clause} DEFERRABLE"))
                    });
                if !ok {
                    failures.push(format!(
                        "{name}: Django 6.1's sqlmigrate is not the drop and validated re-add the rule describes:\n{sqlmigrate}"
                    ));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One scenario: the unsafe migration linted, its help pasted as migrations, both migrated
/// from the old release's database (with `rows` inserted there first, if any) and compared;
/// the unsafe migration's `sqlmigrate` output when all agree.
fn prove(s: &Scenario, pg: &Postgres, bin: &Path, rows: Option<&str>) -> Result<String, String> {
    let mut base = Vec::new();
    let mut before = "0002_book_published".to_string();
    if let Some(setup) = s.setup {
        base.push(("0003_setup".to_string(), migration(&before, true, setup)));
        before = "0003_setup".to_string();
    }
    let mut unsafe_tree = base.clone();
    unsafe_tree.push((
        "0004_unsafe".to_string(),
        migration(&before, true, s.unsafe_op),
    ));
    let unsafe_work = project(&unsafe_tree);
    let found = lint_json(
        unsafe_work.path(),
        &["library/migrations/0004_unsafe.py".to_string()],
        s.rule,
    );
    let Some(help) = found.first().and_then(|f| f["help"].as_str()) else {
        return Err(format!(
            "{}: no {} finding to take the help from",
            s.name, s.rule
        ));
    };
    let non_atomic = help.contains("atomic = False");
    let blocks = pasted(help);
    let mut fixed_tree = base.clone();
    let mut dependency = before.clone();
    let mut fixed_files = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let name = format!("{:04}_fixed", 4 + i);
        fixed_tree.push((name.clone(), migration(&dependency, !non_atomic, block)));
        fixed_files.push(format!("library/migrations/{name}.py"));
        dependency = name;
    }
    let fixed_work = project(&fixed_tree);

    let left = lint_json(fixed_work.path(), &fixed_files, s.rule);
    if !left.is_empty() {
        return Err(format!(
            "{}: the pasted help still has {} findings: {left:#?}\nhelp:\n{help}",
            s.name, s.rule
        ));
    }
    let (u_db, f_db) = (format!("u_{}", s.name), format!("f_{}", s.name));
    pg.query(&format!("create database {u_db}"));
    pg.query(&format!("create database {f_db}"));
    // Both from the old release's database (and the setup), then forwards.
    let mut sqlmigrate = String::new();
    for (work, db) in [(&unsafe_work, &u_db), (&fixed_work, &f_db)] {
        manage_with(
            bin,
            work.path(),
            pg,
            db,
            &["migrate", "--noinput", "library", &before],
        );
        if let Some(rows) = rows {
            pg.query_in(db, rows);
        }
        if db == &u_db {
            sqlmigrate = manage_with(
                bin,
                work.path(),
                pg,
                db,
                &["sqlmigrate", "library", "0004_unsafe"],
            );
        }
        manage_with(bin, work.path(), pg, db, &["migrate", "--noinput"]);
    }
    let (u_schema, f_schema) = (schema(pg, &u_db, "library"), schema(pg, &f_db, "library"));
    if u_schema != f_schema {
        return Err(format!(
            "{}: schemas differ\nunsafe:\n{}\npasted help:\n{}\nhelp:\n{help}",
            s.name,
            u_schema.join("\n"),
            f_schema.join("\n")
        ));
    }
    if state_with(bin, unsafe_work.path()) != state_with(bin, fixed_work.path()) {
        return Err(format!(
            "{}: Django's model states differ\nhelp:\n{help}",
            s.name
        ));
    }
    // Back to the old release, as the unsafe migration could.
    manage_with(
        bin,
        fixed_work.path(),
        pg,
        &f_db,
        &["migrate", "--noinput", "library", &before],
    );
    println!(
        "{}: {} migrations pasted from the {} help: same schema and state",
        s.name,
        blocks.len(),
        s.rule
    );
    Ok(sqlmigrate)
}

#[test]
fn the_help_parser_splits_where_the_help_says_then() {
    let help = "add the field:\n    migrations.AddField(\"a\", \"b\", models.X()),\nthen, in the next migration:\n    migrations.RunSQL('x', reverse_sql='y'),\n(in models.py, keep it)";
    let blocks = pasted(help);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks[1].contains("RunSQL"));
}

/// The `set-not-null` help on a table with NULL rows, with the old release writing NULL
/// between the halves: the first half fills the rows and leaves the column accepting
/// NULL (the old release's INSERT works), the second fills what it wrote and ends NOT
/// NULL with no check left; the phases say pre (or any) then post.
#[test]
fn set_not_null_help_keeps_the_old_release_writing_until_the_post_phase() {
    let pg = Postgres::start();
    let setup = r#"        migrations.AddField("book", "isbn", models.CharField(max_length=13, null=True)),"#;
    let unsafe_op = r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, default="unknown")),"#;
    let tree = vec![
        (
            "0003_setup".to_string(),
            migration("0002_book_published", true, setup),
        ),
        (
            "0004_unsafe".to_string(),
            migration("0003_setup", true, unsafe_op),
        ),
    ];
    let work = project(&tree);
    let found = lint_json(
        work.path(),
        &["library/migrations/0004_unsafe.py".to_string()],
        "set-not-null",
    );
    let help = found
        .first()
        .and_then(|f| f["help"].as_str())
        .expect("a set-not-null finding")
        .to_string();
    let blocks = pasted(&help);
    assert_eq!(blocks.len(), 3, "{help}");
    let mut fixed = vec![tree[0].clone()];
    let mut dependency = "0003_setup".to_string();
    for (i, block) in blocks.iter().enumerate() {
        let name = format!("{:04}_half", 4 + i);
        fixed.push((name.clone(), migration(&dependency, true, block)));
        dependency = name;
    }
    let work = project(&fixed);
    // The phases: the first half is not post, the others are.
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(work.path())
        .args(["plan", "--all", "--no-config", "--format", "json", "."])
        .output()
        .expect("plan runs");
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let phase_of = |name: &str| {
        plan["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .and_then(|s| s["phase"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(phase_of("0004_half"), "post", "{plan}");
    assert_eq!(phase_of("0005_half"), "post", "{plan}");
    assert_eq!(phase_of("0006_half"), "post", "{plan}");

    let db = "snn";
    pg.query(&format!("create database {db}"));
    manage(
        work.path(),
        &pg,
        db,
        &["migrate", "--noinput", "library", "0003_setup"],
    );
    let sql = |q: &str| pg.query_in(db, q);
    sql("insert into library_book (title, legacy_code, isbn) select 'b' || g, 'x', null from generate_series(1, 500) g");
    manage(
        work.path(),
        &pg,
        db,
        &["migrate", "--noinput", "library", "0004_half"],
    );
    assert_eq!(
        sql("select count(*) from library_book where isbn is null"),
        ["0"]
    );
    // The old release writes NULL between the phases: it still works.
    sql("insert into library_book (title, legacy_code, isbn) values ('old release', 'x', null)");
    manage(work.path(), &pg, db, &["migrate", "--noinput"]);
    assert_eq!(
        sql("select count(*) from library_book where isbn is null"),
        ["0"]
    );
    assert_eq!(
        sql("select isbn from library_book where title = 'old release'"),
        ["unknown"]
    );
    assert_eq!(
        sql("select is_nullable from information_schema.columns where table_name = 'library_book' and column_name = 'isbn'"),
        ["NO"]
    );
    assert_eq!(
        sql("select count(*) from pg_constraint where conname like '%isbn_not_null%'"),
        ["0"]
    );
    // And back to the old release.
    manage(
        work.path(),
        &pg,
        db,
        &["migrate", "--noinput", "library", "0003_setup"],
    );
}
