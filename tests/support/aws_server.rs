//! A scripted AWS endpoint on 127.0.0.1 for the SDK to talk to: HTTP/1.1, the JSON
//! protocols of ECS, CloudWatch Logs and DynamoDB, routed on the `X-Amz-Target` header
//! (`AmazonEC2ContainerServiceV20141113.RunTask` → `RunTask`). Each operation answers
//! from its own queue of replies (the last one repeats); the task's log stream is
//! modelled so that lines can appear before the task stops or only after it. A stateful
//! ECS cluster (tests/support/ecs_cluster.rs: services, deployments, rollouts, draining
//! tasks) answers what no queue scripts. Every request is recorded for the test to
//! assert on.

#![allow(dead_code)]

#[path = "http.rs"]
mod http;

#[path = "ecs_cluster.rs"]
pub mod cluster;

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Request {
    /// The operation: the part of `X-Amz-Target` after the dot.
    pub op: String,
    pub body: Value,
    pub authorization: String,
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }
    pub fn error(status: u16, kind: &str, message: &str) -> Reply {
        Reply {
            status,
            body: json!({"__type": kind, "message": message}),
        }
    }
}

/// The task's log stream as CloudWatch Logs would serve it.
#[derive(Default)]
pub struct Stream {
    /// Visible as soon as the task has been reported RUNNING.
    pub while_running: Vec<String>,
    /// Visible only after a DescribeTasks reply said STOPPED (late lines).
    pub after_stop: Vec<String>,
}

#[derive(Default)]
pub struct Script {
    queues: HashMap<String, VecDeque<Reply>>,
    pub stream: Stream,
    running_seen: bool,
    stopped_seen: bool,
    cluster: Option<cluster::Cluster>,
    /// Task definitions registered when no queue scripts it (a carrier of migrail's
    /// script): (ARN, body).
    registered: Vec<(String, Value)>,
}

impl Script {
    /// Script an operation's replies (replacing any earlier script for it); the last
    /// one answers every later call.
    pub fn on(mut self, op: &str, replies: Vec<Reply>) -> Script {
        self.queues.insert(op.to_string(), replies.into());
        self
    }

    pub fn logs(mut self, while_running: &[&str], after_stop: &[&str]) -> Script {
        self.stream.while_running = while_running.iter().map(|s| s.to_string()).collect();
        self.stream.after_stop = after_stop.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Answer what no queue scripts from a stateful cluster.
    pub fn cluster(mut self, c: cluster::Cluster) -> Script {
        self.cluster = Some(c);
        self
    }

    fn answer(&mut self, req: &Request, requests: usize) -> Reply {
        if !self.queues.contains_key(&req.op) {
            if let Some(c) = self.cluster.as_mut() {
                if let Some((status, body)) = c.answer(&req.op, &req.body, requests) {
                    return Reply { status, body };
                }
            }
        }
        if !self.queues.contains_key(&req.op) {
            // A registry that accepts: revisions numbered per family.
            if req.op == "RegisterTaskDefinition" {
                let family = req.body["family"].as_str().unwrap_or_default().to_string();
                let revision = 1 + self
                    .registered
                    .iter()
                    .filter(|(_, b)| b["family"] == family.as_str())
                    .count();
                let arn = format!(
                    "arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:{revision}"
                );
                self.registered.push((arn.clone(), req.body.clone()));
                let mut td = req.body.clone();
                td["taskDefinitionArn"] = json!(arn);
                td["revision"] = json!(revision);
                td["status"] = json!("ACTIVE");
                return Reply::ok(json!({"taskDefinition": td}));
            }
            if req.op == "DeregisterTaskDefinition" {
                return Reply::ok(json!({"taskDefinition": {
                    "taskDefinitionArn": req.body["taskDefinition"], "status": "INACTIVE"
                }}));
            }
        }
        if req.op == "GetLogEvents" && !self.queues.contains_key("GetLogEvents") {
            return self.log_events(&req.body);
        }
        let Some(queue) = self.queues.get_mut(&req.op) else {
            return Reply::error(
                400,
                "UnknownOperationException",
                &format!("no script for {}", req.op),
            );
        };
        let reply = if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        };
        let reply = reply.unwrap_or_else(|| Reply::error(500, "InternalFailure", "empty script"));
        if req.op == "DescribeTasks" {
            let text = reply.body.to_string();
            self.running_seen |= text.contains("\"RUNNING\"") || text.contains("\"STOPPED\"");
            self.stopped_seen |= text.contains("\"STOPPED\"");
        }
        reply
    }

    fn log_events(&mut self, body: &Value) -> Reply {
        if !self.running_seen {
            return Reply::error(
                400,
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            );
        }
        let mut visible: Vec<&String> = self.stream.while_running.iter().collect();
        if self.stopped_seen {
            visible.extend(self.stream.after_stop.iter());
        }
        let from = body["nextToken"]
            .as_str()
            .and_then(|t| t.strip_prefix("f/"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
            .min(visible.len());
        let events: Vec<Value> = visible[from..]
            .iter()
            .enumerate()
            .map(|(i, m)| json!({"timestamp": 1_700_000_000_000u64 + (from + i) as u64, "message": m, "ingestionTime": 1_700_000_000_000u64}))
            .collect();
        Reply::ok(json!({
            "events": events,
            "nextForwardToken": format!("f/{}", visible.len()),
            "nextBackwardToken": "b/0",
        }))
    }
}

pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<Script>>,
}

impl Server {
    pub fn start(script: Script) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let recorded = Arc::clone(&requests);
        let shared = Arc::clone(&script);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let script = Arc::clone(&shared);
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(conn, &script, &recorded));
            }
        });
        Server {
            url,
            requests,
            script,
        }
    }

    /// The cluster's log: `(requests so far, what happened)`.
    pub fn cluster_log(&self) -> Vec<(usize, String)> {
        self.script
            .lock()
            .expect("lock")
            .cluster
            .as_ref()
            .map(|c| c.log.clone())
            .unwrap_or_default()
    }

    /// The script of the `n`th RunTask (unpacked).
    pub fn run_task_script(&self, n: usize) -> Option<String> {
        self.script_of_run(self.calls("RunTask").get(n)?)
    }

    /// The script a RunTask request runs (unpacked), from its command or, carried, from
    /// the task definition registered for it.
    pub fn script_of_run(&self, run: &Value) -> Option<String> {
        let over = &run["overrides"]["containerOverrides"][0];
        let command: Vec<String> = serde_json::from_value(over["command"].clone()).ok()?;
        let script = self.script.lock().expect("lock");
        let definition = script
            .registered
            .iter()
            .map(|(arn, body)| (arn.clone(), body.clone()))
            .chain(script.cluster.iter().flat_map(|c| {
                c.definitions
                    .iter()
                    .map(|(arn, td, _)| (arn.clone(), td.clone()))
            }))
            .find(|(arn, _)| run["taskDefinition"] == arn.as_str())
            .map(|(_, td)| td)
            .unwrap_or(Value::Null);
        migrail::ecs::resolve::script_of(&command, &environment(&definition, &over["name"]))
    }
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    /// The bodies of every call of `op`, in order.
    pub fn calls(&self, op: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.op == op)
            .map(|r| r.body)
            .collect()
    }
}

fn serve(conn: TcpStream, script: &Mutex<Script>, recorded: &Mutex<Vec<Request>>) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut writer = write_half;
    while let Some(raw) = http::read_request(&mut reader) {
        let target = raw.header("x-amz-target");
        let mut op = target.rsplit('.').next().unwrap_or_default().to_string();
        // The SSO portal's REST call (an `aws sso login` profile's credentials).
        if raw.method == "GET" && raw.target.starts_with("/federation/credentials") {
            op = "GetRoleCredentials".to_string();
        }
        let req = Request {
            op,
            body: serde_json::from_slice(&raw.body).unwrap_or(Value::Null),
            authorization: raw.header("authorization"),
        };
        let n = {
            let mut r = recorded.lock().expect("lock");
            r.push(req.clone());
            r.len()
        };
        let reply = script.lock().expect("lock").answer(&req, n);
        let text = reply.body.to_string();
        let reason = if reply.status == 200 { "OK" } else { "Error" };
        let response = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: test-{}\r\ncontent-length: {}\r\n\r\n{text}",
            reply.status,
            recorded.lock().expect("lock").len(),
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The environment of container `name` in a task definition, as (name, value) pairs.
pub fn environment(definition: &Value, name: &Value) -> Vec<(String, String)> {
    definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == *name)
        .flat_map(|c| c["environment"].as_array().cloned().unwrap_or_default())
        .filter_map(|kv| {
            Some((
                kv["name"].as_str()?.to_string(),
                kv["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}
