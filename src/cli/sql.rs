//! `migrail sql`: the SQL Django runs for migrations, rendered statically, with the lock
//! each statement takes (like `manage.py sqlmigrate`, without Django or a database).

use crate::django::schema_editor;
use crate::report;

use super::resolve::resolve;
use super::{write_stdout, CliError, PlanArgs, ScopeArgs, TextOrJson, EXIT_OK};

pub fn run_sql(args: &PlanArgs) -> Result<u8, CliError> {
    // `APP NAME` as sqlmigrate takes them, when the first word is not a path.
    let by_name = match args.scope.paths.as_slice() {
        [app, name] if !app.exists() => Some((
            app.to_string_lossy().into_owned(),
            name.to_string_lossy().into_owned(),
        )),
        _ => None,
    };
    let scope = ScopeArgs {
        paths: if by_name.is_some() {
            Vec::new()
        } else {
            args.scope.paths.clone()
        },
        all: args.scope.all || by_name.is_some(),
        base: args.scope.base.clone(),
        root: args.scope.root.clone(),
    };
    let r = resolve(&scope, &args.config, &[], &[], false)?;
    if !r.project.settings.database.is_postgresql() {
        return Err(CliError::usage(format!(
            "the database is {}: `migrail sql` renders PostgreSQL's SQL only; `python manage.py \
             sqlmigrate APP NAME` prints what Django runs on it",
            r.project.settings.database.label()
        )));
    }
    let wanted: Vec<bool> = match &by_name {
        Some((app, name)) => {
            let exact: Vec<usize> = (0..r.project.migrations.len())
                .filter(|&i| {
                    let m = &r.project.migrations[i];
                    m.app == *app && m.name == *name
                })
                .collect();
            let found = if exact.is_empty() {
                (0..r.project.migrations.len())
                    .filter(|&i| {
                        let m = &r.project.migrations[i];
                        m.app == *app && m.name.starts_with(name.as_str())
                    })
                    .collect()
            } else {
                exact
            };
            match found.as_slice() {
                [one] => (0..r.project.migrations.len()).map(|i| i == *one).collect(),
                [] => {
                    return Err(CliError::usage(format!(
                        "no migration `{name}` in app `{app}` (name a migration file, or APP \
                         NAME as `sqlmigrate` takes them)"
                    )))
                }
                several => {
                    return Err(CliError::usage(format!(
                        "`{name}` names {} migrations of `{app}`: give more of the name",
                        several.len()
                    )))
                }
            }
        }
        None => r
            .project
            .migrations
            .iter()
            .map(|m| r.review.includes(m))
            .collect(),
    };
    let rendered = schema_editor::render(&r.project, &|i| wanted[i]);
    let out = match args.format {
        TextOrJson::Text => report::sql::text(&rendered),
        TextOrJson::Json => report::sql::json(&rendered),
    };
    write_stdout(&out)?;
    Ok(EXIT_OK)
}
