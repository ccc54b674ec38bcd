//! The Python files under a folder that discovery looks at, found with as few system calls
//! as the question allows.
//!
//! Inside a git work tree the candidates are git's: the index's entries (`git ls-files`,
//! tracked files, handed out at once, no folder read for them) and the untracked files
//! git does not ignore, which the parallel walk below finds meanwhile, with git's rules
//! (the `.gitignore` files from the work tree's top down, `info/exclude`,
//! `core.excludesFile`; not `.ignore`), without entering a nested repository. git's own
//! `ls-files --others` reads the same folders on one thread: on a monorepo it took half
//! again as long as the whole lint (see the walk bench). Elsewhere (or when git is missing
//! or refuses the folder) the walk alone reads each folder once and honours the
//! `.gitignore` and `.ignore` files its listings show (no folder is probed for one). Both
//! never `stat` an entry whose type the listing gives, and skip [`SKIPPED_DIRS`] and
//! virtual environments, recognised by a `pyvenv.cfg` entry in a folder's own listing,
//! below the folder named on the command line (naming one includes it).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// Folder names never descended into unless named on the command line.
pub const SKIPPED_DIRS: &[&str] = &[
    "site-packages",
    "dist-packages",
    "node_modules",
    "__pycache__",
    ".git",
    ".hg",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    ".mypy_cache",
    ".ruff_cache",
];

/// Where a candidate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// git's index (a tracked file the ignore rules hid from the walk): it may have been
    /// deleted in the work tree since.
    GitIndex,
    /// A folder's listing: the file existed when the walk read it.
    Walk,
}

/// What finding the candidates cost: folders read by migrail itself, and entries seen
/// (listing entries, or git's records).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkStats {
    pub folders_read: usize,
    pub entries_seen: usize,
    /// Roots whose candidates came from git's index.
    pub git_roots: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WalkError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Hand every `.py` file under the folder `root` to `each` (from several threads, in no
/// particular order). `MIGRAIL_NO_GIT=1` forces the walk.
pub fn python_files(
    root: &Path,
    each: &(dyn Fn(PathBuf, Listing) + Sync),
) -> Result<WalkStats, WalkError> {
    let git_allowed = std::env::var_os("MIGRAIL_NO_GIT").is_none_or(|v| v == "0");
    if git_allowed {
        if let Some(stats) = from_git(root, each)? {
            return Ok(stats);
        }
    }
    walk(root, each)
}

fn git(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// What a successful git command printed.
fn git_output(child: std::io::Result<std::process::Child>) -> Option<Vec<u8>> {
    child
        .ok()?
        .wait_with_output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| out.stdout)
}

/// The candidates git gives: the files the walk finds with git's ignore rules (untracked
/// and tracked alike, while git reads its index in a second process), then the tracked
/// files the rules hid from the walk (git lists a tracked file whatever its ignore
/// files say) and the submodules. `None` when git is missing or the folder is not in a
/// work tree, or when the index holds nothing there and git ignores the folder (a folder
/// git ignores is walked plainly, as it was named on purpose).
fn from_git(
    root: &Path,
    each: &(dyn Fn(PathBuf, Listing) + Sync),
) -> Result<Option<WalkStats>, WalkError> {
    // Three questions at once: the index, where the work tree is, the global ignore file.
    let cached = git(root, &["ls-files", "-z", "--stage", "--cached"]).spawn();
    let cached = std::thread::spawn(move || git_output(cached));
    let repo = git(
        root,
        &["rev-parse", "--show-toplevel", "--git-path", "info/exclude"],
    )
    .spawn();
    let excludes_file = git(root, &["config", "--path", "--get", "core.excludesFile"]).spawn();
    let (repo, excludes_file) = (git_output(repo), git_output(excludes_file));
    let rules = repo.and_then(|repo| GitRules::read(root, &repo, excludes_file.as_deref()));
    let Some(rules) = rules else {
        let _ = cached.join();
        return Ok(None);
    };
    // Below an ignored folder every untracked file is ignored: the index alone answers.
    let root_ignored = rules.ignores_root();
    let (walked, hidden) = if root_ignored {
        (WalkStats::default(), Hidden::Everything)
    } else {
        let (stats, hidden) = walk_hiding(root, each, &rules)?;
        (stats, Hidden::Paths(hidden))
    };
    let cached = cached.join().ok().flatten();
    let Some(cached) = cached else {
        // git answered where the work tree is but not what its index holds.
        return if root_ignored {
            Ok(None)
        } else {
            Ok(Some(walked))
        };
    };
    if cached.is_empty() && root_ignored {
        return Ok(None);
    }
    let index = Index::parse(&cached);
    let handed = hand_out(root, &index, &hidden, each)?;
    Ok(Some(WalkStats {
        folders_read: walked.folders_read + handed.folders_read,
        entries_seen: index.records + walked.entries_seen + handed.entries_seen,
        git_roots: 1 + handed.git_roots,
    }))
}

/// What git's rules hid from the walk, as git lists paths (relative to the root).
enum Hidden {
    /// The root itself is ignored.
    Everything,
    /// The ignored folders (not entered) and `.py` files.
    Paths(Vec<Vec<u8>>),
}

/// git's ignore rules that lie outside the walked folders: `core.excludesFile`,
/// `info/exclude` and the `.gitignore` files of the folders from the work tree's top down
/// to the walk's root (excluded: the walk reads its own). Innermost first.
struct GitRules {
    /// The walk's root as an absolute path (the matchers' paths are absolute).
    abs_root: PathBuf,
    above: Vec<Gitignore>,
}

impl GitRules {
    /// From `git rev-parse --show-toplevel --git-path info/exclude` and the configured
    /// `core.excludesFile` (if any; git's default otherwise). `None` when the answers do
    /// not describe a work tree holding `root`.
    fn read(root: &Path, rev_parse: &[u8], excludes_file: Option<&[u8]>) -> Option<GitRules> {
        let text = std::str::from_utf8(rev_parse).ok()?;
        let mut lines = text.lines();
        let top = PathBuf::from(lines.next()?);
        let info_exclude = root.join(lines.next()?);
        let abs_root = root.canonicalize().ok()?;
        let top = top.canonicalize().unwrap_or(top);
        let below = abs_root.strip_prefix(&top).ok()?.to_path_buf();
        let global = match excludes_file.and_then(|b| std::str::from_utf8(b).ok()) {
            Some(path) => Some(PathBuf::from(path.trim_end_matches('\n'))),
            None => default_excludes_file(),
        };
        let layer = |dir: &Path, files: &[&Path]| -> Option<Gitignore> {
            let mut builder = GitignoreBuilder::new(dir);
            for file in files {
                // An unreadable or malformed ignore file ignores nothing, as git does.
                let _ = builder.add(file);
            }
            builder
                .build()
                .ok()
                .filter(|m| m.num_ignores() + m.num_whitelists() > 0)
        };
        // The folders between the top and the root, innermost first.
        let mut dirs = vec![top.clone()];
        for part in below.components() {
            let next = dirs[dirs.len() - 1].join(part);
            dirs.push(next);
        }
        dirs.pop();
        let mut above: Vec<Gitignore> = dirs
            .iter()
            .rev()
            .filter_map(|dir| layer(dir, &[&dir.join(".gitignore")]))
            .collect();
        above.extend(layer(&top, &[&info_exclude]));
        if let Some(global) = global {
            above.extend(layer(&top, &[&global]));
        }
        Some(GitRules { abs_root, above })
    }

    /// Whether git ignores the root itself (or a folder above it): the innermost rule
    /// that speaks decides.
    fn ignores_root(&self) -> bool {
        self.above
            .iter()
            .find_map(|m| verdict(m.matched_path_or_any_parents(&self.abs_root, true)))
            .unwrap_or(false)
    }

    /// The rules' verdict on `rel`, a path below the root (`None`: no rule says).
    fn matched(&self, rel: &Path, is_dir: bool) -> Option<bool> {
        if self.above.is_empty() {
            return None;
        }
        let path = self.abs_root.join(rel);
        self.above
            .iter()
            .find_map(|m| verdict(m.matched(&path, is_dir)))
    }
}

/// An ignore file's say on a path: ignored, re-included, or nothing.
fn verdict<T>(matched: Match<T>) -> Option<bool> {
    match matched {
        Match::Ignore(_) => Some(true),
        Match::Whitelist(_) => Some(false),
        Match::None => None,
    }
}

/// git's default `core.excludesFile`: `$XDG_CONFIG_HOME/git/ignore`, else
/// `~/.config/git/ignore`.
fn default_excludes_file() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(config) => Some(PathBuf::from(config).join("git/ignore")),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config/git/ignore")),
    }
}

/// A path as git prints it (bytes on Unix; UTF-8 elsewhere).
#[cfg(unix)]
fn os(bytes: &[u8]) -> &OsStr {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes)
}

#[cfg(not(unix))]
fn os(bytes: &[u8]) -> &OsStr {
    OsStr::new(std::str::from_utf8(bytes).unwrap_or_default())
}

/// The index's entries under the root (`git ls-files --stage`), paths relative to it.
struct Index<'a> {
    records: usize,
    /// Regular files (not symbolic links), each once.
    files: Vec<&'a [u8]>,
    submodules: Vec<&'a [u8]>,
    /// Folders holding a `pyvenv.cfg`.
    venvs: HashSet<&'a [u8]>,
}

impl<'a> Index<'a> {
    fn parse(listing: &'a [u8]) -> Index<'a> {
        let mut index = Index {
            records: 0,
            files: Vec::new(),
            submodules: Vec::new(),
            venvs: HashSet::new(),
        };
        for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            index.records += 1;
            // `<mode> <object> <stage>\t<path>`
            let Some(tab) = memchr::memchr(b'\t', record) else {
                continue;
            };
            let (meta, path) = (&record[..tab], &record[tab + 1..]);
            if meta.starts_with(b"160000 ") {
                index.submodules.push(path);
            } else if !meta.starts_with(b"120000 ") {
                index.files.push(path);
            }
        }
        // In git's order (bytes) already; a merge in progress lists a path once per stage.
        if !index.files.is_sorted() {
            index.files.sort_unstable();
        }
        index.files.dedup();
        index.venvs = index
            .files
            .iter()
            .filter_map(|p| p.strip_suffix(b"/pyvenv.cfg"))
            .collect();
        index
    }

    /// Whether `path` lies in a folder never entered: one of [`SKIPPED_DIRS`] or a
    /// virtual environment.
    fn skipped(&self, path: &[u8]) -> bool {
        let mut dirs = path.split(|&b| b == b'/');
        dirs.next_back();
        let mut end = 0;
        for dir in dirs {
            if SKIPPED_DIRS.iter().any(|s| s.as_bytes() == dir) {
                return true;
            }
            end += dir.len();
            if self.venvs.contains(&path[..end]) {
                return true;
            }
            end += 1;
        }
        false
    }
}

/// Hand out the index's `.py` files that git's rules hid from the walk (on rayon's
/// threads), skipping [`SKIPPED_DIRS`] and virtual environments; a submodule is listed in
/// turn. The figures are the submodules'.
fn hand_out(
    root: &Path,
    index: &Index,
    hidden: &Hidden,
    each: &(dyn Fn(PathBuf, Listing) + Sync),
) -> Result<WalkStats, WalkError> {
    use rayon::prelude::*;
    let files = &index.files;
    let mut tracked_hidden: Vec<&[u8]> = match hidden {
        Hidden::Everything => files.clone(),
        Hidden::Paths(paths) => paths
            .iter()
            .flat_map(|path| {
                // The file itself, or the files below the folder: among the paths starting
                // with it (a range, the index being sorted; `a/b-c.py` sorts between
                // `a/b` and `a/b/c.py`).
                let from = files.partition_point(|f| *f < path.as_slice());
                files[from..]
                    .iter()
                    .take_while(move |f| f.starts_with(path))
                    .filter(move |f| f.len() == path.len() || f.get(path.len()) == Some(&b'/'))
            })
            .copied()
            .collect(),
    };
    tracked_hidden.retain(|p| p.ends_with(b".py") && !index.skipped(p));
    tracked_hidden
        .par_iter()
        .for_each(|p| each(root.join(os(p)), Listing::GitIndex));
    let mut stats = WalkStats::default();
    for sub in &index.submodules {
        if index.skipped(sub) {
            continue;
        }
        let sub = root.join(os(sub));
        // An uninitialised submodule is an empty folder (or none).
        if sub.is_dir() {
            let inner = python_files(&sub, each)?;
            stats.folders_read += inner.folders_read;
            stats.entries_seen += inner.entries_seen;
            stats.git_roots += inner.git_roots;
        }
    }
    Ok(stats)
}

/// The ignore files of the folders from the root down: the nearest match decides.
struct Ignores {
    matcher: Gitignore,
    parent: Option<Arc<Ignores>>,
}

struct Walker<'a> {
    root: &'a Path,
    each: &'a (dyn Fn(PathBuf, Listing) + Sync),
    /// In a git work tree: git's rules above the root, and what they hid (as git lists it).
    git: Option<(&'a GitRules, Mutex<Vec<Vec<u8>>>)>,
    folders: AtomicUsize,
    entries: AtomicUsize,
    error: Mutex<Option<WalkError>>,
}

fn walk(root: &Path, each: &(dyn Fn(PathBuf, Listing) + Sync)) -> Result<WalkStats, WalkError> {
    Walker::new(root, each, None).run()
}

/// The walk with git's rules: also what they hid from it.
fn walk_hiding(
    root: &Path,
    each: &(dyn Fn(PathBuf, Listing) + Sync),
    rules: &GitRules,
) -> Result<(WalkStats, Vec<Vec<u8>>), WalkError> {
    let walker = Walker::new(root, each, Some((rules, Mutex::new(Vec::new()))));
    let stats = walker.run()?;
    let hidden = walker
        .git
        .map(|(_, hidden)| hidden.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_default();
    Ok((stats, hidden))
}

/// A path below the walk's root as git lists it (bytes on Unix, `/`-separated UTF-8
/// elsewhere).
#[cfg(unix)]
fn git_path(rel: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(rel.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn git_path(rel: &Path) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Owned(rel.to_string_lossy().replace('\\', "/").into_bytes())
}

impl<'a> Walker<'a> {
    fn new(
        root: &'a Path,
        each: &'a (dyn Fn(PathBuf, Listing) + Sync),
        git: Option<(&'a GitRules, Mutex<Vec<Vec<u8>>>)>,
    ) -> Walker<'a> {
        Walker {
            root,
            each,
            git,
            folders: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            error: Mutex::new(None),
        }
    }

    fn run(&self) -> Result<WalkStats, WalkError> {
        rayon::scope(|scope| self.folder(scope, self.root.to_path_buf(), None, true));
        if let Some(error) = self.error.lock().ok().and_then(|mut e| e.take()) {
            return Err(error);
        }
        Ok(WalkStats {
            folders_read: self.folders.load(Ordering::Relaxed),
            entries_seen: self.entries.load(Ordering::Relaxed),
            git_roots: 0,
        })
    }

    fn fail(&self, path: &Path, source: std::io::Error) {
        if let Ok(mut error) = self.error.lock() {
            error.get_or_insert(WalkError {
                path: path.to_path_buf(),
                source,
            });
        }
    }

    /// Whether the ignore files (the walk's, then git's above the root) ignore `path`;
    /// in a git work tree what they hide is noted, for the index to hand out if tracked.
    fn ignored(&self, chain: &Option<Arc<Ignores>>, path: &Path, is_dir: bool) -> bool {
        let mut said = None;
        let mut at = chain.as_ref();
        while let (Some(ignores), None) = (at, said) {
            said = verdict(ignores.matcher.matched(path, is_dir));
            at = ignores.parent.as_ref();
        }
        let Some((rules, hidden)) = &self.git else {
            return said.unwrap_or(false);
        };
        let Ok(rel) = path.strip_prefix(self.root) else {
            return said.unwrap_or(false);
        };
        let ignored = said.or_else(|| rules.matched(rel, is_dir)).unwrap_or(false);
        if ignored {
            if let Ok(mut hidden) = hidden.lock() {
                hidden.push(git_path(rel).into_owned());
            }
        }
        ignored
    }

    fn folder<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        dir: PathBuf,
        chain: Option<Arc<Ignores>>,
        is_root: bool,
    ) {
        let read = match std::fs::read_dir(&dir) {
            Ok(read) => read,
            Err(e) => return self.fail(&dir, e),
        };
        self.folders.fetch_add(1, Ordering::Relaxed);
        let mut entries = Vec::new();
        let (mut venv, mut repo, mut ignore_files) = (false, false, Vec::new());
        for entry in read {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => return self.fail(&dir, e),
            };
            // The listing's type (d_type); a `stat` only where the file system gives none.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if name == ".git" {
                repo = true;
            } else if kind.is_file() {
                if name == "pyvenv.cfg" {
                    venv = true;
                } else if name == ".gitignore" || (name == ".ignore" && self.git.is_none()) {
                    ignore_files.push(dir.join(&name));
                }
            }
            entries.push((name, kind));
        }
        self.entries.fetch_add(entries.len(), Ordering::Relaxed);
        // A nested repository is one entry to git (a submodule is listed in turn).
        if !is_root && (venv || (repo && self.git.is_some())) {
            return;
        }
        let chain = if ignore_files.is_empty() {
            chain
        } else {
            let mut builder = GitignoreBuilder::new(&dir);
            // `.gitignore` before `.ignore`: the later file's rules take precedence.
            ignore_files.sort_by_key(|p| p.file_name().is_none_or(|n| n != ".gitignore"));
            for file in &ignore_files {
                // An unreadable or malformed ignore file ignores nothing, as git does.
                let _ = builder.add(file);
            }
            match builder.build() {
                Ok(matcher) => Some(Arc::new(Ignores {
                    matcher,
                    parent: chain,
                })),
                Err(_) => chain,
            }
        };
        for (name, kind) in entries {
            if kind.is_dir() {
                if name.to_str().is_some_and(|n| SKIPPED_DIRS.contains(&n)) {
                    continue;
                }
                let path = dir.join(&name);
                if self.ignored(&chain, &path, true) {
                    continue;
                }
                let chain = chain.clone();
                scope.spawn(move |scope| self.folder(scope, path, chain, false));
            } else if kind.is_file() && name.as_encoded_bytes().ends_with(b".py") {
                let path = dir.join(&name);
                if !self.ignored(&chain, &path, false) {
                    (self.each)(path, Listing::Walk);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        dir
    }

    fn listed(root: &Path, no_git: bool) -> (Vec<String>, WalkStats) {
        let found = Mutex::new(Vec::new());
        let collect = |path: PathBuf, _: Listing| {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            found.lock().expect("lock").push(rel);
        };
        let stats = if no_git {
            walk(root, &collect).expect("walk")
        } else {
            python_files(root, &collect).expect("list")
        };
        let mut found = found.into_inner().expect("lock");
        found.sort();
        (found, stats)
    }

    const FILES: &[&str] = &[
        "shop/migrations/0001_initial.py",
        "shop/models.py",
        "shop/README.md",
        "env/pyvenv.cfg",
        "env/lib/x/migrations/0001_initial.py",
        "lib/site-packages/y/migrations/0001_initial.py",
        "build/z/migrations/0001_initial.py",
        "web/node_modules/a/b.py",
        "keep/.ignore",
        "keep/drop.py",
        "keep/kept.py",
    ];

    #[test]
    fn the_walk_skips_virtualenvs_by_their_listing_and_honours_ignore_files() {
        let dir = tree(FILES);
        let root = dir.path();
        std::fs::write(root.join(".gitignore"), "build/\n").expect("write");
        std::fs::write(root.join("keep/.ignore"), "drop.py\n").expect("write");
        let (found, stats) = listed(root, true);
        assert_eq!(
            found,
            [
                "keep/kept.py",
                "shop/migrations/0001_initial.py",
                "shop/models.py"
            ]
        );
        // Root, shop, shop/migrations, env (read, then left), lib, keep, web; not the
        // skipped or ignored ones.
        assert_eq!(stats.folders_read, 7, "{stats:?}");
        assert_eq!(stats.git_roots, 0);
        // Naming a skipped folder includes it.
        let (found, _) = listed(&root.join("env"), true);
        assert_eq!(found, ["lib/x/migrations/0001_initial.py"]);
    }

    fn git(root: &Path, args: &[&str]) -> bool {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "user.email=t@t", "-c", "user.name=t"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn in_a_git_work_tree_the_index_lists_tracked_and_unignored_untracked_files() {
        let dir = tree(FILES);
        let root = dir.path();
        if !git(root, &["init", "-q"]) {
            eprintln!("git is not installed: skipped");
            return;
        }
        std::fs::write(root.join(".gitignore"), "build/\n").expect("write");
        assert!(git(root, &["add", "shop", ".gitignore", "env", "keep"]));
        // Tracked although ignored: git lists it, so does migrail (`build-notes.py`, sorting
        // between `build` and `build/…`, is not below it).
        std::fs::write(root.join("build-notes.py"), "").expect("write");
        assert!(git(root, &["add", "build-notes.py"]));
        assert!(git(
            root,
            &["add", "-f", "build/z/migrations/0001_initial.py"]
        ));
        assert!(git(root, &["commit", "-qm", "init"]));
        // Untracked but not ignored: listed; ignored: not; deleted: not listed.
        std::fs::write(root.join("shop/migrations/0002_new.py"), "").expect("write");
        std::fs::write(root.join("build/z/migrations/0002_new.py"), "").expect("write");
        std::fs::remove_file(root.join("shop/models.py")).expect("rm");
        let listing = Mutex::new(Vec::new());
        let stats =
            python_files(root, &|p, l| listing.lock().expect("lock").push((p, l))).expect("list");
        assert_eq!(stats.git_roots, 1);
        let mut found: Vec<(String, Listing)> = listing
            .into_inner()
            .expect("lock")
            .into_iter()
            .map(|(p, l)| {
                let rel = p.strip_prefix(root).expect("under");
                (rel.to_string_lossy().into_owned(), l)
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            found,
            [
                ("build-notes.py".into(), Listing::Walk),
                // Hidden from the walk by `build/`, listed by the index.
                (
                    "build/z/migrations/0001_initial.py".into(),
                    Listing::GitIndex
                ),
                ("keep/drop.py".into(), Listing::Walk),
                ("keep/kept.py".into(), Listing::Walk),
                ("shop/migrations/0001_initial.py".into(), Listing::Walk),
                ("shop/migrations/0002_new.py".into(), Listing::Walk),
            ],
            "each file once; git's rules, not `.ignore`; the venv, site-packages and \
             node_modules skipped"
        );
        // The untracked files were looked for in the folders git does not ignore: root,
        // shop, shop/migrations, env (read, then left), lib, keep, web.
        assert_eq!(stats.folders_read, 7, "{stats:?}");
        // A subfolder lists paths relative to itself; MIGRAIL_NO_GIT is read by callers.
        let (found, _) = listed(&root.join("shop"), false);
        assert_eq!(
            found,
            ["migrations/0001_initial.py", "migrations/0002_new.py"]
        );
        // An ignored folder named on purpose is listed from the index (its untracked files
        // are ignored: no folder read), and walked plainly when the index holds nothing.
        let (found, stats) = listed(&root.join("build"), false);
        assert_eq!(found, ["z/migrations/0001_initial.py"]);
        assert_eq!((stats.git_roots, stats.folders_read), (1, 0));
        assert!(git(
            root,
            &["rm", "-q", "--cached", "build/z/migrations/0001_initial.py"]
        ));
        let (found, stats) = listed(&root.join("build"), false);
        assert_eq!(
            found,
            ["z/migrations/0001_initial.py", "z/migrations/0002_new.py"]
        );
        assert_eq!(stats.git_roots, 0);
    }

    #[test]
    fn untracked_files_follow_every_ignore_rule_git_has() {
        let dir = tree(&[
            "app/sub/migrations/0001_initial.py",
            "app/sub/migrations/0002_local.py",
            "app/sub/migrations/0003_excluded.py",
            "app/sub/migrations/0004_global.py",
            "app/sub/scratch/migrations/0001_initial.py",
            "app/sub/vendor/migrations/0001_initial.py",
        ]);
        let root = dir.path();
        if !git(root, &["init", "-q"]) {
            eprintln!("git is not installed: skipped");
            return;
        }
        assert!(git(&root.join("app/sub/vendor"), &["init", "-q"]));
        // A parent's .gitignore (above the folder linted), info/exclude, core.excludesFile.
        std::fs::write(root.join("app/.gitignore"), "*_local.py\nscratch/\n").expect("write");
        std::fs::write(root.join(".git/info/exclude"), "*_excluded.py\n").expect("write");
        std::fs::write(root.join("global-ignore"), "*_global.py\n").expect("write");
        let global = root.join("global-ignore");
        assert!(git(
            root,
            &["config", "core.excludesFile", &global.to_string_lossy()]
        ));
        let sub = root.join("app/sub");
        let (found, stats) = listed(&sub, false);
        assert_eq!(stats.git_roots, 1);
        // Only the untracked file no rule ignores; not the nested repository's.
        assert_eq!(found, ["migrations/0001_initial.py"]);
        // git agrees.
        let out = Command::new("git")
            .arg("-C")
            .arg(&sub)
            .args(["ls-files", "--others", "--exclude-standard"])
            .output()
            .expect("git");
        let git_says = String::from_utf8_lossy(&out.stdout);
        let mut git_py: Vec<&str> = git_says.lines().filter(|l| l.ends_with(".py")).collect();
        git_py.sort();
        assert_eq!(found, git_py);
        // From the top the same rules hold (`info/exclude` and the global file rooted there).
        let (found, _) = listed(root, false);
        assert_eq!(found, ["app/sub/migrations/0001_initial.py"]);
        // Outside git those rules are not known (only the walk's own ignore files).
        let (found, _) = listed(&sub, true);
        assert_eq!(found.len(), 6, "{found:?}");
    }
}
