//! Renderers of a lint report, one per output format, and of the PR report (Markdown,
//! GitHub annotations) made from the lint, plan and run documents.

pub mod documents;
pub mod github;
pub mod json;
pub mod markdown;
pub mod plan;
pub mod review;
pub mod sarif;
pub mod schema;
pub mod sql;
pub mod text;

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics with source excerpts, like rustc and ruff.
    Text,
    /// The versioned JSON document (see README, "JSON output").
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands: annotations on the diff (and the step summary
    /// when `$GITHUB_STEP_SUMMARY` is set).
    Github,
}
