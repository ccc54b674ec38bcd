//! The JSON report, version 1. The schema is documented in the README ("JSON output");
//! fields are only ever added within a version.

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

use crate::lint::finding::PathShower;
use crate::lint::phase::{MigrationPhase, Phase};
use crate::lint::rule::Severity;
use crate::lint::{Finding, LintReport};

#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub version: u32,
    pub tool: Tool,
    /// The database the rules judged for: engine, version (assumed or given), source.
    pub database: &'a crate::django::database::Database,
    pub migrations: Vec<JsonMigration<'a>>,
    pub findings: JsonFindings<'a>,
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
    pub path: &'a str,
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

/// The findings, serialised one by one as they are written (a large tree has hundreds
/// of thousands: no intermediate copy of them is built).
pub struct JsonFindings<'a>(&'a [Finding]);

impl Serialize for JsonFindings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut paths = PathShower::default();
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for f in self.0 {
            seq.serialize_element(&json_finding(f, &mut paths))?;
        }
        seq.end()
    }
}

fn json_finding<'a>(f: &'a Finding, paths: &'a mut PathShower) -> JsonFinding<'a> {
    JsonFinding {
        rule: f.rule,
        severity: f.severity,
        path: paths.show(f),
        line: f.line,
        column: f.column,
        end_line: f.end_line,
        end_column: f.end_column,
        app: &f.app,
        migration: &f.migration,
        message: &f.message,
        help: f.help.as_deref(),
        phase: f.phase,
    }
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

fn document(report: &LintReport, warnings_as_errors: bool) -> JsonReport<'_> {
    JsonReport {
        version: 1,
        tool: Tool {
            name: "migrail",
            version: env!("CARGO_PKG_VERSION"),
        },
        database: &report.database,
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
        findings: JsonFindings(&report.findings),
        summary: Summary {
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            notes: report.count(Severity::Info),
            reviewed: report.reviewed(),
            loaded: report.migrations.len(),
            failed: report.failed(warnings_as_errors),
        },
    }
}

/// The report as a string (for the PR comment, which reads it back).
pub fn render(report: &LintReport, warnings_as_errors: bool) -> String {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&document(report, warnings_as_errors))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Write the report to `out`, followed by a newline: byte for byte what [`render`]
/// returns, but the two long lists (every migration with its phase, every finding) are
/// serialised in chunks on all cores and written as they come, never held whole.
pub fn write(
    out: &mut impl std::io::Write,
    report: &LintReport,
    warnings_as_errors: bool,
) -> std::io::Result<()> {
    let JsonReport {
        version,
        tool,
        database,
        migrations,
        findings,
        summary,
    } = document(report, warnings_as_errors);
    // The document with both lists empty, then the lists spliced in where they stand.
    let skeleton = JsonReport {
        version,
        tool,
        database,
        migrations: Vec::new(),
        findings: JsonFindings(&[]),
        summary,
    };
    let skeleton = serde_json::to_string_pretty(&skeleton)?;
    let (head, rest) = skeleton
        .split_once(MIGRATIONS_SLOT)
        .ok_or_else(|| std::io::Error::other("JSON layout: no migrations slot"))?;
    let (middle, tail) = rest
        .split_once(FINDINGS_SLOT)
        .ok_or_else(|| std::io::Error::other("JSON layout: no findings slot"))?;
    out.write_all(head.as_bytes())?;
    out.write_all(b"\"migrations\": ")?;
    write_list(out, &migrations, |item, (), buf| {
        serde_json::to_writer_pretty(buf, item)
    })?;
    out.write_all(middle.as_bytes())?;
    out.write_all(b"\"findings\": ")?;
    write_list(out, findings.0, |f, paths: &mut PathShower, buf| {
        serde_json::to_writer_pretty(buf, &json_finding(f, paths))
    })?;
    out.write_all(tail.as_bytes())?;
    out.write_all(b"\n")
}

const MIGRATIONS_SLOT: &str = "\"migrations\": []";
const FINDINGS_SLOT: &str = "\"findings\": []";

/// A list that is the value of a top-level key, as serde_json's pretty printer lays it
/// out: `[]`, or each item on its own lines, indented by four spaces.
fn write_list<T: Sync, S: Default>(
    out: &mut impl std::io::Write,
    items: &[T],
    serialize: impl Fn(&T, &mut S, &mut Vec<u8>) -> serde_json::Result<()> + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    if items.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[\n")?;
    let mut first = true;
    // Chunks of a few hundred items: enough work per task, little memory per chunk.
    for batch in items.chunks(16 * 256) {
        let chunks: Vec<serde_json::Result<Vec<u8>>> = batch
            .par_chunks(256)
            .map(|chunk| {
                let mut buf = Vec::new();
                let mut item = Vec::new();
                let mut state = S::default();
                for (i, value) in chunk.iter().enumerate() {
                    if i > 0 {
                        buf.extend_from_slice(b",\n");
                    }
                    item.clear();
                    serialize(value, &mut state, &mut item)?;
                    // Strings never hold a raw newline (JSON escapes it): every newline
                    // of the item starts a new line, to be indented one level deeper.
                    buf.extend_from_slice(b"    ");
                    let mut start = 0;
                    for newline in memchr::memchr_iter(b'\n', &item) {
                        buf.extend_from_slice(&item[start..=newline]);
                        buf.extend_from_slice(b"    ");
                        start = newline + 1;
                    }
                    buf.extend_from_slice(&item[start..]);
                }
                Ok(buf)
            })
            .collect();
        for chunk in chunks {
            if !std::mem::take(&mut first) {
                out.write_all(b",\n")?;
            }
            out.write_all(&chunk?)?;
        }
    }
    out.write_all(b"\n  ]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::{migration, project};
    use crate::lint::{lint, LintOptions, Review};

    fn written(report: &LintReport) -> String {
        let mut out = Vec::new();
        write(&mut out, report, false).expect("write to memory");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn the_chunked_writer_writes_exactly_what_serde_renders() {
        // Enough migrations and findings for several chunks and batches.
        let mut files = vec![migration(
            "0001_initial",
            "",
            "migrations.CreateModel('Book', [('id', models.AutoField(primary_key=True)), ('title', models.TextField())])",
        )];
        for i in 2..=5000 {
            files.push(migration(
                &format!("{i:04}_step"),
                &format!("{:04}_{}", i - 1, if i == 2 { "initial" } else { "step" }),
                &format!("migrations.AddField('book', 'f{i}', models.TextField())"),
            ));
        }
        let project = project(&files);
        let report = lint(&project, &Review::All, &LintOptions::default());
        assert!(
            report.findings.len() > 16 * 256,
            "{}",
            report.findings.len()
        );
        assert_eq!(written(&report), render(&report, false) + "\n");
    }

    #[test]
    fn empty_lists_are_written_as_serde_renders_them() {
        let report = LintReport {
            migrations: Vec::new(),
            findings: Vec::new(),
            database: Default::default(),
        };
        assert_eq!(written(&report), render(&report, false) + "\n");
    }
}
