"""A quarter's channel review, as the notebook shows it: every result from one call, and the finding in words."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kit import format as fmt
from kit import params as params_module
from kit.channel.attribution import AttributionResult, attribution
from kit.channel.findings import findings
from kit.channel.journeys import paths
from kit.channel.reallocate import Reallocation, reallocate
from kit.channel.response import ResponseModel, response_model
from kit.channel.summary import ChannelSummary, summary
from kit.channel.weekly import weekly
from kit.quarter import Quarter
from kit.results import Result, Table

# Digits the parameter table is shown with: money-sized parameters whole, shapes and adstock to 0.01.
_PARAMETER_DIGITS = {"adstock": 2, "half_saturation": 0, "shape": 2, "beta": 0}


@dataclass(repr=False)
class ChannelReview(Result):
    """Everything the channel notebook shows for a quarter; ``to_pandas()`` is the channel summary."""

    quarter: str
    summary: ChannelSummary
    journeys: pd.DataFrame
    attribution: AttributionResult
    weekly: pd.DataFrame
    model: ResponseModel
    plan: Reallocation
    bounds: float

    @property
    def title(self) -> str:
        return f"Channel review {self.quarter}"

    @property
    def unit(self) -> str:
        """The money's word (``params.currency.unit``) for plot axes: yuan, USD, ..."""
        return self.summary.unit

    def to_pandas(self) -> pd.DataFrame:
        return self.summary.to_pandas()

    def model_parameters(self) -> Table:
        """The response model's parameters and their intervals, rounded for reading (a Table: its text
        repr is the rounded frame, whatever pandas' display width; ``.to_pandas()`` for the numbers)."""
        frame = self.model.params()
        rounded = frame.round({name: places for name, places in _PARAMETER_DIGITS.items() if name in frame.columns})
        for column in [c for c in frame.columns if c.endswith(("_ci_low", "_ci_high"))]:
            rounded[column] = fmt.round_significant(frame[column])   # bootstrap ends: see fmt.INTERVAL_DIGITS
        return Table(rounded, "Response model parameters")

    def finding(self) -> str:
        """The review's conclusions in words (Markdown), computed from the results."""
        return findings(self.summary, self.attribution, self.model, self.plan, bounds=self.bounds, period=self.quarter)


def review_quarter(source, params, *, channels: list[str] | None = None, **overrides) -> ChannelReview:
    """Summary, attribution, response model and reallocation for ``params.quarter``, with ``overrides`` of
    ``params.channel`` (``lookback=``, ``bounds=``, …; None keeps the params' value). ``channels``: the
    paid channels of the response model (None: every paid channel with spend)."""
    cp = params_module.section(params, "channel", **overrides)
    quarter = params.quarter
    channel_summary = summary(source, quarter, params=params)
    journeys = paths(source, quarter, cp.lookback, params=params)
    attributed = attribution(journeys, cp.attribution_models, half_life_days=cp.half_life_days)
    weeks = weekly(source, cp.history_start, Quarter(quarter).end, params=params)
    model = response_model(weeks, "gmv", channels or weeks.attrs["spend_columns"], controls=cp.controls,
                           saturation=cp.saturation, bootstrap=cp.bootstrap, seed=cp.seed, period=quarter,
                           exclude="promo_week")
    plan = reallocate(model, bounds=cp.bounds, target_roas=cp.target_roas)
    return ChannelReview(quarter, channel_summary, journeys, attributed, weeks, model, plan, cp.bounds)
