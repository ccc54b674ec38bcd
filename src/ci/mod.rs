//! Where migrail runs: GitHub Actions, AWS CodeBuild (GitHub webhook builds), or a
//! developer's machine, and what that environment says about the change — repository,
//! pull request, commit, base branch, the build's URL, the GitHub API URL (GitHub
//! Enterprise) and the token. Everything comes from the environment and, in Actions, the
//! event file (`GITHUB_EVENT_PATH`), as runner.md lists.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

/// The CI system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    GitHubActions,
    CodeBuild,
    Local,
}

/// A credential: shown as `***` by `Debug`, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Debug)]
pub struct Context {
    pub provider: Provider,
    /// `owner/name`.
    pub repository: Option<String>,
    pub pr: Option<u64>,
    pub sha: Option<String>,
    /// The pull request's base branch.
    pub base_ref: Option<String>,
    /// The pull request's base commit (`pull_request.base.sha` of the event).
    pub base_sha: Option<String>,
    /// A link to this build.
    pub run_url: Option<String>,
    /// `https://github.com` or the Enterprise server: for links to files.
    pub server_url: String,
    /// The REST API root.
    pub api_url: String,
    pub token: Option<Secret>,
    /// `pull_request`, `push`, `pull_request_target`, ... (Actions); `PULL_REQUEST_*`,
    /// `PUSH` (CodeBuild's webhook event).
    pub event: Option<String>,
    /// The change comes from a fork (its token is read-only; never run its migrations).
    pub from_fork: bool,
    /// On a push: the commit the branch was at before (what the push changed is after it).
    pub before: Option<String>,
}

impl Context {
    /// Read the context from the process environment.
    pub fn detect() -> Result<Context, String> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Context::from_env(&env)
    }

    /// Read the context from `env` (and the event file it names).
    pub fn from_env(env: &HashMap<String, String>) -> Result<Context, String> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let token = get("GITHUB_TOKEN")
            .or_else(|| get("GH_TOKEN"))
            .map(Secret::new);
        if get("GITHUB_ACTIONS").as_deref() == Some("true") {
            let server_url =
                get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            let api_url = get("GITHUB_API_URL").unwrap_or_else(|| api_for(&server_url));
            let event = match get("GITHUB_EVENT_PATH") {
                Some(path) => read_event(Path::new(&path))?,
                None => Value::Null,
            };
            let pr_obj = &event["pull_request"];
            let pr = pr_obj["number"].as_u64().or_else(|| {
                event["issue"]["pull_request"]
                    .is_object()
                    .then(|| event["issue"]["number"].as_u64())
                    .flatten()
            });
            let head_repo = pr_obj["head"]["repo"]["full_name"].as_str();
            let base_repo = pr_obj["base"]["repo"]["full_name"].as_str();
            let from_fork = pr_obj["head"]["repo"]["fork"].as_bool().unwrap_or(false)
                || matches!((head_repo, base_repo), (Some(h), Some(b)) if h != b);
            let repository = get("GITHUB_REPOSITORY");
            let run_url = match (&repository, get("GITHUB_RUN_ID")) {
                (Some(repo), Some(run)) => Some(format!("{server_url}/{repo}/actions/runs/{run}")),
                _ => None,
            };
            return Ok(Context {
                provider: Provider::GitHubActions,
                repository,
                pr,
                // On pull_request events GITHUB_SHA is the merge commit; link the head.
                sha: pr_obj["head"]["sha"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| get("GITHUB_SHA")),
                base_ref: get("GITHUB_BASE_REF")
                    .or_else(|| pr_obj["base"]["ref"].as_str().map(str::to_string)),
                base_sha: pr_obj["base"]["sha"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                run_url,
                server_url,
                api_url,
                token,
                event: get("GITHUB_EVENT_NAME"),
                from_fork,
                before: event["before"]
                    .as_str()
                    .filter(|b| b.chars().any(|c| c != '0'))
                    .map(str::to_string),
            });
        }
        if get("CODEBUILD_BUILD_ID").is_some() {
            let pr = ["CODEBUILD_WEBHOOK_TRIGGER", "CODEBUILD_SOURCE_VERSION"]
                .iter()
                .filter_map(|k| get(k))
                .find_map(|v| v.strip_prefix("pr/").and_then(|n| n.parse::<u64>().ok()));
            let (server_url, repository) = match get("CODEBUILD_SOURCE_REPO_URL") {
                Some(url) => split_repo_url(&url).ok_or_else(|| {
                    format!("CODEBUILD_SOURCE_REPO_URL `{url}` is not a GitHub repository URL")
                })?,
                None => ("https://github.com".to_string(), String::new()),
            };
            let api_url = get("GITHUB_API_URL").unwrap_or_else(|| api_for(&server_url));
            return Ok(Context {
                provider: Provider::CodeBuild,
                repository: (!repository.is_empty()).then_some(repository),
                pr,
                sha: get("CODEBUILD_RESOLVED_SOURCE_VERSION"),
                base_ref: get("CODEBUILD_WEBHOOK_BASE_REF").map(|r| {
                    r.strip_prefix("refs/heads/")
                        .map(str::to_string)
                        .unwrap_or(r)
                }),
                base_sha: None,
                run_url: get("CODEBUILD_BUILD_URL"),
                server_url,
                api_url,
                token,
                event: get("CODEBUILD_WEBHOOK_EVENT"),
                // CodeBuild builds fork PRs only when the webhook allows it; the head
                // repository is not in its environment. Trust the webhook filter.
                from_fork: false,
                before: get("CODEBUILD_WEBHOOK_PREV_COMMIT")
                    .filter(|b| b.chars().any(|c| c != '0')),
            });
        }
        Ok(Context {
            provider: Provider::Local,
            repository: get("GITHUB_REPOSITORY"),
            pr: None,
            sha: None,
            base_ref: None,
            base_sha: None,
            run_url: None,
            server_url: "https://github.com".into(),
            api_url: get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            token,
            event: None,
            from_fork: false,
            before: None,
        })
    }

    /// A link to `path` at `line` in the commit under review.
    pub fn file_url(&self, path: &str, line: usize) -> Option<String> {
        let repo = self.repository.as_deref()?;
        let sha = self.sha.as_deref()?;
        Some(format!(
            "{}/{repo}/blob/{sha}/{path}#L{line}",
            self.server_url
        ))
    }
}

fn read_event(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("GITHUB_EVENT_PATH {}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("GITHUB_EVENT_PATH {}: not JSON: {e}", path.display()))
}

/// The REST API root of a GitHub server.
fn api_for(server_url: &str) -> String {
    let server = server_url.trim_end_matches('/');
    if server == "https://github.com" {
        "https://api.github.com".into()
    } else {
        format!("{server}/api/v3")
    }
}

/// `https://github.com/owner/repo(.git)` (also `git@host:owner/repo.git`) →
/// (`https://host`, `owner/repo`).
fn split_repo_url(url: &str) -> Option<(String, String)> {
    let (host, path) = if let Some(rest) = url.strip_prefix("git@") {
        rest.split_once(':')?
    } else {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        rest.split_once('/')?
    };
    let host = host.rsplit('@').next()?; // drop credentials in the URL
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = path.split('/');
    let (owner, name) = (parts.next()?, parts.next()?);
    if owner.is_empty() || name.is_empty() || parts.next().is_some() {
        return None;
    }
    Some((format!("https://{host}"), format!("{owner}/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn github_actions_pull_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request": {"number": 42, "head": {"sha": "abc123", "repo": {"full_name": "fork/shop", "fork": true}}, "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}}"#).expect("write");
        let c = Context::from_env(&env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().expect("utf-8")),
            ("GITHUB_SHA", "merge999"),
            ("GITHUB_RUN_ID", "7"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com"),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
            ("GITHUB_TOKEN", "ghs_secret"),
        ]))
        .expect("context");
        assert_eq!(c.provider, Provider::GitHubActions);
        assert_eq!(
            (c.pr, c.sha.as_deref(), c.base_ref.as_deref()),
            (Some(42), Some("abc123"), Some("main"))
        );
        assert!(c.from_fork);
        assert_eq!(c.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(
            c.run_url.as_deref(),
            Some("https://ghe.example.com/acme/shop/actions/runs/7")
        );
        assert_eq!(
            c.file_url("shop/migrations/0002_x.py", 9).as_deref(),
            Some("https://ghe.example.com/acme/shop/blob/abc123/shop/migrations/0002_x.py#L9")
        );
        assert!(
            !format!("{c:?}").contains("ghs_secret"),
            "Debug hides the token"
        );
    }

    #[test]
    fn codebuild_webhook() {
        let c = Context::from_env(&env(&[
            ("CODEBUILD_BUILD_ID", "shop:1"),
            ("CODEBUILD_WEBHOOK_TRIGGER", "pr/42"),
            (
                "CODEBUILD_SOURCE_REPO_URL",
                "https://github.com/acme/shop.git",
            ),
            ("CODEBUILD_RESOLVED_SOURCE_VERSION", "abc123"),
            ("CODEBUILD_WEBHOOK_BASE_REF", "refs/heads/main"),
            (
                "CODEBUILD_BUILD_URL",
                "https://console.aws.amazon.com/codesuite/codebuild/x",
            ),
        ]))
        .expect("context");
        assert_eq!(c.provider, Provider::CodeBuild);
        assert_eq!(c.repository.as_deref(), Some("acme/shop"));
        assert_eq!(c.pr, Some(42));
        assert_eq!(c.base_ref.as_deref(), Some("main"));
        assert_eq!(c.api_url, "https://api.github.com");
        let c = Context::from_env(&env(&[
            ("CODEBUILD_BUILD_ID", "shop:1"),
            ("CODEBUILD_SOURCE_VERSION", "pr/7"),
            (
                "CODEBUILD_SOURCE_REPO_URL",
                "https://ghe.example.com/acme/shop",
            ),
        ]))
        .expect("context");
        assert_eq!(
            (c.pr, c.api_url.as_str()),
            (Some(7), "https://ghe.example.com/api/v3")
        );
    }

    #[test]
    fn repo_urls() {
        assert_eq!(
            split_repo_url("git@github.com:acme/shop.git"),
            Some(("https://github.com".into(), "acme/shop".into()))
        );
        assert_eq!(
            split_repo_url("https://x-token:abc@github.com/acme/shop"),
            Some(("https://github.com".into(), "acme/shop".into()))
        );
        assert_eq!(split_repo_url("https://github.com/acme"), None);
    }
}
