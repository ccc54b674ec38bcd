//! Fixes as suggestions on lines: for a reviewer's one-click "commit suggestion", each
//! fixable finding becomes a range of lines of its file and the text `migrail fix` writes
//! there, plus what the rest of its fix writes elsewhere (a new migration after it, a
//! migration repointed to depend on that one, `models.py`).
//!
//! Which lines a finding's fix touches is learnt from the applier run on that finding
//! alone (its *footprint*: the operation, the `atomic = False` it needs, the imports its
//! code needs); findings whose footprints overlap share one suggestion, so that applying
//! any suggestion alone leaves a file that works. The text is taken from what
//! [`super::rounds::compute`] writes for the whole scope (validated), so a suggestion never
//! differs from `migrail fix` — except that a dependency another fix repointed to a
//! migration it creates is left as it is (committed without that new file, the graph would
//! miss a node), and the lines of another finding's fix stay out. A finding whose fix
//! `fix` does not write gets no suggestion. `models.py` lines a fix pins get a suggestion
//! of their own; a migration repointed does not.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;

use similar::{Algorithm, DiffOp, DiffTag};

use crate::django::Project;
use crate::lint::{Finding, Review};

use super::apply::{self, Produced, Round};
use super::rounds::Outcome;

/// Lines of one file to replace, and with what.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub path: PathBuf,
    /// One-based, inclusive: the lines the suggestion replaces.
    pub start_line: usize,
    pub end_line: usize,
    /// The lines that replace them, without the last line's newline; empty: deleted.
    pub replacement: String,
    /// What the lines hold now (to check them against the pull request's diff).
    pub original: String,
    /// Indexes of the findings the suggestion fixes, into the slice given.
    pub findings: Vec<usize>,
    /// Findings elsewhere whose fix these lines are a part of (a `models.py` pin).
    pub part_of: Vec<usize>,
    /// What the rest of the fix writes in other files.
    pub elsewhere: Vec<Elsewhere>,
}

/// A part of a fix outside the suggested lines.
#[derive(Clone, Debug, PartialEq)]
pub enum Elsewhere {
    /// A new file, with the text `migrail fix` writes.
    Created { path: PathBuf, text: String },
    /// An existing file edited (a dependent repointed, `models.py` pinned), with the
    /// unified diff of what `fix` changes in it.
    Edited { path: PathBuf, diff: String },
    /// What is left to do by hand (a pin not found, the next release's migration).
    Note(String),
}

/// What a finding's fix changes in one file.
struct Footprint {
    /// Each change's old lines; a pure insertion as the empty range where it goes.
    pieces: Vec<Range<usize>>,
    finding: usize,
    /// The finding is in this file (else the lines are part of its fix elsewhere).
    primary: bool,
    /// What else its fix writes.
    elsewhere: Vec<Elsewhere>,
}

/// Lines several fixes change together.
struct Cluster {
    /// The old lines the suggestion replaces.
    span: Range<usize>,
    pieces: Vec<Range<usize>>,
    /// [findings in this file, findings whose fix these lines are a part of].
    ids: [Vec<usize>; 2],
    elsewhere: Vec<Elsewhere>,
}

impl Cluster {
    fn absorb(&mut self, other: Cluster) {
        self.span = self.span.start.min(other.span.start)..self.span.end.max(other.span.end);
        self.pieces.extend(other.pieces);
        let [a, b] = other.ids;
        self.ids[0].extend(a);
        self.ids[1].extend(b);
        for x in other.elsewhere {
            if !self.elsewhere.contains(&x) {
                self.elsewhere.push(x);
            }
        }
    }
}

/// The suggestions for `findings` (those with a fix, in the reviewed migrations), given
/// what fixing the scope writes (`outcome`).
pub fn suggestions(
    project: &Project,
    review: &Review,
    findings: &[Finding],
    outcome: &Outcome,
) -> Vec<Suggestion> {
    if outcome.internal_error.is_some() {
        return Vec::new();
    }
    let changed: BTreeSet<&PathBuf> = outcome.changed().into_iter().collect();
    let may_edit = |m: &crate::django::migration::MigrationFile| {
        review.includes(m)
            && m.replaces.is_empty()
            && !project
                .migrations
                .iter()
                .position(|x| std::ptr::eq(x, m))
                .is_some_and(|i| project.is_replaced(i))
    };
    let produced = Produced::default();
    let texts = BTreeMap::new();
    let round = Round {
        may_edit: &may_edit,
        produced: &produced,
        texts: &texts,
    };
    let mut by_file: BTreeMap<PathBuf, Vec<Footprint>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        if f.fix.is_none() || !changed.contains(&f.source.path) {
            continue;
        }
        let plan = apply::plan(project, std::slice::from_ref(f), &round);
        let Some(new) = plan.files.get(&f.source.path) else {
            continue;
        };
        let own = pieces(&f.source.text, new);
        if own.is_empty() {
            continue;
        }
        // The rest of the fix as `fix` writes it: the files it creates after this
        // migration (named after it), the other files it edits.
        let mut elsewhere = Vec::new();
        if !plan.created.is_empty() {
            let dir = f.source.path.parent();
            let stem = format!("{}_", f.migration);
            for path in &outcome.created {
                let after_this = path.parent() == dir
                    && path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&stem));
                if let (true, Some(text)) = (after_this, outcome.texts.get(path)) {
                    elsewhere.push(Elsewhere::Created {
                        path: path.clone(),
                        text: text.clone(),
                    });
                }
            }
        }
        order_by_dependency(&mut elsewhere);
        for path in plan.files.keys() {
            if *path == f.source.path || plan.created.contains_key(path) || !changed.contains(path)
            {
                continue;
            }
            let (Some(before), Some(after)) =
                (outcome.originals.get(path), outcome.texts.get(path))
            else {
                continue;
            };
            let diff = similar::TextDiff::from_lines(before, after)
                .unified_diff()
                .context_radius(2)
                .to_string();
            elsewhere.push(Elsewhere::Edited {
                path: path.clone(),
                diff,
            });
            // `models.py`'s lines are a suggestion of their own too; a migration repointed
            // to one the fix creates is not (committed without that file, the graph
            // would miss a node).
            let is_migration = project.migrations.iter().any(|m| m.source.path == *path);
            let part = match plan.files.get(path) {
                Some(t) if !is_migration => pieces(before, t),
                _ => Vec::new(),
            };
            if !part.is_empty() {
                by_file.entry(path.clone()).or_default().push(Footprint {
                    pieces: part,
                    finding: i,
                    primary: false,
                    elsewhere: Vec::new(),
                });
            }
        }
        elsewhere.extend(plan.notes.into_iter().map(Elsewhere::Note));
        by_file
            .entry(f.source.path.clone())
            .or_default()
            .push(Footprint {
                pieces: own,
                finding: i,
                primary: true,
                elsewhere,
            });
    }
    let mut out = Vec::new();
    for (path, prints) in by_file {
        let (Some(old), Some(new)) = (outcome.originals.get(&path), outcome.texts.get(&path))
        else {
            continue;
        };
        // A dependency another fix repointed to a migration it creates is that fix's, not
        // this file's: it stays as it is here.
        let new = match project.migrations.iter().find(|m| m.source.path == path) {
            Some(m) => unrepoint(m, new, &outcome.created),
            None => new.clone(),
        };
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = new.lines().collect();
        let ops = ops(&old_lines, &new_lines);
        let mut clusters: Vec<Cluster> = prints
            .into_iter()
            .filter_map(|fp| {
                let mut ids = [Vec::new(), Vec::new()];
                ids[usize::from(!fp.primary)].push(fp.finding);
                Some(Cluster {
                    span: span(&fp.pieces, old_lines.len())?,
                    pieces: fp.pieces,
                    ids,
                    elsewhere: fp.elsewhere,
                })
            })
            .collect();
        // Overlapping clusters merge; widened over their changes in the whole fix, they
        // may meet others: merge again, until none overlap.
        for _ in 0..clusters.len() + 1 {
            clusters.sort_by_key(|c| (c.span.start, c.span.end));
            let mut merged: Vec<Cluster> = Vec::new();
            for mut c in clusters {
                c.span = widen(&ops, &c.pieces, c.span);
                match merged.last_mut() {
                    Some(prev) if c.span.start < prev.span.end => prev.absorb(c),
                    _ => merged.push(c),
                }
            }
            let stable = merged
                .iter()
                .all(|c| widen(&ops, &c.pieces, c.span.clone()) == c.span)
                && merged.windows(2).all(|w| w[0].span.end <= w[1].span.start);
            clusters = merged;
            if stable {
                break;
            }
        }
        for c in clusters {
            let old_r = c.span.clone();
            if old_r.is_empty() || old_r.end > old_lines.len() {
                continue;
            }
            let [ids, part_of] = c.ids;
            let elsewhere = c.elsewhere;
            let replacement = compose(&old_lines, &new_lines, &ops, &c.pieces, &old_r).join("\n");
            let original = old_lines[old_r.clone()].join("\n");
            if original == replacement {
                continue;
            }
            out.push(Suggestion {
                path: path.clone(),
                start_line: old_r.start + 1,
                end_line: old_r.end,
                replacement,
                original,
                part_of: part_of
                    .into_iter()
                    .filter(|i| !ids.contains(i))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                findings: ids,
                elsewhere,
            });
        }
    }
    out
}

/// New migrations in the order they apply: one naming another (`"0006_x_step2"`) comes
/// after it.
fn order_by_dependency(created: &mut Vec<Elsewhere>) {
    let stem = |e: &Elsewhere| match e {
        Elsewhere::Created { path, .. } => path
            .file_stem()
            .map(|s| format!("\"{}\"", s.to_string_lossy())),
        _ => None,
    };
    let mut pending = std::mem::take(created);
    for _ in 0..pending.len() + 1 {
        if pending.is_empty() {
            break;
        }
        let ready = pending.iter().position(|e| {
            let Elsewhere::Created { text, .. } = e else {
                return true;
            };
            !pending
                .iter()
                .filter(|o| !std::ptr::eq(*o, e))
                .filter_map(stem)
                .any(|s| text.contains(&s))
        });
        created.push(pending.remove(ready.unwrap_or(0)));
    }
    created.append(&mut pending);
}

/// `text` (what the fixes make of migration `m`) with its dependencies on migrations the
/// fixes create (`("app", "0006_x_step2")`, the last of the chain after `0003_x`) put back
/// to what `m` names (`("app", "0003_x")`).
fn unrepoint(
    m: &crate::django::migration::MigrationFile,
    text: &str,
    created: &BTreeSet<PathBuf>,
) -> String {
    let mut out = text.to_string();
    let named: Vec<&str> = m
        .dependencies
        .iter()
        .chain(&m.run_before)
        .filter_map(|d| match d {
            crate::django::migration::Dependency::Node { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for path in created {
        let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if m.source.text.contains(&stem) {
            continue;
        }
        // The longest name the chain starts from.
        let Some(origin) = named
            .iter()
            .filter(|n| stem.starts_with(&format!("{n}_")))
            .max_by_key(|n| n.len())
        else {
            continue;
        };
        for q in ['"', '\''] {
            out = out.replace(&format!("{q}{stem}{q}"), &format!("{q}{origin}{q}"));
        }
    }
    out
}

fn ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    similar::capture_diff_slices(Algorithm::Myers, old, new)
}

/// The old lines (zero-based, half-open) each change from `old` to `new` touches; a pure
/// insertion is the empty range where it goes.
fn pieces(old: &str, new: &str) -> Vec<Range<usize>> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    ops(&old, &new)
        .into_iter()
        .filter(|op| op.tag() != DiffTag::Equal)
        .map(|op| op.old_range())
        .collect()
}

/// The lines `pieces` span, a pure insertion anchored on the line before it (the first
/// line at the top of the file); `None` for no pieces or an empty file.
fn span(pieces: &[Range<usize>], lines: usize) -> Option<Range<usize>> {
    if lines == 0 {
        return None;
    }
    pieces
        .iter()
        .map(|p| {
            if p.is_empty() {
                let at = p.start.min(lines);
                at.saturating_sub(1)..at.max(1)
            } else {
                p.clone()
            }
        })
        .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
}

/// Whether a change of the whole fix (`op`, old lines) is one of `piece`'s: they overlap,
/// or meet where one of them is an insertion.
fn touches(piece: &Range<usize>, op: &Range<usize>) -> bool {
    match (piece.is_empty(), op.is_empty()) {
        (false, false) => piece.start < op.end && op.start < piece.end,
        (true, true) => piece.start == op.start,
        (true, false) => op.start <= piece.start && piece.start <= op.end,
        (false, true) => piece.start <= op.start && op.start <= piece.end,
    }
}

/// Whether a change at old lines `o` falls in `r`: an insertion when it goes inside `r` or
/// right after it (or at the top of a range starting the file).
fn inside(o: &Range<usize>, r: &Range<usize>) -> bool {
    if o.is_empty() {
        (r.start < o.start && o.start <= r.end) || (o.start == 0 && r.start == 0)
    } else {
        o.start < r.end && r.start < o.end
    }
}

/// `r` widened so that no change of the whole fix that belongs to `pieces` is cut.
fn widen(ops: &[DiffOp], pieces: &[Range<usize>], mut r: Range<usize>) -> Range<usize> {
    let ours = |o: &Range<usize>| pieces.iter().any(|p| touches(p, o));
    for _ in 0..ops.len() + 1 {
        let mut grown = r.clone();
        for op in ops {
            let o = op.old_range();
            if op.tag() != DiffTag::Equal && ours(&o) && inside(&o, &r) {
                grown = grown.start.min(o.start)..grown.end.max(o.end);
            }
        }
        if grown == r {
            break;
        }
        r = grown;
    }
    r
}

/// The new text of old lines `r`: the whole fix's changes that belong to `pieces`, and
/// the old lines everywhere else (another finding's change, a dependency repointed by
/// another fix, stays out of this suggestion).
fn compose(
    old: &[&str],
    new: &[&str],
    ops: &[DiffOp],
    pieces: &[Range<usize>],
    r: &Range<usize>,
) -> Vec<String> {
    let ours = |o: &Range<usize>| pieces.iter().any(|p| touches(p, o));
    let mut out: Vec<String> = Vec::new();
    for op in ops {
        let (o, n) = (op.old_range(), op.new_range());
        let kept = o.start.max(r.start)..o.end.min(r.end).max(o.start.max(r.start));
        let take_new = op.tag() != DiffTag::Equal && ours(&o) && inside(&o, r);
        if take_new {
            out.extend(new[n].iter().map(|l| l.to_string()));
        } else {
            out.extend(old[kept].iter().map(|l| l.to_string()));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    /// The span of `old` → `new`'s changes, widened, and its new text.
    fn suggest(old: &str, new: &str, pieces: &[Range<usize>]) -> (Range<usize>, String) {
        let (o, n) = (lines(old), lines(new));
        let ops = ops(&o, &n);
        let r = widen(&ops, pieces, span(pieces, o.len()).expect("a span"));
        let text = compose(&o, &n, &ops, pieces, &r).join("\n");
        (r, text)
    }

    #[test]
    fn a_replacement_maps_to_its_new_lines() {
        let (old, new) = ("a\nb\nc\nd\n", "a\nB1\nB2\nc\nd\n");
        assert_eq!(pieces(old, new), vec![1..2]);
        assert_eq!(suggest(old, new, &[1..2]), (1..2, "B1\nB2".to_string()));
    }

    #[test]
    fn an_insertion_is_anchored_on_the_line_before_it() {
        let old = "class M:\n    deps\n    ops\n";
        let new = "class M:\n    atomic = False\n    deps\n    OPS\n";
        assert_eq!(pieces(old, new), vec![1..1, 2..3]);
        assert_eq!(span(&[1..1, 2..3], 3), Some(0..3));
        assert_eq!(
            suggest(old, new, &[1..1]),
            (0..1, "class M:\n    atomic = False".to_string())
        );
        assert_eq!(suggest(old, new, &[2..3]), (2..3, "    OPS".to_string()));
        assert_eq!(
            suggest(old, new, &[1..1, 2..3]),
            (
                0..3,
                "class M:\n    atomic = False\n    deps\n    OPS".to_string()
            )
        );
    }

    #[test]
    fn a_range_cutting_a_change_is_widened() {
        // The whole fix replaced b, c, d at once; this finding's own change was c.
        assert_eq!(
            suggest("a\nb\nc\nd\ne\n", "a\nX\ne\n", &[2..3]),
            (1..4, "X".to_string())
        );
    }

    #[test]
    fn another_fixs_change_apart_from_the_lines_keeps_the_old_text() {
        // The imports and the operation are this finding's; the line between them was
        // changed by another fix.
        let old = "imports\nclass M:\n    other\n\n    op\n";
        let new = "imports2\nclass M:\n    OTHER\n\n    op2\n";
        assert_eq!(
            suggest(old, new, &[0..1, 4..5]),
            (0..5, "imports2\nclass M:\n    other\n\n    op2".to_string())
        );
    }

    #[test]
    fn a_dependency_repointed_by_another_fix_is_put_back() {
        let files = vec![
            (SHOP_INITIAL.0.to_string(), SHOP_INITIAL.1.to_string()),
            migration(
                "0002_x",
                "0001_initial",
                "        migrations.RemoveField(\"book\", \"isbn\"),",
            ),
        ];
        let p = project(&files);
        let m = &p.migrations[1];
        let fixed = m
            .source
            .text
            .replace("\"0001_initial\"", "\"0001_initial_step2\"");
        let created: BTreeSet<PathBuf> =
            [PathBuf::from("shop/migrations/0001_initial_step2.py")].into();
        assert_eq!(unrepoint(m, &fixed, &created), m.source.text);
    }

    #[test]
    fn a_deletion_becomes_an_empty_replacement() {
        assert_eq!(pieces("a\nb\nc\n", "a\nc\n"), vec![1..2]);
        assert_eq!(
            suggest("a\nb\nc\n", "a\nc\n", &[1..2]),
            (1..2, String::new())
        );
    }

    #[test]
    fn an_insertion_at_the_top_anchors_on_the_first_line() {
        assert_eq!(pieces("b\nc\n", "a\nb\nc\n"), vec![0..0]);
        assert_eq!(
            suggest("b\nc\n", "a\nb\nc\n", &[0..0]),
            (0..1, "a\nb".to_string())
        );
    }

    use crate::lint::testing::{migration, project, SHOP_INITIAL};
    use crate::lint::{lint, LintOptions};

    /// Applies `s` to `text`.
    fn apply(text: &str, s: &Suggestion) -> String {
        let mut out: Vec<String> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if n == s.start_line && !s.replacement.is_empty() {
                out.push(s.replacement.clone());
            }
            if n < s.start_line || n > s.end_line {
                out.push(line.to_string());
            }
        }
        out.join("\n") + "\n"
    }

    fn files() -> Vec<(String, String)> {
        vec![
            (SHOP_INITIAL.0.to_string(), SHOP_INITIAL.1.to_string()),
            migration(
                "0002_index",
                "0001_initial",
                "        migrations.AddIndex(\n            model_name=\"book\",\n            index=models.Index(fields=[\"title\"], name=\"shop_book_title_idx\"),\n        ),",
            ),
            migration(
                "0003_rename",
                "0002_index",
                "        migrations.RenameField(\n            model_name=\"book\",\n            old_name=\"subtitle\",\n            new_name=\"tagline\",\n        ),",
            ),
        ]
    }

    #[test]
    fn each_suggestion_applied_alone_fixes_its_finding() {
        let files = files();
        let p = project(&files);
        let options = LintOptions::default();
        let report = lint(&p, &Review::All, &options);
        let outcome = super::super::rounds::compute(&p, &Review::All, &options, &|_| None);
        let found = suggestions(&p, &Review::All, &report.findings, &outcome);
        let rules: BTreeSet<&str> = found
            .iter()
            .flat_map(|s| s.findings.iter().map(|&i| report.findings[i].rule))
            .collect();
        assert_eq!(
            rules,
            ["add-index-not-concurrently", "rename-column"]
                .into_iter()
                .collect(),
            "{found:#?}"
        );
        for s in &found {
            let path = s.path.to_string_lossy().into_owned();
            let fixed: Vec<(String, String)> = files
                .iter()
                .map(|(p, t)| {
                    let t = if *p == path { apply(t, s) } else { t.clone() };
                    (p.clone(), t)
                })
                .collect();
            let text = &fixed.iter().find(|(p, _)| *p == path).expect("file").1;
            assert!(
                super::super::validate::parse_error(text).is_none(),
                "the suggestion leaves a file that parses:\n{text}"
            );
            // The suggested lines hold what `fix` writes there.
            assert!(outcome.texts[&s.path].contains(&s.replacement), "{s:#?}");
            let again = lint(&project(&fixed), &Review::All, &options);
            for &i in &s.findings {
                let f = &report.findings[i];
                assert!(
                    !again
                        .findings
                        .iter()
                        .any(|g| g.rule == f.rule && g.migration == f.migration),
                    "{} is left after applying the suggestion:\n{text}",
                    f.rule
                );
            }
        }
    }

    #[test]
    fn nothing_changed_is_no_footprint() {
        assert!(pieces("a\n", "a\n").is_empty());
        assert_eq!(span(&[], 3), None);
    }
}
