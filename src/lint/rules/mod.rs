//! One file per rule: its metadata and documentation, its check, and its tests.
//! Shared wording helpers live here.

pub mod add_check_constraint;
pub mod add_foreign_key_validates;
pub mod add_index_not_concurrently;
pub mod add_not_null_column;
pub mod add_unique;
pub mod alter_column_type;
pub mod circular_dependency;
pub mod concurrent_in_atomic_migration;
pub mod drop_column;
pub mod drop_index_not_concurrently;
pub mod drop_table;
pub mod duplicate_app_label;
pub mod edited_applied_migration;
pub mod missing_dependency;
pub mod mixed_deploy_phase;
pub mod multiple_leaf_nodes;
pub mod mysql_partial_migration;
pub mod mysql_table_copy;
pub mod rename_as_remove_add;
pub mod rename_column;
pub mod rename_table;
pub mod runpython_irreversible;
pub mod runpython_with_schema_change;
pub mod runsql_irreversible;
pub mod runsql_unparsed;
pub mod set_not_null;
pub mod syntax_error;
pub mod unknown_operation;
pub mod unused_suppression;

use crate::django::fields::FieldDef;

/// A field call as it would be written in a migration, with some keyword arguments
/// replaced or added: `models.CharField(max_length=13, null=True)`.
pub fn field_code(field: &FieldDef, overrides: &[(&str, &str)]) -> String {
    let class = match field.path.strip_prefix("django.db.models.") {
        Some(rest) => format!("models.{}", rest.rsplit('.').next().unwrap_or(rest)),
        None => field.path.to_string(),
    };
    // One buffer for the whole call (help texts are built for every finding).
    let mut out = class;
    out.push('(');
    let mut first = true;
    let mut separate = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push_str(", ");
        }
    };
    for a in &field.call.args {
        separate(&mut out);
        a.value.describe_into(&mut out);
    }
    for (k, v) in &field.call.kwargs {
        if !overrides.iter().any(|(o, _)| o == k) {
            separate(&mut out);
            out.push_str(k);
            out.push('=');
            v.value.describe_into(&mut out);
        }
    }
    for (k, v) in overrides {
        if !v.is_empty() {
            separate(&mut out);
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out.push(')');
    // As a migration writes it: `settings.AUTH_USER_MODEL` (migrations import
    // `from django.conf import settings`), not the resolved path.
    if out.contains("django.conf.settings.") {
        out = out.replace("django.conf.settings.", "settings.");
    }
    out
}

/// A double-quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Lower-case model name as migrations write it (`model_name="book"`).
/// A MySQL identifier, backquoted: `` `shop_book` ``.
pub fn mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub fn lower(name: &str) -> String {
    name.to_lowercase()
}

/// A list for messages, capped: `a, b, c and 60 more`.
pub fn capped_list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        return items.join(", ");
    }
    format!("{} and {} more", items[..max].join(", "), items.len() - max)
}

/// Source text on one line (an operation quoted inside a help), token by token as
/// Python reads it: comments dropped (joined, a `# ...` would swallow the rest), string
/// literals kept whole, one space where the source had any, none after an opening or
/// before a closing bracket, and a call's trailing comma dropped (a 1-tuple's kept).
pub fn one_line(text: &str) -> String {
    use ruff_python_ast::token::TokenKind;
    use ruff_text_size::Ranged;
    let parsed =
        ruff_python_parser::parse_unchecked_source(text, ruff_python_ast::PySourceType::Python);
    let mut out = String::with_capacity(text.len());
    let mut last_end = 0usize;
    // Per open bracket: whether it opens a call's arguments, and its top-level commas.
    let mut brackets: Vec<(bool, usize)> = Vec::new();
    let mut previous: Option<TokenKind> = None;
    for token in parsed.tokens().iter() {
        let kind = token.kind();
        if matches!(
            kind,
            TokenKind::Comment
                | TokenKind::NonLogicalNewline
                | TokenKind::Newline
                | TokenKind::Indent
                | TokenKind::Dedent
                | TokenKind::EndOfFile
        ) {
            continue;
        }
        let (start, end) = (
            usize::from(token.range().start()),
            usize::from(token.range().end()),
        );
        let (Some(gap), Some(source)) = (text.get(last_end..start), text.get(start..end)) else {
            continue;
        };
        let closes = matches!(kind, TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace);
        if closes {
            let (call, commas) = brackets.pop().unwrap_or((true, 0));
            // `(x,)` is a tuple: its comma stays.
            let tuple_of_one = kind == TokenKind::Rpar && !call && commas == 1;
            if previous == Some(TokenKind::Comma) && !tuple_of_one {
                out.pop();
            }
        } else if !out.is_empty() && !gap.is_empty() && !out.ends_with(['(', '[', '{']) {
            out.push(' ');
        }
        match kind {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                let call = kind == TokenKind::Lpar
                    && matches!(
                        previous,
                        Some(
                            TokenKind::Name | TokenKind::Rpar | TokenKind::Rsqb | TokenKind::String
                        )
                    );
                brackets.push((call, 0));
            }
            TokenKind::Comma => {
                if let Some(top) = brackets.last_mut() {
                    top.1 += 1;
                }
            }
            _ => {}
        }
        out.push_str(source);
        last_end = end;
        previous = Some(kind);
    }
    out
}

/// The same field class and arguments, the keyword arguments `ignored` aside.
pub fn same_field_except(a: &FieldDef, b: &FieldDef, ignored: &[&str]) -> bool {
    if a.class() != b.class() || a.call.has_unpacked || b.call.has_unpacked {
        return false;
    }
    let describe = |f: &FieldDef| {
        let args: Vec<String> = f.call.args.iter().map(|v| v.value.describe()).collect();
        let mut kwargs: Vec<(String, String)> = f
            .call
            .kwargs
            .iter()
            .filter(|(k, _)| !ignored.contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.value.describe()))
            .collect();
        kwargs.sort();
        (args, kwargs)
    };
    describe(a) == describe(b)
}

/// A literal (string, number, boolean) as SQL, inside a help's single-quoted Python
/// string (`\'paperback\'`); `None` for anything else.
pub fn sql_literal(v: &crate::django::python::Value) -> Option<String> {
    use crate::django::python::Value;
    Some(match v {
        Value::Str(s) => in_single_quotes(&format!("'{}'", s.replace('\'', "''"))),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => f.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

/// `text` escaped to stand inside a single-quoted Python string literal: evaluating
/// `'…'` gives `text` back, whatever it holds (quotes, backslashes, line breaks).
pub fn in_single_quotes(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_is_still_the_same_python() {
        // makemigrations' layout: trailing commas go with the breaks.
        assert_eq!(
            one_line("migrations.AddField(\n    model_name=\"book\",\n    name=\"isbn\",\n)"),
            "migrations.AddField(model_name=\"book\", name=\"isbn\")"
        );
        // A comment would swallow the rest of the joined line.
        assert_eq!(
            one_line("migrations.AlterField(\"book\", \"isbn\",  # keep\n    models.CharField(max_length=13),\n)"),
            "migrations.AlterField(\"book\", \"isbn\", models.CharField(max_length=13))"
        );
        // A 1-tuple keeps its comma; a string literal keeps its inner spaces and lines.
        assert_eq!(
            one_line("models.Index(fields=(\n    \"a\",\n), name=\"x  y\")"),
            "models.Index(fields=(\"a\",), name=\"x  y\")"
        );
        let triple = "migrations.RunSQL(\n    \"\"\"\n    SELECT   1;\n    \"\"\",\n)";
        assert_eq!(
            one_line(triple),
            "migrations.RunSQL(\"\"\"\n    SELECT   1;\n    \"\"\")"
        );
    }
}
