"""Cannibalisation, incremental ROI and the whole review of one promotion."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit import format as fmt
from kit import params as params_module
from kit.format import money_frame
from kit.promo import data as _data
from kit.promo.lift import LiftResult, lift
from kit.results import Result


def _interval(draws: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(repr=False)  # Result.__repr__: the rounded table
class StoreImpact(Result):
    """Promoted categories' net effect, the non-promoted categories' (cannibalised) effect, and their sum."""

    table: pd.DataFrame
    store_draws: np.ndarray
    cannibalised: LiftResult | None
    alpha: float = 0.05

    @property
    def title(self) -> str:
        return f"Cannibalisation and store net incremental GMV ({1 - self.alpha:.0%} intervals)"

    def to_pandas(self) -> pd.DataFrame:
        return self.table

    def value(self, part: str, column: str = "effect") -> float:
        return float(self.table.set_index("part").loc[part, column])

    @property
    def notes(self) -> list[str]:
        if self.cannibalised is None:
            return ["Every category that is not a control is promoted: no substitutes to measure; store net = promoted net."]
        return ["The store net interval adds the two models' simulated totals as independent draws."]

    def display(self) -> pd.DataFrame:
        return money_frame(self.table)


def no_substitutes(promoted: LiftResult) -> StoreImpact:
    """The store impact when no category is left to cannibalise (all non-controls promoted)."""
    net = promoted.row("net")
    row = {"part": "promoted categories", "actual": net["actual"], "predicted": net["predicted"],
           "effect": net["effect"], "ci_low": net["ci_low"], "ci_high": net["ci_high"], "pvalue": net["pvalue"]}
    table = pd.DataFrame([row, {**row, "part": "store net incremental"}])
    return StoreImpact(table=table, store_draws=promoted.effect_draws["net"], cannibalised=None, alpha=promoted.alpha)


def cannibalisation(data, start, end, promoted: LiftResult, target: str = "cannibalised_gmv",
                    controls=None, date: str = "date", **kwargs) -> StoreImpact:
    """The same analysis with the non-promoted categories as the outcome (never as controls).

    Their net effect (negative when buyers moved to the promoted items) is added to the promoted
    categories' net effect: the store's net incremental GMV. ``kwargs`` go to :func:`lift`; use the
    same ``post_days``, ``gap_days``, ``exclude``, ``alpha`` as for ``promoted``.
    """
    if controls is not None and target in list(controls):
        raise ValueError(f"the non-promoted outcome {target!r} cannot be a control")
    alpha = kwargs.setdefault("alpha", promoted.alpha)
    kwargs.setdefault("seed", 1)  # a different stream from the promoted model's draws
    other = lift(data, start, end, target=target, controls=controls, date=date, **kwargs)
    promoted_draws, other_draws = promoted.effect_draws["net"], other.effect_draws["net"]
    n = min(promoted_draws.size, other_draws.size)
    store = promoted_draws[:n] + other_draws[:n]
    rows = []
    for part, result, draws in (("promoted categories", promoted, promoted_draws), (f"non-promoted ({target})", other, other_draws)):
        net = result.row("net")
        rows.append({"part": part, "actual": net["actual"], "predicted": net["predicted"], "effect": net["effect"],
                     "ci_low": net["ci_low"], "ci_high": net["ci_high"], "pvalue": net["pvalue"]})
    low, high = _interval(store, alpha)
    n_below, n_above = np.sum(store <= 0), np.sum(store >= 0)
    rows.append({"part": "store net incremental", "actual": rows[0]["actual"] + rows[1]["actual"],
                 "predicted": rows[0]["predicted"] + rows[1]["predicted"],
                 "effect": rows[0]["effect"] + rows[1]["effect"], "ci_low": low, "ci_high": high,
                 "pvalue": float(min(1.0, 2 * min(1 + n_below, 1 + n_above) / (store.size + 1)))})
    return StoreImpact(table=pd.DataFrame(rows), store_draws=store, cannibalised=other, alpha=alpha)


@dataclass(repr=False)
class IncrementalROI(Result):
    """Incremental ROAS (net incremental GMV ÷ cost) beside the naive event GMV ÷ cost."""

    table: pd.DataFrame
    alpha: float = 0.05

    @property
    def title(self) -> str:
        return f"Incremental ROI vs naive ROI ({1 - self.alpha:.0%} interval)"

    def to_pandas(self) -> pd.DataFrame:
        return self.table

    def value(self, measure: str, column: str = "value") -> float:
        return float(self.table.set_index("measure").loc[measure, column])

    def display(self) -> pd.DataFrame:
        shown = self.table.copy()
        ratio = shown["measure"].str.contains("ROAS")
        for column in ("value", "ci_low", "ci_high"):
            shown[column] = [fmt.roas(v, 2) if r else fmt.figure(v) for v, r in zip(shown[column], ratio)]
        return shown


def incremental_roi(incremental_draws, cost: float, *, event_gmv: float | None = None, incremental: float | None = None,
                    alpha: float = 0.05) -> IncrementalROI:
    """ROAS of the promotion's cost: ``incremental`` (default: mean of the draws) ÷ ``cost``, with the
    interval of the draws ÷ cost (the cost is an accounting figure, known exactly); ``event_gmv`` ÷
    cost is the naive ratio reviews quote."""
    draws = np.asarray(incremental_draws, dtype=float)
    if not cost > 0:
        raise ValueError(f"promotion cost must be > 0 to compute a ROI, got {cost!r} "
                         "(no discounts on its orders and no extra ad spend)")
    point = float(np.mean(draws)) if incremental is None else float(incremental)
    low, high = _interval(draws, alpha)
    rows = [("promotion cost (discounts + extra ad spend)", cost, np.nan, np.nan),
            ("net incremental GMV", point, low, high),
            ("incremental ROAS", point / cost, low / cost, high / cost)]
    if event_gmv is not None:
        rows += [("event GMV", float(event_gmv), np.nan, np.nan), ("naive ROAS (event GMV ÷ cost)", event_gmv / cost, np.nan, np.nan)]
    return IncrementalROI(table=pd.DataFrame(rows, columns=["measure", "value", "ci_low", "ci_high"]), alpha=alpha)


# ------------------------------------------------------------------------------------------------
# One promotion, end to end

@dataclass(repr=False)
class PromotionReview(Result):
    """Everything the notebook shows for one promotion."""

    promotion_id: str
    name: str
    kind: str
    lift: LiftResult
    store: StoreImpact
    roi: IncrementalROI | None
    kpis: _data.EventKPIs
    cost: dict
    daily: pd.DataFrame
    notes_extra: tuple = ()
    unit: str = "yuan"  # the money's word in findings and axes (params' currency)

    @property
    def title(self) -> str:
        return f"{self.name} ({self.promotion_id}): incremental GMV of the promoted categories"

    def to_pandas(self) -> pd.DataFrame:
        return self.lift.to_pandas()

    def display(self) -> pd.DataFrame:
        return self.lift.display()

    @property
    def notes(self) -> list[str]:
        return self.lift.notes

    @property
    def warnings(self) -> list[str]:
        other = self.store.cannibalised.warnings if self.store.cannibalised is not None else []
        return list(self.notes_extra) + list(self.lift.warnings) + [f"non-promoted model: {w}" for w in other]

    def plot(self, axes=None, **kwargs):
        """The lift's three panels (:func:`kit.promo.plots.plot_lift`) with money in the params' currency."""
        return self.lift.plot(axes=axes, unit=self.unit, **kwargs)

    def finding(self) -> str:
        """The promotion's finding in words (Markdown), computed from the numbers."""
        during, after, net = (self.lift.row(p) for p in ("during", "after", "net"))
        level = f"{1 - self.lift.alpha:.0%}"
        store = self.store.table.set_index("part").loc["store net incremental"]
        cannibal = self.store.table.iloc[1] if self.store.cannibalised is not None else None
        sig = net["pvalue"] < self.lift.alpha
        lines = [f"**{self.name}** ({self.lift.start} – {self.lift.end}): the promoted categories sold "
                 f"{fmt.figure(during['actual'])} {self.unit} against {fmt.figure(during['predicted'])} expected without the promotion, "
                 f"so **{fmt.figure(during['effect'])} {self.unit} incremental during the event** "
                 f"({level} interval {fmt.figure(during['ci_low'])} to {fmt.figure(during['ci_high'])}, {during['rel_effect']:+.0%})."]
        if after["days"] > 0:
            lines.append(f"In the {int(after['days'])} days after it they sold {fmt.figure(abs(after['effect']))} {self.unit} "
                         f"{'less' if after['effect'] < 0 else 'more'} than the counterfactual "
                         f"({fmt.figure(after['ci_low'])} to {fmt.figure(after['ci_high'])})"
                         + (", demand pulled forward" if after["ci_high"] < 0 else "")
                         + f"; net of that, **{fmt.figure(net['effect'])} {self.unit}** ({fmt.figure(net['ci_low'])} to {fmt.figure(net['ci_high'])}), "
                         + ("clearly above zero." if sig and net["effect"] > 0 else
                            "clearly below zero." if sig else "not distinguishable from zero."))
        if cannibal is not None:
            lines.append(f"Non-promoted categories moved {'+' if cannibal['effect'] > 0 else ''}{fmt.figure(cannibal['effect'])} {self.unit} "
                         f"({fmt.figure(cannibal['ci_low'])} to {fmt.figure(cannibal['ci_high'])})"
                         + (", sales lost to the promotion" if cannibal["ci_high"] < 0 else "")
                         + f"; the store's net incremental GMV is **{fmt.figure(store['effect'])} {self.unit}** "
                         f"({fmt.figure(store['ci_low'])} to {fmt.figure(store['ci_high'])}).")
        if self.roi is not None:
            lines.append(f"Against a cost of {fmt.figure(self.cost['cost'])} {self.unit} (discounts {fmt.figure(self.cost['discount'])}, extra ad "
                         f"spend {fmt.figure(self.cost['extra_ad_spend'])}) the incremental ROI is "
                         f"**{fmt.roas(self.roi.value('incremental ROAS'), 2)}** "
                         f"({fmt.roas(self.roi.value('incremental ROAS', 'ci_low'), 2)} to "
                         f"{fmt.roas(self.roi.value('incremental ROAS', 'ci_high'), 2)}), where the naive event GMV ÷ cost "
                         f"says {fmt.roas(self.roi.value('naive ROAS (event GMV ÷ cost)'), 2)}.")
        if self.warnings:
            lines.append("Diagnostics to heed: " + "; ".join(self.warnings) + ".")
        else:
            lines.append(f"Diagnostics passed (pre-period MAPE {self.lift.diagnostics['mape']:.1%}"
                         + (f", placebo {self.lift.diagnostics['placebo']['significant']} of "
                            f"{self.lift.diagnostics['placebo']['windows']} fake windows significant"
                            if self.lift.diagnostics.get("placebo") else "") + ").")
        return "\n\n".join(lines)


def review(source, promotion_id: str, params=None, *, seed: int = 0, **overrides) -> PromotionReview:
    """Daily table → lift (with placebo check) → cannibalisation → cost and incremental ROI → event KPIs.

    Settings come from ``params.promo`` (``kit.params.load(quarter)``; None: the defaults), with
    ``overrides`` (``post_days=``, ``alpha=``, …; None keeps the params' value) applied over them;
    ``gap_days`` is at least the promotion's presale length (presale days are never fitted as normal days).
    """
    params = params if params is not None else params_module.defaults()
    settings = params_module.section(params, "promo", **overrides)
    post_days, alpha, gmv_basis = settings.post_days, settings.alpha, params.gmv_basis
    row = _data.promotion(source, promotion_id)
    notes = []
    available = (_data.data_last_day(source, gmv_basis) - pd.Timestamp(row["end"])).days
    if available < post_days:
        # The data end before the after period does: measure what exists, and say so.
        notes.append(f"the data end {max(available, 0)} day(s) after the promotion, so the after period "
                     f"has {max(available, 0)} of the {post_days} days asked for")
        post_days = max(available, 0)
    table = _data.daily(source, promotion_id, controls=settings.controls, pre_days=settings.pre_days, post_days=post_days,
                        gap_days=settings.gap_days, gmv_basis=gmv_basis, mask_post_days=settings.mask_post_days)
    gap = table.attrs["gap_days"]
    control_cols = _data.control_columns(table)
    options = dict(post_days=post_days, gap_days=gap, alpha=alpha, exclude="other_promotion", trend=settings.trend, warn=False)
    main = lift(table, row["start"], row["end"], target="gmv", controls=control_cols, seed=seed, placebos=settings.placebos,
                **options)
    if table.attrs["cannibalised"]:
        store = cannibalisation(table, row["start"], row["end"], main, controls=control_cols, seed=seed + 1, **options)
    else:
        store = no_substitutes(main)
    cost = _data.promotion_cost(source, promotion_id)
    kpis = _data.event_kpis(source, promotion_id, gmv_basis=gmv_basis)
    roi = None
    if cost["cost"] > 0:
        roi = incremental_roi(store.store_draws, cost["cost"], incremental=store.value("store net incremental"),
                              event_gmv=kpis.value("event GMV (orders of the promotion)"), alpha=alpha)
    return PromotionReview(promotion_id=str(promotion_id), name=str(row["name"]), kind=str(row["kind"]), lift=main,
                           store=store, roi=roi, kpis=kpis, cost=cost, daily=table, notes_extra=tuple(notes),
                           unit=params.currency.unit)


# ------------------------------------------------------------------------------------------------
# A quarter's promotions

@dataclass(repr=False)
class QuarterReview(Result):
    """Every promotion of a quarter reviewed; ``to_pandas()`` has one row per promotion."""

    quarter: str
    reviews: dict
    failures: dict
    unit: str = "yuan"

    @property
    def title(self) -> str:
        return f"Promotions of {self.quarter}: incremental GMV (net of the pull-forward and cannibalisation) and ROI"

    def to_pandas(self) -> pd.DataFrame:
        rows = []
        for pid, r in self.reviews.items():
            during, net = r.lift.row("during"), r.lift.row("net")
            store = r.store.table.set_index("part").loc["store net incremental"]
            rows.append({
                "promotion_id": pid, "name": r.name, "start": r.lift.start, "end": r.lift.end,
                "during_effect": during["effect"], "net_effect": net["effect"], "net_ci_low": net["ci_low"],
                "net_ci_high": net["ci_high"],
                "cannibalised": r.store.table.iloc[1]["effect"] if r.store.cannibalised is not None else np.nan,
                "store_net": store["effect"], "store_ci_low": store["ci_low"], "store_ci_high": store["ci_high"],
                "cost": r.cost["cost"],
                "incremental_roas": r.roi.value("incremental ROAS") if r.roi is not None else np.nan,
                "naive_roas": r.roi.value("naive ROAS (event GMV ÷ cost)") if r.roi is not None else np.nan,
                "warnings": len(r.warnings),
            })
        return pd.DataFrame(rows)

    @property
    def notes(self) -> list[str]:
        return [f"{pid}: not analysed — {message}" for pid, message in self.failures.items()]

    def display(self) -> pd.DataFrame:
        return money_frame(self.to_pandas(), plain=("incremental_roas", "naive_roas"))

    def finding(self) -> str:
        """The quarter in a few sentences (Markdown), computed from the reviews."""
        table = self.to_pandas()
        if table.empty:
            return f"No promotion of {self.quarter} could be analysed." + "".join(f"\n\n- {n}" for n in self.notes)
        total_store = table["store_net"].sum()
        naive_total = sum(r.kpis.value("event GMV (orders of the promotion)") for r in self.reviews.values())
        clear = table[(table["store_ci_low"] > 0) & np.isfinite(table["incremental_roas"])]
        share = total_store / naive_total if naive_total else np.nan
        reading = (f"{share:.0%} of it truly incremental" if share >= 0 else
                   "on balance the store sold less than it would have without them")
        lines = [f"In {self.quarter}, {len(table)} {fmt.plural(len(table), 'promotion')} added an estimated "
                 f"**{fmt.figure(total_store)} {self.unit}** of store GMV net of pull-forward and cannibalisation, against "
                 f"{fmt.figure(naive_total)} {self.unit} of event GMV booked on their orders ({reading})." if naive_total else ""]
        if len(clear):  # rank only promotions whose store effect is clearly positive
            best = clear.sort_values("incremental_roas", ascending=False).iloc[0]
            lines.append(f"Of the promotions with a clearly positive store effect, the best return on its cost was "
                         f"**{best['name']}** at an incremental ROI of {fmt.roas(best['incremental_roas'], 2)} "
                         f"(the naive event GMV ÷ cost says {fmt.roas(best['naive_roas'], 2)}).")
        unclear = table[(table["store_ci_low"] <= 0) & (table["store_ci_high"] >= 0)]
        if len(unclear):
            lines.append("Not distinguishable from zero for the store: " + ", ".join(unclear["name"]) + ".")
        flagged = table[table["warnings"] > 0]
        if len(flagged):
            lines.append("Check the diagnostics of: " + ", ".join(flagged["name"]) + ".")
        for pid, message in self.failures.items():
            lines.append(f"{pid} could not be analysed: {message}")
        return "\n\n".join(line for line in lines if line)


def review_quarter(source, params, **overrides) -> QuarterReview:
    """:func:`review` for each promotion of ``params`` (``promo.promotions``, or all overlapping the quarter),
    with ``overrides`` of the ``promo`` section (None keeps the params' value).

    A promotion that cannot be analysed (no history before it, say) is reported, not raised, so one
    bad promotion never hides the others.
    """
    settings = params_module.section(params, "promo", **overrides)
    ids = list(settings.promotions) or list(_data.promotions(source, quarter=params.quarter)["promotion_id"])
    reviews, failures = {}, {}
    for pid in ids:
        try:
            reviews[pid] = review(source, pid, params, **overrides)
        except ValueError as error:
            failures[pid] = str(error)
    return QuarterReview(quarter=params.quarter, reviews=reviews, failures=failures, unit=params.currency.unit)
