"""The ``kit`` command: ``kit synth``, ``kit validate``, ``kit report`` …

Each sub-command lives in its own module and registers through ``COMMANDS`` (name → module path);
a module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "init": ("kit.cli_init", "create a project for your own shop's data (its params and reports)"),
    "synth": ("kit.synth.cli", "generate the deterministic sample data set (data/sample)"),
    "validate": ("kit.cli_validate", "check a data source against the data contract"),
    "report": ("kit.report.cli", "run every notebook of a quarter into HTML reports with an index"),
    "notebooks": ("kit.report.refresh", "re-execute the committed notebooks in place (for nbval)"),
    "cdnow": ("kit.cli_cdnow", "write the CDNOW purchases (real data, from the lifetimes wheel) as a kit source"),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``kit`` argument parser with its sub-commands."""
    parser = argparse.ArgumentParser(prog="kit", description="E-commerce operations analysis kit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_path, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as error:
            if error.name and module_path.startswith(error.name):
                continue  # that part of the kit is not built yet
            raise
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``kit`` command; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["report"]:
        # The report's fork server imports the tooling (seconds) while this process imports the rest.
        from kit.report.workers import worker_context
        worker_context()
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
