//! The README walk-through works when pasted into a shell: its `sh` blocks are run in order
//! (with the built binary instead of a fresh release build) in a scratch folder holding the
//! fixtures, and every excerpt the README shows (a `text` block right after an `sh` block)
//! is what that block prints (stdout and stderr, as a terminal shows them).
//!
//! Excerpts elide with `...`: a line that is only `...` stands for any number of lines
//! (none included), and `...` inside a line for any text there.

use crate::common;
use common::*;

/// The `sh` blocks of the walk-through, each with the `text` excerpt that follows it, if any.
fn blocks(section: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut rest = section;
    while let Some(i) = rest.find("```") {
        let after = &rest[i + 3..];
        let lang_end = after.find('\n').expect("a fence line");
        let lang = after[..lang_end].trim();
        let body = &after[lang_end + 1..];
        let j = body.find("```").expect("a closing fence");
        let text = body[..j].to_string();
        match lang {
            "sh" => out.push((text, None)),
            "text" => {
                let last = out.last_mut().expect("an excerpt follows a command block");
                assert!(last.1.is_none(), "two excerpts after one command block");
                last.1 = Some(text);
            }
            other => panic!("unexpected block {other:?} in the walk-through"),
        }
        rest = &body[j + 3..];
    }
    out
}

/// Whether `line` matches one excerpt line (`...` inside it matches any text).
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut at = first.len();
    let end = line.len() - last.len();
    for p in &parts[1..parts.len() - 1] {
        match line[at..end].find(p) {
            Some(k) => at += k + p.len(),
            None => return false,
        }
    }
    true
}

/// Whether the excerpt (lines, `...` lines eliding any number) matches all of `lines`.
fn excerpt_matches(pattern: &[&str], lines: &[&str]) -> bool {
    match pattern.split_first() {
        None => lines.is_empty(),
        Some((&"...", rest)) => (0..=lines.len()).any(|k| excerpt_matches(rest, &lines[k..])),
        Some((p, rest)) => {
            !lines.is_empty() && line_matches(p, lines[0]) && excerpt_matches(rest, &lines[1..])
        }
    }
}

/// A plain progress line before the last (`migx: 10/20 files, ...`): printed every 5 s.
fn is_periodic_progress(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("migx: ") else {
        return false;
    };
    let Some((count, _)) = rest.split_once(" files, ") else {
        return false;
    };
    match count.split_once('/') {
        Some((done, total)) => {
            done.parse::<usize>().is_ok() && total.parse::<usize>().is_ok() && done != total
        }
        None => false,
    }
}

#[test]
fn only_a_progress_line_before_the_last_is_timing() {
    assert!(is_periodic_progress(
        "migx: 10/20 files, 1 MB/2 MB, 1 MB/s, 0 rejected"
    ));
    assert!(!is_periodic_progress(
        "migx: 20/20 files, 2 MB/2 MB, 1 MB/s, 0 rejected"
    ));
    assert!(!is_periodic_progress("migx: error: 10/20 files, x"));
    assert!(!is_periodic_progress("converted 10/20 files, 0 rejected"));
}

#[test]
fn excerpts_elide_only_where_they_say_so() {
    assert!(excerpt_matches(&["a", "...", "d"], &["a", "b", "c", "d"]));
    assert!(excerpt_matches(&["a", "...", "b"], &["a", "b"]));
    assert!(!excerpt_matches(&["a", "d"], &["a", "b", "d"]));
    assert!(excerpt_matches(&["x ... z"], &["x y z"]));
    assert!(excerpt_matches(&["policy ..."], &["policy sha256 00"]));
    assert!(!excerpt_matches(&["policy ..."], &["sha256 00"]));
    assert!(!excerpt_matches(&["a ... b ... c"], &["a c b"]));
    assert!(!excerpt_matches(&["a"], &["a", "extra"]));
}

#[test]
fn readme_walkthrough_runs_as_pasted() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## Walk-through")
        .expect("walk-through section");
    let end = start + readme[start..].find("\n## Commands").expect("next section");
    let blocks = blocks(&readme[start..end]);
    assert!(
        blocks
            .iter()
            .any(|(b, _)| b.contains("convert fixtures/extracts")),
        "walk-through has the main command"
    );
    let excerpts = blocks.iter().filter(|(_, e)| e.is_some()).count();
    assert!(excerpts >= 4, "{excerpts} excerpts");
    // One script (shell state carries from block to block), a marker after each block; its
    // stderr goes where a terminal shows it, beside stdout. The binary under test replaces
    // the release build.
    let mut script = String::from("exec 2>&1\n");
    for (i, (b, _)) in blocks.iter().enumerate() {
        script.push_str(b);
        script.push_str(&format!("echo '@@block {i}@@'\n"));
    }
    let script = script.replace("cargo build --release\n", "").replace(
        "B=target/release/migx",
        &format!("B={}", crate::common::MIGX),
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("fixtures"), dir.path().join("fixtures")).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "the walk-through failed:\n{stdout}");
    let mut rest = stdout.as_str();
    for (i, (block, excerpt)) in blocks.iter().enumerate() {
        let marker = format!("@@block {i}@@\n");
        let k = rest
            .find(&marker)
            .unwrap_or_else(|| panic!("block {i} did not finish:\n{stdout}"));
        let printed = &rest[..k];
        rest = &rest[k + marker.len()..];
        let Some(excerpt) = excerpt else { continue };
        let pattern: Vec<&str> = excerpt.lines().map(str::trim_end).collect();
        // Off a terminal, progress is a line every 5 s and one at the end: how many of the
        // periodic ones a slow (loaded) machine prints is timing, not behaviour.
        let lines: Vec<&str> = printed
            .lines()
            .map(str::trim_end)
            .filter(|l| !is_periodic_progress(l))
            .collect();
        assert!(
            excerpt_matches(&pattern, &lines),
            "the README's excerpt after\n{block}\nis not what it prints.\nREADME:\n{excerpt}\nprinted:\n{printed}"
        );
    }
    for expected in ["14 valid, 0 invalid", "1 disclosure(s)"] {
        assert!(
            stdout.contains(expected),
            "walk-through output lacks {expected:?}:\n{stdout}"
        );
    }
    assert!(dir.path().join("out/report.html").is_file());
}
