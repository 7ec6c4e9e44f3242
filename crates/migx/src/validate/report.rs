//! Report renderers: text (for people), json (schemas/validate-report.schema.json), junit.

use std::fmt::Write as _;

use serde::Serialize;

use super::files::{FileNote, FileReport, Finding, ValidateReport};
use super::profile::NoteKind;

/// How many findings per file the text report prints before "... and N more".
pub(super) const TEXT_CAP_PER_FILE: usize = 20;

/// A resource id as the reports show it: a UUID as it is (the ids migx derives, or the
/// source's own), anything else masked to its last three characters: a resource id may be
/// an NHS number or text.
fn shown_id(id: &str) -> String {
    if crate::digest::is_uuid(id) {
        id.to_string()
    } else {
        crate::nhs::mask_nhs_number(id)
    }
}

/// A JSON Pointer as the reports show it: array indexes and element-like names (letters,
/// `_`, and digit runs of at most three) as they are; any other token (an object key that may
/// be a name, an NHS number or text) masked.
fn shown_pointer(pointer: &str) -> String {
    let index = |t: &str| (1..=6).contains(&t.len()) && t.bytes().all(|c| c.is_ascii_digit());
    masked_steps(pointer, '/', |i, t| i == 0 || index(t) || element_like(t))
}

/// One masking walk for both path forms: the steps `keep` accepts are shown as they are, any
/// other step is masked (it may be an object key or an id taken from the instance).
fn masked_steps(path: &str, sep: char, keep: impl Fn(usize, &str) -> bool) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, step) in path.split(sep).enumerate() {
        if i > 0 {
            out.push(sep);
        }
        if keep(i, step) {
            out.push_str(step);
        } else {
            out.push_str(&crate::nhs::mask_nhs_number(step));
        }
    }
    out
}

/// Whether a pointer or FHIRPath token looks like an element name (letters, digits and `_`,
/// starting with a letter or `_`, no run of more than three digits), not an object key
/// taken from the instance.
fn element_like(t: &str) -> bool {
    let b = t.as_bytes();
    let mut run = 0;
    b.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.len() <= 64
        && b.iter().all(|&c| {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            (c.is_ascii_alphanumeric() || c == b'_') && run <= 3
        })
}

/// A FHIRPath location (`Bundle.entry[3].resource.code`) as the reports show it: element-like
/// steps and their indexes as they are, any other step masked.
fn shown_location(location: &str) -> String {
    masked_steps(location, '.', |_, step| {
        let (name, index) = match step.find('[') {
            Some(i) if step.ends_with(']') => (&step[..i], &step[i + 1..step.len() - 1]),
            _ => (step, ""),
        };
        element_like(name) && index.bytes().all(|c| c.is_ascii_digit())
    })
}

/// An offending value as the reports show it: its JSON kind, never its content (a value may be
/// a name, an NHS number or clinical text); `true`, `false`, `null` and array sizes as they
/// are.
fn shown_value(value: &str) -> String {
    match value {
        "true" | "false" | "null" => value.to_string(),
        v if v.starts_with("[array of ") => v.to_string(),
        v if v.starts_with('"') => "a string (masked)".to_string(),
        _ => "a number (masked)".to_string(),
    }
}

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
            let _ = write!(out, "/{}", shown_id(id));
        }
        out.push(' ');
    }
    if !f.location.is_empty() && !v.pointer.is_empty() {
        out.push_str(&shown_location(&f.location));
    } else if !v.pointer.is_empty() {
        out.push_str(&shown_pointer(&v.pointer));
    } else if out.is_empty() {
        out.push('/');
    }
    out.trim_end().to_string()
}

fn note_line(n: &FileNote) -> String {
    let mut s = String::new();
    if let Some(line) = n.line {
        let _ = write!(s, "line {line} ");
    }
    let _ = write!(
        s,
        "{}: {} [{}] {}",
        if n.location.is_empty() {
            "/".to_string()
        } else {
            shown_location(&n.location)
        },
        n.kind.as_str(),
        n.rule,
        n.message
    );
    if n.count > 1 {
        let _ = write!(s, " ({} times)", n.count);
    }
    s
}

fn finding_line(f: &Finding) -> String {
    let v = &f.violation;
    let mut s = format!("{}: [{}] {}", location(f), v.rule, v.message);
    if let Some(value) = &v.value {
        let _ = write!(s, " (value: {})", shown_value(value));
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
    for p in &report.packages {
        let _ = writeln!(
            out,
            "package {}#{} ({} definitions){}",
            p.name,
            p.version,
            p.resources,
            if p.missing_dependencies.is_empty() {
                String::new()
            } else {
                format!(
                    "; dependencies not loaded (not evaluated): {}",
                    p.missing_dependencies.join(", ")
                )
            }
        );
    }
    for file in &report.files {
        if file.is_valid() {
            let _ = writeln!(out, "{}: valid{}", file.path.display(), notes_suffix(file));
            for n in file.notes.iter().take(TEXT_CAP_PER_FILE) {
                let _ = writeln!(out, "  {}", note_line(n));
            }
            if file.notes.len() > TEXT_CAP_PER_FILE {
                let _ = writeln!(
                    out,
                    "  ... and {} more notes",
                    file.notes.len() - TEXT_CAP_PER_FILE
                );
            }
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
        for n in file.notes.iter().take(TEXT_CAP_PER_FILE) {
            let _ = writeln!(out, "  {}", note_line(n));
        }
        if file.notes.len() > TEXT_CAP_PER_FILE {
            let _ = writeln!(
                out,
                "  ... and {} more notes",
                file.notes.len() - TEXT_CAP_PER_FILE
            );
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
    if report.profiles_checked {
        // Keep the verdict the last line; the profile summary goes just before it.
        let verdict = out.lines().last().unwrap_or("").to_string();
        out.truncate(out.len() - verdict.len() - 1);
        let _ = writeln!(
            out,
            "profiles: {} warning(s), {} rule(s) not evaluated (listed per file)",
            report.notes_total(NoteKind::Warning),
            report.notes_total(NoteKind::NotEvaluated)
        );
        let _ = writeln!(out, "{verdict}");
    }
    out
}

fn notes_suffix(file: &FileReport) -> String {
    let w: usize = file
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Warning)
        .map(|n| n.count)
        .sum();
    let ne: usize = file
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::NotEvaluated)
        .map(|n| n.count)
        .sum();
    match (w, ne) {
        (0, 0) => String::new(),
        _ => format!(" ({w} warning(s), {ne} not evaluated)"),
    }
}

/// The JSON report (`schemas/validate-report.schema.json`), fields in output order.
#[derive(Serialize)]
struct JsonReport<'a> {
    migx_version: &'static str,
    profile: &'static str,
    valid: bool,
    files_total: usize,
    files_valid: usize,
    files_invalid: usize,
    violations_total: usize,
    profiles_checked: bool,
    packages: Vec<JsonPackage<'a>>,
    warnings_total: usize,
    not_evaluated_total: usize,
    files: Vec<JsonFile<'a>>,
}

/// A package whose profiles were checked.
#[derive(Serialize)]
struct JsonPackage<'a> {
    name: &'a str,
    version: &'a str,
    path: String,
    definitions: usize,
    missing_dependencies: &'a [String],
}

/// One file's report.
#[derive(Serialize)]
struct JsonFile<'a> {
    path: String,
    format: &'static str,
    valid: bool,
    bytes: u64,
    resources: usize,
    violation_count: usize,
    violations: Vec<JsonFinding<'a>>,
    notes: Vec<JsonNote<'a>>,
}

/// One violation, ids, pointers, locations and values shown masked.
#[derive(Serialize)]
struct JsonFinding<'a> {
    line: Option<usize>,
    column: Option<usize>,
    entry: Option<usize>,
    resource_type: Option<&'a str>,
    resource_id: Option<String>,
    pointer: String,
    location: String,
    rule: &'a str,
    message: &'a str,
    value: Option<String>,
}

/// A warning or a rule not evaluated.
#[derive(Serialize)]
struct JsonNote<'a> {
    kind: &'static str,
    rule: &'a str,
    message: &'a str,
    location: String,
    line: Option<usize>,
    count: usize,
}

fn note_json(n: &FileNote) -> JsonNote<'_> {
    JsonNote {
        kind: n.kind.as_str(),
        rule: &n.rule,
        message: &n.message,
        location: shown_location(&n.location),
        line: n.line,
        count: n.count,
    }
}

fn finding_json(f: &Finding) -> JsonFinding<'_> {
    let v = &f.violation;
    JsonFinding {
        line: f.line,
        column: f.column,
        entry: v.entry,
        resource_type: v.resource_type.as_deref(),
        resource_id: v.resource_id.as_deref().map(shown_id),
        pointer: shown_pointer(&v.pointer),
        location: shown_location(&f.location),
        rule: &v.rule,
        message: &v.message,
        value: v.value.as_deref().map(shown_value),
    }
}

/// The JSON report (described by `schemas/validate-report.schema.json`).
fn report_record(report: &ValidateReport) -> JsonReport<'_> {
    let files = report
        .files
        .iter()
        .map(|f| JsonFile {
            path: f.path.display().to_string(),
            format: f.format,
            valid: f.is_valid(),
            bytes: f.bytes,
            resources: f.resources,
            violation_count: f.violation_count,
            violations: f.findings.iter().map(finding_json).collect(),
            notes: f.notes.iter().map(note_json).collect(),
        })
        .collect();
    let invalid = report.files_invalid();
    JsonReport {
        migx_version: env!("CARGO_PKG_VERSION"),
        profile: report.profile.as_str(),
        valid: report.is_valid(),
        files_total: report.files.len(),
        files_valid: report.files.len() - invalid,
        files_invalid: invalid,
        violations_total: report.violations_total(),
        profiles_checked: report.profiles_checked,
        packages: report
            .packages
            .iter()
            .map(|p| JsonPackage {
                name: &p.name,
                version: &p.version,
                path: p.path.display().to_string(),
                definitions: p.resources,
                missing_dependencies: &p.missing_dependencies,
            })
            .collect(),
        warnings_total: report.notes_total(NoteKind::Warning),
        not_evaluated_total: report.notes_total(NoteKind::NotEvaluated),
        files,
    }
}

/// JSON report, pretty-printed, with a trailing newline.
pub fn render_json(report: &ValidateReport) -> String {
    let mut s = serde_json::to_string_pretty(&report_record(report)).unwrap_or_default();
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
        let system_out = if file.notes.is_empty() {
            String::new()
        } else {
            let mut body = String::new();
            for n in &file.notes {
                body.push_str(&note_line(n));
                body.push('\n');
            }
            format!("\n      <system-out>{}</system-out>", xml_text(&body))
        };
        if file.is_valid() {
            if system_out.is_empty() {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"migx.validate\" name=\"{name}\"/>"
                );
            } else {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"migx.validate\" name=\"{name}\">{system_out}\n    </testcase>"
                );
            }
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
            "    <testcase classname=\"migx.validate\" name=\"{name}\">\n      <failure message=\"{}\" type=\"schema\">{}</failure>{system_out}\n    </testcase>",
            xml_escape(&crate::validate::truncate(&summary, 500)),
            xml_text(&body)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Report formats of validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Grouped per file, for people.
    #[default]
    Text,
    /// Described by schemas/validate-report.schema.json.
    Json,
    /// JUnit XML, one testcase per file, for CI.
    Junit,
}

/// Render in the given format.
pub fn render(report: &ValidateReport, format: ReportFormat) -> String {
    match format {
        ReportFormat::Text => render_text(report),
        ReportFormat::Json => render_json(report),
        ReportFormat::Junit => render_junit(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_keep_element_names_and_indexes_and_mask_instance_keys() {
        assert_eq!(
            shown_pointer("/entry/3/resource/code"),
            "/entry/3/resource/code"
        );
        let shown = shown_pointer("/contained/9434765919/name");
        assert!(!shown.contains("9434765919"), "{shown}");
        assert!(shown.starts_with("/contained/") && shown.ends_with("/name"));
        let shown = shown_pointer("/extension/Mrs Smith");
        assert!(!shown.contains("Smith"), "{shown}");
    }

    #[test]
    fn locations_keep_element_steps_and_mask_the_rest() {
        assert_eq!(
            shown_location("Bundle.entry[3].resource.code"),
            "Bundle.entry[3].resource.code"
        );
        for leak in [
            "Bundle.entry[3].9434765919",
            "Bundle.entry[x1].code",
            "Bundle.Smith John",
        ] {
            let shown = shown_location(leak);
            assert_ne!(shown, leak);
            assert!(shown.starts_with("Bundle."), "{shown}");
            assert!(
                !shown.contains("9434765919") && !shown.contains("Smith"),
                "{shown}"
            );
        }
    }
}
