//! What a rule is: its metadata (name, severity, documentation) and the hooks the
//! linter calls — once per operation with the state before it, once per migration.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use ruff_text_size::TextRange;
use serde::Serialize;

use crate::django::fields::DbType;
use crate::django::graph::MigrationGraph;
use crate::django::migration::{Dependency, MigrationFile, Settings};
use crate::django::operations::{OpKind, Operation};
use crate::django::python::Value;
use crate::django::state::{
    is_key_of, lower_name, model_key, AppVersion, ModelKey, ModelState, ProjectState,
};
use crate::django::{Effect, Visit};
use crate::lint::phase::{Marker, MigrationPhase, Phase};
use crate::lint::sql::{SqlAction, SqlStatement};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not a problem: a fact the reviewer should know (history outside the tree, ...).
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The axis a rule judges, from the rule catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Axis {
    /// Old code breaks against the new schema.
    Compatibility,
    /// The DDL holds a lock that stalls live traffic.
    Locking,
    CompatibilityAndLocking,
    /// Django cannot build or run the migration graph.
    Graph,
    /// migrail cannot read the input.
    Input,
    /// The migration fails when it runs.
    Runtime,
    /// The deploy phases of a migration's operations conflict.
    Phase,
}

impl Axis {
    pub fn as_str(self) -> &'static str {
        match self {
            Axis::Compatibility => "compatibility",
            Axis::Locking => "locking",
            Axis::CompatibilityAndLocking => "compatibility+locking",
            Axis::Graph => "graph",
            Axis::Input => "input",
            Axis::Runtime => "runtime",
            Axis::Phase => "phase",
        }
    }
}

pub struct RuleMeta {
    /// The stable identifier used in configuration, suppressions, JSON and SARIF.
    pub name: &'static str,
    pub severity: Severity,
    pub axis: Axis,
    /// One line: what the rule catches.
    pub summary: &'static str,
    /// Markdown: why it is unsafe, what happens in production, the safe alternative.
    pub doc: &'static str,
    /// What `migrail run`'s preflight looks for before the operation takes its lock, when
    /// its success depends on the rows (`"NULL rows"`): the help says so.
    pub preflight: Option<&'static str>,
    /// The engines the rule judges for: a rule about PostgreSQL's locks says nothing on
    /// MySQL, where other rules judge the same operations.
    pub engines: Engines,
}

/// Which databases a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engines {
    All,
    Postgresql,
    /// MySQL and MariaDB.
    Mysql,
}

impl Engines {
    pub fn includes(self, database: &crate::django::database::Database) -> bool {
        match self {
            Engines::All => true,
            Engines::Postgresql => database.is_postgresql(),
            Engines::Mysql => database.is_mysql(),
        }
    }

    /// For the documentation: "all", "PostgreSQL", "MySQL and MariaDB".
    pub fn describe(self) -> &'static str {
        match self {
            Engines::All => "PostgreSQL, MySQL and MariaDB",
            Engines::Postgresql => "PostgreSQL only (on MySQL and MariaDB, `mysql-table-copy` and `mysql-partial-migration` judge these operations)",
            Engines::Mysql => "MySQL and MariaDB only",
        }
    }
}

/// One problem a rule found, before it is placed in a file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// The whole construct (the operation call).
    pub range: TextRange,
    /// The part to underline (the callee, or the offending argument).
    pub focus: TextRange,
    pub message: String,
    pub help: Option<String>,
    /// `Some(Info)` for notes ("cannot tell: history unknown") the rule emits instead of a verdict.
    pub severity: Option<Severity>,
    /// What `migrail fix` writes instead of the operation at `range` (see `crate::fix`).
    pub fix: Option<crate::fix::Fix>,
}

impl Diagnostic {
    pub fn new(range: TextRange, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            range,
            focus: range,
            message: message.into(),
            help: None,
            severity: None,
            fix: None,
        }
    }

    pub fn at_operation(op: &Operation, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            focus: op.call.callee_range,
            ..Diagnostic::new(op.range(), message)
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The fix `migrail fix` applies (the same code the help shows).
    pub fn with_fix(mut self, fix: crate::fix::Fix) -> Diagnostic {
        self.fix = Some(fix);
        self
    }

    /// [`Diagnostic::with_fix`], unless the fix cannot be applied mechanically (`refused`):
    /// then the help alone.
    pub fn with_fix_unless(self, refused: bool, fix: crate::fix::Fix) -> Diagnostic {
        if refused {
            self
        } else {
            self.with_fix(fix)
        }
    }

    pub fn info(mut self) -> Diagnostic {
        self.severity = Some(Severity::Info);
        self
    }
}

pub trait Rule: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Called for every operation of a reviewed migration, nested ones included.
    fn check_operation(&self, _ctx: &OpContext<'_>, _out: &mut Vec<Diagnostic>) {}

    /// Called once for every reviewed migration.
    fn check_migration(&self, _ctx: &MigrationContext<'_>, _out: &mut Vec<Diagnostic>) {}

    /// Called for every action of every SQL statement of a reviewed `RunSQL` that
    /// touches the database (its forward `sql`).
    fn check_sql(
        &self,
        _ctx: &SqlContext<'_, '_>,
        _action: &SqlAction,
        _out: &mut Vec<Diagnostic>,
    ) {
    }
}

/// What a rule sees of one operation.
pub struct OpContext<'a> {
    pub visit: &'a Visit<'a>,
    pub settings: &'a Settings,
    /// The deploy phase of the migration the operation belongs to.
    pub phase: &'a MigrationPhase,
    /// The project deploys in phases (`deploy-phases = true`).
    pub deploy_phases: bool,
    /// `(table, column)` pairs a validated `CHECK (column IS NOT NULL)` proves, from the
    /// SQL replayed so far (this and earlier migrations).
    pub proven_not_null: &'a RefCell<BTreeSet<(String, String)>>,
    memo: &'a ReplayMemo,
    /// The last model looked up and what was found: the rules of one operation ask for
    /// the same model over and over.
    last_model: RefCell<Option<(String, Option<&'a ModelState>)>>,
}

/// What the rules' replay carries from one operation to the next.
#[derive(Default)]
pub struct ReplayMemo {
    /// See [`OpContext::proven_not_null`].
    pub proven_not_null: RefCell<BTreeSet<(String, String)>>,
    /// App -> the apps whose migrations name it in `dependencies` (and the apps its
    /// `run_before` names).
    required_by: HashMap<String, Vec<String>>,
    /// The apps with a dependency migrail cannot resolve: they may depend on any app.
    unresolved: Vec<String>,
    /// [`ReplayMemo::apps_depending_on`]'s answers.
    dependents: RefCell<HashMap<String, Rc<BTreeSet<String>>>>,
    /// [`OpContext::columns_pointing_to`]'s scan for one migration (its index) and app.
    relations_to: RefCell<Option<(usize, String, RelationsTo)>>,
    /// The foreign keys of each app's models, for the version of its models they were
    /// read from (see [`OpContext::relations_of`]).
    relations_of: RefCell<HashMap<String, (AppVersion, Rc<RelationsFrom>)>>,
    /// [`OpContext::schema_changes_before`]: the migration (its index) and what of its
    /// operations so far changed the schema.
    schema_changes: RefCell<Option<(usize, Vec<String>)>>,
}

/// Foreign key columns `(table, column)` by the model they point at.
type RelationsTo = HashMap<ModelKey, Vec<(String, String)>>;

/// The foreign keys of one app's models, by the app they point into.
type RelationsFrom = HashMap<String, Vec<Relation>>;

/// A foreign key of one app's model, pointing at the primary key of `target`.
struct Relation {
    target: ModelKey,
    /// The model holding it (its lower-cased name) and its column.
    model: String,
    column: String,
}

impl ReplayMemo {
    pub fn new(migrations: &[MigrationFile]) -> ReplayMemo {
        let mut required_by: HashMap<String, Vec<String>> = HashMap::new();
        let mut unresolved: BTreeSet<&str> = BTreeSet::new();
        let mut edge = |from: &str, to: &str| {
            if from == to {
                return;
            }
            match required_by.get_mut(to) {
                Some(dependents) if dependents.last().is_some_and(|last| last == from) => {}
                Some(dependents) => dependents.push(from.to_string()),
                None => {
                    required_by.insert(to.to_string(), vec![from.to_string()]);
                }
            }
        };
        for m in migrations {
            for d in &m.dependencies {
                match d {
                    Dependency::Node { app, .. } => edge(&m.app, app),
                    Dependency::Unresolved { .. } => {
                        unresolved.insert(&m.app);
                    }
                }
            }
            for d in &m.run_before {
                if let Dependency::Node { app, .. } = d {
                    edge(app, &m.app);
                }
            }
        }
        ReplayMemo {
            required_by,
            unresolved: unresolved.into_iter().map(str::to_string).collect(),
            ..ReplayMemo::default()
        }
    }

    /// `app` and every app depending on it, directly or not, sorted; apps with a
    /// dependency migrail cannot resolve are counted in (and so the apps depending on
    /// them).
    fn apps_depending_on(&self, app: &str) -> Rc<BTreeSet<String>> {
        if let Some(known) = self.dependents.borrow().get(app) {
            return known.clone();
        }
        let mut found: BTreeSet<String> = BTreeSet::from([app.to_string()]);
        found.extend(self.unresolved.iter().cloned());
        let mut next: Vec<String> = found.iter().cloned().collect();
        while let Some(to) = next.pop() {
            for from in self.required_by.get(&to).into_iter().flatten() {
                if !found.contains(from) {
                    found.insert(from.clone());
                    next.push(from.clone());
                }
            }
        }
        let found = Rc::new(found);
        self.dependents
            .borrow_mut()
            .insert(app.to_string(), found.clone());
        found
    }
}

/// What a rule sees of a model an operation names.
pub enum ModelLookup<'a> {
    /// The model is in the replayed state.
    Known(&'a ModelState),
    /// The model's history is not in the scanned tree (or was computed at run time).
    Unknown,
}

impl<'a> OpContext<'a> {
    pub fn new(
        visit: &'a Visit<'a>,
        settings: &'a Settings,
        phase: &'a MigrationPhase,
        deploy_phases: bool,
        memo: &'a ReplayMemo,
    ) -> OpContext<'a> {
        OpContext {
            visit,
            settings,
            phase,
            deploy_phases,
            proven_not_null: &memo.proven_not_null,
            memo,
            last_model: RefCell::new(None),
        }
    }

    /// The `(table, column)` of every foreign key column of the state pointing at the
    /// primary key of `key` (not through `to_field`), in model order. Only the apps that
    /// depend on `key`'s app (as a relation's migration must, for Django to load it) are
    /// read, not the whole state.
    pub fn columns_pointing_to(&self, key: &ModelKey) -> Vec<(String, String)> {
        // Django's primary-key upgrade is one migration of `AlterField`s, one per model of
        // the app: none changes a relation, so one scan serves them all.
        let relations_unchanged = self.visit.migration.operations.iter().all(|op| {
            matches!(&op.kind, OpKind::AlterField { field, .. }
                if !field.is_relation() && !field.is_m2m())
        });
        if !relations_unchanged {
            return self
                .scan_relations_to(&key.0)
                .remove(key)
                .unwrap_or_default();
        }
        let mut memo = self.memo.relations_to.borrow_mut();
        let fresh =
            matches!(&*memo, Some((index, app, _)) if *index == self.visit.index && *app == key.0);
        if !fresh {
            *memo = Some((
                self.visit.index,
                key.0.clone(),
                self.scan_relations_to(&key.0),
            ));
        }
        memo.as_ref()
            .and_then(|(_, _, map)| map.get(key).cloned())
            .unwrap_or_default()
    }

    /// Every foreign key column pointing at a model of `app`, by target model: only the
    /// apps that depend on `app` (as a relation's migration must, for Django to load it)
    /// are read, not the whole state.
    fn scan_relations_to(&self, app: &str) -> RelationsTo {
        let state = self.visit.state;
        let mut found = RelationsTo::new();
        for from in self.memo.apps_depending_on(app).iter() {
            let relations = self.relations_of(from);
            for r in relations.get(app).into_iter().flatten() {
                let model = state.model(from, &r.model);
                if let Some(table) = model.and_then(|m| state.table_of(m)) {
                    found
                        .entry(r.target.clone())
                        .or_default()
                        .push((table, r.column.clone()));
                }
            }
        }
        found
    }

    /// The foreign keys of `app`'s models pointing at a primary key (not through
    /// `to_field`), by the app they point into, in model order: read once for each
    /// version of the app's models (a big tree asks this of the same apps for every
    /// primary-key upgrade).
    fn relations_of(&self, app: &str) -> Rc<RelationsFrom> {
        let state = self.visit.state;
        let version = state.app_version(app);
        if let Some((seen, relations)) = self.memo.relations_of.borrow().get(app) {
            if *seen == version {
                return relations.clone();
            }
        }
        let mut relations = RelationsFrom::new();
        for m in state.models_of(app) {
            for (name, f) in m.fields.iter() {
                let Some(target) = f.call.arg(Some(0), "to") else {
                    continue;
                };
                let key = match &target.value {
                    Value::Str(s) if s == "self" => Some(model_key(&m.app, &m.name)),
                    other => ProjectState::resolve_target(other, &m.app, self.settings),
                };
                let Some(target) = key else {
                    continue;
                };
                if !f.is_relation() || f.call.kwarg("to_field").is_some() {
                    continue;
                }
                if let Some(column) = f.column(name) {
                    relations
                        .entry(target.0.clone())
                        .or_default()
                        .push(Relation {
                            target,
                            model: lower_name(&m.name).into_owned(),
                            column,
                        });
                }
            }
        }
        let relations = Rc::new(relations);
        self.memo
            .relations_of
            .borrow_mut()
            .insert(app.to_string(), (version, relations.clone()));
        relations
    }

    /// A validated `CHECK (column IS NOT NULL)` on `table` exists (from RunSQL).
    pub fn not_null_proven(&self, table: &str, column: &str) -> bool {
        self.proven_not_null
            .borrow()
            .contains(&(table.to_string(), column.to_string()))
    }

    pub fn op(&self) -> &'a Operation {
        self.visit.op
    }

    pub fn migration(&self) -> &'a MigrationFile {
        self.visit.migration
    }

    pub fn app(&self) -> &'a str {
        &self.visit.migration.app
    }

    pub fn effect(&self) -> Effect {
        self.visit.effect
    }

    pub fn touches_database(&self) -> bool {
        self.visit.effect.touches_database()
    }

    pub fn model(&self, name: &str) -> ModelLookup<'a> {
        let mut last = self.last_model.borrow_mut();
        let found = match &*last {
            Some((last_name, found)) if last_name == name => *found,
            _ => {
                let state: &'a ProjectState = self.visit.state;
                let found = state.model(self.app(), name);
                *last = Some((name.to_string(), found));
                found
            }
        };
        match found {
            Some(m) => ModelLookup::Known(m),
            None => ModelLookup::Unknown,
        }
    }

    /// A table or column name quoted for the project's database, for SQL in helps and
    /// fixes: `"shop_book"` on PostgreSQL, `` `shop_book` `` on MySQL and MariaDB.
    pub fn quote(&self, name: &str) -> String {
        if self.settings.database.is_mysql() {
            crate::lint::rules::mysql_ident(name)
        } else {
            crate::lint::rules::ident(name)
        }
    }

    /// The operations of this migration before this one that changed the schema (as
    /// `record`ed by the caller for each operation, in order), then `record` for this one.
    /// The earlier operations' states are gone by now: each is judged on its own turn.
    pub fn schema_changes_before(&self, record: Option<String>) -> Vec<String> {
        let mut memo = self.memo.schema_changes.borrow_mut();
        let index = self.visit.index;
        if memo.as_ref().is_none_or(|(i, _)| *i != index) {
            *memo = Some((index, Vec::new()));
        }
        let Some((_, seen)) = memo.as_mut() else {
            return Vec::new();
        };
        let before = seen.clone();
        seen.extend(record);
        before
    }

    /// The model was created earlier in this same migration: no old code can use its table.
    pub fn is_new_table(&self, name: &str) -> bool {
        let app = self.app();
        self.visit
            .created_here
            .iter()
            .any(|key| is_key_of(key, app, name))
    }

    /// True when the operation cannot affect live traffic on this model's table: the table
    /// is new in this migration, or Django does not manage a table for it (unmanaged, proxy).
    pub fn table_is_exempt(&self, name: &str) -> bool {
        if self.is_new_table(name) {
            return true;
        }
        match self.model(name) {
            ModelLookup::Known(m) => m.has_table() == Some(false),
            ModelLookup::Unknown => false,
        }
    }

    /// The source text of `range` in the operation's file, as the user wrote it.
    pub fn source_text(&self, range: TextRange) -> &'a str {
        let text = self.visit.migration.source.text.as_str();
        text.get(usize::from(range.start())..usize::from(range.end()))
            .unwrap_or("")
    }

    /// The database column of field `field` of `model` in the state (the field name
    /// with `_id` for a relation, `db_column` when pinned), else the name itself.
    pub fn column_of(&self, model: &str, field: &str) -> String {
        match self.model(model) {
            ModelLookup::Known(m) => m
                .field(field)
                .and_then(|f| f.column(field))
                .unwrap_or_else(|| field.to_string()),
            ModelLookup::Unknown => field.to_string(),
        }
    }

    /// A later operation of the same migration deletes model `name` (Django's
    /// autodetector removes a model's foreign keys first, then the model): the table's
    /// drop owns what happens to its columns.
    pub fn deleted_later_in_migration(&self, name: &str) -> bool {
        self.migration().deletes_model_after(self.op(), name)
    }

    /// Field `field` of `model` was added earlier in this same migration: the old
    /// release has never seen its column.
    pub fn field_added_here(&self, model: &str, field: &str) -> bool {
        self.migration().adds_field_before(self.op(), model, field)
    }

    /// The migration is an accepted `post` migration: it runs after the rollout, because
    /// the project deploys in phases or the migration says so with an explicit marker.
    pub fn accepted_post(&self) -> bool {
        self.phase.phase == Phase::Post
            && (self.deploy_phases || self.phase.marker == Some(Marker::AfterDeploy))
    }

    /// The table name for messages: from the state, or Django's default when unknown.
    pub fn table_name(&self, name: &str) -> String {
        match self.model(name) {
            ModelLookup::Known(m) => m
                .table()
                .unwrap_or_else(|| crate::django::state::default_table(self.app(), name)),
            ModelLookup::Unknown => crate::django::state::default_table(self.app(), name),
        }
    }

    /// `Book` for messages: the model's own spelling when known.
    pub fn model_label(&self, name: &str) -> String {
        match self.model(name) {
            ModelLookup::Known(m) => format!("{}.{}", m.app, m.name),
            ModelLookup::Unknown => format!("{}.{}", self.app(), name),
        }
    }
}

/// What a rule sees of one migration.
pub struct MigrationContext<'a> {
    pub migration: &'a MigrationFile,
    pub graph: &'a MigrationGraph,
    pub duplicate_labels: &'a [crate::django::DuplicateLabel],
    pub phase: &'a MigrationPhase,
    pub sql: &'a crate::lint::sql::SqlCache,
    /// What the base branch has of the migrations the change touches (reviewed against a
    /// base).
    pub applied: Option<&'a crate::lint::rules::edited_applied_migration::BaseVersions>,
}

/// What a rule sees of one SQL statement of a `RunSQL`.
pub struct SqlContext<'s, 'a> {
    pub op: &'s OpContext<'a>,
    pub statement: &'s SqlStatement,
    /// Tables created earlier in the same migration (`CreateModel` or `CREATE TABLE`).
    pub new_tables: &'s BTreeSet<String>,
    /// Tables an earlier `RunSQL` renamed: new name -> the name the state knows.
    pub renamed: &'s std::collections::BTreeMap<String, String>,
}

impl<'a> SqlContext<'_, 'a> {
    /// A diagnostic pointing at the statement inside the SQL string.
    pub fn diagnostic(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.statement.range, message)
    }

    /// No old code can use this table: created in the same migration.
    pub fn is_new_table(&self, table: &str) -> bool {
        self.new_tables.contains(table)
    }

    /// [`OpContext::quote`].
    pub fn quote(&self, name: &str) -> String {
        self.op.quote(name)
    }

    /// The name the state knows `table` by: itself, or what it was before an earlier
    /// `RunSQL` renamed it.
    pub fn state_table<'t>(&'t self, table: &'t str) -> &'t str {
        let state = self.op.visit.state;
        if state.model_by_table(table).is_some() || state.join_table_owner(table).is_some() {
            return table;
        }
        self.renamed.get(table).map_or(table, String::as_str)
    }

    /// The model whose table this is, in the state before the `RunSQL`.
    pub fn model_for_table(&self, table: &str) -> Option<&'a ModelState> {
        self.op.visit.state.model_by_table(self.state_table(table))
    }

    /// The model and many-to-many field whose join table this is.
    pub fn join_table_owner(&self, table: &str) -> Option<(&'a ModelState, &'a str)> {
        self.op
            .visit
            .state
            .join_table_owner(self.state_table(table))
    }

    /// The model and field (name, definition) owning `table.column`.
    pub fn field_for_column(
        &self,
        table: &str,
        column: &str,
    ) -> Option<(&'a ModelState, &'a str, &'a crate::django::fields::FieldDef)> {
        self.op
            .visit
            .state
            .field_by_column(self.state_table(table), column)
    }

    /// The current type of `table.column`, when the state knows it.
    pub fn column_type(&self, table: &str, column: &str) -> Option<DbType> {
        self.op
            .visit
            .state
            .column_type_by_table(self.state_table(table), column, self.op.settings)
    }
}
