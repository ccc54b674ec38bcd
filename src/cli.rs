//! The command line: the clap definitions and what each subcommand does.
//!
//! Exit codes are an API (README, "Exit codes"): [`EXIT_OK`] when no error-level finding
//! was reported, [`EXIT_FINDINGS`] when at least one was (or a warning, with
//! `--warnings-as-errors`), [`EXIT_USAGE`] for usage, configuration and I/O errors.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::django::discover::is_migration_path;
use crate::django::migration::Settings;
use crate::django::Project;
use crate::lint::rule::Severity;
use crate::lint::{self, registry, Review, Selection};
use crate::report::{self, Format};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "migrail",
    version,
    about = "Make Django schema migrations safe to ship on AWS ECS",
    long_about = "Make Django schema migrations safe to ship on AWS ECS.\n\n\
                  `migrail lint` reads the migration files statically (no Django, no database), \
                  replays the migration graph and reports every operation the previous release \
                  cannot survive during a rolling deploy."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint migrations for zero-downtime deploys.
    Lint(LintArgs),
    /// List every rule.
    Rules(RulesArgs),
    /// Show the documentation of one rule.
    Rule {
        /// The rule's name, as `migrail rules` lists it (e.g. `drop-column`).
        name: String,
    },
    /// Print the model state after replaying every migration.
    State(StateArgs),
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The value of `settings.AUTH_USER_MODEL` in your project.
    #[arg(long, value_name = "APP.MODEL", default_value = "auth.User")]
    pub auth_user_model: String,
}

impl ProjectArgs {
    fn settings(&self) -> Result<Settings, CliError> {
        let valid = self
            .auth_user_model
            .split_once('.')
            .is_some_and(|(app, model)| {
                !app.is_empty() && !model.is_empty() && !model.contains('.')
            });
        if !valid {
            return Err(CliError::usage(format!(
                "--auth-user-model `{}`: expected `app_label.ModelName`, as in settings.AUTH_USER_MODEL",
                self.auth_user_model
            )));
        }
        Ok(Settings {
            auth_user_model: self.auth_user_model.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Directories to scan, or migration files to review. Default: the current directory.
    ///
    /// Named files are what is reported (that is how pre-commit calls migrail); the whole
    /// project they belong to is still loaded, because each operation is judged against
    /// the state its history builds.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Report every migration found (the default when no file and no --base is given).
    #[arg(long, conflicts_with = "base")]
    pub all: bool,

    /// Report only the migrations added or modified since the merge base with REF (git).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// Where the project's migrations live when files are named. Default: the nearest
    /// folder above the first named file that holds `manage.py`, else the current directory.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Only these rules (comma-separated names).
    #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
    pub select: Vec<String>,

    /// Not these rules (comma-separated names).
    #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
    pub ignore: Vec<String>,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub warnings_as_errors: bool,

    /// Also print informational notes (history outside the tree, ...) in text output.
    #[arg(long)]
    pub show_notes: bool,

    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Directories to scan. Default: the current directory.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// An error that ends the run with [`EXIT_USAGE`].
#[derive(Debug)]
pub struct CliError {
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Run a parsed command line; the `Ok` value is the exit code.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Lint(args) => run_lint(&args),
        Command::Rules(args) => run_rules(&args),
        Command::Rule { name } => run_rule(&name),
        Command::State(args) => run_state(&args),
    }
}

fn run_lint(args: &LintArgs) -> Result<u8, CliError> {
    let selection = Selection {
        select: args.select.clone(),
        ignore: args.ignore.clone(),
    };
    selection.validate().map_err(CliError::usage)?;
    let settings = args.project.settings()?;

    let (roots, review) = lint_scope(args)?;
    let project = Project::load(&roots, settings).map_err(|e| CliError::usage(e.to_string()))?;
    if project.migrations.is_empty() {
        let shown: Vec<String> = roots.iter().map(|r| lint::display_path(r)).collect();
        eprintln!(
            "warning: no migration files (`<app>/migrations/[0-9]*.py`) under {}",
            shown.join(", ")
        );
    }
    let report = lint::lint(&project, &review, &selection);

    let out = match args.format {
        Format::Json => report::json::render(&report, args.warnings_as_errors) + "\n",
        Format::Text => {
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
            text.push_str(&report::text::summary(&report, hidden));
            text.push('\n');
            text
        }
    };
    write_stdout(&out)?;
    Ok(if report.failed(args.warnings_as_errors) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// What to load and what to report, from the paths and `--all` / `--base`.
fn lint_scope(args: &LintArgs) -> Result<(Vec<PathBuf>, Review), CliError> {
    for p in &args.paths {
        if !p.exists() {
            return Err(CliError::usage(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    let (files, mut dirs): (Vec<PathBuf>, Vec<PathBuf>) =
        args.paths.iter().cloned().partition(|p| p.is_file());
    // Files that are not migrations (pre-commit may pass `migrations/__init__.py`) are
    // not reviewed.
    let files: Vec<PathBuf> = files.into_iter().filter(|f| is_migration_path(f)).collect();

    if !args.paths.is_empty() && dirs.is_empty() && files.is_empty() {
        // Only non-migration files were named: nothing to review.
        return Ok((Vec::new(), Review::Files(BTreeSet::new())));
    }
    if !files.is_empty() {
        let root = match &args.root {
            Some(root) => root.clone(),
            None => project_root(&files[0]),
        };
        dirs.push(root);
    } else if let Some(root) = &args.root {
        dirs.push(root.clone());
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("."));
    }
    let roots = dedup_roots(dirs);

    let review = if args.all {
        Review::All
    } else if let Some(base) = &args.base {
        let mut changed = changed_since(base)?;
        changed.extend(files.iter().cloned());
        Review::files(changed.iter().map(PathBuf::as_path))
    } else if !files.is_empty() {
        Review::files(files.iter().map(PathBuf::as_path))
    } else {
        Review::All
    };
    Ok((roots, review))
}

/// The nearest folder above `file` holding `manage.py`, else the current directory.
fn project_root(file: &Path) -> PathBuf {
    let absolute = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let cwd = std::env::current_dir().ok();
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.join("manage.py").is_file() {
            return relative_to_cwd(d);
        }
        if cwd.as_deref() == Some(d) {
            break;
        }
        dir = d.parent();
    }
    PathBuf::from(".")
}

fn relative_to_cwd(p: &Path) -> PathBuf {
    match std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf))
    {
        Some(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Some(rel) => rel,
        None => p.to_path_buf(),
    }
}

/// Drop roots inside another root, so no file is loaded twice under two spellings.
fn dedup_roots(roots: Vec<PathBuf>) -> Vec<PathBuf> {
    let canon: Vec<(PathBuf, PathBuf)> = roots
        .into_iter()
        .map(|r| (r.canonicalize().unwrap_or_else(|_| r.clone()), r))
        .collect();
    let mut kept: Vec<&(PathBuf, PathBuf)> = Vec::new();
    for entry in &canon {
        let inside_other = canon
            .iter()
            .any(|other| other.0 != entry.0 && entry.0.starts_with(&other.0));
        if !inside_other && !kept.iter().any(|k| k.0 == entry.0) {
            kept.push(entry);
        }
    }
    kept.into_iter().map(|(_, r)| r.clone()).collect()
}

/// Migration files added, modified or renamed since the merge base of HEAD and `base`,
/// committed or not, plus untracked ones.
fn changed_since(base: &str) -> Result<Vec<PathBuf>, CliError> {
    let top = git(&["rev-parse", "--show-toplevel"], base)?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    let merge_base = git(&["merge-base", "HEAD", base], base)?;
    let merge_base = merge_base.trim();
    let diff = git(
        &[
            "diff",
            "--name-only",
            "--diff-filter=AMR",
            "-z",
            merge_base,
            "--",
        ],
        base,
    )?;
    let untracked = git(
        &[
            "ls-files",
            "--others",
            "--exclude-standard",
            "--full-name",
            "-z",
        ],
        base,
    )?;
    Ok(diff
        .split('\0')
        .chain(untracked.split('\0'))
        .filter(|p| !p.is_empty())
        .map(|p| top.join(p))
        .filter(|p| is_migration_path(p) && p.is_file())
        .collect())
}

fn git(args: &[&str], base: &str) -> Result<String, CliError> {
    let output = Process::new("git").args(args).output().map_err(|e| {
        CliError::usage(format!(
            "--base {base}: cannot run git ({e}); install git or name the files to review"
        ))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::usage(format!(
            "--base {base}: `git {}` failed: {}",
            args.join(" "),
            stderr.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run_rules(args: &RulesArgs) -> Result<u8, CliError> {
    let out = match args.format {
        Format::Json => {
            let rules: Vec<serde_json::Value> = registry::all()
                .iter()
                .map(|r| {
                    let m = r.meta();
                    serde_json::json!({
                        "name": m.name,
                        "severity": m.severity,
                        "axis": m.axis,
                        "summary": m.summary,
                    })
                })
                .collect();
            let doc = serde_json::json!({ "version": 1, "rules": rules });
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::usage(e.to_string()))? + "\n"
        }
        Format::Text => {
            let width = registry::all()
                .iter()
                .map(|r| r.meta().name.len())
                .max()
                .unwrap_or(0);
            let mut text = String::new();
            for r in registry::all() {
                let m = r.meta();
                text.push_str(&format!(
                    "{:width$}  {:7}  {:21}  {}\n",
                    m.name,
                    m.severity.as_str(),
                    m.axis.as_str(),
                    m.summary
                ));
            }
            text
        }
    };
    write_stdout(&out)?;
    Ok(EXIT_OK)
}

fn run_rule(name: &str) -> Result<u8, CliError> {
    let Some(rule) = registry::find(name) else {
        return Err(CliError::usage(format!(
            "{}; `migrail rules` lists them",
            registry::unknown_rule_message(name)
        )));
    };
    let m = rule.meta();
    let out = format!(
        "# {}\n\nSeverity: {}. Axis: {}.\n\n{}\n\n{}\n",
        m.name,
        m.severity.as_str(),
        m.axis.as_str(),
        m.summary,
        m.doc.trim()
    );
    write_stdout(&out)?;
    Ok(EXIT_OK)
}

fn run_state(args: &StateArgs) -> Result<u8, CliError> {
    let settings = args.project.settings()?;
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let project = Project::load(&roots, settings).map_err(|e| CliError::usage(e.to_string()))?;
    let state = project.replay(|_| {});
    let doc = state.to_json(&project.settings);
    let out = match args.format {
        Format::Json => {
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::usage(e.to_string()))? + "\n"
        }
        Format::Text => {
            let unknown = || "?".to_string();
            let mut text = String::new();
            for m in &doc.models {
                text.push_str(&format!(
                    "{}.{}  table {}\n",
                    m.app,
                    m.name,
                    m.table.clone().unwrap_or_else(unknown)
                ));
                for f in &m.fields {
                    let flag = |v: Option<bool>, word: &str| match v {
                        Some(true) => format!(" {word}"),
                        Some(false) => String::new(),
                        None => format!(" {word}?"),
                    };
                    text.push_str(&format!(
                        "    {:24} {:28} column {}{}{}{}{}{}\n",
                        f.name,
                        f.class,
                        f.column.clone().unwrap_or_else(|| "-".to_string()),
                        flag(f.primary_key, "primary_key"),
                        flag(f.null, "null"),
                        flag(f.unique, "unique"),
                        flag(f.db_index, "db_index"),
                        if f.has_db_default { " db_default" } else { "" },
                    ));
                }
            }
            text
        }
    };
    write_stdout(&out)?;
    Ok(EXIT_OK)
}

/// Write to stdout; a closed pipe (`migrail lint | head`) is not an error worth a panic.
fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::usage(format!("cannot write to stdout: {e}"))),
    }
}
