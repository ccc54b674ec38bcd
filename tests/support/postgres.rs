//! A PostgreSQL server from Debian's packages for one test (or bench), started on
//! 127.0.0.1 on a free port with a database `rehearsal`, and stopped when dropped. As
//! root the server runs as the `postgres` user (it refuses to run as root). The crate that
//! includes it includes tests/support/venv.rs as `venv` too.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

// The including crate has `mod venv` (tests/support/venv.rs) beside this module.
use super::venv;

/// PgBouncer (Debian's `pgbouncer`) in front of a [`Postgres`], on 127.0.0.1 on a free
/// port, stopped when dropped.
pub struct PgBouncer {
    child: std::process::Child,
    pidfile: PathBuf,
    pub port: u16,
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).output();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// What a `migrail run` said: its exit code, its output (stdout then stderr), and the
/// result document it wrote (`Null` when none).
pub struct Run {
    pub code: i32,
    pub text: String,
    pub result: serde_json::Value,
}

impl Run {
    /// Read a finished `migrail run` whose `--json-out` was `json`.
    pub fn of(out: std::process::Output, json: &std::path::Path) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            text: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
            result: std::fs::read_to_string(json)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A PostgreSQL server for one test, stopped when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl Postgres {
    fn bin_dir() -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (Debian package `postgresql`; .ci/run installs it)")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .collect();
        found.sort();
        found
            .pop()
            .expect("an initdb under /usr/lib/postgresql/*/bin")
    }

    /// Run a PostgreSQL program, as the `postgres` user when we are root (the server
    /// refuses to run as root).
    /// `migrail` in `work` with the virtualenv `python` (its `bin/`) first on PATH and the
    /// PG* variables Django's settings in examples/rehearsal read pointing at this server.
    pub fn migrail(&self, work: &std::path::Path, python: &std::path::Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrail"));
        cmd.current_dir(work)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    python.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGDATABASE", "rehearsal")
            .env("PGUSER", "postgres")
            .env_remove("GITHUB_OUTPUT");
        cmd
    }

    pub fn cmd(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        if as_postgres {
            venv::check(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:"])
                    .arg(dir.path()),
            );
        }
        let port = free_port();
        let pg = Postgres {
            dir,
            bin: Postgres::bin_dir(),
            port,
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        venv::check(
            "initdb",
            pg.cmd("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data),
        );
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            pg.dir.path().display()
        );
        venv::check(
            "pg_ctl start",
            pg.cmd("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(pg.dir.path().join("log"))
                .arg("start"),
        );
        venv::check(
            "createdb",
            pg.cmd("createdb").args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "rehearsal",
            ]),
        );
        pg
    }

    /// PgBouncer in `pool_mode` with `pool_size` server connections in front of this
    /// server (any user is let in and connected as `postgres`), ready to serve.
    pub fn pgbouncer(&self, pool_mode: &str, pool_size: u32) -> PgBouncer {
        let exe = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("PgBouncer is installed (Debian package `pgbouncer`; .ci/run installs it)");
        let port = free_port();
        let pidfile = self.dir.path().join(format!("pgbouncer-{port}.pid"));
        let ini = self.dir.path().join(format!("pgbouncer-{port}.ini"));
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port={} user=postgres\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = any\npool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\n\
                 max_client_conn = 50\npidfile = {}\n",
                self.port,
                pidfile.display()
            ),
        )
        .expect("write pgbouncer.ini");
        let mut cmd = if self.as_postgres {
            venv::check("chown", Command::new("chown").arg("postgres:").arg(&ini));
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let child = cmd
            .arg(&ini)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let bouncer = PgBouncer {
            child,
            pidfile,
            port,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.psql(port, "rehearsal", "select 1").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "PgBouncer did not answer on port {port} within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bouncer
    }

    /// `sql` through `port` (this server's or a PgBouncer's): rows as `|`-separated lines,
    /// or psql's error.
    pub fn psql(&self, port: u16, database: &str, sql: &str) -> Result<Vec<String>, String> {
        let out = self
            .cmd("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
            .args(["-d", database, "-At", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// One value per line of a query's result.
    pub fn query(&self, sql: &str) -> Vec<String> {
        self.query_in("rehearsal", sql)
    }

    /// `sql` in database `database` of this server, rows as `|`-separated lines.
    pub fn query_in(&self, database: &str, sql: &str) -> Vec<String> {
        let out = self
            .cmd("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn applied(&self) -> Vec<String> {
        self.query(
            "select app || '.' || name from django_migrations where app = 'library' order by id",
        )
    }

    pub fn columns(&self) -> Vec<String> {
        self.query("select column_name from information_schema.columns where table_name = 'library_book' order by column_name")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}
