//! `migrail deploy`: the whole rollout in one command, in the order ECS itself cannot
//! express — plan → pre → rollout → drain → post, or with `--pause-hook` plan → rollout →
//! hold → pre → continue → drain → post.
//!
//! This module owns the orchestration and its result document, nothing else: the plan
//! arrives as data ([`PlanSummary`], made by the command line from the lint), the runs
//! are [`crate::ecs::run_async`] (exactly once, logs, verdict), and every deployment type
//! (rolling, ECS blue/green/linear/canary, CodeDeploy) is driven through one interface,
//! [`crate::ecs::rollout`] (`strategies`, `start`, `wait`). It knows nothing of Django's
//! files.
//!
//! The steps, each printed as it starts and ends (see `steps` and
//! `in_the_deployment`):
//! - **plan**: anything blocked ends the deploy before any AWS call (exit 1), unless
//!   `--allow-unsafe`; then each service's deployment type is read and printed, one
//!   migrail cannot drive ends it before any change (exit 2); `--image` registers the
//!   new revisions;
//! - **pre**: the pre-deploy migrations as a one-off task of the new task definition; a
//!   failure ends the deploy with that run's exit code, no service touched;
//! - **rollout**: every service started the way its type rolls out, what each started
//!   remembered;
//! - **hold**, **continue** (`--pause-hook`): the rollout first, each service deployment
//!   paused at its PRE_SCALE_UP hook while the pre phase runs, then CONTINUE (ROLLBACK if
//!   the pre phase failed);
//! - **drain**: until every rollout is done its way and no task of another revision is
//!   alive; a failed or rolled-back rollout ends the deploy (exit 131), and so does
//!   `--timeout` (exit 132), without the post phase and without touching the services
//!   again (the command that finishes the deploy is printed);
//! - **post**: the post-deploy migrations, behind the same gate, skipped when the plan
//!   has none.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use aws_sdk_ecs::types::DeploymentLifecycleHookAction;

use crate::ecs::rollout::{self, pause_hook as hooks, ServiceTarget, Strategy, Waited};

/// After a ROLLBACK it requested, how long migrail waits at least for ECS to finish it.
const ROLLBACK_WAIT: Duration = Duration::from_secs(120);
use crate::ecs::{self, Cancel, EcsRun, GateService};
use crate::run::{exit, format_duration, now_epoch, RunResult};

pub use crate::run::deploy_exit as codes;

/// What the plan says, as the deploy needs it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlanSummary {
    /// `app.name` of the migrations that run before the rollout.
    pub before: Vec<String>,
    /// ... and after it.
    pub after: Vec<String>,
    pub blocked: Vec<BlockedMigration>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlockedMigration {
    pub migration: String,
    pub reasons: Vec<String>,
}

/// Everything `migrail deploy` was asked.
#[derive(Clone, Debug)]
pub struct Deploy {
    /// The pre and post runs: cluster, first service (network configuration), the new
    /// task definition and every ECS flag; command, timeout and gate are set per step.
    pub run: EcsRun,
    /// The services and the task definition each rolls out to (`None`: the run's).
    pub services: Vec<GateService>,
    pub pre_command: Vec<String>,
    pub post_command: Vec<String>,
    /// The run keys of the two runs, when `--run-key` was given.
    pub run_keys: Option<(String, String)>,
    pub plan: PlanSummary,
    pub allow_unsafe: bool,
    pub timeout: Duration,
    /// The command that runs the post phase alone, with the same gate. With `--image`,
    /// [`RESUME_TASK_DEFINITION`] and [`RESUME_SERVICES`] stand for what is registered.
    pub resume: String,
    /// `--image CONTAINER=IMAGE`: register the new revisions from what the services run.
    pub images: Vec<(String, String)>,
    /// `--pause-hook`: the pre phase runs at each service's PRE_SCALE_UP pause hook.
    pub pause_hook: bool,
    /// `--codedeploy-app`, `--codedeploy-group`.
    pub codedeploy: rollout::codedeploy::Names,
}

/// In [`Deploy::resume`]: the task definition registered with `--image`.
pub const RESUME_TASK_DEFINITION: &str = "@TASK_DEFINITION@";
/// In [`Deploy::resume`]: the `--service` flags once the revisions are registered.
pub const RESUME_SERVICES: &str = "@SERVICES@";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    Blocked,
    Unsupported,
    PreFailed,
    RolloutFailed,
    OldReleaseRunning,
    PostFailed,
    Cancelled,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Blocked => "blocked",
            Outcome::Unsupported => "unsupported",
            Outcome::PreFailed => "pre-failed",
            Outcome::RolloutFailed => "rollout-failed",
            Outcome::OldReleaseRunning => "old-release-running",
            Outcome::PostFailed => "post-failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Error => "error",
        }
    }
}

/// One step as it ran.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// `plan`, `pre`, `rollout`, `drain`, `post`.
    pub name: &'static str,
    /// `succeeded`, `failed`, `skipped`, `timed-out`, `cancelled`.
    pub outcome: &'static str,
    pub started_at: u64,
    pub duration_seconds: f64,
    pub detail: String,
}

/// One service's rollout.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceRecord {
    pub service: String,
    /// Its deployment type, in words (`rolling update`, `ECS blue/green, bake 30 min`).
    pub deployment_type: String,
    /// The task definition it rolls out to.
    pub task_definition: String,
    /// What `UpdateService` started: the deployment id (rolling) or the service
    /// deployment ARN (blue/green, linear, canary).
    pub deployment_id: Option<String>,
    /// `not-started`, `in-progress`, `completed`, `failed`, `rolled-back`, `stopped`,
    /// `replaced`, `gone`, `not-found`, `unsupported`, `error`.
    pub rollout: String,
    pub reason: Option<String>,
    /// The service's latest events when its rollout failed, newest first.
    pub events: Vec<String>,
    /// The PRIMARY deployment's task definition when the deploy ended.
    pub final_task_definition: Option<String>,
}

/// The result document (`--json-out`, version 1).
#[derive(Clone, Debug, Serialize)]
pub struct DeployResult {
    pub version: u32,
    /// Always `deploy` (a run's document has `backend` instead).
    pub kind: &'static str,
    pub outcome: Outcome,
    pub exit_code: u8,
    /// The step the deploy ended in.
    pub step: &'static str,
    pub reason: Option<String>,
    pub cluster: String,
    pub task_definition: String,
    pub started_at: u64,
    pub duration_seconds: f64,
    pub plan: PlanSummary,
    pub steps: Vec<Step>,
    pub pre: Option<RunResult>,
    pub post: Option<RunResult>,
    pub services: Vec<ServiceRecord>,
    /// Every task or deployment waited for during the drain.
    pub blockers: Vec<rollout::SeenBlocker>,
    /// What to run to finish the deploy, when it stopped before the post phase.
    pub resume: Option<String>,
    /// The revisions `--image` registered.
    pub registered: Vec<crate::ecs::register::Registered>,
    /// With `--image`: (task definition, `--service` flags) for the resume command.
    #[serde(skip)]
    resume_template: Option<(String, String)>,
}

impl DeployResult {
    /// The final one-line verdict, redacted (it quotes reasons from ECS).
    pub fn verdict(&self) -> String {
        crate::redact::current()
            .redact(&self.verdict_text())
            .into_owned()
    }

    fn verdict_text(&self) -> String {
        let took = format_duration(Duration::from_secs_f64(self.duration_seconds));
        let mut line = format!(
            "migrail: deploy {} in step {} after {took} (exit code {})",
            self.outcome.as_str().replace('-', " "),
            self.step,
            self.exit_code
        );
        if self.outcome == Outcome::Succeeded {
            let services: Vec<&str> = self.services.iter().map(|s| s.service.as_str()).collect();
            line = format!(
                "migrail: deploy succeeded after {took}: {} on {}, {} migration(s) applied",
                services.join(", "),
                rollout::revision(&self.task_definition),
                self.applied().len()
            );
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(": {reason}"));
        }
        line
    }

    /// Every migration the pre and post runs applied.
    pub fn applied(&self) -> Vec<String> {
        self.pre
            .iter()
            .chain(self.post.iter())
            .flat_map(|r| r.applied.iter().cloned())
            .collect()
    }
}

struct Clock {
    started: std::time::Instant,
    epoch: u64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            started: std::time::Instant::now(),
            epoch: now_epoch(),
        }
    }
    fn step(&self, name: &'static str, outcome: &'static str, detail: String) -> Step {
        Step {
            name,
            outcome,
            started_at: self.epoch,
            duration_seconds: self.started.elapsed().as_secs_f64(),
            detail,
        }
    }
}

fn say(step: &str, text: &str) {
    eprintln!("migrail: deploy: {step}: {text}");
}

/// Run the deploy.
pub fn deploy(spec: &Deploy) -> DeployResult {
    let started = std::time::Instant::now();
    let mut result = DeployResult {
        version: 1,
        kind: "deploy",
        outcome: Outcome::Error,
        exit_code: codes::MIGRAIL_ERROR,
        step: "plan",
        reason: None,
        cluster: spec.run.cluster.clone(),
        task_definition: spec.run.task_definition.clone().unwrap_or_default(),
        started_at: now_epoch(),
        duration_seconds: 0.0,
        plan: spec.plan.clone(),
        steps: Vec::new(),
        pre: None,
        post: None,
        services: spec
            .services
            .iter()
            .map(|s| ServiceRecord {
                service: s.service.clone(),
                deployment_type: String::new(),
                task_definition: s
                    .task_definition
                    .clone()
                    .or_else(|| spec.run.task_definition.clone())
                    .unwrap_or_default(),
                deployment_id: None,
                rollout: "not-started".into(),
                reason: None,
                events: Vec::new(),
                final_task_definition: None,
            })
            .collect(),
        blockers: Vec::new(),
        resume: None,
        registered: Vec::new(),
        resume_template: None,
    };
    match ecs::runtime() {
        Ok(rt) => rt.block_on(async {
            match Cancel::new() {
                Ok(mut cancel) => steps(spec, &mut result, &mut cancel).await,
                Err(e) => result.reason = Some(format!("cannot watch for signals: {e}")),
            }
        }),
        Err(e) => result.reason = Some(e),
    }
    result.duration_seconds = started.elapsed().as_secs_f64();
    result
}

fn end(result: &mut DeployResult, outcome: Outcome, code: u8, reason: impl Into<String>) {
    result.outcome = outcome;
    result.exit_code = code;
    result.reason = Some(reason.into());
}

async fn steps(spec: &Deploy, result: &mut DeployResult, cancel: &mut Cancel) {
    let deadline = Instant::now() + spec.timeout;
    if !plan(spec, result) {
        return;
    }
    let Some(client) = connect(spec, result).await else {
        return;
    };
    let Some(services) = deployment_types(spec, result, &client).await else {
        return;
    };
    if !spec.images.is_empty() && !register(spec, result, &client, &services).await {
        return;
    }
    if spec.pause_hook {
        in_the_deployment(spec, result, cancel, &client, &services, deadline).await;
        return;
    }
    if !pre(spec, result, cancel, deadline).await {
        return;
    }
    let Some(targets) = rollout(spec, result, &client, &services).await else {
        return;
    };
    drain_then_post(spec, result, cancel, &client, &targets, deadline).await;
}

/// The end every deploy shares: the drain, the post phase behind its gate, done.
async fn drain_then_post(
    spec: &Deploy,
    result: &mut DeployResult,
    cancel: &mut Cancel,
    client: &ecs::aws::Clients,
    targets: &[ServiceTarget],
    deadline: Instant,
) {
    if !drain(spec, result, cancel, client, targets, deadline).await {
        return;
    }
    if !post(spec, result, cancel, targets, deadline).await {
        return;
    }
    result.step = "done";
    result.outcome = Outcome::Succeeded;
    result.exit_code = codes::SUCCESS;
}

/// `--pause-hook`: the rollout starts first and each service deployment waits at its
/// PRE_SCALE_UP pause hook (the old release serving, nothing new started) while the pre
/// phase runs; then CONTINUE, the drain and the post phase as usual. A failed pre phase
/// (or a timeout or a signal before it ended) sends ROLLBACK instead; a deployment that
/// rolled back, stopped or whose hook expired before the pre phase ran ends the deploy with
/// no migration run.
async fn in_the_deployment(
    spec: &Deploy,
    result: &mut DeployResult,
    cancel: &mut Cancel,
    client: &ecs::aws::Clients,
    services: &[rollout::ServiceInfo],
    deadline: Instant,
) {
    let missing: Vec<String> = services
        .iter()
        .filter(|s| !s.pause_hook)
        .map(|s| s.name.clone())
        .collect();
    if !missing.is_empty() {
        end(
            result,
            Outcome::Unsupported,
            codes::UNSUPPORTED,
            format!("nothing was changed: {}", hooks::missing(&missing)),
        );
        return;
    }
    let strategies: Vec<Strategy> = services.iter().map(|s| s.strategy.clone()).collect();
    let Some(targets) = rollout(spec, result, client, services).await else {
        return;
    };
    // Hold.
    result.step = "hold";
    let clock = Clock::start();
    say(
        "hold",
        "waiting until every service deployment is paused at its PRE_SCALE_UP hook",
    );
    let mut pending: Vec<hooks::Pending> = targets
        .iter()
        .zip(&strategies)
        .map(|(t, s)| hooks::Pending {
            cluster: t.cluster.clone(),
            service: t.service.clone(),
            task_definition: t.task_definition.clone(),
            service_deployment: t.deployment.clone().filter(|_| s.has_service_deployments()),
        })
        .collect();
    let held = match hooks::hold(
        client,
        &mut pending,
        spec.run.poll_interval,
        deadline,
        cancel,
    )
    .await
    {
        hooks::Holding::All(held) => held,
        hooks::Holding::Failed(failures, held) => {
            for f in &failures {
                if let Some(s) = result.services.iter_mut().find(|s| s.service == f.service) {
                    s.rollout = f.kind.to_string();
                    s.reason = Some(f.reason.clone());
                }
                say("hold", &format!("rollout failed: {}", f.message()));
            }
            let detail: Vec<String> = failures.iter().map(|f| f.message()).collect();
            result
                .steps
                .push(clock.step("hold", "failed", detail.join("; ")));
            let rolled = roll_back(spec, client, &held, deadline).await;
            end(
                result,
                Outcome::RolloutFailed,
                codes::ROLLOUT_FAILED,
                format!("{}: no migration ran{rolled}", detail.join("; ")),
            );
            return;
        }
        hooks::Holding::TimedOut(waiting, held) => {
            result
                .steps
                .push(clock.step("hold", "timed-out", waiting.join("; ")));
            let rolled = roll_back(spec, client, &held, deadline).await;
            end(
                result,
                Outcome::OldReleaseRunning,
                codes::OLD_RELEASE_RUNNING,
                format!(
                    "--timeout {} reached before every service paused at its hook ({}): no \
                     migration ran{rolled}",
                    format_duration(spec.timeout),
                    waiting.join("; ")
                ),
            );
            return;
        }
        hooks::Holding::Cancelled(signal, held) => {
            result
                .steps
                .push(clock.step("hold", "cancelled", signal.into()));
            let rolled = roll_back(spec, client, &held, deadline).await;
            end(
                result,
                Outcome::Cancelled,
                codes::CANCELLED,
                format!("{signal} while waiting for the pause hooks: no migration ran{rolled}"),
            );
            return;
        }
        hooks::Holding::Error(e) => {
            result.steps.push(clock.step("hold", "failed", e.clone()));
            end(
                result,
                Outcome::Error,
                codes::MIGRAIL_ERROR,
                format!(
                    "{e}; no migration ran; the services wait at their pause hooks until the \
                     hooks time out (their timeout action applies)"
                ),
            );
            return;
        }
    };
    for h in &held {
        say(
            "hold",
            &format!(
                "service `{}`: paused at PRE_SCALE_UP (hook {})",
                h.service, h.hook_id
            ),
        );
    }
    result.steps.push(clock.step(
        "hold",
        "succeeded",
        format!("{} service(s) paused", held.len()),
    ));
    // Pre, inside the deployment.
    if !pre(spec, result, cancel, deadline).await {
        let rolled = roll_back(spec, client, &held, deadline).await;
        if let Some(reason) = result.reason.as_mut() {
            *reason = reason.replace("no service was updated", "every service was rolled back");
            reason.push_str(&rolled);
        }
        for s in &mut result.services {
            s.rollout = "rolled-back".into();
        }
        return;
    }
    // Continue.
    let clock = Clock::start();
    result.step = "continue";
    if let Err(e) = hooks::resume(client, &held, DeploymentLifecycleHookAction::Continue).await {
        result
            .steps
            .push(clock.step("continue", "failed", e.clone()));
        end(
            result,
            Outcome::Error,
            codes::MIGRAIL_ERROR,
            format!(
                "{e}; the pre-deploy migrations ran, the services wait at their pause hooks \
                 until the hooks time out (their timeout action applies: ROLLBACK by default); \
                 the post phase was not run"
            ),
        );
        return;
    }
    say("continue", "every service deployment continues");
    result
        .steps
        .push(clock.step("continue", "succeeded", String::new()));
    drain_then_post(spec, result, cancel, client, &targets, deadline).await;
}

/// `ContinueServiceDeployment` ROLLBACK for the held services, then until they rolled
/// back (bounded); what to append to the reason.
async fn roll_back(
    spec: &Deploy,
    client: &ecs::aws::Clients,
    held: &[hooks::Held],
    deadline: Instant,
) -> String {
    if held.is_empty() {
        return String::new();
    }
    say(
        "hold",
        "rolling back every service deployment (ContinueServiceDeployment ROLLBACK)",
    );
    if let Err(e) = hooks::resume(client, held, DeploymentLifecycleHookAction::Rollback).await {
        return format!(
            "; the rollback could not be requested ({e}): the hooks' timeout action applies"
        );
    }
    let until = deadline.max(Instant::now() + ROLLBACK_WAIT);
    let open = hooks::await_rollback(client, held, spec.run.poll_interval, until).await;
    if open.is_empty() {
        "; every service deployment rolled back (ROLLBACK_SUCCESSFUL)".into()
    } else {
        format!(
            "; rollback requested, not finished yet: {}",
            open.join("; ")
        )
    }
}

/// The plan: anything blocked ends the deploy before any AWS call, unless
/// `--allow-unsafe`.
fn plan(spec: &Deploy, result: &mut DeployResult) -> bool {
    let clock = Clock::start();
    let plan = &spec.plan;
    say(
        "plan",
        &format!(
            "{} migration(s) before the rollout, {} after it, {} blocked",
            plan.before.len(),
            plan.after.len(),
            plan.blocked.len()
        ),
    );
    if !plan.blocked.is_empty() {
        for b in &plan.blocked {
            say("plan", &format!("blocked: {}", b.migration));
            for r in &b.reasons {
                eprintln!("migrail:     {r}");
            }
        }
        if !spec.allow_unsafe {
            result
                .steps
                .push(clock.step("plan", "failed", "the plan is blocked".into()));
            let names: Vec<&str> = plan.blocked.iter().map(|b| b.migration.as_str()).collect();
            end(
                result,
                Outcome::Blocked,
                codes::BLOCKED,
                format!(
                    "the plan is blocked by {}: nothing was changed (fix them, or pass \
                     --allow-unsafe to deploy anyway)",
                    names.join(", ")
                ),
            );
            return false;
        }
        say("plan", "blocked, going on anyway (--allow-unsafe)");
    }
    result
        .steps
        .push(clock.step("plan", "succeeded", String::new()));
    true
}

/// The AWS client (region and credentials), or the deploy ends.
async fn connect(spec: &Deploy, result: &mut DeployResult) -> Option<ecs::aws::Clients> {
    match ecs::aws::load(spec.run.region.as_deref()).await {
        Ok(config) => Some(ecs::aws::Clients::new(&config)),
        Err(e) => {
            end(result, Outcome::Error, codes::MIGRAIL_ERROR, e);
            None
        }
    }
}

/// Every service's deployment type, read once and printed; one migrail cannot drive ends
/// the deploy (exit 2) before any change.
async fn deployment_types(
    spec: &Deploy,
    result: &mut DeployResult,
    client: &ecs::aws::Clients,
) -> Option<Vec<rollout::ServiceInfo>> {
    let names: Vec<(String, String)> = spec
        .services
        .iter()
        .map(|s| {
            (
                s.cluster
                    .clone()
                    .unwrap_or_else(|| spec.run.cluster.clone()),
                s.service.clone(),
            )
        })
        .collect();
    let found = match rollout::strategies(client, &names).await {
        Ok(found) => found,
        Err(e) => {
            end(result, Outcome::Error, codes::MIGRAIL_ERROR, e);
            return None;
        }
    };
    let mut refused = Vec::new();
    for (record, info) in result.services.iter_mut().zip(&found) {
        say(
            "plan",
            &format!("service `{}`: {}", info.name, info.described),
        );
        record.deployment_type = info.described.clone();
        if let Some(why) = info.strategy.cannot_deploy(&info.name) {
            record.rollout = "unsupported".into();
            record.reason = Some(why.clone());
            refused.push(why);
        }
    }
    if !refused.is_empty() {
        end(
            result,
            Outcome::Unsupported,
            codes::UNSUPPORTED,
            format!("nothing was changed: {}", refused.join("; ")),
        );
        return None;
    }
    Some(found)
}

/// `--image`: a new revision of what each service runs now (its own `NAME=TASK_DEFINITION`
/// aside) with only those images changed, one per family; the one-off tasks run the first
/// service's.
async fn register(
    spec: &Deploy,
    result: &mut DeployResult,
    client: &ecs::aws::Clients,
    services: &[rollout::ServiceInfo],
) -> bool {
    let clock = Clock::start();
    let mut by_family: Vec<(String, String)> = Vec::new();
    for (i, info) in services.iter().enumerate() {
        if spec.services[i].task_definition.is_some() {
            continue;
        }
        let family = rollout::family(&info.task_definition);
        if let Some((_, arn)) = by_family.iter().find(|(f, _)| f == &family) {
            result.services[i].task_definition = arn.clone();
            continue;
        }
        match ecs::register::with_images(client, &info.task_definition, &spec.images).await {
            Ok(r) => {
                say(
                    "plan",
                    &format!(
                        "registered {} from {} ({})",
                        rollout::revision(&r.arn),
                        rollout::revision(&r.from),
                        r.images.join(", ")
                    ),
                );
                by_family.push((family, r.arn.clone()));
                result.services[i].task_definition = r.arn.clone();
                result.registered.push(r);
            }
            Err(e) => {
                let already: Vec<String> = result
                    .registered
                    .iter()
                    .map(|r| rollout::revision(&r.arn))
                    .collect();
                result.steps.push(clock.step("plan", "failed", e.clone()));
                end(
                    result,
                    Outcome::Error,
                    codes::MIGRAIL_ERROR,
                    format!(
                        "service `{}`: {e}; no service was updated{}",
                        info.name,
                        if already.is_empty() {
                            String::new()
                        } else {
                            format!(" (registered already: {})", already.join(", "))
                        }
                    ),
                );
                return false;
            }
        }
    }
    if let Some(first) = result.services.first() {
        result.task_definition = first.task_definition.clone();
    }
    let arn = result.task_definition.clone();
    let services: Vec<String> = result
        .services
        .iter()
        .map(|s| {
            if s.task_definition == arn {
                format!("--service {}", s.service)
            } else {
                format!("--service {}={}", s.service, s.task_definition)
            }
        })
        .collect();
    result.resume_template = Some((arn, services.join(" ")));
    true
}

/// The pre-deploy migrations as a one-off task of the new task definition; a failure ends
/// the deploy with that run's exit code, no service touched.
async fn pre(
    spec: &Deploy,
    result: &mut DeployResult,
    cancel: &mut Cancel,
    deadline: Instant,
) -> bool {
    result.step = "pre";
    let clock = Clock::start();
    let new = rollout::revision(&result.task_definition);
    say(
        "pre",
        &format!("running the pre-deploy migrations as a one-off task of {new}"),
    );
    let mut run = spec.run.clone();
    run.task_definition = Some(result.task_definition.clone());
    run.command = spec.pre_command.clone();
    run.timeout = deadline.saturating_duration_since(Instant::now());
    run.gate = Vec::new();
    run.run_key = spec.run_keys.as_ref().map(|k| k.0.clone());
    let pre = ecs::run_async(&run, cancel).await;
    pre.print_verdict();
    let pre_code = pre.exit_code;
    let pre_verdict = step_detail(&pre);
    result.pre = Some(pre);
    if pre_code == exit::SUCCESS {
        result
            .steps
            .push(clock.step("pre", "succeeded", pre_verdict));
        return true;
    }
    result.steps.push(clock.step("pre", "failed", pre_verdict));
    let cancelled = pre_code == exit::CANCELLED;
    end(
        result,
        if cancelled {
            Outcome::Cancelled
        } else {
            Outcome::PreFailed
        },
        pre_code,
        if cancelled {
            "cancelled during the pre-deploy migrations: no service was updated (re-running \
             the deploy re-attaches to the task by its run key)"
        } else {
            "the pre-deploy migrations failed: no service was updated"
        },
    );
    false
}

/// `UpdateService` of every service to its task definition, each the way its deployment
/// type rolls out; what each started is remembered.
async fn rollout(
    spec: &Deploy,
    result: &mut DeployResult,
    client: &ecs::aws::Clients,
    services: &[rollout::ServiceInfo],
) -> Option<Vec<ServiceTarget>> {
    result.step = "rollout";
    let clock = Clock::start();
    let mut targets: Vec<ServiceTarget> = Vec::new();
    for (i, info) in services.iter().enumerate() {
        let strategy = &info.strategy;
        let name = result.services[i].service.clone();
        let wanted = result.services[i].task_definition.clone();
        let arn = match ecs::resolve::task_definition_arn(client, &wanted).await {
            Ok(a) => a,
            Err(e) => {
                rollout_error(result, &clock, i, e);
                return None;
            }
        };
        result.services[i].task_definition = arn.clone();
        match rollout::start(client, &info.cluster, info, &arn, &spec.codedeploy).await {
            Ok(id) => {
                let follow = match (&id, strategy) {
                    (Some(id), Strategy::CodeDeploy) => format!("CodeDeploy deployment {id}"),
                    (Some(arn), s) if s.has_service_deployments() => {
                        format!("service deployment {arn}")
                    }
                    (Some(id), _) => format!("deployment {id}"),
                    (None, _) => "its service deployment is found by its target revision".into(),
                };
                say(
                    "rollout",
                    &format!("service `{name}` → {} ({follow})", rollout::revision(&arn)),
                );
                result.services[i].deployment_id = id.clone();
                result.services[i].rollout = "in-progress".into();
                targets.push(ServiceTarget {
                    cluster: info.cluster.clone(),
                    service: name,
                    task_definition: arn,
                    deployment: id,
                });
            }
            Err(e) => {
                rollout_error(result, &clock, i, e);
                return None;
            }
        }
    }
    result.steps.push(clock.step(
        "rollout",
        "succeeded",
        format!("{} service(s) updated", targets.len()),
    ));
    Some(targets)
}

/// Until every rollout is done its way and no task of another revision is alive; a
/// failed or rolled-back rollout (131), `--timeout` (132) or a signal ends the deploy
/// without the post phase and without touching the services again.
async fn drain(
    spec: &Deploy,
    result: &mut DeployResult,
    cancel: &mut Cancel,
    client: &ecs::aws::Clients,
    targets: &[ServiceTarget],
    deadline: Instant,
) -> bool {
    result.step = "drain";
    let clock = Clock::start();
    let new = rollout::revision(&result.task_definition);
    say(
        "drain",
        "waiting until every rollout is complete and no task of another revision is alive",
    );
    let mut log = rollout::Log::default();
    let waited = rollout::wait(
        client,
        targets,
        spec.run.poll_interval,
        deadline,
        cancel,
        "drain",
        &mut log,
    )
    .await;
    result.blockers = log.seen.clone();
    for (name, primary) in &log.primary {
        if let Some(s) = result.services.iter_mut().find(|s| &s.service == name) {
            s.final_task_definition = primary.clone();
        }
    }
    let has_post = !spec.plan.after.is_empty();
    let resume = has_post.then(|| resume_of(spec, result));
    match waited {
        Waited::Drained => {
            for s in &mut result.services {
                s.rollout = "completed".into();
            }
            say(
                "drain",
                &format!(
                    "done: every service runs {new} only ({})",
                    format_duration(clock.started.elapsed())
                ),
            );
            let waited_for = log.seen.len();
            result.steps.push(clock.step(
                "drain",
                "succeeded",
                format!("{waited_for} blocker(s) waited for"),
            ));
            return true;
        }
        Waited::Failed(failures) => {
            for f in &failures {
                if let Some(s) = result.services.iter_mut().find(|s| s.service == f.service) {
                    s.rollout = f.kind.to_string();
                    s.reason = Some(f.reason.clone());
                    s.events = f.events.clone();
                }
                say("drain", &format!("rollout failed: {}", f.message()));
            }
            let names: Vec<String> = failures
                .iter()
                .map(|f| format!("`{}` ({})", f.service, f.kind))
                .collect();
            let detail: Vec<String> = failures.iter().map(|f| f.message()).collect();
            result
                .steps
                .push(clock.step("drain", "failed", detail.join("; ")));
            end(
                result,
                Outcome::RolloutFailed,
                codes::ROLLOUT_FAILED,
                format!(
                    "the rollout of {} failed: the post phase was not run (the old release may \
                     be serving)",
                    names.join(", ")
                ),
            );
        }
        Waited::TimedOut(blockers) => {
            let what: Vec<String> = blockers.iter().map(|b| b.line()).collect();
            result
                .steps
                .push(clock.step("drain", "timed-out", what.join("; ")));
            result.resume = resume.clone();
            end(
                result,
                Outcome::OldReleaseRunning,
                codes::OLD_RELEASE_RUNNING,
                format!(
                    "--timeout {} reached while the old release was still running ({}): the \
                     post phase was not run, the services were left as they are{}",
                    format_duration(spec.timeout),
                    what.join("; "),
                    finish_hint(resume.as_deref())
                ),
            );
        }
        Waited::Cancelled(signal, _) => {
            result
                .steps
                .push(clock.step("drain", "cancelled", signal.into()));
            result.resume = resume.clone();
            end(
                result,
                Outcome::Cancelled,
                codes::CANCELLED,
                format!(
                    "{signal} while waiting for the rollout: the services were left as they \
                     are, the post phase was not run{}",
                    finish_hint(resume.as_deref())
                ),
            );
        }
        Waited::Error(e) => {
            result.steps.push(clock.step("drain", "failed", e.clone()));
            result.resume = resume.clone();
            end(
                result,
                Outcome::Error,
                codes::MIGRAIL_ERROR,
                format!(
                    "{e}; the post phase was not run{}",
                    finish_hint(resume.as_deref())
                ),
            );
        }
    }
    false
}

/// The post-deploy migrations, behind the same gate; skipped when the plan has none.
async fn post(
    spec: &Deploy,
    result: &mut DeployResult,
    cancel: &mut Cancel,
    targets: &[ServiceTarget],
    deadline: Instant,
) -> bool {
    result.step = "post";
    let clock = Clock::start();
    if spec.plan.after.is_empty() {
        say(
            "post",
            "skipped: the plan has no migration that waits for the rollout",
        );
        result.steps.push(clock.step(
            "post",
            "skipped",
            "no post-deploy migration in the plan".into(),
        ));
        return true;
    }
    let new = rollout::revision(&result.task_definition);
    say(
        "post",
        &format!("running the post-deploy migrations as a one-off task of {new}"),
    );
    let mut run = spec.run.clone();
    run.task_definition = Some(result.task_definition.clone());
    run.command = spec.post_command.clone();
    run.timeout = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    run.gate = targets
        .iter()
        .map(|t| GateService {
            service: t.service.clone(),
            task_definition: Some(t.task_definition.clone()),
            cluster: Some(t.cluster.clone()),
        })
        .collect();
    run.run_key = spec.run_keys.as_ref().map(|k| k.1.clone());
    let post = ecs::run_async(&run, cancel).await;
    post.print_verdict();
    let code = post.exit_code;
    let verdict = step_detail(&post);
    result.post = Some(post);
    if code == exit::SUCCESS {
        result.steps.push(clock.step("post", "succeeded", verdict));
        return true;
    }
    result.steps.push(clock.step("post", "failed", verdict));
    let resume = resume_of(spec, result);
    result.resume = Some(resume.clone());
    end(
        result,
        if code == exit::CANCELLED {
            Outcome::Cancelled
        } else {
            Outcome::PostFailed
        },
        code,
        format!(
            "the post-deploy migrations failed (the new release is out){}",
            finish_hint(Some(&resume))
        ),
    );
    false
}

/// The resume command, with what `--image` registered filled in.
fn resume_of(spec: &Deploy, result: &DeployResult) -> String {
    match &result.resume_template {
        Some((td, services)) => spec
            .resume
            .replace(RESUME_TASK_DEFINITION, td)
            .replace(RESUME_SERVICES, services),
        None => spec.resume.clone(),
    }
}

/// A run's verdict without the `migrail: ` prefix, for a step's detail.
fn step_detail(run: &RunResult) -> String {
    let v = run.verdict();
    v.strip_prefix("migrail: ").unwrap_or(&v).to_string()
}

fn finish_hint(resume: Option<&str>) -> String {
    match resume {
        Some(cmd) => format!(". To finish the deploy, run the post phase alone: {cmd}"),
        None => ". The plan has no post-deploy migration: nothing is left to run".into(),
    }
}

fn rollout_error(result: &mut DeployResult, clock: &Clock, i: usize, e: String) {
    let name = result.services[i].service.clone();
    result.services[i].rollout = "error".into();
    result.services[i].reason = Some(e.clone());
    let updated: Vec<String> = result.services[..i]
        .iter()
        .map(|s| format!("`{}`", s.service))
        .collect();
    let already = if updated.is_empty() {
        "no service was updated".to_string()
    } else {
        format!(
            "already updated: {} (their rollout goes on; migrail does not undo it)",
            updated.join(", ")
        )
    };
    say("rollout", &format!("service `{name}`: {e}"));
    result
        .steps
        .push(clock.step("rollout", "failed", e.clone()));
    end(
        result,
        Outcome::Error,
        codes::MIGRAIL_ERROR,
        format!("cannot roll out service `{name}`: {e}; {already}; the post phase was not run"),
    );
}

/// `--json-out FILE`: the result document.
pub fn write_json(path: &std::path::Path, result: &DeployResult) -> Result<(), String> {
    crate::run::output::write_json(path, result)
}

/// The step outputs for GitHub Actions (`$GITHUB_OUTPUT`): `verdict` (the deploy's
/// outcome), `exit-code`, `step`, `applied` (pre and post), `pre-verdict`,
/// `pre-task-arn`, `post-verdict`, `post-task-arn`, `task-arn` (the last run's), and
/// `rollout-SERVICE` for each service.
pub fn write_github_output(path: &std::path::Path, result: &DeployResult) -> Result<(), String> {
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let run_verdict =
        |r: &Option<RunResult>| r.as_ref().map(|r| r.outcome.as_str().replace(' ', "-"));
    let arn = |r: &Option<RunResult>| r.as_ref().and_then(|r| r.task_arn.clone());
    let mut lines = vec![
        ("verdict".to_string(), result.outcome.as_str().to_string()),
        ("exit-code".into(), result.exit_code.to_string()),
        ("step".into(), result.step.to_string()),
        ("applied".into(), one_line(&result.applied().join(","))),
        (
            "pre-verdict".into(),
            run_verdict(&result.pre).unwrap_or_default(),
        ),
        ("pre-task-arn".into(), arn(&result.pre).unwrap_or_default()),
        (
            "post-verdict".into(),
            run_verdict(&result.post).unwrap_or_else(|| "skipped".into()),
        ),
        (
            "post-task-arn".into(),
            arn(&result.post).unwrap_or_default(),
        ),
        (
            "task-arn".into(),
            arn(&result.post).or(arn(&result.pre)).unwrap_or_default(),
        ),
    ];
    for s in &result.services {
        lines.push((format!("rollout-{}", s.service), s.rollout.clone()));
    }
    crate::run::output::append_outputs(path, &lines)
}
