//! Judging a stopped task. Success only when the *target* container (not a sidecar)
//! has `exitCode == 0`; a missing exit code is a failure, never a success;
//! `TaskFailedToStart` is an infrastructure failure shown with the stopped reason and the
//! container's reason (`CannotPullContainerError`, ...); a task stopped by someone else
//! has its own outcome; the container's own non-zero code passes through.

use aws_sdk_ecs::types::{Task, TaskStopCode};

use crate::run::{exit, Outcome};

#[derive(Debug, PartialEq, Eq)]
pub struct Judgement {
    pub outcome: Outcome,
    pub exit_code: u8,
    pub container_exit_code: Option<i32>,
    pub stop_code: Option<String>,
    pub reason: Option<String>,
    pub container_reason: Option<String>,
}

pub fn judge(task: &Task, container: &str) -> Judgement {
    let target = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container));
    let code = target.and_then(|c| c.exit_code());
    let stop = task.stop_code();
    let mut j = Judgement {
        outcome: Outcome::Succeeded,
        exit_code: exit::SUCCESS,
        container_exit_code: code,
        stop_code: stop.map(|s| s.as_str().to_string()),
        reason: task
            .stopped_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        container_reason: target
            .and_then(|c| c.reason())
            .filter(|r| !r.is_empty())
            .map(str::to_string),
    };
    let external = matches!(
        stop,
        Some(
            TaskStopCode::UserInitiated
                | TaskStopCode::ServiceSchedulerInitiated
                | TaskStopCode::SpotInterruption
                | TaskStopCode::TerminationNotice
        )
    );
    (j.outcome, j.exit_code) = if stop == Some(&TaskStopCode::TaskFailedToStart) {
        (Outcome::FailedToStart, exit::FAILED_TO_START)
    } else if target.is_none() {
        j.reason = Some(format!(
            "container `{container}` is not in the stopped task{}",
            j.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
        (Outcome::NoExitCode, exit::NO_EXIT_CODE)
    } else if code == Some(0) {
        (Outcome::Succeeded, exit::SUCCESS)
    } else if external {
        (Outcome::StoppedExternally, exit::STOPPED_EXTERNALLY)
    } else if let Some(code) = code {
        (Outcome::Failed, exit::passthrough(code))
    } else {
        (Outcome::NoExitCode, exit::NO_EXIT_CODE)
    };
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::Container;

    fn task(stop: Option<TaskStopCode>, containers: &[(&str, Option<i32>)]) -> Task {
        Task::builder()
            .set_stop_code(stop)
            .stopped_reason("why")
            .set_containers(Some(
                containers
                    .iter()
                    .map(|(n, c)| Container::builder().name(*n).set_exit_code(*c).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn the_target_container_decides() {
        let ok = task(
            Some(TaskStopCode::EssentialContainerExited),
            &[("xray", Some(1)), ("web", Some(0))],
        );
        assert_eq!(judge(&ok, "web").outcome, Outcome::Succeeded);
        let failed = task(
            Some(TaskStopCode::EssentialContainerExited),
            &[("web", Some(3))],
        );
        let j = judge(&failed, "web");
        assert_eq!((j.outcome, j.exit_code), (Outcome::Failed, 3));
        let high = task(
            Some(TaskStopCode::EssentialContainerExited),
            &[("web", Some(137))],
        );
        assert_eq!(judge(&high, "web").exit_code, exit::COMMAND_FAILED_HIGH);
    }

    #[test]
    fn no_exit_code_is_never_success() {
        let t = task(
            Some(TaskStopCode::EssentialContainerExited),
            &[("web", None)],
        );
        assert_eq!(judge(&t, "web").exit_code, exit::NO_EXIT_CODE);
        let t = task(
            Some(TaskStopCode::EssentialContainerExited),
            &[("other", Some(0))],
        );
        assert_eq!(judge(&t, "web").exit_code, exit::NO_EXIT_CODE);
    }

    #[test]
    fn stop_codes() {
        let t = task(Some(TaskStopCode::TaskFailedToStart), &[("web", None)]);
        assert_eq!(judge(&t, "web").exit_code, exit::FAILED_TO_START);
        let t = task(Some(TaskStopCode::UserInitiated), &[("web", Some(143))]);
        let j = judge(&t, "web");
        assert_eq!(
            (j.outcome, j.exit_code),
            (Outcome::StoppedExternally, exit::STOPPED_EXTERNALLY)
        );
        assert_eq!(j.stop_code.as_deref(), Some("UserInitiated"));
    }
}
