"""Plots for experiments, seaborn-style: ``data=``, column names, ``ax=None``; each returns the Axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from kit.plotting import axes_for

SIGNIFICANT, PLAIN = "#c0392b", "#5d6d7e"


def plot_forest(data: pd.DataFrame, x: str = "rel_effect", low: str = "rel_ci_low", high: str = "rel_ci_high",
                y: str = "variant", hue: str | None = "significant", reference: float = 0.0, percent: bool = True,
                ax=None):
    """Forest plot: one row per ``y`` with its estimate ``x`` and interval [``low``, ``high``].

    Rows where ``hue`` is true are drawn in red (e.g. significant after correction). ``data``:
    e.g. ``result.to_pandas()`` filtered to one metric.
    """
    for column in [x, low, high, y] + ([hue] if hue else []):
        if column not in data.columns:
            raise ValueError(f"plot_forest: column {column!r} not in data (columns: {', '.join(map(str, data.columns))})")
    ax = axes_for(ax, 7, max(2.5, 0.25 * len(data) + 1))
    positions = np.arange(len(data))[::-1]
    highlight = data[hue].astype(bool).to_numpy() if hue else np.zeros(len(data), bool)
    colors = np.where(highlight, SIGNIFICANT, PLAIN)
    ax.hlines(positions, data[low], data[high], colors=colors, linewidth=1.6)
    ax.scatter(data[x], positions, c=colors, s=18, zorder=3)
    ax.axvline(reference, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(positions, data[y].astype(str).tolist())
    ax.set_ylim(-0.7, len(data) - 0.3)
    if percent:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


def plot_srm(data: pd.DataFrame, x: str = "variant", observed: str = "share", expected: str = "expected_share", ax=None):
    """Observed share of users per arm (bars) against the planned share (markers); ``data`` = ``srm(...).to_pandas()``."""
    for column in (x, observed, expected):
        if column not in data.columns:
            raise ValueError(f"plot_srm: column {column!r} not in data (columns: {', '.join(map(str, data.columns))})")
    ax = axes_for(ax, 7, 3.0)
    positions = np.arange(len(data))
    ax.bar(positions, data[observed], color=PLAIN, label="observed")
    ax.scatter(positions, data[expected], color=SIGNIFICANT, marker="_", s=200, zorder=3, label="planned")
    ax.set_xticks(positions, data[x].astype(str).tolist(), rotation=90)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_ylabel("share of users")
    ax.legend(loc="upper right", frameon=False)
    return ax


def plot_forest_grid(data: pd.DataFrame, metrics: list[str] | None = None, metric: str = "metric", **kwargs):
    """One forest panel per metric, side by side with shared arms; returns the array of Axes."""
    if metric not in data.columns:
        raise ValueError(f"plot_forest_grid: column {metric!r} not in data")
    metrics = list(dict.fromkeys(data[metric])) if metrics is None else list(metrics)
    if not metrics:
        raise ValueError("plot_forest_grid: no metric to plot")
    rows = data[data[metric] == metrics[0]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics) + 1, max(2.5, 0.25 * len(rows) + 1)),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], metrics):
        plot_forest(data=data[data[metric] == name], ax=ax, **kwargs)
        ax.set_title(name)
        ax.set_xlabel("relative effect")
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return axes[0]


def plot_sequential(data: pd.DataFrame, x: str = "day", y: str = "rel_effect", low: str = "rel_ci_low",
                    high: str = "rel_ci_high", hue: str = "variant", fixed_low: str | None = "rel_ci_low_fixed",
                    fixed_high: str | None = "rel_ci_high_fixed", percent: bool = True, ax=None):
    """Estimate over time per ``hue`` level: always-valid band (shaded) and fixed-horizon interval (dashed).

    ``data``: e.g. ``sequential_path(...).to_pandas()`` filtered to one metric and a few arms. The
    y-axis is scaled to the last three quarters of the days (the first days' bands are drawn but run off it).
    """
    needed = [x, y, low, high, hue] + [c for c in (fixed_low, fixed_high) if c]
    for column in needed:
        if column not in data.columns:
            raise ValueError(f"plot_sequential: column {column!r} not in data (columns: {', '.join(map(str, data.columns))})")
    ax = axes_for(ax, 7, 3.5)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (level, group) in enumerate(data.groupby(hue, sort=True)):
        group = group.sort_values(x)
        color = palette[i % len(palette)]
        ax.plot(group[x], group[y], color=color, label=str(level))
        ax.fill_between(group[x], group[low], group[high], color=color, alpha=0.15, linewidth=0)
        if fixed_low and fixed_high:
            ax.plot(group[x], group[fixed_low], color=color, linestyle="--", linewidth=0.8)
            ax.plot(group[x], group[fixed_high], color=color, linestyle="--", linewidth=0.8)
    ax.axhline(0, color="black", linewidth=0.8)
    # the first days' intervals are very wide: scale the axis to the last three quarters of the days
    steps = np.sort(data[x].unique())
    later = data[data[x] >= steps[len(steps) // 4]]
    bounds = later[[c for c in (low, high, fixed_low, fixed_high, y) if c]].to_numpy(dtype=float)
    if np.isfinite(bounds).any():
        bottom, top = np.nanmin(bounds), np.nanmax(bounds)
        pad = 0.1 * (top - bottom) or 0.01
        ax.set_ylim(min(bottom, 0) - pad, max(top, 0) + pad)
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    ax.tick_params(axis="x", labelrotation=30)
    return ax
