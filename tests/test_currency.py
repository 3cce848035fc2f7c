"""Money in the project's currency on the channel and promotion pages: findings, notes and plot axes.

The overview's tiles are tested in test_overview.py; here a USD project must show no yuan anywhere
the channel review (summary → attribution → response model → reallocation → findings) and the
promotion review (verdict, quarter finding, plots) put words or axis labels.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import kit  # noqa: E402
import kit.format  # noqa: E402
import kit.promo  # noqa: E402
from kit.channel import plots  # noqa: E402
from tests.test_channel_data import make_tables, write  # noqa: E402

USD = {"code": "USD", "symbol": "$"}


def _labels(*axes) -> str:
    return " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in axes)


def test_currency_unit_is_a_word_for_yuan_and_the_code_otherwise():
    assert kit.params.load("2025Q4").currency.unit == "yuan"
    assert kit.params.load("2025Q4", currency=USD).currency.unit == "USD"


@pytest.fixture(scope="module")
def channel_review(tmp_path_factory):
    folder = tmp_path_factory.mktemp("usd_shop")
    write(make_tables(), folder)
    p = kit.params.load("2025Q4", source=str(folder), currency=USD)
    src = kit.connect(params=p)
    summary = kit.channel.summary(src, "2025Q4", params=p)
    journeys = kit.channel.paths(src, "2025Q4", params=p)
    attribution = kit.channel.attribution(journeys, ["last", "markov"])
    weekly = kit.channel.weekly(src, "2024-07-01", "2025-12-31", params=p)
    model = kit.channel.response_model(weekly, "gmv", weekly.attrs["spend_columns"], bootstrap=5,
                                       compare_shapes=False, period="2025Q4")
    plan = kit.channel.reallocate(model, bounds=0.3)
    return summary, attribution, model, plan


def test_channel_review_speaks_the_projects_currency(channel_review):
    summary, attribution, model, plan = channel_review
    assert (summary.unit, attribution.unit, model.unit, plan.unit) == ("USD",) * 4
    text = kit.channel.findings(summary, attribution, model, plan, bounds=0.3, period="2025Q4")
    text += " ".join(summary.notes + attribution.notes + plan.notes)
    assert "yuan" not in text and "¥" not in text
    total = summary.to_pandas().set_index("channel").loc["paid channels"]
    assert f"spent {total.spend:,.0f} USD" in text and "One more USD at current spend" in text
    fig, axes = plt.subplots(1, 3)
    plots.model_fit(data=model.contributions(), ax=axes[0], unit=model.unit)
    plots.response_curves(data=pd.concat([model.response_curve(c) for c in model.channels]), ax=axes[1], unit=model.unit)
    plots.reallocation(data=plan.to_pandas(), ax=axes[2], unit=plan.unit)
    labels = _labels(*axes)
    plt.close(fig)
    assert labels.count("USD") == 4 and "yuan" not in labels


def test_promotion_review_speaks_the_projects_currency(sample_source):
    p = kit.params.load("2025Q4", currency=USD, promo={"placebos": 0, "promotions": ["2025_member_dec"]})
    quarter = kit.promo.review_quarter(sample_source, p)
    review = quarter.reviews["2025_member_dec"]
    text = review.finding() + quarter.finding()
    assert "yuan" not in text and "¥" not in text
    assert f"{kit.format.figure(review.lift.row('during')['effect'])} USD incremental during the event" in text
    axes = review.plot()
    bars = kit.promo.plot_incremental(data=quarter.to_pandas(), x="promotion_id", y="store_net", low="store_ci_low",
                                      high="store_ci_high", unit=quarter.unit)
    labels = _labels(*axes, bars)
    plt.close("all")
    assert "USD / day" in labels and "incremental GMV (USD)" in labels and "yuan" not in labels
