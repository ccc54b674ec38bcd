//! Renderers of a lint report, one per output format.

pub mod json;
pub mod text;

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics with source excerpts, like rustc and ruff.
    Text,
    /// The versioned JSON document (see README, "JSON output").
    Json,
}
