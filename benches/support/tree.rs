//! Shared by the benches: the shared corpus, synthetic trees of its apps, and timed runs
//! of the release binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migrail::django::discover::{discover, DiscoveredFile};

/// The corpus's migrations by app (label and folder).
pub type Apps = BTreeMap<(String, PathBuf), Vec<DiscoveredFile>>;

/// The shared corpus's apps, fetched when missing.
pub fn corpus_apps() -> (PathBuf, Apps) {
    let corpus = corpus();
    let found = discover(&[corpus.join("src")], &Default::default()).expect("discover the corpus");
    let mut apps = Apps::new();
    for f in found {
        apps.entry((f.app.clone(), f.app_dir.clone()))
            .or_default()
            .push(f);
    }
    (corpus, apps)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn corpus() -> PathBuf {
    let dir = std::env::var_os("MIGRAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tmp/corpus"));
    if !dir.join("migrations.txt").exists() {
        let status = Command::new("bash")
            .arg(repo().join("scripts/fetch-corpus.sh"))
            .arg(&dir)
            .status()
            .expect("run scripts/fetch-corpus.sh");
        assert!(status.success(), "fetching the corpus failed");
    }
    dir
}

/// Copy every app of the corpus `copies` times under `root`, each copy with its own
/// label (`<label>_c<n>`): its own migrations' references to the label are rewritten,
/// so every copy is a graph of its own. Returns the files written and their bytes.
pub fn build_tree(root: &Path, apps: &Apps, min_bytes: u64, min_files: usize) -> (usize, u64) {
    let _ = std::fs::remove_dir_all(root);
    let (mut files, mut bytes) = (0usize, 0u64);
    let mut copy = 0;
    while bytes < min_bytes || files < min_files {
        for ((label, _), migrations) in apps {
            let new_label = format!("{label}_c{copy}");
            let dir = root
                .join(format!("c{copy}"))
                .join(&new_label)
                .join("migrations");
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("__init__.py"), "").expect("write");
            for m in migrations {
                let text = std::fs::read_to_string(&m.path).expect("read corpus file");
                let text = text
                    .replace(&format!("\"{label}\""), &format!("\"{new_label}\""))
                    .replace(&format!("'{label}'"), &format!("'{new_label}'"));
                let name = m.path.file_name().expect("file name");
                std::fs::write(dir.join(name), &text).expect("write");
                files += 1;
                bytes += text.len() as u64;
            }
        }
        copy += 1;
    }
    (files, bytes)
}

#[allow(dead_code)] // the lint bench's; the walk bench sets its own environment
pub fn migrail(args: &[&str], dir: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_migrail"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run migrail");
    let elapsed = start.elapsed();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "migrail {args:?} failed: {status}"
    );
    elapsed
}
