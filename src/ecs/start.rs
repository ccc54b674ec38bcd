//! Starting the task exactly once. Before RunTask: a task already running with our run
//! key is attached to (`ListTasks startedBy=KEY`), and another migration of the same task
//! family in flight is waited for (`--wait-for-other`) or refused. RunTask carries the
//! key as `startedBy` and `clientToken`; capacity failures (`RESOURCE:*`, `AGENT`,
//! Fargate capacity), throttling and 5xx are retried with backoff and the same token,
//! so ECS hands back the task of an earlier attempt instead of starting a second one;
//! `ConflictException` names the task already started: attach to it.

use std::time::Duration;

use aws_sdk_ecs::operation::run_task::RunTaskError;
use aws_sdk_ecs::types::{ContainerOverride, KeyValuePair, Tag, TaskOverride};
use tokio::time::{sleep, Instant};

use super::aws::{self, Kind};
use super::resolve::Target;
use super::{key, tasks, EcsRun, Failure};
use crate::run::Outcome;

/// RunTask attempts on capacity failures before giving up.
pub const RUN_TASK_ATTEMPTS: u32 = 6;

/// The task to follow, and how we got it.
#[derive(Debug)]
pub struct Started {
    pub arn: String,
    /// Why this task was attached to instead of started (None: we started it).
    pub attached: Option<String>,
}

/// `carried`: migrail's packed script when it travels in a carrier revision of the task
/// definition ([`super::register::with_script`]), registered just before RunTask and
/// deregistered right after it.
pub async fn start(
    ecs: &aws_sdk_ecs::Client,
    spec: &EcsRun,
    target: &Target,
    run_key: &str,
    tags: &[(String, String)],
    deadline: Instant,
    carried: Option<&str>,
) -> Result<Started, Failure> {
    let cluster = &target.cluster;
    let failure = |message: String| Failure::new(Outcome::Error, message);

    // 1. Our own key already used: attach (a retried CI job, a re-run after cancel). A
    // task still running is followed; one that has stopped is this run's result.
    let ours = list(ecs, cluster, Some(run_key), None)
        .await
        .map_err(failure)?;
    if !ours.is_empty() {
        let tasks = describe(ecs, cluster, &ours).await.map_err(failure)?;
        let running = tasks.iter().find(|(_, _, status)| status != "STOPPED");
        if let Some((arn, _, _)) = running.or(tasks.first()) {
            let why = if running.is_some() {
                format!("a task with run key {run_key} is already running")
            } else {
                format!(
                    "a run with key {run_key} already finished: this is its result. Pass \
                     --run-key to run the migrations again"
                )
            };
            return Ok(Started {
                arn: arn.clone(),
                attached: Some(why),
            });
        }
    }

    // 2. Another migration of the same family in flight.
    loop {
        let others = other_migrations(ecs, target, run_key)
            .await
            .map_err(failure)?;
        let Some((arn, started_by)) = others.first() else {
            break;
        };
        if !spec.wait_for_other {
            return Err(failure(format!(
                "another migration task is running for task family `{}`: {arn} (startedBy \
                 {started_by}); wait for it to finish, or pass --wait-for-other",
                target.family
            )));
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(
                Outcome::TimedOut,
                format!("--timeout reached while waiting for {arn} to finish"),
            ));
        }
        eprintln!("migrail: waiting for the other migration task {arn} ({started_by}) to finish");
        sleep(spec.poll_interval).await;
    }

    // 3. RunTask, retried with the same clientToken.
    let Some(script) = carried else {
        return run_task(
            ecs,
            spec,
            target,
            &target.task_definition_arn,
            run_key,
            tags,
            deadline,
        )
        .await;
    };
    let carrier =
        super::register::with_script(ecs, &target.task_definition_arn, &target.container, script)
            .await
            .map_err(failure)?;
    eprintln!(
        "migrail: the script travels in task definition {carrier} (RunTask's overrides hold \
         8 KiB); it is deregistered once RunTask answered"
    );
    let started = run_task(ecs, spec, target, &carrier, run_key, tags, deadline).await;
    if let Err(e) = super::register::deregister(ecs, &carrier).await {
        eprintln!("migrail: warning: {e}; deregister {carrier} yourself (its task is unaffected)");
    }
    started
}

/// RunTask of `task_definition`, retried with the same clientToken.
async fn run_task(
    ecs: &aws_sdk_ecs::Client,
    spec: &EcsRun,
    target: &Target,
    task_definition: &str,
    run_key: &str,
    tags: &[(String, String)],
    deadline: Instant,
) -> Result<Started, Failure> {
    let cluster = &target.cluster;
    let failure = |message: String| Failure::new(Outcome::Error, message);
    let overrides = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name(&target.container)
                .set_command(Some(spec.command.clone()))
                .set_environment(if spec.env.is_empty() {
                    None
                } else {
                    Some(
                        spec.env
                            .iter()
                            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                            .collect(),
                    )
                })
                .build(),
        )
        .build();
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let mut backoff = spec.poll_interval.max(Duration::from_millis(10));
    let mut last_reasons = String::new();
    for attempt in 1..=RUN_TASK_ATTEMPTS {
        let sent = ecs
            .run_task()
            .cluster(cluster)
            .task_definition(task_definition)
            .count(1)
            .started_by(run_key)
            .client_token(run_key)
            .overrides(overrides.clone())
            .set_network_configuration(target.network.clone())
            .set_launch_type(target.launch_type.clone())
            .set_capacity_provider_strategy(if target.capacity_provider_strategy.is_empty() {
                None
            } else {
                Some(target.capacity_provider_strategy.clone())
            })
            .set_platform_version(target.platform_version.clone())
            .set_tags(if tags.is_empty() {
                None
            } else {
                Some(tags.clone())
            })
            .send()
            .await;
        match sent {
            Ok(out) => {
                if let Some(task) = out.tasks().first() {
                    let arn = task.task_arn().unwrap_or_default().to_string();
                    let attached = (task.last_status() == Some("STOPPED")).then(|| {
                        format!(
                            "ECS returned the task an earlier run with key {run_key} started \
                             (clientToken reuse, 24 h); it has stopped: this is its result. \
                             Pass --run-key to run the migrations again"
                        )
                    });
                    return Ok(Started { arn, attached });
                }
                let reasons: Vec<String> = out
                    .failures()
                    .iter()
                    .map(|f| {
                        let mut r = f.reason().unwrap_or("unknown").to_string();
                        if let Some(d) = f.detail() {
                            r.push_str(&format!(" ({d})"));
                        }
                        if let Some(a) = f.arn() {
                            r.push_str(&format!(" [{a}]"));
                        }
                        r
                    })
                    .collect();
                last_reasons = reasons.join("; ");
                let retryable = out.failures().iter().any(|f| {
                    let reason = f.reason().unwrap_or_default();
                    reason.starts_with("RESOURCE:")
                        || reason == "AGENT"
                        || reason.to_ascii_lowercase().contains("capacity")
                });
                if !retryable {
                    return Err(failure(format!(
                        "RunTask started no task in cluster `{cluster}`: {last_reasons}"
                    )));
                }
                eprintln!(
                    "migrail: RunTask attempt {attempt}/{RUN_TASK_ATTEMPTS}: no capacity \
                     ({last_reasons}); retrying with the same clientToken"
                );
            }
            Err(e) => {
                if let Some(RunTaskError::ConflictException(conflict)) = e.as_service_error() {
                    if let Some(arn) = conflict.resource_ids().first() {
                        return Ok(Started {
                            arn: arn.clone(),
                            attached: Some(format!(
                                "ECS reports a conflict: task {arn} was already started with \
                                 this clientToken"
                            )),
                        });
                    }
                }
                let err = aws::describe(&e, "ecs:RunTask", &format!("cluster `{cluster}`"));
                if !matches!(err.kind, Kind::Throttled | Kind::Transient) {
                    return Err(failure(err.message));
                }
                last_reasons = err.message;
                eprintln!(
                    "migrail: RunTask attempt {attempt}/{RUN_TASK_ATTEMPTS} failed ({}); \
                     retrying with the same clientToken",
                    err.code.as_deref().unwrap_or("transient error")
                );
            }
        }
        if Instant::now() + backoff >= deadline {
            break;
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
    Err(Failure::new(
        Outcome::FailedToStart,
        format!(
            "RunTask could not start the task after {RUN_TASK_ATTEMPTS} attempts: {last_reasons}"
        ),
    ))
}

/// `ListTasks` by `startedBy` (which must be the only filter) or by family.
async fn list(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    started_by: Option<&str>,
    family: Option<&str>,
) -> Result<Vec<String>, String> {
    let filter = tasks::Filter {
        started_by,
        family,
        ..tasks::Filter::default()
    };
    tasks::list(ecs, cluster, &filter)
        .await
        .map_err(|e| e.message)
}

/// `(arn, startedBy, lastStatus)` of the tasks named.
async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<(String, String, String)>, String> {
    let found = tasks::describe(ecs, cluster, arns)
        .await
        .map_err(|e| e.message)?;
    Ok(found
        .iter()
        .map(|task| {
            (
                task.task_arn().unwrap_or_default().to_string(),
                task.started_by().unwrap_or_default().to_string(),
                task.last_status().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Running tasks of the target's family started by another migrail run.
async fn other_migrations(
    ecs: &aws_sdk_ecs::Client,
    target: &Target,
    run_key: &str,
) -> Result<Vec<(String, String)>, String> {
    if target.family.is_empty() {
        return Ok(Vec::new());
    }
    // The family and its carriers' (a run whose script travels in the task definition).
    let mut arns = list(ecs, &target.cluster, None, Some(&target.family)).await?;
    let carrier = super::register::carrier_family(&target.family);
    arns.extend(list(ecs, &target.cluster, None, Some(&carrier)).await?);
    Ok(describe(ecs, &target.cluster, &arns)
        .await?
        .into_iter()
        .filter(|(_, by, status)| {
            by.starts_with(key::PREFIX) && by != run_key && status != "STOPPED"
        })
        .map(|(arn, by, _)| (arn, by))
        .collect())
}
