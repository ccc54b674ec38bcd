//! `migrail deploy` and the post-phase gate of `migrail run --phase post --service`,
//! against the stateful ECS cluster of the loopback endpoint
//! (tests/support/ecs_cluster.rs): the real SDK, the real wire protocol, dummy
//! credentials. Each scenario asserts the order of the calls that change something
//! (RunTask, UpdateService) and the exit code.

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/aws_server.rs"]
mod aws_server;
#[path = "support/git.rs"]
mod git;
#[path = "support/shop.rs"]
mod shop;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use aws_server::cluster::{td_arn, Behaviour, Cluster};
use aws_server::{Reply, Script, Server};
use serde_json::Value;
use shop::{M1, M2};

const SECRET: &str = "wJalrXUtnFEMI-TEST-SECRET-never-printed";

const M3_DROP: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_book_subtitle")]
    operations = [
        migrations.RemoveField("book", "legacy"),
    ]
"#;

const M3_RENAME: &str = r#"from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_book_subtitle")]
    operations = [
        migrations.RenameField("book", "title", "name"),
    ]
"#;

/// A project with 0001, 0002 and, when given, a third migration.
fn project(third: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("shop/migrations");
    std::fs::create_dir_all(&m).expect("mkdir");
    std::fs::write(dir.path().join("manage.py"), "").expect("write");
    std::fs::write(m.join("__init__.py"), "").expect("write");
    std::fs::write(m.join("0001_initial.py"), M1).expect("write");
    std::fs::write(m.join("0002_book_subtitle.py"), M2).expect("write");
    if let Some(third) = third {
        std::fs::write(m.join("0003_change.py"), third).expect("write");
    }
    dir
}

struct Out {
    code: i32,
    stderr: String,
    result: Value,
    outputs: String,
}

fn migrail(server: &Server, dir: &Path, args: &[&str]) -> Out {
    let json = dir.join("deploy.json");
    let outputs = dir.join("outputs");
    let _ = std::fs::remove_file(&json);
    let mut cmd = Command::cargo_bin("migrail").expect("binary");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_ENDPOINT_URL", &server.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("GITHUB_SHA", "0f1e2d3c")
        .env("GITHUB_OUTPUT", &outputs)
        .current_dir(dir)
        .timeout(Duration::from_secs(90))
        .args(args)
        .arg("--json-out")
        .arg(&json);
    let out = cmd.output().expect("migrail runs");
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        result: std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    for text in [&o.stderr, &o.result.to_string(), &stdout.to_string()] {
        assert!(!text.contains(SECRET), "the secret key leaked: {text}");
    }
    o
}

fn deploy(server: &Server, dir: &Path, extra: &[&str]) -> Out {
    let mut args = vec![
        "deploy",
        "--all",
        "--cluster",
        "prod",
        "--service",
        "web",
        "--task-definition",
        "web:43",
        "--poll-interval",
        "50ms",
    ];
    args.extend_from_slice(extra);
    migrail(server, dir, &args)
}

/// The calls that change something, in order: `RunTask pre|post`, `UpdateService NAME`.
fn mutations(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter_map(|r| match r.op.as_str() {
            "RunTask" => {
                let script = server.script_of_run(&r.body).unwrap_or_default();
                let phase = if script.contains("PHASE = \"post\"") {
                    "post"
                } else if script.contains("PHASE = \"pre\"") {
                    "pre"
                } else {
                    "?"
                };
                Some(format!("RunTask {phase}"))
            }
            "UpdateService" => Some(format!(
                "UpdateService {} {}",
                r.body["service"].as_str().unwrap_or_default(),
                r.body["taskDefinition"].as_str().unwrap_or_default()
            )),
            "CreateDeployment" => Some(format!(
                "CreateDeployment {}",
                r.body["deploymentGroupName"].as_str().unwrap_or_default()
            )),
            "ContinueServiceDeployment" => {
                let arn = r.body["serviceDeploymentArn"].as_str().unwrap_or_default();
                let service = arn.rsplit('/').nth(1).unwrap_or_default();
                Some(format!(
                    "ContinueServiceDeployment {service} {}",
                    r.body["action"].as_str().unwrap_or_default()
                ))
            }
            _ => None,
        })
        .collect()
}

/// A cluster with the one service `web` on `from` (task definitions web:1..=43).
fn web_service(from: &str, count: i64, b: Behaviour) -> Script {
    Script::default().cluster(Cluster::new(&[("web", 43)]).service("web", from, count, b))
}

fn two_services(worker: Behaviour) -> Script {
    Script::default().cluster(
        Cluster::new(&[("web", 43), ("worker", 8)])
            .service("web", "web:42", 2, Behaviour::Completes { after: 2 })
            .service("worker", "worker:7", 1, worker),
    )
}

#[test]
fn two_services_pre_rollout_drain_post_in_that_order() {
    let server = Server::start(two_services(Behaviour::Completes { after: 3 }));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43")),
            &format!("UpdateService worker {}", td_arn("worker:8")),
            "RunTask post",
        ]
    );
    // The post task started only after both services completed.
    let log = server.cluster_log();
    let at = |what: &str| {
        log.iter()
            .find(|(_, w)| w.starts_with(what))
            .map(|(i, _)| *i)
            .unwrap_or_else(|| panic!("no `{what}` in {log:?}"))
    };
    let post = log
        .iter()
        .filter(|(_, w)| w.starts_with("RunTask"))
        .nth(1)
        .map(|(i, _)| *i)
        .expect("a second RunTask");
    assert!(
        post > at("web completed") && post > at("worker completed"),
        "{log:?}"
    );
    // Only the new image runs both migrations: each in a carrier of web:43 (its script
    // does not fit in the overrides), deregistered once started.
    let runs = server.calls("RunTask");
    let carriers = server.calls("RegisterTaskDefinition");
    assert_eq!(carriers.len(), 2, "{carriers:?}");
    for (run, carrier) in runs.iter().zip(&carriers) {
        assert_eq!(carrier["family"], "web-migrail");
        assert_eq!(carrier["containerDefinitions"][0]["image"], "app:43");
        // Both phases check the data first.
        assert!(server
            .script_of_run(run)
            .is_some_and(|s| s.contains("def mg_preflight") && s.contains("PF_MODE = \"on\"")));
        let deregistered = server.calls("DeregisterTaskDefinition");
        assert!(
            deregistered.contains(&serde_json::json!({"taskDefinition": run["taskDefinition"]}))
        );
    }
    assert_eq!(
        runs[0]["networkConfiguration"]["awsvpcConfiguration"]["subnets"][0], "subnet-a",
        "the network configuration of the first service"
    );
    assert_ne!(
        runs[0]["startedBy"], runs[1]["startedBy"],
        "two runs, two keys"
    );
    for line in [
        "migrail: deploy: plan: 2 migration(s) before the rollout, 1 after it, 0 blocked",
        "migrail: deploy: pre: running the pre-deploy migrations as a one-off task of web:43",
        "migrail: deploy: rollout: service `web` → web:43 (deployment ecs-svc/",
        "migrail: deploy: rollout: service `worker` → worker:8 (deployment ecs-svc/",
        "migrail: deploy: drain: done: every service runs web:43 only",
        "migrail: gate: passed",
        "migrail: deploy succeeded after",
    ] {
        assert!(o.stderr.contains(line), "missing `{line}`:\n{}", o.stderr);
    }
    let r = &o.result;
    assert_eq!(r["kind"], "deploy");
    assert_eq!(r["outcome"], "succeeded");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["step"], "done");
    assert_eq!(r["plan"]["after"], serde_json::json!(["shop.0003_change"]));
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(steps, ["plan", "pre", "rollout", "drain", "post"]);
    assert_eq!(r["pre"]["outcome"], "succeeded");
    assert_eq!(r["post"]["outcome"], "succeeded");
    for (i, name, td) in [(0, "web", "web:43"), (1, "worker", "worker:8")] {
        let s = &r["services"][i];
        assert_eq!(s["service"], name);
        assert_eq!(s["rollout"], "completed");
        assert_eq!(s["final_task_definition"], td_arn(td));
        assert!(
            s["deployment_id"]
                .as_str()
                .is_some_and(|d| d.starts_with("ecs-svc/")),
            "{s}"
        );
    }
    for line in [
        "verdict=succeeded\n",
        "rollout-web=completed\n",
        "rollout-worker=completed\n",
        "post-verdict=succeeded\n",
    ] {
        assert!(o.outputs.contains(line), "missing `{line}`: {}", o.outputs);
    }
}

#[test]
fn an_old_task_still_draining_holds_the_post_phase_until_it_stops() {
    let server = Server::start(web_service(
        "web:42",
        2,
        Behaviour::Drains {
            after: 2,
            draining: 6,
        },
    ));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let drained = server
        .cluster_log()
        .iter()
        .find(|(_, w)| w == "web drained")
        .map(|(i, _)| *i)
        .expect("the old task stopped");
    let post = server
        .requests()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.op == "RunTask")
        .nth(1)
        .map(|(i, _)| i + 1)
        .expect("the post task");
    assert!(post > drained, "post at {post}, drained at {drained}");
    assert!(
        o.stderr
            .contains("on web:42 is DEACTIVATING, desired STOPPED (draining)"),
        "the blocker is printed: {}",
        o.stderr
    );
    // Both lists were asked: the draining task is only in the desiredStatus=STOPPED one.
    let lists = server.calls("ListTasks");
    assert!(lists
        .iter()
        .any(|l| l["serviceName"] == "web" && l["desiredStatus"] == "STOPPED"));
    assert!(lists
        .iter()
        .any(|l| l["serviceName"] == "web" && l["desiredStatus"] == "RUNNING"));
    let blockers = o.result["blockers"].as_array().expect("blockers");
    assert!(
        blockers.iter().any(|b| b["kind"] == "task"
            && b["last_status"] == "DEACTIVATING"
            && b["revision"] == "web:42"),
        "{blockers:?}"
    );
}

#[test]
fn a_rollback_on_the_second_service_never_runs_the_post_phase() {
    let server = Server::start(two_services(Behaviour::RollsBack { after: 2 }));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    eprintln!("{}", o.stderr);
    assert_eq!(o.code, 131, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43")),
            &format!("UpdateService worker {}", td_arn("worker:8")),
        ],
        "no post task"
    );
    assert!(
        o.stderr.contains("service `worker`")
            && o.stderr.contains("circuit breaker")
            && o.stderr.contains("rolling back"),
        "names the service, the reason and the events: {}",
        o.stderr
    );
    assert!(
        o.stderr.contains("the post phase was not run"),
        "{}",
        o.stderr
    );
    assert_eq!(o.result["outcome"], "rollout-failed");
    assert_eq!(o.result["services"][1]["rollout"], "rolled-back");
    assert_eq!(
        o.result["services"][1]["final_task_definition"],
        td_arn("worker:7")
    );
    assert!(o.result["post"].is_null());
    assert!(
        o.outputs.contains("rollout-worker=rolled-back\n"),
        "{}",
        o.outputs
    );
}

#[test]
fn a_pre_task_the_preflight_refused_stops_before_any_rollout_and_only_is_refused() {
    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43)])
                .service("web", "web:42", 1, Behaviour::Completes { after: 1 })
                .exit_codes(&[65]),
        ),
    );
    let p = project(Some(M3_DROP));
    // The migrate process exits 65 without logs to say why (no awslogs here): refused.
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 133, "{}", o.stderr);
    assert_eq!(mutations(&server), ["RunTask pre"]);
    assert_eq!(
        o.result["pre"]["outcome"], "preflight-refused",
        "{}",
        o.result
    );
    // `--preflight only` applies nothing: a deploy cannot use it.
    let server = Server::start(
        Script::default().cluster(Cluster::new(&[("web", 43)]).service(
            "web",
            "web:42",
            1,
            Behaviour::Completes { after: 1 },
        )),
    );
    let o = deploy(&server, p.path(), &["--preflight", "only"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("migrail run --preflight only"),
        "{}",
        o.stderr
    );
    assert!(mutations(&server).is_empty());
}

#[test]
fn a_failed_pre_task_stops_before_any_rollout() {
    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43)])
                .service("web", "web:42", 1, Behaviour::Completes { after: 1 })
                .exit_codes(&[3]),
        ),
    );
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 3, "the pre run's own exit code: {}", o.stderr);
    assert_eq!(mutations(&server), ["RunTask pre"]);
    assert!(server.calls("UpdateService").is_empty());
    assert_eq!(o.result["outcome"], "pre-failed");
    assert_eq!(o.result["step"], "pre");
    assert!(o.stderr.contains("no service was updated"), "{}", o.stderr);
}

#[test]
fn a_blocked_plan_makes_no_aws_call_at_all() {
    let server = Server::start(web_service("web:42", 1, Behaviour::Completes { after: 1 }));
    let p = project(Some(M3_RENAME));
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(
        o.stderr.contains("blocked: shop.0003_change") && o.stderr.contains("rename-column"),
        "the plan's reasons: {}",
        o.stderr
    );
    assert_eq!(o.result["outcome"], "blocked");
}

#[test]
fn update_service_denied_names_the_permission_and_runs_no_post() {
    let server = Server::start(
        Script::default()
            .cluster(
                Cluster::new(&[("web", 43)])
                    .service("web", "web:42", 1, Behaviour::Completes { after: 1 }),
            )
            .on(
                "UpdateService",
                vec![Reply::error(
                    400,
                    "AccessDeniedException",
                    "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
                )],
            ),
    );
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(o.stderr.contains("`ecs:UpdateService`"), "{}", o.stderr);
    assert_eq!(
        mutations(&server)
            .iter()
            .filter(|m| m.starts_with("RunTask"))
            .count(),
        1
    );
    assert_eq!(o.result["services"][0]["rollout"], "error");
}

#[test]
fn a_timeout_while_draining_leaves_the_services_alone_and_prints_the_resume_command() {
    let server = Server::start(web_service("web:42", 1, Behaviour::Stuck));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--timeout", "3s"]);
    assert_eq!(o.code, 132, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43"))
        ],
        "no post, no second touch of the service"
    );
    let resume = "migrail run --phase post --cluster prod --service web --task-definition web:43 --timeout 3s -- python manage.py migrate --noinput";
    assert!(o.stderr.contains(resume), "{}", o.stderr);
    assert_eq!(o.result["resume"], resume);
    assert_eq!(o.result["outcome"], "old-release-running");
    assert_eq!(o.result["step"], "drain");
    assert!(o.stderr.contains("IN_PROGRESS"), "{}", o.stderr);
}

#[test]
fn no_post_migration_skips_the_post_phase() {
    let server = Server::start(web_service("web:42", 1, Behaviour::Completes { after: 1 }));
    let p = project(None);
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43"))
        ]
    );
    assert!(o.stderr.contains("post: skipped"), "{}", o.stderr);
    assert_eq!(o.result["steps"][4]["outcome"], "skipped");
    assert!(
        o.outputs.contains("post-verdict=skipped\n"),
        "{}",
        o.outputs
    );
}

fn post_gate(server: &Server, dir: &Path, timeout: &str) -> Out {
    migrail(
        server,
        dir,
        &[
            "run",
            "--phase",
            "post",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--task-definition",
            "web:43",
            "--poll-interval",
            "50ms",
            "--timeout",
            timeout,
        ],
    )
}

#[test]
fn run_post_waits_for_the_old_revision_and_starts_no_task_while_it_serves() {
    let server = Server::start(web_service("web:42", 2, Behaviour::Completes { after: 1 }));
    let p = project(Some(M3_DROP));
    let o = post_gate(&server, p.path(), "2s");
    assert_eq!(o.code, 132, "{}", o.stderr);
    assert!(server.calls("RunTask").is_empty(), "no task started");
    assert!(
        o.stderr.contains("service `web`: runs web:42") && o.stderr.contains("not web:43"),
        "{}",
        o.stderr
    );
    assert_eq!(o.result["outcome"], "old-release-running");
    assert!(
        o.result["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no task started")),
        "{}",
        o.result
    );
}

#[test]
fn run_post_starts_once_the_last_draining_task_of_the_old_revision_stops() {
    // The service is on web:43 already; one web:42 task still drains. A task that is
    // STOPPED does not block.
    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43)])
                .service("web", "web:43", 1, Behaviour::Completes { after: 1 })
                .draining_task("web", "web:42", "STOPPED"),
        ),
    );
    let p = project(Some(M3_DROP));
    let o = post_gate(&server, p.path(), "20s");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(mutations(&server), ["RunTask post"]);

    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43)])
                .service("web", "web:43", 1, Behaviour::Completes { after: 1 })
                .draining_task("web", "web:42", "DEACTIVATING"),
        ),
    );
    let o = post_gate(&server, p.path(), "2s");
    assert_eq!(o.code, 132, "{}", o.stderr);
    assert!(server.calls("RunTask").is_empty());
    assert!(o.stderr.contains("(draining)"), "{}", o.stderr);
}

#[test]
fn run_post_without_a_service_warns_that_nothing_was_checked() {
    let server = Server::start(web_service("web:43", 1, Behaviour::Completes { after: 1 }));
    let p = project(Some(M3_DROP));
    let o = migrail(
        &server,
        p.path(),
        &[
            "run",
            "--phase",
            "post",
            "--cluster",
            "prod",
            "--task-definition",
            "web:43",
            "--subnets",
            "subnet-a",
            "--poll-interval",
            "50ms",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("warning: nothing checked that the old release is gone"),
        "{}",
        o.stderr
    );
}

#[test]
fn ci_on_a_deploy_in_phases_with_services_deploys_and_reports_every_step() {
    let server = Server::start(web_service("web:42", 1, Behaviour::Completes { after: 2 }));
    // A push that adds 0003 (a post-phase drop) on top of 0001 and 0002.
    let p = project(None);
    git::git(p.path(), &["init", "-q", "-b", "main"]);
    git::git(p.path(), &["add", "."]);
    git::git(p.path(), &["commit", "-qm", "base"]);
    let before = String::from_utf8_lossy(
        &std::process::Command::new("git")
            .current_dir(p.path())
            .args(["rev-parse", "HEAD"])
            .output()
            .expect("git")
            .stdout,
    )
    .trim()
    .to_string();
    std::fs::write(p.path().join("shop/migrations/0003_change.py"), M3_DROP).expect("write");
    git::git(p.path(), &["add", "."]);
    git::git(p.path(), &["commit", "-qm", "drop legacy"]);
    let event = p.path().join("event.json");
    std::fs::write(&event, format!(r#"{{"before": "{before}"}}"#)).expect("event");
    let summary = p.path().join("summary.md");
    let json = p.path().join("deploy.json");
    let out = Command::cargo_bin("migrail")
        .expect("binary")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", p.path())
        .env("AWS_ENDPOINT_URL", &server.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", p.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            p.path().join("no-credentials"),
        )
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", "0f1e2d3c")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .current_dir(p.path())
        .timeout(Duration::from_secs(90))
        .args([
            "ci",
            "--deploy-phases",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--task-definition",
            "web:43",
            "--poll-interval",
            "50ms",
            "--json-out",
        ])
        .arg(&json)
        .output()
        .expect("migrail ci runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(SECRET));
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43")),
            "RunTask post"
        ]
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("deploy.json")).expect("JSON");
    assert_eq!(result["kind"], "deploy");
    assert_eq!(
        result["plan"]["after"],
        serde_json::json!(["shop.0003_change"])
    );
    let summary = std::fs::read_to_string(&summary).expect("summary");
    let _ = std::fs::write("/tmp/summary.md", &summary);
    for part in [
        "deploy succeeded (web:43",
        "#### Deploy",
        "| pre | succeeded |",
        "| ↳ service `web` | completed |",
        "| drain | succeeded |",
        "| post | succeeded |",
        "#### Pre-deploy migrations",
        "#### Post-deploy migrations",
    ] {
        assert!(summary.contains(part), "missing `{part}`:\n{summary}");
    }
}

// ---- ECS blue/green, linear, canary; other controllers ----------------------------------

/// A blue/green service deployment: each stage lasts its milliseconds; the bake is the
/// long one (the real one says 30 minutes).
fn blue_green(bake_ms: u64, rollback: Option<(&'static str, &'static str)>) -> Behaviour {
    Behaviour::ServiceDeployment {
        strategy: "BLUE_GREEN",
        bake_minutes: 30,
        stages: vec![
            ("RECONCILE_SERVICE", 100),
            ("PRE_SCALE_UP", 100),
            ("SCALE_UP", 200),
            ("POST_SCALE_UP", 100),
            ("PRODUCTION_TRAFFIC_SHIFT", 200),
            ("BAKE_TIME", bake_ms),
            ("CLEAN_UP", 300),
        ],
        rollback,
        pause_hook: None,
    }
}

fn blue_green_web_and_rolling_worker(web: Behaviour) -> Script {
    Script::default().cluster(
        Cluster::new(&[("web", 43), ("worker", 8)])
            .service("web", "web:42", 2, web)
            .service("worker", "worker:7", 1, Behaviour::Completes { after: 2 }),
    )
}

/// When `what` first happened in the stand-in's log (the request index).
fn at(server: &Server, what: &str) -> usize {
    let log = server.cluster_log();
    log.iter()
        .find(|(_, w)| w.starts_with(what))
        .map(|(i, _)| *i)
        .unwrap_or_else(|| panic!("no `{what}` in {log:?}"))
}

fn post_task_at(server: &Server) -> Option<usize> {
    server
        .cluster_log()
        .iter()
        .filter(|(_, w)| w.starts_with("RunTask"))
        .nth(1)
        .map(|(i, _)| *i)
}

#[test]
fn blue_green_with_a_bake_runs_the_post_phase_only_after_successful_and_blue_gone() {
    let server = Server::start(blue_green_web_and_rolling_worker(blue_green(1200, None)));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43")),
            &format!("UpdateService worker {}", td_arn("worker:8")),
            "RunTask post",
        ]
    );
    // The post task only once the service deployment was SUCCESSFUL (after its bake)
    // and every blue task had stopped; the rolling worker completed long before.
    let post = post_task_at(&server).expect("a post task");
    assert!(at(&server, "web BAKE_TIME") < at(&server, "web successful"));
    assert!(
        post > at(&server, "web successful"),
        "{:?}",
        server.cluster_log()
    );
    assert!(
        post > at(&server, "web blue stopped"),
        "{:?}",
        server.cluster_log()
    );
    assert!(at(&server, "worker completed") < at(&server, "web successful"));
    for line in [
        "migrail: deploy: plan: service `web`: ECS blue/green, bake 30 min",
        "migrail: deploy: plan: service `worker`: rolling update",
        "migrail: deploy: rollout: service `web` → web:43 (service deployment arn:aws:ecs:",
        "at BAKE_TIME: blue still running and ECS can still roll back to it, bake ends ~",
        "migrail: deploy: drain: done: every service runs web:43 only",
    ] {
        assert!(o.stderr.contains(line), "missing `{line}`:\n{}", o.stderr);
    }
    let web = &o.result["services"][0];
    assert_eq!(web["deployment_type"], "ECS blue/green, bake 30 min");
    assert_eq!(web["rollout"], "completed");
    assert!(
        web["deployment_id"]
            .as_str()
            .is_some_and(|d| d.contains(":service-deployment/prod/web/")),
        "{web}"
    );
    let stages: Vec<&str> = o.result["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .filter_map(|b| b["stage"].as_str())
        .collect();
    assert!(stages.contains(&"BAKE_TIME"), "{stages:?}");
}

#[test]
fn an_alarm_rollback_during_the_bake_never_runs_the_post_phase() {
    let server = Server::start(blue_green_web_and_rolling_worker(blue_green(
        600,
        Some(("BAKE_TIME", "CloudWatch alarm web-5xx is in ALARM")),
    )));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    assert_eq!(o.code, 131, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:43")),
            &format!("UpdateService worker {}", td_arn("worker:8")),
        ],
        "no post task"
    );
    assert!(
        o.stderr.contains("service `web`") && o.stderr.contains("web-5xx is in ALARM"),
        "names the service and the reason: {}",
        o.stderr
    );
    assert_eq!(o.result["outcome"], "rollout-failed");
    assert_eq!(o.result["services"][0]["rollout"], "rolled-back");
    assert!(o.result["post"].is_null());
}

#[test]
fn a_bake_longer_than_the_timeout_ends_with_the_resume_command_whose_gate_holds_through_it() {
    let server = Server::start(web_service("web:42", 2, blue_green(3000, None)));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--timeout", "2s"]);
    assert_eq!(o.code, 132, "{}", o.stderr);
    assert!(post_task_at(&server).is_none(), "no post task");
    assert!(
        o.stderr
            .contains("run the post phase alone: migrail run --phase post"),
        "{}",
        o.stderr
    );
    // The resume command: the post gate waits out the bake and the blue tasks.
    let o = post_gate(&server, p.path(), "30s");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let post = post_task_at(&server).expect("the post task");
    assert!(
        post > at(&server, "web successful"),
        "{:?}",
        server.cluster_log()
    );
    assert!(
        post > at(&server, "web blue stopped"),
        "{:?}",
        server.cluster_log()
    );
}

#[test]
fn an_external_controller_is_refused_before_any_change() {
    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43)])
                .service("web", "web:42", 2, Behaviour::Stuck)
                .controller("EXTERNAL"),
        ),
    );
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(mutations(&server).is_empty(), "{:?}", mutations(&server));
    assert!(
        o.stderr.contains("EXTERNAL deployment controller")
            && o.stderr.contains("migrail run --phase post --service web"),
        "{}",
        o.stderr
    );
    assert_eq!(o.result["outcome"], "unsupported");
    assert_eq!(o.result["services"][0]["rollout"], "unsupported");
}

/// What `web:42` is in full: two containers (the app and a sidecar), roles, sizes,
/// volumes, a runtime platform, and the read-only fields ECS adds.
fn web_42() -> Value {
    serde_json::json!({
        "family": "web", "revision": 42, "status": "ACTIVE",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/web-exec",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {"name": "web", "image": "repo/shop:old", "essential": true, "cpu": 0,
             "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
             "environment": [{"name": "DJANGO_SETTINGS_MODULE", "value": "shop.settings"}],
             "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}],
             "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "migrate"}}},
            {"name": "xray", "image": "public.ecr.aws/xray/aws-xray-daemon:3.3", "essential": false,
             "cpu": 32, "memoryReservation": 64}
        ],
        "volumes": [{"name": "tmp", "host": {}}],
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512", "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
        "compatibilities": ["EC2", "FARGATE"],
        "registeredAt": 1_700_000_000.0,
        "registeredBy": "arn:aws:iam::123456789012:role/ci"
    })
}

#[test]
fn image_registers_one_revision_per_family_with_every_field_and_tag_kept() {
    let tags = serde_json::json!([{"key": "team", "value": "shop"}, {"key": "cost-center", "value": "42"}]);
    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43), ("worker", 8)])
                .definition("web:42", web_42(), tags.clone())
                .service("web", "web:42", 2, Behaviour::Completes { after: 2 })
                .service("admin", "web:42", 1, Behaviour::Completes { after: 2 })
                .service("worker", "worker:7", 1, Behaviour::Completes { after: 2 }),
        ),
    );
    let p = project(Some(M3_DROP));
    let o = migrail(
        &server,
        p.path(),
        &[
            "deploy",
            "--all",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--service",
            "admin",
            "--service",
            "worker",
            "--image",
            "web=repo/shop:new",
            "--image",
            "worker=repo/shop:new",
            "--poll-interval",
            "50ms",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // One registration per family, before anything runs (and the carriers of the two
    // runs' scripts, in their own family).
    let registered: Vec<Value> = server
        .calls("RegisterTaskDefinition")
        .into_iter()
        .filter(|r| {
            !r["family"]
                .as_str()
                .unwrap_or_default()
                .ends_with("-migrail")
        })
        .collect();
    assert_eq!(registered.len(), 2, "{registered:?}");
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            &format!("UpdateService web {}", td_arn("web:44")),
            &format!("UpdateService admin {}", td_arn("web:44")),
            &format!("UpdateService worker {}", td_arn("worker:9")),
            "RunTask post",
        ]
    );
    assert!(at(&server, "RegisterTaskDefinition worker:9") < at(&server, "RunTask"));
    // The web revision: what web:42 is, minus the read-only fields, with only the web
    // container's image changed, and the tags.
    let mut expected = web_42();
    let obj = expected.as_object_mut().expect("object");
    for read_only in [
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        obj.remove(read_only);
    }
    expected["containerDefinitions"][0]["image"] = serde_json::json!("repo/shop:new");
    expected["tags"] = tags;
    assert_eq!(registered[0], expected);
    // Both one-off tasks run the first service's new revision (in carriers of it: copies
    // with the script in the environment).
    let carriers: Vec<Value> = server
        .calls("RegisterTaskDefinition")
        .into_iter()
        .filter(|r| r["family"] == "web-migrail")
        .collect();
    assert_eq!(carriers.len(), 2, "{carriers:?}");
    assert!(
        carriers
            .iter()
            .all(|c| c["containerDefinitions"][0]["image"] == "repo/shop:new"),
        "{carriers:?}"
    );
    assert!(
        o.stderr
            .contains("migrail: deploy: plan: registered web:44 from web:42 (web=repo/shop:new)"),
        "{}",
        o.stderr
    );
    let r = &o.result;
    assert_eq!(r["task_definition"], td_arn("web:44"));
    assert_eq!(r["registered"].as_array().map(Vec::len), Some(2), "{r}");
    assert_eq!(r["registered"][1]["arn"], td_arn("worker:9"));
    assert_eq!(r["services"][2]["task_definition"], td_arn("worker:9"));
}

#[test]
fn image_and_task_definition_exclude_each_other_and_an_unknown_container_is_named() {
    let server = Server::start(web_service("web:42", 2, Behaviour::Completes { after: 1 }));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--image", "web=repo/shop:new"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(o.stderr.contains("exclude each other"), "{}", o.stderr);
    let o = migrail(
        &server,
        p.path(),
        &[
            "deploy",
            "--all",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--image",
            "api=repo/shop:new",
            "--poll-interval",
            "50ms",
        ],
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("--image api:") && o.stderr.contains("it has web"),
        "{}",
        o.stderr
    );
    assert!(
        mutations(&server).is_empty(),
        "nothing ran, nothing was updated"
    );
    assert!(server.calls("RegisterTaskDefinition").is_empty());
}

// ---- --pause-hook: the pre phase inside the deployment ---------------------------------

/// Blue/green with a PAUSE hook at PRE_SCALE_UP that times out after `hook_timeout_ms`;
/// `reconcile_ms` before it is reached.
fn paused(reconcile_ms: u64, hook_timeout_ms: u64) -> Behaviour {
    Behaviour::ServiceDeployment {
        strategy: "BLUE_GREEN",
        bake_minutes: 5,
        stages: vec![
            ("RECONCILE_SERVICE", reconcile_ms),
            ("PRE_SCALE_UP", 100),
            ("SCALE_UP", 200),
            ("POST_SCALE_UP", 100),
            ("PRODUCTION_TRAFFIC_SHIFT", 200),
            ("BAKE_TIME", 300),
            ("CLEAN_UP", 200),
        ],
        rollback: None,
        pause_hook: Some(hook_timeout_ms),
    }
}

fn pause_hook_world(web: Behaviour, worker: Behaviour) -> Script {
    pause_hook_world_exiting(web, worker, &[0])
}

fn pause_hook_world_exiting(web: Behaviour, worker: Behaviour, exit: &[i64]) -> Script {
    Script::default().cluster(
        Cluster::new(&[("web", 43), ("worker", 8)])
            .service("web", "web:42", 2, web)
            .service("worker", "worker:7", 1, worker)
            .exit_codes(exit),
    )
}

fn deploy_paused(server: &Server, dir: &Path) -> Out {
    deploy(
        server,
        dir,
        &["--service", "worker=worker:8", "--pause-hook"],
    )
}

#[test]
fn pause_hook_runs_the_pre_phase_while_every_service_waits_and_nothing_new_started() {
    let server = Server::start(pause_hook_world(paused(100, 20_000), paused(300, 20_000)));
    let p = project(Some(M3_DROP));
    let o = deploy_paused(&server, p.path());
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            &format!("UpdateService web {}", td_arn("web:43")),
            &format!("UpdateService worker {}", td_arn("worker:8")),
            "RunTask pre",
            "ContinueServiceDeployment web CONTINUE",
            "ContinueServiceDeployment worker CONTINUE",
            "RunTask post",
        ]
    );
    // The pre task ran while both deployments were paused and before any green task.
    let pre = at(&server, "RunTask");
    assert!(pre > at(&server, "web paused") && pre > at(&server, "worker paused"));
    assert!(pre < at(&server, "web continued") && pre < at(&server, "worker continued"));
    assert!(pre < at(&server, "web green started") && pre < at(&server, "worker green started"));
    let post = post_task_at(&server).expect("a post task");
    assert!(post > at(&server, "web successful") && post > at(&server, "worker blue stopped"));
    let steps: Vec<&str> = o.result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        steps,
        ["plan", "rollout", "hold", "pre", "continue", "drain", "post"]
    );
    assert!(
        o.stderr.contains(
            "migrail: deploy: hold: service `web`: paused at PRE_SCALE_UP (hook hook-web)"
        ),
        "{}",
        o.stderr
    );
}

#[test]
fn pause_hook_with_a_failing_pre_task_rolls_every_service_back_and_runs_no_post() {
    let server = Server::start(pause_hook_world_exiting(
        paused(100, 20_000),
        paused(100, 20_000),
        &[3],
    ));
    let p = project(Some(M3_DROP));
    let o = deploy_paused(&server, p.path());
    assert_eq!(o.code, 3, "the pre run's exit code: {}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            &format!("UpdateService web {}", td_arn("web:43")),
            &format!("UpdateService worker {}", td_arn("worker:8")),
            "RunTask pre",
            "ContinueServiceDeployment web ROLLBACK",
            "ContinueServiceDeployment worker ROLLBACK",
        ],
        "no CONTINUE, no post task"
    );
    assert!(at(&server, "web rollback successful") > at(&server, "web rolled back"));
    assert!(
        o.result["reason"]
            .as_str()
            .is_some_and(|r| r.contains("every service was rolled back")
                && r.contains("ROLLBACK_SUCCESSFUL")),
        "{}",
        o.result
    );
    assert_eq!(o.result["outcome"], "pre-failed");
    assert_eq!(o.result["services"][0]["rollout"], "rolled-back");
}

#[test]
fn a_pause_hook_that_expires_before_the_pre_phase_runs_no_migration() {
    // web pauses at once and its hook expires after 300 ms; worker reaches its hook only
    // after 1.5 s: the pre phase never starts.
    let server = Server::start(pause_hook_world(paused(50, 300), paused(1500, 20_000)));
    let p = project(Some(M3_DROP));
    let o = deploy_paused(&server, p.path());
    assert_eq!(o.code, 131, "{}", o.stderr);
    assert!(server.calls("RunTask").is_empty(), "no migration ran");
    assert!(
        o.stderr.contains("its pause hook timed out") && o.stderr.contains("no migration ran"),
        "{}",
        o.stderr
    );
    assert_eq!(o.result["outcome"], "rollout-failed");
}

#[test]
fn pause_hook_without_the_hook_is_refused_with_the_configuration_to_add() {
    let server = Server::start(pause_hook_world(
        paused(100, 20_000),
        Behaviour::Completes { after: 1 },
    ));
    let p = project(Some(M3_DROP));
    let o = deploy_paused(&server, p.path());
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(mutations(&server).is_empty(), "{:?}", mutations(&server));
    assert!(
        o.stderr
            .contains("service `worker` has no PAUSE lifecycle hook at PRE_SCALE_UP")
            && o.stderr.contains("\"lifecycleStages\": [\"PRE_SCALE_UP\"]")
            && o.stderr.contains("ecs:ContinueServiceDeployment"),
        "{}",
        o.stderr
    );
}

#[test]
fn continue_denied_names_the_permission_and_runs_no_post() {
    let server = Server::start(
        pause_hook_world(paused(100, 20_000), paused(100, 20_000)).on(
            "ContinueServiceDeployment",
            (0..2)
                .map(|_| {
                    Reply::error(
                        400,
                        "AccessDeniedException",
                        "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: ecs:ContinueServiceDeployment",
                    )
                })
                .collect(),
        ),
    );
    let p = project(Some(M3_DROP));
    let o = deploy_paused(&server, p.path());
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("ecs:ContinueServiceDeployment")
            && o.stderr.contains("the pre-deploy migrations ran"),
        "{}",
        o.stderr
    );
    assert!(post_task_at(&server).is_none(), "no post task");
}

// ---- CodeDeploy blue/green --------------------------------------------------------------

fn codedeploy_world(fail: Option<&'static str>) -> Script {
    Script::default().cluster(
        Cluster::new(&[("web", 43), ("worker", 8)])
            .service("web", "web:42", 2, Behaviour::CodeDeploy { fail })
            .controller("CODE_DEPLOY")
            .codedeploy_group("shop", "shop-web", "web")
            .codedeploy_group("other", "other-dg", "api")
            .service("worker", "worker:7", 1, Behaviour::Completes { after: 2 }),
    )
}

#[test]
fn codedeploy_creates_a_deployment_and_the_post_phase_waits_for_the_blue_task_set_to_go() {
    let server = Server::start(codedeploy_world(None));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        mutations(&server),
        [
            "RunTask pre",
            "CreateDeployment shop-web",
            &format!("UpdateService worker {}", td_arn("worker:8")),
            "RunTask post",
        ],
        "no UpdateService on the CodeDeploy service"
    );
    let created = server.calls("CreateDeployment");
    assert_eq!(created[0]["applicationName"], "shop");
    let spec: Value = serde_json::from_str(
        created[0]["revision"]["appSpecContent"]["content"]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("the AppSpec is JSON");
    let props = &spec["Resources"][0]["TargetService"]["Properties"];
    assert_eq!(props["TaskDefinition"], td_arn("web:43"));
    assert_eq!(props["LoadBalancerInfo"]["ContainerName"], "web");
    assert_eq!(props["LoadBalancerInfo"]["ContainerPort"], 8000);
    let post = post_task_at(&server).expect("a post task");
    assert!(
        post > at(&server, "web codedeploy succeeded"),
        "{:?}",
        server.cluster_log()
    );
    assert!(
        post > at(&server, "web blue task set removed"),
        "{:?}",
        server.cluster_log()
    );
    for line in [
        "migrail: deploy: plan: service `web`: CodeDeploy blue/green",
        "migrail: deploy: rollout: service `web` → web:43 (CodeDeploy deployment d-",
    ] {
        assert!(o.stderr.contains(line), "missing `{line}`:\n{}", o.stderr);
    }
    assert_eq!(o.result["services"][0]["rollout"], "completed");
}

#[test]
fn a_failed_codedeploy_deployment_quotes_its_error_and_runs_no_post() {
    let server = Server::start(codedeploy_world(Some(
        "CloudWatch alarm web-5xx is in ALARM",
    )));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    assert_eq!(o.code, 131, "{}", o.stderr);
    assert!(post_task_at(&server).is_none(), "no post task");
    assert!(
        o.stderr
            .contains("ALARM_ACTIVE: CloudWatch alarm web-5xx is in ALARM")
            && o.stderr.contains("rollback: Automatic rollback triggered"),
        "{}",
        o.stderr
    );
    assert_eq!(o.result["services"][0]["rollout"], "failed");
}

#[test]
fn create_deployment_denied_names_the_permission() {
    let server = Server::start(codedeploy_world(None).on(
        "CreateDeployment",
        vec![Reply::error(
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: codedeploy:CreateDeployment",
        )],
    ));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "worker=worker:8"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("codedeploy:CreateDeployment"),
        "{}",
        o.stderr
    );
    assert!(post_task_at(&server).is_none(), "no post task");
}

#[test]
fn services_of_another_cluster_are_named_cluster_slash_name() {
    let server = Server::start(
        Script::default().cluster(
            Cluster::new(&[("web", 43), ("worker", 8)])
                .service("web", "web:42", 2, Behaviour::Completes { after: 2 })
                .service("worker", "worker:7", 1, Behaviour::Completes { after: 2 })
                .in_cluster("jobs"),
        ),
    );
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &["--service", "jobs/worker=worker:8"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let updates = server.calls("UpdateService");
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(updates[0]["cluster"], "prod");
    assert_eq!(updates[1]["cluster"], "jobs");
    assert_eq!(updates[1]["service"], "worker");
    assert!(
        server
            .calls("DescribeServices")
            .iter()
            .any(|c| c["cluster"] == "jobs" && c["services"][0] == "worker"),
        "the worker is read in its own cluster"
    );
    assert!(post_task_at(&server).is_some_and(|post| post > at(&server, "worker completed")));
    // The first service gives the one-off task its network: it must be in --cluster.
    let o = migrail(
        &server,
        p.path(),
        &[
            "deploy",
            "--all",
            "--cluster",
            "prod",
            "--service",
            "jobs/worker",
            "--task-definition",
            "worker:8",
        ],
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("must be in --cluster `prod`"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_linear_deployment_is_followed_through_every_traffic_step() {
    let linear = Behaviour::ServiceDeployment {
        strategy: "LINEAR",
        bake_minutes: 10,
        stages: vec![
            ("RECONCILE_SERVICE", 50),
            ("PRE_SCALE_UP", 50),
            ("SCALE_UP", 100),
            ("PRODUCTION_TRAFFIC_SHIFT", 200),
            ("POST_PRODUCTION_TRAFFIC_SHIFT", 100),
            ("PRODUCTION_TRAFFIC_SHIFT", 200),
            ("POST_PRODUCTION_TRAFFIC_SHIFT", 100),
            ("BAKE_TIME", 400),
            ("CLEAN_UP", 200),
        ],
        rollback: None,
        pause_hook: None,
    };
    let server = Server::start(web_service("web:42", 2, linear));
    let p = project(Some(M3_DROP));
    let o = deploy(&server, p.path(), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("migrail: deploy: plan: service `web`: ECS linear, bake 10 min"),
        "{}",
        o.stderr
    );
    let post = post_task_at(&server).expect("a post task");
    assert!(post > at(&server, "web successful") && post > at(&server, "web blue stopped"));
    // Every traffic step was waited for: a shift after the first post-shift stage.
    let log = server.cluster_log();
    let shifts = log
        .iter()
        .filter(|(_, w)| w == "web PRODUCTION_TRAFFIC_SHIFT")
        .count();
    assert!(shifts >= 2, "{log:?}");
}
