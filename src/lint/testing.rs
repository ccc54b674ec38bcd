//! Helpers for rule tests: lint a small in-memory project and render the findings.

use std::path::PathBuf;

use crate::django::discover::DiscoveredFile;
use crate::django::migration::Settings;
use crate::django::Project;
use crate::report;

use super::{lint, Finding, LintOptions, Review};

/// The initial migration of `shop.Book` (table `shop_book`) most rule tests build on.
pub const SHOP_INITIAL: (&str, &str) = (
    "shop/migrations/0001_initial.py",
    r#"from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=200)),
                ("isbn", models.CharField(max_length=13)),
                ("subtitle", models.CharField(max_length=200, null=True)),
                ("price", models.DecimalField(max_digits=8, decimal_places=2)),
                ("pages", models.IntegerField(default=0)),
            ],
        ),
    ]
"#,
);

/// A migration file `shop/migrations/<name>.py` depending on `shop.<dep>` with `operations`.
pub fn migration(name: &str, dep: &str, operations: &str) -> (String, String) {
    (
        format!("shop/migrations/{name}.py"),
        format!(
            "from django.conf import settings\nfrom django.db import migrations, models\nimport django.db.models.deletion\n\n\n\
             class Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"{dep}\")]\n\n    operations = [\n{operations}\n    ]\n"
        ),
    )
}

pub fn project(files: &[(String, String)]) -> Project {
    let sources = files
        .iter()
        .map(|(path, text)| (DiscoveredFile::at(PathBuf::from(path), None), text.clone()))
        .collect();
    Project::from_sources(sources, Settings::default())
}

/// Lint the last file of `files` (the others are history) and keep `rule`'s findings.
pub fn findings(files: &[(String, String)], rule: &str) -> Vec<Finding> {
    findings_with(files, rule, false)
}

/// `findings`, for a project that deploys in phases or not.
pub fn findings_with(files: &[(String, String)], rule: &str, deploy_phases: bool) -> Vec<Finding> {
    let project = project(files);
    let last = files
        .last()
        .map(|(p, _)| PathBuf::from(p))
        .unwrap_or_default();
    let review = Review::Files([last].into_iter().collect());
    let report = lint(
        &project,
        &review,
        &LintOptions {
            select: vec![rule.to_string()],
            deploy_phases,
            ..LintOptions::default()
        },
    );
    report.findings
}

/// The messages of `rule`'s findings on the last file of `files`, for a project on
/// `engine` (`"mysql"`, `"mariadb"`, `"postgresql"`) at `version`.
pub fn findings_on(
    files: &[(String, String)],
    rule: &str,
    engine: &str,
    version: Option<&str>,
) -> Vec<String> {
    let mut project = project(files);
    project.settings.database =
        crate::django::database::Database::configured(Some(engine), version)
            .expect("a valid engine");
    let last = files
        .last()
        .map(|(p, _)| PathBuf::from(p))
        .unwrap_or_default();
    let review = Review::Files([last].into_iter().collect());
    let options = LintOptions {
        select: vec![rule.to_string()],
        ..LintOptions::default()
    };
    lint(&project, &review, &options)
        .findings
        .into_iter()
        .map(|f| match &f.help {
            Some(h) => format!("{}\nhelp: {h}", f.message),
            None => f.message.clone(),
        })
        .collect()
}

/// `findings`, rendered as plain text (for snapshots).
pub fn render(files: &[(String, String)], rule: &str) -> String {
    let found = findings(files, rule);
    report::text::render_findings(&found, false)
}

pub fn with_initial(next: (String, String)) -> Vec<(String, String)> {
    vec![
        (SHOP_INITIAL.0.to_string(), SHOP_INITIAL.1.to_string()),
        next,
    ]
}

/// Every finding above `info` when the whole project is reviewed with every rule.
pub fn project_findings(files: &[(String, String)]) -> Vec<crate::lint::Finding> {
    let project = project(files);
    crate::lint::lint(
        &project,
        &crate::lint::Review::All,
        &crate::lint::LintOptions::default(),
    )
    .findings
    .into_iter()
    .filter(|f| f.severity != crate::lint::rule::Severity::Info)
    .collect()
}
