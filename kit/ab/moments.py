"""Per-arm sufficient statistics, computed in the engine by one grouped query.

For the columns the metrics use, each arm returns its user count ``n``, the sums ``Σx`` and the
cross-products ``Σxᵢxⱼ`` (squares on the diagonal). Means, covariances, delta-method
variances and CUPED slopes all follow from these in Python; no user-level row reaches pandas.
Values are cast to float64 in the engine so integer counts cannot overflow.
"""
from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from kit.ab.metrics import PROPORTION, Metric
from kit.contract import require_columns
from kit.engines import checks_integer_overflow, declares_unique
from kit.inputs import as_table


@dataclass
class Moments:
    """Sufficient statistics of some arms (any leading batch shape).

    ``n[...]`` users, ``sums[..., k]``, ``cross[..., k, k]`` over ``columns``.
    """

    columns: tuple[str, ...]
    n: np.ndarray
    sums: np.ndarray
    cross: np.ndarray

    def select(self, columns: tuple[str, ...]) -> "Moments":
        index = [self.columns.index(c) for c in columns]
        return Moments(tuple(columns), self.n, self.sums[..., index], self.cross[..., index, :][..., :, index])

    def means(self) -> np.ndarray:
        return self.sums / self.n[..., None]

    def covariance(self, ddof: int) -> np.ndarray:
        """Per-user covariance matrix of the columns (``ddof`` 1: sample, 0: maximum likelihood)."""
        m = self.means()
        centred = self.cross - self.n[..., None, None] * m[..., :, None] * m[..., None, :]
        return centred / (self.n - ddof)[..., None, None]

    @classmethod
    def from_arrays(cls, columns, values: np.ndarray) -> "Moments":
        """Moments of a user-level array ``values[users, k]`` (for tests and small data)."""
        values = np.asarray(values, dtype=float)
        return cls(tuple(columns), np.asarray(float(len(values))), values.sum(axis=0), values.T @ values)


def check_one_arm_per_user(table: ir.Table, variant: str, unit: str | None) -> None:
    """A user must appear once (one arm); checked in the engine when the unit column is present.

    A primary key (or unique, not-null constraint) on the column, which the engine enforces, is
    proof enough; otherwise one exact distinct count over the column.
    """
    if unit is None or unit not in table.columns or declares_unique(table, unit):
        return
    stats = table.aggregate(rows=ibis._.count(), users=table[unit].nunique()).to_pyarrow().to_pylist()[0]
    if stats["rows"] == stats["users"]:
        return
    dupes = table.group_by(unit).aggregate(rows=ibis._.count(), arms=table[variant].nunique()).filter(ibis._.rows > 1)
    summary = dupes.aggregate(users=ibis._.count(), two_arms=(ibis._.arms > 1).sum()).to_pyarrow().to_pylist()[0]
    example = dupes.order_by(unit).limit(1).to_pyarrow().to_pylist()[0]
    arms = table.filter(table[unit] == example[unit]).select(variant).distinct().order_by(variant).to_pyarrow()[variant].to_pylist()
    raise ValueError(
        f"data: column {unit!r} must be unique (one row per user): {summary['users']:,} users appear on more than one row, "
        f"{summary['two_arms'] or 0:,} of them in more than one arm; example: {unit}={example[unit]!r} in arms {arms}. "
        f"Exclude users exposed to several arms before analysing.")


def arm_moments(data, metrics: list[Metric], variant: str = "variant", unit: str | None = "user_id") -> tuple[list[str], Moments]:
    """One grouped query: per arm ``n``, ``Σx`` and ``Σxᵢxⱼ`` for the pairs the metrics need.

    Returns the arm names (sorted) and their :class:`Moments` (batch axis = arm). Raises a clear
    ``ValueError`` for missing columns, nulls, non-0/1 proportions and users in several arms.
    """
    table = as_table(data)
    require_columns(table, [variant], "variant")
    columns: list[str] = []
    for metric in metrics:
        missing_covariates = [c for c in metric.covariate_columns if c not in table.columns]
        if missing_covariates and all(c in table.columns for c in metric.value_columns):
            raise ValueError(f"metric {metric.name!r} ({metric!r}): CUPED covariate column(s) "
                             f"{', '.join(map(repr, missing_covariates))} not in the data; columns present: "
                             f"{', '.join(table.columns)}. Pass cuped=False (standard names) or drop covariate=.")
        require_columns(table, metric.columns, f"metric {metric.name!r} ({metric!r})")
        columns.extend(c for c in metric.columns if c not in columns)
    check_one_arm_per_user(table, variant, unit)

    for column in columns:
        kind = table[column].type()
        if not (kind.is_numeric() or kind.is_boolean()):
            raise ValueError(f"column {column!r} must be numeric (or boolean), the data has {kind}")
    index = {c: i for i, c in enumerate(columns)}
    pairs: set[tuple[int, int]] = set()
    for metric in metrics:
        ids = sorted(index[c] for c in metric.columns)
        pairs.update((a, b) for a in ids for b in ids if a <= b)
    proportion_columns = {index[m.value_columns[0]] for m in metrics if m.kind == PROPORTION}

    try:
        frame = _grouped_sums(table, variant, columns, pairs, proportion_columns, exact_integers=checks_integer_overflow(table))
    except Exception as error:  # a product of two integers beyond 64 bits: the engine stopped, redo it in floats
        if type(error).__name__ not in _OVERFLOW_ERRORS:
            raise
        frame = _grouped_sums(table, variant, columns, pairs, proportion_columns, exact_integers=False)

    if frame["__arm"].isnull().any():
        missing = int(frame.loc[frame["__arm"].isnull(), "n"].sum())
        raise ValueError(f"column {variant!r}: {missing:,} rows have no variant (null); drop or label them before analysing")
    for i, column in enumerate(columns):
        null = frame["n"] - frame[f"count{i}"]
        if null.sum():
            raise ValueError(f"column {column!r}: {int(null.sum()):,} rows are null; fill them (e.g. 0 for counts) or drop those users "
                             f"(example arm: {frame.loc[null > 0, '__arm'].iloc[0]!r})")
    for i in proportion_columns:
        bad = int(frame[f"bad{i}"].sum())
        if bad:
            example = table.filter(~table[columns[i]].cast("float64").isin([0.0, 1.0])).select(columns[i]).limit(1).to_pyarrow().to_pylist()[0]
            raise ValueError(f"column {columns[i]!r} is used as a Proportion, so it must be 0/1 (or boolean): {bad:,} rows "
                             f"are not; example value: {example[columns[i]]!r}. Use kit.ab.Mean for counts.")

    k = len(columns)
    n = frame["n"].to_numpy(dtype=float)
    sums = np.column_stack([frame[f"s{i}"].to_numpy(dtype=float) for i in range(k)]) if k else np.zeros((len(frame), 0))
    cross = np.full((len(frame), k, k), np.nan)
    for a, b in pairs:
        cross[:, a, b] = cross[:, b, a] = frame[f"p{a}_{b}"].to_numpy(dtype=float)
    return frame["__arm"].tolist(), Moments(tuple(columns), n, sums, cross)


# what DuckDB and PostgreSQL raise for a 64-bit integer overflow
_OVERFLOW_ERRORS = frozenset({"OutOfRangeException", "NumericValueOutOfRange"})


def _grouped_sums(table: ir.Table, variant: str, columns: list[str], pairs: set[tuple[int, int]],
                  proportion_columns: set[int], exact_integers: bool) -> pd.DataFrame:
    """Per arm: ``n``, the non-null ``count{i}``, the sums ``s{i}``, the products ``p{a}_{b}`` and,
    for proportions, the count of values other than 0/1 ``bad{i}`` — one grouped query.

    With ``exact_integers``, integer (and boolean) columns are summed and multiplied as 64-bit
    integers, which engines that check overflow sum exactly (DuckDB: HUGEINT, PostgreSQL:
    numeric); only the totals become floats. That is exact where float sums are not, and DuckDB
    multiplies integers in about half the time it takes for the same products in floats.
    """
    def number(column: str) -> ir.NumericValue:
        kind = table[column].type()
        exact = exact_integers and (kind.is_integer() or kind.is_boolean())
        return table[column].cast("int64" if exact else "float64")

    value = {i: number(c) for i, c in enumerate(columns)}
    aggregates = {"n": ibis._.count()}
    for i in range(len(columns)):
        aggregates[f"s{i}"] = value[i].sum().cast("float64")
        aggregates[f"count{i}"] = value[i].count()
    for i in proportion_columns:
        aggregates[f"bad{i}"] = (~value[i].isin([0, 1])).fill_null(False).sum()
    for a, b in sorted(pairs):
        aggregates[f"p{a}_{b}"] = (value[a] * value[b]).sum().cast("float64")
    grouped = table.group_by(table[variant].cast("string").name("__arm")).aggregate(**aggregates)
    return grouped.to_pyarrow().to_pandas().sort_values("__arm", kind="stable").reset_index(drop=True)
