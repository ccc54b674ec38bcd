//! The lock a PostgreSQL statement takes and what it does to the table's rows (rewrites
//! them, scans them, builds an index over them, nothing), read from the statement's text
//! as Django and migrations write it. For `migrail sql` and the pull request's SQL block.

use serde::Serialize;

/// What one statement locks and does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lock {
    /// The strongest table lock (`ACCESS EXCLUSIVE`, `SHARE`, ...); `None`: none, or
    /// not known.
    pub mode: Option<&'static str>,
    /// The tables it locks, as written (unquoted).
    pub tables: Vec<String>,
    /// What happens to the rows: `rewrites`, `scans`, `builds an index`, `no rewrite`,
    /// `new table`, ...
    pub effect: &'static str,
}

impl Lock {
    /// `ACCESS EXCLUSIVE on "shop_book", no rewrite`.
    pub fn describe(&self) -> String {
        let on = if self.tables.is_empty() {
            String::new()
        } else {
            format!(
                " on {}",
                self.tables
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        match self.mode {
            Some(mode) => format!("{mode}{on}, {}", self.effect),
            None => format!("no table lock{on}, {}", self.effect),
        }
    }
}

/// PostgreSQL's table lock modes, weakest first.
const MODES: [&str; 8] = [
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
];

fn stronger(a: Option<&'static str>, b: &'static str) -> Option<&'static str> {
    let rank = |m: &str| MODES.iter().position(|x| *x == m).unwrap_or(0);
    match a {
        Some(a) if rank(a) >= rank(b) => Some(a),
        _ => Some(b),
    }
}

/// The effects, mildest first: the statement's is its worst sub-command's.
const EFFECTS: [&str; 7] = [
    "no rewrite",
    "new table",
    "drops it",
    "scans the rows",
    "builds an index, writes allowed",
    "builds an index, writes blocked",
    "rewrites the table",
];

fn worse(a: &'static str, b: &'static str) -> &'static str {
    let rank = |e: &str| EFFECTS.iter().position(|x| *x == e).unwrap_or(0);
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The identifier after `words` (a table or index name), unquoted.
fn name_after(upper: &str, text: &str, words: &str) -> Option<String> {
    let at = upper.find(words)? + words.len();
    let rest = text[at..].trim_start();
    let rest = rest
        .strip_prefix("IF NOT EXISTS ")
        .or_else(|| rest.strip_prefix("IF EXISTS "))
        .or_else(|| rest.strip_prefix("ONLY "))
        .unwrap_or(rest)
        .trim_start();
    let name = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()?.to_string()
    } else {
        rest.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
            .next()?
            .to_string()
    };
    (!name.is_empty()).then_some(name)
}

/// The lock and effect of `statement`.
pub fn of(statement: &str) -> Lock {
    let text = statement.trim();
    let upper = text.to_uppercase();
    let lock = |mode: Option<&'static str>, tables: Vec<String>, effect: &'static str| Lock {
        mode,
        tables,
        effect,
    };
    let table_after = |words: &str| name_after(&upper, text, words).into_iter().collect();
    if upper.starts_with("CREATE TABLE") {
        return lock(Some("ACCESS EXCLUSIVE"), table_after("TABLE"), "new table");
    }
    if upper.starts_with("DROP TABLE") {
        return lock(Some("ACCESS EXCLUSIVE"), table_after("TABLE"), "drops it");
    }
    if upper.starts_with("CREATE INDEX") || upper.starts_with("CREATE UNIQUE INDEX") {
        let tables = table_after(" ON ");
        return if upper.contains(" CONCURRENTLY ") {
            lock(
                Some("SHARE UPDATE EXCLUSIVE"),
                tables,
                "builds an index, writes allowed",
            )
        } else {
            lock(Some("SHARE"), tables, "builds an index, writes blocked")
        };
    }
    if upper.starts_with("DROP INDEX") {
        return if upper.contains(" CONCURRENTLY ") {
            lock(Some("SHARE UPDATE EXCLUSIVE"), Vec::new(), "no rewrite")
        } else {
            lock(Some("ACCESS EXCLUSIVE"), Vec::new(), "no rewrite")
        };
    }
    if upper.starts_with("UPDATE") || upper.starts_with("DELETE") || upper.starts_with("INSERT") {
        let tables = if upper.starts_with("UPDATE") {
            table_after("UPDATE")
        } else if upper.starts_with("DELETE") {
            table_after(" FROM ")
        } else {
            table_after(" INTO ")
        };
        return lock(Some("ROW EXCLUSIVE"), tables, "writes rows");
    }
    if upper.starts_with("SET ") || upper.starts_with("RESET ") || upper.starts_with("SELECT") {
        return lock(None, Vec::new(), "no rewrite");
    }
    if upper.starts_with("COMMENT ON") {
        return lock(Some("SHARE UPDATE EXCLUSIVE"), Vec::new(), "no rewrite");
    }
    if !upper.starts_with("ALTER TABLE") {
        return lock(None, Vec::new(), "not known");
    }
    let mut tables: Vec<String> = table_after("TABLE");
    let mut mode: Option<&'static str> = None;
    let mut effect = "no rewrite";
    // The sub-commands, split on commas outside parentheses and quotes.
    let mut depth = 0i32;
    let mut quoted = false;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in upper.char_indices() {
        match c {
            '"' | '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, upper.len()));
    for (a, b) in parts {
        let part = &upper[a..b];
        let original = &text[a..b];
        let (m, e) = if part.contains(" RENAME ") {
            ("ACCESS EXCLUSIVE", "no rewrite")
        } else if part.contains("VALIDATE CONSTRAINT") {
            ("SHARE UPDATE EXCLUSIVE", "scans the rows")
        } else if part.contains(" FOREIGN KEY ") || part.contains(" REFERENCES ") {
            if let Some(r) = name_after(part, original, " REFERENCES ") {
                if !tables.contains(&r) {
                    tables.push(r);
                }
            }
            let (m, e) = if part.contains(" ADD COLUMN ") {
                ("ACCESS EXCLUSIVE", "no rewrite")
            } else {
                ("SHARE ROW EXCLUSIVE", "no rewrite")
            };
            (
                m,
                if part.contains("NOT VALID") {
                    e
                } else {
                    "scans the rows"
                },
            )
        } else if part.contains(" ADD CONSTRAINT ") && part.contains(" CHECK ") {
            (
                "ACCESS EXCLUSIVE",
                if part.contains("NOT VALID") {
                    "no rewrite"
                } else {
                    "scans the rows"
                },
            )
        } else if part.contains(" UNIQUE ") && part.contains(" USING INDEX ") {
            ("ACCESS EXCLUSIVE", "no rewrite")
        } else if part.contains(" UNIQUE") || part.contains(" PRIMARY KEY") {
            ("ACCESS EXCLUSIVE", "builds an index, writes blocked")
        } else if part.contains(" TYPE ") {
            ("ACCESS EXCLUSIVE", "rewrites the table")
        } else if part.contains("SET NOT NULL") {
            ("ACCESS EXCLUSIVE", "scans the rows")
        } else {
            // ADD/DROP COLUMN, DROP/SET DEFAULT, DROP NOT NULL, DROP CONSTRAINT.
            ("ACCESS EXCLUSIVE", "no rewrite")
        };
        mode = stronger(mode, m);
        effect = worse(effect, e);
    }
    lock(mode, tables, effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_django_writes() {
        let d = |s: &str| of(s).describe();
        assert_eq!(
            d(r#"CREATE TABLE "shop_book" ("id" bigint NOT NULL PRIMARY KEY)"#),
            r#"ACCESS EXCLUSIVE on "shop_book", new table"#
        );
        assert_eq!(
            d(r#"ALTER TABLE "shop_book" ADD COLUMN "pages" integer DEFAULT 0 NOT NULL"#),
            r#"ACCESS EXCLUSIVE on "shop_book", no rewrite"#
        );
        assert_eq!(
            d(
                r#"ALTER TABLE "shop_order" ALTER COLUMN "price" TYPE numeric(10, 2) USING "price"::numeric(10, 2)"#
            ),
            r#"ACCESS EXCLUSIVE on "shop_order", rewrites the table"#
        );
        assert_eq!(
            d(
                r#"ALTER TABLE "shop_book" ADD CONSTRAINT "fk" FOREIGN KEY ("a_id") REFERENCES "shop_author" ("id") DEFERRABLE INITIALLY DEFERRED"#
            ),
            r#"SHARE ROW EXCLUSIVE on "shop_book", "shop_author", scans the rows"#
        );
        assert_eq!(
            d(r#"CREATE INDEX "i" ON "shop_book" ("title")"#),
            r#"SHARE on "shop_book", builds an index, writes blocked"#
        );
        assert_eq!(
            d(r#"CREATE INDEX CONCURRENTLY "i" ON "shop_book" ("title")"#),
            r#"SHARE UPDATE EXCLUSIVE on "shop_book", builds an index, writes allowed"#
        );
        assert_eq!(
            d(
                r#"ALTER TABLE "t" ALTER COLUMN "c" TYPE text USING "c"::text, ALTER COLUMN "c" SET NOT NULL"#
            ),
            r#"ACCESS EXCLUSIVE on "t", rewrites the table"#
        );
        assert_eq!(
            d(r#"ALTER TABLE "t" VALIDATE CONSTRAINT "c""#),
            r#"SHARE UPDATE EXCLUSIVE on "t", scans the rows"#
        );
        assert_eq!(
            d(r#"SET CONSTRAINTS "c" IMMEDIATE"#),
            "no table lock, no rewrite"
        );
    }
}
