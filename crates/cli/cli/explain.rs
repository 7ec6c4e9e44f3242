//! `migx explain`: one extract's items with their category and decision, as a table or JSON.

use crate::pipeline;
use std::io::IsTerminal;

use super::flags::ExplainArgs;
use super::settings::{missing_inputs, settings_from};
use super::{exit, fail};

/// `migx explain`.
pub(super) fn run(a: &ExplainArgs) -> i32 {
    if let Some(e) = missing_inputs(std::slice::from_ref(&a.file)) {
        return fail(&e);
    }
    let settings = match settings_from(&a.policy, true) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let ex = pipeline::explain_file(&a.file, &settings);
    if a.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&ex.to_json()).unwrap_or_default()
        );
    } else {
        say_raw!(
            "{}",
            ex.to_table(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        );
    }
    if ex.status == pipeline::Status::Rejected {
        exit::REJECTED
    } else {
        exit::OK
    }
}
