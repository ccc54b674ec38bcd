//! A MariaDB server from Debian's packages (`mariadb-server`) for one test binary, started
//! on 127.0.0.1 on a free port in a throwaway data directory (utf8mb4, strict mode, the
//! server's defaults otherwise), and stopped when dropped. Queries go through Debian's
//! `mariadb` client.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct MariaDb {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

impl Drop for MariaDb {
    fn drop(&mut self) {
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

impl MariaDb {
    pub fn start() -> MariaDb {
        let server = PathBuf::from("/usr/sbin/mariadbd");
        assert!(
            server.exists(),
            "MariaDB is installed (Debian package `mariadb-server`; .ci/run installs it)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={}", whoami()))
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = Command::new(&server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={}", whoami()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .args([
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(dir.path().join("server.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            )
            .spawn()
            .expect("mariadbd starts");
        let db = MariaDb { dir, child, port };
        let start = Instant::now();
        while db.try_sql("SELECT 1").is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "MariaDB did not start: {}",
                std::fs::read_to_string(db.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        db
    }

    /// The client on `database` (none: the server), running `sql`.
    pub fn client(&self, database: Option<&str>) -> Command {
        let mut c = Command::new("mariadb");
        c.args([
            "--no-defaults",
            "-h127.0.0.1",
            "-uroot",
            "--batch",
            "--skip-column-names",
        ])
        .arg(format!("-P{}", self.port));
        if let Some(d) = database {
            c.arg(d);
        }
        c
    }

    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = self
            .client(None)
            .args(["-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A fresh database `name`.
    pub fn database(&self, name: &str) {
        self.sql(&format!(
            "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        ));
    }
}

fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "root".to_string())
}
