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
    &rules::mysql_table_copy::MysqlTableCopy,
    &rules::mysql_partial_migration::MysqlPartialMigration,
    &rules::runsql_unparsed::RunsqlUnparsed,
    &rules::runsql_irreversible::RunsqlIrreversible,
    &rules::runpython_irreversible::RunpythonIrreversible,
    &rules::runpython_with_schema_change::RunpythonWithSchemaChange,
    &rules::mixed_deploy_phase::MixedDeployPhase,
    &rules::multiple_leaf_nodes::MultipleLeafNodes,
    &rules::missing_dependency::MissingDependency,
    &rules::circular_dependency::CircularDependency,
    &rules::duplicate_app_label::DuplicateAppLabel,
    &rules::edited_applied_migration::EditedAppliedMigration,
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
    fn suggests_the_closest_name() {
        assert_eq!(closest("drop-colum"), Some("drop-column"));
        assert_eq!(closest("completely-different"), None);
    }
}
