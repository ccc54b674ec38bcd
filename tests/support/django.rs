//! A Django project run for real in tests: `manage.py` with the pinned Django and psycopg
//! (tests/rehearsal/requirements.txt, in a throwaway virtualenv) against a test PostgreSQL
//! server, the schema of its tables as rows to compare, and Django's own model state
//! (tests/django/dump_state.py). The including crate has `mod venv` and `mod postgres`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::postgres::Postgres;
use super::venv;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv's `bin/`.
pub fn python_bin() -> PathBuf {
    venv::venv(
        "rehearsal-venv",
        &repo().join("tests/rehearsal/requirements.txt"),
    )
}

/// A Python of at least 3.12, which Django 6 needs (the machine's `python3` may be older):
/// `MIGRAIL_TEST_PYTHON312`, else `python3.13` or `python3.12` on `PATH`, else pyenv's.
pub fn python312() -> PathBuf {
    if let Some(p) = std::env::var_os("MIGRAIL_TEST_PYTHON312") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .flat_map(|dir| [dir.join("python3.13"), dir.join("python3.12")])
            .collect::<Vec<_>>()
    });
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))
        .map(|root| root.join("versions"))
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("3.12.") || name.starts_with("3.13.")
        })
        .map(|e| e.path().join("bin/python3"));
    on_path
        .chain(pyenv)
        // A pyenv shim on PATH exists but may not run: ask each one.
        .find(|p| {
            p.is_file()
                && Command::new(p)
                    .args(["-c", "import sys, venv; sys.exit(sys.version_info < (3, 12))"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "Django 6.1 needs Python 3.12 or later: put python3.12 on PATH or set MIGRAIL_TEST_PYTHON312"
            )
        })
}

/// The `bin/` of a virtualenv with Django 6.1 (tests/rehearsal/requirements-django61.txt),
/// for what only Django 6.1 does (database-level `on_delete`).
pub fn django61_bin() -> PathBuf {
    venv::venv_with(
        "django61-venv",
        &repo().join("tests/rehearsal/requirements-django61.txt"),
        &python312(),
    )
}

/// `python manage.py ARGS` in `work` against database `database` of `pg`; the output.
/// Panics with the output when it fails.
pub fn manage(work: &Path, pg: &Postgres, database: &str, args: &[&str]) -> String {
    manage_with(&python_bin(), work, pg, database, args)
}

/// [`manage`] with the virtualenv whose `bin/` is `bin`.
pub fn manage_with(
    bin: &Path,
    work: &Path,
    pg: &Postgres,
    database: &str,
    args: &[&str],
) -> String {
    let (ok, text) = try_manage_with(bin, work, pg, database, args);
    assert!(ok, "manage.py {args:?} in {database}:\n{text}");
    text
}

/// [`manage`], returning whether it succeeded and its output.
pub fn try_manage(work: &Path, pg: &Postgres, database: &str, args: &[&str]) -> (bool, String) {
    try_manage_with(&python_bin(), work, pg, database, args)
}

fn try_manage_with(
    bin: &Path,
    work: &Path,
    pg: &Postgres,
    database: &str,
    args: &[&str],
) -> (bool, String) {
    let out = Command::new(bin.join("python"))
        .current_dir(work)
        .arg("manage.py")
        .args(args)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGDATABASE", database)
        .env("PGUSER", "postgres")
        .output()
        .expect("manage.py runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The schema of the tables named `<prefix>_*`: columns (type, length, nullability,
/// default), indexes (name, definition), constraints (name, kind, validated, deferrable,
/// definition), one row each, sorted.
pub fn schema(pg: &Postgres, database: &str, prefix: &str) -> Vec<String> {
    let like = format!("{prefix}\\_%");
    let mut rows = pg.query_in(
        database,
        &format!(
            "select 'column', table_name, column_name, data_type, coalesce(character_maximum_length::text, ''), \
             is_nullable, coalesce(column_default, '') from information_schema.columns \
             where table_name like '{like}' order by 2, 3"
        ),
    );
    rows.extend(pg.query_in(
        database,
        &format!(
            "select 'index', tablename, indexname, indexdef from pg_indexes where tablename like '{like}' order by 2, 3"
        ),
    ));
    rows.extend(pg.query_in(
        database,
        &format!(
            "select 'constraint', conrelid::regclass::text, conname, contype, convalidated, condeferrable, \
             pg_get_constraintdef(oid) from pg_constraint where conrelid::regclass::text like '{like}' order by 2, 3"
        ),
    ));
    rows
}

/// Django's model state of the project in `work` (MigrationLoader, no database).
pub fn state(work: &Path) -> Value {
    state_with(&python_bin(), work)
}

/// [`state`] with the virtualenv whose `bin/` is `bin`.
pub fn state_with(bin: &Path, work: &Path) -> Value {
    let out = Command::new(bin.join("python"))
        .arg(repo().join("tests/django/dump_state.py"))
        .arg("--root")
        .arg(work)
        .output()
        .expect("dump_state.py runs");
    assert!(
        out.status.success(),
        "dump_state.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc["models"].clone()
}

/// Copy the folder `from` to `to` (files only, recursively).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&path, &target);
            }
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}
