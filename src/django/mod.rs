//! The Django model of the world: migration files, the graph they form, and the model
//! state they build — all read statically, with no Django and no database.
//!
//! [`Project::load`] discovers the migration files under the given paths, parses them in
//! parallel and builds the [`graph::MigrationGraph`]; [`Project::replay`] walks the plan
//! in Django's order, handing each operation with the state just before it to a visitor.

pub mod discover;
pub mod fields;
pub mod graph;
pub mod migration;
pub mod operations;
pub mod python;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap as HashMap;
use std::path::PathBuf;
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
    let mut dirs_by_label: BTreeMap<&str, BTreeSet<&PathBuf>> = BTreeMap::new();
    for f in &files {
        dirs_by_label.entry(&f.app).or_default().insert(&f.app_dir);
    }
    let duplicate_labels: Vec<DuplicateLabel> = dirs_by_label
        .into_iter()
        .filter(|(_, dirs)| dirs.len() > 1)
        .map(|(app, dirs)| DuplicateLabel {
            app: app.to_string(),
            dirs: dirs.into_iter().cloned().collect(),
        })
        .collect();
    let shadowed: BTreeSet<PathBuf> = duplicate_labels
        .iter()
        .flat_map(|d| d.dirs.iter().skip(1).cloned())
        .collect();
    let kept = files
        .into_iter()
        .filter(|f| !shadowed.contains(&f.app_dir))
        .collect();
    (kept, duplicate_labels)
}

fn parse_one(f: &DiscoveredFile, text: String, settings: &Settings) -> MigrationFile {
    let source = Arc::new(SourceFile::new(f.path.clone(), text));
    parse_migration(&f.app, &f.name, source, settings)
}

/// Read and parse files in parallel.
fn read_and_parse(
    files: Vec<DiscoveredFile>,
    settings: &Settings,
) -> Result<Vec<MigrationFile>, LoadError> {
    files
        .into_par_iter()
        .map(|f| match std::fs::read(&f.path) {
            // Valid UTF-8 (nearly always) is taken as is, without a copy.
            Ok(bytes) => Ok(parse_one(
                &f,
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                settings,
            )),
            Err(source) => Err(LoadError::Read {
                path: f.path.clone(),
                source,
            }),
        })
        .collect()
}

#[derive(Debug)]
pub struct Project {
    pub migrations: Vec<MigrationFile>,
    by_key: HashMap<MigrationKey, usize>,
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
        let files = discover::discover(roots)?;
        timer.lap("discover");
        let (files, duplicate_labels) = drop_shadowed(files);
        let Some(focus) = focus else {
            let migrations = read_and_parse(files, &settings)?;
            timer.lap("read and parse");
            return Ok(Project::from_parsed(migrations, settings, duplicate_labels));
        };

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
        let by_key = migrations
            .iter()
            .enumerate()
            .map(|(i, m)| (m.key(), i))
            .collect();
        let graph = MigrationGraph::build(&migrations);
        timer.lap("graph");
        Project {
            migrations,
            by_key,
            graph,
            settings,
            duplicate_labels,
        }
    }

    pub fn migration(&self, key: &MigrationKey) -> Option<&MigrationFile> {
        self.by_key.get(key).map(|&i| &self.migrations[i])
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
        self.replay_with(wanted, visit, |_| {})
    }

    /// [`Project::replay_through`], also calling `done` with each migration's index once
    /// all its operations are replayed (migrations without operations included).
    pub fn replay_with(
        &self,
        wanted: &dyn Fn(usize) -> bool,
        mut visit: impl FnMut(&Visit<'_>),
        mut done: impl FnMut(usize),
    ) -> ProjectState {
        let plan: Vec<usize> = self
            .graph
            .plan()
            .iter()
            .filter_map(|k| self.by_key.get(k).copied())
            .collect();
        let end = plan.iter().rposition(|&i| wanted(i)).map_or(0, |p| p + 1);
        let mut state = ProjectState::default();
        for &index in &plan[..end] {
            let migration = &self.migrations[index];
            let mut created_here = BTreeSet::new();
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
                    &mut state,
                    &mut created_here,
                    &mut visit,
                );
            }
            done(index);
        }
        state
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
