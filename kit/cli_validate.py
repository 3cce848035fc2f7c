"""``kit validate [SOURCE]``: check every table of a source against the data contract."""
from __future__ import annotations

import argparse

from kit.contract import ContractError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", default=None,
                        help="folder of Parquet/CSV, DuckDB file or Ibis URL (default: the sample data)")


def run(args: argparse.Namespace) -> int:
    from kit.source import connect

    source = connect(args.source, reuse_checks=False)  # validating means checking, whatever passed before
    try:
        counts = source.check()
    except ContractError as error:
        print(error)
        return 1
    for name, rows in counts.items():
        print(f"{name:<12} {rows:>12,} rows  ok")
    print_warnings(source)
    return 0


def print_warnings(source) -> None:
    """The plausibility warnings of the checked tables (not errors: the data may be right)."""
    from kit.contract import describe

    found = [w for name in source.tables() for w in source.warnings.get(name, [])]
    if found:
        print(f"{len(found)} plausibility warning{'s' if len(found) != 1 else ''} (not errors; check these values):")
        for warning in found:
            print(f"- {describe(warning)}")
