//! The task's output, from CloudWatch Logs: `GetLogEvents` on the container's stream
//! with `startFromHead=true`, following `nextForwardToken`. A stream that does not exist
//! yet is "not yet"; the end of the stream is the same token coming back. After the
//! task stops, [`LogTail::drain`] keeps reading until the token repeats and a grace
//! period has passed: the last lines (the traceback) arrive late.

use std::io::Write;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsError;
use tokio::time::{sleep, Instant};

use super::aws::{self, Kind};
use crate::run::logs::LogDigest;

/// Pages read per poll at most (10,000 events each): a long backlog is read over polls.
const PAGES_PER_POLL: usize = 20;

pub struct LogTail {
    client: aws_sdk_cloudwatchlogs::Client,
    pub group: String,
    pub stream: String,
    token: Option<String>,
    /// Set when reading must stop (access denied): the verdict does not depend on it.
    disabled: bool,
    warned: bool,
}

impl LogTail {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: String, stream: String) -> LogTail {
        LogTail {
            client,
            group,
            stream,
            token: None,
            disabled: false,
            warned: false,
        }
    }

    /// Print what is new; true when the end of the stream was reached (or there is no
    /// stream yet).
    pub async fn poll(&mut self, digest: &mut LogDigest) -> bool {
        if self.disabled {
            return true;
        }
        for _ in 0..PAGES_PER_POLL {
            let out = self
                .client
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(&self.stream)
                .start_from_head(true)
                .set_next_token(self.token.clone())
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    if let Some(GetLogEventsError::ResourceNotFoundException(_)) =
                        e.as_service_error()
                    {
                        return true; // not yet
                    }
                    let resource = format!("log stream {}/{}", self.group, self.stream);
                    let err = aws::describe(&e, "logs:GetLogEvents", &resource);
                    if err.kind == Kind::AccessDenied {
                        eprintln!(
                            "migrail: warning: {err}; no live logs (the verdict is unaffected)"
                        );
                        self.disabled = true;
                    } else if !self.warned {
                        eprintln!("migrail: warning: reading logs: {err} (will retry)");
                        self.warned = true;
                    }
                    return true;
                }
            };
            {
                let mut stdout = std::io::stdout().lock();
                for event in out.events() {
                    let message = event.message().unwrap_or_default();
                    for line in message.lines() {
                        let shown = digest.push(line);
                        // A closed stdout (`| head`) must not stop the run.
                        let _ = writeln!(stdout, "{shown}");
                    }
                }
                let _ = stdout.flush();
            }
            let next = out.next_forward_token().map(str::to_string);
            if next.is_none() || next == self.token {
                return true;
            }
            self.token = next;
        }
        false
    }

    /// Read until the stream's end has been seen after `grace` has passed (bounded).
    pub async fn drain(&mut self, digest: &mut LogDigest, grace: Duration, interval: Duration) {
        let start = Instant::now();
        let hard_stop = start + grace * 4 + Duration::from_secs(5);
        loop {
            let at_end = self.poll(digest).await;
            let now = Instant::now();
            if (at_end && now >= start + grace) || now >= hard_stop || self.disabled {
                return;
            }
            sleep(interval).await;
        }
    }
}

/// The CloudWatch console page of a stream.
pub fn console_url(region: &str, group: &str, stream: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                other => format!("$25{other:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        enc(group),
        enc(stream)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_urls_encode_slashes_the_console_way() {
        assert_eq!(
            super::console_url("eu-west-1", "/ecs/web", "migrate/web/abc"),
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fweb/log-events/migrate$252Fweb$252Fabc"
        );
    }
}
