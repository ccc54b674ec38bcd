//! Rolling out a task definition to services and proving the old release is gone: the
//! ECS side of `migrail deploy` and of the post-phase gate (`run --phase post --service`).
//!
//! [`update`] is the one mutating call (`UpdateService` with the task definition and
//! nothing else) and returns the deployment it started. [`check`] is one round of the
//! drain check, for every service: the deployment migrail started (or, for the gate, the
//! service's PRIMARY one) is PRIMARY, on the target task definition and complete
//! (`rolloutState` COMPLETED; without a rollout state, the only deployment with every
//! task running), and **no task of another revision is alive**: the service's tasks with
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

use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus, Service, Task};
use serde::Serialize;
use tokio::time::{sleep, Instant};

use super::aws::{self, Kind};
use super::{tasks, Cancel};

/// How often the blockers are printed while waiting (and whenever a new one appears).
pub const REPORT_EVERY: Duration = Duration::from_secs(30);
/// How many of a service's latest events a failure quotes.
const EVENTS_QUOTED: usize = 5;

/// A service and the task definition (ARN) it must end up on.
#[derive(Clone, Debug)]
pub struct ServiceTarget {
    pub service: String,
    pub task_definition: String,
    /// The deployment migrail started (`deploy`); `None` for the gate, which checks the
    /// service's PRIMARY deployment whoever started it.
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
    /// In words, for the log.
    pub detail: String,
}

impl Blocker {
    fn identity(&self) -> (String, &'static str, Option<String>) {
        (self.service.clone(), self.kind, self.task_id.clone())
    }

    pub fn line(&self) -> String {
        format!("service `{}`: {}", self.service, self.detail)
    }
}

/// Why a rollout will never reach the target: the post phase must not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolloutFailure {
    pub service: String,
    /// `rolled-back`, `failed`, `replaced`, `gone`, `not-found`.
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

fn family(task_definition: &str) -> String {
    let rev = revision(task_definition);
    match rev.rsplit_once(':') {
        Some((family, _)) => family.to_string(),
        None => rev,
    }
}

/// `UpdateService(cluster, service, taskDefinition)`, nothing else changed: the id of
/// the deployment it started (the PRIMARY one in the answer).
pub async fn update(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<String, String> {
    let resource = format!("service `{service}` in cluster `{cluster}`");
    let out = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| aws::describe(&e, "ecs:UpdateService", &resource).message)?;
    let Some(svc) = out.service() else {
        return Err(format!("UpdateService of {resource} returned no service"));
    };
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    match primary.and_then(|d| d.id()) {
        Some(id) => Ok(id.to_string()),
        None => Err(format!(
            "UpdateService of {resource} returned no PRIMARY deployment: cannot follow the rollout"
        )),
    }
}

/// Judge one service's deployments against its target; `Ok(None)` when the deployment
/// side is done (the tasks are checked next).
pub fn judge_deployments(
    svc: &Service,
    target: &ServiceTarget,
) -> Result<Option<Blocker>, RolloutFailure> {
    let name = target.service.clone();
    let events: Vec<String> = svc
        .events()
        .iter()
        .take(EVENTS_QUOTED)
        .filter_map(|e| e.message().map(str::to_string))
        .collect();
    let fail = |kind: &'static str, reason: String| RolloutFailure {
        service: name.clone(),
        kind,
        reason,
        events: events.clone(),
    };
    let deployments = svc.deployments();
    let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
    let want = &target.task_definition;
    let describe_primary = || match primary {
        Some(p) => format!(
            "the PRIMARY deployment {} runs {}",
            p.id().unwrap_or("?"),
            revision(p.task_definition().unwrap_or("?"))
        ),
        None => "the service has no PRIMARY deployment".to_string(),
    };
    if svc.status().is_some_and(|s| s != "ACTIVE") {
        return Err(fail(
            "not-found",
            format!("the service is {}", svc.status().unwrap_or("?")),
        ));
    }
    let failed_reason = |d: &aws_sdk_ecs::types::Deployment| {
        d.rollout_state_reason()
            .filter(|r| !r.is_empty())
            .unwrap_or("no reason given")
            .to_string()
    };
    match &target.deployment {
        Some(id) => {
            let Some(ours) = deployments.iter().find(|d| d.id() == Some(id.as_str())) else {
                return Err(fail(
                    "gone",
                    format!(
                        "the deployment migrail started ({id}) is gone; {}",
                        describe_primary()
                    ),
                ));
            };
            let is_primary = ours.status() == Some("PRIMARY");
            if ours.rollout_state() == Some(&DeploymentRolloutState::Failed) {
                let kind = if is_primary { "failed" } else { "rolled-back" };
                let what = if is_primary {
                    "failed".to_string()
                } else {
                    format!("failed and was rolled back ({})", describe_primary())
                };
                return Err(fail(
                    kind,
                    format!(
                        "the rollout of {} (deployment {id}) {what}: {}",
                        revision(want),
                        failed_reason(ours)
                    ),
                ));
            }
            if !is_primary {
                let rolled_back = primary
                    .and_then(|p| p.task_definition())
                    .is_some_and(|td| td != want);
                return Err(fail(
                    if rolled_back {
                        "rolled-back"
                    } else {
                        "replaced"
                    },
                    format!(
                        "the deployment migrail started ({id}, {}) is no longer PRIMARY: {}",
                        revision(want),
                        describe_primary()
                    ),
                ));
            }
        }
        None => {
            if let Some(bad) = deployments.iter().find(|d| {
                d.task_definition() == Some(want.as_str())
                    && d.rollout_state() == Some(&DeploymentRolloutState::Failed)
            }) {
                let kind = if bad.status() == Some("PRIMARY") {
                    "failed"
                } else {
                    "rolled-back"
                };
                return Err(fail(
                    kind,
                    format!(
                        "the rollout of {} (deployment {}) failed: {}; {}",
                        revision(want),
                        bad.id().unwrap_or("?"),
                        failed_reason(bad),
                        describe_primary()
                    ),
                ));
            }
        }
    }
    let blocker = |revision: String, detail: String| Blocker {
        service: target.service.clone(),
        kind: "deployment",
        task_id: None,
        revision,
        last_status: None,
        desired_status: None,
        detail,
    };
    let Some(primary) = primary else {
        // No deployments listed (a blue/green CODE_DEPLOY or EXTERNAL controller lists
        // task sets instead): the service's task definition decides, and its tasks next.
        if deployments.is_empty() && target.deployment.is_none() {
            let current = svc.task_definition().unwrap_or_default();
            if current == want {
                return Ok(None);
            }
            return Ok(Some(blocker(
                revision(current),
                format!("runs {}, not {}", revision(current), revision(want)),
            )));
        }
        return Ok(Some(blocker(
            String::new(),
            "no PRIMARY deployment yet".into(),
        )));
    };
    let primary_td = primary.task_definition().unwrap_or_default();
    if primary_td != want {
        return Ok(Some(blocker(
            revision(primary_td),
            format!(
                "runs {} (PRIMARY deployment {}), not {}",
                revision(primary_td),
                primary.id().unwrap_or("?"),
                revision(want)
            ),
        )));
    }
    let complete = match primary.rollout_state() {
        Some(DeploymentRolloutState::Completed) => true,
        Some(_) => false,
        // No rollout state (a Classic Load Balancer, an old service): the only
        // deployment, with every task running.
        None => {
            deployments.len() == 1
                && primary.pending_count() == 0
                && primary.running_count() >= primary.desired_count()
        }
    };
    if !complete {
        return Ok(Some(blocker(
            revision(primary_td),
            format!(
                "deployment {} of {} is {} ({} of {} tasks running)",
                primary.id().unwrap_or("?"),
                revision(primary_td),
                primary
                    .rollout_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "in progress".into()),
                primary.running_count(),
                primary.desired_count()
            ),
        )));
    }
    Ok(None)
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
                detail: format!("task {id}{what} on {rev} is {last}, desired {desired}{draining}"),
            }
        })
        .collect()
}

/// One round of the drain check for every target.
pub async fn check(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    targets: &[ServiceTarget],
) -> Result<Round, aws::ApiError> {
    let mut round = Round::default();
    let mut services: Vec<Service> = Vec::new();
    let names: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
    let mut missing: Vec<(String, String)> = Vec::new();
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
                .map(str::to_string),
        ));
        match judge_deployments(svc, target) {
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
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
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
    let mut shown: HashSet<(String, &'static str, Option<String>)> = HashSet::new();
    let mut warned = false;
    loop {
        let round = tokio::select! {
            signal = cancel.recv() => return Waited::Cancelled(signal, last_blockers),
            r = check(ecs, cluster, targets) => r,
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
    use aws_sdk_ecs::types::Deployment;

    const OLD: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:42";
    const NEW: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:43";

    fn dep(id: &str, status: &str, td: &str, state: Option<DeploymentRolloutState>) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(td)
            .desired_count(2)
            .running_count(2)
            .pending_count(0)
            .set_rollout_state(state)
            .rollout_state_reason("tasks failed to start")
            .build()
    }

    fn svc(deps: Vec<Deployment>) -> Service {
        Service::builder()
            .service_name("web")
            .status("ACTIVE")
            .set_deployments(Some(deps))
            .build()
    }

    fn target(id: Option<&str>) -> ServiceTarget {
        ServiceTarget {
            service: "web".into(),
            task_definition: NEW.into(),
            deployment: id.map(str::to_string),
        }
    }

    #[test]
    fn a_completed_primary_on_the_target_is_done_and_in_progress_blocks() {
        let done = svc(vec![dep(
            "d2",
            "PRIMARY",
            NEW,
            Some(DeploymentRolloutState::Completed),
        )]);
        assert_eq!(judge_deployments(&done, &target(Some("d2"))), Ok(None));
        assert_eq!(judge_deployments(&done, &target(None)), Ok(None));
        let moving = svc(vec![
            dep(
                "d2",
                "PRIMARY",
                NEW,
                Some(DeploymentRolloutState::InProgress),
            ),
            dep("d1", "ACTIVE", OLD, Some(DeploymentRolloutState::Completed)),
        ]);
        let b = judge_deployments(&moving, &target(Some("d2")))
            .expect("not failed")
            .expect("blocks");
        assert!(b.detail.contains("IN_PROGRESS"), "{}", b.detail);
    }

    #[test]
    fn a_circuit_breaker_rollback_is_a_failure_never_a_success() {
        // The failed deployment turned ACTIVE, a new PRIMARY runs the old revision, and
        // is COMPLETED: `services-stable` would say yes.
        let rolled = svc(vec![
            dep(
                "d3",
                "PRIMARY",
                OLD,
                Some(DeploymentRolloutState::Completed),
            ),
            dep("d2", "ACTIVE", NEW, Some(DeploymentRolloutState::Failed)),
        ]);
        let f = judge_deployments(&rolled, &target(Some("d2"))).expect_err("fails");
        assert_eq!(f.kind, "rolled-back");
        assert!(
            f.reason.contains("tasks failed to start") && f.reason.contains("web:42"),
            "{}",
            f.reason
        );
        // The gate, which did not start it, sees the same.
        let f = judge_deployments(&rolled, &target(None)).expect_err("fails");
        assert_eq!(f.kind, "rolled-back");
        // Gone: the deployment is no longer listed.
        let gone = svc(vec![dep(
            "d3",
            "PRIMARY",
            OLD,
            Some(DeploymentRolloutState::Completed),
        )]);
        assert_eq!(
            judge_deployments(&gone, &target(Some("d2")))
                .expect_err("fails")
                .kind,
            "gone"
        );
        // The gate without a failed deployment waits: the service is not on it (yet).
        let b = judge_deployments(&gone, &target(None))
            .expect("waits")
            .expect("blocks");
        assert!(b.detail.contains("runs web:42"), "{}", b.detail);
    }

    #[test]
    fn without_a_rollout_state_the_only_full_deployment_is_done() {
        let mut d = dep("d2", "PRIMARY", NEW, None);
        assert_eq!(
            judge_deployments(&svc(vec![d.clone()]), &target(None)),
            Ok(None)
        );
        d.running_count = 1;
        assert!(judge_deployments(&svc(vec![d]), &target(None))
            .expect("ok")
            .is_some());
    }

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
