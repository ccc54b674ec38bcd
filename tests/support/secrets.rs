//! Output lines holding one secret of each kind migrail redacts, the ordinary lines it
//! must leave intact, and the check that a published surface carries none of the secrets
//! (tests/run.rs for the local backend and the PR comment, tests/ecs.rs for a task's
//! CloudWatch log stream).

#![allow(dead_code)]

/// A value the run is given in its environment under a secret-looking name; it appears
/// in prose, where only its exact value can find it.
pub const KNOWN_ENV_VALUE: &str = "Pl41nV4lue-known-to-the-run";
/// migrail's own `GITHUB_TOKEN` (an old installation-token shape that no pattern knows).
pub const OWN_GITHUB_TOKEN: &str = "v1.0123456789abcdef0123456789abcdef01234567";
/// migrail's own AWS session token.
pub const OWN_SESSION_TOKEN: &str = "FwoGZXIvYXdzEBYaDN1c2Vzc2lvbnRva2Vu";

/// (line, the secret in it): one per kind the redactor knows by its shape.
pub fn shaped() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "connecting to postgres://app:S3cr3tPassw0rd@db.internal:5432/app",
            "S3cr3tPassw0rd",
        ),
        ("DATABASE_PASSWORD=hunter2-Horse-Battery", "hunter2-Horse-Battery"),
        ("SECRET_KEY: django-insecure-7xk2p9qzz", "django-insecure-7xk2p9qzz"),
        (r#"settings: {"api_key": "sk_live_51HabcDEFghi"}"#, "sk_live_51HabcDEFghi"),
        (
            "manage.py sync --client-secret 0a1b2c3d4e5f6a7b",
            "0a1b2c3d4e5f6a7b",
        ),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl",
        ),
        (
            "curl -H 'Authorization: Basic YXBwOnMzY3IzdHBhc3N3b3Jk' http://search:9200",
            "YXBwOnMzY3IzdHBhc3N3b3Jk",
        ),
        ("using access key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        (
            "secret is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY today",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "cloning with ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        (
            "pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS",
        ),
        ("-----BEGIN PRIVATE KEY-----", ""),
        (
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
        ),
        ("-----END PRIVATE KEY-----", ""),
    ]
}

/// (line, the secret in it): values known only because migrail was given them.
pub fn known() -> Vec<(String, &'static str)> {
    vec![
        (
            format!("pool ready with {KNOWN_ENV_VALUE} as before"),
            KNOWN_ENV_VALUE,
        ),
        (format!("retrying as {OWN_GITHUB_TOKEN}"), OWN_GITHUB_TOKEN),
        (
            format!("session {OWN_SESSION_TOKEN} renewed"),
            OWN_SESSION_TOKEN,
        ),
    ]
}

/// Ordinary migration output that looks a little like secrets and must stay intact.
pub const ORDINARY: &[&str] = &[
    "Operations to perform:",
    "  Apply all migrations: shop",
    "  Applying shop.0042_token_expiry... OK",
    r#"CREATE INDEX "shop_user_api_token_5f1a2b3c" ON "shop_user" ("api_token");"#,
    r#"ALTER TABLE "shop_user" ADD CONSTRAINT "shop_user_password_check_0a9b8c7d" CHECK (length("password") > 0);"#,
    "Traceback (most recent call last):",
    r#"  File "/app/shop/migrations/0043_backfill_tokens.py", line 12, in forwards"#,
    "    password = models.CharField(max_length=128)",
    r#"django.db.utils.IntegrityError: null value in column "api_token" violates not-null constraint"#,
    "deployed commit 3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49",
];

/// Every output line: the ordinary ones first and last, the secrets between.
pub fn all_lines() -> Vec<String> {
    let mut lines: Vec<String> = ORDINARY[..3].iter().map(|s| s.to_string()).collect();
    lines.extend(shaped().into_iter().map(|(l, _)| l.to_string()));
    lines.extend(known().into_iter().map(|(l, _)| l));
    lines.extend(ORDINARY[3..].iter().map(|s| s.to_string()));
    lines
}

/// Every secret value.
pub fn secrets() -> Vec<&'static str> {
    shaped()
        .into_iter()
        .map(|(_, s)| s)
        .chain(known().into_iter().map(|(_, s)| s))
        .filter(|s| !s.is_empty())
        .collect()
}

/// `surface` holds no secret and every ordinary line, whole.
pub fn assert_clean(surface: &str, text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(secret),
            "{surface} carries the secret `{secret}`:\n{text}"
        );
    }
    assert_ordinary(surface, text);
}

/// Every ordinary line is in `text`, byte for byte (JSON-escaped when `text` is JSON).
pub fn assert_ordinary(surface: &str, text: &str) {
    for line in ORDINARY {
        let escaped = serde_json::to_string(line).expect("json");
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(
            text.contains(line) || text.contains(escaped),
            "{surface} lost the ordinary line `{line}`:\n{text}"
        );
    }
}
