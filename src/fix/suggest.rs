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
//! differs from `migrail fix`; a finding whose fix `fix` does not write gets none.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;

use similar::{Algorithm, DiffOp};

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
    /// Findings elsewhere whose fix these lines are a part of (a `models.py` pin, a
    /// dependency repointed to the migration a fix adds).
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

/// Lines of a file a finding's fix changes: (lines, the finding, whether the finding is in
/// this file, what else its fix writes).
type Footprint = (Range<usize>, usize, bool, Vec<Elsewhere>);

/// Lines several fixes change together: (lines, [findings here, findings whose fix these
/// lines are part of], what else the fixes write).
type Cluster = (Range<usize>, [Vec<usize>; 2], Vec<Elsewhere>);

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
    // Footprints by file: (old line range, finding index, whether the finding is in this
    // file, what else the fix writes).
    let mut by_file: BTreeMap<PathBuf, Vec<Footprint>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        if f.fix.is_none() || !changed.contains(&f.source.path) {
            continue;
        }
        let plan = apply::plan(project, std::slice::from_ref(f), &round);
        let Some(new) = plan.files.get(&f.source.path) else {
            continue;
        };
        let old = f.source.text.as_str();
        let Some(own) = footprint(old, new) else {
            continue;
        };
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
            // Those lines are a suggestion of their own too.
            if let Some(fp) = plan.files.get(path).and_then(|t| footprint(before, t)) {
                by_file
                    .entry(path.clone())
                    .or_default()
                    .push((fp, i, false, Vec::new()));
            }
        }
        elsewhere.extend(plan.notes.into_iter().map(Elsewhere::Note));
        by_file
            .entry(f.source.path.clone())
            .or_default()
            .push((own, i, true, elsewhere));
    }
    let mut out = Vec::new();
    for (path, mut prints) in by_file {
        let (Some(old), Some(new)) = (outcome.originals.get(&path), outcome.texts.get(&path))
        else {
            continue;
        };
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = new.lines().collect();
        prints.sort_by_key(|(r, i, _, _)| (r.start, *i));
        // Clusters of overlapping footprints: (lines, [findings, part of], elsewhere).
        let mut clusters: Vec<Cluster> = Vec::new();
        for (r, i, primary, e) in prints {
            let kind = usize::from(!primary);
            match clusters.last_mut() {
                Some((c, ids, els)) if r.start < c.end => {
                    c.end = c.end.max(r.end);
                    ids[kind].push(i);
                    for x in e {
                        if !els.contains(&x) {
                            els.push(x);
                        }
                    }
                }
                _ => {
                    let mut ids = [Vec::new(), Vec::new()];
                    ids[kind].push(i);
                    clusters.push((r, ids, e));
                }
            }
        }
        // Widened to the changes of the whole fix, clusters may meet: merge them again.
        let mut widened: Vec<Cluster> = Vec::new();
        for (r, [ids, parts], els) in clusters {
            let (old_r, _) = region(&old_lines, &new_lines, r);
            match widened.last_mut() {
                Some((prev, [prev_ids, prev_parts], prev_els)) if old_r.start < prev.end => {
                    prev.end = prev.end.max(old_r.end);
                    prev_ids.extend(ids);
                    prev_parts.extend(parts);
                    for x in els {
                        if !prev_els.contains(&x) {
                            prev_els.push(x);
                        }
                    }
                }
                _ => widened.push((old_r, [ids, parts], els)),
            }
        }
        let regions = widened.into_iter().map(|(r, ids, els)| {
            let (o, n) = region(&old_lines, &new_lines, r);
            (o, n, ids, els)
        });
        for (old_r, new_r, [ids, part_of], elsewhere) in regions {
            if old_r.is_empty() || old_r.end > old_lines.len() || new_r.end > new_lines.len() {
                continue;
            }
            let original = old_lines[old_r.clone()].join("\n");
            let replacement = new_lines[new_r].join("\n");
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

/// New migrations in the order they apply: one naming another (`"0003_x_step2"`) comes
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

fn ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    similar::capture_diff_slices(Algorithm::Myers, old, new)
}

/// The old lines (zero-based, half-open) a change from `old` to `new` touches, with a
/// pure insertion anchored on the line before it (the first line at the top); `None`
/// when nothing changed.
fn footprint(old: &str, new: &str) -> Option<Range<usize>> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut out: Option<Range<usize>> = None;
    for op in ops(&old, &new) {
        let (tag, o, _) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        let touched = if o.is_empty() {
            let at = o.start.min(old.len());
            at.saturating_sub(1)..(at.max(1)).min(old.len().max(1))
        } else {
            o
        };
        out = Some(match out {
            Some(r) => r.start.min(touched.start)..r.end.max(touched.end),
            None => touched,
        });
    }
    out.filter(|r| !r.is_empty())
}

/// `lines` of `old` widened so that no change between `old` and `new` is cut (a pure
/// insertion belongs to the range when it is inside it or right after its end, or at the
/// top of a range starting the file), and the lines of `new` they become.
fn region(old: &[&str], new: &[&str], lines: Range<usize>) -> (Range<usize>, Range<usize>) {
    let ops = ops(old, new);
    let mut r = lines;
    let inside = |o: &Range<usize>, r: &Range<usize>| {
        if o.is_empty() {
            (r.start < o.start && o.start <= r.end) || (o.start == 0 && r.start == 0)
        } else {
            o.start < r.end && r.start < o.end
        }
    };
    // Widen until no change straddles a boundary (each pass only grows the range).
    for _ in 0..ops.len() + 1 {
        let mut grown = r.clone();
        for op in &ops {
            let (tag, o, _) = op.as_tag_tuple();
            if tag != similar::DiffTag::Equal && inside(&o, &r) {
                grown = grown.start.min(o.start)..grown.end.max(o.end);
            }
        }
        if grown == r {
            break;
        }
        r = grown;
    }
    // Map the boundaries: inside an unchanged run by offset; else around the changes.
    let mut new_start = None;
    let mut new_end = 0;
    for op in &ops {
        let (tag, o, n) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            if o.start <= r.start && r.start < o.end && new_start.is_none() {
                new_start = Some(n.start + (r.start - o.start));
            }
            if o.start < r.end && r.end <= o.end {
                new_end = n.start + (r.end - o.start);
            } else if o.end <= r.end && o.end > r.start {
                new_end = n.end;
            }
        } else if inside(&o, &r) {
            new_start.get_or_insert(n.start);
            new_end = new_end.max(n.end);
        }
    }
    let new_start = new_start.unwrap_or(new_end).min(new_end);
    (r, new_start..new_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    #[test]
    fn a_replacement_maps_to_its_new_lines() {
        let old = lines("a\nb\nc\nd\n");
        let new = lines("a\nB1\nB2\nc\nd\n");
        let (o, n) = region(&old, &new, 1..2);
        assert_eq!((o, n.clone()), (1..2, 1..3));
        assert_eq!(new[n].join("\n"), "B1\nB2");
    }

    #[test]
    fn an_insertion_after_the_range_belongs_to_it_and_one_before_does_not() {
        let old = lines("class M:\n    deps\n    ops\n");
        let new = lines("class M:\n    atomic = False\n    deps\n    OPS\n");
        // The footprint of the insertion is the line before it.
        assert_eq!(footprint(&old.join("\n"), &new.join("\n")), Some(0..3));
        let (o, n) = region(&old, &new, 0..1);
        assert_eq!(new[n].join("\n"), "class M:\n    atomic = False");
        assert_eq!(o, 0..1);
        let (o, n) = region(&old, &new, 2..3);
        assert_eq!((o, new[n].join("\n")), (2..3, "    OPS".to_string()));
    }

    #[test]
    fn a_range_cutting_a_change_is_widened() {
        let old = lines("a\nb\nc\nd\ne\n");
        let new = lines("a\nX\ne\n");
        let (o, n) = region(&old, &new, 2..3);
        assert_eq!(o, 1..4);
        assert_eq!(new[n].join("\n"), "X");
    }

    #[test]
    fn a_deletion_becomes_an_empty_replacement() {
        let old = lines("a\nb\nc\n");
        let new = lines("a\nc\n");
        assert_eq!(footprint("a\nb\nc\n", "a\nc\n"), Some(1..2));
        let (o, n) = region(&old, &new, 1..2);
        assert_eq!((o, n.is_empty()), (1..2, true));
    }

    #[test]
    fn an_insertion_at_the_top_anchors_on_the_first_line() {
        assert_eq!(footprint("b\nc\n", "a\nb\nc\n"), Some(0..1));
        let (old, new) = (lines("b\nc\n"), lines("a\nb\nc\n"));
        let (o, n) = region(&old, &new, 0..1);
        assert_eq!((o, new[n].join("\n")), (0..1, "a\nb".to_string()));
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
        assert_eq!(footprint("a\n", "a\n"), None);
    }
}
