//! Inline suppressions: `# migrail: ignore[rule,...] -- reason` on an operation's first
//! line or on the comment line just above it, and `# migrail: ignore-file[rule,...]`
//! anywhere in the file. A suppression (or one of its rule names) that suppresses nothing,
//! names an unknown rule or cannot be read becomes an `unused-suppression` warning.

use ruff_text_size::TextRange;

use crate::django::migration::MigrationFile;
use crate::django::operations::OpKind;

use super::registry;
use super::rule::Diagnostic;
use super::Finding;

/// The rule that reports suppressions that do nothing.
pub const UNUSED: &str = "unused-suppression";

#[derive(Clone, Debug)]
struct Suppression {
    range: TextRange,
    /// 1-based line of the comment.
    line: usize,
    /// True when the comment is alone on its line (then it covers the next line).
    own_line: bool,
    file_wide: bool,
    rules: Vec<(String, bool)>,
}

/// What a comment says, if it is a migrail directive.
#[derive(Debug, PartialEq)]
enum Directive {
    Ignore { file_wide: bool, rules: Vec<String> },
    Malformed(String),
}

fn parse_directive(comment: &str) -> Option<Directive> {
    let body = comment.trim_start_matches('#').trim_start();
    let rest = body.strip_prefix("migrail:")?.trim_start();
    let (file_wide, rest) = if let Some(r) = rest.strip_prefix("ignore-file") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix("ignore") {
        (false, r)
    } else {
        return Some(Directive::Malformed(
            "expected `# migrail: ignore[rule,...]` or `# migrail: ignore-file[rule,...]`".into(),
        ));
    };
    let Some(inner) = rest
        .trim_start()
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .map(|(i, _)| i)
    else {
        return Some(Directive::Malformed(
            "name the rules in brackets: `ignore[drop-column]`".into(),
        ));
    };
    let rules: Vec<String> = inner
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect();
    if rules.is_empty() {
        return Some(Directive::Malformed(
            "name at least one rule in the brackets".into(),
        ));
    }
    Some(Directive::Ignore { file_wide, rules })
}

/// Drop the findings that `m`'s suppressions cover; return the `unused-suppression`
/// diagnostics for `m` (only when `report_unused`). A suppression of a rule that did not
/// run (`enabled` says no) is not reported as unused.
/// True when `m` has anything [`apply`] acts on: a `# migrail:` comment or an
/// `IgnoreMigration()` operation. Cheap, so that files without them can be skipped.
pub fn has_directives(m: &MigrationFile) -> bool {
    ignores_whole_migration(m)
        || m.comments
            .iter()
            .any(|&range| parse_directive(&m.source.text[range]).is_some())
}

/// django-migration-linter's marker: an `IgnoreMigration()` operation says the team
/// reviewed the whole migration.
fn ignores_whole_migration(m: &MigrationFile) -> bool {
    m.operations
        .iter()
        .any(|op| matches!(op.kind, OpKind::IgnoreMigration))
}

pub fn apply(
    m: &MigrationFile,
    findings: &mut Vec<Finding>,
    report_unused: bool,
    enabled: &dyn Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    if ignores_whole_migration(m) {
        findings.retain(|f| f.source.path != m.source.path);
        return Vec::new();
    }
    let text = m.source.text.as_str();
    let mut out = Vec::new();
    let mut suppressions = Vec::new();
    for &range in &m.comments {
        let comment = &text[range];
        match parse_directive(comment) {
            None => {}
            Some(Directive::Malformed(why)) => {
                out.push(Diagnostic::new(
                    range,
                    format!("cannot read this suppression: {why}"),
                ));
            }
            Some(Directive::Ignore { file_wide, rules }) => {
                let line_start = text[..usize::from(range.start())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let own_line = text[line_start..usize::from(range.start())]
                    .trim()
                    .is_empty();
                let (line, _) = m.source.line_col(range.start());
                suppressions.push(Suppression {
                    range,
                    line,
                    own_line,
                    file_wide,
                    rules: rules.into_iter().map(|r| (r, false)).collect(),
                });
            }
        }
    }
    if suppressions.is_empty() && out.is_empty() {
        return out;
    }
    let path = &m.source.path;
    findings.retain(|f| {
        if &f.source.path != path || f.rule == UNUSED {
            return true;
        }
        for s in &mut suppressions {
            let covers = s.file_wide || s.line == f.line || (s.own_line && s.line + 1 == f.line);
            if !covers {
                continue;
            }
            if let Some(entry) = s.rules.iter_mut().find(|(r, _)| r == f.rule) {
                entry.1 = true;
                return false;
            }
        }
        true
    });
    if !report_unused {
        return Vec::new();
    }
    for s in &suppressions {
        for (rule, used) in &s.rules {
            if registry::find(rule).is_none() {
                out.push(Diagnostic::new(
                    s.range,
                    format!(
                        "suppression names an {}",
                        registry::unknown_rule_message(rule)
                    ),
                ));
            } else if !used && enabled(rule) {
                let scope = if s.file_wide { "in this file" } else { "here" };
                out.push(
                    Diagnostic::new(
                        s.range,
                        format!("suppression of `{rule}` suppresses nothing {scope}"),
                    )
                    .help(
                        "delete it, or move it onto the operation's first line or the line above",
                    ),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::{migration, project_findings, with_initial};

    #[test]
    fn parses_directives() {
        assert_eq!(
            parse_directive("# migrail: ignore[drop-column, drop-table] -- two-release drop"),
            Some(Directive::Ignore {
                file_wide: false,
                rules: vec!["drop-column".into(), "drop-table".into()]
            })
        );
        assert_eq!(
            parse_directive("#migrail: ignore-file[unknown-operation]"),
            Some(Directive::Ignore {
                file_wide: true,
                rules: vec!["unknown-operation".into()]
            })
        );
        assert!(matches!(
            parse_directive("# migrail: ignore drop-column"),
            Some(Directive::Malformed(_))
        ));
        assert!(matches!(
            parse_directive("# migrail: skip[x]"),
            Some(Directive::Malformed(_))
        ));
        assert_eq!(parse_directive("# an ordinary comment"), None);
    }

    #[test]
    fn ok_suppressed_on_the_line_and_the_line_above() {
        let files = with_initial(migration(
            "0002_remove",
            "0001_initial",
            r#"        migrations.RemoveField("book", "isbn"),  # migrail: ignore[drop-column] -- no reader left
        # migrail: ignore[drop-column] -- same
        migrations.RemoveField("book", "subtitle"),"#,
        ));
        let found = project_findings(&files);
        assert!(found.iter().all(|f| f.rule != "drop-column"), "{found:#?}");
        assert!(found.iter().all(|f| f.rule != UNUSED), "{found:#?}");
    }

    #[test]
    fn err_unused_unknown_and_malformed_suppressions_are_reported() {
        let files = with_initial(migration(
            "0002_remove",
            "0001_initial",
            r#"        # migrail: ignore[drop-table]
        migrations.RemoveField("book", "isbn"),
        migrations.AddField("book", "note", models.TextField(null=True)),  # migrail: ignore[drop-colum]
        # migrail: ignore drop-column"#,
        ));
        let found = project_findings(&files);
        let rules: Vec<&str> = found.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules.iter().filter(|r| **r == "drop-column").count(),
            1,
            "{rules:?}"
        );
        let unused: Vec<&str> = found
            .iter()
            .filter(|f| f.rule == UNUSED)
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(unused.len(), 3, "{unused:#?}");
        assert!(
            unused
                .iter()
                .any(|m| m.contains("did you mean `drop-column`")),
            "{unused:#?}"
        );
    }

    #[test]
    fn ok_file_wide() {
        let files = with_initial(migration(
            "0002_remove",
            "0001_initial",
            r#"        # migrail: ignore-file[drop-column]
        migrations.RemoveField("book", "isbn"),
        migrations.RemoveField("book", "subtitle"),"#,
        ));
        let found = project_findings(&files);
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn ignore_migration_marker_suppresses_the_whole_migration() {
        let files = crate::lint::testing::with_initial(crate::lint::testing::migration(
            "0002_drop",
            "0001_initial",
            r#"        IgnoreMigration(),
        migrations.RemoveField("book", "isbn"),
        migrations.RenameField("book", "title", "name"),"#,
        ));
        let files: Vec<_> = files
            .into_iter()
            .map(|(p, t)| {
                (
                    p,
                    t.replace(
                        "import django.db.models.deletion",
                        "from django_migration_linter import IgnoreMigration",
                    ),
                )
            })
            .collect();
        assert!(crate::lint::testing::project_findings(&files).is_empty());
    }
}
