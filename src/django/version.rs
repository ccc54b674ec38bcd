//! The Django version a project runs, read from what it pins: lock files first (`uv.lock`,
//! `poetry.lock`, `Pipfile.lock`: the exact version), then requirements files and
//! `pyproject.toml` (the lowest version the constraint allows). Looked for in the project's
//! folder and the folders above it, up to the repository's root.

use std::path::{Path, PathBuf};

/// A `major.minor` Django version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DjangoVersion {
    pub major: u32,
    pub minor: u32,
}

impl DjangoVersion {
    /// `5.2`, `5.2.1`, `4.2rc1`: the major and minor numbers.
    pub fn parse(text: &str) -> Option<DjangoVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.trim().parse().ok()?;
        let minor_text: String = parts
            .next()
            .unwrap_or("0")
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let minor = if minor_text.is_empty() {
            0
        } else {
            minor_text.parse().ok()?
        };
        Some(DjangoVersion { major, minor })
    }

    /// `db_default` exists (Django 5.0+).
    pub fn has_db_default(self) -> bool {
        self >= DjangoVersion { major: 5, minor: 0 }
    }
}

impl std::fmt::Display for DjangoVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The version the project at `start` pins, and the file that says so.
pub fn detect(start: &Path) -> Option<(DjangoVersion, PathBuf)> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        for (name, read) in READERS {
            let path = dir.join(name);
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Some(v) = read(&text) {
                    return Some((v, path));
                }
            }
        }
        // Requirements files by any name (`requirements/base.txt`, `requirements-prod.txt`).
        let mut requirements: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .flat_map(|p| {
                if p.is_dir() && p.file_name().is_some_and(|n| n == "requirements") {
                    std::fs::read_dir(&p)
                        .into_iter()
                        .flatten()
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .collect::<Vec<_>>()
                } else {
                    vec![p]
                }
            })
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("requirements")
                        || p.parent().is_some_and(|d| d.ends_with("requirements"))
                }) && p.extension().is_some_and(|e| e == "txt" || e == "in")
            })
            .collect();
        requirements.sort();
        for path in requirements {
            if let Some(v) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| from_requirements(&t))
            {
                return Some((v, path));
            }
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

type Reader = fn(&str) -> Option<DjangoVersion>;

const READERS: &[(&str, Reader)] = &[
    ("uv.lock", from_toml_lock),
    ("poetry.lock", from_toml_lock),
    ("Pipfile.lock", from_pipfile_lock),
    ("pyproject.toml", from_pyproject),
];

/// `[[package]] name = "django" version = "5.2.1"` (uv and poetry).
fn from_toml_lock(text: &str) -> Option<DjangoVersion> {
    let doc: toml::Value = toml::from_str(text).ok()?;
    doc.get("package")?.as_array()?.iter().find_map(|p| {
        let name = p.get("name")?.as_str()?;
        if !name.eq_ignore_ascii_case("django") {
            return None;
        }
        DjangoVersion::parse(p.get("version")?.as_str()?)
    })
}

/// `"default": {"django": {"version": "==5.2.1"}}`.
fn from_pipfile_lock(text: &str) -> Option<DjangoVersion> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let default = doc.get("default")?.as_object()?;
    let (_, entry) = default
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("django"))?;
    lowest_allowed(entry.get("version")?.as_str()?)
}

/// `[project] dependencies = ["Django>=5.0,<6"]` or Poetry's `django = "^5.0"`.
fn from_pyproject(text: &str) -> Option<DjangoVersion> {
    let doc: toml::Value = toml::from_str(text).ok()?;
    let listed = doc
        .get("project")
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str())
        .find_map(from_requirement_line);
    if listed.is_some() {
        return listed;
    }
    let poetry = doc
        .get("tool")?
        .get("poetry")?
        .get("dependencies")?
        .as_table()?;
    let (_, spec) = poetry
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("django"))?;
    let spec = match spec {
        toml::Value::String(s) => s.clone(),
        toml::Value::Table(t) => t.get("version")?.as_str()?.to_string(),
        _ => return None,
    };
    lowest_allowed(&spec)
}

fn from_requirements(text: &str) -> Option<DjangoVersion> {
    text.lines().find_map(from_requirement_line)
}

/// `Django==5.2.1`, `django>=4.2,<5.0 ; python_version > "3"`, `Django[argon2]~=5.1`.
fn from_requirement_line(line: &str) -> Option<DjangoVersion> {
    let line = line.split('#').next()?.split(';').next()?.trim();
    let name_end = line
        .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(line.len());
    if !line[..name_end].eq_ignore_ascii_case("django") {
        return None;
    }
    let rest = line[name_end..].trim_start();
    let rest = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']').map_or("", |(_, after)| after),
        None => rest,
    };
    lowest_allowed(rest)
}

/// The lowest version a constraint allows: `==5.2.1`, `>=5.0,<6`, `~=5.1`, `^5.0`, `5.2.*`.
fn lowest_allowed(spec: &str) -> Option<DjangoVersion> {
    spec.split(',').find_map(|clause| {
        let clause = clause.trim();
        let version = ["===", "==", ">=", "~=", "^", "~", ">"]
            .iter()
            .find_map(|op| clause.strip_prefix(op))
            .or_else(|| {
                clause
                    .starts_with(|c: char| c.is_ascii_digit())
                    .then_some(clause)
            })?;
        DjangoVersion::parse(version.trim().trim_end_matches(".*"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32) -> Option<DjangoVersion> {
        Some(DjangoVersion { major, minor })
    }

    #[test]
    fn reads_the_constraints_projects_write() {
        assert_eq!(
            from_requirements("# base\nDjango==5.2.1\npsycopg\n"),
            v(5, 2)
        );
        assert_eq!(
            from_requirements("django>=4.2,<5.0 ; python_version > '3'\n"),
            v(4, 2)
        );
        assert_eq!(from_requirements("Django[argon2]~=5.1\n"), v(5, 1));
        assert_eq!(from_requirements("django-environ==0.11\n"), None);
        assert_eq!(
            from_pyproject("[project]\ndependencies = [\"requests\", \"Django>=5.0,<6\"]\n"),
            v(5, 0)
        );
        assert_eq!(
            from_pyproject("[tool.poetry.dependencies]\npython = \"^3.12\"\ndjango = \"^4.2\"\n"),
            v(4, 2)
        );
        assert_eq!(
            from_toml_lock("[[package]]\nname = \"asgiref\"\nversion = \"3.8\"\n\n[[package]]\nname = \"django\"\nversion = \"5.1.4\"\n"),
            v(5, 1)
        );
        assert_eq!(
            from_pipfile_lock(r#"{"default": {"django": {"version": "==4.2.16"}}}"#),
            v(4, 2)
        );
        assert!(DjangoVersion { major: 5, minor: 0 }.has_db_default());
        assert!(!DjangoVersion { major: 4, minor: 2 }.has_db_default());
    }

    #[test]
    fn the_lock_file_wins_over_the_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("requirements.txt"), "Django>=4.2\n").expect("write");
        std::fs::write(
            dir.path().join("uv.lock"),
            "[[package]]\nname = \"django\"\nversion = \"5.2.3\"\n",
        )
        .expect("write");
        std::fs::create_dir(dir.path().join(".git")).expect("mkdir");
        let (found, path) = detect(dir.path()).expect("found");
        assert_eq!(found, DjangoVersion { major: 5, minor: 2 });
        assert!(path.ends_with("uv.lock"));
        std::fs::remove_file(dir.path().join("uv.lock")).expect("rm");
        assert_eq!(detect(dir.path()).map(|(v, _)| v), v(4, 2));
    }
}
