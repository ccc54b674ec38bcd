//! `migrail run --backend local`: the command runs once as a child process; its output
//! is streamed, the verdict printed, the exit code follows the README's table, and the
//! result goes to `--json-out` and `$GITHUB_OUTPUT`. Commands are small `sh` scripts
//! (Unix), so each scenario is exact and quick.

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/secrets.rs"]
mod secrets;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    result: Value,
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let json = dir.join("result.json");
    let _ = std::fs::remove_file(&json);
    let out = Command::cargo_bin("migrail")
        .expect("binary")
        .current_dir(dir)
        .env_remove("GITHUB_OUTPUT")
        .envs(env.iter().copied())
        .arg("run")
        .arg("--json-out")
        .arg(&json)
        .args(args)
        .output()
        .expect("migrail runs");
    let result = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        result,
    }
}

fn sh(script: &str) -> Vec<&str> {
    vec!["--backend", "local", "--", "sh", "-c", script]
}

const DJANGO_OK: &str = r#"echo "Operations to perform:"
echo "  Apply all migrations: shop"
echo "Running migrations:"
echo "  Applying shop.0001_initial... OK"
echo "  Applying shop.0002_book_isbn... OK"
"#;

#[test]
fn success_streams_the_output_and_reports_the_applied_migrations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outputs = dir.path().join("github_output");
    let r = run_in(
        dir.path(),
        &sh(DJANGO_OK),
        &[("GITHUB_OUTPUT", outputs.to_str().expect("utf-8 path"))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Applying shop.0002_book_isbn... OK"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("migrail: run succeeded: exit code 0")
            && r.stderr.contains("2 migrations applied"),
        "{}",
        r.stderr
    );
    assert_eq!(r.result["version"], 1);
    assert_eq!(r.result["backend"], "local");
    assert_eq!(r.result["outcome"], "succeeded");
    assert_eq!(r.result["exit_code"], 0);
    assert_eq!(r.result["command_exit_code"], 0);
    assert_eq!(
        r.result["applied"],
        serde_json::json!(["shop.0001_initial", "shop.0002_book_isbn"])
    );
    let outputs = std::fs::read_to_string(outputs).expect("GITHUB_OUTPUT written");
    assert!(outputs.contains("verdict=succeeded\n"), "{outputs}");
    assert!(outputs.contains("exit-code=0\n"), "{outputs}");
    assert!(
        outputs.contains("applied=shop.0001_initial,shop.0002_book_isbn\n"),
        "{outputs}"
    );
}

#[test]
fn the_commands_exit_code_passes_through_with_the_traceback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run_in(
        dir.path(),
        &sh(
            r#"echo "  Applying shop.0003_broken...Traceback (most recent call last):" ; echo 'django.db.utils.ProgrammingError: column "x" does not exist' >&2; exit 3"#,
        ),
        &[],
    );
    assert_eq!(r.code, 3);
    assert_eq!(r.result["outcome"], "failed");
    assert_eq!(r.result["command_exit_code"], 3);
    assert_eq!(r.result["applied"], serde_json::json!([]));
    let tail = r.result["log_tail"].to_string();
    assert!(tail.contains("ProgrammingError"), "{tail}");
    assert!(
        r.stderr.contains("ProgrammingError"),
        "stderr is streamed: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("migrail: run failed: exit code 3"),
        "{}",
        r.stderr
    );
}

#[test]
fn reserved_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The command's own code above the reserved range becomes 1; the JSON keeps it.
    let r = run_in(dir.path(), &sh("exit 200"), &[]);
    assert_eq!(
        (r.code, r.result["command_exit_code"].as_i64()),
        (1, Some(200))
    );

    let r = run_in(
        dir.path(),
        &["--backend", "local", "--", "no-such-command-xyz"],
        &[],
    );
    assert_eq!(r.code, 127);
    assert_eq!(r.result["outcome"], "not-found");
    assert!(r.stderr.contains("not found on PATH"), "{}", r.stderr);

    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let r = run_in(
        dir.path(),
        &["--backend", "local", "--", "./not-executable.sh"],
        &[],
    );
    assert_eq!(r.code, 126, "{}", r.stderr);
    assert_eq!(r.result["outcome"], "failed-to-start");

    let r = run_in(dir.path(), &sh("kill -9 $$"), &[]);
    assert_eq!(r.code, 128);
    assert_eq!(
        (r.result["outcome"].as_str(), r.result["signal"].as_i64()),
        (Some("killed"), Some(9))
    );

    let r = run_in(
        dir.path(),
        &["--timeout", "1s", "--backend", "local", "--", "sleep", "30"],
        &[],
    );
    assert_eq!(r.code, 124);
    assert_eq!(r.result["outcome"], "timed-out");
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
}

#[test]
fn usage_errors_of_run_exit_125() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run_in(
        dir.path(),
        &["--backend", "local", "--env", "NOEQUALS", "--", "true"],
        &[],
    );
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(r.stderr.contains("KEY=VALUE"), "{}", r.stderr);
    let r = run_in(dir.path(), &["--backend", "nowhere", "--", "true"], &[]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    let r = run_in(
        dir.path(),
        &["--timeout", "soon", "--backend", "local", "--", "true"],
        &[],
    );
    assert_eq!(r.code, 125, "{}", r.stderr);
}

#[test]
fn default_command_is_manage_py_migrate_and_env_is_passed() {
    // A fake `python` on PATH records how it was called.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let python = bin.join("python");
    std::fs::write(
        &python,
        "#!/bin/sh\necho \"python $* DJANGO_SETTINGS_MODULE=$DJANGO_SETTINGS_MODULE\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = run_in(
        dir.path(),
        &[
            "--backend",
            "local",
            "--env",
            "DJANGO_SETTINGS_MODULE=shop.settings",
        ],
        &[("PATH", path.as_str())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Behind the lock guard: `manage.py shell -c` with migrail's script, which calls
    // migrate with the same arguments.
    assert!(
        r.stdout.starts_with("python manage.py shell -c ")
            && r.stdout.contains("sys.exit(migrail_run(\"--noinput\"))")
            && r.stdout.contains("DJANGO_SETTINGS_MODULE=shop.settings"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(
            "migrail: running `python manage.py shell -c <migrail's lock guard>` (local)"
        ),
        "{}",
        r.stderr
    );
    // `--lock-timeout 0 --preflight off`: the command exactly as given.
    let r = run_in(
        dir.path(),
        &[
            "--backend",
            "local",
            "--lock-timeout",
            "0",
            "--preflight",
            "off",
            "--env",
            "DJANGO_SETTINGS_MODULE=shop.settings",
        ],
        &[("PATH", path.as_str())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("python manage.py migrate --noinput DJANGO_SETTINGS_MODULE=shop.settings"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.result["command"],
        serde_json::json!(["python", "manage.py", "migrate", "--noinput"])
    );
}

#[test]
fn a_command_that_is_not_manage_py_migrate_gets_pgoptions_and_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run_in(
        dir.path(),
        &[
            "--backend",
            "local",
            "--lock-timeout",
            "2s",
            "--",
            "sh",
            "-c",
            "echo \"PGOPTIONS=$PGOPTIONS\"",
        ],
        &[("PGOPTIONS", "")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("PGOPTIONS=-c lock_timeout=2000"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("warning: the command is not `manage.py migrate`")
            && r.stderr.contains("PGOPTIONS only"),
        "{}",
        r.stderr
    );
}

/// A failing run whose output holds one secret of each kind: the job output, the result
/// document, and then the PR comment (`comment --dry-run`) and the step summary built from
/// it carry none of them and every ordinary line; in GitHub Actions the values migrail
/// knows are registered with `::add-mask::` before the first line of output.
#[test]
fn no_secret_reaches_the_output_the_document_the_comment_or_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("output.txt"),
        secrets::all_lines().join("\n") + "\n",
    )
    .expect("write");
    let env_arg = format!("DJANGO_DB_PASSWORD={}", secrets::KNOWN_ENV_VALUE);
    let actions = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_TOKEN", secrets::OWN_GITHUB_TOKEN),
        ("AWS_SESSION_TOKEN", secrets::OWN_SESSION_TOKEN),
    ];
    let mut args = vec!["--backend", "local", "--env", env_arg.as_str(), "--"];
    args.extend(["sh", "-c", "cat output.txt; exit 1"]);
    let r = run_in(dir.path(), &args, &actions);
    assert_eq!(r.code, 1, "{}", r.stderr);

    // The job output: masked by migrail itself, and registered with the runner first.
    let first_line = r
        .stdout
        .find(secrets::ORDINARY[0])
        .expect("the output is streamed");
    for (_, value) in secrets::known() {
        let mask = format!("::add-mask::{value}\n");
        let at = r
            .stdout
            .find(&mask)
            .unwrap_or_else(|| panic!("no `{mask}` in the job output:\n{}", r.stdout));
        assert!(at < first_line, "`{mask}` after the first log line");
    }
    let after_masks = &r.stdout[first_line..];
    secrets::assert_clean("the job output", after_masks);
    for secret in secrets::secrets() {
        assert!(!r.stderr.contains(secret), "stderr carries `{secret}`");
    }

    // The result document (`--json-out`).
    let doc = r.result.to_string();
    secrets::assert_clean("the result document", &doc);
    assert_eq!(
        r.result["log_tail"].as_array().map(Vec::len),
        Some(secrets::all_lines().len()),
        "one tail line per output line: {doc}"
    );

    // The comment and the step summary, in a later step that was not given `--env`.
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"pull_request": {"number": 42, "head": {"sha": "abc123", "repo": {"full_name": "acme/shop"}}, "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}}"#,
    )
    .expect("event");
    let summary = dir.path().join("summary.md");
    let comment = |result: &Path| {
        let out = Command::cargo_bin("migrail")
            .expect("binary")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_TOKEN", secrets::OWN_GITHUB_TOKEN)
            .current_dir(dir.path())
            .args(["comment", "--dry-run", "--no-lint", "--run-result"])
            .arg(result)
            .output()
            .expect("migrail comment runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary_text = std::fs::read_to_string(&summary).expect("step summary");
        let _ = std::fs::remove_file(&summary);
        (body, summary_text)
    };
    let (body, summary_text) = comment(&dir.path().join("result.json"));
    assert!(body.contains("lines of output"), "{body}");
    secrets::assert_clean("the comment", &body);
    secrets::assert_clean("the step summary", &summary_text);

    // A result document written by something else, unredacted: the comment still masks
    // every secret of a known shape and migrail's own token.
    let mut raw = r.result.clone();
    raw["log_tail"] = serde_json::json!(secrets::all_lines());
    let raw_path = dir.path().join("raw.json");
    std::fs::write(&raw_path, raw.to_string()).expect("write");
    let (body, summary_text) = comment(&raw_path);
    for text in [&body, &summary_text] {
        for (_, secret) in secrets::shaped() {
            assert!(
                secret.is_empty() || !text.contains(secret),
                "`{secret}` in:\n{text}"
            );
        }
        assert!(!text.contains(secrets::OWN_GITHUB_TOKEN), "{text}");
        secrets::assert_ordinary("the comment of a raw document", text);
    }
}

/// Behind a pooler a command that is not `manage.py migrate` cannot be bounded: refused
/// (exit 125, nothing run) unless the user turns the bound off.
#[test]
fn behind_a_pooler_another_command_is_refused_unless_unbounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    let mut args = vec!["--pooler", "transaction"];
    args.extend(sh(&script));
    let r = run_in(dir.path(), &args, &[]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is not `manage.py migrate`, and behind a pooler")
            && r.stderr.contains("--lock-timeout 0"),
        "{}",
        r.stderr
    );
    assert!(!marker.exists(), "the command did not run");
    let mut args = vec!["--pooler", "transaction", "--lock-timeout", "0"];
    args.extend(sh(&script));
    let r = run_in(dir.path(), &args, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(marker.exists());
    assert!(!r.stdout.contains("PGOPTIONS") && !r.stderr.contains("PGOPTIONS"));
}
