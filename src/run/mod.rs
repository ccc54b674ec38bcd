//! `migrail run`: apply the migrations exactly once and report the outcome.
//!
//! This module owns what every backend shares: the outcome of a run ([`RunResult`]),
//! its exit code (an API: README, "Running migrations"), the log tail and the
//! migrations Django reports as applied ([`logs`]), the result files ([`output`]:
//! `--json-out`, `$GITHUB_OUTPUT`); the scripts that run inside Django: the lock guard
//! ([`locks`]), the data checks before each migration ([`preflight`]), the deploy phases
//! ([`phase`]). Backends: [`local`] (a child process:
//! CodeBuild inside the VPC, a developer's machine) and [`crate::ecs`] (a one-off task
//! from the service's configuration).

pub mod local;
pub mod locks;
pub mod logs;
pub mod output;
pub mod phase;
pub mod preflight;

use std::time::Duration;

use serde::Serialize;

/// The command Django needs to apply migrations, when none is given.
pub const DEFAULT_COMMAND: &[&str] = &["python", "manage.py", "migrate", "--noinput"];

/// Exit codes of `migrail run`. The command's own codes 1–123 pass through; the others
/// are reserved for outcomes of the run itself.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    /// The command's own exit code was 124 or more (it is in the JSON result).
    pub const COMMAND_FAILED_HIGH: u8 = 1;
    pub const TIMED_OUT: u8 = 124;
    /// migrail could not run it: usage, configuration, I/O.
    pub const MIGRAIL_ERROR: u8 = 125;
    /// The command exists but could not be started (permissions, not executable).
    pub const FAILED_TO_START: u8 = 126;
    pub const NOT_FOUND: u8 = 127;
    /// The command ended without an exit code (killed by a signal; ECS: the target
    /// container has no exit code).
    pub const NO_EXIT_CODE: u8 = 128;
    /// The task was stopped by someone else (UserInitiated, ServiceSchedulerInitiated,
    /// SpotInterruption, TerminationNotice).
    pub const STOPPED_EXTERNALLY: u8 = 129;
    /// migrail was cancelled (SIGINT/SIGTERM): detached from the task, or stopped it
    /// with `--on-cancel stop`.
    pub const CANCELLED: u8 = 130;
    /// The post phase was not started: a rollout failed or was rolled back (or the
    /// deployment was replaced), so the old release may still be serving.
    pub const ROLLOUT_FAILED: u8 = 131;
    /// The post phase was not started: at `--timeout` a service was not yet on the
    /// task definition, or a task of another revision was still alive.
    pub const OLD_RELEASE_RUNNING: u8 = 132;
    /// The preflight refused a migration the data would fail (duplicates, NULLs, rows
    /// breaking a constraint): it was not started, nothing was recorded.
    pub const PREFLIGHT_REFUSED: u8 = 133;

    /// migrail's exit code for the command's own non-zero exit code.
    pub fn passthrough(code: i32) -> u8 {
        u8::try_from(code)
            .ok()
            .filter(|c| (1..TIMED_OUT).contains(c))
            .unwrap_or(COMMAND_FAILED_HIGH)
    }
}

/// `migrail deploy`'s own exit codes besides the runs' (the manual's exit-code reference).
pub mod deploy_exit {
    /// The plan blocks the deploy: nothing was changed.
    pub const BLOCKED: u8 = 1;
    pub use super::exit::{
        CANCELLED, MIGRAIL_ERROR, OLD_RELEASE_RUNNING, PREFLIGHT_REFUSED, ROLLOUT_FAILED, SUCCESS,
    };
    /// A service of a deployment type migrail cannot drive (an EXTERNAL controller, ...):
    /// nothing was changed.
    pub const UNSUPPORTED: u8 = 2;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    /// The command ran and exited non-zero.
    Failed,
    TimedOut,
    /// The command could not be started.
    FailedToStart,
    NotFound,
    /// The command ended without an exit code.
    Killed,
    /// The task's target container has no exit code.
    NoExitCode,
    /// Stopped by someone else (ECS stop code in the result).
    StoppedExternally,
    /// migrail was cancelled before the end.
    Cancelled,
    /// migrail could not run it (AWS configuration, permissions, another run in flight).
    Error,
    /// Not started: a service's rollout failed or was rolled back.
    RolloutFailed,
    /// Not started: the old release was still running at `--timeout`.
    OldReleaseRunning,
    /// The preflight found rows the migration would fail on: it was not started.
    PreflightRefused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed out",
            Outcome::FailedToStart => "failed to start",
            Outcome::NotFound => "command not found",
            Outcome::Killed => "killed",
            Outcome::NoExitCode => "ended without an exit code",
            Outcome::StoppedExternally => "stopped externally",
            Outcome::Cancelled => "cancelled",
            Outcome::Error => "error",
            Outcome::RolloutFailed => "rollout failed",
            Outcome::OldReleaseRunning => "old release running",
            Outcome::PreflightRefused => "preflight refused",
        }
    }
}

/// Everything a run found out, for the verdict, `--json-out` and `$GITHUB_OUTPUT`.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub version: u32,
    pub backend: &'static str,
    pub command: Vec<String>,
    pub outcome: Outcome,
    /// migrail's own exit code for this outcome.
    pub exit_code: u8,
    /// The command's exit code, when it exited.
    pub command_exit_code: Option<i32>,
    /// The signal that ended the command (local backend, Unix).
    pub signal: Option<i32>,
    /// Why it did not run or what stopped it, in words.
    pub reason: Option<String>,
    /// Seconds since epoch when the command started.
    pub started_at: u64,
    pub duration_seconds: f64,
    /// `app.migration` for every `Applying app.migration... OK` line, in order.
    pub applied: Vec<String>,
    /// Every retry after a lock timeout the lock guard reported, in order.
    pub lock_retries: Vec<locks::LockRetry>,
    /// Every check the preflight reported, in order.
    pub preflight: Vec<preflight::Check>,
    /// The last lines of output (the traceback of a failure is there).
    pub log_tail: Vec<String>,
    /// ECS: the cluster, the task, its stop code and target container's reason, the
    /// run key, the logs in the console.
    pub cluster: Option<String>,
    pub task_arn: Option<String>,
    pub task_id: Option<String>,
    pub container: Option<String>,
    pub stop_code: Option<String>,
    pub container_reason: Option<String>,
    pub run_key: Option<String>,
    pub log_url: Option<String>,
}

impl RunResult {
    /// A result with nothing known yet, for backends to fill in.
    pub fn empty(backend: &'static str) -> RunResult {
        RunResult {
            version: 1,
            backend,
            command: Vec::new(),
            outcome: Outcome::Error,
            exit_code: exit::MIGRAIL_ERROR,
            command_exit_code: None,
            signal: None,
            reason: None,
            started_at: now_epoch(),
            duration_seconds: 0.0,
            applied: Vec::new(),
            lock_retries: Vec::new(),
            preflight: Vec::new(),
            log_tail: Vec::new(),
            cluster: None,
            task_arn: None,
            task_id: None,
            container: None,
            stop_code: None,
            container_reason: None,
            run_key: None,
            log_url: None,
        }
    }

    /// Print what the preflight found (each violation, each check not done), then the
    /// verdict.
    pub fn print_verdict(&self) {
        for line in preflight::report_lines(&self.preflight) {
            eprintln!("{line}");
        }
        eprintln!("{}", self.verdict());
    }

    /// The one-line verdict printed at the end, redacted (it quotes the reason ECS gave,
    /// which may quote the container's output).
    pub fn verdict(&self) -> String {
        crate::redact::current()
            .redact(&self.verdict_text())
            .into_owned()
    }

    fn verdict_text(&self) -> String {
        let task = self
            .task_id
            .as_deref()
            .map(|id| format!(" (task {id})"))
            .unwrap_or_default();
        if matches!(
            self.outcome,
            Outcome::NotFound
                | Outcome::FailedToStart
                | Outcome::Error
                | Outcome::RolloutFailed
                | Outcome::OldReleaseRunning
        ) {
            let what = match self.outcome {
                Outcome::Error => "could not run",
                Outcome::RolloutFailed | Outcome::OldReleaseRunning => {
                    "not started: the old release may still be running"
                }
                _ => "failed to start",
            };
            let mut line = format!(
                "migrail: run {what}{task}: {}",
                self.reason.as_deref().unwrap_or("unknown reason")
            );
            if let Some(r) = &self.container_reason {
                line.push_str(&format!("; container: {r}"));
            }
            return line;
        }
        let took = format_duration(Duration::from_secs_f64(self.duration_seconds));
        let applied = match self.applied.len() {
            0 => "no migration applied".to_string(),
            1 => "1 migration applied".to_string(),
            n => format!("{n} migrations applied"),
        };
        let code = match (self.command_exit_code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "no exit code".to_string(),
        };
        let mut line = format!(
            "migrail: run {}{task}: {code} after {took}, {applied}",
            self.outcome.as_str()
        );
        if let Some(stop) = &self.stop_code {
            line.push_str(&format!(", stop code {stop}"));
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(" ({reason})"));
        }
        line
    }
}

/// A command as the output shows it: migrail's own scripts (`shell -c <script>`) as
/// `<migrail's lock guard>` or `<migrail's phase script>`, not their source; redacted
/// (`--password x` on a command line).
pub fn display_command(command: &[String]) -> String {
    let redactor = crate::redact::current();
    command
        .iter()
        .map(|a| {
            if !a.contains('\n') {
                a.clone()
            } else if a.contains("def migrail_phase") {
                "<migrail's phase script>".to_string()
            } else if a.contains("def migrail_guard") {
                "<migrail's lock guard>".to_string()
            } else {
                format!("<script of {} lines>", a.lines().count())
            }
        })
        .map(|a| redactor.redact(&a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `90s`, `30m`, `1h`, `1h30m`, `250ms`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}`: expected a duration such as 90s, 30m, 1h or 1h30m");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    if let Some(ms) = text.strip_suffix("ms") {
        let ms: u64 = ms.parse().map_err(|_| bad())?;
        return (ms > 0).then(|| Duration::from_millis(ms)).ok_or_else(bad);
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in [
            "",
            "m",
            "10x",
            "1h30",
            "0s",
            "0ms",
            "xms",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_millis(3200)), "3.2 s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
