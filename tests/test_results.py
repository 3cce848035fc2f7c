"""kit.results: a result's text (what nbval compares) and its HTML show the same rounded cells, and no
result's text repr prints a frame at full precision (the promotion results included)."""
from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

import kit.promo as promo
from kit.format import figure as format_money
from kit.format import significant as format_number
from kit.promo.impact import no_substitutes
from kit.results import Table
from tests.test_promo import simulate_series

# A float printed with more digits than any display shows: 7+ significant digits after the point.
FULL_PRECISION = re.compile(r"\d\.\d{6,}|\d{7,}\.\d")


def test_number_formats():
    assert [format_number(v) for v in (3751863.2, -44766.2, 7465.3, 283.44, 0.0123456, 0.0, np.nan, None)] == [
        "3,752,000", "-44,770", "7,465", "283.4", "0.01235", "0", "–", "–"]
    assert format_number(0.123456, 3) == "0.123"
    assert [format_money(v) for v in (3751863.2, 7465.3, 283.4, -0.3, 999.6, np.nan)] == [
        "3,752,000", "7,465", "283", "0", "1,000", "–"]


def _html_cells(text: str) -> list[str]:
    return [html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", text)]


def test_text_and_html_show_the_same_cells():
    frame = pd.DataFrame({"name": ["a", "b"], "share": [0.123456789, np.nan], "users": [123_456, 7],
                          "mixed": [1.23456789, "yes"]})
    table = Table(frame, "A table", digits=3)
    cells = ["a", "0.123", "123,456", "1.23", "b", "–", "7", "yes"]
    assert _html_cells(table._repr_html_()) == cells
    text = repr(table)
    assert text.splitlines()[0] == "A table"
    assert [line.split() for line in text.splitlines()[2:]] == [cells[:4], cells[4:]]
    assert table.to_pandas()["share"].iloc[0] == 0.123456789  # the numbers stay unrounded


def test_promo_results_print_rounded_tables():
    frame = simulate_series(np.random.default_rng(3), 200)
    frame["gmv"] *= 1000  # yuan in the thousands, as the sample's: full precision would print 10+ digits
    start, end = frame["date"].iloc[170], frame["date"].iloc[176]
    lift = promo.lift(frame, start, end, controls=["c1"], post_days=7, placebos=3, n_draws=300, warn=False)
    store = no_substitutes(lift)
    roi = promo.incremental_roi(store.store_draws, 50_000.0, event_gmv=900_000.0)
    for result in (lift, lift.placebo, store, roi):
        text, page = repr(result), result._repr_html_()
        assert not FULL_PRECISION.search(text), (type(result).__name__, text)
        assert len(text) < 2_000, type(result).__name__
        for cell in _html_cells(page):  # every cell of the HTML is in the text, as printed
            assert cell in text, (type(result).__name__, cell)
    assert "+" in repr(lift) and "%" in repr(lift)  # relative effects as percents
    assert ":1" in repr(roi)

