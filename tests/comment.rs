//! `migrail comment` and `migrail ci` against a GitHub REST API on 127.0.0.1
//! (tests/support/github_server.rs), through octocrab as in production: create, then
//! PATCH the same comment, pagination, other bots' comments, unchanged bodies, 403,
//! the size limit, GitHub Enterprise URLs, CodeBuild's variables, push builds, and the
//! token never printed. Snapshots (insta) of the body, the annotations and the summary.

#![cfg(all(unix, feature = "ecs", feature = "github"))]

#[path = "support/git.rs"]
mod git;
#[path = "support/github_server.rs"]
mod github_server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use git::git;
use github_server::{Server, State};

const TOKEN: &str = "ghs_TEST_TOKEN_never_printed_0123456789";
const MARKER: &str = "<!-- migrail:comment key=default -->";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    summary: String,
}

struct Env {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    /// GitHub Actions on a pull_request event for acme/shop#42, head commit abc123.
    fn actions(server: &Server) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request": {"number": 42, "head": {"sha": "abc123", "repo": {"full_name": "acme/shop", "fork": false}}, "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}}"#,
        )
        .expect("event");
        let vars = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().expect("utf-8")),
            ("GITHUB_SHA", "merge0"),
            ("GITHUB_RUN_ID", "77"),
            ("GITHUB_SERVER_URL", "https://github.example"),
            ("GITHUB_API_URL", &server.api()),
            ("GITHUB_TOKEN", TOKEN),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Env { dir, vars }
    }

    fn set(mut self, k: &str, v: &str) -> Env {
        self.vars.retain(|(key, _)| key != k);
        self.vars.push((k.into(), v.into()));
        self
    }

    fn run(&self, args: &[&str]) -> Out {
        let summary = self.dir.path().join("summary.md");
        let _ = std::fs::remove_file(&summary);
        let out = Command::cargo_bin("migrail")
            .expect("binary")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GITHUB_STEP_SUMMARY", &summary)
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(repo())
            .timeout(Duration::from_secs(60))
            .args(args)
            .output()
            .expect("migrail runs");
        let o = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        };
        for text in [&o.stdout, &o.stderr, &o.summary] {
            assert!(!text.contains(TOKEN), "the token leaked: {text}");
        }
        o
    }
}

fn server(state: State) -> Server {
    Server::start(State {
        me: Some("migrail-bot".into()),
        ..state
    })
}

const DROP: &str = "examples/bookshop/orders/migrations/0005_delete_coupon.py";
const RENAME: &str = "examples/bookshop/catalog/migrations/0006_rename_author_name.py";

fn no_token_in_requests(s: &Server) {
    for r in s.requests() {
        assert!(!r.body.to_string().contains(TOKEN));
        assert_eq!(
            r.authorization,
            format!("Bearer {TOKEN}"),
            "authenticated: {r:?}"
        );
    }
}

#[test]
fn first_run_creates_the_comment_and_the_next_one_patches_it() {
    let s = server(State::default());
    let env = Env::actions(&s);
    let o = env.run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let writes = s.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("POST", "/repos/acme/shop/issues/42/comments")
    );
    let created = s.comments();
    assert_eq!(created.len(), 1);
    assert!(created[0].body.starts_with(MARKER), "{}", created[0].body);
    assert!(
        created[0].body.contains("drop-column"),
        "{}",
        created[0].body
    );
    assert!(
        o.stderr.contains(
            "migrail: comment created: https://github.example/acme/shop/pull/42#issuecomment-"
        ),
        "{}",
        o.stderr
    );
    assert!(
        o.summary.contains("drop-column"),
        "the step summary holds the report"
    );

    // A different review: the same comment is updated in place with PATCH.
    let o = env.run(&["comment", RENAME]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let writes = s.writes();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[1].method, "PATCH");
    assert_eq!(
        writes[1].path,
        format!("/repos/acme/shop/issues/comments/{}", created[0].id)
    );
    assert_eq!(s.comments().len(), 1);
    assert!(s.comments()[0].body.contains("rename-column"));
    assert!(o.stderr.contains("comment updated"), "{}", o.stderr);

    // Unchanged: no write at all.
    let o = env.run(&["comment", RENAME]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(s.writes().len(), 2, "no PATCH for an unchanged body");
    assert!(o.stderr.contains("comment unchanged"), "{}", o.stderr);
    no_token_in_requests(&s);
}

#[test]
fn a_clean_result_refreshes_a_red_comment() {
    let s = server(State::default());
    let env = Env::actions(&s);
    env.run(&["comment", DROP]);
    let safe = "examples/bookshop/catalog/migrations/0003_book_isbn.py";
    let o = env.run(&["comment", safe]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let body = &s.comments()[0].body;
    assert!(
        body.contains("✅") && !body.contains("drop-column"),
        "{body}"
    );
}

#[test]
fn our_comment_is_found_on_the_second_page() {
    let s = server(State::default());
    for i in 0..149 {
        s.add_comment("someone", &format!("comment {i}"));
    }
    let ours = s.add_comment("migrail-bot", &format!("{MARKER}\nold report"));
    let o = Env::actions(&s).run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let writes = s.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.clone()),
        ("PATCH", format!("/repos/acme/shop/issues/comments/{ours}"))
    );
    let pages: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/issues/42/comments") && r.method == "GET")
        .collect();
    assert_eq!(pages.len(), 2, "two pages read: {pages:?}");
    assert!(pages[1].query.contains("page=2"), "{:?}", pages[1]);
}

#[test]
fn another_bots_comment_with_the_marker_is_not_touched() {
    let s = server(State::default());
    let theirs = s.add_comment(
        "other-bot[bot]",
        &format!("{MARKER}\nmigrail found 2 errors (quoted)"),
    );
    let o = Env::actions(&s).run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let c = s.comments();
    assert_eq!(c.len(), 2, "ours was created beside theirs");
    assert!(
        c.iter()
            .any(|x| x.id == theirs && x.body.contains("quoted")),
        "theirs is untouched"
    );
    assert_eq!(s.writes()[0].method, "POST");
}

#[test]
fn an_installation_token_comments_as_github_actions_bot() {
    // `/user` is forbidden for installation tokens: the identity is github-actions[bot].
    let s = Server::start(State {
        me: None,
        ..State::default()
    });
    let ours = s.add_comment("github-actions[bot]", &format!("{MARKER}\nold"));
    let o = Env::actions(&s).run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        s.writes()[0].path,
        format!("/repos/acme/shop/issues/comments/{ours}")
    );
}

#[test]
fn forbidden_does_not_fail_the_build() {
    let s = server(State {
        forbidden: true,
        ..State::default()
    });
    let o = Env::actions(&s).run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("403")
            && o.stderr.contains("forks get a read-only GITHUB_TOKEN")
            && o.stderr.contains("pull-requests: write"),
        "{}",
        o.stderr
    );
    assert!(
        o.summary.contains("drop-column"),
        "the summary is written: {}",
        o.summary
    );
}

fn balanced(body: &str) {
    let fences = body
        .lines()
        .filter(|l| l.trim_start().starts_with("```"))
        .count();
    assert_eq!(fences % 2, 0, "unclosed fence");
    assert_eq!(
        body.matches("<details>").count(),
        body.matches("</details>").count(),
        "unclosed <details>"
    );
}

#[test]
fn a_two_megabyte_report_is_cut_to_fit_with_valid_markdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let findings: Vec<_> = (0..4000)
        .map(|i| serde_json::json!({
            "rule": "drop-column", "severity": "error", "path": format!("app{i}/migrations/0002_x.py"),
            "line": 3, "column": 9, "end_line": 3, "end_column": 20,
            "message": format!("RemoveField drops column \"c{i}\" | with a pipe and `ticks` {}", "x".repeat(200)),
            "help": format!("```\nkeep it\n```\n{}", "y".repeat(200)), "phase": "post"
        }))
        .collect();
    let report = dir.path().join("report.json");
    std::fs::write(&report, serde_json::json!({"findings": findings, "summary": {"errors": 4000, "warnings": 0, "reviewed": 4000, "failed": true}}).to_string()).expect("write");
    let run = dir.path().join("run.json");
    let tail: Vec<String> = (0..200)
        .map(|i| format!("line {i} {}", "z".repeat(1000)))
        .collect();
    std::fs::write(&run, serde_json::json!({
        "backend": "ecs", "outcome": "failed", "exit_code": 1, "command_exit_code": 1, "reason": null,
        "duration_seconds": 12.5, "applied": [], "log_tail": tail, "task_arn": "arn:aws:ecs:eu-west-1:1:task/prod/abc",
        "task_id": "abc", "stop_code": "EssentialContainerExited", "container_reason": null, "log_url": null
    }).to_string()).expect("write");
    assert!(
        std::fs::metadata(&report).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(&run).map(|m| m.len()).unwrap_or(0)
            > 2_000_000
    );

    let s = server(State::default());
    let o = Env::actions(&s).run(&[
        "comment",
        "--report",
        report.to_str().expect("utf-8"),
        "--run-result",
        run.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let body = &s.comments()[0].body;
    assert!(body.len() <= 65_000, "{} bytes", body.len());
    assert!(body.starts_with(MARKER));
    assert!(
        body.contains("❌ migrail: lint: 4000 errors"),
        "the verdict survives"
    );
    assert!(
        body.contains("[full report](https://github.example/acme/shop/actions/runs/77)"),
        "links the full report"
    );
    balanced(body);
}

#[test]
fn github_enterprise_base_url_is_honoured() {
    let s = server(State {
        prefix: "/api/v3".into(),
        ..State::default()
    });
    let o = Env::actions(&s).run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        s.requests().iter().all(|r| r.path.starts_with("/api/v3/")),
        "{:?}",
        s.requests()
    );
    assert_eq!(s.comments().len(), 1);
}

#[test]
fn codebuild_variables_name_the_repository_and_the_pull_request() {
    let s = server(State::default());
    let env = Env {
        dir: tempfile::tempdir().expect("tempdir"),
        vars: Vec::new(),
    }
    .set("CODEBUILD_BUILD_ID", "shop:0001")
    .set("CODEBUILD_WEBHOOK_TRIGGER", "pr/42")
    .set(
        "CODEBUILD_SOURCE_REPO_URL",
        "https://github.com/acme/shop.git",
    )
    .set("CODEBUILD_RESOLVED_SOURCE_VERSION", "abc123")
    .set(
        "CODEBUILD_BUILD_URL",
        "https://console.aws.amazon.com/codesuite/codebuild/projects/shop/build/shop:0001",
    )
    .set("GITHUB_API_URL", &s.api())
    .set("GITHUB_TOKEN", TOKEN);
    let o = env.run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(s.writes()[0].path, "/repos/acme/shop/issues/42/comments");
    let body = &s.comments()[0].body;
    assert!(body.contains("https://github.com/acme/shop/blob/abc123/examples/bookshop/orders/migrations/0005_delete_coupon.py#L"), "{body}");
}

#[test]
fn a_push_build_comments_on_the_pull_request_of_its_commit() {
    let mut pulls = std::collections::HashMap::new();
    pulls.insert("def456".to_string(), vec![7u64]);
    let s = server(State {
        pulls_of: pulls,
        ..State::default()
    });
    let env = Env::actions(&s);
    std::fs::write(
        env.dir.path().join("push.json"),
        r#"{"before": "0000000000000000000000000000000000000000"}"#,
    )
    .expect("write");
    let push = env.dir.path().join("push.json");
    let env = env
        .set("GITHUB_EVENT_NAME", "push")
        .set("GITHUB_EVENT_PATH", push.to_str().expect("utf-8"))
        .set("GITHUB_SHA", "def456");
    let o = env.run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(s.writes()[0].path, "/repos/acme/shop/issues/7/comments");

    // No PR for the commit: only the summary.
    let o = env.set("GITHUB_SHA", "fff999").run(&["comment", DROP]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("no pull request for this build (commit fff999)"),
        "{}",
        o.stderr
    );
    assert_eq!(s.writes().len(), 1);
}

#[test]
fn locally_the_markdown_is_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::cargo_bin("migrail")
        .expect("binary")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .current_dir(repo())
        .args(["comment", DROP])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(MARKER) && stdout.contains("drop-column"),
        "{stdout}"
    );
}

/// The same environment, but links and URLs fixed, for snapshots.
fn snapshot_env(dir: &Path) -> Vec<(&'static str, String)> {
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 42, "head": {"sha": "abc123", "repo": {"full_name": "acme/shop"}}, "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}}"#).expect("event");
    vec![
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_REPOSITORY", "acme/shop".into()),
        ("GITHUB_EVENT_PATH", event.to_string_lossy().into_owned()),
        ("GITHUB_RUN_ID", "77".into()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
    ]
}

#[test]
fn snapshots_of_the_body_the_annotations_and_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run.json");
    std::fs::write(&run, serde_json::json!({
        "backend": "ecs", "outcome": "failed", "exit_code": 3, "command_exit_code": 3, "reason": "Essential container in task exited",
        "duration_seconds": 42.0, "applied": ["catalog.0004_remove_book_legacy_code_state"],
        "log_tail": ["  Applying catalog.0004_remove_book_legacy_code_state... OK", "  Applying catalog.0005_drop_book_legacy_code...", "Traceback (most recent call last):", "django.db.utils.ProgrammingError: column \"legacy_code\" does not exist"],
        "task_arn": "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123abcd", "task_id": "0123abcd",
        "stop_code": "EssentialContainerExited", "container_reason": null, "log_url": null
    }).to_string()).expect("write");
    let summary = dir.path().join("summary.md");
    let run_cmd = |args: &[&str]| {
        let out = Command::cargo_bin("migrail")
            .expect("binary")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("GITHUB_STEP_SUMMARY", &summary)
            .envs(snapshot_env(dir.path()))
            .current_dir(repo())
            .args(args)
            .output()
            .expect("runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let body = run_cmd(&[
        "comment",
        "--dry-run",
        DROP,
        RENAME,
        "--run-result",
        run.to_str().expect("utf-8"),
    ]);
    insta::assert_snapshot!("comment_body", body);
    let _ = std::fs::remove_file(&summary);
    let annotations = run_cmd(&["lint", "--format", "github", "examples/bookshop"]);
    insta::assert_snapshot!("annotations", annotations);
    let summary_text = std::fs::read_to_string(&summary).expect("summary written");
    insta::assert_snapshot!("step_summary", summary_text);
}

// ---- migrail ci -------------------------------------------------------------------

const INITIAL: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=200)),
                ("legacy", models.CharField(max_length=20)),
            ],
        ),
    ]
"#;

const SAFE: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=200, null=True)),
    ]
"#;

const UNSAFE: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RemoveField("book", "legacy"),
    ]
"#;

/// A project whose `origin/main` has 0001 and whose HEAD adds `second` as 0002.
fn project(second: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("shop/migrations");
    std::fs::create_dir_all(&m).expect("mkdir");
    std::fs::write(dir.path().join("manage.py"), "").expect("write");
    std::fs::write(m.join("__init__.py"), "").expect("write");
    std::fs::write(m.join("0001_initial.py"), INITIAL).expect("write");
    git(dir.path(), &["init", "-q", "-b", "feature"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "base"]);
    git(
        dir.path(),
        &["update-ref", "refs/remotes/origin/main", "HEAD"],
    );
    std::fs::write(m.join("0002_change.py"), second).expect("write");
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "change"]);
    dir
}

fn ci(
    s: &Server,
    project: &Path,
    event: &str,
    extra_env: &[(&str, &str)],
    args: &[&str],
) -> (Out, String) {
    let env = Env::actions(s);
    let outputs = env.dir.path().join("outputs");
    let event_path = env.dir.path().join("ci-event.json");
    std::fs::write(&event_path, event).expect("event");
    let summary = env.dir.path().join("summary.md");
    let mut cmd = Command::cargo_bin("migrail").expect("binary");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("GITHUB_EVENT_PATH", &event_path)
        .envs(extra_env.iter().copied())
        .current_dir(project)
        .timeout(Duration::from_secs(60))
        .arg("ci")
        .args(args);
    let out = cmd.output().expect("migrail ci runs");
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
    };
    // `::add-mask::VALUE` is the runner's command to hide the value; it is not shown.
    let shown: String = o
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for text in [&shown, &o.stderr, &o.summary] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    (o, std::fs::read_to_string(&outputs).unwrap_or_default())
}

const PR_EVENT: &str = r#"{"pull_request": {"number": 42, "head": {"sha": "abc123", "repo": {"full_name": "acme/shop", "fork": false}}, "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}}"#;

#[test]
fn ci_on_a_pull_request_lints_the_change_and_comments() {
    let s = server(State::default());
    let p = project(UNSAFE);
    let (o, outputs) = ci(&s, p.path(), PR_EVENT, &[("GITHUB_BASE_REF", "main")], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("::error file=shop/migrations/0002_change.py,line=7"),
        "annotations: {}",
        o.stdout
    );
    let body = &s.comments()[0].body;
    assert!(
        body.contains("drop-column") && !body.contains("0001_initial.py:"),
        "only the change is reviewed: {body}"
    );
    assert!(
        outputs.contains("lint-verdict=failed\n") && outputs.contains("errors=1\n"),
        "{outputs}"
    );
    assert!(
        outputs.contains("comment-url=https://github.example/acme/shop/pull/42#issuecomment-"),
        "{outputs}"
    );
}

const PUSH_EVENT: &str = r#"{"before": "0000000000000000000000000000000000000000"}"#;

fn migrate_script(marker: &Path) -> String {
    format!(
        "echo '  Applying shop.0002_change... OK'; touch {}",
        marker.display()
    )
}

#[test]
fn ci_on_a_deploy_runs_the_migrations_when_the_lint_passes_and_comments_on_the_pr() {
    let mut pulls = std::collections::HashMap::new();
    pulls.insert("def456".to_string(), vec![42u64]);
    let s = server(State {
        pulls_of: pulls,
        ..State::default()
    });
    let p = project(SAFE);
    let ran = p.path().join("ran");
    let script = migrate_script(&ran);
    let push = [("GITHUB_EVENT_NAME", "push"), ("GITHUB_SHA", "def456")];
    let (o, outputs) = ci(
        &s,
        p.path(),
        PUSH_EVENT,
        &push,
        &["--backend", "local", "--", "sh", "-c", &script],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(ran.exists(), "the migrations ran");
    assert!(
        outputs.contains("verdict=succeeded\n") && outputs.contains("lint-verdict=passed\n"),
        "{outputs}"
    );
    let body = &s.comments()[0].body;
    assert_eq!(s.writes()[0].path, "/repos/acme/shop/issues/42/comments");
    assert!(
        body.contains("migrations succeeded") && body.contains("`shop.0002_change`"),
        "{body}"
    );
}

#[test]
fn ci_does_not_run_unsafe_migrations_unless_allowed() {
    let s = server(State::default());
    let p = project(UNSAFE);
    let ran = p.path().join("ran");
    let script = migrate_script(&ran);
    let push = [("GITHUB_EVENT_NAME", "push"), ("GITHUB_SHA", "def456")];
    let (o, _) = ci(
        &s,
        p.path(),
        PUSH_EVENT,
        &push,
        &["--backend", "local", "--", "sh", "-c", &script],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!ran.exists(), "not run");
    assert!(
        o.stderr
            .contains("not running the migrations: the lint failed"),
        "{}",
        o.stderr
    );

    let (o, _) = ci(
        &s,
        p.path(),
        PUSH_EVENT,
        &push,
        &[
            "--allow-unsafe",
            "--backend",
            "local",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(ran.exists(), "--allow-unsafe runs them");
}

#[test]
fn ci_never_runs_migrations_for_code_from_a_fork() {
    let s = server(State::default());
    let p = project(SAFE);
    let ran = p.path().join("ran");
    let script = migrate_script(&ran);
    let fork = r#"{"pull_request": {"number": 42, "head": {"sha": "abc123", "repo": {"full_name": "mallory/shop", "fork": true}}, "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}}"#;
    let (o, _) = ci(
        &s,
        p.path(),
        fork,
        &[("GITHUB_BASE_REF", "main")],
        &["--backend", "local", "--", "sh", "-c", &script],
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(!ran.exists());
    assert!(
        o.stderr
            .contains("refusing to run migrations for code from a fork"),
        "{}",
        o.stderr
    );
    let (o, _) = ci(
        &s,
        p.path(),
        PR_EVENT,
        &[
            ("GITHUB_BASE_REF", "main"),
            ("GITHUB_EVENT_NAME", "pull_request_target"),
        ],
        &["--backend", "local", "--", "sh", "-c", &script],
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(!ran.exists());
}

#[test]
fn a_key_keeps_a_separate_comment() {
    let s = server(State::default());
    let env = Env::actions(&s);
    assert_eq!(env.run(&["comment", DROP]).code, 0);
    let o = env.run(&["comment", DROP, "--key", "staging"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let c = s.comments();
    assert_eq!(c.len(), 2, "two comments");
    assert!(c[1]
        .body
        .starts_with("<!-- migrail:comment key=staging -->"));
    // Each key updates its own.
    let o = env.run(&["comment", RENAME, "--key", "staging"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let writes = s.writes();
    assert_eq!(
        writes[2].path,
        format!("/repos/acme/shop/issues/comments/{}", c[1].id)
    );
    assert!(
        s.comments()[0].body.contains("drop-column"),
        "the default one is unchanged"
    );
}

#[test]
fn lint_format_github_fails_like_text_and_reports_a_bad_api_error() {
    let s = server(State::default());
    let env = Env::actions(&s);
    let o = env.run(&["lint", "--format", "github", DROP]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.starts_with("::error file="), "{}", o.stdout);
    // A repository the API does not know: exit 3, said without the token.
    let o = env.run(&["comment", DROP, "--repo", "acme/missing", "--pr", "9999"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.contains("could not post the comment")
            && o.stderr.contains("acme/missing#9999")
            && o.stderr.contains("404"),
        "{}",
        o.stderr
    );
}

/// The sha of `rev` in `dir`.
fn rev_parse(dir: &Path, rev: &str) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["rev-parse", rev])
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn ci_on_a_pull_request_without_origin_base_uses_the_events_base_commit() {
    let s = server(State::default());
    let p = project(UNSAFE);
    let base = rev_parse(p.path(), "HEAD~1");
    git(p.path(), &["update-ref", "-d", "refs/remotes/origin/main"]);
    let event = PR_EVENT.replace(
        r#""base": {"ref": "main","#,
        &format!(r#""base": {{"ref": "main", "sha": "{base}","#),
    );
    assert!(event.contains(&base), "{event}");
    let (o, _) = ci(&s, p.path(), &event, &[("GITHUB_BASE_REF", "main")], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("`origin/main` is not in this checkout")
            && o.stderr.contains(&format!("base commit {base}")),
        "{}",
        o.stderr
    );
    let body = &s.comments()[0].body;
    assert!(
        body.contains("drop-column") && !body.contains("0001_initial.py:"),
        "only the change is reviewed: {body}"
    );
}

#[test]
fn ci_on_a_pull_request_with_only_the_merge_commit_and_its_parents() {
    // The repository as GitHub has it: main at the base, the pull request's head on a
    // branch, and the merge commit `refs/pull/N/merge` of the two.
    let origin = project(UNSAFE);
    let o = origin.path();
    git(o, &["checkout", "-q", "-b", "main", "HEAD~1"]);
    git(
        o,
        &["merge", "-q", "--no-ff", "feature", "-m", "Merge into main"],
    );
    git(o, &["branch", "-q", "pr-merge"]);
    // actions/checkout with `fetch-depth: 2`: the merge commit and its parents, and no
    // `origin/main`.
    let checkout = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", o.display());
    git(
        checkout.path(),
        &[
            "clone", "-q", "--depth", "2", "--branch", "pr-merge", &url, "c",
        ],
    );
    let c = checkout.path().join("c");
    let remotes = std::process::Command::new("git")
        .current_dir(&c)
        .args(["branch", "-r"])
        .output()
        .expect("git runs");
    let remotes = String::from_utf8_lossy(&remotes.stdout).into_owned();
    assert!(!remotes.contains("origin/main"), "{remotes}");
    let s = server(State::default());
    let (out, _) = ci(&s, &c, PR_EVENT, &[("GITHUB_BASE_REF", "main")], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("HEAD is a merge commit"),
        "{}",
        out.stderr
    );
    let body = &s.comments()[0].body;
    assert!(
        body.contains("drop-column") && !body.contains("0001_initial.py:"),
        "only the pull request's change is reviewed: {body}"
    );
    // Without the merge commit's parents (a depth-1 checkout) the error says what to fetch.
    let shallow = tempfile::tempdir().expect("tempdir");
    git(
        shallow.path(),
        &[
            "clone", "-q", "--depth", "1", "--branch", "pr-merge", &url, "c",
        ],
    );
    let (out, _) = ci(
        &s,
        &shallow.path().join("c"),
        PR_EVENT,
        &[("GITHUB_BASE_REF", "main")],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("fetch-depth: 2"), "{}", out.stderr);
}

#[test]
fn comment_shows_a_runs_lock_retries_and_a_deploys_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dry = |file: &Path| {
        let out = Command::cargo_bin("migrail")
            .expect("binary")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .args(["comment", "--dry-run", "--no-lint", "--run-result"])
            .arg(file)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let run = dir.path().join("run.json");
    std::fs::write(&run, serde_json::json!({
        "backend": "local", "outcome": "succeeded", "exit_code": 0, "command_exit_code": 0,
        "reason": null, "duration_seconds": 9.5, "applied": ["shop.0007_x"], "log_tail": [],
        "lock_retries": [
            {"migration": "shop.0007_x", "table": "shop_order", "attempt": 1, "wait_seconds": 5.2},
            {"migration": "shop.0007_x", "table": null, "attempt": 2, "wait_seconds": 9.8}
        ],
        "task_arn": null, "task_id": null, "stop_code": null, "container_reason": null, "log_url": null
    }).to_string()).expect("write");
    let body = dry(&run);
    assert!(
        body.contains("| lock retries | 2 after a lock timeout: `shop.0007_x` on `shop_order`: waited 5.2 s, `shop.0007_x`: waited 9.8 s |"),
        "{body}"
    );
    let deploy = dir.path().join("deploy.json");
    std::fs::write(&deploy, serde_json::json!({
        "version": 1, "kind": "deploy", "outcome": "rollout-failed", "exit_code": 131, "step": "drain",
        "reason": "the rollout of `worker` (rolled-back) failed: the post phase was not run",
        "cluster": "prod", "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/web:43",
        "started_at": 1, "duration_seconds": 300.0, "plan": {"before": [], "after": ["shop.0008_drop"], "blocked": []},
        "steps": [
            {"name": "plan", "outcome": "succeeded", "started_at": 1, "duration_seconds": 0.1, "detail": ""},
            {"name": "pre", "outcome": "succeeded", "started_at": 1, "duration_seconds": 60.0, "detail": "run succeeded"},
            {"name": "rollout", "outcome": "succeeded", "started_at": 1, "duration_seconds": 0.5, "detail": "2 service(s) updated"},
            {"name": "drain", "outcome": "failed", "started_at": 1, "duration_seconds": 240.0, "detail": "service `worker`: rolled back"}
        ],
        "pre": {"backend": "ecs", "outcome": "succeeded", "exit_code": 0, "command_exit_code": 0, "reason": null,
                "duration_seconds": 60.0, "applied": ["shop.0007_x"], "log_tail": [], "task_arn": "arn:t/1",
                "task_id": "1", "stop_code": null, "container_reason": null, "log_url": null},
        "post": null,
        "services": [
            {"service": "web", "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/web:43", "deployment_id": "ecs-svc/1", "rollout": "completed", "reason": null},
            {"service": "worker", "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/worker:8", "deployment_id": "ecs-svc/2", "rollout": "rolled-back", "reason": "circuit breaker"}
        ],
        "blockers": [], "resume": null
    }).to_string()).expect("write");
    let body = dry(&deploy);
    for part in [
        "### ❌ migrail: deploy rollout failed (web:43, 1 migration applied)",
        "| drain | failed | 4m00s | service `worker`: rolled back |",
        "| ↳ service `worker` | rolled back | | → `worker:8`, deployment `ecs-svc/2`: circuit breaker |",
        "#### Pre-deploy migrations",
    ] {
        assert!(body.contains(part), "missing `{part}`:\n{body}");
    }
    assert!(!body.contains("#### Post-deploy migrations"), "{body}");
}

const INDEX: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_change")]
    operations = [
        migrations.AddIndex(
            model_name="book",
            index=models.Index(fields=["title"], name="shop_book_title_idx"),
        ),
    ]
"#;

const RENAME_TITLE: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_index")]
    operations = [
        migrations.RenameField(
            model_name="book",
            old_name="title",
            new_name="name",
        ),
    ]
"#;

/// The pull request's files as GitHub's files API gives them: `git diff` from the base,
/// each patch from its first hunk.
fn pull_files(dir: &Path) -> Vec<github_server::PrFile> {
    let out = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("git");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    out(&["diff", "--name-only", "origin/main", "HEAD"])
        .lines()
        .map(|path| {
            let diff = out(&["diff", "origin/main", "HEAD", "--", path]);
            let patch = diff.find("@@").map(|i| diff[i..].to_string());
            github_server::PrFile {
                path: path.to_string(),
                patch,
            }
        })
        .collect()
}

const MODELS: &str = "from django.db import models\n\n\nclass Book(models.Model):\n    title = models.CharField(max_length=200)\n    legacy = models.CharField(max_length=20)\n    subtitle = models.CharField(max_length=200, null=True)\n";

/// A branch adding 0003 (an index built without CONCURRENTLY) and 0004 (a column rename,
/// in `models.py` too) after the shipped 0002.
fn two_fixable() -> tempfile::TempDir {
    let p = project(SAFE);
    std::fs::write(p.path().join("shop/__init__.py"), "").expect("write");
    std::fs::write(p.path().join("shop/models.py"), MODELS).expect("write");
    git(p.path(), &["add", "."]);
    git(p.path(), &["commit", "-qm", "models"]);
    git(
        p.path(),
        &["update-ref", "refs/remotes/origin/main", "HEAD"],
    );
    std::fs::write(
        p.path().join("shop/models.py"),
        MODELS.replace("    title =", "    name ="),
    )
    .expect("write");
    let m = p.path().join("shop/migrations");
    std::fs::write(m.join("0003_index.py"), INDEX).expect("write");
    std::fs::write(m.join("0004_rename.py"), RENAME_TITLE).expect("write");
    git(p.path(), &["add", "."]);
    git(p.path(), &["commit", "-qm", "two fixable"]);
    p
}

/// The code of the suggestion block of a review comment's body.
fn suggested(body: &str) -> String {
    let start = body.find("suggestion\n").expect("a suggestion block") + "suggestion\n".len();
    let fence_at = body[..start - "suggestion\n".len()]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let fence = &body[fence_at..start - "suggestion\n".len()];
    let rest = &body[start..];
    let end = rest.find(&format!("\n{fence}")).map(|i| i + 1).unwrap_or(0);
    rest[..end].to_string()
}

/// `text` with lines `first..=last` replaced by `code` (what "Commit suggestion" does).
fn commit_suggestion(text: &str, first: usize, last: usize, code: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = lines[..first - 1].to_vec();
    out.extend(code.lines());
    out.extend(&lines[last..]);
    out.join("\n") + "\n"
}

fn review_writes(s: &Server) -> Vec<github_server::Request> {
    s.writes()
        .into_iter()
        .filter(|r| r.path.contains("/pulls/"))
        .collect()
}

#[test]
fn fixes_become_suggestions_that_follow_the_pull_request() {
    let s = server(State::default());
    let p = two_fixable();
    s.set_pull("abc123", pull_files(p.path()));
    // Someone's review comments, enough that ours are on a later page.
    let theirs = s.add_review(
        "alice",
        "Why an index here?",
        "shop/migrations/0003_index.py",
        7,
    );
    for i in 0..104 {
        s.add_review(
            "alice",
            &format!("nit {i}"),
            "shop/migrations/0004_rename.py",
            7,
        );
    }
    let base_env = [("GITHUB_BASE_REF", "main")];
    let (o, _) = ci(&s, p.path(), PR_EVENT, &base_env, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("suggestions: 3 created"), "{}", o.stderr);
    let ours: Vec<_> = s
        .reviews()
        .into_iter()
        .filter(|r| r.login == "migrail-bot")
        .collect();
    assert_eq!(ours.len(), 3, "{ours:#?}");
    for r in &ours {
        assert_eq!(r.commit_id, "abc123");
        assert!(
            r.body
                .starts_with("<!-- migrail:suggestion key=default id="),
            "{}",
            r.body
        );
    }
    let index = ours
        .iter()
        .find(|r| r.path == "shop/migrations/0003_index.py")
        .expect("a suggestion on 0003");
    let rename = ours
        .iter()
        .find(|r| r.path == "shop/migrations/0004_rename.py")
        .expect("a suggestion on 0004");
    // On the right lines: each spans its operation (lines 7-10 and 7-11).
    for (r, op) in [(index, 7..=10), (rename, 7..=11)] {
        let first = r.start_line.unwrap_or(r.line);
        assert!(
            first <= *op.start() && r.line >= *op.end(),
            "{}: lines {first}-{} miss the operation",
            r.path,
            r.line
        );
    }
    assert!(
        index.body.contains("add-index-not-concurrently"),
        "{}",
        index.body
    );
    assert!(rename.body.contains("rename-column"), "{}", rename.body);
    // The rename's fix keeps the column's name in `models.py`: a suggestion there too.
    let pin = ours
        .iter()
        .find(|r| r.path == "shop/models.py")
        .expect("a suggestion on models.py");
    assert_eq!((pin.start_line, pin.line), (None, 5), "{pin:#?}");
    assert_eq!(
        suggested(&pin.body),
        "    name = models.CharField(max_length=200, db_column=\"title\")\n"
    );
    assert!(
        pin.body.contains(
            "part of the fix of `error[rename-column]` in `shop/migrations/0004_rename.py`"
        ),
        "{}",
        pin.body
    );

    // Commit the index suggestion as GitHub would: the finding is gone.
    let file = p.path().join("shop/migrations/0003_index.py");
    let text = std::fs::read_to_string(&file).expect("read");
    let first = index.start_line.unwrap_or(index.line) as usize;
    let fixed = commit_suggestion(&text, first, index.line as usize, &suggested(&index.body));
    std::fs::write(&file, &fixed).expect("write");
    let lint = Command::cargo_bin("migrail")
        .expect("binary")
        .current_dir(p.path())
        .args(["lint", "--no-config", "shop/migrations/0003_index.py"])
        .output()
        .expect("lint");
    let lint_out = String::from_utf8_lossy(&lint.stdout);
    assert!(
        !lint_out.contains("add-index-not-concurrently") && lint.status.code() == Some(0),
        "after the suggestion:\n{fixed}\n{lint_out}"
    );
    git(p.path(), &["commit", "-qam", "Apply suggestion"]);
    s.set_pull("def456", pull_files(p.path()));
    let event = PR_EVENT.replace("abc123", "def456");

    // The rerun deletes the fixed one and keeps the other as it is.
    let before = review_writes(&s).len();
    let (o, _) = ci(&s, p.path(), &event, &base_env, &[]);
    assert!(
        o.stderr
            .contains("suggestions: 0 created, 0 updated, 1 deleted, 2 unchanged"),
        "{}",
        o.stderr
    );
    let writes = review_writes(&s)[before..].to_vec();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].method, "DELETE");
    assert_eq!(
        writes[0].path,
        format!("/repos/acme/shop/pulls/comments/{}", index.id)
    );
    let now = s.reviews();
    assert!(now
        .iter()
        .any(|r| r.id == rename.id && r.body == rename.body));
    assert!(!now.iter().any(|r| r.id == index.id));
    assert!(now
        .iter()
        .any(|r| r.id == theirs && r.body == "Why an index here?"));
    assert_eq!(now.iter().filter(|r| r.login == "alice").count(), 105);

    // A third run changes nothing.
    let before = review_writes(&s).len();
    let (o, _) = ci(&s, p.path(), &event, &base_env, &[]);
    assert!(
        o.stderr
            .contains("0 created, 0 updated, 0 deleted, 2 unchanged"),
        "{}",
        o.stderr
    );
    assert_eq!(review_writes(&s).len(), before);

    // What the rest of the fix shows changes (the lines around the pin in models.py): the
    // comment is updated in place.
    let models = p.path().join("shop/models.py");
    let text = std::fs::read_to_string(&models).expect("read");
    std::fs::write(&models, text.replace("max_length=20)", "max_length=30)")).expect("write");
    git(p.path(), &["commit", "-qam", "legacy is longer"]);
    s.set_pull("0a0b0c", pull_files(p.path()));
    let event = PR_EVENT.replace("abc123", "0a0b0c");
    let before = review_writes(&s).len();
    let (o, _) = ci(&s, p.path(), &event, &base_env, &[]);
    assert!(
        o.stderr
            .contains("0 created, 1 updated, 0 deleted, 1 unchanged"),
        "{}",
        o.stderr
    );
    let writes = review_writes(&s)[before..].to_vec();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.clone()),
        (
            "PATCH",
            format!("/repos/acme/shop/pulls/comments/{}", rename.id)
        )
    );
    let updated = s
        .reviews()
        .into_iter()
        .find(|r| r.id == rename.id)
        .expect("kept");
    assert!(updated.body.contains("max_length=30"), "{}", updated.body);
}

#[test]
fn suggestions_off_or_forbidden_leave_the_sticky_comment_alone() {
    let base_env = [("GITHUB_BASE_REF", "main")];
    // Off by flag, and by the configuration.
    let p = two_fixable();
    for (args, config) in [
        (&["--no-suggestions"][..], None),
        (&[][..], Some("suggestions = false\n")),
    ] {
        if let Some(c) = config {
            std::fs::write(p.path().join("migrail.toml"), c).expect("config");
        }
        let s = server(State::default());
        s.set_pull("abc123", pull_files(p.path()));
        let (o, _) = ci(&s, p.path(), PR_EVENT, &base_env, args);
        assert_eq!(o.code, 1, "{}", o.stderr);
        assert_eq!(s.comments().len(), 1, "the sticky comment is posted");
        assert!(
            s.requests().iter().all(|r| !r.path.contains("/pulls/")),
            "no review comment requests: {:?}",
            s.requests()
        );
    }
    // A token that may not write review comments: a warning, the verdict stands.
    let p = two_fixable();
    let s = server(State {
        reviews_forbidden: true,
        ..State::default()
    });
    s.set_pull("abc123", pull_files(p.path()));
    let (o, _) = ci(&s, p.path(), PR_EVENT, &base_env, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(s.comments().len(), 1);
    assert!(s.reviews().is_empty());
    assert!(
        o.stderr.contains("not posted as suggestions") && o.stderr.contains("403"),
        "{}",
        o.stderr
    );
}

#[test]
fn an_applied_migration_gets_no_suggestion_to_edit_it() {
    // The base shipped 0002; the pull request edits it to add an index the old way.
    let p = project(SAFE);
    git(
        p.path(),
        &["update-ref", "refs/remotes/origin/main", "HEAD"],
    );
    let file = p.path().join("shop/migrations/0002_change.py");
    let text = std::fs::read_to_string(&file).expect("read");
    let edited = text.replace(
        "    ]\n",
        "        migrations.AddIndex(\"book\", models.Index(fields=[\"title\"], name=\"shop_book_title_idx\")),\n    ]\n",
    );
    assert_ne!(text, edited);
    std::fs::write(&file, edited).expect("write");
    git(p.path(), &["commit", "-qam", "edit the applied migration"]);
    let s = server(State::default());
    s.set_pull("abc123", pull_files(p.path()));
    let (o, _) = ci(&s, p.path(), PR_EVENT, &[("GITHUB_BASE_REF", "main")], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let body = &s.comments()[0].body;
    assert!(body.contains("edited-applied-migration"), "{body}");
    // Neither a suggestion nor a "How to fix" diff rewrites what production applied.
    assert!(s.reviews().is_empty(), "{:#?}", s.reviews());
    assert!(o.stderr.contains("suggestions: 0 created"), "{}", o.stderr);
    assert!(!body.contains("b/shop/migrations/0002_change.py"), "{body}");
}
