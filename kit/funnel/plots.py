"""Funnel plots, seaborn-style: ``data=`` (a result's ``to_pandas()``), column names, ``ax=None``; each returns the Axes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import PercentFormatter

from kit.plotting import axes_for

MAIN, MUTED, ALERT = "#2e86c1", "#aab7b8", "#c0392b"


def _need(data: pd.DataFrame, columns, where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{where}: data must be a pandas DataFrame (e.g. result.to_pandas()), got {type(data).__name__}")
    for column in columns:
        if column and column not in data.columns:
            raise ValueError(f"{where}: column {column!r} not in data (columns: {', '.join(map(str, data.columns))})")


def plot_funnel(data: pd.DataFrame, x: str = "conversion_from_start", y: str = "step", hue: str | None = None,
                low: str | None = "conversion_from_start_low", high: str | None = "conversion_from_start_high",
                step_rate: str | None = "conversion_from_previous", ax=None):
    """Horizontal funnel: one bar per step (per ``hue`` segment if given) of ``x``, with its interval.

    Each bar is labelled with ``x``; with ``step_rate`` (and no ``hue``) also the step conversion.
    """
    _need(data, [x, y, hue, low, high, step_rate], "plot_funnel")
    ax = axes_for(ax, 7, max(2.5, 0.45 * data[y].nunique() * (1 if hue is None else 1.6) + 1))
    order = list(dict.fromkeys(data[y]))
    sns.barplot(data=data, x=x, y=y, hue=hue, order=order, ax=ax, errorbar=None, orient="h",
                color=MAIN if hue is None else None)
    if hue is None:
        positions = np.arange(len(order))
        rows = data.set_index(y).loc[order]
        if low and high:
            # Clip at 0: at a rate of exactly 0 or 1 the interval's end can sit a rounding error inside it.
            below = np.clip((rows[x] - rows[low]).to_numpy(float), 0, None)
            above = np.clip((rows[high] - rows[x]).to_numpy(float), 0, None)
            ax.errorbar(rows[x], positions, xerr=[np.nan_to_num(below), np.nan_to_num(above)], fmt="none",
                        ecolor="black", elinewidth=1, capsize=3)
        for position, (step, row) in zip(positions, rows.iterrows()):
            label = f"{row[x]:.1%}"
            if step_rate and position > 0 and pd.notna(row[step_rate]):
                label += f"  (step {row[step_rate]:.1%})"
            ax.text(min(row[x], 1.0) + 0.01, position, label, va="center", fontsize=9)
    ax.set_xlim(0, 1.15)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel("")
    return ax


def plot_scroll_exits(data: pd.DataFrame, x: str = "screen", reach: str = "reach", exit_rate: str = "exit_rate",
                      low: str | None = "exit_rate_low", high: str | None = "exit_rate_high",
                      highlight: int | None = None, ax=None):
    """Bars: share of detail-page views reaching each screen; line: exit rate at each screen (with interval).

    ``highlight`` marks one screen (e.g. ``result.worst_screen``) in red.
    """
    _need(data, [x, reach, exit_rate, low, high], "plot_scroll_exits")
    ax = axes_for(ax, 7, 3.6)
    screens = data[x].to_numpy()
    colors = [ALERT if highlight is not None and s == highlight else MUTED for s in screens]
    ax.bar(screens, data[reach], color=colors, label="views reaching the screen")
    ax.plot(screens, data[exit_rate], color="black", marker="o", label="exit rate at the screen")
    if low and high:
        ax.fill_between(screens, data[low], data[high], color="black", alpha=0.12, linewidth=0)
    ax.set_xticks(screens)
    ax.set_xlabel("detail-page screen")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(loc="upper right", frameon=False, fontsize=9)
    return ax


def plot_change(data: pd.DataFrame, x: str = "difference", y="step", low: str = "difference_low",
                high: str = "difference_high", hue: str | None = None, ax=None):
    """Dot-and-interval plot of a change (e.g. quarter over quarter) per row; red where the interval excludes 0.

    ``y``: the label column, or a list of columns joined into one label (e.g. ``["device", "step"]``).
    ``hue``: a boolean column to colour by instead (e.g. ``significant``).
    """
    label_columns = [y] if isinstance(y, str) else list(y)
    _need(data, [x, *label_columns, low, high, hue], "plot_change")
    labels = data[label_columns].astype(str).agg(" · ".join, axis=1)
    ax = axes_for(ax, 7, max(2.2, 0.4 * len(data) + 1))
    positions = np.arange(len(data))[::-1]
    flagged = data[hue].astype(bool).to_numpy() if hue else ((data[low] > 0) | (data[high] < 0)).to_numpy()
    colors = np.where(flagged, ALERT, MUTED)
    ax.hlines(positions, data[low], data[high], colors=colors, linewidth=2)
    ax.scatter(data[x], positions, c=colors, s=24, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(positions, labels.tolist())
    ax.set_ylim(-0.7, len(data) - 0.3)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_xlabel(x.replace("_", " ") + " (percentage points)")
    return ax
