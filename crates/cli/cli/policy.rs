//! `migx policy`: show, template and check a sharing policy.

use crate::policy::Policy;
use std::io::Write;

use super::flags::PolicyCommand;
use super::{exit, fail};

/// `migx policy show|template|check`.
pub(super) fn run(p: &PolicyCommand) -> i32 {
    match p {
        PolicyCommand::Show { policy } => {
            let pol = match policy {
                Some(f) => Policy::from_file(f),
                None => Policy::embedded_default(),
            };
            match pol {
                Ok(p) => {
                    say!("{}", p.show_json());
                    exit::OK
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        PolicyCommand::Template => match crate::policy::config::policy_template() {
            Ok(t) => {
                let _ = writeln!(std::io::stdout(), "{t}");
                exit::OK
            }
            Err(e) => fail(&e),
        },
        PolicyCommand::Check { file } => match Policy::check_file(file) {
            Ok(p) => {
                say!(
                    "{}: ok (policy {} {}, sha256 {})",
                    file.display(),
                    p.name(),
                    p.version(),
                    p.sha256()
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("migx: {}: {e}", file.display());
                exit::REJECTED
            }
        },
    }
}
