//! Finding migration files and the app label each belongs to.
//!
//! A migration is `<app>/migrations/<digit>*.py`. The walk respects `.gitignore` and
//! skips virtual environments, `site-packages` and caches unless the path given on the
//! command line is itself inside one. The app label is the folder name holding
//! `migrations/`, unless the app's `apps.py` declares `label = "..."` on its AppConfig.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ruff_python_ast::{Expr, PySourceType, Stmt};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiscoveredFile {
    pub app: String,
    /// The migration name: the file stem (`0002_add_title`).
    pub name: String,
    pub path: PathBuf,
    /// The folder holding `migrations/`.
    pub app_dir: PathBuf,
}

/// Folder names never descended into unless named on the command line.
const SKIPPED_DIRS: &[&str] = &[
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

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error("{path}: {source}")]
    Walk {
        path: PathBuf,
        source: ignore::Error,
    },
}

pub fn is_migration_path(path: &Path) -> bool {
    let is_py = path.extension().is_some_and(|e| e == "py");
    let starts_with_digit = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()));
    let in_migrations = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "migrations");
    is_py && starts_with_digit && in_migrations
}

fn is_virtualenv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file()
}

/// Every migration file under `roots`, sorted by app label and name, de-duplicated.
pub fn discover(roots: &[PathBuf]) -> Result<Vec<DiscoveredFile>, DiscoverError> {
    let found = Mutex::new(Vec::new());
    discover_each(roots, |file| {
        if let Ok(mut found) = found.lock() {
            found.push(file);
        }
    })?;
    let mut files = found.into_inner().unwrap_or_default();
    files.sort();
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// Hand every migration file under `roots` to `each` as soon as the walk finds it, so
/// that reading and parsing can start before the walk ends. Calls come from several
/// threads, in no particular order, and a file under two overlapping roots comes twice:
/// [`discover`] sorts and de-duplicates.
pub fn discover_each(
    roots: &[PathBuf],
    each: impl Fn(DiscoveredFile) + Sync,
) -> Result<(), DiscoverError> {
    let labels = Labels::default();
    for root in roots {
        if !root.exists() {
            return Err(DiscoverError::NotFound { path: root.clone() });
        }
        if root.is_file() {
            if is_migration_path(root) {
                each(describe(root, &labels));
            }
            continue;
        }
        // Walk in parallel (the walk is most of a pre-commit run's time on a big tree).
        let error = Mutex::new(None);
        ignore::WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .filter_entry(|entry| {
                if entry.depth() == 0 || !entry.file_type().is_some_and(|t| t.is_dir()) {
                    return true;
                }
                let name = entry.file_name().to_string_lossy();
                // A `migrations` folder is a package of the app, never a virtualenv: no
                // need to look for its `pyvenv.cfg` (one system call per folder saved).
                !SKIPPED_DIRS.contains(&name.as_ref())
                    && (name == "migrations" || !is_virtualenv(entry.path()))
            })
            .build_parallel()
            .run(|| {
                Box::new(|entry| {
                    match entry {
                        Ok(entry) => {
                            if entry.file_type().is_some_and(|t| t.is_file())
                                && is_migration_path(entry.path())
                            {
                                each(describe(entry.path(), &labels));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut error) = error.lock() {
                                error.get_or_insert(e);
                            }
                            return ignore::WalkState::Quit;
                        }
                    }
                    ignore::WalkState::Continue
                })
            });
        if let Some(source) = error.into_inner().ok().flatten() {
            return Err(DiscoverError::Walk {
                path: root.clone(),
                source,
            });
        }
    }
    Ok(())
}

/// App labels already worked out, by app folder (shared by the walk's threads).
#[derive(Default)]
struct Labels(Mutex<HashMap<PathBuf, String>>);

impl Labels {
    fn get(&self, app_dir: &Path) -> String {
        let known = self.0.lock().ok().and_then(|map| map.get(app_dir).cloned());
        if let Some(label) = known {
            return label;
        }
        // Worked out outside the lock (it may read `apps.py`); two threads may both do it.
        let label = app_label(app_dir);
        if let Ok(mut map) = self.0.lock() {
            map.insert(app_dir.to_path_buf(), label.clone());
        }
        label
    }
}

fn describe(path: &Path, labels: &Labels) -> DiscoveredFile {
    let migrations_dir = path.parent().unwrap_or(Path::new("."));
    let app_dir = migrations_dir
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let app = labels.get(&app_dir);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    DiscoveredFile {
        app,
        name,
        path: path.to_path_buf(),
        app_dir,
    }
}

/// The app label of the app in `app_dir`: `label` from `apps.py` or the folder name.
pub fn app_label(app_dir: &Path) -> String {
    // The folder's own name; `.` or `..` (a path given as `migrail lint .`) is resolved.
    let plain = app_dir.components().next_back().and_then(|c| match c {
        std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
        _ => None,
    });
    let folder = plain
        .or_else(|| {
            app_dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| ".".to_string());
    std::fs::read_to_string(app_dir.join("apps.py"))
        .ok()
        .and_then(|text| label_from_apps_py(&text))
        .unwrap_or(folder)
}

/// The `label` of the default AppConfig in an `apps.py`: the class with `default = True`,
/// else the first class that sets a literal `label`.
pub fn label_from_apps_py(text: &str) -> Option<String> {
    let parsed = ruff_python_parser::parse_unchecked_source(text, PySourceType::Python);
    let mut first = None;
    for stmt in &parsed.syntax().body {
        let Stmt::ClassDef(class) = stmt else {
            continue;
        };
        let mut label = None;
        let mut default = false;
        for item in &class.body {
            let Stmt::Assign(assign) = item else { continue };
            let [Expr::Name(target)] = assign.targets.as_slice() else {
                continue;
            };
            match (target.id.as_str(), &*assign.value) {
                ("label", Expr::StringLiteral(s)) => label = Some(s.value.to_str().to_string()),
                ("default", Expr::BooleanLiteral(b)) => default = b.value,
                _ => {}
            }
        }
        if default && label.is_some() {
            return label;
        }
        if first.is_none() {
            first = label;
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_migration_paths() {
        assert!(is_migration_path(Path::new(
            "shop/migrations/0001_initial.py"
        )));
        assert!(!is_migration_path(Path::new("shop/migrations/__init__.py")));
        assert!(!is_migration_path(Path::new("shop/models/0001.py")));
        assert!(!is_migration_path(Path::new(
            "shop/migrations/0001_initial.pyc"
        )));
    }

    #[test]
    fn label_comes_from_the_default_app_config() {
        let text = "from django.apps import AppConfig\n\
                    class A(AppConfig):\n    name = 'x.y'\n    label = 'first'\n\
                    class B(AppConfig):\n    name = 'x.y'\n    label = 'chosen'\n    default = True\n";
        assert_eq!(label_from_apps_py(text).as_deref(), Some("chosen"));
        assert_eq!(label_from_apps_py("class A:\n    name = 'x'\n"), None);
    }

    /// A symlinked app folder named on the command line keeps the name it is reached by
    /// (the name Django imports it under), not the target's; a walk from above does not
    /// follow the link (as git and ripgrep do not), so the app is not found twice.
    #[cfg(unix)]
    #[test]
    fn symlinked_app_folder_is_labelled_by_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let file = root.join("vendor/shop_impl/migrations/0001_initial.py");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, "").expect("write");
        std::os::unix::fs::symlink(root.join("vendor/shop_impl"), root.join("shop"))
            .expect("symlink");

        let files = discover(&[root.join("shop")]).expect("discover");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].app, "shop");
        let named = discover(&[root.join("shop/migrations/0001_initial.py")]).expect("discover");
        assert_eq!(named[0].app, "shop");

        let walked = discover(&[root.to_path_buf()]).expect("discover");
        assert_eq!(walked.len(), 1, "{walked:?}");
        assert_eq!(walked[0].app, "shop_impl");
    }

    #[test]
    fn walk_skips_virtualenvs_and_gitignored_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let write = |p: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        };
        write("shop/migrations/0001_initial.py");
        write("shop/apps.py");
        std::fs::write(root.join("shop/apps.py"), "class C:\n    label = 'store'\n")
            .expect("write");
        write("env/pyvenv.cfg");
        write("env/lib/x/migrations/0001_initial.py");
        write("lib/site-packages/y/migrations/0001_initial.py");
        write("build/z/migrations/0001_initial.py");
        std::fs::write(root.join(".gitignore"), "build/\n").expect("write");
        let files = discover(&[root.to_path_buf()]).expect("discover");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].app, "store");
        assert_eq!(files[0].name, "0001_initial");
        // Naming the skipped folder explicitly includes it.
        let files = discover(&[root.join("lib/site-packages")]).expect("discover");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].app, "y");
    }
}
