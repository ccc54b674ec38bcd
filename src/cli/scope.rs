//! Which migrations a command loads and which it reports: paths, `--all`, `--base REF`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use crate::django::discover::may_be_migration;
use crate::lint::Review;

use super::{CliError, ScopeArgs};
#[cfg(feature = "ecs")]
use crate::ci::Context;

/// What to load and what to report, from the paths and `--all` / `--base`.
pub fn lint_scope(args: &ScopeArgs) -> Result<(Vec<PathBuf>, Review), CliError> {
    for p in &args.paths {
        if !p.exists() {
            return Err(CliError::usage(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    let (files, mut dirs): (Vec<PathBuf>, Vec<PathBuf>) =
        args.paths.iter().cloned().partition(|p| p.is_file());
    // Files that are not migrations (pre-commit may pass `migrations/__init__.py`) are
    // not reviewed.
    let files: Vec<PathBuf> = files.into_iter().filter(|f| may_be_migration(f)).collect();

    if !args.paths.is_empty() && dirs.is_empty() && files.is_empty() {
        // Only non-migration files were named: nothing to review.
        return Ok((Vec::new(), Review::Files(BTreeSet::new())));
    }
    if !files.is_empty() {
        let root = match &args.root {
            Some(root) => root.clone(),
            None => project_root(&files[0]),
        };
        dirs.push(root);
    } else if let Some(root) = &args.root {
        dirs.push(root.clone());
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("."));
    }
    let roots = dedup_roots(dirs);

    let review = if args.all {
        Review::All
    } else if let Some(base) = &args.base {
        let mut changed = changed_since(base)?;
        changed.extend(files.iter().cloned());
        Review::files(changed.iter().map(PathBuf::as_path))
    } else if !files.is_empty() {
        Review::files(files.iter().map(PathBuf::as_path))
    } else {
        Review::All
    };
    Ok((roots, review))
}

/// The nearest folder above `file` holding `manage.py`, else the current directory.
fn project_root(file: &Path) -> PathBuf {
    let absolute = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let cwd = std::env::current_dir().ok();
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.join("manage.py").is_file() {
            return relative_to_cwd(d);
        }
        if cwd.as_deref() == Some(d) {
            break;
        }
        dir = d.parent();
    }
    PathBuf::from(".")
}

fn relative_to_cwd(p: &Path) -> PathBuf {
    match std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf))
    {
        Some(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Some(rel) => rel,
        None => p.to_path_buf(),
    }
}

/// Drop roots inside another root, so no file is loaded twice under two spellings.
fn dedup_roots(roots: Vec<PathBuf>) -> Vec<PathBuf> {
    let canon: Vec<(PathBuf, PathBuf)> = roots
        .into_iter()
        .map(|r| (r.canonicalize().unwrap_or_else(|_| r.clone()), r))
        .collect();
    let mut kept: Vec<&(PathBuf, PathBuf)> = Vec::new();
    for entry in &canon {
        let inside_other = canon
            .iter()
            .any(|other| other.0 != entry.0 && entry.0.starts_with(&other.0));
        if !inside_other && !kept.iter().any(|k| k.0 == entry.0) {
            kept.push(entry);
        }
    }
    kept.into_iter().map(|(_, r)| r.clone()).collect()
}

/// The migrations a branch has shipped: those present at the merge base of HEAD and its
/// base branch. Production applied them (or will, from the base branch): `migrail fix`
/// leaves them alone.
#[derive(Debug)]
pub struct Shipped {
    /// The base as named (`origin/main`, or `--base`'s REF).
    pub base: String,
    /// The merge base, abbreviated.
    pub merge_base: String,
    /// Canonical paths of the migration files the merge base holds.
    files: BTreeSet<PathBuf>,
}

impl Shipped {
    /// Whether the migration at `path` is on the base branch already.
    pub fn holds(&self, path: &Path) -> bool {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.files.contains(&canonical)
    }
}

/// What `migrail fix` loads and rewrites. Without paths, `--all` or `--base`: the
/// migrations added or changed since the default branch's merge base (`origin/HEAD`,
/// else `main`, else `master`), printed; where none can be found, a usage error asking
/// for paths, `--base` or `--all`. With `--all` or paths outside a git work tree (or
/// without a base branch), one warning that applied migrations must not be rewritten.
pub fn fix_scope(args: &ScopeArgs) -> Result<(Vec<PathBuf>, Review, Option<Shipped>), CliError> {
    let in_git =
        git_quiet(&["rev-parse", "--is-inside-work-tree"]).is_some_and(|o| o.trim() == "true");
    let base = args
        .base
        .clone()
        .or_else(|| in_git.then(default_base).flatten());
    let implicit = args.paths.is_empty() && !args.all && args.base.is_none();
    if implicit {
        let Some(base) = &base else {
            let why = if in_git {
                "this repository has no default branch to compare with (`origin/HEAD`, `main`, `master`)"
            } else {
                "this is not a git work tree"
            };
            return Err(CliError::usage(format!(
                "cannot tell which migrations have not shipped yet: {why}. Name the migrations \
                 to fix (`migrail fix app/migrations/0042_x.py`), give the branch they will be \
                 merged into (`--base origin/main`), or `--all` to fix every migration (only \
                 where no database has applied them)"
            )));
        };
        let scoped = ScopeArgs {
            paths: Vec::new(),
            all: false,
            base: Some(base.clone()),
            root: args.root.clone(),
        };
        let (roots, review) = lint_scope(&scoped)?;
        let shipped = shipped(base)?;
        eprintln!(
            "migrail fix: the migrations added or changed since {base} (merge base {}); those \
             {base} already has are left alone",
            shipped.merge_base
        );
        return Ok((roots, review, Some(shipped)));
    }
    let (roots, review) = lint_scope(args)?;
    match base {
        Some(base) => Ok((roots, review, Some(shipped(&base)?))),
        None => {
            let why = if in_git {
                "no default branch (`origin/HEAD`, `main`, `master`) and no `--base`"
            } else {
                "not a git work tree"
            };
            eprintln!(
                "migrail fix: warning: {why}, so migrail cannot tell which migrations have \
                 shipped: a migration a database applied must not be rewritten (the database \
                 never sees the edit); fix only what has not shipped"
            );
            Ok((roots, review, None))
        }
    }
}

/// The default branch: `origin/HEAD`'s target, else `main`, `master`, `origin/main`,
/// `origin/master`, the first that exists.
fn default_base() -> Option<String> {
    if let Some(target) = git_quiet(&[
        "symbolic-ref",
        "--quiet",
        "--short",
        "refs/remotes/origin/HEAD",
    ]) {
        let target = target.trim();
        if !target.is_empty() {
            return Some(target.to_string());
        }
    }
    ["main", "master", "origin/main", "origin/master"]
        .into_iter()
        .find(|rev| {
            git_quiet(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ])
            .is_some()
        })
        .map(str::to_string)
}

/// The migration files at the merge base of HEAD and `base`.
fn shipped(base: &str) -> Result<Shipped, CliError> {
    let top = git(&["rev-parse", "--show-toplevel"], base)?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    let top = top.canonicalize().unwrap_or(top);
    let merge_base = git(&["merge-base", "HEAD", base], base)?;
    let merge_base = merge_base.trim();
    let listed = git(&["ls-tree", "-r", "--name-only", "-z", merge_base], base)?;
    let files = listed
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter(|p| p.ends_with(".py"))
        .map(|p| top.join(p))
        .collect();
    Ok(Shipped {
        base: base.to_string(),
        merge_base: merge_base.chars().take(10).collect(),
        files,
    })
}

/// The root of the git work tree holding the working directory, if any.
#[cfg(feature = "github")]
pub fn toplevel() -> Option<PathBuf> {
    let top = git_quiet(&["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    Some(top.canonicalize().unwrap_or(top))
}

/// A git command's output, `None` when git is missing or the command fails.
fn git_quiet(args: &[&str]) -> Option<String> {
    let output = Process::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What the merge base of HEAD and `base` holds of the migration files this change
/// modified, renamed or deleted (committed or not), for `edited-applied-migration`.
pub fn base_versions(
    base: &str,
) -> Result<crate::lint::rules::edited_applied_migration::BaseVersions, CliError> {
    use crate::lint::rules::edited_applied_migration::{BaseEdit, BaseVersions};
    let top = git(&["rev-parse", "--show-toplevel"], base)?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    let top = top.canonicalize().unwrap_or(top);
    let merge_base = git(&["merge-base", "HEAD", base], base)?;
    let merge_base = merge_base.trim();
    let status = git(
        &[
            "diff",
            "--name-status",
            "--diff-filter=MDR",
            "-M",
            "-z",
            merge_base,
            "--",
        ],
        base,
    )?;
    let mut edits = Vec::new();
    let mut fields = status.split('\0').filter(|f| !f.is_empty());
    while let Some(kind) = fields.next() {
        let (then, now) = match kind.chars().next() {
            Some('R') => (fields.next(), fields.next()),
            Some('M') => {
                let path = fields.next();
                (path, path)
            }
            _ => (fields.next(), None),
        };
        let Some(then) = then else { break };
        if !may_be_migration(Path::new(then)) {
            continue;
        }
        let text = git(&["show", &format!("{merge_base}:{then}")], base)?;
        edits.push(BaseEdit {
            then: top.join(then),
            now: now.map(|p| {
                let p = top.join(p);
                p.canonicalize().unwrap_or(p)
            }),
            text,
        });
    }
    Ok(BaseVersions {
        base: format!("`{base}`"),
        edits,
        shipped: shipped(base)?.files,
    })
}

/// Migration files added, modified or renamed since the merge base of HEAD and `base`,
/// committed or not, plus untracked ones.
fn changed_since(base: &str) -> Result<Vec<PathBuf>, CliError> {
    let top = git(&["rev-parse", "--show-toplevel"], base)?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    let merge_base = git(&["merge-base", "HEAD", base], base)?;
    let merge_base = merge_base.trim();
    let diff = git(
        &[
            "diff",
            "--name-only",
            "--diff-filter=AMR",
            "-z",
            merge_base,
            "--",
        ],
        base,
    )?;
    let untracked = git(
        &[
            "ls-files",
            "--others",
            "--exclude-standard",
            "--full-name",
            "-z",
        ],
        base,
    )?;
    Ok(diff
        .split('\0')
        .chain(untracked.split('\0'))
        .filter(|p| !p.is_empty())
        .map(|p| top.join(p))
        .filter(|p| may_be_migration(p) && p.is_file())
        .collect())
}

fn git(args: &[&str], base: &str) -> Result<String, CliError> {
    let output = Process::new("git").args(args).output().map_err(|e| {
        CliError::usage(format!(
            "--base {base}: cannot run git ({e}); install git or name the files to review"
        ))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::usage(format!(
            "--base {base}: `git {}` failed: {}",
            args.join(" "),
            stderr.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What a CI job reviews (`migrail ci`, and `migrail deploy`'s plan): on a pull request
/// its changes since the base branch — `origin/BASE`, else the event's base commit when
/// the checkout has it, else the first parent of the merge commit `actions/checkout`
/// makes for `pull_request` (`fetch-depth: 2` is enough) —; on a push what the push
/// changed; else the last commit. `paths` are the folders to load.
#[cfg(feature = "ecs")]
pub fn change_scope(ctx: &Context, paths: Vec<PathBuf>) -> Result<ScopeArgs, CliError> {
    let base = if let Some(base_ref) = &ctx.base_ref {
        let remote = format!("origin/{base_ref}");
        if git_has(&remote) {
            remote
        } else if let Some(sha) = ctx.base_sha.as_deref().filter(|s| git_has(s)) {
            eprintln!(
                "migrail: `{remote}` is not in this checkout: reviewing the changes since the \
                 pull request's base commit {sha}"
            );
            sha.to_string()
        } else if git_has("HEAD^2") && git_has("HEAD^1") {
            eprintln!(
                "migrail: `{remote}` is not in this checkout: HEAD is a merge commit, reviewing \
                 the changes since its first parent (the base branch)"
            );
            "HEAD^1".to_string()
        } else {
            return Err(CliError::usage(format!(
                "the base branch `{remote}` is not in this checkout, nor the pull request's \
                 base commit, nor a merge commit's parents: check out with `fetch-depth: 2` (the \
                 merge commit and its parents, the cheapest that works) or `fetch-depth: 0`, or \
                 `git fetch origin {base_ref}`"
            )));
        }
    } else if let Some(before) = ctx.before.as_deref().filter(|b| git_has(b)) {
        before.to_string()
    } else if git_has("HEAD~1") {
        eprintln!("migrail: warning: no base branch or previous commit in the CI context: reviewing the last commit (HEAD~1..HEAD)");
        "HEAD~1".to_string()
    } else {
        return Err(CliError::usage(
            "cannot tell what changed: no base branch, no previous commit (shallow clone?); \
             fetch more history (`fetch-depth: 0`)",
        ));
    };
    Ok(ScopeArgs {
        paths,
        all: false,
        base: Some(base),
        root: None,
    })
}

#[cfg(feature = "ecs")]
fn git_has(rev: &str) -> bool {
    Process::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}
