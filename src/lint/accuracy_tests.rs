//! Tests of what real projects taught the linter (issue "lint on real projects"): replaced
//! migrations linted on their own history, squashes and two-part initials as fresh
//! installs, guarded imports, subclassed operations, and the noise classes removed.

use super::rule::Severity;
use super::testing::{findings, findings_with, migration, project, with_initial, SHOP_INITIAL};
use super::{lint, LintOptions, Review};

fn file(path: &str, text: &str) -> (String, String) {
    (path.to_string(), text.to_string())
}

const HEADER: &str =
    "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n";

/// shop: 0001_initial, 0002 (unsafe: drops a column), 0003; a squash of 0001-0002 that
/// does the same on a fresh database; 0003 depends on the replaced 0002.
fn squashed_shop() -> Vec<(String, String)> {
    let squash = format!(
        "{HEADER}    replaces = [(\"shop\", \"0001_initial\"), (\"shop\", \"0002_remove_isbn\")]\n    initial = True\n    dependencies = []\n    operations = [\n        migrations.CreateModel(name=\"Book\", fields=[(\"id\", models.AutoField(primary_key=True)), (\"title\", models.CharField(max_length=200)), (\"isbn\", models.CharField(max_length=13))]),\n        migrations.RemoveField(\"book\", \"isbn\"),\n        migrations.AddField(\"book\", \"pages\", models.IntegerField()),\n    ]\n"
    );
    vec![
        file(SHOP_INITIAL.0, SHOP_INITIAL.1),
        migration(
            "0002_remove_isbn",
            "0001_initial",
            "        migrations.RemoveField(\"book\", \"isbn\"),\n        migrations.AddField(\"book\", \"pages2\", models.IntegerField()),",
        ),
        file("shop/migrations/0001_squashed_0002.py", &squash),
        migration(
            "0003_subtitle",
            "0002_remove_isbn",
            "        migrations.AddField(\"book\", \"blurb\", models.TextField(null=True)),",
        ),
    ]
}

#[test]
fn replaced_migrations_are_linted_on_their_own_history() {
    let files = squashed_shop();
    let p = project(&files);
    let review = Review::files([std::path::Path::new("shop/migrations/0002_remove_isbn.py")]);
    let report = lint(&p, &review, &LintOptions::default());
    let rules: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.rule)
        .collect();
    assert!(rules.contains(&"drop-column"), "{:#?}", report.findings);
    assert!(rules.contains(&"add-not-null-column"), "{rules:?}");
    let summary = report
        .migrations
        .iter()
        .find(|m| m.name == "0002_remove_isbn")
        .expect("listed");
    assert!(summary.reviewed);
    assert!(
        summary.phase.is_some(),
        "the replaced migration has a phase"
    );
}

#[test]
fn squash_findings_are_notes_unless_squashed_lint() {
    let files = squashed_shop();
    let p = project(&files);
    let review = Review::files([std::path::Path::new(
        "shop/migrations/0001_squashed_0002.py",
    )]);
    let report = lint(&p, &review, &LintOptions::default());
    let in_squash: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.migration == "0001_squashed_0002")
        .collect();
    // The squash creates the table: nothing to say but notes, even for its AddField.
    assert!(
        in_squash.iter().all(|f| f.severity == Severity::Info),
        "{in_squash:#?}"
    );
    // Judged as any migration when asked (its own operations are on a new table, so a
    // squash that alters an earlier app's table is needed to see an error).
    let other = vec![
        file(SHOP_INITIAL.0, SHOP_INITIAL.1),
        migration("0002_a", "0001_initial", "        migrations.AddField(\"book\", \"a\", models.IntegerField()),"),
        file(
            "shop/migrations/0002_squashed.py",
            &format!("{HEADER}    replaces = [(\"shop\", \"0002_a\")]\n    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [migrations.AddField(\"book\", \"a\", models.IntegerField())]\n"),
        ),
    ];
    let p = project(&other);
    let review = Review::files([std::path::Path::new("shop/migrations/0002_squashed.py")]);
    let noted = lint(&p, &review, &LintOptions::default());
    let f = noted
        .findings
        .iter()
        .find(|f| f.rule == "add-not-null-column")
        .expect("reported");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("squashed migration"), "{}", f.message);
    let linted = lint(
        &p,
        &review,
        &LintOptions {
            lint_squashed: true,
            ..LintOptions::default()
        },
    );
    let f = linted
        .findings
        .iter()
        .find(|f| f.rule == "add-not-null-column")
        .expect("reported");
    assert_eq!(f.severity, Severity::Error);
}

/// Django's two-part initial: `0002_initial` adds the foreign keys of the tables
/// `0001_initial` created; both run on a fresh database only.
#[test]
fn two_part_initial_migrations_work_on_new_tables() {
    let files = vec![
        file(SHOP_INITIAL.0, SHOP_INITIAL.1),
        file(
            "shop/migrations/0002_initial.py",
            &format!("{HEADER}    initial = True\n    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [\n        migrations.AddField(\"book\", \"isbn13\", models.CharField(max_length=13)),\n        migrations.AddIndex(\"book\", models.Index(fields=[\"title\"], name=\"title_idx\")),\n    ]\n"),
        ),
    ];
    assert!(findings(&files, "add-not-null-column").is_empty());
    assert!(findings(&files, "add-index-not-concurrently").is_empty());
    // A non-initial migration in between: the table may hold data and old code.
    let files = vec![
        file(SHOP_INITIAL.0, SHOP_INITIAL.1),
        migration("0002_more", "0001_initial", "        migrations.AddField(\"book\", \"x\", models.IntegerField(null=True)),"),
        file(
            "shop/migrations/0003_initial.py",
            &format!("{HEADER}    initial = True\n    dependencies = [(\"shop\", \"0001_initial\"), (\"shop\", \"0002_more\")]\n    operations = [migrations.AddField(\"book\", \"isbn13\", models.CharField(max_length=13))]\n"),
        ),
    ];
    assert_eq!(findings(&files, "add-not-null-column").len(), 1);
}

#[test]
fn guarded_django_imports_and_settings_defaults_are_read() {
    let files = with_initial(file(
        "shop/migrations/0002_index.py",
        "from django.conf import settings\nfrom django.db import migrations, models\n\
         try:\n    from django.contrib.postgres.operations import AddIndexConcurrently\n\
         except ImportError:\n    AddIndexConcurrently = None\n\n\n\
         class Migration(migrations.Migration):\n    atomic = False\n    dependencies = [(\"shop\", \"0001_initial\")]\n\
         \x20   operations = [\n        AddIndexConcurrently(\"book\", models.Index(fields=[\"title\"], name=\"t_idx\")),\n    ] if AddIndexConcurrently else []\n\
         \x20   operations += [migrations.AddField(\"book\", \"x\", models.IntegerField())] if getattr(settings, \"SHOP_X\", True) else []\n",
    ));
    let p = project(&files);
    let m = p
        .migrations
        .iter()
        .find(|m| m.name == "0002_index")
        .expect("loaded");
    assert!(m.problems.is_empty(), "{:?}", m.problems);
    assert_eq!(m.operations.len(), 1, "{:?}", m.operations);
    assert!(findings(&files, "add-index-not-concurrently").is_empty());
}

#[test]
fn getattr_settings_evaluates_to_the_default() {
    let files = with_initial(file(
        "shop/migrations/0002_x.py",
        "from django.conf import settings\nfrom django.db import migrations, models\n\n\n\
         class Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n\
         \x20   operations = [migrations.AddField(\"book\", \"x\", models.IntegerField())] if getattr(settings, \"SHOP_X\", True) else []\n",
    ));
    assert_eq!(findings(&files, "add-not-null-column").len(), 1);
}

/// A subclass overriding only `database_backwards`/`describe` runs its base forwards.
#[test]
fn subclassed_operations_behave_like_their_base() {
    let files = with_initial(file(
        "shop/migrations/0002_drop.py",
        "from django.db import migrations, models\n\n\
         class RemoveFieldKeepBackwards(migrations.RemoveField):\n    def database_backwards(self, *a):\n        pass\n\n    def describe(self):\n        return 'x'\n\n\
         class Custom(migrations.RemoveField):\n    def database_forwards(self, *a):\n        pass\n\n\n\
         class Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n\
         \x20   operations = [RemoveFieldKeepBackwards(\"book\", \"isbn\"), Custom(\"book\", \"title\")]\n",
    ));
    let found = findings(&files, "drop-column");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].message.contains("\"isbn\""));
    assert_eq!(findings(&files, "unknown-operation").len(), 1);
}

/// The autodetector removes a model's foreign keys before the model: `drop-table` owns it.
#[test]
fn no_drop_column_for_a_model_deleted_in_the_same_migration() {
    let files = with_initial(migration(
        "0002_delete_book",
        "0001_initial",
        "        migrations.RemoveField(\"book\", \"isbn\"),\n        migrations.DeleteModel(name=\"Book\"),",
    ));
    assert!(findings(&files, "drop-column").is_empty());
    assert_eq!(findings(&files, "drop-table").len(), 1);
}

#[test]
fn catalog_only_sql_is_not_unparsed_and_duplicates_collapse() {
    let files = with_initial(migration(
        "0002_sql",
        "0001_initial",
        r#"        migrations.RunSQL("ALTER INDEX IF EXISTS shop_book_idx RENAME TO shop_book_title_idx; ALTER SEQUENCE IF EXISTS shop_book_id_seq RENAME TO s2; CREATE TRIGGER t BEFORE INSERT ON shop_book FOR EACH ROW EXECUTE FUNCTION f(); CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql COST 100;", migrations.RunSQL.noop),
        migrations.RunSQL(SQL_PREFIX + "NOT SQL; NOT SQL;", migrations.RunSQL.noop),"#,
    ));
    let files: Vec<_> = files
        .into_iter()
        .map(|(p, t)| {
            (
                p,
                t.replace("class Migration", "SQL_PREFIX = ' '\n\n\nclass Migration"),
            )
        })
        .collect();
    let found = findings(&files, "runsql-unparsed");
    let messages: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.message.as_str())).collect();
    assert_eq!(found.len(), 1, "{messages:#?}");
}

#[test]
fn generated_fields_are_never_not_null_columns_and_stored_ones_rewrite() {
    let files = with_initial(migration(
        "0002_generated",
        "0001_initial",
        r#"        migrations.AddField("book", "total", models.GeneratedField(expression=models.F("pages") * 2, output_field=models.IntegerField(), db_persist=True)),"#,
    ));
    let found = findings(&files, "add-not-null-column");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("rewriting the whole table"),
        "{}",
        found[0].message
    );
    let virtual_column = with_initial(migration(
        "0002_generated",
        "0001_initial",
        r#"        migrations.AddField("book", "total", models.GeneratedField(expression=models.F("pages") * 2, output_field=models.IntegerField(), db_persist=False)),"#,
    ));
    assert!(findings(&virtual_column, "add-not-null-column").is_empty());
}

/// With `deploy-phases`, a post migration's message speaks of the new release.
#[test]
fn after_the_rollout_messages_speak_of_the_new_release() {
    let files = with_initial(file(
        "shop/migrations/0002_drop.py",
        "from django.db import migrations, models\n\n\n\
         class Migration(migrations.Migration):\n    dependencies = [(\"shop\", \"0001_initial\")]\n\
         \x20   operations = [migrations.RemoveField(\"book\", \"isbn\")]\n",
    ));
    let found = findings_with(&files, "drop-column", true);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("new release") && !found[0].message.contains("old release"),
        "{}",
        found[0].message
    );
}

/// A column added earlier in the same migration was never seen by the old release:
/// renaming or removing it is not a compatibility finding (the precision sample's miss).
#[test]
fn columns_added_in_the_same_migration_are_new() {
    let files = with_initial(migration(
        "0002_swap",
        "0001_initial",
        "        migrations.AddField(\"book\", \"isbn_temp\", models.IntegerField(null=True)),\n        migrations.RenameField(\"book\", \"isbn_temp\", \"isbn_number\"),",
    ));
    assert!(findings(&files, "rename-column").is_empty());
    let files = with_initial(migration(
        "0002_try",
        "0001_initial",
        "        migrations.AddField(\"book\", \"isbn_temp\", models.IntegerField(default=0)),\n        migrations.RemoveField(\"book\", \"isbn_temp\"),",
    ));
    assert!(findings(&files, "drop-column").is_empty());
}

/// Constraints dropped on a model the migration then deletes are part of the drop: the
/// migration is a `post` one, not a mix (the precision sample's other miss).
#[test]
fn operations_on_a_model_deleted_later_follow_the_drop_phase() {
    let files = with_initial(migration(
        "0002_delete_book",
        "0001_initial",
        "        migrations.AlterUniqueTogether(name=\"book\", unique_together=None),\n        migrations.DeleteModel(name=\"Book\"),",
    ));
    assert!(findings(&files, "mixed-deploy-phase").is_empty());
}

/// RunSQL on a many-to-many join table is judged like on the model's own table.
#[test]
fn runsql_rules_know_join_tables() {
    let mut files = with_initial(migration(
        "0002_tags",
        "0001_initial",
        r#"        migrations.CreateModel(name="Tag", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("book", "tags", models.ManyToManyField(to="shop.tag")),"#,
    ));
    files.push(migration(
        "0003_sql",
        "0002_tags",
        r#"        migrations.RunSQL("ALTER TABLE shop_book_tags RENAME TO shop_book_labels; DROP TABLE shop_book_tags;", migrations.RunSQL.noop),"#,
    ));
    let renamed = findings(&files, "rename-table");
    assert_eq!(renamed.len(), 1, "{renamed:#?}");
    assert!(renamed[0]
        .message
        .contains("join table of many-to-many field `shop.Book.tags`"));
    assert_eq!(findings(&files, "drop-table").len(), 1);
}

/// A table renamed by an earlier RunSQL is still the model's table for later SQL.
#[test]
fn runsql_rules_follow_tables_renamed_by_earlier_sql() {
    let mut files = with_initial(migration(
        "0002_rename",
        "0001_initial",
        r#"        migrations.RunSQL("ALTER TABLE shop_book RENAME TO shop_volume", migrations.RunSQL.noop),"#,
    ));
    files.push(migration(
        "0003_drop",
        "0002_rename",
        r#"        migrations.RunSQL("ALTER TABLE shop_volume DROP COLUMN isbn", migrations.RunSQL.noop),"#,
    ));
    let found = findings(&files, "drop-column");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].message.contains("`shop.Book.isbn`"),
        "{}",
        found[0].message
    );
}

/// Django 1.7/1.8 wrote no header and no `initial = True`; its `makemigrations` split a new
/// app's first migration when a relation pointed into another new app that depended on it:
/// `0002_auto_<timestamp>` adds those relations. Its findings are notes saying why; a
/// migration with a header, a plain field, or no other app is judged as usual.
#[test]
fn django_1_8_split_first_migrations_are_notes() {
    const OLD: &str = "# -*- coding: utf-8 -*-\nfrom __future__ import unicode_literals\n\nfrom django.db import migrations, models\nimport django.db.models.deletion\n\n\nclass Migration(migrations.Migration):\n";
    let shop = file(
        "shop/migrations/0001_initial.py",
        &format!("{OLD}    dependencies = []\n    operations = [\n        migrations.CreateModel(name=\"Book\", fields=[(\"id\", models.AutoField(primary_key=True)), (\"title\", models.CharField(max_length=200))]),\n    ]\n"),
    );
    let library = file(
        "library/migrations/0001_initial.py",
        &format!("{OLD}    dependencies = [(\"shop\", \"0001_initial\")]\n    operations = [\n        migrations.CreateModel(name=\"Shelf\", fields=[(\"id\", models.AutoField(primary_key=True)), (\"book\", models.ForeignKey(to=\"shop.Book\", on_delete=django.db.models.deletion.CASCADE))]),\n    ]\n"),
    );
    let split = |name: &str, head: &str, deps: &str, field: &str| {
        file(
            &format!("shop/migrations/{name}.py"),
            &format!("{head}    dependencies = [{deps}]\n    operations = [\n        migrations.AddField(model_name=\"book\", name=\"shelf\", field={field}, preserve_default=True),\n    ]\n"),
        )
    };
    let fk = "models.ForeignKey(to=\"library.Shelf\", on_delete=django.db.models.deletion.CASCADE)";
    let both = "(\"shop\", \"0001_initial\"), (\"library\", \"0001_initial\")";
    let judged = |files: Vec<(String, String)>| -> Vec<(Severity, String)> {
        let p = project(&files);
        let last = files.last().map(|(p, _)| p.clone()).unwrap_or_default();
        lint(
            &p,
            &Review::files([std::path::Path::new(&last)]),
            &LintOptions::default(),
        )
        .findings
        .into_iter()
        .filter(|f| f.rule == "add-foreign-key-validates" || f.rule == "add-not-null-column")
        .map(|f| (f.severity, f.message))
        .collect()
    };

    let found = judged(vec![
        shop.clone(),
        library.clone(),
        split("0002_auto_20150804_1545", OLD, both, fk),
    ]);
    assert!(!found.is_empty());
    insta::assert_snapshot!("django_1_8_split_first_migration_note", found[0].1);
    for (severity, message) in &found {
        assert_eq!(*severity, Severity::Info, "{message}");
        assert!(message.contains("Django 1.7/1.8"), "{message}");
    }

    // Generated by Django 1.9 or later (which writes `initial = True` on split halves):
    // a later migration, judged as usual.
    let header = format!("# Generated by Django 1.11 on 2017-05-02 10:00\n{OLD}");
    // Django 1.9-1.11 put it after the coding line.
    let second_line = OLD.replacen("\n", "\n# Generated by Django 1.9 on 2016-01-05 10:00\n", 1);
    let later = [
        split("0002_auto_20170502_1000", &header, both, fk),
        split("0002_auto_20160105_1000", &second_line, both, fk),
        // Named by hand.
        split("0002_book_shelf", OLD, both, fk),
        // Depending on its own app only: nothing was split.
        split(
            "0002_auto_20150804_1545",
            OLD,
            "(\"shop\", \"0001_initial\")",
            "models.ForeignKey(to=\"shop.Book\", on_delete=django.db.models.deletion.CASCADE)",
        ),
        // A plain column, not a relation.
        split(
            "0002_auto_20150804_1545",
            OLD,
            both,
            "models.IntegerField()",
        ),
    ];
    for case in later {
        let name = case.0.clone();
        let found = judged(vec![shop.clone(), library.clone(), case]);
        assert!(
            found.iter().any(|(s, _)| *s != Severity::Info),
            "{name}: {found:?}"
        );
    }
}
