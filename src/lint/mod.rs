//! The linter: runs every selected rule over the reviewed migrations while the project's
//! state is replayed, and collects [`Finding`]s.
//!
//! The whole tree is always loaded and replayed (state needs the history); only the
//! migrations under review are reported. See `../shared/rules.md` for the catalog.

pub mod finding;
pub mod locks;
pub mod phase;
pub mod plan;
pub mod registry;
pub mod rule;
pub mod rules;
pub mod sql;
pub mod suppression;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ruff_text_size::TextRange;

use crate::django::migration::{MigrationFile, MigrationKey};
use crate::django::{Project, Replayed, Visit};
pub use finding::Finding;
use phase::MigrationPhase;
use rayon::prelude::*;
use rule::{Diagnostic, MigrationContext, OpContext, Rule, Severity, SqlContext};
use sql::{ConstraintKind, SqlAction, SqlCache};

/// Which migrations are reported.
#[derive(Clone, Debug)]
pub enum Review {
    All,
    /// Canonicalized paths of the files under review.
    Files(BTreeSet<PathBuf>),
}

impl Review {
    pub fn files<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Review {
        Review::Files(paths.into_iter().map(canonical).collect())
    }

    pub fn includes(&self, m: &MigrationFile) -> bool {
        match self {
            Review::All => true,
            // Only a file whose name matches a reviewed one is canonicalized.
            Review::Files(files) => {
                let name = m.source.path.file_name();
                files.iter().any(|f| f.file_name() == name)
                    && files.contains(&canonical(&m.source.path))
            }
        }
    }

    /// The canonical paths under review, for a focused load; `None` for `All`.
    pub fn focus(&self) -> Option<&BTreeSet<PathBuf>> {
        match self {
            Review::All => None,
            Review::Files(files) => Some(files),
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// What to check and how strictly: rule selection, severity overrides, deploy mode.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Only these rules (empty: all).
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    /// Per-rule severity overrides (from the configuration).
    pub severity: BTreeMap<String, Severity>,
    /// The project deploys in phases (`migrail run --phase pre`, rollout, `--phase post`),
    /// so an accepted `post` migration may drop what the new code no longer uses.
    pub deploy_phases: bool,
    /// Judge squashed migrations like any other (`squashed = "lint"`); by default their
    /// compatibility and locking findings are notes: they run only on fresh databases.
    pub lint_squashed: bool,
    /// Reviewed against a base: what it has of the migrations the change touches.
    pub applied: Option<Arc<rules::edited_applied_migration::BaseVersions>>,
    /// The process ends right after this lint (`migrail lint`, `migrail plan`): the
    /// replayed states are left for the exit to reclaim instead of being freed one
    /// allocation at a time on threads that compete with the rules for the cores.
    pub process_ends: bool,
}

impl LintOptions {
    /// Check that every named rule exists.
    pub fn validate(&self) -> Result<(), String> {
        for name in self
            .select
            .iter()
            .chain(&self.ignore)
            .chain(self.severity.keys())
        {
            if registry::find(name).is_none() {
                return Err(format!(
                    "{}; `migrail rules` lists them",
                    registry::unknown_rule_message(name)
                ));
            }
        }
        Ok(())
    }

    pub fn enabled(&self, name: &str) -> bool {
        (self.select.is_empty() || self.select.iter().any(|s| s == name))
            && !self.ignore.iter().any(|s| s == name)
    }
}

/// One migration of the loaded tree, for the report.
#[derive(Clone, Debug)]
pub struct MigrationSummary {
    pub app: String,
    pub name: String,
    pub path: String,
    pub reviewed: bool,
    /// The deploy phase, for reviewed migrations (shared with the rules' replays).
    pub phase: Option<Arc<MigrationPhase>>,
}

#[derive(Debug)]
pub struct LintReport {
    pub migrations: Vec<MigrationSummary>,
    pub findings: Vec<Finding>,
    /// The database the rules judged for.
    pub database: crate::django::database::Database,
}

impl LintReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// True when the check fails: an error, or a warning with `warnings_as_errors`.
    pub fn failed(&self, warnings_as_errors: bool) -> bool {
        self.findings.iter().any(|f| {
            f.severity == Severity::Error || (warnings_as_errors && f.severity == Severity::Warning)
        })
    }

    pub fn reviewed(&self) -> usize {
        self.migrations.iter().filter(|m| m.reviewed).count()
    }
}

/// A path as the user would type it: relative to the working directory when below it.
pub fn display_path(path: &Path) -> String {
    display_path_from(path, std::env::current_dir().ok().as_deref())
}

pub(crate) fn display_path_from(path: &Path, cwd: Option<&Path>) -> String {
    use std::borrow::Cow;
    let shown = cwd
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
        .to_string_lossy();
    // Asked of every migration of a tree: one allocation, the string returned.
    let shown = if shown.contains('\\') {
        Cow::Owned(shown.replace('\\', "/"))
    } else {
        shown
    };
    shown.strip_prefix("./").unwrap_or(&shown).to_string()
}

/// Lint `project`, reporting the migrations `review` selects.
///
/// Migrations a squash replaces are not in the main plan (a fresh database runs the
/// squash): they are replayed and judged on their own history, in the plan of a database
/// that applied part of the squashed range ([`Project::unsquashed`]). Findings inside a
/// squash that only matter on a live database become notes unless `lint_squashed`.
pub fn lint(project: &Project, review: &Review, options: &LintOptions) -> LintReport {
    let rules: Vec<&'static dyn Rule> = registry::all()
        .iter()
        .copied()
        .filter(|r| {
            options.enabled(r.meta().name) && r.meta().engines.includes(&project.settings.database)
        })
        .collect();
    let (mut findings, mut migrations) =
        collect(project, review, options, &rules, true, WORTH_SPLITTING);

    let replaced: Vec<&MigrationFile> = project
        .migrations
        .iter()
        .enumerate()
        .filter(|(i, m)| project.is_replaced(*i) && review.includes(m))
        .map(|(_, m)| m)
        .collect();
    if let (false, Some(unsquashed)) = (replaced.is_empty(), project.unsquashed()) {
        let chain = Review::files(replaced.iter().map(|m| m.source.path.as_path()));
        let (more, summaries) =
            collect(&unsquashed, &chain, options, &rules, false, WORTH_SPLITTING);
        findings.extend(more);
        let by_key: BTreeMap<(String, String), MigrationSummary> = summaries
            .into_iter()
            .filter(|s| s.reviewed)
            .map(|s| ((s.app.clone(), s.name.clone()), s))
            .collect();
        for summary in &mut migrations {
            if let Some(s) = by_key.get(&(summary.app.clone(), summary.name.clone())) {
                summary.phase = s.phase.clone();
            }
        }
    }
    if let Some(base) = &options.applied {
        if options.enabled(rules::edited_applied_migration::META.name) {
            findings.extend(rules::edited_applied_migration::deleted(project, base));
        }
    }
    finish(project, review, options, findings, migrations)
}

/// The reason a squash's finding is a note, appended to its message.
fn squash_note(replaced: usize) -> String {
    format!(
        " (in a squashed migration: Django runs it only on a database that applied none of \
         the {replaced} migrations it replaces, normally a fresh install, where no old code \
         runs; the replaced migrations are judged on their own. `squashed = \"lint\"` in the \
         configuration judges squashes too)"
    )
}

/// The reason a finding in a Django 1.7/1.8 split first migration is a note.
const SPLIT_INITIAL_NOTE: &str =
    " (in what Django 1.7/1.8's `makemigrations` wrote as the second half of the \
     app's first migration: `0002_auto_<timestamp>`, no `# Generated by Django` header, adding \
     only relations to the tables the first migration created and depending only on first \
     migrations; it ran with the first migration, on tables with no rows. If it was written \
     later, for tables that held rows, judge it as the rule says)";

/// A rule about what happens while old code runs or a table is locked: moot where no
/// table holds rows yet (a squash on a fresh install, a split first migration).
fn is_live_only(rule: &str) -> bool {
    registry::find(rule).is_some_and(|r| {
        matches!(
            r.meta().axis,
            rule::Axis::Compatibility
                | rule::Axis::Locking
                | rule::Axis::CompatibilityAndLocking
                | rule::Axis::Phase
        )
    })
}

/// Suppressions, severity overrides, squash notes and the order of the report.
fn finish(
    project: &Project,
    review: &Review,
    options: &LintOptions,
    mut findings: Vec<Finding>,
    migrations: Vec<MigrationSummary>,
) -> LintReport {
    let timer = crate::timings::Timer::start();
    let phase_of = |m: &MigrationFile| {
        migrations
            .iter()
            .find(|s| s.app == m.app && s.name == m.name)
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    let reviewed_migrations = || project.migrations.iter().filter(|m| review.includes(m));
    // Inline suppressions of the reviewed files; what they leave unused is reported.
    let report_unused = options.enabled(suppression::UNUSED);
    let with_directives: Vec<&MigrationFile> = reviewed_migrations()
        .collect::<Vec<_>>()
        .into_par_iter()
        .filter(|m| suppression::has_directives(m))
        .collect();
    for m in with_directives {
        let unused = suppression::apply(m, &mut findings, report_unused, &|r| options.enabled(r));
        if let Some(rule) = registry::find(suppression::UNUSED) {
            let phase = phase_of(m);
            findings.extend(unused.into_iter().map(|d| place(rule.meta(), m, d, &phase)));
        }
    }
    for f in &mut findings {
        if let Some(&severity) = options.severity.get(f.rule) {
            f.severity = severity;
        }
    }
    // Django 1.7/1.8's split first migrations: notes that say why.
    let split_initials: BTreeSet<(&str, &str)> = (0..project.migrations.len())
        .filter(|&i| project.is_old_split_initial(i))
        .filter_map(|i| project.migrations.get(i))
        .map(|m| (m.app.as_str(), m.name.as_str()))
        .collect();
    for f in &mut findings {
        if f.severity != Severity::Info
            && is_live_only(f.rule)
            && split_initials.contains(&(f.app.as_str(), f.migration.as_str()))
        {
            f.severity = Severity::Info;
            f.message.push_str(SPLIT_INITIAL_NOTE);
        }
    }
    if !options.lint_squashed {
        let replaces: BTreeMap<(&str, &str), usize> = project
            .migrations
            .iter()
            .filter(|m| !m.replaces.is_empty())
            .map(|m| ((m.app.as_str(), m.name.as_str()), m.replaces.len()))
            .collect();
        for f in &mut findings {
            let Some(&n) = replaces.get(&(f.app.as_str(), f.migration.as_str())) else {
                continue;
            };
            if is_live_only(f.rule) && f.severity != Severity::Info {
                f.severity = Severity::Info;
                f.message.push_str(&squash_note(n));
            }
        }
    }
    sort_findings(&mut findings);
    // Statements of one SQL string that migrail cannot place one by one (the string is
    // built from parts) all point at the string: the same finding twice says nothing more.
    findings.dedup_by(|a, b| {
        a.rule == b.rule
            && a.line == b.line
            && a.column == b.column
            && a.message == b.message
            && std::sync::Arc::ptr_eq(&a.source, &b.source)
    });
    timer.lap("suppressions, sort");
    LintReport {
        migrations,
        findings,
        database: project.settings.database.clone(),
    }
}

/// Below this many judged operations one thread judges them all (see [`judging_cut`]).
const WORTH_SPLITTING: usize = 4096;

/// The findings of `rules` on the migrations `review` selects in `project`'s plan, and
/// every migration's summary; with `per_migration`, the rules that judge whole
/// migrations too. Suppressions are not applied yet. From `worth_splitting` judged
/// operations on, two threads judge them.
fn collect(
    project: &Project,
    review: &Review,
    options: &LintOptions,
    rules: &[&'static dyn Rule],
    per_migration: bool,
    worth_splitting: usize,
) -> (Vec<Finding>, Vec<MigrationSummary>) {
    let timer = crate::timings::Timer::start();
    // Which migrations are reviewed, decided once (by index into `project.migrations`).
    let reviewed: Vec<bool> = project
        .migrations
        .iter()
        .map(|m| review.includes(m))
        .collect();
    let is_reviewed = |i: usize| reviewed.get(i).copied().unwrap_or(false);
    let sql = SqlCache::build(project);
    timer.lap("analyse RunSQL");

    // Replays run side by side: the phase inference (on its own thread) hands each
    // migration's phase over as soon as it is known; the rules' replays, one step behind,
    // need it before judging a migration's operations. Once its inference is done, the
    // phase thread runs the per-migration rules (they need only the phases), usually while
    // the rules are still judging. The rules judge in two halves of the plan on two
    // threads: the first judges the first half; the second goes on from a copy of the
    // phase inference's replay where the first half ends (and what the first half's SQL
    // did), then judges the rest.
    let cwd = std::env::current_dir().ok();
    let position = plan_positions(project);
    let cut = judging_cut(project, &is_reviewed, worth_splitting);
    let half_of = |index: usize| usize::from(position[index] >= cut);
    let (findings, migrations) = std::thread::scope(|scope| {
        let (tx_first, rx_first) = std::sync::mpsc::channel::<(usize, Arc<MigrationPhase>)>();
        let (tx_second, rx_second) = std::sync::mpsc::channel::<(usize, Arc<MigrationPhase>)>();
        // The replay where the second half starts, copied once.
        let (tx_cut, rx_cut) = std::sync::mpsc::channel::<Replayed>();
        let second_exists = cut < position.len();
        let sql = &sql;
        let is_reviewed = &is_reviewed;
        let half_of = &half_of;
        let phase_thread = scope.spawn(move || {
            let timer = crate::timings::Timer::start();
            let mut phases: Vec<Option<Arc<MigrationPhase>>> = vec![None; project.migrations.len()];
            let mut tx_cut = second_exists.then_some(tx_cut);
            let state = phase::infer_each(project, sql, is_reviewed, |index, phase, replayed| {
                if replayed.next() == cut {
                    if let Some(tx) = tx_cut.take() {
                        let _ = tx.send(replayed.clone());
                    }
                }
                let phase = Arc::new(phase);
                // A receiver only hangs up when its judge is done with the phases.
                let tx = if half_of(index) == 0 {
                    &tx_first
                } else {
                    &tx_second
                };
                let _ = tx.send((index, phase.clone()));
                if let Some(slot) = phases.get_mut(index) {
                    *slot = Some(phase);
                }
            });
            drop((tx_first, tx_second, tx_cut));
            timer.lap("replay: phases");
            let no_phase = MigrationPhase::default();
            let phase_of = |i: usize| phases[i].as_deref().unwrap_or(&no_phase);
            let per_migration = if per_migration {
                migration_rules(
                    project,
                    rules,
                    is_reviewed,
                    &phase_of,
                    sql,
                    options.applied.as_deref(),
                )
            } else {
                Vec::new()
            };
            dispose(state, options.process_ends);
            (phases, per_migration)
        });
        let judge = |half: usize,
                     rx: std::sync::mpsc::Receiver<(usize, Arc<MigrationPhase>)>,
                     from: Option<std::sync::mpsc::Receiver<Replayed>>| {
            let judged = |i: usize| is_reviewed(i) && half_of(i) == half;
            let timer = crate::timings::Timer::start();
            let found = judge_replay(project, sql, rules, options, &judged, rx, from);
            timer.lap(if half == 0 {
                "replay: first judge"
            } else {
                "replay: second judge"
            });
            found
        };
        let second = second_exists.then(|| scope.spawn(move || judge(1, rx_second, Some(rx_cut))));
        let mut findings = judge(0, rx_first, None);
        // The first judge is usually done first: the summaries are built (on the other
        // cores) while the second judges on.
        let (phases, per_migration) = match phase_thread.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let mut migrations = summaries(project, is_reviewed, &phases, cwd.as_deref());
        migrations.par_sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        let more = match second.map(|second| second.join()) {
            Some(Ok(more)) => more,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Vec::new(),
        };
        findings.reserve_exact(more.len() + per_migration.len());
        findings.extend(more);
        findings.extend(per_migration);
        (findings, migrations)
    });
    timer.lap("replays (phases, rules), summaries");
    (findings, migrations)
}

/// Be done with a replayed state (hundreds of thousands of small allocations on a large
/// tree). When the process ends right after the lint, it is not freed at all: the exit
/// reclaims it. Otherwise it is dropped on a thread of its own, so that freeing it need
/// not hold up the thread that is done with it.
fn dispose<T: Send + 'static>(value: T, process_ends: bool) {
    if process_ends {
        std::mem::forget(value);
        return;
    }
    // No thread to spare: the value is dropped right away instead.
    let _ = std::thread::Builder::new().spawn(move || drop(value));
}

/// Each migration's position in the plan (by index into `project.migrations`).
fn plan_positions(project: &Project) -> Vec<usize> {
    let mut position = vec![usize::MAX; project.migrations.len()];
    for (at, &index) in project.plan_order().iter().enumerate() {
        if let Some(slot) = position.get_mut(index) {
            *slot = at;
        }
    }
    position
}

/// Where the rules' second judge starts (a plan position): three fifths of the judged
/// operations lie before it (the second judge waits for the phase inference to reach it,
/// then goes on from a copy of its replay). The plan's length when fewer than
/// `worth_splitting` are judged.
fn judging_cut(
    project: &Project,
    is_reviewed: &dyn Fn(usize) -> bool,
    worth_splitting: usize,
) -> usize {
    let plan = project.plan_order();
    let ops = |index: usize| {
        if is_reviewed(index) {
            project.migrations[index].operations.len()
        } else {
            0
        }
    };
    let total: usize = plan.iter().map(|&i| ops(i)).sum();
    if total < worth_splitting {
        return plan.len();
    }
    let mut seen = 0;
    for (at, &index) in plan.iter().enumerate() {
        if seen >= total * 3 / 5 {
            return at;
        }
        seen += ops(index);
    }
    plan.len()
}

/// One rules' replay: the whole history up to the last migration `judged` selects, the
/// rules run on the operations of the migrations it selects (their phases come through
/// `phases`, in plan order). What the SQL of every replayed migration did is tracked,
/// judged or not: later migrations' rules need it. With `from`, the replay goes on from
/// the one received there (none judged before it), taking only what their SQL did;
/// from the start when none comes.
fn judge_replay(
    project: &Project,
    sql: &SqlCache,
    rules: &[&'static dyn Rule],
    options: &LintOptions,
    judged: &dyn Fn(usize) -> bool,
    phases: std::sync::mpsc::Receiver<(usize, Arc<MigrationPhase>)>,
    from: Option<std::sync::mpsc::Receiver<Replayed>>,
) -> Vec<Finding> {
    let settings = &project.settings;
    let no_phase = MigrationPhase::default();
    let mut found: Vec<Finding> = Vec::new();
    // What the SQL of the whole history has done that rules need to know.
    let memo = rule::ReplayMemo::new(&project.migrations);
    let mut pending_checks: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut sql_tables: (Option<MigrationKey>, BTreeSet<String>) = (None, BTreeSet::new());
    // Tables renamed by RunSQL so far in the history: new name -> the name before.
    let mut sql_renamed: BTreeMap<String, String> = BTreeMap::new();
    // The phase of the migration being judged: phases come in plan order.
    let mut current: Option<(usize, Arc<MigrationPhase>)> = None;
    let mut receive = |index: usize| -> Option<Arc<MigrationPhase>> {
        while current.as_ref().is_none_or(|(i, _)| *i != index) {
            current = Some(phases.recv().ok()?);
        }
        current.as_ref().map(|(_, p)| p.clone())
    };
    let from = from.and_then(|rx| rx.recv().ok()).unwrap_or_default();
    // The state before `from` comes with it; what those migrations' SQL did is taken here.
    let mut scratch = BTreeSet::new();
    for &index in project.plan_order().get(..from.next()).unwrap_or_default() {
        scratch.clear();
        sql.each_in(&project.migrations[index], |statement| {
            for action in &statement.actions {
                track_sql(
                    action,
                    &mut scratch,
                    &memo,
                    &mut pending_checks,
                    &mut sql_renamed,
                );
            }
        });
    }
    let visit = |visit: &Visit<'_>| {
        let m = visit.migration;
        let reviewed = judged(visit.index);
        let phase = if reviewed { receive(visit.index) } else { None };
        let phase = phase.as_deref().unwrap_or(&no_phase);
        let ctx = OpContext::new(visit, settings, phase, options.deploy_phases, &memo);
        if reviewed {
            for rule in rules {
                let mut out = Vec::new();
                rule.check_operation(&ctx, &mut out);
                found.extend(out.into_iter().map(|d| place(rule.meta(), m, d, phase)));
            }
        }
        if !visit.effect.touches_database() {
            return;
        }
        let statements = sql.get(m, visit.op);
        if statements.is_empty() {
            return;
        }
        if sql_tables.0.as_ref() != Some(&m.key()) {
            sql_tables = (Some(m.key()), BTreeSet::new());
        }
        let mut new_tables: BTreeSet<String> = visit
            .created_here
            .iter()
            .filter_map(|k| visit.state.get(k))
            .filter_map(|model| visit.state.table_of(model))
            .collect();
        for statement in statements {
            new_tables.extend(sql_tables.1.iter().cloned());
            for action in &statement.actions {
                if reviewed {
                    let sql_ctx = SqlContext {
                        op: &ctx,
                        statement,
                        new_tables: &new_tables,
                        renamed: &sql_renamed,
                    };
                    for rule in rules {
                        let mut out = Vec::new();
                        rule.check_sql(&sql_ctx, action, &mut out);
                        found.extend(out.into_iter().map(|d| place(rule.meta(), m, d, phase)));
                    }
                }
                track_sql(
                    action,
                    &mut sql_tables.1,
                    &memo,
                    &mut pending_checks,
                    &mut sql_renamed,
                );
            }
        }
    };
    let replayed = project.resume(from, judged, visit, |_, _| {});
    drop(phases);
    dispose(replayed, options.process_ends);
    found
}

/// Every migration's summary for the report, in load order (built on every core).
fn summaries(
    project: &Project,
    is_reviewed: &(dyn Fn(usize) -> bool + Sync),
    phases: &[Option<Arc<MigrationPhase>>],
    cwd: Option<&Path>,
) -> Vec<MigrationSummary> {
    project
        .migrations
        .par_iter()
        .enumerate()
        .map(|(i, m)| MigrationSummary {
            app: m.app.clone(),
            name: m.name.clone(),
            path: display_path_from(&m.source.path, cwd),
            reviewed: is_reviewed(i),
            phase: is_reviewed(i).then(|| phases.get(i).cloned().flatten().unwrap_or_default()),
        })
        .collect()
}

/// The findings of the rules that judge whole migrations, for every reviewed one.
fn migration_rules<'a>(
    project: &Project,
    rules: &[&'static dyn Rule],
    is_reviewed: &dyn Fn(usize) -> bool,
    phase_of: &dyn Fn(usize) -> &'a MigrationPhase,
    sql: &SqlCache,
    applied: Option<&rules::edited_applied_migration::BaseVersions>,
) -> Vec<Finding> {
    let mut found = Vec::new();
    for (i, m) in project.migrations.iter().enumerate() {
        if !is_reviewed(i) {
            continue;
        }
        let ctx = MigrationContext {
            migration: m,
            graph: &project.graph,
            duplicate_labels: &project.duplicate_labels,
            phase: phase_of(i),
            sql,
            applied,
        };
        for rule in rules {
            let mut out = Vec::new();
            rule.check_migration(&ctx, &mut out);
            found.extend(out.into_iter().map(|d| place(rule.meta(), m, d, ctx.phase)));
        }
    }
    found
}

/// Sort by path, line, column and rule. Paths are compared once per file, not once per
/// pair of findings: each file gets its rank among the files, and findings sort by it.
fn sort_findings(findings: &mut [Finding]) {
    use std::sync::Arc;
    let id = |f: &Finding| Arc::as_ptr(&f.source).cast::<()>();
    let mut sources: Vec<&Arc<crate::django::migration::SourceFile>> =
        findings.iter().map(|f| &f.source).collect();
    sources.sort_by_key(|s| Arc::as_ptr(s).cast::<()>());
    sources.dedup_by(|a, b| Arc::ptr_eq(a, b));
    // Ordered as `Path` orders them (component by component), with one byte comparison:
    // the separator, mapped to the lowest byte, sorts before anything else in a name.
    let path_key = |s: &&Arc<crate::django::migration::SourceFile>| {
        let mut key = s.path.as_os_str().as_encoded_bytes().to_vec();
        for b in &mut key {
            if std::path::is_separator(char::from(*b)) {
                *b = 0;
            }
        }
        key
    };
    sources.par_sort_by_cached_key(path_key);
    let rank: rustc_hash::FxHashMap<*const (), usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (Arc::as_ptr(s).cast::<()>(), i))
        .collect();
    // The keys are sorted, not the findings (large to move); the index keeps ties in
    // their order, as a stable sort would.
    let mut order: Vec<(usize, usize, usize, &str, usize)> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let rank = rank.get(&id(f)).copied().unwrap_or(usize::MAX);
            (rank, f.line, f.column, f.rule, i)
        })
        .collect();
    order.par_sort_unstable();
    // Each finding moved to its place in the list itself, one cycle of the permutation
    // at a time (no second list of findings).
    let mut placed = vec![false; order.len()];
    for start in 0..order.len() {
        let mut at = start;
        while !placed[at] {
            placed[at] = true;
            let from = order[at].4;
            if from == start {
                break;
            }
            findings.swap(at, from);
            at = from;
        }
    }
}

/// Remember what a SQL statement did for later statements and migrations: tables it
/// created, `CHECK (col IS NOT NULL)` constraints once they are validated, and tables it
/// renamed (new name -> the name before).
fn track_sql(
    action: &SqlAction,
    created: &mut BTreeSet<String>,
    memo: &rule::ReplayMemo,
    pending: &mut BTreeMap<(String, String), Vec<String>>,
    renamed: &mut BTreeMap<String, String>,
) {
    let mut proven_not_null = memo.proven_not_null.borrow_mut();
    match action {
        SqlAction::CreateTable { table } => {
            created.insert(table.clone());
        }
        SqlAction::AddConstraint {
            table,
            name,
            kind: ConstraintKind::Check { not_null_columns },
            not_valid,
        } => {
            if *not_valid {
                if let Some(name) = name {
                    pending.insert((table.clone(), name.clone()), not_null_columns.clone());
                }
            } else {
                proven_not_null.extend(not_null_columns.iter().map(|c| (table.clone(), c.clone())));
            }
        }
        SqlAction::ValidateConstraint { table, name } => {
            if let Some(columns) = pending.remove(&(table.clone(), name.clone())) {
                proven_not_null.extend(columns.into_iter().map(|c| (table.clone(), c)));
            }
        }
        SqlAction::RenameTable { table, new_name } => {
            let before = renamed.remove(table).unwrap_or_else(|| table.clone());
            renamed.insert(new_name.clone(), before);
        }
        _ => {}
    }
}

fn place(
    meta: &'static rule::RuleMeta,
    m: &MigrationFile,
    d: Diagnostic,
    phase: &MigrationPhase,
) -> Finding {
    let source = m.source.clone();
    let clamp = |r: TextRange| {
        let len = source.text.len();
        let start = usize::from(r.start()).min(len);
        let end = usize::from(r.end()).clamp(start, len);
        (start, end)
    };
    let (start, end) = clamp(d.range);
    let (line, column) = source.line_col((start as u32).into());
    let (end_line, end_column) = source.line_col((end as u32).into());
    let (fs, fe) = clamp(d.focus);
    let fix = d.fix.map(|f| {
        let (s, e) = f.on.map_or((start, end), clamp);
        Box::new((s..e, f))
    });
    Finding {
        rule: meta.name,
        severity: d.severity.unwrap_or(meta.severity),
        source,
        app: m.app.clone(),
        migration: m.name.clone(),
        help: match (meta.preflight, d.severity) {
            (Some(what), None) => Some(format!(
                "{}{}Preflight: `migrail run` refuses it, before any lock, if it finds {what} \
                 (exit 133).",
                d.help.as_deref().unwrap_or(""),
                if d.help.is_some() { "\n" } else { "" }
            )),
            _ => d.help,
        },
        message: d.message,
        line,
        column,
        end_line,
        end_column,
        focus: fs..fe,
        phase: phase.at(d.range),
        fix,
    }
}

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod accuracy_tests;

#[cfg(test)]
mod split_tests {
    use super::testing::{migration, project, SHOP_INITIAL};
    use super::*;

    /// A history whose second part leans on what its first part did: a foreign key to a
    /// model whose primary key is later upgraded, a `CHECK (... IS NOT NULL)` proven by
    /// RunSQL before the column becomes NOT NULL, a table renamed by RunSQL then altered.
    fn history() -> Vec<(String, String)> {
        let nullable: String = (1..=6)
            .map(|n| {
                format!(
                    "        migrations.AddField(\"book\", \"extra{n}\", models.IntegerField(null=True)),\n"
                )
            })
            .collect();
        vec![
            (SHOP_INITIAL.0.to_string(), SHOP_INITIAL.1.to_string()),
            migration(
                "0002_author",
                "0001_initial",
                &format!(
                    "        migrations.CreateModel(name=\"Author\", fields=[(\"id\", models.AutoField(primary_key=True)), (\"name\", models.CharField(max_length=100))]),\n\
                     \x20       migrations.CreateModel(name=\"Note\", fields=[(\"id\", models.AutoField(primary_key=True)), (\"text\", models.TextField())]),\n\
                     \x20       migrations.AddField(\"book\", \"author\", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to=\"shop.author\")),\n{nullable}"
                ),
            ),
            migration(
                "0003_sql",
                "0002_author",
                "        migrations.RunSQL(\"ALTER TABLE shop_book ADD CONSTRAINT subtitle_nn CHECK (subtitle IS NOT NULL) NOT VALID\"),\n\
                 \x20       migrations.RunSQL(\"ALTER TABLE shop_book VALIDATE CONSTRAINT subtitle_nn\"),\n\
                 \x20       migrations.RunSQL(\"ALTER TABLE shop_note RENAME TO shop_memo\"),",
            ),
            migration(
                "0004_subtitle",
                "0003_sql",
                "        migrations.AlterField(\"book\", \"subtitle\", models.CharField(max_length=200)),",
            ),
            migration(
                "0005_author_pk",
                "0004_subtitle",
                "        migrations.AlterField(\"author\", \"id\", models.BigAutoField(primary_key=True)),",
            ),
            migration(
                "0006_book",
                "0005_author_pk",
                "        migrations.RemoveField(\"book\", \"isbn\"),\n\
                 \x20       migrations.AddField(\"book\", \"rating\", models.IntegerField()),\n\
                 \x20       migrations.RenameField(\"book\", \"title\", \"name\"),\n\
                 \x20       migrations.AddIndex(\"book\", models.Index(fields=[\"pages\"], name=\"book_pages_idx\")),",
            ),
            migration(
                "0007_memo",
                "0006_book",
                "        migrations.RunSQL(\"ALTER TABLE shop_memo ADD COLUMN body text NOT NULL\"),",
            ),
        ]
    }

    fn shown(findings: &[Finding]) -> Vec<String> {
        let mut shown: Vec<String> = findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}:{}-{}:{} {:?} {} | {:?} | {:?}",
                    f.migration,
                    f.rule,
                    f.line,
                    f.column,
                    f.end_line,
                    f.end_column,
                    f.severity,
                    f.message,
                    f.help,
                    f.phase
                )
            })
            .collect();
        shown.sort();
        shown
    }

    /// Every rule's findings on `files`, all reviewed, judged by one thread or two.
    fn judged(files: &[(String, String)], two_threads: bool) -> Vec<String> {
        let p = project(files);
        let rules: Vec<&'static dyn Rule> = registry::all()
            .iter()
            .copied()
            .filter(|r| r.meta().engines.includes(&p.settings.database))
            .collect();
        let worth_splitting = if two_threads { 0 } else { usize::MAX };
        let options = LintOptions::default();
        let (found, _) = collect(&p, &Review::All, &options, &rules, true, worth_splitting);
        shown(&found)
    }

    #[test]
    fn two_judges_find_what_one_finds() {
        let files = history();
        // The second judge starts at 0004: it goes on from a copy of the phase
        // inference's replay there, takes what the first part's SQL did, then judges.
        let p = project(&files);
        let position = plan_positions(&p);
        let at = |name: &str| {
            let index = p.migrations.iter().position(|m| m.name == name);
            index.map(|i| position[i])
        };
        assert_eq!(Some(judging_cut(&p, &|_| true, 0)), at("0004_subtitle"));
        assert_eq!(judging_cut(&p, &|_| true, usize::MAX), p.migrations.len());

        let two = judged(&files, true);
        assert_eq!(judged(&files, false), two);
        let on = |migration: &str| -> Vec<&String> {
            let prefix = format!("{migration} ");
            two.iter().filter(|f| f.starts_with(&prefix)).collect()
        };
        // What the second judge found needed the first part's history: the foreign key
        // added in 0002 ...
        assert!(
            on("0005_author_pk")
                .iter()
                .any(|f| f.starts_with("0005_author_pk alter-column-type")
                    && f.contains("author_id")),
            "{two:#?}"
        );
        // ... and the NOT NULL proven by 0003's RunSQL, without which 0004 is a finding.
        assert!(on("0004_subtitle").is_empty(), "{two:#?}");
        let mut unproven = files.clone();
        unproven[2].1 = unproven[2].1.replace("IS NOT NULL", "IS NULL OR true");
        assert!(
            judged(&unproven, true)
                .iter()
                .any(|f| f.starts_with("0004_subtitle ")),
            "0004 is judged on what 0003 proved"
        );
        assert!(!on("0006_book").is_empty(), "{two:#?}");
        assert!(!on("0007_memo").is_empty(), "{two:#?}");
    }
}

#[cfg(test)]
mod sort_tests {
    use super::*;
    use crate::django::migration::SourceFile;

    fn finding(
        source: &Arc<SourceFile>,
        line: usize,
        column: usize,
        rule: &'static str,
        tag: &str,
    ) -> Finding {
        Finding {
            rule,
            severity: Severity::Error,
            source: source.clone(),
            app: "shop".into(),
            migration: tag.into(),
            message: tag.into(),
            help: None,
            line,
            column,
            end_line: line,
            end_column: column,
            focus: 0..0,
            phase: phase::Phase::Any,
            fix: None,
        }
    }

    #[test]
    fn findings_are_ordered_by_path_position_and_rule_ties_keeping_their_order() {
        let file = |p: &str| Arc::new(SourceFile::new(PathBuf::from(p), String::new()));
        // `a/b/x.py` sorts before `a/b-c/x.py` as paths do (component by component).
        let (ab, abc, z) = (file("a/b/x.py"), file("a/b-c/x.py"), file("z.py"));
        let mut findings = vec![
            finding(&z, 1, 1, "drop-column", "z1"),
            finding(&abc, 2, 1, "add-index", "abc2"),
            finding(&ab, 3, 5, "drop-column", "ab3-tie-first"),
            finding(&ab, 1, 1, "drop-column", "ab1"),
            finding(&ab, 3, 5, "add-index", "ab3-add-index"),
            finding(&ab, 3, 5, "drop-column", "ab3-tie-second"),
            finding(&abc, 1, 9, "add-index", "abc1"),
            finding(&ab, 3, 1, "rename-column", "ab3-column1"),
        ];
        sort_findings(&mut findings);
        let order: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            order,
            [
                "ab1",
                "ab3-column1",
                "ab3-add-index",
                "ab3-tie-first",
                "ab3-tie-second",
                "abc1",
                "abc2",
                "z1"
            ]
        );
    }
}
