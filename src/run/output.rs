//! Where a run's result goes besides the terminal: `--json-out FILE` (the versioned
//! result document) and, in GitHub Actions, `$GITHUB_OUTPUT` for later steps.

use std::io::Write;
use std::path::Path;

use super::RunResult;

/// `--json-out FILE`: a result document (a run's, or `migrail deploy`'s), pretty-printed,
/// every secret the redactor finds replaced by `***` (`crate::redact`).
pub fn write_json<T: serde::Serialize>(path: &Path, result: &T) -> Result<(), String> {
    let mut value = serde_json::to_value(result).map_err(|e| e.to_string())?;
    crate::redact::current().redact_json(&mut value);
    let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text)
        .map_err(|e| format!("--json-out {}: cannot write: {e}", path.display()))
}

/// Append `verdict`, `exit-code`, `command-exit-code`, `applied`, `task-arn` and `stop-code` to the
/// file GitHub Actions names in `$GITHUB_OUTPUT` (one `key=value` per line; values are
/// single-line by construction).
pub fn write_github_output(path: &Path, result: &RunResult) -> Result<(), String> {
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let lines = [
        ("verdict", result.outcome.as_str().replace(' ', "-")),
        ("exit-code", result.exit_code.to_string()),
        (
            "command-exit-code",
            result
                .command_exit_code
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ),
        ("applied", one_line(&result.applied.join(","))),
        ("task-arn", result.task_arn.clone().unwrap_or_default()),
        ("stop-code", result.stop_code.clone().unwrap_or_default()),
    ];
    append_outputs(path, &lines)
}

/// Append `key=value` lines to the `$GITHUB_OUTPUT` file (values on one line each).
pub fn append_outputs(path: &Path, lines: &[(impl AsRef<str>, String)]) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("$GITHUB_OUTPUT {}: cannot open: {e}", path.display()))?;
    for (key, value) in lines {
        writeln!(
            file,
            "{}={}",
            key.as_ref(),
            value.replace(['\r', '\n'], " ")
        )
        .map_err(|e| format!("$GITHUB_OUTPUT {}: cannot write: {e}", path.display()))?;
    }
    Ok(())
}
