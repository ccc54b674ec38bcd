//! `migrail comment` (the sticky PR comment from a lint and/or a run) and `migrail ci`
//! (the one pipeline step: lint the change, run on a deploy if the lint passes, comment).

use std::io::Write;

use crate::ci::{Context, Provider};
use crate::lint;
use crate::report::documents::{self, Executed, LintDoc};
use crate::report::review::SuggestionDoc;
use crate::report::{github, markdown};

use super::report::{self as pr_report, Destination, PrReport};
use super::{
    deploy as cli_deploy, resolve as cli_resolve, run as cli_run, Backend, CiArgs, CliError,
    CommentArgs, CommentTarget, RunPhaseArg,
};
use super::{EXIT_FINDINGS, EXIT_OK};

fn destination(t: &CommentTarget) -> Destination {
    Destination {
        repository: t.repo.clone(),
        pr: t.pr,
    }
}

/// Post the body (or print it with `--dry-run`); in Actions also the step summary. Both
/// go through the redactor last (the run's output in them already did): a comment is
/// readable by anyone who can read the pull request, and its edits keep history.
///
/// The fixes go as review suggestions too, unless `--no-suggestions` or the config's
/// `suggestions = false` says not to; `--dry-run` prints them on stderr.
fn publish(
    ctx: &Context,
    target: &CommentTarget,
    comment: &str,
    summary: &str,
    suggestions: Option<&[SuggestionDoc]>,
) -> Result<Option<String>, CliError> {
    let redactor = crate::redact::current();
    let comment = redactor.redact(comment);
    pr_report::step_summary(ctx, &redactor.redact(summary))?;
    let suggestions = suggestions.filter(|_| !target.no_suggestions);
    if target.dry_run {
        super::write_stdout(&comment)?;
        // The body alone on stdout; the suggestions it would post, on stderr.
        for s in suggestions.into_iter().flatten() {
            eprintln!(
                "migrail: --dry-run: a review suggestion on {} lines {}-{}:\n{}",
                s.path,
                s.start_line,
                s.end_line,
                redactor.redact(&s.body)
            );
        }
        return Ok(None);
    }
    pr_report::post(
        ctx,
        &destination(target),
        &target.key,
        &comment,
        suggestions,
    )
}

/// Whether the configuration leaves the suggestions on.
fn suggestions_on(config: &super::ConfigArgs) -> Result<bool, CliError> {
    Ok(cli_resolve::configuration(config)?.is_none_or(|c| c.values.suggestions != Some(false)))
}

pub fn run_comment(args: &CommentArgs) -> Result<u8, CliError> {
    let ctx = pr_report::context()?;
    let run: Option<Executed> = args
        .run_result
        .as_deref()
        .map(|p| {
            documents::read::<serde_json::Value>("--run-result", p).and_then(|v| {
                Executed::from_value(v).map_err(|e| {
                    format!(
                        "--run-result {}: not a result document of `migrail run` or `migrail \
                         deploy` ({e})",
                        p.display()
                    )
                })
            })
        })
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
        let r = cli_resolve::resolve(&args.scope, &args.config, &[], &[], false)?;
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
    let suggestions = match &pr {
        Some(p) if suggestions_on(&args.config)? => Some(p.suggestions.as_slice()),
        _ => None,
    };
    publish(
        &ctx,
        &args.target,
        &body(markdown::COMMENT_BUDGET),
        &body(markdown::SUMMARY_BUDGET),
        suggestions,
    )?;
    Ok(EXIT_OK)
}

pub fn run_ci(args: &CiArgs) -> Result<u8, CliError> {
    let ctx = pr_report::context()?;
    let scope = super::scope::change_scope(&ctx, Vec::new())?;
    let r = cli_resolve::resolve(&scope, &args.config, &[], &[], false)?;
    let report = lint::lint(&r.project, &r.review, &r.options);
    let pr = PrReport::new(&r, &report)?;
    let lint_failed = pr.lint.summary.failed || pr.plan.blocked && r.options.deploy_phases;
    // Findings as annotations (Actions) and on stderr.
    if ctx.provider == Provider::GitHubActions {
        super::write_stdout(&github::annotations(&pr.lint.findings))?;
    }
    eprintln!("{}", crate::report::text::summary(&report, 0));

    let mut exit = if lint_failed { EXIT_FINDINGS } else { EXIT_OK };
    let mut run_doc: Option<Executed> = None;
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
        } else if deploys(args, r.options.deploy_phases) {
            // Deploy phases with services: the whole deploy, not a bare run.
            let summary = cli_deploy::plan_summary(&r, &report);
            let run = &args.run;
            let spec = cli_deploy::spec(
                &cli_deploy::Inputs {
                    ecs: &run.ecs,
                    timeout: run.timeout,
                    env: &run.env,
                    project: &run.project,
                    command: &run.command,
                    allow_unsafe: args.allow_unsafe,
                    guard: run
                        .locks
                        .guard(cli_resolve::configuration(&args.config)?.as_ref())?,
                    images: Vec::new(),
                    pause_hook: cli_resolve::configuration(&args.config)?
                        .is_some_and(|c| c.values.pause_hook == Some(true)),
                    codedeploy: Default::default(),
                },
                summary,
            )
            .map_err(|e| {
                CliError::run(format!(
                    "{} (`ci` deploys in phases with --service: it runs `migrail deploy`; pass \
                     --phase pre to only apply the pre-deploy migrations)",
                    e.message
                ))
            })?;
            let result = cli_deploy::execute(&spec);
            cli_deploy::finish(run.json_out.as_deref(), &result)?;
            exit = result.exit_code;
            run_doc = Some(executed(&result)?);
        } else {
            let config = cli_resolve::configuration(&args.config)?;
            let result = cli_run::execute(&args.run, config.as_ref())?;
            cli_run::finish(&args.run, &result)?;
            exit = result.exit_code;
            run_doc = Some(executed(&result)?);
        }
    }

    let key = &args.target.key;
    let comment = pr.render(&ctx, key, run_doc.as_ref(), markdown::COMMENT_BUDGET);
    let summary = pr.render(&ctx, key, run_doc.as_ref(), markdown::SUMMARY_BUDGET);
    let suggestions = suggestions_on(&args.config)?.then_some(pr.suggestions.as_slice());
    let url = match publish(&ctx, &args.target, &comment, &summary, suggestions) {
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

/// Whether `ci` on a deploy runs `migrail deploy`: the project deploys in phases, the
/// migrations run on ECS, services are named, and no `--phase` was asked for.
fn deploys(args: &CiArgs, deploy_phases: bool) -> bool {
    let run = &args.run;
    deploy_phases
        && !run.ecs.services.is_empty()
        && run.phase == RunPhaseArg::All
        && run.backend != Some(Backend::Local)
}

/// A result as the report reads it back.
fn executed(result: &impl serde::Serialize) -> Result<Executed, CliError> {
    let json = serde_json::to_value(result).map_err(|e| CliError::run(e.to_string()))?;
    Executed::from_value(json).map_err(CliError::run)
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
