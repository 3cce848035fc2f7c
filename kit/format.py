"""Numbers as people read them, written once for every analysis (display only: results keep full precision).

Every function takes a number (None and NaN print as "–") and returns a string. Money takes the
currency symbol as an argument (``symbol="¥"`` by default), so a project in another currency
passes its own; amounts in words take the currency's word (``unit="yuan"`` by default, else
``Params.currency.unit``: "12,345 USD").
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

MISSING = "–"
YUAN = "¥"
UNIT = "yuan"  # the word after amounts when no params say otherwise (the sample is in CNY)


def _missing(value) -> bool:
    try:
        return value is None or not np.isfinite(value)
    except TypeError:
        return pd.isna(value)


def _no_negative_zero(value: float, digits: int) -> float:
    """-0.04 shown with one digit is "-0.0"; say "+0.0" instead."""
    return 0.0 if round(value, digits) == 0 else value


def percent(value: float, digits: int = 1, *, signed: bool = False) -> str:
    """A share or rate as a percentage: 0.123 -> "12.3%"; ``signed`` for a change: "+12.3%"."""
    if _missing(value):
        return MISSING
    if signed:
        return f"{_no_negative_zero(value * 100, digits):+.{digits}f}%"
    return f"{value:.{digits}%}"


def points(value: float, digits: int = 1) -> str:
    """A difference of two rates in percentage points: 0.012 -> "+1.2 pp"."""
    if _missing(value):
        return MISSING
    return f"{_no_negative_zero(value * 100, digits):+.{digits}f} pp"


def significant(value: float, digits: int = 4) -> str:
    """``digits`` significant digits with thousands separators: 3751863.2 → "3,752,000", 0.0123456 → "0.01235"."""
    if _missing(value):
        return MISSING
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{round(value, digits - 1 - magnitude):,.0f}"
    return f"{value:.{digits}g}"


# Ends of bootstrap percentile intervals show 2 significant digits: 200 draws pin a 2.5% percentile
# only to a few percent of the interval, and a draw whose refit is ill-determined (a channel in the
# straight part of its response curve, where only beta / half-saturation is identified) ends a little
# elsewhere on another CPU (1e-4 of the interval end, measured); a third digit would show that noise.
INTERVAL_DIGITS = 2


def round_significant(values, digits: int = INTERVAL_DIGITS) -> np.ndarray:
    """Numbers rounded to ``digits`` significant digits (as numbers, for a table shown with more)."""
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(v)))
    scale = 10.0 ** (digits - 1 - np.where(np.isfinite(magnitude), magnitude, 0))
    return np.round(v * scale) / scale


def interval(low: float, high: float, *, signed: bool = False) -> str:
    """A bootstrap interval for reading, its ends to ``INTERVAL_DIGITS``: "-65,000 to +270,000"."""
    def end(value):
        shown = significant(value, INTERVAL_DIGITS)
        return f"+{shown}" if signed and not _missing(value) and value > 0 else shown
    return f"{end(low)} to {end(high)}"


def figure(value: float, digits: int = 4) -> str:
    """An amount for a table cell, to ``digits`` significant digits but never below whole units: 3,752,000; 7,465; 283."""
    if _missing(value) or abs(value) >= 10 ** (digits - 1):
        return significant(value, digits)
    shown = f"{value:,.0f}"
    return "0" if shown == "-0" else shown


def money(value: float, symbol: str = YUAN) -> str:
    """Money for tiles and findings, short, in the currency of ``symbol``: ¥1.86B, $420.3M, -¥12,345, ¥283.4."""
    if _missing(value):
        return MISSING
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    if magnitude >= 1e9:
        return f"{sign}{symbol}{magnitude / 1e9:.2f}B"
    if magnitude >= 1e6:
        return f"{sign}{symbol}{magnitude / 1e6:.1f}M"
    if magnitude >= 1000:
        return f"{sign}{symbol}{magnitude:,.0f}"
    return f"{sign}{symbol}{magnitude:,.1f}"


def money_unit(frame) -> str:
    """The currency word a kit table carries from its params (``attrs["money_unit"]``: yuan, USD, ...).

    Tables built without params (a user's own pandas frame) read as yuan, the sample's currency."""
    return getattr(frame, "attrs", {}).get("money_unit", UNIT)


def in_unit(value: float, unit: str = UNIT, signed: bool = False) -> str:
    """A whole amount followed by the currency's word: 12,345 yuan, +1,200 USD (``Currency.unit``)."""
    return f"{amount(value, signed)} {unit}"


def amount(value: float, signed: bool = False) -> str:
    """A whole amount with thousands separators: 1234567.8 -> "1,234,568" ("+1,234,568" signed)."""
    if _missing(value):
        return MISSING
    return f"{value:+,.0f}" if signed else f"{value:,.0f}"


def roas(value: float, digits: int = 1) -> str:
    """ROAS the way the reviews write ROI: 3.5 -> "3.5:1"."""
    if _missing(value):
        return MISSING
    return f"{value:.{digits}f}:1"


def duration(seconds: float) -> str:
    """``245.8`` -> ``"4 min 6 s"``: durations the way an analyst reads them."""
    if _missing(seconds):
        return MISSING
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def plural(count: int, word: str, many: str | None = None) -> str:
    """The word for ``count`` of it: plural(1, "arm") -> "arm", plural(3, "arm") -> "arms"."""
    return word if count == 1 else (many if many is not None else word + "s")


def listing(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"; "none" for no items."""
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def money_frame(frame: pd.DataFrame, percent: Iterable[str] = (), plain: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of a money table for display: amounts to 4 significant digits (3,752,000), ``percent``
    columns as +12.3%, ``plain`` columns and p-values to 3 significant digits."""
    shown = frame.copy()
    percent, plain = set(percent), set(plain)
    for column in shown.columns:
        if not pd.api.types.is_float_dtype(shown[column]):
            continue
        if column in percent:
            shown[column] = shown[column].map(lambda v: MISSING if pd.isna(v) else f"{v:+.1%}")
        elif column in plain or column == "pvalue":
            shown[column] = shown[column].map(lambda v: significant(v, 3))
        else:
            shown[column] = shown[column].map(figure)
    return shown


def money_html(frame: pd.DataFrame, title: str | None = None, notes: list[str] | None = None,
               percent: Iterable[str] = (), plain: Iterable[str] = ()) -> str:
    """Deterministic HTML of a money table (:func:`money_frame`'s cells) under ``title``, with ``notes``."""
    from kit.results import frame_html  # kit.results formats with this module: imported here, not at the top

    return frame_html(money_frame(frame, percent=percent, plain=plain), title, notes=notes)
