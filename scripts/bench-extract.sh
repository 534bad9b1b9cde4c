#!/usr/bin/env bash
# Extraction benchmark (issue 3): `tributary extract` over the shared corpus on one thread
# and on two (per-format pages, MB and CPU seconds come from its summary), and the corpus's
# PDFs through poppler's `pdftotext` for comparison.
#
#   ./scripts/bench-extract.sh [CORPUS_FILES_DIR]     (default: ../shared/corpus/files)
#
# Installs poppler-utils (Debian) when `pdftotext` is missing; nothing else is installed.
set -euo pipefail

cd "$(dirname "$0")/.."
files="${1:-../shared/corpus/files}"
[ -d "$files" ] || { echo "no corpus at $files" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

cargo build --release --quiet --workspace --bins
bin="$CARGO_TARGET_DIR/release/tributary"

if ! command -v pdftotext >/dev/null; then
  echo "installing poppler-utils for pdftotext" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq poppler-utils >/dev/null
  else sudo apt-get install -y -qq poppler-utils >/dev/null; fi
fi

out=$(mktemp -d)
pdfs=$(mktemp -d)
trap 'rm -rf "$out" "$pdfs"' EXIT

# Warm the page cache so both tools read from memory.
cat "$files"/* > /dev/null

for threads in 1 2; do
  echo "== tributary extract, $threads thread(s)"
  rm -rf "$out"/*
  /usr/bin/time -f "wall %e s, CPU %U+%S s, peak RSS %M KB" \
    "$bin" extract --threads "$threads" --out "$out" "$files" 2>&1 | grep -v '^$'
done

find "$files" -maxdepth 1 -name '*.pdf' | sort > "$pdfs/list"
echo "== PDFs only ($(wc -l < "$pdfs/list") files): tributary vs pdftotext, one thread each"
mkdir -p "$pdfs/in"
while read -r f; do ln -sf "$(realpath "$f")" "$pdfs/in/"; done < "$pdfs/list"
rm -rf "$out"/*
/usr/bin/time -f "tributary: wall %e s" "$bin" extract --threads 1 --out "$out" "$pdfs/in" > /dev/null
/usr/bin/time -f "pdftotext: wall %e s" sh -c '
  while read -r f; do pdftotext -q "$f" /dev/null || true; done < "$1"' _ "$pdfs/list"
