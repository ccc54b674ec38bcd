//! Following the task to its end: our own polling loop (the SDK's waiter polls up to
//! 10 minutes apart), `DescribeTasks` every `--poll-interval`, `MISSING` tolerated for
//! the first minute (eventual consistency), each lifecycle transition printed, the logs
//! read between polls, `--timeout`, and cancellation (SIGINT/SIGTERM) observed at every
//! wait.

use std::time::Duration;

use aws_sdk_ecs::types::Task;
use tokio::time::{sleep, Instant};

use super::aws::{self, Kind};
use super::cloudwatch::LogTail;
use super::Cancel;
use crate::run::logs::LogDigest;

/// How long a task may be `MISSING` from DescribeTasks after it was started.
pub const MISSING_GRACE: Duration = Duration::from_secs(60);

pub enum End {
    Stopped(Box<Task>),
    TimedOut,
    Cancelled(&'static str),
    /// We lost track of the task (it keeps running); the message says why and what to do.
    Lost(String),
}

pub struct Watch<'a> {
    pub ecs: &'a aws_sdk_ecs::Client,
    pub cluster: &'a str,
    pub arn: &'a str,
    pub poll: Duration,
    pub deadline: Instant,
}

impl Watch<'_> {
    pub async fn run(
        &self,
        logs: &mut Option<LogTail>,
        digest: &mut LogDigest,
        cancel: &mut Cancel,
    ) -> End {
        let id = super::task_id(self.arn);
        let missing_until = Instant::now() + MISSING_GRACE;
        let mut last_status: Option<String> = None;
        let mut warned = false;
        loop {
            let described = tokio::select! {
                signal = cancel.recv() => return End::Cancelled(signal),
                r = self.ecs.describe_tasks().cluster(self.cluster).tasks(self.arn).send() => r,
            };
            match described {
                Ok(out) => {
                    if let Some(task) = out.tasks().iter().find(|t| t.task_arn() == Some(self.arn))
                    {
                        let status = task.last_status().unwrap_or("UNKNOWN").to_string();
                        if last_status.as_deref() != Some(&status) {
                            eprintln!("migrail: task {id}: {status}");
                            last_status = Some(status.clone());
                        }
                        if status == "STOPPED" {
                            return End::Stopped(Box::new(task.clone()));
                        }
                    } else if Instant::now() >= missing_until {
                        let why = out
                            .failures()
                            .first()
                            .and_then(|f| f.reason())
                            .unwrap_or("MISSING");
                        return End::Lost(format!(
                            "task {} is {why} from DescribeTasks in cluster `{}` after {} s \
                             (stopped tasks are kept for about an hour)",
                            self.arn,
                            self.cluster,
                            MISSING_GRACE.as_secs()
                        ));
                    }
                }
                Err(e) => {
                    let err = aws::describe(&e, "ecs:DescribeTasks", &format!("task {}", self.arn));
                    match err.kind {
                        Kind::Throttled | Kind::Transient => {
                            if !warned {
                                eprintln!("migrail: warning: {err} (still waiting)");
                                warned = true;
                            }
                        }
                        _ => {
                            return End::Lost(format!(
                                "{err}. The task keeps running: {}; re-running the same job \
                                 re-attaches to it by its run key",
                                self.arn
                            ))
                        }
                    }
                }
            }
            if let Some(tail) = logs.as_mut() {
                tokio::select! {
                    signal = cancel.recv() => return End::Cancelled(signal),
                    _ = tail.poll(digest) => {}
                }
            }
            if Instant::now() >= self.deadline {
                return End::TimedOut;
            }
            tokio::select! {
                signal = cancel.recv() => return End::Cancelled(signal),
                _ = sleep(self.poll) => {}
            }
        }
    }
}
