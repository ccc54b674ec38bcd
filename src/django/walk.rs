//! The Python files under a folder that discovery looks at, found with as few system calls
//! as the question allows.
//!
//! Inside a git work tree the candidates come from git's index (`git ls-files`: tracked
//! files, handed out at once, and untracked ones unless ignored, which git finds in a
//! second process meanwhile), with no walk of our own. Elsewhere (or when git is missing or refuses the folder) a parallel walk reads each
//! folder once, honours the `.gitignore` and `.ignore` files its listings show (no folder
//! is probed for one), and never `stat`s an entry whose type the listing gives. Both skip
//! [`SKIPPED_DIRS`] and virtual environments, recognised by a `pyvenv.cfg` entry in a
//! folder's own listing, below the folder named on the command line (naming one includes
//! it).

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
    /// git's index: a tracked file deleted in the work tree is still listed.
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
        .args(["ls-files", "-z"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// The candidates from git: the index's entries (`--stage`, with their modes) are handed
/// out while git still looks for untracked files (`--others --exclude-standard`, a walk of
/// its own, in a second process). `None` when git is missing, the folder is not in a
/// work tree, or git lists nothing there (a folder git ignores is walked instead, as it
/// was named on purpose).
fn from_git(
    root: &Path,
    each: &(dyn Fn(PathBuf, Listing) + Sync),
) -> Result<Option<WalkStats>, WalkError> {
    let Ok(others) = git(root, &["--others", "--exclude-standard"]).spawn() else {
        return Ok(None);
    };
    let others = std::thread::spawn(move || others.wait_with_output());
    let cached = git(root, &["--stage", "--cached"])
        .output()
        .ok()
        .filter(|out| out.status.success());
    let Some(cached) = cached else {
        let _ = others.join();
        return Ok(None);
    };
    let mut stats = WalkStats {
        git_roots: 1,
        ..WalkStats::default()
    };
    let mut venvs = HashSet::new();
    let early = !cached.stdout.is_empty();
    if early {
        hand_out(root, &cached.stdout, &mut venvs, &mut stats, each)?;
    }
    let others = others
        .join()
        .ok()
        .and_then(Result::ok)
        .filter(|out| out.status.success())
        .map(|out| out.stdout)
        .unwrap_or_default();
    if !early && others.is_empty() {
        return Ok(None);
    }
    hand_out(root, &others, &mut venvs, &mut stats, each)?;
    Ok(Some(stats))
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

/// Hand out the `.py` files of one `git ls-files` listing (paths relative to `root`),
/// skipping [`SKIPPED_DIRS`] and virtual environments: the folders whose `pyvenv.cfg`
/// this listing or an earlier one (`venvs`) holds. A submodule is listed in turn.
fn hand_out(
    root: &Path,
    listing: &[u8],
    venvs: &mut HashSet<Vec<u8>>,
    stats: &mut WalkStats,
    each: &(dyn Fn(PathBuf, Listing) + Sync),
) -> Result<(), WalkError> {
    let mut files: Vec<&[u8]> = Vec::new();
    let mut submodules: Vec<&[u8]> = Vec::new();
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        stats.entries_seen += 1;
        // Tracked: `<mode> <object> <stage>\t<path>`; untracked: the path alone.
        match memchr::memchr(b'\t', record) {
            Some(tab) => {
                let (meta, path) = (&record[..tab], &record[tab + 1..]);
                if meta.starts_with(b"160000 ") {
                    submodules.push(path);
                } else if !meta.starts_with(b"120000 ") {
                    files.push(path);
                }
            }
            None => files.push(record),
        }
    }
    // A merge in progress lists a path once per stage.
    files.dedup();
    venvs.extend(
        files
            .iter()
            .filter_map(|p| p.strip_suffix(b"/pyvenv.cfg"))
            .map(<[u8]>::to_vec),
    );
    let venvs = &*venvs;
    let skipped = |path: &[u8]| {
        let mut dirs = path.split(|&b| b == b'/');
        dirs.next_back();
        let mut end = 0;
        for dir in dirs {
            if SKIPPED_DIRS.iter().any(|s| s.as_bytes() == dir) {
                return true;
            }
            end += dir.len();
            if venvs.contains(&path[..end]) {
                return true;
            }
            end += 1;
        }
        false
    };
    use rayon::prelude::*;
    files
        .par_iter()
        .filter(|p| p.ends_with(b".py") && !skipped(p))
        .for_each(|p| each(root.join(os(p)), Listing::GitIndex));
    for sub in submodules {
        if skipped(sub) {
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
    Ok(())
}

/// The ignore files of the folders from the root down: the nearest match decides.
struct Ignores {
    matcher: Gitignore,
    parent: Option<Arc<Ignores>>,
}

fn ignored(chain: &Option<Arc<Ignores>>, path: &Path, is_dir: bool) -> bool {
    let mut at = chain.as_ref();
    while let Some(ignores) = at {
        match ignores.matcher.matched(path, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => at = ignores.parent.as_ref(),
        }
    }
    false
}

struct Walker<'a> {
    each: &'a (dyn Fn(PathBuf, Listing) + Sync),
    folders: AtomicUsize,
    entries: AtomicUsize,
    error: Mutex<Option<WalkError>>,
}

fn walk(root: &Path, each: &(dyn Fn(PathBuf, Listing) + Sync)) -> Result<WalkStats, WalkError> {
    let walker = Walker {
        each,
        folders: AtomicUsize::new(0),
        entries: AtomicUsize::new(0),
        error: Mutex::new(None),
    };
    rayon::scope(|scope| walker.folder(scope, root.to_path_buf(), None, true));
    if let Some(error) = walker.error.into_inner().ok().flatten() {
        return Err(error);
    }
    Ok(WalkStats {
        folders_read: walker.folders.into_inner(),
        entries_seen: walker.entries.into_inner(),
        git_roots: 0,
    })
}

impl<'a> Walker<'a> {
    fn fail(&self, path: &Path, source: std::io::Error) {
        if let Ok(mut error) = self.error.lock() {
            error.get_or_insert(WalkError {
                path: path.to_path_buf(),
                source,
            });
        }
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
        let (mut venv, mut ignore_files) = (false, Vec::new());
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
            if kind.is_file() {
                if name == "pyvenv.cfg" {
                    venv = true;
                } else if name == ".gitignore" || name == ".ignore" {
                    ignore_files.push(dir.join(&name));
                }
            }
            entries.push((name, kind));
        }
        self.entries.fetch_add(entries.len(), Ordering::Relaxed);
        if venv && !is_root {
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
                if ignored(&chain, &path, true) {
                    continue;
                }
                let chain = chain.clone();
                scope.spawn(move |scope| self.folder(scope, path, chain, false));
            } else if kind.is_file() && name.as_encoded_bytes().ends_with(b".py") {
                let path = dir.join(&name);
                if !ignored(&chain, &path, false) {
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
        assert!(git(root, &["commit", "-qm", "init"]));
        // Untracked but not ignored: listed; ignored: not; deleted: listed as the index's.
        std::fs::write(root.join("shop/migrations/0002_new.py"), "").expect("write");
        std::fs::remove_file(root.join("shop/models.py")).expect("rm");
        let listing = Mutex::new(Vec::new());
        let stats =
            python_files(root, &|p, l| listing.lock().expect("lock").push((p, l))).expect("list");
        assert_eq!(stats.git_roots, 1);
        assert_eq!(stats.folders_read, 0, "no walk of our own");
        let mut found: Vec<String> = listing
            .into_inner()
            .expect("lock")
            .into_iter()
            .map(|(p, l)| {
                assert_eq!(l, Listing::GitIndex);
                p.strip_prefix(root)
                    .expect("under")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "keep/drop.py",
                "keep/kept.py",
                "shop/migrations/0001_initial.py",
                "shop/migrations/0002_new.py",
                "shop/models.py",
            ],
            "git's rules, not `.ignore`; the venv, site-packages and node_modules skipped"
        );
        // A subfolder lists paths relative to itself; MIGRAIL_NO_GIT is read by callers.
        let (found, _) = listed(&root.join("shop"), false);
        assert_eq!(
            found,
            [
                "migrations/0001_initial.py",
                "migrations/0002_new.py",
                "models.py"
            ]
        );
        // An ignored folder named on purpose is walked.
        let (found, stats) = listed(&root.join("build"), false);
        assert_eq!(found, ["z/migrations/0001_initial.py"]);
        assert_eq!(stats.git_roots, 0);
    }
}
