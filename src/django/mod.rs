//! The Django model of the world: migration files, the graph they form, and the model
//! state they build — all read statically, with no Django and no database.
//!
//! [`Project::load`] discovers the migration files under the given paths, parses them in
//! parallel and builds the [`graph::MigrationGraph`]; [`Project::replay`] walks the plan
//! in Django's order, handing each operation with the state just before it to a visitor.

pub mod database;
pub mod discover;
pub mod fields;
pub mod git_index;
pub mod graph;
pub mod migration;
pub mod names;
pub mod operations;
pub mod python;
pub mod schema_editor;
pub mod settings;
pub mod state;
pub mod version;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use discover::DiscoveredFile;
use graph::MigrationGraph;
use migration::{parse_migration, MigrationFile, MigrationKey, Settings, SourceFile};
use operations::{OpKind, Operation};
use state::{model_key, ModelKey, ProjectState};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Discover(#[from] discover::DiscoverError),
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Two folders that claim the same app label (Django refuses to start).
#[derive(Clone, Debug)]
pub struct DuplicateLabel {
    pub app: String,
    pub dirs: Vec<PathBuf>,
}

/// Every migration of the scanned tree, parsed, and their graph.
/// True when `path` is one of the `focus` files (canonical paths). Cheap for the common
/// case: only a file whose name matches one of them is canonicalized.
fn is_focused(path: &std::path::Path, focus: &BTreeSet<PathBuf>) -> bool {
    let name = path.file_name();
    focus.iter().any(|f| f.file_name() == name)
        && path
            .canonicalize()
            .is_ok_and(|canonical| focus.contains(&canonical))
}

/// Of two folders with one label, the first (sorted) wins, as the error says.
fn drop_shadowed(files: Vec<DiscoveredFile>) -> (Vec<DiscoveredFile>, Vec<DuplicateLabel>) {
    let (shadowed, duplicate_labels) =
        shadowed_dirs(files.iter().map(|f| (f.app.as_str(), f.app_dir.as_path())));
    let kept = files
        .into_iter()
        .filter(|f| !shadowed.contains(&f.app_dir))
        .collect();
    (kept, duplicate_labels)
}

/// The app folders whose label an earlier folder already claims, and the clashes, from
/// each file's app label and app folder.
fn shadowed_dirs<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a Path)>,
) -> (BTreeSet<PathBuf>, Vec<DuplicateLabel>) {
    let mut dirs_by_label: BTreeMap<&str, BTreeSet<&Path>> = BTreeMap::new();
    // Files come grouped by app, most of an app's from one folder: each pair once.
    let mut last: Option<(&str, &Path)> = None;
    for (app, app_dir) in files {
        if last == Some((app, app_dir)) {
            continue;
        }
        last = Some((app, app_dir));
        dirs_by_label.entry(app).or_default().insert(app_dir);
    }
    let duplicate_labels: Vec<DuplicateLabel> = dirs_by_label
        .into_iter()
        .filter(|(_, dirs)| dirs.len() > 1)
        .map(|(app, dirs)| DuplicateLabel {
            app: app.to_string(),
            dirs: dirs.into_iter().map(Path::to_path_buf).collect(),
        })
        .collect();
    let shadowed = duplicate_labels
        .iter()
        .flat_map(|d| d.dirs.iter().skip(1).cloned())
        .collect();
    (shadowed, duplicate_labels)
}

fn parse_one(f: &DiscoveredFile, text: String, settings: &Settings) -> MigrationFile {
    let source = Arc::new(SourceFile::new(f.path.clone(), text));
    parse_migration(&f.app, &f.name, source, settings)
}

/// A file's bytes, read to its end without asking its size first (one system call fewer
/// than `std::fs::read`: a migration nearly always fits in the first read), through a
/// buffer each thread keeps; the bytes returned are held at their exact length.
fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    /// `read` only: `read_to_end` then reads into the buffer's room as it is.
    struct Plain<'a>(&'a std::fs::File);
    impl Read for Plain<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            (&mut &*self.0).read(buf)
        }
    }
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> =
            std::cell::RefCell::new(Vec::with_capacity(64 * 1024));
    }
    let file = std::fs::File::open(path)?;
    BUFFER.with(|buffer| {
        let mut buffer = buffer.try_borrow_mut().map_err(std::io::Error::other)?;
        buffer.clear();
        Plain(&file).read_to_end(&mut buffer)?;
        let bytes = buffer.to_vec();
        // A rare large file does not stay held by the thread.
        if buffer.capacity() > 1024 * 1024 {
            *buffer = Vec::with_capacity(64 * 1024);
        }
        Ok(bytes)
    })
}

fn read_and_parse_one(f: &DiscoveredFile, settings: &Settings) -> Result<MigrationFile, LoadError> {
    match read_file(&f.path) {
        // Valid UTF-8 (nearly always) is taken as is, without a copy.
        Ok(bytes) => Ok(parse_one(
            f,
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            settings,
        )),
        Err(source) => Err(LoadError::Read {
            path: f.path.clone(),
            source,
        }),
    }
}

/// Read and parse files in parallel.
fn read_and_parse(
    files: Vec<DiscoveredFile>,
    settings: &Settings,
) -> Result<Vec<MigrationFile>, LoadError> {
    files
        .into_par_iter()
        .map(|f| read_and_parse_one(&f, settings))
        .collect()
}

/// A file the walk found, read and parsed: its app folder (to tell which folder of a
/// label clash is shadowed) and the migration, or the file and why it could not be read.
/// The migration holds the file's app, name and path already: the file's own copies are
/// freed on the thread that parsed it, not one by one on the thread that gathers them.
enum Parsed {
    Read {
        app_dir: PathBuf,
        migration: MigrationFile,
    },
    Failed {
        file: DiscoveredFile,
        error: LoadError,
    },
}

impl Parsed {
    fn new(file: DiscoveredFile, settings: &Settings) -> Parsed {
        match read_and_parse_one(&file, settings) {
            Ok(migration) => Parsed::Read {
                app_dir: file.app_dir,
                migration,
            },
            Err(error) => Parsed::Failed { file, error },
        }
    }

    /// The file's app label, migration name, path and app folder: the order of
    /// [`DiscoveredFile`]'s fields, which the files are sorted by.
    fn key(&self) -> (&str, &str, &Path, &Path) {
        match self {
            Parsed::Read { app_dir, migration } => (
                &migration.app,
                &migration.name,
                &migration.source.path,
                app_dir,
            ),
            Parsed::Failed { file, .. } => (&file.app, &file.name, &file.path, &file.app_dir),
        }
    }
}

/// Walk, read and parse at once: each file is read and parsed on rayon's threads as soon
/// as the walk finds it, so the walk's system calls overlap the parsing. The result is
/// what [`discover::discover`], [`drop_shadowed`] and [`read_and_parse`] give in turn.
fn discover_and_parse(
    roots: &[PathBuf],
    settings: &Settings,
) -> Result<(Vec<MigrationFile>, Vec<DuplicateLabel>), LoadError> {
    // Boxed: the list grows as files come in and is sorted, and moving a pointer is
    // cheaper than moving a parsed migration (hundreds of bytes, thousands of them).
    let parsed: std::sync::Mutex<Vec<Box<Parsed>>> = Default::default();
    rayon::in_place_scope(|scope| {
        discover::discover_each(roots, &settings.migration_modules, |file| {
            let parsed = &parsed;
            scope.spawn(move |_| {
                let one = Box::new(Parsed::new(file, settings));
                if let Ok(mut parsed) = parsed.lock() {
                    parsed.push(one);
                }
            });
        })
    })?;
    let mut parsed = parsed.into_inner().unwrap_or_default();
    parsed.par_sort_unstable_by(|a, b| a.key().cmp(&b.key()));
    // A file found twice (through two roots) is one run of the list. Its app and name
    // follow from its path and are compared first: comparing two paths reads them
    // component by component.
    parsed.dedup_by(|a, b| {
        let (a, b) = (a.key(), b.key());
        a.1 == b.1 && a.0 == b.0 && a.2 == b.2
    });
    let (shadowed, duplicate_labels) = shadowed_dirs(parsed.iter().map(|p| {
        let (app, _, _, app_dir) = p.key();
        (app, app_dir)
    }));
    // Sized once (a shadowed app, rare, leaves some of it unused).
    let mut migrations = Vec::with_capacity(parsed.len());
    for p in parsed {
        if shadowed.contains(p.key().3) {
            continue;
        }
        match *p {
            Parsed::Read { migration, .. } => migrations.push(migration),
            Parsed::Failed { error, .. } => return Err(error),
        }
    }
    Ok((migrations, duplicate_labels))
}

#[derive(Debug)]
pub struct Project {
    /// Shared with the [`Project::unsquashed`] view of the same tree.
    pub migrations: Arc<Vec<MigrationFile>>,
    /// Graph node -> index into `migrations`.
    by_node: Vec<Option<usize>>,
    /// Indexes into `migrations` in the graph's plan order (computed once: both replays
    /// of a lint walk it).
    plan: Vec<usize>,
    pub graph: MigrationGraph,
    pub settings: Settings,
    pub duplicate_labels: Vec<DuplicateLabel>,
}

/// Where an operation sits, for the visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A top-level operation: changes the database and the state.
    Both,
    /// Inside `SeparateDatabaseAndState.database_operations`: the database only.
    DatabaseOnly,
    /// Inside `state_operations`: the state only.
    StateOnly,
}

impl Effect {
    pub fn touches_database(self) -> bool {
        self != Effect::StateOnly
    }
}

/// A replay stopped between two migrations of the plan: the state so far, and where it
/// goes on (see [`Project::resume`]). Cloned, it lets another thread go on from there
/// without replaying what came before.
#[derive(Clone, Default)]
pub struct Replayed {
    state: ProjectState,
    /// Which migration created each model (for two-part initial migrations).
    creators: BTreeMap<ModelKey, usize>,
    /// The plan position of the next migration to replay.
    next: usize,
}

impl Replayed {
    /// The plan position of the next migration to replay: every one before it is replayed.
    pub fn next(&self) -> usize {
        self.next
    }
}

/// What the visitor sees for each operation during the replay.
pub struct Visit<'a> {
    pub migration: &'a MigrationFile,
    /// The migration's index in [`Project::migrations`].
    pub index: usize,
    pub op: &'a Operation,
    /// The state just before this operation (for database-only operations: the state the
    /// database is in, as Django computes it for them).
    pub state: &'a ProjectState,
    pub effect: Effect,
    /// Models created earlier in the same migration (no old code can use them).
    pub created_here: &'a BTreeSet<ModelKey>,
    /// The enclosing `SeparateDatabaseAndState`/`RunSQL`, for nested operations.
    pub parent: Option<&'a Operation>,
}

impl Project {
    /// Discover, read and parse every migration under `roots`.
    pub fn load(roots: &[PathBuf], settings: Settings) -> Result<Project, LoadError> {
        Project::load_focused(roots, settings, None)
    }

    /// Like [`Project::load`], but when `focus` names the files under review, parse only
    /// what their state can depend on: the apps of those files and, transitively, the
    /// apps their migrations depend on (`dependencies`, `run_before`, `replaces`). The
    /// other apps of the tree cannot change the state the reviewed operations see, so a
    /// pre-commit run on one file of a large monorepo does not parse the whole tree.
    pub fn load_focused(
        roots: &[PathBuf],
        settings: Settings,
        focus: Option<&BTreeSet<PathBuf>>,
    ) -> Result<Project, LoadError> {
        let timer = crate::timings::Timer::start();
        let Some(focus) = focus else {
            let (migrations, duplicate_labels) = discover_and_parse(roots, &settings)?;
            timer.lap("discover, read and parse");
            return Ok(Project::from_parsed(migrations, settings, duplicate_labels));
        };
        let files = discover::discover(roots, &settings.migration_modules)?;
        timer.lap("discover");
        let (files, duplicate_labels) = drop_shadowed(files);

        let mut by_label: BTreeMap<String, Vec<DiscoveredFile>> = BTreeMap::new();
        let mut needed: Vec<String> = Vec::new();
        for f in files {
            if is_focused(&f.path, focus) && !needed.contains(&f.app) {
                needed.push(f.app.clone());
            }
            by_label.entry(f.app.clone()).or_default().push(f);
        }
        let mut loaded: BTreeSet<String> = BTreeSet::new();
        let mut migrations = Vec::new();
        while !needed.is_empty() {
            let batch: Vec<DiscoveredFile> = needed
                .drain(..)
                .filter(|app| loaded.insert(app.clone()))
                .flat_map(|app| by_label.remove(&app).unwrap_or_default())
                .collect();
            let parsed = read_and_parse(batch, &settings)?;
            for m in &parsed {
                let apps = m
                    .dependencies
                    .iter()
                    .chain(&m.run_before)
                    .filter_map(|d| match d {
                        migration::Dependency::Node { app, .. } => Some(app),
                        migration::Dependency::Unresolved { .. } => None,
                    })
                    .chain(m.replaces.iter().map(|(app, _)| app));
                for app in apps {
                    if !loaded.contains(app) && by_label.contains_key(app) && !needed.contains(app)
                    {
                        needed.push(app.clone());
                    }
                }
            }
            migrations.extend(parsed);
        }
        timer.lap("read and parse (focused)");
        Ok(Project::from_parsed(migrations, settings, duplicate_labels))
    }

    /// Build a project from already-read files (used by `load` and by tests).
    pub fn from_sources(sources: Vec<(DiscoveredFile, String)>, settings: Settings) -> Project {
        let files: Vec<DiscoveredFile> = sources.iter().map(|(f, _)| f.clone()).collect();
        let (kept, duplicate_labels) = drop_shadowed(files);
        let kept: BTreeSet<PathBuf> = kept.into_iter().map(|f| f.path).collect();
        let migrations = sources
            .into_par_iter()
            .filter(|(f, _)| kept.contains(&f.path))
            .map(|(f, text)| parse_one(&f, text, &settings))
            .collect();
        Project::from_parsed(migrations, settings, duplicate_labels)
    }

    fn from_parsed(
        migrations: Vec<MigrationFile>,
        settings: Settings,
        duplicate_labels: Vec<DuplicateLabel>,
    ) -> Project {
        let timer = crate::timings::Timer::start();
        let (graph, nodes) = MigrationGraph::build_with(&migrations, true);
        let project = Project::with_graph(
            Arc::new(migrations),
            graph,
            &nodes,
            settings,
            duplicate_labels,
        );
        timer.lap("graph");
        project
    }

    /// The tree as a database that applied part of a squashed range sees it: squashes
    /// removed, the migrations they replace in the plan (see
    /// [`MigrationGraph::build_with`] without squashes). `None` when the tree has no squash.
    pub fn unsquashed(&self) -> Option<Project> {
        if !self.migrations.iter().any(|m| !m.replaces.is_empty()) {
            return None;
        }
        let (graph, nodes) = MigrationGraph::build_with(&self.migrations, false);
        Some(Project::with_graph(
            self.migrations.clone(),
            graph,
            &nodes,
            self.settings.clone(),
            self.duplicate_labels.clone(),
        ))
    }

    /// True when migration `index` is replaced by a squash of the tree (the main plan
    /// runs the squash instead).
    pub fn is_replaced(&self, index: usize) -> bool {
        self.migrations
            .get(index)
            .is_some_and(|m| self.graph.is_replaced(&m.app, &m.name))
    }

    /// True when migration `index` looks like the second half of an app's first migration
    /// as Django 1.7/1.8's `makemigrations` split it (Django < 1.9 wrote neither a
    /// `# Generated by Django` header nor `initial = True`): `0002_auto_<YYYYMMDD_HHMM>`,
    /// without that header or an `initial` attribute, whose parent in its app is the app's
    /// first migration, depending otherwise only on other apps' first migrations (or the
    /// user model), with another app among them (the split exists to break a dependency
    /// between new apps), and adding only relations (and `unique_together`/`index_together`)
    /// to models that first migration created. It ran with the initial migration, on tables
    /// with no rows; the shape alone cannot tell it from a relation added in the same way
    /// later, so findings on it become notes that say so.
    pub fn is_old_split_initial(&self, index: usize) -> bool {
        use operations::OpKind;
        let Some(m) = self.migrations.get(index) else {
            return false;
        };
        let Some(stamp) = m.name.strip_prefix("0002_auto_") else {
            return false;
        };
        let stamp = stamp.as_bytes();
        let timestamped = stamp.len() == 13
            && stamp[8] == b'_'
            && stamp
                .iter()
                .enumerate()
                .all(|(i, b)| i == 8 || b.is_ascii_digit());
        // Django 1.9+ writes it on the first line, or the second after a coding line.
        let header = m
            .source
            .text
            .lines()
            .take(3)
            .any(|l| l.starts_with("# Generated by Django"));
        if !timestamped || m.initial.is_some() || header {
            return false;
        }
        // Is the migration `i` the first of its app (no parent in its app)?
        let first_of_app = |i: usize| -> bool {
            let Some(f) = self.migrations.get(i) else {
                return false;
            };
            !f.dependencies.iter().any(|d| {
                matches!(d, migration::Dependency::Node { app, name, .. }
                    if *app == f.app && name != "__first__")
            })
        };
        let mut own_first = None;
        let mut other_app = false;
        for dependency in &m.dependencies {
            match dependency {
                migration::Dependency::Node { app, name, .. } => {
                    let target = self
                        .graph
                        .position(app, name)
                        .and_then(|node| self.by_node.get(node).copied().flatten());
                    if *app == m.app {
                        match target {
                            Some(t) if first_of_app(t) && own_first.is_none() => {
                                own_first = Some(t)
                            }
                            _ => return false,
                        }
                    } else {
                        other_app = true;
                        if name != "__first__" && !target.is_some_and(first_of_app) {
                            return false;
                        }
                    }
                }
                // The user model (`swappable_dependency`): `__first__` of its app.
                migration::Dependency::Unresolved { .. } => other_app = true,
            }
        }
        let Some(first) = own_first.and_then(|i| self.migrations.get(i)) else {
            return false;
        };
        if !other_app || m.operations.is_empty() {
            return false;
        }
        let created = |model: &str| {
            first.operations.iter().any(|o| {
                matches!(&o.kind, OpKind::CreateModel { name, .. } if name.eq_ignore_ascii_case(model))
            })
        };
        m.operations.iter().all(|o| match &o.kind {
            OpKind::AddField {
                model_name, field, ..
            } => (field.is_relation() || field.is_m2m()) && created(model_name),
            OpKind::AlterUniqueTogether { name, .. } | OpKind::AlterIndexTogether { name, .. } => {
                created(name)
            }
            _ => false,
        })
    }

    /// `nodes`: the graph's node of each migration (see [`MigrationGraph::build_with`]).
    fn with_graph(
        migrations: Arc<Vec<MigrationFile>>,
        graph: MigrationGraph,
        nodes: &[Option<usize>],
        settings: Settings,
        duplicate_labels: Vec<DuplicateLabel>,
    ) -> Project {
        // Graph nodes are the migrations' distinct keys; of two migrations with one key,
        // the later is found (as a map built from the list would).
        let mut by_node: Vec<Option<usize>> = vec![None; graph.len()];
        for (i, node) in nodes.iter().enumerate() {
            if let Some(slot) = node.and_then(|node| by_node.get_mut(node)) {
                *slot = Some(i);
            }
        }
        let plan = graph
            .plan_nodes()
            .into_iter()
            .filter_map(|node| by_node.get(node).copied().flatten())
            .collect();
        Project {
            migrations,
            by_node,
            plan,
            graph,
            settings,
            duplicate_labels,
        }
    }

    pub fn migration(&self, key: &MigrationKey) -> Option<&MigrationFile> {
        let index = self
            .graph
            .position(&key.0, &key.1)
            .and_then(|node| self.by_node[node])?;
        self.migrations.get(index)
    }

    /// Indexes into `migrations` in the graph's plan order (the order of every replay).
    pub fn plan_order(&self) -> &[usize] {
        &self.plan
    }

    /// Replay every migration in plan order, calling `visit` for each operation (also
    /// nested ones) before applying it. Returns the final state.
    pub fn replay(&self, visit: impl FnMut(&Visit<'_>)) -> ProjectState {
        self.replay_through(&|_| true, visit)
    }

    /// Replay in plan order up to and including the last migration `wanted` selects
    /// (by index into `migrations`): what comes after cannot change what it sees.
    pub fn replay_through(
        &self,
        wanted: &dyn Fn(usize) -> bool,
        visit: impl FnMut(&Visit<'_>),
    ) -> ProjectState {
        self.replay_with(wanted, visit, |_, _| {})
    }

    /// [`Project::replay_through`], also calling `done` with each migration's index once
    /// all its operations are replayed (migrations without operations included), and the
    /// replay so far (a copy of it can go on elsewhere: [`Project::resume`]).
    pub fn replay_with(
        &self,
        wanted: &dyn Fn(usize) -> bool,
        visit: impl FnMut(&Visit<'_>),
        done: impl FnMut(usize, &Replayed),
    ) -> ProjectState {
        self.resume(Replayed::default(), wanted, visit, done).state
    }

    /// [`Project::replay_with`] from a replay stopped part way (`from`, taken from the
    /// `done` of an earlier replay, or [`Replayed::default`] to start at the beginning),
    /// up to and including the last migration `wanted` selects; `done` sees the replay
    /// so far after each migration.
    pub fn resume(
        &self,
        from: Replayed,
        wanted: &dyn Fn(usize) -> bool,
        mut visit: impl FnMut(&Visit<'_>),
        mut done: impl FnMut(usize, &Replayed),
    ) -> Replayed {
        let plan = &self.plan;
        let end = plan.iter().rposition(|&i| wanted(i)).map_or(0, |p| p + 1);
        let mut replayed = from;
        while replayed.next < end {
            let Some(&index) = plan.get(replayed.next) else {
                break;
            };
            let Replayed {
                state, creators, ..
            } = &mut replayed;
            let migration = &self.migrations[index];
            let mut created_here = BTreeSet::new();
            if migration.initial == Some(true) {
                let fresh = self.fresh_ancestors(index);
                if !fresh.is_empty() {
                    created_here.extend(
                        creators
                            .iter()
                            .filter(|(_, c)| fresh.contains(c))
                            .map(|(k, _)| k.clone()),
                    );
                }
            }
            if migration
                .problems
                .iter()
                .any(|p| p.kind == migration::ProblemKind::UnreadableOperations)
            {
                state.mark_incomplete(&migration.app);
            }
            for op in &migration.operations {
                replay_op(
                    Replaying {
                        migration,
                        index,
                        effect: Effect::Both,
                        parent: None,
                    },
                    op,
                    state,
                    &mut created_here,
                    &mut visit,
                );
            }
            for key in created_here {
                creators.insert(key, index);
            }
            replayed.next += 1;
            done(index, &replayed);
        }
        replayed
    }

    /// The migrations (indexes) whose tables are still new when the initial migration
    /// `index` runs: initial ancestors it reaches through initial migrations only, that no
    /// other (non-initial) ancestor builds on. Django's two-part initials (`0002_initial`
    /// adding the foreign keys of `0001_initial`'s tables) and "migration zero" resets run
    /// on a fresh database only, where no old code uses those tables.
    fn fresh_ancestors(&self, index: usize) -> BTreeSet<usize> {
        let is_initial = |i: usize| {
            self.migrations
                .get(i)
                .is_some_and(|m| m.initial == Some(true))
        };
        let parents = |i: usize| -> Vec<usize> {
            let m = &self.migrations[i];
            self.graph
                .position(&m.app, &m.name)
                .map(|node| {
                    self.graph
                        .parent_nodes(node)
                        .iter()
                        .filter_map(|&p| self.by_node.get(p).copied().flatten())
                        .collect()
                })
                .unwrap_or_default()
        };
        let first = parents(index);
        if !first.iter().any(|&p| is_initial(p)) {
            return BTreeSet::new();
        }
        // Every ancestor, and those reached through initial migrations only.
        let (mut ancestors, mut through_initials) = (BTreeSet::new(), BTreeSet::new());
        let mut stack: Vec<(usize, bool)> = first.iter().map(|&p| (p, true)).collect();
        while let Some((node, initial_path)) = stack.pop() {
            let initial_path = initial_path && is_initial(node);
            let new_any = ancestors.insert(node);
            let new_initial = initial_path && through_initials.insert(node);
            if new_any || new_initial {
                stack.extend(parents(node).into_iter().map(|p| (p, initial_path)));
            }
        }
        // What a non-initial ancestor depends on may already hold data and old code.
        let mut built_on = BTreeSet::new();
        let mut stack: Vec<usize> = ancestors
            .iter()
            .filter(|a| !through_initials.contains(*a))
            .flat_map(|&a| parents(a))
            .collect();
        while let Some(node) = stack.pop() {
            if built_on.insert(node) {
                stack.extend(parents(node));
            }
        }
        through_initials.retain(|c| !built_on.contains(c));
        through_initials
    }
}

/// Where the replay is: which migration, and how the operation reaches the database.
#[derive(Clone, Copy)]
struct Replaying<'a> {
    migration: &'a MigrationFile,
    index: usize,
    effect: Effect,
    parent: Option<&'a Operation>,
}

fn replay_op<'a>(
    at: Replaying<'a>,
    op: &'a Operation,
    state: &mut ProjectState,
    created_here: &mut BTreeSet<ModelKey>,
    visit: &mut impl FnMut(&Visit<'_>),
) {
    let Replaying {
        migration,
        index,
        effect,
        ..
    } = at;
    visit(&Visit {
        migration,
        index,
        op,
        state,
        effect,
        created_here,
        parent: at.parent,
    });
    let nested = |effect| Replaying {
        effect,
        parent: Some(op),
        ..at
    };
    let app = migration.app.as_str();
    match &op.kind {
        OpKind::SeparateDatabaseAndState {
            database_operations,
            state_operations,
        } => {
            // Django interprets the database operations against their own copy of the state.
            let mut db_state = state.clone();
            let db_effect = if effect == Effect::StateOnly {
                Effect::StateOnly
            } else {
                Effect::DatabaseOnly
            };
            for inner in database_operations {
                replay_op(nested(db_effect), inner, &mut db_state, created_here, visit);
            }
            let state_effect = if effect == Effect::DatabaseOnly {
                Effect::DatabaseOnly
            } else {
                Effect::StateOnly
            };
            for inner in state_operations {
                replay_op(nested(state_effect), inner, state, created_here, visit);
            }
        }
        OpKind::RunSQL {
            state_operations, ..
        } => {
            let state_effect = if effect == Effect::DatabaseOnly {
                Effect::DatabaseOnly
            } else {
                Effect::StateOnly
            };
            for inner in state_operations {
                replay_op(nested(state_effect), inner, state, created_here, visit);
            }
        }
        OpKind::CreateModel { name, .. } => {
            created_here.insert(model_key(app, name));
            state.apply(app, op);
        }
        OpKind::RenameModel { old_name, new_name } => {
            if created_here.remove(&model_key(app, old_name)) {
                created_here.insert(model_key(app, new_name));
            }
            state.apply(app, op);
        }
        _ => state.apply(app, op),
    }
}

/// A migration file of the django module's tests: `<app>/migrations/<name>.py`, holding
/// `class Migration` with `body` (its attributes, indented) after the usual imports.
#[cfg(test)]
pub(crate) fn test_file(app: &str, name: &str, body: &str) -> (DiscoveredFile, String) {
    let path = PathBuf::from(format!("{app}/migrations/{name}.py"));
    let text = format!(
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n{body}"
    );
    (DiscoveredFile::at(path, None), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_whatever_came_before_on_the_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let files: [(&str, &[u8]); 4] = [
            ("small.py", b"print('hello')\n"),
            ("big.py", &big),
            ("empty.py", b""),
            ("after.py", b"x = 1\n"),
        ];
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            assert_eq!(read_file(&path).expect("read"), bytes, "{name}");
        }
        let missing = read_file(&dir.path().join("gone.py")).expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    fn write(root: &std::path::Path, path: &str, text: &[u8]) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn summary(p: &Project) -> Vec<(String, String, PathBuf)> {
        p.migrations
            .iter()
            .map(|m| (m.app.clone(), m.name.clone(), m.source.path.clone()))
            .collect()
    }

    /// The whole-tree load walks, reads and parses in one pass; the focused load does
    /// the steps one after the other. Both must agree: order, de-duplication of a file
    /// reached through two roots, and the shadowing of an app label claimed twice.
    #[test]
    fn one_pass_load_matches_the_step_by_step_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let initial = b"from django.db import migrations\nclass Migration(migrations.Migration):\n    operations = []\n";
        write(root, "b/shop/migrations/0001_initial.py", initial);
        write(
            root,
            "b/shop/migrations/0002_more.py",
            b"class Migration:\n    dependencies = [('shop', '0001_initial')]\n",
        );
        write(root, "a/shop/migrations/0001_initial.py", initial);
        write(root, "blog/migrations/0001_initial.py", initial);
        // Not UTF-8: read lossily, never an error.
        write(
            root,
            "blog/migrations/0002_latin1.py",
            b"# caf\xe9\nclass Migration:\n    pass\n",
        );
        let roots = vec![root.to_path_buf(), root.join("blog")];

        let walked = Project::load(&roots, Settings::default()).expect("load");
        let everything: BTreeSet<PathBuf> = discover::discover(&roots, &Default::default())
            .expect("discover")
            .into_iter()
            .map(|f| f.path.canonicalize().expect("canonical"))
            .collect();
        let stepped =
            Project::load_focused(&roots, Settings::default(), Some(&everything)).expect("load");

        let got = summary(&walked);
        assert_eq!(got, summary(&stepped));
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|(app, name, _)| (app.as_str(), name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("blog", "0001_initial"),
                ("blog", "0002_latin1"),
                ("shop", "0001_initial"),
            ],
            "blog's files come once though two roots reach them; b/shop is shadowed by a/shop"
        );
        assert!(got[2].2.starts_with(root.join("a")));
        assert_eq!(walked.duplicate_labels.len(), 1);
        assert_eq!(walked.duplicate_labels[0].app, "shop");
        assert_eq!(stepped.duplicate_labels.len(), 1);
        let latin1 = &walked.migrations[1];
        assert!(latin1.source.text.contains("caf\u{fffd}"));
    }

    /// What a replay visits and ends in, going on from a copy of another replay taken
    /// after any migration, is what one whole replay visits and ends in: the state and
    /// the models each migration created (a two-part initial after the copy still knows
    /// its first part's models as new).
    #[test]
    fn a_replay_resumed_from_a_copy_is_the_whole_replay() {
        let sources = vec![
            test_file("shop", "0001_initial", "    initial = True\n    dependencies = []\n    operations = [\n        migrations.CreateModel('Book', [('id', models.AutoField(primary_key=True)), ('title', models.TextField())]),\n        migrations.CreateModel('Shelf', [('id', models.AutoField(primary_key=True))]),\n    ]\n"),
            test_file("shop", "0002_initial", "    initial = True\n    dependencies = [('shop', '0001_initial')]\n    operations = [migrations.AddField('book', 'shelf', models.ForeignKey('shop.shelf', on_delete=models.CASCADE))]\n"),
            test_file("shop", "0003_isbn", "    dependencies = [('shop', '0002_initial')]\n    operations = [\n        migrations.SeparateDatabaseAndState(database_operations=[migrations.RunSQL('SELECT 1')], state_operations=[migrations.AddField('book', 'isbn', models.TextField(null=True))]),\n        migrations.RemoveField('book', 'title'),\n    ]\n"),
            test_file("library", "0001_initial", "    initial = True\n    dependencies = [('shop', '0001_initial')]\n    operations = [migrations.CreateModel('Loan', [('id', models.AutoField(primary_key=True)), ('book', models.ForeignKey('shop.book', on_delete=models.CASCADE))])]\n"),
            test_file("library", "0002_due", "    dependencies = [('library', '0001_initial'), ('shop', '0003_isbn')]\n    operations = [migrations.DeleteModel('Loan')]\n"),
        ];
        let project = Project::from_sources(sources, Settings::default());
        assert_eq!(project.plan_order().len(), 5);
        type Seen = Vec<(usize, u32, Effect, Vec<ModelKey>)>;
        let record = |seen: &mut Seen, visit: &Visit<'_>| {
            let created = visit.created_here.iter().cloned().collect();
            seen.push((
                visit.index,
                visit.op.range().start().into(),
                visit.effect,
                created,
            ));
        };
        let models = |state: &ProjectState| -> Vec<String> {
            state.models().map(|m| format!("{m:?}")).collect()
        };
        let whole: std::cell::RefCell<Seen> = Default::default();
        let mut copies = Vec::new();
        let end = project.resume(
            Replayed::default(),
            &|_| true,
            |visit| record(&mut whole.borrow_mut(), visit),
            |_, replayed| copies.push((replayed.clone(), whole.borrow().len())),
        );
        let whole = whole.into_inner();
        assert!(
            whole.iter().any(|(.., created)| created.len() == 2),
            "{whole:?}"
        );
        for (copy, visited) in copies {
            let at = copy.next();
            let mut rest: Seen = Vec::new();
            let resumed =
                project.resume(copy, &|_| true, |visit| record(&mut rest, visit), |_, _| {});
            assert_eq!(rest, whole[visited..], "resumed after {at} migrations");
            assert_eq!(models(&resumed.state), models(&end.state), "after {at}");
        }
    }
}
