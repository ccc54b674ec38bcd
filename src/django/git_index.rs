//! What git's index holds under a folder: each entry's path and whether it is a
//! submodule, as `git ls-files -z --stage` lists them.
//!
//! The index file is read directly (versions 2, 3 and 4, SHA-1 or SHA-256 object names):
//! a monorepo's index is megabytes, and `git ls-files` spends longer printing it than
//! reading it. An index this reader does not fully understand (a split or sparse index,
//! an extension git requires and this reader does not know, anything inconsistent) is
//! not guessed at: the listing then comes from `git ls-files` itself.

use std::path::Path;
use std::process::Child;

/// The paths of git's index below a folder, relative to it, in the index's order (a
/// conflicted path once per stage, as `ls-files --stage` prints it).
pub struct Listing {
    /// The bytes the paths are in: the index file itself, or paths gathered one by one.
    pub paths: Vec<u8>,
    /// Each record's path (a range of `paths`), and whether it is a submodule.
    pub records: Vec<(usize, usize, bool)>,
}

/// A gitlink's mode: a submodule's commit.
const GITLINK: u32 = 0o160000;

impl Listing {
    fn new() -> Listing {
        Listing {
            paths: Vec::new(),
            records: Vec::new(),
        }
    }

    fn push(&mut self, path: &[u8], submodule: bool) {
        let start = self.paths.len();
        self.paths.extend_from_slice(path);
        self.records.push((start, self.paths.len(), submodule));
    }

    /// The index file `index` (as `git rev-parse --git-path index` names it), its entries
    /// below `prefix` (the folder's path from the work tree's top, `/`-terminated, as
    /// `git rev-parse --show-prefix` prints it). A missing file is an empty index (a
    /// repository where nothing was ever added). `None` when the file is not an index
    /// this reader understands fully.
    pub fn from_index_file(index: &Path, prefix: &[u8]) -> Option<Listing> {
        match read_index(index) {
            Ok(bytes) => parse_index(bytes, prefix),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Listing::new()),
            Err(_) => None,
        }
    }

    /// What `git ls-files -z --stage` printed, read as it comes (the object names are
    /// most of its bytes and are not kept); `None` if the command failed.
    pub fn from_ls_files(child: std::io::Result<Child>) -> Option<Listing> {
        use std::io::BufRead;
        let mut child = child.ok()?;
        let mut reader = std::io::BufReader::with_capacity(1 << 16, child.stdout.take()?);
        let mut listing = Listing::new();
        let mut record = Vec::new();
        loop {
            record.clear();
            match reader.read_until(0, &mut record) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
            // `<mode> <object> <stage>\t<path>\0`
            let record = record.strip_suffix(&[0]).unwrap_or(&record);
            let Some(tab) = memchr::memchr(b'\t', record) else {
                continue;
            };
            listing.push(&record[tab + 1..], record.starts_with(b"160000 "));
        }
        drop(reader);
        child.wait().ok().filter(|status| status.success())?;
        Some(listing)
    }
}

/// The bytes of `path`; a large file (a monorepo's index is megabytes) in two halves read
/// at once on two threads: copying it and touching the fresh memory it lands in are the
/// cost, and nothing else can start before it is read.
fn read_index(path: &Path) -> std::io::Result<Vec<u8>> {
    read_in_halves_from(path, 1 << 20)
}

/// [`read_index`], in halves when the file holds at least `split` bytes.
#[cfg(unix)]
fn read_in_halves_from(path: &Path, split: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::FileExt;
    let mut file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if len < split.max(2) || len == usize::MAX {
        let mut bytes = Vec::with_capacity(len.min(1 << 20));
        file.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let mut bytes = vec![0; len];
    let (first, second) = bytes.split_at_mut(len / 2);
    let offset = first.len() as u64;
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| file.read_exact_at(second, offset));
        (file.read_exact_at(first, 0), second.join())
    });
    first?;
    match second {
        Ok(read) => read?,
        Err(_) => return Err(std::io::Error::other("reading the index failed")),
    }
    // Git replaces its index (a new file under the name) rather than writing into the
    // one open here; a file that shrank since its size was asked fails to read above.
    Ok(bytes)
}

#[cfg(not(unix))]
fn read_in_halves_from(path: &Path, _split: usize) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// A big-endian number of `N` bytes at `at`.
fn be<const N: usize>(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; N] = bytes.get(at..at.checked_add(N)?)?.try_into().ok()?;
    Some(b.iter().fold(0u32, |n, &byte| (n << 8) | u32::from(byte)))
}

/// Where an entry's fixed part ends and its path begins, and the path's length as its
/// flags give it (`0xFFF`: that long or longer).
struct Fixed {
    mode: u32,
    name_start: usize,
    name_len: usize,
}

/// The fixed part of the entry at `at`, for object names of `hash` bytes.
fn fixed(bytes: &[u8], at: usize, hash: usize, version: u32) -> Option<Fixed> {
    // ctime, mtime (8 bytes each), dev, ino, mode, uid, gid, size (4 each), the object
    // name, then 16 bits of flags: assume-valid, extended, stage (2), path length (12).
    let mode = be::<4>(bytes, at + 24)?;
    let flags = be::<2>(bytes, at + 40 + hash)?;
    let extended = flags & 0x4000 != 0;
    if extended && version < 3 {
        return None;
    }
    Some(Fixed {
        mode,
        name_start: at + 42 + hash + if extended { 2 } else { 0 },
        name_len: (flags & 0xFFF) as usize,
    })
}

/// The NUL-terminated path at `start`, checked against the length the flags give.
fn name(bytes: &[u8], start: usize, name_len: usize) -> Option<&[u8]> {
    let rest = bytes.get(start..)?;
    let end = memchr::memchr(0, rest)?;
    let fits = end == name_len || (name_len == 0xFFF && end >= 0xFFF);
    (fits && end > 0).then(|| &rest[..end])
}

/// A mode git writes in an index: a file (executable or not), a link or a gitlink. A
/// directory (a sparse index's entry) or anything else ends the reading.
fn known_mode(mode: u32) -> bool {
    matches!(mode, 0o100644 | 0o100755 | 0o120000 | GITLINK)
}

/// git's varint (`decode_varint`): seven bits a byte, most significant first, each
/// continuation adding one.
fn varint(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut byte = *bytes.get(*at)?;
    *at += 1;
    let mut value = usize::from(byte & 0x7F);
    while byte & 0x80 != 0 {
        byte = *bytes.get(*at)?;
        *at += 1;
        value = value.checked_add(1)?.checked_mul(128)? | usize::from(byte & 0x7F);
    }
    Some(value)
}

/// The object names are SHA-1's 20 bytes or SHA-256's 32: whichever reads the whole file
/// consistently (every path as long as its entry says, the extensions ending at the
/// checksum).
fn parse_index(bytes: Vec<u8>, prefix: &[u8]) -> Option<Listing> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be::<4>(&bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let entries = parse_entries(&bytes, prefix, version, 20)
        .or_else(|| parse_entries(&bytes, prefix, version, 32))?;
    Some(match entries {
        Entries::InFile(records) => Listing {
            paths: bytes,
            records,
        },
        Entries::Gathered(listing) => listing,
    })
}

/// Where the entries' paths are: ranges of the file, or gathered apart (version 4).
enum Entries {
    InFile(Vec<(usize, usize, bool)>),
    Gathered(Listing),
}

fn parse_entries(bytes: &[u8], prefix: &[u8], version: u32, hash: usize) -> Option<Entries> {
    let count = be::<4>(bytes, 8)? as usize;
    // Versions 2 and 3 hold every path whole: the records point into the file's bytes.
    let mut records = Vec::with_capacity(count.min(bytes.len() / 62));
    let mut gathered = Listing::new();
    let mut at = 12;
    // Version 4 stores each path as what it drops from the previous one and what follows.
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let f = fixed(bytes, at, hash, version)?;
        if !known_mode(f.mode) {
            return None;
        }
        let (path, start): (&[u8], usize) = if version == 4 {
            let mut start = f.name_start;
            let drop = varint(bytes, &mut start)?;
            let keep = previous.len().checked_sub(drop)?;
            let rest = bytes.get(start..)?;
            let end = memchr::memchr(0, rest)?;
            previous.truncate(keep);
            previous.extend_from_slice(&rest[..end]);
            at = start + end + 1;
            let fits =
                previous.len() == f.name_len || (f.name_len == 0xFFF && previous.len() >= 0xFFF);
            if !fits || previous.is_empty() {
                return None;
            }
            (&previous, 0)
        } else {
            let path = name(bytes, f.name_start, f.name_len)?;
            // Padded with one to eight NULs to a multiple of eight bytes.
            at += (f.name_start - at + path.len() + 8) & !7;
            (path, f.name_start)
        };
        if prefix.is_empty() || path.starts_with(prefix) {
            if version == 4 {
                gathered.push(&path[prefix.len()..], f.mode == GITLINK);
            } else {
                let start = start + prefix.len();
                records.push((start, start + path.len() - prefix.len(), f.mode == GITLINK));
            }
        }
    }
    // Extensions, then the checksum. A split index keeps most entries in another file,
    // a sparse one folders instead of files: both are left to git, as is any extension
    // git requires (a lower-case signature) that is not known here.
    let end = bytes.len().checked_sub(hash)?;
    while at + 8 <= end {
        let signature = bytes.get(at..at + 4)?;
        if signature.first().is_some_and(u8::is_ascii_lowercase) {
            return None;
        }
        let size = be::<4>(bytes, at + 4)? as usize;
        at = at.checked_add(8)?.checked_add(size)?;
    }
    if at != end {
        return None;
    }
    Some(if version == 4 {
        Entries::Gathered(gathered)
    } else {
        Entries::InFile(records)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

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

    /// `(path, submodule)` of each record of a listing.
    type Records = Vec<(String, bool)>;

    /// The records of `listing`.
    fn records(listing: &Listing) -> Records {
        listing
            .records
            .iter()
            .map(|&(s, e, sub)| (String::from_utf8_lossy(&listing.paths[s..e]).into(), sub))
            .collect()
    }

    /// The index read directly, and as `git ls-files` lists it, in `dir`.
    fn both(dir: &Path) -> (Option<Records>, Records) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--git-path", "index", "--show-prefix"])
            .output()
            .expect("git");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let mut lines = text.lines();
        let index = dir.join(lines.next().expect("index"));
        let prefix = lines.next().unwrap_or_default();
        let direct = Listing::from_index_file(&index, prefix.as_bytes()).map(|l| records(&l));
        let child = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["ls-files", "-z", "--stage", "--cached"])
            .stdout(Stdio::piped())
            .spawn();
        let listed = Listing::from_ls_files(child).expect("ls-files");
        (direct, records(&listed))
    }

    /// A repository holding a link, an executable, a deep folder, a gitlink, an
    /// intent-to-add file (an extended entry), a merge conflict (three stages of one
    /// path) and a path longer than an entry's 12-bit length field.
    fn repository(root: &Path, init: &[&str]) -> bool {
        let mut args = vec!["init", "-q"];
        args.extend_from_slice(init);
        if !git(root, &args) {
            return false;
        }
        for path in [
            "a.py",
            "app/migrations/0001_initial.py",
            "app/migrations/0002_more.py",
            "app/models.py",
            "deep/a/b/c/d/e.py",
            "sub/keep.txt",
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x = 1\n").expect("write");
        }
        std::fs::write(root.join("run.sh"), "#!/bin/sh\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let executable = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(root.join("run.sh"), executable).expect("chmod");
            std::os::unix::fs::symlink("a.py", root.join("link.py")).expect("symlink");
        }
        assert!(git(root, &["add", "-A"]));
        assert!(git(root, &["commit", "-qm", "one"]));
        assert!(git(root, &["checkout", "-qb", "other"]));
        std::fs::write(root.join("a.py"), "x = 2\n").expect("write");
        assert!(git(root, &["commit", "-qam", "two"]));
        assert!(git(root, &["checkout", "-q", "-"]));
        std::fs::write(root.join("a.py"), "x = 3\n").expect("write");
        assert!(git(root, &["commit", "-qam", "three"]));
        assert!(!git(root, &["merge", "-q", "other"]), "a conflict");
        let object = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .expect("git");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        // Entries the work tree need not hold: a gitlink, and a path of 5,000 bytes.
        let head = object(&["rev-parse", "HEAD"]);
        let blob = object(&["hash-object", "-w", "run.sh"]);
        let long = format!("{}/x.py", vec!["d".repeat(199); 25].join("/"));
        for entry in [
            format!("160000,{head},vendor/lib"),
            format!("100644,{blob},{long}"),
        ] {
            assert!(git(root, &["update-index", "--add", "--cacheinfo", &entry]));
        }
        std::fs::write(root.join("app/new.py"), "x = 1\n").expect("write");
        assert!(git(root, &["add", "-N", "app/new.py"]));
        true
    }

    #[test]
    fn a_file_read_in_halves_is_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        for len in [0usize, 1, 2, 3, 4095, 100_001] {
            let path = dir.path().join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&path, &bytes).expect("write");
            for split in [1, 2, len, 1 << 20] {
                let read = read_in_halves_from(&path, split).expect("read");
                assert_eq!(read, bytes, "{len} bytes, halves from {split}");
            }
        }
        let missing = read_index(&dir.path().join("missing")).map(|_| ());
        assert_eq!(
            missing.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn the_index_read_directly_is_what_git_ls_files_lists() {
        for (init, versions) in [
            (&[][..], &["2", "3", "4"][..]),
            (&["--object-format=sha256"][..], &["2", "4"][..]),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path();
            if !repository(root, init) {
                eprintln!("git cannot make this repository ({init:?}): skipped");
                continue;
            }
            for version in versions {
                assert!(git(root, &["update-index", "--index-version", version]));
                for folder in [root.to_path_buf(), root.join("app"), root.join("deep/a")] {
                    let (direct, listed) = both(&folder);
                    assert!(listed.len() > 1 || folder != root, "{listed:?}");
                    assert_eq!(
                        direct.as_ref(),
                        Some(&listed),
                        "{init:?} v{version} {folder:?}"
                    );
                }
            }
            let (direct, listed) = both(root);
            assert!(listed.iter().any(|(p, sub)| p == "vendor/lib" && *sub));
            assert_eq!(listed.iter().filter(|(p, _)| p == "a.py").count(), 3);
            assert!(listed.iter().any(|(p, _)| p == "app/new.py"));
            assert!(listed.iter().any(|(p, _)| p.len() > 0xFFF));
            assert_eq!(direct, Some(listed));
        }
    }

    #[test]
    fn an_index_not_fully_understood_is_left_to_git() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        if !repository(root, &[]) {
            eprintln!("git is not installed: skipped");
            return;
        }
        let index = root.join(".git/index");
        let bytes = std::fs::read(&index).expect("index");
        // Truncated, wrong signature, unknown version, a checksum too short.
        assert!(parse_index(bytes[..bytes.len() / 2].to_vec(), b"").is_none());
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(parse_index(wrong, b"").is_none());
        let mut version = bytes.clone();
        version[7] = 9;
        assert!(parse_index(version, b"").is_none());
        assert!(parse_index(bytes[..bytes.len() - 1].to_vec(), b"").is_none());
        // A required extension this reader does not know: its first letter lower-case.
        let mut required = bytes[..bytes.len() - 20].to_vec();
        required.extend_from_slice(b"zzzz\0\0\0\0");
        required.extend_from_slice(&[0; 20]);
        assert!(parse_index(required, b"").is_none());
        let mut optional = bytes[..bytes.len() - 20].to_vec();
        optional.extend_from_slice(b"ZZZZ\0\0\0\x01?");
        optional.extend_from_slice(&[0; 20]);
        assert!(parse_index(optional, b"").is_some());
        // A split index keeps its entries elsewhere: git lists them.
        assert!(git(root, &["update-index", "--split-index"]));
        assert!(Listing::from_index_file(&index, b"").is_none());
        assert!(git(root, &["update-index", "--no-split-index"]));
        assert!(Listing::from_index_file(&index, b"").is_some());
        // A sparse index holds folders (a repository of its own: the long path above
        // cannot be checked out).
        let sparse = tempfile::tempdir().expect("tempdir");
        let root = sparse.path();
        for path in ["app/migrations/0001_initial.py", "other/models.py"] {
            std::fs::create_dir_all(root.join(path).parent().expect("parent")).expect("mkdir");
            std::fs::write(root.join(path), "x = 1\n").expect("write");
        }
        assert!(git(root, &["init", "-q"]) && git(root, &["add", "-A"]));
        assert!(git(root, &["commit", "-qm", "one"]));
        let index = root.join(".git/index");
        assert!(Listing::from_index_file(&index, b"").is_some());
        if git(
            root,
            &["sparse-checkout", "set", "--cone", "--sparse-index", "app"],
        ) {
            let bytes = std::fs::read(&index).expect("index");
            assert!(bytes.windows(4).any(|w| w == b"sdir"), "a sparse index");
            assert!(Listing::from_index_file(&index, b"").is_none());
        } else {
            eprintln!("this git makes no sparse index: skipped");
        }
        // No index at all: nothing was ever added.
        let empty = tempfile::tempdir().expect("tempdir");
        assert!(git(empty.path(), &["init", "-q"]));
        let listing = Listing::from_index_file(&empty.path().join(".git/index"), b"");
        assert!(listing.is_some_and(|l| l.records.is_empty()));
    }
}
