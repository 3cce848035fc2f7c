"""Plots draw what the tables say (bar heights, colours by target, the current-spend marker)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from kit.channel import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_roas_vs_target_colours_and_heights():
    data = pd.DataFrame({"channel": ["douyin", "xiaohongshu", "direct", "total"], "roas": [4.2, 1.8, np.nan, 3.0],
                         "target_roas": [3.5, 2.5, np.nan, np.nan]})
    ax = plots.roas_vs_target(data=data)
    bars = ax.patches
    assert [b.get_width() for b in bars] == [4.2, 1.8]
    assert matplotlib.colors.to_hex(bars[0].get_facecolor()) == plots.MET
    assert matplotlib.colors.to_hex(bars[1].get_facecolor()) == plots.MISSED
    assert [t.get_text() for t in ax.texts] == ["4.2:1", "1.8:1"]


def test_response_curves_mark_current_spend():
    curve = pd.DataFrame({"channel": "douyin", "weekly_spend": [0.0, 1.0, 2.0], "gmv": [0.0, 3.0, 5.0],
                          "gmv_ci_low": [0.0, 2.5, 4.0], "gmv_ci_high": [0.0, 3.5, 6.0], "current": [False, True, False]})
    ax = plots.response_curves(data=curve)
    assert list(ax.lines[0].get_ydata()) == [0.0, 3.0, 5.0]
    assert ax.collections[-1].get_offsets().tolist() == [[1.0, 3.0]]


def test_bar_plots_use_the_values():
    long = pd.DataFrame({"model": ["last", "last", "markov", "markov"], "channel": ["a", "b", "a", "b"], "share": [0.7, 0.3, 0.4, 0.6]})
    ax = plots.attribution_comparison(data=long)
    assert sorted(round(p.get_height(), 6) for p in ax.patches if p.get_height() > 0) == [0.3, 0.4, 0.6, 0.7]
    plan = pd.DataFrame({"channel": ["a", "b", "total"], "current_spend": [10.0, 20.0, 30.0], "proposed_spend": [13.0, 17.0, 30.0]})
    ax = plots.reallocation(data=plan)
    assert sorted(p.get_height() for p in ax.patches if p.get_height() > 0) == [10.0, 13.0, 17.0, 20.0]
    fit = pd.DataFrame({"week": pd.date_range("2025-01-06", periods=3, freq="7D"), "actual": [1.0, 2.0, 3.0],
                        "fitted": [1.1, 2.0, 2.9], "base": [0.5, 0.6, 0.7]})
    ax = plots.model_fit(data=fit)
    assert len(ax.lines) == 3
