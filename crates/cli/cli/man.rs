//! `migx man`: a man page per command (roff), generated from the flag definitions by
//! clap_mangen, with an EXAMPLES section printed as written.

use clap::CommandFactory;
use std::io::Write;

use super::flags::{Cli, ManArgs};
use super::help::{command, split_examples};
use super::{exit, fail};

/// The command at `path` (e.g. `["policy", "show"]`) of a built command tree, whose display
/// name (`migx-policy-show`) names its man page.
fn find_command<'a>(cmd: &'a clap::Command, path: &[String]) -> Option<&'a clap::Command> {
    match path.split_first() {
        None => Some(cmd),
        Some((first, rest)) => find_command(cmd.find_subcommand(first)?, rest),
    }
}

/// The man-page tree: the clap definition (examples moved out of `after_help`), without
/// clap's `help` subcommand, built so that every subcommand has its display name.
fn man_tree() -> clap::Command {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Escape one line of text for roff's no-fill mode: backslashes, a leading control
/// character, and `-` as a real hyphen-minus (so a pasted example keeps its flags).
fn roff_line(line: &str) -> String {
    let mut s = line.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        s.insert_str(0, "\\&");
    }
    s
}

/// One command's man page: clap_mangen's sections, plus an EXAMPLES section printed as
/// written (no fill, so no example is wrapped).
pub(crate) fn render_man_page(
    cmd: &clap::Command,
    examples: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone())
        .source(concat!("migx ", env!("CARGO_PKG_VERSION")))
        .manual("migx manual");
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut w)?;
    }
    if cmd.get_after_help().is_some() {
        man.render_extra_section(&mut w)?;
    }
    if let Some(ex) = examples {
        w.extend_from_slice(b".SH EXAMPLES\n.nf\n");
        for line in ex.lines().skip(1) {
            w.extend_from_slice(roff_line(line.trim_start()).as_bytes());
            w.push(b'\n');
        }
        w.extend_from_slice(b".fi\n");
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    Ok(w)
}

/// Every man page of the tree under `path`: (file name, roff), the page of `path` first.
pub(crate) fn man_pages(path: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let tree = man_tree();
    // The examples as written in the definition (the man tree has them in its templates).
    let source = {
        let mut c = Cli::command();
        c.build();
        c
    };
    let Some(top) = find_command(&tree, path) else {
        return Err(format!(
            "no command `migx {}`; see `migx --help`",
            path.join(" ")
        ));
    };
    let mut pages = Vec::new();
    let mut todo = vec![(top, path.to_vec())];
    while let Some((cmd, p)) = todo.pop() {
        let examples = find_command(&source, &p)
            .and_then(|c| c.get_after_help())
            .and_then(|h| split_examples(&h.to_string()).1);
        let roff = render_man_page(cmd, examples.as_deref())
            .map_err(|e| format!("cannot render the man page: {e}"))?;
        let name = cmd.get_display_name().unwrap_or(cmd.get_name());
        pages.push((format!("{name}.1"), roff));
        let mut subs: Vec<_> = cmd.get_subcommands().collect();
        subs.reverse();
        for sub in subs {
            let mut sp = p.clone();
            sp.push(sub.get_name().to_string());
            todo.push((sub, sp));
        }
    }
    Ok(pages)
}

/// `migx man`.
pub(super) fn run(a: &ManArgs) -> i32 {
    let pages = match man_pages(&a.command) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    match &a.out_dir {
        None => {
            let (_, roff) = &pages[0];
            match std::io::stdout().lock().write_all(roff) {
                Ok(()) => exit::OK,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
                Err(e) => fail(&format!("cannot write the man page: {e}")),
            }
        }
        Some(dir) => {
            if !dir.is_dir() {
                return fail(&format!(
                    "--out-dir {}: no such folder; create it first (e.g. mkdir -p {})",
                    dir.display(),
                    dir.display()
                ));
            }
            for (name, roff) in &pages {
                let f = dir.join(name);
                if let Err(e) = std::fs::write(&f, roff) {
                    return fail(&format!("cannot write {}: {e}", f.display()));
                }
                eprintln!("migx: wrote {}", f.display());
            }
            exit::OK
        }
    }
}
