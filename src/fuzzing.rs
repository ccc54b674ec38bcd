//! One entry point that runs an arbitrary file through everything a user's input reaches:
//! parsing, the graph, both replays, every rule, suppressions, the deploy plan, every
//! renderer, the SQL rendering and the fixes as suggestions. Used by the `cargo fuzz` target (`fuzz/`) and by the bounded property test
//! (`tests/fuzz.rs`); it must never panic, whatever the bytes.

use std::path::PathBuf;

use crate::django::discover::DiscoveredFile;
use crate::django::migration::Settings;
use crate::django::Project;
use crate::lint::{self, LintOptions, Review};
use crate::report;

/// The history the fuzzed file is linted against: a model with a few kinds of fields.
const INITIAL: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("title", models.CharField(max_length=200)),
                ("subtitle", models.CharField(max_length=200, null=True)),
                ("price", models.DecimalField(max_digits=8, decimal_places=2)),
            ],
        ),
    ]
"#;

/// Lint `bytes` as `shop/migrations/0002_fuzz.py` after an initial migration; returns the
/// number of findings (so the work is not optimised away).
pub fn lint_bytes(bytes: &[u8], deploy_phases: bool) -> usize {
    let file = |name: &str| DiscoveredFile {
        app: "shop".to_string(),
        name: name.to_string(),
        path: PathBuf::from(format!("shop/migrations/{name}.py")),
        app_dir: PathBuf::from("shop"),
    };
    let text = String::from_utf8_lossy(bytes).into_owned();
    let project = Project::from_sources(
        vec![
            (file("0001_initial"), INITIAL.to_string()),
            (file("0002_fuzz"), text),
        ],
        Settings::default(),
    );
    let options = LintOptions {
        deploy_phases,
        ..LintOptions::default()
    };
    let report = lint::lint(&project, &Review::All, &options);
    let plan = lint::plan::plan(&project, &report, deploy_phases);
    let rendered = report::text::render_findings(&report.findings, false).len()
        + report::text::summary(&report, 0).len()
        + report::json::render(&report, false).len()
        + report::sarif::render(&report).len()
        + report::plan::text(&plan).len()
        + report::plan::json(&plan).len();
    // `migrail sql`, its JSON and the pull request's SQL section; the suggestions.
    let sql = crate::django::schema_editor::render(&project, &|_| true);
    let rendered = rendered
        + report::sql::text(&sql).len()
        + report::sql::json(&sql).len()
        + report::sql::markdown(&sql).len();
    let outcome = crate::fix::rounds::compute(&project, &Review::All, &options, &|_| None);
    let suggested =
        crate::fix::suggest::suggestions(&project, &Review::All, &report.findings, &outcome);
    let rendered = rendered + suggested.len();
    report.findings.len() + usize::from(rendered == 0)
}
