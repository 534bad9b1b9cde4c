#!/usr/bin/env python3
"""Rebuild the regression corpus for the new extraction formats (issue 19, ADR 0027).

usage: regress-corpus.py MIRRORS OUT

MIRRORS holds one bare git directory per upstream repository, named `owner+name/repo`
(a `git clone --mirror` of each repository in scripts/regress-corpus.tsv). OUT receives
two corpora in ../shared/corpus's layout, `dev/` and `holdout/` (each with files/,
expected/ and manifest.tsv), scored with ../shared/corpus/score.py. The split is fixed in
the TSV: 40% of every format, chosen by a hash of the file name before any file was opened.
Do not look at the held-out files or their scores while fixing extractors.

References come from Apache Tika through the `iscc-tika` wheel (pip install iscc-tika),
an extractor independent of ours. The documents stay outside the repository; every row
names its upstream commit, path and licence (all permissive).
"""
import csv, os, subprocess, sys

def main(mirrors, out):
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
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
