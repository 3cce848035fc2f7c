"""The decision an analyst reads: winner(s), no winner, inconclusive, or invalid — from the numbers.

- **invalid**: the sample-ratio check failed (assignment is broken, no effect can be trusted);
- **winner**: arms better than control on the primary metric after the multiplicity correction,
  whose guardrails show no significant harm (a guardrail is *breached* when the arm is worse than
  control at the unadjusted ``alpha`` — deliberately strict, since harm should not hide behind
  a correction);
- **guardrail breached**: every significant arm hurts a guardrail;
- **no winner**: no significant arm, and every arm's interval excludes a lift of ``min_lift`` or
  more (the test could have seen one);
- **inconclusive**: no significant arm, but lifts of ``min_lift`` were not ruled out.

Every arm worse than control on a guardrail at the unadjusted level is listed as a *watch list*
(with how many such flags chance alone would produce), whatever the status.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from kit import format as fmt
from kit.ab.analysis import ABResult
from kit.ab.srm import SRMResult


def _change(value: float) -> str:
    """A relative effect as a signed percentage."""
    return fmt.percent(value, signed=True)


@dataclass
class Verdict:
    """The decision on the primary metric (winners, losers, guardrail breaches) and its text."""

    status: str
    primary: str
    winners: list[str] = field(default_factory=list)
    breached: dict[str, list[str]] = field(default_factory=dict)
    losers: list[str] = field(default_factory=list)
    watch: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""

    def _repr_markdown_(self) -> str:
        return self.text


def _describe_row(row: pd.Series, alpha: float) -> str:
    level = int(round((1 - alpha) * 100))
    return (f"{_change(row.rel_effect)} ({level}% CI {_change(row.rel_ci_low)} to {_change(row.rel_ci_high)}; "
            f"{row.control_mean:.4g} → {row.treatment_mean:.4g}; adjusted p = {row.pvalue_adj:.2g}; "
            f"P(beat control) = {row.prob_beat_control:.1%})")


def verdict(result: ABResult, primary: str | None = None, guardrails=(), srm: SRMResult | None = None,
            min_lift: float = 0.05, guardrail_result: ABResult | None = None) -> Verdict:
    """Classify the experiment (see the module docstring) and explain it in words with its figures.

    Guardrail rows come from ``guardrail_result`` when the guardrails were analysed as their own
    family, else from ``result``.
    """
    frame = result.to_pandas()
    primary = primary or result.metrics[0]
    if primary not in set(frame["metric"]):
        raise ValueError(f"primary metric {primary!r} is not in the result (metrics: {', '.join(result.metrics)})")
    guard_frame = guardrail_result.to_pandas() if guardrail_result is not None else frame
    missing = [g for g in guardrails if g not in set(guard_frame["metric"])]
    if missing:
        raise ValueError(f"guardrail metric(s) {', '.join(map(repr, missing))} are not in the result "
                         f"(metrics: {', '.join(dict.fromkeys(guard_frame['metric']))})")
    rows = frame[frame["metric"] == primary].set_index("variant")
    arms = len(rows)
    alpha = result.alpha
    detectable = rows["detectable_rel"].median()
    users = int(rows["n_treatment"].median())
    power_line = (f"With about {users:,} users per arm, lifts under {detectable:.1%} on {primary} were not reliably "
                  f"detectable (80% power, {result.correction} over {len(rows)} {fmt.plural(len(rows), 'arm')}).")

    if srm is not None and srm.mismatch:
        worst = srm.table.iloc[srm.table["deviation"].abs().argmax()]
        text = (f"**Invalid test — sample-ratio mismatch.** The arms did not receive the planned shares "
                f"(χ² p = {srm.pvalue:.2g} < {srm.threshold:g}); the largest deviation is arm {worst.variant} with "
                f"{worst.share:.2%} of users against {worst.expected_share:.2%} planned. Fix assignment or logging "
                f"before reading any effect; no arm is declared a winner.")
        return Verdict("invalid", primary, text=text)

    significant_up = rows.index[(rows["significant"]) & (rows["effect"] > 0)].tolist()
    losers = rows.index[(rows["significant"]) & (rows["effect"] < 0)].tolist()
    breached: dict[str, list[str]] = {}
    for arm in significant_up:
        for g in guardrails:
            row = guard_frame[(guard_frame["metric"] == g) & (guard_frame["variant"] == arm)].iloc[0]
            if row.effect < 0 and row.pvalue < alpha:
                breached.setdefault(arm, []).append(g)
    winners = [a for a in significant_up if a not in breached]
    # every arm worse than control on a guardrail at the unadjusted level: a watch list, not a decision
    harmful = guard_frame[guard_frame["metric"].isin(list(guardrails)) & (guard_frame["effect"] < 0)
                          & (guard_frame["pvalue"] < alpha)]
    watch: dict[str, list[str]] = {}
    for _, row in harmful.iterrows():
        watch.setdefault(row.variant, []).append(row.metric)
    guard_comparisons = int(guard_frame["metric"].isin(list(guardrails)).sum())
    watch_line = ""
    if watch:
        items = "; ".join(
            f"{arm}: " + ", ".join(
                f"{r.metric} {_change(r.rel_effect)} (p = {r.pvalue:.2g})" for r in harmful[harmful.variant == arm].itertuples())
            for arm in sorted(watch))
        watch_line = (f" Guardrail watch list (worse than control at the unadjusted {alpha:g} level; about "
                      f"{alpha / 2 * guard_comparisons:.1f} such flags are expected by chance over {guard_comparisons} "
                      f"guardrail comparisons): {items}.")
    loser_line = (f" {len(losers)} arm(s) were significantly worse than control: {', '.join(losers)}." if losers else "")
    lines = []
    if winners:
        ranked = rows.loc[winners].sort_values("rel_effect", ascending=False)
        status = "winner"
        lines.append(f"**{fmt.plural(len(winners), 'Winner')} on {primary}: {', '.join(ranked.index)}** "
                     f"(of {arms} {fmt.plural(arms, 'arm')} against {result.control}, after {result.correction} correction).")
        for arm, row in ranked.iterrows():
            guard = "; ".join(f"{g} {_change(guard_frame[(guard_frame.metric == g) & (guard_frame.variant == arm)].rel_effect.iloc[0])}"
                              for g in guardrails)
            lines.append(f"- {arm}: {primary} {_describe_row(row, alpha)}" + (f"; guardrails: {guard} (no significant harm)" if guard else ""))
        if breached:
            lines.append(f"Significant on {primary} but rejected for harming a guardrail: "
                         + ", ".join(f"{a} ({', '.join(g)})" for a, g in breached.items()) + ".")
    elif significant_up:
        status = "guardrail breached"
        lines.append(f"**No arm can ship: every arm that beat control on {primary} hurts a guardrail** — "
                     + ", ".join(f"{a} ({', '.join(g)})" for a, g in breached.items()) + ".")
    else:
        best = rows.sort_values("rel_effect", ascending=False).iloc[0]
        ruled_out = bool((rows["rel_ci_high"] < min_lift).all())
        status = "no winner" if ruled_out else "inconclusive"
        if ruled_out:
            lines.append(f"**No winner on {primary}.** No arm beat control after {result.correction} correction, and "
                         f"every arm's interval excludes a lift of {min_lift:.0%} or more.")
        else:
            lines.append(f"**Inconclusive on {primary}.** No arm beat control after {result.correction} correction, "
                         f"but lifts of {min_lift:.0%} are not ruled out for "
                         f"{int((rows['rel_ci_high'] >= min_lift).sum())} of {arms} arms.")
        lines.append(f"The best-looking arm, {best.name}, moved {primary} by {_describe_row(best, alpha)}.")
    lines.append(power_line + loser_line)
    if watch_line:
        lines.append(watch_line.strip())
    return Verdict(status, primary, winners=winners, breached=breached, losers=losers, watch=watch, text="\n\n".join(lines))
