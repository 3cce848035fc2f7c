"""``kit validate [SOURCE]``: check every table of a source against the data contract."""
from __future__ import annotations

import argparse

from kit.contract import ContractError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kit validate``."""
    parser.add_argument("source", nargs="?", default=None,
                        help="folder of Parquet/CSV, DuckDB file or Ibis URL (default: the sample data)")


def run(args: argparse.Namespace) -> int:
    """Run ``kit validate``; returns the exit status."""
    from kit.source import connect

    source = connect(args.source, reuse_checks=False)  # validating means checking, whatever passed before
    try:
        counts = source.check()
    except ContractError as error:
        print(error)
        return 1
    for name, rows in counts.items():
        print(f"{name:<12} {rows:>12,} rows  ok")
    return 0
