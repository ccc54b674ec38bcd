//! `migrail run --phase pre|post`: apply only the migrations of one deploy phase.
//!
//! migrail reads the project's migrations statically and infers each one's phase (the
//! lint's deploy phases, markers included); the command it runs is a small script for
//! `manage.py shell` (`phase_migrate.py`) that gets the migrations that must wait
//! (`post`) or must never run (`never`), reads the database's real state through Django's
//! `MigrationExecutor`, and applies, in dependency order, what the phase allows: `pre`,
//! the pending migrations that may run before the rollout and whose pending dependencies
//! may too; `post`, everything else that is not blocked. It never unapplies a migration
//! (exit 4 when reaching its targets would, or when the database has migrations the code
//! does not: ahead of or diverged from it), and after `post` it exits 3 if blocked
//! migrations are left. The same script runs on either backend (ECS: as the command
//! override).

use std::path::Path;

use crate::django::migration::Settings;
use crate::django::Project;
use crate::lint::phase::Phase;
use crate::lint::{self, LintOptions, Review};

use super::locks::{self, LockGuard};

const SCRIPT: &str = include_str!("phase_migrate.py");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    All,
    Pre,
    Post,
}

/// Every migration of the project at `root` that may not run before the rollout, with
/// its phase (`post` or `never`).
pub fn waiting(root: &Path, settings: Settings) -> Result<Vec<(String, String, Phase)>, String> {
    let project = Project::load(&[root.to_path_buf()], settings).map_err(|e| e.to_string())?;
    if project.migrations.is_empty() {
        return Err(format!(
            "--project {}: no migration files (`<app>/migrations/[0-9]*.py`) under it",
            root.display()
        ));
    }
    let report = lint::lint(&project, &Review::All, &LintOptions::default());
    Ok(report
        .migrations
        .iter()
        .filter_map(|m| {
            let phase = m.phase.as_ref()?.phase;
            matches!(phase, Phase::Post | Phase::Never)
                .then(|| (m.app.clone(), m.name.clone(), phase))
        })
        .collect())
}

/// `python manage.py` from the command given (everything before `migrate`).
pub fn manage_py(command: &[String]) -> Vec<String> {
    match command.iter().position(|a| a == "migrate") {
        Some(i) => command[..i].to_vec(),
        None => command.to_vec(),
    }
}

fn py_str(s: &str) -> String {
    // A JSON string is a valid Python string literal for these characters.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The command that applies `phase`: `<manage.py> shell -c <script>`, behind the lock
/// guard when it is on (`migrate` calls bounded and retried, [`locks`]).
pub fn command(
    manage: &[String],
    phase: RunPhase,
    waiting: &[(String, String, Phase)],
    guard: &LockGuard,
) -> Vec<String> {
    let entries: Vec<String> = waiting
        .iter()
        .map(|(app, name, p)| {
            format!(
                "({}, {}): {}",
                py_str(app),
                py_str(name),
                py_str(p.as_str())
            )
        })
        .collect();
    let phase_name = if phase == RunPhase::Post {
        "post"
    } else {
        "pre"
    };
    let script = SCRIPT
        .replacen(
            "PHASE = \"pre\"",
            &format!("PHASE = {}", py_str(phase_name)),
            1,
        )
        .replacen(
            "PHASES = {}",
            &format!("PHASES = {{{}}}", entries.join(", ")),
            1,
        );
    let script = if guard.active() {
        guard.prelude(None)
            + &locks::compact(&script)
                .replace("call_command(\"migrate\", ", "migrail_migrate(")
                .replace(
                    "sys.exit(migrail_phase())",
                    "migrail_guard()\nsys.exit(mg_main(migrail_phase))",
                )
    } else {
        locks::compact(&script)
    };
    let mut argv = manage.to_vec();
    argv.extend(["shell".to_string(), "-c".to_string(), script]);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_gets_the_phase_and_the_waiting_migrations() {
        let argv = command(
            &["python".into(), "manage.py".into()],
            RunPhase::Post,
            &[("shop".into(), "0003_drop".into(), Phase::Post)],
            &LockGuard::default(),
        );
        assert_eq!(&argv[..4], ["python", "manage.py", "shell", "-c"]);
        assert!(argv[4].contains("PHASE = \"post\"\n"));
        assert!(argv[4].contains("PHASES = {(\"shop\", \"0003_drop\"): \"post\"}\n"));
        // Behind the guard: every migrate call is bounded and retried.
        assert!(argv[4].contains("LOCK_MS = 5000\n"));
        assert!(
            argv[4].contains("migrail_migrate(app, target,"),
            "{}",
            argv[4]
        );
        assert!(
            !argv[4].contains("call_command(\"migrate\", app"),
            "{}",
            argv[4]
        );
        assert!(argv[4].contains("migrail_guard()\nsys.exit(mg_main(migrail_phase))"));
        assert_eq!(
            manage_py(&[
                "python".into(),
                "src/manage.py".into(),
                "migrate".into(),
                "--noinput".into()
            ]),
            ["python", "src/manage.py"]
        );
    }
}
