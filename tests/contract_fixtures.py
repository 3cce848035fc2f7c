"""A tiny valid data set covering every contract table, for breaking one rule at a time."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

UTC = dt.timezone.utc


def valid_tables() -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime(["2025-11-10T16:30:00Z", "2025-09-30T15:59:59Z", "2025-12-31T15:00:00Z"])
    return {
        "users": pd.DataFrame({
            "user_id": ["u1", "u2", "u3"],
            "signup_at": pd.to_datetime(["2024-01-05T02:00:00Z", "2025-03-01T12:00:00Z", "2025-10-02T09:00:00Z"]),
            "member_tier": ["gold", None, "silver"],
            "acquisition_channel": ["douyin", "natural_search", None],
        }),
        "sessions": pd.DataFrame({
            "session_id": ["s1", "s2", "s3"], "user_id": ["u1", "u2", "u3"], "started_at": ts,
            "channel": ["douyin", "natural_search", "search_ads"], "is_paid": [True, False, True],
            "device": ["app", "h5", "pc"],
        }),
        "events": pd.DataFrame({
            "user_id": ["u1", "u1", "u1", "u2"], "session_id": ["s1", "s1", "s1", "s2"],
            "ts": pd.to_datetime(["2025-11-10T16:30:00Z", "2025-11-10T16:30:05Z", "2025-11-10T16:30:09Z", "2025-09-30T15:59:59Z"]),
            "event": ["home_view", "pdp_view", "pdp_scroll", "home_view"],
            "sku_id": [None, "k1", "k1", None], "screen": pd.array([None, 1, 2, None], dtype="Int64"),
        }),
        "orders": pd.DataFrame({
            "order_id": ["o1", "o2", "o3"], "user_id": ["u1", "u2", "u3"], "session_id": ["s1", "s2", None],
            "paid_at": ts, "gmv": [280.0, 1000.0, 55.5], "discount": [0.0, 200.0, 0.0],
            "channel": ["douyin", "natural_search", "search_ads"], "promotion_id": [None, "p1", None],
            "is_presale": [False, True, False], "status": ["paid", "paid", "refunded"],
        }),
        "order_items": pd.DataFrame({
            "order_id": ["o1", "o2", "o2", "o3"], "sku_id": ["k1", "k2", "k3", "k1"],
            "category": ["skincare", "makeup", "makeup", "skincare"], "qty": [1, 2, 1, 1],
            "amount": [280.0, 600.0, 400.0, 55.5],
        }),
        "ad_spend": pd.DataFrame({
            "date": [dt.date(2025, 11, 10), dt.date(2025, 11, 10), dt.date(2025, 11, 11)],
            "channel": ["douyin", "search_ads", "douyin"], "spend": [1000.0, 500.0, 1200.0],
            "impressions": [100000, 20000, 90000], "clicks": [2000, 800, 1900],
        }),
        "touchpoints": pd.DataFrame({
            "user_id": ["u1", "u1"], "ts": pd.to_datetime(["2025-11-01T01:00:00Z", "2025-11-10T16:29:00Z"]),
            "channel": ["xiaohongshu", "douyin"],
        }),
        "experiments": pd.DataFrame({
            "experiment_id": ["e1", "e1"], "user_id": ["u1", "u2"], "variant": ["control", "v01"],
            "first_exposure_at": pd.to_datetime(["2025-10-10T01:00:00Z", "2025-10-10T02:00:00Z"]),
        }),
        "promotions": pd.DataFrame({
            "promotion_id": ["p1"], "name": ["Double 11"], "kind": ["festival"],
            "start": [dt.date(2025, 11, 1)], "end": [dt.date(2025, 11, 11)], "presale_start": [dt.date(2025, 10, 20)],
            "categories": ["skincare,makeup"], "threshold": [1000.0], "discount": [200.0],
        }),
        "outreach": pd.DataFrame({
            "user_id": ["u1", "u2"], "sent_at": pd.to_datetime(["2025-10-15T02:00:00Z", "2025-10-15T02:00:00Z"]),
            "campaign": ["winback", "winback"], "group": ["treatment", "holdout"],
        }),
    }


def write(tables: dict[str, pd.DataFrame], folder: Path, fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder
