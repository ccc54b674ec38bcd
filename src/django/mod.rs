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

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
        let files = discover::discover(roots)?;
        let sources = files
            .into_par_iter()
            .map(|f| match std::fs::read(&f.path) {
                Ok(bytes) => Ok((f, String::from_utf8_lossy(&bytes).into_owned())),
                Err(source) => Err(LoadError::Read {
                    path: f.path.clone(),
                    source,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Project::from_sources(sources, settings))
    }

    /// Build a project from already-read files (used by `load` and by tests).
    pub fn from_sources(sources: Vec<(DiscoveredFile, String)>, settings: Settings) -> Project {
        let mut dirs_by_label: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
        for (f, _) in &sources {
            dirs_by_label
                .entry(f.app.clone())
                .or_default()
                .insert(f.app_dir.clone());
        }
        let duplicate_labels: Vec<DuplicateLabel> = dirs_by_label
            .into_iter()
            .filter(|(_, dirs)| dirs.len() > 1)
            .map(|(app, dirs)| DuplicateLabel {
                app,
                dirs: dirs.into_iter().collect(),
            })
            .collect();
        // Of two folders with one label, the first (sorted) wins, as the error says.
        let shadowed: BTreeSet<PathBuf> = duplicate_labels
            .iter()
            .flat_map(|d| d.dirs.iter().skip(1).cloned())
            .collect();
        let migrations: Vec<MigrationFile> = sources
            .into_par_iter()
            .filter(|(f, _)| !shadowed.contains(&f.app_dir))
            .map(|(f, text)| {
                let source = Arc::new(SourceFile::new(f.path.clone(), text));
                parse_migration(&f.app, &f.name, source, &settings)
            })
            .collect();
        let by_key = migrations
            .iter()
            .enumerate()
            .map(|(i, m)| (m.key(), i))
            .collect();
        let graph = MigrationGraph::build(&migrations);
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
    pub fn replay(&self, mut visit: impl FnMut(&Visit<'_>)) -> ProjectState {
        let mut state = ProjectState::default();
        for key in self.graph.plan() {
            let Some(migration) = self.migration(&key) else {
                continue;
            };
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
                    migration,
                    op,
                    &mut state,
                    Effect::Both,
                    &mut created_here,
                    None,
                    &mut visit,
                );
            }
        }
        state
    }
}

fn replay_op(
    migration: &MigrationFile,
    op: &Operation,
    state: &mut ProjectState,
    effect: Effect,
    created_here: &mut BTreeSet<ModelKey>,
    parent: Option<&Operation>,
    visit: &mut impl FnMut(&Visit<'_>),
) {
    visit(&Visit {
        migration,
        op,
        state,
        effect,
        created_here,
        parent,
    });
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
                replay_op(
                    migration,
                    inner,
                    &mut db_state,
                    db_effect,
                    created_here,
                    Some(op),
                    visit,
                );
            }
            let state_effect = if effect == Effect::DatabaseOnly {
                Effect::DatabaseOnly
            } else {
                Effect::StateOnly
            };
            for inner in state_operations {
                replay_op(
                    migration,
                    inner,
                    state,
                    state_effect,
                    created_here,
                    Some(op),
                    visit,
                );
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
                replay_op(
                    migration,
                    inner,
                    state,
                    state_effect,
                    created_here,
                    Some(op),
                    visit,
                );
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
