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
