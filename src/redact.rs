//! One redactor for everything migrail republishes.
//!
//! **Where it is used.** Text migrail did not write itself and shows to someone else goes
//! through one [`Redactor`] before it is printed or stored: the output of a migration run
//! (the local process, the ECS task's CloudWatch logs: the tail kept in the result and the
//! lines echoed to the terminal), the `--json-out` document ([`Redactor::redact_json`]) and
//! `$GITHUB_OUTPUT`, PR comments and job summaries quoting that output, and error messages
//! quoting a command line, a URL or an AWS/GitHub response. Callers build the redactor
//! once per command ([`Redactor::from_process_env`] plus [`Redactor::with_env`] for the
//! variables passed to the run) and redact right before writing. In GitHub Actions,
//! [`Redactor::mask_commands`] also registers the known values with the runner
//! (`::add-mask::`), so the runner's log masking covers what other steps print.
//!
//! **What is redacted** (each replaced with [`MASK`], `***`; the surrounding text is kept
//! byte for byte):
//!
//! - the password of a URL with user information: `postgres://app:***@db:5432/app`
//!   (the user is kept; `redis://:***@host`);
//! - the value of a `KEY=VALUE`, `KEY = VALUE`, `KEY: VALUE`, `"KEY": "VALUE"`,
//!   `'KEY': 'VALUE'`, `"KEY" => "VALUE"`, `--KEY VALUE`, `--KEY=VALUE` pair (also after
//!   `export`, in a query string, in `d["KEY"] = VALUE`) whose key names a secret (see
//!   [`is_secret_name`]); a quoted value keeps its quotes, a bare one ends at whitespace,
//!   `,` `;` `&`, a closing bracket or a quote;
//! - the credential after an authorization scheme (`Authorization: Bearer ***`,
//!   `Authorization: token ***`, and a standalone `Bearer ***` / `Basic ***` when what
//!   follows looks like a credential);
//! - AWS access key ids (`AKIA…`, `ASIA…`, …) and AWS secret access keys (40 characters
//!   of `[A-Za-z0-9/+]` mixing upper case, lower case and digits);
//! - GitHub tokens (`ghp_`, `gho_`, `ghs_`, `ghu_`, `ghr_`, `github_pat_`);
//! - the body of a PEM private key block (`-----BEGIN … PRIVATE KEY-----`);
//! - every exact value the redactor was given ([`Redactor::with_values`],
//!   [`Redactor::with_env`], [`Redactor::from_process_env`]).
//!
//! **What it leaves alone**, on purpose: ordinary migration output. SQL naming a column
//! `api_token` or an index `shop_user_api_token_5f1a2b3c`, migration names
//! (`0042_token_expiry`), the words "password" and "token" in prose, Python source in
//! tracebacks where the "value" is code (`password = models.CharField(max_length=128)`,
//! `'PASSWORD': os.environ['DB_PASSWORD']`, `raw_password: str`, `token = None`), Django
//! check messages (`shop.User.password: (fields.E120) …`), 40-hex git SHAs (lower case
//! only), UUIDs, ECS task ARNs and log stream names, `PWD=/app`.
//!
//! **What it does not do.** It is a best-effort filter over text, not a guarantee:
//!
//! - it is stateless: a PEM block (or a multi-line known value) is recognised only when
//!   the text holds it whole; a caller redacting line by line must not split them (the
//!   lines of a multi-line known value are also known values on their own, though);
//! - a secret that is none of the above (a password in a sentence, `PASSWORD 'x'` in SQL,
//!   a URL password with an unencoded `/`, `?` or `#`) passes unless it is a known value;
//! - known values shorter than 4 characters are ignored (see [`Redactor::with_values`]);
//! - it does not decide where output goes or what is printed; callers redact, then write.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Known values shorter than this (in characters) are not redacted.
const MIN_KNOWN_CHARS: usize = 4;

/// The longest key looked at, in bytes, when reading back from a `=` or `:`.
const MAX_KEY: usize = 128;

/// Environment variables of migrail's own process that are always secrets.
const PROCESS_SECRETS: [&str; 4] = [
    "GITHUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
];

/// Redacts secrets from text (and JSON) before migrail republishes it.
///
/// Build it once per command with the values it knows ([`Redactor::from_process_env`],
/// then [`Redactor::with_env`] for the variables passed to the run) and use it for every
/// output. Patterns (URLs, `KEY=VALUE`, tokens, keys…) apply with or without known values.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Exact values to redact, longest first, deduplicated, each at least 4 characters.
    known: Vec<String>,
}

/// The values themselves are never printed: `Redactor { known: 3 values }`.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor {{ known: {} values }}", self.known.len())
    }
}

impl Redactor {
    /// A redactor with the patterns only, no known values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds exact values to redact wherever they appear.
    ///
    /// Values shorter than 4 characters are ignored (once trimmed): redacting `1` or `dev`
    /// everywhere would destroy the output, and such a value is not much of a secret. So
    /// are placeholders: all `*`, references `${…}`, and `true`, `false`, `null`, `none`,
    /// `nil` (any case). A value with
    /// surrounding whitespace is also known trimmed; a multi-line value is also known line by
    /// line (as GitHub Actions masks it), so a caller redacting line by line still catches
    /// it. Longer values are matched first.
    pub fn with_values<I: IntoIterator<Item = String>>(mut self, values: I) -> Self {
        for value in values {
            self.add_known(&value);
        }
        self.known
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.known.dedup();
        self
    }

    /// Adds the values of the variables whose name looks secret ([`is_secret_name`]): the
    /// environment migrail passes to a run (container overrides, the local process).
    pub fn with_env<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(self, vars: I) -> Self {
        let values: Vec<String> = vars
            .into_iter()
            .filter(|(name, _)| is_secret_name(name))
            .map(|(_, value)| value.to_owned())
            .collect();
        self.with_values(values)
    }

    /// A redactor knowing the secrets of migrail's own process: `GITHUB_TOKEN`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ACCESS_KEY_ID`, and every other
    /// variable whose name looks secret. Variables that are not UTF-8 are skipped.
    pub fn from_process_env() -> Self {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        let explicit = vars
            .iter()
            .filter(|(name, _)| PROCESS_SECRETS.contains(&name.as_str()))
            .map(|(_, value)| value.clone());
        Self::new()
            .with_values(explicit.collect::<Vec<_>>())
            .with_env(vars.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    /// The text with every secret replaced by [`MASK`]; borrowed when nothing was found.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans = Vec::new();
        for value in &self.known {
            for (at, found) in text.match_indices(value.as_str()) {
                spans.push(Span::mask(at, at + found.len()));
            }
        }
        find_pem_blocks(text, &mut spans);
        let userinfos = find_url_passwords(text, &mut spans);
        find_pairs(text, &userinfos, &mut spans);
        find_flags(text, &mut spans);
        find_auth_schemes(text, &mut spans);
        find_tokens(text, &mut spans);
        find_aws_secret_keys(text, &mut spans);
        if spans.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(apply(text, spans))
        }
    }

    /// Redacts a JSON document in place: every string (and object key) as text, and the
    /// whole value of a key naming a secret (`"password": {...}` → `"password": "***"`;
    /// `null`, booleans and empty strings are kept). An object `{"name": "DB_PASSWORD",
    /// "value": "…"}` (ECS environment, SSM parameters) has its `value` replaced likewise.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Cow::Owned(redacted) = self.redact(s) {
                    *s = redacted;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => {
                let named_secret = ["name", "Name"]
                    .iter()
                    .filter_map(|k| map.get(*k).and_then(Value::as_str))
                    .any(is_secret_name);
                for (key, item) in map.iter_mut() {
                    if is_secret_name(key) || (named_secret && key.eq_ignore_ascii_case("value")) {
                        mask_whole(item);
                    } else {
                        self.redact_json(item);
                    }
                }
                if map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_))) {
                    let old = std::mem::take(map);
                    for (key, item) in old {
                        map.insert(self.redact(&key).into_owned(), item);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// GitHub Actions workflow commands registering every known value with the runner's
    /// log masking: `::add-mask::VALUE\n` each, `%` written `%25` (the runner unescapes
    /// `%25`, `%0D`, `%0A` in command data). A multi-line value is not written whole: it is
    /// masked line by line (its lines are known values of their own).
    pub fn mask_commands(&self) -> String {
        let mut out = String::new();
        for value in self.known.iter().filter(|v| !v.contains(['\n', '\r'])) {
            out.push_str("::add-mask::");
            out.push_str(&value.replace('%', "%25"));
            out.push('\n');
        }
        out
    }

    fn add_known(&mut self, value: &str) {
        let mut push = |v: &str| {
            if v.chars().count() >= MIN_KNOWN_CHARS && !is_placeholder(v) {
                self.known.push(v.to_owned());
            }
        };
        push(value);
        if value.trim() != value {
            push(value.trim());
        }
        if value.contains(['\n', '\r']) {
            for line in value.split(['\n', '\r']) {
                push(line.trim());
            }
        }
    }
}

/// The process's redactor: migrail's own secrets ([`Redactor::from_process_env`]) and
/// every value [`remember_env`] has learnt since. Every surface migrail republishes (the
/// result and deploy documents, and through them the PR comment and the step summary)
/// goes through it.
fn process() -> &'static std::sync::Mutex<Redactor> {
    static PROCESS: std::sync::OnceLock<std::sync::Mutex<Redactor>> = std::sync::OnceLock::new();
    PROCESS.get_or_init(|| std::sync::Mutex::new(Redactor::from_process_env()))
}

/// A copy of the process's redactor, as it knows the secrets now.
pub fn current() -> Redactor {
    match process().lock() {
        Ok(r) => r.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Learn the environment a run is given (`--env`, the task definition's plain
/// `environment`): the values of secret-looking names become known values. In GitHub
/// Actions the new ones are registered with the runner (`::add-mask::`) at once, so that
/// the job log masks them before any line of the run is printed.
pub fn remember_env(vars: &[(String, String)]) {
    let learnt = Redactor::new().with_env(vars.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let mut guard = match process().lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    };
    let new: Vec<String> = learnt
        .known
        .iter()
        .filter(|v| !guard.known.contains(v))
        .cloned()
        .collect();
    if new.is_empty() {
        return;
    }
    if in_github_actions() {
        print!(
            "{}",
            Redactor::new().with_values(new.clone()).mask_commands()
        );
    }
    let merged = std::mem::take(&mut *guard).with_values(new);
    *guard = merged;
}

/// In GitHub Actions: register every secret the process knows with the runner's log
/// masking (`::add-mask::`), once, before a run streams any output.
pub fn announce() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if in_github_actions() {
        ONCE.call_once(|| print!("{}", current().mask_commands()));
    }
}

fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Whether a name (environment variable, JSON key, header, flag) names a secret.
///
/// The name is split into words at `_`, `-`, `.`, spaces (any non-alphanumeric) and
/// camelCase boundaries, lower-cased, trailing digits ignored. It names a secret when a word
/// contains `password`, `passwd`, `passphrase`, `credential` or `authorization`, or ends
/// with `secret`, `token`, `pwd`, `apikey`, `accesskey`, `privatekey` or `secretkey`, or two
/// words read `api key`, `access key`, `private key` or `secret key` (`keys` too): so
/// `DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, `github-token`, `X-Api-Key`, `ApiKey`,
/// `client_secret`, `Authorization`, `AWS_ACCESS_KEY_ID`.
///
/// Not a secret: a name whose last word, after its last secret word, says it is about the
/// secret rather than the secret itself (`PASSWORD_FILE`, `SECRET_ARN`, `token_type`,
/// `token_expiry`, `TOKEN_URL`, `PASSWORD_RESET_TIMEOUT`, `AUTH_PASSWORD_VALIDATORS`,
/// `--password-stdin`: see `NOT_SECRET_TAIL`); the shell's `PWD` and `OLDPWD`; and `key`,
/// `tokens`, `tokenizer` alone.
pub fn is_secret_name(name: &str) -> bool {
    if name == "PWD" || name == "OLDPWD" {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    const HINTS: [&str; 7] = [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "authoriz",
    ];
    if !HINTS.iter().any(|hint| lower.contains(hint)) {
        return false;
    }
    const CONTAINS: [&str; 5] = [
        "password",
        "passwd",
        "passphrase",
        "credential",
        "authorization",
    ];
    const ENDS_WITH: [&str; 7] = [
        "secret",
        "token",
        "pwd",
        "apikey",
        "accesskey",
        "privatekey",
        "secretkey",
    ];
    let words = split_words(name);
    let mut last_term = None;
    for (i, word) in words.iter().enumerate() {
        let word = word.trim_end_matches(|c: char| c.is_ascii_digit());
        let single = CONTAINS.iter().any(|t| word.contains(t))
            || ENDS_WITH.iter().any(|t| word.ends_with(t));
        let pair = i > 0
            && matches!(word, "key" | "keys")
            && matches!(
                words[i - 1].as_str(),
                "api" | "access" | "private" | "secret"
            );
        if single || pair {
            last_term = Some(i);
        }
    }
    match (last_term, words.last()) {
        (Some(i), Some(last)) => i + 1 == words.len() || !NOT_SECRET_TAIL.contains(&last.as_str()),
        _ => false,
    }
}

/// Last words of a name that make it about a secret rather than the secret itself.
const NOT_SECRET_TAIL: [&str; 38] = [
    "file",
    "files",
    "path",
    "dir",
    "arn",
    "name",
    "names",
    "type",
    "kind",
    "url",
    "uri",
    "endpoint",
    "expiry",
    "expires",
    "expiration",
    "expired",
    "ttl",
    "timeout",
    "age",
    "at",
    "date",
    "time",
    "length",
    "len",
    "min",
    "max",
    "count",
    "header",
    "field",
    "fields",
    "required",
    "enabled",
    "disabled",
    "validators",
    "validator",
    "hashers",
    "stdin",
    "policy",
];

/// `X-Api-Key` → `x`, `api`, `key`; `AWSSecretKey` → `aws`, `secret`, `key`.
fn split_words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_uppercase() && i > 0 && !word.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A range of the text to replace.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    with: &'static str,
}

impl Span {
    fn mask(start: usize, end: usize) -> Self {
        Span {
            start,
            end,
            with: MASK,
        }
    }
}

/// Replaces the spans (overlapping ones merged; the earliest one's replacement wins).
fn apply(text: &str, mut spans: Vec<Span>) -> String {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut current: Option<Span> = None;
    for span in spans.into_iter().filter(|s| s.start < s.end) {
        match current.as_mut() {
            Some(cur) if span.start < cur.end => cur.end = cur.end.max(span.end),
            _ => {
                if let Some(cur) = current.take() {
                    out.push_str(&text[at..cur.start]);
                    out.push_str(cur.with);
                    at = cur.end;
                }
                current = Some(span);
            }
        }
    }
    if let Some(cur) = current {
        out.push_str(&text[at..cur.start]);
        out.push_str(cur.with);
        at = cur.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A value that is not a secret: already masked, a null/boolean literal, or a reference
/// (`${DB_PASSWORD}`, `${{ secrets.GITHUB_TOKEN }}`).
fn is_placeholder(value: &str) -> bool {
    (!value.is_empty() && value.bytes().all(|b| b == b'*'))
        || value.starts_with("${")
        || ["true", "false", "null", "none", "nil"]
            .iter()
            .any(|w| value.eq_ignore_ascii_case(w))
}

/// Python type names: `raw_password: str` in a traceback's source line is not a secret.
fn is_type_name(value: &str) -> bool {
    [
        "str",
        "bytes",
        "int",
        "bool",
        "float",
        "dict",
        "list",
        "object",
        "Any",
        "SecretStr",
    ]
    .contains(&value)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// Where a bare value ends.
fn is_terminator(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b';' | b'&' | b')' | b']' | b'}' | b'"' | b'\'' | b'`'
        )
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of a bare token starting at `p`: a terminator, or a JSON escape (`\n`, `\"`…)
/// of text that was itself a JSON string.
fn bare_end(b: &[u8], mut p: usize) -> usize {
    while p < b.len() && !is_terminator(b[p]) {
        if b[p] == b'\\' && matches!(b.get(p + 1), Some(b'n' | b'r' | b't' | b'"' | b'\'')) {
            break;
        }
        p += 1;
    }
    p
}

/// The end of the line holding `p`.
fn line_end(b: &[u8], p: usize) -> usize {
    b[p..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |i| p + i)
}

/// `-----BEGIN … PRIVATE KEY-----`: the body up to the matching END line (or the end of
/// the text) becomes `***`, on its own line when the block spans lines.
fn find_pem_blocks(text: &str, spans: &mut Vec<Span>) {
    const BEGIN: &str = "-----BEGIN ";
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(off) = text[from..].find(BEGIN) {
        let label_start = from + off + BEGIN.len();
        let mut label_end = label_start;
        while label_end < b.len()
            && label_end - label_start < 64
            && (b[label_end].is_ascii_uppercase()
                || b[label_end].is_ascii_digit()
                || b[label_end] == b' ')
        {
            label_end += 1;
        }
        let label = &text[label_start..label_end];
        if !text[label_end..].starts_with("-----") || !label.contains("PRIVATE KEY") {
            from = label_end;
            continue;
        }
        let body = label_end + 5;
        let end_marker = format!("-----END {label}-----");
        match text[body..].find(&end_marker) {
            Some(off) => {
                let end = body + off;
                let inside = text[body..end].trim();
                if !inside.is_empty() && !is_placeholder(inside) {
                    spans.push(Span {
                        start: body,
                        end,
                        with: pem_mask(&text[body..end], true),
                    });
                }
                from = end + end_marker.len();
            }
            None => {
                let inside = text[body..].trim();
                if !inside.is_empty() && !is_placeholder(inside) {
                    spans.push(Span {
                        start: body,
                        end: text.len(),
                        with: pem_mask(&text[body..], false),
                    });
                }
                return;
            }
        }
    }
}

/// The body's replacement keeps its line structure: real lines, JSON-escaped `\n`, or one line.
fn pem_mask(body: &str, terminated: bool) -> &'static str {
    match (terminated, body) {
        (true, b) if b.starts_with("\r\n") => "\r\n***\r\n",
        (false, b) if b.starts_with("\r\n") => "\r\n***",
        (true, b) if b.contains('\n') => "\n***\n",
        (false, b) if b.contains('\n') => "\n***",
        (true, b) if b.starts_with("\\n") => "\\n***\\n",
        (false, b) if b.starts_with("\\n") => "\\n***",
        (true, _) => " *** ",
        (false, _) => " ***",
    }
}

/// `scheme://user:PASSWORD@host`: the password, up to the authority's last `@` (the
/// authority ends at `/`, `?`, `#`, whitespace, `"`, `<`, `>` or a backtick). Returns the
/// user information ranges, in order, where no other `KEY=VALUE` is looked for.
fn find_url_passwords(text: &str, spans: &mut Vec<Span>) -> Vec<(usize, usize)> {
    let mut userinfos = Vec::new();
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(off) = text[from..].find("://") {
        let colon = from + off;
        from = colon + 3;
        let scheme_ok = colon > 0 && b[colon - 1].is_ascii_alphanumeric();
        if !scheme_ok {
            continue;
        }
        let start = colon + 3;
        let mut end = start;
        while end < b.len()
            && !b[end].is_ascii_whitespace()
            && !matches!(b[end], b'/' | b'?' | b'#' | b'"' | b'<' | b'>' | b'`')
        {
            end += 1;
        }
        from = end.max(from);
        let Some(at) = b[start..end]
            .iter()
            .rposition(|&c| c == b'@')
            .map(|i| start + i)
        else {
            continue;
        };
        userinfos.push((start, at));
        let Some(sep) = b[start..at]
            .iter()
            .position(|&c| c == b':')
            .map(|i| start + i)
        else {
            continue;
        };
        let password = &text[sep + 1..at];
        if !password.is_empty() && !is_placeholder(password) {
            spans.push(Span::mask(sep + 1, at));
        }
    }
    userinfos
}

/// `KEY=VALUE`, `KEY = VALUE`, `KEY: VALUE`, `"KEY": "VALUE"`, `KEY => VALUE`, with a key
/// naming a secret.
///
/// Judgment calls: `KEY= next` (no space before the `=`, one after) is an empty value as
/// the shell reads it; `a == b`, `a != b`, `a::b` are not pairs; `word password: x` in prose
/// loses its next word (a YAML or header line cannot be told from a sentence).
fn find_pairs(text: &str, userinfos: &[(usize, usize)], spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut userinfos = userinfos.iter().peekable();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'=' && c != b':' {
            i += 1;
            continue;
        }
        while userinfos.next_if(|&&(_, end)| end <= i).is_some() {}
        if userinfos.peek().is_some_and(|&&(start, _)| start <= i) {
            i += 1;
            continue;
        }
        let prev = if i > 0 { b[i - 1] } else { b'\n' };
        let next = b.get(i + 1).copied().unwrap_or(b'\n');
        let value_from = match c {
            b'=' if next == b'>' => i + 2,
            b'=' if next == b'=' || matches!(prev, b'=' | b'!' | b'<' | b'>') => {
                i += 1;
                continue;
            }
            b':' if next == b':' || prev == b':' => {
                i += 2;
                continue;
            }
            // `KEY= next`: an empty value (as the shell reads it), not `KEY = VALUE`
            b'=' if is_space(next) && !is_space(prev) => {
                i += 1;
                continue;
            }
            _ => i + 1,
        };
        let Some(key) = secret_key_before(text, i) else {
            i = value_from;
            continue;
        };
        let value = if c == b':' {
            annotated_value(text, value_from).or_else(|| value_after(text, value_from))
        } else {
            value_after(text, value_from)
        };
        // `password=password`, `self.token = token`: Python passing a variable along
        let value = value.filter(|span| !is_same_variable(key, &text[span.start..span.end]));
        match value {
            Some(span) => {
                i = span.end.max(value_from);
                spans.push(span);
            }
            None => i = value_from,
        }
    }
}

/// The key ending right before the separator at `sep`, if it names a secret: a quoted
/// key (`"KEY":`, `'KEY':`, `["KEY"] =`), or a run of `[A-Za-z0-9_.-]` not right after a
/// `/` (with the word before it when the run is `key`: `Api Key:`).
fn secret_key_before(text: &str, sep: usize) -> Option<&str> {
    let b = text.as_bytes();
    let mut end = sep;
    while end > 0 && sep - end < 8 && is_space(b[end - 1]) {
        end -= 1;
    }
    if end >= 2 && b[end - 1] == b']' && matches!(b[end - 2], b'"' | b'\'') {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let quote = b[end - 1];
    if matches!(quote, b'"' | b'\'') {
        let close = end - 1;
        let low = close.saturating_sub(MAX_KEY);
        let open = (low..close)
            .rev()
            .find(|&k| b[k] == quote || b[k] == b'\n')?;
        let key = &text[open + 1..close];
        return (b[open] == quote && is_secret_name(key)).then_some(key);
    }
    let mut start = end;
    while start > 0 && end - start < MAX_KEY && is_key_byte(b[start - 1]) {
        start -= 1;
    }
    // empty, a URL's user (`https://user:pass@`) or a path segment, or a segment of an
    // ARN (`arn:aws:secretsmanager:…:secret:prod/db`; a Ruby `:symbol` is a key)
    let colon_path = start >= 2 && b[start - 1] == b':' && b[start - 2].is_ascii_alphanumeric();
    if start == end || (start > 0 && b[start - 1] == b'/') || colon_path {
        return None;
    }
    let key = &text[start..end];
    if is_secret_name(key) {
        return Some(key);
    }
    if (key.eq_ignore_ascii_case("key") || key.eq_ignore_ascii_case("keys"))
        && start >= 2
        && b[start - 1] == b' '
        && b[start - 2].is_ascii_alphanumeric()
    {
        let mut first = start - 1;
        while first > 0 && end - first < MAX_KEY && is_key_byte(b[first - 1]) {
            first -= 1;
        }
        let key = &text[first..end];
        return is_secret_name(key).then_some(key);
    }
    None
}

/// Whether `value` is an identifier naming the same thing as `key` (its last dotted part).
fn is_same_variable(key: &str, value: &str) -> bool {
    value
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && value.bytes().all(is_ident_byte)
        && key.rsplit('.').next() == Some(value)
}

/// A Python annotation `password: str = "x"` (or `Optional[str] = …`, `str | None = …`,
/// with spaces around the `=`): the value after the `=`.
fn annotated_value(text: &str, from: usize) -> Option<Span> {
    let b = text.as_bytes();
    let mut p = from;
    while p < b.len() && is_space(b[p]) {
        p += 1;
    }
    if is_auth_scheme(&text[p..bare_end(b, p)]) {
        return None;
    }
    loop {
        if !b
            .get(p)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        {
            return None;
        }
        while p < b.len() && (is_ident_byte(b[p]) || b[p] == b'.') {
            p += 1;
        }
        if b.get(p) == Some(&b'[') {
            let close = b[p..]
                .iter()
                .take(64)
                .position(|&c| c == b']' || c == b'\n')?;
            if b[p + close] != b']' {
                return None;
            }
            p += close + 1;
        }
        let mut q = p;
        while q < b.len() && is_space(b[q]) {
            q += 1;
        }
        match b.get(q) {
            Some(b'|') => {
                p = q + 1;
                while p < b.len() && is_space(b[p]) {
                    p += 1;
                }
            }
            Some(b'=') if q > p && b.get(q + 1).is_some_and(|&c| is_space(c)) => {
                return value_after(text, q + 1)
            }
            _ => return None,
        }
    }
}

/// The value starting at `from` (after spaces): the inside of a quoted string (`"…"`,
/// `'…'`, `b'…'`, JSON-escaped `\"…\"`; an unterminated one runs to the end of the line),
/// or a bare token. `None` when there is nothing to redact: an empty value, a placeholder,
/// code (`models.CharField(…)`, `os.environ[…]`, a type name), or structure (`(`, `[`, `{`).
/// After an authorization scheme (`Bearer`, `Basic`, `token`…), the credential that follows.
fn value_after(text: &str, from: usize) -> Option<Span> {
    let b = text.as_bytes();
    let mut p = from;
    while p < b.len() && is_space(b[p]) {
        p += 1;
    }
    if p >= b.len() {
        return None;
    }
    let mut q = p;
    while q < b.len()
        && q - p < 2
        && matches!(b[q], b'b' | b'B' | b'r' | b'R' | b'f' | b'F' | b'u' | b'U')
    {
        q += 1;
    }
    if q < b.len() && matches!(b[q], b'"' | b'\'') {
        return quoted(text, q + 1, b[q], false);
    }
    if b[p] == b'\\' && matches!(b.get(p + 1), Some(b'"' | b'\'')) {
        return quoted(text, p + 2, b[p + 1], true);
    }
    if matches!(b[p], b'(' | b'[' | b'{') || is_terminator(b[p]) {
        return None;
    }
    let end = bare_end(b, p);
    if end == p {
        return None;
    }
    let value = &text[p..end];
    if is_placeholder(value) || is_type_name(value) || looks_like_code(b, p) {
        return None;
    }
    if is_auth_scheme(value) {
        let mut c = end;
        while c < b.len() && is_space(b[c]) {
            c += 1;
        }
        if c == end || c >= b.len() {
            return None;
        }
        let cred_end = bare_end(b, c);
        if cred_end == c || is_placeholder(&text[c..cred_end]) {
            return None;
        }
        return Some(Span::mask(c, cred_end));
    }
    Some(Span::mask(p, end))
}

/// The inside of a quoted value starting at `start`, up to the closing quote (escaped
/// quotes skipped) or the end of the line.
fn quoted(text: &str, start: usize, quote: u8, escaped: bool) -> Option<Span> {
    let b = text.as_bytes();
    let mut k = start;
    let mut end = None;
    while k < b.len() && b[k] != b'\n' {
        if b[k] == b'\\' {
            if escaped && b.get(k + 1) == Some(&quote) {
                end = Some(k);
                break;
            }
            k += 2;
            continue;
        }
        if b[k] == quote {
            end = Some(k);
            break;
        }
        k += 1;
    }
    let end = end.unwrap_or_else(|| line_end(b, start.min(b.len())));
    let end = end.min(b.len());
    if end <= start || is_placeholder(&text[start..end]) {
        return None;
    }
    Some(Span::mask(start, end))
}

/// `name(` or `a.b[`: a call or a subscript, code rather than a value.
fn looks_like_code(b: &[u8], p: usize) -> bool {
    if !(b[p].is_ascii_alphabetic() || b[p] == b'_') {
        return false;
    }
    let mut k = p;
    while k < b.len() && (is_ident_byte(b[k]) || b[k] == b'.') {
        k += 1;
    }
    matches!(b.get(k), Some(b'(' | b'['))
}

fn is_auth_scheme(word: &str) -> bool {
    ["bearer", "basic", "token", "bot", "negotiate", "ntlm"]
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s))
}

/// `--KEY VALUE` (the `--KEY=VALUE` form is a pair): a value not starting with `-`.
fn find_flags(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(off) = text[from..].find("--") {
        let dash = from + off;
        from = dash + 2;
        if dash > 0
            && !(b[dash - 1].is_ascii_whitespace() || matches!(b[dash - 1], b'"' | b'\'' | b'`'))
        {
            continue;
        }
        let key_start = dash + 2;
        let mut key_end = key_start;
        while key_end < b.len() && (is_ident_byte(b[key_end]) || b[key_end] == b'-') {
            key_end += 1;
        }
        from = key_end.max(from);
        if key_end == key_start || !is_space(*b.get(key_end).unwrap_or(&b'\n')) {
            continue;
        }
        if !is_secret_name(&text[key_start..key_end]) {
            continue;
        }
        let mut v = key_end;
        while v < b.len() && is_space(b[v]) {
            v += 1;
        }
        if v >= b.len() || b[v] == b'-' {
            continue;
        }
        if let Some(span) = value_after(text, v) {
            from = span.end.max(from);
            spans.push(span);
        }
    }
}

/// A standalone `Bearer X` or `Basic X` (outside a pair): X when it looks like a credential,
/// so that "Bearer tokens are…" and "Basic authentication" stay.
fn find_auth_schemes(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 6 < b.len() {
        if b[i] | 0x20 != b'b' {
            i += 1;
            continue;
        }
        let word_len = if b[i..i + 6].eq_ignore_ascii_case(b"bearer") {
            6
        } else if b[i..i + 5].eq_ignore_ascii_case(b"basic") {
            5
        } else {
            i += 1;
            continue;
        };
        if i > 0 && b[i - 1].is_ascii_alphanumeric() {
            i += word_len;
            continue;
        }
        let mut c = i + word_len;
        i = c;
        if !b.get(c).is_some_and(|&x| is_space(x)) {
            continue;
        }
        while c < b.len() && is_space(b[c]) {
            c += 1;
        }
        let mut end = c;
        while end < b.len()
            && (b[end].is_ascii_alphanumeric()
                || matches!(b[end], b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
        {
            end += 1;
        }
        while end < b.len() && b[end] == b'=' {
            end += 1;
        }
        while end > c && b[end - 1] == b'.' {
            end -= 1;
        }
        if looks_like_credential(&b[c..end]) {
            spans.push(Span::mask(c, end));
            i = end;
        }
    }
}

/// At least 8 characters with a digit or symbol, or a capital letter past the first.
fn looks_like_credential(token: &[u8]) -> bool {
    token.len() >= 8
        && (token.iter().any(|c| {
            c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        }) || (token.iter().any(u8::is_ascii_lowercase)
            && token[1..].iter().any(u8::is_ascii_uppercase)))
}

/// AWS access key ids and GitHub tokens, each word-bounded.
fn find_tokens(text: &str, spans: &mut Vec<Span>) {
    const AWS_PREFIXES: [&[u8]; 8] = [
        b"AKIA", b"ASIA", b"AGPA", b"AIDA", b"AROA", b"ANPA", b"ANVA", b"AIPA",
    ];
    const GITHUB_PREFIXES: [&[u8]; 5] = [b"ghp_", b"gho_", b"ghs_", b"ghu_", b"ghr_"];
    let b = text.as_bytes();
    let run = |from: usize, ok: fn(u8) -> bool| {
        let mut k = from;
        while k < b.len() && ok(b[k]) {
            k += 1;
        }
        k
    };
    let mut i = 0;
    while i + 4 <= b.len() {
        if !matches!(b[i], b'g' | b'A') || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"github_pat_") {
            let end = run(i + 11, is_ident_byte);
            if end - (i + 11) >= 20 {
                spans.push(Span::mask(i, end));
                i = end;
                continue;
            }
        } else if GITHUB_PREFIXES.iter().any(|p| rest.starts_with(p)) {
            let end = run(i + 4, |c| c.is_ascii_alphanumeric());
            if end - (i + 4) >= 30 {
                spans.push(Span::mask(i, end));
                i = end;
                continue;
            }
        } else if AWS_PREFIXES.iter().any(|p| rest.starts_with(p)) {
            let end = run(i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if end - (i + 4) == 16 && !b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
                spans.push(Span::mask(i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// AWS secret access keys: a run of exactly 40 `[A-Za-z0-9/+]` with an upper-case letter,
/// a lower-case letter and a digit (a git SHA is lower case), not preceded by `_ . : -` nor
/// followed by `= _ -` (parts of longer names), and not a path ending in a hex id
/// (`ecs/Web/0123…cdef`, `task/P1/0123…cdef`).
fn find_aws_secret_keys(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut i = 0;
    while i < b.len() {
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        let run = &b[start..i];
        if run.len() != 40
            || (start > 0 && matches!(b[start - 1], b'_' | b'.' | b':' | b'-'))
            || b.get(i).is_some_and(|c| matches!(c, b'=' | b'_' | b'-'))
            || !run.iter().any(u8::is_ascii_uppercase)
            || !run.iter().any(u8::is_ascii_lowercase)
            || !run.iter().any(u8::is_ascii_digit)
        {
            continue;
        }
        let hex_id = run.contains(&b'/')
            && run.split(|&c| c == b'/').any(|seg| {
                seg.len() >= 32
                    && seg
                        .iter()
                        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            });
        if !hex_id {
            spans.push(Span::mask(start, i));
        }
    }
}

/// A JSON value under a secret key: replaced whole, unless it carries nothing.
fn mask_whole(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) => {}
        Value::String(s) if s.is_empty() => {}
        _ => *value = Value::String(MASK.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor::new().redact(text).into_owned()
    }

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(redact(input), expected, "input: {input}");
    }

    #[test]
    fn url_passwords() {
        check(
            "connecting to postgres://app:S3cr3tPassw0rd@db.internal:5432/app now",
            "connecting to postgres://app:***@db.internal:5432/app now",
        );
        check("redis://:pass@cache:6379/0", "redis://:***@cache:6379/0");
        check("mysql://u:p%40ss@h/db", "mysql://u:***@h/db");
        check(
            "DATABASE_URL='postgres://app:p@ss:w0rd@db/app?sslmode=require'",
            "DATABASE_URL='postgres://app:***@db/app?sslmode=require'",
        );
        check(
            "git clone https://x-access-token:abc123@github.com/o/r.git",
            "git clone https://x-access-token:***@github.com/o/r.git",
        );
        // user only, empty password, no user information: nothing to redact
        check("https://user@example.com/x", "https://user@example.com/x");
        check("redis://user:@h/0", "redis://user:@h/0");
        // a password holding `KEY=`: the URL rule alone applies
        check("redis://u:aPWD=b@h/0 x", "redis://u:***@h/0 x");
        check(
            "see https://example.com:8443/a:b@c",
            "see https://example.com:8443/a:b@c",
        );
    }

    #[test]
    fn key_value_pairs() {
        check("DB_PASSWORD=hunter2 next", "DB_PASSWORD=*** next");
        check(
            "export AWS_SECRET_ACCESS_KEY=abc/def+ghi",
            "export AWS_SECRET_ACCESS_KEY=***",
        );
        check(
            "github-token: ghtok123, region: eu",
            "github-token: ***, region: eu",
        );
        check("X-Api-Key: k3y-value\r\n", "X-Api-Key: ***\r\n");
        check("ApiKey=xyz;Other=1", "ApiKey=***;Other=1");
        check(
            "client_secret = \"s3cr3t\" # from vault",
            "client_secret = \"***\" # from vault",
        );
        check(
            "host=db user=app password=pw dbname=app",
            "host=db user=app password=*** dbname=app",
        );
        check("?access_token=abc&page=2", "?access_token=***&page=2");
        check("PASSWORD=\"with spaces inside\"", "PASSWORD=\"***\"");
        check("SECRET_KEY = 'django-insecure-x'", "SECRET_KEY = '***'");
        check("password = b'raw'", "password = b'***'");
        check("Api Key: abc123", "Api Key: ***");
        check(
            "[database]\npassword = hunter2\nport = 5432",
            "[database]\npassword = ***\nport = 5432",
        );
        check(
            "DATABASES['default']['PASSWORD'] = 'pw1'",
            "DATABASES['default']['PASSWORD'] = '***'",
        );
        check("{:password => \"pw1\"}", "{:password => \"***\"}");
        check("password: str = \"hunter2\"", "password: str = \"***\"");
        check(
            "token: Optional[str] = 'abc'",
            "token: Optional[str] = '***'",
        );
        // empty values, placeholders and an unterminated quote
        check("DB_PASSWORD= next", "DB_PASSWORD= next");
        check("DB_PASSWORD=\"\"", "DB_PASSWORD=\"\"");
        check("password=*** token=None", "password=*** token=None");
        check("password=\"abc def\nnext", "password=\"***\nnext");
        // non-ASCII keys and values
        check(
            "pässwort=x password=grüße, ok",
            "pässwort=x password=***, ok",
        );
        check("密码 password: 秘密 — fin", "密码 password: *** — fin");
    }

    #[test]
    fn json_and_python_pairs() {
        check(
            r#"{"user": "app", "password": "pw", "port": 5432}"#,
            r#"{"user": "app", "password": "***", "port": 5432}"#,
        );
        check(
            "{'client_secret': 'abc', 'name': 'x'}",
            "{'client_secret': '***', 'name': 'x'}",
        );
        check(r#"{"api_key":"a\"b","n":1}"#, r#"{"api_key":"***","n":1}"#);
        check(r#"{"password": 12345}"#, r#"{"password": ***}"#);
        // JSON inside a JSON string (a CloudWatch message)
        check(
            r#"{"message": "{\"password\": \"pw\", \"user\": \"app\"}"}"#,
            r#"{"message": "{\"password\": \"***\", \"user\": \"app\"}"}"#,
        );
        check(
            r#"{"message": "token=abc\nnext"}"#,
            r#"{"message": "token=***\nnext"}"#,
        );
    }

    #[test]
    fn flags() {
        check(
            "migrail comment --github-token abc123 --pr 7",
            "migrail comment --github-token *** --pr 7",
        );
        check("cmd --password=hunter2 -v", "cmd --password=*** -v");
        check("cmd --api-key \"a b\" x", "cmd --api-key \"***\" x");
        check("cmd --password --verbose", "cmd --password --verbose");
        check(
            "docker login --password-stdin 123.dkr.ecr",
            "docker login --password-stdin 123.dkr.ecr",
        );
    }

    #[test]
    fn authorization() {
        check("Authorization: Bearer xyz", "Authorization: Bearer ***");
        check(
            "authorization: token xyz, more",
            "authorization: token ***, more",
        );
        check(
            "curl -H \"Authorization: Basic dXNlcjpwYXNz\" https://x",
            "curl -H \"Authorization: Basic ***\" https://x",
        );
        check(
            "sent Bearer eyJhbGciOi.eyJzdWIi.c2lnbg end",
            "sent Bearer *** end",
        );
        check("header Basic dXNlcjpwYXNz.", "header Basic ***.");
        check(
            r#"{"Authorization": "Bearer xyz"}"#,
            r#"{"Authorization": "***"}"#,
        );
    }

    #[test]
    fn aws_keys() {
        check("key AKIAIOSFODNN7EXAMPLE used", "key *** used");
        check("ASIAY34FZKBOKMUTVV7A,", "***,");
        check("xAKIAIOSFODNN7EXAMPLE", "xAKIAIOSFODNN7EXAMPLE");
        check(
            "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here",
            "secret *** here",
        );
        check(
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key=***",
        );
    }

    #[test]
    fn github_tokens() {
        let classic = format!("ghp_{}", "aB3".repeat(12));
        check(&format!("token {classic} end"), "token *** end");
        let server = format!("ghs_{}", "x9Y".repeat(11));
        check(&format!("[{server}]"), "[***]");
        let fine = format!("github_pat_11ABCDEFG_{}", "z".repeat(30));
        check(&format!("use {fine}."), "use ***.");
        check("ghp_short", "ghp_short");
    }

    #[test]
    fn pem_private_keys() {
        let pem = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabcdef==\n-----END RSA PRIVATE KEY-----\nafter";
        check(
            pem,
            "before\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\nafter",
        );
        check(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\nZXktdjEAAA",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n***",
        );
        check(
            r#"{"data": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}"#,
            r#"{"data": "-----BEGIN PRIVATE KEY-----\n***\n-----END PRIVATE KEY-----\n"}"#,
        );
        check(
            r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}"#,
            r#"{"private_key": "***"}"#,
        );
        // certificates are public
        let cert = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----";
        check(cert, cert);
        check(
            "-----BEGIN EC PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----",
        );
    }

    #[test]
    fn known_values() {
        let r = Redactor::new().with_values([
            "pa55w0rd".to_owned(),
            "pa55".to_owned(),
            "abc".to_owned(),
        ]);
        assert_eq!(r.redact("x pa55w0rd y pa55 z abc"), "x *** y *** z abc");
        let r = Redactor::new().with_env([
            ("DB_PASSWORD", "hunter22"),
            ("DB_HOST", "db.internal"),
            ("PWD", "/app"),
            ("FEATURE_TOKEN", "true"),
        ]);
        assert_eq!(
            r.redact("login hunter22@db.internal in /app: true"),
            "login ***@db.internal in /app: true"
        );
        let r = Redactor::new().with_values(["line-one\nline-two\n".to_owned()]);
        assert_eq!(r.redact("a line-one\nline-two\n b"), "a *** b");
        assert_eq!(r.redact("x line-two y"), "x *** y");
        assert_eq!(format!("{r:?}"), "Redactor { known: 4 values }");
    }

    #[test]
    fn mask_commands_escape_and_split() {
        let r = Redactor::new().with_values([
            "abc%0Adef".to_owned(),
            "one-line\ntwo-line".to_owned(),
            "no".to_owned(),
        ]);
        assert_eq!(
            r.mask_commands(),
            "::add-mask::abc%250Adef\n::add-mask::one-line\n::add-mask::two-line\n"
        );
    }

    #[test]
    fn json_values() {
        let r = Redactor::new().with_values(["hunter22".to_owned()]);
        let mut doc = serde_json::json!({
            "output": ["ok", "connecting with hunter22", "postgres://a:b@c/d"],
            "password": {"nested": 1},
            "token": null,
            "secret_enabled": true,
            "environment": [{"name": "DB_PASSWORD", "value": "pw"}, {"name": "DB_HOST", "value": "db"}],
            "api_key": "",
            "count": 3,
        });
        r.redact_json(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({
                "output": ["ok", "connecting with ***", "postgres://a:***@c/d"],
                "password": "***",
                "token": null,
                "secret_enabled": true,
                "environment": [{"name": "DB_PASSWORD", "value": "***"}, {"name": "DB_HOST", "value": "db"}],
                "api_key": "",
                "count": 3,
            })
        );
        let mut keyed = serde_json::json!({"hunter22": 1});
        r.redact_json(&mut keyed);
        assert_eq!(keyed, serde_json::json!({"***": 1}));
    }

    #[test]
    fn secret_names() {
        for name in [
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SESSION_TOKEN",
            "GITHUB_TOKEN",
            "github-token",
            "X-Api-Key",
            "ApiKey",
            "apikey",
            "client_secret",
            "Authorization",
            "Proxy-Authorization",
            "private key",
            "SECRET_KEY",
            "SECRET_KEY_BASE",
            "passwd",
            "db_pwd",
            "Pwd",
            "credentials",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            "oauth2Token",
            "GITHUB_TOKEN2",
            "shop.User.password",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "PWD",
            "OLDPWD",
            "key",
            "DB_HOST",
            "tokens",
            "tokenizer",
            "token_type",
            "token_expiry",
            "PASSWORD_FILE",
            "SECRET_ARN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "PASSWORD_RESET_TIMEOUT",
            "AUTH_PASSWORD_VALIDATORS",
            "password-stdin",
            "primary_key",
            "authorized_keys",
            "passenger",
            "",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    /// Ordinary migration output comes back byte for byte, borrowed.
    #[test]
    fn ordinary_output_untouched() {
        let lines = [
            r#"ALTER TABLE "shop_user" ADD COLUMN "api_token" varchar(40) NOT NULL;"#,
            r#"CREATE INDEX "shop_user_api_token_5f1a2b3c" ON "shop_user" ("api_token");"#,
            r#"CREATE UNIQUE INDEX CONCURRENTLY "shop_user_api_token_5f1a2b3c_uniq" ON "shop_user" ("api_token");"#,
            r#"ALTER TABLE "shop_order" ADD CONSTRAINT "shop_order_user_id_4f3c2a1b_fk_shop_user_id" FOREIGN KEY ("user_id") REFERENCES "shop_user" ("id") DEFERRABLE INITIALLY DEFERRED;"#,
            r#"UPDATE "shop_user" SET "api_token" = NULL;"#,
            "--\n-- Add field api_token to user\n--",
            "    password = models.CharField(max_length=128)",
            "    token = self.get_token(request)",
            "    def set_password(self, raw_password: str) -> None:",
            "    'PASSWORD': os.environ['DB_PASSWORD'],",
            r#"DATABASES["default"]["PASSWORD"] = os.environ["DB_PASSWORD"]"#,
            "AUTH_PASSWORD_VALIDATORS = [",
            "PASSWORD_RESET_TIMEOUT = 259200",
            "    password = None",
            "    user.api_token = generate_token()",
            "    self.password = password",
            "        authenticate(request, username=username, password=password)",
            "    User.objects.filter(api_token='').update(api_token=F('id'))",
            r#"  File "/app/shop/migrations/0002_x.py", line 12, in forwards"#,
            "Traceback (most recent call last):",
            r#"django.db.utils.ProgrammingError: column "api_token" of relation "shop_user" does not exist"#,
            r#"LINE 1: SELECT "shop_user"."api_token" FROM "shop_user""#,
            r#"DETAIL:  Key (api_token)=(abc123) already exists."#,
            r#"FATAL:  password authentication failed for user "app""#,
            "shop.User.password: (fields.E120) CharField must define a 'max_length' attribute.",
            "Operations to perform:",
            "  Apply all migrations: admin, auth, contenttypes, sessions, shop",
            "Running migrations:",
            "  Applying shop.0002_add_token... OK",
            "  Applying shop.0042_token_expiry... OK",
            " [X] 0042_token_expiry",
            "the password field is required",
            "Bearer tokens are sent in the Authorization header; Basic authentication is off",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "request_id=6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            "arn:aws:ecs:eu-west-1:123456789012:task/prod-cluster/8f2b6c1d9e4a4b7f9c3d2e1f0a9b8c7d",
            "arn:aws:ecs:eu-west-1:123456789012:task/Prod-Cluster/8f2b6c1d9e4a4b7f9c3d2e1f0a9b8c7d",
            "arn:aws:ecs:eu-west-1:123456789012:task/P1/8f2b6c1d9e4a4b7f9c3d2e1f0a9b8c7d",
            "log stream ecs/Web/0123456789abcdef0123456789abcdef",
            "image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "Task stopped: Essential container in task exited (exit code 1)",
            "PWD=/app",
            "ACTIONS_ID_TOKEN_REQUEST_URL=https://pipelines.actions.githubusercontent.com/abc",
            "token_type: bearer",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
            "          token: ${{ secrets.GITHUB_TOKEN }}",
            "DB_PASSWORD=\"${DB_PASSWORD}\"",
            "level=info msg=\"token refreshed\" token_ttl=3600 request_id=abc",
            "KeyError: 'password'",
            "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "postgres://db.internal:5432/app",
            "  File \"/usr/local/lib/python3.12/site-packages/django/db/backends/utils.py\", line 105, in _execute",
        ];
        let r = Redactor::new().with_values(["hunter22".to_owned()]);
        for line in lines {
            let out = r.redact(line);
            assert!(
                matches!(out, Cow::Borrowed(_)),
                "changed: {line}\n   into: {out}"
            );
        }
    }

    /// A 1 MB line without secrets is scanned in linear time and comes back borrowed; so do
    /// adversarial lines (no quadratic rescans).
    #[test]
    fn large_lines() {
        let unit = "x=1 time: 12:30 https://example.com/a?b=c \"key\": 'v' --flag v Bearer of 0042_token_expiry ";
        let line = unit.repeat(1_000_000 / unit.len() + 1);
        let r = Redactor::new().with_values(["hunter22".to_owned()]);
        assert!(matches!(r.redact(&line), Cow::Borrowed(_)));

        // a quadratic rescan would take minutes on each of these
        for unit in [
            "=",
            ":",
            "://",
            "a://",
            "--password ",
            "password=\"",
            "password: '",
            "\"password\":",
            "-----BEGIN PRIVATE KEY-----",
            "Bearer ",
            "ghp_",
            "AKIA",
            "a/",
            "\\\"",
        ] {
            let line = unit.repeat(250_000 / unit.len());
            let out = r.redact(&line);
            assert!(out.len() <= line.len() * 2);
        }
    }

    /// Deterministic xorshift64 PRNG.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Random secrets (8–60 characters, symbols included) in random templates between random
    /// prose: the secret never survives, not even in part, and the prose always does; the
    /// output has nothing left to redact.
    #[test]
    fn property_secrets_never_survive() {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=-_.!@#%";
        const PROSE: [&str; 12] = [
            "deploy finished",
            "  Applying shop.0002_add_token... OK",
            "the password field is required",
            "migration 0042_token_expiry applied",
            "task arn:aws:ecs:eu-west-1:123456789012:task/prod/8f2b6c1d9e4a4b7f9c3d2e1f0a9b8c7d",
            "ALTER TABLE \"shop_user\" ADD COLUMN \"api_token\" varchar(40);",
            "lock_timeout 5s",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "Bearer tokens are documented",
            "ok",
            "step 3 of 7",
            "Traceback (most recent call last):",
        ];
        const TEMPLATES: [&str; 14] = [
            "postgres://app:{}@db.internal:5432/app",
            "DB_PASSWORD={}",
            "export GITHUB_TOKEN=\"{}\"",
            "password = '{}'",
            "X-Api-Key: {}",
            "{\"client_secret\": \"{}\", \"region\": \"eu-west-1\"}",
            "{'api_key': '{}'}",
            "--github-token {}",
            "--password={}",
            "Authorization: Bearer {}",
            "curl -H \"Authorization: Bearer {}\" https://api",
            "known {} value",
            "{}",
            "line\n{}\nline",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut claimed = 0;
        for _ in 0..2_000 {
            let len = 8 + rng.below(53);
            let secret: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())] as char)
                .collect();
            let template_index = rng.below(TEMPLATES.len());
            let template = TEMPLATES[template_index];
            let known = template_index >= 11;
            let embedded = if template_index == 0 {
                // a URL password is percent-encoded where it must be
                secret
                    .replace('%', "%25")
                    .replace('/', "%2F")
                    .replace('#', "%23")
            } else {
                secret.clone()
            };
            let prefix: Vec<&str> = (0..rng.below(3)).map(|_| rng.pick(&PROSE)).collect();
            let suffix: Vec<&str> = (0..rng.below(3)).map(|_| rng.pick(&PROSE)).collect();
            let (prefix, suffix) = (prefix.join(" "), suffix.join(" "));
            let text = format!("{prefix} {} {suffix}", template.replace("{}", &embedded));
            // what the redactor does not claim: `--flag -value`, `KEY==value`
            let unclaimed = (template_index == 7 && embedded.starts_with('-'))
                || ((template_index == 1 || template_index == 8) && embedded.starts_with('='));
            let redactor = if known {
                Redactor::new().with_values([secret.clone()])
            } else {
                Redactor::new()
            };
            let out = redactor.redact(&text);
            if !unclaimed {
                claimed += 1;
                assert!(
                    !out.contains(&embedded),
                    "secret survived:\n  in: {text}\n out: {out}"
                );
                // exactly the secret is gone: no piece of it left, nothing else touched
                assert_eq!(out, text.replace(&embedded, MASK), "in: {text}");
            }
            assert!(
                out.starts_with(&prefix) && out.ends_with(&suffix),
                "prose lost:\n  in: {text}\n out: {out}"
            );
            assert!(
                matches!(redactor.redact(&out), Cow::Borrowed(_)),
                "not idempotent: {out}"
            );
        }
        assert!(claimed > 1_800);
    }
}
