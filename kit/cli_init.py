"""``kit init DIR [--source SOURCE]``: create a project for a shop's own data (see :mod:`kit.project`)."""
from __future__ import annotations

import argparse
import sys

from kit import config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("folder", metavar="DIR", help="the project folder (created if needed)")
    parser.add_argument("--source", metavar="SOURCE", default=None,
                        help="the shop's data: a folder of Parquet/CSV, a DuckDB file or an Ibis URL; "
                             "its channel columns give the channel list")
    parser.add_argument("--currency", default="CNY", metavar="CODE", help="ISO code of the money in the data (default: CNY)")
    parser.add_argument("--currency-symbol", default=None, metavar="SYMBOL",
                        help="symbol shown before amounts (default: known for CNY, USD, EUR, GBP, JPY …)")
    parser.add_argument("--timezone", default=config.DEFAULT_TIMEZONE, metavar="ZONE",
                        help=f"IANA time zone of the shop's business days (default: {config.DEFAULT_TIMEZONE})")
    parser.add_argument("--force", action="store_true", help="write params/defaults.yaml of an existing project again")


def run(args: argparse.Namespace) -> int:
    """Create the project and say what to do next."""
    from kit.params import ParamsError
    from kit.project import ProjectError, init

    try:
        project = init(args.folder, args.source, currency=args.currency, currency_symbol=args.currency_symbol,
                       timezone=args.timezone, force=args.force)
    except (ProjectError, ParamsError, FileNotFoundError) as error:
        print(f"kit init: {error}", file=sys.stderr)
        return 2
    print(f"created the kit project {project.root}:\n  {project.params_dir / 'defaults.yaml'} (edit channels: paid, "
          f"target_roas)\n  {project.reports_dir}/")
    print(f"next: cd {args.folder}; kit validate; kit report QUARTER")
    return 0
