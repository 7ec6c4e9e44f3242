//! Validating files and folders: `.json` (one resource or Bundle) and `.ndjson` (one
//! resource per line), in parallel across files.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use super::profile::{self, Definitions, Note, NoteKind, PackageInfo, ProfileOptions};
use super::{validate_value, Profile, Violation};

/// What to validate and how.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Files or folders; folders are walked recursively for `*.json` and `*.ndjson`.
    pub paths: Vec<PathBuf>,
    /// Which rules to check: plain FHIR R4, or also migx's output profile.
    pub profile: Profile,
    /// Worker threads; 0 = one per core.
    pub jobs: usize,
    /// At most this many violations are kept per file (all are counted).
    pub max_errors_per_file: usize,
    /// Loaded packages (`--package`): when given, every resource is also validated against
    /// the base R4 definitions and its profiles.
    pub definitions: Option<Arc<Definitions>>,
    /// Which profiles (`--profile-url`), else each resource's `meta.profile`.
    pub profile_options: ProfileOptions,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            paths: Vec::new(),
            profile: Profile::Fhir,
            jobs: 0,
            max_errors_per_file: 50,
            definitions: None,
            profile_options: ProfileOptions::default(),
        }
    }
}

/// One violation in a file, with its NDJSON line (or a parse error's line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based NDJSON line of the resource, or line of a JSON parse error.
    pub line: Option<usize>,
    /// Column of a JSON parse error.
    pub column: Option<usize>,
    /// What is wrong, and where in the resource.
    pub violation: Violation,
    /// FHIRPath location (`Bundle.entry[3].resource.code.coding[0]`), from the pointer.
    pub location: String,
}

/// Notes of one kind, rule and message in a file, counted (first location kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNote {
    /// Warning or not evaluated.
    pub kind: NoteKind,
    /// The rule.
    pub rule: String,
    /// The message.
    pub message: String,
    /// FHIRPath location of the first occurrence.
    pub location: String,
    /// 1-based NDJSON line of the first occurrence.
    pub line: Option<usize>,
    /// Occurrences in the file.
    pub count: usize,
}

/// The outcome for one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file checked.
    pub path: PathBuf,
    /// `json` or `ndjson`.
    pub format: &'static str,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Resources (top-level documents or NDJSON lines) checked.
    pub resources: usize,
    /// All violations found, including those beyond `max_errors_per_file`.
    pub violation_count: usize,
    /// The first `max_errors_per_file` violations.
    pub findings: Vec<Finding>,
    /// Warnings and rules not evaluated (profile validation), grouped.
    pub notes: Vec<FileNote>,
}

impl FileReport {
    /// Whether the file has no violations.
    pub fn is_valid(&self) -> bool {
        self.violation_count == 0
    }
}

/// The outcome of [`validate_paths`].
#[derive(Debug, Clone)]
pub struct ValidateReport {
    /// Which rules were checked.
    pub profile: Profile,
    /// Sorted by path.
    pub files: Vec<FileReport>,
    /// Paths given that do not exist (a usage error: exit code 2).
    pub missing: Vec<PathBuf>,
    /// Packages validated against (`--package`); empty without.
    pub packages: Vec<PackageInfo>,
    /// Whether profile validation ran (`--package` given, even if empty).
    pub profiles_checked: bool,
}

impl ValidateReport {
    /// Number of files with at least one violation.
    pub fn files_invalid(&self) -> usize {
        self.files.iter().filter(|f| !f.is_valid()).count()
    }
    /// Violations over all files, counted beyond the per-file cap.
    pub fn violations_total(&self) -> usize {
        self.files.iter().map(|f| f.violation_count).sum()
    }
    /// Notes of a kind over all files (each occurrence counted).
    pub fn notes_total(&self, kind: NoteKind) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.notes)
            .filter(|n| n.kind == kind)
            .map(|n| n.count)
            .sum()
    }
    /// True when every file is valid and every path existed.
    pub fn is_valid(&self) -> bool {
        self.missing.is_empty() && self.files_invalid() == 0
    }
    /// The exit code `migx validate` returns: 0 valid, 1 any invalid, 2 missing path.
    pub fn exit_code(&self) -> i32 {
        if !self.missing.is_empty() {
            2
        } else if self.files_invalid() > 0 {
            1
        } else {
            0
        }
    }
}

fn format_of(path: &Path) -> Option<&'static str> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => Some("json"),
        Some(e) if e.eq_ignore_ascii_case("ndjson") => Some("ndjson"),
        _ => None,
    }
}

/// Expand the given paths: files are taken as given (whatever their extension: a `.ndjson`
/// is read per line, anything else as one JSON document), folders are walked for
/// `*.json`/`*.ndjson`. Unreadable folder entries are reported as invalid files.
fn expand(opts: &ValidateOptions) -> (Vec<(PathBuf, Option<String>)>, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for path in &opts.paths {
        if path.is_dir() {
            for item in walkdir::WalkDir::new(path).follow_links(true) {
                match item {
                    Ok(e) if e.file_type().is_file() && format_of(e.path()).is_some() => {
                        files.push((e.into_path(), None));
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let p = err
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| path.clone());
                        let msg = err
                            .io_error()
                            .map(|e| e.kind().to_string())
                            .unwrap_or_else(|| "cannot be walked (link loop?)".into());
                        files.push((p, Some(msg)));
                    }
                }
            }
        } else if path.exists() {
            files.push((path.clone(), None));
        } else {
            missing.push(path.clone());
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    (files, missing)
}

fn plain(rule: &str, message: String) -> Violation {
    Violation {
        entry: None,
        resource_type: None,
        resource_id: None,
        pointer: String::new(),
        rule: rule.into(),
        message,
        value: None,
    }
}

fn parse_error(err: &serde_json::Error, line_offset: Option<usize>) -> Finding {
    let what = match err.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Io => "read error",
        _ => "invalid JSON",
    };
    // serde_json's Display echoes no input, only the kind and position.
    let line = line_offset.unwrap_or(err.line());
    Finding {
        line: Some(line),
        column: Some(err.column()),
        location: String::new(),
        violation: plain(
            "json",
            format!(
                "{what}: {} (line {line}, column {})",
                strip_position(&err.to_string()),
                err.column()
            ),
        ),
    }
}

fn strip_position(message: &str) -> &str {
    message
        .find(" at line ")
        .map_or(message, |idx| &message[..idx])
}

struct Sink {
    cap: usize,
    count: usize,
    findings: Vec<Finding>,
    notes: Vec<FileNote>,
}

impl Sink {
    fn push(&mut self, finding: Finding) {
        self.count += 1;
        if self.findings.len() < self.cap {
            self.findings.push(finding);
        }
    }
    fn note(&mut self, root: &Value, note: Note, line: Option<usize>) {
        if let Some(n) = self
            .notes
            .iter_mut()
            .find(|n| n.kind == note.kind && n.rule == note.rule && n.message == note.message)
        {
            n.count += 1;
            return;
        }
        self.notes.push(FileNote {
            kind: note.kind,
            rule: note.rule,
            location: super::fhirpath_location(root, &note.pointer),
            message: note.message,
            line,
            count: 1,
        });
    }
    /// All findings of one document (schema and profile), with FHIRPath locations.
    fn document(&mut self, value: &Value, ctx: &Check<'_>, line: Option<usize>) {
        let mut violations = validate_value(value, ctx.profile);
        let mut notes = Vec::new();
        if let Some(defs) = ctx.definitions {
            let outcome = profile::validate(defs, value, ctx.profile_options);
            let mut extra = outcome.violations;
            for v in &mut extra {
                super::locate(value, v);
            }
            violations.extend(extra);
            notes = outcome.notes;
        }
        for v in violations {
            self.push(Finding {
                line,
                column: None,
                location: super::fhirpath_location(value, &v.pointer),
                violation: v,
            });
        }
        for n in notes {
            self.note(value, n, line);
        }
    }
}

/// What every document of a run is checked against.
struct Check<'a> {
    profile: Profile,
    definitions: Option<&'a Definitions>,
    profile_options: &'a ProfileOptions,
}

/// Validate one file's content (already read).
fn check_bytes(bytes: &[u8], format: &'static str, ctx: &Check<'_>, sink: &mut Sink) -> usize {
    if format == "ndjson" {
        let mut resources = 0;
        for (idx, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line_no = idx + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            resources += 1;
            match serde_json::from_slice::<Value>(raw) {
                Ok(value) => sink.document(&value, ctx, Some(line_no)),
                Err(err) => sink.push(parse_error(&err, Some(line_no))),
            }
        }
        return resources;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => {
            sink.document(&value, ctx, None);
            1
        }
        Err(err) => {
            let finding = if bytes.iter().all(u8::is_ascii_whitespace) {
                Finding {
                    line: None,
                    column: None,
                    location: String::new(),
                    violation: plain("json", "empty file".into()),
                }
            } else {
                parse_error(&err, None)
            };
            sink.push(finding);
            0
        }
    }
}

fn check_file(path: &Path, walk_error: Option<&str>, opts: &ValidateOptions) -> FileReport {
    let format = format_of(path).unwrap_or("json");
    let mut sink = Sink {
        cap: opts.max_errors_per_file,
        count: 0,
        findings: Vec::new(),
        notes: Vec::new(),
    };
    let ctx = Check {
        profile: opts.profile,
        definitions: opts.definitions.as_deref(),
        profile_options: &opts.profile_options,
    };
    let mut bytes_len = 0;
    let mut resources = 0;
    if let Some(msg) = walk_error {
        sink.push(Finding {
            line: None,
            column: None,
            location: String::new(),
            violation: plain("io", format!("cannot read: {msg}")),
        });
    } else {
        match std::fs::read(path) {
            Ok(bytes) => {
                bytes_len = bytes.len() as u64;
                resources = check_bytes(&bytes, format, &ctx, &mut sink);
            }
            Err(err) => sink.push(Finding {
                line: None,
                column: None,
                location: String::new(),
                violation: plain("io", format!("cannot read: {}", err.kind())),
            }),
        }
    }
    FileReport {
        path: path.to_path_buf(),
        format,
        bytes: bytes_len,
        resources,
        violation_count: sink.count,
        findings: sink.findings,
        notes: sink.notes,
    }
}

/// Validate files and folders. Results are sorted by path; files are checked in parallel
/// on `opts.jobs` threads (0 = one per core). Unreadable or non-JSON files are reported
/// invalid, never skipped; paths that do not exist are listed in `missing`.
pub fn validate_paths(opts: &ValidateOptions) -> ValidateReport {
    let (files, missing) = expand(opts);
    let work = || -> Vec<FileReport> {
        files
            .par_iter()
            .map(|(p, err)| check_file(p, err.as_deref(), opts))
            .collect()
    };
    let reports = match rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    };
    ValidateReport {
        profile: opts.profile,
        files: reports,
        missing,
        packages: opts
            .definitions
            .as_ref()
            .map(|d| d.packages.clone())
            .unwrap_or_default(),
        profiles_checked: opts.definitions.is_some(),
    }
}
