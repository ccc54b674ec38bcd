//! The models' state as text (`migrail state`), and the unified diff of the models the
//! reviewed migrations touch: their state before the first reviewed operation and after
//! the last, for the PR comment.

use std::collections::BTreeMap;

use crate::django::state::{ModelDocument, ProjectState};
use crate::django::Project;
use crate::lint::Review;

/// One model, as `migrail state` prints it.
pub fn model_text(m: &ModelDocument) -> String {
    let unknown = || "?".to_string();
    let mut text = format!(
        "{}.{}  table {}\n",
        m.app,
        m.name,
        m.table.clone().unwrap_or_else(unknown)
    );
    for f in &m.fields {
        let flag = |v: Option<bool>, word: &str| match v {
            Some(true) => format!(" {word}"),
            Some(false) => String::new(),
            None => format!(" {word}?"),
        };
        text.push_str(&format!(
            "    {:24} {:28} column {}{}{}{}{}{}\n",
            f.name,
            f.class,
            f.column.clone().unwrap_or_else(|| "-".to_string()),
            flag(f.primary_key, "primary_key"),
            flag(f.null, "null"),
            flag(f.unique, "unique"),
            flag(f.db_index, "db_index"),
            if f.has_db_default { " db_default" } else { "" },
        ));
    }
    text
}

fn models(state: &ProjectState, project: &Project) -> BTreeMap<String, String> {
    state
        .to_json(&project.settings)
        .models
        .iter()
        .map(|m| (format!("{}.{}", m.app, m.name), model_text(m)))
        .collect()
}

/// Record the models a migration changed: their text before it (the first time) and mark
/// them touched.
fn record(
    before: BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    first_before: &mut BTreeMap<String, String>,
) {
    for key in before.keys().chain(after.keys()) {
        if before.get(key) != after.get(key) {
            first_before
                .entry(key.clone())
                .or_insert_with(|| before.get(key).cloned().unwrap_or_default());
        }
    }
}

/// The unified diff of every model the reviewed migrations change: its state just before
/// the first reviewed migration that changes it, and after the last reviewed migration.
/// Empty when they change none.
pub fn diff(project: &Project, review: &Review) -> String {
    let reviewed: Vec<bool> = project
        .migrations
        .iter()
        .map(|m| review.includes(m))
        .collect();
    let mut first_before: BTreeMap<String, String> = BTreeMap::new();
    // The reviewed migration being replayed, with every model's text before it.
    let mut current: Option<(usize, BTreeMap<String, String>)> = None;
    let after = project.replay_through(&|i| reviewed[i], |v| {
        if current.as_ref().map(|c| c.0) == Some(v.index) {
            return;
        }
        if let Some((_, before)) = current.take() {
            record(before, &models(v.state, project), &mut first_before);
        }
        if reviewed[v.index] {
            current = Some((v.index, models(v.state, project)));
        }
    });
    let after = models(&after, project);
    if let Some((_, before)) = current {
        record(before, &after, &mut first_before);
    }
    let mut out = String::new();
    for (key, old) in &first_before {
        let new = after.get(key).map_or("", String::as_str);
        if old == new {
            continue;
        }
        let diff = similar::TextDiff::from_lines(old.as_str(), new);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("{key} (before)"), &format!("{key} (after)"))
                .to_string(),
        );
    }
    out
}
