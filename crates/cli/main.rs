//! `migx`: the command line. It parses arguments (clap), maps them onto the library's types
//! and prints; all behaviour lives in the `migx` library, which knows nothing of clap.

// The library's modules, named `crate::...` in the command line's code.
use migx::{
    access, batch, codes, consent, ehr, output, pipeline, policy, run_report, rundir, summary,
};

mod cli;

fn main() {
    std::process::exit(cli::main());
}
