"""Channel plots, seaborn style: ``data=`` a table from kit.channel, column names, ``ax=``; return the Axes.
Money axes are labelled with ``unit`` (``params.currency.unit``: yuan, USD, ...).

Nothing here is random (no bootstrapped error bars: seaborn's are switched off; the intervals
shown are the model's own, seeded ones).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from kit import format as fmt
from kit.plotting import axes_for

MET, MISSED, NEUTRAL = "#4c9a5b", "#c8553d", "#8c8c8c"


def _rows(data: pd.DataFrame, channel: str) -> pd.DataFrame:
    """Channel rows only (drops the summary's paid / natural / total rows)."""
    return data[~data[channel].isin(["paid channels", "natural channels", "total"])]


def roas_vs_target(data: pd.DataFrame, channel: str = "channel", roas: str = "roas", target: str = "target_roas",
                   ax=None):
    """Horizontal bars of ROAS per channel, green when the target is met, red when missed; targets as ticks."""
    ax = axes_for(ax)
    rows = _rows(data, channel).dropna(subset=[roas]).reset_index(drop=True)
    y = np.arange(len(rows))
    targets = rows[target].to_numpy(dtype=float) if target in rows else np.full(len(rows), np.nan)
    colours = [NEUTRAL if np.isnan(t) else (MET if r >= t else MISSED) for r, t in zip(rows[roas], targets)]
    ax.barh(y, rows[roas], color=colours)
    ax.scatter(targets, y, marker="|", s=400, color="black", zorder=3, label="target")
    for yi, value in zip(y, rows[roas]):
        ax.annotate(fmt.roas(value), (value, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_yticks(y, rows[channel])
    ax.invert_yaxis()
    ax.set_xlabel("ROAS (GMV / spend)")
    ax.set_title("ROAS against target (green: met, red: missed)")
    ax.legend(loc="lower right")
    return ax


def attribution_comparison(data: pd.DataFrame, channel: str = "channel", model: str = "model", value: str = "share", ax=None):
    """Grouped bars: each channel's share of credit under every attribution model."""
    ax = axes_for(ax)
    sns.barplot(data=data, x=channel, y=value, hue=model, errorbar=None, ax=ax)
    ax.set_ylabel("share of attributed GMV" if value == "share" else value)
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=30)
    ax.set_title("Attribution models side by side")
    return ax


def response_curves(data: pd.DataFrame, x: str = "weekly_spend", y: str = "gmv", hue: str = "channel",
                    current: str = "current", band: tuple[str, str] | None = ("gmv_ci_low", "gmv_ci_high"), ax=None,
                    unit: str = "yuan"):
    """Steady-state weekly GMV against weekly spend per channel, with its interval and the current spend marked."""
    ax = axes_for(ax)
    palette = sns.color_palette(n_colors=data[hue].nunique())
    for colour, (name, curve) in zip(palette, data.groupby(hue, sort=False)):
        ax.plot(curve[x], curve[y], color=colour, label=name)
        if band is not None and band[0] in curve and band[1] in curve:
            ax.fill_between(curve[x], curve[band[0]], curve[band[1]], color=colour, alpha=0.15, linewidth=0)
        now = curve[curve[current]]
        ax.scatter(now[x], now[y], color=colour, edgecolor="black", zorder=3, s=40)
    ax.set_xlabel(f"weekly spend ({unit})")
    ax.set_ylabel(f"weekly GMV from the channel ({unit})")
    ax.set_title("Response curves (dots: current spend)")
    ax.legend(fontsize=8)
    return ax


def reallocation(data: pd.DataFrame, channel: str = "channel", current: str = "current_spend", proposed: str = "proposed_spend",
                 ax=None, unit: str = "yuan"):
    """Paired bars of current and proposed spend per channel."""
    ax = axes_for(ax)
    rows = _rows(data, channel)
    long = rows.melt(id_vars=[channel], value_vars=[current, proposed], var_name="plan", value_name="spend")
    long["plan"] = long["plan"].map({current: "current", proposed: "proposed"})
    sns.barplot(data=long, x=channel, y="spend", hue="plan", errorbar=None, ax=ax)
    ax.set_ylabel(f"spend in the period ({unit})")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=30)
    ax.set_title("Budget: current vs proposed (equal marginal ROAS within bounds)")
    return ax


def model_fit(data: pd.DataFrame, x: str = "week", actual: str = "actual", fitted: str = "fitted", base: str | None = "base",
              ax=None, unit: str = "yuan"):
    """Weekly GMV: actual, the model's fit and its base (GMV without paid media)."""
    ax = axes_for(ax)
    ax.plot(data[x], data[actual], color="black", linewidth=1, label="actual")
    ax.plot(data[x], data[fitted], color="#1f77b4", label="model")
    if base is not None and base in data:
        ax.plot(data[x], data[base], color="#8c8c8c", linestyle="--", label="base (no paid media)")
    ax.set_ylabel(f"weekly GMV ({unit})")
    ax.set_title("Response model fit")
    ax.legend(fontsize=8)
    return ax
