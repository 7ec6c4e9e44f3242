//! Walking the command line's paths into the run's inputs: folders recursively and sorted,
//! hidden entries and files that are plainly not extracts left out (and counted), the
//! output folder never entered.

use crate::input::InputFile;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a folder walk left a file out of the run (it is neither converted nor rejected, and
/// not counted as an input; `summary.json` counts it under `skipped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A hidden file or folder (its name starts with `.`, e.g. `.DS_Store`, `.git/`): a
    /// hidden folder is one entry, not entered.
    Hidden,
    /// Plainly not an extract: its name does not end `.xml` or `.json`, and its first bytes
    /// are neither XML (`<`, after an optional byte order mark and white space, or UTF-16)
    /// nor a JSON object (`{`), e.g. a README, a consent CSV, a PDF.
    NotAnExtract,
}

impl SkipReason {
    /// Every reason, in documentation order.
    pub const ALL: [SkipReason; 2] = [SkipReason::Hidden, SkipReason::NotAnExtract];

    /// The stable string of `summary.json`'s `skipped` and the end-of-run table.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden",
            SkipReason::NotAnExtract => "not-an-extract",
        }
    }

    /// The reason in words, for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden (its name starts with `.`)",
            SkipReason::NotAnExtract => {
                "not an extract (its name does not end .xml or .json, and it starts with neither XML nor a JSON object)"
            }
        }
    }
}

/// A file (or hidden folder) a folder walk left out, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The path as walked from the given argument.
    pub display: String,
    /// Path relative to the input root (what `--shard` hashes, as for inputs).
    pub rel: String,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// What walking the command line's paths found.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// The run's inputs, sorted, with their bundle names.
    pub inputs: Vec<InputFile>,
    /// Folders left out because they resolve inside the output folder.
    pub excluded: usize,
    /// Files a folder walk left out (never a file named on the command line), sorted.
    pub skipped: Vec<Skipped>,
}

/// How many bytes [`looks_like_an_extract`] reads.
pub(super) const SNIFF_BYTES: u64 = 512;

/// Whether a file a folder walk found may be an extract, by name and first bytes: a name
/// ending `.xml` or `.json` (any case) always; any other file when it is empty or cannot be
/// read (so convert rejects it, `empty-file` or `io-error`, never a silent skip), or when its
/// first bytes are XML or a JSON object.
pub fn looks_like_an_extract(path: &Path) -> bool {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xml") || e.eq_ignore_ascii_case("json"));
    if by_name {
        return true;
    }
    let mut head = Vec::new();
    match File::open(path).and_then(|f| f.take(SNIFF_BYTES).read_to_end(&mut head)) {
        Ok(_) => starts_like_an_extract(&head),
        Err(_) => true,
    }
}

/// Whether these first bytes may begin an extract: empty; a UTF-16 byte order mark or a
/// UTF-16 `<`; or, after an optional UTF-8 byte order mark and white space, `<` or `{`.
pub fn starts_like_an_extract(head: &[u8]) -> bool {
    if head.is_empty()
        || head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || head.starts_with(b"<\0")
        || head.starts_with(b"\0<")
    {
        return true;
    }
    let rest = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    match rest.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) => *b == b'<' || *b == b'{',
        // Only white space in the first bytes: not plainly anything; let convert judge.
        None => rest.len() as u64 >= SNIFF_BYTES - 3,
    }
}

/// Walk files and folders (recursively, sorted; hidden entries and files that are plainly
/// not extracts skipped, see [`Walk::skipped`]) into the run's inputs.
pub fn collect_inputs(paths: &[PathBuf]) -> Vec<InputFile> {
    walk_inputs(paths, None).inputs
}

/// [`collect_inputs`], never entering `out` (the output folder): symlinks inside an input
/// root are followed (a symlink loop or a dangling link becomes an input rejected
/// `io-error` in the audit, never a silent skip), and a folder that resolves inside `out`
/// is left out of the walk. A folder walk skips hidden entries and files that are plainly
/// not extracts ([`looks_like_an_extract`]); a path given on the command line is always an
/// input, whatever its name or content.
pub fn walk_inputs(paths: &[PathBuf], out: Option<&Path>) -> Walk {
    let out_resolved = out.map(crate::rundir::resolved);
    let excluded = std::cell::Cell::new(0usize);
    let skipped = std::cell::RefCell::new(Vec::new());
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let keep = |e: &walkdir::DirEntry| {
                if e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.') {
                    skipped.borrow_mut().push(Skipped {
                        display: e.path().display().to_string(),
                        rel: rel_path(e.path(), p),
                        reason: SkipReason::Hidden,
                    });
                    return false;
                }
                let inside = e.file_type().is_dir()
                    && out_resolved.as_ref().is_some_and(|o| {
                        std::fs::canonicalize(e.path()).is_ok_and(|c| c.starts_with(o))
                    });
                if inside {
                    excluded.set(excluded.get() + 1);
                }
                !inside
            };
            for entry in walkdir::WalkDir::new(p)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(keep)
            {
                match entry {
                    Ok(e) => {
                        if e.file_type().is_file() {
                            if !looks_like_an_extract(e.path()) {
                                skipped.borrow_mut().push(Skipped {
                                    display: e.path().display().to_string(),
                                    rel: rel_path(e.path(), p),
                                    reason: SkipReason::NotAnExtract,
                                });
                                continue;
                            }
                            let mut f = input(e.path().to_path_buf(), None);
                            f.rel = rel_path(e.path(), p);
                            out.push(f);
                        }
                    }
                    Err(err) => {
                        let path = err
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| p.clone());
                        let rel = rel_path(&path, p);
                        let mut f = input(
                            path,
                            Some(format!(
                                "cannot walk: {}",
                                err.io_error()
                                    .map(|e| e.kind().to_string())
                                    .unwrap_or_else(|| "loop".into())
                            )),
                        );
                        f.rel = rel;
                        out.push(f);
                    }
                }
            }
        } else {
            out.push(input(p.clone(), None));
        }
    }
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup_by(|a, b| a.display == b.display);
    crate::batch::assign_bundle_names(&mut out);
    let mut skipped = skipped.into_inner();
    skipped.sort_by(|a, b| a.display.cmp(&b.display));
    skipped.dedup_by(|a, b| a.display == b.display);
    // A file named on the command line and also found in a folder walk is an input.
    skipped.retain(|s| out.binary_search_by(|f| f.display.cmp(&s.display)).is_err());
    Walk {
        inputs: out,
        excluded: excluded.get(),
        skipped,
    }
}

/// `path` relative to `root`, `/`-separated (the file name when `path` is not under it).
fn rel_path(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

fn input(path: PathBuf, walk_error: Option<String>) -> InputFile {
    InputFile {
        rel: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        display: path.display().to_string(),
        path,
        bundle_name: String::new(),
        walk_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    #[test]
    fn first_bytes_that_may_begin_an_extract() {
        for head in [
            &b""[..],
            b"<?xml version=\"1.0\"?>",
            b"  \r\n\t<EhrExtract",
            b"\xEF\xBB\xBF<x/>",
            b"\xEF\xBB\xBF \n{\"resourceType\": \"Bundle\"}",
            b"{}",
            b"\xFF\xFE<\0?\0",
            b"\xFE\xFF\0<",
            b"<\0x\0",
            b"\0<\0x",
        ] {
            assert!(starts_like_an_extract(head), "{head:?}");
        }
        for head in [
            &b"# README"[..],
            b"nhs_number,decision,recorded_at",
            b"%PDF-1.4",
            b"[1, 2]",
            b"\x00\x00\x00\x01Bud1",
            b"   \n",
            b"\xEF\xBB\xBFtext",
        ] {
            assert!(!starts_like_an_extract(head), "{head:?}");
        }
        // Only white space in all the bytes sniffed: not plainly anything, so it is read.
        assert!(starts_like_an_extract(&[b' '; SNIFF_BYTES as usize]));
    }

    #[test]
    fn skip_reasons_are_the_summary_schemas() {
        let schema: Json =
            serde_json::from_str(crate::validate::schemas::SUMMARY_SCHEMA).expect("schema");
        let listed: Vec<&str> = schema["properties"]["skipped"]["propertyNames"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(Json::as_str)
            .collect();
        let ours: Vec<&str> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(listed, ours);
    }
}
