//! GitHub Actions workflow commands: each finding as an `::error` / `::warning`
//! annotation with file, line, column and title, escaped as the runner expects (`%`, CR
//! and LF in the message; also `:` and `,` in properties). GitHub shows 10 annotations
//! of each kind per step: the rest are counted in one `::notice`.

use super::documents::FindingDoc;

/// Annotations of each kind GitHub displays per step.
pub const PER_KIND: usize = 10;

fn escape_data(text: &str) -> String {
    super::markdown::strip_control(text)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The workflow commands for `findings` (notes are left out).
pub fn annotations(findings: &[FindingDoc]) -> String {
    let mut out = String::new();
    let (mut errors, mut warnings, mut rest) = (0usize, 0usize, 0usize);
    for f in findings {
        let (kind, count) = match f.severity.as_str() {
            "error" => ("error", &mut errors),
            "warning" => ("warning", &mut warnings),
            _ => continue,
        };
        *count += 1;
        if *count > PER_KIND {
            rest += 1;
            continue;
        }
        let mut props = format!(
            "file={},line={},col={}",
            escape_property(&f.path),
            f.line,
            f.column
        );
        if f.end_line >= f.line && f.end_line > 0 {
            props.push_str(&format!(",endLine={}", f.end_line));
            if f.end_line == f.line && f.end_column > 0 {
                props.push_str(&format!(",endColumn={}", f.end_column));
            }
        }
        props.push_str(&format!(
            ",title={}",
            escape_property(&format!("migrail {}", f.rule))
        ));
        let mut message = f.message.clone();
        if let Some(help) = &f.help {
            message.push_str("\n\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!("::{kind} {props}::{}\n", escape_data(&message)));
    }
    if rest > 0 {
        out.push_str(&format!(
            "::notice title=migrail::{rest} more finding{} than GitHub shows as annotations ({errors} errors, {warnings} warnings in all): see the step summary\n",
            if rest == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: &str, path: &str, message: &str) -> FindingDoc {
        FindingDoc {
            rule: "drop-column".into(),
            severity: severity.into(),
            path: path.into(),
            line: 3,
            column: 9,
            end_line: 3,
            end_column: 20,
            message: message.into(),
            help: None,
            phase: None,
        }
    }

    #[test]
    fn properties_and_data_are_escaped() {
        let out = annotations(&[finding("error", "a,b:c.py", "100% broken\nsecond line\r")]);
        assert_eq!(
            out,
            "::error file=a%2Cb%3Ac.py,line=3,col=9,endLine=3,endColumn=20,title=migrail drop-column::100%25 broken%0Asecond line%0D\n"
        );
    }

    #[test]
    fn ten_of_each_kind_then_one_notice() {
        let mut all: Vec<_> = (0..12)
            .map(|i| finding("error", &format!("e{i}.py"), "e"))
            .collect();
        all.extend((0..11).map(|i| finding("warning", &format!("w{i}.py"), "w")));
        all.push(finding("info", "n.py", "note"));
        let out = annotations(&all);
        assert_eq!(out.matches("::error ").count(), 10);
        assert_eq!(out.matches("::warning ").count(), 10);
        assert!(!out.contains("n.py"));
        assert!(out.ends_with("::notice title=migrail::3 more findings than GitHub shows as annotations (12 errors, 11 warnings in all): see the step summary\n"), "{out}");
    }
}
