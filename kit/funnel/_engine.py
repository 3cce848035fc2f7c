"""The funnel's chains, built inside the engine (Ibis; as-of joins on DuckDB, window functions elsewhere).

For every counted step-1 event (a *start*) the chain takes, step by step, the earliest event of the
next step at or after the previous step's time, as long as it lies within the window of the start.
Steps are mutually exclusive (checked), so "earliest at or after" both orders same-time events by
step order and never lets one event fill two steps. Taking the earliest is optimal: any valid
chain's k-th event is no earlier than the greedy chain's, so the greedy chain is the deepest one
from that start and its step times are the earliest possible (which defines time to convert).

Only aggregates leave the engine: the chain table stays an Ibis expression until grouped.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from kit import format as fmt
from kit.engines import has_fast_asof
from kit.funnel import _portable
from kit.funnel._input import Step, interval_literal, require_columns

UNIT, TS, STEP, HOLD, PART, START_ID = "__unit", "__ts", "__step", "__hold", "__part", "__start"
BUCKET = "__bucket"
# The partition of the step events that carry no hold value (see _hold_partitions); the values
# are numbered from 0 (see prepared).
_NO_HOLD_VALUE = -1
ATTEMPTS = ("best", "first", "totals")


def time_column(j: int) -> str:
    """Column holding the time the chain reached step ``j`` (0-based; ``t0`` is the start)."""
    return f"t{j}"


@dataclass(frozen=True)
class ChainSpec:
    steps: tuple[Step, ...]
    window: pd.Timedelta
    attempt: str
    unit: str
    by: tuple[str, ...]
    hold: str | None
    bounds: tuple | None            # naive local [lower, upper) of the entry period, or None
    check: bool = True


def _tag(events: ir.Table, spec: ChainSpec) -> ir.Table:
    """Step events only, with the step index (0-based), the unit, the segment columns and the hold key."""
    needed = {"ts": "the time of each event", spec.unit: "the unit whose funnel is counted (parameter unit)"}
    if any(s.event is not None for s in spec.steps):
        needed["event"] = "the event name the steps refer to"
    for column in spec.by:
        needed[column] = "a breakdown column (parameter by)"
    if spec.hold:
        needed[spec.hold] = "the key held constant across steps (parameter hold)"
    require_columns(events, needed)
    internal = [c for c in spec.by if c.startswith("__") or c in {time_column(j) for j in range(len(spec.steps))} | {"depth"}]
    if internal:
        raise ValueError(f"breakdown column name(s) {internal} clash with the funnel's own columns; rename them")

    # Cheap filters first (a plain IN list and the time range reach the scan); the step index is
    # then computed on the rows that are left.
    named = [s.event for s in spec.steps if s.event is not None]
    all_named = len(named) == len(spec.steps)
    if all_named:
        events = events.filter(events.event.isin(named))
    if spec.bounds is not None:
        lower, upper = spec.bounds
        # Starts lie in the period; later steps may finish after it, within the window.
        events = events.filter((events.ts >= lower) & (events.ts < upper + spec.window.to_pytimedelta()))
    if all_named:
        # Every row left is a step event: a simple CASE on the name (a third of the materialisation's
        # cost went to the general form below, one COALESCE per step) and no filter after it.
        step = events.event.cases(*[(name, i) for i, name in enumerate(named)]).cast("int8")
    else:
        matches = [s.matches(events).fill_null(False) for s in spec.steps]
        step = ibis.cases(*[(m, i) for i, m in enumerate(matches)], else_=ibis.null("int8")).cast("int8")
    columns = {UNIT: events[spec.unit], TS: events.ts, STEP: step}
    columns.update({c: events[c] for c in spec.by})
    if spec.hold:
        columns[HOLD] = events[spec.hold].cast("string")
    if not all_named:
        # Custom rules may overlap: keep which steps each event matches, for the check.
        columns.update({f"__m{i}": m for i, m in enumerate(matches)})
    tagged = events.select(**columns)
    return tagged if all_named else tagged.filter(tagged[STEP].notnull())


@contextmanager
def prepared(events: ir.Table, spec: ChainSpec, unit_names: list | None = None):
    """The step events, materialised once in the engine (a temporary table), checked, then released.

    Every level of the funnel reads them, so they are scanned, filtered and converted only once.
    Units are numbered (``__unit``: 0, 1, … in the order of their names), and so are the hold
    values (``__hold``): every join and count after this one compares integers, not strings.
    ``unit_names``, if a list, receives the table from numbers to names (valid inside the ``with``).
    """
    cached = _tag(events, spec).cache()
    temporary = [cached]
    try:
        if spec.check:
            _check(cached, spec)
        names = cached.select(__name=cached[UNIT]).distinct()
        names = names.mutate(**{UNIT: ibis.row_number().over(order_by="__name")}).cache()
        temporary.append(names)
        numbered = cached.inner_join(names, cached[UNIT] == names.__name)
        codes = {UNIT: names[UNIT]}
        if spec.hold:
            values = cached.select(__value=cached[HOLD]).filter(ibis._.__value.notnull()).distinct()
            values = values.mutate(__code=ibis.row_number().over(order_by="__value")).cache()
            temporary.append(values)
            numbered = numbered.left_join(values, cached[HOLD] == values.__value)
            codes[HOLD] = values.__code
        numbered = numbered.select(*[codes.get(c, cached[c]).name(c) for c in cached.columns if not c.startswith("__m")])
        numbered = numbered.cache()
        temporary.append(numbered)
        cached.release()
        temporary.remove(cached)
        if unit_names is not None:
            unit_names.append(names)
        yield numbered
    finally:
        for table in temporary:
            table.release()


def _check(tagged: ir.Table, spec: ChainSpec) -> None:
    """One aggregate over the step events: empty times or units, and events matching several steps."""
    flags = [c for c in tagged.columns if c.startswith("__m")]
    problems = {
        "null_ts": (tagged[TS].isnull(), "ts", "must not be empty (null) on step events"),
        "null_unit": (tagged[UNIT].isnull(), spec.unit, "must not be empty (null) on step events (it is the unit)"),
    }
    if flags:
        problems["overlap"] = (sum(tagged[f].cast("int32") for f in flags) > 1, None, None)
    counts = tagged.aggregate(**{k: v[0].sum() for k, v in problems.items()}).to_pyarrow().to_pylist()[0]
    names = {UNIT: spec.unit, TS: "ts", HOLD: spec.hold}
    for key, (predicate, column, rule) in problems.items():
        rows = counts[key] or 0
        if not rows:
            continue
        row = tagged.filter(predicate).order_by([ibis.asc(c, nulls_first=True) for c in (UNIT, TS)]).limit(1)
        row = row.to_pyarrow().to_pylist()[0]
        shown = {names.get(c, c): v for c, v in row.items() if c not in flags and c != STEP}
        shown["step"] = spec.steps[row[STEP]].label
        plural = f"{rows:,} {fmt.plural(rows, 'row')}"
        if key == "overlap":
            labels = [s.label for s, f in zip(spec.steps, flags) if row[f]]
            raise ValueError(f"events table: step rules overlap — {plural} match{'es' if rows == 1 else ''} several steps "
                             f"(the example matches {', '.join(labels)}), but one event fills at most one step; make the "
                             f"rules exclusive. Example: {shown}")
        raise ValueError(f"events table, column '{column}': {rule} — {plural}; example: {shown}")


def _hold_partitions(tagged: ir.Table, window: pd.Timedelta) -> tuple[ir.Table, ir.Table]:
    """Where the step events without a hold value may matter, and the later steps' events per partition.

    A chain of partition p (a unit's hold value) may use the events carrying p and those carrying
    none, all within one window. Copying every valueless event into every partition of its unit
    (a user's home views into each item they ever viewed) grows with events × items, so a valueless
    event goes only where it can meet a p-valued event: into p when p has one within a window of
    it (a start: within the window after it), and into one partition of no value, ∅, that every
    unit with valueless events has. That changes no chain: a chain of p that uses a p-valued event
    lies within one window of it, so each of its events was copied; one that uses none is a chain
    of ∅ (where the greedy chain from the same start is at least as deep, with no later times), and
    each start keeps its best chain over its partitions.

    Returns ``near`` (per unit, window-long time bucket and partition: the earliest and latest time
    of the partition's valued events in that bucket and the two beside it, enough to test "within a
    window" for a valueless event of the bucket) and the events of steps 2.. in their partitions
    (the starts are spread by :func:`levels`); see :func:`_spread`.
    """
    valued = tagged.filter(tagged[HOLD].notnull())
    bucket = _bucket(valued, window)
    shifted = ibis.union(*[valued.select(UNIT, TS, **{BUCKET: bucket + shift, PART: valued[HOLD]})
                           for shift in (-1, 0, 1)], distinct=False)
    near = shifted.group_by([UNIT, BUCKET, PART]).aggregate(__first=shifted[TS].min(), __last=shifted[TS].max())
    later = tagged.filter(tagged[STEP] > 0)
    placed = later.filter(later[HOLD].notnull()).select(UNIT, TS, STEP, **{PART: later[HOLD]})
    spread = _spread(later.filter(later[HOLD].isnull()).drop(HOLD), near, window)
    return near, placed.union(spread.select(UNIT, TS, STEP, PART), distinct=False)


def _bucket(rows: ir.Table, window: pd.Timedelta) -> ir.IntegerValue:
    """The window-long time bucket of each row (whole seconds, at least one)."""
    seconds = max(1, math.ceil(window.total_seconds()))
    return rows[TS].epoch_seconds() // seconds


def _spread(rows: ir.Table, near: ir.Table, window: pd.Timedelta, starts: bool = False) -> ir.Table:
    """``rows`` without a hold value, once in ∅ and once in each partition with a valued event within
    a window of them (``starts``: within the window after them), with ``PART``; see :func:`_hold_partitions`."""
    keyed = rows.mutate(**{BUCKET: _bucket(rows, window)})
    joined = keyed.inner_join(near, [UNIT, BUCKET])
    span = window.to_pytimedelta()
    earliest = joined[TS] if starts else joined[TS] - span
    joined = joined.filter((joined.__last >= earliest) & (joined.__first <= joined[TS] + span))
    copies = joined.select(*rows.columns, **{PART: joined[PART]})
    alone = rows.mutate(**{PART: ibis.literal(_NO_HOLD_VALUE, "int64")})
    return copies.union(alone, distinct=False)


def _next_level(level: ir.Table, step_events: ir.Table, j: int, window: ir.IntervalScalar, keys: list[str]) -> ir.Table:
    """The chains of ``level`` that reach step ``j``, with ``t{j}``: the earliest step-j event at or
    after ``t{j-1}``, kept only if it lies within the window of ``t0``. Chains that stop are dropped
    here (they stay in the lower levels), so each join only carries the chains still alive.
    Engines without a fast as-of join take the window-function form of the same rule."""
    if not has_fast_asof(level):
        return _portable.next_level(level, step_events, j, window, keys, TS, STEP, time_column)
    right = step_events.filter(step_events[STEP] == j).select(
        **{f"__r{k}": step_events[k] for k in keys}, __rts=step_events[TS]).view()
    level = level.view()  # a fresh relation, so Ibis does not fold this join into the previous one
    joined = level.asof_join(right, on=level[time_column(j - 1)] <= right.__rts,
                             predicates=[level[k] == right[f"__r{k}"] for k in keys])
    reached = joined.filter(joined.__rts <= joined[time_column(0)] + window)
    return reached.select(*level.columns, **{time_column(j): reached.__rts})


@dataclass
class Levels:
    """``tables[j]``: the (start, chain) rows that reach step j (0-based), with times ``t0..t{j}``.

    Every level is a subset of the one below, so a start's depth is the number of levels it is in.
    ``start_id`` is set when starts must be told apart (totals: with times, or over hold partitions).
    ``leaders`` (see :meth:`cache_leaders`): :func:`_leaders`, materialised for several results
    to pick their counted chain from.
    """

    tables: list
    by: list
    keys: list
    start_id: bool
    leaders: ir.Table | None = None

    def project(self, by) -> "Levels":
        """The same levels with only the breakdown columns ``by`` (a subset of ``self.by``)."""
        by = list(by)
        ids = [START_ID] if self.start_id else []
        tables = [t.select(*ids, *self.keys, *by, *[time_column(i) for i in range(j + 1)])
                  for j, t in enumerate(self.tables)]
        leaders = None
        if self.leaders is not None:
            leaders = self.leaders.select(UNIT, *by, *[time_column(i) for i in range(len(self.tables))], "depth")
        return Levels(tables, by, self.keys, self.start_id, leaders)

    def cache_leaders(self, spec: "ChainSpec") -> None:
        """Materialise :func:`_leaders` (for ``best`` and ``first``), for several results to share."""
        if spec.attempt in ("best", "first") and self.leaders is None:
            self.leaders = _leaders(self).cache()

    def release(self) -> None:
        """Drop the temporary tables of :func:`levels` with ``cache=True`` (and the leaders)."""
        for table in self.tables + ([self.leaders] if self.leaders is not None else []):
            table.release()


def levels(tagged: ir.Table, spec: ChainSpec, start_ids: bool = False, cache: bool = False) -> Levels:
    """The levels over the prepared step events (see :func:`prepared`).

    ``cache=True`` materialises each level in the engine (call :meth:`Levels.release` after), so
    several results (breakdowns, times) can be aggregated from one set of joins.
    """
    if spec.attempt not in ATTEMPTS:
        raise ValueError(f"attempt must be one of {', '.join(ATTEMPTS)}, got {spec.attempt!r}")
    window = interval_literal(spec.window)
    by = list(spec.by)
    starts = tagged.filter(tagged[STEP] == 0)
    if spec.bounds is not None:
        lower, upper = spec.bounds
        starts = starts.filter((starts[TS] >= lower) & (starts[TS] < upper))
    if spec.attempt == "first":
        # Only a unit's earliest starts can be its counted chain; ties stay (depth, the breakdown
        # and the later times choose among them), so the joins carry one start per unit, not all.
        earliest = starts.mutate(__earliest=starts[TS].min().over(group_by=UNIT))
        starts = earliest.filter(earliest[TS] == earliest.__earliest).drop("__earliest")
    # totals over hold partitions keeps each start's deepest partition (see _per_start).
    start_ids = start_ids or (bool(spec.hold) and needs_start_ids(spec))
    if start_ids:
        # Starts sharing every ordering key are identical rows, so how the engine numbers them
        # among themselves cannot change any result.
        order = [UNIT, TS, *by, *([HOLD] if spec.hold else [])]
        starts = starts.mutate(**{START_ID: ibis.row_number().over(order_by=order)})
    ids = [START_ID] if start_ids else []
    if spec.hold:
        near, step_events = _hold_partitions(tagged, spec.window)
        own = starts.filter(starts[HOLD].notnull()).mutate(**{PART: starts[HOLD]})
        spread = _spread(starts.filter(starts[HOLD].isnull()).drop(HOLD), near, spec.window, starts=True)
        first = own.select(*ids, UNIT, PART, *by, **{time_column(0): own[TS]}).union(
            spread.select(*ids, UNIT, PART, *by, **{time_column(0): spread[TS]}))
        keys = [UNIT, PART]
    else:
        first = starts.select(*ids, UNIT, *by, **{time_column(0): starts[TS]})
        keys, step_events = [UNIT], tagged
    tables = [first.cache() if cache else first]
    try:
        for j in range(1, len(spec.steps)):
            level = _next_level(tables[-1], step_events, j, window, keys)
            tables.append(level.cache() if cache else level)
    except BaseException:
        if cache:
            Levels(tables, by, keys, start_ids).release()
        raise
    return Levels(tables, by, keys, start_ids)


def _stacked(lv: Levels, k: int) -> ir.Table:
    """All levels in one table, padded with empty times: a start appears once per step it reached."""
    parts = []
    kind = lv.tables[0][time_column(0)].type()
    for j, table in enumerate(lv.tables):
        times = {time_column(i): (table[time_column(i)] if i <= j else ibis.null(kind)) for i in range(k)}
        parts.append(table.select(*([START_ID] if lv.start_id else []), *lv.keys, *lv.by, **times,
                                  depth=ibis.literal(j + 1, "int8")))
    return ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]


def _leaders(lv: Levels) -> ir.Table:
    """Each unit's chains that tie for first place on (depth, start): nearly always one per unit,
    with ``depth`` and the times. The counted chain of ``best`` is among them (the breakdown value
    and the later times only break those ties), and so is that of ``first``: its levels hold only
    each unit's earliest starts (see :func:`levels`), so its order (start, depth) ranks the same.

    A unit's deepest chains are its rows of the deepest level it is in: the rows of level j whose
    unit is not in level j + 1. Hash anti-joins on the integer units find them, so only these few
    rows are ranked, not every start stacked over every level. With a hold a start may appear in
    several partitions; each of its rows at that depth stays, and the later times choose.
    """
    k = len(lv.tables)
    kind = lv.tables[0][time_column(0)].type()
    parts = []
    for j, table in enumerate(lv.tables):
        if j + 1 < k:
            deeper = lv.tables[j + 1].select(__deeper=UNIT).distinct()
            table = table.anti_join(deeper, table[UNIT] == deeper.__deeper)
        times = {time_column(i): (table[time_column(i)] if i <= j else ibis.null(kind)) for i in range(k)}
        parts.append(table.select(UNIT, *lv.by, **times, depth=ibis.literal(j + 1, "int8")))
    deepest = ibis.union(*parts, distinct=False) if k > 1 else parts[0]
    t0 = time_column(0)
    earliest = deepest.mutate(__earliest=deepest[t0].min().over(group_by=UNIT))
    return earliest.filter(earliest[t0] == earliest.__earliest).drop("__earliest")


def needs_start_ids(spec: ChainSpec) -> bool:
    return spec.attempt == "totals"


def _per_start(lv: Levels, k: int) -> ir.Table:
    """One row per start with its ``depth`` and times (over its hold partitions, if any: the
    deepest, earliest step times on ties)."""
    chain = _stacked(lv, k)
    if lv.start_id:
        later = [time_column(j) for j in range(1, k)]
        rank = ibis.row_number().over(group_by=START_ID, order_by=[ibis.desc("depth"), *later])
        chain = chain.mutate(__rank=rank).filter(ibis._.__rank == 0).drop("__rank", START_ID)
        if PART in chain.columns:
            chain = chain.drop(PART)
    return chain


def chains(tagged: ir.Table, spec: ChainSpec, times: bool = True, lv: Levels | None = None) -> ir.Table:
    """The counted chains: one row per counted start, with ``depth`` (steps reached) and ``t0..t{k-1}``.

    ``tagged`` are the prepared step events (or ``lv`` their levels, built for ``spec``).
    ``times=False`` lets ``best`` without a breakdown keep only each unit's depth (no step times).
    """
    k = len(spec.steps)
    lv = lv if lv is not None else levels(tagged, spec, start_ids=needs_start_ids(spec))
    later = [time_column(j) for j in range(1, k)]
    if spec.attempt == "totals":
        return _per_start(lv, k)
    chain = lv.leaders if lv.leaders is not None else _leaders(lv)
    if spec.attempt == "best" and not lv.by and not times:
        return chain.group_by(UNIT).aggregate(depth=chain.depth.max())
    # Every row left ties on (depth, start): the breakdown value and the later times decide.
    rank = ibis.row_number().over(group_by=UNIT, order_by=[*lv.by, *later])
    return chain.mutate(__rank=rank).filter(ibis._.__rank == 0).drop("__rank")


def reached_counts(tagged: ir.Table, spec: ChainSpec, lv: Levels | None = None) -> pd.DataFrame:
    """Per segment: ``reached_j`` = counted units (or starts) that reached step j. Small, in pandas.

    ``lv``: the levels, when several results share them (see :func:`levels` with ``cache``).
    """
    k = len(spec.steps)
    by = list(spec.by)
    if not spec.hold and (spec.attempt == "totals" or (spec.attempt == "best" and not by)):
        # Fast paths straight from the levels: every start of level j reached step j, and a unit's
        # best chain reaches step j exactly when one of its starts does.
        lv = lv if lv is not None else levels(tagged, spec)
        parts = []
        for j, table in enumerate(lv.tables):
            n = table.count() if spec.attempt == "totals" else table[UNIT].nunique()
            agg = table.group_by(by).aggregate(n=n) if by else table.aggregate(n=n)
            parts.append(agg.mutate(level=ibis.literal(j, "int8")))
        long = ibis.union(*parts, distinct=False).to_pandas()
        if by:
            wide = long.groupby([*by, "level"], dropna=False)["n"].sum().unstack("level", fill_value=0).reset_index()
        else:
            wide = long.groupby("level")["n"].sum().to_frame().T.reset_index(drop=True)
        wide.columns.name = None
        wide = wide.rename(columns={j: f"reached_{j}" for j in range(k)})
        for j in range(k):
            if f"reached_{j}" not in wide.columns:
                wide[f"reached_{j}"] = 0
        return wide[[*by, *[f"reached_{j}" for j in range(k)]]]
    chain = chains(tagged, spec, times=False, lv=lv)
    reached = {f"reached_{j}": (chain.depth > j).sum() for j in range(k)}
    return (chain.group_by(by).aggregate(**reached) if by else chain.aggregate(**reached)).to_pandas()


def counted_chains_frame(events: ir.Table, spec: ChainSpec) -> pd.DataFrame:
    """The counted chains as a DataFrame (for tests and inspection of small logs)."""
    names: list = []
    with prepared(events, spec, unit_names=names) as tagged:
        counted = chains(tagged, spec, times=True)
        named = counted.inner_join(names[0], UNIT).drop(UNIT).rename({UNIT: "__name"})
        return named.select(UNIT, *[c for c in counted.columns if c != UNIT]).to_pandas()
