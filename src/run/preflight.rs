//! Preflight: refuse a migration the data will fail, before it takes a lock.
//!
//! A unique index over duplicates, `SET NOT NULL` over NULLs, a foreign key or `CHECK`
//! validated against rows that break it: each fails only after PostgreSQL has scanned the
//! table (or built the index) under a lock that blocks the application. Inside the migrate
//! process (`preflight.py`, appended to the lock guard), before Django applies each
//! migration, every operation whose success depends on the rows already in a table gets a
//! query in a READ ONLY transaction (ACCESS SHARE only, a short `statement_timeout`) on the
//! historical model Django applies it to: duplicate groups, NULL rows, rows breaking a
//! `CHECK`, orphans of a foreign key, values that no longer fit. A violation: the migration
//! is not started, nothing is recorded, the process exits [`PROCESS_EXIT`] and migrail
//! [`super::exit::PREFLIGHT_REFUSED`]. This module owns the settings (`--preflight`,
//! `--preflight-strict`, `--preflight-timeout`), the script filled in, and the checks read
//! back from the output (one `migrail: preflight: {json}` line each).

use std::time::Duration;

use serde::{Deserialize, Serialize};

const SCRIPT: &str = include_str!("preflight.py");

/// The migrate process's exit code when the preflight refused (sysexits' `EX_DATAERR`).
pub const PROCESS_EXIT: i32 = 65;

/// How long one check may run (`--preflight-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `--preflight` (configuration `preflight`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Check each migration just before it is applied.
    #[default]
    On,
    Off,
    /// Check every pending migration and apply none (a CI step against a staging copy).
    Only,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Off => "off",
            Mode::Only => "only",
        }
    }
}

/// The settings, resolved from the flags and the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preflight {
    pub mode: Mode,
    /// A check that timed out refuses the migration too.
    pub strict: bool,
    /// Each check's `statement_timeout` (its `lock_timeout`: the smaller of this and the
    /// guard's).
    pub timeout: Duration,
}

impl Default for Preflight {
    fn default() -> Preflight {
        Preflight {
            mode: Mode::On,
            strict: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Preflight {
    pub fn active(&self) -> bool {
        self.mode != Mode::Off
    }

    /// The script with the values filled in (appended to the guard's), or nothing when off.
    pub fn script(&self) -> String {
        if !self.active() {
            return String::new();
        }
        let filled = SCRIPT
            .replacen(
                "PF_MODE = \"on\"",
                &format!("PF_MODE = \"{}\"", self.mode.as_str()),
                1,
            )
            .replacen(
                "PF_MS = 10000",
                &format!("PF_MS = {}", self.timeout.as_millis().max(1)),
                1,
            )
            .replacen(
                "PF_STRICT = False",
                if self.strict {
                    "PF_STRICT = True"
                } else {
                    "PF_STRICT = False"
                },
                1,
            )
            .replacen("PF_EXIT = 65", &format!("PF_EXIT = {PROCESS_EXIT}"), 1);
        super::locks::compact(&filled)
    }
}

/// One check the preflight ran (or skipped), as its output line reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `app.migration`.
    pub migration: String,
    /// Django's description of the operation.
    pub operation: String,
    /// `unique`, `null`, `check`, `foreign-key`, `fit`, `cast`, `rows`, `unique-default`.
    pub check: String,
    pub table: Option<String>,
    /// The column(s), constraint or expression checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `ok`, `violation`, `timeout`, `error` or `skipped`.
    pub verdict: String,
    /// The query's time, in milliseconds.
    pub ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The query that lists every violating row (the check counts its rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl Check {
    /// Whether it found rows the migration fails on.
    pub fn violated(&self) -> bool {
        self.verdict == "violation"
    }

    /// What it found, in words (`3 rows with NULL in qty: SET NOT NULL fails ...`).
    pub fn message(&self) -> String {
        let n = self.count.unwrap_or(0);
        let rows = |word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let table = self.table.as_deref().unwrap_or("the table");
        let target = self.target.as_deref().unwrap_or("?");
        match (self.verdict.as_str(), self.check.as_str()) {
            ("violation", "unique") => format!(
                "{} of {table} on ({target}): the unique index build fails (built CONCURRENTLY, \
                 it leaves an INVALID index)",
                rows("group") + " of duplicate rows"
            ),
            ("violation", "null") => format!(
                "{} with NULL in {table}.{target}: SET NOT NULL fails after scanning the table \
                 under ACCESS EXCLUSIVE",
                rows("row")
            ),
            ("violation", "check") => format!(
                "{} of {table} breaking the CHECK constraint {target}: adding or validating it fails",
                rows("row")
            ),
            ("violation", "foreign-key") => format!(
                "{} of {table} ({target}) pointing to no row: the foreign key fails",
                rows("value")
            ),
            ("violation", "fit") => format!(
                "{} of {table}.{target} that do not fit the new type: the ALTER fails after \
                 rewriting the table under ACCESS EXCLUSIVE",
                rows("value")
            ),
            ("violation", "rows") => format!(
                "{} in {table}, and the new NOT NULL column {target} has no default: the ALTER \
                 TABLE fails",
                rows("row")
            ),
            ("violation", "unique-default") => format!(
                "{} of {table} would all get the same default in the new unique column {target}: \
                 the ALTER TABLE fails",
                rows("row")
            ),
            ("violation", _) => format!("{} break {target}", rows("row")),
            (_, "sql") => format!(
                "not checked: the SQL Django would run could not be collected: {}",
                self.reason.as_deref().unwrap_or("unknown error")
            ),
            ("ok", check) => format!("{check} check on {table} ({target}): ok"),
            (verdict, check) => format!(
                "{check} check on {table} ({target}) not done ({verdict}){}",
                self.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// What the terminal shows after a run that the preflight refused (or warned about): each
/// violation with its examples and the query that lists them all; each check that timed
/// out or failed.
pub fn report_lines(checks: &[Check]) -> Vec<String> {
    let mut out = Vec::new();
    for c in checks {
        match c.verdict.as_str() {
            "violation" => {
                out.push(format!(
                    "migrail: preflight: {}: {}: {}",
                    c.migration,
                    c.operation,
                    c.message()
                ));
                if !c.examples.is_empty() {
                    out.push(format!("migrail:   e.g. {}", c.examples.join("; ")));
                }
                if let Some(q) = &c.query {
                    out.push(format!("migrail:   all of them: {q};"));
                }
            }
            "timeout" | "error" => out.push(format!(
                "migrail: warning: preflight of {}{}: {}",
                c.migration,
                if c.operation.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.operation)
                },
                c.message()
            )),
            _ => {}
        }
    }
    out
}

/// Read a check line of the preflight's output.
pub fn parse_check(line: &str) -> Option<Check> {
    let at = line.find("migrail: preflight: {")?;
    serde_json::from_str(line[at + "migrail: preflight: ".len()..].trim()).ok()
}

/// A run that carried the preflight (its command holds the script), whose migrate process
/// exited [`PROCESS_EXIT`] after a refusal (or without any output to tell: an ECS task
/// without logs), was refused by the preflight. Another command's 65 is its own.
pub fn settle(result: &mut super::RunResult) {
    if !result
        .command
        .iter()
        .any(|a| a.contains("def mg_preflight"))
    {
        return;
    }
    let refused_line = result
        .log_tail
        .iter()
        .any(|l| l.contains("migrail: preflight refused "));
    let violated = result.preflight.iter().find(|c| c.violated());
    if result.outcome != super::Outcome::Failed
        || result.command_exit_code != Some(PROCESS_EXIT)
        || !(violated.is_some() || refused_line || result.log_tail.is_empty())
    {
        return;
    }
    result.outcome = super::Outcome::PreflightRefused;
    result.exit_code = super::exit::PREFLIGHT_REFUSED;
    let strict = result.preflight.iter().find(|c| c.verdict == "timeout");
    result.reason = Some(match violated.or(strict) {
        Some(c) => format!(
            "the preflight refused {}, before it took any lock: {}: {}",
            c.migration,
            c.operation,
            c.message()
        ),
        None => "the preflight refused a migration (exit code 65; no output to say which)".into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_gets_its_settings_and_off_adds_nothing() {
        let p = Preflight {
            mode: Mode::Only,
            strict: true,
            timeout: Duration::from_millis(1500),
        };
        let s = p.script();
        assert!(s.contains("PF_MODE = \"only\"\n"), "{s}");
        assert!(s.contains("PF_MS = 1500\n"));
        assert!(s.contains("PF_STRICT = True\n"));
        assert!(!s.contains("\n#"), "comments are dropped");
        let off = Preflight {
            mode: Mode::Off,
            ..Preflight::default()
        };
        assert_eq!(off.script(), "");
    }

    #[test]
    fn exit_65_is_a_refusal_only_from_a_command_that_carried_the_preflight() {
        let ran = |command: &str| {
            let mut r = super::super::RunResult::empty("local");
            r.command = vec!["python".into(), "-c".into(), command.into()];
            r.outcome = super::super::Outcome::Failed;
            r.command_exit_code = Some(PROCESS_EXIT);
            r.exit_code = 65;
            settle(&mut r);
            (r.outcome, r.exit_code)
        };
        assert_eq!(
            ran("def mg_preflight(executor, state, migration): ..."),
            (
                super::super::Outcome::PreflightRefused,
                super::super::exit::PREFLIGHT_REFUSED
            )
        );
        assert_eq!(
            ran("import sys; sys.exit(65)"),
            (super::super::Outcome::Failed, 65)
        );
    }

    #[test]
    fn check_lines_parse_and_others_do_not() {
        let c = parse_check(
            r#"migrail: preflight: {"migration": "shop.0002_x", "operation": "Alter field price on order", "check": "null", "table": "shop_order", "ms": 1.5, "verdict": "violation", "count": 3, "examples": ["id=1"], "reason": "3 rows have NULL", "query": "SELECT 1"}"#,
        )
        .expect("a check");
        assert_eq!(c.count, Some(3));
        assert!(c.violated());
        assert_eq!(
            parse_check("migrail: preflight refused shop.0002_x: ..."),
            None
        );
        assert_eq!(parse_check("  Applying shop.0001_initial... OK"), None);
    }
}
