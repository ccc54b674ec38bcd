//! Renderers of a lint report, one per output format.

pub mod json;
pub mod plan;
pub mod sarif;
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
}
