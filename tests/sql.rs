//! `migrail sql` against Django itself: every migration of the corpus apps (and Django's
//! contrib apps), applied one by one to an empty PostgreSQL database, its SQL collected
//! first exactly as `manage.py sqlmigrate` collects it (tests/sql/reference.py); migrail
//! renders the same migrations statically from the installed files. Every operation
//! migrail renders must equal Django's statements (whitespace aside); the agreement per
//! operation type is printed (the manual quotes it).

#![cfg(unix)]

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/venv.rs"]
mod venv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use migrail::django::schema_editor::{normalise, split_statements};
use postgres::Postgres;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Statements of Django's collected lines, normalised.
fn django_statements(lines: &Value) -> Vec<String> {
    let text: Vec<&str> = lines
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    split_statements(&text.join("\n"))
        .iter()
        .map(|s| normalise(s))
        .collect()
}

fn ours(statements: &Value) -> Option<Vec<String>> {
    statements.as_array().map(|list| {
        list.iter()
            .filter_map(|s| s["sql"].as_str())
            .map(normalise)
            .collect()
    })
}

#[derive(Default, Debug)]
struct Tally {
    operations: usize,
    rendered: usize,
    equal: usize,
}

#[test]
fn every_rendered_operation_equals_what_django_emits_for_the_corpus() {
    let python = venv::venv("django-venv", &repo().join("tests/django/requirements.txt"));
    let pg = Postgres::start();
    pg.query("CREATE DATABASE sqlref");
    let out = std::process::Command::new(python.join("python"))
        .arg(repo().join("tests/sql/reference.py"))
        .env("PGDATABASE", "sqlref")
        .env("PGPORT", pg.port.to_string())
        .output()
        .expect("reference.py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("sql-reference.json"),
        &out.stdout,
    );
    let reference: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let reference = reference.as_array().expect("a list");
    assert!(reference.len() > 150, "{} migrations", reference.len());
    // Where Django loaded them from: the virtualenv's site-packages.
    let first = reference
        .iter()
        .find_map(|m| m["file"].as_str())
        .expect("a file");
    let site = Path::new(first)
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "site-packages"))
        .expect("site-packages")
        .to_path_buf();
    let rendered = Command::cargo_bin("migrail")
        .expect("binary")
        .current_dir(&site)
        .args(["sql", "--all", "--no-config", "--format", "json", "."])
        .output()
        .expect("migrail sql runs");
    assert_eq!(
        rendered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let doc: Value = serde_json::from_slice(&rendered.stdout).expect("JSON");
    let by_key: BTreeMap<(String, String), &Value> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            ((s("app"), s("name")), m)
        })
        .collect();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut deferred = Tally::default();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for m in reference {
        let key = (
            m["app"].as_str().unwrap_or_default().to_string(),
            m["name"].as_str().unwrap_or_default().to_string(),
        );
        assert!(m["error"].is_null(), "{key:?}: {}", m["error"]);
        let Some(mine) = by_key.get(&key) else {
            panic!("{key:?}: migrail did not render it");
        };
        let theirs = m["operations"].as_array().expect("operations");
        let my_ops = mine["operations"].as_array().expect("operations");
        if theirs.len() != my_ops.len() {
            // Operations computed at run time (`[*f()]`): migrail says it cannot read them.
            if my_ops.iter().any(|o| o["statements"].is_null()) {
                for t in theirs {
                    let kind = t["description"].as_str().unwrap_or_default();
                    let kind = kind.split(' ').take(2).collect::<Vec<_>>().join(" ");
                    tally.entry(kind).or_default().operations += 1;
                }
                continue;
            }
            mismatches.push(format!(
                "{}.{}: {} operations for Django, {} for migrail",
                key.0,
                key.1,
                theirs.len(),
                my_ops.len()
            ));
            continue;
        }
        for (t, o) in theirs.iter().zip(my_ops) {
            let kind = t["description"]
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            let row = tally.entry(kind).or_default();
            row.operations += 1;
            let Some(mine) = ours(&o["statements"]) else {
                let why = o["unrendered"].as_str().unwrap_or_default();
                *reasons.entry(why.to_string()).or_insert(0) += 1;
                continue;
            };
            row.rendered += 1;
            let expected = django_statements(&t["sql"]);
            if mine == expected {
                row.equal += 1;
            } else {
                mismatches.push(format!(
                    "{}.{}: {}\n  django:  {expected:?}\n  migrail: {mine:?}",
                    key.0, key.1, t["description"]
                ));
            }
        }
        deferred.operations += 1;
        if let Some(mine) = ours(&mine["deferred"]) {
            deferred.rendered += 1;
            let expected = django_statements(&m["deferred"]);
            if mine == expected {
                deferred.equal += 1;
            } else {
                mismatches.push(format!(
                    "{}.{}: deferred\n  django:  {expected:?}\n  migrail: {mine:?}",
                    key.0, key.1
                ));
            }
        }
    }
    let mut reasons: Vec<(usize, String)> = reasons.into_iter().map(|(r, n)| (n, r)).collect();
    reasons.sort_by(|a, b| b.cmp(a));
    for (n, why) in reasons.iter().take(12) {
        eprintln!("not rendered {n:>4}: {why}");
    }
    let (mut ops, mut rendered, mut equal) = (0, 0, 0);
    for (kind, t) in &tally {
        eprintln!(
            "{kind:<28} {:>4} operations, {:>4} rendered, {:>4} equal",
            t.operations, t.rendered, t.equal
        );
        ops += t.operations;
        rendered += t.rendered;
        equal += t.equal;
    }
    eprintln!(
        "all: {ops} operations in {} migrations, {rendered} rendered, {equal} equal to Django's; \
         deferred statements of {} of {} migrations rendered, {} equal",
        reference.len(),
        deferred.rendered,
        deferred.operations,
        deferred.equal
    );
    assert!(
        mismatches.is_empty(),
        "{} rendered operations differ from Django's:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
