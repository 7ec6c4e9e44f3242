#!/usr/bin/env bash
# Speed of `migx validate --package` (issue 18) on a release build, with the UK Core 2.0
# package assembled from a local copy of NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN (never
# committed: it carries no licence), over the UK Core examples and migx's own outputs of the
# fixtures (and of the shared corpus when present). Prints the machine, the commands, and
# resources per second (median of RUNS runs).
#
#   bash benches/validate_package.sh STAGING_DIR            # an unpacked checkout
#   RUNS=5 bash benches/validate_package.sh STAGING_DIR
#
# STAGING_DIR from a bare mirror:
#   git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/ukcore
set -euo pipefail
cd "$(dirname "$0")/.."
STAGING=${1:?usage: bash benches/validate_package.sh STAGING_DIR}
RUNS=${RUNS:-3}
MIGX=${MIGX:-target/release/migx}
[ -n "${MIGX_NO_BUILD:-}" ] || cargo build --release --locked --bin migx >&2
W=$(mktemp -d /tmp/migx-vpkg.XXXXXX)
trap 'rm -rf "$W"' EXIT

name=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["name"]+"#"+d["version"])' "$STAGING/package.json")
mkdir -p "$W/pkg/package"
python3 benches/fhir_xml_to_json.py "$W/pkg/package" "$STAGING"/structuredefinitions/*.xml "$STAGING"/valuesets/*.xml "$STAGING"/codesystems/*.xml 2>/dev/null
cp "$STAGING/package.json" "$W/pkg/package/"
python3 benches/fhir_xml_to_json.py "$W/examples" "$STAGING"/examples/*.xml 2>/dev/null

conv() { "$MIGX" -q convert "$@" --consent-all permit --requester Y02345 --permit-requester Y02345 --allow-test-identities --without-official-refsets >/dev/null 2>&1 || true; }
conv fixtures/extracts --out "$W/out-fix"
outputs=("$W/out-fix/bundles")
if [ -d ../shared/corpus ]; then
  conv ../shared/corpus/gp2gp-ehrextract ../shared/corpus/gpconnect-stu3 --out "$W/out-corpus"
  outputs+=("$W/out-corpus/bundles")
fi

# Median wall and CPU seconds of RUNS runs of `migx validate ARGS`.
timed() {
  local walls=() cpus=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o "$W/t" "$MIGX" validate "$@" --package "$W/pkg" --report json --report-file "$W/r.json" >/dev/null 2>&1 || true
    read -r e u s m < <(tail -n 1 "$W/t") # GNU time prefixes "Command exited with non-zero status" when files are invalid
    walls+=("$e"); cpus+=("$(python3 -c "print($u+$s)")"); rss=$m
  done
  wall=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "migx: $("$MIGX" --version) (release build $MIGX), commit $(git rev-parse --short HEAD)"
echo "package: $name from $STAGING (staging commit $(git -C "$STAGING" rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo "runs: median of $RUNS, warm page cache"
echo
printf '| input | files | resources | invalid files | errors | warnings | not evaluated | wall s | CPU s | resources/s (wall) | resources/CPU-s | peak RSS MB |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
row() {
  local label=$1; shift
  timed "$@"
  read -r files res invalid errors warnings notev < <(python3 - "$W/r.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
def resources(path):
    # A Bundle counts as itself plus every entry's resource: each is validated.
    try:
        v = json.load(open(path))
    except Exception:
        return 1
    return 1 + len(v.get("entry", [])) if v.get("resourceType") == "Bundle" else 1
print(r["files_total"], sum(resources(f["path"]) for f in r["files"]), r["files_invalid"],
      r["violations_total"], r.get("warnings_total", 0), r.get("not_evaluated_total", 0))
EOF
)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f |\n' "$label" "$files" "$res" "$invalid" "$errors" "$warnings" "$notev" "$wall" "$cpu" \
    "$(python3 -c "print($res/$wall)")" "$(python3 -c "print($res/max($cpu,1e-9))")" "$(python3 -c "print($rss/1024)")"
}
row "UK Core examples" "$W/examples"
row "migx outputs (fixtures$([ ${#outputs[@]} -gt 1 ] && echo ' + corpus'))" "${outputs[@]}"
echo
echo "commands: $MIGX validate <files> --package <UK Core package folder> --report json (wall and CPU from GNU time)"
