//! The linter: runs every selected rule over the reviewed migrations while the project's
//! state is replayed, and collects [`Finding`]s.
//!
//! The whole tree is always loaded and replayed (state needs the history); only the
//! migrations under review are reported. See `../shared/rules.md` for the catalog.

pub mod finding;
pub mod registry;
pub mod rule;
pub mod rules;
pub mod suppression;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ruff_text_size::TextRange;

use crate::django::migration::MigrationFile;
use crate::django::Project;
pub use finding::Finding;
use rule::{Diagnostic, MigrationContext, OpContext, Rule, Severity};

/// Which migrations are reported.
#[derive(Clone, Debug)]
pub enum Review {
    All,
    /// Canonicalized paths of the files under review.
    Files(BTreeSet<PathBuf>),
}

impl Review {
    pub fn files<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Review {
        Review::Files(paths.into_iter().map(canonical).collect())
    }

    pub fn includes(&self, m: &MigrationFile) -> bool {
        match self {
            Review::All => true,
            Review::Files(files) => files.contains(&canonical(&m.source.path)),
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only these rules (empty: all).
    pub select: Vec<String>,
    pub ignore: Vec<String>,
}

impl Selection {
    /// Check that every named rule exists.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.select.iter().chain(&self.ignore) {
            if registry::find(name).is_none() {
                return Err(format!(
                    "{}; `migrail rules` lists them",
                    registry::unknown_rule_message(name)
                ));
            }
        }
        Ok(())
    }

    fn enabled(&self, name: &str) -> bool {
        (self.select.is_empty() || self.select.iter().any(|s| s == name))
            && !self.ignore.iter().any(|s| s == name)
    }
}

/// One migration of the loaded tree, for the report.
#[derive(Clone, Debug)]
pub struct MigrationSummary {
    pub app: String,
    pub name: String,
    pub path: String,
    pub reviewed: bool,
}

#[derive(Debug)]
pub struct LintReport {
    pub migrations: Vec<MigrationSummary>,
    pub findings: Vec<Finding>,
}

impl LintReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// True when the check fails: an error, or a warning with `warnings_as_errors`.
    pub fn failed(&self, warnings_as_errors: bool) -> bool {
        self.findings.iter().any(|f| {
            f.severity == Severity::Error || (warnings_as_errors && f.severity == Severity::Warning)
        })
    }

    pub fn reviewed(&self) -> usize {
        self.migrations.iter().filter(|m| m.reviewed).count()
    }
}

/// A path as the user would type it: relative to the working directory when below it.
pub fn display_path(path: &Path) -> String {
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let s = shown.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Lint `project`, reporting the migrations `review` selects.
pub fn lint(project: &Project, review: &Review, selection: &Selection) -> LintReport {
    let rules: Vec<&'static dyn Rule> = registry::all()
        .iter()
        .copied()
        .filter(|r| selection.enabled(r.meta().name))
        .collect();
    let mut findings = Vec::new();
    let mut migrations: Vec<MigrationSummary> = project
        .migrations
        .iter()
        .map(|m| MigrationSummary {
            app: m.app.clone(),
            name: m.name.clone(),
            path: display_path(&m.source.path),
            reviewed: review.includes(m),
        })
        .collect();
    migrations.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));

    for m in project.migrations.iter().filter(|m| review.includes(m)) {
        let ctx = MigrationContext {
            migration: m,
            graph: &project.graph,
            duplicate_labels: &project.duplicate_labels,
        };
        for rule in &rules {
            let mut out = Vec::new();
            rule.check_migration(&ctx, &mut out);
            findings.extend(out.into_iter().map(|d| place(rule.meta(), m, d)));
        }
    }

    let settings = &project.settings;
    project.replay(|visit| {
        if !review.includes(visit.migration) {
            return;
        }
        let ctx = OpContext { visit, settings };
        for rule in &rules {
            let mut out = Vec::new();
            rule.check_operation(&ctx, &mut out);
            findings.extend(
                out.into_iter()
                    .map(|d| place(rule.meta(), visit.migration, d)),
            );
        }
    });

    // Inline suppressions of the reviewed files; what they leave unused is reported.
    let report_unused = selection.enabled(suppression::UNUSED);
    for m in project.migrations.iter().filter(|m| review.includes(m)) {
        let unused = suppression::apply(m, &mut findings, report_unused, &|r| selection.enabled(r));
        if let Some(rule) = registry::find(suppression::UNUSED) {
            findings.extend(unused.into_iter().map(|d| place(rule.meta(), m, d)));
        }
    }

    findings.sort_by(|a, b| {
        (a.source.path.as_path(), a.line, a.column, a.rule).cmp(&(
            b.source.path.as_path(),
            b.line,
            b.column,
            b.rule,
        ))
    });
    LintReport {
        migrations,
        findings,
    }
}

fn place(meta: &'static rule::RuleMeta, m: &MigrationFile, d: Diagnostic) -> Finding {
    let source = m.source.clone();
    let clamp = |r: TextRange| {
        let len = source.text.len();
        let start = usize::from(r.start()).min(len);
        let end = usize::from(r.end()).clamp(start, len);
        (start, end)
    };
    let (start, end) = clamp(d.range);
    let (line, column) = source.line_col((start as u32).into());
    let (end_line, end_column) = source.line_col((end as u32).into());
    let (fs, fe) = clamp(d.focus);
    Finding {
        rule: meta.name,
        severity: d.severity.unwrap_or(meta.severity),
        source,
        app: m.app.clone(),
        migration: m.name.clone(),
        message: d.message,
        help: d.help,
        line,
        column,
        end_line,
        end_column,
        focus: fs..fe,
    }
}

#[cfg(test)]
pub mod testing;
