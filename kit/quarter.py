"""Calendar quarters of local business days.

A quarter is a closed range of *local* dates: ``Quarter("2025Q4")`` runs from 2025-10-01 to
2025-12-31 in the analysts' time zone. Timestamps are bucketed into days only after conversion to
that zone (``kit.source`` does it on load), so an order paid at 2025-11-10T16:30Z belongs to
11 November in Asia/Shanghai — the first half hour of Double 11.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from functools import total_ordering
from zoneinfo import ZoneInfo

_PATTERN = re.compile(r"^(\d{4})Q([1-4])$")


@total_ordering
@dataclass(frozen=True)
class Quarter:
    """A calendar quarter such as ``Quarter("2025Q4")``; ``start`` and ``end`` are inclusive dates."""

    label: str

    def __init__(self, label: "str | Quarter"):
        if isinstance(label, Quarter):
            label = label.label
        if not isinstance(label, str):
            raise ValueError(
                f"a quarter is written like '2025Q4' (a string); got {label!r} of type {type(label).__name__}"
            )
        text = label.strip().upper()
        match = _PATTERN.match(text)
        if not match:
            raise ValueError(f"not a quarter: {label!r}; write it like '2025Q4' (year, 'Q', 1-4)")
        object.__setattr__(self, "label", text)

    @property
    def year(self) -> int:
        return int(self.label[:4])

    @property
    def number(self) -> int:
        return int(self.label[5])

    @property
    def start(self) -> _dt.date:
        return _dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> _dt.date:
        return self.next().start - _dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @classmethod
    def of(cls, day: _dt.date) -> "Quarter":
        """The quarter a local date falls in."""
        return cls(f"{day.year}Q{(day.month - 1) // 3 + 1}")

    def next(self) -> "Quarter":
        year, number = (self.year + 1, 1) if self.number == 4 else (self.year, self.number + 1)
        return Quarter(f"{year}Q{number}")

    def previous(self) -> "Quarter":
        year, number = (self.year - 1, 4) if self.number == 1 else (self.year, self.number - 1)
        return Quarter(f"{year}Q{number}")

    def year_ago(self) -> "Quarter":
        return Quarter(f"{self.year - 1}Q{self.number}")

    def __contains__(self, day: _dt.date) -> bool:
        if isinstance(day, _dt.datetime):
            raise TypeError("bucket a timestamp into a local date first (Quarter.local_date)")
        return self.start <= day <= self.end

    def local_bounds(self, timezone: str) -> tuple[_dt.datetime, _dt.datetime]:
        """The quarter as a half-open range of aware instants ``[start, end)`` in ``timezone``."""
        zone = ZoneInfo(timezone)
        start = _dt.datetime.combine(self.start, _dt.time(), tzinfo=zone)
        end = _dt.datetime.combine(self.next().start, _dt.time(), tzinfo=zone)
        return start, end

    @staticmethod
    def local_date(instant: _dt.datetime, timezone: str) -> _dt.date:
        """The local business day of an instant; a naive instant is already local."""
        if instant.tzinfo is None:
            return instant.date()
        return instant.astimezone(ZoneInfo(timezone)).date()

    def __lt__(self, other: "Quarter") -> bool:
        return (self.year, self.number) < (Quarter(other).year, Quarter(other).number)

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Quarter({self.label!r})"
