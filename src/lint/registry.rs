//! Every rule migrail has, in catalog order, and lookup by name.

use super::rule::Rule;
use super::rules;

static RULES: &[&dyn Rule] = &[
    &rules::drop_column::DropColumn,
    &rules::drop_table::DropTable,
    &rules::rename_column::RenameColumn,
    &rules::rename_as_remove_add::RenameAsRemoveAdd,
    &rules::rename_table::RenameTable,
    &rules::add_not_null_column::AddNotNullColumn,
    &rules::set_not_null::SetNotNull,
    &rules::alter_column_type::AlterColumnType,
    &rules::add_unique::AddUnique,
    &rules::add_index_not_concurrently::AddIndexNotConcurrently,
    &rules::drop_index_not_concurrently::DropIndexNotConcurrently,
    &rules::concurrent_in_atomic_migration::ConcurrentInAtomicMigration,
    &rules::add_foreign_key_validates::AddForeignKeyValidates,
    &rules::add_check_constraint::AddCheckConstraint,
    &rules::runsql_unparsed::RunsqlUnparsed,
    &rules::runsql_irreversible::RunsqlIrreversible,
    &rules::runpython_irreversible::RunpythonIrreversible,
    &rules::runpython_with_schema_change::RunpythonWithSchemaChange,
    &rules::mixed_deploy_phase::MixedDeployPhase,
    &rules::multiple_leaf_nodes::MultipleLeafNodes,
    &rules::missing_dependency::MissingDependency,
    &rules::circular_dependency::CircularDependency,
    &rules::duplicate_app_label::DuplicateAppLabel,
    &rules::syntax_error::SyntaxError,
    &rules::unknown_operation::UnknownOperation,
    &rules::unused_suppression::UnusedSuppression,
];

pub fn all() -> &'static [&'static dyn Rule] {
    RULES
}

pub fn find(name: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.meta().name == name)
}

/// The rule catalog as Markdown: `docs/rules.md`, where SARIF's `helpUri`s point.
pub fn catalog_markdown() -> String {
    let mut out = String::from(
        "# migrail rules\n\n\
         Generated from the rule registry (`cargo test` checks it is current; \
         `MIGRAIL_UPDATE_DOCS=1 cargo test --lib registry` rewrites it). \
         `migrail rule NAME` prints the same text.\n\n\
         | rule | severity | axis | summary |\n|---|---|---|---|\n",
    );
    for r in RULES {
        let m = r.meta();
        out.push_str(&format!(
            "| [`{0}`](#{0}) | {1} | {2} | {3} |\n",
            m.name,
            m.severity.as_str(),
            m.axis.as_str(),
            m.summary
        ));
    }
    for r in RULES {
        let m = r.meta();
        // Rule documentation uses `##` sections: one level down under the rule's heading.
        let doc = m.doc.trim().replace("\n## ", "\n### ");
        let doc = doc
            .strip_prefix("## ")
            .map_or(doc.clone(), |d| format!("### {d}"));
        out.push_str(&format!(
            "\n<a id=\"{0}\"></a>\n\n## {0}\n\nSeverity: {1}. Axis: {2}.\n\n{3}\n\n{doc}\n",
            m.name,
            m.severity.as_str(),
            m.axis.as_str(),
            m.summary
        ));
    }
    out
}

/// `unknown rule `x` (did you mean `y`?)`: the message for a name that is no rule.
pub fn unknown_rule_message(name: &str) -> String {
    let hint = closest(name)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    format!("unknown rule `{name}`{hint}")
}

/// The rule name closest to a misspelt one, for "did you mean".
pub fn closest(name: &str) -> Option<&'static str> {
    RULES
        .iter()
        .map(|r| r.meta().name)
        .map(|n| (edit_distance(n, name), n))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in all() {
            let meta = rule.meta();
            assert!(seen.insert(meta.name), "duplicate rule {}", meta.name);
            assert!(
                meta.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                meta.name
            );
            for section in ["## Why", "## Safe alternative"] {
                assert!(meta.doc.contains(section), "{} lacks {section}", meta.name);
            }
        }
    }

    #[test]
    fn docs_rules_md_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
        let wanted = catalog_markdown();
        if std::env::var_os("MIGRAIL_UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().expect("docs dir")).expect("mkdir docs");
            std::fs::write(&path, &wanted).expect("write docs/rules.md");
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == wanted,
            "docs/rules.md is stale: run `MIGRAIL_UPDATE_DOCS=1 cargo test --lib registry`"
        );
    }

    #[test]
    fn suggests_the_closest_name() {
        assert_eq!(closest("drop-colum"), Some("drop-column"));
        assert_eq!(closest("completely-different"), None);
    }
}
