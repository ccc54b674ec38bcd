//! A finding: a rule's diagnostic placed in its file, with resolved line and column.

use std::path::PathBuf;
use std::sync::Arc;

use crate::django::migration::SourceFile;

use super::phase::Phase;
use super::rule::Severity;

#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub source: Arc<SourceFile>,
    pub app: String,
    pub migration: String,
    pub message: String,
    pub help: Option<String>,
    /// One-based, columns in characters.
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte range to underline in the source.
    pub focus: std::ops::Range<usize>,
    /// The deploy phase of the operation (or SQL statement) the finding is on; the
    /// migration's for findings about the whole migration.
    pub phase: Phase,
    /// The operation's byte range and what `migrail fix` writes instead of it (boxed: a
    /// finding is moved several times on its way to the report, and a fix is large).
    pub fix: Option<Box<(std::ops::Range<usize>, crate::fix::Fix)>>,
}

impl Finding {
    pub fn path_display(&self) -> String {
        super::display_path(&self.source.path)
    }
}

/// Shows the paths of many findings as [`Finding::path_display`] does, reading the
/// working directory once and reusing the last path (findings come sorted by file).
#[derive(Default)]
pub struct PathShower {
    cwd: Option<Option<PathBuf>>,
    last: Option<(Arc<SourceFile>, String)>,
}

impl PathShower {
    pub fn show(&mut self, f: &Finding) -> &str {
        let same = matches!(&self.last, Some((source, _)) if Arc::ptr_eq(source, &f.source));
        if !same {
            let cwd = self
                .cwd
                .get_or_insert_with(|| std::env::current_dir().ok())
                .as_deref();
            let shown = super::display_path_from(&f.source.path, cwd);
            self.last = Some((f.source.clone(), shown));
        }
        self.last.as_ref().map_or("", |(_, shown)| shown.as_str())
    }
}
