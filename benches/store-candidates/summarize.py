#!/usr/bin/env python3
"""Turns results.log (RESULT key=value lines) into markdown tables of min–max over the runs."""
import collections
import sys

CONFIGS = ["redb", "redb-single", "sqlite-full", "sqlite-normal", "lmdb", "lmdb-nora"]
# (column title, phase, field)
COLUMNS = [
    ("load 1M/200k rows, 10k-row txns (s)", "Load", "load_s"),
    ("disk after load (MB)", "Du", "du_kb"),
    ("disk after commit phases (MB)", "DuAfterCommits", "du_kb"),
    ("open (ms)", "Open", "open_ms"),
    ("scan (ms)", "Scan", "scan_ms"),
    ("lookup sorted (ns)", "LookupSorted", "ns_per_lookup"),
    ("lookup random (ns)", "LookupRandom", "ns_per_lookup"),
    ("commit 10k contiguous rows + ckpt + 5 KB report (ms)", "Commit", "commit_mean_ms"),
    ("commit 10k scattered rows + ckpt + report (ms)", "CommitScattered", "commit_mean_ms"),
]
RSS_PHASES = ["Load", "Open", "Scan", "LookupSorted", "LookupRandom", "Commit", "CommitScattered", "Reader"]


def parse(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        if not line.startswith("RESULT"):
            continue
        fields = dict(f.split("=", 1) for f in line.split()[1:])
        runs[(fields["config"], int(fields["docs"]), fields["phase"])].append(fields)
    return runs


def span(values, scale=1.0, digits=None):
    if not values:
        return "–"
    nums = [float(v) / scale for v in values]
    lo, hi = min(nums), max(nums)
    if digits is None:
        digits = 0 if hi >= 100 else (1 if hi >= 1 else 2)
    fmt = f"{{:.{digits}f}}"
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"


def field(runs, key, name):
    return [r[name] for r in runs.get(key, []) if name in r]


def main(path):
    runs = parse(path)
    docs_seen = sorted({k[1] for k in runs}, reverse=True)
    for docs in docs_seen:
        print(f"\n### {docs:,} documents\n")
        print("| metric | " + " | ".join(CONFIGS) + " |")
        print("|---|" + "---|" * len(CONFIGS))
        for title, phase, name in COLUMNS:
            scale = 1024 if name == "du_kb" else 1.0
            cells = [span(field(runs, (c, docs, phase), name), scale) for c in CONFIGS]
            print(f"| {title} | " + " | ".join(cells) + " |")
        for phase in RSS_PHASES:
            cells = []
            for c in CONFIGS:
                rs = runs.get((c, docs, phase), [])
                delta = [int(r["peak_rss_kb"]) - int(r["base_rss_kb"]) for r in rs if "base_rss_kb" in r]
                cells.append(f"{span(field(runs, (c, docs, phase), 'peak_rss_kb'), 1024, 1)}"
                             f" (+{span(delta, 1024, 1)})")
            print(f"| peak RSS {phase} (MB) (+ over pre-open) | " + " | ".join(cells) + " |")
        for phase in ["Scan", "LookupRandom", "CommitScattered", "Reader"]:
            cells = [f"{span(field(runs, (c, docs, phase), 'rss_anon_kb'), 1024, 1)} / "
                     f"{span(field(runs, (c, docs, phase), 'rss_file_kb'), 1024, 1)}" for c in CONFIGS]
            print(f"| RSS at end of {phase}: anon / file-backed (MB) | " + " | ".join(cells) + " |")
        cells = []
        for c in CONFIGS:
            rs = runs.get((c, docs, "Reader"), [])
            answers = sorted({r.get("can_read", "?") for r in rs})
            cell = "/".join(answers)
            if "yes" in answers:
                cell += (f"; open {span(field(runs, (c, docs, 'Reader'), 'open_ms'))} ms"
                         f", read {span(field(runs, (c, docs, 'Reader'), 'read_mean_us'))} µs mean"
                         f" (max {span(field(runs, (c, docs, 'Reader'), 'read_max_ms'))} ms)"
                         f", sees new commits: {'/'.join(sorted({r.get('saw_new_commits') for r in rs}))}")
            else:
                errs = sorted({r.get("error", "").strip('"').replace("_", " ") for r in rs})
                cell += f" ({'; '.join(errs)})"
            cells.append(cell)
        print("| second process reads while writer commits | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results.log")
