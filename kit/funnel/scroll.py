"""Detail-page scroll exits: how far down the detail page views get, and where they leave.

A *view* opens with a ``pdp_view`` event and owns the ``pdp_scroll`` events of the same session
that follow it, up to the next ``pdp_view`` of that session (events at the same time: the view
first, so a new view takes the scrolls logged with it). A view's depth is the deepest ``screen``
among its events (a ``pdp_view`` without a screen counts as screen 1). Then, for each screen k:

- ``reach`` = views whose depth ≥ k / all views;
- ``exits`` = views whose depth is exactly k (they left at screen k);
- ``exit_rate`` = exits / views reaching k (of those who saw screen k, the share who left there —
  "60% leave at the 3rd screen");
- ``exit_share`` = exits / all views.

The worst screen is the one with the largest exit rate among the screens that have a next screen
(on the deepest screen every view leaves, by definition). Views are numbered in the engine with a
window function; only counts per (segment, depth) reach pandas.
"""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from kit.funnel._input import as_list, require_columns
from kit.inputs import as_table, check_alpha, period_bounds
from kit.results import Result
from kit.stats import wilson_interval


class ScrollExits(Result):
    """Reach and exit rate per detail-page screen (per segment if ``by`` was given)."""

    digits = 4

    def __init__(self, table: pd.DataFrame, by: list[str], orphan_scrolls: int, alpha: float, quarter=None):
        self._table, self.by, self.orphan_scrolls, self.alpha = table, by, orphan_scrolls, alpha
        self.quarter = None if quarter is None else str(quarter)

    def to_pandas(self) -> pd.DataFrame:
        """Columns: (segments), screen, views, reaching, reach (+ interval), exits, exit_rate (+ interval), exit_share."""
        return self._table.copy()

    @property
    def views(self) -> int:
        first = self._table[self._table["screen"] == 1]
        return int(first["views"].sum())

    def overall(self) -> "ScrollExits":
        if not self.by:
            return self
        counts = self._table.groupby("screen", as_index=False)[["reaching", "exits"]].sum()
        return ScrollExits(_rates(counts, [], self.alpha), [], self.orphan_scrolls, self.alpha, self.quarter)

    def worst(self) -> pd.Series:
        """The screen (over all segments) with the largest exit rate among screens that have a next screen."""
        table = self.overall().to_pandas()
        candidates = table[table["screen"] < table["screen"].max()]
        if candidates.empty:
            raise ValueError("no detail-page view went past one screen, so there is no exit screen to name")
        worst = candidates.sort_values(["exit_rate", "screen"], ascending=[False, True], kind="mergesort").iloc[0]
        return worst

    @property
    def worst_screen(self) -> int | None:
        """The screen :meth:`worst` names; ``None`` when no view went past one screen (no data)."""
        table = self.overall().to_pandas()
        if not (table["screen"] < table["screen"].max()).any():
            return None
        return int(self.worst()["screen"])

    @property
    def title(self) -> str:
        period = f" — {self.quarter}" if self.quarter else ""
        return f"Detail-page scroll exits{period}"

    @property
    def notes(self) -> list[str]:
        if not self.views:
            return ["No data: no detail-page views with a screen index in the period (events need pdp_view / "
                    "pdp_scroll rows and the optional column screen)."]
        notes = [f"{self.views:,} detail-page views; exit rate = views leaving at the screen / views reaching it "
                 f"(Wilson {1 - self.alpha:.0%} intervals)."]
        if self.orphan_scrolls:
            notes.append(f"{self.orphan_scrolls:,} scroll events had no detail-page view before them in their session "
                         f"and were left out.")
        return notes



def _rates(counts: pd.DataFrame, by: list[str], alpha: float) -> pd.DataFrame:
    """From (segment, screen, reaching, exits) to the full table, screens 1..deepest per segment."""
    out = counts.sort_values([*by, "screen"], kind="mergesort").reset_index(drop=True)
    views = out.groupby(by, dropna=False)["reaching"].transform("max") if by else pd.Series(out["reaching"].max(), index=out.index)
    out.insert(len(by) + 1, "views", views.astype("int64"))
    reaching, exits, n = (out[c].to_numpy(float) for c in ("reaching", "exits", "views"))
    out["reach"] = reaching / n
    out["reach_low"], out["reach_high"] = wilson_interval(reaching, n, alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["exit_rate"] = np.where(reaching > 0, exits / np.where(reaching > 0, reaching, 1), np.nan)
    out["exit_rate_low"], out["exit_rate_high"] = wilson_interval(exits, reaching, alpha)
    out["exit_share"] = exits / n
    return out[[*by, "screen", "views", "reaching", "reach", "reach_low", "reach_high", "exits",
                "exit_rate", "exit_rate_low", "exit_rate_high", "exit_share"]]


def scroll_exits(events, by=None, *, session: str = "session_id", quarter=None, alpha: float = 0.05) -> ScrollExits:
    """Reach and exit rate per detail-page screen from ``pdp_view``/``pdp_scroll`` events with ``screen``.

    ``by`` columns are read on the view's ``pdp_view`` event. ``quarter`` keeps the views that open in it.
    """

    t = as_table(events, "events")
    by = as_list(by, "by")
    needed = {"ts": "the time of each event", "event": "pdp_view / pdp_scroll", "screen": "the detail-page screen index",
              session: "views are followed within a session (parameter session)"}
    needed.update({c: "a breakdown column (parameter by)" for c in by})
    require_columns(t, needed)
    check_alpha(alpha)

    pdp = t.filter(t.event.isin(["pdp_view", "pdp_scroll"]))
    bounds = period_bounds(quarter)
    if bounds is not None:
        # Scrolls of a view opened on the period's last evening may run past midnight: keep a day more.
        pdp = pdp.filter((pdp.ts >= bounds[0]) & (pdp.ts < bounds[1] + pd.Timedelta("1D").to_pytimedelta()))
    is_view = pdp.event == "pdp_view"
    screen = ibis.ifelse(is_view, pdp.screen.fill_null(1), pdp.screen).cast("int64")
    # Views tying on (time, kind, screen) in a session are alike unless a breakdown tells them apart:
    # only then does the item break the tie. The window carries just the columns used after it.
    ties = ["sku_id"] if by and "sku_id" in t.columns else []
    pdp = pdp.filter(is_view | pdp.screen.notnull()).select(
        session, "ts", *by, *[c for c in ties if c not in by], __kind=ibis.ifelse(is_view, 0, 1), __screen=screen)
    order = ["ts", "__kind", "__screen", *ties]
    numbered = pdp.mutate(__view=(pdp.__kind == 0).sum().over(
        ibis.cumulative_window(group_by=session, order_by=order)))
    opened = numbered.__kind == 0
    # View 0 of a session holds its scrolls before any view (orphans): counted in the same query,
    # so the window above runs once.
    per_view = numbered.group_by([session, "__view"]).aggregate(
        depth=numbered.__screen.max(), __opened=numbered.ts.min(where=opened), __rows=ibis._.count(),
        **{c: numbered[c].max(where=opened) for c in by})
    orphan = per_view.__view == 0
    if bounds is not None:
        per_view = per_view.filter(orphan | ((per_view.__opened >= bounds[0]) & (per_view.__opened < bounds[1])))
    grouped = per_view.group_by([*by, "depth", per_view.__view.cast("int64").clip(upper=1).name("__is_view")]).aggregate(
        views=ibis._.count(), rows=ibis._.__rows.sum()).to_pandas()
    orphans = int(grouped.loc[grouped["__is_view"] == 0, "rows"].sum())
    counts = grouped[grouped["__is_view"] == 1].drop(columns=["__is_view", "rows"]).reset_index(drop=True)

    rows = []
    groups = counts.groupby(by, dropna=False, sort=False) if by else [((), counts)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        if group.empty:  # no views at all: an empty table (its notes say "No data")
            continue
        deepest = int(group["depth"].max())
        per_depth = group.set_index("depth")["views"].reindex(range(1, deepest + 1), fill_value=0).astype("int64")
        reaching = per_depth[::-1].cumsum()[::-1]
        for k in range(1, deepest + 1):
            rows.append({**dict(zip(by, key)), "screen": k, "reaching": int(reaching[k]), "exits": int(per_depth[k])})
    table = pd.DataFrame(rows, columns=[*by, "screen", "reaching", "exits"])
    if by:
        table = table.sort_values([*by, "screen"], na_position="last", kind="mergesort")
    return ScrollExits(_rates(table, by, alpha), by, orphans, alpha, quarter)
