//! Finding migration files and the app label each belongs to, as Django's
//! `MigrationLoader` does.
//!
//! A migration is any module of an app's `migrations` package except `__init__` and names
//! starting with `_` or `~` (Django's rule: `fix_empty_data.py` is a migration too), or of
//! the package `MIGRATION_MODULES` names for the app instead ([`MigrationModules`]). The
//! candidates come from [`super::walk`], asked only for the `.py` files of `migrations`
//! packages and `MIGRATION_MODULES` folders: what git would list (the index's folders,
//! read where a folder's link count shows one the index does not know, walked there with
//! git's ignore rules) or a walk honouring `.gitignore`, both skipping virtual
//! environments, `site-packages` and caches unless the path given on the command line is
//! itself inside one. The app label is the folder name holding `migrations/`, unless an
//! `AppConfig` of the app declares `label = "..."`: in `apps.py`, the app's `__init__.py`
//! or another module of the app.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

impl DiscoveredFile {
    /// The migration at `path` (`<app_dir>/<migrations>/<name>.py`) of app `app`, for
    /// files that are not walked (written in memory, or in tests). `app` defaults to the
    /// app folder's name.
    pub fn at(path: PathBuf, app: Option<String>) -> DiscoveredFile {
        let app_dir = path
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let app = app.unwrap_or_else(|| {
            app_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        DiscoveredFile {
            app,
            name,
            path,
            app_dir,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error(transparent)]
    Walk(#[from] super::walk::WalkError),
}

/// A module Django's loader would import from a migrations package: a `.py` file whose
/// name does not start with `_` or `~` (`__init__.py` and private helpers are not).
pub fn is_migration_module_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py")
        && path
            .file_stem()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.is_empty() && !n.starts_with(['_', '~']))
}

/// A migration of an app's default `migrations` package: `<app>/migrations/<module>.py`.
/// A module whose name does not start with a digit counts only when the folder is a
/// package (`__init__.py`), as Django imports it, that holds numbered migrations too:
/// a `migrations` package without any (Django's own `django/db/migrations/`, the
/// framework's code) is not an app's.
pub fn is_migration_path(path: &Path) -> bool {
    let Some(parent) = path.parent() else {
        return false;
    };
    let in_migrations = parent.file_name().is_some_and(|n| n == "migrations");
    if !in_migrations || !is_migration_module_name(path) {
        return false;
    }
    let starts_with_digit = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()));
    starts_with_digit || accepts_any_module(parent)
}

/// The folder is a package holding at least one numbered migration.
fn accepts_any_module(folder: &Path) -> bool {
    folder.join("__init__.py").is_file()
        && std::fs::read_dir(folder).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".py") && name.starts_with(|c: char| c.is_ascii_digit())
            })
        })
}

/// A file that may be a migration, for a path named on the command line: in a
/// `migrations` package, or in a folder `MIGRATION_MODULES` may name (`db_migrations`).
pub fn may_be_migration(path: &Path) -> bool {
    is_migration_path(path)
        || (is_migration_module_name(path)
            && path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("migrations")))
}

/// Where apps' migrations live when not in `<app>/migrations/`: Django's
/// `MIGRATION_MODULES` setting (and the `migration-modules` configuration key).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationModules {
    /// The package folder (canonical) -> the app label whose migrations it holds.
    folders: BTreeMap<PathBuf, String>,
    /// Labels whose `<app>/migrations/` Django does not load: moved or disabled (`None`).
    moved: BTreeSet<String>,
}

impl MigrationModules {
    /// From `(label, folder)` pairs; a `None` folder disables the app's migrations.
    pub fn new(entries: impl IntoIterator<Item = (String, Option<PathBuf>)>) -> Self {
        let mut modules = MigrationModules::default();
        for (label, folder) in entries {
            modules.moved.insert(label.clone());
            // A later entry for the label replaces an earlier one (the configuration's
            // over the settings').
            modules.folders.retain(|_, l| *l != label);
            if let Some(folder) = folder {
                let folder = folder.canonicalize().unwrap_or(folder);
                modules.folders.insert(folder, label);
            }
        }
        modules
    }

    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
    }

    /// The folders holding moved migrations (walked besides the roots).
    pub fn folders(&self) -> impl Iterator<Item = (&PathBuf, &str)> {
        self.folders.iter().map(|(f, l)| (f, l.as_str()))
    }

    fn label_of_folder(&self, canonical: &Path) -> Option<&str> {
        self.folders.get(canonical).map(String::as_str)
    }

    fn is_moved(&self, label: &str) -> bool {
        self.moved.contains(label)
    }
}

/// Every migration file under `roots`, sorted by app label and name, de-duplicated.
pub fn discover(
    roots: &[PathBuf],
    modules: &MigrationModules,
) -> Result<Vec<DiscoveredFile>, DiscoverError> {
    let found = Mutex::new(Vec::new());
    discover_each(roots, modules, |file| {
        if let Ok(mut found) = found.lock() {
            found.push(file);
        }
    })?;
    let mut files = found.into_inner().unwrap_or_default();
    files.sort();
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// The roots to walk: the given ones, and each `MIGRATION_MODULES` folder no root holds.
fn walk_roots(roots: &[PathBuf], modules: &MigrationModules) -> Vec<PathBuf> {
    let mut all = roots.to_vec();
    let canonical: Vec<PathBuf> = roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    for (folder, _) in modules.folders() {
        if folder.is_dir() && !canonical.iter().any(|r| folder.starts_with(r)) {
            all.push(folder.clone());
        }
    }
    all
}

/// Hand every migration file under `roots` to `each` as soon as the walk finds it, so
/// that reading and parsing can start before the walk ends. Calls come from several
/// threads, in no particular order, and a file under two overlapping roots comes twice:
/// [`discover`] sorts and de-duplicates.
pub fn discover_each(
    roots: &[PathBuf],
    modules: &MigrationModules,
    each: impl Fn(DiscoveredFile) + Sync,
) -> Result<(), DiscoverError> {
    let labels = Labels::default();
    for root in &walk_roots(roots, modules) {
        if !root.exists() {
            return Err(DiscoverError::NotFound { path: root.clone() });
        }
        if root.is_file() {
            if let Some(file) = classify(root, &labels, modules) {
                each(file);
            }
            continue;
        }
        // The folders whose modules may be migrations: `migrations` packages and the
        // `MIGRATION_MODULES` folders under this root (by their path as walked).
        let canonical_root = root.canonicalize().ok();
        let moved: Vec<PathBuf> = modules
            .folders()
            .filter_map(|(folder, _)| {
                let below = folder.strip_prefix(canonical_root.as_ref()?).ok()?;
                Some(root.join(below))
            })
            .collect();
        let wanted = |folder: &Path| {
            folder.file_name().is_some_and(|n| n == "migrations")
                || moved.iter().any(|m| m == folder)
        };
        let stats = super::walk::python_files(root, &wanted, &|path| {
            if let Some(file) = classify(&path, &labels, modules) {
                each(file);
            }
        })?;
        crate::timings::note(&format!(
            "walk of {}: {} (folders read {}, checked {}, entries seen {})",
            root.display(),
            if stats.git_roots > 0 {
                "git's index and rules"
            } else {
                "directory walk"
            },
            stats.folders_read,
            stats.folders_checked,
            stats.entries_seen
        ));
    }
    Ok(())
}

/// What a folder holding Python files is: the migrations package of an app (its label,
/// its app folder, and whether every module counts: a `MIGRATION_MODULES` folder; in a
/// `migrations` package a module not starting with a digit counts only if
/// [`accepts_any_module`]), or not.
type FolderKind = Option<(String, PathBuf, bool)>;

/// Folders already classified, by path as walked (shared by the walk's threads).
#[derive(Default)]
struct Labels(
    Mutex<HashMap<PathBuf, FolderKind>>,
    Mutex<HashMap<PathBuf, bool>>,
);

impl Labels {
    fn get(&self, folder: &Path, modules: &MigrationModules) -> FolderKind {
        let known = self.0.lock().ok().and_then(|map| map.get(folder).cloned());
        if let Some(kind) = known {
            return kind;
        }
        // Worked out outside the lock (it may read the app's modules); two threads may
        // both do it.
        let kind = folder_kind(folder, modules);
        if let Ok(mut map) = self.0.lock() {
            map.insert(folder.to_path_buf(), kind.clone());
        }
        kind
    }

    /// [`accepts_any_module`], asked once per folder (and only for a module not starting
    /// with a digit: most folders hold none).
    fn accepts_any_module(&self, folder: &Path) -> bool {
        let known = self.1.lock().ok().and_then(|map| map.get(folder).copied());
        if let Some(accepts) = known {
            return accepts;
        }
        let accepts = accepts_any_module(folder);
        if let Ok(mut map) = self.1.lock() {
            map.insert(folder.to_path_buf(), accepts);
        }
        accepts
    }
}

fn folder_kind(folder: &Path, modules: &MigrationModules) -> FolderKind {
    let app_dir = folder.parent().unwrap_or(Path::new(".")).to_path_buf();
    if !modules.is_empty() {
        if let Some(label) = folder
            .canonicalize()
            .ok()
            .and_then(|c| modules.label_of_folder(&c).map(str::to_string))
        {
            return Some((label, app_dir, true));
        }
    }
    if folder.file_name().is_none_or(|n| n != "migrations") {
        return None;
    }
    let label = app_label(&app_dir);
    if modules.is_moved(&label) {
        // `MIGRATION_MODULES` sends Django elsewhere for this app (or nowhere).
        return None;
    }
    Some((label, app_dir, false))
}

/// The migration `path` is, if it is one: a module of an app's migrations package.
fn classify(path: &Path, labels: &Labels, modules: &MigrationModules) -> Option<DiscoveredFile> {
    if !is_migration_module_name(path) {
        return None;
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let in_migrations = folder.file_name().is_some_and(|n| n == "migrations");
    if !in_migrations && modules.is_empty() {
        return None;
    }
    let (app, app_dir, any_module) = labels.get(folder, modules)?;
    let numbered = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()));
    if !numbered && !any_module && !labels.accepts_any_module(folder) {
        return None;
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(DiscoveredFile {
        app,
        name,
        path: path.to_path_buf(),
        app_dir,
    })
}

/// The app label of the app in `app_dir`: the `label` of its AppConfig, else the folder name.
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
    label_from_app_modules(app_dir).unwrap_or(folder)
}

/// The label an AppConfig of the app declares: `apps.py` first (any class setting a
/// literal `label`), then `__init__.py` and the app's other top-level modules (a class
/// deriving from an `...AppConfig` there: `class RpmConfig(PulpPluginAppConfig)`).
fn label_from_app_modules(app_dir: &Path) -> Option<String> {
    let apps_py = || {
        std::fs::read_to_string(app_dir.join("apps.py"))
            .ok()
            .and_then(|text| label_from_apps_py(&text))
    };
    // The folder is listed first: most apps of a large tree have no `apps.py` to open.
    let Ok(listing) = std::fs::read_dir(app_dir) else {
        return apps_py();
    };
    let mut has_apps_py = false;
    let mut modules: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.as_encoded_bytes();
            has_apps_py |= name == b"apps.py";
            name.ends_with(b".py") && name != b"apps.py" && name != b".py"
        })
        // The listing tells files from folders; a link is followed.
        .filter(|e| {
            e.file_type()
                .is_ok_and(|t| t.is_file() || (t.is_symlink() && e.path().is_file()))
        })
        .map(|e| e.path())
        .collect();
    if has_apps_py {
        if let Some(label) = apps_py() {
            return Some(label);
        }
    }
    // `__init__.py` first, then the others by name.
    modules.sort_by_key(|p| (p.file_name().is_none_or(|n| n != "__init__.py"), p.clone()));
    modules.into_iter().find_map(|path| {
        let text = std::fs::read_to_string(&path).ok()?;
        if !text.contains("AppConfig") {
            return None;
        }
        label_from_module(&text, true)
    })
}

/// The `label` of the default AppConfig in an `apps.py`: the class with `default = True`,
/// else the first class that sets a literal `label`.
pub fn label_from_apps_py(text: &str) -> Option<String> {
    label_from_module(text, false)
}

/// [`label_from_apps_py`]; with `app_configs_only`, only classes whose base is named
/// `...AppConfig` count (the module holds other classes too).
fn label_from_module(text: &str, app_configs_only: bool) -> Option<String> {
    let parsed = ruff_python_parser::parse_unchecked_source(text, PySourceType::Python);
    let mut first = None;
    for stmt in &parsed.syntax().body {
        let Stmt::ClassDef(class) = stmt else {
            continue;
        };
        if app_configs_only {
            let base_is_app_config = class.bases().iter().any(|b| {
                let name = match b {
                    Expr::Name(n) => n.id.as_str(),
                    Expr::Attribute(a) => a.attr.id.as_str(),
                    _ => "",
                };
                name.ends_with("AppConfig")
            });
            if !base_is_app_config {
                continue;
            }
        }
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

    fn discover_plain(roots: &[PathBuf]) -> Result<Vec<DiscoveredFile>, DiscoverError> {
        discover(roots, &MigrationModules::default())
    }

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

        let files = discover_plain(&[root.join("shop")]).expect("discover");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].app, "shop");
        let named =
            discover_plain(&[root.join("shop/migrations/0001_initial.py")]).expect("discover");
        assert_eq!(named[0].app, "shop");

        let walked = discover_plain(&[root.to_path_buf()]).expect("discover");
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
        let files = discover_plain(&[root.to_path_buf()]).expect("discover");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].app, "store");
        assert_eq!(files[0].name, "0001_initial");
        // Naming the skipped folder explicitly includes it.
        let files = discover_plain(&[root.join("lib/site-packages")]).expect("discover");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].app, "y");
    }

    /// Django's rule: every module of a migrations package but `__init__` and names
    /// starting with `_` or `~`; a non-digit name needs the folder to be a package.
    #[test]
    fn every_module_of_a_migrations_package_is_a_migration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for p in [
            "shop/migrations/__init__.py",
            "shop/migrations/0001_initial.py",
            "shop/migrations/fix_empty_data.py",
            "shop/migrations/_helpers.py",
            "shop/migrations/~backup.py",
            "loose/migrations/0001_initial.py",
            "loose/migrations/helpers.py",
            "framework/db/migrations/__init__.py",
            "framework/db/migrations/autodetector.py",
        ] {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        let mut names: Vec<String> = discover_plain(&[root.to_path_buf()])
            .expect("discover")
            .into_iter()
            .map(|f| format!("{}.{}", f.app, f.name))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "loose.0001_initial",
                "shop.0001_initial",
                "shop.fix_empty_data"
            ]
        );
    }

    /// `MIGRATION_MODULES` moves an app's migrations (its `migrations/` folder is then
    /// not Django's) or disables them.
    #[test]
    fn migration_modules_move_and_disable_apps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for p in [
            "dojo/db_migrations/__init__.py",
            "dojo/db_migrations/0001_initial.py",
            "dojo/db_migrations/0002_more.py",
            "dojo/migrations/0001_stale.py",
            "legacy/migrations/0001_initial.py",
            "shop/migrations/0001_initial.py",
        ] {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        let modules = MigrationModules::new([
            ("dojo".to_string(), Some(root.join("dojo/db_migrations"))),
            ("legacy".to_string(), None),
        ]);
        let mut names: Vec<String> = discover(&[root.to_path_buf()], &modules)
            .expect("discover")
            .into_iter()
            .map(|f| format!("{}.{}", f.app, f.name))
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dojo.0001_initial", "dojo.0002_more", "shop.0001_initial"]
        );
        // A module folder outside the roots is walked too.
        let only_shop = discover(&[root.join("shop")], &modules).expect("discover");
        assert_eq!(only_shop.len(), 3, "{only_shop:?}");
    }

    /// Two `app/` folders (a plugin layout) labelled by AppConfigs outside `apps.py`.
    #[test]
    fn labels_come_from_app_configs_in_any_module_of_the_app() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let write = |p: &str, text: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("pulp_rpm/app/migrations/0001_initial.py", "");
        write(
            "pulp_rpm/app/__init__.py",
            "from pulpcore.plugin import PulpPluginAppConfig\n\n\
             class PulpRpmPluginAppConfig(PulpPluginAppConfig):\n    name = 'pulp_rpm.app'\n    label = 'rpm'\n",
        );
        write("pulp_file/app/migrations/0001_initial.py", "");
        write(
            "pulp_file/app/models.py",
            "class Widget:\n    label = 'not-an-app'\n\nclass FileConfig(AppConfig):\n    label = 'file'\n",
        );
        let mut labels: Vec<String> = discover_plain(&[root.to_path_buf()])
            .expect("discover")
            .into_iter()
            .map(|f| f.app)
            .collect();
        labels.sort();
        assert_eq!(labels, ["file", "rpm"]);
    }
}
