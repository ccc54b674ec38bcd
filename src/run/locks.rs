//! Bounded lock waits: `--lock-timeout` (default 5 s), `--lock-retries` (default 5) and
//! `--statement-timeout` (default off), on both backends and with every `--phase`.
//!
//! On MySQL and MariaDB (the guard sees Django's connection vendor) the timeout is the
//! session's `lock_wait_timeout` and `innodb_lock_wait_timeout`, in whole seconds, set on
//! every connection Django opens; DDL is not transactional there, so a migration is retried
//! only when none of its statements ran, and one that fails part way is reported statement
//! by statement.
//!
//! The most common migration outage on PostgreSQL is a queue: an `ALTER TABLE` waits for
//! its ACCESS EXCLUSIVE lock behind one long transaction, and every query on the table
//! queues behind the `ALTER`. migrail bounds the wait where the migrations run: a
//! `manage.py migrate` command (the default one, any other, and the phase script) runs as
//! `manage.py shell -c` with the guard of `lock_guard.py`, which puts `SET LOCAL
//! lock_timeout` first in every transaction of Django's connection (autocommit statements
//! get a short transaction of their own), so no setting outlives migrail's transactions
//! and none reaches another client of a pooler (PgBouncer, RDS Proxy). It checks the
//! setting, says it is in effect, says when it sees transaction pooling, leaves
//! concurrent index builds without any timeout (a timeout mid-build leaves an INVALID
//! index), retries a migration that failed with `lock_not_available` (55P03) when it was
//! atomic — rolled back whole — with exponential backoff and jitter (a non-atomic one is
//! never retried; the operations that ran, and any INVALID index left, are named), and
//! checks on a new connection afterwards that nothing is left. A command that is not
//! `manage.py migrate` gets `PGOPTIONS` only, with a warning, and is refused behind a
//! pooler (`pooler` in the configuration): PgBouncer refuses that startup parameter.

use std::time::Duration;

use serde::Serialize;

const GUARD: &str = include_str!("lock_guard.py");

pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 5;

/// The settings, resolved from the flags and the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockGuard {
    /// `None`: off.
    pub lock_timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    pub retries: u32,
    /// A pooler between the migrations and PostgreSQL.
    pub pooler: crate::config::Pooler,
    /// The data checks run before each migration (`preflight.py`, appended to the guard).
    pub preflight: super::preflight::Preflight,
}

impl Default for LockGuard {
    fn default() -> LockGuard {
        LockGuard {
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            statement_timeout: None,
            retries: DEFAULT_RETRIES,
            pooler: crate::config::Pooler::None,
            preflight: super::preflight::Preflight::default(),
        }
    }
}

/// `0` or `off`: no timeout; else a duration (`5s`, `500ms`, `1m`).
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    match text.trim() {
        "0" | "off" | "0s" | "0ms" => Ok(None),
        t => super::parse_duration(t).map(Some),
    }
}

fn millis(d: Option<Duration>) -> u128 {
    d.map_or(0, |d| d.as_millis().max(1))
}

impl LockGuard {
    /// Whether anything is set at all (`--lock-timeout 0` without a statement timeout,
    /// and `--preflight off`, runs the command as given).
    pub fn active(&self) -> bool {
        self.bounds_locks() || self.preflight.active()
    }

    /// Whether a lock or statement timeout is set.
    pub fn bounds_locks(&self) -> bool {
        self.lock_timeout.is_some() || self.statement_timeout.is_some()
    }

    /// What the output says about it.
    pub fn describe(&self) -> String {
        let show = |d: Option<Duration>| match d {
            Some(d) => super::format_duration(d).replace(' ', ""),
            None => "off".into(),
        };
        format!(
            "lock_timeout {}, statement_timeout {}, up to {} retries",
            show(self.lock_timeout),
            show(self.statement_timeout),
            self.retries
        )
    }

    /// The guard script with the values filled in, without comments or blank lines (the
    /// command must fit in ECS's 8,192-character overrides).
    pub fn prelude(&self, alias: Option<&str>) -> String {
        let filled = GUARD
            .replacen(
                "LOCK_MS = 5000",
                &format!("LOCK_MS = {}", millis(self.lock_timeout)),
                1,
            )
            .replacen(
                "STATEMENT_MS = 0",
                &format!("STATEMENT_MS = {}", millis(self.statement_timeout)),
                1,
            )
            .replacen("RETRIES = 5", &format!("RETRIES = {}", self.retries), 1)
            .replacen(
                "ALIAS = DEFAULT_DB_ALIAS",
                &format!(
                    "ALIAS = {}",
                    alias.map_or("DEFAULT_DB_ALIAS".to_string(), py_str)
                ),
                1,
            );
        compact(&filled) + &self.preflight.script()
    }

    /// The `PGOPTIONS` for a command that cannot be guarded.
    fn pgoptions(&self, existing: Option<&str>) -> String {
        let mut words: Vec<String> = existing
            .filter(|e| !e.trim().is_empty())
            .map(|e| vec![e.trim().to_string()])
            .unwrap_or_default();
        words.push(format!("-c lock_timeout={}", millis(self.lock_timeout)));
        if self.statement_timeout.is_some() {
            words.push(format!(
                "-c statement_timeout={}",
                millis(self.statement_timeout)
            ));
        }
        words.join(" ")
    }
}

/// Python source without full-line comments and blank lines.
pub fn compact(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A JSON string is a valid Python string literal.
pub fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `(manage.py part, the arguments after migrate)` when `command` runs Django's migrate
/// (`python manage.py migrate ...`, `django-admin migrate ...`).
pub fn split_migrate(command: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let at = command.iter().position(|a| a == "migrate")?;
    let django = command[..at].iter().any(|a| {
        a.ends_with("manage.py")
            || a == "django-admin"
            || a.ends_with("/django-admin")
            || a == "django"
    });
    django.then(|| (command[..at].to_vec(), command[at + 1..].to_vec()))
}

/// The command to run, extra environment variables, and warnings to print.
#[derive(Debug, PartialEq, Eq)]
pub struct Guarded {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Guard a plain command (`--phase all`). `existing_pgoptions`: the `PGOPTIONS` the
/// command would inherit (local backend). Refused (the message says what to do) when
/// the command cannot be bounded: not `manage.py migrate`, behind a pooler.
pub fn guard(
    command: &[String],
    g: &LockGuard,
    existing_pgoptions: Option<&str>,
) -> Result<Guarded, String> {
    if !g.active() {
        return Ok(Guarded {
            command: command.to_vec(),
            env: Vec::new(),
            warnings: Vec::new(),
        });
    }
    let Some((manage, args)) = split_migrate(command) else {
        let mut warnings = Vec::new();
        if g.preflight.active() {
            if g.preflight.mode == super::preflight::Mode::Only {
                return Err(format!(
                    "--preflight only checks what `manage.py migrate` would apply, and `{}` is \
                     not `manage.py migrate`: run the checks with `python manage.py migrate`",
                    crate::run::display_command(command)
                ));
            }
            warnings.push(
                "the command is not `manage.py migrate`: no preflight (the data checks run \
                 inside Django's migrate); run `python manage.py migrate`, or pass \
                 `--preflight off` to say so"
                    .to_string(),
            );
        }
        if !g.bounds_locks() {
            return Ok(Guarded {
                command: command.to_vec(),
                env: Vec::new(),
                warnings,
            });
        }
        if g.pooler != crate::config::Pooler::None {
            return Err(format!(
                "`{}` is not `manage.py migrate`, and behind a pooler nothing can bound its \
                 lock waits: PGOPTIONS travels as the `options` startup parameter, which \
                 PgBouncer refuses (or drops, with `ignore_startup_parameters`), and a \
                 session setting outlives the command on a pooled server connection. Run \
                 `python manage.py migrate` (the guard sets the timeouts per transaction), \
                 or pass `--lock-timeout 0` to run this command unbounded",
                crate::run::display_command(command)
            ));
        }
        warnings.insert(
            0,
            format!(
                "the command is not `manage.py migrate`: {} set through PGOPTIONS only (libpq \
                 ignores it when the settings pass OPTIONS[\"options\"], and nothing is \
                 retried; a session setting, so never behind a pooler; PostgreSQL only: on \
                 MySQL and MariaDB the command keeps the server's lock_wait_timeout); run \
                 `python manage.py migrate` for the full guard",
                g.describe()
            ),
        );
        return Ok(Guarded {
            command: command.to_vec(),
            env: vec![("PGOPTIONS".into(), g.pgoptions(existing_pgoptions))],
            warnings,
        });
    };
    let alias = args
        .iter()
        .position(|a| a == "--database")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--database=").map(str::to_string))
        });
    let call: Vec<String> = args.iter().map(|a| py_str(a)).collect();
    let script = format!(
        "{}sys.exit(migrail_run({}))\n",
        g.prelude(alias.as_deref()),
        call.join(", ")
    );
    let mut argv = manage;
    argv.extend(["shell".to_string(), "-c".to_string(), script]);
    Ok(Guarded {
        command: argv,
        env: Vec::new(),
        warnings: Vec::new(),
    })
}

/// A lock retry the run's output reported (`migrail: lock timeout on T while applying
/// M, retry i/N in W s`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockRetry {
    pub migration: String,
    pub table: Option<String>,
    pub attempt: u32,
    pub wait_seconds: f64,
}

/// Read a retry line of the guard's output.
pub fn parse_retry(line: &str) -> Option<LockRetry> {
    let at = line.find("migrail: lock timeout")?;
    let rest = line[at..].trim().strip_prefix("migrail: lock timeout")?;
    let (table, rest) = match rest.strip_prefix(" on ") {
        Some(r) => {
            let (t, r) = r.split_once(" while applying ")?;
            (Some(t.to_string()), r)
        }
        None => (None, rest.strip_prefix(" while applying ")?),
    };
    let (migration, rest) = rest.split_once(", retry ")?;
    let (attempt, rest) = rest.split_once('/')?;
    let wait = rest.split_once(" in ")?.1.strip_suffix(" s")?;
    Some(LockRetry {
        migration: migration.to_string(),
        table,
        attempt: attempt.parse().ok()?,
        wait_seconds: wait.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn manage_py_migrate_is_guarded_with_its_arguments() {
        let g = guard(
            &words("python src/manage.py migrate shop --database replica"),
            &LockGuard::default(),
            None,
        )
        .expect("guarded");
        assert_eq!(&g.command[..4], ["python", "src/manage.py", "shell", "-c"]);
        let script = &g.command[4];
        assert!(script.contains("LOCK_MS = 5000\n"), "{script}");
        assert!(script.contains("ALIAS = \"replica\"\n"), "{script}");
        assert!(
            script.ends_with("sys.exit(migrail_run(\"shop\", \"--database\", \"replica\"))\n"),
            "{script}"
        );
        assert!(!script.contains("\n#"), "comments are dropped");
        assert!(g.env.is_empty() && g.warnings.is_empty());
    }

    #[test]
    fn other_commands_get_pgoptions_and_a_warning_and_zero_turns_it_off() {
        let cmd = words("python manage.py migrate --noinput");
        let no_locks = LockGuard {
            lock_timeout: None,
            ..LockGuard::default()
        };
        // The preflight still needs the script.
        let checked = guard(&cmd, &no_locks, None).expect("guarded");
        assert!(
            checked.command[4].contains("LOCK_MS = 0\n")
                && checked.command[4].contains("def mg_preflight")
        );
        let off = LockGuard {
            preflight: crate::run::preflight::Preflight {
                mode: crate::run::preflight::Mode::Off,
                ..Default::default()
            },
            ..no_locks
        };
        assert_eq!(guard(&cmd, &off, None).expect("as given").command, cmd);
        // Another command: no preflight, said so; `only` refused.
        let other = guard(&words("make migrate"), &no_locks, None).expect("as given");
        assert_eq!(other.command, words("make migrate"));
        assert!(
            other.warnings[0].contains("no preflight"),
            "{:?}",
            other.warnings
        );
        let only = LockGuard {
            preflight: crate::run::preflight::Preflight {
                mode: crate::run::preflight::Mode::Only,
                ..Default::default()
            },
            ..LockGuard::default()
        };
        assert!(guard(&words("make migrate"), &only, None).is_err());
        let g = guard(
            &words("make migrate"),
            &LockGuard {
                statement_timeout: Some(Duration::from_secs(60)),
                ..LockGuard::default()
            },
            Some("-c search_path=app"),
        )
        .expect("PGOPTIONS");
        assert_eq!(g.command, words("make migrate"));
        assert_eq!(
            g.env,
            [(
                "PGOPTIONS".to_string(),
                "-c search_path=app -c lock_timeout=5000 -c statement_timeout=60000".to_string()
            )]
        );
        assert!(g.warnings[0].contains("PGOPTIONS only"), "{:?}", g.warnings);
        assert!(g.warnings[1].contains("no preflight"), "{:?}", g.warnings);
    }

    #[test]
    fn behind_a_pooler_another_command_is_refused_unless_unbounded() {
        for pooler in [
            crate::config::Pooler::Transaction,
            crate::config::Pooler::Session,
        ] {
            let g = LockGuard {
                pooler,
                ..LockGuard::default()
            };
            let err = guard(&words("make migrate"), &g, None).expect_err("refused");
            assert!(
                err.contains("`make migrate` is not `manage.py migrate`")
                    && err.contains("--lock-timeout 0"),
                "{err}"
            );
            // migrate itself is guarded per transaction; `--lock-timeout 0` runs as given.
            assert!(guard(&words("python manage.py migrate"), &g, None).is_ok());
            let off = LockGuard {
                lock_timeout: None,
                ..g
            };
            let plain = guard(&words("make migrate"), &off, None).expect("unbounded");
            assert!(plain.env.is_empty());
        }
    }

    #[test]
    fn timeouts_and_retry_lines_parse() {
        assert_eq!(parse_timeout("0"), Ok(None));
        assert_eq!(parse_timeout("off"), Ok(None));
        assert_eq!(parse_timeout("1s"), Ok(Some(Duration::from_secs(1))));
        assert_eq!(parse_timeout("250ms"), Ok(Some(Duration::from_millis(250))));
        assert!(parse_timeout("soon").is_err());
        assert_eq!(
            parse_retry(
                "migrail: lock timeout on shop_order while applying shop.0007_x, retry 2/5 in 3.4 s"
            ),
            Some(LockRetry {
                migration: "shop.0007_x".into(),
                table: Some("shop_order".into()),
                attempt: 2,
                wait_seconds: 3.4
            })
        );
        assert_eq!(
            parse_retry("migrail: lock timeout while applying a migration, retry 1/5 in 1.0 s")
                .map(|r| r.table),
            Some(None)
        );
        assert_eq!(parse_retry("  Applying shop.0001... OK"), None);
        // After Django's `Applying X...` without its line end.
        assert_eq!(
            parse_retry("  Applying shop.0007_x...migrail: lock timeout on t while applying shop.0007_x, retry 1/5 in 1.0 s")
                .map(|r| r.attempt),
            Some(1)
        );
    }
}
