#!/usr/bin/env bash
# migx end-to-end benchmark.
#
#   bash benches/run.sh [--total-mb N | --quick] [--seed S] [--runs R] [--keep] [--pgo]
#
# Builds release, generates a synthetic GP2GP corpus (default 500 MB; --quick = 100 MB) with
# `migx-gen`, then measures (median of R runs, default 3, warm page cache):
#   - the parsing floor: `migx-gen floor` (bare quick-xml pass, 1 thread);
#   - `migx convert --jobs 1` and `--jobs 2`: wall time and peak RSS (GNU time %M);
#   - peak RSS against the budget 64 MB + 3 x largest input file;
#   - memory flatness: convert --jobs 1 peak RSS on a 100 MB corpus vs the full corpus;
#   - the per-stage split (`cargo bench -p migx --bench stages`), each stage against the floor;
#   - `migx validate` throughput on the produced bundles.
# Missing subcommands are reported as "not available", never as a failure of the script.
# Units: 1 MB = 1,000,000 bytes (RSS too: KiB from GNU time x 1024 / 10^6).
#
# --pgo measures binaries built with profile-guided optimisation (benches/pgo.sh, trained on
# another seed's corpus and the fixtures): migx and the floor's migx-gen alike, so the ratios
# still compare like with like. The per-stage split (cargo bench) is always a plain build,
# divided by a plain floor.
set -uo pipefail

TOTAL_MB=500
SEED=42
RUNS=3
KEEP=0
PGO=0
while [ $# -gt 0 ]; do
    case "$1" in
        --total-mb) TOTAL_MB="${2:?--total-mb needs a value}"; shift 2 ;;
        --quick) TOTAL_MB=100; shift ;;
        --seed) SEED="${2:?--seed needs a value}"; shift 2 ;;
        --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --pgo) PGO=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$TOTAL_MB$RUNS" in *[!0-9]*) echo "run.sh: --total-mb/--runs must be integers" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)

# GNU time for peak RSS.
if ! /usr/bin/time -f '%e %M' true >/dev/null 2>&1; then
    echo "installing GNU time..." >&2
    { apt-get update -qq && apt-get install -y -qq time; } >/dev/null 2>&1 \
        || { echo "run.sh: cannot install GNU time (/usr/bin/time)" >&2; exit 2; }
fi

echo "building release..." >&2
cargo build --release --workspace --bins --quiet || { echo "run.sh: build failed" >&2; exit 2; }
GEN="$ROOT/target/release/migx-gen"
MIGX="${MIGX:-$ROOT/target/release/migx}"   # override to benchmark another build
BUILD="release"
if [ "$PGO" = 1 ]; then
    echo "building with profile-guided optimisation (benches/pgo.sh)..." >&2
    PGO_BIN=$(bash benches/pgo.sh) || { echo "run.sh: PGO build failed" >&2; exit 2; }
    GEN="$PGO_BIN/migx-gen"
    MIGX="$PGO_BIN/migx"
    BUILD="release + PGO (benches/pgo.sh; stages: plain release)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/migx-bench.XXXXXX") || exit 2
if [ "$KEEP" = 1 ]; then echo "keeping $TMP" >&2; else trap 'rm -rf "$TMP"' EXIT; fi

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else printf "n/a" }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
corpus_bytes() { find "$1" -maxdepth 1 -name '*.xml' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
corpus_files() { find "$1" -maxdepth 1 -name '*.xml' | wc -l; }
largest_bytes() { find "$1" -maxdepth 1 -name '*.xml' -printf '%s\n' | sort -n | tail -1; }

# measure NAME CMD...: runs CMD $RUNS times (clearing $TMP/out first), sets
# M_SECS (median wall seconds, ns clock), M_RSS (median peak RSS bytes), M_CPU (median
# user+sys CPU seconds: on a shared machine wall time includes waiting for a core), M_RC
# (last exit code).
measure() {
    local name=$1; shift
    local i t0 t1 secs=() rss=() cpu=()
    for ((i = 1; i <= RUNS; i++)); do
        rm -rf "$TMP/out"
        sync   # flush earlier writes so background writeback does not skew the timing
        t0=$(date +%s%N)
        /usr/bin/time -f '%e %M %U %S' -o "$TMP/time.txt" "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr"
        M_RC=$?
        t1=$(date +%s%N)
        secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')")
        rss+=("$(awk '{ v = $2 } END { print v * 1024 }' "$TMP/time.txt")")
        cpu+=("$(awk '{ v = $3 + $4 } END { printf "%.3f", v }' "$TMP/time.txt")")
    done
    M_CPU=$(printf '%s\n' "${cpu[@]}" | median)
    M_SECS=$(printf '%s\n' "${secs[@]}" | median)
    M_RSS=$(printf '%s\n' "${rss[@]}" | median)
}

# ---- corpus ----
CORPUS="$TMP/corpus"
echo "generating ${TOTAL_MB} MB corpus (seed $SEED)..." >&2
GEN_LINE=$("$GEN" --seed "$SEED" --out "$CORPUS" --total-mb "$TOTAL_MB") || { echo "run.sh: generator failed" >&2; exit 1; }
GEN_MBS=$(sed -n 's/.*MB\/s=\([0-9.]*\).*/\1/p' <<<"$GEN_LINE")
IN_BYTES=$(corpus_bytes "$CORPUS")
IN_FILES=$(corpus_files "$CORPUS")
BIG_BYTES=$(largest_bytes "$CORPUS")
IN_MB=$(mb "$IN_BYTES")

if [ "$TOTAL_MB" -gt 100 ]; then SMALL_MB=100; else SMALL_MB=$(( TOTAL_MB / 5 > 5 ? TOTAL_MB / 5 : 5 )); fi
SMALL="$TMP/corpus-small"
"$GEN" --seed "$SEED" --out "$SMALL" --total-mb "$SMALL_MB" >/dev/null || { echo "run.sh: generator failed" >&2; exit 1; }
SMALL_BYTES=$(corpus_bytes "$SMALL")
SMALL_BIG=$(largest_bytes "$SMALL")

# ---- floor ----
echo "floor..." >&2
"$GEN" floor "$CORPUS" >/dev/null || { echo "run.sh: floor failed" >&2; exit 1; }   # warm-up
floor_secs=()
for ((i = 1; i <= RUNS; i++)); do
    sync
    line=$("$GEN" floor "$CORPUS") || { echo "run.sh: floor failed" >&2; exit 1; }
    floor_secs+=("$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$line")")
done
FLOOR_SECS=$(printf '%s\n' "${floor_secs[@]}" | median)
# The floor's CPU time (user + sys), for a ratio that does not count waiting for a core.
measure floor "$GEN" floor "$CORPUS"; FLOOR_CPU=$M_CPU
FLOOR_MBS=$(div "$(mb "$IN_BYTES")" "$FLOOR_SECS")

# ---- convert ----
HAVE_CONVERT=0
if "$MIGX" convert --help 2>&1 | grep -q -- '--consent'; then HAVE_CONVERT=1; fi

bound() { awk -v b="$1" 'BEGIN { printf "%.1f", 64 + 3 * b / 1e6 }'; }
verdict() { awk -v r="$1" -v lim="$2" 'BEGIN { print (r / 1e6 <= lim) ? "OK" : "OVER" }'; }

# The generator writes DIR/consent.csv beside the extracts; move it out so the walk sees
# extracts only. Its requester is Y02345, permitted for the run with --permit-requester.
for c in "$CORPUS" "$SMALL"; do mv "$c/consent.csv" "$c.consent.csv" 2>/dev/null; done

convert() { # NAME CORPUS JOBS [EXTRA...]
    local name=$1 corpus=$2 jobs=$3; shift 3
    measure "$name" "$MIGX" --quiet convert "$corpus" --consent "$corpus.consent.csv" \
        --permit-requester Y02345 --without-official-refsets --out "$TMP/out" --jobs "$jobs" "$@"
}

{
echo "== migx benchmark =="
echo "date:       $(date -u +%Y-%m-%dT%H:%MZ)   cores: $(nproc)   $(rustc --version 2>/dev/null)"
echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)   seed: $SEED   runs: $RUNS (median, warm cache)"
echo "build:      $BUILD"
echo "input:      $IN_MB MB in $IN_FILES files, largest $(mb "$BIG_BYTES") MB"
echo "generator:  $GEN_MBS MB/s (migx-gen, all cores)"
echo "floor:      $FLOOR_MBS MB/s ($FLOOR_SECS s, $FLOOR_CPU CPU s, bare quick-xml pass, 1 thread)"
} | tee "$TMP/report.txt"

if [ "$HAVE_CONVERT" = 0 ]; then
    echo "convert:    not available" | tee -a "$TMP/report.txt"
    exit 0
fi

echo "convert --jobs 1..." >&2
convert c1 "$CORPUS" 1; C1_SECS=$M_SECS; C1_RSS=$M_RSS; C1_RC=$M_RC; C1_CPU=$M_CPU
cp -r "$TMP/out" "$TMP/out-keep" 2>/dev/null
echo "convert --jobs 2..." >&2
convert c2 "$CORPUS" 2; C2_SECS=$M_SECS; C2_RSS=$M_RSS; C2_RC=$M_RC; C2_CPU=$M_CPU
echo "convert --jobs 1 on ${SMALL_MB} MB..." >&2
convert cs "$SMALL" 1; CS_RSS=$M_RSS; CS_RC=$M_RC
echo "convert --jobs 2 --format ndjson..." >&2
convert cn "$CORPUS" 2 --format ndjson; CN_SECS=$M_SECS; CN_RSS=$M_RSS; CN_RC=$M_RC
STATUS=$(grep -o '"\(converted\|withheld\|rejected\)": [0-9]*' "$TMP/out-keep/summary.json" | tr -d '"' | paste -sd ' ')

C1_MBS=$(div "$IN_MB" "$C1_SECS")
C2_MBS=$(div "$IN_MB" "$C2_SECS")
LIM=$(bound "$BIG_BYTES")
SLIM=$(bound "$SMALL_BIG")
{
echo "convert -j1: $C1_MBS MB/s per core ($C1_SECS s, exit $C1_RC), peak RSS $(mb "$C1_RSS") MB"
echo "convert -j2: $C2_MBS MB/s total, $(div "$C2_MBS" 2) MB/s per core ($C2_SECS s, exit $C2_RC), peak RSS $(mb "$C2_RSS") MB"
echo "cpu time:   -j1 $C1_CPU s, -j2 $C2_CPU s user+sys: $(div "$IN_MB" "$C1_CPU") MB per CPU-second (-j1), $(div "$IN_MB" "$C2_CPU") (-j2); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ndjson -j2: $(div "$IN_MB" "$CN_SECS") MB/s total ($CN_SECS s, exit $CN_RC), peak RSS $(mb "$CN_RSS") MB"
echo "outcomes:   $STATUS"
echo "speed-up:   $(awk -v a="$C1_SECS" -v b="$C2_SECS" 'BEGIN { printf "%.2fx", a / b }') (jobs 2 vs jobs 1)"
echo "vs floor:   convert -j1 takes $(awk -v a="$C1_SECS" -v b="$FLOOR_SECS" 'BEGIN { printf "%.1fx", a / b }') the floor time ($(awk -v a="$C1_MBS" -v b="$FLOOR_MBS" 'BEGIN { printf "%.0f%%", 100 * a / b }') of floor throughput)"
echo "vs floor:   convert -j1 takes $(awk -v a="$C1_CPU" -v b="$FLOOR_CPU" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "n/a" }') the floor's CPU time (user + sys; target 3.0x)"
echo "RSS budget: 64 MB + 3 x largest input = $LIM MB: -j1 $(verdict "$C1_RSS" "$LIM"), -j2 $(verdict "$C2_RSS" "$LIM")"
echo "flatness:   -j1 peak RSS $(mb "$CS_RSS") MB on $(mb "$SMALL_BYTES") MB corpus (largest $(mb "$SMALL_BIG") MB, budget $SLIM MB, exit $CS_RC) vs $(mb "$C1_RSS") MB on $IN_MB MB corpus (largest $(mb "$BIG_BYTES") MB)"
} | tee -a "$TMP/report.txt"

# ---- stages ----
# The per-stage split of one-thread convert CPU time (crates/migx/benches/stages.rs, best of
# 3 passes over the same corpus, writes excluded), each stage also as a multiple of the
# floor's CPU time for the same number of input bytes (the stages time the files that convert).
echo "stages..." >&2
# The stages are a plain release build: with --pgo they are divided by a plain floor too.
STAGE_FLOOR_CPU=$FLOOR_CPU
if [ "$PGO" = 1 ]; then
    measure floor-plain "$ROOT/target/release/migx-gen" floor "$CORPUS"; STAGE_FLOOR_CPU=$M_CPU
    echo "stages are a plain build: against the plain floor's $STAGE_FLOOR_CPU CPU s" | tee -a "$TMP/report.txt"
fi
if STAGES=$(cargo bench -p migx --bench stages --quiet -- "$CORPUS" 2>"$TMP/stages.stderr"); then
    awk -v f="$STAGE_FLOOR_CPU" -v in_mb="$IN_MB" '
        /^stages:/ { print "stages:     " substr($0, 9); for (i = 1; i <= NF; i++) if ($(i + 1) == "MB" && $(i + 2) == "in,") st_mb = $i; next }
        $2 ~ /^[0-9.]+$/ && $3 == "s" {
            share = ($6 ~ /%$/) ? $6 : ""
            fl = (f > 0 && in_mb > 0 && st_mb > 0) ? f * st_mb / in_mb : 0
            printf "  %-10s %8.3f CPU s %9s MB/s %7s  %5.2fx floor\n", $1, $2, $4, share, (fl > 0 ? $2 / fl : 0)
        }
    ' <<<"$STAGES" | tee -a "$TMP/report.txt"
else
    echo "stages:     failed to run: $(head -c 200 "$TMP/stages.stderr")" | tee -a "$TMP/report.txt"
fi

# ---- validate ----
BUNDLES="$TMP/out-keep/bundles"
if [ -d "$BUNDLES" ] && "$MIGX" validate --help >/dev/null 2>&1 \
    && "$MIGX" validate --help 2>&1 | grep -qi 'validate'; then
    B_BYTES=$(find "$BUNDLES" -name '*.json' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    measure v "$MIGX" validate "$BUNDLES"
    if [ "$M_RC" -le 1 ]; then
        echo "validate:   $(div "$(mb "$B_BYTES")" "$M_SECS") MB/s on $(mb "$B_BYTES") MB of bundles ($M_SECS s, exit $M_RC, peak RSS $(mb "$M_RSS") MB; $(div "$(mb "$B_BYTES")" "$M_CPU") MB per CPU-second)" | tee -a "$TMP/report.txt"
    else
        echo "validate:   failed to run (exit $M_RC): $(head -c 200 "$TMP/v.stderr")" | tee -a "$TMP/report.txt"
    fi
else
    echo "validate:   not available" | tee -a "$TMP/report.txt"
fi
