//! Django model fields as migrations declare them, and what Django derives from them.
//!
//! A [`FieldDef`] keeps the field's class path and its arguments exactly as written.
//! The accessors answer the questions the rules ask (is the column nullable, what is its
//! column name, what database type does it get) with Django's own defaults per field
//! class. Each answer is `Option`: `None` means "not knowable statically" (the argument
//! came from a function call or a setting), and rules must not guess then.

use std::sync::Arc;

use serde::Serialize;

use super::python::{Call, Name, Spanned, Value};

/// The fields Django ships whose behaviour migrail models, by class name, and the common
/// library subclasses (django-mptt, django-parler, django-filer, django-modelcluster,
/// django-annoying, django-sortedm2m, django-taggit).
const RELATION_CLASSES: &[&str] = &[
    "ForeignKey",
    "OneToOneField",
    "ForeignObject",
    "TreeForeignKey",
    "TreeOneToOneField",
    "TranslationsForeignKey",
    "FilerImageField",
    "FilerFileField",
    "FilerFolderField",
    "ParentalKey",
    "AutoOneToOneField",
];
const M2M_CLASSES: &[&str] = &[
    "ManyToManyField",
    "TaggableManager",
    "ClusterTaggableManager",
    "TreeManyToManyField",
    "ParentalManyToManyField",
    "SortedManyToManyField",
];

/// `Field.non_db_attrs`: what Django's schema editor ignores when it decides whether an
/// `AlterField` emits any SQL (`_field_should_be_altered`).
const NON_DB_ATTRS: &[&str] = &[
    "blank",
    "choices",
    "db_column",
    "editable",
    "error_messages",
    "help_text",
    "limit_choices_to",
    "on_delete",
    "related_name",
    "related_query_name",
    "validators",
    "verbose_name",
];

/// The `on_delete` handlers of `django.db.models` (and `SET(...)`).
const ON_DELETE: &[&str] = &[
    "CASCADE",
    "PROTECT",
    "RESTRICT",
    "SET_NULL",
    "SET_DEFAULT",
    "DO_NOTHING",
    "SET",
    "DB_CASCADE",
    "DB_SET_NULL",
    "DB_SET_DEFAULT",
];

/// A model's fields by name, in order, as a `CreateModel` lists them. Shared: the
/// operation and every replayed state that holds the model unchanged point to one list;
/// a state copies it when an operation changes it (`Arc::make_mut`).
pub type Fields = std::sync::Arc<Vec<(String, FieldDef)>>;

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDef {
    /// Shared: the replay copies field definitions into the state for every model.
    pub call: Arc<Call>,
    /// [`FieldDef::is_relation`] and [`FieldDef::is_m2m`], decided once from the call:
    /// the replay and the rules ask them of every field of every model they touch.
    relation: bool,
    m2m: bool,
}

/// A database column type, as far as migrail needs to compare two of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DbType {
    /// `varchar(n)`; `None` is unlimited `varchar` (CharField without max_length, Django 4.2+).
    Varchar {
        max_length: Option<i64>,
    },
    Text,
    Numeric {
        max_digits: i64,
        decimal_places: i64,
    },
    /// Any other type, by its PostgreSQL name (`integer`, `bigint`, `timestamp with time zone`).
    Named {
        name: String,
    },
}

impl std::fmt::Display for DbType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbType::Varchar {
                max_length: Some(n),
            } => write!(f, "varchar({n})"),
            DbType::Varchar { max_length: None } => write!(f, "varchar"),
            DbType::Text => write!(f, "text"),
            DbType::Numeric {
                max_digits,
                decimal_places,
            } => write!(f, "numeric({max_digits}, {decimal_places})"),
            DbType::Named { name } => write!(f, "{name}"),
        }
    }
}

impl DbType {
    /// True when PostgreSQL changes `self` into `to` without rewriting the table or
    /// breaking readers: a longer varchar, varchar to text, more digits at equal scale.
    /// True when every value of `self` fits `to` unchanged (a widening, in place or with
    /// a rewrite): the old release's writes keep working after the change.
    pub fn holds_every_value_of(to: &DbType, from: &DbType) -> bool {
        use DbType::*;
        let int_rank = |t: &DbType| match t {
            Named { name } => match name.as_str() {
                "smallint" => Some(1),
                "integer" => Some(2),
                "bigint" => Some(3),
                _ => None,
            },
            _ => None,
        };
        if let (Some(a), Some(b)) = (int_rank(from), int_rank(to)) {
            return b >= a;
        }
        match (from, to) {
            (
                Numeric {
                    max_digits: a,
                    decimal_places: s1,
                },
                Numeric {
                    max_digits: b,
                    decimal_places: s2,
                },
            ) => s2 >= s1 && b - s2 >= a - s1,
            _ => from.widens_in_place_to(to),
        }
    }

    pub fn widens_in_place_to(&self, to: &DbType) -> bool {
        use DbType::*;
        match (self, to) {
            (
                Varchar {
                    max_length: Some(a),
                },
                Varchar {
                    max_length: Some(b),
                },
            ) => b >= a,
            (Varchar { .. }, Varchar { max_length: None }) => true,
            (Varchar { .. }, Text) => true,
            (
                Numeric {
                    max_digits: a,
                    decimal_places: s1,
                },
                Numeric {
                    max_digits: b,
                    decimal_places: s2,
                },
            ) => s1 == s2 && b >= a,
            _ => self == to,
        }
    }
}

/// [`FieldDef::is_relation`] of a field built by `call`.
fn relation_call(call: &Call) -> bool {
    let class = call.short_name();
    RELATION_CLASSES.contains(&class)
        || (!M2M_CLASSES.contains(&class)
            && call.arg(Some(0), "to").is_some()
            && on_delete(call).is_some())
}

/// [`FieldDef::is_m2m`] of a field built by `call`.
fn m2m_call(call: &Call) -> bool {
    let class = call.short_name();
    M2M_CLASSES.contains(&class)
        || (class.contains("ManyToMany")
            && call.arg(Some(0), "to").is_some()
            && on_delete(call).is_none())
}

/// [`FieldDef::on_delete`] of a field built by `call`.
fn on_delete(call: &Call) -> Option<&Spanned> {
    let arg = call.arg(Some(1), "on_delete")?;
    let handler = match &arg.value {
        Value::Ref(path) => path.as_str(),
        Value::Call(call) => &call.callee,
        _ => return None,
    };
    let short = handler.rsplit('.').next().unwrap_or(handler);
    ON_DELETE.contains(&short).then_some(arg)
}

/// `a` and `b` are the same value, written alike (where in the source aside): what
/// [`Value::describe`] gives of one it gives of the other.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // `0.0` and `-0.0` are equal numbers but not written alike.
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => same_values(x, y),
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((k1, v1), (k2, v2))| {
                    same_value(&k1.value, &k2.value) && same_value(&v1.value, &v2.value)
                })
        }
        (Value::Call(x), Value::Call(y)) => {
            Arc::ptr_eq(x, y)
                || (x.callee == y.callee
                    && x.has_unpacked == y.has_unpacked
                    && same_values(&x.args, &y.args)
                    && same_values_by_name(x.kwargs.iter(), y.kwargs.iter()))
        }
        (Value::List(_) | Value::Tuple(_) | Value::Dict(_) | Value::Call(_), _)
        | (_, Value::List(_) | Value::Tuple(_) | Value::Dict(_) | Value::Call(_)) => false,
        // The rest hold no positions: equal is alike.
        _ => a == b,
    }
}

fn same_values(a: &[Spanned], b: &[Spanned]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(&x.value, &y.value))
}

/// Two lists of keyword arguments alike, in the same order.
fn same_values_by_name<'a>(
    a: impl Iterator<Item = &'a (Name, Spanned)>,
    b: impl Iterator<Item = &'a (Name, Spanned)>,
) -> bool {
    let mut b = b;
    for (name, value) in a {
        match b.next() {
            Some((other, v)) if other == name && same_value(&value.value, &v.value) => {}
            _ => return false,
        }
    }
    b.next().is_none()
}

/// A field's keyword arguments that can reach the database (see
/// [`FieldDef::same_in_database`]).
fn db_kwargs(f: &FieldDef) -> impl Iterator<Item = &(Name, Spanned)> {
    f.call
        .kwargs
        .iter()
        .filter(|(k, _)| !NON_DB_ATTRS.contains(&k.as_str()))
}

impl FieldDef {
    pub fn from_call(call: &Arc<Call>) -> FieldDef {
        FieldDef {
            call: Arc::clone(call),
            relation: relation_call(call),
            m2m: m2m_call(call),
        }
    }

    /// The class path as resolved through the imports: `django.db.models.CharField`.
    pub fn path(&self) -> &str {
        &self.call.callee
    }

    /// The class name: `CharField`.
    pub fn class(&self) -> &str {
        self.call.short_name()
    }

    fn kw(&self, name: &str) -> Option<&Value> {
        self.call.kwarg(name).map(|s| &s.value)
    }

    /// A boolean keyword: `Some(default)` when absent, `None` when not statically known
    /// (a computed value, or a field class outside Django whose defaults migrail cannot see).
    fn flag(&self, name: &str, default: bool) -> Option<bool> {
        match self.kw(name) {
            None if self.is_third_party() => None,
            None => Some(default),
            Some(v) => v.truthy(),
        }
    }

    /// A field class that is not Django's own: it may change any default. A relation
    /// subclass (a library's or the project's `ForeignKey` subclass) keeps Django's; a
    /// many-to-many one may not (`TaggableManager` is nullable).
    pub fn is_third_party(&self) -> bool {
        !self.path().starts_with("django.") && !self.is_relation()
    }

    /// A many-to-many field: Django's, a known library class, or any class whose name
    /// says many-to-many and that names its target (`to=`).
    pub fn is_m2m(&self) -> bool {
        self.m2m
    }

    /// The `on_delete` argument (keyword, or the second positional one) when it names a
    /// Django handler.
    fn on_delete(&self) -> Option<&Spanned> {
        on_delete(&self.call)
    }

    /// An `AlterField` from `self` to `new` emits no SQL, as Django's schema editor
    /// decides it: the same class, arguments and column once the attributes that do not
    /// reach the database (choices, help_text, validators, on_delete, ...) are set aside.
    /// `false` whenever migrail cannot tell (`**kwargs`, an unknown column).
    pub fn same_in_database(&self, new: &FieldDef, name: &str) -> bool {
        if self.call.has_unpacked || new.call.has_unpacked || self.path() != new.path() {
            return false;
        }
        // Django 6.1: a database-level on_delete is the constraint's ON DELETE clause.
        if self.db_on_delete() != new.db_on_delete() {
            return false;
        }
        match (self.column_ref(name), new.column_ref(name)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
        // Every argument that reaches the database written alike in both (an `AlterField`
        // that changes only `choices`, `help_text` and the like): values alike describe
        // alike, so the comparison below would find them the same. It is the phase
        // inference's most frequent question.
        if self.relation == new.relation
            && self.is_one_to_one() == new.is_one_to_one()
            && same_values(&self.call.args, &new.call.args)
            && same_values_by_name(db_kwargs(self), db_kwargs(new))
        {
            return true;
        }
        // A relation's target is a model label, which Django compares lowercased
        // (`contenttypes.ContentType` is `contenttypes.contenttype`).
        let target = |v: &Value| match v {
            Value::Str(s) => format!("'{}'", s.to_lowercase()),
            other => other.describe(),
        };
        let relation = self.is_relation() || self.is_m2m();
        let args = |f: &FieldDef| -> Vec<String> {
            f.call
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    if relation && i == 0 {
                        target(&a.value)
                    } else {
                        a.value.describe()
                    }
                })
                .collect()
        };
        // An argument written with its default value is the argument left out: Django's
        // `deconstruct` drops it (`null=False`, a foreign key's `db_index=True`, ...).
        let is_default = |f: &FieldDef, k: &str, v: &Value| -> bool {
            let shown = v.describe();
            let relation = f.is_relation();
            match k {
                "null" | "primary_key" => shown == "False",
                "unique" => shown == if f.is_one_to_one() { "True" } else { "False" },
                "db_index" => shown == if relation { "True" } else { "False" },
                "db_constraint" => shown == "True",
                "db_column" | "db_tablespace" | "to_field" | "db_comment" => shown == "None",
                _ => false,
            }
        };
        let kwargs = |f: &FieldDef| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = f
                .call
                .kwargs
                .iter()
                .filter(|(k, _)| !NON_DB_ATTRS.contains(&k.as_str()))
                .filter(|(k, v)| !is_default(f, k.as_str(), &v.value))
                .map(|(k, v)| {
                    let shown = if relation && k.as_str() == "to" {
                        target(&v.value)
                    } else {
                        v.value.describe()
                    };
                    (k.to_string(), shown)
                })
                .collect();
            v.sort();
            v
        };
        args(self) == args(new) && kwargs(self) == kwargs(new)
    }

    /// The database-level `on_delete` handler (Django 6.1: `DB_CASCADE`, `DB_SET_NULL`,
    /// `DB_SET_DEFAULT`), which becomes the constraint's `ON DELETE` clause.
    pub fn db_on_delete(&self) -> Option<&'static str> {
        let arg = self.on_delete()?;
        let handler = match &arg.value {
            Value::Ref(path) => path.as_str(),
            Value::Call(call) => &call.callee,
            _ => return None,
        };
        match handler.rsplit('.').next()? {
            "DB_CASCADE" => Some("CASCADE"),
            "DB_SET_NULL" => Some("SET NULL"),
            "DB_SET_DEFAULT" => Some("SET DEFAULT"),
            _ => None,
        }
    }

    /// A one-to-one relation (unique by default).
    pub fn is_one_to_one(&self) -> bool {
        self.is_relation() && self.class().contains("OneToOne")
    }

    /// A many-to-many field through a model of the project's own (`through=`): the join
    /// table is that model's, created and dropped by its own operations.
    pub fn is_m2m_through(&self) -> bool {
        self.is_m2m() && self.call.kwarg("through").is_some()
    }

    /// The join table Django creates for this many-to-many field (`name`) of a model whose
    /// table is `model_table`: `db_table=`, or `<model_table>_<name>` truncated as Django's
    /// `truncate_name` does to PostgreSQL's 63 characters; `None` with a `through` model
    /// (the user's own table).
    pub fn join_table(&self, model_table: &str, name: &str) -> Option<String> {
        if !self.is_m2m() || self.is_m2m_through() {
            return None;
        }
        if let Some(explicit) = self.call.kwarg("db_table") {
            return explicit.value.as_str().map(str::to_string);
        }
        let table = format!("{model_table}_{name}");
        if table.len() <= 63 {
            return Some(table);
        }
        let head = table.get(..59)?;
        Some(format!(
            "{head}{}",
            crate::django::names::names_digest(&[&table], 4)
        ))
    }

    /// A relation with a column (`<name>_id`): Django's `ForeignKey`/`OneToOneField`, a
    /// known library subclass, or any class called with a target (`to`) and an
    /// `on_delete` handler (a project's own `ForeignKey` subclass).
    pub fn is_relation(&self) -> bool {
        self.relation
    }

    /// True when the field has a column of its own (everything but many-to-many).
    pub fn has_column(&self) -> bool {
        !self.is_m2m()
    }

    /// The relation target as written: `"app.Model"`, `"Model"`, `settings.AUTH_USER_MODEL`.
    pub fn target(&self) -> Option<&Spanned> {
        if self.is_relation() || self.is_m2m() {
            self.call.arg(Some(0), "to")
        } else {
            None
        }
    }

    pub fn primary_key(&self) -> Option<bool> {
        self.flag("primary_key", false)
    }

    pub fn null(&self) -> Option<bool> {
        self.flag("null", false)
    }

    /// Django's `field.unique`: `unique=True`, a primary key, or a one-to-one relation.
    pub fn unique(&self) -> Option<bool> {
        if self.primary_key() == Some(true) {
            return Some(true);
        }
        let default = self.is_one_to_one();
        let explicit = self.flag("unique", default)?;
        match self.primary_key() {
            Some(_) => Some(explicit),
            None if explicit => Some(true),
            None => None,
        }
    }

    /// Django's `field.db_index`: explicit, or true by default for foreign keys and slugs.
    pub fn db_index(&self) -> Option<bool> {
        let default =
            (self.is_relation() && self.class() != "ForeignObject") || self.class() == "SlugField";
        self.flag("db_index", default)
    }

    pub fn has_default(&self) -> bool {
        self.kw("default").is_some()
    }

    /// `db_default` is given and is not `None` (a database default that fills old rows
    /// and old code's INSERTs).
    pub fn db_default(&self) -> Option<&Spanned> {
        self.call.kwarg("db_default").filter(|v| !v.value.is_none())
    }

    pub fn db_constraint(&self) -> Option<bool> {
        self.flag("db_constraint", true)
    }

    /// The `db_column` argument when it is a literal string.
    pub fn db_column(&self) -> Option<Option<&str>> {
        match self.kw("db_column") {
            None | Some(Value::None) => Some(None),
            Some(Value::Str(s)) => Some(Some(s)),
            Some(_) => None,
        }
    }

    /// Django's `field.column`: `db_column`, or the attribute name (`<name>_id` for relations).
    pub fn column(&self, name: &str) -> Option<String> {
        self.column_ref(name).map(std::borrow::Cow::into_owned)
    }

    /// [`FieldDef::column`], borrowed where it can be (the replay asks for every field).
    pub fn column_ref<'a>(&'a self, name: &'a str) -> Option<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        match self.db_column()? {
            Some(col) => Some(Cow::Borrowed(col)),
            None if self.is_relation() => Some(Cow::Owned(format!("{name}_id"))),
            None => Some(Cow::Borrowed(name)),
        }
    }

    fn int_kw(&self, name: &str, pos: Option<usize>) -> Option<Option<i64>> {
        match self.call.arg(pos, name).map(|s| &s.value) {
            None | Some(Value::None) => Some(None),
            Some(Value::Int(i)) => Some(Some(*i)),
            Some(_) => None,
        }
    }

    /// The PostgreSQL column type Django gives this field, where migrail can tell.
    /// `None` for relations (their type is the target's key) and unknown classes.
    /// The column type Django's MySQL backend gives the field (its `data_types`, Django
    /// 5.2): `varchar(20)`, `integer UNSIGNED`, `datetime(6)`; `None` for relations and
    /// classes migrail does not know. On MariaDB 10.7+ Django makes a `UUIDField` `uuid`.
    pub fn mysql_type(&self, mariadb: bool) -> Option<String> {
        let db = self.db_type();
        Some(match (self.class(), db) {
            (
                _,
                Some(DbType::Varchar {
                    max_length: Some(n),
                }),
            ) => format!("varchar({n})"),
            (
                _,
                Some(DbType::Numeric {
                    max_digits,
                    decimal_places,
                }),
            ) => format!("numeric({max_digits}, {decimal_places})"),
            ("TextField", _) => "longtext".into(),
            ("AutoField", _) => "integer AUTO_INCREMENT".into(),
            ("BigAutoField", _) => "bigint AUTO_INCREMENT".into(),
            ("SmallAutoField", _) => "smallint AUTO_INCREMENT".into(),
            ("IntegerField", _) => "integer".into(),
            ("BigIntegerField", _) => "bigint".into(),
            ("SmallIntegerField", _) => "smallint".into(),
            ("PositiveIntegerField", _) => "integer UNSIGNED".into(),
            ("PositiveBigIntegerField", _) => "bigint UNSIGNED".into(),
            ("PositiveSmallIntegerField", _) => "smallint UNSIGNED".into(),
            ("BooleanField" | "NullBooleanField", _) => "bool".into(),
            ("DateField", _) => "date".into(),
            ("DateTimeField", _) => "datetime(6)".into(),
            ("TimeField", _) => "time(6)".into(),
            ("DurationField", _) => "bigint".into(),
            ("FloatField", _) => "double precision".into(),
            ("UUIDField", _) if mariadb => "uuid".into(),
            ("UUIDField", _) => "char(32)".into(),
            ("JSONField", _) => "json".into(),
            ("BinaryField", _) => "longblob".into(),
            ("IPAddressField", _) => "char(15)".into(),
            ("GenericIPAddressField", _) => "char(39)".into(),
            _ => return None,
        })
    }

    pub fn db_type(&self) -> Option<DbType> {
        let named = |n: &str| {
            Some(DbType::Named {
                name: n.to_string(),
            })
        };
        let varchar = |default: Option<i64>| -> Option<DbType> {
            let max_length = self.int_kw("max_length", None)?.or(default);
            Some(DbType::Varchar { max_length })
        };
        match self.class() {
            "CharField" => varchar(None),
            "SlugField" => varchar(Some(50)),
            "EmailField" => varchar(Some(254)),
            "URLField" => varchar(Some(200)),
            "FileField" | "ImageField" | "FilePathField" => varchar(Some(100)),
            "CommaSeparatedIntegerField" => varchar(None),
            "TextField" => Some(DbType::Text),
            "DecimalField" => {
                let digits = self.int_kw("max_digits", Some(2))??;
                let places = self.int_kw("decimal_places", Some(3))??;
                Some(DbType::Numeric {
                    max_digits: digits,
                    decimal_places: places,
                })
            }
            "AutoField" | "IntegerField" | "PositiveIntegerField" => named("integer"),
            "BigAutoField" | "BigIntegerField" | "PositiveBigIntegerField" => named("bigint"),
            "SmallAutoField" | "SmallIntegerField" | "PositiveSmallIntegerField" => {
                named("smallint")
            }
            "BooleanField" | "NullBooleanField" => named("boolean"),
            "DateTimeField" => named("timestamp with time zone"),
            "DateField" => named("date"),
            "TimeField" => named("time"),
            "DurationField" => named("interval"),
            "FloatField" => named("double precision"),
            "UUIDField" => named("uuid"),
            "JSONField" => named("jsonb"),
            "BinaryField" => named("bytea"),
            "GenericIPAddressField" | "IPAddressField" => named("inet"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::python::{eval, Scope};
    use ruff_python_ast::{PySourceType, Stmt};

    fn field(src: &str) -> FieldDef {
        let source =
            format!("from django.db import models\nfrom django.conf import settings\n{src}\n");
        let parsed = ruff_python_parser::parse_unchecked_source(&source, PySourceType::Python);
        let body = &parsed.syntax().body;
        let (last, rest) = body.split_last().expect("statements");
        let scope = Scope::from_module(rest, &source);
        let Stmt::Expr(e) = last else {
            panic!("expression expected")
        };
        let v = eval(&e.value, &scope, &source);
        FieldDef::from_call(v.value.as_call().expect("call"))
    }

    #[test]
    fn foreign_key_subclasses_are_relations_with_their_column_index_and_uniqueness() {
        for code in [
            "mptt.fields.TreeForeignKey('shop.Node', on_delete=models.CASCADE, null=True)",
            "filer.fields.image.FilerImageField(on_delete=django.db.models.deletion.SET_NULL, to='filer.Image', null=True)",
            "shop.fields.MasterKey('shop.Master', models.PROTECT, null=True)",
        ] {
            let f = field(code);
            assert!(f.is_relation() && !f.is_m2m(), "{code}");
            assert_eq!(f.column("master").as_deref(), Some("master_id"), "{code}");
            assert_eq!(f.db_index(), Some(true), "{code}");
            assert_eq!(f.unique(), Some(false), "{code}");
        }
        let one = field("annoying.fields.AutoOneToOneField('auth.User', on_delete=models.CASCADE)");
        assert!(one.is_one_to_one());
        assert_eq!(one.unique(), Some(true));
        for code in [
            "modelcluster.fields.ParentalManyToManyField('shop.Tag', blank=True)",
            "sortedm2m.fields.SortedManyToManyField(to='shop.Tag')",
            "shop.fields.MyManyToManyField(to='shop.Tag')",
        ] {
            let f = field(code);
            assert!(f.is_m2m() && !f.is_relation() && !f.has_column(), "{code}");
        }
        // A target without an on_delete handler is not a relation.
        let f = field("shop.fields.Pointer(to='shop.Node', kind=models.CASCADE)");
        assert!(!f.is_relation() && !f.is_m2m());
        assert_eq!(f.column("master").as_deref(), Some("master"));
    }

    #[test]
    fn foreign_keys_get_an_id_column_and_an_index() {
        let f = field("models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)");
        assert_eq!(f.column("owner").as_deref(), Some("owner_id"));
        assert_eq!(f.db_index(), Some(true));
        assert_eq!(f.null(), Some(false));
        assert_eq!(
            f.target().map(|t| t.value.describe()).as_deref(),
            Some("django.conf.settings.AUTH_USER_MODEL")
        );
    }

    #[test]
    fn db_column_wins_and_one_to_one_is_unique() {
        let f = field("models.OneToOneField('app.Profile', models.CASCADE, db_column='pid')");
        assert_eq!(f.column("profile").as_deref(), Some("pid"));
        assert_eq!(f.unique(), Some(true));
    }

    #[test]
    fn a_target_label_differing_in_case_is_the_same_column() {
        let a = field("models.ForeignKey(to='contenttypes.ContentType', on_delete=models.CASCADE, related_name='x')");
        let b = field("models.ForeignKey(to='contenttypes.contenttype', on_delete=models.CASCADE, related_name='y')");
        assert!(a.same_in_database(&b, "content_type"));
        let c = field("models.ForeignKey('contenttypes.ContentType', models.CASCADE)");
        let d = field("models.ForeignKey('contenttypes.contenttype', models.CASCADE, null=True)");
        assert!(
            !c.same_in_database(&d, "content_type"),
            "null is the database's"
        );
        let e = field("models.ForeignKey('contenttypes.contenttype', models.CASCADE)");
        assert!(c.same_in_database(&e, "content_type"));
        let f = field("models.ForeignKey('contenttypes.Other', models.CASCADE)");
        assert!(!c.same_in_database(&f, "content_type"));
        // Defaults written out are defaults.
        let g = field("models.ForeignKey('contenttypes.ContentType', models.CASCADE, null=False, db_index=True, db_constraint=True)");
        assert!(c.same_in_database(&g, "content_type"));
        let h =
            field("models.ForeignKey('contenttypes.ContentType', models.CASCADE, db_index=False)");
        assert!(!c.same_in_database(&h, "content_type"));
        let plain = field("models.CharField(max_length=10)");
        let explicit =
            field("models.CharField(max_length=10, null=False, unique=False, db_index=False)");
        assert!(plain.same_in_database(&explicit, "code"));
    }

    /// The quick answer (arguments written alike) and the full comparison (arguments
    /// described, defaults set aside, in any order) agree on every pair.
    #[test]
    fn fields_written_alike_or_not_are_judged_as_the_database_sees_them() {
        let same = |a: &str, b: &str| field(a).same_in_database(&field(b), "f");
        // Only what stays in Python changes: alike, the quick answer.
        assert!(same(
            "models.CharField(max_length=10, help_text='a', default=Money(1, currency={'c': [1.5]}))",
            "models.CharField(max_length=10, help_text='b', verbose_name='x', default=Money(1, currency={'c': [1.5]}))",
        ));
        // Nested values differing anywhere are not alike.
        assert!(!same(
            "models.CharField(max_length=10, default=Money(1, currency={'c': [1.5]}))",
            "models.CharField(max_length=10, default=Money(1, currency={'c': [2.5]}))",
        ));
        assert!(!same(
            "models.CharField(max_length=10, default=Money(1, currency='EUR'))",
            "models.CharField(max_length=10, default=Money(1, kind='EUR'))",
        ));
        // Equal numbers written differently are different defaults.
        assert!(!same(
            "models.FloatField(default=0.0)",
            "models.FloatField(default=-0.0)",
        ));
        // Not alike, but the same to the database: the full comparison says so.
        assert!(same(
            "models.CharField(max_length=10, null=True)",
            "models.CharField(null=True, max_length=10)",
        ));
        assert!(same(
            "models.CharField(max_length=10)",
            "models.CharField(max_length=10, null=False, db_index=False)",
        ));
        // Written alike where the database looks, but one is a relation (a target and a
        // handler) and the other not: `db_index=True` is a relation's default only.
        assert!(!same(
            "fields.Ref('app.Thing', on_delete=models.CASCADE, db_column='f', db_index=True)",
            "fields.Ref('app.Thing', db_column='f', db_index=True)",
        ));
        assert!(same(
            "fields.Ref('app.Thing', on_delete=models.CASCADE, db_column='f')",
            "fields.Ref('app.Thing', db_column='f')",
        ));
    }

    #[test]
    fn unknown_arguments_stay_unknown() {
        let f = field("models.CharField(max_length=settings.LEN, null=settings.NULLABLE)");
        assert_eq!(f.null(), None);
        assert_eq!(f.db_type(), None);
    }

    #[test]
    fn widening_rules_match_postgres() {
        let v = |n| DbType::Varchar {
            max_length: Some(n),
        };
        assert!(v(10).widens_in_place_to(&v(20)));
        assert!(!v(20).widens_in_place_to(&v(10)));
        assert!(v(20).widens_in_place_to(&DbType::Text));
        assert!(!DbType::Text.widens_in_place_to(&v(20)));
        let n = |d, s| DbType::Numeric {
            max_digits: d,
            decimal_places: s,
        };
        assert!(n(5, 2).widens_in_place_to(&n(7, 2)));
        assert!(!n(5, 2).widens_in_place_to(&n(7, 3)));
        let int = DbType::Named {
            name: "integer".into(),
        };
        let big = DbType::Named {
            name: "bigint".into(),
        };
        assert!(!int.widens_in_place_to(&big));
    }

    #[test]
    fn decimal_positional_arguments_are_bound() {
        let f = field("models.DecimalField('price', 'price', 8, 2)");
        assert_eq!(
            f.db_type(),
            Some(DbType::Numeric {
                max_digits: 8,
                decimal_places: 2
            })
        );
    }
}
