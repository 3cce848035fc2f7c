"""Customers and retention (复购 · RFM 分层 · 唤醒 · CLV): ``review_quarter(source, params)`` and its parts."""
from kit.customers.clv import CLVFit, expected_purchases, fit_clv, probability_alive, rfm_summary
from kit.customers.plots import plot_cohorts, plot_holdout
from kit.customers.retention import (
    LAYERS,
    cohorts,
    customer_rfm,
    dormancy,
    layer_movement,
    member_tiers,
    outreach_lift,
    repurchase,
    repurchase_change,
    repurchase_cycle,
    rfm_layers,
)
from kit.customers.review import CustomersReview, review_quarter

__all__ = ["CLVFit", "CustomersReview", "LAYERS", "cohorts", "customer_rfm", "dormancy", "expected_purchases", "fit_clv",
           "layer_movement", "member_tiers", "outreach_lift", "plot_cohorts", "plot_holdout", "probability_alive",
           "repurchase", "repurchase_change", "repurchase_cycle", "review_quarter", "rfm_layers", "rfm_summary"]
