//! What the run's output says: the tail kept for the report, and the migrations Django
//! reports as applied (`  Applying shop.0002_book_isbn... OK`).
//!
//! Every line goes through the process's redactor (`crate::redact`) before it is kept or
//! echoed: the tail ends up in the result document and the PR comment, the echo in the job
//! log. A PEM private key printed over several lines is masked from its `BEGIN` line to its
//! `END` line (the redactor alone sees one line at a time).

use std::collections::VecDeque;

/// How many lines of output the result keeps.
pub const TAIL_LINES: usize = 200;

#[derive(Debug, Default)]
pub struct LogDigest {
    tail: VecDeque<String>,
    applied: Vec<String>,
    /// The last `Applying X...` seen without its `OK` yet (it failed if the run fails).
    pending: Option<String>,
    lock_retries: Vec<super::locks::LockRetry>,
    preflight: Vec<super::preflight::Check>,
    /// The process's redactor, taken at the first line (the run's environment is known by
    /// then).
    redactor: Option<crate::redact::Redactor>,
    /// Inside a PEM private key block printed over several lines.
    in_private_key: bool,
}

impl LogDigest {
    /// Digest one line of output; returns it redacted, as it may be printed.
    pub fn push(&mut self, line: &str) -> String {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(retry) = super::locks::parse_retry(line) {
            self.lock_retries.push(retry);
        }
        if let Some(check) = super::preflight::parse_check(line) {
            self.preflight.push(check);
        }
        if let Some(rest) = line.trim_start().strip_prefix("Applying ") {
            // `Applying app.0001_initial... OK` (OK may come on the same line, or later
            // when the migration prints its own output in between).
            let (name, after) = rest.split_once("...").unwrap_or((rest, ""));
            let name = name.trim().to_string();
            if after.trim_start().starts_with("OK") {
                self.applied.push(name);
                self.pending = None;
            } else {
                self.pending = Some(name);
            }
        } else if line.trim() == "OK" || line.trim_start().starts_with("OK ") {
            if let Some(name) = self.pending.take() {
                self.applied.push(name);
            }
        }
        let shown = self.redacted(line);
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(shown.clone());
        shown
    }

    /// The line as it may be shown: redacted, and masked whole inside a private key block.
    fn redacted(&mut self, line: &str) -> String {
        // `-----BEGIN RSA PRIVATE KEY-----` alone on its line (a prefix such as a log
        // timestamp allowed), not a whole block on one line.
        let is_marker = |kind: &str| {
            let t = line.trim_end();
            t.contains(&format!("-----{kind} "))
                && t.ends_with("PRIVATE KEY-----")
                && t.matches("-----").count() == 2
        };
        if self.in_private_key {
            if is_marker("END") {
                self.in_private_key = false;
                return line.to_string();
            }
            return crate::redact::MASK.to_string();
        }
        let redactor = self.redactor.get_or_insert_with(crate::redact::current);
        let shown = redactor.redact(line).into_owned();
        if is_marker("BEGIN") {
            self.in_private_key = true;
        }
        shown
    }

    pub fn applied(&self) -> Vec<String> {
        self.applied.clone()
    }

    pub fn lock_retries(&self) -> Vec<super::locks::LockRetry> {
        self.lock_retries.clone()
    }

    /// Every preflight check reported (redacted: examples and queries quote row values).
    pub fn preflight(&self) -> Vec<super::preflight::Check> {
        let redactor = crate::redact::current();
        let r = |s: &str| redactor.redact(s).into_owned();
        self.preflight
            .iter()
            .map(|c| super::preflight::Check {
                examples: c.examples.iter().map(|e| r(e)).collect(),
                reason: c.reason.as_deref().map(r),
                query: c.query.as_deref().map(r),
                ..c.clone()
            })
            .collect()
    }

    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_applied_migrations_and_the_tail() {
        let mut d = LogDigest::default();
        for line in [
            "Operations to perform:",
            "  Apply all migrations: shop",
            "Running migrations:",
            "  Applying shop.0001_initial... OK",
            "  Applying shop.0002_data...",
            "backfilling 10 rows",
            " OK",
            "  Applying shop.0003_broken...Traceback (most recent call last):",
        ] {
            d.push(line);
        }
        assert_eq!(d.applied(), vec!["shop.0001_initial", "shop.0002_data"]);
        for i in 0..300 {
            d.push(&format!("line {i}"));
        }
        let tail = d.tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("line 299"));
    }

    #[test]
    fn secrets_are_masked_in_the_tail_and_the_echo_and_a_key_block_across_lines() {
        let mut d = LogDigest::default();
        let mut shown = Vec::new();
        for line in [
            "connecting to postgres://app:S3cr3tPassw0rd@db.internal:5432/app",
            "-----BEGIN RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
            "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
            "-----END RSA PRIVATE KEY-----",
            "  Applying shop.0002_api_token... OK",
        ] {
            shown.push(d.push(line));
        }
        assert_eq!(
            shown,
            [
                "connecting to postgres://app:***@db.internal:5432/app",
                "-----BEGIN RSA PRIVATE KEY-----",
                "***",
                "***",
                "-----END RSA PRIVATE KEY-----",
                "  Applying shop.0002_api_token... OK",
            ]
        );
        assert_eq!(d.tail(), shown);
        assert_eq!(d.applied(), vec!["shop.0002_api_token"]);
    }
}
