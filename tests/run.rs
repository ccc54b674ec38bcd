//! `migrail run --backend local`: the command runs once as a child process; its output
//! is streamed, the verdict printed, the exit code follows the README's table, and the
//! result goes to `--json-out` and `$GITHUB_OUTPUT`. Commands are small `sh` scripts
//! (Unix), so each scenario is exact and quick.

#![cfg(all(unix, feature = "ecs"))]

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
    // `--lock-timeout 0`: the command exactly as given.
    let r = run_in(
        dir.path(),
        &[
            "--backend",
            "local",
            "--lock-timeout",
            "0",
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
