//! A finding: a rule's diagnostic placed in its file, with resolved line and column.

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
}

impl Finding {
    pub fn path_display(&self) -> String {
        super::display_path(&self.source.path)
    }
}
