#!/usr/bin/env bash
# Throughput of migx validation: builds a ~1.8 MB migx-shaped bundle (pretty JSON, as convert
# writes it) and times parse+validate per profile on one core, next to parse alone.
# Usage: bash benches/validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --lib validate::tests::validate_throughput -- --ignored --nocapture 2>&1 \
  | grep -E "first call|compiling all|MB/s|test result|panicked"
