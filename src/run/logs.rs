//! What the run's output says: the tail kept for the report, and the migrations Django
//! reports as applied (`  Applying shop.0002_book_isbn... OK`).

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
}

impl LogDigest {
    pub fn push(&mut self, line: &str) {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(retry) = super::locks::parse_retry(line) {
            self.lock_retries.push(retry);
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
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }

    pub fn applied(&self) -> Vec<String> {
        self.applied.clone()
    }

    pub fn lock_retries(&self) -> Vec<super::locks::LockRetry> {
        self.lock_retries.clone()
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
}
