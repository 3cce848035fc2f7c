"""The promotion calibration study (issue 20): kit.promo.lift on simulated two-year series with weekly and
yearly seasonality, a shared demand shock and three noisy controls (tests/promo_simulation.py), with a
+30% event followed by a -8% dip, and on the same series without the event (false positives).

    .venv/bin/python bench/bench_promo_calibration.py --series 400 --variants default before

Prints the study's table per variant (bias, RMSE, coverage and width per period, false-positive rate)
and the CPU seconds per fit. Series run in 2 worker processes; the table does not depend on that.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.promo_simulation

from tests.promo_simulation import study

# name -> lift options (smooth_controls: the controls' centred 7-day means instead of the raw ones)
VARIANTS = {
    "default": {},                                   # two years of history: yearly terms, a drift, log scale
    "before": {"yearly": 0, "trend": False, "scale": "linear"},   # the model before the study
    "linear": {"scale": "linear"},                   # yearly terms and drift on the values
    "yearly_only": {"trend": False, "scale": "linear"},
    "trend_only": {"yearly": 0, "scale": "linear"},
    "smooth7": {"smooth_controls": True},
}


def markdown(variant: str, table: pd.DataFrame, cpu: np.ndarray) -> str:
    lines = [f"**{variant}** ({table['series'].iloc[0]} series with the event, {table['null_series'].iloc[0]} "
             f"without; CPU per fit median {np.median(cpu):.2f} s, p90 {np.quantile(cpu, 0.9):.2f} s)", "",
             "| period | bias | RMSE | 95% coverage | width | false positives |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in table.itertuples():
        lines.append(f"| {row.period} | {row.bias:+.1%} | {row.rmse:.1%} | {row.coverage:.1%} | {row.width:.0%} "
                     f"| {row.false_positive:.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=600, help="series with the event")
    parser.add_argument("--nulls", type=int, default=None, help="series without it (default: half of --series)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    nulls = args.series // 2 if args.nulls is None else args.nulls
    for variant in args.variants:
        table, cpu = study(VARIANTS[variant], args.series, nulls, args.processes)
        print(markdown(variant, table, cpu), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
