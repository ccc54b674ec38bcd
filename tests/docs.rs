//! The manual (`docs/src/`, an mdBook) and the README: every internal link reaches a file
//! of the repository and, when it names one, a heading or anchor of that page (ids as
//! mdBook makes them); every page of `docs/src/` is in `SUMMARY.md`; the README stays a
//! landing page (under 250 lines). `.ci/run` also builds the book with mdbook.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read docs").flatten() {
        let path = entry.path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The lines outside fenced code blocks, with their 1-based numbers.
fn outside_fences(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut fence = false;
    text.lines().enumerate().filter_map(move |(n, line)| {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            return None;
        }
        (!fence).then_some((n + 1, line))
    })
}

/// A line without its inline code spans.
fn without_code(line: &str) -> String {
    line.split('`').step_by(2).collect()
}

/// mdBook's heading ids: the heading's text, lowercased, whitespace as `-`, only
/// alphanumerics, `-` and `_` kept; a repeated id gets `-1`, `-2`...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (_, line) in outside_fences(text) {
        if let Some(start) = line.find("<a id=\"") {
            let rest = &line[start + 7..];
            if let Some(end) = rest.find('"') {
                ids.insert(rest[..end].to_string());
            }
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        // The rendered text: link targets and code markers are not part of it.
        let mut heading = String::new();
        let mut chars = line[hashes + 1..].chars().peekable();
        while let Some(c) = chars.next() {
            if c == ']' && chars.peek() == Some(&'(') {
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
                continue;
            }
            heading.push(c);
        }
        let id: String = heading
            .trim()
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c.to_ascii_lowercase())
                } else if c.is_whitespace() {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let mut unique = id.clone();
        let mut n = 1;
        while ids.contains(&unique) {
            unique = format!("{id}-{n}");
            n += 1;
        }
        ids.insert(unique);
    }
    ids
}

/// `(target, line)` of every Markdown link `[text](target)` in the prose.
fn links(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (n, line) in outside_fences(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push((after[..end].to_string(), n));
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_internal_link_of_the_readme_and_the_manual_resolves() {
    let mut files = vec![repo().join("README.md")];
    markdown_files(&repo().join("docs/src"), &mut files);
    assert!(files.len() > 10, "the manual's pages: {files:?}");
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (target, line) in links(&text) {
            // `#` alone: the placeholder links of a quoted example comment.
            if target.contains("://")
                || target.starts_with("mailto:")
                || target.is_empty()
                || target == "#"
            {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("folder").join(path)
            };
            let shown = format!("{}:{line}: {target}", file.display());
            if !dest.exists() {
                broken.push(format!("{shown}: no such file"));
                continue;
            }
            if let Some(anchor) = anchor {
                let page = std::fs::read_to_string(&dest).unwrap_or_default();
                if !anchors(&page).contains(anchor) {
                    broken.push(format!("{shown}: no heading or anchor `{anchor}`"));
                }
            }
        }
    }
    assert!(checked > 50, "links checked: {checked}");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_manual_is_in_its_table_of_contents() {
    let src = repo().join("docs/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).expect("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().map(|(t, _)| t).collect();
    let mut pages = Vec::new();
    markdown_files(&src, &mut pages);
    let missing: Vec<String> = pages
        .iter()
        .map(|p| {
            p.strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| p != "SUMMARY.md" && !listed.contains(p))
        .collect();
    assert!(missing.is_empty(), "pages not in SUMMARY.md: {missing:?}");
}

#[test]
fn the_readme_is_a_landing_page() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let lines = readme.lines().count();
    assert!(
        lines < 250,
        "README.md has {lines} lines: move detail into docs/src"
    );
    // The first screen: the two commands.
    let first: String = readme.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(first.contains("cargo run --release -- lint examples/bookshop"));
    assert!(first.contains("cargo test"));
}

#[test]
fn heading_ids_follow_mdbook() {
    let ids = anchors("# Where it runs: GitHub Action, CodeBuild\n## `migrail run`\n## `migrail run`\n```\n# not a heading\n```\n");
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        [
            "migrail-run",
            "migrail-run-1",
            "where-it-runs-github-action-codebuild"
        ]
    );
}
