//! What a fix must pass before anything is written: the code it writes parses, names
//! only what the file binds (or what the applier's imports add), and the project it
//! leaves has the same model state and no new graph error.
//!
//! The checks are ruff's `lint_fix` discipline applied to migrations: a fix is data until
//! these checks pass on the in-memory texts; one that fails is dropped and said so. This
//! module only judges; [`super::rounds`] decides what to drop and what to write.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ruff_python_ast::visitor::{walk_expr, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};

use crate::django::state::ProjectState;
use crate::django::Project;

/// Names the applier's imports provide to any migration it edits or writes
/// (`apply::ensure_imports`, and the template of a new migration).
const APPLIER_NAMES: &[&str] = &[
    "migrations",
    "models",
    "settings",
    "django",
    "AddIndexConcurrently",
    "RemoveIndexConcurrently",
    "AddConstraintNotValid",
    "ValidateConstraint",
];

/// Python's builtins a migration may name.
const BUILTINS: &[&str] = &[
    "True",
    "False",
    "None",
    "abs",
    "all",
    "any",
    "bool",
    "bytes",
    "callable",
    "chr",
    "dict",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "getattr",
    "hasattr",
    "int",
    "isinstance",
    "len",
    "list",
    "map",
    "max",
    "min",
    "object",
    "ord",
    "print",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "zip",
    "Exception",
    "ValueError",
    "TypeError",
    "KeyError",
    "NotImplementedError",
    "__name__",
    "__file__",
];

/// The names a module binds at its top level (imports, definitions, assignments, also
/// under `if`/`try`/`with`, as guarded imports are written).
pub fn bound_names(source: &str) -> HashSet<String> {
    let parsed =
        ruff_python_parser::parse_unchecked_source(source, ruff_python_ast::PySourceType::Python);
    let mut names = HashSet::new();
    bind_body(&parsed.syntax().body, &mut names);
    names
}

fn bind_body(body: &[Stmt], names: &mut HashSet<String>) {
    for stmt in body {
        match stmt {
            Stmt::Import(i) => {
                for alias in &i.names {
                    let bound = match &alias.asname {
                        Some(a) => a.id.to_string(),
                        None => alias
                            .name
                            .id
                            .split('.')
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    };
                    names.insert(bound);
                }
            }
            Stmt::ImportFrom(i) => {
                for alias in &i.names {
                    let a = alias.asname.as_ref().unwrap_or(&alias.name);
                    names.insert(a.id.to_string());
                }
            }
            Stmt::FunctionDef(f) => {
                names.insert(f.name.id.to_string());
            }
            Stmt::ClassDef(c) => {
                names.insert(c.name.id.to_string());
            }
            Stmt::Assign(a) => a.targets.iter().for_each(|t| bind_target(t, names)),
            Stmt::AnnAssign(a) => bind_target(&a.target, names),
            Stmt::AugAssign(a) => bind_target(&a.target, names),
            Stmt::If(i) => {
                bind_body(&i.body, names);
                for clause in &i.elif_else_clauses {
                    bind_body(&clause.body, names);
                }
            }
            Stmt::Try(t) => {
                bind_body(&t.body, names);
                for handler in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = handler;
                    bind_body(&h.body, names);
                }
                bind_body(&t.orelse, names);
                bind_body(&t.finalbody, names);
            }
            Stmt::With(w) => bind_body(&w.body, names),
            Stmt::For(f) => {
                bind_target(&f.target, names);
                bind_body(&f.body, names);
            }
            _ => {}
        }
    }
}

fn bind_target(target: &Expr, names: &mut HashSet<String>) {
    match target {
        Expr::Name(n) => {
            names.insert(n.id.to_string());
        }
        Expr::Tuple(t) => t.elts.iter().for_each(|e| bind_target(e, names)),
        Expr::List(l) => l.elts.iter().for_each(|e| bind_target(e, names)),
        Expr::Starred(s) => bind_target(&s.value, names),
        _ => {}
    }
}

/// Names an expression reads that it does not bind itself (lambda parameters and
/// comprehension variables are its own).
#[derive(Default)]
struct FreeNames {
    read: BTreeSet<String>,
    own: HashSet<String>,
}

impl<'a> Visitor<'a> for FreeNames {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(n) if n.ctx == ExprContext::Load => {
                if !self.own.contains(n.id.as_str()) {
                    self.read.insert(n.id.to_string());
                }
            }
            Expr::Name(n) => {
                self.own.insert(n.id.to_string());
            }
            Expr::Lambda(l) => {
                if let Some(params) = &l.parameters {
                    for p in params.iter() {
                        self.own.insert(p.name().id.to_string());
                    }
                }
                walk_expr(self, expr);
            }
            Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) | Expr::Generator(_) => {
                let generators = match expr {
                    Expr::ListComp(c) => &c.generators,
                    Expr::SetComp(c) => &c.generators,
                    Expr::DictComp(c) => &c.generators,
                    Expr::Generator(c) => &c.generators,
                    _ => return,
                };
                for g in generators {
                    let mut targets = HashSet::new();
                    bind_target(&g.target, &mut targets);
                    self.own.extend(targets);
                }
                walk_expr(self, expr);
            }
            _ => walk_expr(self, expr),
        }
    }
}

/// Every name a module reads anywhere (what it binds itself aside only where the binding
/// is a plain assignment target): to tell which imports code written into it needs.
pub fn read_names(source: &str) -> BTreeSet<String> {
    use ruff_python_ast::visitor::walk_stmt;
    let parsed =
        ruff_python_parser::parse_unchecked_source(source, ruff_python_ast::PySourceType::Python);
    let mut free = FreeNames::default();
    for stmt in &parsed.syntax().body {
        walk_stmt(&mut free, stmt);
    }
    free.read
}

/// Why the operations a fix writes cannot go into a file whose top-level names are
/// `bound`: one of them does not parse, or names what the file cannot resolve (a name
/// defined in another file, a module it does not import). `None` when they can.
pub fn code_problem(operations: &[String], bound: &HashSet<String>) -> Option<String> {
    for op in operations {
        let parsed = match ruff_python_parser::parse_expression(op) {
            Ok(p) => p,
            Err(e) => {
                return Some(format!(
                    "the code the fix writes is not valid Python ({}; a migrail bug)",
                    e.error
                ))
            }
        };
        let mut free = FreeNames::default();
        free.visit_expr(&parsed.syntax().body);
        if let Some(name) = free.read.iter().find(|n| {
            !bound.contains(n.as_str())
                && !APPLIER_NAMES.contains(&n.as_str())
                && !BUILTINS.contains(&n.as_str())
        }) {
            return Some(format!(
                "the fix would name `{name}`, which the file it goes to does not define or import"
            ));
        }
    }
    None
}

/// The parse error a whole file has, if any.
pub fn parse_error(text: &str) -> Option<String> {
    ruff_python_parser::parse_module(text)
        .err()
        .map(|e| e.error.to_string())
}

/// Each model's state as text, with what a fix may intend to change left out: the
/// column and table names a rename pins (`db_column`, `db_table`), the database default
/// a NOT NULL column is given (`db_default`), and the order of the fields. Keyed by
/// (app, model).
pub fn state_fingerprint(state: &ProjectState) -> BTreeMap<(String, String), String> {
    const PINNED: &[&str] = &["db_column", "db_default", "db_table"];
    let mut out = BTreeMap::new();
    for m in state.models() {
        let mut text = format!(
            "managed={:?} proxy={:?} complete={} unique_together={:?}\n",
            m.managed, m.proxy, m.complete, m.unique_together
        );
        let mut names: Vec<String> = m.indexes.iter().filter_map(|i| i.name.clone()).collect();
        names.extend(m.constraints.iter().filter_map(|c| c.name.clone()));
        text.push_str(&format!("indexes and constraints={names:?}\n"));
        // By name: a rename pinned to its column may move a field in the list, which no
        // database and no `makemigrations` sees.
        let mut fields: Vec<_> = m.fields.iter().collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, field) in fields {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(field.path());
            text.push('(');
            for a in &field.call.args {
                a.value.describe_into(&mut text);
                text.push_str(", ");
            }
            let mut kwargs: Vec<(String, String)> = field
                .call
                .kwargs
                .iter()
                .filter(|(k, _)| !PINNED.contains(&k.as_str()))
                .map(|(k, v)| (k.to_string(), v.value.describe()))
                .collect();
            kwargs.sort();
            for (k, v) in kwargs {
                text.push_str(&format!("{k}={v}, "));
            }
            text.push_str(")\n");
        }
        out.insert((m.app.clone(), m.name.to_lowercase()), text);
    }
    out
}

/// The apps whose final model state differs between `before` and `after`.
pub fn apps_with_changed_state(before: &Project, after: &Project) -> BTreeSet<String> {
    let a = state_fingerprint(&before.replay(|_| {}));
    let b = state_fingerprint(&after.replay(|_| {}));
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|(app, _)| app.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(src: &str) -> HashSet<String> {
        bound_names(src)
    }

    #[test]
    fn names_the_file_binds_are_found_under_guards_too() {
        let b = bound(
            "import django.db.models.deletion\nfrom x import y as z\ntry:\n    from a import b\nexcept ImportError:\n    b = None\ndef forwards(apps, schema_editor):\n    pass\nclass Migration(migrations.Migration):\n    pass\n",
        );
        for n in ["django", "z", "b", "forwards", "Migration"] {
            assert!(b.contains(n), "{n} in {b:?}");
        }
        assert!(!b.contains("y"));
    }

    #[test]
    fn code_naming_what_the_file_lacks_is_refused() {
        let b =
            bound("from django.db import migrations, models\ndef file_path(i, f):\n    return f\n");
        let ok = vec![
            r#"migrations.AddField("a", "f", models.FileField(upload_to=file_path))"#.to_string(),
        ];
        assert_eq!(code_problem(&ok, &b), None);
        let moved = bound("from django.db import migrations, models\n");
        let why = code_problem(&ok, &moved).expect("refused");
        assert!(why.contains("`file_path`"), "{why}");
        let placeholder = vec![r#"models.FileField(upload_to=<local>.file_path)"#.to_string()];
        let why = code_problem(&placeholder, &b).expect("refused");
        assert!(why.contains("not valid Python"), "{why}");
        let lambda = vec!["models.IntegerField(default=lambda: [x for x in range(3)])".to_string()];
        assert_eq!(code_problem(&lambda, &moved), None);
    }

    #[test]
    fn a_broken_file_is_told() {
        assert!(parse_error("x = 'a\nb'\n").is_some());
        assert_eq!(parse_error("x = 'a\\nb'\n"), None);
    }
}
