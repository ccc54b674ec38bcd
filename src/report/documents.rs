//! The documents the PR report is made from, read back from their JSON form: the lint
//! report (`migrail lint --format json`, version 1), the deploy plan (`migrail plan
//! --format json`) and the run result (`migrail run --json-out`, version 1). Reading the
//! JSON (rather than the in-memory types) lets `migrail comment` take files produced by
//! earlier steps of a pipeline, and keeps one rendering path.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct LintDoc {
    pub findings: Vec<FindingDoc>,
    pub summary: SummaryDoc,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FindingDoc {
    pub rule: String,
    pub severity: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
    #[serde(default)]
    pub end_line: usize,
    #[serde(default)]
    pub end_column: usize,
    pub message: String,
    pub help: Option<String>,
    pub phase: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SummaryDoc {
    pub errors: usize,
    pub warnings: usize,
    #[serde(default)]
    pub notes: usize,
    pub reviewed: usize,
    #[serde(default)]
    pub loaded: usize,
    pub failed: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PlanDoc {
    pub blocked: bool,
    pub steps: Vec<StepDoc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct StepDoc {
    pub app: String,
    pub name: String,
    pub path: String,
    pub stage: String,
    #[serde(default)]
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RunDoc {
    pub backend: String,
    pub outcome: String,
    pub exit_code: u8,
    pub command_exit_code: Option<i32>,
    pub reason: Option<String>,
    pub duration_seconds: f64,
    #[serde(default)]
    pub applied: Vec<String>,
    #[serde(default)]
    pub log_tail: Vec<String>,
    /// Retries after a lock timeout (the lock guard's).
    #[serde(default)]
    pub lock_retries: Vec<LockRetryDoc>,
    /// The preflight's checks.
    #[serde(default)]
    pub preflight: Vec<crate::run::preflight::Check>,
    pub task_arn: Option<String>,
    pub task_id: Option<String>,
    pub stop_code: Option<String>,
    pub container_reason: Option<String>,
    pub log_url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LockRetryDoc {
    pub migration: String,
    pub table: Option<String>,
    pub wait_seconds: f64,
}

/// What ran: one migration run (`migrail run --json-out`), or a whole deploy (`migrail
/// deploy --json-out`, `"kind": "deploy"`).
// One value per report: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Executed {
    Run(RunDoc),
    Deploy(DeployDoc),
}

impl Executed {
    /// Read either document from its JSON value.
    /// The document, every secret the redactor finds replaced by `***` (a run's output,
    /// AWS's reasons): what the PR comment and the step summary show of it.
    pub fn from_value(mut value: serde_json::Value) -> Result<Executed, String> {
        crate::redact::current().redact_json(&mut value);
        if value["kind"] == "deploy" {
            serde_json::from_value(value)
                .map(Executed::Deploy)
                .map_err(|e| e.to_string())
        } else {
            serde_json::from_value(value)
                .map(Executed::Run)
                .map_err(|e| e.to_string())
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct DeployDoc {
    pub outcome: String,
    pub exit_code: u8,
    pub step: String,
    pub reason: Option<String>,
    pub task_definition: String,
    pub duration_seconds: f64,
    #[serde(default)]
    pub steps: Vec<DeployStepDoc>,
    pub pre: Option<RunDoc>,
    pub post: Option<RunDoc>,
    #[serde(default)]
    pub services: Vec<ServiceDoc>,
    pub resume: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DeployStepDoc {
    pub name: String,
    pub outcome: String,
    pub duration_seconds: f64,
    #[serde(default)]
    pub detail: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServiceDoc {
    pub service: String,
    pub task_definition: String,
    pub deployment_id: Option<String>,
    pub rollout: String,
    pub reason: Option<String>,
}

/// Read a document from a file, naming the file and the flag in errors.
pub fn read<T: for<'de> Deserialize<'de>>(flag: &str, path: &std::path::Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{flag} {}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{flag} {}: not the JSON document migrail writes ({e})",
            path.display()
        )
    })
}
