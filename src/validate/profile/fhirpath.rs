//! FHIRPath (placeholder until the evaluator lands).

use serde_json::Value;

/// Evaluate an invariant: `Ok(true)` holds, `Ok(false)` fails, `Err` not evaluated.
pub fn check(
    _expr: &str,
    _focus: &Value,
    _resource: &Value,
    _root: &Value,
) -> Result<bool, String> {
    Err("FHIRPath evaluation is not available yet".into())
}
