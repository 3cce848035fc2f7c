"""Loaders over each kind of source: Parquet folder, CSV folder, Parquet parts, DuckDB file, Ibis URL/backend."""
import ibis
import pandas as pd
import pytest

import kit
from kit import config
from tests.contract_fixtures import valid_tables, write


def _orders(source):
    return source.table("orders").order_by("order_id").execute()


def test_every_kind_of_source_gives_the_same_checked_orders(tmp_path):
    tables = valid_tables()
    parquet = kit.connect(write(tables, tmp_path / "parquet"))
    csv = kit.connect(write(tables, tmp_path / "csv", "csv"))

    parts = tmp_path / "parts"
    write(tables, parts)
    (parts / "orders.parquet").unlink()
    (parts / "orders").mkdir()
    tables["orders"].iloc[:2].to_parquet(parts / "orders" / "part-0000.parquet", index=False)
    tables["orders"].iloc[2:].to_parquet(parts / "orders" / "part-0001.parquet", index=False)
    parted = kit.connect(parts)

    db_path = tmp_path / "shop.duckdb"
    con = ibis.duckdb.connect(str(db_path))
    for name, frame in tables.items():
        con.create_table(name, frame)
    con.disconnect()
    duckdb_file = kit.connect(db_path)
    url = kit.connect(f"duckdb://{db_path}?read_only=true")
    backend = kit.connect(ibis.duckdb.connect(str(db_path), read_only=True))

    expected = _orders(parquet)
    assert len(expected) == 3 and expected.paid_at.iloc[0] == pd.Timestamp("2025-11-11 00:30:00")
    for source in (csv, parted, duckdb_file, url, backend):
        got = _orders(source)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_quarter_filter_is_pushed_into_the_engine(tmp_path):
    source = kit.connect(write(valid_tables(), tmp_path / "d"))
    expr = source.table("orders", quarter="2025Q4")
    sql = str(ibis.to_sql(expr))
    assert "WHERE" in sql.upper() and "MAKE_TIMESTAMP(2025, 10, 1" in sql.upper()


def test_contract_is_checked_once_per_source(tmp_path, monkeypatch):
    source = kit.connect(write(valid_tables(), tmp_path / "d"))
    calls = []
    original = kit.source.check_and_normalise
    monkeypatch.setattr(kit.source, "check_and_normalise", lambda *a, **k: calls.append(a[1].name) or original(*a, **k))
    source.table("orders"); source.table("orders", quarter="2025Q4"); source.table("order_items")
    assert calls == ["orders", "order_items"]


def test_check_counts_every_table(tmp_path):
    counts = kit.connect(write(valid_tables(), tmp_path / "d")).check()
    assert counts["orders"] == 3 and counts["order_items"] == 4 and len(counts) == 9


def test_missing_table_and_unknown_sources(tmp_path):
    tables = valid_tables()
    del tables["touchpoints"]
    source = kit.connect(write(tables, tmp_path / "d"))
    with pytest.raises(FileNotFoundError, match="no file for table 'touchpoints'"):
        source.table("touchpoints")
    with pytest.raises(KeyError, match="not a table of the data contract"):
        source.table("customers")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no contract tables"):
        kit.connect(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="DuckDB file not found"):
        kit.connect(tmp_path / "nope.duckdb")
    with pytest.raises(FileNotFoundError, match="cannot open data source"):
        kit.connect(tmp_path / "nowhere")


def test_missing_sample_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "SAMPLE_DIR", tmp_path / "sample")
    with pytest.raises(FileNotFoundError, match="kit synth"):
        kit.connect()


def test_params_source_and_timezone_are_used(tmp_path):
    folder = write(valid_tables(), tmp_path / "d")
    p = kit.params.load("2025Q4", source=str(folder), timezone="UTC")
    source = kit.connect(params=p)
    assert source.timezone == "UTC" and source.name == str(folder)
    assert _orders(source).paid_at.iloc[0] == pd.Timestamp("2025-11-10 16:30:00")


def test_tables_checked_earlier_in_a_run_are_not_checked_again(tmp_path, monkeypatch):
    """`kit report` checks once and lists the fingerprints that passed; a notebook's Source skips
    those tables, and only those: a changed file or a broken table is checked (and fails) again."""
    import json

    import kit.source
    from kit.contract import ContractError

    tables = valid_tables()
    tables["orders"].loc[0, "gmv"] = -5.0  # broken: never listed as passed
    folder = write(tables, tmp_path / "data")
    first = kit.connect(folder)
    passed = first.passing_fingerprints()
    assert first.fingerprint("orders") not in passed
    assert first.fingerprint("users") in passed and len(passed) == len(first.tables()) - 2  # orders and its items
    listing = tmp_path / "checked.json"
    listing.write_text(json.dumps(passed))
    monkeypatch.setenv(kit.source.CHECKED_ENV, str(listing))

    real_check = kit.source.check_and_normalise
    checked = []
    monkeypatch.setattr(kit.source, "check_and_normalise", lambda raw, spec, **kw: checked.append(spec.name) or real_check(raw, spec, **kw))
    second = kit.connect(folder)
    assert second.table("users").count().execute() == len(tables["users"])
    assert checked == []
    with pytest.raises(ContractError, match="gmv"):
        second.table("orders")
    assert checked == ["orders"]

    # A rewritten file is a different table: checked again, even with the old listing in place.
    tables["users"] = tables["users"].iloc[:-1]
    tables["users"].to_parquet(folder / "users.parquet", index=False)
    third = kit.connect(folder)
    assert third.fingerprint("users") not in passed
    third.table("users")
    assert checked == ["orders", "users"]
