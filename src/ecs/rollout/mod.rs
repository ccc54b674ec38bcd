//! Rolling out a task definition to services and proving the old release is gone: the
//! ECS side of `migrail deploy` and of the post-phase gate (`run --phase post --service`).
//!
//! One interface over every deployment type ([`Strategy`], read from `DescribeServices`):
//! [`start`] is the one mutating call (`UpdateService` with the task definition and
//! nothing else) and returns what to follow (the deployment, or the service deployment);
//! [`check`] is one round of the drain check, for every service: the rollout is done the
//! way its type says ([`rolling`]: the deployment is PRIMARY, on the target and
//! `rolloutState` COMPLETED; [`service_deployment`]: blue/green, linear and canary, the
//! service deployment is SUCCESSFUL, past its bake; [`task_sets`]: CodeDeploy and
//! external controllers, one PRIMARY task set on the target), and **no task of another
//! revision is alive**: the service's tasks with
//! `desiredStatus` RUNNING *and* STOPPED (a task draining from the load balancer is
//! `desiredStatus` STOPPED while `lastStatus` is still RUNNING or DEACTIVATING), and the
//! standalone tasks of the same family (scheduled jobs, other services), any whose
//! `lastStatus` is not STOPPED blocks. The `services-stable` waiter is not used: it
//! reports success after a circuit-breaker rollback and ignores draining tasks.
//! [`wait`] polls [`check`] until every service is done, one fails (rollback, failed
//! rollout, the deployment replaced or gone), the deadline passes or a signal arrives,
//! printing what still blocks at most every [`REPORT_EVERY`].

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use aws_sdk_ecs::types::{DesiredStatus, Service, Task};
use serde::Serialize;
use tokio::time::{sleep, Instant};

use super::aws::{self, Kind};
use super::{tasks, Cancel};

pub mod codedeploy;
pub mod pause_hook;
pub mod rolling;
pub mod service_deployment;
pub mod strategy;
pub mod task_sets;

pub use strategy::Strategy;

/// How often the blockers are printed while waiting (and whenever a new one appears).
pub const REPORT_EVERY: Duration = Duration::from_secs(30);
/// How many of a service's latest events a failure quotes.
pub(crate) const EVENTS_QUOTED: usize = 5;

/// A service and the task definition (ARN) it must end up on.
#[derive(Clone, Debug)]
pub struct ServiceTarget {
    /// The cluster the service is in.
    pub cluster: String,
    pub service: String,
    pub task_definition: String,
    /// What migrail started (`deploy`): the deployment id (rolling) or the service
    /// deployment ARN (blue/green, linear, canary); `None` for the gate, which checks the
    /// service's current rollout whoever started it.
    pub deployment: Option<String>,
}

/// Something that keeps the old release alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub service: String,
    /// What blocks: `deployment` (not complete or not on the task definition) or `task`.
    pub kind: &'static str,
    pub task_id: Option<String>,
    /// `family:revision` of the task or deployment.
    pub revision: String,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    /// The lifecycle stage of a service deployment (blue/green, linear, canary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// In words, for the log.
    pub detail: String,
}

impl Blocker {
    fn identity(&self) -> (String, &'static str, Option<String>, Option<String>) {
        (
            self.service.clone(),
            self.kind,
            self.task_id.clone(),
            self.stage.clone(),
        )
    }

    pub fn line(&self) -> String {
        format!("service `{}`: {}", self.service, self.detail)
    }
}

/// Why a rollout will never reach the target: the post phase must not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolloutFailure {
    pub service: String,
    /// `rolled-back`, `failed`, `stopped`, `replaced`, `gone`, `not-found`.
    pub kind: &'static str,
    pub reason: String,
    /// The service's latest events, newest first.
    pub events: Vec<String>,
}

impl RolloutFailure {
    pub fn message(&self) -> String {
        let mut m = format!("service `{}`: {}", self.service, self.reason);
        if !self.events.is_empty() {
            m.push_str("; latest service events: ");
            m.push_str(&self.events.join(" | "));
        }
        m
    }
}

/// One round of the drain check.
#[derive(Debug, Default)]
pub struct Round {
    /// Services whose rollout failed: the post phase must never run.
    pub failed: Vec<RolloutFailure>,
    pub blockers: Vec<Blocker>,
    /// The service's current (PRIMARY) task definition, per service, as seen.
    pub primary: Vec<(String, Option<String>)>,
}

/// `family:revision` from a task definition ARN (or the text as given).
pub fn revision(task_definition: &str) -> String {
    task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition)
        .to_string()
}

pub(crate) fn family(task_definition: &str) -> String {
    let rev = revision(task_definition);
    match rev.rsplit_once(':') {
        Some((family, _)) => family.to_string(),
        None => rev,
    }
}

/// `UpdateService(cluster, service, taskDefinition)`, nothing else changed: the service
/// as ECS answered.
pub(crate) async fn update_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Service, String> {
    let resource = format!("service `{service}` in cluster `{cluster}`");
    let out = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| aws::describe(&e, "ecs:UpdateService", &resource).message)?;
    out.service()
        .cloned()
        .ok_or_else(|| format!("UpdateService of {resource} returned no service"))
}

/// Start the rollout of `service` to `task_definition` as its deployment type does; what
/// to follow (see [`ServiceTarget::deployment`]). A type migrail cannot drive is refused
/// with what to do instead, before any call.
pub async fn start(
    clients: &aws::Clients,
    cluster: &str,
    service: &ServiceInfo,
    task_definition: &str,
    names: &codedeploy::Names,
) -> Result<Option<String>, String> {
    let strategy = &service.strategy;
    let name = service.name.as_str();
    if let Some(why) = strategy.cannot_deploy(name) {
        return Err(why);
    }
    if strategy.has_service_deployments() {
        service_deployment::start(clients, cluster, name, task_definition).await
    } else if *strategy == Strategy::CodeDeploy {
        codedeploy::start(
            clients,
            cluster,
            name,
            task_definition,
            service.load_balancer.as_ref(),
            names,
        )
        .await
        .map(Some)
    } else {
        rolling::start(clients, cluster, name, task_definition)
            .await
            .map(Some)
    }
}

/// A service as the deploy first reads it.
#[derive(Clone, Debug)]
pub struct ServiceInfo {
    pub cluster: String,
    pub name: String,
    pub strategy: Strategy,
    /// The deployment type in words.
    pub described: String,
    /// The task definition it runs now.
    pub task_definition: String,
    /// Whether it has a PAUSE lifecycle hook at PRE_SCALE_UP (`--pause-hook`).
    pub pause_hook: bool,
    /// The container name and port of its (first) load balancer.
    pub load_balancer: Option<(String, i32)>,
}

/// The deployment type of each service, `(cluster, name)`, in the order given, read once.
pub async fn strategies(
    ecs: &aws_sdk_ecs::Client,
    services: &[(String, String)],
) -> Result<Vec<ServiceInfo>, String> {
    let mut out = Vec::new();
    for (cluster, name) in services {
        out.extend(strategies_in(ecs, cluster, std::slice::from_ref(name)).await?);
    }
    Ok(out)
}

async fn strategies_in(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[String],
) -> Result<Vec<ServiceInfo>, String> {
    let (found, _) = describe_services(ecs, cluster, services)
        .await
        .map_err(|e| e.message)?;
    let mut out = Vec::new();
    for name in services {
        let svc = found.iter().find(|s| {
            s.service_name() == Some(name.as_str()) || s.service_arn() == Some(name.as_str())
        });
        let Some(svc) = svc.filter(|s| s.status() == Some("ACTIVE")) else {
            return Err(format!(
                "service `{name}` not found in cluster `{cluster}` (or not ACTIVE): check \
                 --cluster and --service (CLUSTER/NAME for a service of another cluster)"
            ));
        };
        let strategy = Strategy::of(svc);
        out.push(ServiceInfo {
            cluster: cluster.to_string(),
            name: name.clone(),
            described: strategy.describe(svc),
            strategy,
            task_definition: svc.task_definition().unwrap_or_default().to_string(),
            pause_hook: pause_hook::configured(svc),
            load_balancer: svc
                .load_balancers()
                .iter()
                .find_map(|lb| Some((lb.container_name()?.to_string(), lb.container_port()?))),
        });
    }
    Ok(out)
}

/// The tasks that keep another revision alive: not STOPPED, and on a task definition
/// that is none of `allowed`.
pub fn task_blockers(service: &str, tasks: &[Task], allowed: &HashSet<&str>) -> Vec<Blocker> {
    tasks
        .iter()
        .filter(|t| t.last_status() != Some("STOPPED"))
        .filter(|t| !allowed.contains(t.task_definition_arn().unwrap_or_default()))
        .map(|t| {
            let id = super::task_id(t.task_arn().unwrap_or_default()).to_string();
            let rev = revision(t.task_definition_arn().unwrap_or("?"));
            let last = t.last_status().unwrap_or("UNKNOWN").to_string();
            let desired = t.desired_status().unwrap_or("UNKNOWN").to_string();
            let what = match t.group() {
                Some(g) if g.starts_with("service:") && g != format!("service:{service}") => {
                    format!(" of {}", g.replacen(':', " `", 1) + "`")
                }
                Some(g) if !g.starts_with("service:") => {
                    format!(" (standalone, group `{g}`)")
                }
                _ => String::new(),
            };
            let draining = if desired == "STOPPED" {
                " (draining)"
            } else {
                ""
            };
            Blocker {
                service: service.to_string(),
                kind: "task",
                task_id: Some(id.clone()),
                revision: rev.clone(),
                last_status: Some(last.clone()),
                desired_status: Some(desired.clone()),
                stage: None,
                detail: format!("task {id}{what} on {rev} is {last}, desired {desired}{draining}"),
            }
        })
        .collect()
}

/// `DescribeServices` of `names` in `cluster` (ten at a time, as ECS takes them): the
/// services, and the failures as (ARN, reason).
async fn describe_services(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[String],
) -> Result<(Vec<Service>, Vec<(String, String)>), aws::ApiError> {
    let mut services = Vec::new();
    let mut missing = Vec::new();
    for chunk in names.chunks(10) {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| {
                aws::describe(&e, "ecs:DescribeServices", &format!("cluster `{cluster}`"))
            })?;
        services.extend(out.services().iter().cloned());
        for f in out.failures() {
            missing.push((
                f.arn().unwrap_or_default().to_string(),
                f.reason().unwrap_or("MISSING").to_string(),
            ));
        }
    }
    Ok((services, missing))
}

/// One round of the drain check for every target, cluster by cluster.
pub async fn check(ecs: &aws::Clients, targets: &[ServiceTarget]) -> Result<Round, aws::ApiError> {
    let mut clusters: Vec<&str> = targets.iter().map(|t| t.cluster.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    let mut round = Round::default();
    for cluster in clusters {
        let here: Vec<ServiceTarget> = targets
            .iter()
            .filter(|t| t.cluster == cluster)
            .cloned()
            .collect();
        let r = check_cluster(ecs, cluster, &here).await?;
        round.failed.extend(r.failed);
        round.blockers.extend(r.blockers);
        round.primary.extend(r.primary);
    }
    Ok(round)
}

async fn check_cluster(
    ecs: &aws::Clients,
    cluster: &str,
    targets: &[ServiceTarget],
) -> Result<Round, aws::ApiError> {
    let mut round = Round::default();
    let names: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
    let (services, missing) = describe_services(ecs, cluster, &names).await?;
    // Every task definition a target allows, by family, for the family sweep.
    let allowed: HashSet<&str> = targets.iter().map(|t| t.task_definition.as_str()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut all_done = true;
    for target in targets {
        let svc = services.iter().find(|s| {
            s.service_name() == Some(target.service.as_str())
                || s.service_arn() == Some(target.service.as_str())
        });
        let Some(svc) = svc else {
            let why = missing
                .iter()
                .find(|(arn, _)| arn.ends_with(&format!("/{}", target.service)))
                .map(|(_, r)| r.clone())
                .unwrap_or_else(|| "MISSING".into());
            round.failed.push(RolloutFailure {
                service: target.service.clone(),
                kind: "not-found",
                reason: format!("not found in cluster `{cluster}` ({why})"),
                events: Vec::new(),
            });
            continue;
        };
        round.primary.push((
            target.service.clone(),
            svc.deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
                .and_then(|d| d.task_definition())
                .or(svc.task_definition())
                .map(str::to_string),
        ));
        let strategy = Strategy::of(svc);
        let judged = if strategy.has_service_deployments() {
            service_deployment::judge(ecs, cluster, svc, target).await?
        } else if strategy == Strategy::CodeDeploy {
            codedeploy::judge(ecs, svc, target).await?
        } else if strategy == Strategy::External {
            task_sets::judge(svc, target)
        } else {
            rolling::judge(svc, target)
        };
        match judged {
            Err(f) => round.failed.push(f),
            Ok(Some(b)) => {
                all_done = false;
                round.blockers.push(b);
            }
            Ok(None) => {
                let tasks = service_tasks(ecs, cluster, &target.service).await?;
                for t in &tasks {
                    seen.insert(t.task_arn().unwrap_or_default().to_string());
                }
                let blockers = task_blockers(&target.service, &tasks, &allowed);
                all_done &= blockers.is_empty();
                round.blockers.extend(blockers);
            }
        }
    }
    // Other tasks of the same families run old code too; checked once the services are.
    if round.failed.is_empty() && all_done {
        let families: BTreeSet<String> =
            targets.iter().map(|t| family(&t.task_definition)).collect();
        for fam in families {
            let tasks = family_tasks(ecs, cluster, &fam).await?;
            let others: Vec<Task> = tasks
                .into_iter()
                .filter(|t| !seen.contains(t.task_arn().unwrap_or_default()))
                .collect();
            let owner = targets
                .iter()
                .find(|t| family(&t.task_definition) == fam)
                .map(|t| t.service.as_str())
                .unwrap_or_default();
            round
                .blockers
                .extend(task_blockers(owner, &others, &allowed));
        }
    }
    Ok(round)
}

/// Both lists (`desiredStatus` RUNNING and STOPPED: draining tasks are in the second).
async fn tasks_of(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: Option<&str>,
    family: Option<&str>,
) -> Result<Vec<Task>, aws::ApiError> {
    let filter = |desired: DesiredStatus| tasks::Filter {
        service,
        family,
        desired: Some(desired),
        started_by: None,
    };
    let mut arns = tasks::list(ecs, cluster, &filter(DesiredStatus::Running)).await?;
    for arn in tasks::list(ecs, cluster, &filter(DesiredStatus::Stopped)).await? {
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    tasks::describe(ecs, cluster, &arns).await
}

async fn service_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<Task>, aws::ApiError> {
    tasks_of(ecs, cluster, Some(service), None).await
}

async fn family_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    family: &str,
) -> Result<Vec<Task>, aws::ApiError> {
    tasks_of(ecs, cluster, None, Some(family)).await
}

/// How a wait ended.
#[derive(Debug)]
pub enum Waited {
    /// Every service is on its target and no old task is alive.
    Drained,
    Failed(Vec<RolloutFailure>),
    /// The deadline passed; the blockers of the last round.
    TimedOut(Vec<Blocker>),
    Cancelled(&'static str, Vec<Blocker>),
    /// An API error that is not worth retrying (permissions, ...).
    Error(String),
}

/// Every blocker seen while waiting, with when it was first and last seen (seconds
/// since the wait began): for the result document.
#[derive(Clone, Debug, Serialize)]
pub struct SeenBlocker {
    #[serde(flatten)]
    pub blocker: Blocker,
    pub first_seen_seconds: f64,
    pub last_seen_seconds: f64,
}

/// What a wait saw, whatever its end.
#[derive(Debug, Default)]
pub struct Log {
    pub seen: Vec<SeenBlocker>,
    /// The PRIMARY task definition of each service at the last round.
    pub primary: Vec<(String, Option<String>)>,
}

impl Log {
    fn record(&mut self, blockers: &[Blocker], at: f64) {
        for b in blockers {
            match self.seen.iter_mut().find(|s| {
                s.blocker.service == b.service
                    && s.blocker.kind == b.kind
                    && s.blocker.task_id == b.task_id
                    && s.blocker.revision == b.revision
                    && s.blocker.stage == b.stage
            }) {
                Some(s) => {
                    s.last_seen_seconds = at;
                    s.blocker = b.clone();
                }
                None => self.seen.push(SeenBlocker {
                    blocker: b.clone(),
                    first_seen_seconds: at,
                    last_seen_seconds: at,
                }),
            }
        }
    }
}

/// Poll [`check`] until the old release is gone, a rollout fails, the deadline passes
/// or a signal arrives. `what` names the step in the printed lines (`drain`, `gate`).
#[allow(clippy::too_many_arguments)]
pub async fn wait(
    ecs: &aws::Clients,
    targets: &[ServiceTarget],
    poll: Duration,
    deadline: Instant,
    cancel: &mut Cancel,
    what: &str,
    log: &mut Log,
) -> Waited {
    let began = Instant::now();
    let mut last_report: Option<Instant> = None;
    let mut last_text = String::new();
    let mut last_blockers: Vec<Blocker> = Vec::new();
    let mut shown: HashSet<(String, &'static str, Option<String>, Option<String>)> = HashSet::new();
    let mut warned = false;
    loop {
        let round = tokio::select! {
            signal = cancel.recv() => return Waited::Cancelled(signal, last_blockers),
            r = check(ecs, targets) => r,
        };
        match round {
            Ok(round) => {
                log.primary = round.primary.clone();
                log.record(&round.blockers, began.elapsed().as_secs_f64());
                if !round.failed.is_empty() {
                    return Waited::Failed(round.failed);
                }
                if round.blockers.is_empty() {
                    return Waited::Drained;
                }
                let text: Vec<String> = round.blockers.iter().map(Blocker::line).collect();
                let text = text.join("\n");
                // Every REPORT_EVERY, and as soon as something new blocks (a draining
                // task after the deployment itself).
                let new = round.blockers.iter().any(|b| shown.insert(b.identity()));
                let due = new || last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
                if due {
                    let n = round.blockers.len();
                    eprintln!(
                        "migrail: {what}: waiting for the old release to be gone ({n} blocking{}):",
                        if text == last_text { ", unchanged" } else { "" }
                    );
                    for line in text.lines() {
                        eprintln!("migrail:   {line}");
                    }
                    last_report = Some(Instant::now());
                    last_text = text;
                }
                last_blockers = round.blockers;
            }
            Err(err) => match err.kind {
                Kind::Throttled | Kind::Transient => {
                    if !warned {
                        eprintln!("migrail: warning: {err} (still waiting)");
                        warned = true;
                    }
                }
                _ => return Waited::Error(err.message),
            },
        }
        if Instant::now() >= deadline {
            return Waited::TimedOut(last_blockers);
        }
        let nap = poll.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            signal = cancel.recv() => return Waited::Cancelled(signal, last_blockers),
            _ = sleep(nap) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:42";
    const NEW: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:43";

    #[test]
    fn draining_tasks_of_another_revision_block_until_stopped() {
        let task = |id: &str, td: &str, last: &str, desired: &str| {
            Task::builder()
                .task_arn(format!("arn:aws:ecs:eu-west-1:1:task/prod/{id}"))
                .task_definition_arn(td)
                .last_status(last)
                .desired_status(desired)
                .group("service:web")
                .build()
        };
        let tasks = vec![
            task("new1", NEW, "RUNNING", "RUNNING"),
            task("old1", OLD, "DEACTIVATING", "STOPPED"),
            task("old2", OLD, "STOPPED", "STOPPED"),
        ];
        let allowed: HashSet<&str> = [NEW].into_iter().collect();
        let b = task_blockers("web", &tasks, &allowed);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].task_id.as_deref(), Some("old1"));
        assert!(
            b[0].detail
                .contains("task old1 on web:42 is DEACTIVATING, desired STOPPED (draining)"),
            "{}",
            b[0].detail
        );
    }

    #[test]
    fn revisions_and_families() {
        assert_eq!(revision(OLD), "web:42");
        assert_eq!(family(OLD), "web");
        assert_eq!(family("web"), "web");
    }
}
