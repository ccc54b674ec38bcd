//! The `ecs` backend of `migrail run`: the migrations run once, as a one-off ECS task
//! made from the service's own configuration (`../shared/runner.md`).
//!
//! The steps, each in its own module: [`aws`] loads the default credential chain and
//! turns SDK errors into advice; [`resolve`] copies the service's task definition,
//! network configuration and launch type or capacity provider strategy and finds the
//! target container and its logs; [`key`] derives the run key that makes the run
//! exactly-once; [`lock`] is the optional DynamoDB lock; [`start`] attaches to a task
//! already running with the key or starts one (retries with the same `clientToken`; a
//! script too large for RunTask's overrides travels in a carrier, [`register`]);
//! [`watch`] polls it to its end while [`cloudwatch`] prints its logs; [`verdict`] judges
//! the stopped task. Cancellation (SIGINT/SIGTERM) detaches by default. [`rollout`]
//! updates services and proves the old release is gone: `migrail deploy`'s rollout and
//! drain, and the gate a post-phase run passes before its task starts.

pub mod aws;
pub mod cloudwatch;
pub mod key;
pub mod lock;
pub mod register;
pub mod resolve;
pub mod rollout;
pub mod start;
pub mod tasks;
pub mod verdict;
pub mod watch;

use std::time::Duration;

use tokio::time::Instant;

use crate::run::logs::LogDigest;
use crate::run::{exit, Outcome, RunResult};

/// What to do with the task when migrail is cancelled or times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnCancel {
    /// Leave it running (never kill a migration mid-DDL); re-running re-attaches.
    Detach,
    /// `StopTask` with a reason.
    Stop,
}

/// Everything `migrail run --backend ecs` was asked.
#[derive(Clone, Debug)]
pub struct EcsRun {
    pub cluster: String,
    pub service: Option<String>,
    pub task_definition: Option<String>,
    pub container: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub launch_type: Option<String>,
    pub capacity_providers: Vec<String>,
    pub platform_version: Option<String>,
    pub region: Option<String>,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub run_key: Option<String>,
    pub sha: Option<String>,
    pub tags: Vec<(String, String)>,
    pub wait_for_other: bool,
    pub lock_table: Option<String>,
    pub on_cancel: OnCancel,
    pub timeout: Duration,
    pub poll_interval: Duration,
    /// The post-phase gate: before the task starts, every one of these services must be
    /// on its task definition (`None`: the one the task runs) with no task of another
    /// revision alive ([`rollout`]). Empty: no gate.
    pub gate: Vec<GateService>,
}

/// A service the post-phase gate checks, and the task definition it must be on
/// (`None`: the one the migration task runs).
#[derive(Clone, Debug)]
pub struct GateService {
    /// Its cluster when not the run's (`--service CLUSTER/NAME`).
    pub cluster: Option<String>,
    pub service: String,
    pub task_definition: Option<String>,
}

/// A run that ended before a verdict on the task: its outcome and why.
#[derive(Debug)]
pub struct Failure {
    pub outcome: Outcome,
    pub message: String,
}

impl Failure {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Failure {
        Failure {
            outcome,
            message: message.into(),
        }
    }
}

/// migrail's exit code for an outcome that is not the container's own.
fn exit_for(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Succeeded => exit::SUCCESS,
        Outcome::Failed => exit::COMMAND_FAILED_HIGH,
        Outcome::TimedOut => exit::TIMED_OUT,
        Outcome::FailedToStart => exit::FAILED_TO_START,
        Outcome::NotFound => exit::NOT_FOUND,
        Outcome::Killed | Outcome::NoExitCode => exit::NO_EXIT_CODE,
        Outcome::StoppedExternally => exit::STOPPED_EXTERNALLY,
        Outcome::Cancelled => exit::CANCELLED,
        Outcome::Error => exit::MIGRAIL_ERROR,
        Outcome::RolloutFailed => exit::ROLLOUT_FAILED,
        Outcome::OldReleaseRunning => exit::OLD_RELEASE_RUNNING,
        Outcome::PreflightRefused => exit::PREFLIGHT_REFUSED,
    }
}

/// The task id: the last part of its ARN.
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// SIGINT and SIGTERM (GitHub sends SIGINT, then SIGTERM 7.5 s later).
pub struct Cancel {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Cancel {
    pub fn new() -> std::io::Result<Cancel> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Cancel {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Cancel {})
    }

    /// The name of the signal, when one arrives.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// The single-threaded runtime every ECS command runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Run the migrations as a one-off task and judge the outcome.
pub fn run(spec: &EcsRun) -> RunResult {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let mut result = RunResult::empty("ecs");
            result.reason = Some(e);
            return result;
        }
    };
    rt.block_on(async {
        match Cancel::new() {
            Ok(mut cancel) => run_async(spec, &mut cancel).await,
            Err(e) => {
                let mut result = RunResult::empty("ecs");
                result.reason = Some(format!("cannot watch for signals: {e}"));
                result
            }
        }
    })
}

/// [`run`] on the caller's runtime, with the caller's signal watch (`migrail deploy`
/// runs its steps on one).
pub async fn run_async(spec: &EcsRun, cancel: &mut Cancel) -> RunResult {
    let mut result = RunResult::empty("ecs");
    result.command = spec.command.clone();
    result.cluster = Some(spec.cluster.clone());
    let started = std::time::Instant::now();
    if let Err(f) = run_task(spec, &mut result, cancel).await {
        result.outcome = f.outcome;
        result.exit_code = exit_for(f.outcome);
        result.reason = Some(f.message);
    }
    result.duration_seconds = started.elapsed().as_secs_f64();
    result
}

async fn run_task(
    spec: &EcsRun,
    result: &mut RunResult,
    cancel: &mut Cancel,
) -> Result<(), Failure> {
    let error = |m: String| Failure::new(Outcome::Error, m);
    let deadline = Instant::now() + spec.timeout;

    let config = aws::load(spec.region.as_deref()).await.map_err(error)?;
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let clients = aws::Clients::new(&config);
    let ecs = clients.ecs.clone();
    let (target, warnings) = resolve::resolve(&ecs, spec).await.map_err(error)?;
    for w in warnings {
        eprintln!("migrail: warning: {w}");
    }
    if !spec.gate.is_empty() {
        gate(spec, &clients, &target, deadline, cancel).await?;
    }
    let packed;
    let spec = if spec.command.iter().any(|a| a.contains("def migrail_")) {
        packed = EcsRun {
            command: resolve::pack_scripts(&spec.command),
            ..spec.clone()
        };
        &packed
    } else {
        spec
    };
    let run_key = match &spec.run_key {
        Some(k) => key::validate(k).map_err(error)?,
        None => {
            let sha = spec.sha.clone().unwrap_or_default();
            if sha.is_empty() {
                eprintln!(
                    "migrail: warning: no commit SHA (--sha, GITHUB_SHA, \
                     CODEBUILD_RESOLVED_SOURCE_VERSION): the run key covers the task \
                     definition and command only"
                );
            }
            key::derive(
                &target.cluster,
                &target.task_definition_arn,
                &spec.command,
                &sha,
            )
        }
    };
    // migrail's script too large for the overrides travels in a carrier revision of the
    // task definition (the run key above covers the whole script).
    let fits = |command: &[String]| {
        resolve::check_overrides_size(&resolve::overrides_json(
            &target.container,
            command,
            &spec.env,
        ))
    };
    let carried_spec;
    let (spec, carried) = match fits(&spec.command)
        .err()
        .and_then(|_| resolve::carry(&spec.command))
    {
        Some((command, script)) => {
            carried_spec = EcsRun {
                command,
                ..spec.clone()
            };
            (&carried_spec, Some(script))
        }
        None => (spec, None),
    };
    fits(&spec.command).map_err(error)?;
    result.run_key = Some(run_key.clone());
    result.container = Some(target.container.clone());
    eprintln!(
        "migrail: {} in cluster `{}`, container `{}`, run key {run_key}",
        target.task_definition_arn, target.cluster, target.container
    );

    let lock = match &spec.lock_table {
        Some(table) => {
            let client = aws_sdk_dynamodb::Client::new(&config);
            let req = lock::Request {
                table,
                id: format!("migrail/{}/{}", target.cluster, target.family),
                owner: &run_key,
                lease: spec.timeout + Duration::from_secs(600),
                wait: spec.wait_for_other,
                poll: spec.poll_interval,
                deadline,
            };
            let acquired = tokio::select! {
                signal = cancel.recv() => Err(Failure::new(Outcome::Cancelled, format!("{signal} while waiting for the lock"))),
                l = lock::Lock::acquire(client, req) => l,
            };
            Some(acquired?)
        }
        None => None,
    };
    let outcome = follow(
        spec,
        &ecs,
        &config,
        &region,
        &target,
        &run_key,
        carried.as_deref(),
        deadline,
        cancel,
        result,
    )
    .await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn follow(
    spec: &EcsRun,
    ecs: &aws_sdk_ecs::Client,
    config: &aws_config::SdkConfig,
    region: &str,
    target: &resolve::Target,
    run_key: &str,
    carried: Option<&str>,
    deadline: Instant,
    cancel: &mut Cancel,
    result: &mut RunResult,
) -> Result<(), Failure> {
    let tags = run_tags(spec, run_key);
    let started = tokio::select! {
        signal = cancel.recv() => return Err(Failure::new(
            Outcome::Cancelled,
            format!("{signal} before the task was known; re-running the same job re-attaches by its run key {run_key}"),
        )),
        s = start::start(ecs, spec, target, run_key, &tags, deadline, carried) => s?,
    };
    let arn = started.arn.clone();
    let id = task_id(&arn).to_string();
    result.task_arn = Some(arn.clone());
    result.task_id = Some(id.clone());
    match &started.attached {
        Some(why) => eprintln!("migrail: attached to task {arn}: {why}"),
        None => eprintln!("migrail: started task {arn}"),
    }
    eprintln!(
        "migrail: https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/tasks/{id}",
        target.cluster
    );

    let mut logs = target.logs.as_ref().map(|src| {
        let logs_region = src.region.clone().unwrap_or_else(|| region.to_string());
        let mut builder = aws_sdk_cloudwatchlogs::config::Builder::from(config);
        builder.set_region(Some(aws_sdk_ecs::config::Region::new(logs_region.clone())));
        let stream = src.stream(&target.container, &id);
        result.log_url = Some(cloudwatch::console_url(&logs_region, &src.group, &stream));
        cloudwatch::LogTail::new(
            aws_sdk_cloudwatchlogs::Client::from_conf(builder.build()),
            src.group.clone(),
            stream,
        )
    });
    let mut digest = LogDigest::default();
    let watch = watch::Watch {
        ecs,
        cluster: &target.cluster,
        arn: &arn,
        poll: spec.poll_interval,
        deadline,
    };
    let end = watch.run(&mut logs, &mut digest, cancel).await;
    let failure = match end {
        watch::End::Stopped(task) => {
            if let Some(tail) = logs.as_mut() {
                let grace = spec.poll_interval * 2;
                tail.drain(&mut digest, grace, spec.poll_interval).await;
            }
            let j = verdict::judge(&task, &target.container);
            result.outcome = j.outcome;
            result.exit_code = j.exit_code;
            result.command_exit_code = j.container_exit_code;
            result.stop_code = j.stop_code;
            result.reason = j.reason;
            result.container_reason = j.container_reason;
            None
        }
        watch::End::TimedOut => Some(Failure::new(
            Outcome::TimedOut,
            format!(
                "--timeout {} reached",
                crate::run::format_duration(spec.timeout)
            ),
        )),
        watch::End::Cancelled(signal) => Some(Failure::new(
            Outcome::Cancelled,
            format!("{signal} received"),
        )),
        watch::End::Lost(message) => Some(Failure::new(Outcome::Error, message)),
    };
    result.applied = digest.applied();
    result.lock_retries = digest.lock_retries();
    result.preflight = digest.preflight();
    result.log_tail = digest.tail();
    crate::run::preflight::settle(result);
    let Some(mut failure) = failure else {
        return Ok(());
    };
    if matches!(failure.outcome, Outcome::TimedOut | Outcome::Cancelled) {
        if spec.on_cancel == OnCancel::Stop {
            let reason = format!("migrail: {} (--on-cancel stop)", failure.message);
            match ecs
                .stop_task()
                .cluster(&target.cluster)
                .task(&arn)
                .reason(reason)
                .send()
                .await
            {
                Ok(_) => failure.message.push_str(&format!("; stopped task {arn}")),
                Err(e) => failure.message.push_str(&format!(
                    "; could not stop task {arn}: {}",
                    aws::describe(&e, "ecs:StopTask", &format!("task {arn}"))
                )),
            }
        } else {
            failure.message.push_str(&format!(
                "; detached: task {arn} keeps running. Re-run the same job to re-attach (same \
                 run key), or stop it: aws ecs stop-task --cluster {} --task {arn}",
                target.cluster
            ));
        }
    }
    Err(failure)
}

/// The post-phase gate: wait until every gated service is on its task definition and no
/// task of another revision is alive; fail without starting a task when a rollout
/// failed, or when `--timeout` comes first.
async fn gate(
    spec: &EcsRun,
    ecs: &aws::Clients,
    target: &resolve::Target,
    deadline: Instant,
    cancel: &mut Cancel,
) -> Result<(), Failure> {
    let error = |m: String| Failure::new(Outcome::Error, m);
    let mut targets = Vec::new();
    for g in &spec.gate {
        let task_definition = match &g.task_definition {
            None => target.task_definition_arn.clone(),
            Some(td) => resolve::task_definition_arn(ecs, td).await.map_err(error)?,
        };
        targets.push(rollout::ServiceTarget {
            cluster: g.cluster.clone().unwrap_or_else(|| target.cluster.clone()),
            service: g.service.clone(),
            task_definition,
            deployment: None,
        });
    }
    let names = || {
        targets
            .iter()
            .map(|t| {
                format!(
                    "`{}` ({})",
                    t.service,
                    rollout::revision(&t.task_definition)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "migrail: gate: the post phase starts once no old task runs in {}",
        names()
    );
    let mut log = rollout::Log::default();
    let waited = rollout::wait(
        ecs,
        &targets,
        spec.poll_interval,
        deadline,
        cancel,
        "gate",
        &mut log,
    )
    .await;
    let blockers = |b: &[rollout::Blocker]| {
        b.iter()
            .map(rollout::Blocker::line)
            .collect::<Vec<_>>()
            .join("; ")
    };
    match waited {
        rollout::Waited::Drained => {
            eprintln!(
                "migrail: gate: passed: {} run only the new revision",
                names()
            );
            Ok(())
        }
        rollout::Waited::Failed(failures) => Err(Failure::new(
            Outcome::RolloutFailed,
            format!(
                "no task started: {}",
                failures
                    .iter()
                    .map(rollout::RolloutFailure::message)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
        rollout::Waited::TimedOut(b) => Err(Failure::new(
            Outcome::OldReleaseRunning,
            format!(
                "--timeout {} reached with the old release still running, no task started: {}",
                crate::run::format_duration(spec.timeout),
                blockers(&b)
            ),
        )),
        rollout::Waited::Cancelled(signal, _) => Err(Failure::new(
            Outcome::Cancelled,
            format!("{signal} while waiting for the old release to be gone: no task started"),
        )),
        rollout::Waited::Error(m) => Err(error(m)),
    }
}

/// Tags on the task: the run key, and where it comes from (CI environment), plus `--tag`.
fn run_tags(spec: &EcsRun, run_key: &str) -> Vec<(String, String)> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut tags = vec![("migrail:run-key".to_string(), run_key.to_string())];
    if let Some(sha) = &spec.sha {
        tags.push(("migrail:sha".into(), sha.clone()));
    }
    if let Some(repo) = env("GITHUB_REPOSITORY") {
        tags.push(("migrail:repository".into(), repo.clone()));
        if let (Some(server), Some(run)) = (env("GITHUB_SERVER_URL"), env("GITHUB_RUN_ID")) {
            tags.push((
                "migrail:ci-run".into(),
                format!("{server}/{repo}/actions/runs/{run}"),
            ));
        }
    } else if let Some(url) = env("CODEBUILD_SOURCE_REPO_URL") {
        tags.push(("migrail:repository".into(), url));
        if let Some(build) = env("CODEBUILD_BUILD_ID") {
            tags.push(("migrail:ci-run".into(), build));
        }
    }
    if let Some(pr) =
        env("CODEBUILD_WEBHOOK_TRIGGER").and_then(|t| t.strip_prefix("pr/").map(str::to_string))
    {
        tags.push(("migrail:pr".into(), pr));
    } else if let Some(pr) = env("GITHUB_REF").and_then(|r| {
        r.strip_prefix("refs/pull/")
            .and_then(|r| r.split('/').next())
            .map(str::to_string)
    }) {
        tags.push(("migrail:pr".into(), pr));
    }
    tags.extend(spec.tags.iter().cloned());
    tags.into_iter()
        .map(|(k, v)| (tag_text(&k, 128), tag_text(&v, 256)))
        .collect()
}

/// ECS tag keys and values allow letters, digits, spaces and `_ . : / = + - @`.
fn tag_text(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tag_text_keeps_what_ecs_accepts() {
        assert_eq!(
            super::tag_text("https://x/a?b=c&d", 256),
            "https://x/a_b=c_d"
        );
        assert_eq!(super::tag_text("abcdef", 3), "abc");
    }
}
