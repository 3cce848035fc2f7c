"""The channel review's conclusions in plain words, computed from the results (never typed by hand)."""
from __future__ import annotations

import numpy as np

from kit import format as fmt
from kit.channel.attribution import AttributionResult
from kit.channel.reallocate import Reallocation
from kit.channel.response import ResponseModel
from kit.channel.summary import ChannelSummary


def _money(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def targets_text(summary: ChannelSummary) -> str:
    """The sentence on ROAS against the targets."""
    t = summary.to_pandas()
    paid = t[(t["paid"] == True) & (t["spend"] > 0)]  # noqa: E712 (object column: True / False / None)
    total = t[t["channel"] == "paid channels"].iloc[0]
    met = paid[paid["target_met"] == True]  # noqa: E712
    missed = paid[paid["target_met"] == False]  # noqa: E712
    missed_text = [f"{r.channel} {fmt.roas(r.roas)} against {fmt.roas(r.target_roas)}" for r in missed.itertuples()]
    best = paid.sort_values("roas", ascending=False).iloc[0]
    spent, closed = fmt.in_unit(total.spend, summary.unit), fmt.in_unit(total.gmv, summary.unit)
    return (f"In {summary.quarter} the paid channels spent {spent} and closed {closed} of last-touch GMV, "
            f"a blended ROAS of {fmt.roas(total.roas)}. {len(met)} of {len(met) + len(missed)} paid channels with a target met it; "
            f"missed: {fmt.listing(missed_text)}. Highest last-touch ROAS: {best.channel} {fmt.roas(best.roas)}. "
            f"Natural traffic was {summary.natural_share:.1%} of sessions.")


def attribution_text(attribution: AttributionResult, paid: list[str]) -> str:
    """The sentence on how much the attribution models disagree on the paid channels."""
    wide = attribution.wide("share")
    if not {"last", "markov"} <= set(wide.columns):
        return ""
    rows = wide.loc[[c for c in paid if c in wide.index]]
    ratio = (rows["markov"] / rows["last"].where(rows["last"] > 0)).dropna()
    if ratio.empty:
        return ""
    up, down = ratio.idxmax(), ratio.idxmin()
    text = (f"Across touchpoints, last-touch gives {up} {rows.loc[up, 'last']:.1%} of attributed GMV while the Markov chain's removal "
            f"effect gives it {rows.loc[up, 'markov']:.1%}")
    if "shapley" in rows.columns:
        text += f" (Shapley {rows.loc[up, 'shapley']:.1%})"
    text += f": it opens journeys that close through other channels. {down} loses most when earlier touches count " \
            f"({rows.loc[down, 'last']:.1%} last-touch, {rows.loc[down, 'markov']:.1%} Markov)."
    return text


def model_text(model: ResponseModel, period) -> str:
    """The sentence on the response model's ROAS and marginal ROAS in the period."""
    table = model.roas(period)
    ranked = table.sort_values("mroas", ascending=False)
    parts = [f"{r.channel} {fmt.roas(r.roas)} (95% interval {fmt.roas(r.roas_ci_low)}–{fmt.roas(r.roas_ci_high)})"
             for r in table.sort_values("roas", ascending=False).itertuples()]
    text = (f"The response model ({model.kind} saturation, R² {model.r2:.3f} on {int(model.kept.sum())} weeks without promotion "
            f"distortion) puts the incremental ROAS of the period at {fmt.listing(parts)}. One more {model.unit} at current spend returns most "
            f"in {ranked.iloc[0].channel} (marginal ROAS {fmt.roas(ranked.iloc[0].mroas, 2)}) and least in "
            f"{ranked.iloc[-1].channel} ({fmt.roas(ranked.iloc[-1].mroas, 2)}).")
    below = table[table["mroas_ci_high"] < 1]
    if len(below):
        text += f" Below break-even at the margin (the whole interval under 1:1): {fmt.listing(below['channel'].tolist())}."
    weak = table[~table["identified"]]
    if len(weak):
        text += (f" Not identified by the data: {fmt.listing(weak['channel'].tolist())} — the two saturation shapes fit equally well "
                 f"but disagree on ROAS by more than {model.disagreement:.0%}; treat those figures as unreliable.")
    return text


def reallocation_text(plan: Reallocation, bounds: float) -> str:
    """The sentence on the proposed reallocation within ``bounds``."""
    t = plan.to_pandas()
    rows = t[t["channel"] != "total"]
    more = rows[rows["change"] > 0.005 * rows["current_spend"]].sort_values("change", ascending=False)
    less = rows[rows["change"] < -0.005 * rows["current_spend"]].sort_values("change")
    change, low, high = plan.total_change
    more_text = [f"{r.channel} {r.change_pct:+.0%}" for r in more.itertuples()]
    less_text = [f"{r.channel} {r.change_pct:+.0%}" for r in less.itertuples()]
    total = t[t["channel"] == "total"].iloc[0]
    budget = "keeping the total budget" if plan.target_roas is None else \
        f"sizing the budget for a blended ROAS of {fmt.roas(plan.target_roas, 2)} ({total.change_pct:+.0%} spend)"
    text = (f"Equalising marginal ROAS within ±{bounds:.0%} per channel and {budget} of {fmt.in_unit(total.proposed_spend, plan.unit)} over "
            f"{plan.weeks} weeks means more for {fmt.listing(more_text)} and less for {fmt.listing(less_text)}. The model expects "
            f"{fmt.in_unit(change, plan.unit, signed=True)} of GMV (95% interval {fmt.interval(low, high, signed=True)}); blended ROAS "
            f"{fmt.roas(plan.blended_before, 2)} → {fmt.roas(plan.blended_after, 2)}.")
    if np.isfinite(low) and low <= 0 <= high:
        text += " The interval includes zero: the gain is not established by the data, so move budget in steps and measure."
    return text


def findings(summary: ChannelSummary, attribution: AttributionResult, model: ResponseModel, plan: Reallocation,
             bounds: float, period=None) -> str:
    """Markdown bullet points for the notebook's closing cell."""
    paid = [c for c in summary.to_pandas().query("paid == True")["channel"]]
    parts = [targets_text(summary), attribution_text(attribution, paid), model_text(model, period), reallocation_text(plan, bounds)]
    return "\n".join(f"- {p}" for p in parts if p)
