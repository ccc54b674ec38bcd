//! `syntax-error`: a migration file that does not parse, or has no `Migration` class.

use crate::django::migration::ProblemKind;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct SyntaxError;

static META: RuleMeta = RuleMeta {
    name: "syntax-error",
    severity: Severity::Error,
    axis: Axis::Input,
    summary: "A migration file does not parse as Python, or has no Migration class",
    doc: r#"## What it catches
Every syntax error the Python parser reports in a migration file (all of them, not only
the first), and a file under `migrations/` without a `class Migration`.

## Why it is unsafe
Django fails to import the module: `migrate` (and every management command) crashes, so
the deploy fails. migrail reads whatever it can of the file and goes on with the others.

## Safe alternative
Fix the file; `python -m py_compile <file>` shows the same errors.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for SyntaxError {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        for problem in ctx
            .migration
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Syntax)
        {
            out.push(Diagnostic::new(problem.range, problem.message.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, render};

    #[test]
    fn err_every_error_is_reported() {
        let files = vec![(
            "shop/migrations/0001_initial.py".to_string(),
            "from django.db import migrations\n\nclass Migration(migrations.Migration):\n    dependencies = [\n    operations = [)\n".to_string(),
        )];
        assert!(findings(&files, "syntax-error").len() >= 2);
        insta::assert_snapshot!(render(&files, "syntax-error"));
    }

    #[test]
    fn ok_valid_file() {
        let files = vec![(
            "shop/migrations/0001_initial.py".to_string(),
            "from django.db import migrations\n\nclass Migration(migrations.Migration):\n    operations = []\n".to_string(),
        )];
        assert!(findings(&files, "syntax-error").is_empty());
    }
}
