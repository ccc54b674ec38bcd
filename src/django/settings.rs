//! The project's Django settings, read statically: the settings module `manage.py` names
//! (its `DJANGO_SETTINGS_MODULE` default, or the environment variable as Django reads it),
//! as a file or a package, following `from ... import *` as Python does, for the two
//! values that change what migrail reads: `MIGRATION_MODULES` (where an app's migrations
//! live) and `AUTH_USER_MODEL`.
//!
//! Nothing is executed: an assignment under an `if` counts (either branch may run), a value
//! computed at run time is skipped, and whatever cannot be found leaves Django's defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ruff_python_ast::{Expr, PySourceType, Stmt};

use super::python::{eval, Scope, Value};

/// What the settings module says, as far as migrail needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectSettings {
    /// The settings file read (for messages), when one was found.
    pub module: Option<PathBuf>,
    /// The folder on `sys.path` that `manage.py` runs from (its own folder).
    pub root: Option<PathBuf>,
    /// `MIGRATION_MODULES`: app label -> dotted module, `None` for "no migrations".
    pub migration_modules: BTreeMap<String, Option<String>>,
    pub auth_user_model: Option<String>,
    /// `DEFAULT_AUTO_FIELD`, the dotted class path.
    pub default_auto_field: Option<String>,
    /// The engine `DATABASES["default"]` names (its `ENGINE`, or a database URL).
    pub database_engine: Option<super::database::Engine>,
    /// `DATABASES` is set, but its engine is none migrail judges for, or is read at run
    /// time: what was seen (`sqlite3`, `read at run time`), for the summary line.
    pub database_unread: Option<String>,
}

/// The [`Settings`](super::migration::Settings) to read the project at `roots` with:
/// `auth_user_model` when given (flag or configuration), else the settings module's, else
/// Django's default; `MIGRATION_MODULES` from the settings module with `extra` (the
/// configuration's `migration-modules`, label -> folder) over it.
pub fn resolve(
    roots: &[PathBuf],
    auth_user_model: Option<&str>,
    extra: &[(String, Option<PathBuf>)],
) -> super::migration::Settings {
    let found = read(roots);
    let root = found.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut entries: Vec<(String, Option<PathBuf>)> = found
        .migration_modules
        .iter()
        .map(|(label, module)| {
            (
                label.clone(),
                module.as_deref().map(|m| module_folder(&root, m)),
            )
        })
        .collect();
    entries.extend(extra.iter().cloned());
    let mut settings = super::migration::Settings::default();
    if let Some(model) = auth_user_model.or(found.auth_user_model.as_deref()) {
        settings.auth_user_model = model.to_string();
    }
    settings.migration_modules = super::discover::MigrationModules::new(entries);
    settings.default_auto_field = found.default_auto_field.clone();
    if let (Some(engine), Some(file)) = (found.database_engine, &found.module) {
        settings.database =
            super::database::Database::from_settings(engine, crate::lint::display_path(file));
    }
    let project_dir = found
        .root
        .clone()
        .or_else(|| roots.first().cloned())
        .unwrap_or_else(|| PathBuf::from("."));
    settings.django_version = super::version::detect(&project_dir).map(|(v, _)| v);
    settings
}

/// How deep `from x import *` chains and folder searches for `manage.py` go.
const MAX_STAR_DEPTH: usize = 8;

/// The settings of the project the `roots` belong to: the first `manage.py` found in a
/// root, above it (up to the working directory), or up to two folders below it.
pub fn read(roots: &[PathBuf]) -> ProjectSettings {
    let Some(manage) = find_manage_py(roots) else {
        return ProjectSettings::default();
    };
    let root = manage.parent().unwrap_or(Path::new(".")).to_path_buf();
    let module = std::env::var("DJANGO_SETTINGS_MODULE")
        .ok()
        .filter(|m| !m.is_empty())
        .or_else(|| {
            std::fs::read_to_string(&manage)
                .ok()
                .and_then(|text| settings_module_default(&text))
        });
    let mut out = ProjectSettings {
        root: Some(root.clone()),
        ..ProjectSettings::default()
    };
    let Some(module) = module else {
        return out;
    };
    if let Some(file) = module_file(&root, &module) {
        read_module(&root, &file, &module, 0, &mut out);
        out.module = Some(file);
    }
    out
}

fn find_manage_py(roots: &[PathBuf]) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    for root in roots {
        let dir = if root.is_file() {
            root.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            root.clone()
        };
        let absolute = dir.canonicalize().unwrap_or(dir.clone());
        for d in absolute.ancestors() {
            if d.join("manage.py").is_file() {
                return Some(d.join("manage.py"));
            }
            if cwd.as_deref() == Some(d) {
                break;
            }
        }
        // A repository whose Django project sits in a subfolder (`backend/manage.py`).
        let mut level = vec![absolute];
        for _ in 0..2 {
            let mut next = Vec::new();
            for d in &level {
                let Ok(entries) = std::fs::read_dir(d) else {
                    continue;
                };
                let mut subdirs: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| !n.starts_with('.') && n != "node_modules")
                    })
                    .collect();
                subdirs.sort();
                for s in subdirs {
                    if s.join("manage.py").is_file() {
                        return Some(s.join("manage.py"));
                    }
                    next.push(s);
                }
            }
            level = next;
        }
    }
    None
}

/// The default `manage.py` gives `DJANGO_SETTINGS_MODULE`:
/// `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")`.
pub fn settings_module_default(manage_py: &str) -> Option<String> {
    let at = manage_py.find("DJANGO_SETTINGS_MODULE")?;
    let rest = &manage_py[at + "DJANGO_SETTINGS_MODULE".len()..];
    let rest = rest.trim_start_matches(['"', '\'']).trim_start();
    let rest = rest.strip_prefix(',')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    let module = &value[..end];
    let valid = !module.is_empty()
        && module
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    valid.then(|| module.to_string())
}

/// The file of a dotted module under `root`: `a/b.py` or the package's `a/b/__init__.py`.
pub fn module_file(root: &Path, module: &str) -> Option<PathBuf> {
    let folder = module_folder(root, module);
    let file = folder.with_extension("py");
    if file.is_file() {
        return Some(file);
    }
    let init = folder.join("__init__.py");
    init.is_file().then_some(init)
}

/// The folder a dotted module names under `root` (`dojo.db_migrations` ->
/// `root/dojo/db_migrations`).
pub fn module_folder(root: &Path, module: &str) -> PathBuf {
    module
        .split('.')
        .fold(root.to_path_buf(), |p, part| p.join(part))
}

/// The dotted module a relative `from .x import *` in `module` (a file) names.
fn resolve_relative(module: &str, is_package: bool, level: u32, name: &str) -> Option<String> {
    let mut parts: Vec<&str> = module.split('.').collect();
    // A module's package is its parent; a package's `__init__` is its own package.
    let drop = level as usize - usize::from(is_package);
    if drop > parts.len() {
        return None;
    }
    parts.truncate(parts.len() - drop);
    if !name.is_empty() {
        parts.push(name);
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

/// The name a subscript chain starts from: `DATABASES` in `DATABASES["default"]["ENGINE"]`.
fn subscript_root(sub: &ruff_python_ast::ExprSubscript) -> Option<&str> {
    match &*sub.value {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Subscript(inner) => subscript_root(inner),
        _ => None,
    }
}

/// The part of a `DATABASES` value (or of what is assigned to `DATABASES["default"]`)
/// that names the default alias's engine: its `["default"]`, then its `["ENGINE"]`, as far
/// as they are literal dictionaries.
fn default_engine_part(value: &Value) -> &Value {
    let mut part = value;
    for key in ["default", "ENGINE"] {
        if let Value::Dict(items) = part {
            let found = items
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s.as_str() == key));
            if let Some((_, v)) = found {
                part = &v.value;
            }
        }
    }
    part
}

/// Every string literal in `value` (calls' arguments included), in order.
fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>, depth: usize) {
    if depth > 8 {
        return;
    }
    match value {
        Value::Str(s) => out.push(s.as_str()),
        Value::Dict(items) => items
            .iter()
            .for_each(|(_, v)| strings(&v.value, out, depth + 1)),
        Value::List(items) | Value::Tuple(items) => {
            items.iter().for_each(|v| strings(&v.value, out, depth + 1))
        }
        Value::Call(c) => c
            .args
            .iter()
            .chain(c.kwargs.iter().map(|(_, v)| v))
            .for_each(|v| strings(&v.value, out, depth + 1)),
        _ => {}
    }
}

/// The engine a `DATABASES` value names: the first engine path or database URL among the
/// strings of its default alias's engine (a literal `ENGINE`, `os.environ.get("DB_ENGINE",
/// "django.db.backends.mysql")`, `dj_database_url.config(default="mysql://...")`).
fn engine_in(value: &Value) -> Option<super::database::Engine> {
    let mut found = Vec::new();
    strings(default_engine_part(value), &mut found, 0);
    found
        .into_iter()
        .find_map(super::database::Engine::from_backend)
}

/// What the summary says of a `DATABASES` value whose engine migrail does not judge for.
fn unread_engine(value: &Value) -> String {
    let mut found = Vec::new();
    strings(default_engine_part(value), &mut found, 0);
    for engine in ["sqlite", "oracle", "cockroach", "mssql", "sql_server"] {
        if found
            .iter()
            .any(|s| s.to_ascii_lowercase().contains(engine))
        {
            return format!("the settings name {engine}");
        }
    }
    "the settings' ENGINE is read at run time".to_string()
}

fn read_module(root: &Path, file: &Path, module: &str, depth: usize, out: &mut ProjectSettings) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    let parsed = ruff_python_parser::parse_unchecked_source(&text, PySourceType::Python);
    let is_package = file.file_name().is_some_and(|n| n == "__init__.py");
    let mut scope = Scope::default();
    let reader = Reader {
        root,
        module,
        is_package,
        depth,
        text: &text,
    };
    reader.statements(&parsed.syntax().body, &mut scope, out);
}

struct Reader<'a> {
    root: &'a Path,
    module: &'a str,
    is_package: bool,
    depth: usize,
    text: &'a str,
}

impl Reader<'_> {
    fn statements(&self, body: &[Stmt], scope: &mut Scope, out: &mut ProjectSettings) {
        for stmt in body {
            scope.add_statement(stmt, self.text);
            match stmt {
                Stmt::ImportFrom(from)
                    if from.names.iter().any(|a| a.name.id.as_str() == "*")
                        && self.depth < MAX_STAR_DEPTH =>
                {
                    let name = from.module.as_ref().map(|m| m.id.as_str()).unwrap_or("");
                    let target = if from.level > 0 {
                        resolve_relative(self.module, self.is_package, from.level, name)
                    } else {
                        Some(name.to_string())
                    };
                    if let Some(target) = target {
                        if let Some(file) = module_file(self.root, &target) {
                            read_module(self.root, &file, &target, self.depth + 1, out);
                        }
                    }
                }
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        self.assignment(target, &assign.value, scope, out);
                    }
                }
                Stmt::AnnAssign(assign) => {
                    if let Some(value) = &assign.value {
                        self.assignment(&assign.target, value, scope, out);
                    }
                }
                Stmt::Expr(expr) => self.update_call(&expr.value, scope, out),
                Stmt::If(stmt_if) => {
                    self.statements(&stmt_if.body, scope, out);
                    for clause in &stmt_if.elif_else_clauses {
                        self.statements(&clause.body, scope, out);
                    }
                }
                Stmt::Try(stmt_try) => {
                    self.statements(&stmt_try.body, scope, out);
                    self.statements(&stmt_try.orelse, scope, out);
                    self.statements(&stmt_try.finalbody, scope, out);
                }
                Stmt::With(with) => self.statements(&with.body, scope, out),
                _ => {}
            }
        }
    }

    fn assignment(&self, target: &Expr, value: &Expr, scope: &Scope, out: &mut ProjectSettings) {
        match target {
            Expr::Name(name) if name.id.as_str() == "MIGRATION_MODULES" => {
                let value = eval(value, scope, self.text).value;
                if let Value::Dict(items) = &value {
                    out.migration_modules.clear();
                    merge_modules(items, out);
                }
            }
            Expr::Name(name) if name.id.as_str() == "AUTH_USER_MODEL" => {
                if let Value::Str(s) = eval(value, scope, self.text).value {
                    out.auth_user_model = Some(s.to_string());
                }
            }
            Expr::Name(name) if name.id.as_str() == "DATABASES" => {
                let value = eval(value, scope, self.text).value;
                match engine_in(&value) {
                    Some(engine) => {
                        out.database_engine = Some(engine);
                        out.database_unread = None;
                    }
                    None => {
                        out.database_engine = None;
                        out.database_unread = Some(unread_engine(&value));
                    }
                }
            }
            Expr::Name(name) if name.id.as_str() == "DEFAULT_AUTO_FIELD" => {
                out.default_auto_field = match eval(value, scope, self.text).value {
                    Value::Str(s) => Some(s.to_string()),
                    _ => None,
                };
            }
            // `DATABASES["default"] = {...}`, `DATABASES["default"]["ENGINE"] = "..."`
            Expr::Subscript(sub) if subscript_root(sub) == Some("DATABASES") => {
                let key = eval(&sub.slice, scope, self.text).value;
                let default = matches!(&key, Value::Str(k) if k.as_str() == "default")
                    || matches!(&key, Value::Str(k) if k.as_str() == "ENGINE");
                if default {
                    let value = eval(value, scope, self.text).value;
                    match engine_in(&value) {
                        Some(engine) => {
                            out.database_engine = Some(engine);
                            out.database_unread = None;
                        }
                        None => out.database_unread = Some(unread_engine(&value)),
                    }
                }
            }
            // `MIGRATION_MODULES["app"] = "app.db_migrations"`
            Expr::Subscript(sub) => {
                let is_modules =
                    matches!(&*sub.value, Expr::Name(n) if n.id.as_str() == "MIGRATION_MODULES");
                if !is_modules {
                    return;
                }
                let key = eval(&sub.slice, scope, self.text).value;
                let value = eval(value, scope, self.text).value;
                if let Value::Str(label) = key {
                    match value {
                        Value::Str(m) => {
                            out.migration_modules
                                .insert(label.to_string(), Some(m.to_string()));
                        }
                        Value::None => {
                            out.migration_modules.insert(label.to_string(), None);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// `MIGRATION_MODULES.update({...})`
    fn update_call(&self, expr: &Expr, scope: &Scope, out: &mut ProjectSettings) {
        let Expr::Call(call) = expr else { return };
        let Expr::Attribute(attr) = &*call.func else {
            return;
        };
        let on_modules =
            matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == "MIGRATION_MODULES");
        if !on_modules || attr.attr.id.as_str() != "update" {
            return;
        }
        if let Some(arg) = call.arguments.args.first() {
            if let Value::Dict(items) = eval(arg, scope, self.text).value {
                merge_modules(&items, out);
            }
        }
    }
}

fn merge_modules(
    items: &[(super::python::Spanned, super::python::Spanned)],
    out: &mut ProjectSettings,
) {
    for (k, v) in items {
        let Value::Str(label) = &k.value else {
            continue;
        };
        match &v.value {
            Value::Str(m) => {
                out.migration_modules
                    .insert(label.to_string(), Some(m.to_string()));
            }
            Value::None => {
                out.migration_modules.insert(label.to_string(), None);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn reads_the_settings_module_default_of_manage_py() {
        let manage = "import os\ndef main():\n    os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", 'dojo.settings.settings')\n";
        assert_eq!(
            settings_module_default(manage).as_deref(),
            Some("dojo.settings.settings")
        );
        assert_eq!(settings_module_default("import os\n"), None);
        assert_eq!(
            settings_module_default("os.environ['DJANGO_SETTINGS_MODULE'] = x\n"),
            None
        );
    }

    /// A folder with a `manage.py` naming `site.settings`, and the `site` package.
    fn site_project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "manage.py",
            "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings')\n",
        );
        write(dir.path(), "site/__init__.py", "");
        dir
    }

    /// A settings package whose module star-imports a base module, the assignment under
    /// an `if`, an `update` and an item assignment: all read, in Python's order.
    #[test]
    fn follows_star_imports_and_conditional_assignments() {
        let dir = site_project();
        let root = dir.path();
        write(root, "site/settings/__init__.py", "from .base import *\n");
        write(
            root,
            "site/settings/base.py",
            "import os\nAUTH_USER_MODEL = 'accounts.User'\n\
             if os.environ.get('X'):\n    MIGRATION_MODULES = {'dojo': 'dojo.db_migrations', 'legacy': None}\n\
             MIGRATION_MODULES.update({'extra': 'extra.mig'})\nMIGRATION_MODULES['more'] = 'more.m'\n",
        );
        let got = read(&[root.to_path_buf()]);
        assert_eq!(got.auth_user_model.as_deref(), Some("accounts.User"));
        let modules: Vec<(&str, Option<&str>)> = got
            .migration_modules
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(
            modules,
            [
                ("dojo", Some("dojo.db_migrations")),
                ("extra", Some("extra.mig")),
                ("legacy", None),
                ("more", Some("more.m")),
            ]
        );
        assert!(got
            .module
            .expect("module found")
            .ends_with("site/settings/__init__.py"));
    }

    #[test]
    fn no_manage_py_means_django_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "x/y.py", "MIGRATION_MODULES = {'a': 'b'}\n");
        let got = read(&[dir.path().to_path_buf()]);
        assert!(got.migration_modules.is_empty());
        assert_eq!(got.auth_user_model, None);
    }

    #[test]
    fn reads_the_database_engine() {
        use crate::django::database::Engine;
        let cases = [
            ("DATABASES = {'default': {'ENGINE': 'django.db.backends.mysql', 'NAME': 'shop'}}", Some(Engine::Mysql)),
            ("DATABASES = {'replica': {'ENGINE': 'django.db.backends.mysql'}, 'default': {'ENGINE': 'django.db.backends.postgresql'}}", Some(Engine::Postgresql)),
            ("import dj_database_url\nDATABASES = {'default': dj_database_url.config(default='mysql://u:p@db/shop')}", Some(Engine::Mysql)),
            ("import os\nDATABASES = {'default': {'ENGINE': os.environ.get('DB_ENGINE', 'django_prometheus.db.backends.mysql')}}", Some(Engine::Mysql)),
            ("DATABASES = {'default': {}}\nDATABASES['default']['ENGINE'] = 'django.contrib.gis.db.backends.postgis'", Some(Engine::Postgresql)),
            ("DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3'}}", None),
            ("import environ\nenv = environ.Env()\nDATABASES = {'default': env.db()}", None),
        ];
        for (text, engine) in cases {
            let dir = site_project();
            let root = dir.path();
            write(root, "site/settings.py", text);
            let got = read(&[root.to_path_buf()]);
            assert_eq!(got.database_engine, engine, "{text}");
            if engine.is_none() {
                let unread = got.database_unread.unwrap_or_default();
                let expected = if text.contains("sqlite") {
                    "the settings name sqlite"
                } else {
                    "the settings' ENGINE is read at run time"
                };
                assert_eq!(unread, expected, "{text}");
            }
        }
    }
}
