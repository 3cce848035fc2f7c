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
    source.table("orders")
    source.table("orders", quarter="2025Q4")
    source.table("order_items")
    assert calls == ["orders", "order_items"]


def test_check_counts_every_table(tmp_path):
    counts = kit.connect(write(valid_tables(), tmp_path / "d")).check()
    assert counts["orders"] == 3 and counts["order_items"] == 4 and len(counts) == 10


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


def test_tables_that_passed_unchanged_are_not_checked_again(tmp_path, monkeypatch):
    """A table that passed is remembered by its fingerprint: a new Source (another notebook,
    another day) skips it, and only it: a broken table, a rewritten file, other rules or
    `reuse_checks=False` are checked again."""
    import kit.source
    from kit.contract import ContractError

    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    tables = valid_tables()
    tables["orders"].loc[0, "gmv"] = -5.0  # broken: never remembered as passed
    folder = write(tables, tmp_path / "data")
    first = kit.connect(folder)
    for name in first.tables():
        try:
            first.table(name)
        except ContractError:
            pass
    assert not first.passed_before("orders") and not first.passed_before("order_items")  # items are checked with their orders
    assert all(first.passed_before(n) for n in first.tables() if n not in ("orders", "order_items"))

    real_check = kit.source.check_and_normalise
    checked = []
    monkeypatch.setattr(kit.source, "check_and_normalise", lambda raw, spec, **kw: checked.append(spec.name) or real_check(raw, spec, **kw))
    second = kit.connect(folder)
    assert second.table("users").count().execute() == len(tables["users"])
    assert checked == []
    with pytest.raises(ContractError, match="gmv"):
        second.table("orders")
    assert checked == ["orders"]

    # A rewritten file is a different table: checked again.
    before = second.fingerprint("users")
    tables["users"] = tables["users"].iloc[:-1]
    tables["users"].to_parquet(folder / "users.parquet", index=False)
    third = kit.connect(folder)
    assert third.fingerprint("users") != before
    third.table("users")
    assert checked == ["orders", "users"]

    # Other rules (another channel list) and an explicit re-check do not reuse a pass.
    kit.connect(folder, channels=[*kit.params.defaults().channels, "a_new_channel"]).table("sessions")
    kit.connect(folder, timezone="UTC").table("users")
    kit.connect(folder, reuse_checks=False).table("users")
    assert checked == ["orders", "users", "sessions", "users", "users"]

    # With the cache switched off nothing is remembered.
    monkeypatch.setenv("KIT_CACHE_DIR", "off")
    assert not kit.connect(folder).passed_before("users")
