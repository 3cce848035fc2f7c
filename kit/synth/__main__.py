"""``python -m kit.synth`` = ``kit synth``."""
import argparse
import sys

from kit.synth import cli

parser = argparse.ArgumentParser(prog="python -m kit.synth", description="generate the deterministic sample data set")
cli.add_arguments(parser)
sys.exit(cli.run(parser.parse_args()))
