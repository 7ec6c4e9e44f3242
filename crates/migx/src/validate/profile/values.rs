//! What the walker and slicing share: one repetition of an element in the instance, its
//! place in the definitions, and how instance values are compared with fixed values and
//! patterns.

use serde_json::Value;

/// One repetition of an element in the instance.
#[derive(Debug, Clone)]
pub struct Item<'v> {
    /// The value.
    pub value: &'v Value,
    /// Its JSON Pointer.
    pub pointer: String,
    /// Its type code, when known (a choice's suffix, the element's only type).
    pub type_code: Option<String>,
}

/// Where in the definitions an element is: its path from the resource root
/// (`Patient.identifier`) and from the nearest datatype (`Identifier`).
#[derive(Debug, Clone)]
pub struct Place {
    /// Path from the resource (`Patient.identifier.period`).
    pub path: String,
    /// Path from the nearest complex datatype (`Identifier.period`).
    pub type_path: String,
    /// The element's own type, when known (`string` for `Coding.display`).
    pub type_name: Option<String>,
}

impl Place {
    /// The place of a resource or datatype root.
    pub fn root(type_name: &str) -> Place {
        Place {
            path: type_name.to_string(),
            type_path: type_name.to_string(),
            type_name: Some(type_name.to_string()),
        }
    }
    /// The place of a child element.
    pub(crate) fn child(&self, name: &str) -> Place {
        Place {
            path: format!("{}.{name}", self.path),
            type_path: format!("{}.{name}", self.type_path),
            type_name: None,
        }
    }
}

/// Does an instance value equal a fixed value (numbers by value)?
pub fn fixed_equal(inst: &Value, fixed: &Value) -> bool {
    match (inst, fixed) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && b.iter()
                    .all(|(k, bv)| a.get(k).is_some_and(|av| fixed_equal(av, bv)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fixed_equal(x, y))
        }
        (a, b) => a == b,
    }
}

/// Does an instance value match a pattern (every property of the pattern present with a
/// matching value; every pattern array item matched by some instance item)?
pub fn pattern_match(inst: &Value, pat: &Value) -> bool {
    match (inst, pat) {
        (Value::Object(a), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| a.get(k).is_some_and(|av| pattern_match(av, pv))),
        (Value::Array(a), Value::Array(p)) => {
            p.iter().all(|pv| a.iter().any(|av| pattern_match(av, pv)))
        }
        (Value::Array(a), pv) => a.iter().any(|av| pattern_match(av, pv)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// A value as shown in a message: compact JSON, truncated, NHS-number-shaped runs masked.
pub(crate) fn shown(v: &Value) -> String {
    crate::validate::mask_nhs_numbers(&crate::validate::truncate(
        &v.to_string(),
        crate::validate::MAX_VALUE_CHARS,
    ))
}
