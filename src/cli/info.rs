//! `migrail rules`, `migrail rule NAME` and `migrail state`: what migrail knows.

use std::path::PathBuf;

use crate::django::Project;
use crate::lint::registry;

use super::{write_stdout, CliError, RulesArgs, StateArgs, TextOrJson, EXIT_OK};

pub fn run_rules(args: &RulesArgs) -> Result<u8, CliError> {
    let out = match args.format {
        TextOrJson::Json => {
            let rules: Vec<serde_json::Value> = registry::all()
                .iter()
                .map(|r| {
                    let m = r.meta();
                    serde_json::json!({
                        "name": m.name,
                        "severity": m.severity,
                        "axis": m.axis,
                        "engines": m.engines,
                        "summary": m.summary,
                    })
                })
                .collect();
            let doc = serde_json::json!({ "version": 1, "rules": rules });
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::usage(e.to_string()))? + "\n"
        }
        TextOrJson::Text => {
            let width = registry::all()
                .iter()
                .map(|r| r.meta().name.len())
                .max()
                .unwrap_or(0);
            let mut text = String::new();
            for r in registry::all() {
                let m = r.meta();
                let engines = match m.engines {
                    crate::lint::rule::Engines::All => "all",
                    crate::lint::rule::Engines::Postgresql => "postgresql",
                    crate::lint::rule::Engines::Mysql => "mysql",
                };
                text.push_str(&format!(
                    "{:width$}  {:7}  {:21}  {:10}  {}\n",
                    m.name,
                    m.severity.as_str(),
                    m.axis.as_str(),
                    engines,
                    m.summary
                ));
            }
            text
        }
    };
    write_stdout(&out)?;
    Ok(EXIT_OK)
}

pub fn run_rule(name: &str) -> Result<u8, CliError> {
    let Some(rule) = registry::find(name) else {
        return Err(CliError::usage(format!(
            "{}; `migrail rules` lists them",
            registry::unknown_rule_message(name)
        )));
    };
    let m = rule.meta();
    let out = format!(
        "# {}\n\nSeverity: {}. Axis: {}. Engines: {}.\n\n{}\n\n{}\n",
        m.name,
        m.severity.as_str(),
        m.axis.as_str(),
        m.engines.describe(),
        m.summary,
        m.doc.trim()
    );
    write_stdout(&out)?;
    Ok(EXIT_OK)
}

pub fn run_state(args: &StateArgs) -> Result<u8, CliError> {
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let settings = args.project.settings(None, &roots)?;
    let project = Project::load(&roots, settings).map_err(|e| CliError::usage(e.to_string()))?;
    let unsquashed = if args.unsquashed {
        project.unsquashed()
    } else {
        None
    };
    let state = unsquashed.as_ref().unwrap_or(&project).replay(|_| {});
    let doc = state.to_json(&project.settings);
    let out = match args.format {
        TextOrJson::Json => {
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::usage(e.to_string()))? + "\n"
        }
        TextOrJson::Text => doc
            .models
            .iter()
            .map(crate::report::schema::model_text)
            .collect(),
    };
    write_stdout(&out)?;
    Ok(EXIT_OK)
}
