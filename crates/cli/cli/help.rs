//! The help the binary prints, generated from the flag definitions (`flags.rs`): each
//! command's examples printed as written, never wrapped.

use clap::CommandFactory;

use super::flags::Cli;

/// The clap definition as the binary uses it: [`Cli::command`] with every command's
/// examples printed as written (see [`with_unwrapped_examples`]).
pub(crate) fn command() -> clap::Command {
    with_unwrapped_examples(Cli::command())
}

/// Split a command's `after_help` into its prose and its examples block (from a line
/// `Example:` or `Examples:` to the next blank line or the end), both without trailing
/// newlines.
pub(crate) fn split_examples(after_help: &str) -> (String, Option<String>) {
    let start = ["Examples:\n", "Example:\n"]
        .iter()
        .filter_map(|h| {
            after_help
                .match_indices(h)
                .find(|(i, _)| *i == 0 || after_help[..*i].ends_with('\n'))
                .map(|(i, _)| i)
        })
        .min();
    let Some(start) = start else {
        return (after_help.trim_end().to_string(), None);
    };
    let block_len = after_help[start..]
        .find("\n\n")
        .unwrap_or(after_help.len() - start);
    let examples = after_help[start..start + block_len].trim_end().to_string();
    let prose = format!(
        "{}{}",
        &after_help[..start],
        after_help[start + block_len..].trim_start_matches('\n')
    );
    (prose.trim_end().to_string(), Some(examples))
}

/// clap wraps `after_help` at the terminal width, which breaks a long example pasted into
/// a shell. So each command's examples block moves from its `after_help` into its help
/// template, whose literal text clap prints as written; the prose stays in `after_help`
/// (wrapped). Applied to every command and subcommand alike.
pub(crate) fn with_unwrapped_examples(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_subcommands(with_unwrapped_examples);
    let Some(after) = cmd.get_after_help().map(ToString::to_string) else {
        return cmd;
    };
    let (prose, Some(examples)) = split_examples(&after) else {
        return cmd;
    };
    let head = "{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}";
    if prose.is_empty() {
        cmd.after_help(None::<&'static str>)
            .help_template(format!("{head}\n\n{examples}"))
    } else {
        cmd.after_help(prose)
            .help_template(format!("{head}{{after-help}}\n\n{examples}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_examples_keeps_prose_and_takes_the_examples_block() {
        let (p, e) =
            split_examples("Some prose.\n\nExamples:\n  migx a\n  migx b\n\nExit codes: 0.");
        assert_eq!(p, "Some prose.\n\nExit codes: 0.");
        assert_eq!(e.as_deref(), Some("Examples:\n  migx a\n  migx b"));
        let (p, e) = split_examples("Example:\n  migx c");
        assert_eq!((p.as_str(), e.as_deref()), ("", Some("Example:\n  migx c")));
        let (p, e) = split_examples("No example here.");
        assert_eq!((p.as_str(), e), ("No example here.", None));
    }
}
