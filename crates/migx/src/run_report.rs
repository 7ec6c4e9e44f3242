//! The run report: one self-contained HTML page for the operator (inline CSS and inline SVG,
//! no script, no fonts or images fetched) made only from an output folder's `summary.json`,
//! `audit.ndjson` and `access-audit.ndjson` (counted per requester and purpose). Those hold
//! counts, file names, reasons, error codes and organisations, never patient data, and this
//! module adds none. Its only links are to the run's own bundles, relative to the output
//! folder. Every piece of text from them is escaped; the layout depends only on the input, so
//! the same run always gives the same bytes (no clock time).

use crate::access::DisclosureRecord;
use crate::outcome::Status;
use crate::pipeline::records::{AuditLine, Summary};
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::{self, BufRead};
use std::path::Path;

/// At most this many rows in each file table; the rest are counted and left to audit.ndjson.
pub const MAX_ROWS: usize = 2000;

/// Bar colours (each passes WCAG AA contrast against white for the text beside it).
const SHARED_COLOUR: &str = "#1f7a54";
const WITHHELD_COLOUR: &str = "#a85a00";

/// Render the report for one run: its summary and the lines of its audit.
pub fn render_html<'a>(
    summary: &Summary,
    audit_lines: impl Iterator<Item = AuditLine<'a>>,
) -> String {
    render_audit(
        summary,
        &Audit::collect(audit_lines),
        0,
        &Context::default(),
    )
}

/// What the report shows beside summary.json and audit.ndjson: the output folder as given,
/// and the disclosures of access-audit.ndjson counted per requester and purpose.
#[derive(Default)]
struct Context {
    out_dir: Option<String>,
    /// (requester ODS code, purpose of use) -> disclosures; `None` when the access audit could
    /// not be read.
    disclosures: Option<std::collections::BTreeMap<(String, String), u64>>,
}

/// Count the disclosures of `<dir>/access-audit.ndjson` per requester and purpose (each
/// AuditEvent read as a [`DisclosureRecord`]: the requesting agent's ODS code and the purpose of
/// use; `None`, "could not be read", when a line is not a disclosure migx recorded).
fn count_disclosures(dir: &Path) -> Option<std::collections::BTreeMap<(String, String), u64>> {
    let f = std::fs::File::open(dir.join("access-audit.ndjson")).ok()?;
    let mut out = std::collections::BTreeMap::new();
    for line in io::BufReader::new(f).split(b'\n') {
        let line = line.ok()?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let r = DisclosureRecord::from_line(&line)?;
        let key = (r.requester_ods, r.purpose);
        *out.entry(key).or_insert(0) += 1;
    }
    Some(out)
}

/// Read `<dir>/summary.json`, `<dir>/audit.ndjson` and `<dir>/access-audit.ndjson` and write
/// the report to `out` atomically, owner-only (0600).
pub fn report_dir(dir: &Path, out: &Path) -> io::Result<()> {
    let summary_path = dir.join("summary.json");
    let bytes = std::fs::read(&summary_path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot read {}: {e} (is {} an output folder of `migx convert`?)",
                summary_path.display(),
                dir.display()
            ),
        )
    })?;
    // The typed record `migx convert` and `migx summary` write: a file that is not one (not
    // JSON, another program's, a partial or older form) is refused, never shown in part.
    let summary: Summary = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a migx summary: {e}", summary_path.display()),
        )
    })?;
    let audit_path = dir.join("audit.ndjson");
    let file = std::fs::File::open(&audit_path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", audit_path.display()),
        )
    })?;
    let reader = io::BufReader::new(file);
    let read_error: RefCell<Option<io::Error>> = RefCell::new(None);
    let unreadable = Cell::new(0usize);
    let lines = reader
        .split(b'\n')
        .map_while(|r| match r {
            Ok(l) => Some(l),
            Err(e) => {
                *read_error.borrow_mut() = Some(e);
                None
            }
        })
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| match serde_json::from_slice::<AuditLine<'static>>(&l) {
            Ok(line) => Some(line),
            Err(_) => {
                unreadable.set(unreadable.get() + 1);
                None
            }
        });
    let audit = Audit::collect(lines);
    if let Some(e) = read_error.into_inner() {
        return Err(io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", audit_path.display()),
        ));
    }
    let ctx = Context {
        out_dir: Some(dir.display().to_string()),
        disclosures: count_disclosures(dir),
    };
    let html = render_audit(&summary, &audit, unreadable.get(), &ctx);
    crate::output::write_atomic(out, html.as_bytes())
}

/// What the report needs from audit.ndjson.
#[derive(Default)]
struct Audit {
    files: usize,
    rejected: Vec<Rejected>,
    rejected_total: usize,
    withheld: Vec<(String, String)>,
    withheld_total: usize,
    /// Converted inputs with their bundle (relative to the output folder), if one.
    converted: Vec<(String, Option<String>)>,
    converted_total: usize,
}

struct Rejected {
    input: String,
    code: String,
    message: String,
    line: String,
    column: String,
}

impl Audit {
    fn collect<'a>(lines: impl Iterator<Item = AuditLine<'a>>) -> Audit {
        let mut a = Audit::default();
        for line in lines {
            let AuditLine::File(f) = line else {
                continue;
            };
            a.files += 1;
            let input = f.input.into_owned();
            let reason = f.reason.map(|r| r.into_owned()).unwrap_or_default();
            match f.status {
                Status::Rejected => {
                    a.rejected_total += 1;
                    if a.rejected.len() < MAX_ROWS {
                        let shown = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
                        a.rejected.push(match f.error {
                            Some(e) => Rejected {
                                input,
                                code: e.code.into_owned(),
                                message: e.message.into_owned(),
                                line: shown(e.line),
                                column: shown(e.column),
                            },
                            None => Rejected {
                                input,
                                code: reason,
                                message: String::new(),
                                line: String::new(),
                                column: String::new(),
                            },
                        });
                    }
                }
                Status::Converted => {
                    a.converted_total += 1;
                    if a.converted.len() < MAX_ROWS {
                        a.converted.push((input, f.bundle.map(|b| b.into_owned())));
                    }
                }
                Status::Withheld => {
                    a.withheld_total += 1;
                    if a.withheld.len() < MAX_ROWS {
                        a.withheld.push((input, reason));
                    }
                }
            }
        }
        a
    }
}

/// Escape text for HTML element content and attribute values; control characters (other
/// than tab and newline) become U+FFFD so nothing invisible reaches the page.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The (name, count) pairs of a summary map, in the summary's own (deterministic) order.
fn pairs<'a>(m: impl IntoIterator<Item = (&'a String, &'a u64)>) -> Vec<(String, u64)> {
    m.into_iter().map(|(k, n)| (k.clone(), *n)).collect()
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f8; color: #1d2330;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #1d2b3a; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; }
header p { margin: 0; color: #c9d4df; }
main { max-width: 1100px; margin: 0 auto; padding: 20px 32px 40px; }
section { background: #fff; border: 1px solid #dde3e9; border-radius: 8px; padding: 16px 20px; margin: 0 0 18px; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 14px 0 8px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-bottom: 14px; }
.card { border: 1px solid #dde3e9; border-left: 6px solid #5b6b7b; border-radius: 6px; padding: 10px 14px; }
.card .n { font-size: 28px; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .l { color: #4a5563; }
.card.converted { border-left-color: #1f7a54; }
.card.withheld { border-left-color: #a85a00; }
.card.rejected { border-left-color: #b3261e; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e6eaee; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td code { white-space: nowrap; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.hash { word-break: break-all; }
.none { color: #5b6b7b; font-style: italic; }
.note { background: #fff6e5; border: 1px solid #e8c27a; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.chart { display: block; max-width: 100%; height: auto; }
.chart text { font: 13px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; fill: #1d2330; }
.chart .val { font-variant-numeric: tabular-nums; font-weight: 600; }
.chart .axis { stroke: #8a96a3; stroke-width: 1; }
footer { max-width: 1100px; margin: 0 auto; padding: 0 32px 32px; color: #4a5563; font-size: 13px; }
@media print { body { background: #fff; } section { break-inside: avoid; } }
"#;

/// A bundle path the report may link to: relative, inside `bundles/`, nothing that leaves
/// the output folder or names a scheme.
fn bundle_href(bundle: &str) -> Option<&str> {
    let rest = bundle.strip_prefix("bundles/")?;
    let plain = !rest.is_empty()
        && !rest.contains(['/', '\\', ':', '?', '#', '%'])
        && rest != ".."
        && rest.ends_with(".json");
    plain.then_some(bundle)
}

fn render_audit(summary: &Summary, audit: &Audit, unreadable: usize, ctx: &Context) -> String {
    let mut h = String::with_capacity(16 * 1024 + audit.rejected.len() * 300);
    let policy_name = summary.policy.name.clone();
    let policy_version = summary.policy.version.clone();
    let migx_version = summary.migx_version.clone();
    let snomed = summary
        .snomed_release
        .clone()
        .unwrap_or_else(|| "none".to_string());

    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Belt and braces: even if something slipped in, the browser may fetch nothing.
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n");
    h.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>migx run report</title>\n<style>");
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n<header>\n<h1>migx run report</h1>\n");
    let _ = writeln!(
        h,
        "<p>{} input(s) &middot; policy {} {} &middot; migx {}</p>\n</header>\n<main>",
        group(summary.inputs),
        escape(&policy_name),
        escape(&policy_version),
        escape(&migx_version)
    );

    // Notes on anything that makes the figures less than complete.
    let mut notes = Vec::new();
    if summary.stopped_early {
        notes.push(
            "The run stopped early (--fail-fast): not every input was processed.".to_string(),
        );
    }
    if unreadable > 0 {
        notes.push(format!(
            "{} line(s) of audit.ndjson could not be read and are not in the file lists below.",
            group(unreadable as u64)
        ));
    }
    for (status, n, total) in [
        ("rejected", summary.rejected, audit.rejected_total),
        ("withheld", summary.withheld, audit.withheld_total),
    ] {
        if n != total as u64 {
            notes.push(format!(
                "summary.json counts {} {status} file(s) but audit.ndjson lists {}: are they from the same run?",
                group(n),
                group(total as u64)
            ));
        }
    }

    // Figures.
    h.push_str("<section aria-labelledby=\"figures\">\n<h2 id=\"figures\">Figures</h2>\n");
    for n in &notes {
        let _ = writeln!(h, "<p class=\"note\" role=\"note\">{}</p>", escape(n));
    }
    h.push_str("<div class=\"cards\">\n");
    for (class, label, n) in [
        ("inputs", "inputs", summary.inputs),
        ("converted", "converted", summary.converted),
        ("withheld", "withheld", summary.withheld),
        ("rejected", "rejected", summary.rejected),
    ] {
        let _ = writeln!(
            h,
            "<div class=\"card {class}\"><div class=\"n\" id=\"n-{class}\">{}</div><div class=\"l\">{label}</div></div>",
            group(n)
        );
    }
    h.push_str("</div>\n<table class=\"facts\">\n<tbody>\n");
    let b = summary.input_bytes;
    let mb = format!("{:.1} MB ({} bytes)", b as f64 / 1e6, group(b));
    // Items withheld for want of a SNOMED CT release, and what to do about it.
    let no_release = match (summary.withheld_no_snomed_release, &summary.snomed_advice) {
        (0, _) | (_, None) => group(summary.withheld_no_snomed_release),
        (n, Some(advice)) => format!("{}: {advice}", group(n)),
    };
    let ex = &summary.exclusion_refsets;
    let exclusion = if ex.official_complete {
        "the official GP summary exclusion refsets".to_string()
    } else {
        format!(
            "NOT the official refsets ({}); {}",
            if ex.operator_assertion.is_none() {
                "no operator assertion"
            } else {
                "operator assertion --without-official-refsets"
            },
            ex.subtypes
        )
    };
    let facts: [(&str, String, bool); 11] = [
        (
            "output folder",
            ctx.out_dir.clone().unwrap_or_default(),
            true,
        ),
        (
            "policy",
            format!("{policy_name} version {policy_version}"),
            false,
        ),
        ("policy sha256", summary.policy_sha256.clone(), true),
        ("SNOMED CT release", snomed, false),
        (
            "items withheld because no SNOMED CT release was loaded",
            no_release,
            false,
        ),
        ("sensitive codes checked against", exclusion, false),
        ("migx version", migx_version.clone(), false),
        ("consent source", summary.consent_source.clone(), false),
        (
            "free-text fields removed",
            group(summary.free_text_removed),
            false,
        ),
        ("input size", mb, false),
        (
            "stopped early",
            if summary.stopped_early {
                "yes (--fail-fast)".into()
            } else {
                "no".into()
            },
            false,
        ),
    ];
    for (k, v, mono) in facts {
        let v = if v.is_empty() { "\u{2014}".into() } else { v };
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td{}>{}</td></tr>",
            escape(k),
            if mono { " class=\"mono hash\"" } else { "" },
            escape(&v)
        );
    }
    h.push_str("</tbody>\n</table>\n<div class=\"two\">\n<div>\n");
    count_table(
        &mut h,
        "files-withheld-by-reason",
        "Files withheld by reason",
        "reason",
        &pairs(&summary.file_reasons),
    );
    h.push_str("</div>\n<div>\n");
    count_table(
        &mut h,
        "files-rejected-by-code",
        "Files rejected by error code",
        "error code",
        &pairs(&summary.error_codes),
    );
    h.push_str("</div>\n</div>\n</section>\n");

    requesters_section(&mut h, summary, ctx);
    error_advice_section(&mut h, summary);

    // Charts.
    h.push_str("<section aria-labelledby=\"items\">\n<h2 id=\"items\">Items</h2>\n");
    bar_chart(
        &mut h,
        "chart-shared",
        "Items shared per category",
        &summary.items_shared.0,
        SHARED_COLOUR,
    );
    bar_chart(
        &mut h,
        "chart-withheld",
        "Items withheld per reason",
        &pairs(&summary.items_withheld),
        WITHHELD_COLOUR,
    );
    h.push_str("</section>\n");

    // Converted files, linking to their bundles.
    h.push_str(
        "<section aria-labelledby=\"converted\">\n<h2 id=\"converted\">Converted files</h2>\n",
    );
    if audit.converted.is_empty() {
        h.push_str("<p class=\"none\">No file was converted.</p>\n");
    } else {
        h.push_str("<p>Each bundle link is relative to the output folder: it opens from the report in that folder (the default, <code>report.html</code>).</p>\n");
        h.push_str("<table id=\"converted-files\">\n<thead><tr><th scope=\"col\">file</th><th scope=\"col\">bundle</th></tr></thead>\n<tbody>\n");
        for (input, bundle) in &audit.converted {
            let cell = match bundle.as_deref() {
                Some(b) => match bundle_href(b) {
                    Some(href) => format!("<a href=\"{}\">{}</a>", escape(href), escape(b)),
                    None => escape(b),
                },
                None => "<span class=\"none\">in ndjson/</span>".to_string(),
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{cell}</td></tr>",
                escape(input)
            );
        }
        h.push_str("</tbody>\n</table>\n");
        more(&mut h, audit.converted_total, audit.converted.len());
    }
    h.push_str("</section>\n");

    // Rejected files.
    h.push_str("<section aria-labelledby=\"rejected\">\n<h2 id=\"rejected\">Rejected files</h2>\n");
    if audit.rejected.is_empty() {
        h.push_str("<p class=\"none\">No file was rejected.</p>\n");
    } else {
        h.push_str("<table id=\"rejected-files\">\n<thead><tr><th scope=\"col\">file</th><th scope=\"col\">error code</th><th scope=\"col\">message</th><th scope=\"col\" class=\"num\">line</th><th scope=\"col\" class=\"num\">column</th></tr></thead>\n<tbody>\n");
        for r in &audit.rejected {
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{}</td><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&r.input),
                escape(&r.code),
                escape(&r.message),
                escape(&r.line),
                escape(&r.column)
            );
        }
        h.push_str("</tbody>\n</table>\n");
        more(&mut h, audit.rejected_total, audit.rejected.len());
    }
    h.push_str("</section>\n");

    // Withheld files.
    h.push_str("<section aria-labelledby=\"withheld\">\n<h2 id=\"withheld\">Withheld files</h2>\n");
    if audit.withheld.is_empty() {
        h.push_str("<p class=\"none\">No file was withheld.</p>\n");
    } else {
        h.push_str("<table id=\"withheld-files\">\n<thead><tr><th scope=\"col\">file</th><th scope=\"col\">reason</th></tr></thead>\n<tbody>\n");
        for (input, reason) in &audit.withheld {
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{}</td><td><code>{}</code></td></tr>",
                escape(input),
                escape(reason)
            );
        }
        h.push_str("</tbody>\n</table>\n");
        more(&mut h, audit.withheld_total, audit.withheld.len());
    }
    h.push_str("</section>\n</main>\n");
    let _ = writeln!(
        h,
        "<footer>Made by migx {} from summary.json, audit.ndjson ({} file record(s)) and access-audit.ndjson (disclosures counted per requester and purpose): counts, file names, reasons, error codes and organisations only; no patient data.</footer>",
        escape(&migx_version),
        group(audit.files as u64)
    );
    h.push_str("</body>\n</html>\n");
    h
}

/// Who the run could disclose to, and who it disclosed to.
fn requesters_section(h: &mut String, summary: &Summary, ctx: &Context) {
    h.push_str("<section aria-labelledby=\"requesters\">\n<h2 id=\"requesters\">Requesters and purposes</h2>\n");
    let permitted = &summary.permitted;
    let purposes = &permitted.purposes;
    let _ = writeln!(
        h,
        "<p>Purposes of use permitted: {}.</p>",
        if purposes.is_empty() {
            "\u{2014}".to_string()
        } else {
            purposes
                .iter()
                .map(|p| format!("<code>{}</code>", escape(p)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    h.push_str("<h3 id=\"permitted-requesters\">Requesting organisations permitted</h3>\n");
    match &permitted.requesters {
        rs if !rs.is_empty() => {
            h.push_str("<table aria-labelledby=\"permitted-requesters\">\n<thead><tr><th scope=\"col\">ODS code</th><th scope=\"col\">name</th><th scope=\"col\">role</th><th scope=\"col\">permitted by</th></tr></thead>\n<tbody>\n");
            for r in rs {
                let source = match r.source.as_str() {
                    "policy" => "the policy".to_string(),
                    "--permit-requester" => "--permit-requester (this run only)".to_string(),
                    other => other.to_string(),
                };
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&r.ods_code),
                    escape(r.name.as_deref().unwrap_or_default()),
                    escape(r.role.as_deref().unwrap_or_default()),
                    escape(&source)
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
        _ => h.push_str("<p class=\"none\">not recorded in summary.json</p>\n"),
    }
    h.push_str("<h3 id=\"disclosures-by-requester\">Disclosures per requester and purpose</h3>\n");
    match &ctx.disclosures {
        None => h.push_str("<p class=\"none\">access-audit.ndjson could not be read</p>\n"),
        Some(r) if r.is_empty() => h.push_str("<p class=\"none\">No record was disclosed.</p>\n"),
        Some(r) => {
            h.push_str("<table aria-labelledby=\"disclosures-by-requester\">\n<thead><tr><th scope=\"col\">requester</th><th scope=\"col\">purpose</th><th scope=\"col\" class=\"num\">disclosures</th></tr></thead>\n<tbody>\n");
            for ((who, purpose), n) in r {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
                    escape(who),
                    escape(purpose),
                    group(*n)
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
    }
    h.push_str("</section>\n");
}

/// For each error code of the run, what to do about it (the text of
/// [`crate::error::ErrorCode::help`], which the README and the command line show too).
fn error_advice_section(h: &mut String, summary: &Summary) {
    let codes = pairs(&summary.error_codes);
    if codes.is_empty() {
        return;
    }
    h.push_str("<section aria-labelledby=\"advice\">\n<h2 id=\"advice\">What to do about each error code</h2>\n");
    h.push_str("<table id=\"error-advice\">\n<thead><tr><th scope=\"col\">error code</th><th scope=\"col\" class=\"num\">files</th><th scope=\"col\">meaning and what to do</th></tr></thead>\n<tbody>\n");
    for (code, n) in &codes {
        let help = crate::error::ErrorCode::parse(code)
            .map(crate::error::ErrorCode::help)
            .unwrap_or("not a code this migx defines: see docs/error-codes.md of the migx that wrote the run");
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(code),
            group(*n),
            escape(help)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn more(h: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = writeln!(
            h,
            "<p class=\"note\">{} more not shown: see audit.ndjson.</p>",
            group((total - shown) as u64)
        );
    }
}

fn count_table(h: &mut String, id: &str, title: &str, key: &str, rows: &[(String, u64)]) {
    let _ = writeln!(h, "<h3 id=\"{id}\">{}</h3>", escape(title));
    if rows.is_empty() {
        h.push_str("<p class=\"none\">none</p>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<table aria-labelledby=\"{id}\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"num\">files</th></tr></thead>\n<tbody>",
        escape(key)
    );
    for (k, n) in rows {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
            escape(k),
            group(*n)
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// A horizontal bar chart with a fixed, input-only layout: labels right-aligned in a fixed
/// column, bars scaled to the largest count, the count printed after each bar.
fn bar_chart(h: &mut String, id: &str, title: &str, rows: &[(String, u64)], colour: &str) {
    const WIDTH: u64 = 760;
    const LABEL_W: u64 = 230;
    const BAR_MAX: u64 = 440;
    const ROW_H: u64 = 28;
    const BAR_H: u64 = 18;
    const TOP: u64 = 6;
    let _ = writeln!(h, "<h3 id=\"{id}-h\">{}</h3>", escape(title));
    if rows.is_empty() {
        h.push_str("<p class=\"none\">none</p>\n");
        return;
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let height = TOP * 2 + ROW_H * rows.len() as u64;
    let desc = rows
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join("; ");
    let _ = writeln!(
        h,
        "<svg id=\"{id}\" class=\"chart\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}</desc>",
        escape(title),
        escape(&desc)
    );
    for (i, (k, n)) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as u64;
        let w = if *n == 0 {
            0
        } else {
            ((n.saturating_mul(BAR_MAX) + max / 2) / max).max(2)
        };
        let text_y = y + ROW_H / 2 + 4;
        let bar_y = y + (ROW_H - BAR_H) / 2;
        let _ = writeln!(
            h,
            "<g><title>{k}: {n}</title><text x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{k}</text><rect x=\"{LABEL_W}\" y=\"{bar_y}\" width=\"{w}\" height=\"{BAR_H}\" rx=\"2\" fill=\"{colour}\"/><text class=\"val\" x=\"{}\" y=\"{text_y}\">{ns}</text></g>",
            LABEL_W - 8,
            LABEL_W + w + 6,
            k = escape(k),
            n = n,
            ns = group(*n),
        );
    }
    let _ = writeln!(
        h,
        "<line class=\"axis\" x1=\"{LABEL_W}\" y1=\"{TOP}\" x2=\"{LABEL_W}\" y2=\"{}\"/>\n</svg>",
        height - TOP
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::{json, Value};

    /// A summary as `summary.json` holds it (as JSON, so a test can change one part).
    fn summary() -> Value {
        json!({
            "migx_version": "0.1.0",
            "policy": {"name": "migx-default", "version": "1.0.0"},
            "policy_sha256": "077cfa767bec1688a9012d71ca2425236121bf6429340852886db9302e223370",
            "snomed_release": null,
            "consent_source": "consent-file",
            "inputs": 5, "converted": 2, "withheld": 1, "rejected": 2,
            "stopped_early": false,
            "file_reasons": {"dissent-recorded": 1},
            "error_codes": {"malformed-xml": 1, "not-xml": 1},
            "items_shared": {"problems": 2, "diagnoses": 14, "medications": 0, "allergies": 3,
                "tests": 16, "investigations": 6, "procedures": 3, "risks-warnings": 1},
            "items_withheld": {"confidential": 16, "sensitive-code": 11, "free-text": 3},
            "free_text_removed": 16,
            "withheld_no_snomed_release": 0,
            "snomed_advice": null,
            "input_bytes": 310292,
            "exclusion_refsets": {"official_complete": false, "official": [],
                "operator_assertion": "--without-official-refsets",
                "subtypes": "only exact matches and Read v2/CTV3 prefixes were checked"},
            "skipped": {},
            "permitted": {"requesters": [], "purposes": []}
        })
    }

    /// The typed summary of a JSON one.
    fn typed(v: &Value) -> Summary {
        Summary::deserialize(v).expect("a migx summary")
    }

    /// The typed audit lines of JSON ones.
    fn lines(vs: Vec<Value>) -> impl Iterator<Item = AuditLine<'static>> {
        vs.into_iter()
            .map(|v| AuditLine::deserialize(v).expect("an audit line"))
    }

    fn audit() -> Vec<Value> {
        vec![
            json!({"kind":"file","input":"a/01.xml","status":"converted","reason":null,"bundle":"bundles/01.json"}),
            json!({"kind":"item","input":"a/01.xml","source_id":"x","element":"ObservationStatement","category":"tests","reason":"confidential"}),
            json!({"kind":"file","input":"a/02.xml","status":"withheld","reason":"dissent-recorded","bundle":null}),
            json!({"kind":"file","input":"a/03 <b>.xml","status":"rejected","reason":"malformed-xml","bundle":null,
                "error":{"code":"malformed-xml","message":"tag not closed: `>` not found before <end> & \"eof\"","line":74,"column":15,"element":"depth 7"}}),
            json!({"kind":"file","input":"a/04.xml","status":"rejected","reason":"not-xml","bundle":null,
                "error":{"code":"not-xml","message":"see https://example.invalid/x.png","line":null,"column":null}}),
            json!({"kind":"file","input":"a/05.xml","status":"converted","reason":null,"bundle":"bundles/05.json"}),
        ]
    }

    fn html() -> String {
        render_html(&typed(&summary()), lines(audit()))
    }

    #[test]
    fn contains_every_category_reason_and_code() {
        let h = html();
        for c in [
            "problems",
            "diagnoses",
            "medications",
            "allergies",
            "tests",
            "investigations",
            "procedures",
            "risks-warnings",
        ] {
            assert!(
                h.contains(&format!(">{c}</text>")),
                "category {c} not charted"
            );
            assert!(
                h.contains(&format!("<title>{c}: ")),
                "category {c} has no title"
            );
        }
        for r in ["confidential", "sensitive-code", "free-text"] {
            assert!(
                h.contains(&format!(">{r}</text>")),
                "reason {r} not charted"
            );
        }
        assert!(h.contains("<code>dissent-recorded</code>"));
        assert!(h.contains("<code>malformed-xml</code>"));
        assert!(h.contains("<code>not-xml</code>"));
        assert!(h.contains("migx-default version 1.0.0"));
        assert!(h.contains("077cfa767bec1688a9012d71ca2425236121bf6429340852886db9302e223370"));
        assert!(h.contains("<th scope=\"row\">SNOMED CT release</th><td>none</td>"));
        assert!(h.contains("id=\"n-inputs\">5<"));
        assert!(h.contains("id=\"n-rejected\">2<"));
        // Rejected file with line and column; withheld file with its reason.
        assert!(h.contains("<td class=\"num\">74</td><td class=\"num\">15</td>"));
        assert!(h.contains("<td class=\"mono\">a/02.xml</td><td><code>dissent-recorded</code>"));
        // Converted files are listed (issue 20.12), each linking to its bundle.
        assert!(h.contains(
            "<tr><td class=\"mono\">a/01.xml</td><td class=\"mono\"><a href=\"bundles/01.json\">bundles/01.json</a></td></tr>"
        ));
        assert!(h.contains("<a href=\"bundles/05.json\">"));
    }

    /// Issue 20.12: what an operator asks next: who the run could disclose to, for which
    /// purposes, who it disclosed to, the output folder, and what to do about each error code
    /// present (the text the command line and the README show).
    #[test]
    fn says_who_may_receive_where_the_run_is_and_what_to_do() {
        let mut s = summary();
        s["permitted"] = json!({
            "requesters": [
                {"ods_code": "Y01234", "name": "Fixture OOH", "role": "out-of-hours", "source": "policy"},
                {"ods_code": "Y02345", "name": null, "role": null, "source": "--permit-requester"}
            ],
            "purposes": ["TREAT", "ETREAT"]
        });
        let mut disclosures = std::collections::BTreeMap::new();
        disclosures.insert(("Y02345".to_string(), "TREAT".to_string()), 2);
        let ctx = Context {
            out_dir: Some("runs/out".into()),
            disclosures: Some(disclosures),
        };
        let h = render_audit(&typed(&s), &Audit::collect(lines(audit())), 0, &ctx);
        assert!(
            h.contains("<th scope=\"row\">output folder</th><td class=\"mono hash\">runs/out</td>")
        );
        assert!(h.contains("Purposes of use permitted: <code>TREAT</code>, <code>ETREAT</code>."));
        assert!(h.contains("<tr><td><code>Y01234</code></td><td>Fixture OOH</td><td>out-of-hours</td><td>the policy</td></tr>"));
        assert!(h.contains("<td><code>Y02345</code></td><td></td><td></td><td>--permit-requester (this run only)</td>"));
        assert!(h.contains("<tr><td><code>Y02345</code></td><td><code>TREAT</code></td><td class=\"num\">2</td></tr>"));
        for code in [
            crate::error::ErrorCode::MalformedXml,
            crate::error::ErrorCode::NotXml,
        ] {
            let row = format!(
                "<tr><td><code>{}</code></td><td class=\"num\">1</td><td>{}</td></tr>",
                code.as_str(),
                escape(code.help())
            );
            assert!(h.contains(&row), "no advice row {row}");
        }
        // Only the codes present.
        assert!(!h.contains(crate::error::ErrorCode::EmptyFile.help()));
        // No rejection: no advice section.
        let mut clean = s.clone();
        clean["error_codes"] = json!({});
        assert!(
            !render_audit(&typed(&clean), &Audit::collect(std::iter::empty()), 0, &ctx)
                .contains("id=\"error-advice\"")
        );
    }

    #[test]
    fn links_only_to_plain_bundle_paths() {
        assert_eq!(bundle_href("bundles/a.json"), Some("bundles/a.json"));
        for bad in [
            "bundles/../x.json",
            "bundles/a/b.json",
            "javascript:alert(1)",
            "bundles/x.json?y",
            "https://example.invalid/a.json",
            "/etc/a.json",
            "bundles/",
            "bundles/a.txt",
            "bundles/a%2f.json",
        ] {
            assert_eq!(bundle_href(bad), None, "{bad}");
        }
        let mut a = audit();
        a.push(json!({"kind":"file","input":"a/06.xml","status":"converted","bundle":"javascript:alert(1)"}));
        let h = render_html(&typed(&summary()), lines(a));
        assert!(!h.contains("href=\"javascript"));
        assert!(h.contains("<td class=\"mono\">javascript:alert(1)</td>"));
    }

    #[test]
    fn escapes_text_from_the_audit() {
        let h = html();
        assert!(h.contains("a/03 &lt;b&gt;.xml"));
        assert!(h.contains("not found before &lt;end&gt; &amp; &quot;eof&quot;"));
        assert!(!h.contains("<b>"));
        assert!(!h.contains("<end>"));
        // Hostile keys in summary maps are escaped in SVG too.
        let mut s = summary();
        s["items_withheld"] = json!({"<script>alert(1)</script>": 1});
        let h = render_html(&typed(&s), std::iter::empty());
        assert!(!h.contains("<script"));
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(escape("a\u{0}b\u{1b}[31m"), "a\u{FFFD}b\u{FFFD}[31m");
        assert_eq!(escape("'\""), "&#39;&quot;");
    }

    #[test]
    fn fetches_nothing() {
        let h = html();
        let lower = h.to_ascii_lowercase();
        for bad in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            "src=",
            "url(",
            "@import",
            "@font-face",
        ] {
            assert!(!lower.contains(bad), "report contains {bad}");
        }
        // The only links are to the run's own bundles, relative to the output folder (a
        // link is followed only when clicked; it fetches nothing).
        for (i, _) in lower.match_indices("href=") {
            assert!(
                lower[i..].starts_with("href=\"bundles/"),
                "a link that is not to a bundle: {}",
                &h[i..(i + 60).min(h.len())]
            );
        }
        assert_eq!(lower.matches("href=").count(), 2);
        // The only URL is the one in an error message, as escaped text in a table cell.
        assert_eq!(lower.matches("http://").count(), 0);
        assert_eq!(lower.matches("https://").count(), 1);
        assert!(h.contains("<td>see https://example.invalid/x.png</td>"));
        assert!(h.contains("default-src 'none'"));
        // Without the message, no URL at all.
        let clean: Vec<Value> = audit()
            .into_iter()
            .filter(|v| v["input"] != "a/04.xml")
            .collect();
        let h = render_html(&typed(&summary()), lines(clean));
        assert!(!h.contains("http://") && !h.contains("https://"));
    }

    #[test]
    fn deterministic_and_notes_mismatches() {
        assert_eq!(html(), html());
        // Bars scale to the largest count, deterministically.
        let h = html();
        assert!(h.contains("width=\"440\" height=\"18\" rx=\"2\" fill=\"#1f7a54\""));
        assert!(h.contains("<title>medications: 0</title>"));
        // summary.json and audit.ndjson disagree: said plainly.
        let mut s = summary();
        s["rejected"] = json!(3);
        let h = render_html(&typed(&s), lines(audit()));
        assert!(h.contains("counts 3 rejected file(s) but audit.ndjson lists 2"));
        // No file records at all: still a page, saying so.
        let h = render_html(&typed(&summary()), std::iter::empty());
        assert!(h.contains("No file was rejected."));
        assert!(h.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn long_file_lists_are_capped_with_a_count() {
        let rows = (0..MAX_ROWS + 500).map(|i| {
            json!({"kind":"file","input":format!("r/{i:05}.xml"),"status":"rejected","reason":"not-xml",
                "error":{"code":"not-xml","message":"m","line":null,"column":null}})
        });
        let mut s = summary();
        s["rejected"] = json!(MAX_ROWS + 500);
        let h = render_html(&typed(&s), lines(rows.collect()));
        assert!(h.contains("r/01999.xml") && !h.contains("r/02000.xml"));
        assert!(h.contains("500 more not shown: see audit.ndjson."));
        assert!(h.contains("id=\"n-rejected\">2,500<"));
    }

    #[test]
    fn report_dir_writes_owner_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("summary.json"),
            serde_json::to_vec(&summary()).unwrap(),
        )
        .unwrap();
        let mut a = String::new();
        for v in audit() {
            a.push_str(&v.to_string());
            a.push('\n');
        }
        a.push_str("not json\n\n");
        std::fs::write(d.path().join("audit.ndjson"), a).unwrap();
        let out = d.path().join("r.html");
        report_dir(d.path(), &out).unwrap();
        let h = std::fs::read_to_string(&out).unwrap();
        assert!(h.contains("1 line(s) of audit.ndjson could not be read"));
        assert!(h.contains("a/02.xml"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let missing = tempfile::tempdir().unwrap();
        let e = report_dir(missing.path(), &missing.path().join("r.html")).unwrap_err();
        assert!(e.to_string().contains("summary.json"));
        // A summary.json that is not a migx summary (another program's, a partial or older
        // form) is refused, naming the file: never a page shown in part.
        for not_one in [json!({}), json!([1]), json!({"inputs": 5})] {
            std::fs::write(d.path().join("summary.json"), not_one.to_string()).unwrap();
            let e = report_dir(d.path(), &out).unwrap_err();
            assert!(
                e.to_string().contains("summary.json is not a migx summary"),
                "{e}"
            );
        }
        // Audit lines that are not migx's are counted as unreadable, not shown.
        std::fs::write(
            d.path().join("summary.json"),
            serde_json::to_vec(&summary()).unwrap(),
        )
        .unwrap();
        std::fs::write(
            d.path().join("audit.ndjson"),
            "{\"kind\":\"file\",\"input\":\"x.xml\",\"status\":\"lost\"}\n{\"kind\":\"other\"}\n",
        )
        .unwrap();
        report_dir(d.path(), &out).unwrap();
        let h = std::fs::read_to_string(&out).unwrap();
        assert!(h.contains("2 line(s) of audit.ndjson could not be read"));
        assert!(!h.contains("x.xml"));
    }
}
