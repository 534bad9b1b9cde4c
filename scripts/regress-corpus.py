#!/usr/bin/env python3
"""Rebuild the regression corpus for the new extraction formats (issue 19, ADR 0027).

usage: regress-corpus.py MIRRORS OUT [[--formats] pdf,msg,...] [--split dev|holdout]

MIRRORS holds one bare git directory per upstream repository, named `owner+name/repo`
(a `git clone --mirror` of each repository in scripts/regress-corpus.tsv). OUT receives
two corpora in ../shared/corpus's layout, `dev/` and `holdout/` (each with files/,
expected/ and manifest.tsv), scored with ../shared/corpus/score.py. The split is fixed in
the TSV: 40% of every format, chosen by a hash of the file name before any file was opened.
Do not look at the held-out files or their scores while fixing extractors.

The split rule for batches added from the Office batch on (DOCX, PPTX, XLSX, DOC, XLS, PPT;
issue 19 parts 1 and 3, ADR 0028), and for the PDF/.msg batch (ADR 0029): within each format of the batch,
sort the new files by the sha256 (hex) of their `file` name; the first round(0.4 * n) are
`holdout`, the rest `dev`. Rows of one batch are kept in a block of their own in the TSV.

Which upstream files make the Office batch was also fixed by name alone: every file of the
format under the suites' test folders (Apache POI `test-data/`, python-docx, python-pptx,
calamine `tests/`, markitdown), minus names that say fuzzing or crash cases and files over
3 MB, sorted by sha256 of `select:OWNER/NAME:PATH`, the first 36. (In practice: POI's files
under `test-data/` only, the other suites' whole repositories; "fuzzing or crash" means a
base name containing `fuzz` or `crash`.)

The second Office batch (DOCX, PPTX, PPT, XLS; the last block of the TSV) follows the same
order and takes, per format, the next 30 files after the last one the first batch took;
"over 3 MB" is over 3,000,000 bytes, and a file the mirror lists without its bytes (its
largest) counts as over. A name that an earlier row already uses gets the upstream path
(`/` as `_`) after the prefix. No file of this block has the same bytes as an earlier row's.

The second PDF batch (issue 19; not yet scored) was chosen by names and sizes alone too, before any file was
opened: (1) the pdf.js files `test/pdfs/*.pdf` (no `.link` files) not yet in the TSV, at most
3 MiB and present in the mirror, sorted by the sha256 of their `file` name (`pdfjs__NAME`, the
order the first batch followed), the first 70; (2) every PDF under pypdf's `resources/`
(BSD-3-Clause), subfolders included (`pypdf__SUB__NAME`), at most 3 MiB; a file whose bytes
(git blob id) equal an earlier row's is left out. Its split is drawn within each suite (sha256
of the `file` name, first round(0.4 * n) held out): one ranking over both suites would have
held out nearly all of pdf.js, whose names were chosen for their low hashes.

The third PDF batch (issue 19, session 13) continues the first rule of the second: the
next 70 pdf.js files `test/pdfs/*.pdf` not yet in the TSV, at most 3 MiB, present in the
mirror and with bytes no earlier row has, in the sha256 order of their `file` name; the
first round(0.4 * 70) = 28 of them held out. A fourth batch (session 13; its held-out files
scored once in session 14) takes the next 70 by the same rule, and so does a fifth
(session 14, its held-out files not yet opened; the last block of the TSV). The files of
an earlier row's bytes are compared by git blob id across every suite.

The third Office batch (session 14) takes, per format, the next 30 DOC, DOCX, PPT, PPTX,
XLS and XLSX files in the first Office batch's order, by the second Office batch's rules.
A second `.msg` batch (session 14) takes every other `.msg` of POI's `test-data` (fuzzing
and crash cases left out, at most 3 MB): 15 files, split by the sha256 of the `file` name,
the first round(0.4 * 15) = 6 held out. A second ODS batch (session 14) takes every `.ods`
of calamine's and POI's trees not yet in the TSV (the same exclusions): 16 files, split
the same way, 6 held out. A first `.eml` batch (session 14) takes every RFC 822 message
under Apache James mime4j's `core/src/test/resources/testmsgs/` (Apache-2.0; `NAME.msg`
there, `mime4j__NAME.eml` here), split the same way.

The third ODS batch and second ODP batch (issue 19; the last block of the TSV) come from
suites not used before, chosen by name, path and size alone before any file was opened:
every `.ods` and `.odp` of pyexcel-ods and pyexcel-ods3 `tests/fixtures/` (BSD-3-Clause;
commits 661d4f0b and c870ddf9), of the whole odfpy repository (Apache-2.0; f1cb77cb), of
the root folder of SheetJS `test_files` (the files its README puts under Apache-2.0;
fb4bdf01), of ODF Toolkit's `*/src/test/resources/` (tdf/odftoolkit, Apache-2.0; bfdef6ea),
and of textract's `tests/` (MIT; 5d9a380b); minus base names containing `fuzz` or `crash`, files over
3,000,000 bytes or listed without their bytes, and files whose git blob id equals an
earlier row's (every row whose mirror resolves: odfdo, calamine, POI, pdf.js) or an earlier
file's of this batch. Per format they were ranked by the sha256 of `select:OWNER/NAME:PATH`
and the first 40 kept (ODS: 40 of 100 distinct files; ODP: all 19). A file is
`PREFIX__BASENAME` (PREFIX the short repository name), or `PREFIX__PATH` (`/` as `_`) where
base names clash. Split within each format by the sha256 of the `file` name, the first
round(0.4 * n) held out: 16 of 40 ODS, 8 of 19 ODP. (pandas' `pandas/tests/io/data/excel/`
and LibreOffice core's `sc/qa`, `sd/qa` were meant too, but their snapshots exceed what can
be mirrored here. Four ODP files of Apache Tika's test documents were first listed too and
then dropped, as issue 19 leaves Tika's files out; without them the same rule holds out the
same eight ODP files.)

A sixth PDF batch (session 16; the next block of the TSV) comes from suites not used
before, of documents as people write them (government reports, forms, tables) rather than
bug reproductions, chosen by name, path and size alone before any file was opened: every
`.pdf` (any case) of jsvine/pdfplumber (MIT; 147f2c4), camelot-dev/camelot (MIT; 2b80d0b),
tabulapdf/tabula-java (MIT; 2cdf3b4) and pdfcpu/pdfcpu (Apache-2.0; 105c0c28), whole
repositories; minus base names containing `fuzz` or `crash`, files over 3,000,000 bytes or
listed without their bytes, and files whose git blob id equals an earlier row's (every row
whose mirror resolves) or an earlier file's of this batch. Ranked by the sha256 of
`select:OWNER/NAME:PATH`, the first 70 kept (of 813 candidates: 41 pdfcpu, 13 camelot, 11
tabula, 5 pdfplumber); `PREFIX__BASENAME`, or `PREFIX__PATH` where names clash; split by
the sha256 of the `file` name, the first round(0.4 * 70) = 28 held out. (py-pdf's
sample-files were left out: CC-BY-SA.) A seventh (session 16; the block after it) takes
the next 70 pdf.js files by the third batch's rule, the first 28 held out.

A first XML batch and a second EPUB batch (session 16; the last block of the TSV) were
chosen by name, path and size alone, before any file was opened. XML: every `.xml` under
feedparser's `tests/` (BSD-2-Clause; a22c5521), quick-xml's `tests/` (MIT; 6242da0d) and
xmlschema's `tests/` (MIT; 627c1795). EPUB: every `.epub` (any case) under EPUBCheck's
`src/test/`, at w3c/epubcheck (BSD-3-Clause; 82b174ec) and at the 2016 daisy/epubcheck
snapshot (MIT per its COPYING.txt; dc9637e8), and under EpubReader's
`Source/VersOne.Epub.Test/` (Unlicense; 84124237). Left out: base names containing `fuzz`
or `crash`; paths saying the case is ill-formed (containing `illformed`, `ill-formed`,
`invalid`, `malformed`, `corrupt` or `broken`, a folder named `bad`, or a base name ending
in `-error` or `-fatal`, EPUBCheck's names for invalid cases); files over 3,000,000 bytes
or listed without their bytes; and files whose git blob id equals an earlier row's or an
earlier file's of this batch. Per format the files were ranked by the sha256 of
`select:OWNER/NAME:PATH` and the first 40 kept (XML 40 of 2,243 distinct files, EPUB 40
of 57); `PREFIX__BASENAME`, or `PREFIX__PATH` (`/` as `_`) where names clash; split within
each format by the sha256 of the `file` name, the first round(0.4 * 40) = 16 held out.
(readium/go-toolkit's test books, copies of the CC-BY-SA IDPF samples, lxml's W3C C14N
vectors and ebooklib (AGPL) were not used.) Tika reads RSS and Atom with its feed parser,
which prints nothing for most of feedparser's one-element feeds: those are `empty` and
not scored.

A first plain-text batch (session 16; the block after the XML and EPUB one): every `.txt`
under golang/text's `encoding/testdata/` (BSD-3-Clause; 724af9c3): public-domain texts
(Candide, Rashomon, Sunzi, a Korean novel) in UTF-8, UTF-16LE without a BOM, UTF-32BE,
windows-1252, GB18030, GBK, HZ, Big5, EUC-JP, ISO-2022-JP, Shift_JIS and EUC-KR; 17 files,
split by the sha256 of the `file` name, the first round(0.4 * 17) = 7 held out. (charset
normalizer's samples were left out: in part CC-BY-SA.)

A reference whose characters are more than a tenth U+FFFD is `reference_failed` (the
tool misread the bytes; session 16, after the text batch's held-out files were scored
once: Tika read the UTF-16LE and UTF-32BE files byte by byte).

`--formats` (the flag may be left out) builds only the rows of the listed formats (the others are left alone; a
manifest then lists only those formats). `--split dev` builds only the dev rows (to fix
without writing the held-out files or their references to disk until the end).

References come from independent extractors: poppler's `pdftotext -enc UTF-8 FILE -`
(with poppler-data installed, for the CJK CMaps) for rows of format `pdf`, Apache Tika
through the `iscc-tika` wheel (pip install iscc-tika) for the rest. The documents stay outside the repository; every row
names its upstream commit, path and licence (all permissive).
"""
import csv, os, subprocess, sys

def pdftotext(path):
    # A decompression bomb (pdf.js' bomb_giant.pdf) keeps pdftotext busy for many minutes
    # and writes gigabytes: it gets a minute and 64 MiB of output, else it has failed.
    import resource, tempfile
    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        run = subprocess.run(["pdftotext", "-enc", "UTF-8", path, out.name],
                             capture_output=True, timeout=60, preexec_fn=cap)
        if run.returncode != 0:
            raise RuntimeError(run.stderr.decode("utf-8", "replace").strip()
                               or f"pdftotext failed ({run.returncode})")
        return open(out.name, "rb").read().decode("utf-8", "replace"), {}

def main(mirrors, out, formats=None, splits=("dev", "holdout")):
    tika = None
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "regress-corpus.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    manifests = {}
    for split in splits:
        for sub in ("files", "expected"):
            os.makedirs(os.path.join(out, split, sub), exist_ok=True)
        manifests[split] = []
    if formats:
        rows = [r for r in rows if r["format"] in formats]
    rows = [r for r in rows if r["split"] in splits]
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
        tool = "pdftotext (poppler)" if r["format"] == "pdf" else "Apache Tika (iscc-tika)"
        try:
            if r["format"] == "pdf":
                text, _meta = pdftotext(path)
            else:
                if tika is None:
                    import iscc_tika
                    tika = iscc_tika.Extractor()
                text, _meta = tika.extract_file_to_string(path)
            if not text.strip():
                status = "empty"
            # A reference of replacement characters is the tool misreading the file (Tika
            # reads UTF-16 without a BOM, and UTF-32, byte by byte): nothing to compare.
            shown = [c for c in text if not c.isspace()]
            if shown and text.count("\ufffd") > 0.1 * len(shown):
                status = "reference_failed"
                note = f"reference misread: {text.count(chr(0xFFFD)) * 100 // len(shown)}% U+FFFD"
        except Exception as e:  # Tika's own failure: recorded, not scored.
            msg = str(e).lower()
            status = "encrypted" if ("encrypt" in msg or "password" in msg) else "reference_failed"
            note, text = str(e).splitlines()[0][:120] if str(e) else "", ""
        with open(os.path.join(root, "expected", r["file"] + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
        manifests[r["split"]].append([r["file"], r["format"], status, tool,
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
    args, formats, splits = sys.argv[1:], None, ("dev", "holdout")
    if len(args) >= 2 and args[-2] == "--split":
        splits = (args[-1],)
        args = args[:-2]
    if len(args) == 4 and args[2] == "--formats":
        formats = set(args[3].split(","))
        args = args[:2]
    elif len(args) == 3:
        formats = set(args[2].split(","))
        args = args[:2]
    if len(args) != 2:
        sys.exit(__doc__)
    main(args[0], args[1], formats, splits)
