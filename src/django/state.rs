//! The model state: what Django's `ProjectState` knows about each model, rebuilt by
//! replaying operations in graph order.
//!
//! Only what the rules and the `state` command need is kept: the table name, the fields
//! as declared (see [`FieldDef`] for what is derived from them), `managed`/`proxy`, and
//! the together-sets, indexes and constraints. A model the replay never saw created
//! (its app is outside the scanned tree) is simply absent: callers treat absence as
//! "unknown", never as "new".

use std::collections::BTreeMap;

use serde::Serialize;

use super::fields::{DbType, FieldDef};
use super::migration::Settings;
use super::operations::{
    constraint_def, index_def, normalize_together, ConstraintDef, IndexDef, OpKind, Operation,
};
use super::python::{Spanned, Value};

/// `(app_label, lower-cased model name)`, as Django keys `ProjectState.models`.
pub type ModelKey = (String, String);

pub fn model_key(app: &str, name: &str) -> ModelKey {
    (app.to_string(), name.to_lowercase())
}

/// A model name lower-cased as Django keys it, without a copy when it already is
/// (operations other than `CreateModel` name models so, and the replay asks constantly).
pub fn lower_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        std::borrow::Cow::Owned(name.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// `key` is model `name` (any case) of `app`: for the few models created in one migration.
pub fn is_key_of(key: &ModelKey, app: &str, name: &str) -> bool {
    key.0 == app && key.1 == lower_name(name)
}

#[derive(Clone, Debug)]
pub struct ModelState {
    pub app: String,
    pub name: String,
    /// Shared with the `CreateModel` that made it until an operation changes them.
    pub fields: super::fields::Fields,
    /// `Some(None)`: Django's default table name; `None`: not statically known.
    pub db_table: Option<Option<String>>,
    pub managed: Option<bool>,
    pub proxy: Option<bool>,
    pub unique_together: Option<Vec<Vec<String>>>,
    pub index_together: Option<Vec<Vec<String>>>,
    pub indexes: Vec<IndexDef>,
    pub constraints: Vec<ConstraintDef>,
    /// False when an operation migrail cannot read may have changed this model (a custom
    /// operation in its app, fields or operations computed at run time).
    pub complete: bool,
    /// For a proxy model: the model it proxies (its table is that model's).
    pub proxy_for: Option<ModelKey>,
}

/// The table of a model migrail has no state for (Django's contrib apps, whose migrations
/// a project does not ship): the `db_table` Django's own models set, else Django's default
/// `<app_label>_<model_name>`.
pub fn default_table(app: &str, model: &str) -> String {
    let model = model.to_lowercase();
    let contrib = match (app, model.as_str()) {
        ("sites", "site") => Some("django_site"),
        ("contenttypes", "contenttype") => Some("django_content_type"),
        ("sessions", "session") => Some("django_session"),
        ("admin", "logentry") => Some("django_admin_log"),
        ("redirects", "redirect") => Some("django_redirect"),
        ("flatpages", "flatpage") => Some("django_flatpage"),
        _ => None,
    };
    contrib.map_or_else(|| format!("{app}_{model}"), str::to_string)
}

impl ModelState {
    /// Django's `Meta.db_table`: explicit, or `<app_label>_<model_name>` lower-cased.
    pub fn table(&self) -> Option<String> {
        match &self.db_table {
            Some(Some(t)) => Some(t.clone()),
            Some(None) => Some(format!("{}_{}", self.app, self.name.to_lowercase())),
            None => None,
        }
    }

    /// `self.table() == Some(table)`, without building the default name.
    pub fn has_table_named(&self, table: &str) -> bool {
        match &self.db_table {
            Some(Some(t)) => t == table,
            Some(None) if self.name.is_ascii() => table
                .strip_prefix(self.app.as_str())
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|rest| {
                    rest.eq_ignore_ascii_case(&self.name)
                        && !rest.bytes().any(|b| b.is_ascii_uppercase())
                }),
            Some(None) => self.table().as_deref() == Some(table),
            None => false,
        }
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// True when Django creates and alters a table for this model (managed, not a proxy).
    /// `None` when an option is not statically known.
    pub fn has_table(&self) -> Option<bool> {
        Some(self.managed? && !self.proxy?)
    }
}

/// The models, by app label, then by lower-cased model name. Apps are hashed (the replay
/// looks a model up for nearly every operation and rule); the models of one app stay
/// ordered, and every listing sorts the apps, so no output depends on hashing.
#[derive(Debug)]
pub struct ProjectState {
    /// Models are boxed: a B-tree node holds eleven entries, and most apps have only a
    /// few models, so unboxed (hundreds of bytes each) every app would cost kilobytes of
    /// fresh memory, and a big tree's replay tens of megabytes.
    apps: rustc_hash::FxHashMap<String, BTreeMap<String, Box<ModelState>>>,
    /// This state's identity (a clone gets its own): see [`AppVersion`].
    id: u64,
    /// Changes so far, and the last change of each app's models.
    clock: u64,
    changed: rustc_hash::FxHashMap<String, u64>,
}

/// Which version of one app's models a state holds: two equal versions are the same
/// models (what a rule derived from them still holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppVersion {
    state: u64,
    change: u64,
}

fn new_state_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Default for ProjectState {
    fn default() -> ProjectState {
        ProjectState {
            apps: Default::default(),
            id: new_state_id(),
            clock: 0,
            changed: Default::default(),
        }
    }
}

impl Clone for ProjectState {
    fn clone(&self) -> ProjectState {
        ProjectState {
            apps: self.apps.clone(),
            id: new_state_id(),
            clock: self.clock,
            changed: self.changed.clone(),
        }
    }
}

fn option<'a>(options: &'a [(String, Spanned)], key: &str) -> Option<&'a Value> {
    options
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| &v.value)
}

impl ProjectState {
    pub fn model(&self, app: &str, name: &str) -> Option<&ModelState> {
        self.apps
            .get(app)?
            .get(lower_name(name).as_ref())
            .map(|m| &**m)
    }

    /// The model under `key` (`(app, lower-cased name)`).
    pub fn get(&self, key: &ModelKey) -> Option<&ModelState> {
        self.apps.get(&key.0)?.get(&key.1).map(|m| &**m)
    }

    pub fn contains_key(&self, key: &ModelKey) -> bool {
        self.get(key).is_some()
    }

    /// Every model, ordered by app label and model name.
    /// The models of one app, by name.
    pub fn models_of(&self, app: &str) -> impl Iterator<Item = &ModelState> {
        self.apps
            .get(app)
            .into_iter()
            .flat_map(|models| models.values().map(|m| &**m))
    }

    pub fn models(&self) -> impl Iterator<Item = &ModelState> {
        let mut apps: Vec<(&String, &BTreeMap<String, Box<ModelState>>)> =
            self.apps.iter().collect();
        apps.sort_unstable_by_key(|(app, _)| *app);
        apps.into_iter()
            .flat_map(|(_, models)| models.values().map(|m| &**m))
    }

    /// The version of `app`'s models this state holds.
    pub fn app_version(&self, app: &str) -> AppVersion {
        AppVersion {
            state: self.id,
            change: self.changed.get(app).copied().unwrap_or(0),
        }
    }

    /// Every change to an app's models goes through here first.
    fn changing(&mut self, app: &str) {
        self.clock += 1;
        match self.changed.get_mut(app) {
            Some(change) => *change = self.clock,
            None => {
                self.changed.insert(app.to_string(), self.clock);
            }
        }
    }

    fn insert(&mut self, key: ModelKey, model: Box<ModelState>) {
        self.changing(&key.0);
        self.apps.entry(key.0).or_default().insert(key.1, model);
    }

    fn remove(&mut self, key: &ModelKey) -> Option<Box<ModelState>> {
        self.changing(&key.0);
        self.apps.get_mut(&key.0)?.remove(&key.1)
    }

    /// Resolve a relation target (`"app.Model"`, `"Model"`, `settings.AUTH_USER_MODEL`)
    /// written in `app` to a model key.
    pub fn resolve_target(target: &Value, app: &str, settings: &Settings) -> Option<ModelKey> {
        let text = match target {
            Value::Str(s) => s.as_str(),
            Value::Ref(r) => settings.resolve_model_setting(r)?,
            _ => return None,
        };
        match text.split_once('.') {
            Some((a, m)) => Some(model_key(a, m)),
            None if text == "self" => None,
            None => Some(model_key(app, text)),
        }
    }

    /// Apply one operation's effect on the state (as Django's `state_forwards`).
    /// `SeparateDatabaseAndState` applies its `state_operations`; `RunSQL` its `state_operations`.
    pub fn apply(&mut self, app: &str, op: &Operation) {
        match &op.kind {
            OpKind::CreateModel {
                name,
                fields,
                complete,
                options,
                bases,
            } => {
                let together = |k: &str| match option(options, k) {
                    None => Some(Vec::new()),
                    Some(v) => normalize_together(v),
                };
                let list = |k: &str| -> Vec<Spanned> {
                    option(options, k)
                        .and_then(|v| v.as_seq())
                        .map(<[Spanned]>::to_vec)
                        .unwrap_or_default()
                };
                let db_table = match option(options, "db_table") {
                    None | Some(Value::None) => Some(None),
                    Some(Value::Str(t)) => Some(Some(t.to_string())),
                    Some(_) => None,
                };
                let flag = |k: &str, default: bool| match option(options, k) {
                    None => Some(default),
                    Some(v) => v.truthy(),
                };
                // A proxy's table is its concrete parent's: the first model among the bases.
                let proxy_for = bases.iter().filter_map(|b| b.value.as_str()).find_map(|b| {
                    let (base_app, base_model) = b.split_once('.').unwrap_or((app, b));
                    let key = model_key(base_app, base_model);
                    self.contains_key(&key).then_some(key)
                });
                let model = ModelState {
                    app: app.to_string(),
                    name: name.clone(),
                    fields: fields.clone(),
                    db_table,
                    managed: flag("managed", true),
                    proxy: flag("proxy", false),
                    unique_together: together("unique_together"),
                    index_together: together("index_together"),
                    indexes: list("indexes")
                        .iter()
                        .filter_map(|v| index_def(&v.value))
                        .collect(),
                    constraints: list("constraints")
                        .iter()
                        .filter_map(|v| constraint_def(&v.value))
                        .collect(),
                    complete: *complete,
                    proxy_for,
                };
                self.insert(model_key(app, name), Box::new(model));
            }
            OpKind::DeleteModel { name } => {
                self.remove(&model_key(app, name));
            }
            OpKind::RenameModel { old_name, new_name } => {
                if let Some(mut model) = self.remove(&model_key(app, old_name)) {
                    model.name = new_name.clone();
                    self.insert(model_key(app, new_name), model);
                }
            }
            OpKind::AlterModelTable { name, table } => {
                if let Some(m) = self.model_mut(app, name) {
                    m.db_table = table.clone();
                }
            }
            // Django replaces its `ALTER_OPTION_KEYS` wholesale: an absent `managed` is True.
            OpKind::AlterModelOptions { name, options } => {
                if let Some(m) = self.model_mut(app, name) {
                    m.managed = match option(options, "managed") {
                        None => Some(true),
                        Some(v) => v.truthy(),
                    };
                }
            }
            OpKind::StateOnlyModelChange { .. } => {}
            OpKind::AlterUniqueTogether { name, together } => {
                if let Some(m) = self.model_mut(app, name) {
                    m.unique_together = together.clone();
                }
            }
            OpKind::AlterIndexTogether { name, together } => {
                if let Some(m) = self.model_mut(app, name) {
                    m.index_together = together.clone();
                }
            }
            OpKind::AddField {
                model_name,
                name,
                field,
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    let fields = std::sync::Arc::make_mut(&mut m.fields);
                    fields.retain(|(n, _)| n != name);
                    fields.push((name.clone(), field.clone()));
                }
            }
            OpKind::RemoveField { model_name, name } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    if m.fields.iter().any(|(n, _)| n == name) {
                        std::sync::Arc::make_mut(&mut m.fields).retain(|(n, _)| n != name);
                    }
                    let drop_field = |sets: &mut Option<Vec<Vec<String>>>| {
                        if let Some(sets) = sets {
                            for set in sets.iter_mut() {
                                set.retain(|f| f != name);
                            }
                            sets.retain(|s| !s.is_empty());
                        }
                    };
                    drop_field(&mut m.unique_together);
                    drop_field(&mut m.index_together);
                }
            }
            OpKind::AlterField {
                model_name,
                name,
                field,
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    let fields = std::sync::Arc::make_mut(&mut m.fields);
                    match fields.iter_mut().find(|(n, _)| n == name) {
                        Some(slot) => slot.1 = field.clone(),
                        None => fields.push((name.clone(), field.clone())),
                    }
                }
            }
            OpKind::RenameField {
                model_name,
                old_name,
                new_name,
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    if let Some(at) = m.fields.iter().position(|(n, _)| n == old_name) {
                        if let Some(slot) = std::sync::Arc::make_mut(&mut m.fields).get_mut(at) {
                            slot.0 = new_name.clone();
                        }
                    }
                    let rename = |sets: &mut Option<Vec<Vec<String>>>| {
                        for set in sets.iter_mut().flatten() {
                            for f in set.iter_mut().filter(|f| *f == old_name) {
                                *f = new_name.clone();
                            }
                        }
                    };
                    rename(&mut m.unique_together);
                    rename(&mut m.index_together);
                    for index in &mut m.indexes {
                        for f in index.fields.iter_mut().filter(|f| *f == old_name) {
                            *f = new_name.clone();
                        }
                    }
                }
            }
            OpKind::AddIndex {
                model_name, index, ..
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    m.indexes.push(index.clone());
                }
            }
            OpKind::RemoveIndex {
                model_name, name, ..
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    m.indexes.retain(|i| i.name.as_deref() != Some(name));
                }
            }
            OpKind::RenameIndex {
                model_name,
                new_name,
                old_name,
                old_fields,
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    match (old_name, old_fields) {
                        (Some(old), _) => {
                            for index in m
                                .indexes
                                .iter_mut()
                                .filter(|i| i.name.as_deref() == Some(old))
                            {
                                index.name = Some(new_name.clone());
                            }
                        }
                        (None, Some(fields)) => {
                            // Django turns the index_together entry into a named index.
                            if let Some(sets) = &mut m.index_together {
                                sets.retain(|s| s != fields);
                            }
                            m.indexes.push(IndexDef {
                                class: "Index".into(),
                                name: Some(new_name.clone()),
                                descending: vec![false; fields.len()],
                                fields: fields.clone(),
                                plain: true,
                            });
                        }
                        (None, None) => {}
                    }
                }
            }
            OpKind::AddConstraint {
                model_name,
                constraint,
                ..
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    m.constraints.push(constraint.clone());
                }
            }
            OpKind::RemoveConstraint { model_name, name } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    m.constraints.retain(|c| c.name.as_deref() != Some(name));
                }
            }
            OpKind::AlterConstraint {
                model_name,
                name,
                constraint,
            } => {
                if let Some(m) = self.model_mut(app, model_name) {
                    for c in m
                        .constraints
                        .iter_mut()
                        .filter(|c| c.name.as_deref() == Some(name))
                    {
                        *c = constraint.clone();
                    }
                }
            }
            OpKind::SeparateDatabaseAndState {
                state_operations, ..
            } => {
                for op in state_operations {
                    self.apply(app, op);
                }
            }
            OpKind::RunSQL {
                state_operations, ..
            } => {
                for op in state_operations {
                    self.apply(app, op);
                }
            }
            OpKind::ValidateConstraint { .. }
            | OpKind::RunPython { .. }
            | OpKind::Extension { .. }
            | OpKind::IgnoreMigration => {}
            // A custom operation usually works on its own app's models.
            OpKind::Unknown { .. } => self.mark_incomplete(app),
        }
    }

    /// No operation migrail cannot read has touched `app`'s models (a custom operation
    /// marks them incomplete).
    pub fn app_is_complete(&self, app: &str) -> bool {
        self.apps
            .get(app)
            .is_none_or(|models| models.values().all(|m| m.complete))
    }

    /// Every model of `app` may have been changed by something migrail cannot read.
    pub fn mark_incomplete(&mut self, app: &str) {
        self.changing(app);
        for m in self
            .apps
            .get_mut(app)
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            m.complete = false;
        }
    }

    /// The table of a model, following proxies to their concrete model.
    pub fn table_of(&self, model: &ModelState) -> Option<String> {
        let mut current = model;
        // Bounded (a cycle of proxies is not a valid state): no real chain is this long.
        const LONGEST_PROXY_CHAIN: usize = 1024;
        for _ in 0..=LONGEST_PROXY_CHAIN {
            match current.proxy_for.as_ref().and_then(|k| self.get(k)) {
                Some(parent) if current.proxy == Some(true) => current = parent,
                _ => return current.table(),
            }
        }
        None
    }

    fn model_mut(&mut self, app: &str, name: &str) -> Option<&mut ModelState> {
        self.changing(app);
        self.apps
            .get_mut(app)?
            .get_mut(lower_name(name).as_ref())
            .map(|m| &mut **m)
    }

    /// The column type of `field` of a model in `app`. A foreign key's column has the
    /// type of the column it references (`to_field`, else the target's primary key).
    pub fn column_type(&self, app: &str, field: &FieldDef, settings: &Settings) -> Option<DbType> {
        if !field.is_relation() {
            return field.db_type();
        }
        let target = self.get(&Self::resolve_target(
            &field.target()?.value,
            app,
            settings,
        )?)?;
        let referenced = match field.call.kwarg("to_field").map(|v| &v.value) {
            Some(Value::Str(name)) => target.field(name)?,
            Some(_) => return None,
            None => target
                .fields
                .iter()
                .map(|(_, f)| f)
                .find(|f| f.primary_key() == Some(true))?,
        };
        if referenced.is_relation() {
            // A key referencing a key (one-to-one parent links): one level is enough in practice.
            return None;
        }
        referenced.db_type()
    }

    /// The (concrete) model whose table is `table`.
    ///
    /// Of two models on one table, the first in [`ProjectState::models`]' order: the
    /// first match of each app, then the least app (RunSQL rules ask this for every SQL
    /// action, so the apps are not sorted and no table name is built).
    pub fn model_by_table(&self, table: &str) -> Option<&ModelState> {
        // Not a proxy, so its table is its own (`table_of` follows only proxies).
        self.apps
            .iter()
            .filter_map(|(app, models)| {
                models
                    .values()
                    .find(|m| m.proxy != Some(true) && m.has_table_named(table))
                    .map(|m| (app, m))
            })
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|(_, m)| &**m)
    }

    /// The model and many-to-many field whose auto-created join table is `table`.
    pub fn join_table_owner(&self, table: &str) -> Option<(&ModelState, &str)> {
        self.models().find_map(|m| {
            let own = m.table()?;
            m.fields
                .iter()
                .find(|(name, f)| f.join_table(&own, name).as_deref() == Some(table))
                .map(|(name, _)| (m, name.as_str()))
        })
    }

    /// The model and field (name, definition) owning column `column` of table `table`.
    pub fn field_by_column(
        &self,
        table: &str,
        column: &str,
    ) -> Option<(&ModelState, &str, &FieldDef)> {
        let model = self.model_by_table(table)?;
        model
            .fields
            .iter()
            .find(|(name, f)| f.column_ref(name).as_deref() == Some(column))
            .map(|(name, f)| (model, name.as_str(), f))
    }

    /// The type of column `column` of table `table` (SQL names), when the state knows it.
    pub fn column_type_by_table(
        &self,
        table: &str,
        column: &str,
        settings: &Settings,
    ) -> Option<DbType> {
        let (model, _, field) = self.field_by_column(table, column)?;
        self.column_type(&model.app, field, settings)
    }

    /// The state as the `migrail state --format json` document.
    pub fn to_json(&self, settings: &Settings) -> StateDocument {
        StateDocument {
            version: 1,
            models: self
                .models()
                .map(|m| ModelDocument {
                    app: m.app.clone(),
                    name: m.name.clone(),
                    table: self.table_of(m),
                    complete: m.complete,
                    managed: m.managed,
                    proxy: m.proxy,
                    unique_together: m.unique_together.clone(),
                    indexes: m.indexes.iter().filter_map(|i| i.name.clone()).collect(),
                    constraints: m
                        .constraints
                        .iter()
                        .filter_map(|c| c.name.clone())
                        .collect(),
                    fields: m
                        .fields
                        .iter()
                        .map(|(name, f)| FieldDocument {
                            name: name.clone(),
                            class: f.class().to_string(),
                            path: f.path().to_string(),
                            column: if f.has_column() { f.column(name) } else { None },
                            db_type: self.column_type(&m.app, f, settings).map(|t| t.to_string()),
                            null: f.null(),
                            unique: f.unique(),
                            db_index: f.db_index(),
                            primary_key: f.primary_key(),
                            has_db_default: f.db_default().is_some(),
                            target: f.target().map(|t| t.value.describe()),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `migrail state --format json`: version 1.
#[derive(Serialize)]
pub struct StateDocument {
    pub version: u32,
    pub models: Vec<ModelDocument>,
}

#[derive(Serialize)]
pub struct ModelDocument {
    pub app: String,
    pub name: String,
    /// `null` when `db_table` is not statically known.
    pub table: Option<String>,
    /// False when something migrail cannot read (a custom operation, operations computed
    /// at run time) may have changed the model: its fields may differ from Django's.
    pub complete: bool,
    pub managed: Option<bool>,
    pub proxy: Option<bool>,
    pub unique_together: Option<Vec<Vec<String>>>,
    pub indexes: Vec<String>,
    pub constraints: Vec<String>,
    pub fields: Vec<FieldDocument>,
}

/// One field; `null` in any property means "not statically known".
#[derive(Serialize)]
pub struct FieldDocument {
    pub name: String,
    pub class: String,
    pub path: String,
    /// The column name; `null` for many-to-many fields (they have a join table instead).
    pub column: Option<String>,
    pub db_type: Option<String>,
    pub null: Option<bool>,
    pub unique: Option<bool>,
    pub db_index: Option<bool>,
    pub primary_key: Option<bool>,
    pub has_db_default: bool,
    pub target: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(app: &str, name: &str, db_table: Option<Option<&str>>, proxy: bool) -> ModelState {
        ModelState {
            app: app.into(),
            name: name.into(),
            fields: Default::default(),
            db_table: db_table.map(|t| t.map(str::to_string)),
            managed: Some(true),
            proxy: Some(proxy),
            unique_together: None,
            index_together: None,
            indexes: Vec::new(),
            constraints: Vec::new(),
            complete: true,
            proxy_for: None,
        }
    }

    /// The fields a `CreateModel` gives its model are shared until an operation changes
    /// them: the change reaches that state only, not the operation nor a clone of the state.
    #[test]
    fn changed_fields_are_the_changing_states_own() {
        let source = std::sync::Arc::new(super::super::migration::SourceFile::new(
            "shop/migrations/0001_initial.py".into(),
            "from django.db import migrations, models\n\
             class Migration(migrations.Migration):\n    operations = [\n        \
             migrations.CreateModel(\"Book\", [(\"id\", models.AutoField(primary_key=True)), \
             (\"title\", models.TextField())]),\n        \
             migrations.AddField(\"Book\", \"isbn\", models.TextField(null=True)),\n        \
             migrations.AlterField(\"Book\", \"title\", models.CharField(max_length=10)),\n        \
             migrations.RenameField(\"Book\", \"isbn\", \"code\"),\n        \
             migrations.RemoveField(\"Book\", \"id\"),\n    ]\n"
                .to_string(),
        ));
        let m = super::super::migration::parse_migration(
            "shop",
            "0001_initial",
            source,
            &Settings::default(),
        );
        let names = |state: &ProjectState| -> Vec<(String, String)> {
            state
                .model("shop", "Book")
                .map(|b| {
                    b.fields
                        .iter()
                        .map(|(n, f)| (n.clone(), f.path().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut state = ProjectState::default();
        state.apply("shop", &m.operations[0]);
        let created = state.clone();
        for op in &m.operations[1..] {
            state.apply("shop", op);
        }
        let text = "django.db.models.TextField".to_string();
        assert_eq!(
            names(&state),
            [
                (
                    "title".to_string(),
                    "django.db.models.CharField".to_string()
                ),
                ("code".to_string(), text.clone()),
            ]
        );
        let as_created = [
            ("id".to_string(), "django.db.models.AutoField".to_string()),
            ("title".to_string(), text),
        ];
        assert_eq!(names(&created), as_created, "a clone keeps its fields");
        let OpKind::CreateModel { fields, .. } = &m.operations[0].kind else {
            panic!("{:?}", m.operations[0].kind);
        };
        let written: Vec<_> = fields
            .iter()
            .map(|(n, f)| (n.clone(), f.path().to_string()))
            .collect();
        assert_eq!(written, as_created, "the operation keeps its fields");
    }

    #[test]
    fn model_by_table_matches_default_and_explicit_tables() {
        let mut state = ProjectState::default();
        for m in [
            model("shop", "OrderLine", Some(None), false),
            model("shop", "OrderLineProxy", Some(None), true),
            model("blog", "Post", Some(Some("shop_orderline")), false),
            model("zoo", "Animal", Some(Some("pets")), false),
            model("zoo", "Unknown", None, false),
            model("café", "Crème", Some(None), false),
        ] {
            state.insert(
                (m.app.clone(), lower_name(&m.name).into_owned()),
                Box::new(m),
            );
        }
        let found = |table: &str| state.model_by_table(table).map(|m| m.name.as_str());
        // Two models on one table: the first in `models()` order wins (blog < shop).
        assert_eq!(found("shop_orderline"), Some("Post"));
        assert_eq!(
            state
                .models()
                .find(|m| m.proxy != Some(true) && m.table().as_deref() == Some("shop_orderline"))
                .map(|m| m.name.as_str()),
            Some("Post")
        );
        assert_eq!(found("pets"), Some("Animal"));
        assert_eq!(found("café_crème"), Some("Crème"));
        assert_eq!(
            found("shop_orderlineproxy"),
            None,
            "a proxy has no table of its own"
        );
        assert_eq!(
            found("shop_OrderLine"),
            None,
            "default names are lower-case"
        );
        assert_eq!(found("shop_orderlin"), None);
        assert_eq!(found("shop"), None);
        assert_eq!(
            found("zoo_unknown"),
            None,
            "unknown db_table matches nothing"
        );
        for m in state.models() {
            if let Some(table) = m.table() {
                assert!(m.has_table_named(&table), "{table}");
            }
        }
    }
}
