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

/// Helps quote operations on one line through migrail's own tokenizer (ruff's tokens for
/// what it leaves): on every operation of the corpus, and every whole file (definitions,
/// decorators, comments, strings of every kind), the line is the one ruff's tokens give,
/// and nearly all of them are read by the tokenizer itself.
#[test]
fn one_line_reads_the_corpus_as_ruff_does() {
    use migrail::lint::rules::{one_line_by_ruff, one_line_plain};
    let corpus = corpus();
    let project = migrail::django::Project::load(
        &[corpus.join("src")],
        migrail::django::migration::Settings::default(),
    )
    .expect("the corpus loads");
    let (mut texts, mut plain) = (0, 0);
    let mut same = |text: &str, at: &Path| {
        texts += 1;
        if let Some(line) = one_line_plain(text) {
            plain += 1;
            assert_eq!(line, one_line_by_ruff(text), "{}: {text}", at.display());
        }
    };
    for m in project.migrations.iter() {
        let text = &m.source.text;
        same(text, &m.source.path);
        for op in &m.operations {
            if let Some(quoted) = text.get(std::ops::Range::<usize>::from(op.range())) {
                same(quoted, &m.source.path);
            }
        }
    }
    assert!(texts > 500, "{texts} files and operations");
    assert!(plain * 10 >= texts * 9, "{plain} of {texts} read plainly");
    println!("one_line: {plain} of {texts} files and operations read plainly, as ruff reads them");
}

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

/// Copy a folder tree (files only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Django's state without what a fix may intend to change: the pinned column and table
/// names, and the database default a NOT NULL column gets for the old release's inserts.
fn django_comparable(doc: &Value) -> Value {
    let mut doc = comparable_state(doc);
    if let Some(d) = doc.as_object_mut() {
        d.remove("apps");
    }
    for model in doc["models"].as_array_mut().into_iter().flatten() {
        for field in model["fields"].as_array_mut().into_iter().flatten() {
            if let Some(f) = field.as_object_mut() {
                f.remove("has_db_default");
            }
        }
    }
    doc
}

/// The state without what a fix may intend to change (the pinned column and table names).
fn comparable_state(doc: &Value) -> Value {
    let mut doc = doc.clone();
    for model in doc["models"].as_array_mut().into_iter().flatten() {
        if let Some(m) = model.as_object_mut() {
            m.remove("table");
        }
        for field in model["fields"].as_array_mut().into_iter().flatten() {
            if let Some(f) = field.as_object_mut() {
                f.remove("column");
            }
        }
    }
    doc
}

/// `migrail fix --all` on a copy of the corpus (real packages' migrations, written by
/// many hands): every fixed file parses, the fixed rules find nothing left, the model
/// state is the same (column and table pins aside), and a second run changes nothing.
#[test]
fn fixing_the_corpus_keeps_every_file_readable_and_the_state() {
    let work = tempfile::tempdir().expect("tempdir");
    copy_tree(&corpus().join("src"), &work.path().join("src"));
    let (_, before_state) = migrail_json(work.path(), &["state", "--format", "json", "src"]);
    let (_, before) = migrail_json(
        work.path(),
        &["lint", "--all", "--no-config", "--format", "json", "src"],
    );
    let fixable = [
        "add-index-not-concurrently",
        "drop-index-not-concurrently",
        "concurrent-in-atomic-migration",
        "add-check-constraint",
        "add-foreign-key-validates",
        "add-unique",
        "add-not-null-column",
        "set-not-null",
    ];
    let count = |doc: &Value| {
        doc["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| {
                fixable.contains(&f["rule"].as_str().unwrap_or_default()) && f["severity"] != "info"
            })
            .count()
    };
    let fix = |args: &[&str]| {
        Command::cargo_bin("migrail")
            .expect("binary")
            .current_dir(work.path())
            .args(args)
            .output()
            .expect("migrail fix runs")
    };
    let out = fix(&[
        "fix",
        "--all",
        "--include-applied",
        "--no-config",
        "--select",
        &fixable.join(","),
        "src",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.code().is_some(), "no panic: {text}");
    assert!(
        !text.contains("dropped: "),
        "a fix failed validation (a bug to fix, not to hide):\n{text}"
    );
    // Every file written compiles with Python.
    let written: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("edited: ")
                .or_else(|| l.trim().strip_prefix("new: "))
        })
        .collect();
    assert!(!written.is_empty(), "{text}");
    check(
        "python compile() of the fixed files",
        Process::new(python()).current_dir(work.path()).args([
            "-c",
            "import sys\nfor f in sys.argv[1:]:\n    compile(open(f, encoding='utf-8').read(), f, 'exec')\n",
        ])
        .args(&written),
    );
    let (_, after) = migrail_json(
        work.path(),
        &["lint", "--all", "--no-config", "--format", "json", "src"],
    );
    let syntax: Vec<&Value> = after["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "syntax-error" || f["rule"] == "multiple-leaf-nodes")
        .collect();
    let syntax_before = before["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "syntax-error" || f["rule"] == "multiple-leaf-nodes")
        .count();
    assert_eq!(
        syntax.len(),
        syntax_before,
        "the fixes broke files or the graph: {syntax:#?}"
    );
    println!(
        "corpus fix: {} fixable findings before, {} after ({})",
        count(&before),
        count(&after),
        text.lines().next().unwrap_or_default()
    );
    assert!(count(&before) > 0, "the corpus has fixable findings");
    let (_, after_state) = migrail_json(work.path(), &["state", "--format", "json", "src"]);
    assert_eq!(
        comparable_state(&before_state),
        comparable_state(&after_state),
        "the fixes changed the model state"
    );
    // Django's own MigrationLoader builds the fixed graph (the fixed copies, Django's
    // contrib apps among them, shadow the installed packages) and renders the same models
    // as it does from the untouched packages.
    let mut roots: Vec<PathBuf> = std::fs::read_dir(work.path().join("src"))
        .expect("fixed src")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    roots.sort();
    let original: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| r.file_name().map(|n| corpus().join("src").join(n)))
        .collect();
    let django_fixed = django_state(&roots, false, "auth.User");
    let django_original = django_state(&original, true, "auth.User");
    assert!(
        django_original["models"]
            .as_array()
            .is_some_and(|m| m.len() >= 40),
        "Django rendered the corpus: {}",
        django_original["models"].as_array().map_or(0, Vec::len)
    );
    assert_eq!(
        django_comparable(&django_original),
        django_comparable(&django_fixed),
        "Django's state of the fixed corpus differs from the original's"
    );
    let again = fix(&[
        "fix",
        "--all",
        "--include-applied",
        "--no-config",
        "--select",
        &fixable.join(","),
        "--diff",
        "src",
    ]);
    let again_text = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        again.status.code(),
        Some(0),
        "a second run changes nothing:\n{again_text}"
    );
}
