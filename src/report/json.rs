//! The JSON report, version 1. The schema is documented in the README ("JSON output");
//! fields are only ever added within a version.

use serde::Serialize;

use crate::lint::phase::{MigrationPhase, Phase};
use crate::lint::rule::Severity;
use crate::lint::LintReport;

#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub version: u32,
    pub tool: Tool,
    pub migrations: Vec<JsonMigration<'a>>,
    pub findings: Vec<JsonFinding<'a>>,
    pub summary: Summary,
}

#[derive(Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Serialize)]
pub struct JsonMigration<'a> {
    pub app: &'a str,
    pub name: &'a str,
    pub path: &'a str,
    pub reviewed: bool,
    /// The deploy phase (`phase`, `inferred`, `marker`, `mixed`, `operations`) of a
    /// reviewed migration; `null` for the others.
    pub phase: Option<&'a MigrationPhase>,
}

#[derive(Serialize)]
pub struct JsonFinding<'a> {
    pub rule: &'a str,
    pub severity: Severity,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub app: &'a str,
    pub migration: &'a str,
    pub message: &'a str,
    pub help: Option<&'a str>,
    /// The deploy phase of the operation the finding is on.
    pub phase: Phase,
}

#[derive(Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    pub reviewed: usize,
    pub loaded: usize,
    /// True when the check fails (what the exit code says).
    pub failed: bool,
}

pub fn render(report: &LintReport, warnings_as_errors: bool) -> String {
    let doc = JsonReport {
        version: 1,
        tool: Tool {
            name: "migrail",
            version: env!("CARGO_PKG_VERSION"),
        },
        migrations: report
            .migrations
            .iter()
            .map(|m| JsonMigration {
                app: &m.app,
                name: &m.name,
                path: &m.path,
                reviewed: m.reviewed,
                phase: m.phase.as_ref(),
            })
            .collect(),
        findings: report
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule: f.rule,
                severity: f.severity,
                path: f.path_display(),
                line: f.line,
                column: f.column,
                end_line: f.end_line,
                end_column: f.end_column,
                app: &f.app,
                migration: &f.migration,
                message: &f.message,
                help: f.help.as_deref(),
                phase: f.phase,
            })
            .collect(),
        summary: Summary {
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            notes: report.count(Severity::Info),
            reviewed: report.reviewed(),
            loaded: report.migrations.len(),
            failed: report.failed(warnings_as_errors),
        },
    };
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
