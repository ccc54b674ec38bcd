//! `migrail sql` against Django itself: every migration of the corpus apps (and Django's
//! contrib apps), of a fixture holding every operation type (tests/sql/sqlshop) and of a
//! real application (django-helpdesk and the apps its settings install), applied one by
//! one to an empty PostgreSQL database, its SQL collected first exactly as `manage.py
//! sqlmigrate` collects it (tests/sql/reference.py); migrail renders the same migrations
//! statically from the installed files. Every operation migrail renders must equal
//! Django's statements (whitespace aside); the agreement per operation type is printed
//! (the manual quotes it).

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

/// Django's SQL for the migrations of `apps` (tests/sql/reference.py), in plan order.
fn reference(python: &Path, pg: &Postgres, database: &str, apps: Option<&str>) -> Vec<Value> {
    pg.query(&format!("CREATE DATABASE {database}"));
    let mut cmd = std::process::Command::new(python.join("python"));
    cmd.arg(repo().join("tests/sql/reference.py"))
        .env("PGDATABASE", database)
        .env("PGPORT", pg.port.to_string());
    if let Some(apps) = apps {
        cmd.env("MIGRAIL_APPS", apps);
    }
    let out = cmd.output().expect("reference.py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sql-reference-{database}.json")),
        &out.stdout,
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc.as_array().expect("a list").clone()
}

/// `migrail sql --all --format json` in `dir`.
fn rendered(dir: &Path) -> Value {
    let out = Command::cargo_bin("migrail")
        .expect("binary")
        .current_dir(dir)
        .args(["sql", "--all", "--no-config", "--format", "json", "."])
        .output()
        .expect("migrail sql runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// How migrail's SQL compares with Django's, per operation type.
#[derive(Default)]
struct Comparison {
    tally: BTreeMap<String, Tally>,
    deferred: Tally,
    reasons: BTreeMap<String, usize>,
    mismatches: Vec<String>,
}

fn compare(reference: &[Value], doc: &Value) -> Comparison {
    let by_key: BTreeMap<(String, String), &Value> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            ((s("app"), s("name")), m)
        })
        .collect();
    let mut c = Comparison::default();
    let kind_of = |t: &Value| {
        t["description"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    for m in reference {
        let key = (
            m["app"].as_str().unwrap_or_default().to_string(),
            m["name"].as_str().unwrap_or_default().to_string(),
        );
        assert!(m["error"].is_null(), "{key:?}: {}", m["error"]);
        let Some(mine) = by_key.get(&key) else {
            c.mismatches
                .push(format!("{}.{}: migrail did not render it", key.0, key.1));
            continue;
        };
        let theirs = m["operations"].as_array().expect("operations");
        let my_ops = mine["operations"].as_array().expect("operations");
        if theirs.len() != my_ops.len() {
            // Operations computed at run time (`[*f()]`): migrail says it cannot read them.
            if my_ops.iter().any(|o| o["statements"].is_null()) {
                for t in theirs {
                    c.tally.entry(kind_of(t)).or_default().operations += 1;
                }
                continue;
            }
            c.mismatches.push(format!(
                "{}.{}: {} operations for Django, {} for migrail",
                key.0,
                key.1,
                theirs.len(),
                my_ops.len()
            ));
            continue;
        }
        for (t, o) in theirs.iter().zip(my_ops) {
            let row = c.tally.entry(kind_of(t)).or_default();
            row.operations += 1;
            let Some(mine) = ours(&o["statements"]) else {
                let why = o["unrendered"].as_str().unwrap_or_default();
                *c.reasons.entry(why.to_string()).or_insert(0) += 1;
                continue;
            };
            row.rendered += 1;
            let expected = django_statements(&t["sql"]);
            if mine == expected {
                row.equal += 1;
            } else {
                c.mismatches.push(format!(
                    "{}.{}: {}\n  django:  {expected:?}\n  migrail: {mine:?}",
                    key.0, key.1, t["description"]
                ));
            }
        }
        c.deferred.operations += 1;
        if let Some(mine) = ours(&mine["deferred"]) {
            c.deferred.rendered += 1;
            let expected = django_statements(&m["deferred"]);
            if mine == expected {
                c.deferred.equal += 1;
            } else {
                c.mismatches.push(format!(
                    "{}.{}: deferred\n  django:  {expected:?}\n  migrail: {mine:?}",
                    key.0, key.1
                ));
            }
        }
    }
    c
}

fn print(what: &str, c: &Comparison, migrations: usize) {
    let mut reasons: Vec<(usize, &String)> = c.reasons.iter().map(|(r, n)| (*n, r)).collect();
    reasons.sort_by(|a, b| b.cmp(a));
    for (n, why) in reasons.iter().take(12) {
        eprintln!("{what}: not rendered {n:>4}: {why}");
    }
    let (mut ops, mut rendered, mut equal) = (0, 0, 0);
    for (kind, t) in &c.tally {
        eprintln!(
            "{what}: {kind:<28} {:>4} operations, {:>4} rendered, {:>4} equal",
            t.operations, t.rendered, t.equal
        );
        ops += t.operations;
        rendered += t.rendered;
        equal += t.equal;
    }
    eprintln!(
        "{what}: all: {ops} operations in {migrations} migrations, {rendered} rendered, {equal} \
         equal to Django's; deferred statements of {} of {} migrations rendered, {} equal",
        c.deferred.rendered, c.deferred.operations, c.deferred.equal
    );
}

#[test]
fn every_rendered_operation_equals_what_django_emits() {
    let python = venv::venv("django-venv", &repo().join("tests/django/requirements.txt"));
    let pg = Postgres::start();

    // The corpus, from the files Django loaded: the virtualenv's site-packages.
    let corpus = reference(&python, &pg, "sqlcorpus", None);
    assert!(corpus.len() > 150, "{} migrations", corpus.len());
    let first = corpus
        .iter()
        .find_map(|m| m["file"].as_str())
        .expect("a file");
    let site = Path::new(first)
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "site-packages"))
        .expect("site-packages")
        .to_path_buf();
    let c = compare(&corpus, &rendered(&site));
    print("corpus", &c, corpus.len());
    assert!(
        c.mismatches.is_empty(),
        "{} rendered operations differ from Django's:\n{}",
        c.mismatches.len(),
        c.mismatches.join("\n")
    );
    assert!(
        c.tally.values().map(|t| t.equal).sum::<usize>() > 300,
        "most of the corpus is rendered"
    );

    // The fixture of every operation type (tests/sql/sqlshop), against Django and as a
    // snapshot of `migrail sql`.
    let shop: Vec<Value> = reference(
        &python,
        &pg,
        "sqlshop",
        Some("django.contrib.contenttypes,django.contrib.auth,sqlshop"),
    )
    .into_iter()
    .filter(|m| m["app"] == "sqlshop")
    .collect();
    assert_eq!(shop.len(), 7);
    let fixture = repo().join("tests/sql");
    let c = compare(&shop, &rendered(&fixture));
    print("sqlshop", &c, shop.len());
    assert!(
        c.mismatches.is_empty(),
        "{} rendered operations differ from Django's:\n{}",
        c.mismatches.len(),
        c.mismatches.join("\n")
    );
    // A real application: django-helpdesk with the apps its settings install.
    let python = venv::venv(
        "helpdesk-venv",
        &repo().join("tests/sql/helpdesk-requirements.txt"),
    );
    let helpdesk = reference(
        &python,
        &pg,
        "sqlhelpdesk",
        Some(
            "django.contrib.contenttypes,django.contrib.auth,django.contrib.sites,\
             django.contrib.admin,django.contrib.sessions,django.contrib.messages,\
             django.contrib.humanize,account,pinax.invitations,pinax.teams,rest_framework,\
             reversion,helpdesk",
        ),
    );
    assert!(helpdesk.iter().filter(|m| m["app"] == "helpdesk").count() > 40);
    let site = Path::new(
        helpdesk
            .iter()
            .find_map(|m| m["file"].as_str())
            .expect("a file"),
    )
    .ancestors()
    .find(|p| p.file_name().is_some_and(|n| n == "site-packages"))
    .expect("site-packages")
    .to_path_buf();
    let c = compare(&helpdesk, &rendered(&site));
    print("helpdesk", &c, helpdesk.len());
    assert!(
        c.mismatches.is_empty(),
        "{} rendered operations differ from Django's:\n{}",
        c.mismatches.len(),
        c.mismatches.join("\n")
    );

    let text = Command::cargo_bin("migrail")
        .expect("binary")
        .current_dir(&fixture)
        .args(["sql", "--all", "--no-config", "."])
        .output()
        .expect("migrail sql runs");
    insta::assert_snapshot!("sqlshop", String::from_utf8_lossy(&text.stdout));
}
