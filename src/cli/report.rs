//! The PR report shared by `lint --format github`, `comment` and `ci`: the lint, plan
//! and run documents, the schema diff, the Markdown body, the step summary, and posting
//! the sticky comment (with the degradations runner.md asks for: no token, no PR, 403).

use std::io::Write;

use crate::ci::{Context, Provider};
#[cfg(feature = "github")]
use crate::github::{self, Posted};
use crate::lint::LintReport;
use crate::report::documents::{Executed, LintDoc, PlanDoc};
use crate::report::{self, markdown};

use super::resolve::Resolved;
use super::CliError;

pub fn context() -> Result<Context, CliError> {
    Context::detect().map_err(CliError::usage)
}

pub struct PrReport {
    pub lint: LintDoc,
    pub plan: PlanDoc,
    pub diff: String,
    /// `migrail fix --diff` for the reviewed migrations.
    pub fix_diff: String,
}

impl PrReport {
    pub fn new(r: &Resolved, report: &LintReport) -> Result<PrReport, CliError> {
        let plan = crate::lint::plan::plan(&r.project, report, r.options.deploy_phases);
        let parse = |what: &str, json: String| -> Result<serde_json::Value, CliError> {
            serde_json::from_str(&json).map_err(|e| CliError::usage(format!("{what}: {e}")))
        };
        let lint = parse(
            "lint report",
            report::json::render(report, r.warnings_as_errors),
        )?;
        let plan = parse("plan", report::plan::json(&plan))?;
        Ok(PrReport {
            lint: serde_json::from_value(lint).map_err(|e| CliError::usage(e.to_string()))?,
            plan: serde_json::from_value(plan).map_err(|e| CliError::usage(e.to_string()))?,
            diff: report::schema::diff(&r.project, &r.review),
            fix_diff: crate::fix::rounds::compute(&r.project, &r.review, &r.options, &|_| None)
                .diff(),
        })
    }

    pub fn render(
        &self,
        ctx: &Context,
        key: &str,
        run: Option<&Executed>,
        budget: usize,
    ) -> String {
        render(ctx, key, Some(self), None, run, budget)
    }
}

/// The Markdown body from whatever is known.
pub fn render(
    ctx: &Context,
    key: &str,
    pr: Option<&PrReport>,
    lint_file: Option<&LintDoc>,
    run: Option<&Executed>,
    budget: usize,
) -> String {
    let link = |path: &str, line: usize| ctx.file_url(path, line);
    let inputs = markdown::Inputs {
        key,
        lint: pr.map(|p| &p.lint).or(lint_file),
        plan: pr.map(|p| &p.plan),
        run,
        schema_diff: pr.map(|p| p.diff.as_str()),
        fix_diff: pr.map(|p| p.fix_diff.as_str()),
        link: &link,
        full_report: ctx.run_url.as_deref(),
    };
    markdown::render(&inputs, budget)
}

/// Append the report to `$GITHUB_STEP_SUMMARY` when it is set.
pub fn step_summary(ctx: &Context, body: &str) -> Result<(), CliError> {
    if ctx.provider != Provider::GitHubActions {
        return Ok(());
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = std::path::PathBuf::from(path);
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(body.as_bytes())
                .and_then(|_| f.write_all(b"\n"))
        })
        .map_err(|e| CliError::usage(format!("$GITHUB_STEP_SUMMARY {}: {e}", path.display())))
}

/// Where the comment goes, from flags over the context.
#[cfg(feature = "github")]
pub struct Destination {
    pub repository: Option<String>,
    pub pr: Option<u64>,
}

/// Post (or update) the sticky comment. Returns the URL when posted; warnings (no token,
/// no PR, 403) are printed and are not errors.
#[cfg(feature = "github")]
pub fn post(
    ctx: &Context,
    dest: &Destination,
    key: &str,
    body: &str,
) -> Result<Option<String>, CliError> {
    let repository = dest.repository.clone().or_else(|| ctx.repository.clone());
    let (Some(repository), Some(token)) = (repository, ctx.token.as_ref()) else {
        if ctx.provider == Provider::Local {
            super::write_stdout(body)?;
        } else {
            eprintln!(
                "migrail: warning: no GITHUB_TOKEN (or no repository): the report is not posted \
                 on the pull request{}",
                if ctx.provider == Provider::GitHubActions {
                    "; it is in the step summary"
                } else {
                    ""
                }
            );
        }
        return Ok(None);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))?;
    let failed = |e: github::Error| -> Result<Option<String>, CliError> {
        match e {
            github::Error::Forbidden(message) => {
                eprintln!(
                    "migrail: warning: {message}. The token may not comment here: pull requests \
                     from forks get a read-only GITHUB_TOKEN, and the workflow needs \
                     `permissions: pull-requests: write`. The report is in the step summary and \
                     the annotations"
                );
                Ok(None)
            }
            github::Error::Other(message) => Err(CliError {
                message: format!("could not post the comment: {message}"),
                code: super::EXIT_COMMENT_FAILED,
            }),
        }
    };
    rt.block_on(async {
        let client = match github::Client::new(&ctx.api_url, &repository, token) {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let pr =
            match dest.pr.or(ctx.pr) {
                Some(pr) => pr,
                None => {
                    let found = match ctx.sha.as_deref() {
                        Some(sha) => match client.pr_for_commit(sha).await {
                            Ok(found) => found,
                            Err(e) => return failed(e),
                        },
                        None => None,
                    };
                    match found {
                        Some(pr) => pr,
                        None => {
                            eprintln!(
                            "migrail: no pull request for this build{}: the report is only in the \
                             step summary",
                            ctx.sha.as_deref().map(|s| format!(" (commit {s})")).unwrap_or_default()
                        );
                            return Ok(None);
                        }
                    }
                }
            };
        let identity = client
            .identity(ctx.provider == Provider::GitHubActions)
            .await;
        match client
            .upsert(pr, &markdown::marker(key), body, identity.as_deref())
            .await
        {
            Ok(posted) => {
                let (what, url) = match posted {
                    Posted::Created { url, .. } => ("created", url),
                    Posted::Updated { url, .. } => ("updated", url),
                    Posted::Unchanged { url, .. } => ("unchanged", url),
                };
                eprintln!("migrail: comment {what}: {url}");
                Ok(Some(url))
            }
            Err(e) => failed(e),
        }
    })
}
