"""The contract check of the sample's tables, timed as a whole process.

``python bench/bench_contract.py [TABLE ...]`` checks the named tables (default: events, the 25M
rows) of ``KIT_SAMPLE_DIR`` with ``reuse_checks=False`` and prints their row counts. Compare two
versions of the kit by running the script under each one's ``PYTHONPATH``, in A/B pairs; figures
in ``bench/results/contract.md``.
"""
from __future__ import annotations

import sys

import kit


def main(tables: list[str]) -> None:
    """Check ``tables`` of the sample and print their row counts."""
    source = kit.connect(reuse_checks=False)
    for name, rows in source.check(tables).items():
        print(f"{name} {rows:,}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["events"])
