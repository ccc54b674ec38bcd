//! A GitHub REST API on 127.0.0.1 for octocrab to talk to: the routes the sticky comment
//! uses, with GitHub's response shapes (complete enough for octocrab's models),
//! pagination by `per_page`/`page` with a `Link` header, an optional path prefix (GitHub
//! Enterprise's `/api/v3`), and switches for a token that may not comment (403) or may
//! not read `/user` (installation tokens). Review comments as GitHub keeps them: on a
//! commit, a path and lines of the RIGHT side, refused (422) unless every line is in one
//! hunk of the file's diff; the pull request's files with their patches. Every request is
//! recorded.

#![allow(dead_code)]

#[path = "http.rs"]
mod http;

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub authorization: String,
}

#[derive(Clone, Debug)]
pub struct StoredComment {
    pub id: u64,
    pub login: String,
    pub body: String,
}

/// A review comment on lines of a pull request's file.
#[derive(Clone, Debug)]
pub struct StoredReview {
    pub id: u64,
    pub login: String,
    pub body: String,
    pub path: String,
    pub line: u64,
    pub start_line: Option<u64>,
    pub commit_id: String,
}

/// A file of the pull request.
#[derive(Clone, Debug)]
pub struct PrFile {
    pub path: String,
    /// The unified diff from the first `@@`, as GitHub's files API gives it.
    pub patch: Option<String>,
}

#[derive(Default)]
pub struct State {
    pub prefix: String,
    /// The token's login; None: `/user` answers 403 (an installation token).
    pub me: Option<String>,
    /// Comments of PR `owner/repo#pr`.
    pub comments: Vec<StoredComment>,
    /// 403 on every comment route.
    pub forbidden: bool,
    /// commit sha → PR numbers (`/commits/{sha}/pulls`).
    pub pulls_of: HashMap<String, Vec<u64>>,
    pub next_id: u64,
    /// Review comments of the pull request.
    pub reviews: Vec<StoredReview>,
    /// The pull request's files.
    pub files: Vec<PrFile>,
    /// The pull request's head commit.
    pub head: String,
    /// 403 on writing review comments only.
    pub reviews_forbidden: bool,
}

pub struct Server {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

pub fn user(login: &str, base: &str) -> Value {
    let u = format!("{base}/users/{login}");
    json!({
        "login": login, "id": 1000 + login.len(), "node_id": "U_x", "avatar_url": "https://avatars.example/u",
        "gravatar_id": "", "url": u, "html_url": format!("https://github.example/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following"),
        "gists_url": format!("{u}/gists"), "starred_url": format!("{u}/starred"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events"),
        "received_events_url": format!("{u}/received_events"),
        "type": if login.ends_with("[bot]") { "Bot" } else { "User" }, "site_admin": false
    })
}

fn review_json(c: &StoredReview, base: &str) -> Value {
    json!({
        "id": c.id, "node_id": format!("PRRC_{}", c.id),
        "url": format!("{base}/repos/acme/shop/pulls/comments/{}", c.id),
        "html_url": format!("https://github.example/acme/shop/pull/42#discussion_r{}", c.id),
        "body": c.body, "user": user(&c.login, base), "path": c.path, "line": c.line,
        "start_line": c.start_line, "side": "RIGHT",
        "start_side": c.start_line.map(|_| "RIGHT"), "commit_id": c.commit_id,
        "original_commit_id": c.commit_id, "diff_hunk": "@@",
        "author_association": "NONE",
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z"
    })
}

/// The RIGHT-side line numbers of each hunk of `patch`.
fn hunk_lines(patch: &str) -> Vec<Vec<u64>> {
    let mut out: Vec<Vec<u64>> = Vec::new();
    let mut next = 0u64;
    for line in patch.lines() {
        if let Some(h) = line.strip_prefix("@@ ") {
            next = h
                .split(' ')
                .find_map(|p| p.strip_prefix('+'))
                .and_then(|p| p.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            out.push(Vec::new());
        } else if line.starts_with('+') || line.starts_with(' ') {
            if let Some(h) = out.last_mut() {
                h.push(next);
            }
            next += 1;
        }
    }
    out
}

/// One page of `all` with GitHub's `Link` header.
fn page_of(all: Vec<Value>, req: &Request, base: &str, path: &str) -> (u16, Value, Option<String>) {
    let q: HashMap<&str, &str> = req
        .query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let per_page: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link = (page < last).then(|| {
        let p = format!("{base}{path}");
        format!("<{p}?per_page={per_page}&page={}>; rel=\"next\", <{p}?per_page={per_page}&page={last}>; rel=\"last\"", page + 1)
    });
    (200, Value::Array(items), link)
}

fn comment_json(c: &StoredComment, base: &str) -> Value {
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id),
        "url": format!("{base}/repos/acme/shop/issues/comments/{}", c.id),
        "html_url": format!("https://github.example/acme/shop/pull/42#issuecomment-{}", c.id),
        "body": c.body, "user": user(&c.login, base), "author_association": "NONE",
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z"
    })
}

impl Server {
    pub fn start(state: State) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(state));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r, u) = (Arc::clone(&state), Arc::clone(&requests), url.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (s, r, u) = (Arc::clone(&s), Arc::clone(&r), u.clone());
                std::thread::spawn(move || serve(conn, &s, &r, &u));
            }
        });
        Server {
            url,
            state,
            requests,
        }
    }

    /// The API root octocrab is given.
    pub fn api(&self) -> String {
        let prefix = self.state.lock().expect("lock").prefix.clone();
        format!("{}{prefix}", self.url)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    /// Requests other than reads.
    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    pub fn comments(&self) -> Vec<StoredComment> {
        self.state.lock().expect("lock").comments.clone()
    }

    pub fn reviews(&self) -> Vec<StoredReview> {
        self.state.lock().expect("lock").reviews.clone()
    }

    /// A review comment by someone else (or by us, with our login).
    pub fn add_review(&self, login: &str, body: &str, path: &str, line: u64) -> u64 {
        let mut s = self.state.lock().expect("lock");
        s.next_id += 1;
        let id = 9000 + s.next_id;
        let commit_id = s.head.clone();
        s.reviews.push(StoredReview {
            id,
            login: login.into(),
            body: body.into(),
            path: path.into(),
            line,
            start_line: None,
            commit_id,
        });
        id
    }

    /// The pull request now has `head` and these files.
    pub fn set_pull(&self, head: &str, files: Vec<PrFile>) {
        let mut s = self.state.lock().expect("lock");
        s.head = head.into();
        s.files = files;
    }

    pub fn add_comment(&self, login: &str, body: &str) -> u64 {
        let mut s = self.state.lock().expect("lock");
        s.next_id += 1;
        let id = 5000 + s.next_id;
        s.comments.push(StoredComment {
            id,
            login: login.into(),
            body: body.into(),
        });
        id
    }
}

fn answer(req: &Request, state: &Mutex<State>, url: &str) -> (u16, Value, Option<String>) {
    let mut s = state.lock().expect("lock");
    let base = format!("{url}{}", s.prefix);
    let Some(path) = req.path.strip_prefix(&s.prefix) else {
        return (404, json!({"message": "Not Found"}), None);
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.first() == Some(&"repos") && parts.get(1..3) != Some(&["acme", "shop"][..]) {
        return (
            404,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
            None,
        );
    }
    let forbidden = (
        403,
        json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"}),
        None,
    );
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["user"]) => match &s.me {
            Some(me) => (200, user(me, &base), None),
            None => forbidden,
        },
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            if s.forbidden {
                return forbidden;
            }
            let q: HashMap<&str, &str> = req
                .query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let per_page: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
            let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let all = &s.comments;
            let items: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|c| comment_json(c, &base))
                .collect();
            let last = all.len().div_ceil(per_page).max(1);
            let link = (page < last).then(|| {
                let p = format!("{base}{}", path);
                format!("<{p}?per_page={per_page}&page={}>; rel=\"next\", <{p}?per_page={per_page}&page={last}>; rel=\"last\"", page + 1)
            });
            (200, Value::Array(items), link)
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            if s.forbidden {
                return forbidden;
            }
            let Some(me) = s.me.clone().or_else(|| Some("github-actions[bot]".into())) else {
                unreachable!()
            };
            s.next_id += 1;
            let c = StoredComment {
                id: 5000 + s.next_id,
                login: me,
                body: req.body["body"].as_str().unwrap_or_default().to_string(),
            };
            s.comments.push(c.clone());
            (201, comment_json(&c, &base), None)
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            if s.forbidden {
                return forbidden;
            }
            let id: u64 = id.parse().unwrap_or(0);
            let body = req.body["body"].as_str().unwrap_or_default().to_string();
            match s.comments.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = body;
                    let c = c.clone();
                    (200, comment_json(&c, &base), None)
                }
                None => (404, json!({"message": "Not Found"}), None),
            }
        }
        ("GET", ["repos", _, _, "pulls", n]) => (
            200,
            json!({"number": n.parse::<u64>().unwrap_or(0), "state": "open", "head": {"sha": s.head, "ref": "feature"}, "base": {"sha": "base0", "ref": "main"}}),
            None,
        ),
        ("GET", ["repos", _, _, "pulls", _, "files"]) => {
            let all = s
                .files
                .iter()
                .map(|f| json!({"sha": "f0", "filename": f.path, "status": "modified", "additions": 1, "deletions": 0, "changes": 1, "patch": f.patch}))
                .collect();
            page_of(all, req, &base, path)
        }
        ("GET", ["repos", _, _, "pulls", _, "comments"]) => {
            let all = s.reviews.iter().map(|c| review_json(c, &base)).collect();
            page_of(all, req, &base, path)
        }
        ("POST", ["repos", _, _, "pulls", _, "comments"]) => {
            if s.forbidden || s.reviews_forbidden {
                return forbidden;
            }
            let b = &req.body;
            let (Some(path), Some(line), Some(commit)) = (
                b["path"].as_str(),
                b["line"].as_u64(),
                b["commit_id"].as_str(),
            ) else {
                return (422, json!({"message": "Validation Failed"}), None);
            };
            let start = b["start_line"].as_u64();
            let unprocessable = (
                422,
                json!({"message": "Validation Failed", "errors": ["pull_request_review_thread.line must be part of the diff"]}),
                None,
            );
            if commit != s.head || b["side"] != "RIGHT" || start.is_some_and(|st| st >= line) {
                return unprocessable;
            }
            let Some(patch) = s
                .files
                .iter()
                .find(|f| f.path == path)
                .and_then(|f| f.patch.clone())
            else {
                return unprocessable;
            };
            let first = start.unwrap_or(line);
            if !hunk_lines(&patch)
                .iter()
                .any(|h| (first..=line).all(|n| h.contains(&n)))
            {
                return unprocessable;
            }
            let me = s.me.clone().unwrap_or_else(|| "github-actions[bot]".into());
            s.next_id += 1;
            let c = StoredReview {
                id: 9000 + s.next_id,
                login: me,
                body: b["body"].as_str().unwrap_or_default().to_string(),
                path: path.to_string(),
                line,
                start_line: start,
                commit_id: commit.to_string(),
            };
            s.reviews.push(c.clone());
            (201, review_json(&c, &base), None)
        }
        ("PATCH", ["repos", _, _, "pulls", "comments", id]) => {
            if s.forbidden || s.reviews_forbidden {
                return forbidden;
            }
            let id: u64 = id.parse().unwrap_or(0);
            let body = req.body["body"].as_str().unwrap_or_default().to_string();
            match s.reviews.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = body;
                    let c = c.clone();
                    (200, review_json(&c, &base), None)
                }
                None => (404, json!({"message": "Not Found"}), None),
            }
        }
        ("DELETE", ["repos", _, _, "pulls", "comments", id]) => {
            if s.forbidden || s.reviews_forbidden {
                return forbidden;
            }
            let id: u64 = id.parse().unwrap_or(0);
            let before = s.reviews.len();
            s.reviews.retain(|c| c.id != id);
            if s.reviews.len() == before {
                (404, json!({"message": "Not Found"}), None)
            } else {
                (204, Value::Null, None)
            }
        }
        ("GET", ["repos", _, _, "commits", sha, "pulls"]) => {
            let prs = s.pulls_of.get(*sha).cloned().unwrap_or_default();
            (
                200,
                Value::Array(
                    prs.iter()
                        .map(|n| json!({"number": n, "state": "open"}))
                        .collect(),
                ),
                None,
            )
        }
        _ => (404, json!({"message": "Not Found"}), None),
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>, recorded: &Mutex<Vec<Request>>, url: &str) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    while let Some(raw) = http::read_request(&mut reader) {
        let (path, query) = raw.target.split_once('?').unwrap_or((&raw.target, ""));
        let req = Request {
            method: raw.method.clone(),
            path: path.to_string(),
            query: query.to_string(),
            body: serde_json::from_slice(&raw.body).unwrap_or(Value::Null),
            authorization: raw.header("authorization"),
        };
        recorded.lock().expect("lock").push(req.clone());
        let (status, value, link) = answer(&req, state, url);
        let text = if status == 204 {
            String::new()
        } else {
            value.to_string()
        };
        let mut head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n",
            text.len()
        );
        if let Some(link) = link {
            head.push_str(&format!("link: {link}\r\n"));
        }
        head.push_str("\r\n");
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(text.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}
