"""The shape every analysis result shares: ``to_pandas()`` for numbers, a tidy HTML view for notebooks.

Numbers are kept at full precision; rounding happens only in the display.
"""
from __future__ import annotations

import html

import pandas as pd


def display_frame(frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """A copy rounded for display (floats to ``digits`` significant places)."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:.{digits}g}")
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


class Result:
    """Base class: subclasses implement ``to_pandas``; may set ``title`` and ``notes``."""

    title: str | None = None
    digits = 4

    def to_pandas(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def notes(self) -> list[str]:
        return []

    def display(self) -> pd.DataFrame:
        """The table as analysts read it; subclasses may format columns (e.g. ROAS as '3.5:1')."""
        return self.to_pandas()

    def _repr_html_(self) -> str:
        return frame_html(self.display(), self.title, self.digits, self.notes)

    def __repr__(self) -> str:
        head = f"{self.title}\n" if self.title else ""
        return head + display_frame(self.display(), self.digits).to_string(index=False)
