"""Customers and retention (复购 · RFM 分层 · 唤醒 · CLV)."""
from kit.customers.clv import CLVFit, expected_purchases, fit_clv, probability_alive, rfm_summary

__all__ = ["CLVFit", "expected_purchases", "fit_clv", "probability_alive", "rfm_summary"]
