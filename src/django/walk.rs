//! The Python files of the folders discovery wants (migrations packages) under a folder,
//! found with as few system calls as the question allows.
//!
//! Inside a git work tree the folders come from git's index (read directly, see
//! [`super::git_index`]; `git ls-files` when it is not a plain one): every folder
//! holding tracked files is checked with one `stat`, whose link count (two plus its
//! subfolders, on ext4, XFS and tmpfs) tells whether it holds a folder the index does not
//! know. Only such folders and the wanted ones are read: a folder the index does not know
//! is walked with git's rules (the `.gitignore` files from the work tree's top down,
//! `info/exclude`, `core.excludesFile`; not `.ignore`), without entering a nested
//! repository; a tracked file is listed whatever those rules say, as git lists it. On a
//! monorepo most folders are then never opened (see the walk bench). Where the link count
//! means nothing (other file systems, another device mounted inside) every tracked folder
//! is read. Outside git (or when git is missing or refuses the folder) the walk alone
//! reads each folder once and honours the `.gitignore` and `.ignore` files its listings
//! show (no folder is probed for one). Both never `stat` an entry whose type the listing
//! gives, and skip [`SKIPPED_DIRS`] and virtual environments, recognised by a `pyvenv.cfg`
//! entry in a folder's own listing (or git's index), below the folder named on the command
//! line (naming one includes it).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use super::git_index::Listing;

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

/// What finding the candidates cost: folders read by migrail itself, folders whose link
/// count was checked instead, and entries seen (listing entries, or git's records).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkStats {
    pub folders_read: usize,
    pub folders_checked: usize,
    pub entries_seen: usize,
    /// Roots whose folders came from git's index.
    pub git_roots: usize,
}

impl WalkStats {
    fn add(&mut self, other: &WalkStats) {
        self.folders_read += other.folders_read;
        self.folders_checked += other.folders_checked;
        self.entries_seen += other.entries_seen;
        self.git_roots += other.git_roots;
    }
}

/// Which folders' `.py` files the caller wants, by the folder's path as walked.
pub type Wanted<'a> = dyn Fn(&Path) -> bool + Sync + 'a;
/// Where the files go (called from several threads).
pub type Each<'a> = dyn Fn(PathBuf) + Sync + 'a;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WalkError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Hand every `.py` file of the folders `wanted` accepts under the folder `root` to `each`
/// (from several threads, in no particular order). Every folder is still looked through
/// for the folders below it. `MIGRAIL_NO_GIT=1` forces the walk.
pub fn python_files(
    root: &Path,
    wanted: &Wanted<'_>,
    each: &Each<'_>,
) -> Result<WalkStats, WalkError> {
    let git_allowed = std::env::var_os("MIGRAIL_NO_GIT").is_none_or(|v| v == "0");
    if git_allowed {
        if let Some(stats) = from_git(root, wanted, each, link_counts_subfolders(root))? {
            return Ok(stats);
        }
    }
    Walker::new(root, wanted, each, None).run()
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

/// The files git would list in the wanted folders: tracked ones, and untracked ones its
/// rules do not ignore (see the module's documentation); submodules in turn. `counts`:
/// whether a folder's link count on this file system is two plus its subfolders. `None`
/// when git is missing or the folder is not in a work tree, or when the index holds
/// nothing there and git ignores the folder (a folder git ignores is walked plainly, as
/// it was named on purpose).
fn from_git(
    root: &Path,
    wanted: &Wanted<'_>,
    each: &Each<'_>,
    counts: bool,
) -> Result<Option<WalkStats>, WalkError> {
    // Two questions at once: where the work tree and its index are, the global ignore
    // file. Then the index, read directly (or listed by git when it is not a plain one).
    let timer = crate::timings::Timer::start();
    let repo = git(
        root,
        &[
            "rev-parse",
            "--show-toplevel",
            "--git-path",
            "info/exclude",
            "--git-path",
            "index",
            "--show-prefix",
        ],
    )
    .spawn();
    let excludes_file = git(root, &["config", "--path", "--get", "core.excludesFile"]).spawn();
    let (repo, excludes_file) = (git_output(repo), git_output(excludes_file));
    let Some(repo) = repo.as_deref().and_then(|r| Repo::read(root, r)) else {
        return Ok(None);
    };
    timer.lap("git rev-parse, config");
    let rules = GitRules::read(root, &repo, excludes_file.as_deref());
    let Some(rules) = rules else {
        return Ok(None);
    };
    timer.lap("git's ignore rules");
    let cached = Listing::from_index_file(&repo.index, repo.prefix.as_bytes()).or_else(|| {
        Listing::from_ls_files(git(root, &["ls-files", "-z", "--stage", "--cached"]).spawn())
    });
    // Below an ignored folder every untracked file is ignored: only tracked ones count.
    let root_ignored = rules.ignores_root();
    let cached = match cached {
        Some(listing) if !(listing.records.is_empty() && root_ignored) => listing,
        _ if root_ignored => return Ok(None),
        // git answered where the work tree is but not what its index holds.
        _ => {
            return Walker::new(root, wanted, each, Some(&rules))
                .run()
                .map(Some)
        }
    };
    timer.lap("git's index read");
    let index = Index::parse(&cached);
    timer.lap("git's index, folders");
    let tracked = Tracked {
        root,
        index: &index,
        root_ignored,
        counts,
        walker: Walker::new(root, wanted, each, Some(&rules)),
        rules_at: Mutex::default(),
        checked: AtomicUsize::new(0),
    };
    let mut stats = tracked.run()?;
    stats.entries_seen += cached.records.len();
    stats.git_roots += 1;
    for sub in &index.submodules {
        if index.skipped(sub) {
            continue;
        }
        let sub = root.join(os(sub));
        // An uninitialised submodule is an empty folder (or none).
        if sub.is_dir() {
            stats.add(&python_files(&sub, wanted, each)?);
        }
    }
    Ok(Some(stats))
}

/// Whether a folder's link count is two plus its subfolders on the file system holding
/// `root`: ext4 (and ext2/3), XFS and tmpfs keep it so (btrfs and overlayfs do not;
/// others are not trusted).
#[cfg(target_os = "linux")]
fn link_counts_subfolders(root: &Path) -> bool {
    const EXT: i128 = 0xEF53;
    const XFS: i128 = 0x5846_5342;
    const TMPFS: i128 = 0x0102_1994;
    rustix::fs::statfs(root).is_ok_and(|fs| matches!(i128::from(fs.f_type), EXT | XFS | TMPFS))
}

#[cfg(not(target_os = "linux"))]
fn link_counts_subfolders(_root: &Path) -> bool {
    false
}

/// git's ignore rules that lie outside the walked folders: `core.excludesFile`,
/// `info/exclude` and the `.gitignore` files of the folders from the work tree's top down
/// to the walk's root (excluded: the walk reads its own). Innermost first.
struct GitRules {
    /// The walk's root as an absolute path (the matchers' paths are absolute).
    abs_root: PathBuf,
    above: Vec<Gitignore>,
}

/// Where the work tree holding a root is, and its git files, as `git rev-parse
/// --show-toplevel --git-path info/exclude --git-path index --show-prefix` prints them.
struct Repo {
    top: PathBuf,
    info_exclude: PathBuf,
    index: PathBuf,
    /// The root's path from the top, `/`-terminated (empty at the top).
    prefix: String,
}

impl Repo {
    fn read(root: &Path, rev_parse: &[u8]) -> Option<Repo> {
        let text = std::str::from_utf8(rev_parse).ok()?;
        let mut lines = text.lines();
        Some(Repo {
            top: PathBuf::from(lines.next()?),
            info_exclude: root.join(lines.next()?),
            index: root.join(lines.next()?),
            prefix: lines.next().unwrap_or_default().to_string(),
        })
    }
}

impl GitRules {
    /// From where the work tree is and the configured `core.excludesFile` (if any; git's
    /// default otherwise). `None` when the answers do not describe a work tree holding
    /// `root`.
    fn read(root: &Path, repo: &Repo, excludes_file: Option<&[u8]>) -> Option<GitRules> {
        let top = repo.top.clone();
        let info_exclude = &repo.info_exclude;
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
        above.extend(layer(&top, &[info_exclude]));
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

/// The folder holding `path` (as git lists paths; `""`: the root).
fn parent(path: &[u8]) -> &[u8] {
    match memchr::memrchr(b'/', path) {
        Some(slash) => &path[..slash],
        None => b"",
    }
}

/// The index's entries under the root, paths relative to it.
struct Index<'a> {
    /// Every path (files, symbolic links, submodules) in git's order, each once.
    paths: Vec<&'a [u8]>,
    /// The submodules, in git's order.
    submodules: Vec<&'a [u8]>,
    /// Folders holding a `pyvenv.cfg`.
    venvs: HashSet<&'a [u8]>,
    /// Every folder holding a tracked path (`""`: the root) -> how many of its entries
    /// are folders the index knows (tracked folders and submodules).
    folders: HashMap<&'a [u8], u32>,
    /// Those folders that are not [`Index::skipped`], parents first.
    entered: Vec<&'a [u8]>,
}

impl<'a> Index<'a> {
    fn parse(listing: &'a Listing) -> Index<'a> {
        let mut index = Index {
            paths: Vec::with_capacity(listing.records.len()),
            submodules: Vec::new(),
            venvs: HashSet::default(),
            folders: HashMap::default(),
            entered: Vec::new(),
        };
        for &(start, end, submodule) in &listing.records {
            let Some(path) = listing.paths.get(start..end) else {
                continue;
            };
            if submodule {
                index.submodules.push(path);
            }
            index.paths.push(path);
        }
        // In git's order (bytes) already; a merge in progress lists a path once per stage.
        for paths in [&mut index.paths, &mut index.submodules] {
            if !paths.is_sorted() {
                paths.sort_unstable();
            }
            paths.dedup();
        }
        index.venvs = index
            .paths
            .iter()
            .filter_map(|p| p.strip_suffix(b"/pyvenv.cfg"))
            .collect();
        // The folders, parents first (whether one is skipped follows from its parent's
        // answer). Paths come sorted, so the paths below a folder are one run of the list:
        // the folders of the path being looked at are a stack, each folder is met once
        // and its count is final when it is left. A tree holds about one folder for every
        // two files: the map is sized once, not grown.
        index.folders =
            HashMap::with_capacity_and_hasher(index.paths.len() / 2, Default::default());
        index.entered = Vec::with_capacity(index.paths.len() / 2);
        index.entered.push(b"");
        // The folders from the root down to the current one, with how many folders the
        // index holds in each so far; from `skipped_from` on, they are skipped.
        let mut stack: Vec<(&[u8], u32)> = vec![(b"", 0)];
        let mut skipped_from: Option<usize> = None;
        let mut last: &[u8] = b"";
        for &path in &index.paths {
            let folder = parent(path);
            if folder == last {
                continue;
            }
            last = folder;
            // Leave the folders this one is not in.
            while let Some(&(top, count)) = stack.last() {
                let holds = top.is_empty()
                    || folder == top
                    || (folder.starts_with(top) && folder.get(top.len()) == Some(&b'/'));
                if holds {
                    break;
                }
                stack.pop();
                index.folders.insert(top, count);
                if skipped_from == Some(stack.len()) {
                    skipped_from = None;
                }
            }
            // Enter the ones below it, down to this one.
            let Some(&(top, _)) = stack.last() else {
                break;
            };
            if folder == top {
                continue;
            }
            let mut from = if top.is_empty() { 0 } else { top.len() + 1 };
            loop {
                let end = memchr::memchr(b'/', &folder[from..]).map_or(folder.len(), |i| from + i);
                let sub = &folder[..end];
                if let Some(up) = stack.last_mut() {
                    up.1 += 1;
                }
                let name = &folder[from..end];
                if skipped_from.is_none()
                    && (SKIPPED_DIRS.iter().any(|s| s.as_bytes() == name)
                        || index.venvs.contains(sub))
                {
                    skipped_from = Some(stack.len());
                }
                if skipped_from.is_none() {
                    index.entered.push(sub);
                }
                stack.push((sub, 0));
                if end == folder.len() {
                    break;
                }
                from = end + 1;
            }
        }
        for (folder, count) in stack {
            index.folders.insert(folder, count);
        }
        for &submodule in &index.submodules {
            if let Some(count) = index.folders.get_mut(parent(submodule)) {
                *count += 1;
            }
        }
        index
    }

    fn tracks(&self, path: &[u8]) -> bool {
        self.paths.binary_search(&path).is_ok()
    }

    /// Whether the folder `folder` is, or lies in, one never entered: one of
    /// [`SKIPPED_DIRS`] or a virtual environment.
    fn skipped(&self, folder: &[u8]) -> bool {
        if folder.is_empty() {
            return false;
        }
        let mut end = 0;
        for dir in folder.split(|&b| b == b'/') {
            end += dir.len();
            if SKIPPED_DIRS.iter().any(|s| s.as_bytes() == dir)
                || self.venvs.contains(&folder[..end])
            {
                return true;
            }
            end += 1;
        }
        false
    }
}

/// The pass over the folders git's index knows: each checked by its link count, read when
/// it holds a folder the index does not know (walked in turn) or files the caller wants.
struct Tracked<'a> {
    root: &'a Path,
    index: &'a Index<'a>,
    root_ignored: bool,
    counts: bool,
    /// Reads folders, walks the untracked ones, hands files out; git's rules.
    walker: Walker<'a>,
    /// What git's rules say of a tracked folder (as git lists it), worked out when an
    /// untracked entry of it is judged.
    rules_at: Mutex<HashMap<Vec<u8>, RulesAt>>,
    checked: AtomicUsize,
}

impl Tracked<'_> {
    fn run(&self) -> Result<WalkStats, WalkError> {
        use rayon::prelude::*;
        let device = device(self.root);
        rayon::scope(|scope| {
            self.index
                .entered
                .par_iter()
                .for_each(|folder| self.folder(scope, folder, device));
        });
        let mut stats = self.walker.stats()?;
        stats.folders_checked = self.checked.load(Ordering::Relaxed);
        Ok(stats)
    }

    fn path(&self, folder: &[u8]) -> PathBuf {
        if folder.is_empty() {
            self.root.to_path_buf()
        } else {
            self.root.join(os(folder))
        }
    }

    fn folder<'s>(&'s self, scope: &rayon::Scope<'s>, folder: &[u8], device: Option<u64>) {
        let dir = self.path(folder);
        let meta = match std::fs::symlink_metadata(&dir) {
            Ok(meta) => meta,
            // Deleted since it was added: nothing below it to find.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return self.walker.fail(&dir, e),
        };
        // Turned into a file or a link since: git does not look inside either.
        if !meta.is_dir() {
            return;
        }
        // A wanted folder is read anyway: its link count is not looked at.
        let wanted = (self.walker.wanted)(&dir);
        if !wanted {
            self.checked.fetch_add(1, Ordering::Relaxed);
            let known = self.index.folders.get(folder).copied().unwrap_or(0);
            if self.counts && holds_only(&meta, known, device) {
                return;
            }
        }
        let Some(entries) = self.walker.list(&dir) else {
            return;
        };
        // A virtual environment in a tracked folder: its tracked subfolders are
        // checked on their own, its untracked ones left.
        if !folder.is_empty() && is_venv(&entries) {
            return;
        }
        let mut key = Vec::with_capacity(folder.len() + 64);
        for (name, kind) in entries {
            key.clear();
            if !folder.is_empty() {
                key.extend_from_slice(folder);
                key.push(b'/');
            }
            key.extend_from_slice(&git_path(Path::new(&name)));
            if kind.is_dir() {
                let known = self.index.folders.contains_key(key.as_slice())
                    || self.index.submodules.binary_search(&key.as_slice()).is_ok();
                if known
                    || name == ".git"
                    || name.to_str().is_some_and(|n| SKIPPED_DIRS.contains(&n))
                {
                    continue;
                }
                let path = dir.join(&name);
                if self.ignores(folder, &path, true) {
                    continue;
                }
                let chain = self.rules_at(folder).chain;
                scope.spawn(move |scope| self.walker.folder(scope, path, chain, false));
            } else if wanted && kind.is_file() && name.as_encoded_bytes().ends_with(b".py") {
                let path = dir.join(&name);
                // git lists a tracked file whatever its ignore files say.
                if self.index.tracks(&key) || !self.ignores(folder, &path, false) {
                    (self.walker.each)(path);
                }
            }
        }
    }

    /// Whether git ignores `path`, an untracked entry of the tracked folder `folder`.
    fn ignores(&self, folder: &[u8], path: &Path, is_dir: bool) -> bool {
        let at = self.rules_at(folder);
        at.ignored || self.walker.ignored(&at.chain, path, is_dir)
    }

    fn rules_at(&self, folder: &[u8]) -> RulesAt {
        let known = self
            .rules_at
            .lock()
            .ok()
            .and_then(|m| m.get(folder).cloned());
        if let Some(at) = known {
            return at;
        }
        let dir = self.path(folder);
        let (chain, ignored) = if folder.is_empty() {
            (None, self.root_ignored)
        } else {
            let up = self.rules_at(parent(folder));
            let ignored = up.ignored || self.walker.ignored(&up.chain, &dir, true);
            (up.chain, ignored)
        };
        let at = RulesAt {
            chain: Ignores::add(&dir, &[dir.join(".gitignore")], chain),
            ignored,
        };
        if let Ok(mut m) = self.rules_at.lock() {
            m.insert(folder.to_vec(), at.clone());
        }
        at
    }
}

/// git's rules at a tracked folder: the ignore files from the root down to it, and
/// whether they ignore the folder itself (and so every untracked entry below).
#[derive(Clone)]
struct RulesAt {
    chain: Option<Arc<Ignores>>,
    ignored: bool,
}

/// The device holding `root` (a folder on another is a mount: its link count is not
/// trusted).
#[cfg(unix)]
fn device(root: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(root).ok().map(|m| m.dev())
}

#[cfg(not(unix))]
fn device(_root: &Path) -> Option<u64> {
    None
}

/// A folder's link count says it holds no folder besides the `known` ones.
#[cfg(unix)]
fn holds_only(meta: &std::fs::Metadata, known: u32, device: Option<u64>) -> bool {
    use std::os::unix::fs::MetadataExt;
    device == Some(meta.dev()) && meta.nlink() == 2 + u64::from(known)
}

#[cfg(not(unix))]
fn holds_only(_meta: &std::fs::Metadata, _known: u32, _device: Option<u64>) -> bool {
    false
}

/// The ignore files of the folders from the root down: the nearest match decides.
struct Ignores {
    matcher: Gitignore,
    parent: Option<Arc<Ignores>>,
}

impl Ignores {
    /// The chain `parent` with the rules of `files` (ignore files of the folder `dir`, the
    /// later file's rules taking precedence) in front; unchanged when they hold none.
    fn add(dir: &Path, files: &[PathBuf], parent: Option<Arc<Ignores>>) -> Option<Arc<Ignores>> {
        if files.is_empty() {
            return parent;
        }
        let mut builder = GitignoreBuilder::new(dir);
        for file in files {
            // A missing, unreadable or malformed ignore file ignores nothing, as git does.
            let _ = builder.add(file);
        }
        match builder.build() {
            Ok(matcher) if matcher.num_ignores() + matcher.num_whitelists() > 0 => {
                Some(Arc::new(Ignores { matcher, parent }))
            }
            _ => parent,
        }
    }
}

/// A folder's entries, as [`Walker::list`] gives them.
type Entries = Vec<(std::ffi::OsString, std::fs::FileType)>;

/// A virtual environment is recognised by the `pyvenv.cfg` of its own listing.
fn is_venv(entries: &Entries) -> bool {
    entries
        .iter()
        .any(|(n, k)| k.is_file() && n == "pyvenv.cfg")
}

/// The folders' reader and walker, shared by both listings.
struct Walker<'a> {
    root: &'a Path,
    wanted: &'a Wanted<'a>,
    each: &'a Each<'a>,
    /// In a git work tree: git's rules above the root (and `.ignore` files are not git's).
    git: Option<&'a GitRules>,
    folders: AtomicUsize,
    entries: AtomicUsize,
    error: Mutex<Option<WalkError>>,
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
        wanted: &'a Wanted<'a>,
        each: &'a Each<'a>,
        git: Option<&'a GitRules>,
    ) -> Walker<'a> {
        Walker {
            root,
            wanted,
            each,
            git,
            folders: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            error: Mutex::new(None),
        }
    }

    fn run(&self) -> Result<WalkStats, WalkError> {
        rayon::scope(|scope| self.folder(scope, self.root.to_path_buf(), None, true));
        self.stats()
    }

    /// The figures so far, or the first error met.
    fn stats(&self) -> Result<WalkStats, WalkError> {
        if let Some(error) = self.error.lock().ok().and_then(|mut e| e.take()) {
            return Err(error);
        }
        Ok(WalkStats {
            folders_read: self.folders.load(Ordering::Relaxed),
            entries_seen: self.entries.load(Ordering::Relaxed),
            ..WalkStats::default()
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

    /// A folder's entries with the types its listing gives (a `stat` only where the file
    /// system gives none); `None` after an error, noted.
    fn list(&self, dir: &Path) -> Option<Entries> {
        let read = match std::fs::read_dir(dir) {
            Ok(read) => read,
            Err(e) => {
                self.fail(dir, e);
                return None;
            }
        };
        self.folders.fetch_add(1, Ordering::Relaxed);
        let mut entries = Vec::new();
        for entry in read {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.fail(dir, e);
                    return None;
                }
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            entries.push((entry.file_name(), kind));
        }
        self.entries.fetch_add(entries.len(), Ordering::Relaxed);
        Some(entries)
    }

    /// Whether the ignore files (the walk's, then git's above the root) ignore `path`.
    fn ignored(&self, chain: &Option<Arc<Ignores>>, path: &Path, is_dir: bool) -> bool {
        let mut said = None;
        let mut at = chain.as_ref();
        while let (Some(ignores), None) = (at, said) {
            said = verdict(ignores.matcher.matched(path, is_dir));
            at = ignores.parent.as_ref();
        }
        if let (None, Some(rules)) = (said, self.git) {
            if let Ok(rel) = path.strip_prefix(self.root) {
                said = rules.matched(rel, is_dir);
            }
        }
        said.unwrap_or(false)
    }

    fn folder<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        dir: PathBuf,
        chain: Option<Arc<Ignores>>,
        is_root: bool,
    ) {
        let Some(entries) = self.list(&dir) else {
            return;
        };
        let (mut repo, mut ignore_files) = (false, Vec::new());
        for (name, kind) in &entries {
            if name == ".git" {
                repo = true;
            } else if kind.is_file()
                && (name == ".gitignore" || (name == ".ignore" && self.git.is_none()))
            {
                ignore_files.push(dir.join(name));
            }
        }
        // A nested repository is one entry to git (a submodule is listed in turn).
        if !is_root && (is_venv(&entries) || (repo && self.git.is_some())) {
            return;
        }
        // `.gitignore` before `.ignore`: the later file's rules take precedence.
        ignore_files.sort_by_key(|p| p.file_name().is_none_or(|n| n != ".gitignore"));
        let chain = Ignores::add(&dir, &ignore_files, chain);
        let wanted = (self.wanted)(&dir);
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
            } else if wanted && kind.is_file() && name.as_encoded_bytes().ends_with(b".py") {
                let path = dir.join(&name);
                if !self.ignored(&chain, &path, false) {
                    (self.each)(path);
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

    /// How the files are listed: the plain walk, git's listing, or git's listing reading
    /// every tracked folder (a file system whose link counts mean nothing).
    #[derive(Clone, Copy, PartialEq)]
    enum How {
        Walk,
        Git,
        GitReadingAll,
    }

    fn every_folder(_: &Path) -> bool {
        true
    }

    fn migrations_only(folder: &Path) -> bool {
        folder.file_name().is_some_and(|n| n == "migrations")
    }

    fn listed(root: &Path, no_git: bool) -> (Vec<String>, WalkStats) {
        let how = if no_git { How::Walk } else { How::Git };
        listed_with(root, how, &every_folder)
    }

    fn listed_with(root: &Path, how: How, wanted: &Wanted<'_>) -> (Vec<String>, WalkStats) {
        let found = Mutex::new(Vec::new());
        let collect = |path: PathBuf| {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            found.lock().expect("lock").push(rel);
        };
        let stats = match how {
            How::Walk => Walker::new(root, wanted, &collect, None).run(),
            How::Git => python_files(root, wanted, &collect),
            How::GitReadingAll => {
                from_git(root, wanted, &collect, false).map(|stats| stats.expect("in a work tree"))
            }
        }
        .expect("list");
        let mut found = found.into_inner().expect("lock");
        found.sort();
        let before = found.len();
        found.dedup();
        assert_eq!(found.len(), before, "each file once");
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

    /// Every folder with its count of known subfolders (sorted), and the entered ones.
    type Folders = (Vec<(Vec<u8>, u32)>, Vec<Vec<u8>>);

    /// What [`Index::parse`] works out of the folders, the plain way: every folder of
    /// every path looked up in a map (parents first), skipped as its parent is or by name.
    fn folders_by_map(paths: &[&[u8]]) -> Folders {
        let venvs: HashSet<&[u8]> = paths
            .iter()
            .filter_map(|p| p.strip_suffix(b"/pyvenv.cfg"))
            .collect();
        let mut folders: HashMap<Vec<u8>, u32> = HashMap::default();
        let mut skipped: HashSet<Vec<u8>> = HashSet::default();
        let mut entered: Vec<Vec<u8>> = vec![Vec::new()];
        folders.insert(Vec::new(), 0);
        for path in paths {
            let mut chain = Vec::new();
            let mut folder = parent(path);
            while !folder.is_empty() {
                chain.push(folder);
                folder = parent(folder);
            }
            for &folder in chain.iter().rev() {
                if folders.contains_key(folder) {
                    continue;
                }
                let up = parent(folder);
                *folders.entry(up.to_vec()).or_default() += 1;
                folders.insert(folder.to_vec(), 0);
                let name = folder.rsplit(|&b| b == b'/').next().unwrap_or_default();
                if skipped.contains(up)
                    || SKIPPED_DIRS.iter().any(|s| s.as_bytes() == name)
                    || venvs.contains(folder)
                {
                    skipped.insert(folder.to_vec());
                } else {
                    entered.push(folder.to_vec());
                }
            }
        }
        let mut folders: Vec<(Vec<u8>, u32)> = folders.into_iter().collect();
        folders.sort();
        (folders, entered)
    }

    #[test]
    fn index_folders_are_those_a_lookup_of_every_path_finds() {
        // Generated trees: names that sort around `/` (`a-b`, `a.b`, `a/b`), skipped
        // folders (a virtual environment, node_modules) at any depth, files at every level.
        let names: [&[u8]; 8] = [
            b"a",
            b"a-b",
            b"a.b",
            b"ab",
            b"node_modules",
            b"env",
            b"migrations",
            b"z",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..200 {
            let mut paths: Vec<Vec<u8>> = Vec::new();
            for _ in 0..next(40) + 1 {
                let mut path = Vec::new();
                for depth in 0..next(5) {
                    if depth > 0 {
                        path.push(b'/');
                    }
                    path.extend_from_slice(names[next(8) as usize]);
                }
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(match next(4) {
                    0 => b"pyvenv.cfg".as_slice(),
                    1 => b"0001_initial.py",
                    _ => b"x.py",
                });
                paths.push(path);
            }
            // A file and a folder of one name cannot both be in an index.
            paths.sort();
            paths.dedup();
            let is_folder: HashSet<Vec<u8>> = paths
                .iter()
                .flat_map(|p| {
                    let mut up = Vec::new();
                    let mut folder = parent(p);
                    while !folder.is_empty() {
                        up.push(folder.to_vec());
                        folder = parent(folder);
                    }
                    up
                })
                .collect();
            paths.retain(|p| !is_folder.contains(p));
            let mut listing = Listing {
                paths: Vec::new(),
                records: Vec::new(),
            };
            for p in &paths {
                let start = listing.paths.len();
                listing.paths.extend_from_slice(p);
                listing.records.push((start, listing.paths.len(), false));
            }
            let index = Index::parse(&listing);
            let mut folders: Vec<(Vec<u8>, u32)> = index
                .folders
                .iter()
                .map(|(f, c)| (f.to_vec(), *c))
                .collect();
            folders.sort();
            let entered: Vec<Vec<u8>> = index.entered.iter().map(|f| f.to_vec()).collect();
            let paths: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
            assert_eq!((folders, entered), folders_by_map(&paths), "{paths:?}");
        }
    }

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
        // Only the wanted folders' files are handed out; every folder is still read.
        let (found, stats) = listed_with(root, How::Walk, &migrations_only);
        assert_eq!(found, ["shop/migrations/0001_initial.py"]);
        assert_eq!(stats.folders_read, 7, "{stats:?}");
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

    /// The `.py` files git itself lists in `dir` (`ls-files` with `args`), sorted.
    fn git_py(dir: &Path, args: &[&str]) -> Vec<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .arg("ls-files")
            .args(args)
            .output()
            .expect("git");
        let mut py: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with(".py"))
            .map(str::to_string)
            .collect();
        py.sort();
        py
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
        // Untracked but not ignored: listed, also in a new app inside a tracked folder;
        // ignored: not; deleted: not listed.
        std::fs::write(root.join("shop/migrations/0002_new.py"), "").expect("write");
        std::fs::create_dir_all(root.join("shop/newapp/migrations")).expect("mkdir");
        std::fs::write(root.join("shop/newapp/migrations/0001_initial.py"), "").expect("write");
        std::fs::write(root.join("build/z/migrations/0002_new.py"), "").expect("write");
        std::fs::remove_file(root.join("shop/models.py")).expect("rm");
        let all = [
            "build-notes.py",
            "build/z/migrations/0001_initial.py",
            "keep/drop.py",
            "keep/kept.py",
            "shop/migrations/0001_initial.py",
            "shop/migrations/0002_new.py",
            "shop/newapp/migrations/0001_initial.py",
        ];
        let (found, stats) = listed(root, false);
        assert_eq!(
            found, all,
            "git's rules, not `.ignore`; the venv, site-packages and node_modules skipped"
        );
        assert_eq!(stats.git_roots, 1);
        // Every folder's files wanted: the tracked folders are all read, none checked
        // (root, shop, shop/migrations, keep, build, build/z, build/z/migrations; env is a
        // virtual environment), and the untracked ones walked (lib, web, shop/newapp and
        // its migrations).
        assert_eq!(
            (stats.folders_checked, stats.folders_read),
            (0, 11),
            "{stats:?}"
        );
        // Only the migrations folders' files wanted: those two are read, the five others
        // checked, and read only when the link count shows a folder the index does not
        // know (root: .git, lib, web; shop: newapp).
        let migrations: Vec<&str> = all
            .iter()
            .copied()
            .filter(|f| f.contains("/migrations/"))
            .collect();
        let (found, stats) = listed_with(root, How::Git, &migrations_only);
        assert_eq!(found, migrations);
        if link_counts_subfolders(root) {
            assert_eq!(
                (stats.folders_checked, stats.folders_read),
                (5, 8),
                "{stats:?}"
            );
        }
        // Where link counts mean nothing every tracked folder is read: the same files.
        let (found, stats) = listed_with(root, How::GitReadingAll, &migrations_only);
        assert_eq!(found, migrations);
        assert_eq!(
            (stats.folders_checked, stats.folders_read),
            (5, 11),
            "{stats:?}"
        );
        // git agrees (its own listing: tracked, and untracked not ignored).
        let git_says: Vec<String> = git_py(root, &["--cached", "--others", "--exclude-standard"])
            .into_iter()
            .filter(|l| l.contains("/migrations/") && root.join(l).is_file())
            // migrail's own skips: a virtual environment, site-packages.
            .filter(|l| !l.starts_with("env/") && !l.contains("site-packages/"))
            .collect();
        assert_eq!(migrations, git_says);
        // A subfolder lists paths relative to itself; MIGRAIL_NO_GIT is read by callers.
        let (found, _) = listed(&root.join("shop"), false);
        assert_eq!(
            found,
            [
                "migrations/0001_initial.py",
                "migrations/0002_new.py",
                "newapp/migrations/0001_initial.py"
            ]
        );
        // An ignored folder named on purpose lists its tracked files (its untracked files
        // are ignored), and is walked plainly when the index holds nothing there.
        let (found, stats) = listed(&root.join("build"), false);
        assert_eq!(found, ["z/migrations/0001_initial.py"]);
        assert_eq!(stats.git_roots, 1);
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
        // A tracked folder deleted from the work tree is no error.
        std::fs::remove_dir_all(root.join("keep")).expect("rm");
        let (found, _) = listed(root, false);
        assert!(!found.iter().any(|f| f.starts_with("keep/")), "{found:?}");
        // A tracked folder turned into a link to a folder is not followed (git and the
        // walk do not either), even a wanted one.
        #[cfg(unix)]
        {
            std::fs::rename(root.join("shop/migrations"), root.join("shop/moved")).expect("mv");
            std::os::unix::fs::symlink("moved", root.join("shop/migrations")).expect("ln");
            let (found, _) = listed_with(root, How::Git, &migrations_only);
            assert!(
                !found.iter().any(|f| f.starts_with("shop/migrations/")),
                "{found:?}"
            );
            let (walked, _) = listed_with(root, How::Walk, &migrations_only);
            assert_eq!(walked, found, "the same as the plain walk");
        }
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
        assert_eq!(found, git_py(&sub, &["--others", "--exclude-standard"]));
        // From the top the same rules hold (`info/exclude` and the global file rooted there).
        let (found, _) = listed(root, false);
        assert_eq!(found, ["app/sub/migrations/0001_initial.py"]);
        // Outside git those rules are not known (only the walk's own ignore files).
        let (found, _) = listed(&sub, true);
        assert_eq!(found.len(), 6, "{found:?}");
        // With the folders tracked, their untracked entries are judged by the same rules
        // (the ignore files of the folders above, read as needed), and git agrees again.
        assert!(git(
            root,
            &[
                "add",
                "app/.gitignore",
                "app/sub/migrations/0001_initial.py"
            ]
        ));
        std::fs::write(root.join("app/sub/migrations/0005_new.py"), "").expect("write");
        for how in [How::Git, How::GitReadingAll] {
            let (found, _) = listed_with(&sub, how, &migrations_only);
            assert_eq!(
                found,
                ["migrations/0001_initial.py", "migrations/0005_new.py"]
            );
        }
        assert_eq!(
            git_py(&sub, &["--cached", "--others", "--exclude-standard"]),
            ["migrations/0001_initial.py", "migrations/0005_new.py"]
        );
    }
}
