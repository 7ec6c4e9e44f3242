//! A FHIRPath evaluator over `serde_json` values: the subset the FHIR R4 base and UK Core
//! invariants use (paths with choice types and primitive extensions, the operators, and the
//! functions in [`SUPPORTED_FUNCTIONS`]). A function outside it, a clock (`today()`,
//! `now()`), terminology (`memberOf()`), `resolve()` and `htmlChecks()` are errors, so
//! the invariant is reported as not evaluated, never passed.
//!
//! No maintained FHIRPath crate suited migx (see `benches/README.md`): measured against the
//! official FHIRPath test suite (R4), this evaluator's pass rate is reported there.

use serde_json::Value;

mod functions;
mod lexer;
mod parser;
mod values;

use functions::call;
use parser::{parse, parsed, Expr};
use values::*;

/// Functions this evaluator implements.
pub const SUPPORTED_FUNCTIONS: &[&str] = &[
    "empty",
    "exists",
    "all",
    "allTrue",
    "anyTrue",
    "allFalse",
    "anyFalse",
    "subsetOf",
    "supersetOf",
    "count",
    "distinct",
    "isDistinct",
    "where",
    "select",
    "repeat",
    "ofType",
    "single",
    "first",
    "last",
    "tail",
    "skip",
    "take",
    "intersect",
    "exclude",
    "union",
    "combine",
    "iif",
    "toInteger",
    "toDecimal",
    "toString",
    "toBoolean",
    "convertsToInteger",
    "convertsToDecimal",
    "convertsToString",
    "convertsToBoolean",
    "indexOf",
    "substring",
    "startsWith",
    "endsWith",
    "contains",
    "upper",
    "lower",
    "replace",
    "matches",
    "replaceMatches",
    "length",
    "trim",
    "split",
    "join",
    "children",
    "descendants",
    "trace",
    "not",
    "hasValue",
    "extension",
    "is",
    "as",
    "abs",
    "ceiling",
    "floor",
    "round",
    "lastIndexOf",
    "getValue",
];

struct Env<'a> {
    resource: &'a Value,
    root: &'a Value,
    context: Item<'a>,
}

fn eval<'a>(
    env: &Env<'a>,
    e: &Expr,
    focus: &Coll<'a>,
    this: Option<&Item<'a>>,
    index: usize,
) -> R<Coll<'a>> {
    Ok(match e {
        Expr::Empty => Vec::new(),
        Expr::Bool(x) => vec![Item::Bool(*x)],
        Expr::Str(s) => vec![Item::Str(s.clone())],
        Expr::Int(i) => vec![Item::Int(*i)],
        Expr::Dec(d) => vec![Item::Dec(*d)],
        Expr::Date(d) => vec![Item::Date(d.trim_start_matches('T').to_string())],
        Expr::Quantity(v, u) => vec![Item::Quantity(*v, u.clone())],
        Expr::Var(v) => match v.as_str() {
            "$this" => this.cloned().into_iter().collect(),
            "$index" => vec![Item::Int(index as i64)],
            "%resource" => vec![node(env.resource)],
            "%rootResource" => vec![node(env.root)],
            "%context" => vec![env.context.clone()],
            "%ucum" => vec![Item::Str("http://unitsofmeasure.org".into())],
            "%sct" => vec![Item::Str("http://snomed.info/sct".into())],
            "%loinc" => vec![Item::Str("http://loinc.org".into())],
            other => return Err(format!("variable {other} is not supported")),
        },
        Expr::Member(recv, name) => {
            let base = match recv {
                Some(r) => eval(env, r, focus, this, index)?,
                None => focus.clone(),
            };
            let mut out = Vec::new();
            for it in &base {
                // A leading type name selects the focus itself (`Patient.name`).
                if recv.is_none() && name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    if let Some(t) = type_name(it) {
                        if t == *name
                            || RESOURCE_SUPERTYPES.contains(&name.as_str()) && is_object(it)
                        {
                            out.push(it.clone());
                            continue;
                        }
                    }
                }
                member(it, name, &mut out);
            }
            out
        }
        Expr::Index(base, idx) => {
            let base = eval(env, base, focus, this, index)?;
            let i = eval(env, idx, focus, this, index)?;
            match singleton(&i)?.and_then(|x| num(&x)) {
                Some(n) if n >= 0.0 => base.into_iter().nth(n as usize).into_iter().collect(),
                _ => Vec::new(),
            }
        }
        Expr::Neg(x) => {
            let v = eval(env, x, focus, this, index)?;
            match singleton(&v)?.map(|i| prim(&i)) {
                None => Vec::new(),
                Some(Item::Int(i)) => vec![Item::Int(-i)],
                Some(Item::Dec(d)) => vec![Item::Dec(-d)],
                Some(Item::Quantity(d, u)) => vec![Item::Quantity(-d, u)],
                Some(_) => return Err("negating a non-number".into()),
            }
        }
        Expr::TypeOp(op, x, t) => {
            let v = eval(env, x, focus, this, index)?;
            let Some(it) = singleton(&v)? else {
                return Ok(Vec::new());
            };
            let ok = is_type(&it, t)?;
            if op == "is" {
                vec![Item::Bool(ok)]
            } else if ok {
                vec![it]
            } else {
                Vec::new()
            }
        }
        Expr::Bin(op, l, r) => return binary(env, op, l, r, focus, this, index),
        Expr::Call(recv, name, args) => {
            let base = match recv {
                Some(r) => eval(env, r, focus, this, index)?,
                None => this.cloned().into_iter().collect(),
            };
            return call(env, name, base, args, focus, this, index);
        }
    })
}

fn binary<'a>(
    env: &Env<'a>,
    op: &str,
    l: &Expr,
    r: &Expr,
    focus: &Coll<'a>,
    this: Option<&Item<'a>>,
    index: usize,
) -> R<Coll<'a>> {
    let lv = eval(env, l, focus, this, index)?;
    match op {
        "and" | "or" | "xor" | "implies" => {
            let a = truth(&lv)?;
            // Short circuits.
            if op == "and" && a == Some(false) {
                return Ok(b(Some(false)));
            }
            if op == "or" && a == Some(true) {
                return Ok(b(Some(true)));
            }
            if op == "implies" && a == Some(false) {
                return Ok(b(Some(true)));
            }
            let c = truth(&eval(env, r, focus, this, index)?)?;
            return Ok(b(match op {
                "and" => match (a, c) {
                    (Some(true), Some(true)) => Some(true),
                    (_, Some(false)) => Some(false),
                    _ => None,
                },
                "or" => match (a, c) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                "xor" => match (a, c) {
                    (Some(x), Some(y)) => Some(x != y),
                    _ => None,
                },
                _ => match (a, c) {
                    (Some(true), x) => x,
                    (None, Some(true)) => Some(true),
                    _ => None,
                },
            }));
        }
        _ => {}
    }
    let rv = eval(env, r, focus, this, index)?;
    Ok(match op {
        "|" => distinct(lv.into_iter().chain(rv).collect()),
        "=" | "!=" => {
            if lv.is_empty() || rv.is_empty() {
                return Ok(Vec::new());
            }
            let eq = if lv.len() != rv.len() {
                Some(false)
            } else {
                let mut all = Some(true);
                for (x, y) in lv.iter().zip(&rv) {
                    match item_eq(x, y) {
                        Some(true) => {}
                        Some(false) => {
                            all = Some(false);
                            break;
                        }
                        None => all = None,
                    }
                }
                all
            };
            b(if op == "=" { eq } else { eq.map(|x| !x) })
        }
        "~" | "!~" => {
            let eq = lv.len() == rv.len() && lv.iter().zip(&rv).all(|(x, y)| item_equiv(x, y));
            b(Some(if op == "~" { eq } else { !eq }))
        }
        "<" | ">" | "<=" | ">=" => {
            let (Some(x), Some(y)) = (singleton(&lv)?, singleton(&rv)?) else {
                return Ok(Vec::new());
            };
            match compare(&x, &y)? {
                None => Vec::new(),
                Some(o) => b(Some(match op {
                    "<" => o.is_lt(),
                    ">" => o.is_gt(),
                    "<=" => o.is_le(),
                    _ => o.is_ge(),
                })),
            }
        }
        "in" | "contains" => {
            let (item, coll) = if op == "in" { (&lv, &rv) } else { (&rv, &lv) };
            let Some(x) = singleton(item)? else {
                return Ok(Vec::new());
            };
            b(Some(coll.iter().any(|y| item_eq(&x, y) == Some(true))))
        }
        "&" => {
            let s = |c: &Coll<'_>| -> R<String> {
                Ok(singleton(c)?.and_then(|i| string(&i)).unwrap_or_default())
            };
            vec![Item::Str(s(&lv)? + &s(&rv)?)]
        }
        "+" | "-" | "*" | "/" | "div" | "mod" => {
            let (Some(x), Some(y)) = (singleton(&lv)?, singleton(&rv)?) else {
                return Ok(Vec::new());
            };
            if op == "+" {
                if let (Item::Str(a), Item::Str(c)) = (prim(&x), prim(&y)) {
                    return Ok(vec![Item::Str(a + &c)]);
                }
            }
            let (px, py) = (prim(&x), prim(&y));
            match (&px, &py) {
                (Item::Int(a), Item::Int(c)) if op != "/" => match op {
                    "+" => vec![Item::Int(a.checked_add(*c).ok_or("overflow")?)],
                    "-" => vec![Item::Int(a.checked_sub(*c).ok_or("overflow")?)],
                    "*" => vec![Item::Int(a.checked_mul(*c).ok_or("overflow")?)],
                    "div" => {
                        if *c == 0 {
                            Vec::new()
                        } else {
                            vec![Item::Int(a / c)]
                        }
                    }
                    _ => {
                        if *c == 0 {
                            Vec::new()
                        } else {
                            vec![Item::Int(a % c)]
                        }
                    }
                },
                _ => match (num(&px), num(&py)) {
                    (Some(a), Some(c)) => match op {
                        "+" => vec![Item::Dec(a + c)],
                        "-" => vec![Item::Dec(a - c)],
                        "*" => vec![Item::Dec(a * c)],
                        "/" => {
                            if c == 0.0 {
                                Vec::new()
                            } else {
                                vec![Item::Dec(a / c)]
                            }
                        }
                        "div" => {
                            if c == 0.0 {
                                Vec::new()
                            } else {
                                vec![Item::Int((a / c).trunc() as i64)]
                            }
                        }
                        _ => {
                            if c == 0.0 {
                                Vec::new()
                            } else {
                                vec![Item::Dec(a % c)]
                            }
                        }
                    },
                    _ => {
                        return Err(format!(
                            "arithmetic '{op}' on these values is not supported"
                        ))
                    }
                },
            }
        }
        other => return Err(format!("operator {other} is not supported")),
    })
}

/// Evaluate an expression on a focus; the result as JSON-ish strings for tests.
fn evaluate<'a>(
    expr: &Expr,
    focus: &'a Value,
    resource: &'a Value,
    root: &'a Value,
) -> R<Coll<'a>> {
    let f = node(focus);
    let env = Env {
        resource,
        root,
        context: f.clone(),
    };
    eval(&env, expr, &vec![f.clone()], Some(&f), 0)
}

/// Evaluate an invariant on `focus` (with `%resource` and `%rootResource`): `Ok(true)`
/// holds (an empty result counts as holding), `Ok(false)` fails, `Err(why)` could not be
/// evaluated (a function or construct outside the supported subset).
pub fn check(expr: &str, focus: &Value, resource: &Value, root: &Value) -> Result<bool, String> {
    let e = parsed(expr)?;
    let out = evaluate(&e, focus, resource, root)?;
    Ok(truth(&out)? != Some(false))
}

/// Evaluate an expression and render each result item as text (`true`, `5`, `'x'` become
/// `true`, `5`, `x`; nodes as compact JSON): for the conformance test suite.
pub fn evaluate_to_strings(expr: &str, focus: &Value) -> Result<Vec<String>, String> {
    let e = parse(expr)?;
    let out = evaluate(&e, focus, focus, focus)?;
    Ok(out
        .iter()
        .map(|i| match prim(i) {
            Item::Bool(x) => x.to_string(),
            Item::Int(x) => x.to_string(),
            Item::Dec(x) => x.to_string(),
            Item::Str(s) | Item::Date(s) => s,
            Item::Quantity(v, u) => format!("{v} '{u}'"),
            Item::Node { v, .. } => v.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(expr: &str, v: &Value) -> Vec<String> {
        evaluate_to_strings(expr, v).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    #[test]
    fn paths_choice_types_and_primitive_extensions() {
        let p = json!({"resourceType": "Patient", "name": [{"given": ["A", "B"]}, {"given": ["C"]}],
            "birthDate": "1970", "_birthDate": {"extension": [{"url": "u", "valueString": "x"}]},
            "deceasedBoolean": false});
        assert_eq!(ev("Patient.name.given", &p), ["A", "B", "C"]);
        assert_eq!(ev("name.given.count()", &p), ["3"]);
        assert_eq!(ev("deceased", &p), ["false"]);
        assert_eq!(ev("deceased is boolean", &p), ["true"]);
        assert_eq!(ev("birthDate.extension('u').value", &p), ["x"]);
        assert_eq!(ev("birthDate.hasValue()", &p), ["true"]);
        assert_eq!(ev("name.where(given = 'C').given", &p), ["C"]);
        assert_eq!(ev("name.given.first() = 'A'", &p), ["true"]);
        assert_eq!(ev("(1 | 2 | 2).count()", &p), ["2"]);
        assert_eq!(ev("1 + 2 * 3", &p), ["7"]);
        assert_eq!(ev("'a' & {} & 'b'", &p), ["ab"]);
        assert_eq!(ev("{}.empty() and true", &p), ["true"]);
        assert_eq!(ev("iif(name.exists(), 'y', 'n')", &p), ["y"]);
        assert_eq!(ev("@2020-01-01 < @2021", &p), ["true"]);
        assert_eq!(ev("@2021-01-01 < @2021", &p), Vec::<String>::new());
        assert_eq!(ev("@2020-01-01 < @2021-01-01", &p), ["true"]);
    }

    #[test]
    fn r4_base_invariants_hold_and_fail() {
        let ok = json!({"resourceType": "Patient", "id": "a", "text": {"status": "generated", "div": "<div/>"}});
        // dom-2: contained resources have no contained.
        let dom2 = "contained.contained.empty()";
        assert_eq!(check(dom2, &ok, &ok, &ok), Ok(true));
        let bad = json!({"resourceType": "Patient", "contained": [{"resourceType": "Patient", "contained": [{"resourceType": "Patient"}]}]});
        assert_eq!(check(dom2, &bad, &bad, &bad), Ok(false));
        // ele-1 on an element.
        let ele1 = "hasValue() or (children().count() > id.count())";
        let e = json!({"id": "x"});
        assert_eq!(check(ele1, &e, &ok, &ok), Ok(false));
        assert_eq!(check(ele1, &json!({"system": "s"}), &ok, &ok), Ok(true));
        assert_eq!(check(ele1, &json!("v"), &ok, &ok), Ok(true));
        // per-1
        let per1 = "start.hasValue().not() or end.hasValue().not() or (start <= end)";
        assert_eq!(
            check(
                per1,
                &json!({"start": "2020-01-01", "end": "2019-01-01"}),
                &ok,
                &ok
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                per1,
                &json!({"start": "2020-01-01", "end": "2021-01-01"}),
                &ok,
                &ok
            ),
            Ok(true)
        );
        // Unsupported functions are not evaluated, never passed.
        assert!(check("text.div.htmlChecks()", &ok, &ok, &ok).is_err());
        assert!(check("today() > birthDate", &ok, &ok, &ok).is_err());
        assert!(check("code.memberOf('x')", &ok, &ok, &ok).is_err());
    }

    /// The official FHIRPath test suite (R4), prepared by `benches/fhirpath_suite.py`:
    /// prints the pass rate. `MIGX_FHIRPATH_CASES=cases.json`; ignored without.
    #[test]
    #[ignore]
    fn official_suite() {
        let Ok(path) = std::env::var("MIGX_FHIRPATH_CASES") else {
            eprintln!("skipped: MIGX_FHIRPATH_CASES not set");
            return;
        };
        let cases: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let (mut pass, mut fail) = (0, 0);
        let mut failures = Vec::new();
        for c in &cases {
            let expr = c["expression"].as_str().unwrap_or("");
            let input = &c["input"];
            let invalid = c["invalid"].as_bool().unwrap_or(false);
            let got = evaluate_to_strings(expr, input);
            let ok = match (&got, invalid) {
                (Err(_), true) => true,
                (Ok(_), true) | (Err(_), false) => false,
                (Ok(out), false) => {
                    let want: Vec<(String, String)> = c["outputs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| {
                            (
                                o[0].as_str().unwrap().to_string(),
                                o[1].as_str().unwrap().to_string(),
                            )
                        })
                        .collect();
                    if c["predicate"].as_bool() == Some(true) {
                        let truth = !out.is_empty();
                        want.first()
                            .map(|w| w.1 == truth.to_string())
                            .unwrap_or(false)
                    } else {
                        out.len() == want.len()
                            && out.iter().zip(&want).all(|(g, (t, w))| {
                                let w = w.trim_start_matches('@');
                                g == w
                                    || (t == "decimal" || t == "integer")
                                        && g.parse::<f64>().ok() == w.parse::<f64>().ok()
                                    || t == "Quantity" && g.replace('\'', "") == w.replace('\'', "")
                            })
                    }
                }
            };
            if ok {
                pass += 1;
            } else {
                fail += 1;
                failures.push(format!("{}: {expr} -> {:?}", c["name"], got));
            }
        }
        for f in failures.iter().take(400) {
            eprintln!("FAIL {f}");
        }
        eprintln!(
            "official FHIRPath suite: {pass} passed, {fail} failed of {}",
            cases.len()
        );
        assert_eq!(pass + fail, cases.len());
    }
}
