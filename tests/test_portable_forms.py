"""The portable forms (window functions instead of as-of joins, ordered aggregates instead of arrays
of records: what Spark and PostgreSQL run) against the same brute-force references as DuckDB's own
forms, here on DuckDB with its fast paths switched off. The parity suite (tests/test_parity.py)
runs them on the real engines."""
from __future__ import annotations

import pytest

from kit import engines
from tests.test_channel_data import (  # noqa: F401  (fixtures and tests re-run here)
    source,
    tables,
    test_paths_match_a_python_walk,
    test_paths_with_a_short_lookback_and_order_totals,
    test_same_instant_touch_counts_before_the_order,
)
from tests.test_funnel import (  # noqa: F401
    logs,
    test_chains_match_brute_force,
    test_one_pass_with_breakdowns_equals_separate_calls,
    test_time_to_convert_matches_numpy_quantiles,
)


@pytest.fixture(autouse=True)
def portable_forms(monkeypatch):
    """Every engine counts as one without a fast as-of join or arrays of records."""
    monkeypatch.setattr(engines, "_FAST_ASOF", frozenset())
    monkeypatch.setattr(engines, "_RECORD_ARRAYS", frozenset())


def test_the_portable_forms_are_the_ones_running(logs, monkeypatch):  # noqa: F811
    import ibis

    import kit.funnel as kf
    from kit.funnel import _engine

    assert not engines.has_fast_asof(ibis.memtable(logs)) and not engines.has_record_arrays(ibis.memtable(logs))
    calls = []
    original = _engine._portable.next_level
    monkeypatch.setattr(_engine._portable, "next_level", lambda *a, **k: calls.append(a[2]) or original(*a, **k))
    kf.funnel(logs, ["home_view", "pdp_view", "add_to_cart"], window="1h")
    assert calls == [1, 2]
