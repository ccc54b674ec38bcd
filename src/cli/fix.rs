//! `migrail fix`: lint the scope, apply the fixes the rules attach to their findings
//! (`crate::fix`), in rounds until none is left (a rewritten operation may carry a second
//! fix), then write the files or print unified diffs, and say what has no automatic fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::django::discover::DiscoveredFile;
use crate::django::Project;
use crate::lint::rule::Severity;
use crate::lint::{self, display_path, Review};

use super::lint::resolve;
use super::{write_stdout, CliError, FixArgs, EXIT_FINDINGS, EXIT_OK};

/// Rounds of fixing at most (each round re-lints what the previous one wrote).
const MAX_ROUNDS: usize = 4;

/// What fixing the scope gives, computed in memory (nothing written).
pub(super) struct Outcome {
    originals: BTreeMap<PathBuf, String>,
    texts: BTreeMap<PathBuf, String>,
    created: BTreeSet<PathBuf>,
    fixed: Vec<(&'static str, String, usize)>,
    /// Why a fix was not applied, by (rule, file, line): the last round's word.
    skipped: BTreeMap<(&'static str, String, usize), String>,
    /// Findings above notes left in the scope after the fixes.
    left: Vec<lint::Finding>,
    /// What is left to do by hand (pins, next release's migrations).
    notes: Vec<String>,
}

impl Outcome {
    /// The files that change (edited or new), in path order.
    fn changed(&self) -> Vec<&PathBuf> {
        self.texts
            .iter()
            .filter(|(p, t)| self.originals.get(*p) != Some(t))
            .map(|(p, _)| p)
            .collect()
    }

    /// Unified diffs of every change (`--- /dev/null` for new files); empty when none.
    pub(super) fn diff(&self) -> String {
        let mut out = String::new();
        for path in self.changed() {
            let old = self.originals.get(path).map(String::as_str).unwrap_or("");
            let new = self.texts.get(path).map(String::as_str).unwrap_or("");
            let shown = display_path(path);
            let from = if self.originals.contains_key(path) {
                format!("a/{shown}")
            } else {
                "/dev/null".to_string()
            };
            out.push_str(
                &similar::TextDiff::from_lines(old, new)
                    .unified_diff()
                    .context_radius(3)
                    .header(&from, &format!("b/{shown}"))
                    .to_string(),
            );
        }
        out
    }
}

/// Fix the migrations `review` selects, in rounds (each re-lints what the previous wrote).
pub(super) fn compute(
    first: &Project,
    first_review: &Review,
    options: &lint::LintOptions,
) -> Outcome {
    let originals: BTreeMap<PathBuf, String> = first
        .migrations
        .iter()
        .map(|m| (m.source.path.clone(), m.source.text.clone()))
        .collect();
    let mut scope: BTreeSet<PathBuf> = first
        .migrations
        .iter()
        .filter(|m| first_review.includes(m))
        .map(|m| m.source.path.clone())
        .collect();
    let mut texts = originals.clone();
    let mut apps: BTreeMap<PathBuf, String> = first
        .migrations
        .iter()
        .map(|m| (m.source.path.clone(), m.app.clone()))
        .collect();
    let mut created: BTreeSet<PathBuf> = BTreeSet::new();
    let mut fixed = Vec::new();
    let mut skipped = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    let mut later: Option<(Project, Review)> = None;
    let mut report = lint::lint(first, first_review, options);
    for _ in 0..MAX_ROUNDS {
        let (project, review) = match &later {
            Some((p, r)) => (p, r),
            None => (first, first_review),
        };
        let plan = crate::fix::apply::plan(project, &report.findings, &|m| review.includes(m));
        for (rule, path, line, why) in plan.skipped {
            skipped.insert((rule, path, line), why);
        }
        notes.extend(plan.notes);
        if plan.files.is_empty() {
            break;
        }
        fixed.extend(plan.fixed);
        for (path, app) in plan.created {
            scope.insert(path.clone());
            apps.insert(path.clone(), app);
            created.insert(path);
        }
        texts.extend(plan.files);
        let project = reload(project, &texts, &apps);
        let review = Review::files(scope.iter().map(PathBuf::as_path));
        report = lint::lint(&project, &review, options);
        later = Some((project, review));
    }
    let left = report
        .findings
        .into_iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    Outcome {
        originals,
        texts,
        created,
        fixed,
        skipped,
        left,
        notes,
    }
}

pub fn run_fix(args: &FixArgs) -> Result<u8, CliError> {
    let r = resolve(&args.scope, &args.config, &args.select, &args.ignore, false)?;
    let outcome = compute(&r.project, &r.review, &r.options);
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
    for path in &changed {
        let text = outcome.texts.get(*path).map(String::as_str).unwrap_or("");
        std::fs::write(path, text).map_err(|e| {
            CliError::usage(format!(
                "{}: cannot write the fixed migration: {e} (files written before it are kept; \
                 run `migrail fix` again once it is writable)",
                display_path(path)
            ))
        })?;
    }
    write_stdout(&summary(&outcome, false))?;
    let errors_left = outcome.left.iter().any(|f| f.severity == Severity::Error);
    Ok(if errors_left { EXIT_FINDINGS } else { EXIT_OK })
}

/// The project again, from the texts as fixed so far (new files included).
fn reload(
    project: &Project,
    texts: &BTreeMap<PathBuf, String>,
    apps: &BTreeMap<PathBuf, String>,
) -> Project {
    let sources = texts
        .iter()
        .filter(|(path, _)| apps.contains_key(*path))
        .map(|(path, text)| {
            (
                DiscoveredFile::at(path.clone(), apps.get(path).cloned()),
                text.clone(),
            )
        })
        .collect();
    Project::from_sources(sources, project.settings.clone())
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
    let edited = changed.len() - new_files;
    if o.fixed.is_empty() {
        out.push_str("Nothing to fix.\n");
    } else {
        out.push_str(&format!(
            "{} {} in {}, {}{}\n",
            if dry_run { "Would fix" } else { "Fixed" },
            plural(o.fixed.len(), "finding", "findings"),
            plural(edited, "migration", "migrations"),
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
    for note in &o.notes {
        out.push_str(&format!("note: {note}\n"));
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
