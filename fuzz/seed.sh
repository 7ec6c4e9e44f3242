#!/bin/sh
# Seed the fuzz corpora from the repository's fixtures (copied at run time, never committed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
for t in ehr_reader convert_file; do
    mkdir -p "$here/corpus/$t"
    for f in "$root"/fixtures/extracts/*.xml "$root"/fixtures/hostile/*.xml; do
        cp "$f" "$here/corpus/$t/seed-$(basename "$f")"
    done
done
echo "seeded $(ls "$here/corpus/ehr_reader" | wc -l) files per target into $here/corpus/"
