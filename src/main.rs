//! `migx`: parses arguments and calls the library; all behaviour lives in `migx::`.

fn main() {
    std::process::exit(migx::cli::main());
}
