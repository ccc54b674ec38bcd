//! `migrail run --backend ecs` against a scripted ECS / CloudWatch Logs endpoint on
//! 127.0.0.1 (tests/support/aws_server.rs): the real SDK, the real wire protocol, dummy
//! credentials. One scenario per test, each with its expected output and exit code.

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/aws_server.rs"]
mod aws_server;
#[path = "support/secrets.rs"]
mod secrets;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use aws_server::{Reply, Script, Server};
use serde_json::{json, Value};

const SECRET: &str = "wJalrXUtnFEMI-TEST-SECRET-never-printed";
const CLUSTER: &str = "prod";
const TD_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42";
const TASK_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef";

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    result: Value,
}

fn base_env(cmd: &mut Command, server: &Server, home: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", &server.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("GITHUB_SHA", "0f1e2d3c");
}

fn run(server: &Server, args: &[&str]) -> Outcome {
    run_with(server, args, |_| {})
}

fn run_with(server: &Server, args: &[&str], extra: impl FnOnce(&mut Command)) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("result.json");
    let mut cmd = Command::cargo_bin("migrail").expect("binary");
    base_env(&mut cmd, server, dir.path());
    extra(&mut cmd);
    let out = cmd
        .current_dir(dir.path())
        .timeout(Duration::from_secs(60))
        .args(["run", "--poll-interval", "50ms", "--json-out"])
        .arg(&json)
        .args(args)
        .output()
        .expect("migrail runs");
    let o = Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        result: std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null),
    };
    // `::add-mask::VALUE` (GitHub Actions) is the runner's command to hide the value: the
    // runner does not print it.
    let shown: String = o
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for text in [&shown, &o.stderr, &o.result.to_string()] {
        assert!(!text.contains(SECRET), "the secret key leaked: {text}");
    }
    o
}

const SERVICE_ARGS: &[&str] = &["--cluster", CLUSTER, "--service", "web"];

fn service() -> Reply {
    Reply::ok(json!({
        "services": [{
            "serviceName": "web",
            "status": "ACTIVE",
            "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:41",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": ["subnet-a", "subnet-b"],
                "securityGroups": ["sg-1"],
                "assignPublicIp": "DISABLED"
            }}
        }],
        "failures": []
    }))
}

fn container(name: &str, essential: bool, awslogs: bool) -> Value {
    let mut c = json!({"name": name, "image": "app:latest", "essential": essential});
    if awslogs {
        c["logConfiguration"] = json!({"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "migrate"
        }});
    }
    c
}

fn task_definition(containers: Vec<Value>) -> Reply {
    Reply::ok(json!({"taskDefinition": {
        "taskDefinitionArn": TD_ARN, "family": "web", "revision": 42,
        "containerDefinitions": containers
    }}))
}

fn task(status: &str, containers: Value, stop: Option<(&str, &str)>) -> Value {
    let mut t = json!({
        "taskArn": TASK_ARN, "lastStatus": status, "desiredStatus": if status == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "taskDefinitionArn": TD_ARN, "containers": containers, "startedBy": "migrail-x"
    });
    if let Some((code, reason)) = stop {
        t["stopCode"] = json!(code);
        t["stoppedReason"] = json!(reason);
    }
    t
}

fn described(t: Value) -> Reply {
    Reply::ok(json!({"tasks": [t], "failures": []}))
}

fn web(exit: Option<i32>) -> Value {
    match exit {
        Some(c) => json!([{"name": "web", "lastStatus": "STOPPED", "exitCode": c}]),
        None => json!([{"name": "web", "lastStatus": "STOPPED"}]),
    }
}

fn lifecycle(end: Value) -> Vec<Reply> {
    vec![
        described(task("PROVISIONING", json!([{"name": "web"}]), None)),
        described(task(
            "RUNNING",
            json!([{"name": "web", "lastStatus": "RUNNING"}]),
            None,
        )),
        described(end),
    ]
}

fn exited(code: i32) -> Value {
    task(
        "STOPPED",
        web(Some(code)),
        Some((
            "EssentialContainerExited",
            "Essential container in task exited",
        )),
    )
}

fn run_task_ok() -> Reply {
    Reply::ok(
        json!({"tasks": [task("PROVISIONING", json!([{"name": "web"}]), None)], "failures": []}),
    )
}

/// The usual scripted world: one service, one task definition, no other tasks.
fn world(describe: Vec<Reply>) -> Script {
    world_run(vec![run_task_ok()], describe)
}

fn world_run(run_task: Vec<Reply>, describe: Vec<Reply>) -> Script {
    Script::default()
        .on("DescribeServices", vec![service()])
        .on(
            "DescribeTaskDefinition",
            vec![task_definition(vec![
                container("web", true, true),
                container("xray", false, false),
            ])],
        )
        .on("ListTasks", vec![Reply::ok(json!({"taskArns": []}))])
        .on("RunTask", run_task)
        .on("DescribeTasks", describe)
        .on(
            "StopTask",
            vec![Reply::ok(
                json!({"task": task("STOPPING", web(None), None)}),
            )],
        )
}

#[test]
fn the_task_succeeds_with_the_services_configuration() {
    let server = Server::start(world(lifecycle(exited(0))).logs(
        &[
            "Operations to perform:",
            "  Applying shop.0001_initial... OK",
            "  Applying shop.0002_book_isbn... OK",
        ],
        &[],
    ));
    let outputs = tempfile::NamedTempFile::new().expect("temp file");
    let o = run_with(&server, SERVICE_ARGS, |c| {
        c.env("GITHUB_OUTPUT", outputs.path());
    });
    assert_eq!(o.code, 0, "{}", o.stderr);
    let outputs = std::fs::read_to_string(outputs.path()).expect("GITHUB_OUTPUT");
    assert!(
        outputs.contains(&format!("task-arn={TASK_ARN}\n")),
        "{outputs}"
    );
    assert!(
        outputs.contains("stop-code=EssentialContainerExited\n"),
        "{outputs}"
    );
    assert!(
        outputs.contains("applied=shop.0001_initial,shop.0002_book_isbn\n"),
        "{outputs}"
    );
    assert!(
        o.stdout.contains("Applying shop.0002_book_isbn... OK"),
        "{}",
        o.stdout
    );
    for line in [
        "task 0123456789abcdef: PROVISIONING",
        "task 0123456789abcdef: RUNNING",
        "task 0123456789abcdef: STOPPED",
        "migrail: run succeeded (task 0123456789abcdef): exit code 0",
    ] {
        assert!(o.stderr.contains(line), "missing `{line}`: {}", o.stderr);
    }
    assert_eq!(o.result["backend"], "ecs");
    assert_eq!(o.result["task_arn"], TASK_ARN);
    assert_eq!(
        o.result["applied"],
        json!(["shop.0001_initial", "shop.0002_book_isbn"])
    );
    assert!(
        o.result["log_url"]
            .as_str()
            .is_some_and(|u| u.contains("$252Fecs$252Fweb")),
        "{}",
        o.result
    );

    let runs = server.calls("RunTask");
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r["cluster"], CLUSTER);
    // The service's task definition, as DescribeTaskDefinition resolved it.
    assert_eq!(
        server.calls("DescribeTaskDefinition")[0]["taskDefinition"],
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:41"
    );
    // The guard and the preflight do not fit in the overrides: the script travels in a
    // carrier, a copy of the task definition in the family `web-migrail`, registered just
    // before RunTask and deregistered right after it.
    let carrier = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web-migrail:1";
    assert_eq!(r["taskDefinition"], carrier);
    assert_eq!(
        server.calls("DescribeTaskDefinition")[1]["taskDefinition"],
        TD_ARN
    );
    let registered = &server.calls("RegisterTaskDefinition")[0];
    assert_eq!(registered["family"], "web-migrail");
    assert_eq!(registered["containerDefinitions"][1]["name"], "xray");
    assert_eq!(
        server.calls("DeregisterTaskDefinition"),
        [json!({"taskDefinition": carrier})]
    );
    let order: Vec<String> = server.requests().iter().map(|r| r.op.clone()).collect();
    let at = |op: &str| order.iter().position(|o| o == op).expect(op);
    assert!(
        at("RegisterTaskDefinition") < at("RunTask")
            && at("RunTask") < at("DeregisterTaskDefinition")
    );
    assert_eq!(r["count"], 1);
    assert_eq!(r["launchType"], "FARGATE");
    assert_eq!(r["platformVersion"], "1.4.0");
    assert_eq!(
        r["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        json!(["subnet-a", "subnet-b"])
    );
    assert_eq!(
        r["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"],
        json!(["sg-1"])
    );
    let key = r["startedBy"].as_str().expect("startedBy");
    assert!(key.starts_with("migrail-") && key.len() <= 64, "{key}");
    assert_eq!(r["clientToken"], key, "the run key is also the clientToken");
    assert_eq!(o.result["run_key"], key);
    // The default command runs behind the lock guard (lock_timeout 5 s, 5 retries),
    // packed to fit the overrides.
    let over = &r["overrides"]["containerOverrides"][0];
    assert_eq!(over["name"], "web");
    assert_eq!(
        over["command"].as_array().map(|a| a[..4].to_vec()),
        Some(vec![
            json!("python"),
            json!("manage.py"),
            json!("shell"),
            json!("-c")
        ])
    );
    let script = server.run_task_script(0).expect("a packed script");
    assert!(
        script.contains("def mg_preflight")
            && script.contains("LOCK_MS = 5000\n")
            && script.contains("RETRIES = 5\n")
            && script.ends_with("sys.exit(migrail_run(\"--noinput\"))\n"),
        "{script}"
    );
    assert!(over.get("environment").is_none(), "{over}");
    let tags = r["tags"].as_array().expect("tags");
    assert!(
        tags.contains(&json!({"key": "migrail:run-key", "value": key})),
        "{tags:?}"
    );
    assert!(
        tags.contains(&json!({"key": "migrail:sha", "value": "0f1e2d3c"})),
        "{tags:?}"
    );
    // The guard looked for a task with our key first, with startedBy as its only filter.
    let lists = server.calls("ListTasks");
    assert_eq!(lists[0]["startedBy"], key);
    assert!(lists[0].get("family").is_none(), "{:?}", lists[0]);
    // Signed with the dummy credentials.
    assert!(server.requests()[0].authorization.contains("AKIDTESTONLY"));
}

/// A new task definition revision, an extra variable and a command of our own.
const NEW_REVISION: &[&str] = &[
    "--cluster",
    CLUSTER,
    "--service",
    "web",
    "--task-definition",
    "web:42",
    "--env",
    "A=1",
    "--",
    "python",
    "manage.py",
    "migrate",
    "shop",
];

#[test]
fn a_new_task_definition_and_the_run_key_follow_the_flags() {
    let server = Server::start(world(lifecycle(exited(0))));
    let o = run(&server, NEW_REVISION);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = &server.calls("RunTask")[0];
    assert_eq!(
        server.calls("DescribeTaskDefinition")[0]["taskDefinition"],
        "web:42"
    );
    assert_eq!(
        server.calls("DescribeTaskDefinition")[1]["taskDefinition"],
        TD_ARN
    );
    let over = &r["overrides"]["containerOverrides"][0];
    assert_eq!(over["environment"], json!([{"name": "A", "value": "1"}]));
    let script = server.run_task_script(0).expect("a packed script");
    assert!(
        script.ends_with("sys.exit(migrail_run(\"shop\"))\n"),
        "{script}"
    );
    // `--lock-timeout 0 --preflight off`: the command exactly as given, in the task
    // definition named.
    let off = Server::start(world(lifecycle(exited(0))));
    run(
        &off,
        &[&["--lock-timeout", "0", "--preflight", "off"], NEW_REVISION].concat(),
    );
    assert_eq!(off.calls("RunTask")[0]["taskDefinition"], TD_ARN);
    assert!(off.calls("RegisterTaskDefinition").is_empty());
    assert_eq!(
        off.calls("RunTask")[0]["overrides"]["containerOverrides"][0]["command"],
        json!(["python", "manage.py", "migrate", "shop"])
    );
    // `--lock-timeout 2s --lock-retries 1 --statement-timeout 1m` reach the task.
    let set = Server::start(world(lifecycle(exited(0))));
    run(
        &set,
        &[
            &[
                "--lock-timeout",
                "2s",
                "--lock-retries",
                "1",
                "--statement-timeout",
                "1m",
            ],
            NEW_REVISION,
        ]
        .concat(),
    );
    let script = set.run_task_script(0).expect("a packed script");
    assert!(
        script.contains("LOCK_MS = 2000\n")
            && script.contains("RETRIES = 1\n")
            && script.contains("STATEMENT_MS = 60000\n"),
        "{script}"
    );
    // Same inputs, same key; another commit, another key.
    let again = Server::start(world(lifecycle(exited(0))));
    run(&again, NEW_REVISION);
    assert_eq!(again.calls("RunTask")[0]["clientToken"], r["clientToken"]);
    let other = Server::start(world(lifecycle(exited(0))));
    run(&other, &[&["--sha", "ffff"], NEW_REVISION].concat());
    assert_ne!(other.calls("RunTask")[0]["clientToken"], r["clientToken"]);
}

#[test]
fn the_containers_exit_code_passes_through_with_late_log_lines() {
    let server = Server::start(world(lifecycle(exited(3))).logs(
        &["  Applying shop.0003_broken..."],
        &[
            "Traceback (most recent call last):",
            "django.db.utils.ProgrammingError: column \"isbn\" does not exist",
        ],
    ));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("ProgrammingError: column \"isbn\" does not exist"),
        "the lines that arrive after STOPPED are printed: {}",
        o.stdout
    );
    assert_eq!(o.result["outcome"], "failed");
    assert_eq!(o.result["command_exit_code"], 3);
    assert_eq!(o.result["stop_code"], "EssentialContainerExited");
    assert!(
        o.result["log_tail"].to_string().contains("Traceback"),
        "{}",
        o.result
    );
    assert!(
        o.stderr
            .contains("migrail: run failed (task 0123456789abcdef): exit code 3"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_task_that_fails_to_start_is_an_infrastructure_failure() {
    let end = task(
        "STOPPED",
        json!([{"name": "web", "lastStatus": "STOPPED", "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref app:latest: not found"}]),
        Some((
            "TaskFailedToStart",
            "CannotPullContainerError: pull image manifest has been retried",
        )),
    );
    let server = Server::start(world(vec![described(end)]));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 126, "{}", o.stderr);
    assert_eq!(o.result["outcome"], "failed-to-start");
    assert_eq!(o.result["stop_code"], "TaskFailedToStart");
    assert!(
        o.stderr
            .contains("run failed to start (task 0123456789abcdef): CannotPullContainerError"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("container: CannotPullContainerError"),
        "{}",
        o.stderr
    );
}

#[test]
fn capacity_failures_are_retried_with_the_same_client_token() {
    let no_memory = Reply::ok(json!({"tasks": [], "failures": [
        {"reason": "RESOURCE:MEMORY", "arn": "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/1"}
    ]}));
    let server = Server::start(world_run(
        vec![no_memory, run_task_ok()],
        lifecycle(exited(0)),
    ));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let runs = server.calls("RunTask");
    assert_eq!(runs.len(), 2, "one retry");
    assert_eq!(runs[0]["clientToken"], runs[1]["clientToken"]);
    assert!(
        o.stderr.contains("RESOURCE:MEMORY") && o.stderr.contains("same clientToken"),
        "{}",
        o.stderr
    );
}

#[test]
fn capacity_that_never_comes_fails_to_start() {
    let no_capacity = Reply::ok(
        json!({"tasks": [], "failures": [{"reason": "Capacity is unavailable at this time. Please try again later or in a different availability zone"}]}),
    );
    let server = Server::start(world_run(vec![no_capacity], lifecycle(exited(0))));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 126, "{}", o.stderr);
    assert_eq!(server.calls("RunTask").len(), 6);
    assert!(
        o.stderr
            .contains("after 6 attempts: Capacity is unavailable"),
        "{}",
        o.stderr
    );
}

#[test]
fn throttling_is_retried() {
    let throttled = Reply::error(400, "ThrottlingException", "Rate exceeded");
    let mut describe = vec![throttled.clone()];
    describe.extend(lifecycle(exited(0)));
    let script = Script::default()
        .on("DescribeServices", vec![throttled, service()])
        .on(
            "DescribeTaskDefinition",
            vec![task_definition(vec![container("web", true, true)])],
        )
        .on("ListTasks", vec![Reply::ok(json!({"taskArns": []}))])
        .on("RunTask", vec![run_task_ok()])
        .on("DescribeTasks", describe);
    let server = Server::start(script);
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(server.calls("DescribeServices").len(), 2);
    assert!(server.calls("DescribeTasks").len() >= 4);
}

#[test]
fn missing_on_the_first_describes_is_tolerated() {
    let missing =
        Reply::ok(json!({"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "MISSING"}]}));
    let mut describe = vec![missing.clone(), missing];
    describe.extend(lifecycle(exited(0)));
    let server = Server::start(world(describe));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(server.calls("DescribeTasks").len() >= 5);
}

#[test]
fn a_conflict_attaches_to_the_task_already_started() {
    let conflict = Reply {
        status: 400,
        body: json!({"__type": "ConflictException", "message": "The specified client token has already been used in another request", "resourceIds": [TASK_ARN]}),
    };
    let server = Server::start(world_run(vec![conflict], lifecycle(exited(0))));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(server.calls("RunTask").len(), 1, "no second start");
    assert!(
        o.stderr.contains(&format!("attached to task {TASK_ARN}")),
        "{}",
        o.stderr
    );
    assert_eq!(server.calls("DescribeTasks")[0]["tasks"], json!([TASK_ARN]));
}

fn list(arns: &[&str]) -> Reply {
    Reply::ok(json!({"taskArns": arns}))
}

#[test]
fn a_task_already_running_with_our_key_is_attached_to() {
    let server =
        Server::start(world(lifecycle(exited(0))).on("ListTasks", vec![list(&[TASK_ARN])]));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        server.calls("RunTask").is_empty(),
        "the guard attached instead of starting"
    );
    assert!(o.stderr.contains("is already running"), "{}", o.stderr);
}

fn other_task(status: &str) -> Reply {
    let mut t = task(status, json!([{"name": "web"}]), None);
    t["taskArn"] = json!("arn:aws:ecs:eu-west-1:123456789012:task/prod/other");
    t["startedBy"] = json!("migrail-0000other");
    described(t)
}

#[test]
fn another_migration_in_flight_is_refused_or_waited_for() {
    let other = "arn:aws:ecs:eu-west-1:123456789012:task/prod/other";
    let busy = || {
        world(vec![other_task("RUNNING")])
            .on("ListTasks", vec![list(&[]), list(&[other, TASK_ARN])])
    };
    let server = Server::start(busy());
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("another migration task is running for task family `web`")
            && o.stderr.contains("--wait-for-other"),
        "{}",
        o.stderr
    );
    assert!(server.calls("RunTask").is_empty());
    assert_eq!(server.calls("ListTasks")[1]["family"], "web");

    let mut describe = vec![other_task("RUNNING"), other_task("STOPPED")];
    describe.extend(lifecycle(exited(0)));
    let server = Server::start(world(describe).on(
        "ListTasks",
        vec![list(&[]), list(&[other]), list(&[other]), list(&[])],
    ));
    let o = run(
        &server,
        &["--cluster", CLUSTER, "--service", "web", "--wait-for-other"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("waiting for the other migration task"),
        "{}",
        o.stderr
    );
    assert_eq!(server.calls("RunTask").len(), 1);
}

#[test]
fn a_task_stopped_by_someone_else_has_its_own_exit_code() {
    let end = task(
        "STOPPED",
        web(Some(143)),
        Some(("UserInitiated", "Task stopped by user")),
    );
    let server = Server::start(world(lifecycle(end)));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 129, "{}", o.stderr);
    assert_eq!(o.result["outcome"], "stopped-externally");
    assert!(
        o.stderr.contains("stop code UserInitiated") && o.stderr.contains("Task stopped by user"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_container_without_an_exit_code_is_a_failure() {
    let end = task(
        "STOPPED",
        web(None),
        Some((
            "EssentialContainerExited",
            "Essential container in task exited",
        )),
    );
    let server = Server::start(world(lifecycle(end)));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 128, "{}", o.stderr);
    assert_eq!(o.result["outcome"], "no-exit-code");
    assert_eq!(o.result["command_exit_code"], Value::Null);
}

#[test]
fn the_target_container_is_judged_not_the_sidecar() {
    let end = task(
        "STOPPED",
        json!([{"name": "xray", "exitCode": 1}, {"name": "web", "exitCode": 0}]),
        Some((
            "EssentialContainerExited",
            "Essential container in task exited",
        )),
    );
    let server = Server::start(world(lifecycle(end)));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // And the other way round: the sidecar succeeded, the target did not.
    let end = task(
        "STOPPED",
        json!([{"name": "xray", "exitCode": 0}, {"name": "web", "exitCode": 2}]),
        Some((
            "EssentialContainerExited",
            "Essential container in task exited",
        )),
    );
    let server = Server::start(world(lifecycle(end)));
    assert_eq!(run(&server, SERVICE_ARGS).code, 2);
}

fn forever() -> Vec<Reply> {
    vec![described(task(
        "RUNNING",
        json!([{"name": "web", "lastStatus": "RUNNING"}]),
        None,
    ))]
}

#[test]
fn timeout_detaches_by_default_and_stops_on_request() {
    let server = Server::start(world(forever()));
    let o = run(
        &server,
        &["--cluster", CLUSTER, "--service", "web", "--timeout", "1s"],
    );
    assert_eq!(o.code, 124, "{}", o.stderr);
    assert_eq!(o.result["outcome"], "timed-out");
    assert!(
        server.calls("StopTask").is_empty(),
        "the task is left running"
    );
    assert!(
        o.stderr.contains("keeps running") && o.stderr.contains("aws ecs stop-task"),
        "{}",
        o.stderr
    );

    let server = Server::start(world(forever()));
    let o = run(
        &server,
        &[
            "--cluster",
            CLUSTER,
            "--service",
            "web",
            "--timeout",
            "1s",
            "--on-cancel",
            "stop",
        ],
    );
    assert_eq!(o.code, 124, "{}", o.stderr);
    let stops = server.calls("StopTask");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["task"], TASK_ARN);
    assert!(
        stops[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("--timeout")),
        "{:?}",
        stops[0]
    );
}

/// Start migrail, wait until the task is RUNNING, send SIGINT, collect the outcome.
fn interrupted(server: &Server, extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("migrail"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_ENDPOINT_URL", &server.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .args([
            "run",
            "--poll-interval",
            "50ms",
            "--timeout",
            "60s",
            "--cluster",
            CLUSTER,
            "--service",
            "web",
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if line.contains(": RUNNING") {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    assert!(
        text.contains(": RUNNING"),
        "never saw the task running: {text}"
    );
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        text.push_str(&line);
        text.push('\n');
    }
    assert!(!text.contains(SECRET));
    (status.code().unwrap_or(-1), text)
}

#[test]
fn sigint_detaches_and_says_how_to_reattach() {
    let server = Server::start(world(forever()));
    let (code, stderr) = interrupted(&server, &[]);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        server.calls("StopTask").is_empty(),
        "never kill a migration mid-DDL by default"
    );
    assert!(
        stderr.contains("SIGINT")
            && stderr.contains("detached")
            && stderr.contains(TASK_ARN)
            && stderr.contains("re-attach"),
        "{stderr}"
    );

    let server = Server::start(world(forever()));
    let (code, stderr) = interrupted(&server, &["--on-cancel", "stop"]);
    assert_eq!(code, 130, "{stderr}");
    assert_eq!(server.calls("StopTask").len(), 1, "{stderr}");
}

#[test]
fn access_denied_names_the_iam_action() {
    let denied = Reply::error(400, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/ci/gh is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42");
    let server = Server::start(world_run(vec![denied], forever()));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert_eq!(
        server.calls("RunTask").len(),
        1,
        "a permission error is not retried"
    );
    assert!(
        o.stderr.contains("AWS denied ecs:RunTask") && o.stderr.contains("Grant `ecs:RunTask`"),
        "{}",
        o.stderr
    );

    let pass_role = Reply::error(400, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/ci/gh is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/web-task");
    let server = Server::start(world_run(vec![pass_role], forever()));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("Grant `iam:PassRole`"),
        "the action in AWS's message wins: {}",
        o.stderr
    );
}

#[test]
fn a_carrier_that_cannot_be_registered_starts_nothing_and_says_what_to_grant() {
    let denied = Reply::error(400, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/ci/gh is not authorized to perform: ecs:RegisterTaskDefinition on resource: *");
    let server = Server::start(world(forever()).on("RegisterTaskDefinition", vec![denied]));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(server.calls("RunTask").is_empty());
    assert!(
        o.stderr.contains("Grant `ecs:RegisterTaskDefinition`")
            && o.stderr
                .contains("ecs:DeregisterTaskDefinition and iam:PassRole")
            && o.stderr.contains("--preflight off"),
        "{}",
        o.stderr
    );
}

#[test]
fn missing_cluster_and_service_say_what_to_check() {
    let server = Server::start(world(forever()).on(
        "DescribeServices",
        vec![Reply::error(
            400,
            "ClusterNotFoundException",
            "Cluster not found.",
        )],
    ));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("service `web` in cluster `prod` not found: Cluster not found."),
        "{}",
        o.stderr
    );

    let server = Server::start(world(forever()).on("DescribeServices", vec![Reply::ok(json!({"services": [], "failures": [{"arn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web", "reason": "MISSING"}]}))]));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("service `web` in cluster `prod` not found (MISSING)"),
        "{}",
        o.stderr
    );
    assert!(server.calls("RunTask").is_empty());
}

#[test]
fn an_ambiguous_container_names_the_candidates() {
    let server = Server::start(world(forever()).on(
        "DescribeTaskDefinition",
        vec![task_definition(vec![
            container("web", true, true),
            container("worker", true, true),
        ])],
    ));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("2 essential containers (`web`, `worker`)")
            && o.stderr.contains("--container"),
        "{}",
        o.stderr
    );

    let worker_done = task(
        "STOPPED",
        json!([{"name": "web", "exitCode": 1}, {"name": "worker", "exitCode": 0}]),
        Some((
            "EssentialContainerExited",
            "Essential container in task exited",
        )),
    );
    let server = Server::start(world(lifecycle(worker_done)).on(
        "DescribeTaskDefinition",
        vec![task_definition(vec![
            container("web", true, true),
            container("worker", true, true),
        ])],
    ));
    let o = run(
        &server,
        &[
            "--cluster",
            CLUSTER,
            "--service",
            "web",
            "--container",
            "worker",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        server.calls("RunTask")[0]["overrides"]["containerOverrides"][0]["name"],
        "worker"
    );
}

#[test]
fn without_awslogs_it_warns_and_runs_anyway() {
    let server = Server::start(world(lifecycle(exited(0))).on(
        "DescribeTaskDefinition",
        vec![task_definition(vec![container("web", true, false)])],
    ));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("warning: container `web` has no logConfiguration: no live logs"),
        "{}",
        o.stderr
    );
    assert!(server.calls("GetLogEvents").is_empty());
}

#[test]
fn overrides_too_large_fail_before_run_task() {
    let big = format!("BIG={}", "x".repeat(9000));
    let server = Server::start(world(forever()));
    let o = run(
        &server,
        &["--cluster", CLUSTER, "--service", "web", "--env", &big],
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("ECS accepts at most 8192"),
        "{}",
        o.stderr
    );
    assert!(server.calls("RunTask").is_empty());
}

fn sha1_hex(text: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha1(sys.argv[1].encode()).hexdigest())",
            text,
        ])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn credentials_come_from_a_profiles_credential_process_or_sso_login_as_the_aws_cli_does() {
    let aws = tempfile::tempdir().expect("tempdir");
    let config = aws.path().join("config");
    std::fs::write(
        &config,
        "[profile dev]\nregion = eu-west-1\ncredential_process = sh -c 'echo \"{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"AKIDPROCESS\\\", \\\"SecretAccessKey\\\": \\\"process-secret\\\"}\"'\n\
         [profile sso]\nregion = eu-west-1\nsso_start_url = https://acme.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 123456789012\nsso_role_name = Deploy\n",
    )
    .expect("config");
    // `aws sso login` caches the portal token under ~/.aws/sso/cache/SHA1(start URL).json.
    let server = Server::start(world(lifecycle(exited(0))).on(
        "GetRoleCredentials",
        vec![Reply::ok(json!({"roleCredentials": {
            "accessKeyId": "AKIDSSOROLE", "secretAccessKey": "sso-secret",
            "sessionToken": "sso-session", "expiration": 4_102_444_800_000u64
        }}))],
    ));
    let profile = |name: &'static str| {
        let config = config.clone();
        move |c: &mut Command| {
            c.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_REGION")
                .env("AWS_CONFIG_FILE", &config)
                .env("AWS_PROFILE", name);
        }
    };
    let o = run_with(&server, SERVICE_ARGS, profile("dev"));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let signed = server.requests()[0].authorization.clone();
    assert!(signed.contains("AKIDPROCESS"), "{signed}");

    let server = Server::start(world(lifecycle(exited(0))).on(
        "GetRoleCredentials",
        vec![Reply::ok(json!({"roleCredentials": {
            "accessKeyId": "AKIDSSOROLE", "secretAccessKey": "sso-secret",
            "sessionToken": "sso-session", "expiration": 4_102_444_800_000u64
        }}))],
    ));
    let o = run_with(&server, SERVICE_ARGS, |c| {
        profile("sso")(c);
        let home = std::path::PathBuf::from(
            c.get_envs()
                .find(|(k, _)| *k == "HOME")
                .and_then(|(_, v)| v)
                .expect("HOME"),
        );
        let cache = home.join(".aws/sso/cache");
        std::fs::create_dir_all(&cache).expect("mkdir");
        // SHA-1 of the start URL, as the AWS CLI names the file.
        let key = sha1_hex("https://acme.awsapps.com/start");
        std::fs::write(
            cache.join(format!("{key}.json")),
            json!({"startUrl": "https://acme.awsapps.com/start", "region": "eu-west-1",
                   "accessToken": "portal-token", "expiresAt": "2099-01-01T00:00:00Z"})
            .to_string(),
        )
        .expect("token");
    });
    assert_eq!(o.code, 0, "{}", o.stderr);
    let requests = server.requests();
    assert_eq!(requests[0].op, "GetRoleCredentials", "{:?}", requests[0]);
    let ecs: Vec<_> = requests
        .iter()
        .filter(|r| r.op != "GetRoleCredentials")
        .collect();
    assert!(!ecs.is_empty());
    for r in ecs {
        assert!(
            r.authorization.contains("AKIDSSOROLE"),
            "{} signed with {}",
            r.op,
            r.authorization
        );
    }
}

#[test]
fn no_region_and_no_credentials_say_what_to_set() {
    let server = Server::start(world(forever()));
    let o = run_with(&server, SERVICE_ARGS, |c| {
        c.env_remove("AWS_REGION");
    });
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("no AWS region: pass --region, or set AWS_REGION"),
        "{}",
        o.stderr
    );

    let o = run_with(&server, SERVICE_ARGS, |c| {
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
    });
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("no AWS credentials found") && o.stderr.contains("role-to-assume"),
        "{}",
        o.stderr
    );
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn an_expired_session_mid_wait_leaves_the_task_running_and_names_the_setting() {
    let expired = Reply::error(
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    );
    let server = Server::start(world(vec![
        described(task(
            "RUNNING",
            json!([{"name": "web", "lastStatus": "RUNNING"}]),
            None,
        )),
        expired,
    ]));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("session expired") && o.stderr.contains("role-duration-seconds"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("The task keeps running") && o.stderr.contains(TASK_ARN),
        "{}",
        o.stderr
    );
    assert!(server.calls("StopTask").is_empty());
}

#[test]
fn usage_errors_exit_125() {
    let server = Server::start(world(forever()));
    for (args, needle) in [
        (&["--cluster", CLUSTER][..], "--service"),
        (&["--backend", "ecs", "--service", "web"][..], "--cluster"),
        (
            &["--backend", "local", "--cluster", CLUSTER, "--", "true"][..],
            "ECS flag",
        ),
        (
            &[
                "--cluster",
                CLUSTER,
                "--service",
                "web",
                "--lock",
                "redis:x",
            ][..],
            "dynamodb:TABLE",
        ),
        (
            &[
                "--cluster",
                CLUSTER,
                "--service",
                "web",
                "--run-key",
                "has space",
            ][..],
            "not allowed",
        ),
        (
            &[
                "--cluster",
                CLUSTER,
                "--service",
                "web",
                "--launch-type",
                "FARGATE",
                "--capacity-provider",
                "FARGATE_SPOT",
            ][..],
            "exclude each other",
        ),
        (&[][..], "--cluster"),
    ] {
        let o = run(&server, args);
        assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
    }
    assert!(server.calls("RunTask").is_empty());
}

#[test]
fn a_capacity_provider_strategy_is_copied_instead_of_a_launch_type() {
    let spot = Reply::ok(json!({
        "services": [{
            "serviceName": "web", "status": "ACTIVE", "taskDefinition": TD_ARN,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 1}],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a"], "securityGroups": ["sg-1"]}}
        }],
        "failures": []
    }));
    let server = Server::start(world(lifecycle(exited(0))).on("DescribeServices", vec![spot]));
    let o = run(&server, SERVICE_ARGS);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = &server.calls("RunTask")[0];
    assert_eq!(
        r["capacityProviderStrategy"],
        json!([{"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 1}])
    );
    assert!(r.get("launchType").is_none(), "{r}");
}

#[test]
fn a_phase_runs_migrails_phase_script_in_the_task() {
    // The service is on the task definition the task runs, its deployment complete and
    // no other task alive: the post-phase gate passes at once.
    let mut on_it = service().body;
    on_it["services"][0]["taskDefinition"] = json!(TD_ARN);
    on_it["services"][0]["deployments"] = json!([{
        "id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": TD_ARN,
        "desiredCount": 2, "runningCount": 2, "pendingCount": 0, "rolloutState": "COMPLETED"
    }]);
    let server =
        Server::start(world(lifecycle(exited(0))).on("DescribeServices", vec![Reply::ok(on_it)]));
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rehearsal");
    let o = run(
        &server,
        &[
            "--cluster",
            CLUSTER,
            "--service",
            "web",
            "--phase",
            "post",
            "--project",
            project.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("migrail: gate: passed"), "{}", o.stderr);
    let command = &server.calls("RunTask")[0]["overrides"]["containerOverrides"][0]["command"];
    let argv: Vec<&str> = command
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&argv[..4], ["python", "manage.py", "shell", "-c"]);
    let script = server.run_task_script(0).expect("a packed script");
    assert!(
        script.contains("PHASE = \"post\"")
            && script.contains("(\"library\", \"0005_drop_book_legacy_code\"): \"post\"")
            && script.contains("migrail_migrate(app, target,"),
        "{script}"
    );
}

/// The task's log stream holds one secret of each kind, one of them the value of the task
/// definition's `DJANGO_DB_PASSWORD`: the job output, the verdict and the result document
/// carry none of them, every ordinary line is intact, and in GitHub Actions every known
/// value is registered with `::add-mask::` before the first log line.
#[test]
fn no_secret_from_the_task_log_stream_is_republished() {
    let lines = secrets::all_lines();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut web = container("web", true, true);
    web["environment"] = json!([
        {"name": "DJANGO_SETTINGS_MODULE", "value": "shop.settings"},
        {"name": "DJANGO_DB_PASSWORD", "value": secrets::KNOWN_ENV_VALUE}
    ]);
    let script = world(lifecycle(exited(1)))
        .on(
            "DescribeTaskDefinition",
            vec![task_definition(vec![web, container("xray", false, false)])],
        )
        .logs(&lines[..lines.len() / 2], &lines[lines.len() / 2..]);
    let server = Server::start(script);
    let o = run_with(&server, SERVICE_ARGS, |c| {
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_TOKEN", secrets::OWN_GITHUB_TOKEN)
            .env("AWS_SESSION_TOKEN", secrets::OWN_SESSION_TOKEN);
    });
    assert_eq!(o.code, 1, "{}", o.stderr);
    let first_line = o
        .stdout
        .find(secrets::ORDINARY[0])
        .unwrap_or_else(|| panic!("the log stream is printed: {}", o.stdout));
    for (_, value) in secrets::known() {
        let mask = format!("::add-mask::{value}\n");
        let at = o
            .stdout
            .find(&mask)
            .unwrap_or_else(|| panic!("no `{mask}` in the job output:\n{}", o.stdout));
        assert!(at < first_line, "`{mask}` after the first log line");
    }
    secrets::assert_clean("the job output", &o.stdout[first_line..]);
    for secret in secrets::secrets() {
        assert!(!o.stderr.contains(secret), "stderr carries `{secret}`");
    }
    secrets::assert_clean("the result document", &o.result.to_string());
}
