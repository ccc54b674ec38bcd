//! The command line: the clap definitions and what each subcommand does.
//!
//! Exit codes are an API (README, "Exit codes"): [`EXIT_OK`] when no error-level finding
//! was reported, [`EXIT_FINDINGS`] when at least one was (or a warning, with
//! `--warnings-as-errors`), [`EXIT_USAGE`] for usage, configuration and I/O errors.

#[cfg(all(feature = "ecs", feature = "github"))]
mod comment;
#[cfg(feature = "ecs")]
mod deploy;
mod fix;
mod info;
mod lint;
mod report;
mod resolve;
#[cfg(feature = "ecs")]
mod run;
mod scope;
mod sql;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::django::migration::Settings;
use crate::report::Format;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// `migrail comment`: the comment could not be posted.
pub const EXIT_COMMENT_FAILED: u8 = 3;

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
    /// Rewrite unsafe migrations into the safe sequence their helps describe (README,
    /// "Fixing migrations"; exit codes: README, "Exit codes").
    ///
    /// With no path, `--all` or `--base`, it fixes the migrations the branch adds or changes
    /// since its base (origin/HEAD, else main, master, origin/main, origin/master); the
    /// migrations the base already has were applied somewhere and are left alone unless
    /// `--include-applied`. Squashes and the migrations they replace are never rewritten.
    Fix(FixArgs),
    /// Print the deploy plan: what runs before the rollout, what after it, what blocks.
    Plan(PlanArgs),
    /// Print the SQL Django runs for migrations (like `manage.py sqlmigrate`, without
    /// Django or a database), each statement with the lock it takes: `migrail sql PATH...`
    /// or `migrail sql APP NAME`.
    Sql(PlanArgs),
    /// List every rule.
    Rules(RulesArgs),
    /// Show the documentation of one rule.
    Rule {
        /// The rule's name, as `migrail rules` lists it (e.g. `drop-column`).
        name: String,
    },
    /// Print the model state after replaying every migration.
    State(StateArgs),
    /// Apply the migrations once and report the outcome (exit codes: README, "Running
    /// migrations").
    Run(Box<RunArgs>),
    /// The whole deploy in one command: plan, pre-deploy migrations, rollout of every
    /// service, proof that no old task is alive, post-deploy migrations (exit codes:
    /// README, "Deploying").
    Deploy(Box<DeployArgs>),
    /// Post (or update) the sticky pull request comment: the lint findings, the deploy
    /// plan, the schema diff and a run's outcome.
    Comment(Box<CommentArgs>),
    /// The one pipeline step: lint the change, run the migrations on a deploy (when the
    /// lint passes), comment on the pull request, set the exit code.
    Ci(Box<CiArgs>),
}

/// Where the PR comment goes and which one it is.
#[derive(Debug, Args)]
pub struct CommentTarget {
    /// Keep a separate sticky comment per KEY (e.g. per environment).
    #[arg(long, value_name = "KEY", default_value = "default")]
    pub key: String,

    /// The pull request number [default: from the CI environment; on a push build, the
    /// pull request the commit belongs to].
    #[arg(long, value_name = "NUMBER")]
    pub pr: Option<u64>,

    /// The repository [default: GITHUB_REPOSITORY, CODEBUILD_SOURCE_REPO_URL].
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,

    /// Print the Markdown body on stdout instead of posting it.
    #[arg(long)]
    pub dry_run: bool,

    /// Post no fixes as review suggestions on the lines they change (config:
    /// `suggestions = false`); existing ones are left as they are.
    #[arg(long)]
    pub no_suggestions: bool,
}

#[derive(Debug, Args)]
pub struct CommentArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[command(flatten)]
    pub config: ConfigArgs,

    /// Report this lint report (`migrail lint --format json`) instead of linting.
    #[arg(long, value_name = "FILE", conflicts_with = "no_lint")]
    pub report: Option<PathBuf>,

    /// Add the outcome of a run (`migrail run --json-out FILE`).
    #[arg(long, value_name = "FILE")]
    pub run_result: Option<PathBuf>,

    /// Report only the run (no lint).
    #[arg(long, requires = "run_result")]
    pub no_lint: bool,

    #[command(flatten)]
    pub target: CommentTarget,
}

#[derive(Debug, Args)]
pub struct CiArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Run the migrations even when the lint fails.
    #[arg(long)]
    pub allow_unsafe: bool,

    #[command(flatten)]
    pub target: CommentTarget,

    /// How to run the migrations on a deploy (`--cluster`/`--service`/... or `--backend
    /// local`); without them `ci` only lints and comments.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// A one-off ECS task from the service's configuration (default with --cluster).
    Ecs,
    /// Run the command as a child process on this machine.
    Local,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunPhaseArg {
    /// Every pending migration (the command as given).
    All,
    /// Only what may run before the rollout.
    Pre,
    /// What had to wait for the rollout (and anything still pending that is not blocked).
    Post,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnCancel {
    /// Leave the task running (never kill a migration mid-DDL); re-running re-attaches.
    Detach,
    /// Stop the task (StopTask with a reason).
    Stop,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the command runs: `ecs` (default when --cluster is given), a one-off task in
    /// the cluster; `local`, a child process on this machine (CodeBuild inside the VPC, a
    /// developer's machine).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,

    /// Stop waiting after this long (`90s`, `30m`, `1h`): exit 124. Local: the command is
    /// killed. ECS: the task is left running unless `--on-cancel stop`.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::run::parse_duration)]
    pub timeout: std::time::Duration,

    /// Write the result document (version 1) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,

    /// Extra environment variable for the command (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Apply only the migrations of one deploy phase: `pre` (before the rollout), `post`
    /// (after it), or `all` (the command as given). With `pre`/`post` the command runs
    /// `manage.py shell` with migrail's phase script (README, "Deploy phases in the runner").
    #[arg(long, value_enum, default_value = "all")]
    pub phase: RunPhaseArg,

    /// The Django project whose migrations `--phase` reads.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,

    #[command(flatten)]
    pub locks: LockArgs,

    #[command(flatten)]
    pub ecs: EcsArgs,

    /// The command, after `--`. Default: `python manage.py migrate --noinput`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// A timeout flag's value: `None` is off.
#[derive(Clone, Copy, Debug)]
pub struct Timeout(pub Option<std::time::Duration>);

fn parse_timeout(text: &str) -> Result<Timeout, String> {
    crate::run::locks::parse_timeout(text).map(Timeout)
}

/// Bounded lock waits (README, "Lock timeouts"): set per transaction (`SET LOCAL`) on
/// Django's own connection for every `manage.py migrate` the run applies, checked, retried
/// when safe.
#[derive(Debug, Args)]
#[command(next_help_heading = "Lock waits")]
pub struct LockArgs {
    /// Bound every lock wait of the migrations: PostgreSQL's `lock_timeout`, so an `ALTER
    /// TABLE` stuck behind a long transaction gives up instead of queueing every query on
    /// the table behind it; an atomic migration that timed out is retried. `0` turns it
    /// off [default: 5s, or `lock-timeout` in the configuration].
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub lock_timeout: Option<Timeout>,

    /// Retries of an atomic migration that hit the lock timeout, with exponential backoff
    /// and jitter starting near the timeout (a non-atomic migration is never retried)
    /// [default: 5, or `lock-retries`].
    #[arg(long, value_name = "N")]
    pub lock_retries: Option<u32>,

    /// PostgreSQL's `statement_timeout` for the migrations [default: off, or
    /// `statement-timeout`].
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub statement_timeout: Option<Timeout>,

    /// What stands between the migrations and PostgreSQL: with a pooler (PgBouncer, RDS
    /// Proxy) a command that is not `manage.py migrate` cannot be bounded through
    /// `PGOPTIONS`, and is refused unless `--lock-timeout 0` [default: none, or `pooler`].
    #[arg(long, value_name = "MODE")]
    pub pooler: Option<crate::config::Pooler>,

    /// Check the data before each migration takes a lock: duplicates under a new unique
    /// constraint, NULLs under SET NOT NULL, rows breaking a CHECK or a foreign key, values
    /// that no longer fit. A violation: the migration is not started, exit 133. `only`:
    /// check every pending migration, apply none [default: on, or `preflight`].
    #[arg(long, value_enum, value_name = "WHEN", help_heading = "Preflight")]
    pub preflight: Option<crate::run::preflight::Mode>,

    /// A preflight check that times out refuses the migration too [default: skipped with a
    /// warning, or `preflight-strict`].
    #[arg(long, help_heading = "Preflight")]
    pub preflight_strict: bool,

    /// Each preflight query's `statement_timeout` [default: 10s, or `preflight-timeout`].
    #[arg(long, value_name = "DURATION", value_parser = crate::run::parse_duration, help_heading = "Preflight")]
    pub preflight_timeout: Option<std::time::Duration>,
}

impl LockArgs {
    /// The flags over the configuration over the defaults.
    pub fn guard(
        &self,
        config: Option<&crate::config::Config>,
    ) -> Result<crate::run::locks::LockGuard, CliError> {
        let mut g = crate::run::locks::LockGuard::default();
        if let Some(c) = config {
            let v = &c.values;
            let read = |key: &str,
                        text: &Option<String>|
             -> Result<Option<Option<std::time::Duration>>, CliError> {
                text.as_deref()
                    .map(|t| {
                        crate::run::locks::parse_timeout(t)
                            .map_err(|e| CliError::run(format!("{}: `{key}`: {e}", c.describe())))
                    })
                    .transpose()
            };
            if let Some(t) = read("lock-timeout", &v.lock_timeout)? {
                g.lock_timeout = t;
            }
            if let Some(t) = read("statement-timeout", &v.statement_timeout)? {
                g.statement_timeout = t;
            }
            if let Some(n) = v.lock_retries {
                g.retries = n;
            }
            if let Some(p) = v.pooler {
                g.pooler = p;
            }
            if let Some(m) = v.preflight {
                g.preflight.mode = m;
            }
            if let Some(b) = v.preflight_strict {
                g.preflight.strict = b;
            }
            if let Some(t) = &v.preflight_timeout {
                g.preflight.timeout = crate::run::parse_duration(t).map_err(|e| {
                    CliError::run(format!("{}: `preflight-timeout`: {e}", c.describe()))
                })?;
            }
        }
        if let Some(m) = self.preflight {
            g.preflight.mode = m;
        }
        if self.preflight_strict {
            g.preflight.strict = true;
        }
        if let Some(t) = self.preflight_timeout {
            g.preflight.timeout = t;
        }
        if let Some(p) = self.pooler {
            g.pooler = p;
        }
        if let Some(Timeout(t)) = self.lock_timeout {
            g.lock_timeout = t;
        }
        if let Some(Timeout(t)) = self.statement_timeout {
            g.statement_timeout = t;
        }
        if let Some(n) = self.lock_retries {
            g.retries = n;
        }
        Ok(g)
    }
}

/// The `ecs` backend's flags (README, "Running migrations on ECS").
#[derive(Debug, Args)]
#[command(next_help_heading = "ECS")]
pub struct EcsArgs {
    /// The ECS cluster (name or ARN).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    /// Copy the task definition, network configuration, launch type or capacity provider
    /// strategy and platform version from this service (the first one, when repeated).
    /// With `--phase post`, every service named is a gate: the task starts only once each
    /// runs the task definition (NAME=TASK_DEFINITION: that one) and no task of another
    /// revision is alive in it. `migrail deploy` rolls out each one.
    #[arg(long = "service", value_name = "NAME[=TASK_DEFINITION]")]
    pub services: Vec<String>,

    /// The task definition to run (FAMILY[:REVISION] or ARN), e.g. the revision CI just
    /// registered with the new image [default: the service's].
    #[arg(long, value_name = "TASK_DEFINITION")]
    pub task_definition: Option<String>,

    /// The container that runs the command [default: the only essential container].
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,

    /// Subnets for awsvpc networking (comma-separated), instead of the service's.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub subnets: Vec<String>,

    /// Security groups (comma-separated), instead of the service's.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub security_groups: Vec<String>,

    /// Give the task a public IP (tasks in public subnets that pull from ECR).
    #[arg(long)]
    pub assign_public_ip: bool,

    /// FARGATE, EC2, EXTERNAL or MANAGED_INSTANCES, instead of the service's.
    #[arg(long, value_name = "TYPE")]
    pub launch_type: Option<String>,

    /// Capacity provider strategy item NAME[:WEIGHT[:BASE]] (repeatable), instead of the
    /// service's.
    #[arg(long, value_name = "NAME[:WEIGHT[:BASE]]")]
    pub capacity_provider: Vec<String>,

    /// Fargate platform version [default: the service's, else LATEST].
    #[arg(long, value_name = "VERSION")]
    pub platform_version: Option<String>,

    /// AWS region [default: AWS_REGION, the profile's].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// The commit being deployed, part of the run key [default: GITHUB_SHA,
    /// CODEBUILD_RESOLVED_SOURCE_VERSION].
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,

    /// Override the run key (startedBy and clientToken; `migrail-` is prepended), e.g.
    /// to run the same migrations again on purpose.
    #[arg(long, value_name = "KEY")]
    pub run_key: Option<String>,

    /// When another migration of the same task family is running (or holds the lock),
    /// wait for it instead of failing.
    #[arg(long)]
    pub wait_for_other: bool,

    /// Hard lock for several pipelines: `dynamodb:TABLE` (partition key `LockID`, String).
    #[arg(long, value_name = "dynamodb:TABLE")]
    pub lock: Option<String>,

    /// On SIGINT/SIGTERM and on --timeout: `detach` leaves the task running, `stop`
    /// stops it.
    #[arg(long, value_enum, default_value = "detach")]
    pub on_cancel: OnCancel,

    /// How often to poll the task and its logs; the log drain after the task stops lasts
    /// twice this.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = crate::run::parse_duration)]
    pub poll_interval: std::time::Duration,

    /// Extra tag on the task (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Bound the whole deploy (`90s`, `30m`, `1h`). On timeout migrail never touches the
    /// services: it says which step it was in and what to run to finish.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::run::parse_duration)]
    pub timeout: std::time::Duration,

    /// Write the deploy's result document (version 1: every step, both runs, each
    /// service's deployment, the blockers waited for) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,

    /// Extra environment variable for the migration tasks (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// The Django project whose migrations are planned and run.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,

    /// Deploy even when the plan is blocked or the lint fails.
    #[arg(long)]
    pub allow_unsafe: bool,

    /// Plan only the migrations added or changed since REF [default: what the CI event
    /// changed: the push's previous commit, the pull request's base].
    #[arg(long, value_name = "REF", conflicts_with = "all")]
    pub base: Option<String>,

    /// Plan every migration of the project (migrations already applied count too: an
    /// old `never` migration blocks).
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub config: ConfigArgs,

    /// Run the pre phase inside the deployment: update every service first, wait until each
    /// service deployment is paused at its PAUSE lifecycle hook at PRE_SCALE_UP (the old
    /// release serving, nothing new started), migrate, then continue them (or roll them
    /// back if the pre phase failed) [or `pause-hook = true`].
    #[arg(long)]
    pub pause_hook: bool,

    /// The CodeDeploy application of a service deployed by CodeDeploy [default: the one
    /// whose deployment group names the service].
    #[arg(long, value_name = "NAME")]
    pub codedeploy_app: Option<String>,

    /// The CodeDeploy deployment group of that service [default: the one that names it].
    #[arg(long, value_name = "NAME")]
    pub codedeploy_group: Option<String>,

    /// Register a new revision of what each service runs now with this container's image
    /// replaced (repeatable; every other field and the tags kept, one revision per
    /// family), and deploy it; instead of --task-definition.
    #[arg(long = "image", value_name = "CONTAINER=IMAGE")]
    pub images: Vec<String>,

    #[command(flatten)]
    pub locks: LockArgs,

    #[command(flatten)]
    pub ecs: EcsArgs,

    /// The manage.py command, after `--`, as for `run --phase`. Default: `python
    /// manage.py migrate --noinput`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The value of `settings.AUTH_USER_MODEL` in your project [default: auth.User, or
    /// `auth-user-model` from the configuration].
    #[arg(long, value_name = "APP.MODEL")]
    pub auth_user_model: Option<String>,
}

impl ProjectArgs {
    /// The project settings for the project at `roots`: `AUTH_USER_MODEL` from the flag,
    /// else the configuration, else the project's settings module, else Django's default;
    /// `MIGRATION_MODULES` from the settings module with the configuration's over it.
    fn settings(
        &self,
        config: Option<&crate::config::Config>,
        roots: &[PathBuf],
    ) -> Result<Settings, CliError> {
        let configured = config.and_then(|c| c.values.auth_user_model.as_deref());
        let chosen = self.auth_user_model.as_deref().or(configured);
        if let Some(value) = chosen {
            check_model_setting(value)?;
        }
        let extra = config.map(|c| c.migration_modules()).unwrap_or_default();
        let mut settings = crate::django::settings::resolve(roots, chosen, &extra);
        check_model_setting(&settings.auth_user_model)?;
        if let Some(v) = config
            .and_then(|c| c.values.django_version.as_deref())
            .and_then(crate::django::version::DjangoVersion::parse)
        {
            settings.django_version = Some(v);
        }
        // The configuration's engine over the settings'; a version alone refines the
        // settings' engine.
        if let Some(values) = config.map(|c| &c.values) {
            let here = config.map(|c| c.describe()).unwrap_or_default();
            let bad = |e: String| CliError::usage(format!("{here}: {e}"));
            match (&values.database, &values.database_version) {
                (Some(_), _) => {
                    settings.database = crate::django::database::Database::configured(
                        values.database.as_deref(),
                        values.database_version.as_deref(),
                    )
                    .map_err(bad)?;
                }
                (None, Some(v)) if !settings.database.is_postgresql() => {
                    settings.database.set_version(v).map_err(bad)?;
                }
                (None, Some(v)) => {
                    settings.database =
                        crate::django::database::Database::configured(None, Some(v))
                            .map_err(bad)?;
                }
                (None, None) => {}
            }
        }
        Ok(settings)
    }
}

fn check_model_setting(value: &str) -> Result<(), CliError> {
    let valid = value
        .split_once('.')
        .is_some_and(|(app, model)| !app.is_empty() && !model.is_empty() && !model.contains('.'));
    if valid {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "auth-user-model `{value}`: expected `app_label.ModelName`, as in settings.AUTH_USER_MODEL"
        )))
    }
}

/// Which migrations to load and which to report.
#[derive(Debug, Args)]
pub struct ScopeArgs {
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
}

/// The configuration file and the settings it can hold.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Read the configuration from FILE (`pyproject.toml` or `migrail.toml`) instead of
    /// searching upwards from the working directory.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,

    /// Ignore every configuration file.
    #[arg(long)]
    pub no_config: bool,

    /// The pipeline deploys in phases (`migrail run --phase pre`, rollout, `--phase post`):
    /// accepted `post` migrations may drop what the new code no longer uses.
    #[arg(long)]
    pub deploy_phases: bool,

    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Only these rules (comma-separated names). Replaces `select` of the configuration.
    #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
    pub select: Vec<String>,

    /// Not these rules (comma-separated names). Replaces `ignore` of the configuration.
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
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    /// Only fix these rules (comma-separated names).
    #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
    pub select: Vec<String>,

    /// Do not fix these rules (comma-separated names).
    #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
    pub ignore: Vec<String>,

    /// Print unified diffs of what would change and write nothing; exit 1 when there is
    /// something to fix.
    #[arg(long)]
    pub diff: bool,

    /// Also rewrite migrations the base branch already has (production applied them:
    /// an edit never reaches its database). Squashes and the migrations they replace are
    /// never rewritten.
    #[arg(long)]
    pub include_applied: bool,

    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The arguments of `plan` and `sql`: which migrations, the format, the configuration.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,

    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The formats of the commands that have no SARIF form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Directories to scan. Default: the current directory.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,

    /// The state a database that applied part of each squashed range reaches: the
    /// migrations a squash replaces run instead of the squash.
    #[arg(long)]
    pub unsquashed: bool,

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

/// An error that ends the run: [`EXIT_USAGE`], or 125 for `migrail run` (whose low exit
/// codes are the command's own).
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    /// An error of `migrail run` before or around the command (not the command's own).
    pub fn run(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: crate::run::exit::MIGRAIL_ERROR,
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
        Command::Lint(args) => lint::run_lint(&args),
        Command::Fix(args) => fix::run_fix(&args),
        Command::Plan(args) => lint::run_plan(&args),
        Command::Sql(args) => sql::run_sql(&args),
        Command::Rules(args) => info::run_rules(&args),
        Command::Rule { name } => info::run_rule(&name),
        Command::State(args) => info::run_state(&args),
        #[cfg(feature = "ecs")]
        Command::Run(args) => run::run(&args),
        #[cfg(feature = "ecs")]
        Command::Deploy(args) => deploy::run_deploy(&args),
        #[cfg(all(feature = "ecs", feature = "github"))]
        Command::Comment(args) => comment::run_comment(&args),
        #[cfg(all(feature = "ecs", feature = "github"))]
        Command::Ci(args) => comment::run_ci(&args),
        #[allow(unreachable_patterns)]
        other => Err(built_without(&other)),
    }
}

/// A command this build does not have (a lint-only build: `--no-default-features
/// --features lint`).
#[allow(dead_code)]
fn built_without(command: &Command) -> CliError {
    let (name, features, code) = match command {
        Command::Run(_) => ("run", "ecs", crate::run::exit::MIGRAIL_ERROR),
        Command::Deploy(_) => ("deploy", "ecs", crate::run::exit::MIGRAIL_ERROR),
        Command::Comment(_) => ("comment", "github", EXIT_USAGE),
        Command::Ci(_) => ("ci", "ecs and github", EXIT_USAGE),
        _ => ("this command", "default", EXIT_USAGE),
    };
    CliError {
        message: format!(
            "this migrail was built without the `{features}` feature (a lint-only build): \
             `migrail {name}` needs the full binary: `pip install migrail`, `uv tool install \
             migrail`, the release archives, or `cargo install --locked migrail` (README, \
             \"Install\")"
        ),
        code,
    }
}

/// Write to stdout; a closed pipe (`migrail lint | head`) is not an error worth a panic.
pub fn write_stdout(text: &str) -> Result<(), CliError> {
    write_stdout_with(|out| out.write_all(text.as_bytes()))
}

/// Write to stdout through a buffer as `write` produces the output (a large report is
/// never held in memory whole). A closed pipe (`| head`) is not an error.
pub fn write_stdout_with(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::usage(format!("cannot write to stdout: {e}"))),
    }
}
