"""Multi-touch attribution over customer journeys: heuristic rules, exact Markov and exact Shapley.

Input is the journeys table of :func:`kit.channel.paths` (or any table with the same columns):
``path`` (channels in time order), ``conversions``, ``value``, ``nulls`` (journeys along that path
that did not convert) and, for the time-decay model, ``lags`` (days from each touch to the
conversion). Rows may be single journeys or journeys already grouped by path.

Every model hands out exactly the observed conversions and value: the rules split each journey's
credit into shares that sum to one; Markov and Shapley scale their channel scores to the totals.

* **Markov** is the first-order absorbing chain over ``start → channels → conversion | null``.
  A channel's removal effect is ``1 − P(conversion without it) / P(conversion)``, where removing it
  sends every transition into it to ``null``. The absorption probabilities come from one linear
  solve with ``I − Q`` (the fundamental matrix), so results are exact and the same on every run,
  unlike the simulation used by common packages. Value uses the same chain with each conversion
  transition rewarded by the mean value of conversions from that state.
* **Shapley** uses the characteristic function "conversions (value) of journeys whose channel set
  lies inside the coalition". That game is a sum of unanimity games, one per channel set, so its
  Shapley value is exact in closed form: each journey's credit split equally over its *distinct*
  channels (proved in the tests against enumeration of all coalitions).
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.linalg

from kit.channel._common import known_channels
from kit.contract import require_columns
from kit.format import money_unit
from kit.inputs import as_frame
from kit.results import Result

MODELS = ("first", "last", "linear", "time_decay", "position", "markov", "shapley")
POSITION_WEIGHTS = (0.4, 0.2, 0.4)  # first, middle (shared), last: the usual U-shape


@dataclass(repr=False)
class Journeys:
    """Paths flattened to integer arrays (one entry per touch) for vectorised attribution."""

    channels: list[str]
    codes: np.ndarray        # channel code of each touch
    row: np.ndarray          # journey row of each touch
    position: np.ndarray     # 0-based index of the touch in its path
    length: np.ndarray       # path length per row
    conversions: np.ndarray  # per row
    value: np.ndarray        # per row
    nulls: np.ndarray        # per row
    lags: np.ndarray | None = None  # days before conversion, per touch

    # Cached: every model asks for them, and they cost a pass over all touches.
    @functools.cached_property
    def first(self) -> np.ndarray:
        return self.position == 0

    @functools.cached_property
    def last(self) -> np.ndarray:
        return self.position == self.length[self.row] - 1


def _as_sequence(value: Any) -> Sequence:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)  # a single-channel path written as a bare string
    return value


def _floats(values: list) -> np.ndarray:
    """Numbers as a float array: converted as one array when they are plain numbers (much faster than
    one float() each), else one by one as float() would."""
    try:
        as_read = np.asarray(values)
    except ValueError:  # nested or ragged: let fromiter raise its usual error
        as_read = None
    if as_read is not None and as_read.ndim == 1 and as_read.dtype.kind in "biuf":
        return as_read.astype(float)
    return np.fromiter(values, dtype=float, count=len(values))


def prepare(paths: Any, channels: Iterable[str] | None = None, need_lags: bool = False) -> Journeys:
    """Validate the journeys table and flatten it; errors name the column, the rule and an example."""
    frame = as_frame(paths, "paths")
    require_columns(frame, ["path", "conversions", "value", "nulls"], "paths table")
    if need_lags:
        require_columns(frame, ["lags"], "paths table (the time_decay model needs the touch times)")
    allowed = known_channels(channels)
    sequences = [_as_sequence(p) for p in frame["path"].tolist()]
    length = np.fromiter((len(p) for p in sequences), dtype=np.int64, count=len(sequences))
    conversions = frame["conversions"].to_numpy(dtype=float)
    value = frame["value"].to_numpy(dtype=float)
    nulls = frame["nulls"].to_numpy(dtype=float)

    for name, column in (("conversions", conversions), ("value", value), ("nulls", nulls)):
        bad = ~np.isfinite(column) | (column < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"paths table, column '{name}': must be a finite number ≥ 0 — {int(bad.sum()):,} rows "
                             f"break it; example: path={list(sequences[i])}, {name}={column[i]}")
    empty = (length == 0) & ((conversions > 0) | (nulls > 0))
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise ValueError(f"paths table, column 'path': a journey needs at least one touch — {int(empty.sum()):,} rows "
                         f"have an empty path; example row {i}: conversions={conversions[i]}, nulls={nulls[i]}")

    flat = list(itertools.chain.from_iterable(sequences))
    codes_of = {name: code for code, name in enumerate(allowed)}
    unknown = sorted({c for c in set(flat) if c not in codes_of}, key=str)
    if unknown:
        bad_rows = [i for i, p in enumerate(sequences) if any(c not in codes_of for c in p)]
        raise ValueError(f"paths table, column 'path': channel {unknown[0]!r} is not in the channel list "
                         f"({', '.join(allowed)}); {len(unknown)} unknown channel(s) {unknown[:5]}, {len(bad_rows):,} paths "
                         f"hold one; example: {list(sequences[bad_rows[0]])}")
    codes = np.fromiter(map(codes_of.__getitem__, flat), dtype=np.int64, count=len(flat))
    row = np.repeat(np.arange(len(sequences)), length)
    starts = np.cumsum(length) - length
    position = np.arange(len(flat)) - np.repeat(starts, length)

    lags = None
    if need_lags:
        lag_lists = [_as_sequence(x) for x in frame["lags"].tolist()]
        lag_length = np.fromiter((len(x) for x in lag_lists), dtype=np.int64, count=len(lag_lists))
        mismatch = lag_length != length
        if mismatch.any():
            i = int(np.flatnonzero(mismatch)[0])
            raise ValueError(f"paths table, column 'lags': needs one lag per touch — {int(mismatch.sum()):,} rows differ "
                             f"in length from 'path'; example: path={list(sequences[i])}, lags={list(lag_lists[i])}")
        lags = _floats(list(itertools.chain.from_iterable(lag_lists)))
        if (~np.isfinite(lags) | (lags < 0)).any():
            raise ValueError("paths table, column 'lags': days before conversion must be finite and ≥ 0; "
                             f"{int((~np.isfinite(lags) | (lags < 0)).sum()):,} touches break it")
    return Journeys(allowed, codes, row, position, length, conversions, value, nulls, lags)


# ------------------------------------------------------------------------------------------------
# Rules: each touch gets a share of its journey; shares of a journey sum to one.

def _touch_shares(j: Journeys, model: str, half_life_days: float) -> np.ndarray:
    n = j.length[j.row].astype(float)
    if model == "first":
        return j.first.astype(float)
    if model == "last":
        return j.last.astype(float)
    if model == "linear":
        return 1.0 / n
    if model == "position":
        first_w, middle_w, last_w = POSITION_WEIGHTS
        middle_count = np.maximum(n - 2, 1)
        shares = np.where(j.first | j.last, first_w, middle_w / middle_count)
        shares = np.where(n == 1, 1.0, shares)
        # Two touches: no middle, so the 20% goes half to each end.
        return np.where(n == 2, 0.5, shares)
    if model == "time_decay":
        weight = np.exp2(-j.lags / half_life_days)
        total = np.bincount(j.row, weights=weight, minlength=len(j.length))
        return weight / total[j.row]
    raise AssertionError(model)


def _rule_credit(j: Journeys, model: str, half_life_days: float) -> tuple[np.ndarray, np.ndarray]:
    shares = _touch_shares(j, model, half_life_days)
    k = len(j.channels)
    conversions = np.bincount(j.codes, weights=shares * j.conversions[j.row], minlength=k)
    value = np.bincount(j.codes, weights=shares * j.value[j.row], minlength=k)
    return conversions, value


def _shapley_credit(j: Journeys) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form Shapley value: each journey's credit split equally over its distinct channels."""
    k = len(j.channels)
    conversions, value = np.zeros(k), np.zeros(k)
    if k <= 62:
        # Each journey's channel set as a bit mask (OR over its touches), then one row per distinct set.
        starts = np.flatnonzero(j.position == 0)
        masks = np.bitwise_or.reduceat(np.left_shift(np.int64(1), j.codes), starts)
        rows = j.row[starts]
        sets, index = np.unique(masks, return_inverse=True)
        set_conversions = np.bincount(index, weights=j.conversions[rows], minlength=len(sets))
        set_value = np.bincount(index, weights=j.value[rows], minlength=len(sets))
        members = (sets[:, None] >> np.arange(k)) & 1
        size = members.sum(axis=1)
        conversions = members.T @ (set_conversions / size)
        value = members.T @ (set_value / size)
        return conversions, value
    pair = j.row * k + j.codes
    distinct_pairs = np.unique(pair)
    rows, codes = distinct_pairs // k, distinct_pairs % k
    distinct_count = np.bincount(rows, minlength=len(j.length))
    share = 1.0 / distinct_count[rows]
    conversions = np.bincount(codes, weights=share * j.conversions[rows], minlength=k)
    value = np.bincount(codes, weights=share * j.value[rows], minlength=k)
    return conversions, value


# ------------------------------------------------------------------------------------------------
# Markov: first-order absorbing chain, removal effects by exact linear solves.

@dataclass(repr=False)
class MarkovChain:
    """Transition counts of the journeys; states are start, channels 0..k-1, conversion, null."""

    channels: list[str]
    counts: np.ndarray          # (k+3, k+3): rows = from, columns = to
    reward: np.ndarray          # mean conversion value of a conversion reached from each state

    @property
    def k(self) -> int:
        return len(self.channels)

    @property
    def start(self) -> int:
        return self.k

    @property
    def conversion(self) -> int:
        return self.k + 1

    @property
    def null(self) -> int:
        return self.k + 2

    def transition_matrix(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        matrix = np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)
        # A channel no journey passes through is sent to null (keeps I - Q invertible);
        # the absorbing states keep themselves.
        idle = np.flatnonzero(totals[:, 0] == 0)
        matrix[idle[idle <= self.k], self.null] = 1.0
        matrix[self.conversion, self.conversion] = matrix[self.null, self.null] = 1.0
        return matrix

    def absorption(self, removed: int | None = None) -> tuple[float, float]:
        """P(conversion) and expected conversion value from start; ``removed`` sends its inflow to null."""
        matrix = self.transition_matrix()
        if removed is not None:
            inflow = matrix[:, removed].copy()
            matrix[:, removed] = 0.0
            matrix[:, self.null] += inflow
        transient = list(range(self.k + 1))
        q = matrix[np.ix_(transient, transient)]
        # (I - Q) x = R[:, conversion]: x[s] = P(absorbed in conversion | at s).
        to_conversion = matrix[transient, self.conversion]
        system = np.eye(len(transient)) - q
        probability = scipy.linalg.solve(system, np.column_stack([to_conversion, to_conversion * self.reward[transient]]))
        return float(probability[self.start, 0]), float(probability[self.start, 1])


def markov_chain(j: Journeys) -> MarkovChain:
    """The first-order Markov chain of the journeys (start, channels, conversion, null)."""
    k = len(j.channels)
    start, conversion, null = k, k + 1, k + 2
    size = k + 3
    travelled = j.conversions + j.nulls
    weight = travelled[j.row]
    nxt = np.r_[j.codes[1:], 0]
    step = ~j.last
    from_state = np.concatenate([np.full(int(j.first.sum()), start), j.codes[step], j.codes[j.last], j.codes[j.last]])
    to_state = np.concatenate([j.codes[j.first], nxt[step], np.full(int(j.last.sum()), conversion),
                               np.full(int(j.last.sum()), null)])
    last_rows = j.row[j.last]
    weights = np.concatenate([weight[j.first], weight[step], j.conversions[last_rows], j.nulls[last_rows]])
    counts = np.bincount(from_state * size + to_state, weights=weights, minlength=size * size).reshape(size, size)
    converted_value = np.bincount(j.codes[j.last], weights=j.value[last_rows], minlength=size)
    converted = counts[:, conversion]
    reward = np.divide(converted_value, converted, out=np.zeros(size), where=converted > 0)
    return MarkovChain(list(j.channels), counts, reward)


def removal_effects(chain: MarkovChain) -> pd.DataFrame:
    """Per channel: removal effect on conversions and on value (fractions of the baseline)."""
    base_p, base_v = chain.absorption()
    if base_p <= 0:
        raise ValueError("paths table: no journey converts, so there is nothing to attribute (conversions are all 0)")
    rows = []
    for code, name in enumerate(chain.channels):
        p, v = chain.absorption(removed=code)
        rows.append({"channel": name, "removal_effect": 1 - p / base_p,
                     "value_removal_effect": 1 - v / base_v if base_v > 0 else 0.0})
    return pd.DataFrame(rows)


def _markov_credit(j: Journeys) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    chain = markov_chain(j)
    effects = removal_effects(chain)
    seen = np.bincount(j.codes, weights=(j.conversions + j.nulls)[j.row], minlength=len(j.channels)) > 0
    effects = effects[seen].reset_index(drop=True)
    conversions = np.zeros(len(j.channels))
    value = np.zeros(len(j.channels))
    re = effects["removal_effect"].to_numpy()
    vre = effects["value_removal_effect"].to_numpy()
    index = np.flatnonzero(seen)
    conversions[index] = j.conversions.sum() * re / re.sum()
    value[index] = j.value.sum() * vre / vre.sum() if vre.sum() > 0 else 0.0
    return conversions, value, effects


# ------------------------------------------------------------------------------------------------

@dataclass(repr=False)
class AttributionResult(Result):
    """Credit per channel for one or more models; ``to_pandas()`` is long (model, channel, …)."""

    table: pd.DataFrame
    removal: pd.DataFrame | None = None
    observed: dict = field(default_factory=dict)
    unit: str = "yuan"  # the money's word (params' currency), from the paths' attrs

    title = "Multi-touch attribution"

    def to_pandas(self) -> pd.DataFrame:
        return self.table.copy()

    def wide(self, metric: str = "value") -> pd.DataFrame:
        """Channels × models for one metric (``conversions``, ``value`` or ``share``)."""
        wide = self.table.pivot(index="channel", columns="model", values=metric)
        order = [m for m in MODELS if m in wide.columns]
        return wide[order].loc[self.table["channel"].drop_duplicates()].rename_axis(columns=None)

    @property
    def notes(self) -> list[str]:
        if not self.observed.get("journeys"):
            return ["No data: no journeys (touches or orders) in the period, so there is nothing to attribute."]
        return [f"Observed totals: {self.observed.get('conversions', 0):,.0f} conversions, "
                f"{self.observed.get('value', 0):,.0f} {self.unit}; every model hands out exactly these."]


def attribution(paths: Any, model: "str | Sequence[str]" = "markov", *, channels: Iterable[str] | None = None,
                half_life_days: float = 7.0) -> AttributionResult:
    """Attribute conversions and value to channels under ``model`` (one name or a list of names).

    ``channels`` is the allowed channel list (default: the params' channels); a path holding any
    other channel is an error. ``half_life_days`` is the time-decay half-life: a touch ``h`` days
    before the conversion weighs half as much as one at the conversion.
    """
    models = [model] if isinstance(model, str) else list(model)
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"unknown attribution model {unknown[0] if unknown else model!r}; choose from {', '.join(MODELS)}")
    if not (np.isfinite(half_life_days) and half_life_days > 0):
        raise ValueError(f"half_life_days must be a positive number of days, got {half_life_days!r}")
    j = prepare(paths, channels, need_lags="time_decay" in models)
    frames, removal = [], None
    if not (j.conversions + j.nulls).sum():  # no journeys at all: an empty result that says so, not an error
        models = []
        frames.append(pd.DataFrame({"model": pd.Series(dtype=object), "channel": pd.Series(dtype=object),
                                    "conversions": pd.Series(dtype=float), "value": pd.Series(dtype=float)}))
    for name in models:
        if name == "markov":
            conversions, value, removal = _markov_credit(j)
        elif name == "shapley":
            conversions, value = _shapley_credit(j)
        else:
            conversions, value = _rule_credit(j, name, half_life_days)
        frames.append(pd.DataFrame({"model": name, "channel": j.channels, "conversions": conversions, "value": value}))
    table = pd.concat(frames, ignore_index=True)
    present = np.bincount(j.codes, minlength=len(j.channels)) > 0
    table = table[np.tile(present, len(models))].reset_index(drop=True)
    total_value = j.value.sum()
    table["share"] = table["value"] / total_value if total_value > 0 else np.nan
    return AttributionResult(table, removal, {"conversions": float(j.conversions.sum()), "value": float(total_value),
                                              "journeys": float((j.conversions + j.nulls).sum())}, money_unit(paths))
