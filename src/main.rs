fn main() {
    println!("migx {}", env!("CARGO_PKG_VERSION"));
}
