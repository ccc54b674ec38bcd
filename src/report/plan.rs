//! The deploy plan (`migrail plan`) as text and as JSON (version 1).

use serde::Serialize;

use crate::lint::plan::{Plan, Stage, Step};

pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.steps.is_empty() {
        out.push_str("No migration to deploy.\n");
        return out;
    }
    let sections = [
        (
            Stage::Before,
            "Before the rollout (`migrail run --phase pre`)",
        ),
        (
            Stage::After,
            "After the rollout, once no old task runs (`migrail run --phase post`)",
        ),
        (Stage::Blocked, "Blocked: fix these before deploying"),
    ];
    for (stage, title) in sections {
        let steps: Vec<&Step> = plan.stage(stage).collect();
        if steps.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        let width = steps
            .iter()
            .map(|s| s.app.len() + s.name.len() + 1)
            .max()
            .unwrap_or(0);
        for s in steps {
            let label = format!("{}.{}", s.app, s.name);
            let marker = s
                .marker
                .map(|m| format!(" (marked {})", serde_plain(&m)))
                .unwrap_or_default();
            let errors = match s.errors {
                0 => String::new(),
                1 => "  [1 lint error]".to_string(),
                n => format!("  [{n} lint errors]"),
            };
            let line = format!("  {label:width$}  {:5}{marker}{errors}", s.phase.as_str());
            out.push_str(line.trim_end());
            out.push('\n');
            for r in &s.reasons {
                out.push_str(&format!("      {r}\n"));
            }
        }
        out.push('\n');
    }
    let count = |st| plan.stage(st).count();
    out.push_str(&format!(
        "{} before, {} after, {} blocked.",
        count(Stage::Before),
        count(Stage::After),
        count(Stage::Blocked)
    ));
    if count(Stage::After) > 0 && !plan.deploy_phases {
        out.push_str(
            " The `post` migrations are only safe if the pipeline runs them after the rollout \
             (`migrail run --phase post`); say so with `deploy-phases = true`.",
        );
    }
    out.push('\n');
    out
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Serialize)]
struct PlanDocument<'a> {
    version: u32,
    deploy_phases: bool,
    blocked: bool,
    steps: &'a [Step],
}

pub fn json(plan: &Plan) -> String {
    let doc = PlanDocument {
        version: 1,
        deploy_phases: plan.deploy_phases,
        blocked: plan.blocked(),
        steps: &plan.steps,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
