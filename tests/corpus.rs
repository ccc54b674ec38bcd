//! migrail against the real world and against Django itself.
//!
//! - The sweep lints every migration of the shared corpus (real packages' migrations,
//!   fetched from PyPI by `scripts/fetch-corpus.sh`): every file parses, nothing panics,
//!   and the number of `unknown-operation` findings is printed.
//! - The agreement tests build Django's own `ProjectState` (MigrationLoader, no database)
//!   in a throwaway virtualenv and compare it with `migrail state` model by model, field
//!   by field: table, column, class, column type, null, unique, db_index, primary_key and
//!   whether a db_default is set. The counts compared are printed.
//!
//! Needs `python3` (with venv) and access to PyPI. The corpus goes to
//! `$MIGRAIL_CORPUS` (default: a cache under `target/`), the virtualenv under `target/`.

#[path = "support/venv.rs"]
mod venv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::OnceLock;
use std::time::Instant;

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn check(what: &str, cmd: &mut Process) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The corpus folder (holding `src/` and `migrations.txt`), fetched once.
fn corpus() -> &'static Path {
    static CORPUS: OnceLock<PathBuf> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = std::env::var_os("MIGRAIL_CORPUS")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp().join("corpus"));
        check(
            "scripts/fetch-corpus.sh",
            Process::new("bash")
                .arg(repo().join("scripts/fetch-corpus.sh"))
                .arg(&dir),
        );
        dir
    })
}

/// A virtualenv with the pinned Django and the corpus packages, created once
/// (tests/support/venv.rs).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        venv::venv("django-venv", &repo().join("tests/django/requirements.txt")).join("python")
    })
}

fn migrail_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("migrail")
        .expect("the migrail binary is built")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("migrail runs");
    let code = out
        .status
        .code()
        .expect("migrail exited with a code (no panic, no signal)");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "migrail {args:?}: stdout is not JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, doc)
}

#[test]
fn corpus_sweep_every_file_parses_and_nothing_panics() {
    let corpus = corpus();
    let listed = std::fs::read_to_string(corpus.join("migrations.txt")).expect("migrations.txt");
    let expected: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();

    let started = Instant::now();
    let (code, doc) = migrail_json(corpus, &["lint", "--all", "--format", "json", "src"]);
    let elapsed = started.elapsed();
    assert!(code == 0 || code == 1, "exit code {code}");

    let mut found: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter_map(|m| m["path"].as_str())
        .collect();
    found.sort_unstable();
    assert_eq!(found, expected, "every corpus migration is discovered once");

    let findings = doc["findings"].as_array().expect("findings");
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in findings {
        *by_rule
            .entry(f["rule"].as_str().expect("rule"))
            .or_default() += 1;
    }
    let syntax: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "syntax-error")
        .collect();
    assert!(
        syntax.is_empty(),
        "corpus files that do not parse: {syntax:#?}"
    );

    println!(
        "corpus: {} migration files linted in {:.2?} (debug build)",
        found.len(),
        elapsed
    );
    println!(
        "unknown-operation findings: {}",
        by_rule.get("unknown-operation").copied().unwrap_or(0)
    );
    for (rule, n) in &by_rule {
        println!("  {rule}: {n}");
    }
}

/// What the agreement compared, for the report.
#[derive(Default)]
struct Tally {
    models: usize,
    fields: usize,
    properties: usize,
    /// migrail said "not statically known" for a property.
    unknown: usize,
    /// Models migrail marks incomplete (custom operations, computed fields): table only.
    incomplete: Vec<String>,
    mismatches: Vec<String>,
}

const PROPERTIES: &[&str] = &[
    "class",
    "column",
    "db_type",
    "null",
    "unique",
    "db_index",
    "primary_key",
    "has_db_default",
];

fn compare(label: &str, django: &Value, migrail: &Value) -> Tally {
    let key = |m: &Value| {
        format!(
            "{}.{}",
            m["app"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default().to_lowercase()
        )
    };
    let ours: BTreeMap<String, &Value> = migrail["models"]
        .as_array()
        .expect("migrail models")
        .iter()
        .map(|m| (key(m), m))
        .collect();
    let theirs: BTreeMap<String, &Value> = django["models"]
        .as_array()
        .expect("django models")
        .iter()
        .map(|m| (key(m), m))
        .collect();
    let mut t = Tally::default();
    for (k, d) in &theirs {
        let Some(m) = ours.get(k) else {
            t.mismatches.push(format!(
                "{label}: model {k} is missing from migrail's state"
            ));
            continue;
        };
        t.models += 1;
        if m["table"].is_null() {
            t.unknown += 1;
        } else if m["table"] != d["table"] {
            t.mismatches.push(format!(
                "{label}: {k} table: migrail {} django {}",
                m["table"], d["table"]
            ));
        }
        if m["complete"] == false {
            t.incomplete.push(k.clone());
            continue;
        }
        let our_fields: BTreeMap<&str, &Value> = m["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| Some((f["name"].as_str()?, f)))
            .collect();
        let their_fields = d["fields"].as_array().expect("fields");
        for df in their_fields {
            let name = df["name"].as_str().unwrap_or_default();
            let Some(mf) = our_fields.get(name) else {
                t.mismatches.push(format!(
                    "{label}: field {k}.{name} is missing from migrail's state"
                ));
                continue;
            };
            t.fields += 1;
            for p in PROPERTIES {
                if mf[p].is_null() && !df[p].is_null() {
                    t.unknown += 1;
                } else if mf[p] != df[p] {
                    t.mismatches.push(format!(
                        "{label}: {k}.{name} {p}: migrail {} django {}",
                        mf[p], df[p]
                    ));
                } else {
                    t.properties += 1;
                }
            }
        }
        for name in our_fields.keys() {
            if !their_fields.iter().any(|f| f["name"] == *name) {
                t.mismatches.push(format!(
                    "{label}: field {k}.{name} is in migrail's state, not in Django's"
                ));
            }
        }
    }
    for k in ours.keys().filter(|k| !theirs.contains_key(*k)) {
        t.mismatches.push(format!(
            "{label}: model {k} is in migrail's state, not in Django's"
        ));
    }
    println!(
        "{label}: {} models, {} fields, {} properties equal, {} not statically known to migrail, {} incomplete models ({})",
        t.models,
        t.fields,
        t.properties,
        t.unknown,
        t.incomplete.len(),
        t.incomplete.join(", ")
    );
    t
}

/// Django's state for `roots` (one project), as `tests/django/dump_state.py` prints it.
fn django_state(roots: &[PathBuf], installed: bool, auth_user_model: &str) -> Value {
    django_state_with(roots, installed, auth_user_model, false)
}

fn django_state_with(
    roots: &[PathBuf],
    installed: bool,
    auth_user_model: &str,
    unsquashed: bool,
) -> Value {
    let mut cmd = Process::new(python());
    cmd.arg(repo().join("tests/django/dump_state.py"))
        .args(["--auth-user-model", auth_user_model]);
    if unsquashed {
        cmd.arg("--unsquashed");
    }
    for r in roots {
        cmd.arg("--root").arg(r);
    }
    if installed {
        cmd.arg("--installed");
    }
    let out = check("tests/django/dump_state.py", &mut cmd);
    serde_json::from_str(&out).expect("dump_state.py prints JSON")
}

fn agree(label: &str, dir: &Path, roots: &[&str], installed: bool, auth_user_model: &str) -> Tally {
    let absolute: Vec<PathBuf> = roots.iter().map(|r| dir.join(r)).collect();
    let django = django_state(&absolute, installed, auth_user_model);
    let mut args = vec![
        "state",
        "--format",
        "json",
        "--auth-user-model",
        auth_user_model,
    ];
    args.extend(roots);
    let (code, ours) = migrail_json(dir, &args);
    assert_eq!(code, 0);
    compare(label, &django, &ours)
}

#[test]
fn django_agrees_on_the_examples_and_fixtures() {
    // fixtures/conflict and fixtures/broken are left out: Django refuses to load them.
    let projects = [
        ("examples/bookshop", "auth.User"),
        ("fixtures/recipes", "auth.User"),
        ("fixtures/squashed", "auth.User"),
        ("fixtures/custom_user", "accounts.User"),
    ];
    let mut mismatches = Vec::new();
    for (project, user) in projects {
        let t = agree(project, &repo(), &[project], false, user);
        assert!(t.models > 0, "{project}: nothing compared");
        assert!(
            t.incomplete.is_empty(),
            "{project}: migrail should read everything: {:?}",
            t.incomplete
        );
        mismatches.extend(t.mismatches);
    }
    assert!(
        mismatches.is_empty(),
        "migrail's state differs from Django's:\n{}",
        mismatches.join("\n")
    );
}

/// The replaced chain of a squash, as a database that applied part of it runs it: Django's
/// loader with the squash removed (`remove_replacement_node`) against `migrail state
/// --unsquashed`.
#[test]
fn django_agrees_on_replaced_chains() {
    let project = "fixtures/squashed";
    let django = django_state_with(&[repo().join(project)], false, "auth.User", true);
    let (code, ours) = migrail_json(
        &repo(),
        &["state", "--format", "json", "--unsquashed", project],
    );
    assert_eq!(code, 0);
    let t = compare("fixtures/squashed (unsquashed)", &django, &ours);
    assert!(t.models > 0 && t.fields > 0, "nothing compared");
    assert!(
        t.mismatches.is_empty(),
        "migrail's state of the replaced chain differs from Django's:\n{}",
        t.mismatches.join("\n")
    );
}

#[test]
fn django_agrees_on_the_corpus() {
    let corpus = corpus();
    let mut roots: Vec<String> = std::fs::read_dir(corpus.join("src"))
        .expect("corpus src")
        .filter_map(|e| e.ok())
        .map(|e| format!("src/{}", e.file_name().to_string_lossy()))
        .collect();
    roots.sort();
    let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
    let t = agree("corpus", corpus, &roots, true, "auth.User");
    assert!(
        t.models >= 80 && t.fields >= 400,
        "too little compared: {} models, {} fields",
        t.models,
        t.fields
    );
    assert!(
        t.mismatches.is_empty(),
        "migrail's state differs from Django's:\n{}",
        t.mismatches.join("\n")
    );
}

/// Findings of a JSON report for one file: (rule, line, message).
fn findings_in(doc: &Value, path: &str) -> Vec<(String, u64, String)> {
    doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["path"] == path)
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn focused_runs_agree_with_the_full_run_on_the_corpus() {
    // A named file loads only the apps its history depends on (pre-commit speed); on
    // real apps with cross-app dependencies, every file's verdict must stay the same.
    let corpus = corpus();
    let root = corpus.join("src");
    let (_, full) = migrail_json(&root, &["lint", ".", "--all", "--format", "json"]);
    let paths: Vec<String> = full["migrations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["path"].as_str().map(str::to_string))
        .collect();
    assert!(paths.len() > 150, "{}", paths.len());
    for path in &paths {
        let (_, one) = migrail_json(&root, &["lint", path, "--root", ".", "--format", "json"]);
        assert_eq!(
            findings_in(&one, path),
            findings_in(&full, path),
            "{path}: the focused run disagrees with the full run"
        );
    }
}
