//! `migrail run --backend ecs` against moto, the community's AWS emulator (`moto[server]`
//! pinned in tests/moto/requirements.txt, installed into a virtualenv by the test and
//! started on a free loopback port, stopped by its PID at the end). The world is set up
//! and inspected with boto3 (tests/moto/helper.py). Moto's quirks: it ignores
//! `clientToken`; its tasks stop by themselves with exit code 0 (slowed down here through
//! its state manager); RunTask needs `memory` on the container and `securityGroups` in
//! the awsvpc configuration; subnets must be moto's own; its services run no tasks, and
//! its UpdateService starts no deployment (tests/moto/server.py, which starts the server,
//! fills that gap as ECS behaves).

#![cfg(all(unix, feature = "ecs"))]

#[path = "support/venv.rs"]
mod venv;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A moto server for one test; killed when dropped.
struct Moto {
    child: Child,
    url: String,
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start() -> Moto {
        let bin = venv::venv("moto-venv", &repo().join("tests/moto/requirements.txt"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(bin.join("python"))
            .arg(repo().join("tests/moto/server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            bin,
            home: tempfile::tempdir().expect("tempdir"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        moto
    }

    fn helper(&self, args: &[&str]) -> String {
        let out = Command::new(self.bin.join("python"))
            .arg(repo().join("tests/moto/helper.py"))
            .arg(&self.url)
            .args(args)
            .output()
            .expect("helper runs");
        assert!(
            out.status.success(),
            "helper {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn setup(&self) -> Value {
        serde_json::from_str(&self.helper(&["setup"])).expect("setup JSON")
    }

    /// The script a task runs (unpacked): from its command, or from the `MIGRAIL_SCRIPT`
    /// variable of the carrier task definition it runs.
    fn script_of(&self, task: &Value) -> Option<String> {
        let over = &task["overrides"]["containerOverrides"][0];
        let command: Vec<String> = serde_json::from_value(over["command"].clone()).ok()?;
        let td: Value = serde_json::from_str(
            &self.helper(&["task-definition", task["taskDefinitionArn"].as_str()?]),
        )
        .ok()?;
        let environment: Vec<(String, String)> = td["containerDefinitions"]
            .as_array()?
            .iter()
            .filter(|c| c["name"] == over["name"])
            .flat_map(|c| c["environment"].as_array().cloned().unwrap_or_default())
            .filter_map(|kv| {
                Some((
                    kv["name"].as_str()?.to_string(),
                    kv["value"].as_str()?.to_string(),
                ))
            })
            .collect();
        migrail::ecs::resolve::script_of(&command, &environment)
    }

    fn tasks(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.helper(&["tasks"]))
            .expect("tasks JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn migrail(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare();
        cmd.args(["run", "--poll-interval", "200ms", "--timeout", "60s"])
            .args(["--cluster", "prod", "--service", "web"])
            .args(args);
        cmd
    }

    /// migrail with the environment that points it at moto, and no arguments.
    fn bare(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("migrail"));
        let home: &Path = self.home.path();
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
            .env("GITHUB_SHA", "c0ffee");
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.migrail(args).output().expect("migrail runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn tag(task: &Value, key: &str) -> Option<String> {
    task["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
        .map(str::to_string)
}

#[test]
fn the_services_configuration_is_copied_into_run_task() {
    let moto = Moto::start();
    let ids = moto.setup();
    let (code, _, stderr) = moto.run(&[
        "--tag",
        "team=payments",
        "--",
        "python",
        "manage.py",
        "migrate",
        "shop",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let tasks = moto.tasks();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let t = &tasks[0];
    // The lock guard and the preflight travel in a carrier: a copy of the service's task
    // definition in the family `web-migrail`, deregistered once the task started.
    let carrier = t["taskDefinitionArn"].as_str().expect("an ARN");
    assert!(
        carrier.ends_with(":task-definition/web-migrail:1"),
        "{carrier}"
    );
    let copy: Value =
        serde_json::from_str(&moto.helper(&["task-definition", carrier])).expect("JSON");
    let original: Value = serde_json::from_str(&moto.helper(&[
        "task-definition",
        ids["task_definition"].as_str().expect("an ARN"),
    ]))
    .expect("JSON");
    assert_eq!(
        copy["containerDefinitions"][0]["image"],
        original["containerDefinitions"][0]["image"]
    );
    assert_eq!(copy["status"], "INACTIVE");
    assert_eq!(t["launchType"], "FARGATE");
    assert_eq!(t["platformVersion"], "1.4.0");
    let key = t["startedBy"].as_str().expect("startedBy");
    assert!(key.starts_with("migrail-"), "{key}");
    assert!(stderr.contains(key), "{stderr}");
    let command = &t["overrides"]["containerOverrides"][0]["command"];
    assert_eq!(
        command.as_array().map(|a| a[..4].to_vec()),
        serde_json::json!(["python", "manage.py", "shell", "-c"])
            .as_array()
            .cloned()
    );
    let script = moto.script_of(t).expect("the lock guard, packed");
    assert!(
        script.ends_with("sys.exit(migrail_run(\"shop\"))\n"),
        "{script}"
    );
    assert_eq!(tag(t, "migrail:run-key").as_deref(), Some(key));
    assert_eq!(tag(t, "migrail:sha").as_deref(), Some("c0ffee"));
    assert_eq!(tag(t, "team").as_deref(), Some("payments"));
    // The ENI is in the service's first subnet (moto's own).
    let subnet = t["attachments"][0]["details"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == "subnetId"))
        .and_then(|x| x["value"].as_str())
        .map(str::to_string);
    assert_eq!(subnet.as_deref(), ids["subnets"][0].as_str());
}

#[test]
fn explicit_flags_replace_the_services_launch_type_and_network() {
    let moto = Moto::start();
    let ids = moto.setup();
    let subnet = ids["subnets"][1].as_str().expect("subnet").to_string();
    let (code, _, stderr) = moto.run(&[
        "--capacity-provider",
        "FARGATE_SPOT:2",
        "--subnets",
        &subnet,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let tasks = moto.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["capacityProviderName"], "FARGATE_SPOT",
        "{:?}",
        tasks[0]
    );
    assert_ne!(tasks[0]["launchType"], "FARGATE", "{:?}", tasks[0]);
    let details = tasks[0]["attachments"][0]["details"].to_string();
    assert!(details.contains(&subnet), "{details}");
}

#[test]
fn a_second_run_with_the_same_key_attaches_instead_of_starting_another_task() {
    let moto = Moto::start();
    moto.setup();
    let (code, _, first) = moto.run(&[]);
    assert_eq!(code, 0, "{first}");
    let (code, _, second) = moto.run(&[]);
    assert_eq!(code, 0, "{second}");
    assert!(
        second.contains("attached to task") && second.contains("already finished"),
        "{second}"
    );
    assert_eq!(moto.tasks().len(), 1, "exactly one task");
    // Another commit is another run.
    let (code, _, third) = moto.run(&["--sha", "beef"]);
    assert_eq!(code, 0, "{third}");
    assert_eq!(moto.tasks().len(), 2);
}

/// Spawn migrail; return the child and the task id it printed.
fn spawn_until_started(
    moto: &Moto,
    args: &[&str],
) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = moto
        .migrail(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("E {line}"));
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(format!("O {line}"));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(arn) = line.strip_prefix("E migrail: started task ") {
                let id = arn.rsplit('/').next().unwrap_or_default().to_string();
                return (child, id, rx);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("migrail never started a task");
}

fn collect(child: &mut Child, rx: &std::sync::mpsc::Receiver<String>) -> (i32, String) {
    let status = child.wait().expect("wait");
    let mut text = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        text.push_str(&line);
        text.push('\n');
    }
    (status.code().unwrap_or(-1), text)
}

#[test]
fn log_events_written_while_the_task_runs_are_streamed() {
    let moto = Moto::start();
    moto.setup();
    moto.helper(&["slow", "1"]);
    let (mut child, id, rx) = spawn_until_started(&moto, &[]);
    moto.helper(&[
        "put-logs",
        "/ecs/web",
        &format!("migrate/web/{id}"),
        "Operations to perform:",
        "  Applying shop.0001_initial... OK",
        "  Applying shop.0002_book_isbn... OK",
    ]);
    let (code, text) = collect(&mut child, &rx);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("O   Applying shop.0002_book_isbn... OK"),
        "printed on stdout: {text}"
    );
    assert!(text.contains("2 migrations applied"), "{text}");
}

#[test]
fn two_runs_contending_for_the_lock_start_exactly_one_task() {
    let moto = Moto::start();
    moto.setup();
    moto.helper(&["slow", "1"]);
    let lock = ["--lock", "dynamodb:migrail-locks"];
    let mut a = moto
        .migrail(&[&lock[..], &["--sha", "aaaa"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a");
    let mut b = moto
        .migrail(&[&lock[..], &["--sha", "bbbb"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn b");
    let finish = |c: &mut Child| {
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (c.wait().expect("wait").code().unwrap_or(-1), err)
    };
    let (ca, ea) = finish(&mut a);
    let (cb, eb) = finish(&mut b);
    let mut codes = [ca, cb];
    codes.sort();
    assert_eq!(codes, [0, 125], "a: {ea}\nb: {eb}");
    let loser = if ca == 125 { &ea } else { &eb };
    assert!(
        loser.contains("is held by run migrail-") && loser.contains("--wait-for-other"),
        "{loser}"
    );
    assert_eq!(moto.tasks().len(), 1, "exactly one task");
    // The winner released the lock: the next run takes it.
    let (code, _, stderr) = moto.run(&[&lock[..], &["--sha", "cccc"]].concat());
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn deploy_runs_pre_rolls_out_and_runs_post() {
    let moto = Moto::start();
    let ids = moto.setup();
    let new = moto.helper(&["register"]).trim().to_string();
    assert!(new.ends_with("task-definition/web:2"), "{new}");
    let project = tempfile::tempdir().expect("tempdir");
    let m = project.path().join("shop/migrations");
    std::fs::create_dir_all(&m).expect("mkdir");
    std::fs::write(m.join("__init__.py"), "").expect("write");
    std::fs::write(
        m.join("0001_initial.py"),
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    initial = True\n    operations = [migrations.CreateModel(name=\"Book\", fields=[(\"id\", models.BigAutoField(primary_key=True)), (\"legacy\", models.TextField(null=True))])]\n",
    )
    .expect("write");
    std::fs::write(
        m.join("0002_drop.py"),
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [migrations.RemoveField(\"book\", \"legacy\")]\n",
    )
    .expect("write");
    let out = moto
        .bare()
        .current_dir(project.path())
        .args(["deploy", "--all", "--cluster", "prod", "--service", "web"])
        .args([
            "--task-definition",
            "web:2",
            "--poll-interval",
            "200ms",
            "--timeout",
            "120s",
        ])
        .output()
        .expect("migrail runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("migrail: deploy succeeded"), "{stderr}");
    // Both runs on the new revision, pre first; the service is on it.
    let tasks = moto.tasks();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    // In the order migrail started them: pre, then post, with the rollout between.
    let started: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("migrail: started task "))
        .collect();
    let phases: Vec<&str> = started
        .iter()
        .map(|arn| {
            let t = tasks
                .iter()
                .find(|t| t["taskArn"] == *arn)
                .expect("a task migrail started");
            let script = moto.script_of(t).expect("a packed script");
            if script.contains("PHASE = \"post\"") {
                "post"
            } else {
                "pre"
            }
        })
        .collect();
    assert_eq!(phases, ["pre", "post"], "{stderr}");
    let rollout = stderr
        .find("deploy: rollout: service `web`")
        .expect("rollout");
    let post = stderr.find(started[1]).expect("post started");
    assert!(rollout < post, "{stderr}");
    // Both ran the new revision (in carriers: copies of it holding the script).
    let image = |arn: &str| -> Value {
        let td: Value =
            serde_json::from_str(&moto.helper(&["task-definition", arn])).expect("JSON");
        td["containerDefinitions"][0]["image"].clone()
    };
    assert_eq!(image(&new), "registry.example/web:new");
    assert!(
        tasks
            .iter()
            .all(|t| image(t["taskDefinitionArn"].as_str().unwrap_or_default()) == image(&new)),
        "{tasks:?}"
    );
    let service: Value = serde_json::from_str(&moto.helper(&["service"])).expect("JSON");
    assert_eq!(service["taskDefinition"], new.as_str());
    assert_ne!(ids["task_definition"], new.as_str());
}
