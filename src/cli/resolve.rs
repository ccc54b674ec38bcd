//! The run a lint-based command is about: the configuration found and the flags over it,
//! the scope (what is loaded, what is reviewed), the project loaded. `lint`, `plan`,
//! `fix`, `comment`, `ci` and `deploy` start here; this module renders nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::django::Project;
use crate::lint::rule::Severity;
use crate::lint::{self, LintOptions, Review};

use super::scope::lint_scope;
use super::{CliError, ConfigArgs, ScopeArgs};

/// Everything a lint run needs, with flags applied over the configuration file.
pub struct Resolved {
    pub options: LintOptions,
    pub warnings_as_errors: bool,
    pub project: Project,
    pub review: Review,
}

pub fn configuration(args: &ConfigArgs) -> Result<Option<Config>, CliError> {
    if args.no_config {
        return Ok(None);
    }
    let found = match &args.config {
        Some(path) => config::load(path).map(Some),
        None => config::discover(Path::new(".")),
    };
    found.map_err(|e| CliError::usage(e.to_string()))
}

pub fn resolve(
    scope: &ScopeArgs,
    config_args: &ConfigArgs,
    select: &[String],
    ignore: &[String],
    warnings_as_errors: bool,
) -> Result<Resolved, CliError> {
    let timer = crate::timings::Timer::start();
    let scoped = lint_scope(scope)?;
    // Reviewed against a base: what it has of the migrations the change touches.
    let applied = match &scope.base {
        Some(base) => Some(std::sync::Arc::new(super::scope::base_versions(base)?)),
        None => None,
    };
    timer.lap("scope");
    // A deleted migration's app is loaded too (its deletion is reported there).
    let also_load: Vec<PathBuf> = applied
        .iter()
        .flat_map(|a| a.edits.iter().filter(|e| e.now.is_none()))
        .filter_map(|e| {
            let dir = e.then.parent()?;
            std::fs::read_dir(dir)
                .ok()?
                .flatten()
                .map(|entry| entry.path())
                .find(|p| crate::django::discover::may_be_migration(p))
                .and_then(|p| p.canonicalize().ok())
        })
        .collect();
    let mut resolved = resolve_loaded(
        scoped,
        &also_load,
        config_args,
        select,
        ignore,
        warnings_as_errors,
    )?;
    resolved.options.applied = applied;
    Ok(resolved)
}

/// [`resolve`] with the roots and the review already chosen (`migrail fix`'s scope).
pub fn resolve_scoped(
    scoped: (Vec<PathBuf>, Review),
    config_args: &ConfigArgs,
    select: &[String],
    ignore: &[String],
    warnings_as_errors: bool,
) -> Result<Resolved, CliError> {
    resolve_loaded(scoped, &[], config_args, select, ignore, warnings_as_errors)
}

/// [`resolve_scoped`], loading the apps of `also_load` (migration files) besides the
/// reviewed ones.
fn resolve_loaded(
    (roots, review): (Vec<PathBuf>, Review),
    also_load: &[PathBuf],
    config_args: &ConfigArgs,
    select: &[String],
    ignore: &[String],
    warnings_as_errors: bool,
) -> Result<Resolved, CliError> {
    let config = configuration(config_args)?;
    let file = config
        .as_ref()
        .map(|c| c.values.clone())
        .unwrap_or_default();
    let pick = |flag: &[String], file: Option<Vec<String>>| {
        if flag.is_empty() {
            file.unwrap_or_default()
        } else {
            flag.to_vec()
        }
    };
    let options = LintOptions {
        select: pick(select, file.select),
        ignore: pick(ignore, file.ignore),
        severity: file
            .severity
            .unwrap_or_default()
            .into_iter()
            .map(|(rule, s)| (rule, Severity::from(s)))
            .collect(),
        deploy_phases: config_args.deploy_phases || file.deploy_phases.unwrap_or(false),
        lint_squashed: file.squashed == Some(config::SquashedMode::Lint),
        applied: None,
        process_ends: false,
    };
    options.validate().map_err(CliError::usage)?;
    let timer = crate::timings::Timer::start();
    let settings = config_args.project.settings(config.as_ref(), &roots)?;
    let focus = review.focus().map(|f| {
        let mut f = f.clone();
        f.extend(also_load.iter().cloned());
        f
    });
    let modules = settings.migration_modules.clone();
    let project = Project::load_focused(&roots, settings, focus.as_ref())
        .map_err(|e| CliError::usage(e.to_string()))?;
    timer.lap("load (discover, read, parse, graph)");
    // Reviewed against a base that changed no migration: nothing to check, and that
    // passes, when there are migrations to find at all.
    let nothing_changed = focus.as_ref().is_some_and(BTreeSet::is_empty)
        && crate::django::discover::discover(&roots, &modules).is_ok_and(|f| !f.is_empty());
    // No roots: only files that are not migrations were named (pre-commit), nothing to do.
    if project.migrations.is_empty() && !roots.is_empty() && !nothing_changed {
        let shown: Vec<String> = roots.iter().map(|r| lint::display_path(r)).collect();
        let what = format!(
            "no migration files (modules of an `<app>/migrations/` package, or of a \
             `MIGRATION_MODULES` folder) under {}",
            shown.join(", ")
        );
        // Nothing found is never "passed": a CI step run from the wrong folder must fail.
        return Err(CliError::usage(format!(
            "{what}: nothing to check. Run migrail from the project's folder (the one holding \
             manage.py) or name it: `migrail lint path/to/project`; if the migrations live \
             elsewhere, set `migration-modules` in the configuration"
        )));
    }
    // `exclude` globs: still loaded (the state needs them), never reported.
    let review = match &config {
        Some(c) if c.values.exclude.is_some() => Review::files(
            project
                .migrations
                .iter()
                .filter(|m| review.includes(m) && !c.excludes(&m.source.path))
                .map(|m| m.source.path.as_path()),
        ),
        _ => review,
    };
    Ok(Resolved {
        options,
        warnings_as_errors: warnings_as_errors || file.warnings_as_errors.unwrap_or(false),
        project,
        review,
    })
}
