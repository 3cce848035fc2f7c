"""A quarter's funnel review, as the notebook shows it: every result from one load, and the finding in words."""
from __future__ import annotations

from dataclasses import dataclass

import ibis

from kit import format as fmt
from kit import params as params_module
from kit.funnel._input import parse_steps
from kit.funnel.compare import QuarterComparison, SegmentComparison, compare_quarters, compare_segments
from kit.funnel.core import FunnelResult, TimeToConvert, quarter_funnels
from kit.funnel.data import attach_attributes, event_days
from kit.funnel.scroll import ScrollExits, scroll_exits
from kit.inputs import period_bounds
from kit.quarter import Quarter
from kit.results import Result

_UNIT_WORDS = {"user_id": "users", "session_id": "sessions"}


@dataclass(repr=False)
class FunnelReview(Result):
    """Everything the funnel notebook shows for a quarter; ``to_pandas()`` is the overall funnel."""

    quarter: str
    funnel: FunnelResult
    breakdowns: dict[str, tuple[FunnelResult, SegmentComparison]]
    quarter_change: QuarterComparison | None
    previous_quarter: str
    time_to_convert: TimeToConvert
    scroll_exits: ScrollExits | None
    correction: str

    @property
    def title(self) -> str:
        return f"{self.quarter} funnel"

    def to_pandas(self):
        return self.funnel.to_pandas()

    def finding(self) -> str:
        """The finding in words (Markdown), every figure computed from the results above."""
        f = self.funnel
        table = f.to_pandas()
        unit = _UNIT_WORDS.get(f.spec.unit, f"units of {f.spec.unit}")
        if not f.cohort:
            return (f"**No data**: no {unit} reached `{f.steps[0]}` in {self.quarter} (no such events in the source's "
                    f"events table), so there is no funnel to read.")
        last = table.iloc[-1]
        lines = [f"**{self.quarter} funnel** ({unit}, {f.spec.attempt} attempt): {f.cohort:,} {unit} reached "
                 f"`{f.steps[0]}`; {fmt.percent(last['conversion_from_start'])} of them reached `{f.steps[-1]}` "
                 f"(95% CI {fmt.percent(last['conversion_from_start_low'])}–{fmt.percent(last['conversion_from_start_high'])})."]
        if len(f.steps) > 1 and f.cohort:
            leak = f.biggest_leak()
            lines.append(f"- **Biggest leak:** `{leak['from_step']}` → `{leak['to_step']}`: {fmt.percent(leak['drop_off_rate'])} of "
                         f"the {leak['entered']:,} {unit} who reached `{leak['from_step']}` went no further "
                         f"(95% CI {fmt.percent(leak['drop_off_low'])}–{fmt.percent(leak['drop_off_high'])}), {leak['lost']:,} {unit} lost.")
        for name, (_, comparison) in self.breakdowns.items():
            hits = comparison.significant()
            if hits.empty:
                lines.append(f"- **By {name}:** no segment's step conversion differs significantly from the rest "
                             f"({self.correction}-adjusted).")
                continue
            if hits[name].nunique(dropna=False) == 2 and comparison.to_pandas()[name].nunique(dropna=False) == 2:
                # Two segments: each is "the rest" of the other, so one side says it all.
                hits = hits[hits[name] == hits[name].iloc[0]]
            shown = []
            for row in hits.head(3).itertuples():
                shown.append(f"{getattr(row, name)} at `{row.step}` {fmt.percent(row.conversion)} vs {fmt.percent(row.rest_conversion)} "
                             f"for the rest ({fmt.points(row.difference)})")
            more = f"; {len(hits) - 3} more in the table" if len(hits) > 3 else ""
            lines.append(f"- **By {name}** ({len(hits)} significant, {self.correction}-adjusted): "
                         + "; ".join(shown) + more + ".")
        if self.quarter_change is None:
            lines.append(f"- **Quarter over quarter:** no events in {self.previous_quarter} to compare against.")
        else:
            change = self.quarter_change.to_pandas()
            steps = change[change["measure"] == "from_previous"]
            moved = steps[(steps["difference_low"] > 0) | (steps["difference_high"] < 0)]
            if moved.empty:
                lines.append(f"- **Quarter over quarter:** no step's conversion changed significantly against "
                             f"{self.previous_quarter} (every 95% interval includes zero).")
            else:
                shown = [f"`{r.step}` {fmt.percent(r.previous_rate)} → {fmt.percent(r.rate)} ({fmt.points(r.difference)}, 95% CI "
                         f"{fmt.points(r.difference_low)} to {fmt.points(r.difference_high)})" for r in moved.itertuples()]
                lines.append(f"- **Quarter over quarter** against {self.previous_quarter}: " + "; ".join(shown) + ".")
        if self.scroll_exits is not None and self.scroll_exits.views:
            worst = self.scroll_exits.worst()
            lines.append(f"- **Detail page:** screen {int(worst['screen'])} loses the most: {fmt.percent(worst['exit_rate'])} of the "
                         f"views that reach it leave there (95% CI {fmt.percent(worst['exit_rate_low'])}–"
                         f"{fmt.percent(worst['exit_rate_high'])}); {fmt.percent(worst['reach'])} of {self.scroll_exits.views:,} views get that far.")
        ttc = self.time_to_convert.to_pandas()
        if len(ttc):
            end = ttc.iloc[-1]
            lines.append(f"- **Time to convert:** median {fmt.duration(end['median_seconds'])} from `{end['from_step']}` to "
                         f"`{end['to_step']}` (90% within {fmt.duration(end['p90_seconds'])}, {int(end['conversions']):,} "
                         f"conversions).")
        return "\n".join(lines)


def review_quarter(source, params, *, steps=None, scroll: bool = True, **overrides) -> FunnelReview:
    """Everything the funnel notebook shows for ``params.quarter``, with ``overrides`` of ``params.funnel``
    (``window=``, ``breakdowns=``, …; None keeps the params' value). ``steps`` (None: the params') may
    also hold ``(label, rule)`` pairs, which params cannot; ``scroll``: also the detail page's scroll exits."""
    fp = params_module.section(params, "funnel", **overrides)
    steps = list(steps if steps is not None else fp.steps)
    window, attempt, breakdowns = fp.window, fp.attempt, list(fp.breakdowns)
    unit, hold, alpha, correction = fp.unit, fp.hold, fp.alpha, fp.correction
    q = Quarter(params.quarter)
    first_day, last_day = event_days(q, window, quarters=2)
    events = _with_start_attributes(source, source.between("events", first_day, last_day), steps, breakdowns,
                                    first_day, last_day, fp.new_customer_days, q)
    current, segmented, ttc, previous = quarter_funnels(
        events, steps, window=window, attempt=attempt, breakdowns=breakdowns, hold=hold, unit=unit, alpha=alpha,
        quarter=q.label, previous=q.previous().label)
    # The window's tail (at least a day) is in: scrolls of a view opened on the last evening.
    tail = source.between("events", q.start, last_day)
    if "screen" not in tail.columns:  # an optional column: no scroll exits to show, a "no data" table instead
        tail = tail.filter(ibis.literal(False)).mutate(screen=ibis.null("int64"))
    exits = scroll_exits(tail, quarter=q.label, alpha=alpha) if scroll else None
    by = {name: (result, compare_segments(result, correction=correction, alpha=alpha)) for name, result in segmented.items()}
    change = compare_quarters(current, previous, alpha=alpha) if previous.cohort else None
    return FunnelReview(q.label, current, by, change, q.previous().label, ttc, exits, correction)


def _with_start_attributes(source, events, steps, attributes: list[str], first_day, last_day, new_customer_days: int,
                           quarter: Quarter):
    """The step events with the breakdown attributes joined onto the first step's events of
    ``quarter`` only (an Ibis expression; the funnel materialises it once).

    A breakdown is read on the counted start (see the specification), and only ``quarter``'s funnel
    is broken down (the previous quarter's is compared overall), so no other row needs them. A
    custom step rule may read any column, so with one every event gets them.
    """
    parsed = parse_steps(steps)
    if any(s.event is None for s in parsed):
        return attach_attributes(source, events, attributes, first_day, last_day, new_customer_days=new_customer_days)
    events = events.filter(events.event.isin(sorted({s.event for s in parsed})))
    lower, upper = period_bounds(quarter)
    is_start = (parsed[0].matches(events) & (events.ts >= lower) & (events.ts < upper)).fill_null(False)
    return attach_attributes(source, events, attributes, quarter.start, last_day, new_customer_days=new_customer_days,
                             where=is_start)
