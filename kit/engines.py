"""What each engine does well, for the few steps written two ways: a DuckDB form tuned for speed
and a portable form every SQL engine runs (Spark, PostgreSQL, warehouses). Both are tested against
the same brute-force references."""
from __future__ import annotations

import ibis

# DuckDB runs an as-of join as one sorted merge; Spark has none and PostgreSQL's (a LATERAL
# subquery per row) does not finish on an event log, so they take the window-function form.
_FAST_ASOF = frozenset({"duckdb"})
# Engines that sort and map arrays of records (PostgreSQL's records need a column definition list).
_RECORD_ARRAYS = frozenset({"duckdb", "pyspark"})


def backend_name(expr: ibis.Expr) -> str:
    """The name of the engine an expression runs on (``duckdb``, ``pyspark``, ``postgres`` …)."""
    return ibis.get_backend(expr).name


def has_fast_asof(expr: ibis.Expr) -> bool:
    """Whether the expression's engine runs an as-of join well."""
    return backend_name(expr) in _FAST_ASOF


def has_record_arrays(expr: ibis.Expr) -> bool:
    """Whether the expression's engine collects, sorts and maps arrays of structs."""
    return backend_name(expr) in _RECORD_ARRAYS


def next_at_or_after(left: ibis.Table, at: str, right: ibis.Table, right_at: str, keys: list[str],
                     name: str = "__next") -> ibis.Table:
    """``left`` with a column ``name``: the earliest ``right[right_at]`` at or after ``left[at]`` among
    the rows of ``right`` with the same ``keys`` (NULL when there is none) — an as-of join's match,
    found in one ordered pass: the two tables stacked, sorted per key by time (a left row before a
    right row at the same time), each left row taking the minimum of the right times from it on.

    ``right`` must have the ``keys`` (same names and types) and ``right_at``.
    """
    at_type = left[at].type()
    kind = "__side"
    queries = left.mutate(**{"__at": left[at], kind: ibis.literal(0, "int8"), name: ibis.null(at_type)})
    candidates = right.select(
        **{c: right[c] if c in keys else ibis.null(left[c].type()) for c in left.columns},
        **{"__at": right[right_at].cast(at_type), kind: ibis.literal(1, "int8"), name: right[right_at].cast(at_type)})
    stacked = queries.union(candidates, distinct=False)
    following = ibis.window(group_by=keys, order_by=["__at", kind], rows=(0, None))
    found = stacked.mutate(**{name: stacked[name].min().over(following)})
    return found.filter(found[kind] == 0).drop("__at", kind)
