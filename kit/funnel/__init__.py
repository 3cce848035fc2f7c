"""Funnel drop-off: where users leave between home page, detail page, cart, checkout and payment.

Specification
-------------
Tools disagree on what a funnel counts; this one is defined so that the same events always give
the same numbers, whatever their row order and however an engine breaks ties.

*Steps.* An ordered list of k ≥ 1 steps, each an event name (``"pdp_view"``) or a ``(label, rule)``
pair with an Ibis rule (``("deep view", (_.event == "pdp_view") & (_.screen >= 3))``). Steps must
be exclusive: an event matching two steps is an error, so one event fills at most one step.

*Unit.* The funnel counts units (``unit="user_id"`` by default, or ``"session_id"``); a unit's
events are considered together, units never mix.

*Chain.* From a step-1 event at time t₀ (a *start*), a chain is a sequence of events of steps
1, 2, …, j with non-decreasing times (events at the same time are taken in step order) and every
time ≤ t₀ + window (the boundary is inclusive). The start's *depth* is the longest chain from it.
Its step times are the earliest at which each step of a deepest chain can be reached; they are
what time to convert measures. (The kit builds the chain greedily — the earliest next-step event
at or after the previous step — which is provably the deepest and earliest.)

*Hold.* With ``hold="sku_id"`` every event of a chain that carries a value must carry the same
one (the cart add is of the viewed item); events without a value (a home view) fit any chain.

*Period and cohort.* With ``quarter=``, the starts are the step-1 events whose local date lies in
the quarter; later steps may complete after its end, within the window. Events before the quarter
never enter a chain (they are earlier than every start).

*Attempts.* ``attempt="best"``: each unit is counted once, with its deepest chain over all its
starts (ClickHouse's ``windowFunnel``); ties: the earliest such start. ``"first"``: each unit once,
with the chain of its first start in the period. ``"totals"``: every start counted (a unit with
three visits counts three times).

*Breakdowns.* ``by`` columns are read on the counted start event, so segments partition the
counted units and the segments' counts add up to the total. Segment ties (same depth, same time,
different values) go to the smallest value.

*Output.* One row per (segment, step): ``entered`` (units that reached the previous step; for step 1
the cohort), ``converted_from_previous`` (those that reached this step), ``conversion_from_previous``,
``conversion_from_start`` (Wilson intervals), ``drop_off`` and ``drop_off_rate``.

Everything up to the per-segment counts runs in the engine (Ibis; as-of joins on DuckDB); the
statistics then run on those counts.

Public API
----------
``funnel``, ``time_to_convert``, ``funnel_with_breakdowns`` (both, and the funnel by each breakdown,
sharing one pass of joins), ``quarter_funnels`` (that, plus the previous quarter's funnel from the same
step events), ``compare_segments``, ``compare_quarters``, ``quarter_over_quarter``
(alias ``qoq``), ``scroll_exits``, ``load_events``, ``review_quarter`` (everything the notebook
shows, with ``finding()``), and the plots ``plot_funnel``, ``plot_scroll_exits``, ``plot_change``.
"""
from kit.funnel.compare import QuarterComparison, SegmentComparison, compare_quarters, compare_segments, quarter_over_quarter
from kit.funnel.core import FunnelResult, TimeToConvert, funnel, funnel_with_breakdowns, quarter_funnels, time_to_convert
from kit.funnel.data import BREAKDOWNS, load_events
from kit.funnel.plots import plot_change, plot_funnel, plot_scroll_exits
from kit.funnel.review import FunnelReview, review_quarter
from kit.funnel.scroll import ScrollExits, scroll_exits

qoq = quarter_over_quarter

__all__ = [
    "funnel", "funnel_with_breakdowns", "quarter_funnels", "time_to_convert", "compare_segments",
    "compare_quarters", "quarter_over_quarter", "qoq",
    "scroll_exits", "load_events", "BREAKDOWNS", "plot_funnel", "plot_scroll_exits", "plot_change",
    "FunnelResult", "TimeToConvert", "SegmentComparison", "QuarterComparison", "ScrollExits",
    "review_quarter", "FunnelReview",
]
