//! Where users run migrail: the GitHub Action (`action.yml` and its scripts), the
//! CodeBuild buildspec, the pre-commit hook (with the real `pre-commit try-repo`) and the
//! wheel (`maturin build`, installed into a fresh virtualenv). Python tools come from
//! PyPI, pinned in tests/ship/requirements.txt, in a throwaway virtualenv. The wheel and
//! the hook are built with the dev profile into this build's target directory, so they
//! reuse what `cargo test` compiled.

#![cfg(unix)]

#[path = "support/git.rs"]
mod git;
#[path = "support/http.rs"]
mod http;
#[path = "support/venv.rs"]
mod venv;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use git::git;
use migrail::cli::Cli;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    venv::venv("ship-venv", &repo().join("tests/ship/requirements.txt"))
}

fn helper(args: &[&str]) -> Value {
    let out = Command::new(bin().join("python"))
        .arg(repo().join("tests/ship/helper.py"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("helper runs");
    assert!(
        out.status.success(),
        "helper {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// maturin copies what it builds to `target/maturin/`: one build at a time.
static MATURIN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The target directory `cargo test` builds into.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

#[test]
fn every_migrail_command_in_the_buildspec_and_the_readme_parses() {
    let commands = helper(&["commands", "buildspec.yml"]);
    let commands = commands.as_array().expect("a list");
    assert!(commands.len() >= 4, "{commands:?}");
    // The README and every page of the manual.
    let mut pages = vec!["README.md".to_string()];
    let mut folders = vec![repo().join("docs/src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("docs/src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let relative = path.strip_prefix(repo()).expect("in the repository");
                pages.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let documented: Vec<Value> = pages
        .iter()
        .map(|page| helper(&["commands", page]))
        .collect();
    let all: Vec<&Value> = commands
        .iter()
        .chain(
            documented
                .iter()
                .flat_map(|c| c.as_array().expect("a list")),
        )
        .collect();
    assert!(all.len() > 15, "commands found: {}", all.len());
    for argv in all {
        let argv: Vec<String> = serde_json::from_value(argv.clone()).expect("strings");
        if argv.iter().any(|a| a == "...") {
            continue; // an elided example
        }
        if let Err(e) = Cli::try_parse_from(&argv) {
            if !matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayVersion | clap::error::ErrorKind::DisplayHelp
            ) {
                panic!("{argv:?} does not parse: {e}");
            }
        }
    }
    let spec = helper(&["json", "buildspec.yml"]);
    assert_eq!(spec["version"], 0.2);
    assert!(
        spec["env"]["secrets-manager"]["GITHUB_TOKEN"].is_string(),
        "the token comes from Secrets Manager"
    );
}

#[test]
fn the_action_passes_inputs_through_env_and_execs_migrail() {
    let action = helper(&["json", "action.yml"]);
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().expect("steps");
    let inputs: Vec<&String> = action["inputs"]
        .as_object()
        .expect("inputs")
        .keys()
        .collect();
    let mut env_text = String::new();
    for step in steps {
        let run = step["run"].as_str().unwrap_or_default();
        assert!(!run.contains("${{"), "no expression inside a script: {run}");
        env_text.push_str(&step["env"].to_string());
    }
    for input in inputs {
        if input == "version" || input == "working-directory" {
            continue;
        }
        assert!(
            env_text.contains(&format!("inputs.{input} }}")),
            "input `{input}` is not passed through env"
        );
    }
    for output in [
        "verdict",
        "task-arn",
        "exit-code",
        "step",
        "lint-verdict",
        "comment-url",
    ] {
        assert_eq!(
            action["outputs"][output]["value"],
            format!("${{{{ steps.migrail.outputs.{output} }}}}")
        );
    }
    let script = std::fs::read_to_string(repo().join(".github/action/run.sh")).expect("run.sh");
    assert!(
        script.contains("exec migrail \"${args[@]}\""),
        "exec, so cancel signals reach migrail"
    );
}

fn action_run(env: &[(&str, &str)]) -> (i32, String, String) {
    let path = format!(
        "{}:{}",
        Path::new(env!("CARGO_BIN_EXE_migrail"))
            .parent()
            .expect("dir")
            .display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(repo().join(".github/action/run.sh"));
    cmd.current_dir(repo())
        .env_clear()
        .env("PATH", path)
        .env("HOME", env!("CARGO_TARGET_TMPDIR"));
    for k in [
        "INPUT_COMMAND",
        "INPUT_BASE",
        "INPUT_PATHS",
        "INPUT_FORMAT",
        "INPUT_CLUSTER",
        "INPUT_SERVICE",
        "INPUT_SERVICES",
        "INPUT_TASK_DEFINITION",
        "INPUT_IMAGE",
        "INPUT_CONTAINER",
        "INPUT_RUN_COMMAND",
        "INPUT_TIMEOUT",
        "INPUT_PREFLIGHT",
        "INPUT_SUGGESTIONS",
        "INPUT_KEY",
        "INPUT_ARGS",
    ] {
        cmd.env(k, "");
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run.sh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_actions_script_builds_the_command_line_without_evaluating_inputs() {
    let (code, stdout, stderr) = action_run(&[
        ("INPUT_COMMAND", "lint"),
        ("INPUT_FORMAT", "json"),
        ("INPUT_PATHS", "examples/bookshop"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(doc["summary"]["errors"], 6);

    let (code, _, stderr) = action_run(&[
        ("INPUT_COMMAND", "run"),
        ("INPUT_ARGS", "--backend local"),
        ("INPUT_TIMEOUT", "1m"),
        ("INPUT_RUN_COMMAND", "sh -c exit"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("migrail: run succeeded"), "{stderr}");
    // `preflight` becomes --preflight (`sh -c exit` is not migrate: `only` is refused).
    let (code, _, stderr) = action_run(&[
        ("INPUT_COMMAND", "run"),
        ("INPUT_ARGS", "--backend local"),
        ("INPUT_PREFLIGHT", "only"),
        ("INPUT_RUN_COMMAND", "sh -c exit"),
    ]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("--preflight only checks what"), "{stderr}");

    // `suggestions: false` becomes --no-suggestions (a dry run shows them on stderr).
    for (value, shown) in [("", true), ("false", false)] {
        let (code, _, stderr) = action_run(&[
            ("INPUT_COMMAND", "comment"),
            ("INPUT_PATHS", "examples/bookshop"),
            ("INPUT_SUGGESTIONS", value),
            ("INPUT_ARGS", "--dry-run"),
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            stderr.contains("a review suggestion on"),
            shown,
            "{value}: {stderr}"
        );
    }
    let (code, _, stderr) = action_run(&[("INPUT_COMMAND", "ci"), ("INPUT_SUGGESTIONS", "no")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("input suggestions: expected true or false"),
        "{stderr}"
    );

    // An input is data, never shell: no command substitution happens.
    let marker = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pwned");
    let _ = std::fs::remove_file(&marker);
    let evil = format!("$(touch {})", marker.display());
    let (code, _, stderr) = action_run(&[("INPUT_COMMAND", "lint"), ("INPUT_PATHS", &evil)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!marker.exists(), "the input was evaluated");
    let (code, _, stderr) = action_run(&[("INPUT_COMMAND", "deploi")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown command 'deploi'"), "{stderr}");
    // `services` becomes one --service flag per word (the second one is malformed).
    let (code, _, stderr) = action_run(&[
        ("INPUT_COMMAND", "deploy"),
        ("INPUT_CLUSTER", "prod"),
        ("INPUT_SERVICES", "web =worker:8"),
        ("INPUT_TASK_DEFINITION", "web:43"),
    ]);
    assert_eq!(code, 125, "{stderr}");
    assert!(
        stderr.contains("--service `=worker:8`: expected NAME, CLUSTER/NAME"),
        "{stderr}"
    );
    // `image` becomes one --image flag per word (here beside a task definition: refused).
    let (code, _, stderr) = action_run(&[
        ("INPUT_COMMAND", "deploy"),
        ("INPUT_CLUSTER", "prod"),
        ("INPUT_SERVICES", "web"),
        ("INPUT_IMAGE", "web=repo/shop:abc worker=repo/shop:abc"),
        ("INPUT_TASK_DEFINITION", "web:43"),
    ]);
    assert_eq!(code, 125, "{stderr}");
    assert!(
        stderr.contains("--image and --task-definition exclude each other"),
        "{stderr}"
    );
}

/// A loopback HTTP server for a release directory: `GET /vVERSION/FILE` serves `dir/FILE`;
/// counts the downloads.
struct Releases {
    url: String,
    gets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn serve_releases(dir: &Path) -> Releases {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (dir, counter) = (dir.to_path_buf(), std::sync::Arc::clone(&gets));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { break };
            let Ok(write_half) = conn.try_clone() else {
                continue;
            };
            let mut reader = std::io::BufReader::new(conn);
            let mut writer = write_half;
            while let Some(req) = http::read_request(&mut reader) {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let name = req
                    .target
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let response = match std::fs::read(dir.join(&name)) {
                    Ok(body) if !name.is_empty() => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/gzip\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
                };
                if writer.write_all(&response).is_err() {
                    break;
                }
            }
        }
    });
    Releases { url, gets }
}

fn script(name: &str) -> Command {
    let mut cmd = Command::new(repo().join("scripts/release").join(name));
    cmd.current_dir(repo())
        .env("MIGRAIL_PROFILE", "dev")
        .env("CARGO_TARGET_DIR", target_dir());
    cmd
}

fn stdout_of(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_release_dry_run_packages_serves_and_installs_through_the_actions_installer() {
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let dist = tempfile::tempdir().expect("tempdir");
    // Built and packaged the way release.yml does: the same script, this machine's target.
    let archive = {
        let _build = MATURIN.lock().unwrap_or_else(|e| e.into_inner());
        PathBuf::from(
            stdout_of("build.sh", script("build.sh").arg("host").arg(dist.path()))
                .trim()
                .to_string(),
        )
    };
    let name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .expect("archive name")
        .to_string();
    let target = name
        .strip_prefix(&format!("migrail-{version}-"))
        .and_then(|t| t.strip_suffix(".tar.gz"))
        .expect("migrail-VERSION-TARGET.tar.gz")
        .to_string();
    let listing = stdout_of("tar -t", Command::new("tar").arg("-tzf").arg(&archive));
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(files, ["LICENSE", "README.md", "migrail"]);
    let sums = stdout_of(
        "checksums.sh",
        Command::new(repo().join("scripts/release/checksums.sh")).arg(dist.path()),
    );
    assert_eq!(
        std::fs::read_to_string(dist.path().join("SHA256SUMS")).expect("SHA256SUMS"),
        sums
    );
    assert!(sums.ends_with(&format!("  {name}\n")), "{sums}");

    let releases = serve_releases(dist.path());
    let work = tempfile::tempdir().expect("tempdir");
    let table = work.path().join("checksums.txt");
    std::fs::write(&table, &sums).expect("table");
    let install = |base: &str, cache: &Path| {
        let path_file = work.path().join("github_path");
        let _ = std::fs::remove_file(&path_file);
        let out = Command::new(repo().join(".github/action/install.sh"))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", work.path())
            .env("ACTION_REF", &version)
            .env("MIGRAIL_TARGET", &target)
            .env("MIGRAIL_DOWNLOAD_BASE", base)
            .env("MIGRAIL_CHECKSUMS", &table)
            .env("RUNNER_TOOL_CACHE", cache)
            .env("GITHUB_PATH", &path_file)
            .output()
            .expect("install.sh");
        (
            out.status.code(),
            std::fs::read_to_string(&path_file).unwrap_or_default(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let cache = work.path().join("cache");
    let (code, path, text) = install(&releases.url, &cache);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("verified"), "{text}");
    assert_eq!(releases.gets.load(std::sync::atomic::Ordering::SeqCst), 1);
    let installed = Path::new(path.trim()).join("migrail");
    let out = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("the installed binary runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("migrail {}", env!("CARGO_PKG_VERSION"))
    );
    // A second run uses the tool cache: no download.
    let (code, path2, text) = install(&releases.url, &cache);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("from the tool cache"), "{text}");
    assert_eq!(path2, path);
    assert_eq!(releases.gets.load(std::sync::atomic::Ordering::SeqCst), 1);

    // A tampered archive (one byte changed) is refused, and nothing is installed.
    let tampered = tempfile::tempdir().expect("tempdir");
    let mut bytes = std::fs::read(&archive).expect("archive");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(tampered.path().join(&name), bytes).expect("write");
    let bad = serve_releases(tampered.path());
    let fresh = work.path().join("fresh-cache");
    let (code, path, text) = install(&bad.url, &fresh);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "{name} does not match its SHA-256 in checksums.txt"
        )) && text.contains("refusing to install it"),
        "{text}"
    );
    assert!(path.is_empty(), "{path}");
    assert!(!fresh.join("migrail").exists());
}

const INITIAL: &str = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n    operations = [\n        migrations.CreateModel(\n            name=\"Book\",\n            fields=[\n                (\"id\", models.BigAutoField(primary_key=True, serialize=False)),\n                (\"legacy\", models.CharField(max_length=20)),\n            ],\n        ),\n    ]\n";

#[test]
fn the_pre_commit_hook_fails_on_an_unsafe_migration_and_passes_a_safe_one() {
    let work = tempfile::tempdir().expect("tempdir");
    let m = work.path().join("shop/migrations");
    std::fs::create_dir_all(&m).expect("mkdir");
    for f in [
        "manage.py",
        "shop/__init__.py",
        "shop/migrations/__init__.py",
    ] {
        std::fs::write(work.path().join(f), "").expect("write");
    }
    std::fs::write(m.join("0001_initial.py"), INITIAL).expect("write");
    std::fs::write(m.join("0002_change.py"), "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [migrations.RemoveField(\"book\", \"legacy\")]\n").expect("write");
    git(work.path(), &["init", "-q"]);
    git(work.path(), &["add", "."]);
    git(work.path(), &["commit", "-qm", "x"]);
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pre-commit-home");
    let _build = MATURIN.lock().unwrap_or_else(|e| e.into_inner());
    let try_repo = || {
        let out = Command::new(bin().join("pre-commit"))
            .args(["try-repo"])
            .arg(repo())
            .args(["migrail-lint", "--all-files", "--verbose"])
            .current_dir(work.path())
            .env("PRE_COMMIT_HOME", &home)
            // No release binary for this revision: the hook builds a lint-only migrail
            // from source, into a target directory kept between runs, once per tree.
            .env("MIGRAIL_CACHE", work.path().join("migrail-cache"))
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("hook-target"),
            )
            .output()
            .expect("pre-commit runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = try_repo();
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("error[drop-column]") && text.contains("shop/migrations/0002_change.py"),
        "{text}"
    );
    assert!(
        text.contains("building a lint-only migrail from source"),
        "no release binary for this revision: {text}"
    );

    std::fs::write(m.join("0002_change.py"), "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [migrations.AddField(\"book\", \"subtitle\", models.CharField(max_length=20, null=True))]\n").expect("write");
    let (code, text) = try_repo();
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("migrail lint") && text.contains("Passed"),
        "{text}"
    );
    assert!(
        !text.contains("building a lint-only migrail"),
        "built once per revision: {text}"
    );
}

#[test]
fn the_wheel_builds_and_runs_from_a_fresh_virtualenv() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    // Built by the script release.yml calls, for this machine's target.
    let wheel = {
        let _build = MATURIN.lock().unwrap_or_else(|e| e.into_inner());
        PathBuf::from(
            stdout_of(
                "wheel.sh",
                script("wheel.sh")
                    .arg("host")
                    .arg(out_dir.path())
                    .env("MATURIN", bin().join("maturin")),
            )
            .trim()
            .to_string(),
        )
    };
    assert!(
        wheel.extension().is_some_and(|e| e == "whl") && wheel.exists(),
        "{}",
        wheel.display()
    );
    let fresh = out_dir.path().join("venv");
    venv::check(
        "python3 -m venv",
        Command::new("python3").args(["-m", "venv"]).arg(&fresh),
    );
    venv::check(
        "pip install the wheel",
        Command::new(fresh.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(&wheel),
    );
    let out = Command::new(fresh.join("bin/migrail"))
        .arg("--version")
        .output()
        .expect("migrail from the wheel");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("migrail {}", env!("CARGO_PKG_VERSION"))
    );
}
