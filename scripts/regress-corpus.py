#!/usr/bin/env python3
"""Rebuild the regression corpus for the new extraction formats (issue 19, ADR 0027).

usage: regress-corpus.py MIRRORS OUT [FORMAT,FORMAT...]

MIRRORS holds one bare git directory per upstream repository, named `owner+name/repo`
(a `git clone --mirror` of each repository in scripts/regress-corpus.tsv). OUT receives
two corpora in ../shared/corpus's layout, `dev/` and `holdout/` (each with files/,
expected/ and manifest.tsv), scored with ../shared/corpus/score.py. The split is fixed in
the TSV: 40% of every format, chosen by a hash of the file name before any file was opened.
Do not look at the held-out files or their scores while fixing extractors. An optional third
argument limits the rebuild to some formats (e.g. `docx,xlsx`).

The split rule for batches added from the Office batch on (DOCX, PPTX, XLSX, DOC, XLS, PPT;
issue 19 parts 1 and 3, ADR 0028): within each format, sort the batch's new rows by the
sha256 hex digest of the `file` column; the first round(0.4 * n) are `holdout`, the rest
`dev`. Which upstream files make the batch was also fixed by name alone: every file of the
format under the suites' test folders (Apache POI `test-data/`, python-docx, python-pptx,
calamine `tests/`, markitdown), minus names that say fuzzing or crash cases and files over
3 MB, sorted by sha256 of `select:OWNER/NAME:PATH`, the first 36.

References come from Apache Tika through the `iscc-tika` wheel (pip install iscc-tika),
an extractor independent of ours. The documents stay outside the repository; every row
names its upstream commit, path and licence (all permissive).
"""
import csv, os, subprocess, sys

def main(mirrors, out, formats=None):
    import iscc_tika
    tika = iscc_tika.Extractor()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "regress-corpus.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    manifests = {}
    for split in ("dev", "holdout"):
        for sub in ("files", "expected"):
            os.makedirs(os.path.join(out, split, sub), exist_ok=True)
        manifests[split] = []
    if formats:
        rows = [r for r in rows if r["format"] in formats]
    for r in rows:
        git_dir = os.path.join(mirrors, r["upstream_repo"].replace("/", "+"), "repo")
        data = subprocess.run(
            ["git", "--git-dir", git_dir, "show", f"{r['upstream_commit']}:{r['upstream_path']}"],
            check=True, capture_output=True).stdout
        root = os.path.join(out, r["split"])
        path = os.path.join(root, "files", r["file"])
        with open(path, "wb") as f:
            f.write(data)
        status, note = "ok", ""
        try:
            text, _meta = tika.extract_file_to_string(path)
            if not text.strip():
                status = "empty"
        except Exception as e:  # Tika's own failure: recorded, not scored.
            msg = str(e).lower()
            status = "encrypted" if ("encrypt" in msg or "password" in msg) else "reference_failed"
            note, text = str(e).splitlines()[0][:120] if str(e) else "", ""
        with open(os.path.join(root, "expected", r["file"] + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
        manifests[r["split"]].append([r["file"], r["format"], status, "Apache Tika (iscc-tika)",
                                      r["upstream_repo"], r["upstream_commit"], r["upstream_path"],
                                      r["license"], note.replace("\t", " ")])
    for split, entries in manifests.items():
        with open(os.path.join(out, split, "manifest.tsv"), "w", encoding="utf-8") as f:
            f.write("file\tformat\treference_status\treference_tool\tupstream_repo\t"
                    "upstream_commit\tupstream_path\tlicense\tnote\n")
            for e in entries:
                f.write("\t".join(e) + "\n")
        print(f"{split}: {len(entries)} files")

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], set(sys.argv[3].split(",")) if len(sys.argv) == 4 else None)
