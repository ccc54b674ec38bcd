//! The walk on a monorepo: prints figures, asserts nothing.
//!
//! `cargo bench --bench walk` builds, under `target/bench/monorepo/`, a tree shaped like a
//! monorepo with vendored environments and node_modules (by default 348,000 files in
//! 142,000 folders: `MIGRAIL_BENCH_FILES`, `MIGRAIL_BENCH_FOLDERS`), whose migrations are
//! the shared corpus's apps copied to `MIGRAIL_BENCH_MB` (default 20) megabytes; the
//! environments (`env-*/`, with their `pyvenv.cfg`) and `node_modules/` are in
//! `.gitignore`, everything else is in git's index. Then, in alternating rounds, it times:
//!
//! 1. CPython's `ast.parse` of the same migration files, already in memory (the figure
//!    the target compares with);
//! 2. the raw `ruff_python_parser` parse of the same files, one thread;
//! 3. `migrail lint --all . --format json` in the work tree (candidates as git lists them:
//!    the index's folders, each checked by its link count and read only when it holds a
//!    folder the index does not know or migrations);
//! 4. the same with `MIGRAIL_NO_GIT=1` (the walk with the tree's own ignore files only);
//!
//! 3 and 4 take turns going first (the run right after CPython's is the slower).
//!
//! And prints each round (with the CPU time and page faults of each `lint` run, where
//! `/proc` tells them: a second view of a run beside its wall time, to tell a change of
//! the code from the machine's drift), then what each listing saw (`MIGRAIL_TIMINGS=1`'s
//! figures: folders read by migrail, folders whose link count it checked, entries seen),
//! never a system-call count.

#[path = "support/tree.rs"]
mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migrail::django::discover::discover;
use ruff_python_ast::PySourceType;
use tree::{build_tree, corpus_apps, repo};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Counts of what the tree holds.
#[derive(Default)]
struct Shape {
    files: usize,
    folders: usize,
}

impl Shape {
    fn folder(&mut self, path: &Path) {
        std::fs::create_dir_all(path).expect("mkdir");
        self.folders += 1;
    }
    fn file(&mut self, path: &Path, text: &str) {
        std::fs::write(path, text).expect("write");
        self.files += 1;
    }
}

/// Count the files and folders under `dir` (the migrations part, built by `build_tree`).
fn count(dir: &Path, shape: &mut Shape) {
    for entry in std::fs::read_dir(dir).expect("read").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            shape.folders += 1;
            count(&entry.path(), shape);
        } else {
            shape.files += 1;
        }
    }
}

/// Fill `root` with services until the tree holds `files` files in `folders` folders:
/// per service a Python package of the project's own code (tracked), a vendored
/// virtual environment and a node_modules tree (both ignored), in the proportions
/// 3 : 3 : 4 of the folders.
fn fill(root: &Path, shape: &mut Shape, files: usize, folders: usize) {
    let mut service = 0;
    while shape.folders < folders || shape.files < files {
        let svc = root.join(format!("services/svc{service:04}"));
        shape.folder(&svc);
        // 300 folders of the service's own code, two small modules each.
        for i in 0..300 {
            let dir = svc.join(format!("src/pkg{:02}/mod{i:03}", i / 30));
            shape.folder(&dir);
            shape.file(&dir.join("__init__.py"), "");
            shape.file(
                &dir.join("views.py"),
                "def view(request):\n    return None\n",
            );
        }
        // A virtual environment: 300 folders of site-packages and bin.
        let env = svc.join("env-py311");
        shape.folder(&env.join("bin"));
        shape.file(&env.join("pyvenv.cfg"), "home = /usr/bin\n");
        shape.file(&env.join("bin/python"), "");
        for i in 0..300 {
            let dir = env.join(format!("lib/python3.11/site-packages/dist{i:03}/sub"));
            shape.folder(&dir);
            shape.file(&dir.join("__init__.py"), "");
            shape.file(&dir.join("core.py"), "x = 1\n");
            shape.file(&dir.join("util.py"), "y = 2\n");
        }
        // node_modules: 400 packages, three files each.
        for i in 0..400 {
            let dir = svc.join(format!("web/node_modules/pkg{i:03}/lib"));
            shape.folder(&dir);
            shape.file(&dir.join("index.js"), "module.exports = 1;\n");
            shape.file(&dir.join("package.json"), "{}\n");
            shape.file(&dir.join("README.md"), "#\n");
        }
        service += 1;
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}

/// CPython's `ast.parse` over the files, read into memory first: seconds.
fn cpython_parse(list: &Path) -> Duration {
    let script = r#"
import ast, sys, time
texts = [open(p, encoding="utf-8").read() for p in open(sys.argv[1]).read().split("\0") if p]
start = time.perf_counter()
for t in texts:
    ast.parse(t)
print(time.perf_counter() - start)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(list)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds");
    Duration::from_secs_f64(secs)
}

/// What `MIGRAIL_TIMINGS=1` says the listing saw.
fn listing_figures(dir: &Path, no_git: bool) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migrail"));
    command
        .args(["lint", "--all", ".", "--format", "json"])
        .current_dir(dir)
        .env("MIGRAIL_TIMINGS", "1")
        .stdout(Stdio::null());
    if no_git {
        command.env("MIGRAIL_NO_GIT", "1");
    }
    let out = command.output().expect("run migrail");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("timing: walk of"))
        .map(|l| l.trim_start_matches("timing: ").to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

const ROUNDS: usize = 6;

/// What the children this process has waited for used so far: CPU seconds (user and
/// system) and minor page faults, from `/proc/self/stat` (Linux; its times are in ticks of
/// 1/100 s); `None` elsewhere.
fn children_usage() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces): `state` is the first.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    // cminflt is field 11, cutime and cstime fields 16 and 17 (proc(5)).
    let ticks = number(16)? + number(17)?;
    Some((ticks as f64 / 100.0, number(11)?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let files = env_number("MIGRAIL_BENCH_FILES", 348_000);
    let folders = env_number("MIGRAIL_BENCH_FOLDERS", 142_000);
    let mb = env_number("MIGRAIL_BENCH_MB", 20) as u64;
    let (_, apps) = corpus_apps();

    let root = repo().join("target/bench/monorepo");
    let stamp = root.join(".shape");
    let wanted = format!("{files} {folders} {mb}\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let started = Instant::now();
        let _ = std::fs::remove_dir_all(&root);
        build_tree(&root.join("apps"), &apps, mb * 1_000_000, 0);
        let mut shape = Shape::default();
        count(&root, &mut shape);
        fill(&root, &mut shape, files, folders);
        std::fs::write(root.join(".gitignore"), "node_modules/\nenv-*/\n.shape\n").expect("write");
        git(&root, &["init", "-q"]);
        git(&root, &["add", "."]);
        std::fs::write(&stamp, &wanted).expect("write");
        println!(
            "built the tree in {:.0} s: {} files in {} folders",
            started.elapsed().as_secs_f64(),
            shape.files,
            shape.folders
        );
    }

    let migrations: Vec<PathBuf> = discover(std::slice::from_ref(&root), &Default::default())
        .expect("discover")
        .into_iter()
        .map(|f| f.path)
        .collect();
    let texts: Vec<String> = migrations
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let list = root.join("../monorepo-migrations.txt");
    let mut joined = String::new();
    for p in &migrations {
        joined.push_str(&p.to_string_lossy());
        joined.push('\0');
    }
    std::fs::write(&list, joined).expect("write the list");

    let ruff_parse = || {
        let start = Instant::now();
        for text in &texts {
            let parsed = ruff_python_parser::parse_unchecked_source(text, PySourceType::Python);
            assert!(parsed.errors().is_empty());
        }
        start.elapsed()
    };
    let lint = |no_git: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_migrail"));
        command
            .args(["lint", "--all", ".", "--format", "json"])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if no_git {
            command.env("MIGRAIL_NO_GIT", "1");
        }
        let before = children_usage();
        let start = Instant::now();
        let status = command.status().expect("run migrail");
        let elapsed = start.elapsed();
        let used =
            before
                .zip(children_usage())
                .map(|((cpu, faults), (cpu_after, faults_after))| {
                    (cpu_after - cpu, faults_after.saturating_sub(faults))
                });
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "migrail failed: {status}"
        );
        (elapsed, used)
    };
    lint(false); // warm the page cache
    lint(true);
    let mut rounds = Vec::new();
    // Per round, what each listing's run used (CPU seconds, page faults).
    let mut usage = Vec::new();
    for round in 0..ROUNDS {
        let (cpython, ruff) = (cpython_parse(&list), ruff_parse());
        // The run right after CPython's is slower (by 0.1-0.4 s here, whichever it is):
        // the two listings take turns going first.
        let ((git, git_used), (walk, walk_used)) = if round % 2 == 0 {
            let git = lint(false);
            (git, lint(true))
        } else {
            let walk = lint(true);
            (lint(false), walk)
        };
        rounds.push((cpython, ruff, git, walk));
        usage.push((git_used, walk_used));
    }
    let best = |f: fn(&(Duration, Duration, Duration, Duration)) -> Duration| {
        rounds.iter().map(f).min().unwrap_or_default().as_secs_f64()
    };
    let ratio = |f: fn(&(Duration, Duration, Duration, Duration)) -> Duration| {
        median(
            rounds
                .iter()
                .map(|r| f(r).as_secs_f64() / r.0.as_secs_f64())
                .collect(),
        )
    };
    println!(
        "tree: {} (target/bench/monorepo), {} migration files, {:.1} MB",
        wanted.trim(),
        migrations.len(),
        bytes as f64 / 1e6
    );
    println!("round  CPython   ruff     git listing       own walk");
    for (i, (cpython, ruff, git, walk)) in rounds.iter().enumerate() {
        let c = cpython.as_secs_f64();
        println!(
            "{:>5}  {c:.3} s  {:.3} s  {:.3} s ({:.2}x)  {:.3} s ({:.2}x)",
            i + 1,
            ruff.as_secs_f64(),
            git.as_secs_f64(),
            git.as_secs_f64() / c,
            walk.as_secs_f64(),
            walk.as_secs_f64() / c
        );
    }
    if usage
        .iter()
        .all(|(git, walk)| git.is_some() && walk.is_some())
    {
        println!("round  CPU (user + system) and page faults: git listing, own walk");
        for (i, (git, walk)) in usage.iter().enumerate() {
            let (git, walk) = (git.unwrap_or_default(), walk.unwrap_or_default());
            println!(
                "{:>5}  {:.2} s, {} faults   {:.2} s, {} faults",
                i + 1,
                git.0,
                git.1,
                walk.0,
                walk.1
            );
        }
        let cpu = |walk: bool| {
            median(
                usage
                    .iter()
                    .filter_map(|u| if walk { u.1 } else { u.0 })
                    .map(|u| u.0)
                    .collect(),
            )
        };
        println!(
            "lint --all CPU (user + system), median of {ROUNDS}: git listing {:.2} s, own walk {:.2} s",
            cpu(false),
            cpu(true)
        );
    }
    println!("git listing:       {}", listing_figures(&root, false));
    println!("own walk listing:  {}", listing_figures(&root, true));
    println!(
        "CPython ast.parse, files in memory:   {:>7.3} s",
        best(|r| r.0)
    );
    println!(
        "ruff_python_parser, 1 thread:         {:>7.3} s  ({:.2}x CPython, median of {ROUNDS})",
        best(|r| r.1),
        ratio(|r| r.1)
    );
    println!(
        "lint --all, candidates from git:      {:>7.3} s  ({:.2}x CPython, median of {ROUNDS}; target <= 0.25x)",
        best(|r| r.2),
        ratio(|r| r.2)
    );
    println!(
        "lint --all, MIGRAIL_NO_GIT=1 (walk):  {:>7.3} s  ({:.2}x CPython, median of {ROUNDS})",
        best(|r| r.3),
        ratio(|r| r.3)
    );
}
