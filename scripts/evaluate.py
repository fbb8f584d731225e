"""Print the quality table: `python scripts/evaluate.py [--sets DIR] [--work DIR] [--json OUT] [--tune]` (same as `semsearch eval`)."""

import sys

from semsearch.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
