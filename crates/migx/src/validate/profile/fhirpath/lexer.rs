//! The FHIRPath lexer: an expression as tokens.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Id(String),
    Str(String),
    Num(String),
    Date(String),
    Var(String),
    Op(String),
}

pub(super) fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        if ch == '\'' || ch == '`' {
            let quote = ch;
            i += 1;
            let mut s = String::new();
            while i < c.len() && c[i] != quote {
                if c[i] == '\\' && i + 1 < c.len() {
                    i += 1;
                    match c[i] {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        'f' => s.push('\u{c}'),
                        'u' if i + 4 < c.len() => {
                            let hex: String = c[i + 1..i + 5].iter().collect();
                            let code =
                                u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?;
                            s.push(char::from_u32(code).ok_or("bad \\u escape")?);
                            i += 4;
                        }
                        other => s.push(other),
                    }
                } else {
                    s.push(c[i]);
                }
                i += 1;
            }
            if i >= c.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            out.push(if quote == '\'' {
                Tok::Str(s)
            } else {
                Tok::Id(s)
            });
            continue;
        }
        if ch.is_ascii_digit() {
            let start = i;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < c.len() && c[i] == '.' && c[i + 1].is_ascii_digit() {
                i += 1;
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < c.len() && c[i] == 'L' {
                i += 1;
            }
            out.push(Tok::Num(
                c[start..i]
                    .iter()
                    .collect::<String>()
                    .trim_end_matches('L')
                    .to_string(),
            ));
            continue;
        }
        if ch == '@' {
            let start = i + 1;
            i += 1;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || "-:.+TZ".contains(c[i])) {
                i += 1;
            }
            out.push(Tok::Date(c[start..i].iter().collect()));
            continue;
        }
        if ch == '%' || ch == '$' {
            i += 1;
            if i < c.len() && (c[i] == '`' || c[i] == '\'') {
                let quote = c[i];
                i += 1;
                let start = i;
                while i < c.len() && c[i] != quote {
                    i += 1;
                }
                let name: String = c[start..i].iter().collect();
                i += 1;
                out.push(Tok::Var(format!("{ch}{name}")));
                continue;
            }
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '-') {
                i += 1;
            }
            out.push(Tok::Var(format!(
                "{ch}{}",
                c[start..i].iter().collect::<String>()
            )));
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Id(c[start..i].iter().collect()));
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        if ["<=", ">=", "!=", "!~"].contains(&two.as_str()) {
            out.push(Tok::Op(two));
            i += 2;
            continue;
        }
        if "+-*/|&=~<>()[]{},.".contains(ch) {
            out.push(Tok::Op(ch.to_string()));
            i += 1;
            continue;
        }
        return Err(format!("unexpected character {ch:?}"));
    }
    Ok(out)
}
