//! The bounded, deterministic stand-in for `cargo fuzz` (see `fuzz/`): thousands of
//! inputs through parse, replay, every rule, the plan and every renderer
//! (`migrail::fuzzing::lint_bytes`), asserting the one property that matters for
//! arbitrary input — no panic. Inputs: random bytes, mutations of the real migrations of
//! `examples/` and `fixtures/`, and grammar-shaped migrations built from Django
//! operations, fields and SQL with random arguments. The seed is fixed, so a failure
//! reproduces; the failing input is printed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// xorshift64*: small, deterministic, good enough to pick inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn real_migrations() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "py")
                && p.parent().is_some_and(|d| d.ends_with("migrations"))
            {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join("examples"), &mut paths);
    walk(&root.join("fixtures"), &mut paths);
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

const OPERATIONS: &[&str] = &[
    "migrations.AddField({m}, {s}, {f})",
    "migrations.AlterField({m}, {s}, {f})",
    "migrations.RemoveField({m}, {s})",
    "migrations.RenameField({m}, {s}, {s})",
    "migrations.CreateModel({s}, [({s}, {f}), ({s}, {f})], options={d})",
    "migrations.DeleteModel({m})",
    "migrations.RenameModel({m}, {s})",
    "migrations.AlterModelTable({m}, {v})",
    "migrations.AlterUniqueTogether({m}, {v})",
    "migrations.AlterIndexTogether({m}, {v})",
    "migrations.AddIndex({m}, models.Index(fields=[{s}], name={s}))",
    "migrations.RemoveIndex({m}, {s})",
    "AddIndexConcurrently({m}, models.Index(fields=[{s}], name={s}))",
    "migrations.AddConstraint({m}, models.CheckConstraint(condition=models.Q(x=1), name={s}))",
    "AddConstraintNotValid({m}, models.UniqueConstraint(fields=[{s}], name={s}))",
    "migrations.RunSQL({q}, {q})",
    "migrations.RunSQL([{q}, ({q}, [1])])",
    "migrations.RunSQL({v})",
    "migrations.RunPython({v}, {v})",
    "migrations.SeparateDatabaseAndState(database_operations=[{o}], state_operations=[{o}])",
    "IgnoreMigration()",
    "{v}",
];

const FIELDS: &[&str] = &[
    "models.CharField(max_length={i}, null={b})",
    "models.IntegerField(default={i}, db_default={v})",
    "models.DecimalField(max_digits={i}, decimal_places={i})",
    "models.ForeignKey({s}, on_delete=models.CASCADE, db_constraint={b})",
    "models.ManyToManyField({s})",
    "models.SlugField(unique={b}, db_index={b})",
    "models.TextField(db_column={s})",
    "custom.Field({v}, {v})",
];

const SQL: &[&str] = &[
    "ALTER TABLE shop_book DROP COLUMN title",
    "ALTER TABLE shop_book ADD COLUMN n int NOT NULL",
    "ALTER TABLE shop_book ALTER COLUMN subtitle SET NOT NULL",
    "ALTER TABLE shop_book ALTER COLUMN title TYPE varchar(500)",
    "ALTER TABLE shop_book RENAME COLUMN title TO name",
    "ALTER TABLE shop_book ADD CONSTRAINT c CHECK (subtitle IS NOT NULL) NOT VALID",
    "ALTER TABLE shop_book VALIDATE CONSTRAINT c",
    "CREATE UNIQUE INDEX CONCURRENTLY i ON shop_book (title)",
    "DROP INDEX CONCURRENTLY IF EXISTS i",
    "REINDEX TABLE shop_book",
    "CREATE TABLE t (id int primary key)",
    "DROP TABLE shop_book",
    "UPDATE shop_book SET title = %s",
    "$$ unterminated",
    "'",
    "SELECT 1; SELECT (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
];

const VALUES: &[&str] = &[
    "None",
    "True",
    "1",
    "-5",
    "1e999",
    "'x'",
    "\"book\"",
    "[]",
    "{}",
    "()",
    "[1, [2, [3]]]",
    "{'a': [1, {'b': 2}]}",
    "f'{x}'",
    "x.y.z",
    "lambda: 1",
    "*args",
    "**kw",
    "not_defined()",
    "settings.AUTH_USER_MODEL",
    "[1] + computed",
    "'a' 'b'",
    "b'bytes'",
    "...",
];

fn expand(rng: &mut Rng, template: &str, depth: usize) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let hole = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        let filled = match hole {
            "m" => format!(
                "{:?}",
                rng.pick(&["book", "Book", "ghost", "", "shop.Book"])
            ),
            "s" => format!(
                "{:?}",
                rng.pick(&["title", "subtitle", "price", "id", "x", "", "a\"b", "é"])
            ),
            "i" => rng
                .pick(&["0", "1", "13", "-1", "300", "99999999999999999999"])
                .to_string(),
            "b" => rng.pick(&["True", "False", "None", "1", "x"]).to_string(),
            "q" => {
                let n = 1 + rng.below(3);
                let sql: Vec<&str> = (0..n).map(|_| *rng.pick(SQL)).collect();
                format!("{:?}", sql.join(";\n"))
            }
            "f" if depth < 3 => {
                let t = *rng.pick(FIELDS);
                expand(rng, t, depth + 1)
            }
            "o" if depth < 3 => {
                let t = *rng.pick(OPERATIONS);
                expand(rng, t, depth + 1)
            }
            "d" => rng
                .pick(&[
                    "{}",
                    "{'db_table': 'x'}",
                    "{'managed': False}",
                    "{'proxy': True}",
                    "None",
                ])
                .to_string(),
            _ => rng.pick(VALUES).to_string(),
        };
        out.push_str(&filled);
    }
    out.push_str(rest);
    out
}

fn grammar_shaped(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(6);
    let ops: Vec<String> = (0..n)
        .map(|_| {
            let t = *rng.pick(OPERATIONS);
            let op = expand(rng, t, 0);
            let suppression = match rng.below(8) {
                0 => "  # migrail: ignore[drop-column] -- fuzz",
                1 => "  # migrail: ignore[",
                _ => "",
            };
            format!("        {op},{suppression}")
        })
        .collect();
    let header = rng.pick(&[
        "",
        "    atomic = False\n",
        "    safe = Safe.after_deploy()\n",
        "    stage = Stage.PRE_DEPLOY\n",
        "    replaces = [('shop', '0001_initial')]\n",
        "    run_before = [('shop', '0001_initial')]\n",
    ]);
    format!(
        "from django.db import migrations, models\nfrom django.contrib.postgres.operations import *\n\
         from django_migration_linter import IgnoreMigration\n\n\
         class Migration(migrations.Migration):\n{header}    dependencies = [{deps}]\n    operations = [\n{ops}\n    ]\n",
        deps = rng.pick(&["('shop', '0001_initial')", "('shop', '0002_fuzz')", "('other', '0001')", "x"]),
        ops = ops.join("\n"),
    )
    .into_bytes()
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes.truncate(at),
            2 => {
                let len = rng.below(40).min(bytes.len() - at);
                let chunk = bytes[at..at + len].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, chunk);
            }
            3 => {
                let insert = rng.pick(&[
                    "(", ")", "[", "\"\"\"", "\\", "\n    ", "#", "\u{feff}", "\0", "é",
                ]);
                bytes.splice(at..at, insert.bytes());
            }
            _ => {
                let len = rng.below(20).min(bytes.len() - at);
                bytes.drain(at..at + len);
            }
        }
    }
    bytes
}

#[test]
fn no_input_makes_migrail_panic() {
    let real = real_migrations();
    assert!(real.len() > 20, "examples and fixtures are found");
    let mut rng = Rng(0x6d69_6772_6169_6c21);
    let cases = 4000;
    let mut findings = 0usize;
    for case in 0..cases {
        let input = match case % 4 {
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            1 => {
                let base = &real[rng.below(real.len())];
                mutate(&mut rng, base)
            }
            _ => grammar_shaped(&mut rng),
        };
        let deploy_phases = case % 3 == 0;
        match catch_unwind(AssertUnwindSafe(|| {
            migrail::fuzzing::lint_bytes(&input, deploy_phases)
        })) {
            Ok(n) => findings += n,
            Err(_) => panic!(
                "case {case} panicked on this input:\n{}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    // The generated inputs exercise the rules, not just the parser's error path.
    assert!(
        findings > cases,
        "only {findings} findings over {cases} inputs"
    );
}
