"""The shape every analysis result shares: ``to_pandas()`` for numbers, ``display()`` for people.

Numbers are kept at full precision in ``to_pandas()``; rounding happens only in the display. A
result class formats its table once, in ``display()``; the notebook's HTML (``_repr_html_``) and its
text (``__repr__``, what nbval compares) are both derived from that one frame, so they show the same
digits — a few significant ones, never the last bits of a float.
"""
from __future__ import annotations

import html

import pandas as pd

from kit.format import money_unit, significant

__all__ = ["Result", "Table", "display_frame", "frame_html", "frame_text", "money_unit"]


def display_frame(frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """A copy for display: floats to ``digits`` significant digits, large integers with thousands separators."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_float_dtype(values):
            shown[column] = values.map(lambda v: significant(v, digits))
        elif pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            if (values.abs() >= 10_000).any():  # counts, not years or step numbers
                shown[column] = values.map(lambda v: f"{v:,}")
        elif values.dtype == object:  # mixed cells (a diagnostics table): format the floats among them
            shown[column] = values.map(lambda v: significant(v, digits) if isinstance(v, float) else v)
    return shown


def frame_html(frame: pd.DataFrame, title: str | None = None, digits: int = 4, notes: list[str] | None = None) -> str:
    """Deterministic HTML (no random ids, so notebook outputs compare equal across runs)."""
    parts = []
    if title:
        parts.append(f"<h4>{html.escape(title)}</h4>")
    parts.append(display_frame(frame, digits).to_html(index=False, border=0, classes="kit-table"))
    for note in notes or []:
        parts.append(f"<p class='kit-note'>{html.escape(note)}</p>")
    return "\n".join(parts)


def frame_text(frame: pd.DataFrame, title: str | None = None, digits: int = 4, notes: list[str] | None = None) -> str:
    """The text twin of :func:`frame_html`: the same title, cells and notes, as plain text."""
    parts = [title] if title else []
    parts.append(display_frame(frame, digits).to_string(index=False))
    parts.extend(notes or [])
    return "\n".join(parts)


class Result:
    """Base class: subclasses implement ``to_pandas``, may override ``display``, set ``title`` and ``notes``."""

    title: str | None = None
    digits = 4

    def to_pandas(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def notes(self) -> list[str]:
        """Lines shown under the table (caveats, what the intervals are)."""
        return []

    def display(self) -> pd.DataFrame:
        """The table as analysts read it; subclasses format columns (ROAS as '3.5:1', yuan, percents).

        Float columns left unformatted are shown to ``digits`` significant digits."""
        return self.to_pandas()

    def _repr_html_(self) -> str:
        return frame_html(self.display(), self.title, self.digits, self.notes)

    def __repr__(self) -> str:
        return frame_text(self.display(), self.title, self.digits, self.notes)


class Table(Result):
    """Any frame shown the way results are (rounded, with a title): for a table a notebook displays directly."""

    def __init__(self, frame: pd.DataFrame, title: str | None = None, digits: int = 4):
        self.frame, self.title, self.digits = frame, title, digits

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()
