//! The PR comment and the step summary, in GitHub-flavoured Markdown: a hidden marker at
//! the top (what makes the comment sticky), a verdict line, the findings table (each
//! location linking to the reviewed commit), the deploy plan, the run's outcome with the
//! last log lines, the SQL of each reviewed migration with its locks (collapsed),
//! `migrail fix --diff` for the reviewed migrations ("How to fix"), and the schema diff. No terminal escape codes. The body is kept under
//! a byte budget (65,000 for a comment) by dropping, in this order, the log tail, the
//! details (fix-it help, schema diff), then findings rows, and finally cutting the text
//! with every open fence and `<details>` closed, and a link to the full report.

use super::documents::{DeployDoc, Executed, LintDoc, PlanDoc, RunDoc};

/// GitHub's limit is 65,536 characters; stay below it in bytes.
pub const COMMENT_BUDGET: usize = 65_000;
/// `$GITHUB_STEP_SUMMARY` accepts up to 1 MiB per step.
pub const SUMMARY_BUDGET: usize = 1_000_000;

pub struct Inputs<'a> {
    /// Separates sticky comments (e.g. per environment).
    pub key: &'a str,
    pub lint: Option<&'a LintDoc>,
    pub plan: Option<&'a PlanDoc>,
    /// A run's or a deploy's result.
    pub run: Option<&'a Executed>,
    pub schema_diff: Option<&'a str>,
    /// `migrail fix --diff` for the reviewed migrations (empty: nothing to fix).
    pub fix_diff: Option<&'a str>,
    /// The SQL section (`super::sql::markdown`) of the reviewed migrations.
    pub sql: Option<&'a str>,
    /// `path, line` → link to the file in the reviewed commit.
    pub link: &'a dyn Fn(&str, usize) -> Option<String>,
    /// Where the full report is (the CI run).
    pub full_report: Option<&'a str>,
}

/// The hidden marker that identifies migrail's comment for `key`.
pub fn marker(key: &str) -> String {
    format!(
        "<!-- migrail:comment key={} -->",
        clean_line(key).replace("--", "-")
    )
}

/// How much to leave out to fit the budget.
#[derive(Clone, Copy)]
struct Cut {
    log_tail: bool,
    details: bool,
    max_rows: usize,
}

pub fn render(inputs: &Inputs<'_>, budget: usize) -> String {
    let mut cut = Cut {
        log_tail: false,
        details: false,
        max_rows: usize::MAX,
    };
    let mut body = compose(inputs, cut);
    if body.len() <= budget {
        return body;
    }
    cut.log_tail = true;
    body = compose(inputs, cut);
    if body.len() <= budget {
        return body;
    }
    cut.details = true;
    body = compose(inputs, cut);
    let rows = inputs.lint.map_or(0, |l| l.findings.len());
    let mut max = rows;
    while body.len() > budget && max > 0 {
        max /= 2;
        cut.max_rows = max;
        body = compose(inputs, cut);
    }
    if body.len() <= budget {
        return body;
    }
    truncate(&body, budget, inputs.full_report)
}

fn compose(inputs: &Inputs<'_>, cut: Cut) -> String {
    let mut out = String::new();
    out.push_str(&marker(inputs.key));
    out.push('\n');
    out.push_str(&verdict(inputs));
    out.push_str("\n\n");
    if let Some(lint) = inputs.lint {
        findings(&mut out, lint, inputs, cut);
    }
    if let Some(plan) = inputs.plan {
        plan_section(&mut out, plan);
    }
    match inputs.run {
        Some(Executed::Run(run)) => run_section(&mut out, "Migration run", run, cut),
        Some(Executed::Deploy(d)) => {
            deploy_section(&mut out, d);
            if let Some(pre) = &d.pre {
                run_section(&mut out, "Pre-deploy migrations", pre, cut);
            }
            if let Some(post) = &d.post {
                run_section(&mut out, "Post-deploy migrations", post, cut);
            }
        }
        None => {}
    }
    if let (Some(sql), false) = (inputs.sql, cut.details) {
        out.push_str(sql);
    }
    if let (Some(diff), false) = (inputs.fix_diff, cut.details) {
        if !diff.trim().is_empty() {
            out.push_str(
                "<details><summary>How to fix: what <code>migrail fix</code> would change \
                 (run it on the branch, or apply this diff)</summary>\n\n",
            );
            out.push_str(&fenced("diff", diff));
            out.push_str("</details>\n\n");
        }
    }
    if let (Some(diff), false) = (inputs.schema_diff, cut.details) {
        if !diff.trim().is_empty() {
            out.push_str("<details><summary>Schema changes (model state before → after the reviewed migrations)</summary>\n\n");
            out.push_str(&fenced("diff", diff));
            out.push_str("</details>\n\n");
        }
    }
    if cut.log_tail || cut.details || cut.max_rows != usize::MAX {
        out.push_str(&format!(
            "_Shortened to fit in a comment{}._\n",
            inputs
                .full_report
                .map(|u| format!(": [full report]({u})"))
                .unwrap_or_default()
        ));
    }
    out
}

fn verdict(inputs: &Inputs<'_>) -> String {
    let mut parts = Vec::new();
    let mut ok = true;
    if let Some(l) = inputs.lint {
        let s = &l.summary;
        ok &= !s.failed;
        let counts = match (s.errors, s.warnings) {
            (0, 0) => "no unsafe operation".to_string(),
            (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
        };
        parts.push(format!(
            "lint: {counts} in {} reviewed",
            plural(s.reviewed, "migration")
        ));
    }
    if let Some(p) = inputs.plan {
        if p.blocked {
            ok = false;
            parts.push("deploy plan blocked".to_string());
        }
    }
    if let Some(Executed::Deploy(d)) = inputs.run {
        ok &= d.outcome == "succeeded";
        let applied: usize = d
            .pre
            .iter()
            .chain(d.post.iter())
            .map(|r| r.applied.len())
            .sum();
        parts.push(format!(
            "deploy {} ({}, {})",
            d.outcome.replace('-', " "),
            revision(&d.task_definition),
            plural(applied, "migration applied")
        ));
    }
    if let Some(Executed::Run(r)) = inputs.run {
        ok &= r.outcome == "succeeded";
        let code = r
            .command_exit_code
            .map(|c| format!("exit code {c}"))
            .unwrap_or_else(|| "no exit code".to_string());
        parts.push(format!(
            "migrations {} ({code}, {})",
            r.outcome.replace('-', " "),
            plural(r.applied.len(), "migration applied")
        ));
    }
    if parts.is_empty() {
        parts.push("nothing to report".to_string());
    }
    let icon = if ok { "✅" } else { "❌" };
    format!("### {icon} migrail: {}", parts.join("; "))
}

fn findings(out: &mut String, lint: &LintDoc, inputs: &Inputs<'_>, cut: Cut) {
    let shown: Vec<_> = lint
        .findings
        .iter()
        .filter(|f| f.severity != "info")
        .collect();
    if shown.is_empty() {
        out.push_str("No unsafe migration operation found.\n\n");
        return;
    }
    out.push_str("| location | rule | severity | phase | message |\n|---|---|---|---|---|\n");
    for f in shown.iter().take(cut.max_rows) {
        let place = format!("{}:{}", f.path, f.line);
        let location = match (inputs.link)(&f.path, f.line) {
            Some(url) => format!("[`{}`]({url})", cell(&place)),
            None => format!("`{}`", cell(&place)),
        };
        out.push_str(&format!(
            "| {location} | `{}` | {} | {} | {} |\n",
            cell(&f.rule),
            cell(&f.severity),
            cell(f.phase.as_deref().unwrap_or("-")),
            cell(&f.message)
        ));
    }
    if shown.len() > cut.max_rows {
        out.push_str(&format!(
            "\n… and {} more (see the full report).\n",
            plural(shown.len() - cut.max_rows, "finding")
        ));
    }
    out.push('\n');
    let helps: Vec<_> = shown
        .iter()
        .take(cut.max_rows)
        .filter_map(|f| f.help.as_deref().map(|h| (f, h)))
        .collect();
    if !cut.details && !helps.is_empty() {
        out.push_str("<details><summary>How to fix</summary>\n\n");
        for (f, help) in helps {
            out.push_str(&format!(
                "**`{}`** at `{}:{}`\n\n",
                cell(&f.rule),
                cell(&f.path),
                f.line
            ));
            out.push_str(&fenced("text", help));
        }
        out.push_str("</details>\n\n");
    }
}

fn plan_section(out: &mut String, plan: &PlanDoc) {
    if plan.steps.is_empty() {
        return;
    }
    out.push_str("#### Deploy plan\n\n");
    for (stage, title) in [
        ("before", "Before the rollout"),
        ("after", "After the rollout"),
        ("blocked", "Blocked"),
    ] {
        let steps: Vec<_> = plan.steps.iter().filter(|s| s.stage == stage).collect();
        if steps.is_empty() {
            continue;
        }
        out.push_str(&format!("**{title}**\n\n"));
        for s in steps {
            let why = if s.reasons.is_empty() {
                String::new()
            } else {
                format!(" — {}", clean_line(&s.reasons.join("; ")))
            };
            out.push_str(&format!(
                "- `{}.{}`{}\n",
                cell(&s.app),
                cell(&s.name),
                html(&why)
            ));
        }
        out.push('\n');
    }
}

/// The deploy's steps: plan, pre, the rollout of each service, drain, post.
fn deploy_section(out: &mut String, d: &DeployDoc) {
    out.push_str("#### Deploy\n\n| step | outcome | duration | detail |\n|---|---|---|---|\n");
    let took = |s: f64| crate::run::format_duration(std::time::Duration::from_secs_f64(s.max(0.0)));
    for step in &d.steps {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            step.name,
            cell(&step.outcome.replace('-', " ")),
            took(step.duration_seconds),
            cell(&step.detail)
        ));
        if step.name == "rollout" {
            for s in &d.services {
                let mut detail = format!("→ `{}`", revision(&s.task_definition));
                if let Some(id) = &s.deployment_id {
                    detail.push_str(&format!(", deployment `{id}`"));
                }
                if let Some(r) = &s.reason {
                    detail.push_str(&format!(": {r}"));
                }
                out.push_str(&format!(
                    "| ↳ service `{}` | {} | | {} |\n",
                    cell(&s.service),
                    cell(&s.rollout.replace('-', " ")),
                    cell(&detail)
                ));
            }
        }
    }
    out.push('\n');
    if let Some(reason) = &d.reason {
        out.push_str(&format!("{}\n\n", html(reason)));
    }
    if let Some(resume) = &d.resume {
        out.push_str("To finish the deploy:\n\n");
        out.push_str(&fenced("sh", resume));
    }
}

fn run_section(out: &mut String, title: &str, run: &RunDoc, cut: Cut) {
    out.push_str(&format!("#### {title}\n\n| | |\n|---|---|\n"));
    let mut row = |k: &str, v: String| out.push_str(&format!("| {k} | {} |\n", cell(&v)));
    row("outcome", run.outcome.replace('-', " "));
    row("backend", run.backend.clone());
    if let Some(task) = run.task_arn.as_deref().or(run.task_id.as_deref()) {
        row("task", format!("`{task}`"));
    }
    row(
        "exit code",
        run.command_exit_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into()),
    );
    if let Some(stop) = &run.stop_code {
        row("stop code", stop.clone());
    }
    if let Some(reason) = &run.reason {
        row("reason", reason.clone());
    }
    if let Some(reason) = &run.container_reason {
        row("container", reason.clone());
    }
    row(
        "duration",
        crate::run::format_duration(std::time::Duration::from_secs_f64(
            run.duration_seconds.max(0.0),
        )),
    );
    row(
        "applied",
        if run.applied.is_empty() {
            "none".into()
        } else {
            run.applied
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if !run.lock_retries.is_empty() {
        let shown: Vec<String> = run
            .lock_retries
            .iter()
            .take(10)
            .map(|r| {
                format!(
                    "`{}`{}: waited {:.1} s",
                    r.migration,
                    r.table
                        .as_deref()
                        .map(|t| format!(" on `{t}`"))
                        .unwrap_or_default(),
                    r.wait_seconds
                )
            })
            .collect();
        let more = run.lock_retries.len().saturating_sub(shown.len());
        row(
            "lock retries",
            format!(
                "{} after a lock timeout: {}{}",
                run.lock_retries.len(),
                shown.join(", "),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            ),
        );
    }
    if !run.preflight.is_empty() {
        let count = |verdict: &str| {
            run.preflight
                .iter()
                .filter(|c| c.verdict == verdict)
                .count()
        };
        let mut parts = vec![plural(run.preflight.len(), "check")];
        for (verdict, word) in [
            ("violation", "refused"),
            ("timeout", "timed out"),
            ("error", "failed"),
            ("skipped", "not run"),
        ] {
            if count(verdict) > 0 {
                parts.push(format!("{} {word}", count(verdict)));
            }
        }
        row("preflight", parts.join(", "));
    }
    if let Some(url) = &run.log_url {
        row("logs", format!("[CloudWatch]({url})"));
    }
    out.push('\n');
    preflight_section(out, &run.preflight, cut);
    if !cut.log_tail && !run.log_tail.is_empty() {
        out.push_str(&format!(
            "<details><summary>Last {} lines of output</summary>\n\n",
            run.log_tail.len()
        ));
        out.push_str(&fenced("text", &run.log_tail.join("\n")));
        out.push_str("</details>\n\n");
    }
}

/// Each violation the preflight found (what, examples, the query listing them all), then
/// every check with its time and verdict, collapsed.
fn preflight_section(out: &mut String, checks: &[crate::run::preflight::Check], cut: Cut) {
    for c in checks.iter().filter(|c| c.violated()) {
        out.push_str(&format!(
            "**Preflight refused `{}`** ({}): {}\n\n",
            c.migration,
            html(&c.operation),
            html(&c.message())
        ));
        if !c.examples.is_empty() {
            out.push_str(&format!(
                "Examples: {}\n\n",
                c.examples
                    .iter()
                    .map(|e| format!("`{}`", e.replace('`', "'")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(q) = &c.query {
            out.push_str(&fenced("sql", &format!("{q};")));
        }
    }
    if cut.details || checks.is_empty() {
        return;
    }
    out.push_str("<details><summary>Preflight checks</summary>\n\n| migration | operation | check | verdict | rows | time |\n|---|---|---|---|---|---|\n");
    let shown = checks.len().min(cut.max_rows.max(1));
    for c in &checks[..shown] {
        out.push_str(&format!(
            "| `{}` | {} | {} on `{}` | {} | {} | {:.0} ms |\n",
            c.migration,
            cell(&c.operation),
            c.check,
            cell(c.target.as_deref().unwrap_or("?")),
            cell(&c.verdict),
            c.count.map(|n| n.to_string()).unwrap_or_default(),
            c.ms
        ));
    }
    if checks.len() > shown {
        out.push_str(&format!("\n… and {} more.\n", checks.len() - shown));
    }
    out.push_str("\n</details>\n\n");
}

/// `family:revision` from a task definition ARN.
fn revision(task_definition: &str) -> &str {
    task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else if let Some((first, rest)) = word.split_once(' ') {
        format!("{n} {first}s {rest}")
    } else {
        format!("{n} {word}s")
    }
}

/// Remove terminal escape sequences and other control characters (keeping line breaks
/// and tabs).
pub fn strip_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte; other escapes: ESC + one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if matches!(c, '\n' | '\r' | '\t') || !c.is_control() {
            out.push(c);
        }
    }
    out
}

pub(super) fn clean_line(text: &str) -> String {
    strip_control(text).replace(['\n', '\r'], " ")
}

pub(super) fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A table cell: one line, `|` escaped, HTML neutralised.
fn cell(text: &str) -> String {
    html(&clean_line(text)).replace('|', "\\|")
}

/// A fenced block whose fence is longer than any run of backticks inside.
pub(super) fn fenced(lang: &str, text: &str) -> String {
    let text = strip_control(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}{lang}\n{}\n{fence}\n\n",
        text.trim_end_matches('\n')
    )
}

/// Cut `body` to `budget` bytes on a char boundary, close what is open, say so.
fn truncate(body: &str, budget: usize, full_report: Option<&str>) -> String {
    let note = format!(
        "\n\n_Cut to fit in a comment{}._\n",
        full_report
            .map(|u| format!(": [full report]({u})"))
            .unwrap_or_default()
    );
    // Room for the note and the closers (at most a fence and a few `</details>`).
    let reserve = note.len() + 200;
    let mut end = budget.saturating_sub(reserve).min(body.len());
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let head = &body[..body[..end].rfind('\n').unwrap_or(end)];
    let mut out = head.to_string();
    // Close an open fence (the last fence line opened one if the count is odd).
    let mut open_fence: Option<String> = None;
    for line in head.lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            let ticks: String = t.chars().take_while(|&c| c == '`').collect();
            match &open_fence {
                Some(f) if t.trim_end() == f.as_str() => open_fence = None,
                None => open_fence = Some(ticks),
                _ => {}
            }
        }
    }
    if let Some(f) = open_fence {
        out.push('\n');
        out.push_str(&f);
    }
    let opened = head.matches("<details>").count();
    let closed = head.matches("</details>").count();
    for _ in closed..opened {
        out.push_str("\n</details>");
    }
    out.push_str(&note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_codes_and_table_breakers_are_neutralised() {
        assert_eq!(strip_control("\u{1b}[31mred\u{1b}[0m ok\u{7}"), "red ok");
        assert_eq!(cell("a | b\n<script>"), "a \\| b &lt;script&gt;");
        let f = fenced("text", "has ``` inside");
        assert!(
            f.starts_with("````text\n") && f.ends_with("````\n\n"),
            "{f}"
        );
    }

    #[test]
    fn a_refused_run_shows_the_violation_its_query_and_every_check() {
        let run: RunDoc = serde_json::from_value(serde_json::json!({
            "backend": "local", "outcome": "preflight-refused", "exit_code": 133,
            "command_exit_code": 65, "reason": null, "duration_seconds": 1.0,
            "task_arn": null, "task_id": null, "stop_code": null, "container_reason": null,
            "log_url": null,
            "preflight": [
                {"migration": "shop.0002_x", "operation": "Alter field qty on item", "check": "null",
                 "table": "shop_item", "target": "qty", "verdict": "violation", "ms": 4.2, "count": 2,
                 "examples": ["id=1", "id=3"], "query": "SELECT \"id\" FROM \"shop_item\" WHERE \"qty\" IS NULL"},
                {"migration": "shop.0002_x", "operation": "Alter field code on item", "check": "unique",
                 "table": "shop_item", "target": "code", "verdict": "ok", "ms": 1.0, "count": 0}
            ]
        }))
        .expect("a run document");
        let mut out = String::new();
        let cut = Cut {
            log_tail: false,
            details: false,
            max_rows: 50,
        };
        run_section(&mut out, "Run", &run, cut);
        assert!(out.contains("| preflight | 2 checks, 1 refused |"), "{out}");
        assert!(
            out.contains("**Preflight refused `shop.0002_x`** (Alter field qty on item): 2 rows with NULL in shop_item.qty"),
            "{out}"
        );
        assert!(out.contains("Examples: `id=1`, `id=3`"), "{out}");
        assert!(
            out.contains("```sql\nSELECT \"id\" FROM \"shop_item\" WHERE \"qty\" IS NULL;\n```"),
            "{out}"
        );
        assert!(
            out.contains(
                "| `shop.0002_x` | Alter field code on item | unique on `code` | ok | 0 | 1 ms |"
            ),
            "{out}"
        );
    }

    #[test]
    fn truncation_closes_fences_and_details() {
        let body = format!(
            "{}\n<details><summary>x</summary>\n\n```text\n{}",
            marker("default"),
            "line\n".repeat(50_000)
        );
        let cut = truncate(&body, 10_000, Some("https://ci/run/1"));
        assert!(cut.len() <= 10_000, "{}", cut.len());
        assert!(
            cut.contains("\n```\n</details>"),
            "{}",
            &cut[cut.len() - 200..]
        );
        assert!(cut.ends_with("[full report](https://ci/run/1)._\n"));
    }
}
