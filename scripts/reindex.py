"""Rebuild the index: `python scripts/reindex.py --source PATH [--out index/]` (same as `semsearch reindex`)."""

import sys

from semsearch.cli import main

if __name__ == "__main__":
    sys.exit(main(["reindex", *sys.argv[1:]]))
