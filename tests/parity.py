"""Every public analysis as one step of the parity suite, and the rule two engines' results must meet.

``run(src, params)`` runs the steps in order on one source and returns ``{step: result}`` with each
result flattened to tables and numbers (:func:`flatten`); ``differences(a, b)`` lists where two
runs disagree: counts and text exactly, money to 1e-9 relative, statistics to 1e-6 relative.
Used by tests/test_parity.py (DuckDB against Spark and PostgreSQL) and bench/bench_parity.py (times).
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import ibis
import numpy as np
import pandas as pd

import kit
from tests.engines import TABLES

QUARTER = "2025Q4"
EXPERIMENT = "pdp_selling_points"
PROMOTION = "2025_double11"
WEEKS = ("2025-07-07", "2025-11-30")
# The slice holds orders from July to November: the promotions of the review are the two whose
# model window fits (60 days of history, 14 after); two placebos keep the review short.
OVERRIDES = {"promo": {"promotions": ["2025_member_oct", PROMOTION], "pre_days": 60, "placebos": 2},
             "channel": {"bootstrap": 20}}

MONEY_TOLERANCE = 1e-9
STATISTIC_TOLERANCE = 1e-6
# Columns that are sums of money (or counts held in floats): equal to MONEY_TOLERANCE. Every
# other float is a statistic (rates, intervals, p-values, model fits) and gets STATISTIC_TOLERANCE.
_MONEY_WORDS = ("gmv", "value", "spend", "revenue", "discount", "amount", "cost", "orders", "users", "conversions",
                "nulls", "sessions", "customers", "count")


def params() -> "kit.params.Params":
    """The 2025Q4 params, fitted to the slice (see OVERRIDES)."""
    return kit.params.load(QUARTER, **OVERRIDES)


def _quarter_counts(src) -> dict:
    return {name: int(src.table(name, quarter=QUARTER).count().to_pyarrow().as_py()) for name in TABLES}


def _user_metrics(src, p, memo):
    memo["users"] = kit.ab.user_metrics(src, EXPERIMENT, p.ab.pre_window_days)
    return memo["users"].to_pandas().sort_values("user_id", ignore_index=True)


def _analyze(src, p, memo, sequential):
    return kit.ab.analyze(memo["users"], ["ctr", "conversion", "revenue_per_user"], sequential=sequential,
                          correction=p.ab.correction)


def _paths(src, p, memo):
    memo["paths"] = kit.channel.paths(src, QUARTER, params=p)
    return memo["paths"]


def _daily(src, p, memo):
    memo["daily"] = kit.promo.daily(src, PROMOTION, pre_days=p.promo.pre_days, post_days=p.promo.post_days)
    return memo["daily"]


def _customers(src, p, memo):
    review = kit.customers.review_quarter(src, p)
    parts = {name: value for name, value in vars(review).items() if name not in ("quarter", "title")}
    parts["clv_customers"] = parts["clv_customers"].sort_values("user_id", ignore_index=True)
    parts["layer_of"] = parts["layer_of"].sort_values("user_id", ignore_index=True)
    return parts


def _lift(src, p, memo):
    promotion = kit.promo.promotions(src).set_index("promotion_id").loc[PROMOTION]
    controls = kit.promo.control_columns(memo["daily"])
    return kit.promo.lift(memo["daily"], promotion["start"], promotion["end"], controls=controls,
                          post_days=p.promo.post_days, exclude="other_promotion", warn=False)


# (name, function(source, params, memo) -> result); later steps may use what earlier ones put in memo.
STEPS: list[tuple[str, Callable]] = [
    ("contract check", lambda src, p, memo: src.check()),
    ("quarter filter", lambda src, p, memo: _quarter_counts(src)),
    ("ab.user_metrics", _user_metrics),
    ("ab.srm", lambda src, p, memo: kit.ab.srm(memo["users"])),
    ("ab.analyze", lambda src, p, memo: _analyze(src, p, memo, sequential=False)),
    ("ab.analyze sequential", lambda src, p, memo: _analyze(src, p, memo, sequential=True)),
    ("ab.review_quarter", lambda src, p, memo: kit.ab.review_quarter(src, p)),
    ("funnel.review_quarter", lambda src, p, memo: kit.funnel.review_quarter(src, p)),
    ("promo.daily", _daily),
    ("promo.lift", _lift),
    ("promo.review_quarter", lambda src, p, memo: kit.promo.review_quarter(src, p)),
    ("channel.summary", lambda src, p, memo: kit.channel.summary(src, QUARTER, params=p)),
    ("channel.paths", _paths),
    ("channel.attribution", lambda src, p, memo: kit.channel.attribution(memo["paths"], p.channel.attribution_models)),
    ("channel.weekly", lambda src, p, memo: kit.channel.weekly(src, *WEEKS, params=p)),
    ("overview", lambda src, p, memo: kit.overview.quarter_overview(QUARTER, source=src, params=p)),
    ("customers.review_quarter", _customers),
]


def run(src, p, steps: list[str] | None = None) -> tuple[dict, dict]:
    """Run the steps on ``src``: ``({step: flattened result}, {step: seconds})``."""
    results, seconds, memo = {}, {}, {}
    for name, step in STEPS:
        if steps is not None and name not in steps:
            continue
        began = time.perf_counter()
        value = step(src, p, memo)
        results[name] = flatten(value)
        seconds[name] = time.perf_counter() - began
    return results, seconds


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Tables (DataFrames), numbers and text of a result, keyed by where they were found:
    DataFrames as they are, results through ``to_pandas()`` and their fields, containers item by item."""
    out: dict[str, Any] = {}
    if isinstance(value, pd.DataFrame):
        out[path] = value
        for key, extra in value.attrs.items():
            out.update(flatten(extra, f"{path}.attrs[{key}]"))
        return out
    if isinstance(value, pd.Series):
        return flatten(value.to_frame(), path)
    if isinstance(value, (str, bool, int, float, np.generic, type(None), pd.Timestamp)) or hasattr(value, "isoformat"):
        out[path] = value
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{path}[{key}]"))
        return out
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}[{i}]"))
        return out
    if isinstance(value, np.ndarray):
        out[path] = pd.DataFrame({"value": value.ravel()})
        return out
    if isinstance(value, ibis.Table):  # rows in no particular order: sorted here
        frame = value.to_pandas()
        return flatten(frame.sort_values(list(frame.columns), ignore_index=True), path)
    if hasattr(value, "to_pandas") and not dataclasses.is_dataclass(value):
        return flatten(value.to_pandas(), path)
    if dataclasses.is_dataclass(value):
        if hasattr(value, "to_pandas"):
            out.update(flatten(value.to_pandas(), f"{path}.to_pandas()"))
        for f in dataclasses.fields(value):
            out.update(flatten(getattr(value, f.name), f"{path}.{f.name}"))
        return out
    return out  # models, figures, engine expressions: not results to compare


def _tolerance(where: str, column: str) -> float:
    label = f"{where} {column}".lower()
    return MONEY_TOLERANCE if any(word in label for word in _MONEY_WORDS) and "rate" not in label else STATISTIC_TOLERANCE


def _same_number(a, b, tolerance: float) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) == (b is None or (isinstance(b, float) and math.isnan(b)))
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance * 1e-3)


def _frame_differences(where: str, a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    if list(a.columns) != list(b.columns):
        return [f"{where}: columns {list(a.columns)} != {list(b.columns)}"]
    if len(a) != len(b):
        return [f"{where}: {len(a)} rows != {len(b)} rows"]
    if not a.index.equals(b.index):
        return [f"{where}: the index differs ({list(a.index[:5])} … != {list(b.index[:5])} …)"]
    found = []
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
            tolerance = _tolerance(where, str(column))
            bad = [i for i, (u, v) in enumerate(zip(x.tolist(), y.tolist())) if not _same_number(u, v, tolerance)]
        else:
            bad = [i for i, (u, v) in enumerate(zip(x.tolist(), y.tolist())) if not _same_value(u, v)]
        if bad:
            i = bad[0]
            found.append(f"{where}, column {column!r}: {len(bad)} of {len(x)} rows differ, e.g. row {i}: "
                         f"{x.iloc[i]!r} != {y.iloc[i]!r}")
    return found


def _same_value(u, v) -> bool:
    if isinstance(u, (list, tuple, np.ndarray)) or isinstance(v, (list, tuple, np.ndarray)):
        return list(u) == list(v)
    if pd.isna(u) if not isinstance(u, (list, tuple)) else False:
        return bool(pd.isna(v))
    if isinstance(u, (float, np.floating)) or isinstance(v, (float, np.floating)):
        return _same_number(u, v, STATISTIC_TOLERANCE)
    return bool(u == v)


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Where one step's flattened results disagree (empty: equal within the tolerances)."""
    found = []
    for where in sorted(set(expected) | set(got)):
        if where not in expected or where not in got:
            found.append(f"{where}: only in {'the first' if where in expected else 'the second'} run")
            continue
        a, b = expected[where], got[where]
        if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
            found += _frame_differences(where, a, b)
        elif isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
            found.append(f"{where}: a table against {type(b).__name__}")
        elif isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
            if not _same_number(a, b, _tolerance(where, "")):
                found.append(f"{where}: {a!r} != {b!r}")
        elif not _same_value(a, b):
            found.append(f"{where}: {a!r} != {b!r}")
    return found
