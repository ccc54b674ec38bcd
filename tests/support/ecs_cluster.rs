//! A stateful ECS cluster behind the loopback AWS endpoint (tests/support/aws_server.rs),
//! for scenarios that a queue of canned replies cannot express: services with
//! deployments that progress over `DescribeServices` polls after an `UpdateService`,
//! service tasks of two revisions, tasks that drain from the load balancer
//! (`desiredStatus` STOPPED while `lastStatus` is DEACTIVATING), a circuit-breaker
//! rollback (the failed deployment turns ACTIVE, a new PRIMARY runs the old revision),
//! service events, and one-off tasks (RunTask) that go PROVISIONING → RUNNING → STOPPED
//! over `DescribeTasks` calls with a scripted exit code. `ListTasks` honours the
//! `serviceName`, `family`, `startedBy` and `desiredStatus` filters as ECS does.
//!
//! Blue/green (and linear, canary) services have *service deployments* whose lifecycle
//! stages follow the clock, not the polls: each stage lasts its scripted time after the
//! `UpdateService`; green tasks start at SCALE_UP, blue tasks stop at CLEAN_UP, and a
//! scripted rollback (an alarm during the bake) stops green and leaves blue serving.
//! `ListServiceDeployments`, `DescribeServiceDeployments` and `DescribeServiceRevisions`
//! answer as ECS does. A service can also have an EXTERNAL or CODE_DEPLOY controller.
//!
//! CodeDeploy (its JSON API on the same endpoint): applications and deployment groups
//! naming services, `CreateDeployment` with an ECS AppSpec, and deployments that follow the
//! clock: a green task set at 200 ms, the traffic shift (green PRIMARY) at 500 ms — or the
//! scripted failure, green removed —, Succeeded at 800 ms, the blue task set removed and
//! its tasks stopped at 1100 ms.

#![allow(dead_code)]

use std::collections::VecDeque;

use serde_json::{json, Value};

pub const ACCOUNT: &str = "123456789012";

pub fn td_arn(family_rev: &str) -> String {
    format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/{family_rev}")
}

/// What a new deployment of a service does over the polls that follow `UpdateService`.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// COMPLETED after `after` polls; the old tasks stop at once.
    Completes { after: usize },
    /// COMPLETED after `after` polls, but one old task keeps draining (desired STOPPED,
    /// last DEACTIVATING) for `draining` more polls.
    Drains { after: usize, draining: usize },
    /// After `after` polls the circuit breaker fails it and rolls back to the old
    /// revision.
    RollsBack { after: usize },
    /// Stays IN_PROGRESS.
    Stuck,
    /// A CODE_DEPLOY service: CodeDeploy deployments as described above, failing with the
    /// message when given.
    CodeDeploy { fail: Option<&'static str> },
    /// A service deployment (strategy BLUE_GREEN, LINEAR or CANARY) through `stages`, each
    /// lasting its milliseconds after the previous one ended; then SUCCESSFUL, or, when
    /// `rollback` names a stage, ROLLBACK_IN_PROGRESS once that stage has lasted its time
    /// (the reason quoted from the rollback), then ROLLBACK_SUCCESSFUL.
    ServiceDeployment {
        strategy: &'static str,
        bake_minutes: i64,
        stages: Vec<(&'static str, u64)>,
        rollback: Option<(&'static str, &'static str)>,
        /// A PAUSE lifecycle hook at PRE_SCALE_UP that times out after these milliseconds
        /// (its timeout action: ROLLBACK). The stages' clock stops while it waits.
        pause_hook: Option<u64>,
    },
}

/// An ECS task set (CODE_DEPLOY and EXTERNAL services).
#[derive(Clone, Debug)]
pub struct TaskSet {
    pub id: String,
    pub status: String,
    pub task_definition: String,
}

/// A CodeDeploy deployment of the stand-in.
#[derive(Clone, Debug)]
pub struct CdDeployment {
    pub id: String,
    pub service: String,
    pub task_definition: String,
    pub status: String,
    pub started: std::time::Instant,
    pub fail: Option<&'static str>,
    /// The milestones already passed (200, 500, 800, 1100 ms).
    pub passed: usize,
}

/// A pause hook of a service deployment, once its stage is reached.
#[derive(Clone, Debug)]
pub struct Hook {
    pub id: String,
    pub status: String,
    pub since: std::time::Instant,
    pub timeout_ms: u64,
}

/// A service deployment of the stand-in.
#[derive(Clone, Debug)]
pub struct ServiceDeployment {
    pub arn: String,
    pub status: String,
    pub stage: Option<String>,
    pub target_revision: String,
    pub source_revision: String,
    pub created_at: f64,
    pub started: std::time::Instant,
    pub rollback_reason: Option<String>,
    pub requested: i64,
    pub running: i64,
    pub hook: Option<Hook>,
    /// Milliseconds spent paused at the hook (the stages' clock stops).
    pub paused_ms: u64,
    /// When a rollback in progress is done.
    pub rollback_done_at: Option<std::time::Instant>,
}

#[derive(Clone, Debug)]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub rollout_state: String,
    pub reason: String,
    pub desired: i64,
    pub running: i64,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub arn: String,
    pub task_definition: String,
    pub last_status: String,
    pub desired_status: String,
    pub group: String,
    pub started_by: String,
    /// One-off tasks: how many DescribeTasks have seen it, the exit code it ends with,
    /// its command.
    pub describes: usize,
    pub exit_code: Option<i64>,
    pub command: Value,
    pub one_off: bool,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub deployments: Vec<Deployment>,
    pub events: Vec<String>,
    pub behaviour: Behaviour,
    /// Polls since the last UpdateService (None: no update yet, nothing moves).
    pub polls: Option<usize>,
    pub desired: i64,
    /// `deploymentController.type` (`ECS` unless set).
    pub controller: &'static str,
    pub service_deployments: Vec<ServiceDeployment>,
    /// The task definition the service runs (its current revision's).
    pub task_definition: String,
    pub task_sets: Vec<TaskSet>,
    /// The cluster it is in (`prod` unless set).
    pub cluster: String,
}

impl Service {
    fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }
}

pub struct Cluster {
    pub families: Vec<(String, u32)>,
    pub services: Vec<Service>,
    pub tasks: Vec<Task>,
    /// The exit code of each RunTask's task, in order (the last one repeats; default 0).
    pub run_exit_codes: VecDeque<i64>,
    /// What happened when, as `(number of requests so far, what)`.
    pub log: Vec<(usize, String)>,
    /// Service revisions: (ARN, task definition).
    pub revisions: Vec<(String, String)>,
    /// Task definitions given in full or registered: (ARN, definition, tags).
    pub definitions: Vec<(String, Value, Value)>,
    /// CodeDeploy deployment groups: (application, group, service).
    pub codedeploy_groups: Vec<(String, String, String)>,
    pub codedeploy_deployments: Vec<CdDeployment>,
    next_id: usize,
}

impl Cluster {
    /// Task definitions `family:1..=revisions` of each family.
    pub fn new(families: &[(&str, u32)]) -> Cluster {
        Cluster {
            families: families.iter().map(|(f, r)| (f.to_string(), *r)).collect(),
            services: Vec::new(),
            tasks: Vec::new(),
            run_exit_codes: VecDeque::new(),
            log: Vec::new(),
            revisions: Vec::new(),
            definitions: Vec::new(),
            codedeploy_groups: Vec::new(),
            codedeploy_deployments: Vec::new(),
            next_id: 0,
        }
    }

    fn id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// A service running `count` tasks of `family_rev`, completed.
    pub fn service(mut self, name: &str, family_rev: &str, count: i64, b: Behaviour) -> Cluster {
        let td = td_arn(family_rev);
        let dep = self.id();
        self.services.push(Service {
            name: name.to_string(),
            deployments: vec![Deployment {
                id: format!("ecs-svc/{dep:04}"),
                status: "PRIMARY".into(),
                task_definition: td.clone(),
                rollout_state: "COMPLETED".into(),
                reason: String::new(),
                desired: count,
                running: count,
            }],
            events: vec![format!("(service {name}) has reached a steady state.")],
            behaviour: b,
            polls: None,
            desired: count,
            controller: "ECS",
            service_deployments: Vec::new(),
            task_definition: td.clone(),
            task_sets: Vec::new(),
            cluster: "prod".into(),
        });
        for _ in 0..count {
            self.add_task(name, &td);
        }
        self
    }

    /// A task of `family_rev` in service `name`, desired STOPPED, still `last` (draining).
    pub fn draining_task(mut self, name: &str, family_rev: &str, last: &str) -> Cluster {
        let td = td_arn(family_rev);
        self.add_task(name, &td);
        if let Some(t) = self.tasks.last_mut() {
            t.desired_status = "STOPPED".into();
            t.last_status = last.into();
        }
        self
    }

    /// `family_rev` in full (what DescribeTaskDefinition returns), with its tags.
    pub fn definition(mut self, family_rev: &str, mut td: Value, tags: Value) -> Cluster {
        let arn = td_arn(family_rev);
        td["taskDefinitionArn"] = json!(arn);
        self.definitions.push((arn, td, tags));
        self
    }

    /// The last service added has this deployment controller (`EXTERNAL`, `CODE_DEPLOY`):
    /// its tasks are one PRIMARY task set.
    pub fn controller(mut self, controller: &'static str) -> Cluster {
        if let Some(s) = self.services.last_mut() {
            s.controller = controller;
            s.deployments.clear();
            s.task_sets = vec![TaskSet {
                id: "ecs-svc/blue".into(),
                status: "PRIMARY".into(),
                task_definition: s.task_definition.clone(),
            }];
        }
        self
    }

    /// The last service added is in this cluster.
    pub fn in_cluster(mut self, cluster: &str) -> Cluster {
        if let Some(s) = self.services.last_mut() {
            s.cluster = cluster.into();
        }
        self
    }

    /// The cluster a request names (`prod` when it names none), by name or ARN.
    fn cluster_of(body: &Value) -> String {
        let c = body["cluster"].as_str().unwrap_or("prod");
        c.rsplit('/').next().unwrap_or(c).to_string()
    }

    /// The cluster of a task: its service's, else `prod` (one-off tasks).
    fn task_cluster(&self, t: &Task) -> String {
        t.group
            .strip_prefix("service:")
            .and_then(|name| self.services.iter().find(|s| s.name == name))
            .map_or_else(|| "prod".to_string(), |s| s.cluster.clone())
    }

    /// A CodeDeploy application with a deployment group naming `service` (cluster `prod`).
    pub fn codedeploy_group(mut self, application: &str, group: &str, service: &str) -> Cluster {
        self.codedeploy_groups
            .push((application.into(), group.into(), service.into()));
        self
    }

    pub fn exit_codes(mut self, codes: &[i64]) -> Cluster {
        self.run_exit_codes = codes.iter().copied().collect();
        self
    }

    fn add_task(&mut self, service: &str, td: &str) {
        let n = self.id();
        self.tasks.push(Task {
            arn: format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task/prod/{service}{n:04}"),
            task_definition: td.to_string(),
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            group: format!("service:{service}"),
            started_by: "ecs-svc/0".into(),
            describes: 0,
            exit_code: None,
            command: Value::Null,
            one_off: false,
        });
    }

    fn resolve_td(&self, name: &str) -> Option<String> {
        let short = name.rsplit('/').next().unwrap_or(name);
        let (family, rev) = match short.split_once(':') {
            Some((f, r)) => (f, r.parse::<u32>().ok()?),
            None => {
                let latest = self.families.iter().find(|(f, _)| f == short)?.1;
                (short, latest)
            }
        };
        let max = self.families.iter().find(|(f, _)| f == family)?.1;
        (rev >= 1 && rev <= max).then(|| td_arn(&format!("{family}:{rev}")))
    }

    fn family_of(td: &str) -> String {
        let short = td.rsplit('/').next().unwrap_or(td);
        short.split(':').next().unwrap_or(short).to_string()
    }

    /// The reply to `op`, or None when this cluster does not model it.
    pub fn answer(&mut self, op: &str, body: &Value, requests: usize) -> Option<(u16, Value)> {
        let ok = |v: Value| Some((200, v));
        self.tick(requests);
        self.tick_codedeploy(requests);
        match op {
            "ListApplications" => {
                let mut apps: Vec<String> =
                    self.codedeploy_groups.iter().map(|g| g.0.clone()).collect();
                apps.dedup();
                ok(json!({"applications": apps}))
            }
            "ListDeploymentGroups" => {
                let app = body["applicationName"].as_str().unwrap_or_default();
                let groups: Vec<&String> = self
                    .codedeploy_groups
                    .iter()
                    .filter(|g| g.0 == app)
                    .map(|g| &g.1)
                    .collect();
                ok(json!({"applicationName": app, "deploymentGroups": groups}))
            }
            "BatchGetDeploymentGroups" => {
                let app = body["applicationName"].as_str().unwrap_or_default();
                let names = strings(&body["deploymentGroupNames"]);
                let infos: Vec<Value> = self
                    .codedeploy_groups
                    .iter()
                    .filter(|g| g.0 == app && names.contains(&g.1))
                    .map(|g| {
                        json!({"applicationName": g.0, "deploymentGroupName": g.1,
                               "computePlatform": "ECS",
                               "ecsServices": [{"serviceName": g.2, "clusterName": "prod"}]})
                    })
                    .collect();
                ok(json!({"deploymentGroupsInfo": infos, "errorMessage": ""}))
            }
            "CreateDeployment" => {
                let app = body["applicationName"].as_str().unwrap_or_default();
                let group = body["deploymentGroupName"].as_str().unwrap_or_default();
                let Some((_, _, service)) = self
                    .codedeploy_groups
                    .iter()
                    .find(|g| g.0 == app && g.1 == group)
                    .cloned()
                else {
                    return Some((
                        400,
                        json!({"__type": "DeploymentGroupDoesNotExistException", "message": "No deployment group found."}),
                    ));
                };
                let content = body["revision"]["appSpecContent"]["content"]
                    .as_str()
                    .unwrap_or_default();
                let spec: Value = serde_json::from_str(content).unwrap_or(Value::Null);
                let props = &spec["Resources"][0]["TargetService"]["Properties"];
                let td = props["TaskDefinition"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if td.is_empty()
                    || props["LoadBalancerInfo"]["ContainerName"]
                        .as_str()
                        .is_none()
                {
                    return Some((
                        400,
                        json!({"__type": "InvalidRevisionException", "message": "The AppSpec is not valid."}),
                    ));
                }
                let fail = self
                    .services
                    .iter()
                    .find(|s| s.name == service)
                    .and_then(|s| match s.behaviour {
                        Behaviour::CodeDeploy { fail } => fail,
                        _ => None,
                    });
                let n = self.id();
                let id = format!("d-{n:08}");
                self.codedeploy_deployments.push(CdDeployment {
                    id: id.clone(),
                    service: service.clone(),
                    task_definition: td.clone(),
                    status: "InProgress".into(),
                    started: std::time::Instant::now(),
                    fail,
                    passed: 0,
                });
                self.log.push((
                    requests,
                    format!("CreateDeployment {service} {}", short(&td)),
                ));
                ok(json!({"deploymentId": id}))
            }
            "GetDeployment" => {
                let id = body["deploymentId"].as_str().unwrap_or_default();
                let Some(d) = self.codedeploy_deployments.iter().find(|d| d.id == id) else {
                    return Some((
                        400,
                        json!({"__type": "DeploymentDoesNotExistException", "message": "No deployment found."}),
                    ));
                };
                let mut info = json!({"deploymentId": d.id, "status": d.status,
                                      "computePlatform": "ECS"});
                if d.status == "Failed" {
                    info["errorInformation"] =
                        json!({"code": "ALARM_ACTIVE", "message": d.fail.unwrap_or_default()});
                    info["rollbackInfo"] = json!({"rollbackMessage":
                        "Automatic rollback triggered: the original task set serves again."});
                }
                ok(json!({"deploymentInfo": info}))
            }
            "ListServiceDeployments" => {
                let name = body["service"].as_str().unwrap_or_default();
                let after = body["createdAt"]["after"].as_f64();
                let s = self.services.iter().find(|s| s.name == name)?;
                let briefs: Vec<Value> = s
                    .service_deployments
                    .iter()
                    .filter(|d| after.is_none_or(|a| d.created_at >= a))
                    .map(|d| {
                        json!({
                            "serviceDeploymentArn": d.arn, "status": d.status,
                            "targetServiceRevisionArn": d.target_revision,
                            "createdAt": d.created_at,
                            "serviceArn": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/prod/{name}")
                        })
                    })
                    .collect();
                ok(json!({"serviceDeployments": briefs}))
            }
            "DescribeServiceDeployments" => {
                let wanted = strings(&body["serviceDeploymentArns"]);
                let mut found = Vec::new();
                let mut failures = Vec::new();
                for arn in &wanted {
                    let d = self.services.iter().find_map(|s| {
                        s.service_deployments
                            .iter()
                            .find(|d| &d.arn == arn)
                            .map(|d| (s, d))
                    });
                    match d {
                        Some((s, d)) => found.push(service_deployment_json(s, d)),
                        None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
                    }
                }
                ok(json!({"serviceDeployments": found, "failures": failures}))
            }
            "ContinueServiceDeployment" => {
                let arn = body["serviceDeploymentArn"].as_str().unwrap_or_default();
                let hook_id = body["hookId"].as_str().unwrap_or_default();
                let action = body["action"].as_str().unwrap_or("CONTINUE");
                let found = self
                    .services
                    .iter()
                    .position(|s| s.service_deployments.iter().any(|d| d.arn == arn));
                let invalid = |m: &str| {
                    Some((
                        400,
                        json!({"__type": "InvalidParameterException", "message": m}),
                    ))
                };
                let Some(i) = found else {
                    return invalid("The service deployment does not exist.");
                };
                let name = self.services[i].name.clone();
                let blue = {
                    let d = &self.services[i].service_deployments[0];
                    self.revisions
                        .iter()
                        .find(|(a, _)| a == &d.source_revision)
                        .map(|(_, td)| td.clone())
                        .unwrap_or_default()
                };
                let s = &mut self.services[i];
                let Some(d) = s.service_deployments.iter_mut().find(|d| d.arn == arn) else {
                    return invalid("The service deployment does not exist.");
                };
                let awaiting = d.status == "IN_PROGRESS"
                    && d.hook
                        .as_ref()
                        .is_some_and(|h| h.id == hook_id && h.status == "AWAITING_ACTION");
                if !awaiting {
                    return invalid("The lifecycle hook is not awaiting action.");
                }
                let hook = d.hook.as_mut().expect("hook");
                hook.status = "SUCCEEDED".into();
                d.paused_ms += hook.since.elapsed().as_millis() as u64;
                if action == "ROLLBACK" {
                    d.status = "ROLLBACK_IN_PROGRESS".into();
                    d.rollback_reason =
                        Some("Rollback requested through ContinueServiceDeployment.".into());
                    d.rollback_done_at =
                        Some(std::time::Instant::now() + std::time::Duration::from_millis(200));
                    s.task_definition = blue;
                    self.log.push((requests, format!("{name} rolled back")));
                } else {
                    self.log.push((requests, format!("{name} continued")));
                }
                ok(json!({"serviceDeploymentArn": arn}))
            }
            "DescribeServiceRevisions" => {
                let wanted = strings(&body["serviceRevisionArns"]);
                let found: Vec<Value> = self
                    .revisions
                    .iter()
                    .filter(|(arn, _)| wanted.contains(arn))
                    .map(|(arn, td)| json!({"serviceRevisionArn": arn, "taskDefinition": td}))
                    .collect();
                ok(json!({"serviceRevisions": found, "failures": []}))
            }
            "RegisterTaskDefinition" => {
                let family = body["family"].as_str().unwrap_or_default().to_string();
                let revision = match self.families.iter_mut().find(|(f, _)| *f == family) {
                    Some((_, r)) => {
                        *r += 1;
                        *r
                    }
                    None => {
                        self.families.push((family.clone(), 1));
                        1
                    }
                };
                let arn = td_arn(&format!("{family}:{revision}"));
                let mut td = body.clone();
                let tags = td
                    .as_object_mut()
                    .and_then(|o| o.remove("tags"))
                    .unwrap_or(json!([]));
                td["taskDefinitionArn"] = json!(arn);
                td["revision"] = json!(revision);
                td["status"] = json!("ACTIVE");
                td["compatibilities"] = json!(["EC2", "FARGATE"]);
                td["registeredAt"] = json!(now_epoch());
                self.definitions
                    .push((arn.clone(), td.clone(), tags.clone()));
                self.log.push((
                    requests,
                    format!("RegisterTaskDefinition {family}:{revision}"),
                ));
                ok(json!({"taskDefinition": td, "tags": tags}))
            }
            "DeregisterTaskDefinition" => {
                let name = body["taskDefinition"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let Some((_, td, _)) = self.definitions.iter_mut().find(|(a, _, _)| *a == name)
                else {
                    return Some((
                        400,
                        json!({"__type": "ClientException", "message": "The specified task definition does not exist."}),
                    ));
                };
                td["status"] = json!("INACTIVE");
                let td = td.clone();
                self.log.push((
                    requests,
                    format!("DeregisterTaskDefinition {}", short(&name)),
                ));
                ok(json!({"taskDefinition": td}))
            }
            "DescribeTaskDefinition" => {
                let name = body["taskDefinition"].as_str().unwrap_or_default();
                if let Some((_, td, tags)) = self
                    .resolve_td(name)
                    .and_then(|arn| self.definitions.iter().find(|(a, _, _)| *a == arn))
                {
                    let with_tags = strings(&body["include"]).iter().any(|i| i == "TAGS");
                    return ok(if with_tags {
                        json!({"taskDefinition": td, "tags": tags})
                    } else {
                        json!({"taskDefinition": td})
                    });
                }
                match self.resolve_td(name) {
                    Some(arn) => {
                        let family = Self::family_of(&arn);
                        let revision: u32 = arn
                            .rsplit(':')
                            .next()
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(1);
                        ok(json!({"taskDefinition": {
                            "taskDefinitionArn": arn, "family": family, "revision": revision,
                            "containerDefinitions": [{
                                "name": "web", "image": format!("app:{revision}"), "essential": true,
                                "logConfiguration": {"logDriver": "awslogs", "options": {
                                    "awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1",
                                    "awslogs-stream-prefix": "migrate"}}
                            }]
                        }}))
                    }
                    None => Some((
                        400,
                        json!({"__type": "ClientException", "message": "Unable to describe task definition."}),
                    )),
                }
            }
            "DescribeServices" => {
                let names = strings(&body["services"]);
                let mut services = Vec::new();
                let mut failures = Vec::new();
                let cluster = Self::cluster_of(body);
                for name in names {
                    if self
                        .services
                        .iter()
                        .any(|s| s.name == name && s.cluster == cluster)
                    {
                        self.advance(&name, requests);
                        let s = self
                            .services
                            .iter()
                            .find(|s| s.name == name)
                            .expect("service");
                        services.push(service_json(s));
                    } else {
                        failures.push(json!({"arn": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/prod/{name}"), "reason": "MISSING"}));
                    }
                }
                ok(json!({"services": services, "failures": failures}))
            }
            "UpdateService" => {
                let name = body["service"].as_str().unwrap_or_default().to_string();
                let want = body["taskDefinition"].as_str().unwrap_or_default();
                let Some(td) = self.resolve_td(want) else {
                    return Some((
                        400,
                        json!({"__type": "ClientException", "message": "TaskDefinition not found."}),
                    ));
                };
                let id = self.id();
                let cluster = Self::cluster_of(body);
                let Some(s) = self
                    .services
                    .iter_mut()
                    .find(|s| s.name == name && s.cluster == cluster)
                else {
                    return Some((
                        400,
                        json!({"__type": "ServiceNotFoundException", "message": "Service not found."}),
                    ));
                };
                if s.controller == "CODE_DEPLOY" {
                    return Some((
                        400,
                        json!({"__type": "InvalidParameterException", "message": "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment."}),
                    ));
                }
                if matches!(s.behaviour, Behaviour::ServiceDeployment { .. }) {
                    let source = format!(
                        "arn:aws:ecs:eu-west-1:{ACCOUNT}:service-revision/prod/{name}/{:04}",
                        id
                    );
                    let target = format!(
                        "arn:aws:ecs:eu-west-1:{ACCOUNT}:service-revision/prod/{name}/{:04}",
                        id + 1
                    );
                    let old_td = s.task_definition.clone();
                    s.service_deployments.insert(
                        0,
                        ServiceDeployment {
                            arn: format!(
                                "arn:aws:ecs:eu-west-1:{ACCOUNT}:service-deployment/prod/{name}/sd{id:04}"
                            ),
                            status: "IN_PROGRESS".into(),
                            stage: Some("RECONCILE_SERVICE".into()),
                            target_revision: target.clone(),
                            source_revision: source.clone(),
                            created_at: now_epoch(),
                            started: std::time::Instant::now(),
                            rollback_reason: None,
                            requested: s.desired,
                            running: 0,
                            hook: None,
                            paused_ms: 0,
                            rollback_done_at: None,
                        },
                    );
                    s.task_definition = td.clone();
                    self.revisions.push((source, old_td));
                    self.revisions.push((target, td.clone()));
                    self.next_id += 1;
                    self.log
                        .push((requests, format!("UpdateService {name} {}", short(&td))));
                    let s = self
                        .services
                        .iter()
                        .find(|s| s.name == name)
                        .expect("service");
                    return ok(json!({"service": service_json(s)}));
                }
                for d in &mut s.deployments {
                    if d.status == "PRIMARY" {
                        d.status = "ACTIVE".into();
                    }
                }
                s.deployments.insert(
                    0,
                    Deployment {
                        id: format!("ecs-svc/{id:04}"),
                        status: "PRIMARY".into(),
                        task_definition: td.clone(),
                        rollout_state: "IN_PROGRESS".into(),
                        reason: "ECS deployment ecs-svc in progress.".into(),
                        desired: s.desired,
                        running: 0,
                    },
                );
                s.polls = Some(0);
                s.task_definition = td.clone();
                s.events.insert(
                    0,
                    format!("(service {name}) has started 1 tasks: (task new)."),
                );
                self.log
                    .push((requests, format!("UpdateService {name} {}", short(&td))));
                let s = self
                    .services
                    .iter()
                    .find(|s| s.name == name)
                    .expect("service");
                ok(json!({"service": service_json(s)}))
            }
            "ListTasks" => {
                let service = body["serviceName"].as_str();
                let family = body["family"].as_str();
                let started_by = body["startedBy"].as_str();
                let desired = body["desiredStatus"].as_str();
                let cluster = Self::cluster_of(body);
                let arns: Vec<String> = self
                    .tasks
                    .iter()
                    .filter(|t| self.task_cluster(t) == cluster)
                    .filter(|t| service.is_none_or(|s| t.group == format!("service:{s}")))
                    .filter(|t| family.is_none_or(|f| Self::family_of(&t.task_definition) == f))
                    .filter(|t| started_by.is_none_or(|b| t.started_by == b))
                    .filter(|t| desired.is_none_or(|d| t.desired_status == d))
                    .map(|t| t.arn.clone())
                    .collect();
                ok(json!({"taskArns": arns}))
            }
            "DescribeTasks" => {
                let wanted = strings(&body["tasks"]);
                let mut out = Vec::new();
                for t in self.tasks.iter_mut().filter(|t| wanted.contains(&t.arn)) {
                    if t.one_off {
                        t.describes += 1;
                        match t.describes {
                            1 => t.last_status = "RUNNING".into(),
                            2.. => {
                                if t.last_status != "STOPPED" {
                                    self.log.push((
                                        requests,
                                        format!("task {} stopped", short(&t.arn)),
                                    ));
                                }
                                t.last_status = "STOPPED".into();
                                t.desired_status = "STOPPED".into();
                            }
                            _ => {}
                        }
                    }
                    out.push(task_json(t));
                }
                ok(json!({"tasks": out, "failures": []}))
            }
            "RunTask" => {
                let td = self
                    .resolve_td(body["taskDefinition"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                let code = if self.run_exit_codes.len() > 1 {
                    self.run_exit_codes.pop_front()
                } else {
                    self.run_exit_codes.front().copied()
                }
                .unwrap_or(0);
                let n = self.id();
                let task = Task {
                    arn: format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task/prod/migrate{n:04}"),
                    task_definition: td,
                    last_status: "PROVISIONING".into(),
                    desired_status: "RUNNING".into(),
                    group: format!(
                        "family:{}",
                        Self::family_of(body["taskDefinition"].as_str().unwrap_or_default())
                    ),
                    started_by: body["startedBy"].as_str().unwrap_or_default().to_string(),
                    describes: 0,
                    exit_code: Some(code),
                    command: body["overrides"]["containerOverrides"][0]["command"].clone(),
                    one_off: true,
                };
                self.log
                    .push((requests, format!("RunTask {}", short(&task.arn))));
                let reply = task_json(&task);
                self.tasks.push(task);
                ok(json!({"tasks": [reply], "failures": []}))
            }
            "GetLogEvents" => ok(json!({
                "events": [], "nextForwardToken": "f/0", "nextBackwardToken": "b/0"
            })),
            _ => None,
        }
    }

    /// Service deployments move on with the clock: the stage the elapsed time is in; green
    /// tasks at SCALE_UP, blue stopped at CLEAN_UP, SUCCESSFUL at the end, or the scripted
    /// rollback.
    fn tick(&mut self, requests: usize) {
        for i in 0..self.services.len() {
            let Behaviour::ServiceDeployment {
                stages,
                rollback,
                pause_hook,
                ..
            } = self.services[i].behaviour.clone()
            else {
                continue;
            };
            let Some(d) = self.services[i].service_deployments.first().cloned() else {
                continue;
            };
            let name = self.services[i].name.clone();
            if d.status == "ROLLBACK_IN_PROGRESS"
                && d.rollback_done_at
                    .is_some_and(|t| std::time::Instant::now() >= t)
            {
                self.services[i].service_deployments[0].status = "ROLLBACK_SUCCESSFUL".into();
                self.log
                    .push((requests, format!("{name} rollback successful")));
                continue;
            }
            if d.status != "IN_PROGRESS" {
                continue;
            }
            if let Some(hook) = d.hook.as_ref().filter(|h| h.status == "AWAITING_ACTION") {
                if hook.since.elapsed().as_millis() as u64 >= hook.timeout_ms {
                    let blue = self
                        .revisions
                        .iter()
                        .find(|(a, _)| a == &d.source_revision)
                        .map(|(_, td)| td.clone())
                        .unwrap_or_default();
                    let s = &mut self.services[i];
                    s.task_definition = blue;
                    let sd = &mut s.service_deployments[0];
                    if let Some(h) = sd.hook.as_mut() {
                        h.status = "TIMED_OUT".into();
                    }
                    sd.status = "ROLLBACK_IN_PROGRESS".into();
                    sd.rollback_reason =
                        Some("The lifecycle hook timed out (timeout action ROLLBACK).".into());
                    sd.rollback_done_at =
                        Some(std::time::Instant::now() + std::time::Duration::from_millis(200));
                    self.log.push((requests, format!("{name} hook timed out")));
                }
                continue;
            }
            let elapsed = (d.started.elapsed().as_millis() as u64).saturating_sub(d.paused_ms);
            let mut until = 0;
            let mut now: Option<&str> = None;
            let mut rolled = false;
            for (stage, ms) in &stages {
                until += ms;
                if elapsed < until {
                    now = Some(stage);
                    break;
                }
                if rollback.is_some_and(|(at, _)| at == *stage) {
                    now = Some(stage);
                    rolled = true;
                    break;
                }
            }
            let green = self
                .revisions
                .iter()
                .find(|(a, _)| a == &d.target_revision)
                .map(|(_, td)| td.clone())
                .unwrap_or_default();
            let blue = self
                .revisions
                .iter()
                .find(|(a, _)| a == &d.source_revision)
                .map(|(_, td)| td.clone())
                .unwrap_or_default();
            let reached = |stage: &str| {
                let order = [
                    "RECONCILE_SERVICE",
                    "PRE_SCALE_UP",
                    "SCALE_UP",
                    "POST_SCALE_UP",
                    "TEST_TRAFFIC_SHIFT",
                    "POST_TEST_TRAFFIC_SHIFT",
                    "PRE_PRODUCTION_TRAFFIC_SHIFT",
                    "PRODUCTION_TRAFFIC_SHIFT",
                    "POST_PRODUCTION_TRAFFIC_SHIFT",
                    "BAKE_TIME",
                    "CLEAN_UP",
                ];
                let at = |s: &str| order.iter().position(|o| *o == s).unwrap_or(0);
                now.is_none_or(|n| at(n) >= at(stage))
            };
            // Green tasks from SCALE_UP on.
            let has_green = self
                .tasks
                .iter()
                .any(|t| t.group == format!("service:{name}") && t.task_definition == green);
            if reached("SCALE_UP") && !has_green && !rolled {
                for _ in 0..self.services[i].desired {
                    self.add_task(&name, &green);
                }
                self.services[i].service_deployments[0].running = self.services[i].desired;
                self.log.push((requests, format!("{name} green started")));
            }
            if rolled {
                let reason = rollback.map(|(_, r)| r.to_string());
                {
                    let sd = &mut self.services[i].service_deployments[0];
                    sd.status = "ROLLBACK_IN_PROGRESS".into();
                    sd.rollback_reason = reason;
                    sd.rollback_done_at =
                        Some(std::time::Instant::now() + std::time::Duration::from_millis(200));
                }
                self.services[i].task_definition = blue.clone();
                for t in self
                    .tasks
                    .iter_mut()
                    .filter(|t| t.group == format!("service:{name}") && t.task_definition == green)
                {
                    t.desired_status = "STOPPED".into();
                    t.last_status = "STOPPED".into();
                }
                self.log.push((requests, format!("{name} rolled back")));
                continue;
            }
            if now == Some("PRE_SCALE_UP") && d.hook.is_none() {
                if let Some(timeout_ms) = pause_hook {
                    let sd = &mut self.services[i].service_deployments[0];
                    sd.stage = Some("PRE_SCALE_UP".into());
                    sd.hook = Some(Hook {
                        id: format!("hook-{name}"),
                        status: "AWAITING_ACTION".into(),
                        since: std::time::Instant::now(),
                        timeout_ms,
                    });
                    self.log.push((requests, format!("{name} paused")));
                    continue;
                }
            }
            let stage = now.map(str::to_string);
            if stage != self.services[i].service_deployments[0].stage && stage.is_some() {
                self.log.push((
                    requests,
                    format!("{name} {}", stage.clone().unwrap_or_default()),
                ));
            }
            if reached("CLEAN_UP") {
                let mut stopped = false;
                for t in self.tasks.iter_mut().filter(|t| {
                    t.group == format!("service:{name}")
                        && t.task_definition == blue
                        && t.last_status != "STOPPED"
                }) {
                    t.desired_status = "STOPPED".into();
                    t.last_status = "STOPPED".into();
                    stopped = true;
                }
                if stopped {
                    self.log.push((requests, format!("{name} blue stopped")));
                }
            }
            let sd = &mut self.services[i].service_deployments[0];
            match now {
                Some(_) => sd.stage = stage,
                None => {
                    sd.status = "SUCCESSFUL".into();
                    sd.stage = Some("CLEAN_UP".into());
                    self.log.push((requests, format!("{name} successful")));
                }
            }
        }
    }

    /// CodeDeploy deployments move on with the clock (see the module's documentation).
    fn tick_codedeploy(&mut self, requests: usize) {
        const MILESTONES: [u128; 4] = [200, 500, 800, 1100];
        for k in 0..self.codedeploy_deployments.len() {
            let d = self.codedeploy_deployments[k].clone();
            let elapsed = d.started.elapsed().as_millis();
            let reached = MILESTONES.iter().filter(|m| elapsed >= **m).count();
            for step in d.passed..reached {
                let Some(i) = self.services.iter().position(|s| s.name == d.service) else {
                    continue;
                };
                let name = d.service.clone();
                let blue = self.services[i].task_definition.clone();
                match (step, d.fail) {
                    (0, _) => {
                        self.services[i].task_sets.push(TaskSet {
                            id: "ecs-svc/green".into(),
                            status: "ACTIVE".into(),
                            task_definition: d.task_definition.clone(),
                        });
                        for _ in 0..self.services[i].desired {
                            self.add_task(&name, &d.task_definition);
                        }
                        self.log.push((requests, format!("{name} green task set")));
                    }
                    (1, Some(_)) => {
                        self.services[i]
                            .task_sets
                            .retain(|t| t.id != "ecs-svc/green");
                        for t in self.tasks.iter_mut().filter(|t| {
                            t.group == format!("service:{name}")
                                && t.task_definition == d.task_definition
                        }) {
                            t.last_status = "STOPPED".into();
                            t.desired_status = "STOPPED".into();
                        }
                        self.codedeploy_deployments[k].status = "Failed".into();
                        self.log
                            .push((requests, format!("{name} codedeploy failed")));
                    }
                    (1, None) => {
                        for t in &mut self.services[i].task_sets {
                            t.status = if t.id == "ecs-svc/green" {
                                "PRIMARY"
                            } else {
                                "ACTIVE"
                            }
                            .into();
                        }
                        self.services[i].task_definition = d.task_definition.clone();
                        self.log.push((requests, format!("{name} traffic shifted")));
                    }
                    (2, None) => {
                        for t in self.services[i]
                            .task_sets
                            .iter_mut()
                            .filter(|t| t.id != "ecs-svc/green")
                        {
                            t.status = "DRAINING".into();
                        }
                        self.codedeploy_deployments[k].status = "Succeeded".into();
                        self.log
                            .push((requests, format!("{name} codedeploy succeeded")));
                    }
                    (3, None) => {
                        let old: Vec<String> = self.services[i]
                            .task_sets
                            .iter()
                            .filter(|t| t.id != "ecs-svc/green")
                            .map(|t| t.task_definition.clone())
                            .collect();
                        self.services[i]
                            .task_sets
                            .retain(|t| t.id == "ecs-svc/green");
                        for t in self.tasks.iter_mut().filter(|t| {
                            t.group == format!("service:{name}") && old.contains(&t.task_definition)
                        }) {
                            t.last_status = "STOPPED".into();
                            t.desired_status = "STOPPED".into();
                        }
                        let _ = blue;
                        self.log
                            .push((requests, format!("{name} blue task set removed")));
                    }
                    _ => {}
                }
            }
            self.codedeploy_deployments[k].passed = reached.max(d.passed);
        }
    }

    /// One poll of service `name` after an update: its deployment moves on.
    fn advance(&mut self, name: &str, requests: usize) {
        let Some(i) = self.services.iter().position(|s| s.name == name) else {
            return;
        };
        let Some(polls) = self.services[i].polls else {
            return;
        };
        let polls = polls + 1;
        self.services[i].polls = Some(polls);
        let behaviour = self.services[i].behaviour.clone();
        let new_td = match self.services[i].primary() {
            Some(p) => p.task_definition.clone(),
            None => return,
        };
        let ours = self.services[i].deployments[0].clone();
        match behaviour {
            Behaviour::Stuck => {}
            Behaviour::Completes { after } | Behaviour::Drains { after, .. }
                if polls == after && ours.rollout_state == "IN_PROGRESS" =>
            {
                let desired = self.services[i].desired;
                {
                    let s = &mut self.services[i];
                    s.deployments.truncate(1);
                    let d = &mut s.deployments[0];
                    d.rollout_state = "COMPLETED".into();
                    d.reason = "ECS deployment completed.".into();
                    d.running = desired;
                    s.events
                        .insert(0, format!("(service {name}) has reached a steady state."));
                }
                let drain_one = matches!(behaviour, Behaviour::Drains { .. });
                let mut kept = false;
                for t in self
                    .tasks
                    .iter_mut()
                    .filter(|t| t.group == format!("service:{name}") && t.task_definition != new_td)
                {
                    t.desired_status = "STOPPED".into();
                    if drain_one && !kept && t.last_status != "STOPPED" {
                        t.last_status = "DEACTIVATING".into();
                        kept = true;
                    } else {
                        t.last_status = "STOPPED".into();
                    }
                }
                for _ in 0..desired {
                    self.add_task(name, &new_td);
                }
                self.log.push((requests, format!("{name} completed")));
            }
            Behaviour::Drains { after, draining } if polls == after + draining => {
                for t in self.tasks.iter_mut().filter(|t| {
                    t.group == format!("service:{name}") && t.last_status == "DEACTIVATING"
                }) {
                    t.last_status = "STOPPED".into();
                }
                self.log.push((requests, format!("{name} drained")));
            }
            Behaviour::RollsBack { after } if polls == after => {
                let old_td = self.services[i]
                    .deployments
                    .iter()
                    .find(|d| d.status == "ACTIVE")
                    .map(|d| d.task_definition.clone())
                    .unwrap_or_default();
                let id = self.id();
                let s = &mut self.services[i];
                s.task_definition = old_td.clone();
                let d = &mut s.deployments[0];
                d.status = "ACTIVE".into();
                d.rollout_state = "FAILED".into();
                d.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
                s.deployments.retain(|d| d.rollout_state == "FAILED");
                s.deployments.insert(
                    0,
                    Deployment {
                        id: format!("ecs-svc/{id:04}"),
                        status: "PRIMARY".into(),
                        task_definition: old_td.clone(),
                        rollout_state: "COMPLETED".into(),
                        reason: "ECS deployment completed.".into(),
                        desired: s.desired,
                        running: s.desired,
                    },
                );
                s.events.insert(
                    0,
                    format!(
                        "(service {name}) rolling back to deployment ecs-svc/{id:04}: the deployment failed: tasks failed to start."
                    ),
                );
                self.log.push((requests, format!("{name} rolled back")));
            }
            _ => {}
        }
    }

    /// The request index at which `what` happened.
    pub fn when(&self, what: &str) -> Option<usize> {
        self.log.iter().find(|(_, w)| w == what).map(|(i, _)| *i)
    }
}

/// A JSON array of strings (a request's list of names).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn short(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn service_deployment_json(s: &Service, d: &ServiceDeployment) -> Value {
    let mut v = json!({
        "serviceDeploymentArn": d.arn,
        "serviceArn": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/prod/{}", s.name),
        "status": d.status,
        "createdAt": d.created_at,
        "updatedAt": d.created_at,
        "targetServiceRevision": {"arn": d.target_revision, "requestedTaskCount": d.requested,
            "runningTaskCount": d.running, "pendingTaskCount": 0},
        "sourceServiceRevisions": [{"arn": d.source_revision}]
    });
    if let Some(stage) = &d.stage {
        v["lifecycleStage"] = json!(stage);
    }
    if let Some(reason) = &d.rollback_reason {
        v["rollback"] = json!({"reason": reason, "startedAt": d.created_at});
    }
    if let Some(h) = &d.hook {
        v["lifecycleHookDetails"] = json!([{
            "hookId": h.id, "targetType": "PAUSE", "status": h.status,
            "timeoutAction": "ROLLBACK", "expiresAt": d.created_at + h.timeout_ms as f64 / 1000.0
        }]);
    }
    v
}

fn service_json(s: &Service) -> Value {
    let deployments: Vec<Value> = s
        .deployments
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "status": d.status, "taskDefinition": d.task_definition,
                "desiredCount": d.desired, "runningCount": d.running, "pendingCount": 0,
                "rolloutState": d.rollout_state, "rolloutStateReason": d.reason,
                "launchType": "FARGATE"
            })
        })
        .collect();
    let events: Vec<Value> = s
        .events
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("e{i}"), "message": m, "createdAt": 1_700_000_000.0 - i as f64}))
        .collect();
    let mut v = json!({
        "serviceName": s.name,
        "serviceArn": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/prod/{}", s.name),
        "status": "ACTIVE",
        "taskDefinition": s.task_definition,
        "deploymentController": {"type": s.controller},
        "desiredCount": s.desired,
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-a"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"
        }},
        "deployments": deployments,
        "events": events,
        "loadBalancers": [{"targetGroupArn": format!("arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/{}/1", s.name),
                           "containerName": "web", "containerPort": 8000}]
    });
    if !s.task_sets.is_empty() {
        v["deployments"] = json!([]);
        v["taskSets"] = s
            .task_sets
            .iter()
            .map(|t| {
                json!({"id": t.id, "taskSetArn": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-set/prod/{}/{}", s.name, t.id),
                       "status": t.status, "taskDefinition": t.task_definition,
                       "runningCount": s.desired, "computedDesiredCount": s.desired,
                       "stabilityStatus": "STEADY_STATE"})
            })
            .collect();
    }
    if let Behaviour::ServiceDeployment {
        strategy,
        bake_minutes,
        pause_hook,
        ..
    } = &s.behaviour
    {
        v["deploymentConfiguration"] =
            json!({"strategy": strategy, "bakeTimeInMinutes": bake_minutes});
        if pause_hook.is_some() {
            v["deploymentConfiguration"]["lifecycleHooks"] = json!([{
                "targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"],
                "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"}
            }]);
        }
        v["deployments"] = json!([]);
    }
    v
}

fn task_json(t: &Task) -> Value {
    let mut container = json!({"name": "web", "lastStatus": t.last_status});
    let mut v = json!({
        "taskArn": t.arn, "taskDefinitionArn": t.task_definition,
        "lastStatus": t.last_status, "desiredStatus": t.desired_status,
        "group": t.group, "startedBy": t.started_by
    });
    if t.one_off && t.last_status == "STOPPED" {
        container["exitCode"] = json!(t.exit_code.unwrap_or(0));
        v["stopCode"] = json!("EssentialContainerExited");
        v["stoppedReason"] = json!("Essential container in task exited");
    }
    v["containers"] = json!([container]);
    v
}
