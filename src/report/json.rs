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
                phase: m.phase.as_deref(),
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
    write_list(out, &migrations, |item, (), buf| write_migration(buf, item))?;
    out.write_all(middle.as_bytes())?;
    out.write_all(b"\"findings\": ")?;
    write_list(out, findings.0, |f, paths: &mut PathShower, buf| {
        write_finding(buf, &json_finding(f, paths))
    })?;
    out.write_all(tail.as_bytes())?;
    out.write_all(b"\n")
}

// The two long lists' items, written as serde_json's pretty printer writes them (its
// escaping, its layout) without its machinery: they are most of a large report's bytes.
// The tests compare every byte with serde_json's rendering.

/// An object's fields, one per line at `indent` spaces, as serde_json lays them out.
struct Fields<'b> {
    buf: &'b mut Vec<u8>,
    indent: usize,
    first: bool,
}

impl<'b> Fields<'b> {
    /// Opens an object whose braces stand at `indent - 2` spaces.
    fn open(buf: &'b mut Vec<u8>, indent: usize) -> Fields<'b> {
        buf.push(b'{');
        Fields {
            buf,
            indent,
            first: true,
        }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        self.buf
            .extend_from_slice(if self.first { b"\n" } else { b",\n" });
        self.first = false;
        self.buf.resize(self.buf.len() + self.indent, b' ');
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\": ");
        self.buf
    }

    fn str(&mut self, key: &str, value: &str) {
        write_json_str(self.key(key), value);
    }

    fn raw(&mut self, key: &str, value: &str) {
        self.key(key).extend_from_slice(value.as_bytes());
    }

    fn number(&mut self, key: &str, value: usize) {
        use std::io::Write;
        // Writing into a `Vec` cannot fail.
        let _ = write!(self.key(key), "{value}");
    }

    fn close(self) {
        if !self.first {
            self.buf.push(b'\n');
            self.buf.resize(self.buf.len() + self.indent - 2, b' ');
        }
        self.buf.push(b'}');
    }
}

fn bool_str(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// A finding as a list item (its fields at six spaces).
fn write_finding(buf: &mut Vec<u8>, f: &JsonFinding<'_>) {
    let mut o = Fields::open(buf, 6);
    o.str("rule", f.rule);
    o.str("severity", f.severity.as_str());
    o.str("path", f.path);
    o.number("line", f.line);
    o.number("column", f.column);
    o.number("end_line", f.end_line);
    o.number("end_column", f.end_column);
    o.str("app", f.app);
    o.str("migration", f.migration);
    o.str("message", f.message);
    match f.help {
        Some(help) => o.str("help", help),
        None => o.raw("help", "null"),
    }
    o.str("phase", f.phase.as_str());
    o.close();
}

/// A migration as a list item, with its phase and the operations that decide it.
fn write_migration(buf: &mut Vec<u8>, m: &JsonMigration<'_>) {
    let mut o = Fields::open(buf, 6);
    o.str("app", m.app);
    o.str("name", m.name);
    o.str("path", m.path);
    o.raw("reviewed", bool_str(m.reviewed));
    let Some(phase) = m.phase else {
        o.raw("phase", "null");
        return o.close();
    };
    let mut p = Fields::open(o.key("phase"), 8);
    p.str("phase", phase.phase.as_str());
    p.str("inferred", phase.inferred.as_str());
    match phase.marker {
        Some(marker) => p.str("marker", marker.as_str()),
        None => p.raw("marker", "null"),
    }
    p.raw("mixed", bool_str(phase.mixed));
    let list = p.key("operations");
    if phase.operations.is_empty() {
        list.extend_from_slice(b"[]");
    } else {
        list.push(b'[');
        for (i, op) in phase.operations.iter().enumerate() {
            list.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
            list.resize(list.len() + 10, b' ');
            let mut item = Fields::open(list, 12);
            item.str("phase", op.phase.as_str());
            item.str("reason", &op.reason);
            item.close();
        }
        list.push(b'\n');
        list.resize(list.len() + 8, b' ');
        list.push(b']');
    }
    p.close();
    o.close();
}

/// `value` as a JSON string, escaped as serde_json escapes it: `"`, `\\` and the control
/// characters (`\n`, `\t`, ... or `\u00XX`); everything else as it is. Eight bytes are
/// checked at a time, and the first that needs escaping is found in the word: help texts
/// run to kilobytes, a line break every few dozen bytes.
fn write_json_str(buf: &mut Vec<u8>, value: &str) {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `x` that is zero. Borrows only run towards the higher
    // bytes, so the lowest byte marked is always a zero one (a higher one may not be).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // The bytes that need escaping (a control character, a quote or a backslash); as
    // above, the lowest byte marked is always one of them.
    let escaped = |x: u64| {
        (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
    };
    let bytes = value.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let marked = escaped(u64::from_le_bytes(word));
            if marked == 0 {
                at += 8;
                continue;
            }
            // Little-endian: the first byte in memory is the lowest.
            at += (marked.trailing_zeros() / 8) as usize;
        }
        let byte = bytes[at];
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => {
                at += 1;
                continue;
            }
        };
        buf.extend_from_slice(&bytes[start..at]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(byte >> 4)]);
            buf.push(HEX[usize::from(byte & 0xf)]);
        } else {
            buf.extend_from_slice(escape);
        }
        at += 1;
        start = at;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

const MIGRATIONS_SLOT: &str = "\"migrations\": []";
const FINDINGS_SLOT: &str = "\"findings\": []";

/// A list that is the value of a top-level key, as serde_json's pretty printer lays it
/// out: `[]`, or each item on its own lines, indented by four spaces (`write` writes an
/// item's opening brace, its lines already indented).
fn write_list<T: Sync, S: Default>(
    out: &mut impl std::io::Write,
    items: &[T],
    write: impl Fn(&T, &mut S, &mut Vec<u8>) + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    if items.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[\n")?;
    let mut first = true;
    // Chunks of a few hundred items: enough work per task. Their buffers serve batch
    // after batch: the output (tens of MB on a large tree) is never held, nor is fresh
    // memory touched for each batch.
    const CHUNK: usize = 128;
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); 16];
    for batch in items.chunks(16 * CHUNK) {
        buffers
            .par_iter_mut()
            .zip(batch.par_chunks(CHUNK))
            .for_each(|(buf, chunk)| {
                buf.clear();
                let mut state = S::default();
                for (i, value) in chunk.iter().enumerate() {
                    buf.extend_from_slice(if i > 0 { b",\n    " } else { b"    " });
                    write(value, &mut state, buf);
                }
            });
        for buf in buffers.iter().take(batch.len().div_ceil(CHUNK)) {
            if !std::mem::take(&mut first) {
                out.write_all(b",\n")?;
            }
            out.write_all(buf)?;
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
    fn strings_are_escaped_as_serde_escapes_them() {
        // Every ASCII byte, alone and at each place of an eight-byte word (the fast path
        // checks eight at a time), next to multi-byte characters.
        let mut cases: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
        for b in 0u8..128 {
            for at in 0..17 {
                let mut s: String = "é→x".repeat(3).chars().take(at).collect();
                s.push(char::from(b));
                s.push_str("tail of some length");
                cases.push(s);
            }
        }
        cases.push(String::new());
        cases.push("\"quoted\"\n\tand \\ backslashed\u{7f}\u{1b}[0m 😀".repeat(5));
        for case in &cases {
            let mut ours = Vec::new();
            write_json_str(&mut ours, case);
            let serde = serde_json::to_string(case).expect("a string serialises");
            assert_eq!(String::from_utf8_lossy(&ours), serde, "{case:?}");
        }
    }

    #[test]
    fn findings_and_phases_with_every_shape_are_written_as_serde_renders_them() {
        // A marker, mixed phases, an empty and a full operations list, help and none,
        // messages with quotes and newlines, a migration not reviewed.
        let files = vec![
            migration(
                "0001_initial",
                "",
                "migrations.CreateModel('Book', [('id', models.AutoField(primary_key=True)), ('title', models.TextField())])",
            ),
            migration(
                "0002_mixed",
                "0001_initial",
                "migrations.AddField('book', 'isbn', models.CharField(max_length=13, null=True)),\n\
                 migrations.RemoveField('book', 'title'),\n\
                 migrations.RunSQL(\"UPDATE shop_book SET isbn = '\\\\t\\\"x'\"),",
            ),
            {
                let (path, text) = migration(
                    "0003_after",
                    "0002_mixed",
                    "migrations.RemoveField('book', 'isbn'),",
                );
                (path, text + "\n    safe = Safe.after_deploy()\n")
            },
            {
                // A dependency outside the tree: a note without help.
                let (path, text) = migration("0004_noop", "0003_after", "");
                let text = text.replace(
                    "(\"shop\", \"0003_after\")",
                    "(\"shop\", \"0003_after\"), (\"auth\", \"__first__\")",
                );
                (path, text)
            },
        ];
        let project = project(&files);
        let review = Review::files([std::path::Path::new("shop/migrations/0003_after.py")]);
        let all = lint(&project, &Review::All, &LintOptions::default());
        let phases: Vec<&MigrationPhase> = all
            .migrations
            .iter()
            .filter_map(|m| m.phase.as_deref())
            .collect();
        assert!(phases.iter().any(|p| p.marker.is_some()), "{phases:?}");
        assert!(phases.iter().any(|p| p.mixed), "{phases:?}");
        assert!(phases.iter().any(|p| p.operations.is_empty()), "{phases:?}");
        assert!(all.findings.iter().any(|f| f.help.is_some()));
        assert!(all.findings.iter().any(|f| f.help.is_none()));
        assert!(all.findings.iter().any(|f| f.message.contains('"')));
        let one = lint(&project, &review, &LintOptions::default());
        assert!(one.migrations.iter().any(|m| m.phase.is_none()));
        for report in [all, one] {
            assert_eq!(written(&report), render(&report, false) + "\n");
        }
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
