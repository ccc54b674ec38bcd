//! `migrail lint` and `migrail plan`: load the project, apply the configuration, lint,
//! and render the report or the deploy plan.

use std::path::Path;

use crate::config::{self, Config};
use crate::django::Project;
use crate::lint::rule::Severity;
use crate::lint::{self, LintOptions, LintReport, Review};
use crate::report::{self, Format};

use super::scope::lint_scope;
use super::{
    write_stdout, write_stdout_with, CliError, ColorChoice, ConfigArgs, LintArgs, PlanArgs,
    ScopeArgs, TextOrJson, EXIT_FINDINGS, EXIT_OK,
};

/// Everything a lint run needs, with flags applied over the configuration file.
pub(super) struct Resolved {
    pub options: LintOptions,
    pub warnings_as_errors: bool,
    pub project: Project,
    pub review: Review,
}

pub(super) fn configuration(args: &ConfigArgs) -> Result<Option<Config>, CliError> {
    if args.no_config {
        return Ok(None);
    }
    let found = match &args.config {
        Some(path) => config::load(path).map(Some),
        None => config::discover(Path::new(".")),
    };
    found.map_err(|e| CliError::usage(e.to_string()))
}

pub(super) fn resolve(
    scope: &ScopeArgs,
    config_args: &ConfigArgs,
    select: &[String],
    ignore: &[String],
    warnings_as_errors: bool,
) -> Result<Resolved, CliError> {
    let config = configuration(config_args)?;
    let file = config
        .as_ref()
        .map(|c| c.values.clone())
        .unwrap_or_default();
    let pick = |flag: &[String], file: Option<Vec<String>>| {
        if flag.is_empty() {
            file.unwrap_or_default()
        } else {
            flag.to_vec()
        }
    };
    let options = LintOptions {
        select: pick(select, file.select),
        ignore: pick(ignore, file.ignore),
        severity: file
            .severity
            .unwrap_or_default()
            .into_iter()
            .map(|(rule, s)| (rule, Severity::from(s)))
            .collect(),
        deploy_phases: config_args.deploy_phases || file.deploy_phases.unwrap_or(false),
        lint_squashed: file.squashed == Some(config::SquashedMode::Lint),
    };
    options.validate().map_err(CliError::usage)?;
    let timer = crate::timings::Timer::start();
    let (roots, review) = lint_scope(scope)?;
    timer.lap("scope");
    let settings = config_args.project.settings(config.as_ref(), &roots)?;
    let project = Project::load_focused(&roots, settings, review.focus())
        .map_err(|e| CliError::usage(e.to_string()))?;
    timer.lap("load (discover, read, parse, graph)");
    if project.migrations.is_empty() {
        let shown: Vec<String> = roots.iter().map(|r| lint::display_path(r)).collect();
        let what = format!(
            "no migration files (modules of an `<app>/migrations/` package, or of a \
             `MIGRATION_MODULES` folder) under {}",
            shown.join(", ")
        );
        if scope.all {
            return Err(CliError::usage(format!(
                "{what}: `--all` has nothing to check. Run migrail from the project's folder \
                 (the one holding manage.py) or name it: `migrail lint --all path/to/project`; \
                 if the migrations live elsewhere, set `migration-modules` in the configuration"
            )));
        }
        eprintln!("warning: {what}");
    }
    // `exclude` globs: still loaded (the state needs them), never reported.
    let review = match &config {
        Some(c) if c.values.exclude.is_some() => Review::files(
            project
                .migrations
                .iter()
                .filter(|m| review.includes(m) && !c.excludes(&m.source.path))
                .map(|m| m.source.path.as_path()),
        ),
        _ => review,
    };
    Ok(Resolved {
        options,
        warnings_as_errors: warnings_as_errors || file.warnings_as_errors.unwrap_or(false),
        project,
        review,
    })
}

pub fn run_lint(args: &LintArgs) -> Result<u8, CliError> {
    let r = resolve(
        &args.scope,
        &args.config,
        &args.select,
        &args.ignore,
        args.warnings_as_errors,
    )?;
    let report = lint::lint(&r.project, &r.review, &r.options);
    let timer = crate::timings::Timer::start();
    let text_out = match args.format {
        // Streamed: the JSON of a large tree is tens of MB.
        Format::Json => None,
        Format::Sarif => Some(report::sarif::render(&report) + "\n"),
        Format::Text => Some(text(&report, args)),
        Format::Github => Some({
            let pr = super::report::PrReport::new(&r, &report)?;
            let ctx = super::report::context()?;
            super::report::step_summary(
                &ctx,
                &pr.render(&ctx, "default", None, report::markdown::SUMMARY_BUDGET),
            )?;
            report::github::annotations(&pr.lint.findings)
                + &report::text::summary(&report, 0)
                + "\n"
        }),
    };
    match text_out {
        Some(out) => write_stdout(&out)?,
        None => {
            let wae = r.warnings_as_errors;
            write_stdout_with(|out| report::json::write(out, &report, wae))?;
        }
    }
    timer.lap("render and write");
    let failed = report.failed(r.warnings_as_errors);
    // The process ends right after: freeing the project's many small allocations one by
    // one (hundreds of MB on a large tree) would only delay the exit.
    std::mem::forget(report);
    std::mem::forget(r);
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}

fn text(report: &LintReport, args: &LintArgs) -> String {
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    };
    let shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| args.show_notes || f.severity != Severity::Info)
        .cloned()
        .collect();
    let hidden = report.findings.len() - shown.len();
    let mut text = report::text::render_findings(&shown, color);
    text.push_str(&report::text::summary(report, hidden));
    text.push('\n');
    text
}

pub fn run_plan(args: &PlanArgs) -> Result<u8, CliError> {
    let r = resolve(&args.scope, &args.config, &[], &[], false)?;
    let report = lint::lint(&r.project, &r.review, &r.options);
    let plan = lint::plan::plan(&r.project, &report, r.options.deploy_phases);
    let out = match args.format {
        TextOrJson::Text => report::plan::text(&plan),
        TextOrJson::Json => report::plan::json(&plan) + "\n",
    };
    write_stdout(&out)?;
    Ok(if plan.blocked() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}
