//! Human-readable diagnostics: `path:line:col`, the rule, the message, the source lines
//! with the operation underlined, and the help — rendered by annotate-snippets.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::lint::finding::PathShower;
use crate::lint::rule::Severity;
use crate::lint::{Finding, LintReport};
use rayon::prelude::*;

/// Render findings, one diagnostic each. `color`: ANSI styles (only on a terminal).
///
/// Findings are rendered in chunks on all cores (a big tree has tens of thousands), and
/// the chunks joined in order.
pub fn render_findings(findings: &[Finding], color: bool) -> String {
    const CHUNK: usize = 256;
    let chunks: Vec<String> = findings
        .par_chunks(CHUNK)
        .map(|chunk| render_chunk(chunk, color))
        .collect();
    chunks.concat()
}

fn render_chunk(findings: &[Finding], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut paths = PathShower::default();
    let mut out = String::new();
    for f in findings {
        let level = match f.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
            Severity::Info => Level::INFO,
        };
        let path = paths.show(f);
        let mut group = level.primary_title(f.message.as_str()).id(f.rule).element(
            Snippet::source(f.source.text.as_str())
                .path(path)
                .fold(true)
                .annotation(AnnotationKind::Primary.span(f.focus.clone())),
        );
        if let Some(help) = &f.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let report: &[Group<'_>] = &[group];
        out.push_str(&renderer.render(report));
        out.push_str("\n\n");
    }
    out
}

/// The one-line summary after the diagnostics.
pub fn summary(report: &LintReport, notes_hidden: usize) -> String {
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let reviewed = report.reviewed();
    let total = report.migrations.len();
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let mut line = if errors + warnings == 0 {
        format!(
            "All checks passed: {} reviewed of {} loaded ({}).",
            plural(reviewed, "migration"),
            total,
            report.database.describe()
        )
    } else {
        format!(
            "Found {} and {} in {} reviewed of {} loaded ({}).",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(reviewed, "migration"),
            total,
            report.database.describe()
        )
    };
    if notes_hidden > 0 {
        line.push_str(&format!(
            " {} hidden (--show-notes).",
            plural(notes_hidden, "note")
        ));
    }
    line
}
