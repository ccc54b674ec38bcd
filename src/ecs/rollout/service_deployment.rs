//! ECS blue/green, linear and canary deployments (`deploymentConfiguration.strategy`
//! BLUE_GREEN, LINEAR, CANARY). Their progress and outcome live in the *service
//! deployment* (`ListServiceDeployments`, `DescribeServiceDeployments`,
//! `DescribeServiceRevisions`), not in `rolloutState`, which ECS returns only for rolling
//! updates. Until the service deployment is SUCCESSFUL, ECS can still roll back to blue
//! (an alarm, a hook, a bake of up to 24 h, `StopServiceDeployment`), so SUCCESSFUL is the
//! only "done"; ROLLBACK_*, STOP_REQUESTED and STOPPED are failures; PENDING, IN_PROGRESS
//! and any value migrail does not know wait. Stages are read as strings, in migrail's own
//! order ([`STAGES`]): several SDK enums lack PRE_PRODUCTION_TRAFFIC_SHIFT.

use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{CreatedAt, Service, ServiceDeployment};

use super::{revision, Blocker, RolloutFailure, ServiceTarget};
use crate::ecs::aws;

/// The lifecycle stages in the order ECS goes through them (linear and canary repeat the
/// traffic-shift stages at every step).
pub const STAGES: [&str; 11] = [
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

/// What a stage means for the old release.
pub fn stage_meaning(stage: &str) -> &'static str {
    match stage {
        "RECONCILE_SERVICE" => "reconciling the service, blue serving",
        "PRE_SCALE_UP" => "no green task started yet, blue serving",
        "SCALE_UP" => "green tasks starting, blue serving",
        "POST_SCALE_UP" => "green tasks started, blue serving",
        "TEST_TRAFFIC_SHIFT" | "POST_TEST_TRAFFIC_SHIFT" => {
            "test traffic on green, blue serving production"
        }
        "PRE_PRODUCTION_TRAFFIC_SHIFT" => "green ready, blue serving production",
        "PRODUCTION_TRAFFIC_SHIFT" => "production traffic shifting to green, blue still serving",
        "POST_PRODUCTION_TRAFFIC_SHIFT" => "production traffic on green, blue still running",
        "BAKE_TIME" => "blue still running and ECS can still roll back to it",
        "CLEAN_UP" => "blue tasks stopping",
        _ => "a stage migrail does not know: waiting",
    }
}

/// How a service deployment's status counts.
#[derive(Debug, PartialEq, Eq)]
enum Status {
    Done,
    Failed(&'static str),
    Waiting,
}

fn status(s: &str) -> Status {
    match s {
        "SUCCESSFUL" => Status::Done,
        "ROLLBACK_REQUESTED"
        | "ROLLBACK_IN_PROGRESS"
        | "ROLLBACK_SUCCESSFUL"
        | "ROLLBACK_FAILED" => Status::Failed("rolled-back"),
        "STOP_REQUESTED" | "STOPPED" => Status::Failed("stopped"),
        // PENDING, IN_PROGRESS, and anything new: never done.
        _ => Status::Waiting,
    }
}

/// The last path segment of a service deployment ARN, for the log.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `HH:MM UTC` of a time.
fn clock(t: &DateTime) -> String {
    let day = t.secs().rem_euclid(86_400);
    format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
}

/// The judge of one service deployment: `Ok(None)` when SUCCESSFUL (the tasks are checked
/// next), a blocker naming the stage while it runs, a failure when it rolls back or stops.
pub fn verdict(
    sd: &ServiceDeployment,
    target: &ServiceTarget,
    bake_minutes: Option<i32>,
) -> Result<Option<Blocker>, RolloutFailure> {
    let arn = sd.service_deployment_arn().unwrap_or("?");
    let state = sd.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    let stage = sd.lifecycle_stage().map(|s| s.as_str().to_string());
    let want = revision(&target.task_definition);
    match status(state) {
        Status::Done => Ok(None),
        Status::Failed(kind) => {
            let reason = sd
                .rollback()
                .and_then(|r| r.reason())
                .or(sd.status_reason())
                .filter(|r| !r.is_empty())
                .unwrap_or("no reason given");
            let what = if kind == "rolled-back" {
                "is rolling back (or rolled back) to the previous revision"
            } else {
                "was stopped"
            };
            Err(RolloutFailure {
                service: target.service.clone(),
                kind,
                reason: format!(
                    "the service deployment {} to {want} {what} ({state}): {reason}",
                    short(arn)
                ),
                events: Vec::new(),
            })
        }
        Status::Waiting => {
            let at = stage.as_deref().unwrap_or("no stage yet");
            let mut detail = format!(
                "service deployment {} to {want} is {state} at {at}: {}",
                short(arn),
                stage.as_deref().map_or("waiting", stage_meaning)
            );
            if stage.as_deref() == Some("BAKE_TIME") {
                if let (Some(minutes), Some(since)) = (bake_minutes, sd.updated_at()) {
                    let ends = DateTime::from_secs(since.secs() + i64::from(minutes) * 60);
                    detail.push_str(&format!(", bake ends ~{}", clock(&ends)));
                }
            }
            if let Some(t) = sd.target_service_revision() {
                detail.push_str(&format!(
                    " ({} of {} green tasks running)",
                    t.running_task_count(),
                    t.requested_task_count()
                ));
            }
            Ok(Some(Blocker {
                service: target.service.clone(),
                kind: "deployment",
                task_id: None,
                revision: want,
                last_status: Some(state.to_string()),
                desired_status: None,
                stage,
                detail,
            }))
        }
    }
}

/// The newest service deployment of `service` whose target revision runs
/// `task_definition` (created after `since`, when given).
pub async fn find(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
    since: Option<DateTime>,
) -> Result<Option<ServiceDeployment>, aws::ApiError> {
    let resource = format!("service `{service}` in cluster `{cluster}`");
    let mut request = ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service);
    if let Some(since) = since {
        request = request.created_at(CreatedAt::builder().after(since).build());
    }
    let listed = request
        .send()
        .await
        .map_err(|e| aws::describe(&e, "ecs:ListServiceDeployments", &resource))?;
    let briefs = listed.service_deployments();
    let mut revisions: Vec<String> = briefs
        .iter()
        .filter_map(|b| b.target_service_revision_arn().map(str::to_string))
        .collect();
    revisions.sort();
    revisions.dedup();
    let mut runs: Vec<(String, String)> = Vec::new();
    for chunk in revisions.chunks(20) {
        let out = ecs
            .describe_service_revisions()
            .set_service_revision_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws::describe(&e, "ecs:DescribeServiceRevisions", &resource))?;
        for r in out.service_revisions() {
            if let (Some(arn), Some(td)) = (r.service_revision_arn(), r.task_definition()) {
                runs.push((arn.to_string(), td.to_string()));
            }
        }
    }
    let newest = briefs
        .iter()
        .filter(|b| {
            b.target_service_revision_arn()
                .is_some_and(|arn| runs.iter().any(|(r, td)| r == arn && td == task_definition))
        })
        .max_by_key(|b| b.created_at().map_or(0, |t| t.secs()));
    let Some(arn) = newest.and_then(|b| b.service_deployment_arn()) else {
        return Ok(None);
    };
    describe(ecs, &resource, arn).await
}

/// One service deployment by its ARN (`None` when ECS does not know it).
pub async fn describe_arn(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    arn: &str,
) -> Result<Option<ServiceDeployment>, aws::ApiError> {
    describe(
        ecs,
        &format!("service `{service}` in cluster `{cluster}`"),
        arn,
    )
    .await
}

async fn describe(
    ecs: &aws_sdk_ecs::Client,
    resource: &str,
    arn: &str,
) -> Result<Option<ServiceDeployment>, aws::ApiError> {
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| aws::describe(&e, "ecs:DescribeServiceDeployments", resource))?;
    Ok(out.service_deployments().first().cloned())
}

/// `UpdateService`, then the service deployment it started (looked for among those
/// created in the last five minutes, clocks may differ; `None` when ECS has not listed it
/// yet: the wait finds it by its target revision).
pub async fn start(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Option<String>, String> {
    let since = DateTime::from_secs(crate::run::now_epoch() as i64 - 300);
    super::update_service(ecs, cluster, service, task_definition).await?;
    let found = find(ecs, cluster, service, task_definition, Some(since))
        .await
        .map_err(|e| e.message)?;
    Ok(found.and_then(|sd| sd.service_deployment_arn().map(str::to_string)))
}

/// One round for one service: the service deployment migrail started (or, for the gate,
/// the newest one to the target revision) judged by [`verdict`].
pub async fn judge(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    svc: &Service,
    target: &ServiceTarget,
) -> Result<Result<Option<Blocker>, RolloutFailure>, aws::ApiError> {
    let resource = format!("service `{}` in cluster `{cluster}`", target.service);
    let sd = match &target.deployment {
        Some(arn) => match describe(ecs, &resource, arn).await? {
            Some(sd) => Some(sd),
            None => {
                return Ok(Err(RolloutFailure {
                    service: target.service.clone(),
                    kind: "gone",
                    reason: format!("the service deployment migrail started ({arn}) is gone"),
                    events: Vec::new(),
                }))
            }
        },
        None => find(ecs, cluster, &target.service, &target.task_definition, None).await?,
    };
    let bake = svc
        .deployment_configuration()
        .and_then(|c| c.bake_time_in_minutes());
    Ok(match sd {
        Some(sd) => verdict(&sd, target, bake),
        // No service deployment to the target in ECS's history (90 days): the service
        // must already run it; its tasks are checked next.
        None if svc.task_definition() == Some(target.task_definition.as_str()) => Ok(None),
        None => Ok(Some(Blocker {
            service: target.service.clone(),
            kind: "deployment",
            task_id: None,
            revision: revision(&target.task_definition),
            last_status: None,
            desired_status: None,
            stage: None,
            detail: format!(
                "no service deployment to {} yet; the service runs {}",
                revision(&target.task_definition),
                revision(svc.task_definition().unwrap_or("?"))
            ),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        Rollback, ServiceDeploymentLifecycleStage, ServiceDeploymentStatus, ServiceRevisionSummary,
    };

    const NEW: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:43";

    fn target() -> ServiceTarget {
        ServiceTarget {
            cluster: "prod".into(),
            service: "web".into(),
            task_definition: NEW.into(),
            deployment: Some("arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/abc".into()),
        }
    }

    fn sd(status: &str, stage: Option<&str>) -> ServiceDeployment {
        let mut b = ServiceDeployment::builder()
            .service_deployment_arn("arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/abc")
            .status(ServiceDeploymentStatus::from(status))
            .updated_at(DateTime::from_secs(1_700_000_000))
            .target_service_revision(
                ServiceRevisionSummary::builder()
                    .requested_task_count(2)
                    .running_task_count(2)
                    .build(),
            );
        if let Some(s) = stage {
            b = b.lifecycle_stage(ServiceDeploymentLifecycleStage::from(s));
        }
        b.build()
    }

    #[test]
    fn only_successful_is_done_and_the_bake_says_when_it_ends() {
        assert_eq!(
            verdict(&sd("SUCCESSFUL", Some("CLEAN_UP")), &target(), None),
            Ok(None)
        );
        let b = verdict(&sd("IN_PROGRESS", Some("BAKE_TIME")), &target(), Some(30))
            .expect("not failed")
            .expect("waits");
        // 1_700_000_000 is 22:13:20 UTC; +30 min.
        assert_eq!(
            b.detail,
            "service deployment abc to web:43 is IN_PROGRESS at BAKE_TIME: blue still running \
             and ECS can still roll back to it, bake ends ~22:43 UTC (2 of 2 green tasks running)"
        );
        assert_eq!(b.stage.as_deref(), Some("BAKE_TIME"));
        // A stage or a status the SDK does not know never counts as done.
        for (status, stage) in [
            ("IN_PROGRESS", Some("PRE_PRODUCTION_TRAFFIC_SHIFT")),
            ("IN_PROGRESS", Some("SOME_NEW_STAGE")),
            ("SOME_NEW_STATUS", None),
            ("PENDING", None),
        ] {
            assert!(
                verdict(&sd(status, stage), &target(), None).is_ok_and(|b| b.is_some()),
                "{status} {stage:?}"
            );
        }
    }

    #[test]
    fn a_rollback_or_a_stop_is_a_failure_quoting_the_reason() {
        let mut rolled = sd("ROLLBACK_IN_PROGRESS", Some("BAKE_TIME"));
        rolled.rollback = Some(
            Rollback::builder()
                .reason("CloudWatch alarm p99-latency is in ALARM")
                .build(),
        );
        let f = verdict(&rolled, &target(), Some(30)).expect_err("fails");
        assert_eq!(f.kind, "rolled-back");
        assert!(f.reason.contains("p99-latency is in ALARM"), "{}", f.reason);
        for status in [
            "ROLLBACK_REQUESTED",
            "ROLLBACK_SUCCESSFUL",
            "ROLLBACK_FAILED",
        ] {
            assert_eq!(
                verdict(&sd(status, None), &target(), None)
                    .expect_err("fails")
                    .kind,
                "rolled-back"
            );
        }
        let mut stopped = sd("STOPPED", None);
        stopped.status_reason = Some("stopped by a newer deployment".into());
        let f = verdict(&stopped, &target(), None).expect_err("fails");
        assert_eq!(f.kind, "stopped");
        assert!(f.reason.contains("newer deployment"), "{}", f.reason);
    }

    #[test]
    fn every_stage_has_a_meaning() {
        for stage in STAGES {
            assert_ne!(stage_meaning(stage), stage_meaning("?"), "{stage}");
        }
    }
}
