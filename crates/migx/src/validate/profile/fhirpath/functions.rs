//! FHIRPath functions: the ones in [`super::SUPPORTED_FUNCTIONS`]; any other is an error
//! (the invariant is then not evaluated).

use serde_json::Value;

use super::parser::Expr;
use super::values::*;
use super::{eval, Env};

pub(super) fn call<'a>(
    env: &Env<'a>,
    name: &str,
    base: Coll<'a>,
    args: &[Expr],
    focus: &Coll<'a>,
    this: Option<&Item<'a>>,
    index: usize,
) -> R<Coll<'a>> {
    let arg = |i: usize| -> R<Coll<'a>> {
        match args.get(i) {
            Some(a) => eval(env, a, focus, this, index),
            None => Err(format!("{name}() needs an argument")),
        }
    };
    let str_arg = |i: usize| -> R<String> {
        singleton(&arg(i)?)?
            .and_then(|x| string(&x))
            .ok_or_else(|| format!("{name}(): argument is not a string"))
    };
    let int_arg = |i: usize| -> R<i64> {
        singleton(&arg(i)?)?
            .and_then(|x| num(&x))
            .map(|n| n as i64)
            .ok_or_else(|| format!("{name}(): argument is not a number"))
    };
    // Per-item criteria: evaluated with $this bound to each item.
    let each = |crit: &Expr, it: &Item<'a>, i: usize| -> R<Coll<'a>> {
        eval(env, crit, &vec![it.clone()], Some(it), i)
    };
    let one_str =
        |base: &Coll<'a>| -> R<Option<String>> { Ok(singleton(base)?.and_then(|x| string(&x))) };
    Ok(match name {
        "empty" => b(Some(base.is_empty())),
        "exists" => match args.first() {
            None => b(Some(!base.is_empty())),
            Some(c) => {
                let mut any = false;
                for (i, it) in base.iter().enumerate() {
                    if truth(&each(c, it, i)?)? == Some(true) {
                        any = true;
                        break;
                    }
                }
                b(Some(any))
            }
        },
        "all" => {
            let c = args.first().ok_or("all() needs criteria")?;
            let mut all = true;
            for (i, it) in base.iter().enumerate() {
                if truth(&each(c, it, i)?)? != Some(true) {
                    all = false;
                    break;
                }
            }
            b(Some(all))
        }
        "allTrue" | "anyTrue" | "allFalse" | "anyFalse" => {
            let vals: Vec<Option<bool>> = base
                .iter()
                .map(|i| match prim(i) {
                    Item::Bool(x) => Some(x),
                    _ => None,
                })
                .collect();
            b(Some(match name {
                "allTrue" => vals.iter().all(|v| *v == Some(true)),
                "anyTrue" => vals.contains(&Some(true)),
                "allFalse" => vals.iter().all(|v| *v == Some(false)),
                _ => vals.contains(&Some(false)),
            }))
        }
        "subsetOf" | "supersetOf" => {
            let other = arg(0)?;
            let (small, big) = if name == "subsetOf" {
                (&base, &other)
            } else {
                (&other, &base)
            };
            b(Some(
                small
                    .iter()
                    .all(|x| big.iter().any(|y| item_eq(x, y) == Some(true))),
            ))
        }
        "count" => vec![Item::Int(base.len() as i64)],
        "distinct" => distinct(base),
        "isDistinct" => {
            let n = base.len();
            b(Some(distinct(base).len() == n))
        }
        "where" => {
            let c = args.first().ok_or("where() needs criteria")?;
            let mut out = Vec::new();
            for (i, it) in base.iter().enumerate() {
                if truth(&each(c, it, i)?)? == Some(true) {
                    out.push(it.clone());
                }
            }
            out
        }
        "select" => {
            let c = args.first().ok_or("select() needs an expression")?;
            let mut out = Vec::new();
            for (i, it) in base.iter().enumerate() {
                out.extend(each(c, it, i)?);
            }
            out
        }
        "repeat" => {
            let c = args.first().ok_or("repeat() needs an expression")?;
            let mut out: Coll<'a> = Vec::new();
            let mut queue = base;
            let mut rounds = 0;
            while let Some(it) = queue.pop() {
                rounds += 1;
                if rounds > 10_000 {
                    return Err("repeat() does not end".into());
                }
                for n in each(c, &it, 0)? {
                    if !out.iter().any(|o| item_eq(o, &n) == Some(true)) {
                        out.push(n.clone());
                        queue.push(n);
                    }
                }
            }
            out
        }
        "ofType" => {
            let t = match args.first() {
                Some(Expr::Member(None, t)) => t.clone(),
                Some(Expr::Member(Some(ns), t)) => match ns.as_ref() {
                    Expr::Member(None, n) => format!("{n}.{t}"),
                    _ => return Err("ofType(): bad type name".into()),
                },
                _ => return Err("ofType() needs a type name".into()),
            };
            let mut out = Vec::new();
            for it in base {
                if is_type(&it, &t)? {
                    out.push(it);
                }
            }
            out
        }
        "is" | "as" => {
            let t = match args.first() {
                Some(Expr::Member(None, t)) => t.clone(),
                _ => return Err(format!("{name}() needs a type name")),
            };
            let Some(it) = singleton(&base)? else {
                return Ok(Vec::new());
            };
            let ok = is_type(&it, &t)?;
            if name == "is" {
                vec![Item::Bool(ok)]
            } else if ok {
                vec![it]
            } else {
                Vec::new()
            }
        }
        "single" => singleton(&base)?.into_iter().collect(),
        "first" => base.into_iter().take(1).collect(),
        "last" => base.into_iter().last().into_iter().collect(),
        "tail" => base.into_iter().skip(1).collect(),
        "skip" => {
            let n = int_arg(0)?.max(0) as usize;
            base.into_iter().skip(n).collect()
        }
        "take" => {
            let n = int_arg(0)?.max(0) as usize;
            base.into_iter().take(n).collect()
        }
        "intersect" => {
            let other = arg(0)?;
            distinct(
                base.into_iter()
                    .filter(|x| other.iter().any(|y| item_eq(x, y) == Some(true)))
                    .collect(),
            )
        }
        "exclude" => {
            let other = arg(0)?;
            base.into_iter()
                .filter(|x| !other.iter().any(|y| item_eq(x, y) == Some(true)))
                .collect()
        }
        "union" => distinct(base.into_iter().chain(arg(0)?).collect()),
        "combine" => base.into_iter().chain(arg(0)?).collect(),
        "iif" => {
            let c = args.first().ok_or("iif() needs a condition")?;
            let cond = truth(&eval(env, c, &base, this, index)?)?;
            if cond == Some(true) {
                arg(1)?
            } else if args.len() > 2 {
                arg(2)?
            } else {
                Vec::new()
            }
        }
        "not" => match truth(&base)? {
            None => Vec::new(),
            Some(x) => b(Some(!x)),
        },
        "hasValue" => b(Some(
            matches!(singleton(&base)?, Some(Item::Node { v, .. }) if !v.is_null() && !v.is_object() && !v.is_array())
                || matches!(singleton(&base)?, Some(ref i) if !matches!(i, Item::Node { .. })),
        )),
        "getValue" => match singleton(&base)? {
            Some(it @ Item::Node { v, .. }) if !v.is_null() && !v.is_object() => vec![prim(&it)],
            _ => Vec::new(),
        },
        "children" => base.iter().flat_map(children).collect(),
        "descendants" => {
            let mut out = Vec::new();
            let mut stack: Coll<'a> = base.iter().flat_map(children).collect();
            while let Some(it) = stack.pop() {
                stack.extend(children(&it));
                out.push(it);
                if out.len() > 1_000_000 {
                    return Err("descendants() too large".into());
                }
            }
            out
        }
        "trace" => base,
        "extension" => {
            let url = str_arg(0)?;
            let mut exts = Vec::new();
            for it in &base {
                member(it, "extension", &mut exts);
            }
            exts.into_iter()
                .filter(|e| matches!(e, Item::Node { v, .. } if v.get("url").and_then(Value::as_str) == Some(url.as_str())))
                .collect()
        }
        "toInteger" | "convertsToInteger" => {
            let Some(it) = singleton(&base)? else {
                return Ok(Vec::new());
            };
            let v = match prim(&it) {
                Item::Int(i) => Some(i),
                Item::Str(s) => s.parse().ok(),
                Item::Bool(x) => Some(x as i64),
                _ => None,
            };
            if name == "toInteger" {
                v.map(Item::Int).into_iter().collect()
            } else {
                b(Some(v.is_some()))
            }
        }
        "toDecimal" | "convertsToDecimal" => {
            let Some(it) = singleton(&base)? else {
                return Ok(Vec::new());
            };
            let v = match prim(&it) {
                Item::Int(i) => Some(i as f64),
                Item::Dec(d) => Some(d),
                Item::Str(s) => s.parse().ok(),
                Item::Bool(x) => Some(if x { 1.0 } else { 0.0 }),
                _ => None,
            };
            if name == "toDecimal" {
                v.map(Item::Dec).into_iter().collect()
            } else {
                b(Some(v.is_some()))
            }
        }
        "toBoolean" | "convertsToBoolean" => {
            let Some(it) = singleton(&base)? else {
                return Ok(Vec::new());
            };
            let v = match prim(&it) {
                Item::Bool(x) => Some(x),
                Item::Int(1) => Some(true),
                Item::Int(0) => Some(false),
                Item::Str(s) => match s.to_lowercase().as_str() {
                    "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
                    "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            if name == "toBoolean" {
                v.map(Item::Bool).into_iter().collect()
            } else {
                b(Some(v.is_some()))
            }
        }
        "toString" | "convertsToString" => {
            let Some(it) = singleton(&base)? else {
                return Ok(Vec::new());
            };
            let s = match prim(&it) {
                Item::Str(s) | Item::Date(s) => Some(s),
                Item::Int(i) => Some(i.to_string()),
                Item::Dec(d) => Some(d.to_string()),
                Item::Bool(x) => Some(x.to_string()),
                Item::Quantity(v, u) => Some(format!("{v} '{u}'")),
                Item::Node { .. } => None,
            };
            if name == "toString" {
                s.map(Item::Str).into_iter().collect()
            } else {
                b(Some(s.is_some()))
            }
        }
        "indexOf" | "lastIndexOf" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            let sub = str_arg(0)?;
            let found = if name == "indexOf" {
                s.find(&sub)
            } else {
                s.rfind(&sub)
            };
            vec![Item::Int(
                found.map(|i| s[..i].chars().count() as i64).unwrap_or(-1),
            )]
        }
        "substring" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            let start = int_arg(0)?;
            let chars: Vec<char> = s.chars().collect();
            if start < 0 || start as usize >= chars.len() {
                return Ok(Vec::new());
            }
            let len = if args.len() > 1 {
                int_arg(1)?.max(0) as usize
            } else {
                chars.len()
            };
            vec![Item::Str(
                chars[start as usize..].iter().take(len).collect(),
            )]
        }
        "startsWith" | "endsWith" | "contains" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            let sub = str_arg(0)?;
            b(Some(match name {
                "startsWith" => s.starts_with(&sub),
                "endsWith" => s.ends_with(&sub),
                _ => s.contains(&sub),
            }))
        }
        "upper" | "lower" | "trim" | "length" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            match name {
                "upper" => vec![Item::Str(s.to_uppercase())],
                "lower" => vec![Item::Str(s.to_lowercase())],
                "trim" => vec![Item::Str(s.trim().to_string())],
                _ => vec![Item::Int(s.chars().count() as i64)],
            }
        }
        "replace" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            let (from, to) = (str_arg(0)?, str_arg(1)?);
            if from.is_empty() {
                let mut out = to.clone();
                for c in s.chars() {
                    out.push(c);
                    out.push_str(&to);
                }
                vec![Item::Str(out)]
            } else {
                vec![Item::Str(s.replace(&from, &to))]
            }
        }
        "matches" | "replaceMatches" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            let pattern = str_arg(0)?;
            let re = regex::Regex::new(&pattern).map_err(|_| {
                format!("{name}(): the pattern is not a supported regular expression")
            })?;
            if name == "matches" {
                b(Some(re.is_match(&s)))
            } else {
                let to = str_arg(1)?;
                let to = to.replace("$", "$$").replace("$$$$", "$$");
                vec![Item::Str(re.replace_all(&s, to.as_str()).to_string())]
            }
        }
        "split" => {
            let Some(s) = one_str(&base)? else {
                return Ok(Vec::new());
            };
            let sep = str_arg(0)?;
            s.split(sep.as_str())
                .map(|p| Item::Str(p.to_string()))
                .collect()
        }
        "join" => {
            let sep = if args.is_empty() {
                String::new()
            } else {
                str_arg(0)?
            };
            let parts: Vec<String> = base.iter().filter_map(string).collect();
            vec![Item::Str(parts.join(&sep))]
        }
        "abs" | "ceiling" | "floor" | "round" => {
            let Some(it) = singleton(&base)? else {
                return Ok(Vec::new());
            };
            match (name, prim(&it)) {
                ("abs", Item::Int(i)) => vec![Item::Int(i.abs())],
                ("abs", Item::Quantity(v, u)) => vec![Item::Quantity(v.abs(), u)],
                (_, p) => {
                    let Some(x) = num(&p) else {
                        return Err(format!("{name}() of a non-number"));
                    };
                    match name {
                        "abs" => vec![Item::Dec(x.abs())],
                        "ceiling" => vec![Item::Int(x.ceil() as i64)],
                        "floor" => vec![Item::Int(x.floor() as i64)],
                        _ => {
                            let digits = if args.is_empty() { 0 } else { int_arg(0)? };
                            let f = 10f64.powi(digits as i32);
                            vec![Item::Dec((x * f).round() / f)]
                        }
                    }
                }
            }
        }
        other => return Err(format!("function {other}() is not supported")),
    })
}
