#!/usr/bin/env python3
"""Counts the words of a text: an Errand command service in Python (standard library only).

Input on stdin (JSON), result on stdout (JSON), progress as JSON lines on file descriptor 3,
output files in $ERRAND_OUTPUT_DIR, failure as a non-zero exit with the reason on stderr.
"""
import csv
import json
import os
import re
import sys
from collections import Counter


def progress_channel():
    """File descriptor 3 when Errand runs us; None when run by hand."""
    try:
        return os.fdopen(int(os.environ.get("ERRAND_PROGRESS_FD", "3")), "w")
    except (OSError, ValueError):
        return None


def main():
    params = json.load(sys.stdin)
    progress = progress_channel()

    def report(percent):
        if progress:
            progress.write(json.dumps({"progress": percent}) + "\n")
            progress.flush()

    # A word is a run of letters or digits, with apostrophes inside it ("don't") but not around it
    # ('quoted' counts as quoted).
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)*", params["text"].lower())
    if not words:
        sys.exit("text has no words")  # exit status 1, the message on stderr
    report(10)
    counts = Counter(words)
    report(60)

    out_dir = os.environ.get("ERRAND_OUTPUT_DIR", ".")
    with open(os.path.join(out_dir, "counts.csv"), "w", encoding="utf-8", newline="") as f:
        table = csv.writer(f, lineterminator="\n")
        table.writerow(["word", "count"])
        table.writerows(counts.most_common())
    report(100)

    top = [{"word": w, "count": c} for w, c in counts.most_common(params.get("top", 10))]
    json.dump({
        "words": len(words),
        "distinct": len(counts),
        "top": top,
        "counts": {"href": "counts.csv", "content-type": "text/csv"},
    }, sys.stdout)


if __name__ == "__main__":
    main()
