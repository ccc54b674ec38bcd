//! SARIF 2.1.0 (`--format sarif`), for GitHub code scanning and other SARIF viewers.
//!
//! One run; the driver lists every rule (id, short and full description, help text and
//! a help URI to its page in the published manual, default level); each finding is a result with its
//! region. Columns are counted in Unicode code points (`columnKind`), as migrail counts
//! them. The output is validated against Microsoft's SARIF 2.1.0 JSON schema in
//! `tests/sarif.rs`.

use serde_json::{json, Value};

use crate::lint::registry;
use crate::lint::rule::Severity;
use crate::lint::LintReport;

/// Where each rule's documentation lives: its page in the published manual.
pub fn help_uri(rule: &str) -> String {
    crate::docs::rule_url(rule)
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative path as a URI reference: `/` separators, reserved characters escaped.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn render(report: &LintReport) -> String {
    let rules = registry::all();
    let descriptors: Vec<Value> = rules
        .iter()
        .map(|r| {
            let m = r.meta();
            json!({
                "id": m.name,
                "name": m.name,
                "shortDescription": { "text": m.summary },
                "fullDescription": { "text": m.summary },
                "help": { "text": m.doc.trim(), "markdown": m.doc.trim() },
                "helpUri": help_uri(m.name),
                "defaultConfiguration": { "level": level(m.severity) },
                "properties": { "tags": [m.axis.as_str()] },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| r.meta().name == f.rule);
            let mut text = f.message.clone();
            if let Some(help) = &f.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.path_display()) },
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        }
                    },
                    "logicalLocations": [{
                        "name": f.migration,
                        "fullyQualifiedName": format!("{}.{}", f.app, f.migration),
                        "kind": "module",
                    }]
                }],
                "properties": { "phase": f.phase.as_str() },
            });
            if let (Some(i), Some(obj)) = (index, result.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "migrail",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": descriptors,
                }
            },
            "columnKind": "unicodeCodePoints",
            "properties": { "database": &report.database },
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_escaped() {
        assert_eq!(uri("a b/0001_x#.py"), "a%20b/0001_x%23.py");
        assert_eq!(uri("shop\\migrations\\0001.py"), "shop/migrations/0001.py");
    }
}
