//! Typed migration operations.
//!
//! Each `migrations.X(...)` call of a migration's `operations` list becomes an
//! [`Operation`]: its [`OpKind`] with the arguments bound as Django binds them
//! (positional or keyword), plus the raw call for source ranges. Calls that are not
//! operations migrail knows become [`OpKind::Unknown`], never silently dropped.

use super::fields::FieldDef;
use super::python::{Call, Spanned, Value};
use std::sync::Arc;

use ruff_text_size::TextRange;

#[derive(Clone, Debug)]
pub struct Operation {
    pub kind: OpKind,
    /// The call as written (shared with the parsed value it came from).
    pub call: Arc<Call>,
}

impl Operation {
    pub fn range(&self) -> TextRange {
        self.call.range
    }

    /// The model a model-level operation works on, as written (`book`); `None` for
    /// operations on no single model (RunSQL, RunPython, SeparateDatabaseAndState, ...).
    pub fn model(&self) -> Option<&str> {
        match &self.kind {
            OpKind::CreateModel { name, .. }
            | OpKind::DeleteModel { name }
            | OpKind::AlterModelTable { name, .. }
            | OpKind::AlterModelOptions { name, .. }
            | OpKind::StateOnlyModelChange { name }
            | OpKind::AlterUniqueTogether { name, .. }
            | OpKind::AlterIndexTogether { name, .. } => Some(name),
            OpKind::RenameModel { old_name, .. } => Some(old_name),
            OpKind::AddField { model_name, .. }
            | OpKind::RemoveField { model_name, .. }
            | OpKind::AlterField { model_name, .. }
            | OpKind::RenameField { model_name, .. }
            | OpKind::AddIndex { model_name, .. }
            | OpKind::RemoveIndex { model_name, .. }
            | OpKind::RenameIndex { model_name, .. }
            | OpKind::AddConstraint { model_name, .. }
            | OpKind::RemoveConstraint { model_name, .. }
            | OpKind::AlterConstraint { model_name, .. }
            | OpKind::ValidateConstraint { model_name, .. } => Some(model_name),
            _ => None,
        }
    }

    /// The operation's class name as Django spells it (`AddField`), or the callee for
    /// unknown operations.
    pub fn name(&self) -> &str {
        self.call.short_name()
    }
}

#[derive(Clone, Debug)]
pub enum OpKind {
    CreateModel {
        name: String,
        fields: super::fields::Fields,
        /// False when some fields are computed at run time (`[...] + ([...] if X else [])`):
        /// `fields` holds the readable ones.
        complete: bool,
        options: Vec<(String, Spanned)>,
        bases: Vec<Spanned>,
    },
    DeleteModel {
        name: String,
    },
    RenameModel {
        old_name: String,
        new_name: String,
    },
    AlterModelTable {
        name: String,
        table: Option<Option<String>>,
    },
    AlterModelOptions {
        name: String,
        options: Vec<(String, Spanned)>,
    },
    /// Operations that change nothing migrail tracks: managers, table comments, ordering.
    StateOnlyModelChange {
        name: String,
    },
    AlterUniqueTogether {
        name: String,
        together: Option<Vec<Vec<String>>>,
    },
    AlterIndexTogether {
        name: String,
        together: Option<Vec<Vec<String>>>,
    },
    AddField {
        model_name: String,
        name: String,
        field: FieldDef,
    },
    RemoveField {
        model_name: String,
        name: String,
    },
    AlterField {
        model_name: String,
        name: String,
        field: FieldDef,
    },
    RenameField {
        model_name: String,
        old_name: String,
        new_name: String,
    },
    AddIndex {
        model_name: String,
        index: IndexDef,
        concurrently: bool,
    },
    RemoveIndex {
        model_name: String,
        name: String,
        concurrently: bool,
    },
    RenameIndex {
        model_name: String,
        new_name: String,
        old_name: Option<String>,
        old_fields: Option<Vec<String>>,
    },
    AddConstraint {
        model_name: String,
        constraint: ConstraintDef,
        not_valid: bool,
    },
    RemoveConstraint {
        model_name: String,
        name: String,
    },
    AlterConstraint {
        model_name: String,
        name: String,
        constraint: ConstraintDef,
    },
    ValidateConstraint {
        model_name: String,
        name: String,
    },
    SeparateDatabaseAndState {
        database_operations: Vec<Operation>,
        state_operations: Vec<Operation>,
    },
    RunSQL {
        sql: Spanned,
        reverse_sql: Option<Spanned>,
        state_operations: Vec<Operation>,
    },
    RunPython {
        code: Spanned,
        reverse_code: Option<Spanned>,
    },
    /// django-migration-linter's `IgnoreMigration()`: a no-op that marks the whole
    /// migration as reviewed (migrail honours it, so teams keep their markers).
    IgnoreMigration,
    /// Extensions and collations: database-wide, additive.
    Extension {
        name: String,
    },
    /// A callee migrail does not know, or a known operation whose required arguments
    /// are not statically readable.
    Unknown {
        reason: String,
    },
}

/// An `Index(...)` (or `GinIndex`, ...) of `Meta.indexes` or `AddIndex`.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexDef {
    pub class: String,
    pub name: Option<String>,
    pub fields: Vec<String>,
    /// Per field: written `-name` (descending).
    pub descending: Vec<bool>,
    /// Only `fields` and `name` are given (no condition, expressions, opclasses, ...).
    pub plain: bool,
}

/// A `UniqueConstraint`, `CheckConstraint` or other constraint.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstraintDef {
    pub class: String,
    pub name: Option<String>,
    pub fields: Vec<String>,
    /// Only `fields` and `name` are given (no condition, expressions, check, ...).
    pub plain: bool,
}

impl ConstraintDef {
    pub fn is_unique(&self) -> bool {
        self.class == "UniqueConstraint"
    }
}

/// The module paths operations are imported from.
fn operation_name(callee: &str) -> Option<&str> {
    let short = callee.rsplit('.').next()?;
    let module = callee.strip_suffix(short)?.trim_end_matches('.');
    let django = module == "django.db.migrations"
        || module.starts_with("django.db.migrations.operations")
        || module == "django.contrib.postgres.operations";
    // A bare name (`AddField(...)` after `from django.db.migrations import *`) or a
    // local alias: accept the known names only.
    (django || module.is_empty()).then_some(short)
}

fn string(v: Option<&Spanned>) -> Option<String> {
    v.and_then(|s| s.value.as_str()).map(str::to_string)
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_seq()?
        .iter()
        .map(|s| s.value.as_str().map(str::to_string))
        .collect()
}

/// `unique_together` as Django normalises it: a single tuple becomes a tuple of one.
pub fn normalize_together(v: &Value) -> Option<Vec<Vec<String>>> {
    // `set()`: what `makemigrations` writes for an emptied `unique_together`.
    let empty_set = v.as_call().is_some_and(|c| {
        &*c.callee == "set" && c.args.is_empty() && c.kwargs.is_empty() && !c.has_unpacked
    });
    if empty_set {
        return Some(Vec::new());
    }
    match v {
        Value::None => Some(Vec::new()),
        _ => {
            let items = v.as_seq()?;
            if items.is_empty() {
                return Some(Vec::new());
            }
            if items.iter().all(|i| i.value.as_str().is_some()) {
                return Some(vec![strings(v)?]);
            }
            items.iter().map(|i| strings(&i.value)).collect()
        }
    }
}

/// Whether a call gives only `fields` and `name`, by keyword.
fn only_fields_and_name(call: &crate::django::python::Call) -> bool {
    call.args.is_empty()
        && !call.has_unpacked
        && call
            .kwargs
            .iter()
            .all(|(k, _)| k.as_str() == "fields" || k.as_str() == "name")
}

pub fn index_def(v: &Value) -> Option<IndexDef> {
    let call = v.as_call()?;
    let written = match call.kwarg("fields") {
        Some(f) => strings(&f.value)?,
        None => Vec::new(),
    };
    Some(IndexDef {
        class: call.short_name().to_string(),
        name: string(call.kwarg("name")),
        descending: written.iter().map(|f| f.starts_with('-')).collect(),
        fields: written
            .into_iter()
            .map(|f| f.trim_start_matches('-').to_string())
            .collect(),
        plain: only_fields_and_name(call),
    })
}

pub fn constraint_def(v: &Value) -> Option<ConstraintDef> {
    let call = v.as_call()?;
    let fields = match call.kwarg("fields") {
        Some(f) => strings(&f.value).unwrap_or_default(),
        None => Vec::new(),
    };
    Some(ConstraintDef {
        class: call.short_name().to_string(),
        name: string(call.kwarg("name")),
        fields,
        plain: only_fields_and_name(call),
    })
}

fn field_def(v: Option<&Spanned>) -> Option<FieldDef> {
    v.and_then(|s| s.value.as_call()).map(FieldDef::from_call)
}

fn options_dict(v: Option<&Spanned>) -> Option<Vec<(String, Spanned)>> {
    match v.map(|s| &s.value) {
        None | Some(Value::None) => Some(Vec::new()),
        Some(Value::Dict(items)) => items
            .iter()
            .map(|(k, v)| k.value.as_str().map(|k| (k.to_string(), v.clone())))
            .collect(),
        Some(_) => None,
    }
}

/// Operations nested in a list argument (`SeparateDatabaseAndState`, `RunSQL.state_operations`).
/// Elements that are not calls are reported as unknown operations.
pub fn nested_operations(v: Option<&Spanned>) -> Result<Vec<Operation>, String> {
    match v.map(|s| &s.value) {
        None | Some(Value::None) => Ok(Vec::new()),
        Some(value) => match value.as_seq() {
            Some(items) => Ok(items.iter().map(Operation::from_value).collect()),
            None => Err(format!("operations given as `{}`", value.describe())),
        },
    }
}

impl Operation {
    /// Type one element of an operations list.
    pub fn from_value(v: &Spanned) -> Operation {
        match &v.value {
            Value::Call(call) => Operation::from_call(call),
            other => Operation {
                kind: OpKind::Unknown {
                    reason: format!("`{}` is not an operation call", other.describe()),
                },
                call: Arc::new(Call {
                    callee: other.describe().into(),
                    callee_range: v.range,
                    args: Vec::new(),
                    kwargs: Vec::new(),
                    has_unpacked: false,
                    range: v.range,
                }),
            },
        }
    }

    pub fn from_call(call: &Arc<Call>) -> Operation {
        let ignore_marker = call.short_name() == "IgnoreMigration"
            && (&*call.callee == "IgnoreMigration"
                || call.callee.starts_with("django_migration_linter."));
        let kind = match operation_name(&call.callee) {
            _ if ignore_marker => OpKind::IgnoreMigration,
            Some(name) => bind(name, call).unwrap_or_else(|| OpKind::Unknown {
                reason: format!("the arguments of `{name}` are not statically readable"),
            }),
            None => OpKind::Unknown {
                reason: format!("`{}` is not a Django operation", call.callee),
            },
        };
        Operation {
            kind,
            call: Arc::clone(call),
        }
    }
}

/// Bind a known operation's arguments. `None` when a required argument is unreadable;
/// `Some(Unknown)` when the name is not a known operation.
fn bind(name: &str, c: &Call) -> Option<OpKind> {
    let s = |pos: usize, kw: &str| string(c.arg(Some(pos), kw));
    Some(match name {
        "CreateModel" => {
            let fields_value = c.arg(Some(1), "fields")?;
            let mut fields = Vec::new();
            let mut complete = true;
            for item in fields_value.value.as_seq().unwrap_or_default() {
                let field = match item.value.as_seq() {
                    Some([n, f]) => n.value.as_str().zip(field_def(Some(f))),
                    _ => None,
                };
                match field {
                    Some((n, f)) => fields.push((n.to_string(), f)),
                    None => complete = false,
                }
            }
            if fields_value.value.as_seq().is_none() {
                complete = false;
            }
            let bases = match c.arg(Some(3), "bases").map(|b| &b.value) {
                Some(v) => v.as_seq().map(<[Spanned]>::to_vec).unwrap_or_default(),
                None => Vec::new(),
            };
            OpKind::CreateModel {
                name: s(0, "name")?,
                fields: Arc::new(fields),
                complete,
                options: options_dict(c.arg(Some(2), "options"))?,
                bases,
            }
        }
        "DeleteModel" => OpKind::DeleteModel {
            name: s(0, "name")?,
        },
        "RenameModel" => OpKind::RenameModel {
            old_name: s(0, "old_name")?,
            new_name: s(1, "new_name")?,
        },
        "AlterModelTable" => {
            let table = match c.arg(Some(1), "table").map(|v| &v.value) {
                None | Some(Value::None) => Some(None),
                Some(Value::Str(t)) => Some(Some(t.to_string())),
                Some(_) => None,
            };
            OpKind::AlterModelTable {
                name: s(0, "name")?,
                table,
            }
        }
        "AlterModelOptions" => OpKind::AlterModelOptions {
            name: s(0, "name")?,
            options: options_dict(c.arg(Some(1), "options"))?,
        },
        "AlterModelManagers" | "AlterModelTableComment" | "AlterOrderWithRespectTo" => {
            OpKind::StateOnlyModelChange {
                name: s(0, "name")?,
            }
        }
        "AlterUniqueTogether" => OpKind::AlterUniqueTogether {
            name: s(0, "name")?,
            together: c
                .arg(Some(1), "unique_together")
                .and_then(|v| normalize_together(&v.value)),
        },
        "AlterIndexTogether" => OpKind::AlterIndexTogether {
            name: s(0, "name")?,
            together: c
                .arg(Some(1), "index_together")
                .and_then(|v| normalize_together(&v.value)),
        },
        "AddField" => OpKind::AddField {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
            field: field_def(c.arg(Some(2), "field"))?,
        },
        "RemoveField" => OpKind::RemoveField {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
        },
        "AlterField" => OpKind::AlterField {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
            field: field_def(c.arg(Some(2), "field"))?,
        },
        "RenameField" => OpKind::RenameField {
            model_name: s(0, "model_name")?,
            old_name: s(1, "old_name")?,
            new_name: s(2, "new_name")?,
        },
        "AddIndex" | "AddIndexConcurrently" => OpKind::AddIndex {
            model_name: s(0, "model_name")?,
            index: index_def(&c.arg(Some(1), "index")?.value)?,
            concurrently: name == "AddIndexConcurrently",
        },
        "RemoveIndex" | "RemoveIndexConcurrently" => OpKind::RemoveIndex {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
            concurrently: name == "RemoveIndexConcurrently",
        },
        "RenameIndex" => OpKind::RenameIndex {
            model_name: s(0, "model_name")?,
            new_name: s(1, "new_name")?,
            old_name: s(2, "old_name"),
            old_fields: c.arg(Some(3), "old_fields").and_then(|v| strings(&v.value)),
        },
        "AddConstraint" | "AddConstraintNotValid" => OpKind::AddConstraint {
            model_name: s(0, "model_name")?,
            constraint: constraint_def(&c.arg(Some(1), "constraint")?.value)?,
            not_valid: name == "AddConstraintNotValid",
        },
        "RemoveConstraint" => OpKind::RemoveConstraint {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
        },
        "AlterConstraint" => OpKind::AlterConstraint {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
            constraint: constraint_def(&c.arg(Some(2), "constraint")?.value)?,
        },
        "ValidateConstraint" => OpKind::ValidateConstraint {
            model_name: s(0, "model_name")?,
            name: s(1, "name")?,
        },
        "SeparateDatabaseAndState" => OpKind::SeparateDatabaseAndState {
            database_operations: nested_operations(c.arg(Some(0), "database_operations")).ok()?,
            state_operations: nested_operations(c.arg(Some(1), "state_operations")).ok()?,
        },
        "RunSQL" => OpKind::RunSQL {
            sql: c.arg(Some(0), "sql")?.clone(),
            reverse_sql: c
                .arg(Some(1), "reverse_sql")
                .filter(|v| !v.value.is_none())
                .cloned(),
            state_operations: nested_operations(c.arg(Some(2), "state_operations")).ok()?,
        },
        "RunPython" => OpKind::RunPython {
            code: c.arg(Some(0), "code")?.clone(),
            reverse_code: c
                .arg(Some(1), "reverse_code")
                .filter(|v| !v.value.is_none())
                .cloned(),
        },
        "CreateExtension" | "BloomExtension" | "BtreeGinExtension" | "BtreeGistExtension"
        | "CITextExtension" | "CryptoExtension" | "HStoreExtension" | "TrigramExtension"
        | "UnaccentExtension" | "CreateCollation" | "RemoveCollation" => OpKind::Extension {
            name: s(0, "name").unwrap_or_else(|| name.to_string()),
        },
        _ => OpKind::Unknown {
            reason: format!("`{}` is not an operation migrail knows", c.callee),
        },
    })
}
