//! `migrail run`: apply the migrations once, print the verdict, write the result files.

use crate::ecs::{self, EcsRun, GateService};
use crate::run::phase::RunPhase;
use crate::run::{self, local::LocalRun, output};

use super::{Backend, CliError, EcsArgs, OnCancel, RunArgs, RunPhaseArg};

pub(super) fn key_values(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::run(format!("{flag} `{kv}`: expected KEY=VALUE"))),
        })
        .collect()
}

pub fn run(args: &RunArgs) -> Result<u8, CliError> {
    let config =
        crate::config::discover(std::path::Path::new(".")).map_err(|e| CliError::run(e.0))?;
    let result = execute(args, config.as_ref())?;
    finish(args, &result)?;
    Ok(result.exit_code)
}

/// Whether the flags ask for a run at all (`migrail ci` runs only when they do).
pub fn wanted(args: &RunArgs) -> bool {
    args.backend.is_some() || args.ecs.cluster.is_some()
}

/// Run the migrations and print the verdict. `config`: the configuration file (its lock
/// settings).
pub fn execute(
    args: &RunArgs,
    config: Option<&crate::config::Config>,
) -> Result<run::RunResult, CliError> {
    let mut env = key_values("--env", &args.env)?;
    // Before any output of the run: its secrets are known to the redactor (and, in GitHub
    // Actions, to the runner's log masking).
    crate::redact::announce();
    crate::redact::remember_env(&env);
    let guard = args.locks.guard(config)?;
    let backend = match (args.backend, &args.ecs.cluster) {
        (Some(b), _) => b,
        (None, Some(_)) => Backend::Ecs,
        (None, None) => {
            return Err(CliError::run(
                "where should the migrations run? Pass --cluster (and --service) for a \
                 one-off ECS task, or --backend local",
            ))
        }
    };
    let given: Vec<String> = if args.command.is_empty() {
        run::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect()
    } else {
        args.command.clone()
    };
    let phase = match args.phase {
        RunPhaseArg::All => RunPhase::All,
        RunPhaseArg::Pre => RunPhase::Pre,
        RunPhaseArg::Post => RunPhase::Post,
    };
    let waiting = if phase == RunPhase::All {
        Vec::new()
    } else {
        let waiting = run::phase::waiting(
            &args.project,
            crate::django::settings::resolve(std::slice::from_ref(&args.project), None, &[]),
        )
        .map_err(CliError::run)?;
        eprintln!(
            "migrail: phase {}: {} migration(s) of {} wait for the rollout or are blocked",
            if phase == RunPhase::Pre {
                "pre"
            } else {
                "post"
            },
            waiting.len(),
            args.project.display()
        );
        if phase == RunPhase::Post && args.ecs.services.is_empty() {
            eprintln!(
                "migrail: warning: nothing checked that the old release is gone: pass \
                 --service (each service that runs this code) for the post phase to wait until \
                 no task of another revision is alive, or use `migrail deploy`"
            );
        }
        waiting
    };
    let guarded = if phase == RunPhase::All {
        let inherited = std::env::var("PGOPTIONS").ok();
        let local = backend == Backend::Local;
        run::locks::guard(
            &given,
            &guard,
            if local { inherited.as_deref() } else { None },
        )
        .map_err(CliError::run)?
    } else {
        let manage = run::phase::manage_py(&given);
        run::locks::Guarded {
            command: run::phase::command(&manage, phase, &waiting, &guard),
            env: Vec::new(),
            warnings: Vec::new(),
        }
    };
    for w in &guarded.warnings {
        eprintln!("migrail: warning: {w}");
    }
    let command = guarded.command;
    for (k, v) in guarded.env {
        if !env.iter().any(|(e, _)| e == &k) {
            env.push((k, v));
        }
    }
    let result = match backend {
        Backend::Local => {
            if let Some(flag) = ecs_flag_given(&args.ecs) {
                return Err(CliError::run(format!(
                    "{flag} is an ECS flag: it has no effect with --backend local"
                )));
            }
            run::local::run(&LocalRun {
                command,
                timeout: args.timeout,
                env,
            })
        }
        Backend::Ecs => {
            let mut spec = ecs_spec(&args.ecs, args.timeout, command, env)?;
            if phase == RunPhase::Post {
                spec.gate = services(&args.ecs.services)?;
            }
            ecs::run(&spec)
        }
    };
    result.print_verdict();
    if result
        .log_tail
        .iter()
        .any(|l| l.contains("unsupported startup parameter: options"))
    {
        eprintln!(
            "migrail: hint: a pooler (PgBouncer) refused the `options` startup parameter: \
             PGOPTIONS (migrail's lock timeout for a command that is not `manage.py migrate`, \
             or the environment's) cannot pass it. Run `python manage.py migrate`, whose guard \
             sets the timeouts per transaction, and set `pooler = \"transaction\"` in the \
             configuration"
        );
    }
    Ok(result)
}

/// Write the result files; the verdict stands even if one cannot be written.
pub fn finish(args: &RunArgs, result: &run::RunResult) -> Result<(), CliError> {
    // The verdict stands even if a result file cannot be written; say so and fail.
    let mut problems = Vec::new();
    if let Some(path) = &args.json_out {
        if let Err(e) = output::write_json(path, result) {
            problems.push(e);
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        if let Err(e) = output::write_github_output(std::path::Path::new(&path), result) {
            problems.push(e);
        }
    }
    if !problems.is_empty() {
        return Err(CliError::run(problems.join("; ")));
    }
    Ok(())
}

fn ecs_flag_given(e: &EcsArgs) -> Option<&'static str> {
    [
        (e.cluster.is_some(), "--cluster"),
        (!e.services.is_empty(), "--service"),
        (e.task_definition.is_some(), "--task-definition"),
        (e.container.is_some(), "--container"),
        (!e.subnets.is_empty(), "--subnets"),
        (!e.security_groups.is_empty(), "--security-groups"),
        (e.launch_type.is_some(), "--launch-type"),
        (!e.capacity_provider.is_empty(), "--capacity-provider"),
        (e.lock.is_some(), "--lock"),
        (e.run_key.is_some(), "--run-key"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

/// `--service [CLUSTER/]NAME[=TASK_DEFINITION]` (or a service ARN), each.
pub(super) fn services(flags: &[String]) -> Result<Vec<GateService>, CliError> {
    let mut out: Vec<GateService> = Vec::new();
    for flag in flags {
        let (name, td) = match flag.split_once('=') {
            Some((n, td)) => (n, Some(td)),
            None => (flag.as_str(), None),
        };
        // `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`, or `CLUSTER/NAME`.
        let path = name
            .strip_prefix("arn:")
            .and_then(|rest| rest.split_once(":service/").map(|(_, p)| p))
            .unwrap_or(name);
        let (cluster, service) = match path.split_once('/') {
            Some((c, n)) => (Some(c), n),
            None => (None, path),
        };
        let bad = service.is_empty()
            || service.contains('/')
            || cluster.is_some_and(str::is_empty)
            || td.is_some_and(str::is_empty);
        if bad {
            return Err(CliError::run(format!(
                "--service `{flag}`: expected NAME, CLUSTER/NAME, or either =TASK_DEFINITION"
            )));
        }
        if out
            .iter()
            .any(|s| s.service == service && s.cluster.as_deref() == cluster)
        {
            return Err(CliError::run(format!("--service `{name}` is given twice")));
        }
        out.push(GateService {
            cluster: cluster.map(str::to_string),
            service: service.to_string(),
            task_definition: td.map(str::to_string),
        });
    }
    Ok(out)
}

pub(super) fn ecs_spec(
    e: &EcsArgs,
    timeout: std::time::Duration,
    command: Vec<String>,
    env: Vec<(String, String)>,
) -> Result<EcsRun, CliError> {
    let Some(cluster) = e.cluster.clone() else {
        return Err(CliError::run("--backend ecs needs --cluster"));
    };
    let first = services(&e.services)?.into_iter().next();
    if let Some(other) = first
        .as_ref()
        .and_then(|f| f.cluster.as_ref())
        .filter(|c| *c != &cluster)
    {
        return Err(CliError::run(format!(
            "the first --service gives the one-off task its network configuration, so it must \
             be in --cluster `{cluster}` (it is in `{other}`): name a service of `{cluster}` \
             first"
        )));
    }
    if first.is_none() && e.task_definition.is_none() {
        return Err(CliError::run(
            "--backend ecs needs --service (its configuration is copied) or \
             --task-definition with --subnets/--security-groups",
        ));
    }
    if e.launch_type.is_some() && !e.capacity_provider.is_empty() {
        return Err(CliError::run(
            "--launch-type and --capacity-provider exclude each other (ECS takes one or the other)",
        ));
    }
    let lock_table = match &e.lock {
        None => None,
        Some(spec) => match spec.strip_prefix("dynamodb:") {
            Some(table) if !table.is_empty() => Some(table.to_string()),
            _ => {
                return Err(CliError::run(format!(
                    "--lock `{spec}`: expected dynamodb:TABLE"
                )))
            }
        },
    };
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let sha = e
        .sha
        .clone()
        .or_else(|| from_env("GITHUB_SHA"))
        .or_else(|| from_env("CODEBUILD_RESOLVED_SOURCE_VERSION"));
    Ok(EcsRun {
        cluster,
        service: first.map(|s| s.service),
        task_definition: e.task_definition.clone(),
        container: e.container.clone(),
        subnets: e.subnets.clone(),
        security_groups: e.security_groups.clone(),
        assign_public_ip: e.assign_public_ip,
        launch_type: e.launch_type.clone(),
        capacity_providers: e.capacity_provider.clone(),
        platform_version: e.platform_version.clone(),
        region: e.region.clone(),
        command,
        env,
        run_key: e.run_key.clone(),
        sha,
        tags: key_values("--tag", &e.tags)?,
        wait_for_other: e.wait_for_other,
        lock_table,
        on_cancel: match e.on_cancel {
            OnCancel::Detach => ecs::OnCancel::Detach,
            OnCancel::Stop => ecs::OnCancel::Stop,
        },
        timeout,
        poll_interval: e.poll_interval,
        gate: Vec::new(),
    })
}
