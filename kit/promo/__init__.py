"""Promotion lift: how much of a promotion's GMV was incremental — during, after and net — and at what cost.

Flat API::

    import kit
    result = kit.promo.lift(daily_table, "2025-11-01", "2025-11-11", controls=[...], post_days=14)
    result.to_pandas()        # during / after / net: actual, predicted, effect, intervals, p-value
    result.plot()             # actual vs counterfactual, pointwise and cumulative effect

    table = kit.promo.daily(src, "2025_double11")            # daily outcome/controls from the contract
    review = kit.promo.review(src, "2025_double11", params)  # lift + cannibalisation + ROI + KPIs + checks
"""
from kit.promo.data import EventKPIs, control_columns, daily, event_kpis, promotion_cost, promotions
from kit.promo.impact import IncrementalROI, PromotionReview, QuarterReview, StoreImpact, cannibalisation, incremental_roi, review, review_quarter
from kit.promo.lift import LiftResult, PlaceboResult, PromoWarning, lift, placebo
from kit.promo.plots import plot_incremental, plot_lift

__all__ = [
    "EventKPIs", "IncrementalROI", "LiftResult", "PlaceboResult", "PromoWarning", "PromotionReview", "QuarterReview",
    "StoreImpact",
    "cannibalisation", "control_columns", "daily", "event_kpis", "incremental_roi", "lift", "placebo",
    "plot_incremental", "plot_lift", "promotion_cost", "promotions", "review", "review_quarter",
]
