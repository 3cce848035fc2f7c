"""``kit validate [SOURCE]``: check every table of a source against the data contract, and say
which analyses the source can feed."""
from __future__ import annotations

import argparse

from kit.contract import ContractError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("source", nargs="?", default=None,
                        help="folder of Parquet/CSV, DuckDB file or Ibis URL (default: the project's source; "
                             "without a project, the sample data)")
    parser.add_argument("--project", metavar="DIR", default=None,
                        help="the project whose params (time zone, channels) and source apply "
                             "(default: found from the current folder, else the embedded sample project)")


def run(args: argparse.Namespace) -> int:
    """Check the tables, then print per analysis whether it can run and why not."""
    from kit import analyses
    from kit import params as params_module
    from kit.project import find
    from kit.source import connect

    project = find(args.project)
    p = params_module.defaults(project=project)
    # validating means checking, whatever passed before
    source = connect(args.source, params=p, reuse_checks=False)
    print(f"project: {project.name}; source: {source.name}")
    status, counts = 0, None
    try:
        counts = source.check()
    except ContractError as error:
        print(error)
        status = 1
    else:
        for name, rows in counts.items():
            print(f"{name:<12} {rows:>12,} rows  ok")
    print_warnings(source)
    print("analyses:")
    for ready in analyses.readiness(analyses.source_columns(source), counts):
        print(f"  {ready.describe()}")
    return status


def print_warnings(source) -> None:
    """The plausibility warnings of the checked tables (not errors: the data may be right)."""
    from kit.contract import describe

    found = [w for name in source.tables() for w in source.warnings.get(name, [])]
    if found:
        print(f"{len(found)} plausibility warning{'s' if len(found) != 1 else ''} (not errors; check these values):")
        for warning in found:
            print(f"- {describe(warning)}")
