//! Python tools the tests use (a SARIF validator, moto), installed from PyPI into a
//! virtualenv under `CARGO_TARGET_TMPDIR` from a pinned requirements file, and rebuilt
//! when that file changes. Needs `python3` with venv and access to PyPI.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One install at a time: the tests of a binary run on several threads.
static INSTALL: Mutex<()> = Mutex::new(());

pub fn check(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtualenv `name` with `requirements` installed; returns its `bin/` directory.
pub fn venv(name: &str, requirements: &Path) -> PathBuf {
    venv_with(name, requirements, Path::new("python3"))
}

/// [`venv`], made by the interpreter `python` (a path, or a name on `PATH`).
pub fn venv_with(name: &str, requirements: &Path, python_exe: &Path) -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let bin = venv.join("bin");
    let python = bin.join("python");
    let wanted = std::fs::read_to_string(requirements)
        .unwrap_or_else(|e| panic!("{}: {e}", requirements.display()));
    let stamp = venv.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return bin;
    }
    let _ = std::fs::remove_dir_all(&venv);
    check(
        &format!("{} -m venv", python_exe.display()),
        Command::new(python_exe).args(["-m", "venv"]).arg(&venv),
    );
    check(
        &format!("pip install -r {}", requirements.display()),
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    bin
}
