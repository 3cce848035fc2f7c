"""The promotion review's shown digits do not hang on the last bits of its input.

The same data read through another engine (or summed in another order) differs by ~1e-9 yuan; a
review of it must show the same intervals. Before the fix (kit.promo.model: the Laplace Hessian by
wide central differences, the Nelder-Mead end point polished, symmetric square roots) such noise
moved 2025_member_dec's net interval low from 13,680 to 11,531."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kit.promo as promo
from kit.promo import data as promo_data

RELATIVE_NOISE = 1e-9


def _shown(review: promo.QuarterReview) -> dict[str, pd.DataFrame]:
    """Every table the notebook shows for the quarter, as displayed (strings)."""
    shown = {"quarter": review.display()}
    for pid, r in review.reviews.items():
        shown[f"{pid} lift"] = r.lift.display()
        shown[f"{pid} store"] = r.store.display()
        if r.roi is not None:
            shown[f"{pid} roi"] = r.roi.display()
        if r.lift.placebo is not None:
            shown[f"{pid} placebo"] = r.lift.placebo.display()
    return shown


@pytest.mark.slow
def test_noise_in_the_daily_tables_moves_no_shown_digit(sample_source, sample_params, monkeypatch):
    exact_review = promo.review_quarter(sample_source, sample_params)
    daily = promo_data.daily
    rng = np.random.default_rng(1)

    def noisy_daily(*args, **kwargs):
        table = daily(*args, **kwargs)
        for column in table.columns:
            if pd.api.types.is_float_dtype(table[column]):
                table[column] = table[column] * (1 + RELATIVE_NOISE * rng.uniform(-1, 1, len(table)))
        return table

    monkeypatch.setattr(promo_data, "daily", noisy_daily)
    noisy_review = promo.review_quarter(sample_source, sample_params)
    # The noise reached the numbers (unrounded, they differ) ...
    numbers = ["net_effect", "net_ci_low", "net_ci_high", "store_ci_low", "store_ci_high"]
    assert not exact_review.to_pandas()[numbers].equals(noisy_review.to_pandas()[numbers])
    # ... and no shown digit of any table.
    exact, noisy = _shown(exact_review), _shown(noisy_review)
    assert noisy.keys() == exact.keys()
    moved = {name: (exact[name], noisy[name]) for name in exact if not exact[name].equals(noisy[name])}
    assert not moved, "\n\n".join(f"{name}\nexact:\n{a}\nnoisy:\n{b}" for name, (a, b) in moved.items())
