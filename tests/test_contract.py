"""Each contract rule: a failing example and the text of its error."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import kit
from tests.contract_fixtures import valid_tables, write


def load_all(folder, fmt="parquet"):
    source = kit.connect(folder)
    return {name: source.table(name).execute() for name in source.tables()}


def broken(tmp_path, table, mutate, fmt="parquet"):
    tables = valid_tables()
    tables[table] = mutate(tables[table].copy())
    return kit.connect(write(tables, tmp_path / "data", fmt))


def test_valid_fixture_loads_in_both_formats(tmp_path):
    for fmt in ("parquet", "csv"):
        loaded = load_all(write(valid_tables(), tmp_path / fmt, fmt))
        assert set(loaded) == set(kit.contract.TABLES)
        assert loaded["orders"].gmv.dtype == "float64"
        assert loaded["order_items"].qty.tolist() == [1, 2, 1, 1]
        # ids are strings, timestamps naive local time (UTC+8)
        assert loaded["orders"].paid_at.iloc[0] == pd.Timestamp("2025-11-11 00:30:00")
        assert loaded["orders"].paid_at.dt.tz is None


def _set(column, index, value):
    def mutate(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[index, column] = value
        return frame
    return mutate


# (table, mutation, fragments the message must contain)
CASES = {
    "missing column": ("orders", lambda f: f.drop(columns=["gmv"]),
                       ["table 'orders'", "column 'gmv'", "required column is missing", "columns present"]),
    "null key": ("orders", _set("order_id", 1, None),
                 ["table 'orders'", "column 'order_id'", "must not be empty", "1 row breaks it", "user_id='u2'"]),
    "duplicate key": ("orders", _set("order_id", 2, "o1"),
                      ["table 'orders'", "column 'order_id'", "duplicate keys", "2 rows", "order_id='o1'"]),
    "negative gmv": ("orders", _set("gmv", 0, -5.0),
                     ["table 'orders'", "column 'gmv'", "gmv must be ≥ 0", "1 row breaks it", "gmv=-5.0", "order_id='o1'"]),
    "negative discount": ("orders", _set("discount", 2, -1.0), ["column 'discount'", "discount must be ≥ 0"]),
    "unknown status": ("orders", _set("status", 0, "cancelled"),
                       ["column 'status'", "must be one of paid, refunded", "status='cancelled'"]),
    "unknown channel (orders)": ("orders", _set("channel", 1, "tiktok"),
                                 ["column 'channel'", "the channel list in params", "channel='tiktok'"]),
    "unknown channel (sessions)": ("sessions", _set("channel", 0, "weibo"), ["table 'sessions'", "channel='weibo'"]),
    "unknown event": ("events", _set("event", 2, "scroll"),
                      ["table 'events'", "column 'event'", "the event names of the contract", "event='scroll'"]),
    "screen below 1": ("events", _set("screen", 2, 0), ["column 'screen'", "screen", "≥ 1"]),
    "zero quantity": ("order_items", _set("qty", 0, 0), ["table 'order_items'", "column 'qty'", "qty must be > 0"]),
    "orphan item": ("order_items", _set("order_id", 3, "o999"),
                    ["table 'order_items'", "column 'order_id'", "orphan", "1 row breaks it", "order_id='o999'"]),
    "clicks above impressions": ("ad_spend", _set("clicks", 1, 50000),
                                 ["table 'ad_spend'", "column 'clicks'", "clicks must be ≤ impressions", "clicks=50000"]),
    "negative spend": ("ad_spend", _set("spend", 0, -3.0), ["column 'spend'", "spend must be ≥ 0"]),
    "two rows for a day and channel": ("ad_spend", _set("date", 2, dt.date(2025, 11, 10)),
                                       ["table 'ad_spend'", "one row per (date, channel)", "2 rows"]),
    "two variants for a user": ("experiments", _set("user_id", 1, "u1"),
                                ["table 'experiments'", "one variant per (experiment_id, user_id)", "user_id='u1'"]),
    "promotion ends before it starts": ("promotions", _set("end", 0, dt.date(2025, 10, 1)),
                                        ["table 'promotions'", "column 'start'", "start must be ≤ end", "name='Double 11'"]),
    "unknown promotion kind": ("promotions", _set("kind", 0, "sale"), ["column 'kind'", "festival, member_day"]),
    "wrong type": ("orders", lambda f: f.assign(gmv=[True, False, True]),
                   ["table 'orders'", "column 'gmv'", "wrong type", "amount of money", "boolean"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_names_table_column_rule_count_and_example(tmp_path, case):
    table, mutate, fragments = CASES[case]
    source = broken(tmp_path, table, mutate)
    with pytest.raises(kit.ContractError) as error:
        source.table(table).execute()
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert error.value.violations and error.value.violations[0]["table"] == table


def test_unparseable_timestamp_in_csv_is_reported_not_nulled(tmp_path):
    source = broken(tmp_path, "events", _set("ts", 1, "2025-13-45 25:00"), fmt="csv")
    with pytest.raises(kit.ContractError) as error:
        source.table("events")
    message = str(error.value)
    assert "table 'events', column 'ts': cannot be read as a timestamp" in message
    assert "1 row breaks it" in message and "ts='2025-13-45 25:00'" in message


def test_unparseable_money_in_csv(tmp_path):
    source = broken(tmp_path, "orders", _set("gmv", 2, "12,5 yuan"), fmt="csv")
    with pytest.raises(kit.ContractError, match=r"column 'gmv': cannot be read as an amount of money .* gmv='12,5 yuan'"):
        source.table("orders")


def test_csv_with_one_broken_rule_reads_like_a_sentence(tmp_path):
    """The acceptance case: a folder of CSVs with one broken rule, understood without reading code."""
    source = broken(tmp_path, "orders", _set("gmv", 1, -1000.0), fmt="csv")
    with pytest.raises(kit.ContractError) as error:
        source.table("orders")
    lines = str(error.value).splitlines()
    assert lines[0].startswith("1 data contract violation in ")
    assert lines[1].startswith("- table 'orders', column 'gmv': gmv must be ≥ 0 — 1 row breaks it; example: order_id='o2'")
    assert "README" in lines[-1]


def test_all_violations_of_a_table_are_reported_together(tmp_path):
    def mutate(frame):
        frame = _set("gmv", 0, -1.0)(frame)
        return _set("status", 1, "lost")(frame)

    with pytest.raises(kit.ContractError) as error:
        broken(tmp_path, "orders", mutate).table("orders")
    assert str(error.value).startswith("2 data contract violations")
    assert {v["column"] for v in error.value.violations} == {"gmv", "status"}


def test_ids_keep_leading_zeros_from_csv_and_integers_become_strings(tmp_path):
    tables = valid_tables()
    tables["users"]["user_id"] = ["007", "008", "009"]
    csv = kit.connect(write(tables, tmp_path / "csv", "csv")).table("users").execute()
    assert csv.user_id.tolist() == ["007", "008", "009"]
    tables["users"]["user_id"] = [7, 8, 9]
    parquet = kit.connect(write(tables, tmp_path / "pq")).table("users").execute()
    assert parquet.user_id.tolist() == ["7", "8", "9"]


def test_text_timestamps_with_and_without_offsets(tmp_path):
    tables = valid_tables()
    tables["touchpoints"]["ts"] = ["2025-11-10T16:30:00Z", "2025-11-10 16:30:00"]
    loaded = kit.connect(write(tables, tmp_path / "csv", "csv")).table("touchpoints").execute()
    # an instant marked UTC is converted to Beijing time; plain text is already local time
    assert loaded.ts.tolist() == [pd.Timestamp("2025-11-11 00:30:00"), pd.Timestamp("2025-11-10 16:30:00")]


def test_channel_rule_follows_the_params_channel_list(tmp_path):
    folder = write(valid_tables(), tmp_path / "data")
    with pytest.raises(kit.ContractError, match="channel='douyin'"):
        kit.connect(folder, channels=["natural_search", "search_ads"]).table("sessions")


def test_require_columns_names_input_reasons_and_columns_present():
    from kit.contract import require_columns

    frame = pd.DataFrame({"date": [], "gmv": []})
    require_columns(frame, ["date", "gmv"], "daily table")  # nothing missing: no error
    with pytest.raises(ValueError, match=r"^daily table: required column 'spend' is missing; columns present: date, gmv$"):
        require_columns(frame, ["date", "spend"], "daily table")
    with pytest.raises(ValueError, match=r"^x: required columns 'a', 'b' are missing \('a': why a\); columns present: date, gmv$"):
        require_columns(frame, {"a": "why a", "b": None, "gmv": "money"}, "x")


def test_duplicate_gate_agrees_with_pandas_on_random_keys():
    """The sort-based gate before the exact duplicate count must never miss a duplicate (nor invent one
    where pandas finds none): random two-column keys, shuffled, with nulls, many sizes."""
    import ibis
    import numpy as np

    from kit.contract import _may_have_duplicates

    rng = np.random.default_rng(7)
    seen = set()
    for trial in range(60):
        n = int(rng.integers(1, 40))
        frame = pd.DataFrame({"a": rng.choice(["x", "y", "z", None], n), "b": rng.integers(0, 3 * n, n)})
        if trial % 3 == 0:
            frame = frame.drop_duplicates().reset_index(drop=True)
        expected = bool(frame.duplicated(["a", "b"]).any())
        seen.add(expected)
        assert _may_have_duplicates(ibis.memtable(frame), ["a", "b"], "duckdb") == expected, frame
    assert seen == {True, False}
