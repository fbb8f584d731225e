"""Print the quality table: `python scripts/evaluate.py [--queries F] [--similar F] [--json OUT]`."""

import sys

from semsearch.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
