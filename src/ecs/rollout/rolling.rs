//! Rolling updates (`deploymentController.type` ECS, `deploymentConfiguration.strategy`
//! ROLLING, the default): progress and outcome are in the service's `deployments` array
//! (`rolloutState`). Also the judge of a service whose strategy migrail does not know:
//! its deployments are read the same way, and an unknown state never counts as done.

use aws_sdk_ecs::types::{DeploymentRolloutState, Service};

use super::{revision, Blocker, RolloutFailure, ServiceTarget, EVENTS_QUOTED};

/// `UpdateService`: the id of the deployment it started (the PRIMARY one in the answer).
pub async fn start(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<String, String> {
    let svc = super::update_service(ecs, cluster, service, task_definition).await?;
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    match primary.and_then(|d| d.id()) {
        Some(id) => Ok(id.to_string()),
        None => Err(format!(
            "UpdateService of service `{service}` in cluster `{cluster}` returned no PRIMARY \
             deployment: cannot follow the rollout"
        )),
    }
}

/// Judge one service's deployments against its target; `Ok(None)` when the deployment
/// side is done (the tasks are checked next).
pub fn judge(svc: &Service, target: &ServiceTarget) -> Result<Option<Blocker>, RolloutFailure> {
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
        stage: None,
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
            cluster: "prod".into(),
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
        assert_eq!(judge(&done, &target(Some("d2"))), Ok(None));
        assert_eq!(judge(&done, &target(None)), Ok(None));
        let moving = svc(vec![
            dep(
                "d2",
                "PRIMARY",
                NEW,
                Some(DeploymentRolloutState::InProgress),
            ),
            dep("d1", "ACTIVE", OLD, Some(DeploymentRolloutState::Completed)),
        ]);
        let b = judge(&moving, &target(Some("d2")))
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
        let f = judge(&rolled, &target(Some("d2"))).expect_err("fails");
        assert_eq!(f.kind, "rolled-back");
        assert!(
            f.reason.contains("tasks failed to start") && f.reason.contains("web:42"),
            "{}",
            f.reason
        );
        // The gate, which did not start it, sees the same.
        let f = judge(&rolled, &target(None)).expect_err("fails");
        assert_eq!(f.kind, "rolled-back");
        // Gone: the deployment is no longer listed.
        let gone = svc(vec![dep(
            "d3",
            "PRIMARY",
            OLD,
            Some(DeploymentRolloutState::Completed),
        )]);
        assert_eq!(
            judge(&gone, &target(Some("d2"))).expect_err("fails").kind,
            "gone"
        );
        // The gate without a failed deployment waits: the service is not on it (yet).
        let b = judge(&gone, &target(None)).expect("waits").expect("blocks");
        assert!(b.detail.contains("runs web:42"), "{}", b.detail);
    }

    #[test]
    fn without_a_rollout_state_the_only_full_deployment_is_done() {
        let mut d = dep("d2", "PRIMARY", NEW, None);
        assert_eq!(judge(&svc(vec![d.clone()]), &target(None)), Ok(None));
        d.running_count = 1;
        assert!(judge(&svc(vec![d]), &target(None)).expect("ok").is_some());
    }
}
