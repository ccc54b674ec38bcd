//! The `migrail` binary: parse the command line, dispatch, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use migrail::cli::{self, Cli};

// The linter allocates many small strings and vectors (parsed values, model state);
// mimalloc is markedly faster than the system allocator at that (see the benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("migrail: error: {e}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
