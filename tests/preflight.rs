//! The preflight with real parts: `migrail run --backend local` applying the project in
//! tests/preflight (Django and psycopg from PyPI, pinned in tests/rehearsal/requirements.txt)
//! to PostgreSQL from Debian's packages on 127.0.0.1. Each scenario is a migration on a
//! table with rows: with rows it would fail on, it is refused (exit 133, not applied, not
//! recorded, no INVALID index, the count, the examples, the query); with clean rows it is
//! applied. One server per test, one database per scenario (copies of a migrated template).

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/django.rs"]
mod django;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/venv.rs"]
mod venv;

use std::path::{Path, PathBuf};

use postgres::{Postgres, Run};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project with `0001_initial` and the migrations given, as (name, source).
fn project(migrations: &[(&str, &str)]) -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    django::copy_tree(&repo().join("tests/preflight"), work.path());
    for (name, source) in migrations {
        std::fs::write(
            work.path().join(format!("shop/migrations/{name}.py")),
            source,
        )
        .expect("write migration");
    }
    work
}

fn migrail(pg: &Postgres, work: &Path, database: &str, args: &[&str]) -> Run {
    let python = venv::venv(
        "rehearsal-venv",
        &repo().join("tests/rehearsal/requirements.txt"),
    );
    let json = work.join("result.json");
    let _ = std::fs::remove_file(&json);
    let out = pg
        .migrail(work, &python)
        .env("PGDATABASE", database)
        .args(["run", "--backend", "local"])
        .args(args)
        .arg("--json-out")
        .arg(&json)
        .output()
        .expect("migrail runs");
    Run::of(out, &json)
}

/// A server with database `base` migrated to `0001_initial` (the template of each scenario).
fn server() -> Postgres {
    let pg = Postgres::start();
    pg.query("CREATE DATABASE base");
    let work = project(&[]);
    let r = migrail(&pg, work.path(), "base", &["--preflight", "off"]);
    assert_eq!(r.code, 0, "{}", r.text);
    pg.query_in(
        "base",
        "INSERT INTO shop_owner (id, name) VALUES (1, 'one')",
    );
    pg
}

/// A new database at `0001_initial` with `rows` (SQL) inserted.
fn database(pg: &Postgres, name: &str, rows: &str) {
    pg.query(&format!("CREATE DATABASE {name} TEMPLATE base"));
    if !rows.is_empty() {
        pg.query_in(name, rows);
    }
}

fn recorded(pg: &Postgres, database: &str) -> Vec<String> {
    pg.query_in(
        database,
        "SELECT name FROM django_migrations WHERE app = 'shop' ORDER BY id",
    )
}

fn migration(operations: &str) -> String {
    format!(
        "from django.db import migrations, models\nfrom django.db.models import Q\nfrom django.db.models.functions import Lower\n\n\n\
         class Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n    \
         operations = [\n{operations}\n    ]\n"
    )
}

struct Scenario {
    name: &'static str,
    operations: &'static str,
    /// Rows the migration fails on, and what the refusal says.
    bad: &'static str,
    check: &'static str,
    count: u64,
    example: &'static str,
    /// Rows it succeeds on.
    clean: &'static str,
}

const ITEM: &str = "INSERT INTO shop_item (code, qty, api_key, owner_id, big, note) VALUES";

#[test]
fn each_check_refuses_rows_the_migration_would_fail_on_and_lets_clean_rows_through() {
    let scenarios = [
        Scenario {
            name: "unique_field",
            operations: r#"        migrations.AlterField("item", "code", models.CharField(max_length=20, null=True, unique=True)),"#,
            bad: "('A', 1, NULL, NULL, NULL, NULL), ('A', 2, NULL, NULL, NULL, NULL), ('B', 3, NULL, NULL, NULL, NULL), (NULL, 4, NULL, NULL, NULL, NULL), (NULL, 5, NULL, NULL, NULL, NULL)",
            check: "unique",
            count: 1,
            example: "code=A, rows=2",
            // NULLs are distinct.
            clean: "('A', 1, NULL, NULL, NULL, NULL), (NULL, 2, NULL, NULL, NULL, NULL), (NULL, 3, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "unique_condition",
            operations: r#"        migrations.AddConstraint("item", models.UniqueConstraint(fields=["code"], condition=Q(qty__gt=0), name="code_when_stocked")),"#,
            bad: "('A', 1, NULL, NULL, NULL, NULL), ('A', 2, NULL, NULL, NULL, NULL)",
            check: "unique",
            count: 1,
            example: "code=A, rows=2",
            // The condition leaves the second row out.
            clean: "('A', 1, NULL, NULL, NULL, NULL), ('A', 0, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "unique_expression",
            operations: r#"        migrations.AddConstraint("item", models.UniqueConstraint(Lower("code"), name="code_ci_uniq")),"#,
            bad: "('Ab', 1, NULL, NULL, NULL, NULL), ('aB', 2, NULL, NULL, NULL, NULL)",
            check: "unique",
            count: 1,
            example: "(LOWER(\"code\"))=ab, rows=2",
            clean: "('Ab', 1, NULL, NULL, NULL, NULL), ('Ac', 2, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "unique_together_secret",
            operations: r#"        migrations.AlterUniqueTogether("item", {("code", "api_key")}),"#,
            bad: "('A', 1, 'sk_live_1', NULL, NULL, NULL), ('A', 2, 'sk_live_1', NULL, NULL, NULL)",
            check: "unique",
            count: 1,
            // A secret-looking column's values are never printed.
            example: "code=A, api_key=***, rows=2",
            clean: "('A', 1, NULL, NULL, NULL, NULL), ('A', 2, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "not_null",
            operations: r#"        migrations.AlterField("item", "qty", models.IntegerField()),"#,
            bad: "('A', NULL, NULL, NULL, NULL, NULL), ('B', 2, NULL, NULL, NULL, NULL), ('C', NULL, NULL, NULL, NULL, NULL)",
            check: "null",
            count: 2,
            example: "id=1",
            clean: "('A', 1, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "check_constraint",
            operations: r#"        migrations.AddConstraint("item", models.CheckConstraint(condition=Q(qty__gte=0), name="qty_not_negative")),"#,
            bad: "('A', -1, NULL, NULL, NULL, NULL), ('B', 2, NULL, NULL, NULL, NULL)",
            check: "check",
            count: 1,
            example: "id=1",
            // NULL passes a CHECK.
            clean: "('A', NULL, NULL, NULL, NULL, NULL), ('B', 2, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "foreign_key",
            operations: r#"        migrations.AlterField("item", "owner", models.ForeignKey("shop.Owner", null=True, on_delete=models.CASCADE, db_column="owner_id")),"#,
            bad: "('A', 1, NULL, 99, NULL, NULL), ('B', 1, NULL, 1, NULL, NULL)",
            check: "foreign-key",
            count: 1,
            example: "owner_id=99",
            clean: "('A', 1, NULL, 1, NULL, NULL), ('B', 1, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "max_length",
            operations: r#"        migrations.AlterField("item", "note", models.CharField(max_length=10, null=True)),"#,
            bad: "('A', 1, NULL, NULL, NULL, 'twelve chars'), ('B', 1, NULL, NULL, NULL, 'short')",
            check: "fit",
            count: 1,
            example: "id=1, note=twelve chars",
            clean: "('A', 1, NULL, NULL, NULL, 'ten chars!'), ('B', 1, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            name: "smaller_integer",
            operations: r#"        migrations.AlterField("item", "big", models.IntegerField(null=True)),"#,
            bad: "('A', 1, NULL, NULL, 4294967296, NULL), ('B', 1, NULL, NULL, -5, NULL)",
            check: "fit",
            count: 1,
            example: "id=1, big=4294967296",
            clean: "('A', 1, NULL, NULL, 2147483647, NULL), ('B', 1, NULL, NULL, -2147483648, NULL)",
        },
        Scenario {
            name: "unique_default",
            operations: r#"        migrations.AddField("item", "ref", models.CharField(max_length=10, default="x", unique=True)),"#,
            bad: "('A', 1, NULL, NULL, NULL, NULL), ('B', 1, NULL, NULL, NULL, NULL)",
            check: "unique-default",
            count: 2,
            example: "",
            clean: "('A', 1, NULL, NULL, NULL, NULL)",
        },
        Scenario {
            // migrail's own fix for add-unique: built concurrently, outside a transaction.
            name: "unique_index_concurrently",
            operations: r#"        migrations.RunSQL('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "item_code_uniq" ON "shop_item" ("code");', 'DROP INDEX CONCURRENTLY IF EXISTS "item_code_uniq";'),"#,
            bad: "('A', 1, NULL, NULL, NULL, NULL), ('A', 2, NULL, NULL, NULL, NULL)",
            check: "unique",
            count: 1,
            example: "code=A, rows=2",
            clean: "('A', 1, NULL, NULL, NULL, NULL), ('B', 2, NULL, NULL, NULL, NULL)",
        },
    ];
    let pg = server();
    for (i, s) in scenarios.iter().enumerate() {
        let mut source = migration(s.operations);
        if s.name == "unique_index_concurrently" {
            source = source.replace(
                "class Migration(migrations.Migration):\n",
                "class Migration(migrations.Migration):\n    atomic = False\n",
            );
        }
        let work = project(&[("0002_change", &source)]);
        let bad = format!("bad{i}");
        database(&pg, &bad, &format!("{ITEM} {}", s.bad));
        let r = migrail(&pg, work.path(), &bad, &[]);
        let ctx = format!("{}: {}", s.name, r.text);
        assert_eq!(r.code, 133, "{ctx}");
        assert_eq!(recorded(&pg, &bad), ["0001_initial"], "{ctx}");
        assert!(
            pg.query_in(
                &bad,
                "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid"
            )
            .is_empty(),
            "{ctx}"
        );
        assert_eq!(r.result["outcome"], "preflight-refused", "{ctx}");
        let violations: Vec<&Value> = r.result["preflight"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["verdict"] == "violation")
            .collect();
        assert_eq!(violations.len(), 1, "{ctx}");
        let v = violations[0];
        assert_eq!(v["check"], s.check, "{ctx}");
        assert_eq!(v["migration"], "shop.0002_change", "{ctx}");
        assert_eq!(v["count"], s.count, "{ctx}");
        if !s.example.is_empty() {
            assert_eq!(v["examples"][0], s.example, "{ctx}");
        }
        // The query lists exactly the violations.
        let query = v["query"].as_str().expect("query");
        let listed = pg.query_in(&bad, &format!("SELECT count(*) FROM ({query}) x"));
        assert_eq!(listed, [s.count.to_string()], "{ctx}");
        assert!(
            r.text.contains("migrail: run preflight refused")
                && r.text.contains("migrail:   all of them: ")
                && !r.text.contains("sk_live_1"),
            "{ctx}"
        );

        let clean = format!("clean{i}");
        database(&pg, &clean, &format!("{ITEM} {}", s.clean));
        let r = migrail(&pg, work.path(), &clean, &[]);
        let ctx = format!("{} (clean): {}", s.name, r.text);
        assert_eq!(r.code, 0, "{ctx}");
        assert_eq!(
            recorded(&pg, &clean),
            ["0001_initial", "0002_change"],
            "{ctx}"
        );
        let checks = r.result["preflight"].as_array().expect("checks");
        assert!(
            checks
                .iter()
                .any(|c| c["check"] == s.check && c["verdict"] == "ok"),
            "{ctx}"
        );
    }
}

const VALIDATE: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_not_valid")]
    operations = [migrations.RunSQL('ALTER TABLE "shop_item" VALIDATE CONSTRAINT "qty_not_negative";', migrations.RunSQL.noop)]
"#;

#[test]
fn a_constraint_added_not_valid_is_checked_before_validate_and_data_changes_skip_the_checks() {
    let pg = server();
    // NOT VALID checks nothing; VALIDATE CONSTRAINT in the next migration is checked.
    let not_valid = migration(
        r#"        migrations.RunSQL('ALTER TABLE "shop_item" ADD CONSTRAINT "qty_not_negative" CHECK ("qty" >= 0) NOT VALID;', migrations.RunSQL.noop),"#,
    );
    let work = project(&[("0002_not_valid", &not_valid), ("0003_validate", VALIDATE)]);
    database(
        &pg,
        "validate",
        &format!("{ITEM} ('A', -3, NULL, NULL, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "validate", &[]);
    assert_eq!(r.code, 133, "{}", r.text);
    assert_eq!(
        recorded(&pg, "validate"),
        ["0001_initial", "0002_not_valid"],
        "{}",
        r.text
    );
    assert_eq!(
        r.result["applied"],
        serde_json::json!(["shop.0002_not_valid"])
    );
    let v = &r.result["preflight"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["verdict"] == "violation")
        .cloned()
        .expect("a violation");
    assert_eq!(v["check"], "check", "{v}");
    assert_eq!(v["migration"], "shop.0003_validate");
    assert_eq!(v["examples"][0], "id=1");

    // A RunPython that fills the NULLs runs first: the NOT NULL after it is not judged on
    // the rows as they are now, and the migration applies.
    let filled = migration(
        r#"        migrations.RunPython(lambda apps, schema_editor: apps.get_model("shop", "Item").objects.filter(qty=None).update(qty=0), migrations.RunPython.noop),
        migrations.AlterField("item", "qty", models.IntegerField()),"#,
    );
    let work = project(&[("0002_fill", &filled)]);
    database(
        &pg,
        "filled",
        &format!("{ITEM} ('A', NULL, NULL, NULL, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "filled", &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    let checks = r.result["preflight"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "null" && c["verdict"] == "skipped"),
        "{}",
        r.result
    );
    // Widening (integer to bigint, varchar(20) to varchar(40)) is not checked: every value
    // fits, and a primary key made bigint must not cost a scan of its table.
    let widened = migration(
        r#"        migrations.AlterField("item", "qty", models.BigIntegerField(null=True)),
        migrations.AlterField("item", "code", models.CharField(max_length=40, null=True)),"#,
    );
    let work = project(&[("0002_wider", &widened)]);
    database(
        &pg,
        "widened",
        &format!("{ITEM} ('A', 1, NULL, NULL, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "widened", &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(r.result["preflight"], serde_json::json!([]), "{}", r.result);
    // A foreign key added again beside a validated one on the same columns (as Django does
    // around a type change) is proven already: no scan.
    let fk = migration(
        r#"        migrations.AlterField("item", "owner", models.ForeignKey("shop.Owner", null=True, on_delete=models.CASCADE, db_column="owner_id")),"#,
    );
    let again = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_fk")]
    operations = [migrations.RunSQL('ALTER TABLE "shop_item" ADD CONSTRAINT "item_owner_again" FOREIGN KEY ("owner_id") REFERENCES "shop_owner" ("id");', migrations.RunSQL.noop)]
"#;
    let work = project(&[("0002_fk", &fk), ("0003_again", again)]);
    database(
        &pg,
        "again",
        &format!("{ITEM} ('A', 1, NULL, 1, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "again", &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    let checks = r.result["preflight"].as_array().expect("checks");
    assert_eq!(
        checks
            .iter()
            .map(|c| c["migration"].as_str())
            .collect::<Vec<_>>(),
        [Some("shop.0002_fk")],
        "{}",
        r.result
    );
    // So does a default Django fills the NULLs with.
    let defaulted = migration(
        r#"        migrations.AlterField("item", "qty", models.IntegerField(default=0)),"#,
    );
    let work = project(&[("0002_default", &defaulted)]);
    database(
        &pg,
        "defaulted",
        &format!("{ITEM} ('A', NULL, NULL, NULL, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "defaulted", &[]);
    assert_eq!(r.code, 0, "{}", r.text);
}

const CUSTOM: &str = r#"from django.db import migrations, models
from django.db.migrations.operations.base import Operation


class InsertOwner(Operation):
    """A project's own operation that writes through the connection."""

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        with schema_editor.connection.cursor() as c:
            c.execute("INSERT INTO shop_owner (id, name) VALUES (2, 'inserted')")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        InsertOwner(),
        migrations.AlterField("item", "code", models.CharField(max_length=20, null=True, unique=True)),
    ]
"#;

#[test]
fn collecting_the_sql_never_runs_a_projects_own_operation_twice() {
    let pg = server();
    let work = project(&[("0002_custom", CUSTOM)]);
    database(
        &pg,
        "custom",
        &format!("{ITEM} ('A', 1, NULL, NULL, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "custom", &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(
        pg.query_in(
            "custom",
            "SELECT count(*) FROM shop_owner WHERE name = 'inserted'"
        ),
        ["1"],
        "{}",
        r.text
    );
    // Its write was refused in the preflight's READ ONLY transaction: reported, not fatal.
    let checks = r.result["preflight"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "sql" && c["verdict"] == "error"),
        "{}",
        r.result
    );
    assert!(
        r.text
            .contains("not checked: the SQL Django would run could not be collected"),
        "{}",
        r.text
    );
}

#[test]
fn only_checks_every_pending_migration_and_a_timeout_is_skipped_unless_strict() {
    let pg = server();
    let add = migration(
        r#"        migrations.AddField("item", "label", models.CharField(max_length=10, null=True)),"#,
    );
    let unique = migration(
        r#"        migrations.AlterField("item", "code", models.CharField(max_length=20, null=True, unique=True)),"#,
    )
    .replace("0001_initial", "0002_label");
    let work = project(&[("0002_label", &add), ("0003_unique", &unique)]);
    database(
        &pg,
        "pending",
        &format!("{ITEM} ('A', 1, NULL, NULL, NULL, NULL), ('A', 2, NULL, NULL, NULL, NULL)"),
    );
    let r = migrail(&pg, work.path(), "pending", &["--preflight", "only"]);
    assert_eq!(r.code, 133, "{}", r.text);
    assert!(
        r.text
            .contains("2 pending migration(s) checked, none applied"),
        "{}",
        r.text
    );
    assert_eq!(recorded(&pg, "pending"), ["0001_initial"]);
    assert!(pg
        .query_in("pending", "SELECT 1 FROM information_schema.columns WHERE table_name = 'shop_item' AND column_name = 'label'")
        .is_empty());
    // The phase script refuses the same way.
    let r = migrail(&pg, work.path(), "pending", &["--phase", "pre"]);
    assert_eq!(r.code, 133, "{}", r.text);
    assert_eq!(
        recorded(&pg, "pending"),
        ["0001_initial", "0002_label"],
        "{}",
        r.text
    );

    // 200,000 clean rows and a 1 ms budget per check: the check times out, is reported,
    // and the migration applies; with --preflight-strict it is refused.
    database(
        &pg,
        "slow",
        "INSERT INTO shop_item (code) SELECT 'c' || g FROM generate_series(1, 200000) g",
    );
    let work = project(&[("0002_label", &add), ("0003_unique", &unique)]);
    let r = migrail(
        &pg,
        work.path(),
        "slow",
        &["--preflight-timeout", "1ms", "--preflight-strict"],
    );
    assert_eq!(r.code, 133, "{}", r.text);
    assert_eq!(
        recorded(&pg, "slow"),
        ["0001_initial", "0002_label"],
        "{}",
        r.text
    );
    let r = migrail(&pg, work.path(), "slow", &["--preflight-timeout", "1ms"]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(
        r.text
            .contains("migrail: warning: preflight of shop.0003_unique"),
        "{}",
        r.text
    );
    let checks = r.result["preflight"].as_array().expect("checks");
    assert!(
        checks.iter().any(|c| c["verdict"] == "timeout"),
        "{}",
        r.result
    );
    assert_eq!(
        recorded(&pg, "slow"),
        ["0001_initial", "0002_label", "0003_unique"]
    );
}

/// Every statement Django emits for the corpus apps (and Django's contrib apps), collected
/// before each migration is applied to an empty database: the preflight parses each one
/// without an error, and every check query it plans is valid SQL.
#[test]
fn the_checks_of_every_statement_django_emits_for_the_corpus_are_valid_sql() {
    let python = venv::venv("django-venv", &repo().join("tests/django/requirements.txt"));
    let pg = Postgres::start();
    pg.query("CREATE DATABASE corpus");
    let out = std::process::Command::new(python.join("python"))
        .arg(repo().join("tests/preflight/corpus.py"))
        .arg(repo().join("src/run/lock_guard.py"))
        .arg(repo().join("src/run/preflight.py"))
        .env("PGDATABASE", "corpus")
        .env("PGPORT", pg.port.to_string())
        .output()
        .expect("corpus.py runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("the counts");
    let doc: Value = serde_json::from_str(line).expect("JSON");
    eprintln!("preflight over the corpus: {doc}");
    assert_eq!(doc["errors"], serde_json::json!([]), "{doc}");
    assert!(doc["migrations"].as_u64() > Some(150), "{doc}");
    for check in ["unique", "foreign-key", "fit", "null"] {
        assert!(
            doc["counts"][format!("plan:{check}")].as_u64() > Some(0),
            "no {check} check planned: {doc}"
        );
    }
    assert!(doc["counts"]["verdict:ok"].as_u64() >= Some(10), "{doc}");
}
