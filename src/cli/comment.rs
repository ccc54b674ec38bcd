//! `migrail comment` (the sticky PR comment from a lint and/or a run) and `migrail ci`
//! (the one pipeline step: lint the change, run on a deploy if the lint passes, comment).

use std::io::Write;
use std::process::Command as Process;

use crate::ci::{Context, Provider};
use crate::lint;
use crate::report::documents::{self, LintDoc, RunDoc};
use crate::report::{github, markdown};

use super::report::{self as pr_report, Destination, PrReport};
use super::{
    lint as cli_lint, run as cli_run, CiArgs, CliError, CommentArgs, CommentTarget, ScopeArgs,
};
use super::{EXIT_FINDINGS, EXIT_OK};

fn destination(t: &CommentTarget) -> Destination {
    Destination {
        repository: t.repo.clone(),
        pr: t.pr,
    }
}

/// Post the body (or print it with `--dry-run`); in Actions also the step summary.
fn publish(
    ctx: &Context,
    target: &CommentTarget,
    comment: &str,
    summary: &str,
) -> Result<Option<String>, CliError> {
    pr_report::step_summary(ctx, summary)?;
    if target.dry_run {
        super::write_stdout(comment)?;
        return Ok(None);
    }
    pr_report::post(ctx, &destination(target), &target.key, comment)
}

pub fn run_comment(args: &CommentArgs) -> Result<u8, CliError> {
    let ctx = pr_report::context()?;
    let run: Option<RunDoc> = args
        .run_result
        .as_deref()
        .map(|p| documents::read("--run-result", p))
        .transpose()
        .map_err(CliError::usage)?;
    let lint_file: Option<LintDoc> = args
        .report
        .as_deref()
        .map(|p| documents::read("--report", p))
        .transpose()
        .map_err(CliError::usage)?;
    let pr = if args.no_lint || lint_file.is_some() {
        None
    } else {
        let r = cli_lint::resolve(&args.scope, &args.config, &[], &[], false)?;
        let report = lint::lint(&r.project, &r.review, &r.options);
        Some(PrReport::new(&r, &report)?)
    };
    let key = &args.target.key;
    let body = |budget| {
        pr_report::render(
            &ctx,
            key,
            pr.as_ref(),
            lint_file.as_ref(),
            run.as_ref(),
            budget,
        )
    };
    publish(
        &ctx,
        &args.target,
        &body(markdown::COMMENT_BUDGET),
        &body(markdown::SUMMARY_BUDGET),
    )?;
    Ok(EXIT_OK)
}

/// What `ci` reviews: the pull request's changes since its base branch, or on a push
/// what the push changed.
fn ci_scope(ctx: &Context) -> Result<ScopeArgs, CliError> {
    let base = if let Some(base_ref) = &ctx.base_ref {
        let remote = format!("origin/{base_ref}");
        if !git_has(&remote) {
            return Err(CliError::usage(format!(
                "the base branch `{remote}` is not in this checkout: fetch it (actions/checkout \
                 with `fetch-depth: 0`, or `git fetch origin {base_ref}`)"
            )));
        }
        remote
    } else if let Some(before) = ctx.before.as_deref().filter(|b| git_has(b)) {
        before.to_string()
    } else if git_has("HEAD~1") {
        eprintln!("migrail: warning: no base branch or previous commit in the CI context: reviewing the last commit (HEAD~1..HEAD)");
        "HEAD~1".to_string()
    } else {
        return Err(CliError::usage(
            "cannot tell what changed: no base branch, no previous commit (shallow clone?); \
             fetch more history (`fetch-depth: 0`)",
        ));
    };
    Ok(ScopeArgs {
        paths: Vec::new(),
        all: false,
        base: Some(base),
        root: None,
    })
}

fn git_has(rev: &str) -> bool {
    Process::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn run_ci(args: &CiArgs) -> Result<u8, CliError> {
    let ctx = pr_report::context()?;
    let scope = ci_scope(&ctx)?;
    let r = cli_lint::resolve(&scope, &args.config, &[], &[], false)?;
    let report = lint::lint(&r.project, &r.review, &r.options);
    let pr = PrReport::new(&r, &report)?;
    let lint_failed = pr.lint.summary.failed || pr.plan.blocked && r.options.deploy_phases;
    // Findings as annotations (Actions) and on stderr.
    if ctx.provider == Provider::GitHubActions {
        super::write_stdout(&github::annotations(&pr.lint.findings))?;
    }
    eprintln!("{}", crate::report::text::summary(&report, 0));

    let mut exit = if lint_failed { EXIT_FINDINGS } else { EXIT_OK };
    let mut run_doc: Option<RunDoc> = None;
    if cli_run::wanted(&args.run) {
        let fork = ctx.from_fork || ctx.event.as_deref() == Some("pull_request_target");
        if fork {
            return Err(CliError::run(
                "refusing to run migrations for code from a fork (`pull_request` from a fork, \
                 or `pull_request_target`): run them on a push to your own branch",
            ));
        }
        if lint_failed && !args.allow_unsafe {
            eprintln!("migrail: not running the migrations: the lint failed (--allow-unsafe runs them anyway)");
        } else {
            let result = cli_run::execute(&args.run)?;
            cli_run::finish(&args.run, &result)?;
            exit = result.exit_code;
            let json = serde_json::to_value(&result).map_err(|e| CliError::run(e.to_string()))?;
            run_doc = Some(serde_json::from_value(json).map_err(|e| CliError::run(e.to_string()))?);
        }
    }

    let key = &args.target.key;
    let comment = pr.render(&ctx, key, run_doc.as_ref(), markdown::COMMENT_BUDGET);
    let summary = pr.render(&ctx, key, run_doc.as_ref(), markdown::SUMMARY_BUDGET);
    let url = match publish(&ctx, &args.target, &comment, &summary) {
        Ok(url) => url,
        // The verdict stands: a comment that cannot be posted is said, not fatal.
        Err(e) => {
            eprintln!("migrail: error: {}", e.message);
            None
        }
    };
    write_outputs(&pr, lint_failed, url.as_deref())?;
    Ok(exit)
}

/// `lint-verdict`, `errors`, `warnings`, `comment-url` for later steps (Actions).
fn write_outputs(pr: &PrReport, failed: bool, url: Option<&str>) -> Result<(), CliError> {
    let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = std::path::PathBuf::from(path);
    let s = &pr.lint.summary;
    let text = format!(
        "lint-verdict={}\nerrors={}\nwarnings={}\ncomment-url={}\n",
        if failed { "failed" } else { "passed" },
        s.errors,
        s.warnings,
        url.unwrap_or_default()
    );
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| CliError::usage(format!("$GITHUB_OUTPUT {}: {e}", path.display())))
}
