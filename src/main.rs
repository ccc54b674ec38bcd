//! The `migrail` binary: parse the command line, dispatch, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use migrail::cli::{self, Cli};

// The linter allocates many small strings and vectors (parsed values, model state);
// mimalloc is markedly faster than the system allocator at that (see the benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help`/`--version` are not errors. A bad `migrail run` command line exits
            // 125: its low codes belong to the migration command.
            let code = if !e.use_stderr() {
                0
            } else if std::env::args().nth(1).as_deref() == Some("run") {
                migrail::run::exit::MIGRAIL_ERROR
            } else {
                cli::EXIT_USAGE
            };
            return ExitCode::from(code);
        }
    };
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // An error may quote a command line, a URL or an AWS/GitHub response.
            let message = e.to_string();
            eprintln!(
                "migrail: error: {}",
                migrail::redact::current().redact(&message)
            );
            ExitCode::from(e.code)
        }
    }
}
