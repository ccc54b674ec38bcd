//! Deploy phases: when each operation and each migration may run relative to the
//! rollout of the new code (`../shared/rules.md`, "The model behind every rule").
//!
//! - `any`: no effect on the old or the new code (options, indexes, data migrations);
//! - `pre`: additive, must run before the new code and is harmless to the old;
//! - `post`: subtractive, harmless once no old code runs;
//! - `never`: unsafe in both windows, must be split over several releases.
//!
//! Operation phases are inferred during a replay of the whole tree (they need the
//! state: a nullable `AddField` is `pre`, a NOT NULL one without a database default is
//! `never`). A migration's phase combines its operations' phases (`pre` with `post` is
//! `never`, and a `mixed-deploy-phase` finding); an explicit marker
//! (django-safemigrate's `safe = Safe.after_deploy()`, django-syzygy's
//! `stage = Stage.POST_DEPLOY`, ...) overrides the inference, except a `never`.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use ruff_text_size::TextRange;
use serde::Serialize;

use crate::django::migration::{MigrationFile, MigrationKey, Settings};
use crate::django::operations::OpKind;
use crate::django::python::Value;
use crate::django::state::{is_key_of, ProjectState};
use crate::django::{Project, Replayed, Visit};
use crate::lint::sql::{SqlAction, SqlCache};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Any,
    Pre,
    Post,
    Never,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Any => "any",
            Phase::Pre => "pre",
            Phase::Post => "post",
            Phase::Never => "never",
        }
    }

    /// Combine phases of operations run together: `pre` with `post` is `never`.
    pub fn combine(phases: impl IntoIterator<Item = Phase>) -> (Phase, bool) {
        let set: BTreeSet<Phase> = phases.into_iter().collect();
        let mixed = set.contains(&Phase::Pre) && set.contains(&Phase::Post);
        let phase = if set.contains(&Phase::Never) || mixed {
            Phase::Never
        } else if set.contains(&Phase::Post) {
            Phase::Post
        } else if set.contains(&Phase::Pre) {
            Phase::Pre
        } else {
            Phase::Any
        };
        (phase, mixed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An explicit deploy marker on a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    BeforeDeploy,
    AfterDeploy,
    Always,
}

impl Marker {
    /// As the JSON report spells it (kebab-case, as `Serialize` does).
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::BeforeDeploy => "before-deploy",
            Marker::AfterDeploy => "after-deploy",
            Marker::Always => "always",
        }
    }

    pub fn phase(self) -> Phase {
        match self {
            Marker::BeforeDeploy => Phase::Pre,
            Marker::AfterDeploy => Phase::Post,
            Marker::Always => Phase::Any,
        }
    }
}

/// Read the migration's marker: `safe = Safe.before_deploy()` / `Safe.after_deploy()` /
/// `Safe.always()` (called or not, as django-safemigrate accepts both),
/// `stage = Stage.PRE_DEPLOY` / `Stage.POST_DEPLOY` (django-syzygy), or
/// `is_post_deployment = True`.
pub fn marker(m: &MigrationFile) -> Option<(Marker, TextRange)> {
    m.attributes.iter().find_map(|(name, value)| {
        // `is_post_deployment = True` (the convention of large Django codebases).
        if name == "is_post_deployment" {
            return matches!(value.value, Value::Bool(true))
                .then_some((Marker::AfterDeploy, value.range));
        }
        let path = match &value.value {
            Value::Call(call) => &*call.callee,
            Value::Ref(path) => path.as_str(),
            _ => return None,
        };
        let tail: Vec<&str> = path.rsplit('.').take(2).collect();
        let marker = match (name.as_str(), tail.as_slice()) {
            ("safe", ["before_deploy", "Safe"]) => Marker::BeforeDeploy,
            ("safe", ["after_deploy", "Safe"]) => Marker::AfterDeploy,
            ("safe", ["always", "Safe"]) => Marker::Always,
            ("stage", ["PRE_DEPLOY", "Stage"]) => Marker::BeforeDeploy,
            ("stage", ["POST_DEPLOY", "Stage"]) => Marker::AfterDeploy,
            _ => return None,
        };
        Some((marker, value.range))
    })
}

/// An operation Django runs without a statement: an `AlterField` whose change never
/// reaches the database.
fn emits_no_sql(visit: &Visit<'_>) -> bool {
    let OpKind::AlterField {
        model_name,
        name,
        field,
    } = &visit.op.kind
    else {
        return false;
    };
    let app = visit.migration.app.as_str();
    visit
        .state
        .model(app, model_name)
        .and_then(|m| m.field(name))
        .is_some_and(|old| old.same_in_database(field, name))
}

/// The phase of one operation (or one SQL statement), and why.
#[derive(Clone, Debug, Serialize)]
pub struct OpPhase {
    #[serde(skip)]
    pub range: TextRange,
    pub phase: Phase,
    /// `AddField book.subtitle: adds a nullable column`.
    pub reason: String,
    /// The operation emits no SQL at all (an `AlterField` of choices, help_text, ...).
    #[serde(skip)]
    pub silent: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MigrationPhase {
    /// The phase the deploy uses: the marker's, unless the inference says `never`.
    pub phase: Phase,
    pub inferred: Phase,
    pub marker: Option<Marker>,
    #[serde(skip)]
    pub marker_range: Option<TextRange>,
    /// `pre` and `post` operations in one migration.
    pub mixed: bool,
    /// The operations that decide the phase (every one that is not `any`).
    pub operations: Vec<OpPhase>,
    /// The range and phase of every operation and SQL statement, `any` included, to
    /// place findings.
    #[serde(skip)]
    pub all_ops: Vec<(TextRange, Phase)>,
    /// The operations that emit no SQL.
    #[serde(skip)]
    pub silent: Vec<TextRange>,
}

impl Default for MigrationPhase {
    fn default() -> MigrationPhase {
        MigrationPhase::new(Vec::new(), None)
    }
}

impl MigrationPhase {
    fn new(ops: Vec<OpPhase>, marker: Option<(Marker, TextRange)>) -> MigrationPhase {
        let (inferred, mixed) = Phase::combine(ops.iter().map(|o| o.phase));
        let phase = match marker {
            _ if inferred == Phase::Never => Phase::Never,
            Some((m, _)) => m.phase(),
            None => inferred,
        };
        MigrationPhase {
            phase,
            inferred,
            marker: marker.map(|(m, _)| m),
            marker_range: marker.map(|(_, r)| r),
            mixed,
            all_ops: ops.iter().map(|o| (o.range, o.phase)).collect(),
            silent: ops.iter().filter(|o| o.silent).map(|o| o.range).collect(),
            operations: ops.into_iter().filter(|o| o.phase != Phase::Any).collect(),
        }
    }

    /// The phase of the operation (or SQL statement) at `range`: the innermost one
    /// containing it, else the migration's.
    pub fn at(&self, range: TextRange) -> Phase {
        self.all_ops
            .iter()
            .filter(|(r, _)| r.contains_range(range) || r.start() == range.start())
            .min_by_key(|(r, _)| r.len())
            .map_or(self.phase, |(_, phase)| *phase)
    }
}

/// Every migration's phase, by key.
pub type PhaseMap = HashMap<MigrationKey, MigrationPhase>;

/// Infer the phase of every operation and migration of the project, replaying up to the
/// last migration `wanted` selects (migrations after it get no phase).
pub fn infer(project: &Project, sql: &SqlCache, wanted: &dyn Fn(usize) -> bool) -> PhaseMap {
    let mut map = PhaseMap::new();
    infer_each(project, sql, wanted, |index, phase, _| {
        if wanted(index) {
            if let Some(m) = project.migrations.get(index) {
                map.insert(m.key(), phase);
            }
        }
    });
    map
}

/// Like [`infer`], handing each migration's phase to `emit` (with its index into
/// `project.migrations`) as soon as its operations are replayed, in plan order: the
/// linter's own replay consumes them while this one runs ahead on another thread (and
/// may take a copy of the replay so far, handed to `emit` too, to go on from there).
/// Returns the state after the replay.
pub fn infer_each(
    project: &Project,
    sql: &SqlCache,
    wanted: &dyn Fn(usize) -> bool,
    mut emit: impl FnMut(usize, MigrationPhase, &Replayed),
) -> ProjectState {
    let ops: RefCell<Vec<OpPhase>> = RefCell::new(Vec::new());
    // Tables created by the SQL of the migration being replayed.
    let created_by_sql: RefCell<BTreeSet<String>> = RefCell::new(BTreeSet::new());
    project.replay_with(
        wanted,
        |visit| {
            if !visit.effect.touches_database() {
                return;
            }
            let mut out = ops.borrow_mut();
            if let OpKind::RunSQL { .. } = &visit.op.kind {
                let mut created_by_sql = created_by_sql.borrow_mut();
                for statement in sql.get(visit.migration, visit.op) {
                    for action in &statement.actions {
                        let new = |t: &str| {
                            created_by_sql.contains(t) || created_here_tables(visit).contains(t)
                        };
                        let phase = sql_phase(action, &new, visit, &project.settings);
                        if let SqlAction::CreateTable { table } = action {
                            created_by_sql.insert(table.clone());
                        }
                        // The reason of an `any` statement is never shown.
                        let reason = if phase == Phase::Any {
                            String::new()
                        } else {
                            format!("RunSQL `{}`", statement.text)
                        };
                        out.push(OpPhase {
                            range: statement.range,
                            phase,
                            reason,
                            silent: false,
                        });
                    }
                }
                return;
            }
            let (phase, reason) = op_phase(visit, &project.settings);
            out.push(OpPhase {
                range: visit.op.range(),
                phase,
                reason,
                silent: emits_no_sql(visit),
            });
        },
        |index, replayed| {
            created_by_sql.borrow_mut().clear();
            let all = std::mem::take(&mut *ops.borrow_mut());
            if let Some(m) = project.migrations.get(index) {
                emit(index, MigrationPhase::new(all, marker(m)), replayed);
            }
        },
    )
}

fn created_here_tables(visit: &Visit<'_>) -> BTreeSet<String> {
    visit
        .created_here
        .iter()
        .filter_map(|k| visit.state.get(k))
        .filter_map(|m| visit.state.table_of(m))
        .collect()
}

/// A Django operation's phase, from the state before it, and why. The reason of an `any`
/// operation is never shown (the report lists the operations that decide the phase), so
/// it is left empty.
fn op_phase(visit: &Visit<'_>, settings: &Settings) -> (Phase, String) {
    let op = visit.op;
    let app = visit.migration.app.as_str();
    let state: &ProjectState = visit.state;
    let is_new = |model: &str| {
        visit
            .created_here
            .iter()
            .any(|key| is_key_of(key, app, model))
    };
    let label = |model: &str, field: &str| format!("{} {}.{}", op.name(), model, field);
    // Operations on a model this migration deletes later (its constraints, foreign keys):
    // part of the drop, which decides the phase.
    if let Some(model) = op.model() {
        let is_drop = matches!(
            op.kind,
            OpKind::DeleteModel { .. } | OpKind::CreateModel { .. }
        );
        if !is_drop && visit.migration.deletes_model_after(op, model) {
            return (Phase::Any, String::new());
        }
    }
    match &op.kind {
        OpKind::CreateModel { name, .. } => {
            (Phase::Pre, format!("{} {name}: adds a table", op.name()))
        }
        OpKind::DeleteModel { name } => (
            Phase::Post,
            format!("{} {name}: drops a table the old code uses", op.name()),
        ),
        OpKind::RenameModel { old_name, new_name } => {
            let pinned = state
                .model(app, old_name)
                .is_some_and(|m| matches!(m.db_table, Some(Some(_))));
            if pinned {
                (Phase::Any, String::new())
            } else {
                (
                    Phase::Never,
                    format!("{} {old_name} → {new_name}: renames a table", op.name()),
                )
            }
        }
        OpKind::AlterModelTable { name, table } => {
            let old = state.model(app, name).and_then(|m| m.table());
            let new = match table {
                Some(Some(t)) => Some(t.clone()),
                Some(None) => Some(format!("{app}_{}", name.to_lowercase())),
                None => None,
            };
            if old.is_some() && new.is_some() && old != new {
                (
                    Phase::Never,
                    format!("{} {name}: renames a table", op.name()),
                )
            } else {
                (Phase::Any, String::new())
            }
        }
        OpKind::AddField {
            model_name,
            name,
            field,
        } => {
            let safe = is_new(model_name)
                || field.is_m2m()
                || field.null() != Some(false)
                || field.db_default().is_some();
            if field.is_m2m_through() {
                // The join table is a model of its own, created by its own operation.
                (
                    Phase::Any,
                    format!(
                        "{}: a many-to-many through an existing model, nothing in the database",
                        label(model_name, name)
                    ),
                )
            } else if field.is_m2m() {
                (
                    Phase::Pre,
                    format!("{}: adds a join table", label(model_name, name)),
                )
            } else if safe {
                (
                    Phase::Pre,
                    format!("{}: adds a column", label(model_name, name)),
                )
            } else {
                (
                    Phase::Never,
                    format!(
                        "{}: adds a NOT NULL column without a database default",
                        label(model_name, name)
                    ),
                )
            }
        }
        OpKind::RemoveField { model_name, name } => {
            let field = state.model(app, model_name).and_then(|m| m.field(name));
            match field {
                Some(f) if f.is_m2m_through() => (Phase::Any, String::new()),
                Some(f) if f.is_m2m() => (
                    Phase::Post,
                    format!("{}: drops a join table", label(model_name, name)),
                ),
                _ => (
                    Phase::Post,
                    format!("{}: drops a column", label(model_name, name)),
                ),
            }
        }
        OpKind::RenameField {
            model_name,
            old_name,
            new_name,
        } => {
            let pinned = state
                .model(app, model_name)
                .and_then(|m| m.field(old_name))
                .and_then(|f| f.db_column())
                .is_some_and(|c| c.is_some());
            if pinned {
                (Phase::Any, String::new())
            } else {
                (
                    Phase::Never,
                    format!(
                        "{} → {new_name}: renames a column",
                        label(model_name, old_name)
                    ),
                )
            }
        }
        OpKind::AlterField {
            model_name,
            name,
            field,
        } => {
            let Some(old) = state.model(app, model_name).and_then(|m| m.field(name)) else {
                return (Phase::Any, String::new());
            };
            if is_new(model_name) {
                return (Phase::Pre, label(model_name, name));
            }
            let mut phases = Vec::new();
            let mut why = Vec::new();
            if let (Some(a), Some(b)) = (old.column_ref(name), field.column_ref(name)) {
                if a != b {
                    phases.push(Phase::Never);
                    why.push("renames the column");
                }
            }
            if let (Some(a), Some(b)) = (
                state.column_type(app, old, settings),
                state.column_type(app, field, settings),
            ) {
                if a != b {
                    if crate::django::fields::DbType::holds_every_value_of(&b, &a) {
                        phases.push(Phase::Pre);
                        why.push("widens the column type");
                    } else {
                        phases.push(Phase::Never);
                        why.push("changes the column type");
                    }
                }
            }
            match (old.null(), field.null()) {
                (Some(true), Some(false)) => {
                    phases.push(Phase::Post);
                    why.push("makes the column NOT NULL");
                }
                (Some(false), Some(true)) => {
                    phases.push(Phase::Pre);
                    why.push("makes the column nullable");
                }
                _ => {}
            }
            if old.unique() == Some(false) && field.unique() == Some(true) {
                phases.push(Phase::Pre);
                why.push("adds a unique constraint");
            }
            let (phase, _) = Phase::combine(phases);
            let reason = if phase == Phase::Any {
                String::new()
            } else if why.is_empty() {
                label(model_name, name)
            } else {
                format!("{}: {}", label(model_name, name), why.join(", "))
            };
            (phase, reason)
        }
        OpKind::AlterUniqueTogether { name, .. }
        | OpKind::AddConstraint {
            model_name: name, ..
        }
        | OpKind::RemoveConstraint {
            model_name: name, ..
        }
        | OpKind::AlterConstraint {
            model_name: name, ..
        } => {
            if is_new(name) {
                (Phase::Pre, format!("{} {name}", op.name()))
            } else {
                (
                    Phase::Pre,
                    format!(
                        "{} {name}: changes a constraint the new code relies on",
                        op.name()
                    ),
                )
            }
        }
        OpKind::Extension { name } => (Phase::Pre, format!("{} {name}", op.name())),
        _ => (Phase::Any, String::new()),
    }
}

/// A SQL statement's phase.
fn sql_phase(
    action: &SqlAction,
    is_new: &dyn Fn(&str) -> bool,
    visit: &Visit<'_>,
    settings: &Settings,
) -> Phase {
    match action {
        // A CHECK proving columns NOT NULL on an existing table rejects the old release's
        // NULL writes, as SET NOT NULL does.
        SqlAction::AddConstraint {
            table,
            kind: crate::lint::sql::ConstraintKind::Check { not_null_columns },
            ..
        } if !not_null_columns.is_empty() && !is_new(table) => Phase::Post,
        SqlAction::CreateTable { .. } | SqlAction::AddConstraint { .. } => Phase::Pre,
        SqlAction::DropTable { .. }
        | SqlAction::DropColumn { .. }
        | SqlAction::SetNotNull { .. } => Phase::Post,
        SqlAction::RenameTable { .. } | SqlAction::RenameColumn { .. } => Phase::Never,
        SqlAction::AddColumn {
            table,
            not_null,
            has_default,
            ..
        } => {
            if *not_null && !*has_default && !is_new(table) {
                Phase::Never
            } else {
                Phase::Pre
            }
        }
        SqlAction::AlterColumnType {
            table,
            column,
            new_type,
        } => {
            let old = visit.state.column_type_by_table(table, column, settings);
            match old {
                Some(old)
                    if crate::django::fields::DbType::holds_every_value_of(new_type, &old) =>
                {
                    Phase::Pre
                }
                _ if is_new(table) => Phase::Pre,
                _ => Phase::Never,
            }
        }
        _ => Phase::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::{migration, project, with_initial};

    fn phase_of(files: &[(String, String)], name: &str) -> MigrationPhase {
        let project = project(files);
        let sql = SqlCache::build(&project);
        let mut phases = infer(&project, &sql, &|_| true);
        phases
            .remove(&("shop".to_string(), name.to_string()))
            .expect("migration has a phase")
    }

    fn with_marker(
        files: Vec<(String, String)>,
        import: &str,
        marker: &str,
    ) -> Vec<(String, String)> {
        files
            .into_iter()
            .map(|(p, t)| {
                (
                    p,
                    t.replace(
                        "    dependencies",
                        &format!("    {marker}\n    dependencies"),
                    )
                    .replace("from django.conf import settings", import),
                )
            })
            .collect()
    }

    #[test]
    fn infers_each_operation_phase() {
        let cases = [
            (
                r#"migrations.AddField("book", "x", models.IntegerField(null=True)),"#,
                Phase::Pre,
            ),
            (
                r#"migrations.AddField("book", "x", models.IntegerField(db_default=0)),"#,
                Phase::Pre,
            ),
            (
                r#"migrations.AddField("book", "x", models.IntegerField(default=0)),"#,
                Phase::Never,
            ),
            (
                r#"migrations.RemoveField("book", "subtitle"),"#,
                Phase::Post,
            ),
            (
                r#"migrations.RenameField("book", "title", "name"),"#,
                Phase::Never,
            ),
            (
                r#"migrations.AlterField("book", "subtitle", models.CharField(max_length=200)),"#,
                Phase::Post,
            ),
            (
                r#"migrations.AlterField("book", "title", models.CharField(max_length=300)),"#,
                Phase::Pre,
            ),
            (
                r#"migrations.AlterModelOptions("book", {"ordering": ["title"]}),"#,
                Phase::Any,
            ),
            (r#"migrations.DeleteModel("book"),"#, Phase::Post),
            (
                r#"migrations.RunSQL("ALTER TABLE shop_book DROP COLUMN isbn", migrations.RunSQL.noop),"#,
                Phase::Post,
            ),
            (
                r#"migrations.RunSQL("ALTER TABLE shop_book ADD COLUMN n int", migrations.RunSQL.noop),"#,
                Phase::Pre,
            ),
            (
                r#"migrations.RunPython(forwards, migrations.RunPython.noop),"#,
                Phase::Any,
            ),
        ];
        for (op, expected) in cases {
            let files = with_initial(migration(
                "0002_x",
                "0001_initial",
                &format!("        {op}"),
            ));
            assert_eq!(phase_of(&files, "0002_x").phase, expected, "{op}");
        }
    }

    #[test]
    fn a_many_to_many_through_a_model_changes_nothing_in_the_database() {
        let mut files = with_initial(migration(
            "0002_tags",
            "0001_initial",
            r#"        migrations.CreateModel(name="Tag", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel(name="BookTag", fields=[("id", models.AutoField(primary_key=True))]),"#,
        ));
        files.push(migration(
            "0003_m2m",
            "0002_tags",
            r#"        migrations.AddField("book", "tags", models.ManyToManyField(to="shop.Tag", through="shop.BookTag")),"#,
        ));
        files.push(migration(
            "0004_unm2m",
            "0003_m2m",
            r#"        migrations.RemoveField("book", "tags"),"#,
        ));
        assert_eq!(phase_of(&files, "0003_m2m").phase, Phase::Any);
        assert_eq!(phase_of(&files, "0004_unm2m").phase, Phase::Any);
        let mut plain = files.clone();
        plain[2].1 = plain[2].1.replace(", through=\"shop.BookTag\"", "");
        let p = phase_of(&plain, "0003_m2m");
        assert_eq!(p.phase, Phase::Pre);
        assert!(
            p.operations[0].reason.contains("adds a join table"),
            "{p:?}"
        );
    }

    #[test]
    fn pre_and_post_together_is_mixed_and_never() {
        let files = with_initial(migration(
            "0002_x",
            "0001_initial",
            r#"        migrations.AddField("book", "x", models.IntegerField(null=True)),
        migrations.RemoveField("book", "subtitle"),"#,
        ));
        let p = phase_of(&files, "0002_x");
        assert!(p.mixed);
        assert_eq!(p.phase, Phase::Never);
    }

    #[test]
    fn markers_override_inference_but_never_hide_never() {
        let add = with_initial(migration(
            "0002_x",
            "0001_initial",
            r#"        migrations.AddField("book", "x", models.IntegerField(null=True)),"#,
        ));
        let safemigrate = "from django_safemigrate import Safe";
        let syzygy = "from syzygy import Stage";
        let cases = [
            (
                safemigrate,
                "safe = Safe.after_deploy()",
                Phase::Post,
                Some(Marker::AfterDeploy),
            ),
            (
                safemigrate,
                "safe = Safe.after_deploy",
                Phase::Post,
                Some(Marker::AfterDeploy),
            ),
            (
                safemigrate,
                "safe = Safe.always()",
                Phase::Any,
                Some(Marker::Always),
            ),
            (
                safemigrate,
                "safe = Safe.before_deploy()",
                Phase::Pre,
                Some(Marker::BeforeDeploy),
            ),
            (
                syzygy,
                "stage = Stage.POST_DEPLOY",
                Phase::Post,
                Some(Marker::AfterDeploy),
            ),
            (
                syzygy,
                "stage = Stage.PRE_DEPLOY",
                Phase::Pre,
                Some(Marker::BeforeDeploy),
            ),
            (
                safemigrate,
                "unrelated = Safe.after_deploy()",
                Phase::Pre,
                None,
            ),
            (
                "",
                "is_post_deployment = True",
                Phase::Post,
                Some(Marker::AfterDeploy),
            ),
            ("", "is_post_deployment = False", Phase::Pre, None),
        ];
        for (import, marker, phase, expected) in cases {
            let p = phase_of(&with_marker(add.clone(), import, marker), "0002_x");
            assert_eq!((p.phase, p.marker), (phase, expected), "{marker}");
            assert_eq!(p.inferred, Phase::Pre);
        }
        let rename = with_initial(migration(
            "0002_x",
            "0001_initial",
            r#"        migrations.RenameField("book", "title", "name"),"#,
        ));
        let p = phase_of(
            &with_marker(rename, safemigrate, "safe = Safe.always()"),
            "0002_x",
        );
        assert_eq!((p.phase, p.marker), (Phase::Never, Some(Marker::Always)));
    }
}
