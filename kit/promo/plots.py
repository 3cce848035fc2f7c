"""Plots of a promotion's lift, seaborn style: ``data=``, column names, ``ax``/``axes``; they return the Axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kit.plotting import axes_for


def plot_lift(data: pd.DataFrame, date: str = "date", actual: str = "actual", predicted: str = "predicted",
              lower: str = "lower", upper: str = "upper", effect: str = "effect", effect_low: str = "effect_low",
              effect_high: str = "effect_high", cumulative: str = "cum_effect", cum_low: str = "cum_low",
              cum_high: str = "cum_high", period: str = "period", show_pre_days: int | None = 56,
              axes=None, title: str | None = None, unit: str = "yuan"):
    """The three panels of a lift analysis: actual vs counterfactual, pointwise effect, cumulative effect.

    ``data`` is ``LiftResult.daily``; ``show_pre_days`` limits the pre-period shown (None = all);
    ``unit`` names the money on the axis (``params.currency.unit``).
    Returns the array of three Axes.
    """
    frame = data.copy()
    if show_pre_days is not None and period in frame:
        first = np.flatnonzero(frame[period].to_numpy() != "pre")
        begin = max(0, (first[0] if first.size else len(frame)) - show_pre_days)
        frame = frame.iloc[begin:]
    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    x = pd.to_datetime(frame[date])
    top, middle, bottom = axes
    top.plot(x, frame[actual], color="black", lw=1.2, label="actual")
    top.plot(x, frame[predicted], color="tab:blue", ls="--", lw=1.2, label="counterfactual")
    top.fill_between(x, frame[lower], frame[upper], color="tab:blue", alpha=0.2, lw=0)
    top.set_ylabel(f"{unit} / day")
    top.legend(loc="upper left", frameon=False)
    middle.plot(x, frame[effect], color="tab:blue", lw=1.2)
    middle.fill_between(x, frame[effect_low], frame[effect_high], color="tab:blue", alpha=0.2, lw=0)
    middle.axhline(0, color="grey", lw=0.8)
    middle.set_ylabel("pointwise effect")
    bottom.plot(x, frame[cumulative], color="tab:blue", lw=1.2)
    bottom.fill_between(x, frame[cum_low], frame[cum_high], color="tab:blue", alpha=0.2, lw=0)
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_ylabel("cumulative effect")
    if period in frame:
        for ax in axes:
            for name, shade in (("gap", "0.93"), ("during", "#fde9c9")):
                days = x[frame[period].to_numpy() == name]
                if len(days):
                    ax.axvspan(days.min(), days.max() + pd.Timedelta(days=1), color=shade, zorder=0, lw=0)
    if title:
        top.set_title(title)
    bottom.figure.autofmt_xdate()
    return axes


def plot_incremental(data: pd.DataFrame, x: str = "part", y: str = "effect", low: str = "ci_low", high: str = "ci_high",
                     ax=None, title: str | None = None, unit: str = "yuan"):
    """Bars of incremental GMV with interval whiskers (e.g. ``StoreImpact.to_pandas()``), money in ``unit``.
    Returns the Axes."""
    ax = axes_for(ax, 7, 3)
    values = data[y].to_numpy(dtype=float)
    errors = np.vstack([values - data[low].to_numpy(dtype=float), data[high].to_numpy(dtype=float) - values])
    colors = ["tab:green" if v >= 0 else "tab:red" for v in values]
    ax.bar(data[x].astype(str), values, color=colors, yerr=errors, capsize=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel(f"incremental GMV ({unit})")
    if title:
        ax.set_title(title)
    return ax
