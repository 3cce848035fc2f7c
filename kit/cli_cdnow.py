"""``kit cdnow FOLDER [--sample]``: write the CDNOW purchases (from the installed ``lifetimes`` wheel) as a kit source."""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("folder", help="where orders.parquet and users.parquet are written (created if needed)")
    parser.add_argument("--sample", action="store_true", help="the 1/10 sample of the customers (CDNOW_sample.txt)")


def run(args: argparse.Namespace) -> int:
    """Convert the file; print the row counts and the next steps."""
    from kit.datasets import cdnow_path, cdnow_to_folder

    try:
        path = cdnow_path(args.sample)
    except FileNotFoundError as error:
        print(f"kit cdnow: {error}", file=sys.stderr)
        return 2
    counts = cdnow_to_folder(args.folder, path=path)
    print(f"{path.name} → {args.folder}: " + ", ".join(f"{name} {rows:,} rows" for name, rows in counts.items()))
    print(f"next: kit init SHOP --source {args.folder} --currency USD --timezone America/New_York; "
          f"cd SHOP; kit validate; kit report 1998Q1")
    return 0
