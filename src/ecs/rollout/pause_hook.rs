//! `migrail deploy --pause-hook`: the pre phase runs *inside* the deployment, at a PAUSE
//! lifecycle hook at PRE_SCALE_UP (`deploymentConfiguration.lifecycleHooks`), where each
//! service still serves the old revision and no new task has started. ECS holds the
//! deployment there until `ContinueServiceDeployment` (CONTINUE or ROLLBACK) or the hook's
//! timeout (its action, ROLLBACK by default): if the pipeline dies while it waits, ECS rolls
//! back by itself and no new code ever runs against the old schema.
//!
//! Only the PRE_SCALE_UP hook is migrail's: a hook at another stage (linear and canary
//! pause at every step) is reported while waiting, never continued.

use std::time::Duration;

use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{DeploymentLifecycleHookAction, Service, ServiceDeployment};
use tokio::time::{sleep, Instant};

use super::{service_deployment, RolloutFailure};
use crate::ecs::{aws, Cancel};

/// The stage migrail's hook holds.
pub const STAGE: &str = "PRE_SCALE_UP";

/// Whether the service has a PAUSE hook at PRE_SCALE_UP.
pub fn configured(svc: &Service) -> bool {
    svc.deployment_configuration()
        .map(|c| c.lifecycle_hooks())
        .unwrap_or_default()
        .iter()
        .any(|h| {
            h.target_type().map(|t| t.as_str()) == Some("PAUSE")
                && h.lifecycle_stages().iter().any(|s| s.as_str() == STAGE)
        })
}

/// What to add to each service named, and the permissions, when a hook is missing.
pub fn missing(services: &[String]) -> String {
    format!(
        "--pause-hook: {} ha{} no PAUSE lifecycle hook at PRE_SCALE_UP, so there is no moment \
         inside the deployment to run the pre phase at. Add to each service's \
         deploymentConfiguration: \"lifecycleHooks\": [{{\"targetType\": \"PAUSE\", \
         \"lifecycleStages\": [\"PRE_SCALE_UP\"], \"timeoutConfiguration\": \
         {{\"timeoutInMinutes\": 60, \"action\": \"ROLLBACK\"}}}}] (the README has Terraform and \
         CloudFormation), and allow ecs:ListServiceDeployments, \
         ecs:DescribeServiceDeployments, ecs:DescribeServiceRevisions and \
         ecs:ContinueServiceDeployment; or deploy without --pause-hook",
        services
            .iter()
            .map(|s| format!("service `{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if services.len() == 1 { "s" } else { "ve" }
    )
}

/// A service held at the hook.
#[derive(Clone, Debug)]
pub struct Held {
    pub cluster: String,
    pub service: String,
    pub service_deployment: String,
    pub hook_id: String,
}

/// How waiting for the hooks ended.
#[derive(Debug)]
pub enum Holding {
    /// Every service is held at its PRE_SCALE_UP hook.
    All(Vec<Held>),
    /// A deployment rolled back, stopped, or its hook expired before the pre phase ran;
    /// with the services held at their hook then (to roll back).
    Failed(Vec<RolloutFailure>, Vec<Held>),
    TimedOut(Vec<String>, Vec<Held>),
    Cancelled(&'static str, Vec<Held>),
    Error(String),
}

/// One service to hold: its name, target task definition, and the service deployment
/// when already known.
#[derive(Clone, Debug)]
pub struct Pending {
    pub cluster: String,
    pub service: String,
    pub task_definition: String,
    pub service_deployment: Option<String>,
}

fn hook_awaiting(sd: &ServiceDeployment) -> Option<(String, Option<DateTime>)> {
    sd.lifecycle_hook_details()
        .iter()
        .find(|h| {
            h.status().map(|s| s.as_str()) == Some("AWAITING_ACTION")
                && h.target_type().map(|t| t.as_str()) == Some("PAUSE")
        })
        .and_then(|h| {
            h.hook_id()
                .map(|id| (id.to_string(), h.expires_at().cloned()))
        })
}

fn timed_out(sd: &ServiceDeployment) -> bool {
    sd.lifecycle_hook_details()
        .iter()
        .any(|h| h.status().map(|s| s.as_str()) == Some("TIMED_OUT"))
}

/// Wait until every service deployment waits at its PRE_SCALE_UP hook.
pub async fn hold(
    ecs: &aws_sdk_ecs::Client,
    pending: &mut [Pending],
    poll: Duration,
    deadline: Instant,
    cancel: &mut Cancel,
) -> Holding {
    let since = DateTime::from_secs(crate::run::now_epoch() as i64 - 300);
    let mut last_report: Option<Instant> = None;
    loop {
        let mut held = Vec::new();
        let mut waiting = Vec::new();
        let mut failed = Vec::new();
        for p in pending.iter_mut() {
            let cluster = p.cluster.as_str();
            let found = match &p.service_deployment {
                Some(arn) => service_deployment::describe_arn(ecs, cluster, &p.service, arn).await,
                None => {
                    service_deployment::find(
                        ecs,
                        cluster,
                        &p.service,
                        &p.task_definition,
                        Some(since),
                    )
                    .await
                }
            };
            let sd = match found {
                Ok(Some(sd)) => sd,
                Ok(None) => {
                    waiting.push(format!(
                        "service `{}`: no service deployment yet",
                        p.service
                    ));
                    continue;
                }
                Err(e) => match e.kind {
                    aws::Kind::Throttled | aws::Kind::Transient => {
                        waiting.push(format!("service `{}`: {e}", p.service));
                        continue;
                    }
                    _ => return Holding::Error(e.message),
                },
            };
            let arn = sd.service_deployment_arn().unwrap_or_default().to_string();
            p.service_deployment = Some(arn.clone());
            let status = sd.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
            let stage = sd
                .lifecycle_stage()
                .map(|s| s.as_str())
                .unwrap_or("no stage yet");
            if timed_out(&sd) || status != "IN_PROGRESS" && status != "PENDING" {
                let reason = sd
                    .rollback()
                    .and_then(|r| r.reason())
                    .or(sd.status_reason())
                    .unwrap_or("no reason given");
                let what = if timed_out(&sd) {
                    "its pause hook timed out"
                } else {
                    "it ended"
                };
                failed.push(RolloutFailure {
                    service: p.service.clone(),
                    kind: if status.starts_with("ROLLBACK") || timed_out(&sd) {
                        "rolled-back"
                    } else {
                        "stopped"
                    },
                    reason: format!(
                        "before the pre phase ran, {what} ({status} at {stage}): {reason}"
                    ),
                    events: Vec::new(),
                });
                continue;
            }
            match hook_awaiting(&sd) {
                Some((hook_id, _)) if stage == STAGE => held.push(Held {
                    cluster: p.cluster.clone(),
                    service: p.service.clone(),
                    service_deployment: arn,
                    hook_id,
                }),
                Some((hook_id, _)) => waiting.push(format!(
                    "service `{}`: paused at hook {hook_id} at {stage}, not migrail's \
                     (PRE_SCALE_UP): it is not continued by migrail",
                    p.service
                )),
                None => waiting.push(format!(
                    "service `{}`: {status} at {stage}, not at its PRE_SCALE_UP hook yet",
                    p.service
                )),
            }
        }
        if !failed.is_empty() {
            return Holding::Failed(failed, held);
        }
        if held.len() == pending.len() {
            return Holding::All(held);
        }
        if last_report.is_none_or(|t| t.elapsed() >= super::REPORT_EVERY) {
            for w in &waiting {
                eprintln!("migrail: hold: {w}");
            }
            last_report = Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return Holding::TimedOut(waiting, held);
        }
        let nap = poll.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            signal = cancel.recv() => return Holding::Cancelled(signal, held),
            _ = sleep(nap) => {}
        }
    }
}

/// `ContinueServiceDeployment` with `action` for every held service; the first error
/// (permissions name `ecs:ContinueServiceDeployment`) after trying them all.
pub async fn resume(
    ecs: &aws_sdk_ecs::Client,
    held: &[Held],
    action: DeploymentLifecycleHookAction,
) -> Result<(), String> {
    let mut errors = Vec::new();
    for h in held {
        let sent = ecs
            .continue_service_deployment()
            .service_deployment_arn(&h.service_deployment)
            .hook_id(&h.hook_id)
            .action(action.clone())
            .send()
            .await;
        if let Err(e) = sent {
            errors.push(
                aws::describe(
                    &e,
                    "ecs:ContinueServiceDeployment",
                    &format!("the service deployment of service `{}`", h.service),
                )
                .message,
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// After a ROLLBACK: until every service deployment is ROLLBACK_SUCCESSFUL (or failed),
/// bounded by `deadline`; the services that did not get there.
pub async fn await_rollback(
    ecs: &aws_sdk_ecs::Client,
    held: &[Held],
    poll: Duration,
    deadline: Instant,
) -> Vec<String> {
    loop {
        let mut open = Vec::new();
        for h in held {
            match service_deployment::describe_arn(
                ecs,
                &h.cluster,
                &h.service,
                &h.service_deployment,
            )
            .await
            {
                Ok(Some(sd)) => {
                    let status = sd.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
                    if status != "ROLLBACK_SUCCESSFUL" {
                        open.push(format!("service `{}`: {status}", h.service));
                    }
                }
                Ok(None) => open.push(format!("service `{}`: not found", h.service)),
                Err(e) => open.push(format!("service `{}`: {e}", h.service)),
            }
        }
        if open.is_empty() || Instant::now() >= deadline {
            return open;
        }
        sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}
