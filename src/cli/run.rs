//! `migrail run`: apply the migrations once, print the verdict, write the result files.

use crate::run::{self, local::LocalRun, output};

use super::{Backend, CliError, RunArgs};

pub fn run(args: &RunArgs) -> Result<u8, CliError> {
    let env = args
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::run(format!("--env `{kv}`: expected KEY=VALUE"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let command = if args.command.is_empty() {
        run::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect()
    } else {
        args.command.clone()
    };
    let result = match args.backend {
        Backend::Local => run::local::run(&LocalRun {
            command,
            timeout: args.timeout,
            env,
        }),
    };
    eprintln!("{}", result.verdict());
    // The verdict stands even if a result file cannot be written; say so and fail.
    let mut problems = Vec::new();
    if let Some(path) = &args.json_out {
        if let Err(e) = output::write_json(path, &result) {
            problems.push(e);
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        if let Err(e) = output::write_github_output(std::path::Path::new(&path), &result) {
            problems.push(e);
        }
    }
    if !problems.is_empty() {
        return Err(CliError::run(problems.join("; ")));
    }
    Ok(result.exit_code)
}
