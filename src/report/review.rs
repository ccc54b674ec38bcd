//! A fix as a GitHub review comment: the finding(s) it fixes, a ```` ```suggestion ````
//! block holding the lines `migrail fix` writes there (one click commits them), and what
//! the rest of the fix writes elsewhere (a new migration, shown whole; files edited;
//! what is left to do by hand). The first line is a hidden marker with the key and an id
//! derived from the findings, so that the next run finds the comment again.

use crate::fix::suggest::{Elsewhere, Suggestion};
use crate::lint::Finding;

use super::markdown::{clean_line, fenced, html};

/// GitHub's limit for a comment, with room to spare.
const BUDGET: usize = 60_000;

/// A review comment to keep on the pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuggestionDoc {
    pub id: String,
    /// Relative to the repository's root, `/`-separated.
    pub path: String,
    /// One-based, inclusive.
    pub start_line: usize,
    pub end_line: usize,
    /// The lines as they are (to check them against the pull request's diff).
    pub original: String,
    pub body: String,
}

/// FNV-1a: stable across runs and platforms (the id must not change between runs).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The id of a suggestion: its file and the rules and messages of its findings (not their
/// lines, which move when code above them changes).
pub fn id(path: &str, findings: &[&Finding], part_of: &[&Finding]) -> String {
    let mut parts: Vec<String> = findings
        .iter()
        .map(|f| format!("{}\u{0}{}", f.rule, f.message))
        .chain(
            part_of
                .iter()
                .map(|f| format!("part\u{0}{}\u{0}{}", f.rule, f.message)),
        )
        .collect();
    parts.sort();
    format!(
        "{:016x}",
        fnv(&format!("{path}\u{0}{}", parts.join("\u{1}")))
    )
}

/// A collapsed block titled `what` and the file's path.
fn details(what: &str, path: &str, block: &str) -> String {
    format!(
        "<details><summary>{what} <code>{}</code></summary>\n\n{block}</details>\n\n",
        html(path)
    )
}

/// The body of the review comment for `s` (the marker goes before it), `None` when the
/// code cannot travel as a suggestion (control characters) or does not fit.
pub fn body(
    s: &Suggestion,
    findings: &[&Finding],
    part_of: &[&Finding],
    show: &dyn Fn(&std::path::Path) -> String,
) -> Option<String> {
    if s.replacement
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return None;
    }
    let mut head = String::new();
    for f in findings {
        head.push_str(&format!(
            "**migrail** `{}[{}]` {}\n",
            f.severity.as_str(),
            f.rule,
            html(&clean_line(&f.message))
        ));
    }
    for f in part_of {
        head.push_str(&format!(
            "**migrail** part of the fix of `{}[{}]` in `{}` (line {}): {}\n",
            f.severity.as_str(),
            f.rule,
            show(&f.source.path),
            f.line,
            html(&clean_line(&f.message))
        ));
    }
    let longest = s
        .replacement
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    head.push_str(&format!(
        "\n{fence}suggestion\n{}{}{fence}\n\n",
        s.replacement,
        if s.replacement.is_empty() { "" } else { "\n" }
    ));
    let mut rest: Vec<String> = Vec::new();
    let mut shown = String::new();
    for e in &s.elsewhere {
        match e {
            Elsewhere::Created { path, text } => {
                rest.push(format!("a new migration `{}` (below)", show(path)));
                shown.push_str(&details("New file", &show(path), &fenced("python", text)));
            }
            Elsewhere::Edited { path, diff } => {
                rest.push(format!("an edit of `{}` (below)", show(path)));
                shown.push_str(&details("Edit of", &show(path), &fenced("diff", diff)));
            }
            Elsewhere::Note(note) => {
                // A note's first line says what; an indented block under it is code.
                let (what, code) = note.split_once('\n').unwrap_or((note, ""));
                shown.push_str(&format!("> {}\n\n", html(&clean_line(what))));
                let code: Vec<&str> = code
                    .lines()
                    .map(|l| l.strip_prefix("    ").unwrap_or(l))
                    .collect();
                if !code.is_empty() {
                    shown.push_str(&fenced("python", &code.join("\n")));
                }
            }
        }
    }
    head.push_str("These lines are what `migrail fix` writes here.");
    if !rest.is_empty() {
        head.push_str(&format!(
            " The rest of the fix is not in this suggestion: {}. Run `migrail fix` on the \
             branch to write all of it.",
            rest.join(", ")
        ));
    }
    head.push_str("\n\n");
    let full = format!("{head}{shown}");
    if full.len() <= BUDGET {
        return Some(full);
    }
    (head.len() <= BUDGET).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::{findings, migration, with_initial};

    #[test]
    fn the_suggestion_block_holds_the_lines_exactly() {
        let found = findings(
            &with_initial(migration(
                "0002_x",
                "0001_initial",
                "        migrations.RemoveField(\"book\", \"subtitle\"),",
            )),
            "drop-column",
        );
        let f = &found[0];
        let s = Suggestion {
            path: "shop/migrations/0002_x.py".into(),
            start_line: 3,
            end_line: 4,
            replacement: "a = \"```\"\n".into(),
            original: "x\ny".into(),
            findings: vec![0],
            part_of: vec![],
            elsewhere: vec![Elsewhere::Created {
                path: "shop/migrations/0002_x_step2.py".into(),
                text: "print(1)\n".into(),
            }],
        };
        let show = |p: &std::path::Path| p.display().to_string();
        let b = body(&s, &[f], &[], &show).expect("fits");
        assert!(b.starts_with("**migrail** `error[drop-column]`"), "{b}");
        // The last (empty) line is kept; the fence outgrows the backticks inside.
        assert!(b.contains("\n````suggestion\na = \"```\"\n\n````\n"), "{b}");
        assert!(
            b.contains("a new migration `shop/migrations/0002_x_step2.py` (below)"),
            "{b}"
        );
        assert!(b.contains("```python\nprint(1)\n```"), "{b}");
        // A deletion is an empty block.
        let deleted = Suggestion {
            replacement: String::new(),
            elsewhere: vec![],
            ..s.clone()
        };
        let b = body(&deleted, &[f], &[], &show).expect("fits");
        assert!(b.contains("\n```suggestion\n```\n"), "{b}");
        assert_eq!(id("a.py", &[f], &[]), id("a.py", &[f], &[]));
        assert_ne!(id("a.py", &[f], &[]), id("b.py", &[f], &[]));
        assert_ne!(id("a.py", &[f], &[]), id("a.py", &[], &[f]));
        let control = Suggestion {
            replacement: "a\u{7}".into(),
            ..s
        };
        assert_eq!(body(&control, &[f], &[], &show), None);
    }
}
