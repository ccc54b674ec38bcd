//! `migrail deploy`: the plan from the project's migrations (deploy phases on), the pre and
//! post commands, then [`crate::deploy`] does the rest; the verdict, `--json-out` and the
//! step outputs.

use std::path::Path;
use std::time::Duration;

use crate::deploy::{self, BlockedMigration, Deploy, DeployResult, PlanSummary};
use crate::lint::plan::{self, Stage};
use crate::lint::rule::Severity;
use crate::lint::{self, LintReport};
use crate::run;
use crate::run::phase::{self as run_phase, RunPhase};

use super::resolve::{resolve, Resolved};
use super::{run as cli_run, CliError, DeployArgs, EcsArgs, ScopeArgs};

/// How many findings a blocked migration lists.
const FINDINGS_LISTED: usize = 5;

pub fn run_deploy(args: &DeployArgs) -> Result<u8, CliError> {
    let images = crate::ecs::register::parse_images(&args.images).map_err(CliError::run)?;
    check_flags(&args.ecs, &images)?;
    let scope = if args.all || args.base.is_some() {
        ScopeArgs {
            paths: vec![args.project.clone()],
            all: args.all,
            base: args.base.clone(),
            root: None,
        }
    } else {
        let ctx = super::report::context()?;
        super::scope::change_scope(&ctx, vec![args.project.clone()]).map_err(|e| {
            CliError::run(format!(
                "{}; or name what to plan: --base REF (e.g. the commit in production) or --all",
                e.message
            ))
        })?
    };
    let mut r =
        resolve(&scope, &args.config, &[], &[], false).map_err(|e| CliError::run(e.message))?;
    r.options.deploy_phases = true;
    let report = lint::lint(&r.project, &r.review, &r.options);
    let summary = plan_summary(&r, &report);
    let guard = args
        .locks
        .guard(super::resolve::configuration(&args.config)?.as_ref())?;
    if guard.preflight.mode == crate::run::preflight::Mode::Only {
        return Err(CliError::run(
            "--preflight only applies no migration, and a deploy must apply them before the \
             rollout: check the data with `migrail run --preflight only`, then deploy",
        ));
    }
    let spec = spec(
        &Inputs {
            ecs: &args.ecs,
            timeout: args.timeout,
            env: &args.env,
            project: &args.project,
            command: &args.command,
            allow_unsafe: args.allow_unsafe,
            guard,
            images,
            pause_hook: args.pause_hook
                || super::resolve::configuration(&args.config)?
                    .is_some_and(|c| c.values.pause_hook == Some(true)),
            codedeploy: crate::ecs::rollout::codedeploy::Names {
                application: args.codedeploy_app.clone(),
                group: args.codedeploy_group.clone(),
            },
        },
        summary,
    )?;
    let result = execute(&spec);
    finish(args.json_out.as_deref(), &result)?;
    Ok(result.exit_code)
}

/// Run the deploy and print its verdict.
pub(super) fn execute(spec: &Deploy) -> DeployResult {
    let result = deploy::deploy(spec);
    eprintln!("{}", result.verdict());
    result
}

/// Write the result files; the verdict stands even if one cannot be written.
pub(super) fn finish(json_out: Option<&Path>, result: &DeployResult) -> Result<(), CliError> {
    let mut problems = Vec::new();
    if let Some(path) = json_out {
        if let Err(e) = deploy::write_json(path, result) {
            problems.push(e);
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        if let Err(e) = deploy::write_github_output(Path::new(&path), result) {
            problems.push(e);
        }
    }
    if !problems.is_empty() {
        return Err(CliError::run(problems.join("; ")));
    }
    Ok(())
}

/// The plan as the deploy needs it: what runs before and after the rollout, and what
/// blocks it — blocked migrations and every error-level finding.
pub(super) fn plan_summary(r: &Resolved, report: &LintReport) -> PlanSummary {
    let plan = plan::plan(&r.project, report, true);
    let label = |s: &plan::Step| format!("{}.{}", s.app, s.name);
    let mut summary = PlanSummary {
        before: plan.stage(Stage::Before).map(label).collect(),
        after: plan.stage(Stage::After).map(label).collect(),
        blocked: plan
            .stage(Stage::Blocked)
            .map(|s| BlockedMigration {
                migration: label(s),
                reasons: s.reasons.clone(),
            })
            .collect(),
    };
    for f in report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        let migration = format!("{}.{}", f.app, f.migration);
        let reason = format!("{}:{}: {}: {}", f.path_display(), f.line, f.rule, f.message);
        match summary
            .blocked
            .iter_mut()
            .find(|b| b.migration == migration)
        {
            Some(b) => {
                if b.reasons.len() < FINDINGS_LISTED + 2 {
                    b.reasons.push(reason);
                }
            }
            None => summary.blocked.push(BlockedMigration {
                migration,
                reasons: vec![reason],
            }),
        }
    }
    summary
}

/// What a deploy is made from (the flags of `deploy`, or of `ci` on a deploy).
pub(super) struct Inputs<'a> {
    pub ecs: &'a EcsArgs,
    pub timeout: Duration,
    pub env: &'a [String],
    pub project: &'a Path,
    pub command: &'a [String],
    pub allow_unsafe: bool,
    /// The lock guard of both runs.
    pub guard: crate::run::locks::LockGuard,
    /// `--image CONTAINER=IMAGE` (deploy only).
    pub images: Vec<(String, String)>,
    /// `--pause-hook` (or `pause-hook = true`).
    pub pause_hook: bool,
    /// `--codedeploy-app`, `--codedeploy-group`.
    pub codedeploy: crate::ecs::rollout::codedeploy::Names,
}

/// The flags a deploy cannot do without, checked before anything is read.
fn check_flags(
    e: &EcsArgs,
    images: &[(String, String)],
) -> Result<(Vec<crate::ecs::GateService>, String), CliError> {
    if e.cluster.is_none() {
        return Err(CliError::run("migrail deploy needs --cluster"));
    }
    let services = cli_run::services(&e.services)?;
    if services.is_empty() {
        return Err(CliError::run(
            "migrail deploy needs --service (repeatable: every service that runs this code, \
             e.g. web, worker, beat)",
        ));
    }
    let task_definition = match (&e.task_definition, images.is_empty()) {
        (Some(td), true) => td.clone(),
        (None, false) => crate::deploy::RESUME_TASK_DEFINITION.to_string(),
        (Some(_), false) => {
            return Err(CliError::run(
                "--image and --task-definition exclude each other: --image registers the new \
                 revision from what each service runs now",
            ))
        }
        (None, true) => {
            return Err(CliError::run(
                "migrail deploy needs --task-definition (the revision to roll out: the one CI \
                 just registered with the new image) or --image CONTAINER=IMAGE (migrail \
                 registers it from what each service runs now)",
            ))
        }
    };
    Ok((services, task_definition))
}

pub(super) fn spec(inputs: &Inputs<'_>, plan: PlanSummary) -> Result<Deploy, CliError> {
    let e = inputs.ecs;
    let (services, task_definition) = check_flags(e, &inputs.images)?;
    let env = cli_run::key_values("--env", inputs.env)?;
    crate::redact::announce();
    crate::redact::remember_env(&env);
    let command: Vec<String> = if inputs.command.is_empty() {
        run::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect()
    } else {
        inputs.command.to_vec()
    };
    let waiting = run_phase::waiting(
        inputs.project,
        crate::django::settings::resolve(&[inputs.project.to_path_buf()], None, &[]),
    )
    .map_err(CliError::run)?;
    let manage = run_phase::manage_py(&command);
    let run_keys = e
        .run_key
        .as_ref()
        .map(|k| (format!("{k}-pre"), format!("{k}-post")));
    let mut run = cli_run::ecs_spec(e, inputs.timeout, Vec::new(), env)?;
    if !inputs.images.is_empty() {
        run.task_definition = None;
    }
    let pre_command = run_phase::command(&manage, RunPhase::Pre, &waiting, &inputs.guard);
    let post_command = run_phase::command(&manage, RunPhase::Post, &waiting, &inputs.guard);
    Ok(Deploy {
        images: inputs.images.clone(),
        pause_hook: inputs.pause_hook,
        codedeploy: inputs.codedeploy.clone(),
        resume: resume_command(inputs, &task_definition, &command),
        run,
        services,
        pre_command,
        post_command,
        run_keys,
        plan,
        allow_unsafe: inputs.allow_unsafe,
        timeout: inputs.timeout,
    })
}

/// The `migrail run --phase post` that finishes the deploy, behind the same gate.
fn resume_command(inputs: &Inputs<'_>, task_definition: &str, command: &[String]) -> String {
    let e = inputs.ecs;
    let mut words: Vec<String> = vec![
        "migrail".into(),
        "run".into(),
        "--phase".into(),
        "post".into(),
    ];
    let mut flag = |name: &str, value: &str| {
        words.push(name.to_string());
        words.push(value.to_string());
    };
    if let Some(c) = &e.cluster {
        flag("--cluster", c);
    }
    if inputs.images.is_empty() {
        for s in &e.services {
            flag("--service", s);
        }
    } else {
        // The revisions `--image` registers, filled in once known.
        flag("--service", crate::deploy::RESUME_SERVICES);
    }
    flag("--task-definition", task_definition);
    if inputs.project != Path::new(".") {
        flag("--project", &inputs.project.display().to_string());
    }
    if let Some(r) = &e.region {
        flag("--region", r);
    }
    if let Some(c) = &e.container {
        flag("--container", c);
    }
    if let Some(k) = &e.run_key {
        flag("--run-key", &format!("{k}-post"));
    }
    if let Some(sha) = &e.sha {
        flag("--sha", sha);
    }
    flag("--timeout", &duration_flag(inputs.timeout));
    let g = &inputs.guard;
    let default = crate::run::locks::LockGuard::default();
    let timeout_flag = |d: Option<Duration>| {
        d.map_or("0".to_string(), |d| {
            if d.subsec_millis() != 0 {
                format!("{}ms", d.as_millis())
            } else {
                duration_flag(d)
            }
        })
    };
    if g.lock_timeout != default.lock_timeout {
        flag("--lock-timeout", &timeout_flag(g.lock_timeout));
    }
    if g.retries != default.retries {
        flag("--lock-retries", &g.retries.to_string());
    }
    if g.statement_timeout != default.statement_timeout {
        flag("--statement-timeout", &timeout_flag(g.statement_timeout));
    }
    if g.preflight.mode != default.preflight.mode {
        flag("--preflight", g.preflight.mode.as_str());
    }
    if g.preflight.timeout != default.preflight.timeout {
        flag(
            "--preflight-timeout",
            &timeout_flag(Some(g.preflight.timeout)),
        );
    }
    let mut text: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    if g.preflight.strict {
        text.push("--preflight-strict".into());
    }
    text.push("--".into());
    text.extend(command.iter().map(|w| shell_quote(w)));
    text.join(" ")
}

/// A duration as `parse_duration` reads it back.
fn duration_flag(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(super::shell_quote("web:43"), "web:43");
        assert_eq!(super::shell_quote("a b"), "'a b'");
        assert_eq!(super::shell_quote("it's"), "'it'\\''s'");
        assert_eq!(super::shell_quote(""), "''");
        assert_eq!(
            super::duration_flag(super::Duration::from_secs(1800)),
            "30m"
        );
        assert_eq!(super::duration_flag(super::Duration::from_secs(90)), "90s");
    }
}
