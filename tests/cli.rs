//! The command line as users run it: every exit code, both output formats, the review
//! scopes (all, named files, `--base`), rule selection, and the `rules`/`rule`/`state`
//! subcommands. Runs the real binary from the repository root on `examples/` and
//! `fixtures/`.

#[path = "support/git.rs"]
mod git;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use git::git;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn migrail() -> Command {
    let mut cmd = Command::cargo_bin("migrail").expect("the migrail binary is built");
    cmd.current_dir(repo())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    run_in(&repo(), args)
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    let out = migrail()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("migrail runs");
    Run {
        code: out.status.code().expect("exited with a code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(args: &[&str]) -> (i32, Value) {
    let r = run(args);
    let doc = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    });
    (r.code, doc)
}

fn rules_of(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule is a string").to_string())
        .collect()
}

#[test]
fn example_text_output_exit_1() {
    let r = run(&["lint", "examples/bookshop"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        !r.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!("example_text", r.stdout);
}

#[test]
fn clean_project_exit_0() {
    let r = run(&["lint", "fixtures/recipes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.trim(),
        "All checks passed: 10 migrations reviewed of 10 loaded (PostgreSQL)."
    );
}

#[test]
fn json_output_follows_schema_version_1() {
    let (code, doc) = json(&["lint", "examples/bookshop", "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["version"], 1);
    let migrations = doc["migrations"].as_array().expect("migrations array");
    assert_eq!(migrations.len(), 12);
    let first = &migrations[0];
    assert_eq!(first["app"], "catalog");
    assert_eq!(first["name"], "0001_initial");
    assert_eq!(
        first["path"],
        "examples/bookshop/catalog/migrations/0001_initial.py"
    );
    assert_eq!(first["reviewed"], true);

    let findings = doc["findings"].as_array().expect("findings array");
    // JSON carries the informational notes the text output hides without --show-notes.
    let notes: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "info")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["rule"], "missing-dependency",
        "the auth app is not in the tree"
    );
    assert_eq!(findings.len() - notes.len(), 8);
    // Every migration and finding carries its deploy phase.
    let phase_of = |name: &str| {
        migrations
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["phase"]["phase"].clone())
    };
    assert_eq!(phase_of("0002_book_subtitle"), Some(Value::from("pre")));
    assert_eq!(
        phase_of("0005_drop_book_legacy_code"),
        Some(Value::from("post"))
    );
    assert_eq!(
        phase_of("0006_rename_author_name"),
        Some(Value::from("never"))
    );
    let rename = findings
        .iter()
        .find(|f| f["rule"] == "rename-column")
        .expect("the example renames a column");
    assert_eq!(rename["severity"], "error");
    assert_eq!(
        rename["path"],
        "examples/bookshop/catalog/migrations/0006_rename_author_name.py"
    );
    assert_eq!(rename["app"], "catalog");
    assert_eq!(rename["migration"], "0006_rename_author_name");
    assert_eq!(rename["phase"], "never");
    assert_eq!(
        (rename["line"].as_u64(), rename["column"].as_u64()),
        (Some(14), Some(9))
    );
    assert_eq!(
        (rename["end_line"].as_u64(), rename["end_column"].as_u64()),
        (Some(18), Some(10))
    );
    assert!(rename["message"]
        .as_str()
        .is_some_and(|m| m.contains("\"name\"")));
    assert!(rename["help"]
        .as_str()
        .is_some_and(|h| h.contains("db_column=\"name\"")));
    assert_eq!(doc["summary"]["errors"], 6);
    assert_eq!(doc["summary"]["failed"], true);
}

#[test]
fn app_label_comes_from_apps_py() {
    let (_, doc) = json(&["lint", "examples/bookshop", "--format", "json"]);
    let apps: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations array")
        .iter()
        .filter_map(|m| m["app"].as_str())
        .collect();
    assert!(apps.contains(&"shop_orders"), "{apps:?}");
    assert!(!apps.contains(&"orders"), "{apps:?}");
}

#[test]
fn named_file_is_the_only_one_reported_but_history_is_loaded() {
    // 0005 renames a field whose column was pinned by the AlterField before it: only the
    // replayed history knows that, so a clean verdict proves the tree was loaded.
    let (code, doc) = json(&[
        "lint",
        "fixtures/recipes/library/migrations/0005_rename_summary.py",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{doc}");
    let migrations = doc["migrations"].as_array().expect("migrations array");
    assert_eq!(migrations.len(), 10);
    let reviewed: Vec<&str> = migrations
        .iter()
        .filter(|m| m["reviewed"] == true)
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(reviewed, ["0005_rename_summary"]);

    let (code, doc) = json(&[
        "lint",
        "examples/bookshop/catalog/migrations/0006_rename_author_name.py",
        "examples/bookshop/catalog/migrations/__init__.py",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(rules_of(&doc), ["rename-column"]);
    assert_eq!(doc["summary"]["reviewed"], 1);
}

#[test]
fn select_and_ignore() {
    let (code, doc) = json(&[
        "lint",
        "examples/bookshop",
        "--format",
        "json",
        "--select",
        "drop-column,drop-table",
    ]);
    assert_eq!(code, 1);
    assert_eq!(rules_of(&doc), ["drop-column", "drop-table"]);

    let ignored =
        "rename-column,add-unique,add-not-null-column,alter-column-type,drop-column,drop-table";
    let r = run(&["lint", "examples/bookshop", "--ignore", ignored]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn unknown_rule_is_a_usage_error_with_a_suggestion() {
    let r = run(&["lint", "examples/bookshop", "--select", "drop-colum"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown rule `drop-colum` (did you mean `drop-column`?)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn warnings_fail_only_with_warnings_as_errors() {
    let args = ["lint", "fixtures/broken", "--select", "unknown-operation"];
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("warning[unknown-operation]"),
        "{}",
        r.stdout
    );
    let r = run(&[&args[..], &["--warnings-as-errors"]].concat());
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn syntax_errors_are_reported_and_the_other_files_still_linted() {
    let (code, doc) = json(&["lint", "fixtures/broken", "--format", "json"]);
    assert_eq!(code, 1);
    let findings = doc["findings"].as_array().expect("findings array");
    let syntax: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "syntax-error")
        .collect();
    assert_eq!(
        syntax.len(),
        2,
        "every parser error, not just the first: {syntax:?}"
    );
    assert_eq!(
        syntax[0]["path"],
        "fixtures/broken/shop/migrations/0004_half_written.py"
    );
    assert_eq!(
        (syntax[0]["line"].as_u64(), syntax[0]["column"].as_u64()),
        (Some(7), Some(62))
    );
    assert!(rules_of(&doc).contains(&"drop-column".to_string()));
}

#[test]
fn graph_errors() {
    let (code, doc) = json(&["lint", "fixtures/conflict", "--format", "json"]);
    assert_eq!(code, 1);
    let rules = rules_of(&doc);
    assert!(
        rules.contains(&"multiple-leaf-nodes".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"missing-dependency".to_string()),
        "{rules:?}"
    );
}

/// `MIGRATION_MODULES` in the settings module `manage.py` names (a package that
/// star-imports its base, the assignment under an `if`): the moved folder is linted, the
/// stale default folders are not.
#[test]
fn migration_modules_from_the_settings_module() {
    let dir = repo().join("fixtures/migration_modules");
    let r = run_in(&dir, &["lint", "--all", "--format", "json", "."]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).expect("JSON");
    let paths: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter_map(|m| m["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "dojo/db_migrations/0001_initial.py",
            "dojo/db_migrations/0002_remove_title.py"
        ]
    );
    assert_eq!(rules_of(&doc), ["drop-column"]);

    // The configuration key, over the settings: `dojo` back to its default folder is
    // not possible there (it is not a package of migrations), so point it at nothing.
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("migrail.toml");
    std::fs::write(&config, "migration-modules = { dojo = \"\" }\n").expect("write");
    let config = config.to_string_lossy().into_owned();
    let r = run_in(&dir, &["lint", "--all", "--config", &config, "."]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no migration files"), "{}", r.stderr);
}

/// A lint (`--all`, the implicit scope, a folder; and `plan`, `fix`) that finds no
/// migration is an error, never "All checks passed"; naming files that are not
/// migrations (pre-commit) is not.
#[test]
fn lint_all_without_migrations_exits_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("models.py"), "x = 1\n").expect("write");
    for args in [
        &["lint", "--all", "--no-config", "."][..],
        &["lint", "--no-config"][..],
        &["lint", "--no-config", "."][..],
        &["plan", "--no-config", "."][..],
        &["fix", "--all", "--no-config", "."][..],
    ] {
        let r = run_in(tmp.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("no migration files") && r.stderr.contains("nothing to check"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stdout.contains("All checks passed"), "{}", r.stdout);
    }
    let r = run_in(tmp.path(), &["lint", "--no-config", "models.py"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn io_and_usage_errors_exit_2() {
    let r = run(&["lint", "no/such/dir"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no/such/dir: no such file or directory"),
        "{}",
        r.stderr
    );

    let r = run(&["lint", "--no-such-flag"]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    let r = run(&["lint", "--all", "--base", "main"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);

    let r = run(&["lint", "examples/bookshop", "--auth-user-model", "User"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("app_label.ModelName"), "{}", r.stderr);

    let r = run(&["lint", "--format", "yaml"]);
    assert_eq!(r.code, 2);
}

#[test]
fn base_outside_git_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = run_in(dir.path(), &["lint", "--base", "main"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--base main"), "{}", r.stderr);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn base_reviews_only_migrations_changed_since_the_merge_base() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path();
    copy_dir(&repo().join("examples/bookshop"), project);
    git(project, &["init", "-q", "-b", "main"]);
    git(project, &["add", "."]);
    git(project, &["commit", "-q", "-m", "initial"]);
    git(project, &["checkout", "-q", "-b", "feature"]);
    // A committed change on the branch, and an untracked new migration.
    let committed = project.join("catalog/migrations/0008_author_bio_not_blank.py");
    std::fs::write(
        &committed,
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    \
         dependencies = [(\"catalog\", \"0007_book_isbn_unique\")]\n    operations = [\n        \
         migrations.AlterField(\"author\", \"bio\", models.TextField()),\n    ]\n",
    )
    .expect("write");
    git(project, &["add", "."]);
    git(project, &["commit", "-q", "-m", "bio"]);
    std::fs::write(
        project.join("catalog/migrations/0009_remove_book_subtitle.py"),
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    \
         dependencies = [(\"catalog\", \"0008_author_bio_not_blank\")]\n    operations = [\n        \
         migrations.RemoveField(\"book\", \"subtitle\"),\n    ]\n",
    )
    .expect("write");

    let r = run_in(project, &["lint", "--base", "main", "--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).expect("JSON");
    let reviewed: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter(|m| m["reviewed"] == true)
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        reviewed,
        ["0008_author_bio_not_blank", "0009_remove_book_subtitle"]
    );
    assert_eq!(rules_of(&doc), ["drop-column"]);
    assert_eq!(
        doc["findings"][0]["path"],
        "catalog/migrations/0009_remove_book_subtitle.py"
    );
}

/// The bookshop in a repository whose `main` has every migration, on a branch `feature`.
fn shipped_bookshop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&repo().join("examples/bookshop"), dir.path());
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "initial"]);
    git(dir.path(), &["checkout", "-q", "-b", "feature"]);
    dir
}

fn edited_findings(project: &Path) -> (i32, Vec<Value>) {
    let r = run_in(
        project,
        &[
            "lint",
            "--base",
            "main",
            "--select",
            "edited-applied-migration",
            "--format",
            "json",
        ],
    );
    let doc: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}{}", r.stdout, r.stderr));
    (
        r.code,
        doc["findings"].as_array().cloned().unwrap_or_default(),
    )
}

#[test]
fn an_applied_migration_edited_renamed_or_deleted_is_an_error_and_reformatting_is_not() {
    let m2 = "catalog/migrations/0002_book_subtitle.py";
    // Reformatted, commented, quotes changed: the same operations.
    let dir = shipped_bookshop();
    let path = dir.path().join(m2);
    let text = std::fs::read_to_string(&path).expect("read");
    let reformatted = text
        .replace("\"book\"", "'book'")
        .replace("max_length=300),", "max_length=300),  # wider")
        .replace(
            "from django.db import migrations, models",
            "from django.db import models\nfrom django.db import migrations",
        );
    std::fs::write(&path, reformatted).expect("write");
    assert_eq!(edited_findings(dir.path()), (0, vec![]));

    // An operation changed: the finding is on it, the help shows before and after.
    std::fs::write(&path, text.replace("max_length=300", "max_length=400")).expect("write");
    let (code, found) = edited_findings(dir.path());
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["path"], m2);
    assert_eq!(found[0]["line"], 19, "the AlterField: {found:?}");
    let help = found[0]["help"].as_str().expect("help");
    assert!(
        help.starts_with(
            "operation 2 (migrations.AlterField): max_length=300 became max_length=400\n"
        ),
        "{help}"
    );
    assert!(
        found[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`main`")),
        "{found:?}"
    );

    // Renamed.
    let dir = shipped_bookshop();
    git(
        dir.path(),
        &["mv", m2, "catalog/migrations/0002_subtitle.py"],
    );
    let (code, found) = edited_findings(dir.path());
    assert_eq!(code, 1);
    assert!(
        found[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`0002_subtitle` is `0002_book_subtitle` renamed")),
        "{found:?}"
    );

    // Deleted: reported at its old path.
    let dir = shipped_bookshop();
    std::fs::remove_file(
        dir.path()
            .join("catalog/migrations/0007_book_isbn_unique.py"),
    )
    .expect("rm");
    let (code, found) = edited_findings(dir.path());
    assert_eq!(code, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0]["path"],
        "catalog/migrations/0007_book_isbn_unique.py"
    );
    assert!(
        found[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`catalog.0007_book_isbn_unique` is deleted")),
        "{found:?}"
    );
}

#[test]
fn a_branch_that_changes_no_migration_passes_against_its_base() {
    let dir = shipped_bookshop();
    std::fs::write(dir.path().join("README.txt"), "not a migration\n").expect("write");
    let r = run_in(dir.path(), &["lint", "--base", "main"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("All checks passed: 0 migrations reviewed"),
        "{}",
        r.stdout
    );
    // From a folder without any migration, it is still an error.
    let empty = tempfile::tempdir().expect("temp dir");
    git(empty.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(empty.path().join("a.txt"), "a\n").expect("write");
    git(empty.path(), &["add", "."]);
    git(empty.path(), &["commit", "-q", "-m", "a"]);
    let r = run_in(empty.path(), &["lint", "--base", "main"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
}

#[test]
fn deleting_what_a_shipped_squash_replaces_is_the_clean_up() {
    let dir = shipped_bookshop();
    let migrations = dir.path().join("catalog/migrations");
    // main gains a squash of 0001–0002, and ships it.
    std::fs::write(
        migrations.join("0001_squashed_0002_book_subtitle.py"),
        std::fs::read_to_string(migrations.join("0001_initial.py"))
            .expect("read")
            .replace(
                "class Migration(migrations.Migration):\n",
                "class Migration(migrations.Migration):\n    replaces = [(\"catalog\", \"0001_initial\"), (\"catalog\", \"0002_book_subtitle\")]\n",
            ),
    )
    .expect("write");
    git(dir.path(), &["checkout", "-q", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "squash"]);
    git(dir.path(), &["checkout", "-q", "-b", "clean-up"]);
    std::fs::remove_file(migrations.join("0001_initial.py")).expect("rm");
    let (code, found) = edited_findings(dir.path());
    assert_eq!((code, found.len()), (0, 0), "{found:?}");
    // Without the squash shipped, the same deletion is reported.
    let dir = shipped_bookshop();
    std::fs::remove_file(dir.path().join("catalog/migrations/0001_initial.py")).expect("rm");
    let (code, found) = edited_findings(dir.path());
    assert_eq!((code, found.len()), (1, 1), "{found:?}");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let r = run(&["lint", "examples/bookshop", "--color", "always"]);
    assert!(
        r.stdout.contains("\x1b["),
        "--color always styles the output"
    );
    let r = run(&["lint", "examples/bookshop", "--color", "never"]);
    assert!(!r.stdout.contains('\x1b'));
}

#[test]
fn rules_lists_every_rule_and_rule_shows_its_documentation() {
    let r = run(&["rules"]);
    assert_eq!(r.code, 0);
    for name in [
        "drop-column",
        "add-not-null-column",
        "multiple-leaf-nodes",
        "syntax-error",
        "unknown-operation",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{}",
            r.stdout
        );
    }
    // Which engines each rule judges for: PostgreSQL's lock rules, MySQL's own, the rest.
    for (name, engines) in [
        ("add-index-not-concurrently", "postgresql"),
        ("mysql-table-copy", "mysql"),
        ("drop-column", "all"),
    ] {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        assert!(
            line.split_whitespace().nth(3) == Some(engines),
            "{name}: {line}"
        );
    }
    let (_, doc) = json(&["rules", "--format", "json"]);
    assert_eq!(
        doc["rules"].as_array().map(Vec::len),
        Some(r.stdout.lines().count())
    );
    assert!(doc["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["name"] == "mysql-partial-migration" && r["engines"] == "mysql"));

    let r = run(&["rule", "drop-column"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("# drop-column\n"), "{}", r.stdout);
    assert!(r.stdout.contains("## Why it is unsafe"));
    assert!(r.stdout.contains("## Safe alternative"));

    let r = run(&["rule", "rename-colum"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `rename-column`"),
        "{}",
        r.stderr
    );
}

#[test]
fn state_dumps_the_replayed_models() {
    let (code, doc) = json(&["state", "fixtures/squashed", "--format", "json"]);
    assert_eq!(code, 0);
    let models = doc["models"].as_array().expect("models");
    let item = models
        .iter()
        .find(|m| m["name"] == "Item")
        .expect("inventory.Item");
    // The squash sets db_table: proof that the squashed migration replaced 0001/0002.
    assert_eq!(item["table"], "inventory_items");
    let sku = item["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "sku"))
        .expect("sku");
    assert_eq!(sku["null"], false);

    let (_, doc) = json(&[
        "state",
        "fixtures/custom_user",
        "--format",
        "json",
        "--auth-user-model",
        "accounts.User",
    ]);
    let review = doc["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "Review"))
        .expect("Review");
    assert!(review["fields"]
        .as_array()
        .is_some_and(|f| f.iter().all(|f| f["name"] != "author")));
}

#[test]
fn inline_suppression_silences_one_finding_and_reports_a_stale_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path();
    copy_dir(&repo().join("examples/bookshop"), project);
    let file = project.join("catalog/migrations/0006_rename_author_name.py");
    let text = std::fs::read_to_string(&file).expect("read");
    let text = text.replace(
        "        migrations.RenameField(",
        "        # migrail: ignore[rename-column] -- the old release reads full_name via a view\n        migrations.RenameField(",
    );
    std::fs::write(&file, text).expect("write");
    let r = run_in(
        project,
        &["lint", "catalog/migrations/0006_rename_author_name.py"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("All checks passed"), "{}", r.stdout);

    let stale = project.join("catalog/migrations/0002_book_subtitle.py");
    let text = std::fs::read_to_string(&stale).expect("read");
    std::fs::write(
        &stale,
        format!("# migrail: ignore-file[drop-table]\n{text}"),
    )
    .expect("write");
    let r = run_in(
        project,
        &[
            "lint",
            "catalog/migrations/0002_book_subtitle.py",
            "--warnings-as-errors",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("warning[unused-suppression]"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("0002_book_subtitle.py:1:1"),
        "{}",
        r.stdout
    );
}

#[test]
fn plan_splits_the_example_into_before_after_and_blocked() {
    let r = run(&["plan", "examples/bookshop"]);
    assert_eq!(r.code, 1, "something is blocked: exit 1\n{}", r.stderr);
    insta::assert_snapshot!("example_plan", r.stdout);

    let (code, doc) = json(&["plan", "examples/bookshop", "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["blocked"], true);
    let stage = |app: &str, name: &str| {
        doc["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["app"] == app && s["name"] == name))
            .map(|s| s["stage"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(stage("catalog", "0002_book_subtitle"), "before");
    assert_eq!(
        stage("catalog", "0004_remove_book_legacy_code_state"),
        "before"
    );
    assert_eq!(stage("catalog", "0005_drop_book_legacy_code"), "after");
    assert_eq!(stage("catalog", "0006_rename_author_name"), "blocked");
    // Safe on its own, but it depends on a blocked migration.
    assert_eq!(stage("shop_orders", "0003_gift_wrap"), "blocked");
    // Steps come in the order Django applies them.
    let names: Vec<String> = doc["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    format!(
                        "{}.{}",
                        s["app"].as_str().unwrap_or(""),
                        s["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap_or(usize::MAX);
    assert!(pos("catalog.0007_book_isbn_unique") < pos("shop_orders.0005_delete_coupon"));

    // Migrations not under review count as applied: one release of the recipes fixture
    // deploys cleanly, though the whole history at once would not (0004 adds after 0003 drops).
    let one = run(&[
        "plan",
        "fixtures/recipes/library/migrations/0004_book_format.py",
    ]);
    assert_eq!(one.code, 0, "{}\n{}", one.stdout, one.stderr);
    assert!(
        one.stdout.contains("1 before, 0 after, 0 blocked"),
        "{}",
        one.stdout
    );
    let all = run(&["plan", "fixtures/recipes"]);
    assert_eq!(all.code, 1, "{}", all.stdout);
}

#[test]
fn a_pre_migration_after_a_post_one_is_blocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("shop/migrations");
    std::fs::create_dir_all(&app).expect("mkdir");
    let head =
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n";
    std::fs::write(
        app.join("0001_initial.py"),
        format!("{head}    initial = True\n    operations = [migrations.CreateModel(\"Book\", [(\"id\", models.AutoField(primary_key=True)), (\"note\", models.TextField(null=True))])]\n"),
    )
    .expect("write");
    std::fs::write(
        app.join("0002_drop_note.py"),
        format!("{head}    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [migrations.RemoveField(\"book\", \"note\")]\n"),
    )
    .expect("write");
    std::fs::write(
        app.join("0003_add_title.py"),
        format!("{head}    dependencies = [(\"shop\", \"0002_drop_note\")]\n    operations = [migrations.AddField(\"book\", \"title\", models.TextField(null=True))]\n"),
    )
    .expect("write");
    let r = run_in(
        dir.path(),
        &[
            "plan",
            "shop/migrations/0002_drop_note.py",
            "shop/migrations/0003_add_title.py",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("must run before the rollout but depends on shop.0002_drop_note"),
        "{}",
        r.stdout
    );
}

fn bookshop_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo().join("examples/bookshop"), dir.path());
    dir
}

#[test]
fn configuration_file_applies_and_flags_win() {
    let dir = bookshop_copy();
    let (code, doc) = {
        let r = run_in(dir.path(), &["lint", "--format", "json"]);
        (
            r.code,
            serde_json::from_str::<Value>(&r.stdout).expect("json"),
        )
    };
    assert_eq!(code, 1);
    let errors = doc["summary"]["errors"].as_u64().unwrap_or(0);
    assert!(errors > 0);

    std::fs::write(
        dir.path().join("pyproject.toml"),
        r#"[project]
name = "bookshop"

[tool.migrail]
ignore = ["rename-column", "add-unique", "add-not-null-column", "alter-column-type", "drop-column", "drop-table"]
warnings-as-errors = true
exclude = ["orders/migrations/0003_*.py"]

[tool.migrail.severity]
add-index-not-concurrently = "error"
"#,
    )
    .expect("write pyproject");
    // The file is found from a subfolder too.
    let r = run_in(
        &dir.path().join("catalog"),
        &["lint", "..", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&r.stdout).expect("json");
    let rules = rules_of(&doc);
    assert!(!rules.iter().any(|r| r == "rename-column"), "{rules:?}");
    // 0003_gift_wrap (the index and foreign-key warnings) is excluded from the report.
    assert!(
        !rules.iter().any(|r| r == "add-index-not-concurrently"),
        "{rules:?}"
    );
    assert_eq!(r.code, 0, "{}", r.stdout);

    // A flag replaces the file's list; the severity override still applies.
    let r = run_in(
        dir.path(),
        &["lint", "--ignore", "drop-table", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&r.stdout).expect("json");
    assert!(rules_of(&doc).iter().any(|r| r == "rename-column"));
    assert_eq!(r.code, 1);

    // --no-config ignores it; --config names another file.
    let r = run_in(dir.path(), &["lint", "--no-config", "--format", "json"]);
    let doc: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(doc["summary"]["errors"].as_u64(), Some(errors));
    std::fs::write(
        dir.path().join("strict.toml"),
        "select = [\"drop-table\"]\n",
    )
    .expect("write");
    let r = run_in(
        dir.path(),
        &["lint", "--config", "strict.toml", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(rules_of(&doc), vec!["drop-table".to_string()]);
}

#[test]
fn configuration_errors_name_the_key_and_the_file() {
    let dir = bookshop_copy();
    std::fs::write(
        dir.path().join("migrail.toml"),
        "warnings_as_errors = true\n",
    )
    .expect("write");
    let r = run_in(dir.path(), &["lint"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("migrail.toml") && r.stderr.contains("warnings_as_errors"),
        "{}",
        r.stderr
    );
    std::fs::write(
        dir.path().join("migrail.toml"),
        "[severity]\ndrop-colum = \"warning\"\n",
    )
    .expect("write");
    let r = run_in(dir.path(), &["plan"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `drop-column`"),
        "{}",
        r.stderr
    );
}

#[test]
fn deploy_phases_accept_post_migrations_that_drop_what_the_new_code_dropped() {
    let (_, before) = json(&["lint", "examples/bookshop", "--format", "json"]);
    let (_, phased) = json(&[
        "lint",
        "examples/bookshop",
        "--format",
        "json",
        "--deploy-phases",
    ]);
    let rules = rules_of(&before);
    assert!(rules.iter().any(|r| r == "drop-column") && rules.iter().any(|r| r == "drop-table"));
    let rules = rules_of(&phased);
    assert!(
        !rules
            .iter()
            .any(|r| r == "drop-column" || r == "drop-table"),
        "{rules:?}"
    );
    // Everything else stands.
    assert!(rules.iter().any(|r| r == "rename-column"));
}

#[test]
fn sarif_output_lists_rules_and_results() {
    let r = run(&["lint", "examples/bookshop", "--format", "sarif"]);
    assert_eq!(r.code, 1);
    let doc: Value = serde_json::from_str(&r.stdout).expect("SARIF is JSON");
    assert_eq!(doc["version"], "2.1.0");
    let run0 = &doc["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().expect("rules");
    assert!(rules.iter().any(|r| r["id"] == "drop-column"
        && r["helpUri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/rules/drop-column.html"))));
    let results = run0["results"].as_array().expect("results");
    let (_, doc_json) = json(&["lint", "examples/bookshop", "--format", "json"]);
    assert_eq!(
        results.len(),
        doc_json["findings"].as_array().map_or(0, Vec::len)
    );
    let rename = results
        .iter()
        .find(|r| r["ruleId"] == "rename-column")
        .expect("rename result");
    let loc = &rename["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "examples/bookshop/catalog/migrations/0006_rename_author_name.py"
    );
    assert_eq!(loc["region"]["startLine"], 14);
    let index = rename["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(rules[index]["id"], "rename-column");
}

/// Every finding of `lint --all` on `dir`, keyed by file, as (rule, line, message).
fn findings_by_file(doc: &Value) -> std::collections::BTreeMap<String, Vec<(String, u64, String)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(String, u64, String)>> =
        std::collections::BTreeMap::new();
    for f in doc["findings"].as_array().into_iter().flatten() {
        out.entry(f["path"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push((
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["message"].as_str().unwrap_or_default().to_string(),
            ));
    }
    out
}

#[test]
fn a_named_file_gets_the_same_findings_as_in_a_full_run() {
    // Naming files loads only the apps their history needs; the verdict must not change.
    for dir in [
        "examples/bookshop",
        "fixtures/recipes",
        "fixtures/squashed",
        "fixtures/custom_user",
    ] {
        let mut args = vec!["lint", dir, "--all", "--format", "json"];
        if dir.ends_with("custom_user") {
            args.extend(["--auth-user-model", "accounts.User"]);
        }
        let (_, all) = json(&args);
        let all = findings_by_file(&all);
        for m in all_doc_migrations(dir) {
            let mut args = vec!["lint", m.as_str(), "--format", "json"];
            if dir.ends_with("custom_user") {
                args.extend(["--auth-user-model", "accounts.User"]);
            }
            let (_, one) = json(&args);
            let one = findings_by_file(&one);
            assert_eq!(
                one.get(&m),
                all.get(&m),
                "{m}: a focused run disagrees with the full run"
            );
        }
    }
}

fn all_doc_migrations(dir: &str) -> Vec<String> {
    let (_, doc) = json(&[
        "lint",
        dir,
        "--all",
        "--format",
        "json",
        "--select",
        "syntax-error",
    ]);
    doc["migrations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["path"].as_str().map(str::to_string))
        .collect()
}

/// A lint-only build (`cargo build --no-default-features --features lint`, the pre-commit
/// hook's source build) lints, and says what its missing commands need.
#[cfg(not(feature = "ecs"))]
#[test]
fn a_lint_only_build_says_which_feature_run_and_deploy_need() {
    for (args, code) in [
        (&["run", "--backend", "local"][..], 125),
        (&["deploy", "--cluster", "prod"][..], 125),
        (&["comment", "--dry-run"][..], 2),
        (&["ci"][..], 2),
    ] {
        let out = migrail().args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.contains("this migrail was built without the `")
                && stderr.contains("(a lint-only build)")
                && stderr.contains("pip install migrail"),
            "{args:?}: {stderr}"
        );
    }
    let out = migrail()
        .args(["lint", "examples/bookshop"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "the linter is all there");
}

/// `migrail fix` with no argument, on a branch: only what the branch adds is rewritten;
/// the base branch's unsafe migrations (applied in production) are left alone, and one
/// the branch edits is listed as applied, not fixed.
#[test]
fn fix_without_arguments_touches_only_what_the_branch_adds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path();
    copy_dir(&repo().join("examples/bookshop"), project);
    git(project, &["init", "-q", "-b", "main"]);
    git(project, &["add", "."]);
    git(project, &["commit", "-q", "-m", "initial"]);
    git(project, &["checkout", "-q", "-b", "feature"]);
    let added = "catalog/migrations/0008_book_title_index.py";
    std::fs::write(
        project.join(added),
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    \
         dependencies = [(\"catalog\", \"0007_book_isbn_unique\")]\n    operations = [\n        \
         migrations.AddIndex(\"book\", models.Index(fields=[\"title\"], name=\"book_title_idx\")),\n    ]\n",
    )
    .expect("write");
    // An edit of a migration main has: applied in production, never rewritten.
    let applied = project.join("catalog/migrations/0007_book_isbn_unique.py");
    let text = std::fs::read_to_string(&applied).expect("read");
    std::fs::write(&applied, format!("{text}# reviewed\n")).expect("write");

    let r = run_in(project, &["fix", "--no-config"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("since main (merge base "),
        "the scope is printed: {}",
        r.stderr
    );
    assert!(
        r.stdout.contains("Fixed 1 finding in 1 migration"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("0007_book_isbn_unique.py:")
            && r.stdout.contains("applied: main has it already"),
        "{}",
        r.stdout
    );
    let fixed = std::fs::read_to_string(project.join(added)).expect("read");
    assert!(fixed.contains("AddIndexConcurrently"), "{fixed}");
    let status = std::process::Command::new("git")
        .current_dir(project)
        .args(["status", "--porcelain"])
        .output()
        .expect("git status");
    let status = String::from_utf8_lossy(&status.stdout);
    let touched: Vec<&str> = status.lines().map(|l| l[3..].trim()).collect();
    assert_eq!(
        touched,
        ["catalog/migrations/0007_book_isbn_unique.py", added],
        "nothing else is touched"
    );
    assert!(
        std::fs::read_to_string(&applied)
            .expect("read")
            .ends_with("# reviewed\n"),
        "the applied migration keeps the user's text"
    );

    // A second run has nothing left to do.
    let again = run_in(project, &["fix", "--no-config", "--diff"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

/// Where migrail cannot tell what has shipped, `fix` without a scope refuses, and `--all`
/// warns once.
#[test]
fn fix_outside_git_asks_for_a_scope_and_all_warns() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&repo().join("examples/bookshop"), dir.path());
    let r = run_in(dir.path(), &["fix", "--no-config"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not a git work tree") && r.stderr.contains("--all"),
        "{}",
        r.stderr
    );
    let r = run_in(dir.path(), &["fix", "--no-config", "--all", "--diff"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr
            .matches("a migration a database applied must not be rewritten")
            .count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn sql_prints_what_django_runs_with_each_lock() {
    let r = run(&["sql", "examples/bookshop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("example_sql", r.stdout);
    // A widening type change is no rewrite; a table created in the migration makes
    // nothing wait.
    assert!(
        r.stdout.contains(
            "ALTER TABLE \"catalog_book\" ALTER COLUMN \"title\" TYPE varchar(300);\n-- lock: ACCESS EXCLUSIVE on \"catalog_book\", no rewrite (the type widens in place)"
        ),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("on a table this migration creates: nothing waits"));

    // APP NAME, as sqlmigrate takes them; a unique prefix is enough.
    let one = run(&["sql", "--root", "examples/bookshop", "catalog", "0006"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout
            .starts_with("-- catalog.0006_rename_author_name\nBEGIN;\n")
            && one.stdout.contains(
                "ALTER TABLE \"catalog_author\" RENAME COLUMN \"name\" TO \"full_name\";"
            )
            && one.stdout.matches("\nBEGIN;").count() == 1,
        "{}",
        one.stdout
    );
    let none = run(&["sql", "--root", "examples/bookshop", "catalog", "0099"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("no migration `0099` in app `catalog`"),
        "{}",
        none.stderr
    );
    let several = run(&["sql", "--root", "examples/bookshop", "catalog", "000"]);
    assert_eq!(several.code, 2);
    assert!(
        several.stderr.contains("names 7 migrations of `catalog`"),
        "{}",
        several.stderr
    );

    // JSON: each statement with its lock; what is not rendered says why.
    let (code, doc) = json(&["sql", "examples/bookshop", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(doc["version"], 1);
    let m = |app: &str, name: &str| {
        doc["migrations"]
            .as_array()
            .and_then(|l| l.iter().find(|m| m["app"] == app && m["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let drop = m("shop_orders", "0005_delete_coupon");
    let statements = &drop["operations"][0]["statements"];
    assert_eq!(
        statements[2]["sql"],
        "ALTER TABLE \"shop_orders_order\" DROP COLUMN \"coupon_id\" CASCADE"
    );
    assert_eq!(statements[2]["lock"]["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(statements[2]["lock"]["tables"][0], "shop_orders_order");
    // A database default is the column's DEFAULT, never dropped afterwards.
    let isbn = m("catalog", "0003_book_isbn");
    assert_eq!(
        isbn["operations"][0]["statements"][0]["sql"],
        "ALTER TABLE \"catalog_book\" ADD COLUMN \"isbn\" varchar(13) DEFAULT '' NOT NULL"
    );
    assert_eq!(
        isbn["operations"][0]["statements"].as_array().map(Vec::len),
        Some(1)
    );
    // A unique constraint added by AlterField, with its `_like` index.
    let unique = m("catalog", "0007_book_isbn_unique");
    assert_eq!(
        unique["operations"][0]["statements"][1]["sql"],
        "CREATE INDEX \"catalog_book_isbn_30805834_like\" ON \"catalog_book\" (\"isbn\" varchar_pattern_ops)"
    );
    // The type of a positive integer (its CHECK is dropped and added again): said, not
    // guessed.
    let quantity = m("shop_orders", "0004_orderline_quantity_bigint");
    assert!(quantity["operations"][0]["statements"].is_null());
    assert!(quantity["operations"][0]["unrendered"]
        .as_str()
        .is_some_and(|w| w.contains("AlterField")));
    assert!(quantity["deferred"].is_null() && quantity["deferred_unrendered"].is_string());
}
