//! Services whose deployment controller is CODE_DEPLOY or EXTERNAL: they list task sets
//! (`PRIMARY`, `ACTIVE`, `DRAINING`) instead of deployments. migrail does not start their
//! rollouts; the post gate waits until the only task set left is the PRIMARY one, on the
//! target task definition and in a steady state (the service's tasks are checked next).

use aws_sdk_ecs::types::Service;

use super::{revision, Blocker, RolloutFailure, ServiceTarget};

/// `Ok(None)` when the task sets are done.
pub fn judge(svc: &Service, target: &ServiceTarget) -> Result<Option<Blocker>, RolloutFailure> {
    let want = target.task_definition.as_str();
    let blocker = |rev: String, detail: String| Blocker {
        service: target.service.clone(),
        kind: "deployment",
        task_id: None,
        revision: rev,
        last_status: None,
        desired_status: None,
        stage: None,
        detail,
    };
    let sets = svc.task_sets();
    if sets.is_empty() {
        let current = svc.task_definition().unwrap_or_default();
        return Ok((current != want).then(|| {
            blocker(
                revision(current),
                format!("runs {}, not {}", revision(current), revision(want)),
            )
        }));
    }
    let id = |s: &aws_sdk_ecs::types::TaskSet| s.id().unwrap_or("?").to_string();
    for set in sets {
        let td = set.task_definition().unwrap_or("?");
        let status = set.status().unwrap_or("?");
        if status == "PRIMARY" && td != want {
            return Ok(Some(blocker(
                revision(td),
                format!(
                    "the PRIMARY task set {} runs {}, not {}",
                    id(set),
                    revision(td),
                    revision(want)
                ),
            )));
        }
        if status != "PRIMARY" {
            return Ok(Some(blocker(
                revision(td),
                format!(
                    "task set {} ({status}) on {} is still there ({} tasks running)",
                    id(set),
                    revision(td),
                    set.running_count()
                ),
            )));
        }
        let stable = set.stability_status().map(|s| s.as_str());
        if stable != Some("STEADY_STATE") {
            return Ok(Some(blocker(
                revision(td),
                format!(
                    "the PRIMARY task set {} on {} is {} ({} of {} tasks running)",
                    id(set),
                    revision(td),
                    stable.unwrap_or("not stable yet"),
                    set.running_count(),
                    set.computed_desired_count()
                ),
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{StabilityStatus, TaskSet};

    const OLD: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:42";
    const NEW: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:43";

    fn set(id: &str, status: &str, td: &str) -> TaskSet {
        TaskSet::builder()
            .id(id)
            .status(status)
            .task_definition(td)
            .running_count(2)
            .computed_desired_count(2)
            .stability_status(StabilityStatus::SteadyState)
            .build()
    }

    fn target() -> ServiceTarget {
        ServiceTarget {
            cluster: "prod".into(),
            service: "web".into(),
            task_definition: NEW.into(),
            deployment: None,
        }
    }

    #[test]
    fn only_a_single_primary_task_set_on_the_target_is_done() {
        let svc = |sets: Vec<TaskSet>| Service::builder().set_task_sets(Some(sets)).build();
        let both = svc(vec![
            set("ecs-svc/2", "PRIMARY", NEW),
            set("ecs-svc/1", "ACTIVE", OLD),
        ]);
        let b = judge(&both, &target()).expect("ok").expect("waits");
        assert!(
            b.detail.contains("task set ecs-svc/1 (ACTIVE) on web:42"),
            "{}",
            b.detail
        );
        let old = svc(vec![set("ecs-svc/1", "PRIMARY", OLD)]);
        assert!(judge(&old, &target()).expect("ok").is_some());
        let done = svc(vec![set("ecs-svc/2", "PRIMARY", NEW)]);
        assert_eq!(judge(&done, &target()), Ok(None));
    }
}
