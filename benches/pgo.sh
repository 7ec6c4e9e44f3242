#!/usr/bin/env bash
# Release build of migx and migx-gen with profile-guided optimisation (PGO).
#
#   bash benches/pgo.sh [--train-mb N] [--seed S]
#
# 1. Builds instrumented release binaries (target/pgo-gen).
# 2. Runs them on a training workload: a generated corpus (default 30 MB, seed 7: not the
#    benchmark's seed 42, so the bench does not measure the files it was trained on), the
#    repository's fixtures (GP2GP extracts, GP Connect records, hostile and detail extracts),
#    `convert` with one and two jobs, NDJSON output, `validate` of the bundles written, and
#    migx-gen's bare parsing pass (the floor `benches/run.sh` divides by, trained the same way).
# 3. Merges the profiles with the toolchain's own llvm-profdata (rustup component
#    `llvm-tools`, installed if missing: a system llvm-profdata of another LLVM version
#    cannot read them).
# 4. Builds the release binaries with the profile (target/pgo/release) and prints that path.
#
# The code is the same as a plain `cargo build --release`; only the compiler's layout and
# inlining choices differ, so outputs are byte-identical (benches/README.md, "PGO").
set -euo pipefail

TRAIN_MB=30
SEED=7
while [ $# -gt 0 ]; do
    case "$1" in
        --train-mb) TRAIN_MB="${2:?--train-mb needs a value}"; shift 2 ;;
        --seed) SEED="${2:?--seed needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "pgo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$TRAIN_MB$SEED" in *[!0-9]*) echo "pgo.sh: --train-mb/--seed must be integers" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
ROOT=$(pwd)

HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
    echo "installing the toolchain's llvm-tools (for llvm-profdata)..." >&2
    rustup component add llvm-tools >&2 || { echo "pgo.sh: cannot install llvm-tools" >&2; exit 2; }
fi
[ -x "$PROFDATA" ] || { echo "pgo.sh: no llvm-profdata at $PROFDATA" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/migx-pgo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# At a fixed path: the build flags name it, and flags that change from run to run would
# make cargo rebuild everything each time.
PROFILES="$ROOT/target/pgo-profiles"
rm -rf "$PROFILES"
mkdir -p "$PROFILES"

# Separate target folders: the flags differ from a plain release build's, and sharing one
# would make each build throw away the other's artefacts.
echo "building instrumented binaries..." >&2
RUSTFLAGS="-Cprofile-generate=$PROFILES" CARGO_TARGET_DIR="$ROOT/target/pgo-gen" \
    cargo build --release --locked --workspace --bins --quiet
BIN="$ROOT/target/pgo-gen/release"

echo "training (${TRAIN_MB} MB corpus, seed $SEED, and the fixtures)..." >&2
export LLVM_PROFILE_FILE="$PROFILES/migx-%p-%m.profraw"
"$BIN/migx-gen" --seed "$SEED" --out "$WORK/corpus" --total-mb "$TRAIN_MB" >/dev/null
mv "$WORK/corpus/consent.csv" "$WORK/corpus.consent.csv"
permit=(--permit-requester Y02345 --without-official-refsets)
for jobs in 1 2; do
    "$BIN/migx" --quiet convert "$WORK/corpus" --consent "$WORK/corpus.consent.csv" "${permit[@]}" \
        --out "$WORK/out-$jobs" --jobs "$jobs"
done
"$BIN/migx" --quiet convert "$WORK/corpus" --consent "$WORK/corpus.consent.csv" "${permit[@]}" \
    --format ndjson --out "$WORK/out-ndjson" --jobs 2
"$BIN/migx" --quiet validate "$WORK/out-1/bundles" >/dev/null 2>&1 \
    || { echo "pgo.sh: the training run's bundles do not validate" >&2; exit 1; }
# The fixtures: some are rejected or withheld by design (a nonzero exit is expected).
"$BIN/migx" --quiet convert fixtures/extracts --consent fixtures/consent.csv "${permit[@]}" \
    --out "$WORK/out-fixtures" >/dev/null 2>&1 || true
n=0
for input in fixtures/gpconnect/record.json fixtures/hostile fixtures/detail/extracts; do
    [ -e "$input" ] || continue
    n=$((n + 1))
    "$BIN/migx" --quiet convert "$input" --consent-all permit --requester Y02345 "${permit[@]}" \
        --allow-test-identities --out "$WORK/out-fixtures-$n" >/dev/null 2>&1 || true
done
"$BIN/migx-gen" floor "$WORK/corpus" >/dev/null
unset LLVM_PROFILE_FILE

"$PROFDATA" merge -o "$PROFILES/merged.profdata" "$PROFILES"/*.profraw

echo "building with the profile..." >&2
RUSTFLAGS="-Cprofile-use=$PROFILES/merged.profdata" CARGO_TARGET_DIR="$ROOT/target/pgo" \
    cargo build --release --locked --workspace --bins --quiet
echo "$ROOT/target/pgo/release"
