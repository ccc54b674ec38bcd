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
    let class = match field.path().strip_prefix("django.db.models.") {
        Some(rest) => format!("models.{}", rest.rsplit('.').next().unwrap_or(rest)),
        None => field.path().to_string(),
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
///
/// Read with a small tokenizer of its own (thousands of helps quote an operation); what
/// it does not read plainly (an f-string, a soft keyword, a name that is not ASCII, a
/// character Python rejects) goes to ruff's tokens, as [`one_line_by_ruff`] does; tests
/// hold both to the same output.
pub fn one_line(text: &str) -> String {
    one_line_plain(text).unwrap_or_else(|| one_line_by_ruff(text))
}

/// [`one_line`] from the tokens of ruff's parser.
pub fn one_line_by_ruff(text: &str) -> String {
    use ruff_python_ast::token::TokenKind;
    use ruff_text_size::Ranged;
    let parsed =
        ruff_python_parser::parse_unchecked_source(text, ruff_python_ast::PySourceType::Python);
    let mut joined = Joined::new(text);
    for token in parsed.tokens().iter() {
        let piece = match token.kind() {
            TokenKind::Comment
            | TokenKind::NonLogicalNewline
            | TokenKind::Newline
            | TokenKind::Indent
            | TokenKind::Dedent
            | TokenKind::EndOfFile => continue,
            TokenKind::Lpar => Piece::Lpar,
            TokenKind::Lsqb => Piece::Lsqb,
            TokenKind::Lbrace => Piece::Lbrace,
            TokenKind::Rpar => Piece::Rpar,
            TokenKind::Rsqb => Piece::Rsqb,
            TokenKind::Rbrace => Piece::Rbrace,
            TokenKind::Comma => Piece::Comma,
            TokenKind::Name => Piece::Name,
            TokenKind::String => Piece::String,
            _ => Piece::Other,
        };
        joined.push(
            piece,
            usize::from(token.range().start()),
            usize::from(token.range().end()),
        );
    }
    joined.out
}

/// [`one_line`]'s own tokenizer: `None` for what it leaves to ruff.
pub fn one_line_plain(text: &str) -> Option<String> {
    // Python's keywords (ruff's lexer); the soft ones are names or keywords by context.
    const KEYWORDS: &[&[u8]] = &[
        b"False",
        b"None",
        b"True",
        b"and",
        b"as",
        b"assert",
        b"async",
        b"await",
        b"break",
        b"class",
        b"continue",
        b"def",
        b"del",
        b"elif",
        b"else",
        b"except",
        b"finally",
        b"for",
        b"from",
        b"global",
        b"if",
        b"import",
        b"in",
        b"is",
        b"lambda",
        b"nonlocal",
        b"not",
        b"or",
        b"pass",
        b"raise",
        b"return",
        b"try",
        b"while",
        b"with",
        b"yield",
    ];
    const SOFT_KEYWORDS: &[&[u8]] = &[b"case", b"match", b"type", b"lazy"];
    let b = text.as_bytes();
    // ASCII names only: a byte past ASCII outside a string or comment is ruff's to read.
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut joined = Joined::new(text);
    let mut at = 0;
    while let Some(&c) = b.get(at) {
        let start = at;
        let piece = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                at += 1;
                continue;
            }
            // A line continuation; a backslash anywhere else is an error.
            b'\\' => {
                at += match (b.get(at + 1), b.get(at + 2)) {
                    (Some(b'\r'), Some(b'\n')) => 3,
                    (Some(b'\n' | b'\r'), _) => 2,
                    _ => return None,
                };
                continue;
            }
            b'#' => {
                while b.get(at).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    at += 1;
                }
                continue;
            }
            b'(' => Piece::Lpar,
            b'[' => Piece::Lsqb,
            b'{' => Piece::Lbrace,
            b')' => Piece::Rpar,
            b']' => Piece::Rsqb,
            b'}' => Piece::Rbrace,
            b',' => Piece::Comma,
            b'"' | b'\'' => {
                at = string_end(b, at)?;
                joined.push(Piece::String, start, at);
                continue;
            }
            // A number: its digits (and letters: hex, exponents) up to a dot, which is a
            // token of its own as it is in `1.real`; how it splits changes nothing joined.
            b'0'..=b'9' => {
                while b
                    .get(at)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    at += 1;
                }
                joined.push(Piece::Other, start, at);
                continue;
            }
            c if is_word(c) => {
                while b.get(at).is_some_and(|&c| is_word(c)) {
                    at += 1;
                }
                let word = &b[start..at];
                if matches!(b.get(at), Some(b'"' | b'\'')) {
                    match word.to_ascii_lowercase().as_slice() {
                        b"r" | b"u" | b"b" | b"br" | b"rb" => {
                            at = string_end(b, at)?;
                            joined.push(Piece::String, start, at);
                            continue;
                        }
                        // f-strings and t-strings are tokens within tokens.
                        b"f" | b"fr" | b"rf" | b"t" | b"tr" | b"rt" => return None,
                        _ => {}
                    }
                }
                if SOFT_KEYWORDS.contains(&word) {
                    return None;
                }
                let piece = if KEYWORDS.contains(&word) {
                    Piece::Other
                } else {
                    Piece::Name
                };
                joined.push(piece, start, at);
                continue;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>'
            | b'=' | b'!' | b'.' | b':' | b';' => Piece::Other,
            _ => return None,
        };
        at += 1;
        joined.push(piece, start, at);
    }
    Some(joined.out)
}

/// Where the string literal whose opening quote is at `quote` ends (past its closing
/// quote); `None` if it does not end (or a one-quote string runs into a line break).
fn string_end(b: &[u8], quote: usize) -> Option<usize> {
    let q = *b.get(quote)?;
    let triple = b.get(quote..quote + 3) == Some(&[q, q, q][..]);
    let mut at = quote + if triple { 3 } else { 1 };
    loop {
        match *b.get(at)? {
            // An escaped character never ends the string (raw strings included).
            b'\\' => {
                at += match (b.get(at + 1), b.get(at + 2)) {
                    (Some(b'\r'), Some(b'\n')) => 3,
                    _ => 2,
                }
            }
            c if c == q => {
                if !triple {
                    return Some(at + 1);
                }
                if b.get(at..at + 3) == Some(&[q, q, q][..]) {
                    return Some(at + 3);
                }
                at += 1;
            }
            b'\n' | b'\r' if !triple => return None,
            _ => at += 1,
        }
    }
}

/// A token as [`one_line`] tells them apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Piece {
    Lpar,
    Lsqb,
    Lbrace,
    Rpar,
    Rsqb,
    Rbrace,
    Comma,
    Name,
    String,
    Other,
}

/// [`one_line`]'s output, token after token.
struct Joined<'t> {
    text: &'t str,
    out: String,
    last_end: usize,
    /// Per open bracket: whether it opens a call's arguments, and its top-level commas.
    brackets: Vec<(bool, usize)>,
    previous: Option<Piece>,
}

impl<'t> Joined<'t> {
    fn new(text: &'t str) -> Joined<'t> {
        Joined {
            text,
            out: String::with_capacity(text.len()),
            last_end: 0,
            brackets: Vec::new(),
            previous: None,
        }
    }

    fn push(&mut self, piece: Piece, start: usize, end: usize) {
        let (Some(gap), Some(source)) = (
            self.text.get(self.last_end..start),
            self.text.get(start..end),
        ) else {
            return;
        };
        let out = &mut self.out;
        let closes = matches!(piece, Piece::Rpar | Piece::Rsqb | Piece::Rbrace);
        if closes {
            let (call, commas) = self.brackets.pop().unwrap_or((true, 0));
            // `(x,)` is a tuple: its comma stays.
            let tuple_of_one = piece == Piece::Rpar && !call && commas == 1;
            if self.previous == Some(Piece::Comma) && !tuple_of_one {
                out.pop();
            }
        } else if !out.is_empty() && !gap.is_empty() && !out.ends_with(['(', '[', '{']) {
            out.push(' ');
        }
        match piece {
            Piece::Lpar | Piece::Lsqb | Piece::Lbrace => {
                let call = piece == Piece::Lpar
                    && matches!(
                        self.previous,
                        Some(Piece::Name | Piece::Rpar | Piece::Rsqb | Piece::String)
                    );
                self.brackets.push((call, 0));
            }
            Piece::Comma => {
                if let Some(top) = self.brackets.last_mut() {
                    top.1 += 1;
                }
            }
            _ => {}
        }
        out.push_str(source);
        self.last_end = end;
        self.previous = Some(piece);
    }
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
    use super::{one_line, one_line_by_ruff, one_line_plain};

    #[test]
    fn the_plain_reader_joins_as_ruffs_tokens_do() {
        let cases = [
            "migrations.AddField(\n    model_name=\"book\",\n    name=\"isbn\",\n)",
            "x(a, (b,), [c,], {d: e,},)",
            "f(not (a,), lambda: (b,), x if (c,) else y)",
            r#"r'a\'b' + b"\"" + u'''x
'y'
''' + BR"z" 'k'"#,
            "a = 1.5e-3 + .5 + 0x1F + 1_000j + x.real(1,)  # comment, with (brackets\n",
            "call(\\\n    arg,\n)\r\nother(1 ,2 , )",
            "d[1:2, ::3](x,)\n@decorator\ndef f(*args, **kw) -> None:\n    return {**kw}",
            r#""""doc "quoted" 'x' \"""" , name"#,
            "models.CharField(verbose_name=_('Titre (é)'), max_length=10,)",
        ];
        for case in cases {
            let plain = one_line_plain(case);
            assert!(plain.is_some(), "read plainly: {case:?}");
            assert_eq!(
                plain.as_deref(),
                Some(one_line_by_ruff(case).as_str()),
                "{case:?}"
            );
        }
        // Left to ruff: f-strings, soft keywords, names that are not ASCII, what Python
        // rejects, unclosed strings.
        for case in [
            "f'{x}' + y",
            "rf\"{a!r}\"",
            "type(x,)",
            "naïve(x,)",
            "a $ b",
            "'unclosed\n'",
            "x \\ y",
        ] {
            assert_eq!(one_line_plain(case), None, "{case:?}");
            assert_eq!(one_line(case), one_line_by_ruff(case), "{case:?}");
        }
    }

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
