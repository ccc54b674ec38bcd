//! The run key: what makes a run exactly-once. Derived from what identifies the
//! migration (cluster, task definition ARN, command, commit), it becomes the task's
//! `startedBy` (≤ 128 characters of `[A-Za-z0-9/_-]`) and RunTask's `clientToken` (≤ 64
//! printable ASCII characters, kept by ECS per cluster for 24 hours), so a retried CI job
//! finds or gets back the task the first attempt started instead of starting another.

use sha2::{Digest, Sha256};

/// Every migrail task's `startedBy` starts with this: other migrations of the same
/// task family are recognised by it.
pub const PREFIX: &str = "migrail-";

/// The key for these inputs: `migrail-` and 32 hex digits of their SHA-256.
pub fn derive(cluster: &str, task_definition_arn: &str, command: &[String], sha: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [cluster, task_definition_arn, sha] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    for arg in command {
        hasher.update(arg.as_bytes());
        hasher.update([1u8]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// Check a `--run-key` given by hand: it must be usable as both `startedBy` and
/// `clientToken`. Keys not starting with `migrail-` get the prefix.
pub fn validate(key: &str) -> Result<String, String> {
    let key = if key.starts_with(PREFIX) {
        key.to_string()
    } else {
        format!("{PREFIX}{key}")
    };
    if key.len() > 64 {
        return Err(format!(
            "--run-key `{key}` is {} characters: at most 64 (with the `{PREFIX}` prefix)",
            key.len()
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')))
    {
        return Err(format!(
            "--run-key `{key}`: `{bad}` is not allowed (letters, digits, `/`, `_`, `-`)"
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_stable_and_changes_with_each_input() {
        let cmd = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let base = derive(
            "prod",
            "arn:td/web:7",
            &cmd("python manage.py migrate"),
            "abc",
        );
        assert_eq!(
            base,
            derive(
                "prod",
                "arn:td/web:7",
                &cmd("python manage.py migrate"),
                "abc"
            )
        );
        assert!(base.starts_with(PREFIX) && base.len() == PREFIX.len() + 32);
        assert!(validate(&base).is_ok());
        for other in [
            derive(
                "stage",
                "arn:td/web:7",
                &cmd("python manage.py migrate"),
                "abc",
            ),
            derive(
                "prod",
                "arn:td/web:8",
                &cmd("python manage.py migrate"),
                "abc",
            ),
            derive(
                "prod",
                "arn:td/web:7",
                &cmd("python manage.py migrate x"),
                "abc",
            ),
            derive(
                "prod",
                "arn:td/web:7",
                &cmd("python manage.py migrate"),
                "abd",
            ),
            // Argument boundaries matter: ["a b"] is not ["a", "b"].
            derive(
                "prod",
                "arn:td/web:7",
                &["python manage.py migrate".into()],
                "abc",
            ),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn hand_written_keys_are_checked() {
        assert_eq!(validate("deploy-42").as_deref(), Ok("migrail-deploy-42"));
        assert!(validate("has space").is_err());
        assert!(validate(&"x".repeat(60)).is_err());
    }
}
