//! migrail on seven real Django applications (`scripts/fetch-realprojects.sh`: geonode,
//! tendenci, arches, evennia, wger, pulp_rpm, django-helpdesk; about 1,400 migration
//! files with squashes beside the migrations they replace, AppConfigs outside `apps.py`,
//! RunSQL, Django 1.x-era and GeneratedField-era files).
//!
//! For each application, `migrail lint --all` must:
//! - load every module Django's loader would import from the app's migrations packages
//!   (listed by Python's own `pkgutil.iter_modules`, filtered as Django filters it);
//! - read every file (no `syntax-error`), label every app so that no two folders collide
//!   (no `duplicate-app-label`) and find one leaf per app where the project has one;
//! - report nothing above a note inside a squash (squashes run on fresh databases only).
//!
//! The counts per rule are printed, for the README's accuracy section. Needs `python3`
//! (with venv) and PyPI; the applications go to `$MIGRAIL_REALPROJECTS` (default: a
//! cache under `target/`).

#[path = "support/git.rs"]
mod git;
#[path = "support/venv.rs"]
mod venv;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A python with pip (the throwaway virtualenv of the Django tests).
fn python() -> PathBuf {
    venv::venv("django-venv", &repo().join("tests/django/requirements.txt")).join("python")
}

fn output(what: &str, cmd: &mut Process) -> String {
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

/// The unpacked applications, fetched once per process: the tests run on parallel threads
/// and two unpacking the same wheel at once collide.
fn projects() -> Vec<PathBuf> {
    static PROJECTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    PROJECTS
        .get_or_init(|| {
            let cache = std::env::var_os("MIGRAIL_REALPROJECTS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("realprojects"));
            let printed = output(
                "scripts/fetch-realprojects.sh",
                Process::new("bash")
                    .arg(repo().join("scripts/fetch-realprojects.sh"))
                    .arg(&cache)
                    .env("PYTHON", python()),
            );
            let src = PathBuf::from(printed.trim());
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&src)
                .expect("the unpacked applications")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            dirs.sort();
            dirs
        })
        .clone()
}

/// What Django's loader imports: for every `migrations` package (a folder with
/// `__init__.py`), `pkgutil.iter_modules` minus packages and names starting with `_`/`~`.
const DJANGO_MODULES: &str = r#"
import os, pkgutil, sys
root = sys.argv[1]
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__",))
    if os.path.basename(dirpath) != "migrations" or "__init__.py" not in filenames:
        continue
    for info in pkgutil.iter_modules([dirpath]):
        if not info.ispkg and info.name[0] not in "_~":
            print(os.path.relpath(os.path.join(dirpath, info.name + ".py"), root))
"#;

fn lint(project: &Path) -> Value {
    let out = Command::cargo_bin("migrail")
        .expect("the migrail binary is built")
        .current_dir(project)
        .args(["lint", "--all", "--no-config", "--format", "json", "."])
        .output()
        .expect("migrail runs");
    let code = out.status.code().expect("an exit code (no panic)");
    assert!(code == 0 || code == 1, "{}: exit {code}", project.display());
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

#[test]
fn real_projects_are_read_whole_and_squashes_are_quiet() {
    let projects = projects();
    assert_eq!(projects.len(), 7, "{projects:?}");
    let mut by_rule: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut total_files = 0;
    let mut problems = Vec::new();
    for project in &projects {
        let name = project
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let expected: BTreeSet<String> = output(
            "pkgutil listing",
            Process::new(python())
                .args(["-c", DJANGO_MODULES])
                .arg(project),
        )
        .lines()
        .map(str::to_string)
        .collect();
        let doc = lint(project);
        let found: BTreeSet<String> = doc["migrations"]
            .as_array()
            .expect("migrations")
            .iter()
            .filter_map(|m| m["path"].as_str().map(str::to_string))
            .collect();
        total_files += found.len();
        if found != expected {
            problems.push(format!(
                "{name}: Django loads but migrail misses {:?}; migrail loads but Django does not {:?}",
                expected.difference(&found).collect::<Vec<_>>(),
                found.difference(&expected).collect::<Vec<_>>()
            ));
        }
        // The squashes of the project: files with a `replaces` list.
        let squashes: BTreeSet<&String> = found
            .iter()
            .filter(|p| {
                std::fs::read_to_string(project.join(p))
                    .is_ok_and(|t| t.contains("replaces = [") || t.contains("replaces=["))
            })
            .collect();
        for f in doc["findings"].as_array().expect("findings") {
            let rule = f["rule"].as_str().unwrap_or_default();
            let severity = f["severity"].as_str().unwrap_or_default();
            let path = f["path"].as_str().unwrap_or_default().to_string();
            let where_ = format!("{name}/{path}:{}", f["line"]);
            if matches!(
                rule,
                "syntax-error" | "duplicate-app-label" | "circular-dependency"
            ) {
                problems.push(format!("{where_}: {rule}: {}", f["message"]));
            }
            if severity == "error" && squashes.contains(&path) {
                problems.push(format!(
                    "{where_}: error inside a squash: {rule}: {}",
                    f["message"]
                ));
            }
            let entry = by_rule.entry(rule.to_string()).or_default();
            if severity == "info" {
                entry.1 += 1;
            } else {
                entry.0 += 1;
            }
        }
        println!(
            "{name}: {} migration files, {} squashes, {} findings",
            found.len(),
            squashes.len(),
            doc["findings"].as_array().map_or(0, Vec::len)
        );
    }
    println!("{total_files} migration files; findings per rule (above notes, notes):");
    for (rule, (shown, notes)) in &by_rule {
        println!("  {rule}: {shown}, {notes}");
    }
    assert!(total_files >= 1_300, "only {total_files} files found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Copy `from` into `to` (files and folders).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The graph and syntax errors of a lint report, counted by (rule, app).
fn broken(doc: &Value) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for f in doc["findings"].as_array().into_iter().flatten() {
        let rule = f["rule"].as_str().unwrap_or_default();
        if matches!(
            rule,
            "syntax-error" | "multiple-leaf-nodes" | "circular-dependency" | "missing-dependency"
        ) {
            let app = f["app"].as_str().unwrap_or_default().to_string();
            *out.entry((rule.to_string(), app)).or_insert(0) += 1;
        }
    }
    out
}

/// `migrail fix --all --include-applied` at the root of each real application (the worst
/// case: every migration of the history, squashes beside what they replace): every file
/// it writes compiles with Python, `migrail lint` afterwards finds no syntax or graph error
/// that was not there before (so every app keeps its leaves), nothing inside a squash or
/// a migration it replaces changes, and a second run changes nothing.
#[test]
fn fixing_every_migration_of_a_real_application_keeps_it_whole() {
    let compile = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f, encoding='utf-8').read(), f, 'exec')\nprint(len(sys.argv) - 1)\n";
    let mut fixed_total = 0;
    for project in projects() {
        let name = project
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let work = tempfile::tempdir().expect("tempdir");
        copy_tree(&project, work.path());
        let before = lint(work.path());
        let run = |args: &[&str]| {
            Command::cargo_bin("migrail")
                .expect("binary")
                .current_dir(work.path())
                .args(args)
                .output()
                .expect("migrail fix runs")
        };
        let out = run(&["fix", "--all", "--include-applied", "--no-config", "."]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = out.status.code().expect("an exit code (no panic)");
        assert!(
            code == 0 || code == 1,
            "{name}: exit {code}\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("edited: ")
                    .or_else(|| l.trim().strip_prefix("new: "))
            })
            .map(str::to_string)
            .collect();
        if !written.is_empty() {
            output(
                &format!("{name}: python compile() of the written files"),
                Process::new(python())
                    .current_dir(work.path())
                    .args(["-c", compile])
                    .args(&written),
            );
        }
        assert!(
            !text.contains("dropped: "),
            "{name}: a fix failed validation (a bug to fix, not to hide):\n{text}"
        );
        let after = lint(work.path());
        assert_eq!(
            broken(&before),
            broken(&after),
            "{name}: the fixes broke files or the graph:\n{text}"
        );
        // Squashes and what they replace keep their text.
        let paths: Vec<String> = before["migrations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["path"].as_str().map(str::to_string))
            .collect();
        // (folder, name) of every migration a squash of that folder replaces.
        let folder = |p: &str| {
            Path::new(p)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        let mut replaced: BTreeSet<(PathBuf, String)> = BTreeSet::new();
        for path in &paths {
            let text = std::fs::read_to_string(project.join(path)).unwrap_or_default();
            if let Some(at) = text.find("replaces") {
                let block = &text[at..];
                let end = block.find("]\n").unwrap_or(block.len());
                replaced.extend(
                    block[..end]
                        .split(['"', '\''])
                        .skip(1)
                        .step_by(2)
                        .map(|name| (folder(path), name.to_string())),
                );
            }
        }
        for path in &paths {
            let original = std::fs::read_to_string(project.join(path)).unwrap_or_default();
            let is_squash = original.contains("replaces = [") || original.contains("replaces=[");
            let stem = Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if is_squash || replaced.contains(&(folder(path), stem)) {
                let now = std::fs::read_to_string(work.path().join(path)).unwrap_or_default();
                assert_eq!(
                    original, now,
                    "{name}: {path} (squash or replaced) was rewritten"
                );
            }
        }
        let again = run(&[
            "fix",
            "--all",
            "--include-applied",
            "--no-config",
            "--diff",
            ".",
        ]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{name}: a second run changes nothing:\n{}",
            String::from_utf8_lossy(&again.stdout)
        );
        println!(
            "{name}: {} files written\n{}",
            written.len(),
            text.lines().next().unwrap_or_default()
        );
        fixed_total += written.len();
    }
    assert!(
        fixed_total > 0,
        "the real applications have something to fix"
    );
}

/// Every migration of every application reformatted by Python itself (`ast.unparse`:
/// quotes, comments, line breaks, parentheses, trailing commas all change) is the same
/// migration to `edited-applied-migration`; one value changed is reported.
#[test]
fn an_applied_migration_reformatted_is_not_edited_and_one_value_changed_is() {
    for project in projects() {
        let work = tempfile::tempdir().expect("tempdir");
        copy_tree(&project, work.path());
        git::git(work.path(), &["init", "-q", "-b", "main"]);
        git::git(work.path(), &["add", "-A"]);
        git::git(work.path(), &["commit", "-q", "-m", "applied"]);
        let changed = output(
            "ast.unparse",
            Process::new(python()).current_dir(work.path()).args([
                "-c",
                "import ast, pathlib\n\
                 n = 0\n\
                 for p in sorted(pathlib.Path('.').rglob('migrations/*.py')):\n\
                 \x20   if p.name != '__init__.py':\n\
                 \x20       p.write_text(ast.unparse(ast.parse(p.read_text())) + '\\n'); n += 1\n\
                 print(n)",
            ]),
        );
        let changed: usize = changed.trim().parse().expect("a count");
        let lint = |dir: &Path| -> Value {
            let out = Command::cargo_bin("migrail")
                .expect("the migrail binary is built")
                .current_dir(dir)
                .args([
                    "lint",
                    "--base",
                    "main",
                    "--no-config",
                    "--select",
                    "edited-applied-migration",
                    "--format",
                    "json",
                ])
                .output()
                .expect("migrail runs");
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
                panic!(
                    "{}: {}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        };
        let doc = lint(work.path());
        let reviewed = doc["migrations"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["reviewed"] == true).count());
        assert!(
            reviewed > 0 && changed > 0,
            "{}: {reviewed} reviewed",
            project.display()
        );
        assert_eq!(
            doc["findings"],
            serde_json::json!([]),
            "{}",
            project.display()
        );
        // One operation edited in the first reformatted file that has a `max_length=`.
        let edited = walk_py(work.path())
            .into_iter()
            .filter(|p| p.parent().is_some_and(|d| d.ends_with("migrations")))
            .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("max_length=")))
            .expect("a migration with a max_length");
        let text = std::fs::read_to_string(&edited).expect("read");
        std::fs::write(&edited, text.replacen("max_length=", "max_length=1 + ", 1)).expect("write");
        let doc = lint(work.path());
        let found = doc["findings"].as_array().cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "{}: {found:?}", project.display());
        assert!(
            found[0]["help"]
                .as_str()
                .is_some_and(|h| h.contains("max_length=1 + ")),
            "{found:?}"
        );
        println!(
            "{}: {changed} migrations reformatted, none reported; one edit reported",
            project.display()
        );
    }
}

fn walk_py(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() && entry.file_name() != ".git" {
            out.extend(walk_py(&path));
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// One suggestion of `migrail comment --dry-run` (stderr): the file, its lines, the code,
/// and the (rule, message) of the findings it fixes.
struct Suggested {
    path: String,
    first: usize,
    last: usize,
    code: String,
    /// (path, rule, message) of the findings it fixes, or whose fix it is a part of.
    fixes: Vec<(String, String, String)>,
}

fn suggestions_of(stderr: &str) -> Vec<Suggested> {
    const HEAD: &str = "migrail: --dry-run: a review suggestion on ";
    let mut out = Vec::new();
    for part in stderr.split(HEAD).skip(1) {
        let (line, body) = part.split_once(":\n").expect("a header line");
        let (path, lines) = line.rsplit_once(" lines ").expect("lines");
        let (first, last) = lines.split_once('-').expect("a range");
        // The block: from the line ending in `suggestion` to its closing fence.
        let open = body.find("suggestion\n").expect("a suggestion block");
        let fence_start = body[..open].rfind('\n').map_or(0, |i| i + 1);
        let fence = &body[fence_start..open];
        let rest = &body[open + "suggestion\n".len()..];
        let end = if rest.starts_with(fence) {
            0
        } else {
            rest.find(&format!("\n{fence}\n")).expect("a closing fence") + 1
        };
        let unescape = |s: &str| {
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        };
        let mut fixes = Vec::new();
        for l in body[..fence_start].lines() {
            if let Some(l) = l.strip_prefix("**migrail** `") {
                let (sev_rule, message) = l.split_once("` ").expect("severity[rule]");
                let rule = sev_rule
                    .split_once('[')
                    .expect("[rule]")
                    .1
                    .trim_end_matches(']');
                fixes.push((path.to_string(), rule.to_string(), unescape(message)));
            } else if let Some(l) = l.strip_prefix("**migrail** part of the fix of `") {
                // `sev[rule]` in `PATH` (line N): MESSAGE
                let (sev_rule, rest) = l.split_once("` in `").expect("in");
                let (other, rest) = rest.split_once("` (line ").expect("line");
                let message = rest.split_once("): ").expect("message").1;
                let rule = sev_rule
                    .split_once('[')
                    .expect("[rule]")
                    .1
                    .trim_end_matches(']');
                fixes.push((other.to_string(), rule.to_string(), unescape(message)));
            }
        }
        out.push(Suggested {
            path: path.to_string(),
            first: first.parse().expect("a number"),
            last: last.parse().expect("a number"),
            code: rest[..end].to_string(),
            fixes,
        });
    }
    out
}

/// `text` with lines `first..=last` replaced by `code` ("Commit suggestion").
fn commit_suggestion(text: &str, first: usize, last: usize, code: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = lines[..first - 1].to_vec();
    out.extend(code.lines());
    out.extend(&lines[last.min(lines.len())..]);
    out.join("\n") + "\n"
}

/// The review suggestions `migrail comment` would post for every migration of each real
/// application: each one committed alone leaves a file Python compiles, its lines hold
/// what they hold in the file, and with all of them committed the findings they fix are
/// gone and no syntax or graph error appeared.
#[test]
fn suggestions_on_real_applications_compile_alone_and_fix_their_findings() {
    let mut total = 0;
    for project in projects() {
        let name = project
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let work = tempfile::tempdir().expect("tempdir");
        copy_tree(&project, work.path());
        let out = Command::cargo_bin("migrail")
            .expect("binary")
            .current_dir(work.path())
            .args(["comment", "--dry-run", "--all", "--no-config", "."])
            .output()
            .expect("migrail comment runs");
        assert_eq!(out.status.code(), Some(0), "{name}: no panic, no error");
        let found = suggestions_of(&String::from_utf8_lossy(&out.stderr));
        let before = lint(work.path());
        // Each alone: a variant of its file, compiled.
        let variants = tempfile::tempdir().expect("tempdir");
        let mut names = Vec::new();
        let mut by_file: BTreeMap<&str, Vec<&Suggested>> = BTreeMap::new();
        for (i, s) in found.iter().enumerate() {
            let text = std::fs::read_to_string(work.path().join(&s.path)).expect("the file");
            assert!(
                s.last <= text.lines().count(),
                "{name}: {}: lines {}-{} past the end",
                s.path,
                s.first,
                s.last
            );
            let variant = variants.path().join(format!("v{i}.py"));
            std::fs::write(&variant, commit_suggestion(&text, s.first, s.last, &s.code))
                .expect("write");
            names.push(variant.to_string_lossy().into_owned());
            by_file.entry(&s.path).or_default().push(s);
        }
        if !names.is_empty() {
            output(
                &format!("{name}: python compile() of each suggestion committed alone"),
                Process::new(python())
                    .args(["-c", "import sys\nfor f in sys.argv[1:]:\n    compile(open(f, encoding='utf-8').read(), f, 'exec')\n"])
                    .args(&names),
            );
        }
        // All of them: from the bottom of each file up (they never overlap).
        for (path, mut list) in by_file {
            list.sort_by_key(|s| std::cmp::Reverse(s.first));
            for pair in list.windows(2) {
                assert!(
                    pair[1].last < pair[0].first,
                    "{name}: {path}: suggestions overlap"
                );
            }
            let file = work.path().join(path);
            let mut text = std::fs::read_to_string(&file).expect("read");
            for s in list {
                text = commit_suggestion(&text, s.first, s.last, &s.code);
            }
            std::fs::write(&file, text).expect("write");
        }
        let after = lint(work.path());
        assert_eq!(
            broken(&before),
            broken(&after),
            "{name}: the suggestions broke files or the graph"
        );
        let keys = |doc: &Value| -> BTreeSet<(String, String, String)> {
            doc["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                    (s("path"), s("rule"), s("message"))
                })
                .collect()
        };
        let (was, left) = (keys(&before), keys(&after));
        for s in &found {
            assert!(
                !s.fixes.is_empty(),
                "{name}: {}: a suggestion fixes a finding",
                s.path
            );
            for key in &s.fixes {
                assert!(
                    was.contains(key),
                    "{name}: {}: {key:?}: the suggestion names a finding of the lint",
                    s.path
                );
                assert!(
                    !left.contains(key),
                    "{name}: {}: {key:?} is left after its suggestion:\n{}",
                    s.path,
                    s.code
                );
            }
        }
        println!("{name}: {} suggestions", found.len());
        total += found.len();
    }
    assert!(total > 0, "the real applications get suggestions");
}
