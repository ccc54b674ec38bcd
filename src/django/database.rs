//! The database server the migrations run on: its engine (PostgreSQL, MySQL, MariaDB) and
//! version, from the configuration (`database`, `database-version`) or, statically, from
//! the settings' `DATABASES["default"]["ENGINE"]`. What locks, what is instant and which
//! recipe works depend on it: the rules consult it as data.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Postgresql,
    Mysql,
    Mariadb,
}

impl Engine {
    pub fn parse(text: &str) -> Option<Engine> {
        match text.trim().to_ascii_lowercase().as_str() {
            "postgresql" | "postgres" => Some(Engine::Postgresql),
            "mysql" | "aurora-mysql" => Some(Engine::Mysql),
            "mariadb" => Some(Engine::Mariadb),
            _ => None,
        }
    }

    /// The engine a Django `ENGINE` path or a database URL names: Django's backends, the
    /// GIS ones, and wrappers that keep the backend's name (`django_prometheus.db.backends.
    /// mysql`, `dj_db_conn_pool.backends.postgresql`, `mysql://` URLs of dj-database-url).
    /// Django's `mysql` backend serves MySQL and MariaDB alike: MySQL.
    pub fn from_backend(path: &str) -> Option<Engine> {
        let lower = path.trim().to_ascii_lowercase();
        if let Some((scheme, _)) = lower.split_once("://") {
            return match scheme.split('+').next().unwrap_or(scheme) {
                "postgres" | "postgresql" | "pgsql" | "postgis" | "psql" => {
                    Some(Engine::Postgresql)
                }
                "mysql" | "mysql2" | "mysqlgis" | "mysql-connector" => Some(Engine::Mysql),
                "mariadb" => Some(Engine::Mariadb),
                _ => None,
            };
        }
        if !lower.contains('.') {
            return None;
        }
        // The backend's module: `...backends.mysql`, `...backends.postgresql(.base)`.
        let module = lower
            .trim_end_matches(".base")
            .rsplit('.')
            .next()
            .unwrap_or("");
        if module.contains("postgres") || module.contains("postgis") || module.contains("psycopg") {
            Some(Engine::Postgresql)
        } else if module.contains("mysql") {
            Some(Engine::Mysql)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgresql => "PostgreSQL",
            Engine::Mysql => "MySQL",
            Engine::Mariadb => "MariaDB",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
            Engine::Mariadb => "mariadb",
        }
    }
}

/// The patch of a version given without one (`8.0`): any, judged as a recent one.
const ANY_PATCH: u32 = 9999;

/// A server version: `8.0.36`, `8.4`, `10.11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> ServerVersion {
        ServerVersion {
            major,
            minor,
            patch,
        }
    }

    fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        // "8.0" is some 8.0 release: judged as a recent one (8.0.16's CHECK constraints).
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => ANY_PATCH,
        };
        parts
            .next()
            .is_none()
            .then_some(ServerVersion::new(major, minor, patch))
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == ANY_PATCH {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

impl Serialize for ServerVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Aurora MySQL 3 releases and the MySQL 8.0 version each is compatible with (AWS's
/// "Aurora MySQL version 3" release notes); Aurora MySQL 2 follows MySQL 5.7.
const AURORA_3: &[(u32, ServerVersion)] = &[
    (1, ServerVersion::new(8, 0, 23)),
    (2, ServerVersion::new(8, 0, 23)),
    (3, ServerVersion::new(8, 0, 26)),
    (4, ServerVersion::new(8, 0, 28)),
    (5, ServerVersion::new(8, 0, 32)),
    (6, ServerVersion::new(8, 0, 34)),
    (7, ServerVersion::new(8, 0, 36)),
    (8, ServerVersion::new(8, 0, 39)),
    (9, ServerVersion::new(8, 0, 40)),
    (10, ServerVersion::new(8, 0, 42)),
];

/// Where the engine came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum Source {
    /// Nothing said: PostgreSQL, as migrail always judged.
    #[default]
    Default,
    Configuration,
    /// `DATABASES["default"]["ENGINE"]` of this settings file.
    Settings {
        file: String,
    },
}

/// The engine and version the rules judge for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Database {
    pub engine: Engine,
    /// `None` on PostgreSQL when not given (the rules need none); MySQL and MariaDB always
    /// have one, assumed when not given.
    pub version: Option<ServerVersion>,
    /// The version was not given: the default was assumed.
    pub version_assumed: bool,
    /// As given, when it was an Aurora version (`aurora-mysql-3.08`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aurora: Option<String>,
    pub source: Source,
    /// The settings set `DATABASES` with an engine migrail does not judge for, or one read
    /// at run time: what was seen, said in the summary (PostgreSQL is judged then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// The version assumed when none is given.
pub const DEFAULT_MYSQL: ServerVersion = ServerVersion::new(8, 0, ANY_PATCH);
pub const DEFAULT_MARIADB: ServerVersion = ServerVersion::new(10, 11, ANY_PATCH);

impl Database {
    /// The engine and version from the configuration's values: `database` (engine) and
    /// `database-version`. An Aurora version implies MySQL.
    pub fn configured(engine: Option<&str>, version: Option<&str>) -> Result<Database, String> {
        let aurora = version.filter(|v| v.trim().to_ascii_lowercase().starts_with("aurora"));
        let engine = match engine {
            Some(e) => Engine::parse(e).ok_or_else(|| {
                format!(
                    "`database = \"{e}\"`: expected \"postgresql\", \"mysql\" or \"mariadb\" \
                     (Aurora MySQL is \"mysql\", with `database-version = \"aurora-mysql-3.08\"`)"
                )
            })?,
            None if aurora.is_some() => Engine::Mysql,
            None => Engine::Postgresql,
        };
        let mut db = Database {
            engine,
            source: Source::Configuration,
            ..Database::default()
        };
        match version {
            Some(v) => db.set_version(v)?,
            None => db.assume_version(),
        }
        Ok(db)
    }

    /// The engine the settings name; the version assumed.
    pub fn from_settings(engine: Engine, file: String) -> Database {
        let mut db = Database {
            engine,
            source: Source::Settings { file },
            ..Database::default()
        };
        db.assume_version();
        db
    }

    fn assume_version(&mut self) {
        self.version = match self.engine {
            Engine::Postgresql => None,
            Engine::Mysql => Some(DEFAULT_MYSQL),
            Engine::Mariadb => Some(DEFAULT_MARIADB),
        };
        self.version_assumed = self.version.is_some();
    }

    /// `database-version`: `8.0.36`, `8.4`, `5.7`, `10.11`, `15`, `aurora-mysql-3.08`
    /// (mapped to the MySQL version that Aurora release follows).
    pub fn set_version(&mut self, text: &str) -> Result<(), String> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("aurora-mysql-")
            .or(lower.strip_prefix("aurora-"))
        {
            if self.engine != Engine::Mysql {
                return Err(format!(
                    "`database-version = \"{text}\"`: an Aurora MySQL version needs \
                     `database = \"mysql\"`"
                ));
            }
            let parsed = ServerVersion::parse(rest)
                .or_else(|| ServerVersion::parse(rest.split(".mysql").next().unwrap_or(rest)));
            let mapped = parsed.and_then(|v| match v.major {
                2 => Some(ServerVersion::new(5, 7, ANY_PATCH)),
                3 => AURORA_3
                    .iter()
                    .find(|(minor, _)| *minor == v.minor)
                    .map(|(_, m)| *m)
                    .or_else(|| (v.minor > 10).then_some(ServerVersion::new(8, 0, 42))),
                _ => None,
            });
            let Some(mapped) = mapped else {
                return Err(format!(
                    "`database-version = \"{text}\"`: not an Aurora MySQL version migrail knows \
                     (2.x follows MySQL 5.7, 3.01 to 3.10 follow MySQL 8.0); give the MySQL \
                     version instead (`SELECT VERSION()`)"
                ));
            };
            self.version = Some(mapped);
            self.aurora = Some(text.trim().to_string());
            self.version_assumed = false;
            return Ok(());
        }
        let Some(v) = ServerVersion::parse(&lower) else {
            return Err(format!(
                "`database-version = \"{text}\"`: expected a version such as \"8.0.36\", \"8.4\", \
                 \"5.7\", \"10.11\" or \"aurora-mysql-3.08\""
            ));
        };
        let plausible = match self.engine {
            Engine::Postgresql => (9..=30).contains(&v.major),
            Engine::Mysql => matches!(v.major, 5 | 8 | 9),
            Engine::Mariadb => (10..=13).contains(&v.major),
        };
        if !plausible {
            return Err(format!(
                "`database-version = \"{text}\"`: not a {} version (`SELECT VERSION()` tells)",
                self.engine.name()
            ));
        }
        self.version = Some(v);
        self.version_assumed = false;
        Ok(())
    }

    pub fn is_mysql(&self) -> bool {
        matches!(self.engine, Engine::Mysql | Engine::Mariadb)
    }

    pub fn is_postgresql(&self) -> bool {
        self.engine == Engine::Postgresql
    }

    /// At least this MySQL version (false on MariaDB and PostgreSQL).
    pub fn mysql_at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.engine == Engine::Mysql
            && self
                .version
                .is_some_and(|v| v >= ServerVersion::new(major, minor, patch))
    }

    /// MySQL 5.7 (and Aurora MySQL 2): no instant DDL, CHECK constraints ignored.
    pub fn mysql_5(&self) -> bool {
        self.engine == Engine::Mysql && self.version.is_some_and(|v| v.major < 8)
    }

    /// "MySQL 8.0", "MariaDB 10.11", "Aurora MySQL 3.08 (MySQL 8.0.39)", "PostgreSQL".
    pub fn label(&self) -> String {
        match (&self.aurora, self.version) {
            (Some(a), Some(v)) => format!("{a} (MySQL {v})"),
            (_, Some(v)) => format!("{} {v}", self.engine.name()),
            (_, None) => self.engine.name().to_string(),
        }
    }

    /// For the summary line: the label and, when the version was assumed, how to set it.
    pub fn describe(&self) -> String {
        let mut out = self.label();
        if self.version_assumed {
            out.push_str(", assumed: set `database-version`");
        }
        match &self.source {
            Source::Settings { .. } => out.push_str(", from the settings"),
            Source::Default => {
                if let Some(unread) = &self.unread {
                    out.push_str(&format!(
                        ": {unread}; set `database` in the configuration if production runs MySQL or MariaDB"
                    ));
                }
            }
            Source::Configuration => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_and_urls() {
        for (path, engine) in [
            ("django.db.backends.postgresql", Some(Engine::Postgresql)),
            (
                "django.db.backends.postgresql_psycopg2",
                Some(Engine::Postgresql),
            ),
            (
                "django.contrib.gis.db.backends.postgis",
                Some(Engine::Postgresql),
            ),
            ("django.db.backends.mysql", Some(Engine::Mysql)),
            ("django.contrib.gis.db.backends.mysql", Some(Engine::Mysql)),
            ("django_prometheus.db.backends.mysql", Some(Engine::Mysql)),
            (
                "django_prometheus.db.backends.postgresql",
                Some(Engine::Postgresql),
            ),
            ("dj_db_conn_pool.backends.mysql", Some(Engine::Mysql)),
            ("mysql://user:pw@db/shop", Some(Engine::Mysql)),
            ("postgres://db/shop", Some(Engine::Postgresql)),
            ("postgresql+psycopg://db/shop", Some(Engine::Postgresql)),
            ("django.db.backends.sqlite3", None),
            ("sqlite:///db.sqlite3", None),
            ("mysql", None),
        ] {
            assert_eq!(Engine::from_backend(path), engine, "{path}");
        }
    }

    #[test]
    fn configured_versions() {
        let db = Database::configured(Some("mysql"), None).unwrap();
        assert_eq!(db.label(), "MySQL 8.0");
        assert!(db.version_assumed);
        let db = Database::configured(Some("mysql"), Some("8.0.36")).unwrap();
        assert_eq!(db.version, Some(ServerVersion::new(8, 0, 36)));
        assert!(db.mysql_at_least(8, 0, 29));
        assert!(!db.mysql_at_least(8, 0, 37));
        assert!(Database::configured(Some("mysql"), Some("8.0"))
            .unwrap()
            .mysql_at_least(8, 0, 16));
        assert_eq!(
            Database::configured(Some("mysql"), Some("8.4"))
                .unwrap()
                .label(),
            "MySQL 8.4"
        );
        let db = Database::configured(None, Some("aurora-mysql-3.08")).unwrap();
        assert_eq!(db.engine, Engine::Mysql);
        assert_eq!(db.version, Some(ServerVersion::new(8, 0, 39)));
        assert_eq!(db.label(), "aurora-mysql-3.08 (MySQL 8.0.39)");
        let db = Database::configured(Some("mysql"), Some("aurora-mysql-2.11")).unwrap();
        assert!(db.mysql_5());
        assert_eq!(db.label(), "aurora-mysql-2.11 (MySQL 5.7)");
        let db = Database::configured(Some("mariadb"), Some("10.11")).unwrap();
        assert_eq!(db.label(), "MariaDB 10.11");
        assert!(!db.mysql_at_least(8, 0, 0));
        assert!(Database::configured(Some("oracle"), None).is_err());
        assert!(Database::configured(Some("mariadb"), Some("8.0")).is_err());
        assert!(Database::configured(Some("mariadb"), Some("aurora-mysql-3.08")).is_err());
        assert!(Database::configured(Some("mysql"), Some("aurora-mysql-7.01")).is_err());
        assert!(Database::configured(Some("mysql"), Some("eight")).is_err());
        let pg = Database::configured(Some("postgresql"), None).unwrap();
        assert_eq!(pg.label(), "PostgreSQL");
        assert!(!pg.version_assumed);
    }

    #[test]
    fn the_summary_says_what_was_not_read() {
        let db = Database {
            unread: Some("the settings' ENGINE is read at run time".into()),
            ..Database::default()
        };
        assert_eq!(
            db.describe(),
            "PostgreSQL: the settings' ENGINE is read at run time; set `database` in the configuration if production runs MySQL or MariaDB"
        );
    }
}
