"""Metric definitions for experiments: what to compare per user, and how to linearise it.

A metric names per-user columns. Its value in an arm is a smooth function of the arm's column
means (a mean, or a ratio of means), so every statistic needs only per-arm counts, sums and
cross-products: the variance of the value comes from the delta method, ``∇gᵀ Σ ∇g / n``, with
``Σ`` the per-user covariance matrix of the columns. For a plain mean the gradient is a unit
vector and this is the ordinary variance of a mean.

A covariate (CUPED) is another such function of *pre-exposure* columns; the estimate is
adjusted by ``θ (h_arm − h_pooled)`` with ``θ`` the pooled within-arm regression slope.

All functions here work on arrays with any leading batch shape (``means[..., k]``), so the
simulations in the tests can evaluate thousands of experiments at once.
"""
from __future__ import annotations

import numpy as np

MEAN, PROPORTION, RATIO = "mean", "proportion", "ratio"


def _unit(means: np.ndarray, index: int) -> np.ndarray:
    grad = np.zeros_like(means, dtype=float)
    grad[..., index] = 1.0
    return grad


def _ratio_grad(means: np.ndarray, num: int, den: int) -> np.ndarray:
    grad = np.zeros_like(means, dtype=float)
    grad[..., num] = 1.0 / means[..., den]
    grad[..., den] = -means[..., num] / means[..., den] ** 2
    return grad


class Metric:
    """Base class. ``columns`` lists value columns, then covariate columns."""

    kind: str = ""
    ddof: int = 1

    def __init__(self, value_columns: tuple[str, ...], covariate_columns: tuple[str, ...], name: str):
        for column in (*value_columns, *covariate_columns):
            if not isinstance(column, str) or not column:
                raise ValueError(f"{type(self).__name__}: column names must be non-empty strings, got {column!r}")
        self.value_columns = tuple(value_columns)
        self.covariate_columns = tuple(covariate_columns)
        self.name = name

    @property
    def columns(self) -> tuple[str, ...]:
        return self.value_columns + self.covariate_columns

    @property
    def has_covariate(self) -> bool:
        return bool(self.covariate_columns)

    # value of the metric and its gradient with respect to the means of ``columns``
    def value(self, means: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, means: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # the covariate's value and gradient (same column order)
    def covariate_value(self, means: np.ndarray) -> np.ndarray:
        offset = len(self.value_columns)
        if len(self.covariate_columns) == 1:
            return means[..., offset]
        return means[..., offset] / means[..., offset + 1]

    def covariate_gradient(self, means: np.ndarray) -> np.ndarray:
        offset = len(self.value_columns)
        if len(self.covariate_columns) == 1:
            return _unit(means, offset)
        return _ratio_grad(means, offset, offset + 1)

    def without_covariate(self) -> "Metric":
        raise NotImplementedError

    def __repr__(self) -> str:
        parts = [repr(c) for c in self.value_columns]
        if self.covariate_columns:
            cov = self.covariate_columns[0] if len(self.covariate_columns) == 1 else self.covariate_columns
            parts.append(f"covariate={cov!r}")
        parts.append(f"name={self.name!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.columns == other.columns and self.name == other.name  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.columns, self.name))


def _covariate_columns(covariate, allow_pair: bool) -> tuple[str, ...]:
    if covariate is None:
        return ()
    if isinstance(covariate, str):
        return (covariate,)
    if allow_pair and isinstance(covariate, (tuple, list)) and len(covariate) == 2:
        return tuple(covariate)
    raise ValueError(f"covariate must be a column name{' or a (numerator, denominator) pair' if allow_pair else ''}, got {covariate!r}")


class Mean(Metric):
    """Mean of a per-user column (e.g. revenue per user); Welch's t-test between arms.

    ``covariate`` (a pre-exposure column, or a ``(numerator, denominator)`` pair for a ratio
    covariate) turns on CUPED.
    """

    kind = MEAN
    ddof = 1  # sample variances, as Welch's test uses

    def __init__(self, column: str, covariate=None, name: str | None = None):
        super().__init__((column,), _covariate_columns(covariate, True), name or column)

    def value(self, means):
        return means[..., 0]

    def gradient(self, means):
        return _unit(means, 0)

    def without_covariate(self):
        return type(self)(self.value_columns[0], name=self.name)


class Proportion(Mean):
    """Share of users with a 0/1 outcome (e.g. converted); two-sample z-test.

    The variance is *unpooled* (Wald): ``p_t(1−p_t)/n_t + p_c(1−p_c)/n_c`` for both the p-value
    and the interval, so the test and the interval always agree (statsmodels'
    ``test_proportions_2indep(method="wald")``). Variances use ``ddof=0`` (``p(1−p)``), as the
    z-test does.
    """

    kind = PROPORTION
    ddof = 0


class Ratio(Metric):
    """Ratio of per-user sums, e.g. add-to-carts per detail-page view (CTR), by the delta method.

    The analysis unit stays the user (the randomisation unit), so views of one user are not
    treated as independent. ``covariate`` may be a column or a ``(numerator, denominator)`` pair
    of pre-exposure columns (CUPED on the pre-period ratio).
    """

    kind = RATIO
    ddof = 1

    def __init__(self, numerator: str, denominator: str, covariate=None, name: str | None = None):
        super().__init__((numerator, denominator), _covariate_columns(covariate, True), name or f"{numerator}/{denominator}")

    def value(self, means):
        return means[..., 0] / means[..., 1]

    def gradient(self, means):
        return _ratio_grad(means, 0, 1)

    def without_covariate(self):
        return Ratio(*self.value_columns, name=self.name)


def standard_metrics(cuped: bool = True) -> dict[str, Metric]:
    """The detail-page metrics over :func:`kit.ab.user_metrics` columns, by name.

    ``ctr`` (add-to-carts per detail-page view), ``conversion`` (share of users who paid an
    order), ``revenue_per_user`` (GMV per exposed user), ``orders_per_user``, ``pdp_views_per_user``.
    With ``cuped`` each uses the same measure from the pre-exposure window as its covariate.
    """
    pre = (lambda *cols: cols[0] if len(cols) == 1 else cols) if cuped else (lambda *cols: None)
    return {
        "ctr": Ratio("add_to_carts", "pdp_views", covariate=pre("pre_add_to_carts", "pre_pdp_views"), name="ctr"),
        "conversion": Proportion("converted", covariate=pre("pre_converted"), name="conversion"),
        "revenue_per_user": Mean("revenue", covariate=pre("pre_revenue"), name="revenue_per_user"),
        "orders_per_user": Mean("orders", covariate=pre("pre_orders"), name="orders_per_user"),
        "pdp_views_per_user": Mean("pdp_views", covariate=pre("pre_pdp_views"), name="pdp_views_per_user"),
    }


def resolve(metrics, cuped: bool = True) -> list[Metric]:
    """Metrics from a Metric, a name of :func:`standard_metrics`, or a list/dict of those."""
    if isinstance(metrics, (Metric, str)):
        metrics = [metrics]
    if isinstance(metrics, dict):
        items = []
        for name, metric in metrics.items():
            if not isinstance(metric, Metric):
                raise ValueError(f"metrics[{name!r}] must be a Mean, Proportion or Ratio, got {type(metric).__name__}")
            items.append(metric if metric.name == name else _renamed(metric, name))
        metrics = items
    standard = standard_metrics(cuped)
    out: list[Metric] = []
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in standard:
                raise ValueError(f"unknown metric {metric!r}: pass kit.ab.Mean/Proportion/Ratio or one of {', '.join(standard)}")
            metric = standard[metric]
        if not isinstance(metric, Metric):
            raise ValueError(f"a metric must be kit.ab.Mean, Proportion or Ratio (or a standard name), got {metric!r}")
        out.append(metric)
    if not out:
        raise ValueError("no metrics given: pass at least one kit.ab.Mean, Proportion or Ratio")
    names = [m.name for m in out]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"metric names must be unique; repeated: {', '.join(duplicated)} (pass name=...)")
    return out


def _renamed(metric: Metric, name: str) -> Metric:
    clone = object.__new__(type(metric))
    clone.__dict__.update(metric.__dict__)
    clone.name = name
    return clone
