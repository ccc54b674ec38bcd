//! The configuration file: `[tool.migrail]` in `pyproject.toml`, or `migrail.toml`.
//!
//! Found by walking up from the working directory: in each folder `migrail.toml` wins,
//! then a `pyproject.toml` that has a `[tool.migrail]` table (one without it is skipped,
//! as ruff does). `--config FILE` names the file; `--no-config` ignores them all.
//! Every key is documented in [`KEYS`] (the manual's generated reference); an unknown key, an unknown
//! rule name or a bad value is an error naming the key and the file. Command-line flags
//! win over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::lint::registry;
use crate::lint::rule::Severity;

/// The keys of `[tool.migrail]` / `migrail.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Only these rules.
    pub select: Option<Vec<String>>,
    /// Not these rules.
    pub ignore: Option<Vec<String>>,
    /// Per-rule severity: `{ "add-index-not-concurrently" = "error" }`.
    pub severity: Option<BTreeMap<String, SeverityName>>,
    /// Globs (relative to the file's folder) of migrations never reported.
    pub exclude: Option<Vec<String>>,
    pub warnings_as_errors: Option<bool>,
    /// The pipeline runs `pre` migrations before the rollout and `post` ones after it.
    pub deploy_phases: Option<bool>,
    /// The database the rules judge for: `postgresql`, `mysql` or `mariadb` (default: what
    /// the settings' `DATABASES["default"]["ENGINE"]` names, else PostgreSQL).
    pub database: Option<String>,
    /// Its server version: `8.0.36`, `8.4`, `5.7`, `10.11`, `aurora-mysql-3.08`.
    pub database_version: Option<String>,
    /// `settings.AUTH_USER_MODEL`.
    pub auth_user_model: Option<String>,
    /// `migrail run`/`deploy`: PostgreSQL's `lock_timeout` for the migrations (`5s`,
    /// `0` off).
    pub lock_timeout: Option<String>,
    /// Retries of an atomic migration that hit the lock timeout.
    pub lock_retries: Option<u32>,
    /// PostgreSQL's `statement_timeout` for the migrations.
    pub statement_timeout: Option<String>,
    /// How the migrations reach PostgreSQL: `"none"` (default), `"session"` or
    /// `"transaction"` (PgBouncer, RDS Proxy). With a pooler, a command that is not
    /// `manage.py migrate` cannot be bounded through `PGOPTIONS`.
    pub pooler: Option<Pooler>,
    /// `migrail run`/`deploy`: check the data before each migration (`on`, `off`, `only`).
    pub preflight: Option<crate::run::preflight::Mode>,
    /// A preflight check that times out refuses the migration too.
    pub preflight_strict: Option<bool>,
    /// Each preflight query's `statement_timeout` (`10s`).
    pub preflight_timeout: Option<String>,
    /// `migrail deploy`: run the pre phase inside the deployment, at each service's PAUSE
    /// lifecycle hook at PRE_SCALE_UP (`--pause-hook`).
    pub pause_hook: Option<bool>,
    /// `migrail ci`/`comment`: the fixes as review suggestions on the pull request's lines.
    pub suggestions: Option<bool>,
    /// Where apps' migrations live, as Django's `MIGRATION_MODULES`: app label -> dotted
    /// module (`"dojo.db_migrations"`) or folder (`"dojo/db_migrations"`), relative to the
    /// file's folder; `""` means the app has no migrations. Over the settings module's.
    pub migration_modules: Option<BTreeMap<String, String>>,
    /// Squashed migrations: `"note"` (default: their findings are notes, they run only on
    /// fresh databases) or `"lint"` (judged like any other migration).
    pub squashed: Option<SquashedMode>,
    /// The project's Django version (`"5.2"`), over what its requirements and lock files
    /// pin: `migrail fix` writes `db_default` from 5.0 on.
    pub django_version: Option<String>,
}

/// A key of the file, as the manual's configuration reference shows it.
pub struct KeyDoc {
    pub name: &'static str,
    /// A TOML value the key accepts (for a table: its entries).
    pub example: &'static str,
    pub meaning: &'static str,
}

/// Every key [`FileConfig`] accepts, documented (a test checks the two agree).
pub const KEYS: &[KeyDoc] = &[
    KeyDoc { name: "select", example: r#"["drop-column", "add-unique"]"#, meaning: "only these rules (default: all)" },
    KeyDoc { name: "ignore", example: r#"["runpython-irreversible"]"#, meaning: "not these rules" },
    KeyDoc { name: "severity", example: r#"{ add-index-not-concurrently = "error" }"#, meaning: "per-rule severity: `error`, `warning` or `info`" },
    KeyDoc { name: "exclude", example: r#"["legacy/**"]"#, meaning: "globs, relative to the file's folder: migrations loaded for history, never reported" },
    KeyDoc { name: "warnings-as-errors", example: "false", meaning: "exit 1 on warnings too" },
    KeyDoc { name: "deploy-phases", example: "true", meaning: "the pipeline runs `pre` migrations before the rollout and `post` ones after it (`migrail deploy`, `migrail run --phase`)" },
    KeyDoc { name: "database", example: r#""mysql""#, meaning: "the database the rules judge for: `postgresql`, `mysql` or `mariadb`; default: what the settings' `DATABASES[\"default\"][\"ENGINE\"]` names, else PostgreSQL" },
    KeyDoc { name: "database-version", example: r#""8.0.36""#, meaning: "its server version (`8.4`, `5.7`, `10.11`, or an Aurora version: `aurora-mysql-3.08` is MySQL 8.0.39); default for MySQL 8.0, for MariaDB 10.11, said in the summary" },
    KeyDoc { name: "auth-user-model", example: r#""accounts.User""#, meaning: "`settings.AUTH_USER_MODEL`, when migrail cannot read it from the settings" },
    KeyDoc { name: "lock-timeout", example: r#""5s""#, meaning: "`migrail run`/`deploy`: PostgreSQL's `lock_timeout` for each lock wait of the migrations (`\"0\"`: off)" },
    KeyDoc { name: "lock-retries", example: "5", meaning: "retries of an atomic migration that hit the lock timeout" },
    KeyDoc { name: "statement-timeout", example: r#""0""#, meaning: "PostgreSQL's `statement_timeout` for the migrations (`\"0\"`: off)" },
    KeyDoc { name: "pooler", example: r#""transaction""#, meaning: "what stands between the migrations and PostgreSQL: `none` (default), `session` or `transaction` (PgBouncer, RDS Proxy)" },
    KeyDoc { name: "preflight", example: r#""on""#, meaning: "`migrail run`/`deploy`: check the rows before each migration takes a lock (`on`, default), not at all (`off`), or check every pending migration and apply none (`only`)" },
    KeyDoc { name: "preflight-strict", example: "false", meaning: "a preflight check that times out refuses the migration too (default: skipped with a warning)" },
    KeyDoc { name: "preflight-timeout", example: r#""10s""#, meaning: "each preflight query's `statement_timeout`" },
    KeyDoc { name: "pause-hook", example: "false", meaning: "`migrail deploy`: run the pre phase at each service's PAUSE lifecycle hook at PRE_SCALE_UP" },
    KeyDoc { name: "suggestions", example: "true", meaning: "`migrail ci`/`comment`: post each fix as a review comment with a GitHub suggestion on the lines it changes (default: on)" },
    KeyDoc { name: "migration-modules", example: r#"{ dojo = "dojo.db_migrations" }"#, meaning: "where apps' migrations live, over the settings' `MIGRATION_MODULES`: a dotted module or a folder relative to the file; `\"\"`: the app has none" },
    KeyDoc { name: "squashed", example: r#""note""#, meaning: "findings inside squashed migrations are notes (`note`, default: they run only on fresh databases) or judged (`lint`)" },
    KeyDoc { name: "django-version", example: r#""5.2""#, meaning: "the project's Django version, over what its requirements and lock files pin (`migrail fix` writes `db_default` from 5.0 on)" },
];

/// The keys [`FileConfig`] accepts, as serde reads them (its field list).
pub fn file_config_keys() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Fields(Option<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &mut Fields {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only the field list is read"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("only the field list is read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields = Fields(None);
    let _ = FileConfig::deserialize(&mut fields);
    fields.0.unwrap_or_default()
}

/// What stands between the migrations and PostgreSQL (`pooler` in the configuration,
/// `--pooler`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pooler {
    /// A direct connection.
    #[default]
    None,
    /// A pooler that gives each client a server connection for its whole session.
    Session,
    /// A pooler that may give each transaction another server connection (PgBouncer
    /// `pool_mode = transaction`, RDS Proxy).
    Transaction,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SquashedMode {
    Note,
    Lint,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    Error,
    Warning,
    Info,
}

impl From<SeverityName> for Severity {
    fn from(s: SeverityName) -> Severity {
        match s {
            SeverityName::Error => Severity::Error,
            SeverityName::Warning => Severity::Warning,
            SeverityName::Info => Severity::Info,
        }
    }
}

#[derive(Deserialize)]
struct Pyproject {
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    migrail: Option<FileConfig>,
}

/// A configuration file, read and checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub values: FileConfig,
    exclude: Option<GlobSet>,
}

impl Config {
    /// Where the file says its keys are (`pyproject.toml [tool.migrail]`), for messages.
    pub fn describe(&self) -> String {
        let shown = crate::lint::display_path(&self.path);
        if self.path.file_name().is_some_and(|n| n == "pyproject.toml") {
            format!("{shown} [tool.migrail]")
        } else {
            shown
        }
    }

    /// `migration-modules` as (label, folder) pairs, folders resolved from the file's
    /// folder; `None` for an app without migrations.
    pub fn migration_modules(&self) -> Vec<(String, Option<PathBuf>)> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.values
            .migration_modules
            .iter()
            .flatten()
            .map(|(label, module)| {
                let folder = if module.is_empty() {
                    None
                } else if module.contains('/') || module.contains('\\') {
                    Some(dir.join(module))
                } else {
                    Some(crate::django::settings::module_folder(&dir, module))
                };
                (label.clone(), folder)
            })
            .collect()
    }

    /// True when `path` matches an `exclude` glob (relative to the file's folder).
    pub fn excludes(&self, path: &Path) -> bool {
        let Some(set) = &self.exclude else {
            return false;
        };
        let dir = self
            .path
            .parent()
            .and_then(|d| d.canonicalize().ok())
            .unwrap_or_default();
        let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let relative = absolute.strip_prefix(&dir).unwrap_or(&absolute);
        set.is_match(relative)
    }
}

/// A configuration problem: the message names the file and the key.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The configuration for a run started in `start`: the first folder upwards holding
/// `migrail.toml` or a `pyproject.toml` with `[tool.migrail]`.
pub fn discover(start: &Path) -> Result<Option<Config>, ConfigError> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        let own = dir.join("migrail.toml");
        if own.is_file() {
            return load(&own).map(Some);
        }
        let pyproject = dir.join("pyproject.toml");
        if pyproject.is_file() {
            if let Some(config) = load_pyproject(&pyproject)? {
                return Ok(Some(config));
            }
        }
    }
    Ok(None)
}

/// Read a named configuration file (`--config`): `pyproject.toml` or a `migrail.toml`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    if path.file_name().is_some_and(|n| n == "pyproject.toml") {
        return load_pyproject(path)?.ok_or_else(|| {
            ConfigError(format!(
                "{}: no [tool.migrail] table",
                crate::lint::display_path(path)
            ))
        });
    }
    let text = read(path)?;
    let values: FileConfig = toml::from_str(&text).map_err(|e| toml_error(path, &e))?;
    check(path, values)
}

fn load_pyproject(path: &Path) -> Result<Option<Config>, ConfigError> {
    let text = read(path)?;
    let doc: Pyproject = toml::from_str(&text).map_err(|e| toml_error(path, &e))?;
    match doc.tool.and_then(|t| t.migrail) {
        Some(values) => check(path, values).map(Some),
        None => Ok(None),
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "{}: cannot read the configuration: {e}",
            crate::lint::display_path(path)
        ))
    })
}

fn toml_error(path: &Path, e: &toml::de::Error) -> ConfigError {
    let shown = crate::lint::display_path(path);
    let text = e.to_string();
    ConfigError(format!(
        "{shown}: invalid configuration: {}",
        text.trim_end()
    ))
}

/// Validate rule names, globs and values that serde cannot check.
fn check(path: &Path, values: FileConfig) -> Result<Config, ConfigError> {
    let mut config = Config {
        path: path.to_path_buf(),
        values: FileConfig::default(),
        exclude: None,
    };
    let here = config.describe();
    let rules = [("select", &values.select), ("ignore", &values.ignore)];
    for (key, names) in rules {
        for name in names.iter().flatten() {
            if registry::find(name).is_none() {
                return Err(ConfigError(format!(
                    "{here}: `{key}`: {}",
                    registry::unknown_rule_message(name)
                )));
            }
        }
    }
    for name in values.severity.iter().flat_map(|s| s.keys()) {
        if registry::find(name).is_none() {
            return Err(ConfigError(format!(
                "{here}: `severity`: {}",
                registry::unknown_rule_message(name)
            )));
        }
    }
    if values.database.is_some() || values.database_version.is_some() {
        crate::django::database::Database::configured(
            values.database.as_deref(),
            values.database_version.as_deref(),
        )
        .map_err(|e| ConfigError(format!("{here}: {e}")))?;
    }
    for (key, text) in [
        ("lock-timeout", &values.lock_timeout),
        ("statement-timeout", &values.statement_timeout),
    ] {
        if let Some(t) = text {
            crate::run::locks::parse_timeout(t)
                .map_err(|e| ConfigError(format!("{here}: `{key}`: {e}")))?;
        }
    }
    if let Some(v) = &values.django_version {
        if crate::django::version::DjangoVersion::parse(v).is_none() {
            return Err(ConfigError(format!(
                "{here}: `django-version = \"{v}\"`: expected a version such as \"5.2\""
            )));
        }
    }
    if let Some(globs) = &values.exclude {
        let mut builder = GlobSetBuilder::new();
        for g in globs {
            let glob = Glob::new(g).map_err(|e| ConfigError(format!("{here}: `exclude`: {e}")))?;
            builder.add(glob);
        }
        config.exclude = Some(
            builder
                .build()
                .map_err(|e| ConfigError(format!("{here}: `exclude`: {e}")))?,
        );
    }
    config.values = values;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }

    #[test]
    fn reads_every_key_from_pyproject() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "pyproject.toml",
            r#"[project]
name = "shop"

[tool.migrail]
select = ["drop-column", "add-index-not-concurrently"]
ignore = ["drop-column"]
exclude = ["legacy/**"]
warnings-as-errors = true
deploy-phases = true
database = "postgresql"
auth-user-model = "accounts.User"
lock-timeout = "2s"
lock-retries = 3
statement-timeout = "0"

[tool.migrail.severity]
add-index-not-concurrently = "error"
"#,
        );
        let nested = dir.path().join("shop/migrations");
        std::fs::create_dir_all(&nested).expect("mkdir");
        let config = discover(&nested).expect("valid").expect("found");
        let v = &config.values;
        assert_eq!(v.ignore.as_deref(), Some(&["drop-column".to_string()][..]));
        assert_eq!(v.warnings_as_errors, Some(true));
        assert_eq!(v.deploy_phases, Some(true));
        assert_eq!(v.auth_user_model.as_deref(), Some("accounts.User"));
        assert_eq!(v.lock_timeout.as_deref(), Some("2s"));
        assert_eq!(v.lock_retries, Some(3));
        assert_eq!(
            v.severity
                .as_ref()
                .and_then(|s| s.get("add-index-not-concurrently")),
            Some(&SeverityName::Error)
        );
        let legacy = dir.path().join("legacy/migrations");
        std::fs::create_dir_all(&legacy).expect("mkdir");
        let file = write(&legacy, "0001_initial.py", "");
        assert!(config.excludes(&file));
        assert!(!config.excludes(&nested));
    }

    #[test]
    fn migrail_toml_wins_and_pyproject_without_table_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "migrail.toml", "deploy-phases = true\n");
        let sub = dir.path().join("app");
        std::fs::create_dir_all(&sub).expect("mkdir");
        write(&sub, "pyproject.toml", "[project]\nname = \"x\"\n");
        let config = discover(&sub).expect("valid").expect("found");
        assert!(config.path.ends_with("migrail.toml"));
        assert_eq!(config.values.deploy_phases, Some(true));
    }

    #[test]
    fn unknown_key_and_rule_name_are_errors_naming_file_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "migrail.toml", "selct = [\"drop-column\"]\n");
        let e = load(&p).expect_err("unknown key").0;
        assert!(e.contains("migrail.toml") && e.contains("selct"), "{e}");

        let p = write(
            dir.path(),
            "pyproject.toml",
            "[tool.migrail]\nignore = [\"drop-colum\"]\n",
        );
        let e = load(&p).expect_err("unknown rule").0;
        assert!(e.contains("pyproject.toml [tool.migrail]"), "{e}");
        assert!(
            e.contains("`ignore`") && e.contains("did you mean `drop-column`"),
            "{e}"
        );

        let p = write(
            dir.path(),
            "migrail.toml",
            "[severity]\ndrop-column = \"fatal\"\n",
        );
        let e = load(&p).expect_err("bad severity").0;
        assert!(e.contains("fatal"), "{e}");

        let p = write(dir.path(), "migrail.toml", "database = \"oracle\"\n");
        assert!(load(&p)
            .expect_err("unsupported db")
            .0
            .contains("expected \"postgresql\", \"mysql\" or \"mariadb\""));
        let p = write(
            dir.path(),
            "migrail.toml",
            "database = \"mysql\"\ndatabase-version = \"aurora-mysql-3.08\"\n",
        );
        assert!(load(&p).is_ok());
        let p = write(dir.path(), "migrail.toml", "database-version = \"eight\"\n");
        assert!(load(&p).expect_err("bad version").0.contains("eight"));
    }
}
