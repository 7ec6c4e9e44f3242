//! The tab-separated tables under `policy/codes/` that migx embeds: `#` comments and blank
//! lines skipped, the header row checked, then rows exactly as wide as the header with no
//! empty column. Errors name the file and line, never a row's content.

/// The data rows of `text` (the table `file`, for errors) under the columns `header`, each
/// with its 1-based line number.
pub(crate) fn rows<'a>(
    file: &str,
    text: &'a str,
    header: &[&str],
) -> Result<Vec<(usize, Vec<&'a str>)>, String> {
    let mut out = Vec::new();
    let mut seen_header = false;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if !seen_header {
            if cols != header {
                return Err(format!("{file} line {n}: bad header"));
            }
            seen_header = true;
            continue;
        }
        if cols.len() != header.len() {
            return Err(format!(
                "{file} line {n}: {} columns expected",
                header.len()
            ));
        }
        if cols.iter().any(|c| c.trim().is_empty()) {
            return Err(format!("{file} line {n}: empty column"));
        }
        out.push((n, cols));
    }
    if !seen_header {
        return Err(format!("{file}: no header"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: [&str; 2] = ["code", "source"];

    #[test]
    fn rows_after_the_header_with_their_lines() {
        let t = "# a comment\n\ncode\tsource\nA1\tsome page\n# more\nB2\tanother\n";
        let r = rows("t.tsv", t, &HEADER).unwrap();
        assert_eq!(
            r,
            vec![(4, vec!["A1", "some page"]), (6, vec!["B2", "another"])]
        );
    }

    #[test]
    fn a_bad_table_is_refused_by_file_and_line() {
        for (t, err) in [
            ("code\tsrc\n", "t.tsv line 1: bad header"),
            ("code\tsource\nA1\n", "t.tsv line 2: 2 columns expected"),
            (
                "code\tsource\nA1\tx\ty\n",
                "t.tsv line 2: 2 columns expected",
            ),
            ("code\tsource\nA1\t \n", "t.tsv line 2: empty column"),
            ("# only a comment\n", "t.tsv: no header"),
        ] {
            assert_eq!(rows("t.tsv", t, &HEADER), Err(err.to_string()), "{t:?}");
        }
    }
}
