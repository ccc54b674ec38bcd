//! `RunSQL` analysed as SQL.
//!
//! The `sql` argument (a string, a list of strings, or `(sql, params)` tuples) is split
//! into statements with sqlparser's PostgreSQL tokenizer (so `;` inside quotes,
//! dollar-quoted bodies and comments never split), each statement is parsed with the
//! PostgreSQL dialect, and what matters for a zero-downtime deploy is classified into a
//! [`SqlAction`]. Rules then judge the actions exactly as they judge Django operations.
//!
//! Statements sqlparser cannot parse are recognised from their tokens when they matter
//! for safety (`DROP INDEX [CONCURRENTLY]`, `REINDEX [CONCURRENTLY]`, `CREATE INDEX`);
//! anything else is [`SqlAction::Unparsed`], which the `runsql-unparsed` rule reports.
//! Nothing here panics on any input.

use ruff_text_size::{TextRange, TextSize};
use sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnOption, Expr, Ident, ObjectName,
    ObjectNamePart, ObjectType, RenameTableNameKind, Statement, TableConstraint,
};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::django::fields::DbType;
use crate::django::migration::{MigrationFile, SourceFile};
use crate::django::operations::{OpKind, Operation};
use crate::django::python::{Spanned, Value};
use crate::django::Project;

/// One SQL statement of a `RunSQL`, classified.
#[derive(Clone, Debug)]
pub struct SqlStatement {
    /// What the statement does, one entry per `ALTER TABLE` sub-command.
    pub actions: Vec<SqlAction>,
    /// Where it is in the migration file: the statement inside the string literal when
    /// the literal maps character for character, else the whole literal.
    pub range: TextRange,
    /// The statement, on one line and shortened, for messages.
    pub text: String,
}

/// The kind of constraint an `ADD CONSTRAINT` adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `UNIQUE (...)` or `PRIMARY KEY (...)`: builds an index under a SHARE lock.
    Unique,
    /// `UNIQUE USING INDEX` / `PRIMARY KEY USING INDEX`: attaches an existing index.
    UsingIndex,
    ForeignKey,
    /// A `CHECK`; the columns it proves `IS NOT NULL`.
    Check {
        not_null_columns: Vec<String>,
    },
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlAction {
    CreateTable {
        table: String,
    },
    DropTable {
        tables: Vec<String>,
    },
    RenameTable {
        table: String,
        new_name: String,
    },
    AddColumn {
        table: String,
        column: String,
        not_null: bool,
        /// A non-NULL `DEFAULT`.
        has_default: bool,
        references: bool,
        unique: bool,
        check: bool,
    },
    DropColumn {
        table: String,
        columns: Vec<String>,
    },
    RenameColumn {
        table: String,
        old: String,
        new: String,
    },
    SetNotNull {
        table: String,
        column: String,
    },
    AlterColumnType {
        table: String,
        column: String,
        new_type: DbType,
    },
    AddConstraint {
        table: String,
        name: Option<String>,
        kind: ConstraintKind,
        not_valid: bool,
    },
    ValidateConstraint {
        table: String,
        name: String,
    },
    CreateIndex {
        table: String,
        name: Option<String>,
        unique: bool,
        concurrently: bool,
    },
    DropIndex {
        names: Vec<String>,
        concurrently: bool,
    },
    Reindex {
        concurrently: bool,
    },
    /// Parsed, and nothing a rule judges (DML, functions, grants, `VALIDATE CONSTRAINT`, ...).
    Other,
    /// Neither parsed nor recognised; `reason` says why.
    Unparsed {
        reason: String,
    },
}

impl SqlAction {
    /// True for statements PostgreSQL refuses to run inside a transaction block.
    pub fn needs_no_transaction(&self) -> bool {
        matches!(
            self,
            SqlAction::CreateIndex {
                concurrently: true,
                ..
            } | SqlAction::DropIndex {
                concurrently: true,
                ..
            } | SqlAction::Reindex { concurrently: true }
        )
    }

    /// True for DDL that changes the schema (used by `runpython-with-schema-change`).
    pub fn is_schema_change(&self) -> bool {
        !matches!(
            self,
            SqlAction::Other | SqlAction::Unparsed { .. } | SqlAction::ValidateConstraint { .. }
        )
    }
}

/// `RunSQL.noop` (an empty string in Django) given as the SQL.
pub fn is_noop(v: &Value) -> bool {
    match v {
        Value::Ref(r) => r.ends_with("RunSQL.noop"),
        Value::Str(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The analysed forward SQL of every `RunSQL` of a project, computed once (in parallel)
/// and shared by the phase inference and the rules.
#[derive(Default)]
pub struct SqlCache {
    by_op: HashMap<(usize, u32), Vec<SqlStatement>>,
}

impl SqlCache {
    pub fn build(project: &Project) -> SqlCache {
        let mysql = project.settings.database.is_mysql();
        let by_op = project
            .migrations
            .par_iter()
            .flat_map_iter(|m| {
                let mut found = Vec::new();
                for op in &m.operations {
                    database_run_sql(op, &mut |op, sql| {
                        found.push((cache_key(m, op), analyse_for(sql, &m.source, mysql)))
                    });
                }
                found
            })
            .collect();
        SqlCache { by_op }
    }

    /// The statements of a `RunSQL` operation (empty for any other operation).
    pub fn get(&self, m: &MigrationFile, op: &Operation) -> &[SqlStatement] {
        self.by_op.get(&cache_key(m, op)).map_or(&[], Vec::as_slice)
    }

    /// Every statement the migration `m` runs on the database, in the order a replay
    /// visits them.
    pub fn each_in(&self, m: &MigrationFile, mut each: impl FnMut(&SqlStatement)) {
        for op in &m.operations {
            database_run_sql(op, &mut |op, _| self.get(m, op).iter().for_each(&mut each));
        }
    }
}

fn cache_key(m: &MigrationFile, op: &Operation) -> (usize, u32) {
    (Arc::as_ptr(&m.source) as usize, op.range().start().into())
}

/// Each `RunSQL` that `op` runs on the database, with its forward SQL, in order: `op`
/// itself, or those among the database operations of a `SeparateDatabaseAndState`.
fn database_run_sql<'a>(op: &'a Operation, each: &mut impl FnMut(&'a Operation, &'a Spanned)) {
    match &op.kind {
        OpKind::RunSQL { sql, .. } => each(op, sql),
        OpKind::SeparateDatabaseAndState {
            database_operations,
            ..
        } => {
            for inner in database_operations {
                database_run_sql(inner, each);
            }
        }
        _ => {}
    }
}

/// Split and classify the `sql` (or `reverse_sql`) argument of a `RunSQL`.
pub fn analyse(sql: &Spanned, source: &SourceFile) -> Vec<SqlStatement> {
    analyse_for(sql, source, false)
}

/// [`analyse`] in MySQL's dialect (backquoted names, `MODIFY`, `ALGORITHM=`) when `mysql`.
pub fn analyse_for(sql: &Spanned, source: &SourceFile, mysql: bool) -> Vec<SqlStatement> {
    let mut out = Vec::new();
    collect(sql, source, false, mysql, &mut out);
    out
}

fn collect(
    v: &Spanned,
    source: &SourceFile,
    has_params: bool,
    mysql: bool,
    out: &mut Vec<SqlStatement>,
) {
    match &v.value {
        Value::Str(s) => out.extend(statements(s, v.range, source, has_params, mysql)),
        _ if is_noop(&v.value) => {}
        // Django runs a list or tuple item by item; an item that is itself a pair is
        // `(sql, params)`, whose placeholders are `%s`.
        Value::List(items) | Value::Tuple(items) if !has_params => {
            for item in items {
                match &item.value {
                    Value::List(pair) | Value::Tuple(pair) if pair.len() == 2 => {
                        collect(&pair[0], source, !pair[1].value.is_none(), mysql, out)
                    }
                    _ => collect(item, source, false, mysql, out),
                }
            }
        }
        other => out.push(SqlStatement {
            actions: vec![SqlAction::Unparsed {
                reason: format!(
                    "the SQL is built at run time (`{}`), so migrail cannot read it",
                    other.describe()
                ),
            }],
            range: v.range,
            text: other.describe(),
        }),
    }
}

/// Replace Django's `%s`, `%(name)s` and `%%` with text of the same length that the
/// PostgreSQL dialect reads (`$1`), so offsets stay those of the literal.
fn neutralise_placeholders(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            match bytes.get(i + 1) {
                Some(b's') => {
                    out.push_str("$1");
                    i += 2;
                    continue;
                }
                Some(b'%') => {
                    out.push_str("% ");
                    i += 2;
                    continue;
                }
                Some(b'(') => {
                    if let Some(close) = sql[i..].find(")s") {
                        let len = close + 2;
                        out.push_str("$1");
                        out.push_str(&" ".repeat(len - 2));
                        i += len;
                        continue;
                    }
                }
                _ => {}
            }
        }
        // Copy one whole character.
        let ch_len = sql[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&sql[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// Byte offsets of line starts, to turn sqlparser's (line, column) into offsets.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// Byte offset of a 1-based (line, character column); clamped to the text.
    fn offset(&self, line: u64, column: u64) -> usize {
        let Some(&start) = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| self.starts.get(l))
        else {
            return self.text.len();
        };
        let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
        self.text[start..]
            .char_indices()
            .nth(skip)
            .map_or(self.text.len(), |(i, _)| start + i)
    }
}

fn statements(
    sql: &str,
    literal: TextRange,
    source: &SourceFile,
    has_params: bool,
    mysql: bool,
) -> Vec<SqlStatement> {
    let readable = if has_params {
        neutralise_placeholders(sql)
    } else {
        sql.to_string()
    };
    let dialect: &dyn Dialect = if mysql {
        &MySqlDialect {}
    } else {
        &PostgreSqlDialect {}
    };
    let map = LiteralMap::new(literal, sql, source);
    let tokens = match Tokenizer::new(dialect, &readable).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(e) => {
            return vec![SqlStatement {
                actions: vec![SqlAction::Unparsed {
                    reason: format!("the SQL does not tokenize: {e}"),
                }],
                range: literal,
                text: one_line(sql),
            }]
        }
    };
    let lines = Lines::new(&readable);
    let mut out = Vec::new();
    for chunk in tokens.split(|t| t.token == Token::SemiColon) {
        let meaningful: Vec<&TokenWithSpan> = chunk
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
            .collect();
        let (Some(first), Some(last)) = (meaningful.first(), meaningful.last()) else {
            continue;
        };
        let start = lines.offset(first.span.start.line, first.span.start.column);
        let end = lines
            .offset(last.span.end.line, last.span.end.column)
            .max(start);
        let text = &readable[start..end];
        let actions = classify(text, &meaningful, dialect);
        out.push(SqlStatement {
            actions,
            range: map.range(start, end),
            text: one_line(&sql[start.min(sql.len())..end.min(sql.len())]),
        });
    }
    out
}

/// Maps offsets in a string's value to offsets in the file, when the literal is written
/// without escapes or implicit concatenation (the common `"""..."""` case).
struct LiteralMap {
    literal: TextRange,
    /// File offset of the value's first character, when the mapping is exact.
    body_start: Option<TextSize>,
}

impl LiteralMap {
    fn new(literal: TextRange, value: &str, source: &SourceFile) -> LiteralMap {
        let raw = source
            .text
            .get(usize::from(literal.start())..usize::from(literal.end()))
            .unwrap_or("");
        let prefix_len = raw
            .find(['\'', '"'])
            .filter(|&i| raw[..i].chars().all(|c| "rRuU".contains(c)))
            .unwrap_or(usize::MAX);
        let body_start = raw.get(prefix_len..).and_then(|rest| {
            let quote = ["\"\"\"", "'''", "\"", "'"]
                .into_iter()
                .find(|q| rest.starts_with(q))?;
            let body = rest.strip_prefix(quote)?.strip_suffix(quote)?;
            (body == value)
                .then(|| literal.start() + TextSize::from((prefix_len + quote.len()) as u32))
        });
        LiteralMap {
            literal,
            body_start,
        }
    }

    fn range(&self, start: usize, end: usize) -> TextRange {
        match self.body_start {
            Some(base) => TextRange::new(
                base + TextSize::from(start as u32),
                base + TextSize::from(end as u32),
            ),
            None => self.literal,
        }
    }
}

fn one_line(sql: &str) -> String {
    let joined = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 100 {
        let cut: String = joined.chars().take(97).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

fn classify(text: &str, tokens: &[&TokenWithSpan], dialect: &dyn Dialect) -> Vec<SqlAction> {
    match Parser::parse_sql(dialect, text) {
        Ok(statements) => statements.iter().flat_map(classify_statement).collect(),
        Err(e) => vec![recognise(tokens).unwrap_or_else(|| {
            // sqlparser's position is within the statement; the finding already points there.
            let error = e.to_string();
            let error = error
                .split_once(" at Line: ")
                .map_or(error.as_str(), |(msg, _)| msg);
            SqlAction::Unparsed {
                reason: format!("sqlparser cannot parse it ({error})"),
            }
        })],
    }
}

/// Statements that matter for safety and that sqlparser does not parse.
fn recognise(tokens: &[&TokenWithSpan]) -> Option<SqlAction> {
    let words: Vec<String> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            Token::Word(w) => w.value.clone(),
            other => other.to_string(),
        })
        .collect();
    let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x == w);
    let concurrently = words.iter().any(|w| w == "CONCURRENTLY");
    if is(0, "DROP") && is(1, "INDEX") {
        let names = words[2..]
            .iter()
            .filter(|w| {
                !["CONCURRENTLY", "IF", "EXISTS", "CASCADE", "RESTRICT", ","].contains(&w.as_str())
            })
            .map(|w| w.to_lowercase())
            .collect();
        return Some(SqlAction::DropIndex {
            names,
            concurrently,
        });
    }
    if is(0, "REINDEX") {
        return Some(SqlAction::Reindex { concurrently });
    }
    // Session and transaction settings Django itself emits (`SET CONSTRAINTS ALL
    // IMMEDIATE` before altering a deferred foreign key) or migrations use: no table
    // touched.
    if is(0, "SET") || is(0, "RESET") {
        return Some(SqlAction::Other);
    }
    // Catalog-only statements sqlparser cannot read: they rewrite no table and hold no
    // lock live traffic waits on for long (`ALTER INDEX ... RENAME TO`, functions,
    // triggers, types, comments).
    let after_create = if is(1, "OR") && is(2, "REPLACE") {
        3
    } else {
        1
    };
    let created = words.get(after_create).map(String::as_str);
    let catalog_only = (is(0, "CREATE")
        && (matches!(
            created,
            Some("FUNCTION" | "PROCEDURE" | "TRIGGER" | "TYPE" | "AGGREGATE" | "OPERATOR")
        ) || (created == Some("CONSTRAINT") && is(after_create + 1, "TRIGGER"))))
        || (is(0, "DROP")
            && matches!(
                words.get(1).map(String::as_str),
                Some("FUNCTION" | "PROCEDURE" | "TRIGGER" | "TYPE" | "AGGREGATE")
            ))
        || ((is(0, "ALTER") && (is(1, "INDEX") || is(1, "SEQUENCE")))
            && words.windows(2).any(|w| w[0] == "RENAME" && w[1] == "TO"))
        || (is(0, "COMMENT") && is(1, "ON"));
    if catalog_only {
        return Some(SqlAction::Other);
    }
    if is(0, "CREATE") && (is(1, "INDEX") || (is(1, "UNIQUE") && is(2, "INDEX"))) {
        let on = words.iter().position(|w| w == "ON")?;
        let table = words
            .get(on + 1)
            .filter(|w| *w != "ONLY")
            .or(words.get(on + 2))?;
        return Some(SqlAction::CreateIndex {
            table: table.to_lowercase(),
            name: None,
            unique: is(1, "UNIQUE"),
            concurrently,
        });
    }
    None
}

/// An identifier as PostgreSQL folds it: unquoted names are lower-cased.
fn ident(i: &Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}

/// The table of a possibly schema-qualified name (`public.shop_book` → `shop_book`).
fn object(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => ident(i),
        Some(ObjectNamePart::Function(f)) => ident(&f.name),
        None => String::new(),
    }
}

fn classify_statement(statement: &Statement) -> Vec<SqlAction> {
    match statement {
        Statement::CreateTable(create) => vec![SqlAction::CreateTable {
            table: object(&create.name),
        }],
        Statement::CreateIndex(index) => vec![SqlAction::CreateIndex {
            table: object(&index.table_name),
            name: index.name.as_ref().map(object),
            unique: index.unique,
            concurrently: index.concurrently,
        }],
        Statement::Drop {
            object_type, names, ..
        } => match object_type {
            ObjectType::Table => vec![SqlAction::DropTable {
                tables: names.iter().map(object).collect(),
            }],
            ObjectType::Index => vec![SqlAction::DropIndex {
                names: names.iter().map(object).collect(),
                concurrently: false,
            }],
            _ => vec![SqlAction::Other],
        },
        Statement::AlterTable(alter) => alter_table(alter),
        _ => vec![SqlAction::Other],
    }
}

fn alter_table(alter: &AlterTable) -> Vec<SqlAction> {
    let table = object(&alter.name);
    alter
        .operations
        .iter()
        .map(|op| match op {
            AlterTableOperation::AddConstraint {
                constraint,
                not_valid,
            } => SqlAction::AddConstraint {
                table: table.clone(),
                name: constraint_name(constraint),
                kind: constraint_kind(constraint),
                not_valid: *not_valid,
            },
            AlterTableOperation::AddColumn { column_def, .. } => {
                let has = |f: &dyn Fn(&ColumnOption) -> bool| {
                    column_def.options.iter().any(|o| f(&o.option))
                };
                SqlAction::AddColumn {
                    table: table.clone(),
                    column: ident(&column_def.name),
                    not_null: has(&|o| {
                        matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_))
                    }),
                    has_default: has(&|o| {
                        matches!(o, ColumnOption::Default(e) if !matches!(e, Expr::Value(v) if v.to_string().eq_ignore_ascii_case("null")))
                    }),
                    references: has(&|o| matches!(o, ColumnOption::ForeignKey(_))),
                    unique: has(&|o| {
                        matches!(o, ColumnOption::Unique(_) | ColumnOption::PrimaryKey(_))
                    }),
                    check: has(&|o| matches!(o, ColumnOption::Check(_))),
                }
            }
            AlterTableOperation::ValidateConstraint { name } => SqlAction::ValidateConstraint {
                table: table.clone(),
                name: ident(name),
            },
            AlterTableOperation::DropColumn { column_names, .. } => SqlAction::DropColumn {
                table: table.clone(),
                columns: column_names.iter().map(ident).collect(),
            },
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => SqlAction::RenameColumn {
                table: table.clone(),
                old: ident(old_column_name),
                new: ident(new_column_name),
            },
            AlterTableOperation::RenameTable { table_name } => SqlAction::RenameTable {
                table: table.clone(),
                new_name: match table_name {
                    RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => object(n),
                },
            },
            AlterTableOperation::AlterColumn { column_name, op } => match op {
                AlterColumnOperation::SetNotNull => SqlAction::SetNotNull {
                    table: table.clone(),
                    column: ident(column_name),
                },
                AlterColumnOperation::SetDataType { data_type, .. } => {
                    SqlAction::AlterColumnType {
                        table: table.clone(),
                        column: ident(column_name),
                        new_type: db_type(&data_type.to_string()),
                    }
                }
                _ => SqlAction::Other,
            },
            // MySQL's `MODIFY col type NOT NULL`: what its SET NOT NULL is.
            AlterTableOperation::ModifyColumn {
                col_name, options, ..
            } if options.iter().any(|o| matches!(o, ColumnOption::NotNull)) => {
                SqlAction::SetNotNull {
                    table: table.clone(),
                    column: ident(col_name),
                }
            }
            _ => SqlAction::Other,
        })
        .collect()
}

fn constraint_name(c: &TableConstraint) -> Option<String> {
    let name = match c {
        TableConstraint::Unique(u) => u.name.as_ref(),
        TableConstraint::PrimaryKey(p) => p.name.as_ref(),
        TableConstraint::ForeignKey(f) => f.name.as_ref(),
        TableConstraint::Check(c) => c.name.as_ref(),
        TableConstraint::PrimaryKeyUsingIndex(u) | TableConstraint::UniqueUsingIndex(u) => {
            u.name.as_ref()
        }
        _ => None,
    };
    name.map(ident)
}

fn constraint_kind(c: &TableConstraint) -> ConstraintKind {
    match c {
        TableConstraint::Unique(_) | TableConstraint::PrimaryKey(_) => ConstraintKind::Unique,
        TableConstraint::PrimaryKeyUsingIndex(_) | TableConstraint::UniqueUsingIndex(_) => {
            ConstraintKind::UsingIndex
        }
        TableConstraint::ForeignKey(_) => ConstraintKind::ForeignKey,
        TableConstraint::Check(check) => {
            let mut not_null_columns = Vec::new();
            not_null_operands(&check.expr, &mut not_null_columns);
            ConstraintKind::Check { not_null_columns }
        }
        _ => ConstraintKind::Other,
    }
}

/// Columns a CHECK expression proves non-NULL: `col IS NOT NULL`, joined by `AND`.
fn not_null_operands(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::IsNotNull(inner) => {
            if let Expr::Identifier(i) = inner.as_ref() {
                out.push(ident(i));
            }
        }
        Expr::Nested(inner) => not_null_operands(inner, out),
        Expr::BinaryOp { left, op, right } if op.to_string() == "AND" => {
            not_null_operands(left, out);
            not_null_operands(right, out);
        }
        _ => {}
    }
}

/// A PostgreSQL type name as [`DbType`], for comparison with the model state.
pub fn db_type(name: &str) -> DbType {
    let lower = name.trim().to_ascii_lowercase();
    let (base, args) = match lower.split_once('(') {
        Some((b, rest)) => (
            b.trim().to_string(),
            rest.trim_end_matches(')')
                .split(',')
                .map(|a| a.trim().parse::<i64>().ok())
                .collect::<Vec<_>>(),
        ),
        None => (lower.clone(), Vec::new()),
    };
    match (base.as_str(), args.as_slice()) {
        ("varchar" | "character varying", [Some(n)]) => DbType::Varchar {
            max_length: Some(*n),
        },
        ("varchar" | "character varying", []) => DbType::Varchar { max_length: None },
        ("text", []) => DbType::Text,
        ("numeric" | "decimal", [Some(p), Some(s)]) => DbType::Numeric {
            max_digits: *p,
            decimal_places: *s,
        },
        ("int" | "int4" | "integer", []) => DbType::Named {
            name: "integer".into(),
        },
        ("int8" | "bigint", []) => DbType::Named {
            name: "bigint".into(),
        },
        ("int2" | "smallint", []) => DbType::Named {
            name: "smallint".into(),
        },
        _ => DbType::Named { name: lower },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn analyse_text(python_literal: &str, value: &str) -> (SourceFile, Vec<SqlStatement>) {
        let source = SourceFile::new(PathBuf::from("m.py"), python_literal.to_string());
        let spanned = Spanned {
            value: Value::Str(value.into()),
            range: TextRange::new(0.into(), TextSize::from(python_literal.len() as u32)),
        };
        let out = analyse(&spanned, &source);
        (source, out)
    }

    #[test]
    fn settings_django_emits_are_understood() {
        for sql in [
            "SET CONSTRAINTS ALL IMMEDIATE",
            "SET CONSTRAINTS \"shop_book_author_id_fk\" DEFERRED",
            "SET LOCAL lock_timeout = '5s'",
            "SET statement_timeout TO 0",
            "RESET lock_timeout",
            "RESET ALL",
        ] {
            let found = actions(sql);
            assert!(
                found.iter().all(|a| matches!(a, SqlAction::Other)) && !found.is_empty(),
                "{sql}: {found:?}"
            );
        }
    }

    fn actions(sql: &str) -> Vec<SqlAction> {
        let lit = format!("\"\"\"{sql}\"\"\"");
        analyse_text(&lit, sql)
            .1
            .into_iter()
            .flat_map(|s| s.actions)
            .collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "UPDATE t SET a = ';'; CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- a; comment\nALTER TABLE \"shop_book\" DROP COLUMN \"isbn\"";
        let lit = format!("'''{sql}'''");
        let (source, stmts) = analyse_text(&lit, sql);
        assert_eq!(stmts.len(), 3, "{stmts:#?}");
        assert_eq!(
            stmts[2].actions,
            vec![SqlAction::DropColumn {
                table: "shop_book".into(),
                columns: vec!["isbn".into()]
            }]
        );
        // The range points at the statement inside the literal.
        let r = stmts[2].range;
        assert!(source.text[usize::from(r.start())..].starts_with("ALTER TABLE"));
        assert_eq!(source.line_col(r.start()).0, 3);
    }

    #[test]
    fn classifies_the_ddl_that_matters() {
        assert_eq!(
            actions("ALTER TABLE shop_book ADD COLUMN n int NOT NULL"),
            vec![SqlAction::AddColumn {
                table: "shop_book".into(),
                column: "n".into(),
                not_null: true,
                has_default: false,
                references: false,
                unique: false,
                check: false
            }]
        );
        assert_eq!(
            actions("ALTER TABLE Shop_Book ALTER COLUMN \"Title\" TYPE varchar(300)"),
            vec![SqlAction::AlterColumnType {
                table: "shop_book".into(),
                column: "Title".into(),
                new_type: DbType::Varchar {
                    max_length: Some(300)
                }
            }]
        );
        assert_eq!(
            actions("ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL AND (b IS NOT NULL)) NOT VALID"),
            vec![SqlAction::AddConstraint {
                table: "t".into(),
                name: Some("c".into()),
                kind: ConstraintKind::Check {
                    not_null_columns: vec!["a".into(), "b".into()]
                },
                not_valid: true
            }]
        );
        assert_eq!(
            actions("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX u"),
            vec![SqlAction::AddConstraint {
                table: "t".into(),
                name: Some("u".into()),
                kind: ConstraintKind::UsingIndex,
                not_valid: false
            }]
        );
        assert!(matches!(
            actions("CREATE UNIQUE INDEX CONCURRENTLY i ON public.t (a)")[0],
            SqlAction::CreateIndex {
                unique: true,
                concurrently: true,
                ..
            }
        ));
    }

    #[test]
    fn recognises_what_sqlparser_cannot_parse() {
        assert_eq!(
            actions("DROP INDEX CONCURRENTLY IF EXISTS shop_idx"),
            vec![SqlAction::DropIndex {
                names: vec!["shop_idx".into()],
                concurrently: true
            }]
        );
        assert_eq!(
            actions("REINDEX INDEX CONCURRENTLY shop_idx"),
            vec![SqlAction::Reindex { concurrently: true }]
        );
        assert!(matches!(
            actions("VACUUM (FULL, ANALYZE) shop_book; GIBBERISH here")[..],
            [_, SqlAction::Unparsed { .. }]
        ));
    }

    #[test]
    fn params_placeholders_and_dynamic_sql() {
        let source = SourceFile::new(PathBuf::from("m.py"), "x".into());
        let pair = Spanned {
            value: Value::List(vec![Spanned {
                value: Value::Tuple(vec![
                    Spanned {
                        value: Value::Str(
                            "UPDATE t SET a = %s WHERE b = %(b)s AND c LIKE 'x%%'".into(),
                        ),
                        range: TextRange::default(),
                    },
                    Spanned {
                        value: Value::List(vec![]),
                        range: TextRange::default(),
                    },
                ]),
                range: TextRange::default(),
            }]),
            range: TextRange::default(),
        };
        let out = analyse(&pair, &source);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].actions, vec![SqlAction::Other]);
        let dynamic = Spanned {
            value: Value::Unknown("f\"DROP TABLE {name}\"".into()),
            range: TextRange::default(),
        };
        assert!(matches!(
            analyse(&dynamic, &source)[0].actions[0],
            SqlAction::Unparsed { .. }
        ));
    }

    #[test]
    fn escaped_literals_point_at_the_whole_literal() {
        let value = "DROP TABLE a;\nDROP TABLE b";
        let lit = "\"DROP TABLE a;\\nDROP TABLE b\"";
        let (_, stmts) = analyse_text(lit, value);
        assert_eq!(stmts.len(), 2);
        assert_eq!(
            stmts[1].range,
            TextRange::new(0.into(), TextSize::from(lit.len() as u32))
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for sql in [
            "'",
            "$$",
            "ALTER",
            ";;;",
            "\u{0}",
            "é;é",
            "CREATE INDEX ON",
            "DROP INDEX",
        ] {
            let _ = actions(sql);
        }
    }
}
