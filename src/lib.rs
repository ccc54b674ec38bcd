//! migrail: safe Django schema migrations on AWS ECS.
//!
//! - [`django`]: migration files, graph and model state, read statically.
//! - [`lint`]: the rules that judge each operation for a zero-downtime deploy.
//! - [`report`]: renderers for the lint results (text, JSON).
//! - [`run`]: `migrail run`, applying the migrations once: the outcome and exit codes,
//!   the local backend; [`ecs`]: the one-off ECS task backend.
//! - [`deploy`]: `migrail deploy`, pre → rollout → drain → post over [`ecs`] and [`run`].
//! - [`cli`]: the command line; [`docs`]: the manual's pages generated from the code.
//!
//! Cargo features: `lint` (always built), `ecs` (`run`, `deploy`: the AWS SDK), `github`
//! (`comment`, `ci`: octocrab); `--no-default-features --features lint` is the linter alone.

pub mod ci;
pub mod cli;
pub mod config;
#[cfg(feature = "ecs")]
pub mod deploy;
pub mod django;
pub mod docs;
#[cfg(feature = "ecs")]
pub mod ecs;
pub mod fix;
pub mod fuzzing;
#[cfg(feature = "github")]
pub mod github;
pub mod lint;
pub mod redact;
pub mod report;
pub mod run;
pub mod timings;
