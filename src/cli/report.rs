//! The PR report shared by `lint --format github`, `comment` and `ci`: the lint, plan
//! and run documents, the schema diff, the Markdown body, the step summary, and posting
//! the sticky comment (with the degradations runner.md asks for: no token, no PR, 403).

use std::io::Write;
#[cfg(feature = "github")]
use std::path::Path;

use crate::ci::{Context, Provider};
#[cfg(feature = "github")]
use crate::github::{self, Posted};
use crate::lint::LintReport;
use crate::report::documents::{Executed, LintDoc, PlanDoc};
#[cfg(feature = "github")]
use crate::report::review::{self, SuggestionDoc};
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
    /// The SQL of the reviewed migrations, with their locks (the comment's section).
    pub sql: String,
    /// The fixes as review comments on the lines they change.
    #[cfg(feature = "github")]
    pub suggestions: Vec<SuggestionDoc>,
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
        // A migration the base already has was applied somewhere: its fix is a new
        // migration, never an edit (neither in "How to fix" nor as a suggestion).
        let shipped = r.options.applied.clone();
        let protect = |m: &crate::django::migration::MigrationFile| -> Option<String> {
            let base = shipped.as_ref()?;
            let path = m
                .source
                .path
                .canonicalize()
                .unwrap_or_else(|_| m.source.path.clone());
            base.shipped.contains(&path).then(|| {
                format!(
                    "applied: {} has it already; write a new migration instead",
                    base.base
                )
            })
        };
        let outcome = crate::fix::rounds::compute(&r.project, &r.review, &r.options, &protect);
        Ok(PrReport {
            lint: serde_json::from_value(lint).map_err(|e| CliError::usage(e.to_string()))?,
            plan: serde_json::from_value(plan).map_err(|e| CliError::usage(e.to_string()))?,
            diff: report::schema::diff(&r.project, &r.review),
            fix_diff: outcome.diff(),
            // The rendered SQL is PostgreSQL's: none on MySQL rather than the wrong one.
            sql: if r.project.settings.database.is_postgresql() {
                report::sql::markdown(&crate::django::schema_editor::render(&r.project, &|i| {
                    r.review.includes(&r.project.migrations[i])
                }))
            } else {
                String::new()
            },
            #[cfg(feature = "github")]
            suggestions: suggestions(r, report, &outcome),
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

/// The review comments for the fixes of `report`'s findings, paths relative to the
/// repository's root (where the pull request's diff names them).
#[cfg(feature = "github")]
fn suggestions(
    r: &Resolved,
    report: &LintReport,
    outcome: &crate::fix::rounds::Outcome,
) -> Vec<SuggestionDoc> {
    let root = super::scope::toplevel();
    let show = |path: &Path| -> String {
        let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        match root.as_deref().and_then(|t| absolute.strip_prefix(t).ok()) {
            Some(relative) => relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            None => crate::lint::display_path(path),
        }
    };
    let found = crate::fix::suggest::suggestions(&r.project, &r.review, &report.findings, outcome);
    let mut out = Vec::new();
    for s in found {
        let pick = |ids: &[usize]| -> Vec<&crate::lint::Finding> {
            ids.iter().filter_map(|&i| report.findings.get(i)).collect()
        };
        let (findings, part_of) = (pick(&s.findings), pick(&s.part_of));
        let path = show(&s.path);
        let id = review::id(&path, &findings, &part_of);
        let Some(body) = review::body(&s, &findings, &part_of, &show) else {
            continue;
        };
        out.push(SuggestionDoc {
            id,
            path,
            start_line: s.start_line,
            end_line: s.end_line,
            original: s.original,
            body,
        });
    }
    out
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
        sql: pr.map(|p| p.sql.as_str()),
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
    suggestions: Option<&[SuggestionDoc]>,
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
        let url = match client
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
                Some(url)
            }
            Err(e) => return failed(e),
        };
        if let Some(wanted) = suggestions {
            suggest(&client, pr, key, wanted, identity.as_deref()).await;
        }
        Ok(url)
    })
}

/// Keep the review suggestions of `key` on pull request `pr` in step with `wanted`: each
/// is posted only on lines the pull request's diff shows, holding what they hold here.
/// Failures are warnings: the sticky comment carries the fixes all the same.
#[cfg(feature = "github")]
async fn suggest(
    client: &github::Client,
    pr: u64,
    key: &str,
    wanted: &[SuggestionDoc],
    identity: Option<&str>,
) {
    let warn = |e: github::Error| {
        let why = match &e {
            github::Error::Forbidden(_) => {
                " (the token may not write review comments: fork pull requests get a read-only \
                 token; the workflow needs `permissions: pull-requests: write`)"
            }
            github::Error::Other(_) => "",
        };
        eprintln!(
            "migrail: warning: the fixes are not posted as suggestions: {e}{why}; they are in \
             the comment's \"How to fix\""
        );
    };
    let placed = async {
        let commit = client.head_sha(pr).await?;
        let files = client.pr_files(pr).await?;
        let redactor = crate::redact::current();
        let mut posted = Vec::new();
        let mut off_diff = 0usize;
        for s in wanted {
            let on_diff = files
                .iter()
                .filter(|f| f.path == s.path)
                .filter_map(|f| f.patch.as_deref())
                .flat_map(github::review::hunks)
                .any(|hunk| {
                    let original: Vec<&str> = s.original.lines().collect();
                    (s.start_line..=s.end_line)
                        .enumerate()
                        .all(|(i, n)| hunk.get(&n).map(String::as_str) == original.get(i).copied())
                });
            let body = format!("{}\n{}", github::review::marker(key, &s.id), s.body);
            // A suggestion is code: one the redactor would change is not posted at all.
            if !on_diff || redactor.redact(&body) != body {
                off_diff += 1;
                continue;
            }
            posted.push(github::review::Wanted {
                id: s.id.clone(),
                path: s.path.clone(),
                start_line: s.start_line,
                line: s.end_line,
                body,
            });
        }
        let synced = client
            .sync_review_comments(pr, &commit, key, &posted, identity)
            .await?;
        Ok::<_, github::Error>((synced, off_diff))
    };
    match placed.await {
        Ok((s, off_diff)) => {
            eprintln!(
                "migrail: suggestions: {} created, {} updated, {} deleted, {} unchanged{}",
                s.created,
                s.updated,
                s.deleted,
                s.unchanged,
                if off_diff > 0 {
                    format!(
                        "; {off_diff} not posted (their lines are not in the pull request's \
                         diff as they are here)"
                    )
                } else {
                    String::new()
                }
            );
        }
        Err(e) => warn(e),
    }
}
