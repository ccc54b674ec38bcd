//! `--format sarif` validated against the SARIF 2.1.0 JSON schema.
//!
//! The schema comes from a registry package (see `tests/sarif/validate.py`), the
//! validator is the `jsonschema` package from PyPI, pinned in
//! `tests/sarif/requirements.txt` and installed into a virtualenv under
//! `CARGO_TARGET_TMPDIR` (tests/support/venv.rs). Needs `python3` with venv and access to PyPI and npm's registry.

#[path = "support/venv.rs"]
mod venv;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A virtualenv with the pinned validator.
fn python() -> PathBuf {
    venv::venv("sarif-venv", &repo().join("tests/sarif/requirements.txt")).join("python")
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    // Findings of every kind: unsafe operations, notes, graph problems, syntax errors.
    for (name, path) in [
        ("example", "examples/bookshop"),
        ("recipes", "fixtures/recipes"),
        ("conflict", "fixtures/conflict"),
        ("broken", "fixtures/broken"),
        ("squashed", "fixtures/squashed"),
    ] {
        let out = assert_cmd::Command::cargo_bin("migrail")
            .expect("binary")
            .current_dir(repo())
            .args(["lint", path, "--format", "sarif"])
            .output()
            .expect("migrail runs");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = out_dir.path().join(format!("{name}.sarif"));
        std::fs::write(&file, &out.stdout).expect("write sarif");
        files.push(file);
    }
    let python = python();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sarif-schema");
    let out = Command::new(python)
        .arg(repo().join("tests/sarif/validate.py"))
        .arg(&cache)
        .args(&files)
        .output()
        .expect("validator runs");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "SARIF output does not validate:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.matches(": valid (").count(), files.len(), "{report}");
}
