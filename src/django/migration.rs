//! One migration file, parsed: the `Migration` class's attributes and typed operations.
//!
//! Parsing never fails: a file with syntax errors yields every error the parser found
//! (with the partial AST still read where possible), and everything migrail could not
//! read statically is kept as a [`Problem`] pointing at its source range, so the linter
//! can report it instead of dropping it.

use std::path::PathBuf;
use std::sync::Arc;

use ruff_python_ast::{Expr, PySourceType, Stmt};
use ruff_source_file::LineIndex;
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::operations::Operation;
use super::python::{eval, Scope, Spanned, Value};

/// `(app_label, migration_name)`.
pub type MigrationKey = (String, String);

/// A dependency as written in `dependencies` or `run_before`.
#[derive(Clone, Debug, PartialEq)]
pub enum Dependency {
    /// `("app", "0002_x")`, `("app", "__first__")`, `("app", "__latest__")`.
    Node {
        app: String,
        name: String,
        range: TextRange,
    },
    /// `migrations.swappable_dependency(X)` where X is not a setting migrail knows.
    Unresolved { text: String, range: TextRange },
}

/// Something in the file migrail could not read: reported as a finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    pub range: TextRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The parser's syntax errors, and a file without a `Migration` class.
    Syntax,
    /// Attributes computed at run time.
    Unreadable,
    /// An entry of `dependencies` or `run_before` computed at run time (a swappable
    /// model's `swapper.dependency(...)`): an edge of the graph migrail cannot draw.
    UnreadableDependency,
    /// `operations` computed at run time: the state after this migration is incomplete.
    UnreadableOperations,
}

/// The source text of a file with its line index, shared by findings and renderers.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Built when a position is first asked for: most files of a large tree have no
    /// finding to place.
    lines: std::sync::OnceLock<LineIndex>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> SourceFile {
        SourceFile {
            path,
            text,
            lines: std::sync::OnceLock::new(),
        }
    }

    /// One-based line and column (in characters) of an offset.
    pub fn line_col(&self, offset: TextSize) -> (usize, usize) {
        let lines = self
            .lines
            .get_or_init(|| LineIndex::from_source_text(&self.text));
        let lc = lines.line_column(offset, &self.text);
        (lc.line.get(), lc.column.get())
    }
}

#[derive(Debug)]
pub struct MigrationFile {
    pub app: String,
    pub name: String,
    pub source: Arc<SourceFile>,
    /// The range of `class Migration`'s header, for findings about the whole migration.
    pub class_range: TextRange,
    pub dependencies: Vec<Dependency>,
    pub run_before: Vec<Dependency>,
    pub replaces: Vec<(String, String)>,
    pub initial: Option<bool>,
    /// `atomic = False` makes Django run the migration outside one transaction.
    pub atomic: bool,
    pub operations: Vec<Operation>,
    /// Class-body attributes not listed above (deploy markers and the like), evaluated.
    pub attributes: Vec<(String, Spanned)>,
    pub problems: Vec<Problem>,
    /// Every `#` comment of the file (for suppressions), in source order.
    pub comments: Vec<TextRange>,
}

impl MigrationFile {
    pub fn key(&self) -> MigrationKey {
        (self.app.clone(), self.name.clone())
    }

    /// An operation after `op` (top level, or among a `SeparateDatabaseAndState`'s
    /// database operations) deletes model `name`.
    pub fn deletes_model_after(&self, op: &Operation, name: &str) -> bool {
        self.deletes_model_after_in(op, name, false)
    }

    /// A `DeleteModel` of `name` after `op` in this migration's *state* (top level, or in a
    /// `SeparateDatabaseAndState`'s `state_operations`): a model moved to another app.
    pub fn state_deletes_model_after(&self, op: &Operation, name: &str) -> bool {
        self.deletes_model_after_in(op, name, true)
    }

    fn deletes_model_after_in(&self, op: &Operation, name: &str, state: bool) -> bool {
        fn deletes(o: &Operation, name: &str, after: TextSize, state: bool) -> bool {
            use super::operations::OpKind;
            match &o.kind {
                OpKind::DeleteModel { name: deleted } => {
                    o.range().start() > after && deleted.eq_ignore_ascii_case(name)
                }
                OpKind::SeparateDatabaseAndState {
                    database_operations,
                    state_operations,
                } => {
                    let inner = if state {
                        state_operations
                    } else {
                        database_operations
                    };
                    inner.iter().any(|i| deletes(i, name, after, state))
                }
                _ => false,
            }
        }
        let after = op.range().start();
        self.operations
            .iter()
            .any(|o| deletes(o, name, after, state))
    }

    /// An operation after `op` in this migration alters, renames or removes field `field`
    /// of model `model` (in the state too): a fix that restores the field "as written" at
    /// the end of the migration would undo it.
    pub fn changes_field_after(&self, op: &Operation, model: &str, field: &str) -> bool {
        use super::operations::OpKind;
        fn changes(o: &Operation, model: &str, field: &str, after: TextSize) -> bool {
            match &o.kind {
                OpKind::AlterField {
                    model_name, name, ..
                }
                | OpKind::RemoveField { model_name, name } => {
                    o.range().start() > after
                        && model_name.eq_ignore_ascii_case(model)
                        && name == field
                }
                OpKind::RenameField {
                    model_name,
                    old_name,
                    ..
                } => {
                    o.range().start() > after
                        && model_name.eq_ignore_ascii_case(model)
                        && old_name == field
                }
                OpKind::SeparateDatabaseAndState {
                    state_operations, ..
                } => state_operations
                    .iter()
                    .any(|i| changes(i, model, field, after)),
                _ => false,
            }
        }
        let after = op.range().start();
        self.operations
            .iter()
            .any(|o| changes(o, model, field, after))
    }

    /// An `AddField` before `op` in this migration adds field `field` of model `model`:
    /// no old code knows that column.
    pub fn adds_field_before(&self, op: &Operation, model: &str, field: &str) -> bool {
        use super::operations::OpKind;
        let before = op.range().start();
        self.operations.iter().any(|o| {
            matches!(&o.kind, OpKind::AddField { model_name, name, .. }
                if o.range().start() < before && model_name.eq_ignore_ascii_case(model) && name == field)
        })
    }

    pub fn has_syntax_errors(&self) -> bool {
        self.problems.iter().any(|p| p.kind == ProblemKind::Syntax)
    }
}

/// The settings a migration may name: `settings.AUTH_USER_MODEL` and friends.
#[derive(Clone, Debug)]
pub struct Settings {
    pub auth_user_model: String,
    /// Apps whose migrations live elsewhere (`MIGRATION_MODULES`).
    pub migration_modules: super::discover::MigrationModules,
    /// The Django version the project pins, when known (`db_default` needs 5.0).
    pub django_version: Option<super::version::DjangoVersion>,
    /// `DEFAULT_AUTO_FIELD` as the settings module sets it (dotted path); `None`: not
    /// read (no settings found, or computed).
    pub default_auto_field: Option<String>,
    /// The database the migrations run on (engine, version), for the rules.
    pub database: super::database::Database,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auth_user_model: "auth.User".to_string(),
            migration_modules: Default::default(),
            django_version: None,
            default_auto_field: None,
            database: Default::default(),
        }
    }
}

impl Settings {
    /// The model a swappable setting names (`django.conf.settings.AUTH_USER_MODEL`).
    pub fn resolve_model_setting(&self, path: &str) -> Option<&str> {
        match path {
            "django.conf.settings.AUTH_USER_MODEL" | "settings.AUTH_USER_MODEL" => {
                Some(&self.auth_user_model)
            }
            _ => None,
        }
    }
}

/// Parse a migration file. `app` is the app label, `name` the file stem.
pub fn parse_migration(
    app: &str,
    name: &str,
    source: Arc<SourceFile>,
    settings: &Settings,
) -> MigrationFile {
    let text = source.text.as_str();
    let parsed = ruff_python_parser::parse_unchecked_source(text, PySourceType::Python);
    let mut problems: Vec<Problem> = parsed
        .errors()
        .iter()
        .map(|e| Problem {
            kind: ProblemKind::Syntax,
            message: e.error.to_string(),
            range: e.location,
        })
        .collect();
    let mut file = MigrationFile {
        app: app.to_string(),
        name: name.to_string(),
        source: source.clone(),
        class_range: TextRange::default(),
        dependencies: Vec::new(),
        run_before: Vec::new(),
        replaces: Vec::new(),
        initial: None,
        atomic: true,
        operations: Vec::new(),
        attributes: Vec::new(),
        problems: Vec::new(),
        comments: parsed
            .tokens()
            .iter()
            .filter(|t| t.kind() == ruff_python_ast::token::TokenKind::Comment)
            .map(|t| t.range())
            .collect(),
    };

    let body = &parsed.syntax().body;
    let mut scope = Scope::default();
    let mut class = None;
    for stmt in body {
        scope.add_statement(stmt, text);
        if let Stmt::ClassDef(def) = stmt {
            if def.name.id.as_str() == "Migration" {
                class = Some(def);
            }
        }
    }
    let Some(class) = class else {
        if problems.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::Syntax,
                message: "no `class Migration` in this file: Django cannot load it as a migration"
                    .into(),
                range: TextRange::empty(TextSize::from(0)),
            });
        }
        file.problems = problems;
        return file;
    };
    file.class_range = TextRange::new(class.range().start(), class.name.range().end());

    // Class-body assignments see earlier class attributes, as Python does: each value is
    // evaluated once, read, then bound in the scope for the statements after it.
    for stmt in &class.body {
        let (target, value) = match stmt {
            Stmt::Assign(a) => match a.targets.as_slice() {
                [Expr::Name(n)] => (n.id.to_string(), &*a.value),
                _ => continue,
            },
            Stmt::AnnAssign(a) => match (&*a.target, &a.value) {
                (Expr::Name(n), Some(v)) => (n.id.to_string(), &**v),
                _ => continue,
            },
            _ => continue,
        };
        let value = eval(value, &scope, text);
        read_attribute(&mut file, &mut problems, &target, &value, settings);
        scope.assign(target, value);
    }
    file.problems = problems;
    file
}

fn read_attribute(
    file: &mut MigrationFile,
    problems: &mut Vec<Problem>,
    target: &str,
    value: &Spanned,
    settings: &Settings,
) {
    let unreadable = |problems: &mut Vec<Problem>, what: &str, v: &Spanned| {
        problems.push(Problem {
            kind: ProblemKind::Unreadable,
            message: format!(
                "{what} is computed at run time (`{}`): migrail cannot read it statically",
                v.value.describe()
            ),
            range: v.range,
        })
    };
    match target {
        "dependencies" | "run_before" => {
            let Some(items) = value.value.as_seq() else {
                unreadable(problems, &format!("`{target}`"), value);
                return;
            };
            let mut deps = Vec::new();
            for item in items {
                match dependency(item, settings) {
                    Some(d) => deps.push(d),
                    None => problems.push(Problem {
                        kind: ProblemKind::UnreadableDependency,
                        message: format!(
                            "an entry of `{target}` is computed at run time (`{}`): migrail cannot \
                             read it statically",
                            item.value.describe()
                        ),
                        range: item.range,
                    }),
                }
            }
            if target == "dependencies" {
                file.dependencies = deps;
            } else {
                file.run_before = deps;
            }
        }
        "replaces" => {
            let Some(items) = value.value.as_seq() else {
                unreadable(problems, &format!("`{target}`"), value);
                return;
            };
            for item in items {
                match item.value.as_seq() {
                    Some([a, n]) => match (a.value.as_str(), n.value.as_str()) {
                        (Some(a), Some(n)) => file.replaces.push((a.to_string(), n.to_string())),
                        _ => unreadable(problems, "an entry of `replaces`", item),
                    },
                    _ => unreadable(problems, "an entry of `replaces`", item),
                }
            }
        }
        "initial" => file.initial = value.value.truthy(),
        "atomic" => match value.value.truthy() {
            Some(b) => file.atomic = b,
            None => unreadable(problems, &format!("`{target}`"), value),
        },
        "operations" => match value.value.as_seq() {
            Some(items) => file.operations = items.iter().map(Operation::from_value).collect(),
            None => problems.push(Problem {
                kind: ProblemKind::UnreadableOperations,
                message: format!(
                    "`operations` is computed at run time (`{}`): migrail cannot see which operations run, \
                     so they are not linted and the model state after this migration may be incomplete",
                    value.value.describe()
                ),
                range: value.range,
            }),
        },
        _ => file.attributes.push((target.to_string(), value.clone())),
    }
}

fn dependency(item: &Spanned, settings: &Settings) -> Option<Dependency> {
    match &item.value {
        Value::Tuple(pair) | Value::List(pair) => match pair.as_slice() {
            [a, n] => Some(Dependency::Node {
                app: a.value.as_str()?.to_string(),
                name: n.value.as_str()?.to_string(),
                range: item.range,
            }),
            _ => None,
        },
        Value::Call(call) if call.short_name() == "swappable_dependency" => {
            let arg = call.arg(Some(0), "value")?;
            let model = match &arg.value {
                Value::Str(s) => Some(s.as_str()),
                Value::Ref(r) => settings.resolve_model_setting(r),
                _ => None,
            };
            match model.and_then(|m| m.split_once('.')) {
                Some((app, _)) => Some(Dependency::Node {
                    app: app.to_string(),
                    name: "__first__".into(),
                    range: item.range,
                }),
                None => Some(Dependency::Unresolved {
                    text: arg.value.describe(),
                    range: item.range,
                }),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::operations::OpKind;

    fn parse(text: &str) -> MigrationFile {
        let source = Arc::new(SourceFile::new(
            PathBuf::from("app/migrations/0002_x.py"),
            text.to_string(),
        ));
        parse_migration("app", "0002_x", source, &Settings::default())
    }

    #[test]
    fn reads_the_migration_class() {
        let m = parse(
            "from django.conf import settings\nfrom django.db import migrations, models\n\n\
             class Migration(migrations.Migration):\n    atomic = False\n    initial = True\n    \
             dependencies = [('app', '0001_initial'), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]\n    \
             replaces = [('app', '0001_a')]\n    \
             operations = [migrations.AddField('book', 'title', models.CharField(max_length=3))]\n",
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert!(!m.atomic);
        assert_eq!(m.initial, Some(true));
        assert_eq!(m.dependencies.len(), 2);
        assert!(
            matches!(&m.dependencies[1], Dependency::Node { app, name, .. } if app == "auth" && name == "__first__")
        );
        assert_eq!(m.replaces, vec![("app".to_string(), "0001_a".to_string())]);
        assert!(
            matches!(&m.operations[0].kind, OpKind::AddField { model_name, name, .. } if model_name == "book" && name == "title")
        );
    }

    #[test]
    fn reports_every_syntax_error() {
        let m = parse("class Migration(:\n    x = = 1\n");
        let syntax = m
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Syntax)
            .count();
        assert!(syntax >= 2, "{:?}", m.problems);
    }

    #[test]
    fn a_file_without_migration_class_is_a_syntax_problem() {
        let m = parse("x = 1\n");
        assert_eq!(m.problems.len(), 1);
        assert!(m.problems[0].message.contains("no `class Migration`"));
    }

    #[test]
    fn runtime_operations_are_reported_not_dropped() {
        let m = parse(
            "from django.conf import settings\nfrom django.db import migrations\n\
             class Migration(migrations.Migration):\n    operations = [migrations.RunPython(f)] if settings.X else []\n",
        );
        assert_eq!(m.operations.len(), 0);
        assert_eq!(m.problems.len(), 1);
        assert_eq!(m.problems[0].kind, ProblemKind::UnreadableOperations);
    }

    #[test]
    fn unknown_operations_are_kept() {
        let m = parse(
            "from django.db import migrations\nfrom myapp.ops import Backfill\n\
             class Migration(migrations.Migration):\n    operations = [Backfill('x'), migrations.RunPython(f, migrations.RunPython.noop)]\n",
        );
        assert_eq!(m.operations.len(), 2);
        assert!(matches!(m.operations[0].kind, OpKind::Unknown { .. }));
        assert!(matches!(m.operations[1].kind, OpKind::RunPython { .. }));
    }
}
