//! The migration graph, built the way Django's `MigrationLoader` builds it for a
//! database where nothing is applied yet.
//!
//! Nodes are `(app_label, name)`; edges come from `dependencies` and `run_before`.
//! `__first__` / `__latest__` resolve to an app's root / leaf node, squashed migrations
//! stand in for the migrations they `replace`, and the plan is the order Django would
//! apply them in. Problems Django would refuse to migrate with (a missing dependency,
//! two leaves in one app, a cycle) are collected as [`GraphIssue`]s for the linter.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

use ruff_text_size::TextRange;

use super::migration::{Dependency, MigrationFile, MigrationKey};

#[derive(Clone, Debug, PartialEq)]
pub enum GraphIssue {
    /// A dependency on a migration of a scanned app that does not exist.
    MissingDependency {
        from: MigrationKey,
        app: String,
        name: String,
        range: TextRange,
    },
    /// A dependency on an app outside the scanned tree: its history is unknown.
    ExternalDependency {
        from: MigrationKey,
        app: String,
        name: String,
        range: TextRange,
    },
    /// A swappable dependency on a setting migrail cannot resolve.
    UnresolvedDependency {
        from: MigrationKey,
        text: String,
        range: TextRange,
    },
    /// More than one migration of an app that no other migration of the app depends on.
    MultipleLeaves { app: String, leaves: Vec<String> },
    /// Migrations that depend on each other in a cycle (Django raises CircularDependencyError).
    Cycle { nodes: Vec<MigrationKey> },
}

/// What a migration's dependency on another migration of its own app comes to, as
/// Django adds those edges first: the node it names, or none of that name. Any other
/// dependency waits until those edges are in.
#[derive(Clone, Copy)]
enum SameApp {
    Edge(usize),
    Missing,
    Later,
}

/// A node's parents or children: a sorted set of node ids, kept in a plain vector
/// (nodes have few edges; a `BTreeSet` node per migration cost more than the lookups).
#[derive(Clone, Debug, Default)]
struct Edges(Vec<usize>);

impl Edges {
    fn insert(&mut self, node: usize) {
        if let Err(at) = self.0.binary_search(&node) {
            self.0.insert(at, node);
        }
    }

    fn remove(&mut self, node: &usize) {
        if let Ok(at) = self.0.binary_search(node) {
            self.0.remove(at);
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, usize> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Edges {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[derive(Debug, Default)]
pub struct MigrationGraph {
    /// Keys in sorted order; index = node id.
    keys: Vec<MigrationKey>,
    /// Each app's nodes (a run of `keys`): a lookup by app, then a search among the
    /// app's own names, instead of a search comparing both strings over every node.
    apps: HashMap<String, std::ops::Range<usize>>,
    parents: Vec<Edges>,
    children: Vec<Edges>,
    removed: Vec<bool>,
    /// Squashed-away nodes -> the squash that replaced them.
    replaced_by: BTreeMap<MigrationKey, MigrationKey>,
    pub issues: Vec<GraphIssue>,
    /// Migration -> indexes into `issues` of the issues that concern it.
    issues_by_migration: HashMap<MigrationKey, Vec<usize>>,
}

impl GraphIssue {
    /// The migrations this issue concerns (where it is reported).
    pub fn migrations(&self) -> Vec<MigrationKey> {
        match self {
            GraphIssue::MissingDependency { from, .. }
            | GraphIssue::ExternalDependency { from, .. }
            | GraphIssue::UnresolvedDependency { from, .. } => vec![from.clone()],
            GraphIssue::MultipleLeaves { app, leaves } => {
                leaves.iter().map(|l| (app.clone(), l.clone())).collect()
            }
            GraphIssue::Cycle { nodes } => nodes.clone(),
        }
    }
}

impl MigrationGraph {
    /// Build the graph of `migrations` (any order). The position of each migration in the
    /// slice is irrelevant; node ids follow the sorted keys.
    pub fn build(migrations: &[MigrationFile]) -> MigrationGraph {
        MigrationGraph::build_with(migrations, true).0
    }

    /// [`MigrationGraph::build`], and the node of each of `migrations` as
    /// [`MigrationGraph::positions`] gives it (found once: on a large tree the search reads
    /// every migration's key again). Without `squashes`, the graph of a database that
    /// applied part of a squashed range: Django removes the squash and keeps the
    /// migrations it replaces, repointing what depended on the squash to the last replaced
    /// migration (`MigrationGraph.remove_replacement_node`). Used to replay and lint
    /// replaced chains on their own history; its issues are not reported.
    pub fn build_with(
        migrations: &[MigrationFile],
        squashes: bool,
    ) -> (MigrationGraph, Vec<Option<usize>>) {
        let mut graph = MigrationGraph::default();
        let mut keys: Vec<MigrationKey> = migrations.iter().map(MigrationFile::key).collect();
        keys.sort();
        keys.dedup();
        graph.parents = vec![Edges::default(); keys.len()];
        graph.children = vec![Edges::default(); keys.len()];
        graph.removed = vec![false; keys.len()];
        graph.keys = keys;
        let mut start = 0;
        for end in 1..=graph.keys.len() {
            if graph
                .keys
                .get(end)
                .is_none_or(|k| k.0 != graph.keys[start].0)
            {
                graph.apps.insert(graph.keys[start].0.clone(), start..end);
                start = end;
            }
        }

        // Django adds same-app edges first so that `__first__`/`__latest__` of other apps
        // resolve against a graph that already knows each app's own chain.
        let mut deferred: Vec<(usize, &Dependency, bool)> = Vec::new();
        let mut missing: Vec<(MigrationKey, String, String, TextRange)> = Vec::new();
        // No node is removed yet: every migration's node is live. The same-app lookups
        // read each migration's dependencies where the parse left them, scattered in
        // memory: they are made on all cores, one answer per dependency in order, and the
        // edges then added in that order.
        let graph_now = &graph;
        let same_app: Vec<SameApp> = migrations
            .par_iter()
            .flat_map_iter(|m| {
                m.dependencies.iter().map(move |dep| match dep {
                    Dependency::Node { app, name, .. }
                        if app == &m.app && !name.starts_with("__") =>
                    {
                        graph_now
                            .find(app, name)
                            .map_or(SameApp::Missing, SameApp::Edge)
                    }
                    _ => SameApp::Later,
                })
            })
            .collect();
        let ids = graph.positions(migrations);
        let mut answered = 0;
        for (m, &id) in migrations.iter().zip(&ids) {
            let answers = same_app
                .get(answered..answered + m.dependencies.len())
                .unwrap_or_default();
            answered += m.dependencies.len();
            let Some(id) = id else {
                continue;
            };
            for (dep, answer) in m.dependencies.iter().zip(answers) {
                match (answer, dep) {
                    (SameApp::Edge(parent), _) => graph.add_edge(id, *parent),
                    (SameApp::Missing, Dependency::Node { app, name, range }) => {
                        missing.push((m.key(), app.clone(), name.clone(), *range))
                    }
                    _ => deferred.push((id, dep, false)),
                }
            }
            for dep in &m.run_before {
                deferred.push((id, dep, true));
            }
        }
        for (id, dep, run_before) in deferred {
            let from = graph.keys[id].clone();
            match dep {
                Dependency::Unresolved { text, range } => {
                    graph.issues.push(GraphIssue::UnresolvedDependency {
                        from,
                        text: text.clone(),
                        range: *range,
                    })
                }
                Dependency::Node { app, name, range } => {
                    if !graph.apps.contains_key(app.as_str()) {
                        graph.issues.push(GraphIssue::ExternalDependency {
                            from,
                            app: app.clone(),
                            name: name.clone(),
                            range: *range,
                        });
                        continue;
                    }
                    let target = match name.as_str() {
                        "__first__" => graph.app_nodes(app, true).first().copied(),
                        "__latest__" => graph.app_nodes(app, false).first().copied(),
                        _ => graph.find(app, name),
                    };
                    match (target, run_before) {
                        (Some(t), false) => graph.add_edge(id, t),
                        (Some(t), true) => graph.add_edge(t, id),
                        (None, _) => missing.push((from, app.clone(), name.clone(), *range)),
                    }
                }
            }
        }

        if !squashes {
            for m in migrations.iter().filter(|m| !m.replaces.is_empty()) {
                if let Some(squash) = graph.find(&m.app, &m.name) {
                    let last = m.replaces.iter().rev().find_map(|r| graph.find(&r.0, &r.1));
                    graph.remove_replacement(squash, last);
                }
            }
        }
        // Squashed migrations replace their targets (nothing applied: all unapplied).
        for m in migrations
            .iter()
            .filter(|m| squashes && !m.replaces.is_empty())
        {
            let Some(squash) = graph.find(&m.app, &m.name) else {
                continue;
            };
            for replaced in &m.replaces {
                graph.replaced_by.insert(replaced.clone(), m.key());
            }
            for replaced in &m.replaces {
                if let Some(old) = graph.find(&replaced.0, &replaced.1) {
                    graph.remove_replaced(old, squash);
                }
            }
        }
        for (from, app, name, range) in missing {
            let key = (app.clone(), name.clone());
            match graph
                .replaced_by
                .get(&key)
                .and_then(|k| graph.find(&k.0, &k.1))
            {
                Some(squash) if !graph.is_removed(squash) => {
                    if let Some(id) = graph.find(&from.0, &from.1) {
                        if !graph.is_removed(id) && id != squash {
                            graph.add_edge(id, squash);
                        }
                    }
                }
                _ => graph.issues.push(GraphIssue::MissingDependency {
                    from,
                    app,
                    name,
                    range,
                }),
            }
        }

        graph.detect_cycles();
        graph.detect_conflicts();
        for (i, issue) in graph.issues.iter().enumerate() {
            for key in issue.migrations() {
                graph.issues_by_migration.entry(key).or_default().push(i);
            }
        }
        (graph, ids)
    }

    /// The node of `app`'s migration `name`, squashed away or not.
    pub fn position(&self, app: &str, name: &str) -> Option<usize> {
        let range = self.apps.get(app)?;
        let nodes = self.keys.get(range.clone())?;
        nodes
            .binary_search_by(|k| k.1.as_str().cmp(name))
            .ok()
            .map(|i| range.start + i)
    }

    /// The node of each migration of `migrations` (as [`MigrationGraph::position`]). A
    /// loaded tree lists its migrations in key order, as the nodes are: then one merge
    /// walk finds them all, else each is searched for.
    pub fn positions(&self, migrations: &[MigrationFile]) -> Vec<Option<usize>> {
        fn key(m: &MigrationFile) -> (&str, &str) {
            (&m.app, &m.name)
        }
        if !migrations.is_sorted_by(|a, b| key(a) <= key(b)) {
            return migrations
                .iter()
                .map(|m| self.position(&m.app, &m.name))
                .collect();
        }
        let mut node = 0;
        migrations
            .iter()
            .map(|m| {
                let wanted = key(m);
                while self
                    .keys
                    .get(node)
                    .is_some_and(|k| (k.0.as_str(), k.1.as_str()) < wanted)
                {
                    node += 1;
                }
                let k = self.keys.get(node)?;
                ((k.0.as_str(), k.1.as_str()) == wanted).then_some(node)
            })
            .collect()
    }

    /// How many nodes (distinct migration keys) the graph has.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The live node of `app`'s migration `name`: keys are sorted, so a binary search
    /// finds it without building a key.
    fn find(&self, app: &str, name: &str) -> Option<usize> {
        self.position(app, name).filter(|&i| !self.is_removed(i))
    }

    fn add_edge(&mut self, child: usize, parent: usize) {
        if child != parent {
            self.parents[child].insert(parent);
            self.children[parent].insert(child);
        }
    }

    /// Remove `old` (replaced by `squash`), repointing its edges to the squash.
    fn remove_replaced(&mut self, old: usize, squash: usize) {
        let children = std::mem::take(&mut self.children[old]);
        let parents = std::mem::take(&mut self.parents[old]);
        for c in children.0 {
            self.parents[c].remove(&old);
            if !self.replaced_by.contains_key(&self.keys[c]) {
                self.add_edge(c, squash);
            }
        }
        for p in parents.0 {
            self.children[p].remove(&old);
            // The squash inherits dependencies outside the replaced set.
            if !self.replaced_by.contains_key(&self.keys[p]) {
                self.add_edge(squash, p);
            }
        }
        self.removed[old] = true;
    }

    /// Remove the squash `squash`, its children depending on `last` (the last replaced
    /// migration present) instead.
    fn remove_replacement(&mut self, squash: usize, last: Option<usize>) {
        let children = std::mem::take(&mut self.children[squash]);
        let parents = std::mem::take(&mut self.parents[squash]);
        for c in children.0 {
            self.parents[c].remove(&squash);
            if let Some(last) = last {
                self.add_edge(c, last);
            }
        }
        for p in parents.0 {
            self.children[p].remove(&squash);
        }
        self.removed[squash] = true;
    }

    fn is_removed(&self, id: usize) -> bool {
        self.removed[id]
    }

    /// The live nodes of `app` with no parent (`roots`) or no child (leaves) in the same app.
    /// The node ids of `app`: keys are sorted, so they are one contiguous range.
    fn app_range(&self, app: &str) -> std::ops::Range<usize> {
        self.apps.get(app).cloned().unwrap_or(0..0)
    }

    fn app_nodes(&self, app: &str, roots: bool) -> Vec<usize> {
        self.ends_of(self.app_range(app), roots)
    }

    /// The live nodes of one app's run of nodes (`range`) that no other node of the app
    /// depends on (`roots`: that depend on no other node of the app).
    fn ends_of(&self, range: std::ops::Range<usize>, roots: bool) -> Vec<usize> {
        range
            .clone()
            .filter(|&i| !self.is_removed(i))
            .filter(|&i| {
                let edges = if roots {
                    &self.parents[i]
                } else {
                    &self.children[i]
                };
                edges.iter().all(|j| !range.contains(j))
            })
            .collect()
    }

    fn detect_conflicts(&mut self) {
        // By app name, as the keys are sorted.
        let mut apps: Vec<(&String, &std::ops::Range<usize>)> = self.apps.iter().collect();
        apps.sort_unstable_by_key(|(_, range)| range.start);
        let mut found = Vec::new();
        for (app, range) in apps {
            let leaves = self.ends_of(range.clone(), false);
            if leaves.len() > 1 {
                let leaves = leaves.into_iter().map(|i| self.keys[i].1.clone()).collect();
                found.push(GraphIssue::MultipleLeaves {
                    app: app.clone(),
                    leaves,
                });
            }
        }
        self.issues.extend(found);
    }

    fn detect_cycles(&mut self) {
        // Iterative three-colour DFS over parent edges.
        let n = self.keys.len();
        let mut colour = vec![0u8; n];
        let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
        for start in 0..n {
            if colour[start] != 0 || self.is_removed(start) {
                continue;
            }
            let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, self.parents[start].0.clone())];
            colour[start] = 1;
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(next) if colour[next] == 0 => {
                        colour[next] = 1;
                        stack.push((next, self.parents[next].0.clone()));
                    }
                    Some(next) if colour[next] == 1 => {
                        let pos = stack.iter().position(|(k, _)| *k == next).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[pos..].iter().map(|(k, _)| *k).collect();
                        cycle.sort();
                        if reported.insert(cycle.clone()) {
                            let nodes = cycle.iter().map(|&i| self.keys[i].clone()).collect();
                            self.issues.push(GraphIssue::Cycle { nodes });
                        }
                    }
                    Some(_) => {}
                    None => {
                        colour[node] = 2;
                        stack.pop();
                    }
                }
            }
        }
    }

    /// The order Django applies every migration in (its `_generate_plan` over all leaf
    /// nodes), robust to cycles.
    pub fn plan(&self) -> Vec<MigrationKey> {
        self.plan_nodes()
            .into_iter()
            .map(|node| self.keys[node].clone())
            .collect()
    }

    /// [`MigrationGraph::plan`] as positions in the sorted, de-duplicated keys of the
    /// migrations the graph was built from.
    pub fn plan_nodes(&self) -> Vec<usize> {
        let n = self.keys.len();
        let mut leaves: Vec<usize> = (0..n)
            .filter(|&i| !self.is_removed(i))
            .filter(|&i| {
                self.children[i]
                    .iter()
                    .all(|&c| self.keys[c].0 != self.keys[i].0)
            })
            .collect();
        leaves.sort_by(|a, b| self.keys[*a].cmp(&self.keys[*b]));
        // Nodes only reachable through cycles still get replayed, after the rest.
        leaves.extend((0..n).filter(|&i| !self.is_removed(i)));
        let mut done = vec![false; n];
        let mut on_stack = vec![false; n];
        let mut plan = Vec::with_capacity(n);
        for leaf in leaves {
            if done[leaf] {
                continue;
            }
            // Post-order DFS; parents visited in reverse sorted order, as Django's stack does.
            let mut stack: Vec<(usize, bool)> = vec![(leaf, false)];
            while let Some((node, processed)) = stack.pop() {
                if done[node] {
                    continue;
                }
                if processed {
                    done[node] = true;
                    on_stack[node] = false;
                    plan.push(node);
                } else if !on_stack[node] {
                    on_stack[node] = true;
                    stack.push((node, true));
                    for &p in &self.parents[node] {
                        if !done[p] && !on_stack[p] {
                            stack.push((p, false));
                        }
                    }
                }
            }
        }
        plan
    }

    /// The issues that concern migration `key`, in the order they were found.
    pub fn issues_of<'a>(
        &'a self,
        key: &MigrationKey,
    ) -> impl Iterator<Item = &'a GraphIssue> + 'a {
        self.issues_by_migration
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.issues.get(i))
    }

    pub fn contains(&self, key: &MigrationKey) -> bool {
        self.find(&key.0, &key.1).is_some()
    }

    /// Whether migration `name` of `app` was squashed away ([`MigrationGraph::replaced_by`]
    /// names the squash): asked of every migration of a tree, nearly always one without
    /// squashes, where no key is built to ask.
    pub fn is_replaced(&self, app: &str, name: &str) -> bool {
        !self.replaced_by.is_empty()
            && self
                .replaced_by(&(app.to_string(), name.to_string()))
                .is_some()
    }

    /// The squash that replaced `key`, if it was squashed away.
    pub fn replaced_by(&self, key: &MigrationKey) -> Option<&MigrationKey> {
        self.replaced_by.get(key).filter(|_| !self.contains(key))
    }

    /// The nodes `node` directly depends on.
    pub fn parent_nodes(&self, node: usize) -> &[usize] {
        self.parents.get(node).map_or(&[], |e| e.0.as_slice())
    }

    /// The live migrations `key` directly depends on.
    pub fn parents_of(&self, key: &MigrationKey) -> Vec<MigrationKey> {
        self.find(&key.0, &key.1)
            .map(|i| {
                self.parents[i]
                    .iter()
                    .map(|&p| self.keys[p].clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::migration::Settings;

    fn m(app: &str, name: &str, body: &str) -> MigrationFile {
        let (file, text) =
            crate::django::test_file(app, name, &format!("{body}\n    operations = []\n"));
        crate::django::parse_one(&file, text, &Settings::default())
    }

    fn k(app: &str, name: &str) -> MigrationKey {
        (app.to_string(), name.to_string())
    }

    #[test]
    fn positions_match_the_search_whether_or_not_the_list_is_sorted() {
        let sorted = vec![
            m("blog", "0001_a", ""),
            m("shop", "0001_a", ""),
            // A key twice (a label claimed by two folders): both find the one node.
            m("shop", "0001_a", ""),
            m("shop", "0002_b", ""),
            m("users", "0001_a", ""),
        ];
        let graph = MigrationGraph::build(&sorted);
        let searched = |ms: &[MigrationFile]| -> Vec<Option<usize>> {
            ms.iter().map(|x| graph.position(&x.app, &x.name)).collect()
        };
        assert_eq!(graph.positions(&sorted), searched(&sorted));
        assert_eq!(
            graph.positions(&sorted),
            vec![Some(0), Some(1), Some(1), Some(2), Some(3)]
        );
        let mut unsorted = sorted;
        unsorted.reverse();
        unsorted.push(m("zoo", "0001_a", ""));
        assert_eq!(graph.positions(&unsorted), searched(&unsorted));
        assert_eq!(graph.positions(&unsorted).last(), Some(&None));
        // Not in the graph, but in order: the walk reports it missing and goes on.
        let gaps = vec![
            m("a", "0001_a", ""),
            m("blog", "0001_a", ""),
            m("blog", "0009_z", ""),
            m("users", "0001_a", ""),
        ];
        assert_eq!(graph.positions(&gaps), vec![None, Some(0), None, Some(3)]);
    }

    #[test]
    fn plans_dependencies_first_across_apps() {
        let ms = vec![
            m(
                "shop",
                "0002_b",
                "    dependencies = [('shop', '0001_a'), ('users', '__latest__')]",
            ),
            m(
                "shop",
                "0001_a",
                "    dependencies = [('users', '__first__')]",
            ),
            m("users", "0001_a", "    dependencies = []"),
            m(
                "users",
                "0002_b",
                "    dependencies = [('users', '0001_a')]",
            ),
        ];
        let g = MigrationGraph::build(&ms);
        assert!(g.issues.is_empty(), "{:?}", g.issues);
        let plan = g.plan();
        let pos = |key: MigrationKey| plan.iter().position(|p| *p == key).expect("planned");
        assert!(pos(k("users", "0001_a")) < pos(k("shop", "0001_a")));
        assert!(pos(k("users", "0002_b")) < pos(k("shop", "0002_b")));
        assert_eq!(plan.len(), 4);
    }

    #[test]
    fn reports_missing_dependencies_and_conflicts() {
        let ms = vec![
            m("shop", "0001_a", "    dependencies = []"),
            m("shop", "0002_b", "    dependencies = [('shop', '0001_a')]"),
            m("shop", "0002_c", "    dependencies = [('shop', '0001_a'), ('shop', '0001_zzz'), ('payments', '0001_initial')]"),
        ];
        let g = MigrationGraph::build(&ms);
        assert!(g
            .issues
            .iter()
            .any(|i| matches!(i, GraphIssue::MultipleLeaves { leaves, .. } if leaves.len() == 2)));
        assert!(g.issues.iter().any(
            |i| matches!(i, GraphIssue::MissingDependency { name, .. } if name == "0001_zzz")
        ));
        assert!(g
            .issues
            .iter()
            .any(|i| matches!(i, GraphIssue::ExternalDependency { app, .. } if app == "payments")));
    }

    #[test]
    fn squashed_migrations_replace_their_targets() {
        let ms = vec![
            m("shop", "0001_a", "    dependencies = []"),
            m("shop", "0002_b", "    dependencies = [('shop', '0001_a')]"),
            m(
                "shop",
                "0001_squashed_0002_b",
                "    replaces = [('shop', '0001_a'), ('shop', '0002_b')]",
            ),
            m("shop", "0003_c", "    dependencies = [('shop', '0002_b')]"),
            m("other", "0001_x", "    dependencies = [('shop', '0001_a')]"),
        ];
        let g = MigrationGraph::build(&ms);
        assert!(g.issues.is_empty(), "{:?}", g.issues);
        let plan = g.plan();
        assert!(!plan.contains(&k("shop", "0001_a")));
        assert!(!plan.contains(&k("shop", "0002_b")));
        assert_eq!(
            g.parents_of(&k("shop", "0003_c")),
            vec![k("shop", "0001_squashed_0002_b")]
        );
        assert_eq!(
            g.parents_of(&k("other", "0001_x")),
            vec![k("shop", "0001_squashed_0002_b")]
        );
    }

    #[test]
    fn run_before_adds_a_reverse_edge() {
        let ms = vec![
            m("a", "0001_x", "    run_before = [('b', '0001_y')]"),
            m("b", "0001_y", "    dependencies = []"),
        ];
        let g = MigrationGraph::build(&ms);
        assert_eq!(g.parents_of(&k("b", "0001_y")), vec![k("a", "0001_x")]);
    }

    #[test]
    fn cycles_are_reported_and_planning_terminates() {
        let ms = vec![
            m("a", "0001_x", "    dependencies = [('a', '0002_y')]"),
            m("a", "0002_y", "    dependencies = [('a', '0001_x')]"),
        ];
        let g = MigrationGraph::build(&ms);
        assert!(g
            .issues
            .iter()
            .any(|i| matches!(i, GraphIssue::Cycle { nodes } if nodes.len() == 2)));
        assert_eq!(g.plan().len(), 2);
    }
}
