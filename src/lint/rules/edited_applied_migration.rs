//! `edited-applied-migration`: a change to a migration the base branch already has.
//!
//! Reviewed against a base (`--base`, `migrail ci`): the migration files the base holds
//! that this change modifies, renames or deletes ([`BaseVersions`], read from git by the
//! CLI). Operations are compared as Python reads them (quotes, parentheses, trailing
//! commas, comments and formatting do not count), so a reformatted or re-imported file
//! is not reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ruff_python_ast::comparable::ComparableExpr;
use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::django::migration::SourceFile;
use crate::django::Project;
use crate::lint::finding::Finding;
use crate::lint::phase::Phase;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct EditedAppliedMigration;

pub static META: RuleMeta = RuleMeta {
    name: "edited-applied-migration",
    severity: Severity::Error,
    axis: Axis::Graph,
    summary: "A change edits, renames or deletes a migration the base branch already has",
    doc: r#"## What it catches
Reviewed against a base branch (`--base`, `migrail ci` on a pull request): a migration
file the base branch has, whose operations this change edits, or which it renames or
deletes. Comments, formatting, quotes, imports and dependencies may change; the operations
may not.

## Why it is unsafe
Production (and every environment deployed from the base branch) has applied that
migration: Django records its name and never runs it again. An edit reaches only fresh
databases (tests, new environments), so their schema silently diverges from production's;
a renamed migration is a new one to Django, applied again where the old name is recorded
(and failing, or doing it twice); a deleted one leaves its name recorded with no file
behind it, and the migrations that depended on it unresolved.

## Does not fire when
- the operations are identical (comments, formatting, quotes, imports, dependencies);
- the deleted migrations are replaced by a squashed migration the base branch already has
  (the documented clean-up, once the squash has shipped), and removing that squash's
  `replaces` once they are gone.

## Safe alternative
Leave the applied migration as it is and write a new migration with the change
(`python manage.py makemigrations`); to change history for good, squash
(`python manage.py squashmigrations`), ship the squash, then delete what it replaces.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

/// What the base branch holds of the migrations this change touches.
#[derive(Clone, Debug, Default)]
pub struct BaseVersions {
    /// The base as named (`origin/main`).
    pub base: String,
    pub edits: Vec<BaseEdit>,
    /// Canonical paths of the migration files the base holds (to tell a squash that has
    /// shipped from one this change adds).
    pub shipped: BTreeSet<PathBuf>,
}

/// A migration file of the base that this change modified, renamed or deleted.
#[derive(Clone, Debug)]
pub struct BaseEdit {
    /// Its path at the base (absolute, in this work tree).
    pub then: PathBuf,
    /// The file now: canonical; `None` when deleted.
    pub now: Option<PathBuf>,
    /// Its text at the base.
    pub text: String,
}

impl Rule for EditedAppliedMigration {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(base) = ctx.applied else {
            return;
        };
        let m = ctx.migration;
        let here = canonical(&m.source.path);
        let Some(edit) = base.edits.iter().find(|e| e.now.as_deref() == Some(&here)) else {
            return;
        };
        let old_name = stem(&edit.then);
        if old_name != m.name {
            out.push(
                Diagnostic::new(
                    m.class_range,
                    format!(
                        "`{}` is `{old_name}` renamed, and {} has `{old_name}`: databases that \
                     applied it record `{old_name}`, so Django applies `{}` again there",
                        m.name, base.base, m.name
                    ),
                )
                .help("keep the applied name; put the change in a new migration".to_string()),
            );
            return;
        }
        let Some(differences) = compare(&edit.text, &m.source.text) else {
            return;
        };
        let (range, lines) = differences;
        out.push(
            Diagnostic::new(
                range.unwrap_or(m.class_range),
                format!(
                    "`{}` is on {} already (databases applied it): Django never runs it again \
                     there, so this edit reaches only fresh databases and their schema diverges \
                     from production's",
                    m.name, base.base
                ),
            )
            .help(format!(
                "{}\nrevert it, and write the change as a new migration (`python manage.py \
                 makemigrations`)",
                lines.join("\n")
            )),
        );
    }
}

/// The deleted migrations of the base, except those a shipped squash replaces.
pub fn deleted(project: &Project, base: &BaseVersions) -> Vec<Finding> {
    let mut out = Vec::new();
    for edit in base.edits.iter().filter(|e| e.now.is_none()) {
        let name = stem(&edit.then);
        let folder = edit.then.parent().map(canonical);
        let app = project
            .migrations
            .iter()
            .find(|m| canonical(&m.source.path).parent().map(Path::to_path_buf) == folder)
            .map(|m| m.app.clone());
        let squashed = app.as_deref().is_some_and(|app| {
            project.migrations.iter().any(|m| {
                base.shipped.contains(&canonical(&m.source.path))
                    && m.replaces.iter().any(|(a, n)| a == app && *n == name)
            })
        });
        if squashed {
            continue;
        }
        let app = app.unwrap_or_else(|| {
            folder
                .as_deref()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        });
        let source = Arc::new(SourceFile::new(edit.then.clone(), edit.text.clone()));
        let end = source.text.find('\n').unwrap_or(source.text.len());
        let (end_line, end_column) = source.line_col((end as u32).into());
        out.push(Finding {
            rule: META.name,
            severity: META.severity,
            source,
            app: app.clone(),
            migration: name.clone(),
            message: format!(
                "`{app}.{name}` is deleted, and {} has it (databases applied it): they keep \
                 its name recorded with no file behind it, and what depended on it no longer \
                 resolves",
                base.base
            ),
            help: Some(
                "restore it; to retire history, squash (`python manage.py squashmigrations`), \
                 ship the squash, then delete what it replaces"
                    .to_string(),
            ),
            line: 1,
            column: 1,
            end_line,
            end_column,
            focus: 0..end,
            phase: Phase::Any,
            fix: None,
        });
    }
    out
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// The operations of `then` and `now` differ: where in `now` (the first operation that
/// differs), and what changed (`- old`, `+ new`, at most a few). `None`: the same, or
/// either cannot be read (another rule reports a file that does not parse).
fn compare(then: &str, now: &str) -> Option<(Option<TextRange>, Vec<String>)> {
    let old_module = ruff_python_parser::parse_module(then).ok()?;
    let new_module = ruff_python_parser::parse_module(now).ok()?;
    let old = operations(old_module.suite())?;
    let new = operations(new_module.suite())?;
    let same = |a: &Expr, b: &Expr| ComparableExpr::from(a) == ComparableExpr::from(b);
    if old.len() == new.len() && old.iter().zip(&new).all(|(a, b)| same(a, b)) {
        return None;
    }
    let shown = |text: &str, e: &Expr| {
        let one = super::one_line(&text[e.range()]);
        if one.chars().count() > 160 {
            format!("{}…", one.chars().take(159).collect::<String>())
        } else {
            one
        }
    };
    let mut lines = Vec::new();
    let mut first = None;
    let common = old.len().min(new.len());
    for i in 0..common {
        if !same(old[i], new[i]) {
            first.get_or_insert(new[i].range());
            let callee = match new[i] {
                Expr::Call(c) => format!(" ({})", super::one_line(&now[c.func.range()])),
                _ => String::new(),
            };
            let (was, is, name) = narrowest(old[i], new[i], None);
            let name = name.map(|n| format!("{n}=")).unwrap_or_default();
            lines.push(format!(
                "operation {}{callee}: {name}{} became {name}{}",
                i + 1,
                shown(then, was),
                shown(now, is)
            ));
        }
    }
    for (i, e) in old.iter().enumerate().skip(common) {
        lines.push(format!("operation {} removed: {}", i + 1, shown(then, e)));
    }
    for (i, e) in new.iter().enumerate().skip(common) {
        first.get_or_insert(e.range());
        lines.push(format!("operation {} added: {}", i + 1, shown(now, e)));
    }
    if lines.len() > 6 {
        let more = lines.len() - 6;
        lines.truncate(6);
        lines.push(format!("and {more} more line(s) of difference"));
    }
    Some((first, lines))
}

/// The first place where `a` and `b` differ, descending through calls (the same callee,
/// the same arguments and keywords) and lists, with the keyword it is the value of.
fn narrowest<'e>(
    a: &'e Expr,
    b: &'e Expr,
    keyword: Option<&'e str>,
) -> (&'e Expr, &'e Expr, Option<&'e str>) {
    let same = |x: &Expr, y: &Expr| ComparableExpr::from(x) == ComparableExpr::from(y);
    match (a, b) {
        (Expr::Call(x), Expr::Call(y))
            if same(&x.func, &y.func)
                && x.arguments.args.len() == y.arguments.args.len()
                && x.arguments.keywords.len() == y.arguments.keywords.len()
                && x.arguments
                    .keywords
                    .iter()
                    .zip(y.arguments.keywords.iter())
                    .all(|(k, l)| {
                        k.arg.as_ref().map(|n| n.as_str()) == l.arg.as_ref().map(|n| n.as_str())
                    }) =>
        {
            if let Some((p, q)) = x
                .arguments
                .args
                .iter()
                .zip(y.arguments.args.iter())
                .find(|(p, q)| !same(p, q))
            {
                return narrowest(p, q, None);
            }
            match x
                .arguments
                .keywords
                .iter()
                .zip(y.arguments.keywords.iter())
                .find(|(k, l)| !same(&k.value, &l.value))
            {
                Some((k, l)) => narrowest(&k.value, &l.value, k.arg.as_ref().map(|n| n.as_str())),
                None => (a, b, keyword),
            }
        }
        (Expr::List(x), Expr::List(y)) if x.elts.len() == y.elts.len() => {
            match x.elts.iter().zip(y.elts.iter()).find(|(p, q)| !same(p, q)) {
                Some((p, q)) => narrowest(p, q, None),
                None => (a, b, keyword),
            }
        }
        (Expr::Tuple(x), Expr::Tuple(y)) if x.elts.len() == y.elts.len() => {
            match x.elts.iter().zip(y.elts.iter()).find(|(p, q)| !same(p, q)) {
                Some((p, q)) => narrowest(p, q, None),
                None => (a, b, keyword),
            }
        }
        _ => (a, b, keyword),
    }
}

/// The elements of `operations = [...]` in `class Migration`.
fn operations(suite: &[Stmt]) -> Option<Vec<&Expr>> {
    let class = suite.iter().find_map(|s| match s {
        Stmt::ClassDef(c) if c.name.as_str() == "Migration" => Some(c),
        _ => None,
    })?;
    class.body.iter().rev().find_map(|s| {
        let (targets, value): (Vec<&Expr>, &Expr) = match s {
            Stmt::Assign(a) => (a.targets.iter().collect(), &a.value),
            Stmt::AnnAssign(a) => (vec![&a.target], a.value.as_deref()?),
            _ => return None,
        };
        let named = targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "operations"));
        if !named {
            return None;
        }
        match value {
            Expr::List(l) => Some(l.elts.iter().collect()),
            Expr::Tuple(t) => Some(t.elts.iter().collect()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("book", "isbn", models.CharField(max_length=13, null=True)),
    ]
"#;

    #[test]
    fn formatting_comments_quotes_and_imports_do_not_count() {
        let reformatted = r#"# an applied migration, reformatted
from django.db import models
from django.db import migrations

class Migration(migrations.Migration):
    dependencies = [('shop', '0001_initial')]
    operations = [
        migrations.AddField(
            'book',
            'isbn',
            models.CharField(max_length=13, null=True),  # the same field
        )
    ]
"#;
        assert_eq!(compare(BASE, reformatted), None);
    }

    #[test]
    fn a_changed_added_or_removed_operation_is_shown() {
        let edited = BASE.replace("max_length=13", "max_length=20");
        let (range, lines) = compare(BASE, &edited).expect("different");
        assert!(range.is_some());
        assert_eq!(
            lines,
            ["operation 1 (migrations.AddField): max_length=13 became max_length=20"]
        );
        let added = BASE.replace(
            "    ]\n",
            "        migrations.RemoveField(\"book\", \"title\"),\n    ]\n",
        );
        let (_, lines) = compare(BASE, &added).expect("different");
        assert_eq!(
            lines,
            ["operation 2 added: migrations.RemoveField(\"book\", \"title\")"]
        );
        let (_, lines) = compare(&added, BASE).expect("different");
        assert!(lines[0].starts_with("operation 2 removed:"), "{lines:?}");
        // A file that does not parse is another rule's business.
        assert_eq!(compare(BASE, "class Migration(:\n"), None);
    }
}
