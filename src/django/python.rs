//! Static evaluation of the Python expressions found in migration files.
//!
//! A migration file is Python, but the parts migrail needs (the `Migration` class's
//! attributes and the operation calls) are nearly always literals and calls. This module
//! turns a `ruff_python_ast` expression into a [`Value`]: literals become values, names
//! and attribute chains are resolved through the file's imports into dotted paths
//! (`models.CharField` -> `django.db.models.CharField`), calls keep their callee, their
//! arguments and every source range. Whatever cannot be known without running Python
//! (a function's result, an f-string, a comprehension) becomes [`Value::Unknown`], never
//! a guess.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cell::RefCell;
use std::sync::Arc;

pub use ruff_python_ast::name::Name;
use ruff_python_ast::{self as ast, Expr, Number, Operator, Stmt, UnaryOp};
use ruff_text_size::{Ranged, TextRange};

/// A statically known (or explicitly unknown) Python value with the range it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub value: Value,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string literal; short ones (most: names, labels) are stored inline.
    Str(Name),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    List(Vec<Spanned>),
    Tuple(Vec<Spanned>),
    Dict(Vec<(Spanned, Spanned)>),
    Call(Arc<Call>),
    /// A name or attribute chain, resolved through the imports: `django.conf.settings.AUTH_USER_MODEL`.
    /// Names defined in the file itself (a `def forwards`) are prefixed with `<local>.`.
    Ref(String),
    /// Anything that needs Python to evaluate; the text says what it was.
    Unknown(String),
}

/// A call such as `migrations.AddField(...)` or `models.CharField(max_length=10)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The callee as a dotted path resolved through the imports; one allocation per
    /// distinct path and file, shared by every call naming it (and by field definitions).
    pub callee: Arc<str>,
    pub callee_range: TextRange,
    pub args: Vec<Spanned>,
    /// Keyword arguments by name. Names are short and inline (`Name` is a compact
    /// string): no allocation for each of the millions a big tree has.
    pub kwargs: Vec<(Name, Spanned)>,
    /// `**kwargs` or `*args` were passed: arguments migrail cannot see.
    pub has_unpacked: bool,
    pub range: TextRange,
}

impl Call {
    /// The argument bound to parameter `name`, at position `pos` if given positionally.
    pub fn arg(&self, pos: Option<usize>, name: &str) -> Option<&Spanned> {
        self.kwargs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .or_else(|| pos.and_then(|p| self.args.get(p)))
    }

    pub fn kwarg(&self, name: &str) -> Option<&Spanned> {
        self.arg(None, name)
    }

    /// The last component of the callee path: `AddField`, `CharField`.
    pub fn short_name(&self) -> &str {
        // A plain byte scan: this is asked for every operation by every rule.
        let bytes = self.callee.as_bytes();
        match bytes.iter().rposition(|&b| b == b'.') {
            Some(dot) => &self.callee[dot + 1..],
            None => &self.callee,
        }
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements of a list or tuple literal.
    pub fn as_seq(&self) -> Option<&[Spanned]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_call(&self) -> Option<&Arc<Call>> {
        match self {
            Value::Call(c) => Some(c),
            _ => None,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// Python truthiness where it is known statically.
    pub fn truthy(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::None => Some(false),
            Value::Int(i) => Some(*i != 0),
            Value::Float(f) => Some(*f != 0.0),
            Value::Str(s) => Some(!s.is_empty()),
            Value::List(v) | Value::Tuple(v) => Some(!v.is_empty()),
            Value::Dict(v) => Some(!v.is_empty()),
            Value::Call(_) | Value::Ref(_) | Value::Unknown(_) => None,
        }
    }

    /// A short, Python-like rendering for messages and JSON.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.describe_into(&mut out);
        out
    }

    /// [`Value::describe`], appended to `out` (nested values share one buffer).
    pub fn describe_into(&self, out: &mut String) {
        use std::fmt::Write;
        let seq = |out: &mut String, items: &[Spanned]| {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                item.value.describe_into(out);
            }
        };
        match self {
            Value::Str(s) => python_string_into(s, out),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            // `{:?}` keeps the exponent and the point (`1e20`, `1.0`): Python reads a float.
            Value::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f:?}");
            }
            Value::Float(f) => {
                let _ = write!(out, "float({:?})", f.to_string().to_lowercase());
            }
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::None => out.push_str("None"),
            Value::List(v) => {
                out.push('[');
                seq(out, v);
                out.push(']');
            }
            Value::Tuple(v) => {
                out.push('(');
                seq(out, v);
                if v.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Value::Dict(v) => {
                out.push('{');
                for (i, (k, v)) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.value.describe_into(out);
                    out.push_str(": ");
                    v.value.describe_into(out);
                }
                out.push('}');
            }
            Value::Call(c) => {
                out.push_str(&c.callee);
                out.push('(');
                seq(out, &c.args);
                for (i, (k, v)) in c.kwargs.iter().enumerate() {
                    if i > 0 || !c.args.is_empty() {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.value.describe_into(out);
                }
                if c.has_unpacked {
                    // `*args`/`**kwargs` migrail cannot see: never valid Python.
                    out.push_str(", …");
                }
                out.push(')');
            }
            // A name the file defines itself is written as the file spells it.
            Value::Ref(r) => out.push_str(r.strip_prefix(LOCAL).unwrap_or(r)),
            Value::Unknown(t) => out.push_str(t),
        }
    }
}

/// The prefix of a [`Value::Ref`] to a function or class the file defines itself.
pub const LOCAL: &str = "<local>.";

/// `s` as a Python string literal (double-quoted, as `makemigrations` writes them), with
/// every character that needs it escaped: evaluating the literal gives `s` back.
pub fn python_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    python_string_into(s, &mut out);
    out
}

fn python_string_into(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            // Line and paragraph separators and other format characters read fine in a
            // literal, but are invisible in a review: escaped.
            c if matches!(c as u32, 0x80..=0x9f | 0x2028 | 0x2029 | 0xfeff) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What a name means in a file: where it was imported from, or what it was assigned.
#[derive(Default, Debug)]
pub struct Scope {
    /// Local name -> dotted path (`models` -> `django.db.models`).
    imports: HashMap<String, String>,
    /// Local name -> value assigned at module level (or earlier in the class body).
    assigned: HashMap<String, Spanned>,
    /// Functions and classes defined in the file.
    defined: HashMap<String, ()>,
    /// The callee paths of the file's calls, each allocated once (`models.CharField`
    /// is called dozens of times in a migration).
    callees: RefCell<HashSet<Arc<str>>>,
    /// A buffer to write a callee's path into before looking it up.
    scratch: RefCell<String>,
}

impl Scope {
    /// Record the imports, definitions and simple assignments of a module body.
    pub fn from_module(body: &[Stmt], source: &str) -> Scope {
        let mut scope = Scope::default();
        for stmt in body {
            scope.add_statement(stmt, source);
        }
        scope
    }

    pub fn add_statement(&mut self, stmt: &Stmt, source: &str) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.id.to_string();
                    match &alias.asname {
                        Some(asname) => {
                            self.imports.insert(asname.id.to_string(), full);
                        }
                        None => {
                            // `import django.db.models.deletion` binds `django`.
                            let first = full.split('.').next().unwrap_or(&full).to_string();
                            self.imports.insert(first.clone(), first);
                        }
                    }
                }
            }
            Stmt::ImportFrom(from) => {
                let module = from
                    .module
                    .as_ref()
                    .map(|m| m.id.to_string())
                    .unwrap_or_default();
                let module = if from.level > 0 {
                    format!("{}{}", ".".repeat(from.level as usize), module)
                } else {
                    module
                };
                for alias in &from.names {
                    let name = alias.name.id.to_string();
                    let local = alias
                        .asname
                        .as_ref()
                        .map(|a| a.id.to_string())
                        .unwrap_or_else(|| name.clone());
                    let full = if module.is_empty() || module.ends_with('.') {
                        format!("{module}{name}")
                    } else {
                        format!("{module}.{name}")
                    };
                    self.imports.insert(local, full);
                }
            }
            Stmt::FunctionDef(def) => {
                self.defined.insert(def.name.id.to_string(), ());
                self.assigned.remove(def.name.id.as_str());
            }
            Stmt::ClassDef(def) => {
                let name = def.name.id.to_string();
                match self.operation_base(def) {
                    // Behaves as its base: callers see the base's path.
                    Some(base) => {
                        self.defined.remove(&name);
                        self.imports.insert(name, base);
                    }
                    None => {
                        self.imports.remove(&name);
                        self.defined.insert(name, ());
                    }
                }
            }
            // `try: from django.contrib.postgres.operations import X / except ImportError:
            // X = None`: the import is what runs (Django is installed); the handlers are
            // not read.
            Stmt::Try(stmt_try) => {
                for inner in &stmt_try.body {
                    self.add_statement(inner, source);
                }
                for inner in &stmt_try.orelse {
                    self.add_statement(inner, source);
                }
            }
            Stmt::Assign(assign) => {
                if let [Expr::Name(target)] = assign.targets.as_slice() {
                    let value = eval(&assign.value, self, source);
                    self.assigned.insert(target.id.to_string(), value);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let (Expr::Name(target), Some(value)) = (&*assign.target, &assign.value) {
                    let value = eval(value, self, source);
                    self.assigned.insert(target.id.to_string(), value);
                }
            }
            _ => {}
        }
    }

    /// The Django operation a class defined in the file subclasses, when the subclass
    /// changes nothing of what runs: one base among Django's operations, and no
    /// `database_forwards`, `state_forwards` or `__init__` of its own (overriding
    /// `database_backwards`, `describe`, ... keeps the base's forward behaviour).
    fn operation_base(&self, def: &ast::StmtClassDef) -> Option<String> {
        let [base] = def.bases() else {
            return None;
        };
        let path = dotted_path(base, self)?;
        let is_operation = path.starts_with("django.db.migrations.")
            || path.starts_with("django.contrib.postgres.operations.");
        if !is_operation || path == "django.db.migrations.Migration" {
            return None;
        }
        let overrides_forwards = def.body.iter().any(|stmt| {
            matches!(stmt, Stmt::FunctionDef(f)
                if matches!(f.name.id.as_str(), "database_forwards" | "state_forwards" | "__init__"))
        });
        (!overrides_forwards).then_some(path)
    }

    /// Resolve a bare name: imported path, local definition, or assigned value.
    fn resolve_name(&self, name: &str) -> Option<Resolved<'_>> {
        if let Some(v) = self.assigned.get(name) {
            return Some(Resolved::Value(v));
        }
        if let Some(path) = self.imports.get(name) {
            return Some(Resolved::Import(path));
        }
        if self.defined.contains_key(name) {
            return Some(Resolved::Local);
        }
        None
    }

    /// The dotted path a callee names (as [`dotted_path`]), shared with the file's other
    /// calls naming the same path.
    fn callee_path(&self, expr: &Expr) -> Option<Arc<str>> {
        let mut path = self.scratch.borrow_mut();
        path.clear();
        if !append_dotted_path(expr, self, &mut path) {
            return None;
        }
        let mut callees = self.callees.borrow_mut();
        if let Some(known) = callees.get(path.as_str()) {
            return Some(Arc::clone(known));
        }
        let new: Arc<str> = Arc::from(path.as_str());
        callees.insert(Arc::clone(&new));
        Some(new)
    }

    /// Bind `name` to an already evaluated value (`name = value`).
    pub fn assign(&mut self, name: String, value: Spanned) {
        self.assigned.insert(name, value);
    }

    /// The value a class-body or module-level assignment gave `name`.
    pub fn assigned(&self, name: &str) -> Option<&Spanned> {
        self.assigned.get(name)
    }
}

enum Resolved<'a> {
    /// Imported: the dotted path it was imported from.
    Import(&'a str),
    /// A function or class defined in the file: `<local>.name`.
    Local,
    Value(&'a Spanned),
}

/// The dotted path an expression names (`models.deletion.CASCADE`), resolved through imports.
/// Names that are neither imported nor defined resolve to themselves (builtins, globals).
pub fn dotted_path(expr: &Expr, scope: &Scope) -> Option<String> {
    let mut path = String::new();
    append_dotted_path(expr, scope, &mut path).then_some(path)
}

/// [`dotted_path`] written into `out` (one allocation for the whole chain).
fn append_dotted_path(expr: &Expr, scope: &Scope, out: &mut String) -> bool {
    match expr {
        Expr::Name(name) => {
            match scope.resolve_name(&name.id) {
                Some(Resolved::Import(p)) => out.push_str(p),
                Some(Resolved::Local) => {
                    out.push_str(LOCAL);
                    out.push_str(&name.id);
                }
                Some(Resolved::Value(v)) => match &v.value {
                    Value::Ref(r) => out.push_str(r),
                    _ => return false,
                },
                None => out.push_str(&name.id),
            }
            true
        }
        Expr::Attribute(attr) => {
            if !append_dotted_path(&attr.value, scope, out) {
                return false;
            }
            out.push('.');
            out.push_str(&attr.attr.id);
            true
        }
        _ => false,
    }
}

/// The source of an expression migrail cannot evaluate: as written when it is one short
/// line (so a fix can copy it), else on one line, cut at 80 characters and ended with `…`
/// (never valid Python: a fix that would copy it fails validation instead of writing a
/// changed expression).
fn source_text(range: TextRange, source: &str) -> String {
    let text = source
        .get(usize::from(range.start())..usize::from(range.end()))
        .unwrap_or("<expression>…");
    if text.chars().count() <= 80 && !text.contains(['\n', '\r']) {
        return text.to_string();
    }
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(79).collect();
    format!("{cut}…")
}

/// Evaluate an expression statically.
pub fn eval(expr: &Expr, scope: &Scope, source: &str) -> Spanned {
    let range = expr.range();
    let value = match expr {
        Expr::StringLiteral(s) => Value::Str(Name::new(s.value.to_str())),
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => match i.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Unknown(source_text(range, source)),
            },
            Number::Float(f) => Value::Float(*f),
            Number::Complex { .. } => Value::Unknown(source_text(range, source)),
        },
        Expr::BooleanLiteral(b) => Value::Bool(b.value),
        Expr::NoneLiteral(_) => Value::None,
        Expr::List(list) => Value::List(eval_elements(&list.elts, scope, source)),
        Expr::Tuple(tuple) => Value::Tuple(eval_elements(&tuple.elts, scope, source)),
        Expr::Set(set) => Value::List(eval_elements(&set.elts, scope, source)),
        Expr::Dict(dict) => {
            let mut items = Vec::with_capacity(dict.items.len());
            let mut opaque = false;
            for item in &dict.items {
                match &item.key {
                    Some(key) => {
                        items.push((eval(key, scope, source), eval(&item.value, scope, source)))
                    }
                    None => opaque = true,
                }
            }
            if opaque {
                Value::Unknown(source_text(range, source))
            } else {
                Value::Dict(items)
            }
        }
        Expr::Call(call) => {
            if let Some(default) = settings_getattr_default(call, scope) {
                return eval(default, scope, source);
            }
            if let Some(text) = eval_str_format(call, scope, source) {
                return Spanned {
                    value: Value::Str(Name::from(text)),
                    range,
                };
            }
            Value::Call(Arc::new(eval_call(call, scope, source)))
        }
        Expr::FString(f) => match eval_fstring(f, scope, source) {
            Some(text) => Value::Str(Name::from(text)),
            None => Value::Unknown(source_text(range, source)),
        },
        Expr::Name(name) => match scope.resolve_name(&name.id) {
            Some(Resolved::Value(v)) => {
                return Spanned {
                    value: v.value.clone(),
                    range,
                }
            }
            Some(Resolved::Import(p)) => Value::Ref(p.to_string()),
            Some(Resolved::Local) => Value::Ref(format!("{LOCAL}{}", name.id)),
            None => Value::Ref(name.id.to_string()),
        },
        Expr::Attribute(_) => match dotted_path(expr, scope) {
            Some(p) => Value::Ref(p),
            None => Value::Unknown(source_text(range, source)),
        },
        Expr::UnaryOp(op) => {
            let operand = eval(&op.operand, scope, source).value;
            match (op.op, operand) {
                (UnaryOp::USub, Value::Int(i)) => Value::Int(-i),
                (UnaryOp::USub, Value::Float(f)) => Value::Float(-f),
                (UnaryOp::UAdd, v @ (Value::Int(_) | Value::Float(_))) => v,
                (UnaryOp::Not, v) => match v.truthy() {
                    Some(b) => Value::Bool(!b),
                    None => Value::Unknown(source_text(range, source)),
                },
                _ => Value::Unknown(source_text(range, source)),
            }
        }
        Expr::BinOp(bin) => eval_binop(bin, scope, source),
        Expr::If(if_expr) => match static_truth(&eval(&if_expr.test, scope, source).value) {
            Some(true) => return eval(&if_expr.body, scope, source),
            Some(false) => return eval(&if_expr.orelse, scope, source),
            None => Value::Unknown(source_text(range, source)),
        },
        _ => Value::Unknown(source_text(range, source)),
    };
    Spanned { value, range }
}

/// Truthiness known statically, and a name imported from Django (other than a setting)
/// is true: Django is installed wherever the migration runs, so a guarded import of it
/// succeeded (`[AddIndexConcurrently(...)] if AddIndexConcurrently else []`).
fn static_truth(value: &Value) -> Option<bool> {
    match value {
        Value::Ref(path)
            if path.starts_with("django.")
                && !path.starts_with("django.conf.settings")
                && !path.starts_with("django.conf.global_settings") =>
        {
            Some(true)
        }
        other => other.truthy(),
    }
}

/// `getattr(settings, "NAME", default)`: the default (migrail does not read the
/// project's settings values), for the expression to evaluate.
fn settings_getattr_default<'a>(call: &'a ast::ExprCall, scope: &Scope) -> Option<&'a Expr> {
    let Expr::Name(func) = &*call.func else {
        return None;
    };
    if func.id.as_str() != "getattr" || scope.resolve_name("getattr").is_some() {
        return None;
    }
    let [target, Expr::StringLiteral(_), default] = &*call.arguments.args else {
        return None;
    };
    (dotted_path(target, scope).as_deref() == Some("django.conf.settings")).then_some(default)
}

fn eval_elements(elts: &[Expr], scope: &Scope, source: &str) -> Vec<Spanned> {
    let mut out = Vec::with_capacity(elts.len());
    for elt in elts {
        if let Expr::Starred(starred) = elt {
            let inner = eval(&starred.value, scope, source);
            match inner.value {
                Value::List(items) | Value::Tuple(items) => out.extend(items),
                _ => out.push(Spanned {
                    value: Value::Unknown(source_text(elt.range(), source)),
                    range: elt.range(),
                }),
            }
        } else {
            out.push(eval(elt, scope, source));
        }
    }
    out
}

/// A literal value as `str()` renders it in a format, when it is a string or an integer.
fn formatted(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// An f-string whose every interpolation is a string or integer known statically
/// (`f"ALTER TABLE {TABLE} ..."`); `None` with a conversion, a format spec or anything
/// computed at run time.
fn eval_fstring(f: &ast::ExprFString, scope: &Scope, source: &str) -> Option<String> {
    let mut out = String::new();
    for part in f.value.iter() {
        match part {
            ast::FStringPart::Literal(lit) => out.push_str(&lit.value),
            ast::FStringPart::FString(fs) => {
                for element in fs.elements.iter() {
                    match element {
                        ast::InterpolatedStringElement::Literal(l) => out.push_str(&l.value),
                        ast::InterpolatedStringElement::Interpolation(i) => {
                            if i.conversion != ast::ConversionFlag::None
                                || i.format_spec.is_some()
                                || i.debug_text.is_some()
                            {
                                return None;
                            }
                            out.push_str(&formatted(&eval(&i.expression, scope, source).value)?);
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

/// `"...".format(...)` over strings and integers known statically: `{}`, `{0}`, `{name}`,
/// `{{`, `}}`; `None` for anything else (a format spec, an attribute, a run-time value).
fn eval_str_format(call: &ast::ExprCall, scope: &Scope, source: &str) -> Option<String> {
    let Expr::Attribute(attr) = &*call.func else {
        return None;
    };
    if attr.attr.as_str() != "format" {
        return None;
    }
    let Value::Str(template) = eval(&attr.value, scope, source).value else {
        return None;
    };
    let mut positional = Vec::new();
    for a in &call.arguments.args {
        if matches!(a, Expr::Starred(_)) {
            return None;
        }
        positional.push(formatted(&eval(a, scope, source).value)?);
    }
    let mut named = Vec::new();
    for k in &call.arguments.keywords {
        let name = k.arg.as_ref()?.as_str().to_string();
        named.push((name, formatted(&eval(&k.value, scope, source).value)?));
    }
    python_format(&template, &positional, &named)
}

/// Python's `str.format` for plain fields (`{}`, `{0}`, `{name}`) and doubled braces.
pub fn python_format(
    template: &str,
    positional: &[String],
    named: &[(String, String)],
) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut auto = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return None,
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        c => field.push(c),
                    }
                }
                let value = if field.is_empty() {
                    auto += 1;
                    positional.get(auto - 1)?
                } else if field.chars().all(|c| c.is_ascii_digit()) {
                    positional.get(field.parse::<usize>().ok()?)?
                } else if field.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    &named.iter().find(|(n, _)| *n == field)?.1
                } else {
                    return None;
                };
                out.push_str(value);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// Python's `%` formatting for `%s`, `%d`, `%i` and `%%` over strings and integers.
fn python_percent(template: &str, values: &[Value]) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars();
    let mut next = values.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            's' | 'd' | 'i' => out.push_str(&formatted(next.next()?)?),
            _ => return None,
        }
    }
    next.next().is_none().then_some(out)
}

fn eval_binop(bin: &ast::ExprBinOp, scope: &Scope, source: &str) -> Value {
    let left = eval(&bin.left, scope, source);
    let right = eval(&bin.right, scope, source);
    // A list concatenated with something computed at run time (`[...] + ([...] if X
    // else [])`) keeps its readable items; the unreadable part stays in place as one
    // `Unknown` item, as a starred run-time value does in a list literal.
    // (A name or call is as unknown: `[...] + app_settings.EXTRA_DEPENDENCIES`.)
    let run_time = |v: &Value| matches!(v, Value::Unknown(_) | Value::Ref(_) | Value::Call(_));
    let (left, right) = match (bin.op, left, right) {
        (
            Operator::Add,
            Spanned {
                value: Value::List(mut a),
                ..
            },
            r,
        ) if run_time(&r.value) => {
            a.push(Spanned {
                value: Value::Unknown(source_text(r.range, source)),
                range: r.range,
            });
            return Value::List(a);
        }
        (
            Operator::Add,
            l,
            Spanned {
                value: Value::List(b),
                ..
            },
        ) if run_time(&l.value) => {
            let mut items = vec![Spanned {
                value: Value::Unknown(source_text(l.range, source)),
                range: l.range,
            }];
            items.extend(b);
            return Value::List(items);
        }
        (_, l, r) => (l.value, r.value),
    };
    match (bin.op, left, right) {
        (Operator::Add, Value::List(mut a), Value::List(b)) => {
            a.extend(b);
            Value::List(a)
        }
        (Operator::Add, Value::Tuple(mut a), Value::Tuple(b)) => {
            a.extend(b);
            Value::Tuple(a)
        }
        (Operator::Add, Value::Str(a), Value::Str(b)) => Value::Str(Name::from(format!("{a}{b}"))),
        (Operator::Mod, Value::Str(template), values) => {
            let values: Vec<Value> = match values {
                Value::Tuple(items) => items.into_iter().map(|i| i.value).collect(),
                one => vec![one],
            };
            python_percent(&template, &values)
                .map(|s| Value::Str(Name::from(s)))
                .unwrap_or_else(|| Value::Unknown(source_text(bin.range, source)))
        }
        (Operator::Add, Value::Int(a), Value::Int(b)) => a
            .checked_add(b)
            .map(Value::Int)
            .unwrap_or_else(|| Value::Unknown(source_text(bin.range, source))),
        (Operator::Mult, Value::Int(a), Value::Int(b)) => a
            .checked_mul(b)
            .map(Value::Int)
            .unwrap_or_else(|| Value::Unknown(source_text(bin.range, source))),
        _ => Value::Unknown(source_text(bin.range, source)),
    }
}

fn eval_call(call: &ast::ExprCall, scope: &Scope, source: &str) -> Call {
    let callee = scope
        .callee_path(&call.func)
        .unwrap_or_else(|| Arc::from(source_text(call.func.range(), source)));
    let mut args = Vec::with_capacity(call.arguments.args.len());
    let mut has_unpacked = false;
    for arg in &call.arguments.args {
        if let Expr::Starred(starred) = arg {
            match eval(&starred.value, scope, source).value {
                Value::List(items) | Value::Tuple(items) => args.extend(items),
                _ => has_unpacked = true,
            }
        } else {
            args.push(eval(arg, scope, source));
        }
    }
    let mut kwargs = Vec::with_capacity(call.arguments.keywords.len());
    for keyword in &call.arguments.keywords {
        match &keyword.arg {
            Some(name) => kwargs.push((name.id.clone(), eval(&keyword.value, scope, source))),
            None => match eval(&keyword.value, scope, source).value {
                Value::Dict(items) => {
                    for (k, v) in items {
                        match k.value {
                            Value::Str(k) => kwargs.push((k, v)),
                            _ => has_unpacked = true,
                        }
                    }
                }
                _ => has_unpacked = true,
            },
        }
    }
    Call {
        callee,
        callee_range: call.func.range(),
        args,
        kwargs,
        has_unpacked,
        range: call.range(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_ast::PySourceType;

    fn eval_last(source: &str) -> Value {
        let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
        let body = &parsed.syntax().body;
        let (last, rest) = body.split_last().expect("a statement");
        let scope = Scope::from_module(rest, source);
        match last {
            Stmt::Expr(e) => eval(&e.value, &scope, source).value,
            other => panic!("not an expression statement: {other:?}"),
        }
    }

    #[test]
    fn strings_built_from_literals_are_evaluated() {
        let str_of = |src: &str| match eval_last(src) {
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        };
        let head = "TABLE = \"shop_book\"\nN = 3\n";
        for (expr, want) in [
            (
                "\"ALTER TABLE {} ADD x\".format(TABLE)",
                "ALTER TABLE shop_book ADD x",
            ),
            (
                "\"{0}.{name} {{x}}\".format(TABLE, name=\"c\")",
                "shop_book.c {x}",
            ),
            (
                "\"ALTER TABLE %s ADD x\" % TABLE",
                "ALTER TABLE shop_book ADD x",
            ),
            ("\"%s %d 100%%\" % (TABLE, N)", "shop_book 3 100%"),
            (
                "f\"ALTER TABLE {TABLE} ADD c{N}\"",
                "ALTER TABLE shop_book ADD c3",
            ),
            ("\"a\" f\"{TABLE}\"", "ashop_book"),
        ] {
            assert_eq!(
                str_of(&format!("{head}{expr}")).as_deref(),
                Some(want),
                "{expr}"
            );
        }
        // Anything migrail cannot know stays unknown.
        for expr in [
            "\"{:>10}\".format(TABLE)",
            "\"{}\".format(compute())",
            "\"%(t)s\" % {\"t\": TABLE}",
            "\"%s %s\" % TABLE",
            "f\"{TABLE!r}\"",
            "f\"{other}\"",
        ] {
            assert_eq!(str_of(&format!("{head}{expr}")), None, "{expr}");
        }
    }

    #[test]
    fn resolves_imports_and_aliases() {
        let v = eval_last("from django.db import migrations as m\nm.AddField\n");
        assert_eq!(v, Value::Ref("django.db.migrations.AddField".into()));
        let v = eval_last("import django.db.models.deletion\ndjango.db.models.deletion.CASCADE\n");
        assert_eq!(v, Value::Ref("django.db.models.deletion.CASCADE".into()));
        let v = eval_last(
            "from django.contrib.postgres.operations import AddIndexConcurrently as AIC\nAIC\n",
        );
        assert_eq!(
            v,
            Value::Ref("django.contrib.postgres.operations.AddIndexConcurrently".into())
        );
    }

    #[test]
    fn evaluates_literals_concatenation_and_static_conditionals() {
        assert_eq!(
            eval_last("A = [1]\nB = (A + [2]) if True else []\nB\n")
                .as_seq()
                .map(|s| s.len()),
            Some(2)
        );
        assert_eq!(eval_last("-5\n"), Value::Int(-5));
        assert_eq!(eval_last("'a' 'b'\n"), Value::Str("ab".into()));
    }

    #[test]
    fn run_time_values_stay_unknown() {
        assert!(matches!(eval_last("[x for x in y]\n"), Value::Unknown(_)));
        assert!(matches!(eval_last("f'{x}'\n"), Value::Unknown(_)));
        assert!(matches!(
            eval_last("from django.conf import settings\n[1] if settings.DEBUG else []\n"),
            Value::Unknown(_)
        ));
    }

    #[test]
    fn calls_keep_positional_and_keyword_arguments() {
        let v = eval_last("from django.db import models\nmodels.CharField('title', max_length=10, **{'null': True})\n");
        let call = v.as_call().expect("a call");
        assert_eq!(&*call.callee, "django.db.models.CharField");
        assert_eq!(
            call.arg(Some(0), "verbose_name")
                .and_then(|v| v.value.as_str()),
            Some("title")
        );
        assert_eq!(
            call.kwarg("max_length").and_then(|v| v.value.as_int()),
            Some(10)
        );
        assert_eq!(
            call.kwarg("null").and_then(|v| v.value.as_bool()),
            Some(true)
        );
        assert!(!call.has_unpacked);
    }
}
