//! FHIRPath values: collections of document nodes and system values, navigation (members,
//! children, choice types, primitive extensions), types, truth, equality and comparison.

use serde_json::Value;

pub(super) static NULL: Value = Value::Null;

/// One item of a collection.
#[derive(Debug, Clone)]
pub(super) enum Item<'a> {
    /// A node of the document: its value (`null` for a primitive known only by its
    /// extensions), its primitive companion (`_name`), its type when known.
    Node {
        v: &'a Value,
        ext: Option<&'a Value>,
        ty: Option<String>,
    },
    Bool(bool),
    Int(i64),
    Dec(f64),
    Str(String),
    Date(String),
    Quantity(f64, String),
}

pub(super) type Coll<'a> = Vec<Item<'a>>;
pub(super) type R<T> = Result<T, String>;

pub(super) fn node(v: &Value) -> Item<'_> {
    Item::Node {
        v,
        ext: None,
        ty: v
            .get("resourceType")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// The primitive value of an item, as a system value.
pub(super) fn prim<'a>(it: &Item<'a>) -> Item<'a> {
    match it {
        Item::Node { v, ty, .. } => match v {
            Value::Bool(b) => Item::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) if !n.to_string().contains('.') => Item::Int(i),
                _ => Item::Dec(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => match ty.as_deref() {
                Some("date" | "dateTime" | "instant" | "Date" | "DateTime") => {
                    Item::Date(s.clone())
                }
                _ => Item::Str(s.clone()),
            },
            Value::Object(o)
                if ty.as_deref() == Some("Quantity")
                    || o.contains_key("value")
                        && o.contains_key("unit")
                        && !o.contains_key("resourceType") =>
            {
                match o.get("value").and_then(Value::as_f64) {
                    Some(x) => Item::Quantity(
                        x,
                        o.get("code")
                            .or_else(|| o.get("unit"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    ),
                    None => it.clone(),
                }
            }
            _ => it.clone(),
        },
        other => other.clone(),
    }
}

pub(super) fn is_object(it: &Item<'_>) -> bool {
    matches!(
        it,
        Item::Node {
            v: Value::Object(_),
            ..
        }
    )
}

pub(super) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub(super) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Children of an item by name (with choice types and primitive companions).
pub(super) fn member<'a>(it: &Item<'a>, name: &str, out: &mut Coll<'a>) {
    let Item::Node { v, ext, .. } = it else {
        return;
    };
    if let Value::Object(obj) = v {
        let push_all = |out: &mut Coll<'a>,
                        val: Option<&'a Value>,
                        comp: Option<&'a Value>,
                        ty: Option<String>| {
            let vals: Vec<&'a Value> = match val {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(x) => vec![x],
                None => Vec::new(),
            };
            let comps: Vec<Option<&'a Value>> = match comp {
                Some(Value::Array(a)) => a.iter().map(|c| (!c.is_null()).then_some(c)).collect(),
                Some(x) => vec![Some(x)],
                None => Vec::new(),
            };
            let n = vals.len().max(comps.len());
            for i in 0..n {
                let v = vals.get(i).copied().unwrap_or(&NULL);
                let ext = comps.get(i).copied().flatten();
                if v.is_null() && ext.is_none() {
                    continue;
                }
                let ty = ty.clone().or_else(|| {
                    v.get("resourceType")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                out.push(Item::Node { v, ext, ty });
            }
        };
        if obj.contains_key(name) || obj.contains_key(&format!("_{name}")) {
            push_all(out, obj.get(name), obj.get(&format!("_{name}")), None);
            return;
        }
        // A choice element: `value` finds `valueQuantity` (typed Quantity).
        for (k, val) in obj {
            if let Some(rest) = k.strip_prefix(name) {
                if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                    let ty = if rest.chars().nth(1).is_some_and(|c| c.is_ascii_lowercase())
                        && ![
                            "Quantity",
                            "Coding",
                            "CodeableConcept",
                            "Reference",
                            "Period",
                            "Range",
                            "Ratio",
                            "Attachment",
                            "Identifier",
                            "HumanName",
                            "Address",
                            "ContactPoint",
                            "Timing",
                            "Signature",
                            "Annotation",
                            "SampledData",
                            "Age",
                            "Duration",
                            "Count",
                            "Distance",
                            "Money",
                            "Meta",
                            "Dosage",
                            "Expression",
                            "Contributor",
                            "DataRequirement",
                            "ParameterDefinition",
                            "RelatedArtifact",
                            "TriggerDefinition",
                            "UsageContext",
                        ]
                        .contains(&rest)
                    {
                        lower_first(rest)
                    } else {
                        rest.to_string()
                    };
                    push_all(out, Some(val), obj.get(&format!("_{k}")), Some(ty));
                }
            }
        }
    } else if let Some(Value::Object(c)) = ext {
        // `id` and `extension` of a primitive live in its companion.
        if let Some(val) = c.get(name) {
            match val {
                Value::Array(a) => out.extend(a.iter().map(node)),
                x => out.push(node(x)),
            }
        }
    }
}

pub(super) fn children<'a>(it: &Item<'a>) -> Coll<'a> {
    let mut out = Vec::new();
    if let Item::Node {
        v: Value::Object(obj),
        ..
    } = it
    {
        for k in obj.keys() {
            if k == "resourceType" || k.starts_with('_') {
                continue;
            }
            member(it, k, &mut out);
        }
        for k in obj.keys() {
            if let Some(base) = k.strip_prefix('_') {
                if !obj.contains_key(base) {
                    member(it, base, &mut out);
                }
            }
        }
    } else if let Item::Node {
        ext: Some(Value::Object(c)),
        ..
    } = it
    {
        for k in c.keys() {
            member(it, k, &mut out);
        }
    }
    out
}

pub(super) fn type_name(it: &Item<'_>) -> Option<String> {
    match it {
        Item::Node { v, ty, .. } => ty.clone().or_else(|| match v {
            Value::Bool(_) => Some("boolean".into()),
            Value::Object(o) => o
                .get("resourceType")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        }),
        Item::Bool(_) => Some("Boolean".into()),
        Item::Int(_) => Some("Integer".into()),
        Item::Dec(_) => Some("Decimal".into()),
        Item::Str(_) => Some("String".into()),
        Item::Date(_) => Some("DateTime".into()),
        Item::Quantity(..) => Some("Quantity".into()),
    }
}

pub(super) const RESOURCE_SUPERTYPES: &[&str] = &["Resource", "DomainResource"];

/// Is an item of the named type? `Err` when its type cannot be told.
pub(super) fn is_type(it: &Item<'_>, t: &str) -> R<bool> {
    let t = t.trim_start_matches("FHIR.").trim_start_matches("System.");
    let Some(actual) = type_name(it) else {
        return Err(format!("the type of an element is not known here (is {t})"));
    };
    if actual == t || upper_first(&actual) == t || lower_first(t) == actual {
        return Ok(true);
    }
    if let Item::Node {
        v: Value::Object(o),
        ..
    } = it
    {
        if o.contains_key("resourceType") && RESOURCE_SUPERTYPES.contains(&t) {
            return Ok(actual != "Bundle" || t == "Resource");
        }
    }
    // FHIR primitive kinds: string-like types are Strings at the system level.
    let stringish = [
        "code",
        "id",
        "uri",
        "url",
        "canonical",
        "oid",
        "uuid",
        "markdown",
        "base64Binary",
        "xhtml",
    ];
    Ok(t == "string" && stringish.contains(&actual.as_str()))
}

pub(super) fn truth(c: &Coll<'_>) -> R<Option<bool>> {
    match c.as_slice() {
        [] => Ok(None),
        [one] => match prim(one) {
            Item::Bool(b) => Ok(Some(b)),
            _ => Ok(Some(true)),
        },
        _ => Err("a collection of more than one item used as a boolean".into()),
    }
}

pub(super) fn b<'a>(x: Option<bool>) -> Coll<'a> {
    x.map(|v| vec![Item::Bool(v)]).unwrap_or_default()
}

pub(super) fn num(it: &Item<'_>) -> Option<f64> {
    match prim(it) {
        Item::Int(i) => Some(i as f64),
        Item::Dec(d) => Some(d),
        _ => None,
    }
}

pub(super) fn string(it: &Item<'_>) -> Option<String> {
    match prim(it) {
        Item::Str(s) | Item::Date(s) => Some(s),
        Item::Node {
            v: Value::String(s),
            ..
        } => Some(s.clone()),
        _ => None,
    }
}

/// Equality of two items: `None` when not comparable (dates of different precision).
pub(super) fn item_eq(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    let (pa, pb) = (prim(a), prim(b));
    match (&pa, &pb) {
        (Item::Node { v: x, .. }, Item::Node { v: y, .. }) => Some(x == y),
        (Item::Bool(x), Item::Bool(y)) => Some(x == y),
        (Item::Date(x), Item::Date(y))
        | (Item::Date(x), Item::Str(y))
        | (Item::Str(x), Item::Date(y)) => {
            if pa_is_date(x) && pa_is_date(y) && date_precision(x) != date_precision(y) {
                None
            } else {
                Some(x.trim_start_matches('@') == y.trim_start_matches('@'))
            }
        }
        (Item::Str(x), Item::Str(y)) => Some(x == y),
        (Item::Quantity(x, u), Item::Quantity(y, w)) => Some(x == y && u == w),
        _ => match (num(&pa), num(&pb)) {
            (Some(x), Some(y)) => Some(x == y),
            _ => Some(false),
        },
    }
}

pub(super) fn pa_is_date(s: &str) -> bool {
    s.len() >= 4 && s[..4].chars().all(|c| c.is_ascii_digit())
}

pub(super) fn date_precision(s: &str) -> usize {
    s.split(['+', 'Z']).next().unwrap_or(s).len()
}

pub(super) fn item_equiv(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (string(a), string(b)) {
        (Some(x), Some(y)) => {
            let norm = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            norm(&x) == norm(&y)
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-9 || format!("{x:.1}") == format!("{y:.1}"),
            _ => item_eq(a, b).unwrap_or(false),
        },
    }
}

pub(super) fn compare(a: &Item<'_>, b: &Item<'_>) -> R<Option<std::cmp::Ordering>> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(x.partial_cmp(&y));
    }
    if let (Item::Quantity(x, u), Item::Quantity(y, w)) = (prim(a), prim(b)) {
        if u == w {
            return Ok(x.partial_cmp(&y));
        }
        return Err("comparing quantities of different units".into());
    }
    match (string(a), string(b)) {
        (Some(x), Some(y)) => {
            let (x, y) = (x.trim_start_matches('@'), y.trim_start_matches('@'));
            if pa_is_date(x) && pa_is_date(y) {
                let n = date_precision(x).min(date_precision(y));
                let (px, py) = (&x[..n.min(x.len())], &y[..n.min(y.len())]);
                if px == py && date_precision(x) != date_precision(y) {
                    return Ok(None);
                }
                return Ok(Some(px.cmp(py)));
            }
            Ok(Some(x.cmp(y)))
        }
        _ => Err("comparing values of different kinds".into()),
    }
}

pub(super) fn singleton<'a>(c: &Coll<'a>) -> R<Option<Item<'a>>> {
    match c.as_slice() {
        [] => Ok(None),
        [x] => Ok(Some(x.clone())),
        _ => Err("expected a single item".into()),
    }
}

pub(super) fn distinct<'a>(c: Coll<'a>) -> Coll<'a> {
    let mut out: Coll<'a> = Vec::new();
    for it in c {
        if !out.iter().any(|o| item_eq(o, &it) == Some(true)) {
            out.push(it);
        }
    }
    out
}
