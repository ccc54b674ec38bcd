//! The one applier: the fixes of a lint report become edits on the migrations' source
//! spans and new migration files, with the graph kept whole (one leaf per app).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::django::migration::{Dependency, MigrationFile};
use crate::django::Project;
use crate::lint::Finding;

use super::validate::{bound_names, code_problem};
use super::{Fix, Step};

/// What a round may touch and what earlier rounds wrote.
pub struct Round<'a> {
    /// The migrations whose operations may be rewritten (the reviewed ones, never a
    /// squash, a migration a squash replaces, or one production applied).
    pub may_edit: &'a dyn Fn(&MigrationFile) -> bool,
    /// Code earlier rounds wrote: a rule fixes it only if it has not fixed it before (one
    /// fix per finding: nothing `fix` wrote is fixed again by the rule that wrote it).
    pub produced: &'a Produced,
    /// Files earlier rounds changed (`models.py` among them), as they are now.
    pub texts: &'a BTreeMap<PathBuf, String>,
}

/// Code written by the fixes of earlier rounds, with the rules that wrote it (the fixes
/// it went through).
#[derive(Clone, Debug, Default)]
pub struct Produced {
    /// By file: each piece of code a fix wrote in place, and the rules behind it.
    pub spans: BTreeMap<PathBuf, Vec<(String, BTreeSet<&'static str>)>>,
    /// New files: everything in them was written by a fix.
    pub files: BTreeMap<PathBuf, BTreeSet<&'static str>>,
}

impl Produced {
    /// The rules that fixed the code at `range` of `path` already: `None` when no fix
    /// wrote it (the user's own code).
    fn fixed_by(
        &self,
        path: &Path,
        text: &str,
        range: &Range<usize>,
    ) -> Option<BTreeSet<&'static str>> {
        let code = text.get(range.clone())?;
        let mut holders = self
            .spans
            .get(path)
            .into_iter()
            .flatten()
            .filter(|(written, _)| !code.is_empty() && written.contains(code))
            .map(|(_, rules)| rules)
            .chain(self.files.get(path))
            .peekable();
        holders.peek()?;
        Some(holders.flatten().copied().collect())
    }

    /// This round's written code added to what earlier rounds wrote.
    pub fn extend(&mut self, other: Produced) {
        for (path, spans) in other.spans {
            self.spans.entry(path).or_default().extend(spans);
        }
        for (path, rules) in other.files {
            self.files.entry(path).or_default().extend(rules);
        }
    }
}

/// What one round of fixing changes.
#[derive(Debug, Default)]
pub struct Plan {
    /// Path -> the file's new text (existing files edited, and new files).
    pub files: BTreeMap<PathBuf, String>,
    /// The new files among `files`, with the app label they belong to.
    pub created: BTreeMap<PathBuf, String>,
    /// Findings fixed: (rule, path, line).
    pub fixed: Vec<(&'static str, String, usize)>,
    /// Findings with a fix that was not applied, and why.
    pub skipped: Vec<(&'static str, String, usize, String)>,
    /// What the user must still do by hand (a `models.py` pin not found, a migration for
    /// the next release), for the summary.
    pub notes: Vec<String>,
    /// For each file in `files`, the migrations whose fixes changed it.
    pub origins: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    /// The code this round wrote.
    pub produced: Produced,
}

/// Edits planned on existing files: path -> (its text, spans to replace).
type Edits = BTreeMap<PathBuf, (String, Vec<(Range<usize>, String)>)>;

/// A fix placed on one operation of a migration.
struct Placed<'a> {
    finding: &'a Finding,
    range: Range<usize>,
    fix: &'a Fix,
    /// The rules behind the code this fix writes (its own, and those that wrote the
    /// operation it rewrites).
    lineage: BTreeSet<&'static str>,
}

/// Plan the fixes of `findings` (those carrying one) on `project`. `round.may_edit` says
/// which migrations may be edited; fixes whose migration has dependents outside it, when
/// they need a new migration, are skipped.
pub fn plan(project: &Project, findings: &[Finding], round: &Round<'_>) -> Plan {
    let mut out = Plan::default();
    let mut by_migration: BTreeMap<(String, String), Vec<Placed<'_>>> = BTreeMap::new();
    for f in findings {
        if let Some((range, fix)) = f.fix.as_deref() {
            let mut lineage = round
                .produced
                .fixed_by(&f.source.path, &f.source.text, range)
                .unwrap_or_default();
            if lineage.contains(f.rule) {
                out.skipped.push(skip(
                    f,
                    "this rule's own fix wrote the operation, and a finding is fixed once: \
                     review it by hand (and report it: a fix should leave nothing to fix)",
                ));
                continue;
            }
            lineage.insert(f.rule);
            by_migration
                .entry((f.app.clone(), f.migration.clone()))
                .or_default()
                .push(Placed {
                    finding: f,
                    range: range.clone(),
                    fix,
                    lineage,
                });
        }
    }
    // Edits by file (existing files), applied at the end, last span first.
    let mut edits: Edits = BTreeMap::new();
    for ((app, name), mut placed) in by_migration {
        let Some(m) = project
            .migrations
            .iter()
            .find(|m| m.app == app && m.name == name)
        else {
            continue;
        };
        if !(round.may_edit)(m) {
            continue;
        }
        placed.sort_by_key(|p| (p.range.start, p.finding.rule));
        // One fix per operation: a second fix of the same span waits for the next round.
        let mut kept: Vec<Placed<'_>> = Vec::new();
        for p in placed {
            if kept.iter().any(|k| overlaps(&k.range, &p.range)) {
                out.skipped
                    .push(skip(p.finding, "another fix rewrote this operation first"));
                continue;
            }
            kept.push(p);
        }
        plan_migration(project, m, kept, round, &mut edits, &mut out);
    }
    for (path, (text, mut spans)) in edits {
        spans.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut new = text;
        for (range, replacement) in spans {
            if range.end <= new.len()
                && new.is_char_boundary(range.start)
                && new.is_char_boundary(range.end)
            {
                new.replace_range(range, &replacement);
            }
        }
        // Migrations get the imports their new code needs; `models.py` only its pin.
        let is_models = path.file_name().is_some_and(|n| n == "models.py");
        let new = if is_models { new } else { ensure_imports(&new) };
        out.files.insert(path, new);
    }
    out
}

fn skip(f: &Finding, why: &str) -> (&'static str, String, usize, String) {
    (f.rule, f.path_display(), f.line, why.to_string())
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn plan_migration(
    project: &Project,
    m: &MigrationFile,
    kept: Vec<Placed<'_>>,
    round: &Round<'_>,
    edits: &mut Edits,
    out: &mut Plan,
) {
    let in_scope = round.may_edit;
    let text = m.source.text.as_str();
    let needs_non_atomic = |p: &Placed<'_>| p.fix.steps.first().is_some_and(|s| !s.atomic);
    // Every top-level operation is fixed into non-atomic operations: the migration itself
    // becomes `atomic = False`; otherwise those operations move to a migration of their own.
    let all_non_atomic = m.operations.iter().all(|op| {
        let r = usize::from(op.range().start())..usize::from(op.range().end());
        kept.iter()
            .any(|p| overlaps(&p.range, &r) && needs_non_atomic(p))
    });
    let split = m.atomic && !all_non_atomic && kept.iter().any(needs_non_atomic);
    let new_files_needed = split || kept.iter().any(|p| p.fix.steps.len() > 1);

    let dependents: Vec<&MigrationFile> = project
        .migrations
        .iter()
        .filter(|d| {
            d.dependencies
                .iter()
                .chain(&d.run_before)
                .any(|dep| matches!(dep, Dependency::Node { app, name, .. } if *app == m.app && *name == m.name))
        })
        .collect();
    let blocked = new_files_needed && dependents.iter().any(|d| !in_scope(d));

    // A later operation of the migration that renames or removes the fixed operation's
    // model or one of its fields: operations moved after the migration would name
    // something that is gone.
    let touched_later = |p: &Placed<'_>| {
        let Some(target) = m
            .operations
            .iter()
            .find(|op| usize::from(op.range().start()) == p.range.start)
            .and_then(|op| op.model())
        else {
            return false;
        };
        m.operations.iter().any(|op| {
            usize::from(op.range().start()) > p.range.start
                && matches!(
                    op.kind,
                    crate::django::operations::OpKind::RenameModel { .. }
                        | crate::django::operations::OpKind::DeleteModel { .. }
                        | crate::django::operations::OpKind::RenameField { .. }
                        | crate::django::operations::OpKind::RemoveField { .. }
                )
                && op.model().is_some_and(|n| n.eq_ignore_ascii_case(target))
        })
    };
    let imports = module_imports(text);
    // What the file binds (its imports, its own functions), and what a new migration
    // split from it binds (the imports only).
    let bound_here = bound_names(text);
    let bound_new = bound_names(&imports);
    let mut spans: Vec<(Range<usize>, String)> = Vec::new();
    let mut moved: Vec<String> = Vec::new();
    let mut later: Vec<Step> = Vec::new();
    let mut written: Vec<(String, BTreeSet<&'static str>)> = Vec::new();
    let mut new_files_by: BTreeSet<&'static str> = BTreeSet::new();
    for p in &kept {
        let more_files = p.fix.steps.len() > 1 || (split && needs_non_atomic(p));
        let (stays, moves): (Vec<String>, Vec<String>) = {
            let mut stays = Vec::new();
            let mut moves = Vec::new();
            for (i, step) in p.fix.steps.iter().enumerate() {
                if i > 0 || (split && !step.atomic) {
                    moves.extend(step.operations.iter().cloned());
                } else {
                    stays.extend(step.operations.iter().cloned());
                }
            }
            (stays, moves)
        };
        if let Some(why) =
            code_problem(&stays, &bound_here).or_else(|| code_problem(&moves, &bound_new))
        {
            out.skipped
                .push(skip(p.finding, &format!("{why}: apply the help by hand")));
            continue;
        }
        if more_files && touched_later(p) {
            out.skipped.push(skip(
                p.finding,
                "a later operation of this migration renames or removes the same model or its fields: \
                 move that operation to a migration of its own, then run `migrail fix` again",
            ));
            continue;
        }
        if blocked && more_files {
            out.skipped.push(skip(
                p.finding,
                "the fix needs a new migration after this one, and a migration it may not edit \
                 depends on it (outside the scope, applied, or a squash)",
            ));
            continue;
        }
        let Some(first) = p.fix.steps.first() else {
            continue;
        };
        let indent = indentation(text, p.range.start);
        for r in &p.fix.remove {
            let r = usize::from(r.start())..usize::from(r.end());
            if r.end <= text.len() {
                spans.push((removal_span(text, &r), String::new()));
            }
        }
        if let Some(pin) = &p.fix.pin {
            pin_in_models(m, pin, round.texts, edits, out);
        }
        if let Some(next) = &p.fix.next_release {
            out.notes.push(format!(
                "{}:{}: the database half waits for the next release, once no old code runs; add this migration then:\n{}",
                p.finding.path_display(),
                p.finding.line,
                ensure_imports(&new_migration(&m.app, "<the latest migration>", next))
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        if split && !first.atomic {
            spans.push((removal_span(text, &p.range), String::new()));
            moved.extend(first.operations.iter().cloned());
        } else {
            let replacement = join_operations(&first.operations, &indent);
            written.push((replacement.clone(), p.lineage.clone()));
            spans.push((p.range.clone(), replacement));
        }
        if more_files {
            new_files_by.extend(p.lineage.iter().copied());
        }
        for (k, step) in p.fix.steps.iter().skip(1).enumerate() {
            match later.get_mut(k) {
                Some(s) => {
                    s.operations.extend(step.operations.iter().cloned());
                    s.atomic &= step.atomic;
                }
                None => later.push(step.clone()),
            }
        }
        out.fixed
            .push((p.finding.rule, p.finding.path_display(), p.finding.line));
    }
    if spans.is_empty() {
        return;
    }
    if m.atomic && !split && kept.iter().any(needs_non_atomic) {
        spans.push(atomic_false(text, m));
    }

    // The new migrations, chained after the original.
    let dir = m
        .source
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut chain: Vec<(String, Step)> = Vec::new();
    if !moved.is_empty() {
        chain.push((
            "concurrently".to_string(),
            Step {
                operations: moved,
                atomic: false,
            },
        ));
    }
    for (k, step) in later.into_iter().enumerate() {
        chain.push((format!("step{}", k + 2), step));
    }
    let mut previous = m.name.clone();
    for (suffix, step) in &chain {
        let path = new_migration_path(&dir, &m.name, suffix, &out.files, project);
        let name = &format!("{}_{suffix}", m.name);
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone());
        out.files.insert(
            path.clone(),
            ensure_imports(&format!(
                "{imports}{}",
                new_migration(&m.app, &previous, step)
            )),
        );
        out.produced
            .files
            .insert(path.clone(), new_files_by.clone());
        out.origins
            .entry(path.clone())
            .or_default()
            .insert(m.source.path.clone());
        out.created.insert(path, m.app.clone());
        previous = stem;
    }
    // What depended on the original depends on the last new migration: one leaf.
    if previous != m.name {
        for d in dependents {
            for dep in d.dependencies.iter().chain(&d.run_before) {
                if let Dependency::Node { app, name, range } = dep {
                    if *app == m.app && *name == m.name {
                        out.origins
                            .entry(d.source.path.clone())
                            .or_default()
                            .insert(m.source.path.clone());
                        let entry = edits
                            .entry(d.source.path.clone())
                            .or_insert_with(|| (d.source.text.clone(), Vec::new()));
                        entry.1.push((
                            usize::from(range.start())..usize::from(range.end()),
                            format!("(\"{}\", \"{previous}\")", m.app),
                        ));
                    }
                }
            }
        }
    }
    out.origins
        .entry(m.source.path.clone())
        .or_default()
        .insert(m.source.path.clone());
    out.produced
        .spans
        .entry(m.source.path.clone())
        .or_default()
        .extend(written);
    edits
        .entry(m.source.path.clone())
        .or_insert_with(|| (text.to_string(), Vec::new()))
        .1
        .extend(spans);
}

/// Add the pin to the model (or field) in the app's `models.py`, when found exactly once;
/// else say what to keep by hand.
fn pin_in_models(
    m: &MigrationFile,
    pin: &super::Pin,
    texts: &BTreeMap<PathBuf, String>,
    edits: &mut Edits,
    out: &mut Plan,
) {
    let app_dir = m
        .source
        .path
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let path = app_dir.join("models.py");
    let by_hand = |out: &mut Plan, why: &str| {
        let on = match &pin.field {
            Some(f) => format!("on `{}.{f}`", pin.model),
            None => format!("in `{}.Meta`", pin.model),
        };
        out.notes.push(format!(
            "keep `{}={}` {on} in models.py ({why}): the state the migrations build has it",
            pin.keyword, pin.value
        ));
    };
    out.origins
        .entry(path.clone())
        .or_default()
        .insert(m.source.path.clone());
    let text = match edits.get(&path) {
        Some((t, _)) => t.clone(),
        None => match texts
            .get(&path)
            .cloned()
            .map(Ok)
            .unwrap_or_else(|| std::fs::read_to_string(&path))
        {
            Ok(t) => t,
            Err(_) => {
                return by_hand(
                    out,
                    &format!("{} not found", crate::lint::display_path(&path)),
                )
            }
        },
    };
    match pin_edit(&text, pin) {
        Ok(Some(edit)) => edits
            .entry(path)
            .or_insert_with(|| (text, Vec::new()))
            .1
            .push(edit),
        Ok(None) => {}
        Err(why) => by_hand(out, &why),
    }
}

/// The edit adding `pin` to `models.py`'s text: `Ok(None)` when it is already there.
fn pin_edit(text: &str, pin: &super::Pin) -> Result<Option<(Range<usize>, String)>, String> {
    use ruff_python_ast::{Expr, Stmt};
    use ruff_text_size::Ranged;
    let parsed =
        ruff_python_parser::parse_unchecked_source(text, ruff_python_ast::PySourceType::Python);
    let classes: Vec<&ruff_python_ast::StmtClassDef> = parsed
        .syntax()
        .body
        .iter()
        .filter_map(|s| match s {
            Stmt::ClassDef(c) if c.name.id.as_str() == pin.model => Some(c),
            _ => None,
        })
        .collect();
    let [class] = classes.as_slice() else {
        return Err(format!("{} classes named `{}`", classes.len(), pin.model));
    };
    let keyword_text = format!("{}={}", pin.keyword, pin.value);
    match &pin.field {
        Some(field) => {
            let calls: Vec<&ruff_python_ast::ExprCall> = class
                .body
                .iter()
                .filter_map(|s| match s {
                    Stmt::Assign(a) => match (a.targets.as_slice(), &*a.value) {
                        ([Expr::Name(n)], Expr::Call(call)) if n.id.as_str() == field => Some(call),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            let [call] = calls.as_slice() else {
                return Err(format!("{} assignments of `{field}`", calls.len()));
            };
            if let Some(k) = call
                .arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == pin.keyword))
            {
                let written =
                    &text[usize::from(k.value.range().start())..usize::from(k.value.range().end())];
                return if written == pin.value {
                    Ok(None)
                } else {
                    Err(format!("it says `{}={written}`", pin.keyword))
                };
            }
            let last_end = call
                .arguments
                .args
                .iter()
                .map(|a| a.range().end())
                .chain(call.arguments.keywords.iter().map(|k| k.range().end()))
                .max();
            Ok(Some(match last_end {
                Some(end) => {
                    let at = usize::from(end);
                    (at..at, format!(", {keyword_text}"))
                }
                None => {
                    let at = usize::from(call.arguments.range().end()) - 1;
                    (at..at, keyword_text)
                }
            }))
        }
        None => {
            let meta = class.body.iter().find_map(|s| match s {
                Stmt::ClassDef(c) if c.name.id.as_str() == "Meta" => Some(c),
                _ => None,
            });
            match meta {
                Some(meta) => {
                    let has = meta.body.iter().any(|s| matches!(s, Stmt::Assign(a)
                        if matches!(a.targets.as_slice(), [Expr::Name(n)] if n.id.as_str() == pin.keyword)));
                    if has {
                        return Err(format!("its Meta sets `{}` already", pin.keyword));
                    }
                    let first = meta.body.first().map(|s| usize::from(s.range().start()));
                    let Some(first) = first else {
                        return Err("its Meta is empty".to_string());
                    };
                    let indent = indentation(text, first);
                    let line_start = text[..first].rfind('\n').map_or(0, |i| i + 1);
                    Ok(Some((
                        line_start..line_start,
                        format!("{indent}{keyword_text}\n").replacen('=', " = ", 1),
                    )))
                }
                None => {
                    let end = usize::from(class.range().end());
                    let first = class
                        .body
                        .first()
                        .map(|s| usize::from(s.range().start()))
                        .unwrap_or(end);
                    let indent = indentation(text, first);
                    Ok(Some((
                        end..end,
                        format!(
                            "\n\n{indent}class Meta:\n{indent}{indent}{}",
                            keyword_text.replacen('=', " = ", 1)
                        ),
                    )))
                }
            }
        }
    }
}

/// The top-level import statements of a migration file (copied into the migrations split
/// from it, as their operations may use them).
fn module_imports(text: &str) -> String {
    use ruff_python_ast::Stmt;
    use ruff_text_size::Ranged;
    let parsed =
        ruff_python_parser::parse_unchecked_source(text, ruff_python_ast::PySourceType::Python);
    let mut imports = String::new();
    for stmt in &parsed.syntax().body {
        if let Stmt::Import(_) | Stmt::ImportFrom(_) = stmt {
            let r = stmt.range();
            let line = &text[usize::from(r.start())..usize::from(r.end())];
            // `from django.db import migrations, models` is written by the template (in
            // whatever order the origin imports them).
            let template_names = line
                .strip_prefix("from django.db import ")
                .is_some_and(|rest| {
                    rest.split(',')
                        .all(|n| matches!(n.trim(), "migrations" | "models"))
                });
            if !template_names {
                imports.push_str(line);
                imports.push('\n');
            }
        }
    }
    imports
}

/// A path for a new migration named `name` in `dir` that neither exists nor is planned.
/// The file of a new migration split from `original` (`0003_gift_wrap`): the next
/// number free in its folder, then the original's name and `suffix`
/// (`0004_gift_wrap_step2`). Never a name another migration's starts with, nor one that
/// starts with another's: `manage.py migrate APP NAME` takes a prefix, and Django refuses
/// a name that is the prefix of two ("More than one migration matches").
fn new_migration_path(
    dir: &Path,
    original: &str,
    suffix: &str,
    planned: &BTreeMap<PathBuf, String>,
    project: &Project,
) -> PathBuf {
    let numbered = original
        .split_once('_')
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let Some((number, rest)) = numbered else {
        return unused_path(dir, &format!("{original}_{suffix}"), planned, project);
    };
    let stem = |p: &Path| -> Option<String> {
        (p.parent() == Some(dir) && p.extension().is_some_and(|e| e == "py"))
            .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .flatten()
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| stem(&e.path()))
                .collect()
        })
        .unwrap_or_default();
    names.extend(planned.keys().filter_map(|p| stem(p)));
    names.extend(
        project
            .migrations
            .iter()
            .filter_map(|m| stem(&m.source.path)),
    );
    names.retain(|n| n != "__init__");
    let number_of = |n: &str| -> Option<u64> { n.split('_').next()?.parse().ok() };
    let width = number.len().max(4);
    let mut next = names
        .iter()
        .filter_map(|n| number_of(n))
        .chain(number.parse().ok())
        .max()
        .unwrap_or(0)
        + 1;
    loop {
        let candidate = format!("{next:0width$}_{rest}_{suffix}");
        let clash = names
            .iter()
            .any(|n| n.starts_with(&candidate) || candidate.starts_with(n.as_str()));
        let path = dir.join(format!("{candidate}.py"));
        if !clash && !planned.contains_key(&path) && !path.exists() {
            return path;
        }
        next += 1;
    }
}

fn unused_path(
    dir: &Path,
    name: &str,
    planned: &BTreeMap<PathBuf, String>,
    project: &Project,
) -> PathBuf {
    let taken = |p: &Path| {
        p.exists()
            || planned.contains_key(p)
            || project.migrations.iter().any(|m| m.source.path == p)
    };
    let mut candidate = dir.join(format!("{name}.py"));
    let mut n = 2;
    while taken(&candidate) {
        candidate = dir.join(format!("{name}_{n}.py"));
        n += 1;
    }
    candidate
}

/// The spaces before the operation on its line.
fn indentation(text: &str, at: usize) -> String {
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at.min(text.len())]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// Operations written where one was: separated by `,` and a new line at `indent`, every
/// line of a multi-line operation indented too.
fn join_operations(operations: &[String], indent: &str) -> String {
    operations
        .iter()
        .map(|op| {
            op.lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 || l.is_empty() {
                        l.to_string()
                    } else {
                        format!("{indent}{l}")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join(&format!(",\n{indent}"))
}

/// The span to delete to remove an operation from its list: its indentation, the
/// operation, a trailing comma and the rest of its line.
fn removal_span(text: &str, range: &Range<usize>) -> Range<usize> {
    let line_start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let start = if text[line_start..range.start].trim().is_empty() {
        line_start
    } else {
        range.start
    };
    let rest = &text[range.end..];
    let mut end = range.end;
    let trimmed = rest.trim_start_matches([' ', '\t']);
    end += rest.len() - trimmed.len();
    if trimmed.starts_with(',') {
        end += 1;
    }
    let after = &text[end..];
    if let Some(nl) = after.find('\n') {
        if after[..nl].trim().is_empty() && start == line_start {
            end += nl + 1;
        }
    }
    start..end
}

/// The edit making the migration `atomic = False`: an existing `atomic = ...` line's
/// value, else a new line at the top of the class body.
fn atomic_false(text: &str, m: &MigrationFile) -> (Range<usize>, String) {
    let class_end = usize::from(m.class_range.end());
    let body = &text[class_end.min(text.len())..];
    for (offset, line) in line_offsets(body) {
        let t = line.trim_start();
        if t.starts_with("atomic") && t[6..].trim_start().starts_with('=') {
            let start = class_end + offset + (line.len() - t.len());
            return (
                start..start + t.trim_end().len(),
                "atomic = False".to_string(),
            );
        }
    }
    // After the `class Migration(...):` line.
    let header_end = body.find('\n').map_or(text.len(), |i| class_end + i + 1);
    (header_end..header_end, "    atomic = False\n\n".to_string())
}

fn line_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |line| {
        let at = offset;
        offset += line.len();
        (at, line.trim_end_matches('\n'))
    })
}

/// A new migration file of `app` after `dependency`, as `makemigrations` writes one.
pub fn new_migration(app: &str, dependency: &str, step: &Step) -> String {
    let atomic = if step.atomic {
        ""
    } else {
        "    atomic = False\n\n"
    };
    let operations = step
        .operations
        .iter()
        .map(|op| {
            format!(
                "        {},",
                join_operations(std::slice::from_ref(op), "        ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let body = format!(
        "class Migration(migrations.Migration):\n\n{atomic}    dependencies = [\n        (\"{app}\", \"{dependency}\"),\n    ]\n\n    operations = [\n{operations}\n    ]\n"
    );
    format!("from django.db import migrations, models\n\n\n{body}")
}

/// The imports the code needs and the file lacks, added after its last top-level import.
/// `text` with its one-line `from django.db import a, b` extended by `names` (sorted, as
/// Django writes it); `None` when there is no such plain line.
fn extend_django_db_import(text: &str, names: &[&str]) -> Option<String> {
    let (offset, line) = line_offsets(text).find(|(_, line)| {
        line.strip_prefix("from django.db import ")
            .is_some_and(|rest| {
                rest.split(',').all(|n| {
                    let n = n.trim();
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
    })?;
    let rest = line.strip_prefix("from django.db import ")?;
    let mut all: Vec<&str> = rest.split(',').map(str::trim).collect();
    all.extend(
        names
            .iter()
            .copied()
            .filter(|n| !all.contains(n))
            .collect::<Vec<_>>(),
    );
    all.sort_unstable();
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..offset]);
    out.push_str("from django.db import ");
    out.push_str(&all.join(", "));
    out.push_str(&text[offset + line.len()..]);
    Some(out)
}

/// The modules of the `django.x.y.Name` references in code (outside string literals and
/// comments): `django.x.y`.
fn dotted_django_modules(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("from ") || trimmed.starts_with("import ") {
            continue;
        }
        let code = line.split('#').next().unwrap_or(line);
        let bytes = code.as_bytes();
        let mut i = 0;
        while let Some(at) = code[i..].find("django.") {
            let start = i + at;
            i = start + 7;
            let before = start.checked_sub(1).map(|b| bytes[b]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
                continue;
            }
            // Inside a string literal: an odd number of quotes before it.
            let quotes = code[..start]
                .chars()
                .filter(|c| *c == '"' || *c == '\'')
                .count();
            if quotes % 2 == 1 {
                continue;
            }
            let path: String = code[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let parts: Vec<&str> = path.trim_end_matches('.').split('.').collect();
            if parts.len() < 3 {
                continue;
            }
            let module = parts[..parts.len() - 1].join(".");
            if !out.contains(&module) {
                out.push(module);
            }
        }
    }
    out
}

pub fn ensure_imports(text: &str) -> String {
    // Names the code reads and the module does not bind (a guarded import binds too).
    let bound = bound_names(text);
    let reads = super::validate::read_names(text);
    let missing = |name: &str| reads.contains(name) && !bound.contains(name);
    let mut needed: Vec<String> = Vec::new();
    let django_db: Vec<&str> = ["migrations", "models"]
        .into_iter()
        .filter(|n| missing(n))
        .collect();
    let mut text = std::borrow::Cow::Borrowed(text);
    if !django_db.is_empty() {
        // `from django.db import migrations` becomes `… import migrations, models`, as
        // Django writes it; otherwise a new line.
        match extend_django_db_import(&text, &django_db) {
            Some(extended) => text = std::borrow::Cow::Owned(extended),
            None => needed.push(format!("from django.db import {}", django_db.join(", "))),
        }
    }
    let text: &str = &text;
    let postgres: Vec<&str> = [
        "AddIndexConcurrently",
        "RemoveIndexConcurrently",
        "AddConstraintNotValid",
        "ValidateConstraint",
    ]
    .into_iter()
    .filter(|op| missing(op))
    .collect();
    if !postgres.is_empty() {
        needed.push(format!(
            "from django.contrib.postgres.operations import {}",
            postgres.join(", ")
        ));
    }
    // Every `django.x.y.Name` the code reads needs `import django.x.y` (a field's
    // `validators=[django.core.validators.MinValueValidator(0)]` copied into a fix).
    for module in dotted_django_modules(text) {
        let line = format!("import {module}");
        let imported = text
            .lines()
            .any(|l| l.trim() == line || l.trim().starts_with(&format!("{line} ")));
        if !imported && !needed.contains(&line) {
            needed.push(line);
        }
    }
    if missing("settings") {
        needed.push("from django.conf import settings".to_string());
    }
    if needed.is_empty() {
        return text.to_string();
    }
    // After the last import line at column 0 (before the first class or def).
    let mut insert_at = 0;
    for (offset, line) in line_offsets(text) {
        if line.starts_with("class ") || line.starts_with("def ") {
            break;
        }
        if line.starts_with("import ") || line.starts_with("from ") {
            insert_at = offset + line.len() + 1;
        }
    }
    let insert_at = insert_at.min(text.len());
    let mut out = String::with_capacity(text.len() + 100);
    out.push_str(&text[..insert_at]);
    for n in &needed {
        out.push_str(n);
        out.push('\n');
    }
    out.push_str(&text[insert_at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_added_once_after_the_last_import() {
        let text = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    operations = [AddIndexConcurrently(\"a\", models.Index(fields=[\"x\"], name=\"i\"))]\n";
        let fixed = ensure_imports(text);
        assert!(fixed.starts_with(
            "from django.db import migrations, models\nfrom django.contrib.postgres.operations import AddIndexConcurrently\n\n\nclass"
        ), "{fixed}");
        assert_eq!(ensure_imports(&fixed), fixed);
    }

    fn fixed(files: &[(String, String)]) -> Plan {
        let project = crate::lint::testing::project(files);
        let report = crate::lint::lint(
            &project,
            &crate::lint::Review::All,
            &crate::lint::LintOptions::default(),
        );
        plan(
            &project,
            &report.findings,
            &Round {
                may_edit: &|_| true,
                produced: &Produced::default(),
                texts: &BTreeMap::new(),
            },
        )
    }

    /// A migration whose only operation must run outside a transaction becomes
    /// `atomic = False` in place (an `atomic = True` line is rewritten, not duplicated).
    #[test]
    fn a_lone_concurrent_operation_makes_its_migration_non_atomic() {
        let files = crate::lint::testing::with_initial(crate::lint::testing::migration(
            "0002_idx",
            "0001_initial",
            r#"        migrations.AddIndex("book", models.Index(fields=["title"], name="t_idx")),"#,
        ));
        let out = fixed(&files);
        assert!(out.created.is_empty(), "{:?}", out.created.keys());
        let text = &out.files[&PathBuf::from("shop/migrations/0002_idx.py")];
        assert!(text.contains("    atomic = False\n"), "{text}");
        assert!(text.contains(
            r#"AddIndexConcurrently("book", models.Index(fields=["title"], name="t_idx")),"#
        ));
        assert!(
            text.contains("from django.contrib.postgres.operations import AddIndexConcurrently")
        );

        let explicit: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| {
                (
                    p.clone(),
                    t.replace(
                        "    dependencies = [(\"shop\", \"0001_initial\")]",
                        "    atomic = True\n    dependencies = [(\"shop\", \"0001_initial\")]",
                    ),
                )
            })
            .collect();
        let out = fixed(&explicit);
        let text = &out.files[&PathBuf::from("shop/migrations/0002_idx.py")];
        assert_eq!(text.matches("atomic =").count(), 1, "{text}");
        assert!(text.contains("    atomic = False\n"), "{text}");
    }

    /// A later step becomes a new migration after the original, and what depended on the
    /// original depends on it (one leaf).
    #[test]
    fn later_steps_chain_after_the_original_and_dependents_follow() {
        let mut files = crate::lint::testing::with_initial(crate::lint::testing::migration(
            "0002_check",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.CheckConstraint(condition=models.Q(pages__gte=0), name="pages_gte_0")),"#,
        ));
        files.push(crate::lint::testing::migration(
            "0003_next",
            "0002_check",
            r#"        migrations.AddField("book", "note", models.TextField(null=True)),"#,
        ));
        let out = fixed(&files);
        // The next free number: `0002_check_step2` would make `migrate shop 0002_check`
        // ambiguous to Django (it takes a prefix).
        let new = PathBuf::from("shop/migrations/0004_check_step2.py");
        assert!(out.created.contains_key(&new), "{:?}", out.created);
        assert!(out.files[&new].contains(r#"("shop", "0002_check"),"#));
        assert!(out.files[&new].contains(r#"ValidateConstraint("book", "pages_gte_0"),"#));
        let next = &out.files[&PathBuf::from("shop/migrations/0003_next.py")];
        assert!(next.contains(r#"[("shop", "0004_check_step2")]"#), "{next}");
    }

    #[test]
    fn an_operation_is_removed_with_its_line() {
        let text = "    operations = [\n        a(),\n        b(),\n    ]\n";
        let start = text.find("b()").expect("b");
        let span = removal_span(text, &(start..start + 3));
        let mut out = text.to_string();
        out.replace_range(span, "");
        assert_eq!(out, "    operations = [\n        a(),\n    ]\n");
    }
}
