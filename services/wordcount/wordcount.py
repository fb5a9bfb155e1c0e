#!/usr/bin/env python3
"""Counts the words of a text: an Errand command service in Python (standard library only).

Input on stdin (JSON), result on stdout (JSON), progress as JSON lines on file descriptor 3,
output files in $ERRAND_OUTPUT_DIR, failure as a non-zero exit with the reason on stderr.
"""
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

    words = re.findall(r"[\w']+", params["text"].lower())
    if not words:
        sys.exit("text has no words")  # exit status 1, the message on stderr
    report(10)
    counts = Counter(words)
    report(60)

    out_dir = os.environ.get("ERRAND_OUTPUT_DIR", ".")
    with open(os.path.join(out_dir, "counts.csv"), "w", encoding="utf-8") as f:
        f.write("word,count\n")
        for word, count in counts.most_common():
            f.write(f"{word},{count}\n")
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
