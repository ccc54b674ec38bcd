//! Review comments on the lines of a pull request (the fixes as GitHub suggestions): the
//! pull request's files and the lines their diff lets a comment sit on, and keeping our
//! review comments in step with what is wanted — each carries a hidden marker with the
//! key and an id; one whose id is no longer wanted is deleted, one whose text changed is
//! updated in place (`PATCH`), one whose lines moved is deleted and posted again (a review
//! comment cannot move), and a duplicate is deleted. Only comments written by the token's
//! own identity and carrying our marker are ever changed.

use std::collections::{BTreeMap, BTreeSet};

use octocrab::Page;
use serde_json::Value;

use super::{describe, Client, Error, MAX_PAGES};

/// A file of the pull request, with its diff when GitHub gives one (not for binary or
/// very large files).
#[derive(Clone, Debug)]
pub struct PrFile {
    pub path: String,
    pub patch: Option<String>,
}

/// A review comment wanted on `path`, lines `start_line..=line` of the head commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Stable across runs for the same findings: what finds the comment again.
    pub id: String,
    pub path: String,
    pub start_line: usize,
    pub line: usize,
    /// Starting with [`marker`] for this id.
    pub body: String,
}

/// What keeping the review comments in step did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
}

/// The hidden first line of a review comment of ours for `key` and `id`.
pub fn marker(key: &str, id: &str) -> String {
    format!("{}id={id} -->", prefix(key))
}

fn prefix(key: &str) -> String {
    let key: String = key
        .chars()
        .filter(|c| !c.is_control() && *c != '>')
        .collect::<String>()
        .replace("--", "-")
        .replace(' ', "_");
    format!("<!-- migrail:suggestion key={key} ")
}

/// The id in a body carrying our marker for `key`.
fn id_of<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let rest = body.trim_start().strip_prefix(&prefix(key))?;
    let rest = rest.strip_prefix("id=")?;
    let (id, _) = rest.split_once(" -->")?;
    Some(id)
}

/// The lines of the new side of each hunk of a unified diff (`patch` of the files API):
/// line number → text. A comment may span lines of one hunk only.
pub fn hunks(patch: &str) -> Vec<BTreeMap<usize, String>> {
    let mut out: Vec<BTreeMap<usize, String>> = Vec::new();
    let mut next: Option<usize> = None;
    for line in patch.lines() {
        if let Some(header) = line.strip_prefix("@@ ") {
            // `@@ -a,b +c,d @@ context`
            next = header
                .split(' ')
                .find_map(|part| part.strip_prefix('+'))
                .and_then(|plus| plus.split(',').next())
                .and_then(|n| n.parse().ok());
            out.push(BTreeMap::new());
            continue;
        }
        let (Some(n), Some(hunk)) = (next, out.last_mut()) else {
            continue;
        };
        match line.as_bytes().first() {
            Some(b'+') | Some(b' ') => {
                hunk.insert(n, line[1..].to_string());
                next = Some(n + 1);
            }
            // An empty context line (some diffs drop the space).
            None => {
                hunk.insert(n, String::new());
                next = Some(n + 1);
            }
            _ => {}
        }
    }
    out
}

impl Client {
    /// Every item of a paginated list, at most [`MAX_PAGES`] pages of 100.
    async fn all(&self, route: String, what: &str) -> Result<Vec<Value>, Error> {
        let mut page: Page<Value> = self
            .octo
            .get(&route, Some(&[("per_page", "100")]))
            .await
            .map_err(|e| describe(e, what))?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            out.append(&mut page.items);
            match self
                .octo
                .get_page::<Value>(&page.next)
                .await
                .map_err(|e| describe(e, what))?
            {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// The head commit of pull request `pr`.
    pub async fn head_sha(&self, pr: u64) -> Result<String, Error> {
        let route = format!("/repos/{}/{}/pulls/{pr}", self.owner, self.repo);
        let what = format!("reading {}/{}#{pr}", self.owner, self.repo);
        let pull: Value = self
            .octo
            .get(route, None::<&()>)
            .await
            .map_err(|e| describe(e, &what))?;
        pull["head"]["sha"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Other(format!("{what}: no head commit in GitHub's answer")))
    }

    /// The files pull request `pr` changes (renames under their new path).
    pub async fn pr_files(&self, pr: u64) -> Result<Vec<PrFile>, Error> {
        let route = format!("/repos/{}/{}/pulls/{pr}/files", self.owner, self.repo);
        let what = format!("reading the files of {}/{}#{pr}", self.owner, self.repo);
        Ok(self
            .all(route, &what)
            .await?
            .into_iter()
            .filter_map(|f| {
                Some(PrFile {
                    path: f["filename"].as_str()?.to_string(),
                    patch: f["patch"].as_str().map(str::to_string),
                })
            })
            .collect())
    }

    /// Make our review comments for `key` on pull request `pr` exactly `wanted`, at
    /// `commit` (the head).
    pub async fn sync_review_comments(
        &self,
        pr: u64,
        commit: &str,
        key: &str,
        wanted: &[Wanted],
        identity: Option<&str>,
    ) -> Result<Synced, Error> {
        let (owner, repo) = (&self.owner, &self.repo);
        let what = format!("review comments of {owner}/{repo}#{pr}");
        let existing = self
            .all(
                format!("/repos/{owner}/{repo}/pulls/{pr}/comments"),
                &format!("reading the {what}"),
            )
            .await?;
        // Ours: by id, in the order GitHub lists them (oldest first).
        let mut ours: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for c in &existing {
            let mine = identity.is_none_or(|me| c["user"]["login"].as_str() == Some(me));
            if let Some(id) = c["body"].as_str().and_then(|b| id_of(b, key)) {
                if mine {
                    ours.entry(id.to_string()).or_default().push(c);
                }
            }
        }
        let mut out = Synced::default();
        let mut delete: Vec<u64> = Vec::new();
        let mut create: Vec<&Wanted> = Vec::new();
        let wanted_ids: BTreeSet<&str> = wanted.iter().map(|w| w.id.as_str()).collect();
        for (id, comments) in &ours {
            if !wanted_ids.contains(id.as_str()) {
                delete.extend(comments.iter().filter_map(|c| c["id"].as_u64()));
            }
        }
        for w in wanted {
            let Some((first, duplicates)) = ours.get(&w.id).and_then(|cs| cs.split_first()) else {
                create.push(w);
                continue;
            };
            delete.extend(duplicates.iter().filter_map(|c| c["id"].as_u64()));
            let Some(id) = first["id"].as_u64() else {
                create.push(w);
                continue;
            };
            let start = if w.start_line == w.line {
                None
            } else {
                Some(w.start_line as u64)
            };
            let placed = first["path"].as_str() == Some(&w.path)
                && first["line"].as_u64() == Some(w.line as u64)
                && first["start_line"].as_u64() == start;
            if !placed {
                delete.push(id);
                create.push(w);
            } else if first["body"].as_str() == Some(&w.body) {
                out.unchanged += 1;
            } else {
                let route = format!("/repos/{owner}/{repo}/pulls/comments/{id}");
                let _: Value = self
                    .octo
                    .patch(route, Some(&serde_json::json!({ "body": w.body })))
                    .await
                    .map_err(|e| describe(e, &format!("updating review comment {id} of {what}")))?;
                out.updated += 1;
            }
        }
        for id in delete {
            let route = format!("/repos/{owner}/{repo}/pulls/comments/{id}");
            let response = self
                .octo
                ._delete(route.as_str(), None::<&()>)
                .await
                .map_err(|e| describe(e, &format!("deleting review comment {id} of {what}")))?;
            octocrab::map_github_error(response)
                .await
                .map_err(|e| describe(e, &format!("deleting review comment {id} of {what}")))?;
            out.deleted += 1;
        }
        for w in create {
            let mut body = serde_json::json!({
                "body": w.body,
                "commit_id": commit,
                "path": w.path,
                "line": w.line,
                "side": "RIGHT",
            });
            if w.start_line != w.line {
                body["start_line"] = w.start_line.into();
                body["start_side"] = "RIGHT".into();
            }
            let route = format!("/repos/{owner}/{repo}/pulls/{pr}/comments");
            let _: Value = self.octo.post(route, Some(&body)).await.map_err(|e| {
                describe(
                    e,
                    &format!("commenting on {} line {} in {what}", w.path, w.line),
                )
            })?;
            out.created += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_side_of_each_hunk() {
        let patch = "@@ -1,3 +1,4 @@\n a\n-b\n+B\n+C\n c\n@@ -10,2 +11,2 @@ def f():\n x\n-y\n+Y\n\\ No newline at end of file";
        let h = hunks(patch);
        assert_eq!(h.len(), 2);
        assert_eq!(
            h[0].iter()
                .map(|(n, t)| (*n, t.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "a"), (2, "B"), (3, "C"), (4, "c")]
        );
        assert_eq!(
            h[1].iter()
                .map(|(n, t)| (*n, t.as_str()))
                .collect::<Vec<_>>(),
            vec![(11, "x"), (12, "Y")]
        );
        // A new file is one hunk.
        let added = hunks("@@ -0,0 +1,2 @@\n+one\n+two");
        assert_eq!(added[0].keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn the_marker_carries_the_key_and_the_id() {
        let body = format!("{}\nsuggestion", marker("prod env", "ab12"));
        assert_eq!(id_of(&body, "prod env"), Some("ab12"));
        assert_eq!(id_of(&body, "default"), None);
        assert_eq!(
            id_of("<!-- migrail:comment key=default -->", "default"),
            None
        );
    }
}
