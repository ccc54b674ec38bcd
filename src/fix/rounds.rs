//! Fixing a scope in memory: lint, plan the fixes ([`super::apply::plan`]), re-lint what
//! they wrote, in rounds until nothing is left to fix; then validate the result
//! ([`super::validate`]) and drop the fixes of any migration that fails, computing again
//! without them. Nothing here writes a file: the caller writes [`Outcome::changed`] only
//! once this returns, and nothing when it reports an internal error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::django::discover::DiscoveredFile;
use crate::django::migration::MigrationFile;
use crate::django::Project;
use crate::lint::rule::Severity;
use crate::lint::{self, display_path, Finding, LintOptions, Review};

use super::apply::{self, Produced, Round};
use super::validate;

/// Rounds of fixing at most (each round re-lints what the previous one wrote).
const MAX_ROUNDS: usize = 4;

/// Validation attempts at most: each drops the fixes of at least one more migration.
const MAX_ATTEMPTS: usize = 8;

/// The rules whose findings say a tree is broken: a fix may not add one.
const GRAPH_RULES: &[&str] = &[
    "syntax-error",
    "multiple-leaf-nodes",
    "circular-dependency",
    "missing-dependency",
    "duplicate-app-label",
];

/// Why a migration is never rewritten (`None`: it may be).
pub type Protect<'a> = &'a dyn Fn(&MigrationFile) -> Option<String>;

/// What fixing the scope gives, computed in memory (nothing written).
#[derive(Debug, Default)]
pub struct Outcome {
    pub originals: BTreeMap<PathBuf, String>,
    pub texts: BTreeMap<PathBuf, String>,
    pub created: BTreeSet<PathBuf>,
    /// Findings fixed: (rule, path, line).
    pub fixed: Vec<(&'static str, String, usize)>,
    /// Why a fix was not applied, by (rule, file, line): the last round's word.
    pub skipped: BTreeMap<(&'static str, String, usize), String>,
    /// Findings above notes left in the scope after the fixes (protected ones aside).
    pub left: Vec<Finding>,
    /// Findings in migrations that are never rewritten, and why.
    pub protected: Vec<(Finding, String)>,
    /// Migrations whose fixes were dropped by the validation, and why.
    pub dropped: BTreeMap<PathBuf, String>,
    /// What is left to do by hand (pins, next release's migrations, rounds run out).
    pub notes: Vec<String>,
    /// A check could not be satisfied at all: write nothing.
    pub internal_error: Option<String>,
}

impl Outcome {
    /// The files that change (edited or new), in path order.
    pub fn changed(&self) -> Vec<&PathBuf> {
        if self.internal_error.is_some() {
            return Vec::new();
        }
        self.texts
            .iter()
            .filter(|(p, t)| self.originals.get(*p) != Some(t))
            .map(|(p, _)| p)
            .collect()
    }

    /// Unified diffs of every change (`--- /dev/null` for new files); empty when none.
    pub fn diff(&self) -> String {
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

/// Fix the migrations `review` selects, except those `protect` names, and validate the
/// result; the fixes of a migration that fails validation are dropped.
pub fn compute(
    first: &Project,
    review: &Review,
    options: &LintOptions,
    protect: Protect<'_>,
) -> Outcome {
    let mut dropped: BTreeMap<PathBuf, String> = BTreeMap::new();
    for _ in 0..MAX_ATTEMPTS {
        let (mut outcome, fixed_project) = attempt(first, review, options, protect, &dropped);
        let failures = match &fixed_project {
            Some((project, origins)) => check(first, project, &outcome, origins),
            None => BTreeMap::new(),
        };
        let new: BTreeMap<PathBuf, String> = failures
            .into_iter()
            .filter(|(p, _)| !dropped.contains_key(p))
            .collect();
        if new.is_empty() {
            outcome.dropped = dropped;
            return outcome;
        }
        dropped.extend(new);
    }
    Outcome {
        internal_error: Some(format!(
            "the fixes still failed validation after dropping those of {} migrations (a \
             migrail bug): nothing was written",
            dropped.len()
        )),
        dropped,
        ..Outcome::default()
    }
}

/// One computation of the rounds, with the fixes of `dropped` migrations left out.
/// Returns the fixed project (when anything changed) and, for each changed file, the
/// original migrations whose fixes changed it.
#[allow(clippy::type_complexity)]
fn attempt(
    first: &Project,
    review: &Review,
    options: &LintOptions,
    protect: Protect<'_>,
    dropped: &BTreeMap<PathBuf, String>,
) -> (
    Outcome,
    Option<(Project, BTreeMap<PathBuf, BTreeSet<PathBuf>>)>,
) {
    let mut originals: BTreeMap<PathBuf, String> = first
        .migrations
        .iter()
        .map(|m| (m.source.path.clone(), m.source.text.clone()))
        .collect();
    let mut scope: BTreeSet<PathBuf> = first
        .migrations
        .iter()
        .filter(|m| review.includes(m))
        .map(|m| m.source.path.clone())
        .collect();
    let protected_paths: BTreeMap<PathBuf, String> = first
        .migrations
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let why = if !m.replaces.is_empty() {
                Some(
                    "a squash: it runs only on new databases, and rewriting it would not \
                     change the databases that applied the migrations it replaces"
                        .to_string(),
                )
            } else if first.is_replaced(i) {
                Some(
                    "replaced by a squash: the squash runs instead of it on new databases, \
                     and existing ones applied it long ago"
                        .to_string(),
                )
            } else {
                protect(m)
            };
            why.map(|w| (m.source.path.clone(), w))
        })
        .collect();
    let mut texts = originals.clone();
    let mut apps: BTreeMap<PathBuf, String> = first
        .migrations
        .iter()
        .map(|m| (m.source.path.clone(), m.app.clone()))
        .collect();
    // A file created by a fix, and the original migration it came from.
    let mut root_of: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut origins: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let mut created: BTreeSet<PathBuf> = BTreeSet::new();
    let mut produced = Produced::default();
    let mut out = Outcome::default();
    let mut later: Option<(Project, Review)> = None;
    let mut report = lint::lint(first, review, options);
    let mut converged = false;
    for _ in 0..MAX_ROUNDS {
        let (project, round_review) = match &later {
            Some((p, r)) => (p, r),
            None => (first, review),
        };
        let root = |p: &Path| root_of.get(p).cloned().unwrap_or_else(|| p.to_path_buf());
        let may_edit = |m: &MigrationFile| {
            round_review.includes(m)
                && !protected_paths.contains_key(&root(&m.source.path))
                && !dropped.contains_key(&root(&m.source.path))
        };
        let plan = apply::plan(
            project,
            &report.findings,
            &Round {
                may_edit: &may_edit,
                produced: &produced,
                texts: &texts,
            },
        );
        for (rule, path, line, why) in plan.skipped {
            out.skipped.insert((rule, path, line), why);
        }
        out.notes.extend(plan.notes);
        if plan.files.is_empty() {
            converged = true;
            break;
        }
        out.fixed.extend(plan.fixed);
        for (file, from) in plan.origins {
            let roots: BTreeSet<PathBuf> = from.iter().map(|p| root(p)).collect();
            origins.entry(file).or_default().extend(roots);
        }
        for (path, app) in plan.created {
            let origin = origins
                .get(&path)
                .and_then(|o| o.iter().next().cloned())
                .unwrap_or_else(|| path.clone());
            root_of.insert(path.clone(), origin);
            scope.insert(path.clone());
            apps.insert(path.clone(), app);
            created.insert(path);
        }
        produced.extend(plan.produced);
        // A file the fixes edit that is not a migration (`models.py`): as it is on disk.
        for path in plan.files.keys() {
            if !originals.contains_key(path) && !created.contains(path) {
                if let Ok(text) = std::fs::read_to_string(path) {
                    originals.insert(path.clone(), text);
                }
            }
        }
        texts.extend(plan.files);
        let project = reload(project, &texts, &apps);
        let review = Review::files(scope.iter().map(PathBuf::as_path));
        report = lint::lint(&project, &review, options);
        later = Some((project, review));
    }
    if !converged {
        out.notes.push(format!(
            "fixing stopped after {MAX_ROUNDS} rounds with fixes still to apply: run `migrail \
             fix` again, and report it (a fix should leave nothing to fix)"
        ));
    }
    for f in report.findings {
        if f.severity == Severity::Info {
            continue;
        }
        let root = root_of
            .get(&f.source.path)
            .cloned()
            .unwrap_or_else(|| f.source.path.clone());
        if let Some(why) = protected_paths.get(&root) {
            out.protected.push((f, why.clone()));
        } else {
            if let Some(why) = dropped.get(&root) {
                out.skipped
                    .insert((f.rule, f.path_display(), f.line), why.clone());
            }
            out.left.push(f);
        }
    }
    out.originals = originals;
    out.texts = texts;
    out.created = created;
    (out, later.map(|(p, _)| (p, origins)))
}

/// The migrations whose fixes break something, and what: a changed file that does not
/// parse, an app whose graph gains an error or whose final model state changed, a squash
/// or a migration it replaces that changed.
fn check(
    first: &Project,
    fixed: &Project,
    outcome: &Outcome,
    origins: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
) -> BTreeMap<PathBuf, String> {
    let mut failures: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut fail = |file: &Path, why: String| {
        for origin in origins.get(file).into_iter().flatten() {
            failures
                .entry(origin.clone())
                .or_insert_with(|| why.clone());
        }
    };
    for path in outcome.changed() {
        let text = outcome.texts.get(path).map(String::as_str).unwrap_or("");
        let before = outcome.originals.get(path);
        if let Some(error) = validate::parse_error(text) {
            if before.is_none_or(|b| validate::parse_error(b).is_none()) {
                fail(
                    path,
                    format!(
                        "the fixed {} would not parse ({error}; a migrail bug): not fixed",
                        display_path(path)
                    ),
                );
            }
        }
        let squash = first.migrations.iter().enumerate().any(|(i, m)| {
            m.source.path == *path && (!m.replaces.is_empty() || first.is_replaced(i))
        });
        if squash {
            fail(
                path,
                format!(
                    "the fix would change {}, a squash or a migration it replaces (a migrail bug): not fixed",
                    display_path(path)
                ),
            );
        }
    }
    // Apps: graph errors the fixed tree has that the original has not, and changed state.
    let graph_errors = |p: &Project| -> BTreeMap<(String, &'static str), usize> {
        let options = LintOptions {
            select: GRAPH_RULES.iter().map(|r| r.to_string()).collect(),
            ..LintOptions::default()
        };
        let mut counts = BTreeMap::new();
        for f in lint::lint(p, &Review::All, &options).findings {
            *counts.entry((f.app.clone(), f.rule)).or_insert(0) += 1;
        }
        counts
    };
    let before = graph_errors(first);
    let mut broken: BTreeMap<String, String> = BTreeMap::new();
    for ((app, rule), n) in graph_errors(fixed) {
        if n > before.get(&(app.clone(), rule)).copied().unwrap_or(0) {
            broken.entry(app).or_insert_with(|| {
                format!("the fixes would give the app a `{rule}` error (a migrail bug): not fixed")
            });
        }
    }
    for app in validate::apps_with_changed_state(first, fixed) {
        broken.entry(app).or_insert_with(|| {
            "the fixes would change the app's model state (a migrail bug): not fixed".to_string()
        });
    }
    if !broken.is_empty() {
        let app_of: BTreeMap<&Path, &str> = first
            .migrations
            .iter()
            .map(|m| (m.source.path.as_path(), m.app.as_str()))
            .collect();
        for origin in origins.values().flatten() {
            if let Some(why) = app_of.get(origin.as_path()).and_then(|a| broken.get(*a)) {
                failures
                    .entry(origin.clone())
                    .or_insert_with(|| why.clone());
            }
        }
    }
    failures
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::{migration, project, with_initial};

    fn fix_all(files: &[(String, String)]) -> Outcome {
        compute(
            &project(files),
            &Review::All,
            &LintOptions::default(),
            &|_| None,
        )
    }

    /// Every file the outcome writes parses, and none holds a placeholder.
    fn assert_sound(o: &Outcome) {
        assert!(o.internal_error.is_none(), "{:?}", o.internal_error);
        for path in o.changed() {
            let text = &o.texts[path];
            assert_eq!(
                validate::parse_error(text),
                None,
                "{}:\n{text}",
                path.display()
            );
            assert!(!text.contains("<local>"), "{}:\n{text}", path.display());
        }
    }

    /// The texts after the fixes, as files for a second run.
    fn fixed_files(o: &Outcome) -> Vec<(String, String)> {
        o.texts
            .iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "py") && !p.ends_with("models.py"))
            .map(|(p, t)| (p.display().to_string(), t.clone()))
            .collect()
    }

    /// A string default with line breaks, quotes, a backslash and non-ASCII text goes into
    /// the `RunSQL` of the fix as a literal whose value is the default's.
    #[test]
    fn multi_line_and_non_ascii_defaults_are_written_as_exact_literals() {
        let files = with_initial(migration(
            "0002_blurb",
            "0001_initial",
            r#"        migrations.AddField("book", "blurb", models.TextField(default="Line one\nLigne deux — «é»\n'quoted' \\ back")),"#,
        ));
        let o = fix_all(&files);
        assert_sound(&o);
        assert_eq!(o.fixed.len(), 1, "{:?} {:?}", o.skipped, o.dropped);
        let text = &o.texts[&PathBuf::from("shop/migrations/0002_blurb.py")];
        // The SQL as Python evaluates the literal.
        let parsed = ruff_python_parser::parse_module(text).expect("parses");
        let mut sql = Vec::new();
        collect_strings(&parsed.syntax().body, &mut sql);
        let default = sql
            .iter()
            .find(|s| s.contains("SET DEFAULT"))
            .unwrap_or_else(|| panic!("a SET DEFAULT statement in\n{text}"));
        assert!(
            default.contains("SET DEFAULT 'Line one\nLigne deux — «é»\n''quoted'' \\ back';"),
            "{default}"
        );
    }

    fn collect_strings(body: &[ruff_python_ast::Stmt], out: &mut Vec<String>) {
        use ruff_python_ast::visitor::{walk_expr, walk_stmt, Visitor};
        struct Strings<'o>(&'o mut Vec<String>);
        impl<'a> Visitor<'a> for Strings<'_> {
            fn visit_expr(&mut self, e: &'a ruff_python_ast::Expr) {
                if let ruff_python_ast::Expr::StringLiteral(s) = e {
                    self.0.push(s.value.to_str().to_string());
                }
                walk_expr(self, e);
            }
        }
        let mut v = Strings(out);
        for s in body {
            walk_stmt(&mut v, s);
        }
    }

    /// A field whose `upload_to` is a function of the migration's own module: the fix that
    /// stays in the file names it as the file does; one that would move it to a new
    /// migration, where it is not defined, is not applied, and the summary says why.
    #[test]
    fn a_callable_of_the_file_is_named_as_written_or_the_fix_is_skipped() {
        let mut files = with_initial(migration(
            "0002_cover",
            "0001_initial",
            r#"        migrations.AddField("book", "cover", models.FileField(null=True, upload_to=file_path)),"#,
        ));
        files.push(migration(
            "0003_cover_required",
            "0002_cover",
            r#"        migrations.AlterField("book", "cover", models.FileField(upload_to=file_path)),"#,
        ));
        for (_, text) in files.iter_mut().skip(1) {
            *text = text.replace(
                "\n\nclass Migration",
                "\n\ndef file_path(instance, filename):\n    return filename\n\n\nclass Migration",
            );
        }
        let o = fix_all(&files);
        assert_sound(&o);
        for path in o.changed() {
            let text = &o.texts[path];
            if text.contains("file_path") {
                assert!(
                    text.contains("def file_path"),
                    "{} names file_path without defining it:\n{text}",
                    path.display()
                );
            }
        }
        let skipped: Vec<&String> = o.skipped.values().collect();
        assert!(
            o.created.is_empty() || skipped.iter().any(|w| w.contains("`file_path`")),
            "{skipped:?}"
        );
    }

    /// A squash and the migrations it replaces are never rewritten; a migration after the
    /// squash is.
    #[test]
    fn squashes_and_the_migrations_they_replace_are_left_alone() {
        let idx = r#"        migrations.AddIndex("book", models.Index(fields=["title"], name="title_idx")),"#;
        let mut files = with_initial(migration("0002_idx", "0001_initial", idx));
        files.push(migration(
            "0003_isbn_idx",
            "0002_idx",
            r#"        migrations.AddIndex("book", models.Index(fields=["isbn"], name="isbn_idx")),"#,
        ));
        let initial = files[0].1.clone();
        let ops_start = initial.find("    operations = [").expect("operations");
        let squash = format!(
            "{}    replaces = [(\"shop\", \"0001_initial\"), (\"shop\", \"0002_idx\"), (\"shop\", \"0003_isbn_idx\")]\n\n{}",
            &initial[..ops_start],
            initial[ops_start..].replacen(
                "    ]\n",
                &format!("{idx}\n        migrations.AddIndex(\"book\", models.Index(fields=[\"isbn\"], name=\"isbn_idx\")),\n    ]\n"),
                1
            )
        );
        files.push((
            "shop/migrations/0001_squashed_0003_isbn_idx.py".into(),
            squash,
        ));
        files.push(migration(
            "0004_pages_idx",
            "0001_squashed_0003_isbn_idx",
            r#"        migrations.AddIndex("book", models.Index(fields=["pages"], name="pages_idx")),"#,
        ));
        let o = fix_all(&files);
        assert_sound(&o);
        let changed: Vec<String> = o
            .changed()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            changed,
            ["shop/migrations/0004_pages_idx.py"],
            "{:?}",
            o.protected
        );
        assert!(
            o.protected.iter().any(
                |(f, why)| f.migration == "0002_idx" && why.starts_with("replaced by a squash")
            ),
            "{:?}",
            o.protected
                .iter()
                .map(|(f, w)| (&f.migration, w))
                .collect::<Vec<_>>()
        );
    }

    /// An operation two rules report is fixed by both, once each, and fixing the result
    /// again changes nothing.
    #[test]
    fn an_operation_two_rules_fix_is_fixed_once_by_each_and_a_second_run_is_a_no_op() {
        let mut files = with_initial(migration(
            "0002_shelf",
            "0001_initial",
            r#"        migrations.CreateModel("Shelf", fields=[("id", models.BigAutoField(primary_key=True, serialize=False))]),"#,
        ));
        files.push(migration(
            "0003_book_shelf",
            "0002_shelf",
            r#"        migrations.AddField("book", "shelf", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="shop.shelf")),"#,
        ));
        let o = fix_all(&files);
        assert_sound(&o);
        let rules: BTreeSet<&str> = o.fixed.iter().map(|(r, _, _)| *r).collect();
        assert!(
            rules.len() >= 2,
            "two rules fixed the AddField: {:?} {:?}",
            o.fixed,
            o.skipped
        );
        let fixed = &o.texts[&PathBuf::from("shop/migrations/0003_book_shelf.py")];
        assert!(
            fixed.matches("SeparateDatabaseAndState").count() <= 1,
            "no operation is wrapped twice:\n{fixed}"
        );
        let again = fix_all(&fixed_files(&o));
        assert_sound(&again);
        assert!(again.changed().is_empty(), "second run: {}", again.diff());
    }

    /// A migration the caller protects (applied on the base branch) keeps its text, and
    /// its findings are listed with the reason.
    #[test]
    fn protected_migrations_are_listed_not_rewritten() {
        let mut files = with_initial(migration(
            "0002_idx",
            "0001_initial",
            r#"        migrations.AddIndex("book", models.Index(fields=["title"], name="title_idx")),"#,
        ));
        files.push(migration(
            "0003_idx",
            "0002_idx",
            r#"        migrations.AddIndex("book", models.Index(fields=["isbn"], name="isbn_idx")),"#,
        ));
        let o = compute(
            &project(&files),
            &Review::All,
            &LintOptions::default(),
            &|m| (m.name == "0002_idx").then(|| "applied: on main already".to_string()),
        );
        assert_sound(&o);
        let changed: Vec<String> = o
            .changed()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(changed, ["shop/migrations/0003_idx.py"]);
        assert_eq!(o.protected.len(), 1);
        assert_eq!(o.protected[0].1, "applied: on main already");
        assert!(o.left.iter().all(|f| f.migration != "0002_idx"));
    }
}
