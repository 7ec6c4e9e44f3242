//! Report renderers: text (for people), json (schemas/validate-report.schema.json), junit.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::files::{FileReport, Finding, ValidateReport};

/// How many findings per file the text report prints before "... and N more".
pub const TEXT_CAP_PER_FILE: usize = 20;

fn location(f: &Finding) -> String {
    let v = &f.violation;
    let mut out = String::new();
    if let Some(line) = f.line {
        let _ = write!(out, "line {line}");
        if let Some(col) = f.column {
            let _ = write!(out, ", column {col}");
        }
        out.push(' ');
    }
    if let Some(entry) = v.entry {
        let _ = write!(out, "entry {entry} ");
    }
    if let Some(rt) = &v.resource_type {
        out.push_str(rt);
        if let Some(id) = &v.resource_id {
            let _ = write!(out, "/{id}");
        }
        out.push(' ');
    }
    if !v.pointer.is_empty() {
        out.push_str(&v.pointer);
    } else if out.is_empty() {
        out.push('/');
    }
    out.trim_end().to_string()
}

fn finding_line(f: &Finding) -> String {
    let v = &f.violation;
    let mut s = format!("{}: [{}] {}", location(f), v.rule, v.message);
    if let Some(value) = &v.value {
        let _ = write!(s, " (value: {value})");
    }
    s
}

fn file_more(file: &FileReport, shown: usize) -> usize {
    file.violation_count.saturating_sub(shown)
}

/// Text report: one line per file, violations indented below invalid files, at most
/// `TEXT_CAP_PER_FILE` per file, then a summary line.
pub fn render_text(report: &ValidateReport) -> String {
    let mut out = String::new();
    for path in &report.missing {
        let _ = writeln!(out, "{}: no such file or folder", path.display());
    }
    for file in &report.files {
        if file.is_valid() {
            let _ = writeln!(out, "{}: valid", file.path.display());
            continue;
        }
        let n = file.violation_count;
        let _ = writeln!(
            out,
            "{}: INVALID ({n} violation{})",
            file.path.display(),
            if n == 1 { "" } else { "s" }
        );
        let shown = file.findings.len().min(TEXT_CAP_PER_FILE);
        for f in file.findings.iter().take(shown) {
            let _ = writeln!(out, "  {}", finding_line(f));
        }
        let more = file_more(file, shown);
        if more > 0 {
            let _ = writeln!(out, "  ... and {more} more");
        }
    }
    let invalid = report.files_invalid();
    let _ = writeln!(
        out,
        "{} file{} checked ({} profile): {} valid, {} invalid, {} violation{}{}",
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.profile.as_str(),
        report.files.len() - invalid,
        invalid,
        report.violations_total(),
        if report.violations_total() == 1 {
            ""
        } else {
            "s"
        },
        if report.missing.is_empty() {
            String::new()
        } else {
            format!(", {} missing path(s)", report.missing.len())
        }
    );
    out
}

fn finding_json(f: &Finding) -> Value {
    let v = &f.violation;
    json!({
        "line": f.line,
        "column": f.column,
        "entry": v.entry,
        "resource_type": v.resource_type,
        "resource_id": v.resource_id,
        "pointer": v.pointer,
        "rule": v.rule,
        "message": v.message,
        "value": v.value,
    })
}

/// JSON report as a value (described by `schemas/validate-report.schema.json`).
pub fn report_value(report: &ValidateReport) -> Value {
    let files: Vec<Value> = report
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "format": f.format,
                "valid": f.is_valid(),
                "bytes": f.bytes,
                "resources": f.resources,
                "violation_count": f.violation_count,
                "violations": f.findings.iter().map(finding_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let invalid = report.files_invalid();
    json!({
        "migx_version": env!("CARGO_PKG_VERSION"),
        "profile": report.profile.as_str(),
        "valid": report.is_valid(),
        "files_total": report.files.len(),
        "files_valid": report.files.len() - invalid,
        "files_invalid": invalid,
        "violations_total": report.violations_total(),
        "files": files,
    })
}

/// JSON report, pretty-printed, with a trailing newline.
pub fn render_json(report: &ValidateReport) -> String {
    let mut s = serde_json::to_string_pretty(&report_value(report)).unwrap_or_default();
    s.push('\n');
    s
}

/// Escape text for XML attribute values and character data; drops characters XML 1.0 does
/// not allow (control characters other than tab, newline, carriage return).
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Character data: attribute-style escaping keeps newlines as-is for readability.
fn xml_text(text: &str) -> String {
    xml_escape(text).replace("&#10;", "\n")
}

/// JUnit XML: one `<testsuite>`, one `<testcase>` per file (name = path), a `<failure>` per
/// invalid file listing its violations; missing paths are `<error>` test cases.
pub fn render_junit(report: &ValidateReport) -> String {
    let invalid = report.files_invalid();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"migx validate\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        report.files.len() + report.missing.len(),
        invalid,
        report.missing.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"migx validate ({} profile)\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
        report.profile.as_str(),
        report.files.len() + report.missing.len(),
        invalid,
        report.missing.len()
    );
    for path in &report.missing {
        let name = xml_escape(&path.display().to_string());
        let _ = writeln!(
            out,
            "    <testcase classname=\"migx.validate\" name=\"{name}\">\n      <error message=\"no such file or folder\" type=\"missing\"/>\n    </testcase>"
        );
    }
    for file in &report.files {
        let name = xml_escape(&file.path.display().to_string());
        if file.is_valid() {
            let _ = writeln!(
                out,
                "    <testcase classname=\"migx.validate\" name=\"{name}\"/>"
            );
            continue;
        }
        let n = file.violation_count;
        let summary = format!(
            "{n} violation{}{}",
            if n == 1 { "" } else { "s" },
            file.findings
                .first()
                .map(|f| format!("; first: {}", finding_line(f)))
                .unwrap_or_default()
        );
        let mut body = String::new();
        for f in &file.findings {
            body.push_str(&finding_line(f));
            body.push('\n');
        }
        let more = file_more(file, file.findings.len());
        if more > 0 {
            let _ = writeln!(body, "... and {more} more");
        }
        let _ = writeln!(
            out,
            "    <testcase classname=\"migx.validate\" name=\"{name}\">\n      <failure message=\"{}\" type=\"schema\">{}</failure>\n    </testcase>",
            xml_escape(&crate::validate::truncate(&summary, 500)),
            xml_text(&body)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Render in the given format.
pub fn render(report: &ValidateReport, format: super::ReportFormat) -> String {
    match format {
        super::ReportFormat::Text => render_text(report),
        super::ReportFormat::Json => render_json(report),
        super::ReportFormat::Junit => render_junit(report),
    }
}
