"""Plots of the customer analyses (seaborn style: ``data=``, column names, ``ax=``, return the Axes)."""
from __future__ import annotations

from kit.plotting import axes_for


def plot_cohorts(data, value: str = "share", max_months: int = 12, ax=None):
    """Heat map of first-order cohorts (rows) × months since the first order (columns, from 1)."""
    import seaborn as sns

    wide = data[(data["months_since_first"] >= 1) & (data["months_since_first"] <= max_months)].pivot(
        index="cohort", columns="months_since_first", values=value)
    ax = axes_for(ax, 10, 0.3 * len(wide) + 1.5)
    sns.heatmap(wide, ax=ax, cmap="viridis", annot=True, fmt=".0%" if value == "share" else ".0f",
                annot_kws={"size": 7}, cbar_kws={"label": value})
    ax.set_xlabel("months since the first order")
    ax.set_ylabel("first-order month")
    return ax


def plot_holdout(data, ax=None):
    """Mean purchases in the holdout period by calibration frequency: actual against the model's."""
    ax = axes_for(ax, 6, 3.5)
    ax.plot(data["frequency_group"], data["actual"], marker="o", label="actual")
    ax.plot(data["frequency_group"], data["predicted"], marker="s", linestyle="--", label="BG/NBD")
    ax.set_xlabel("repeat purchases in calibration (last = or more)")
    ax.set_ylabel("mean purchases in the holdout")
    ax.legend()
    return ax
