"""Plots for experiments, seaborn-style: ``data=``, column names, ``ax=None``; each returns the Axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

SIGNIFICANT, PLAIN = "#c0392b", "#5d6d7e"


def _axes(ax, height: float):
    if ax is None:
        _, ax = plt.subplots(figsize=(7, height))
    return ax


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
    ax = _axes(ax, max(2.5, 0.25 * len(data) + 1))
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
    ax = _axes(ax, 3.0)
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
