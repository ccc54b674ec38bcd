//! `migrail lint` and `migrail plan`: load the project, apply the configuration, lint,
//! and render the report or the deploy plan.

use crate::lint::rule::Severity;
use crate::lint::{self, LintReport};
use crate::report::{self, Format};

use super::resolve::resolve;
use super::{
    write_stdout, write_stdout_with, CliError, ColorChoice, LintArgs, PlanArgs, TextOrJson,
    EXIT_FINDINGS, EXIT_OK,
};

pub fn run_lint(args: &LintArgs) -> Result<u8, CliError> {
    let mut r = resolve(
        &args.scope,
        &args.config,
        &args.select,
        &args.ignore,
        args.warnings_as_errors,
    )?;
    // Everything is left to the exit (see the end of this function).
    r.options.process_ends = true;
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
    let mut r = resolve(&args.scope, &args.config, &[], &[], false)?;
    r.options.process_ends = true;
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
