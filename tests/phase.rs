//! `migrail run --phase pre|post` with the real Django (PyPI, pinned in
//! tests/phase/requirements.txt, in a throwaway virtualenv) on a SQLite database: the
//! pre-deploy migrations only, then the rest, nothing twice, never an unapply, and a
//! clear refusal when the database is ahead of the code.

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/shop.rs"]
mod shop;
#[path = "support/venv.rs"]
mod venv;

use shop::{M1, M2};

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const SETTINGS: &str = r#"import os
SECRET_KEY = "test"
INSTALLED_APPS = ["shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["MIGRAIL_TEST_DB"]}}
USE_TZ = True
"#;

const MANAGE: &str = r#"import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"#;

const M3: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_book_subtitle")]
    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("book", "legacy")]),
    ]
"#;

const M4: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_remove_book_legacy_state")]
    operations = [
        migrations.RunSQL('ALTER TABLE "shop_book" DROP COLUMN "legacy";', reverse_sql=migrations.RunSQL.noop),
    ]
"#;

struct Project {
    dir: tempfile::TempDir,
    python_bin: PathBuf,
}

impl Project {
    fn new() -> Project {
        let python_bin = venv::venv("phase-venv", &repo().join("tests/phase/requirements.txt"));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        for (path, text) in [
            ("manage.py", MANAGE),
            ("mysite/__init__.py", ""),
            ("mysite/settings.py", SETTINGS),
            ("shop/__init__.py", ""),
            ("shop/migrations/__init__.py", ""),
            ("shop/migrations/0001_initial.py", M1),
            ("shop/migrations/0002_book_subtitle.py", M2),
            ("shop/migrations/0003_remove_book_legacy_state.py", M3),
            ("shop/migrations/0004_drop_book_legacy.py", M4),
        ] {
            let file = p.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
        Project { dir, python_bin }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("db.sqlite3")
    }

    fn run(&self, phase: &str) -> (i32, String, serde_json::Value) {
        let json = self.dir.path().join("result.json");
        let _ = std::fs::remove_file(&json);
        let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
            .current_dir(self.dir.path())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.python_bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("MIGRAIL_TEST_DB", self.db())
            .env_remove("GITHUB_OUTPUT")
            .args(["run", "--backend", "local", "--phase", phase, "--json-out"])
            .arg(&json)
            .args(["--", "python", "manage.py", "migrate", "--noinput"])
            .output()
            .expect("migrail runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let result = std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), text, result)
    }

    /// `app.name` rows of django_migrations, and the columns of shop_book.
    fn database(&self) -> (Vec<String>, Vec<String>) {
        let out = Command::new(self.python_bin.join("python"))
            .arg("-c")
            .arg("import json, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nrows = [a + '.' + n for a, n in c.execute(\"select app, name from django_migrations where app = 'shop' order by id\")]\ncols = [r[1] for r in c.execute('pragma table_info(shop_book)')]\nprint(json.dumps([rows, cols]))")
            .arg(self.db())
            .output()
            .expect("python");
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    fn sql(&self, statement: &str) {
        venv::check(
            "sqlite",
            Command::new(self.python_bin.join("python"))
                .arg("-c")
                .arg("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.commit()")
                .arg(self.db())
                .arg(statement),
        );
    }
}

fn is_subset(want: &[&str], have: &[String]) -> bool {
    want.iter().all(|w| have.iter().any(|h| h == w))
}

#[test]
fn pre_then_post_apply_each_phase_once() {
    let p = Project::new();
    let (code, text, result) = p.run("pre");
    assert_eq!(code, 0, "{text}");
    let (applied, columns) = p.database();
    assert_eq!(
        applied,
        [
            "shop.0001_initial",
            "shop.0002_book_subtitle",
            "shop.0003_remove_book_legacy_state"
        ],
        "{text}"
    );
    assert!(
        is_subset(&["title", "subtitle", "legacy"], &columns),
        "the column is still there for the old code: {columns:?}"
    );
    assert!(
        text.contains("not applied in phase pre: shop.0004_drop_book_legacy, after the rollout"),
        "{text}"
    );
    assert_eq!(
        result["applied"],
        serde_json::json!([
            "shop.0001_initial",
            "shop.0002_book_subtitle",
            "shop.0003_remove_book_legacy_state"
        ])
    );

    // The same phase again applies nothing.
    let (code, text, result) = p.run("pre");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("phase pre: no migration to apply"), "{text}");
    assert_eq!(result["applied"], serde_json::json!([]));

    let (code, text, _) = p.run("post");
    assert_eq!(code, 0, "{text}");
    let (applied, columns) = p.database();
    assert_eq!(
        applied.last().map(String::as_str),
        Some("shop.0004_drop_book_legacy")
    );
    assert!(!columns.iter().any(|c| c == "legacy"), "{columns:?}");

    let (code, text, _) = p.run("post");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("phase post: no migration to apply"), "{text}");
}

#[test]
fn a_database_ahead_of_the_code_is_refused() {
    let p = Project::new();
    assert_eq!(p.run("pre").0, 0);
    p.sql("insert into django_migrations (app, name, applied) values ('shop', '0005_from_a_newer_release', '2026-11-25 00:00:00')");
    let (code, text, result) = p.run("post");
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("refusing to migrate") && text.contains("shop.0005_from_a_newer_release"),
        "{text}"
    );
    assert_eq!(result["outcome"], "failed");
    let (applied, _) = p.database();
    assert!(
        !applied.iter().any(|a| a == "shop.0004_drop_book_legacy"),
        "nothing was applied"
    );
}

#[test]
fn phase_needs_the_projects_migrations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .current_dir(dir.path())
        .args(["run", "--backend", "local", "--phase", "pre", "--project"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no migration files"));
}
