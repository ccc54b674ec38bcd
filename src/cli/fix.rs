//! `migrail fix`: choose the scope (by default what the branch has not shipped), compute
//! and validate the fixes in memory (`crate::fix::rounds`), then write the files (each
//! through a temporary file and a rename, only once every fix has passed) or print
//! unified diffs, and say what was not fixed and why.

use std::path::{Path, PathBuf};

use crate::fix::rounds::{self, Outcome};
use crate::lint::display_path;
use crate::lint::rule::Severity;

use super::resolve::resolve_scoped;
use super::scope::fix_scope;
use super::{write_stdout, CliError, FixArgs, EXIT_FINDINGS, EXIT_OK};

pub fn run_fix(args: &FixArgs) -> Result<u8, CliError> {
    let (roots, review, shipped) = fix_scope(&args.scope)?;
    let r = resolve_scoped(
        (roots, review),
        &args.config,
        &args.select,
        &args.ignore,
        false,
    )?;
    let protect = |m: &crate::django::migration::MigrationFile| -> Option<String> {
        let shipped = shipped.as_ref().filter(|_| !args.include_applied)?;
        shipped.holds(&m.source.path).then(|| {
            format!(
                "applied: {} has it already (merge base {}); a database that applied it never \
                 sees an edit, so write a new migration instead (`--include-applied` rewrites \
                 it anyway)",
                shipped.base, shipped.merge_base
            )
        })
    };
    let outcome = rounds::compute(&r.project, &r.review, &r.options, &protect);
    if let Some(error) = &outcome.internal_error {
        return Err(CliError::usage(error.clone()));
    }
    let changed = outcome.changed();
    if args.diff {
        let mut out = outcome.diff();
        out.push_str(&summary(&outcome, true));
        write_stdout(&out)?;
        return Ok(if changed.is_empty() {
            EXIT_OK
        } else {
            EXIT_FINDINGS
        });
    }
    write_all(&outcome, &changed)?;
    write_stdout(&summary(&outcome, false))?;
    let errors_left = outcome.left.iter().any(|f| f.severity == Severity::Error);
    Ok(if errors_left { EXIT_FINDINGS } else { EXIT_OK })
}

/// Write every changed file: first each to a temporary file beside it, then the renames,
/// so that a file that cannot be written leaves every file as it was.
fn write_all(outcome: &Outcome, changed: &[&PathBuf]) -> Result<(), CliError> {
    let temporary = |path: &Path| {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".migrail-fix.tmp");
        path.with_file_name(name)
    };
    let mut staged: Vec<(PathBuf, &PathBuf)> = Vec::new();
    for path in changed {
        let text = outcome.texts.get(*path).map(String::as_str).unwrap_or("");
        let tmp = temporary(path);
        if let Err(e) = std::fs::write(&tmp, text) {
            for (t, _) in &staged {
                let _ = std::fs::remove_file(t);
            }
            let _ = std::fs::remove_file(&tmp);
            return Err(CliError::usage(format!(
                "{}: cannot write the fixed migration: {e}; nothing was changed (make the \
                 folder writable and run `migrail fix` again)",
                display_path(path)
            )));
        }
        staged.push((tmp, path));
    }
    for (tmp, path) in &staged {
        std::fs::rename(tmp, path).map_err(|e| {
            CliError::usage(format!(
                "{}: cannot replace the file with its fixed text ({e}); the fixed text is in {}",
                display_path(path),
                display_path(tmp)
            ))
        })?;
    }
    Ok(())
}

fn summary(o: &Outcome, dry_run: bool) -> String {
    let mut out = String::new();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let changed = o.changed();
    let new_files = changed.iter().filter(|p| o.created.contains(**p)).count();
    let is_migration = |p: &PathBuf| p.file_name().is_none_or(|n| n != "models.py");
    let edited = changed.len() - new_files;
    let models = changed.iter().filter(|p| !is_migration(p)).count();
    if o.fixed.is_empty() {
        out.push_str("Nothing to fix.\n");
    } else {
        out.push_str(&format!(
            "{} {} in {}{}, {}{}\n",
            if dry_run { "Would fix" } else { "Fixed" },
            plural(o.fixed.len(), "finding", "findings"),
            plural(edited - models, "migration", "migrations"),
            if models > 0 {
                format!(" and {}", plural(models, "models.py", "models.py files"))
            } else {
                String::new()
            },
            plural(new_files, "new file", "new files"),
            if dry_run { " (nothing written)" } else { "" },
        ));
        for path in &changed {
            let mark = if o.created.contains(*path) {
                "new"
            } else {
                "edited"
            };
            out.push_str(&format!("  {mark}: {}\n", display_path(path)));
        }
    }
    for (path, why) in &o.dropped {
        out.push_str(&format!(
            "dropped: the fixes of {}: {why}\n",
            display_path(path)
        ));
    }
    for note in &o.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if !o.protected.is_empty() {
        out.push_str(&format!(
            "{} in migrations left alone:\n",
            plural(o.protected.len(), "finding", "findings")
        ));
        let mut last_why: Option<&str> = None;
        for (f, why) in &o.protected {
            out.push_str(&format!(
                "  {}:{}: {}[{}]: not fixed",
                f.path_display(),
                f.line,
                f.severity.as_str(),
                f.rule
            ));
            // The reason once for a run of findings that share it.
            if last_why != Some(why.as_str()) {
                out.push_str(&format!(": {why}"));
                last_why = Some(why);
            }
            out.push('\n');
        }
    }
    if !o.left.is_empty() {
        out.push_str(&format!(
            "{} no automatic fix:\n",
            plural(o.left.len(), "finding has", "findings have")
        ));
        for f in &o.left {
            let key = (f.rule, f.path_display(), f.line);
            let why = if let Some(why) = o.skipped.get(&key) {
                format!("not fixed: {why}")
            } else if f.fix.is_some() {
                "its fix could not be applied in this scope".to_string()
            } else {
                crate::fix::no_fix_reason(f.rule).to_string()
            };
            out.push_str(&format!(
                "  {}:{}: {}[{}]: {why}\n",
                f.path_display(),
                f.line,
                f.severity.as_str(),
                f.rule
            ));
        }
    }
    out
}
