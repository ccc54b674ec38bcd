//! The speed benchmark of issue "lint (2 of 2)": prints figures, asserts nothing.
//!
//! `cargo bench --bench lint` builds, under `target/bench/`, a synthetic tree of at least
//! 50 MB from the shared corpus (`scripts/fetch-corpus.sh`; every app copied with a
//! distinct app label, dependencies rewritten to the copy), then measures in the same run:
//!
//! 1. the raw `ruff_python_parser` parse time of those files, single-threaded, files
//!    already in memory (the floor any Python-parsing linter pays);
//! 2. `migrail lint --all` end to end (the release binary: discovery, reading, parallel
//!    parse, graph, two replays, every rule, JSON rendering to /dev/null), alternating
//!    with (1) for several rounds: the figure compared with the target is the median of
//!    the rounds' ratios, since this machine's speed drifts between seconds;
//! 3. a pre-commit style run: one file named, in a tree of at least 1,000 migrations,
//!    best of 10.
//!
//! Environment: `MIGRAIL_CORPUS` (default `target/tmp/corpus`, fetched when missing),
//! `MIGRAIL_BENCH_MB` (default 50).

#[path = "support/tree.rs"]
mod tree;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use migrail::django::discover::discover;
use ruff_python_ast::PySourceType;
use tree::{build_tree, corpus_apps, migrail, repo};

/// Rounds of (raw parse, `lint --all`), measured alternately.
const ROUNDS: usize = 9;

fn ratio(round: &(Duration, Duration)) -> f64 {
    round.1.as_secs_f64() / round.0.as_secs_f64()
}

fn best_of(n: usize, mut run: impl FnMut() -> Duration) -> Duration {
    (0..n).map(|_| run()).min().unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let min_mb: u64 = std::env::var("MIGRAIL_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let (corpus, apps) = corpus_apps();
    let bench = repo().join("target/bench");
    println!("corpus: {} apps from {}", apps.len(), corpus.display());

    // 1,000-migration tree for the pre-commit run.
    let small = bench.join("tree-1000");
    let (small_files, _) = build_tree(&small, &apps, 0, 1000);
    let one = std::fs::read_dir(small.join("c0"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|app| app.path().join("migrations"))
        .and_then(|m| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(m)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n != "__init__.py"))
                .collect();
            files.sort();
            files.pop()
        })
        .expect("a migration in the small tree");
    let one_rel = one
        .strip_prefix(&small)
        .unwrap_or(&one)
        .to_string_lossy()
        .into_owned();
    migrail(&["lint", &one_rel, "--root", "."], &small); // warm the page cache
    let precommit = best_of(10, || migrail(&["lint", &one_rel, "--root", "."], &small));

    // The big tree.
    let big = bench.join(format!("tree-{min_mb}mb"));
    let (files, bytes) = build_tree(&big, &apps, min_mb * 1_000_000, 0);
    let paths: Vec<PathBuf> = discover(std::slice::from_ref(&big), &Default::default())
        .expect("discover")
        .into_iter()
        .map(|f| f.path)
        .collect();
    let texts: Vec<String> = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();

    let raw_parse = || {
        let start = Instant::now();
        let mut errors = 0;
        for text in &texts {
            let parsed = ruff_python_parser::parse_unchecked_source(text, PySourceType::Python);
            errors += parsed.errors().len();
        }
        assert_eq!(errors, 0, "the corpus parses cleanly");
        start.elapsed()
    };
    // migrail's own front-end on the same in-memory files: ruff's parse plus reading the
    // `Migration` class into typed operations.
    let settings = migrail::django::migration::Settings::default();
    let front_end = best_of(3, || {
        let start = Instant::now();
        let mut operations = 0;
        for (path, text) in paths.iter().zip(&texts) {
            let source = std::sync::Arc::new(migrail::django::migration::SourceFile::new(
                path.clone(),
                text.clone(),
            ));
            let m = migrail::django::migration::parse_migration("app", "0001", source, &settings);
            operations += m.operations.len();
        }
        assert!(operations > 0);
        start.elapsed()
    });
    let lint_all = || migrail(&["lint", "--all", ".", "--format", "json"], &big);
    lint_all(); // warm the page cache
                // This machine's speed drifts by tens of percent over seconds (shared cores), so the
                // two measures the target compares are taken in alternation, round after round, and
                // each round's ratio is kept: the median ratio is the figure, the spread is shown.
    let mut rounds: Vec<(Duration, Duration)> =
        (0..ROUNDS).map(|_| (raw_parse(), lint_all())).collect();
    let parse = rounds.iter().map(|r| r.0).min().unwrap_or_default();
    let lint = rounds.iter().map(|r| r.1).min().unwrap_or_default();
    rounds.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let median = rounds.get(rounds.len() / 2).map(ratio).unwrap_or(f64::NAN);
    let (lowest, highest) = (
        rounds.first().map(ratio).unwrap_or(f64::NAN),
        rounds.last().map(ratio).unwrap_or(f64::NAN),
    );

    let mb = bytes as f64 / 1e6;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {threads} hardware threads");
    println!("tree: {files} migration files, {mb:.1} MB (target/bench/tree-{min_mb}mb)");
    println!(
        "raw ruff_python_parser parse, 1 thread:  {:>8.3} s  ({:.0} MB/s)",
        parse.as_secs_f64(),
        mb / parse.as_secs_f64()
    );
    println!(
        "migrail front-end (parse + typed ops), 1 thread: {:>5.3} s  ({:.2}x raw parse)",
        front_end.as_secs_f64(),
        front_end.as_secs_f64() / parse.as_secs_f64()
    );
    println!(
        "migrail lint --all, end to end:         {:>8.3} s  ({:.0} MB/s)",
        lint.as_secs_f64(),
        mb / lint.as_secs_f64(),
    );
    println!(
        "end to end / raw parse, {ROUNDS} alternating rounds: median {median:.2}x (rounds {lowest:.2}x to {highest:.2}x; target <= 2x)"
    );
    println!(
        "pre-commit run, 1 file of {small_files} migrations: {:>6.1} ms  (target < 30 ms)",
        precommit.as_secs_f64() * 1e3
    );
}
