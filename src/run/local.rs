//! The `local` backend: the command runs as a child process of migrail, on this machine
//! (CodeBuild inside the VPC, a developer's laptop), with the same logs handling, verdict,
//! exit codes and result document as a one-off task.
//!
//! Output is printed line by line as it arrives (the child's stdout on stdout, its stderr
//! on stderr) and digested for the report. `--timeout` kills the child (SIGKILL: the
//! database rolls back the migration's open transaction) and exits 124.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::logs::LogDigest;
use super::{exit, Outcome, RunResult};

/// How long to keep reading output after the command ended (grandchildren may hold the
/// pipes open; the last lines may still be in flight).
const DRAIN: Duration = Duration::from_secs(2);

pub struct LocalRun {
    pub command: Vec<String>,
    pub timeout: Duration,
    pub env: Vec<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

fn reader(stream: Stream, pipe: impl Read + Send + 'static, tx: mpsc::Sender<(Stream, String)>) {
    std::thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match pipe.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

fn echo(stream: Stream, line: &str) {
    // A closed stdout (`| head`) must not stop the run: the migration goes on.
    let _ = match stream {
        Stream::Out => std::io::stdout().lock().write_all(line.as_bytes()),
        Stream::Err => std::io::stderr().lock().write_all(line.as_bytes()),
    };
    if !line.ends_with('\n') {
        let _ = match stream {
            Stream::Out => std::io::stdout().lock().write_all(b"\n"),
            Stream::Err => std::io::stderr().lock().write_all(b"\n"),
        };
    }
}

/// Run the command to its end (or the timeout) and judge the outcome.
pub fn run(spec: &LocalRun) -> RunResult {
    let mut result = run_command(spec);
    super::preflight::settle(&mut result);
    result
}

fn run_command(spec: &LocalRun) -> RunResult {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let start = Instant::now();
    let mut digest = LogDigest::default();
    let result = |outcome: Outcome,
                  exit_code: u8,
                  status: Option<ExitStatus>,
                  reason: Option<String>,
                  digest: &LogDigest| RunResult {
        version: 1,
        backend: "local",
        command: spec.command.clone(),
        outcome,
        exit_code,
        command_exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(signal_of),
        reason,
        started_at,
        duration_seconds: start.elapsed().as_secs_f64(),
        applied: digest.applied(),
        lock_retries: digest.lock_retries(),
        preflight: digest.preflight(),
        log_tail: digest.tail(),
        ..RunResult::empty("local")
    };

    let Some((program, args)) = spec.command.split_first() else {
        return result(
            Outcome::FailedToStart,
            exit::FAILED_TO_START,
            None,
            Some("no command to run".into()),
            &digest,
        );
    };
    eprintln!(
        "migrail: running `{}` (local)",
        crate::run::display_command(&spec.command)
    );
    let spawned = Command::new(program)
        .args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return result(
                Outcome::NotFound,
                exit::NOT_FOUND,
                None,
                Some(format!("`{program}` not found on PATH")),
                &digest,
            )
        }
        Err(e) => {
            return result(
                Outcome::FailedToStart,
                exit::FAILED_TO_START,
                None,
                Some(format!("cannot start `{program}`: {e}")),
                &digest,
            )
        }
    };

    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        reader(Stream::Out, out, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        reader(Stream::Err, err, tx.clone());
    }
    drop(tx);

    let deadline = start + spec.timeout;
    let mut status: Option<ExitStatus> = None;
    let mut drain_until: Option<Instant> = None;
    let mut timed_out = false;
    let mut wait_error = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((stream, line)) => {
                let shown = digest.push(&line);
                echo(stream, &shown);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if status.is_none() && !timed_out {
                    match child.wait() {
                        Ok(s) => status = Some(s),
                        Err(e) => wait_error = Some(e.to_string()),
                    }
                }
                break;
            }
        }
        let now = Instant::now();
        if status.is_none() && !timed_out {
            match child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    drain_until = Some(now + DRAIN);
                }
                Ok(None) if now >= deadline => {
                    eprintln!(
                        "migrail: timed out after {}: stopping the command",
                        super::format_duration(spec.timeout)
                    );
                    let _ = child.kill();
                    status = child.wait().ok();
                    timed_out = true;
                    drain_until = Some(Instant::now() + DRAIN);
                }
                Ok(None) => {}
                Err(e) => {
                    wait_error = Some(e.to_string());
                    break;
                }
            }
        }
        if drain_until.is_some_and(|d| now >= d) {
            break;
        }
    }

    if timed_out {
        return result(
            Outcome::TimedOut,
            exit::TIMED_OUT,
            status,
            Some(format!(
                "--timeout {} reached",
                super::format_duration(spec.timeout)
            )),
            &digest,
        );
    }
    match status {
        Some(s) => match s.code() {
            Some(0) => result(Outcome::Succeeded, exit::SUCCESS, status, None, &digest),
            Some(code) => result(
                Outcome::Failed,
                exit::passthrough(code),
                status,
                None,
                &digest,
            ),
            None => result(
                Outcome::Killed,
                exit::NO_EXIT_CODE,
                status,
                Some("the command was killed by a signal".into()),
                &digest,
            ),
        },
        None => result(
            Outcome::Killed,
            exit::NO_EXIT_CODE,
            None,
            Some(format!(
                "lost track of the command: {}",
                wait_error.unwrap_or_else(|| "no exit status".into())
            )),
            &digest,
        ),
    }
}

#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}
