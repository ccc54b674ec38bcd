//! The deploy plan of the reviewed migrations: which may run before the rollout of the
//! new code, which must wait until after it, and which block the deploy — in dependency
//! order.
//!
//! As django-safemigrate does, a migration that must run before the rollout but depends
//! on one that must wait until after it is blocked, and so is everything that depends on
//! a blocked migration. An `any` migration depending on a `post` one simply waits too.
//! Migrations that are not reviewed are taken as already applied.

use std::collections::HashMap;

use serde::Serialize;

use crate::django::migration::MigrationKey;
use crate::django::Project;

use super::phase::{Marker, Phase};
use super::rule::Severity;
use super::LintReport;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `migrail run --phase pre`, before the rollout.
    Before,
    /// `migrail run --phase post`, once no old task runs.
    After,
    /// Cannot be deployed as it is.
    Blocked,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub app: String,
    pub name: String,
    pub path: String,
    pub stage: Stage,
    pub phase: Phase,
    pub marker: Option<Marker>,
    /// Why the migration has this phase (its non-`any` operations) and, when blocked, why.
    pub reasons: Vec<String>,
    /// Error-level lint findings on the migration (the plan is only as safe as the lint).
    pub errors: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub deploy_phases: bool,
    /// Reviewed migrations in the order Django applies them.
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn stage(&self, stage: Stage) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.stage == stage)
    }

    pub fn blocked(&self) -> bool {
        self.steps.iter().any(|s| s.stage == Stage::Blocked)
    }
}

pub fn plan(project: &Project, report: &LintReport, deploy_phases: bool) -> Plan {
    let summaries: HashMap<MigrationKey, &super::MigrationSummary> = report
        .migrations
        .iter()
        .map(|m| ((m.app.clone(), m.name.clone()), m))
        .collect();
    let mut errors: HashMap<MigrationKey, usize> = HashMap::new();
    for f in report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        *errors
            .entry((f.app.clone(), f.migration.clone()))
            .or_default() += 1;
    }

    // The stage every migration is in, reviewed or not (unreviewed ones inherit the
    // latest stage of their parents, so a chain through them is still followed).
    let mut stages: HashMap<MigrationKey, Stage> = HashMap::new();
    let mut steps = Vec::new();
    for key in project.graph.plan() {
        let parents = project.graph.parents_of(&key);
        let latest = parents
            .iter()
            .filter_map(|p| stages.get(p).map(|s| (*s, p)))
            .max_by_key(|(s, _)| *s);
        let Some(summary) = summaries.get(&key).filter(|s| s.reviewed) else {
            stages.insert(key, latest.map_or(Stage::Before, |(s, _)| s));
            continue;
        };
        let Some(phase) = &summary.phase else {
            continue;
        };
        let mut reasons: Vec<String> = phase.operations.iter().map(|o| o.reason.clone()).collect();
        let label = |p: &MigrationKey| format!("{}.{}", p.0, p.1);
        let stage = match (phase.phase, latest) {
            (Phase::Never, _) => {
                if phase.mixed {
                    reasons.push(
                        "mixes operations that must run before the rollout with ones that must wait until after it: split it"
                            .into(),
                    );
                } else {
                    reasons
                        .push("unsafe before and after the rollout: needs several releases".into());
                }
                Stage::Blocked
            }
            (_, Some((Stage::Blocked, p))) => {
                reasons.push(format!("depends on {}, which is blocked", label(p)));
                Stage::Blocked
            }
            (Phase::Pre, Some((Stage::After, p))) => {
                reasons.push(format!(
                    "must run before the rollout but depends on {}, which must wait until after it",
                    label(p)
                ));
                Stage::Blocked
            }
            (Phase::Post, _) => Stage::After,
            (_, Some((Stage::After, p))) => {
                reasons.push(format!("waits for {}", label(p)));
                Stage::After
            }
            _ => Stage::Before,
        };
        stages.insert(key.clone(), stage);
        steps.push(Step {
            errors: errors.get(&key).copied().unwrap_or(0),
            app: key.0,
            name: key.1,
            path: summary.path.clone(),
            stage,
            phase: phase.phase,
            marker: phase.marker,
            reasons,
        });
    }
    Plan {
        deploy_phases,
        steps,
    }
}
