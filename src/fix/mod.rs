//! `migrail fix`: rewriting unsafe migrations into the safe sequence their helps describe.
//!
//! A fix is data, as in ruff: the rule that reports a finding attaches a [`Fix`] beside its
//! diagnostic — the operations that replace the unsafe one, in steps (the first replaces
//! it in place; the others become new migrations after it) — and one applier
//! ([`apply::plan`]) turns the fixes of a tree into edits on source spans and new files:
//! it sets `atomic = False` where a step needs it, splits a migration whose other
//! operations must stay atomic, chains the new migrations, repoints what depended on the
//! original so that each app keeps one leaf, and adds the imports the new code needs. It
//! never renames a file and never touches a migration outside the scope.

pub mod apply;
pub mod rounds;
pub mod suggest;
pub mod validate;

/// What a rule proposes instead of an unsafe operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    /// `steps[0]` replaces the operation where it is; each later step is a new migration
    /// after the previous one (a `VALIDATE CONSTRAINT` after the `NOT VALID`).
    pub steps: Vec<Step>,
    /// The operation the fix replaces, when the finding points elsewhere (a statement
    /// inside a `RunSQL`); else the finding's own range.
    pub on: Option<ruff_text_size::TextRange>,
    /// Other operations of the same migration the fix deletes (the `AddField` of a
    /// rename written as remove + add).
    pub remove: Vec<ruff_text_size::TextRange>,
    /// What `models.py` must keep for the state to stay as `makemigrations` sees it.
    pub pin: Option<Pin>,
    /// A migration for the next release, printed, not written (the database half of a
    /// drop when the project does not deploy in phases).
    pub next_release: Option<Step>,
}

/// A keyword `models.py` must carry: `db_column="title"` on a field, or `db_table` in a
/// model's `Meta` (`field` is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Pin {
    /// The model's class name as the state spells it (`Book`).
    pub model: String,
    pub field: Option<String>,
    pub keyword: String,
    /// A Python literal (`"title"`).
    pub value: String,
}

/// The operations of one migration a fix writes, as Python source (one per entry, in the
/// style `makemigrations` writes; multi-line entries are indented from column 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub operations: Vec<String>,
    /// False when the operations must run outside a transaction (`CONCURRENTLY`).
    pub atomic: bool,
}

impl Fix {
    /// One step replacing the operation.
    pub fn replace(operations: Vec<String>, atomic: bool) -> Fix {
        Fix {
            steps: vec![Step { operations, atomic }],
            on: None,
            remove: Vec::new(),
            pin: None,
            next_release: None,
        }
    }

    /// The fix also deletes the operation at `range`.
    pub fn removing(mut self, range: ruff_text_size::TextRange) -> Fix {
        self.remove.push(range);
        self
    }

    /// `models.py` must keep `pin`.
    pub fn pinning(mut self, pin: Pin) -> Fix {
        self.pin = Some(pin);
        self
    }

    /// A migration to add in the next release (printed by `migrail fix`).
    pub fn next_release(mut self, operations: Vec<String>, atomic: bool) -> Fix {
        self.next_release = Some(Step { operations, atomic });
        self
    }

    /// The operation at `range` is the one replaced.
    pub fn on(mut self, range: ruff_text_size::TextRange) -> Fix {
        self.on = Some(range);
        self
    }

    /// A later step, in a migration of its own after the previous one.
    pub fn then(mut self, operations: Vec<String>, atomic: bool) -> Fix {
        self.steps.push(Step { operations, atomic });
        self
    }

    /// The operations for the help text: each step's, with "then" between steps.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                out.push_str("then, in the next migration");
                if !step.atomic {
                    out.push_str(" (`atomic = False`)");
                }
                out.push_str(":\n");
            }
            // As list items: each operation ends with a comma.
            for op in &step.operations {
                let lines: Vec<&str> = op.lines().collect();
                for (j, line) in lines.iter().enumerate() {
                    out.push_str("    ");
                    out.push_str(line);
                    if j + 1 == lines.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
            }
        }
        out.trim_end().to_string()
    }
}

/// `migrations.SeparateDatabaseAndState(...)` as `makemigrations` writes it: one
/// operation per line, multi-line operations indented under their list.
pub fn separate(state_operations: &[String], database_operations: &[String]) -> String {
    let list = |name: &str, ops: &[String]| -> String {
        if ops.is_empty() {
            return String::new();
        }
        let mut out = format!("    {name}=[\n");
        for op in ops {
            let mut lines = op.lines().peekable();
            while let Some(line) = lines.next() {
                out.push_str("        ");
                out.push_str(line);
                if lines.peek().is_none() {
                    out.push(',');
                }
                out.push('\n');
            }
        }
        out.push_str("    ],\n");
        out
    };
    format!(
        "migrations.SeparateDatabaseAndState(\n{}{})",
        list("state_operations", state_operations),
        list("database_operations", database_operations)
    )
}

/// Why a finding has no automatic fix, for the summary.
pub fn no_fix_reason(rule: &str) -> &'static str {
    match rule {
        "alter-column-type" => {
            "a type change has no safe mechanical rewrite: add a new column, write both, backfill, switch reads, drop the old one"
        }
        "drop-table" => {
            "the way back would need the table's DDL: follow the help (state-only DeleteModel now, DROP TABLE after the rollout)"
        }
        "drop-column" | "rename-as-remove-add" => {
            "follow the help: the state-only removal now, the database drop after the rollout"
        }
        "rename-column" | "rename-table" => {
            "a rename through db_column/db_table: keep the database name as the help shows"
        }
        "set-not-null" => {
            "the AlterField changes more than `null`, its default is not a literal, or (MySQL) its column type is not one migrail restates exactly: follow the help"
        }
        "runpython-irreversible" | "runsql-irreversible" => {
            "only you know how to undo it: write the reverse code, or `RunPython.noop`/`RunSQL.noop` if nothing is to undo"
        }
        "runpython-with-schema-change" => {
            "move the data migration to a migration of its own with `atomic = False`"
        }
        "mixed-deploy-phase" => "split the migration into its `pre` and `post` parts",
        "runsql-unparsed" | "unknown-operation" => "review it by hand",
        _ => "no automatic fix for this rule",
    }
}

#[cfg(test)]
mod tests {
    use super::separate;

    #[test]
    fn separate_writes_one_operation_per_item_with_a_comma_after_its_last_line() {
        let multi = "migrations.AddField(\n    \"book\",\n    \"title\",\n)".to_string();
        let single = "migrations.RunSQL(\"SELECT 1\")".to_string();
        assert_eq!(
            separate(&[multi, single.clone()], &[]),
            "migrations.SeparateDatabaseAndState(\n    state_operations=[\n        \
             migrations.AddField(\n            \"book\",\n            \"title\",\n        ),\n        \
             migrations.RunSQL(\"SELECT 1\"),\n    ],\n)"
        );
        // An empty list is left out.
        assert_eq!(
            separate(&[], &[single]),
            "migrations.SeparateDatabaseAndState(\n    database_operations=[\n        \
             migrations.RunSQL(\"SELECT 1\"),\n    ],\n)"
        );
    }
}
