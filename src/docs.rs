//! The manual's pages that are generated from the code (`docs/src/`): the table of
//! contents, one page per rule, the configuration reference and the exit-code reference.
//! `cargo test` fails when a page on disk differs; `MIGRAIL_UPDATE_DOCS=1 cargo test --lib
//! docs` rewrites them. Where the book is published: [`MANUAL_URL`].

use crate::cli::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::config;
use crate::lint::registry;
use crate::run::{deploy_exit, exit};

/// The published manual (GitHub Pages, by the release workflow).
pub const MANUAL_URL: &str = "https://migrail.github.io/migrail/";

/// Where a rule's page is published: SARIF's `helpUri`.
pub fn rule_url(rule: &str) -> String {
    format!("{MANUAL_URL}rules/{rule}.html")
}

const GENERATED: &str = "<!-- Generated from the code by `src/docs.rs`: `MIGRAIL_UPDATE_DOCS=1 cargo test --lib docs` rewrites it. -->\n\n";

/// Every generated page: its path under `docs/src/` and its text.
pub fn pages() -> Vec<(String, String)> {
    let mut pages = vec![
        ("SUMMARY.md".to_string(), summary()),
        ("rules/index.md".to_string(), rules_index()),
        ("reference/configuration.md".to_string(), configuration()),
        ("reference/exit-codes.md".to_string(), exit_codes()),
    ];
    for rule in registry::all() {
        let m = rule.meta();
        pages.push((format!("rules/{}.md", m.name), rule_page(rule.meta())));
    }
    pages
}

fn summary() -> String {
    let mut out = String::from(
        "# Summary\n\n\
         [Introduction](introduction.md)\n\n\
         - [Getting started](getting-started.md)\n\
         - [Linting migrations](lint.md)\n\
         \x20\x20- [Deploy phases and plan](phases.md)\n\
         \x20\x20- [Configuration](configuration.md)\n\
         \x20\x20- [Rules](rules/index.md)\n",
    );
    for rule in registry::all() {
        let name = rule.meta().name;
        out.push_str(&format!("    - [{name}](rules/{name}.md)\n"));
    }
    out.push_str(
        "- [MySQL, MariaDB and Aurora MySQL](mysql.md)\n\
         - [What runs: `migrail sql`](sql.md)\n\
         - [Fixing migrations](fix.md)\n\
         - [Running migrations](run.md)\n\
         - [Deploying](deploy.md)\n\
         - [Pull requests and pipelines](ci.md)\n\
         - [Accuracy and speed](accuracy-and-speed.md)\n\
         - [Reference]()\n\
         \x20\x20- [Configuration keys](reference/configuration.md)\n\
         \x20\x20- [Exit codes](reference/exit-codes.md)\n\
         - [Contributing](contributing.md)\n",
    );
    out
}

fn rules_index() -> String {
    let mut out = format!(
        "{GENERATED}# Rules\n\n\
         `migrail rules` lists them; `migrail rule NAME` prints a rule's page in the terminal. \
         Each finding's SARIF `helpUri` points at its page here.\n\n\
         | rule | severity | axis | engines | summary |\n|---|---|---|---|---|\n"
    );
    for r in registry::all() {
        let m = r.meta();
        out.push_str(&format!(
            "| [`{0}`]({0}.md) | {1} | {2} | {3} | {4} |\n",
            m.name,
            m.severity.as_str(),
            m.axis.as_str(),
            match m.engines {
                crate::lint::rule::Engines::All => "all",
                crate::lint::rule::Engines::Postgresql => "PostgreSQL",
                crate::lint::rule::Engines::Mysql => "MySQL, MariaDB",
            },
            m.summary
        ));
    }
    out
}

fn rule_page(m: &crate::lint::rule::RuleMeta) -> String {
    let preflight = m.preflight.map_or(String::new(), |what| {
        format!(
            "\n\n## Before it runs
Whether it succeeds depends on the rows: before the \
             migration takes its lock, `migrail run` and `migrail deploy` look for {what} and \
             refuse it if they find any, with the count, examples and the query that lists \
             them ([preflight](../run.md#preflight), exit 133)."
        )
    });
    format!(
        "{GENERATED}# {0}\n\nSeverity: {1}. Axis: {2}. Engines: {5}.\n\n{3}\n\n{4}{preflight}\n",
        m.name,
        m.severity.as_str(),
        m.axis.as_str(),
        m.summary,
        m.doc.trim(),
        m.engines.describe()
    )
}

fn configuration() -> String {
    let mut out = format!(
        "{GENERATED}# Configuration keys\n\n\
         `[tool.migrail]` in `pyproject.toml`, or the top level of `migrail.toml` (see \
         [Configuration](../configuration.md) for where migrail looks). An unknown key is an \
         error (exit 2).\n\n\
         | key | example | meaning |\n|---|---|---|\n"
    );
    for key in config::KEYS {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            key.name,
            key.example.replace('|', "\\|"),
            key.meaning
        ));
    }
    out
}

/// One row of the exit-code reference.
struct Code {
    code: String,
    meaning: &'static str,
}

fn code(c: u8, meaning: &'static str) -> Code {
    Code {
        code: c.to_string(),
        meaning,
    }
}

fn table(out: &mut String, title: &str, intro: &str, rows: &[Code]) {
    out.push_str(&format!(
        "## {title}\n\n{intro}| code | meaning |\n|---|---|\n"
    ));
    for r in rows {
        out.push_str(&format!("| {} | {} |\n", r.code, r.meaning));
    }
    out.push('\n');
}

fn exit_codes() -> String {
    let mut out = format!(
        "{GENERATED}# Exit codes\n\n\
         Exit codes are an API: they change only with a major version. A panic would exit \
         101; that is a bug, please report it.\n\n"
    );
    table(
        &mut out,
        "`migrail lint`, `plan`, `fix`, `sql`",
        "",
        &[
            code(EXIT_OK, "lint: no error-level finding (warnings and notes allowed); plan: nothing blocked; fix: fixed (or nothing to fix), no error-level finding left; `fix --diff`: nothing to change; sql: the SQL was printed (operations migrail cannot render are said in it)"),
            code(EXIT_FINDINGS, "lint: at least one error-level finding (with `--warnings-as-errors`, or the config, a warning too); plan: a migration blocked; fix: error-level findings left that have no automatic fix (listed); `fix --diff`: something would change (the diffs are printed)"),
            code(EXIT_USAGE, "usage, configuration or I/O error: bad flag, unknown rule or config key, missing path, `--base` outside git, no migration found at all, a file that cannot be written; sql: `APP NAME` naming no migration, or several"),
        ],
    );
    table(
        &mut out,
        "`migrail run`",
        "The command's own codes 1–123 pass through; the others are the run's.\n\n",
        &[
            code(exit::SUCCESS, "the command succeeded (ECS: the target container exited 0)"),
            Code { code: format!("1–{}", exit::TIMED_OUT - 1), meaning: "the command's (the target container's) own non-zero exit code, passed through" },
            code(exit::COMMAND_FAILED_HIGH, "also: the command's code was 124 or more (the real one is in `command_exit_code`)"),
            code(exit::TIMED_OUT, "timed out (`--timeout`); ECS: the task is left running unless `--on-cancel stop`"),
            code(exit::MIGRAIL_ERROR, "migrail could not run it: bad flags, no AWS region or credentials, a permission or API error, cluster/service/container not found, overrides too large, another migration in flight (without `--wait-for-other`), the lock held, the session expired while waiting, unwritable `--json-out`, a pooler with a command the lock guard cannot bound"),
            code(exit::FAILED_TO_START, "could not start: the local command is not executable; the task stopped with `TaskFailedToStart` (`CannotPullContainerError`, `ResourceInitializationError`, ...), or RunTask found no capacity after 6 attempts"),
            code(exit::NOT_FOUND, "the local command was not found"),
            code(exit::NO_EXIT_CODE, "ended without an exit code (local: killed by a signal; ECS: the container has none)"),
            code(exit::STOPPED_EXTERNALLY, "the task was stopped by someone else (`UserInitiated`, `ServiceSchedulerInitiated`, `SpotInterruption`, `TerminationNotice`)"),
            code(exit::CANCELLED, "cancelled (SIGINT/SIGTERM): detached from the task, or stopped it with `--on-cancel stop`"),
            code(exit::ROLLOUT_FAILED, "`--phase post --service`: not started, a service's rollout failed or was rolled back (the old release may be serving)"),
            code(exit::OLD_RELEASE_RUNNING, "`--phase post --service`: not started, at `--timeout` a service was not yet on the task definition or a task of another revision was still alive"),
            code(exit::PREFLIGHT_REFUSED, "the preflight refused a migration: rows it would fail on (duplicates under a new unique constraint, NULLs under `SET NOT NULL`, rows breaking a `CHECK` or a foreign key, values that do not fit), or with `--preflight-strict` a check that timed out; it was not started and nothing was recorded (migrations before it stay applied). `--preflight only`: a pending migration would be refused, none was applied"),
        ],
    );
    table(
        &mut out,
        "`migrail deploy`",
        "",
        &[
            code(deploy_exit::SUCCESS, "deployed: pre ran, every service rolled out with no old task left, post ran (or had nothing to run)"),
            code(deploy_exit::BLOCKED, "the plan is blocked: nothing was changed"),
            code(deploy_exit::UNSUPPORTED, "a service migrail cannot drive (an `EXTERNAL` controller, an unknown type) or, with `--pause-hook`, a service without the PRE_SCALE_UP pause hook: nothing was changed"),
            Code { code: format!("1–{}", exit::CANCELLED), meaning: "the pre or post run failed: its own exit code (the table of `migrail run`; the JSON's `step` says which)" },
            code(deploy_exit::PREFLIGHT_REFUSED, "the pre or post run's preflight refused a migration (pre: no service was updated; post: the new release runs, the post-deploy migration waits for the data to be fixed)"),
            code(deploy_exit::MIGRAIL_ERROR, "migrail could not deploy: bad flags, no AWS region or credentials, a task definition or service not found, `UpdateService` denied — services already updated keep rolling out, the post phase is not run"),
            code(deploy_exit::CANCELLED, "cancelled while waiting for the rollout: the services were left as they are"),
            code(deploy_exit::ROLLOUT_FAILED, "a rollout failed, was rolled back, or its deployment was replaced: the post phase was not run"),
            code(deploy_exit::OLD_RELEASE_RUNNING, "`--timeout` reached while the old release was still running: the post phase was not run; the command to finish is printed"),
        ],
    );
    table(
        &mut out,
        "`migrail comment`",
        "",
        &[
            code(EXIT_OK, "posted, or nothing to post (no token or no pull request: said on stderr; a 403 only warns)"),
            code(EXIT_USAGE, "usage error"),
            code(crate::cli::EXIT_COMMENT_FAILED, "the comment could not be posted (other API errors)"),
        ],
    );
    table(
        &mut out,
        "`migrail ci`",
        "When it ran the migrations, the run's (or the deploy's) exit code; otherwise:\n\n",
        &[
            code(EXIT_OK, "the lint passed"),
            code(EXIT_FINDINGS, "the lint failed"),
            code(
                EXIT_USAGE,
                "usage error (no base branch in the checkout, ...)",
            ),
            code(exit::MIGRAIL_ERROR, "a run refused (code from a fork)"),
        ],
    );
    out.trim_end().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_generated_pages_are_current() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src");
        let update = std::env::var_os("MIGRAIL_UPDATE_DOCS").is_some();
        let pages = pages();
        let mut stale = Vec::new();
        for (path, text) in &pages {
            let file = src.join(path);
            if update {
                std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
                std::fs::write(&file, text).expect("write");
            }
            if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.clone());
            }
        }
        // A rule page left behind by a renamed or removed rule.
        for entry in std::fs::read_dir(src.join("rules"))
            .expect("docs/src/rules")
            .flatten()
        {
            let name = format!("rules/{}", entry.file_name().to_string_lossy());
            if !pages.iter().any(|(p, _)| *p == name) {
                if update {
                    std::fs::remove_file(entry.path()).expect("remove");
                } else {
                    stale.push(name);
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale manual pages {stale:?}: run `MIGRAIL_UPDATE_DOCS=1 cargo test --lib docs`"
        );
    }

    #[test]
    fn the_configuration_reference_documents_exactly_the_keys_the_file_accepts() {
        let documented: Vec<&str> = config::KEYS.iter().map(|k| k.name).collect();
        let mut accepted: Vec<&str> = config::file_config_keys().to_vec();
        let mut sorted = documented.clone();
        sorted.sort_unstable();
        accepted.sort_unstable();
        assert_eq!(sorted, accepted);
        // And every example is a value the file accepts for its key.
        for key in config::KEYS {
            let toml = if key.name == "severity" || key.name == "migration-modules" {
                format!(
                    "[{}]\n{}\n",
                    key.name,
                    key.example.trim_matches(['{', '}', ' '])
                )
            } else {
                format!("{} = {}\n", key.name, key.example)
            };
            let parsed: Result<config::FileConfig, _> = toml::from_str(&toml);
            assert!(parsed.is_ok(), "{}: {toml}: {parsed:?}", key.name);
        }
    }

    #[test]
    fn rule_pages_are_where_sarif_points() {
        assert_eq!(
            rule_url("drop-column"),
            "https://migrail.github.io/migrail/rules/drop-column.html"
        );
        assert!(pages().iter().any(|(p, _)| p == "rules/drop-column.md"));
    }
}
