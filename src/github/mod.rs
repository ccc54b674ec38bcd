//! The sticky pull request comment, through GitHub's REST API with octocrab.
//!
//! One comment per PR and key: the body starts with a hidden marker; every page of the
//! PR's comments is searched for one that carries the marker **and** was written by the
//! token's own identity (another bot quoting our words is never touched); it is updated
//! in place with a real `PATCH` (octocrab's `update_comment` sends `POST`), skipped when
//! the body is unchanged, created otherwise. A 403 (read-only token on a fork PR, no
//! `pull-requests: write`) is reported as such, for the caller to degrade gracefully.
//! The token is only ever handed to octocrab: no message here can contain it.

pub mod review;

use octocrab::Octocrab;
use serde_json::Value;

use crate::ci::Secret;

/// Pages of comments read at most (100 each).
const MAX_PAGES: u32 = 100;

#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    Created { id: u64, url: String },
    Updated { id: u64, url: String },
    Unchanged { id: u64, url: String },
}

#[derive(Debug)]
pub enum Error {
    /// 403: the token may not comment (fork PR, missing permission).
    Forbidden(String),
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Forbidden(m) | Error::Other(m) => f.write_str(m),
        }
    }
}

pub struct Client {
    octo: Octocrab,
    owner: String,
    repo: String,
}

fn describe(e: octocrab::Error, what: &str) -> Error {
    if let octocrab::Error::GitHub { source, .. } = &e {
        let status = source.status_code.as_u16();
        let message = format!("{what}: GitHub answered {status}: {}", source.message);
        return if status == 403 {
            Error::Forbidden(message)
        } else {
            Error::Other(message)
        };
    }
    Error::Other(format!("{what}: {e}"))
}

impl Client {
    /// A client for `owner/name` at `api_url` (GitHub Enterprise: `https://HOST/api/v3`).
    pub fn new(api_url: &str, repository: &str, token: &Secret) -> Result<Client, Error> {
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                Error::Other(format!("repository `{repository}`: expected OWNER/NAME"))
            })?;
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| Error::Other(format!("GitHub API URL `{api_url}`: {e}")))?
            .personal_token(token.expose().to_string())
            .build()
            .map_err(|e| Error::Other(format!("GitHub client: {e}")))?;
        Ok(Client {
            octo,
            owner: owner.to_string(),
            repo: repo.to_string(),
        })
    }

    /// The login of the token's owner. Installation tokens (Actions' `GITHUB_TOKEN`)
    /// cannot read `/user`; in Actions they comment as `github-actions[bot]`.
    pub async fn identity(&self, in_actions: bool) -> Option<String> {
        match self.octo.current().user().await {
            Ok(user) => Some(user.login),
            Err(_) if in_actions => Some("github-actions[bot]".to_string()),
            Err(_) => None,
        }
    }

    /// The open pull request a commit belongs to (push builds), if any.
    pub async fn pr_for_commit(&self, sha: &str) -> Result<Option<u64>, Error> {
        let route = format!("/repos/{}/{}/commits/{sha}/pulls", self.owner, self.repo);
        let pulls: Vec<Value> = self
            .octo
            .get(route, None::<&()>)
            .await
            .map_err(|e| describe(e, "listing the pull requests of the commit"))?;
        let open = pulls.iter().find(|p| p["state"] == "open");
        Ok(open.or(pulls.first()).and_then(|p| p["number"].as_u64()))
    }

    /// Create or update the comment carrying `marker` on PR `pr`.
    pub async fn upsert(
        &self,
        pr: u64,
        marker: &str,
        body: &str,
        identity: Option<&str>,
    ) -> Result<Posted, Error> {
        let what = format!("comments of {}/{}#{pr}", self.owner, self.repo);
        let mut page = self
            .octo
            .issues(&self.owner, &self.repo)
            .list_comments(pr)
            .per_page(100)
            .send()
            .await
            .map_err(|e| describe(e, &format!("reading the {what}")))?;
        let mut found = None;
        for _ in 0..MAX_PAGES {
            found = page
                .items
                .iter()
                .find(|c| {
                    let ours = identity.is_none_or(|me| c.user.login == me);
                    let marked = c
                        .body
                        .as_deref()
                        .is_some_and(|b| b.trim_start().starts_with(marker));
                    ours && marked
                })
                .cloned();
            if found.is_some() {
                break;
            }
            match self
                .octo
                .get_page::<octocrab::models::issues::Comment>(&page.next)
                .await
                .map_err(|e| describe(e, &format!("reading the {what}")))?
            {
                Some(next) => page = next,
                None => break,
            }
        }
        match found {
            Some(existing) => {
                let id = existing.id.into_inner();
                let url = existing.html_url.to_string();
                if existing.body.as_deref() == Some(body) {
                    return Ok(Posted::Unchanged { id, url });
                }
                let route = format!("/repos/{}/{}/issues/comments/{id}", self.owner, self.repo);
                let updated: Value = self
                    .octo
                    .patch(route, Some(&serde_json::json!({ "body": body })))
                    .await
                    .map_err(|e| describe(e, &format!("updating comment {id} of {what}")))?;
                let url = updated["html_url"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(url);
                Ok(Posted::Updated { id, url })
            }
            None => {
                let created = self
                    .octo
                    .issues(&self.owner, &self.repo)
                    .create_comment(pr, body)
                    .await
                    .map_err(|e| describe(e, &format!("creating a comment in {what}")))?;
                Ok(Posted::Created {
                    id: created.id.into_inner(),
                    url: created.html_url.to_string(),
                })
            }
        }
    }
}
