"""The parity suite's engines: a small slice of the sample as Parquet files, opened on DuckDB,
on Spark (``local[2]``, through a params-style source description) and on PostgreSQL (loaded into
a database on 127.0.0.1, see ``.ci/postgres``).

Spark and PostgreSQL are optional on a laptop: without them their tests skip, unless
``KIT_REQUIRE_ENGINES=1`` (CI) turns the skip into a failure.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from kit import config
from kit.contract import TABLES

# About a month with a promotion in it (Double 11's presale and main days) and the A/B test's
# exposures for the event-level tables, from two weeks before the first exposure (the CUPED
# pre-period); a longer history for orders (the promotion model's pre-period) and touches (the
# journeys' lookback); one user in SHARE of the sample's users.
SHARE = 25
EVENTS_FROM, EVENTS_TO = "2025-09-21", "2025-11-12"
ORDERS_FROM, ORDERS_TO = "2025-07-01", "2025-11-30"
TOUCHES_FROM = "2025-09-01"

_POSTGRES_TYPES = {"VARCHAR": "text", "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMP": "timestamp",
                   "DOUBLE": "double precision", "BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint", "TINYINT": "smallint", "BOOLEAN": "boolean",
                   "DATE": "date"}


def required() -> bool:
    """Whether a missing engine fails the tests instead of skipping them (CI sets KIT_REQUIRE_ENGINES=1)."""
    return bool(os.environ.get("KIT_REQUIRE_ENGINES"))


def unavailable(why: str) -> None:
    """Skip, or fail when the engines are required."""
    if required():
        pytest.fail(f"{why} (KIT_REQUIRE_ENGINES is set: the engines must be installed, see .ci/run)")
    pytest.skip(why)


def _filtered_sql(name: str, folder: Path) -> str:
    """The slice of one table of the sample, as a DuckDB query."""
    def read(table):
        path = folder / table
        return f"read_parquet('{path}/*.parquet')" if path.is_dir() else f"read_parquet('{path}.parquet')"

    users = f"(SELECT user_id FROM {read('users')} WHERE hash(user_id) % {SHARE} = 0)"
    between = lambda column, lo, hi: f"{column} >= TIMESTAMPTZ '{lo} 00:00:00+08' AND {column} < TIMESTAMPTZ '{hi} 00:00:00+08'"  # noqa: E731
    of_users = f"user_id IN {users}"
    orders = f"SELECT * FROM {read('orders')} WHERE {of_users} AND {between('paid_at', ORDERS_FROM, ORDERS_TO)}"
    return {
        "users": f"SELECT * FROM {read('users')} WHERE {of_users}",
        "sessions": f"SELECT * FROM {read('sessions')} WHERE {of_users} AND {between('started_at', EVENTS_FROM, EVENTS_TO)}",
        "events": f"SELECT * FROM {read('events')} WHERE {of_users} AND {between('ts', EVENTS_FROM, EVENTS_TO)}",
        "orders": orders,
        "order_items": f"SELECT * FROM {read('order_items')} WHERE order_id IN (SELECT order_id FROM ({orders}))",
        "ad_spend": f"SELECT * FROM {read('ad_spend')}",
        "touchpoints": f"SELECT * FROM {read('touchpoints')} WHERE {of_users} AND {between('ts', TOUCHES_FROM, ORDERS_TO)}",
        "experiments": f"SELECT * FROM {read('experiments')} WHERE {of_users}",
        "promotions": f"SELECT * FROM {read('promotions')}",
        "outreach": f"SELECT * FROM {read('outreach')} WHERE {of_users} AND {between('sent_at', ORDERS_FROM, ORDERS_TO)}",
    }[name]


def write_slice(target: Path, sample: Path = config.SAMPLE_DIR) -> dict[str, int]:
    """Write the slice of ``sample`` to ``target`` (one Parquet file per table, rows in key order so
    every engine reads the same file); returns the row counts."""
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    counts = {}
    for name in TABLES:
        query = _filtered_sql(name, sample)
        con.execute(f"COPY ({query} ORDER BY ALL) TO '{target / name}.parquet' (FORMAT parquet)")
        counts[name] = con.execute(f"SELECT count(*) FROM '{target / name}.parquet'").fetchone()[0]
    return counts


# --------------------------------------------------------------------------------------------
# Spark

def spark_available() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install -c constraints.txt '.[scale]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime for Spark (Java 17)"
    return None


def spark_source_spec(folder: Path) -> dict:
    """A params-style Spark source over the slice's files (what a project's params would say)."""
    return {"kind": "spark", "master": "local[2]",
            "conf": {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                     "spark.driver.memory": "2g"},
            "tables": {name: str(folder / f"{name}.parquet") for name in TABLES}}


# --------------------------------------------------------------------------------------------
# PostgreSQL

def postgres_url() -> str | None:
    """The test database's URL (``KIT_POSTGRES_URL``, exported by .ci/run from ``.ci/postgres start``)."""
    return os.environ.get("KIT_POSTGRES_URL")


def load_postgres(url: str, folder: Path, database: str, tables: "list[str] | None" = None) -> str:
    """Load the Parquet files of ``folder`` (every contract table, or ``tables``) into a new
    ``database`` on the server at ``url`` (replacing it), aware timestamps as ``timestamptz``, naive
    ones as ``timestamp``, with COPY (ibis' inserts take minutes for a million rows); returns the
    new database's URL."""
    import psycopg

    server = url.replace("postgres://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{database}"')
        con.execute(f'CREATE DATABASE "{database}"')
    target = url.rsplit("/", 1)[0] + f"/{database}"
    files = duckdb.connect()
    files.execute("SET TimeZone = 'UTC'")
    with psycopg.connect(target.replace("postgres://", "postgresql://"), autocommit=True) as con:
        for name in tables or TABLES:
            path = folder / f"{name}.parquet"
            columns = files.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
            definition = ", ".join(f'"{c[0]}" {_POSTGRES_TYPES[c[1]]}' for c in columns)
            con.execute(f'CREATE TABLE "{name}" ({definition})')
            # DuckDB writes the CSV (shortest round-trip doubles, instants with their offset)
            csv = folder / f"{name}.copy.csv"
            files.execute(f"COPY (SELECT * FROM '{path}') TO '{csv}' (FORMAT csv, HEADER false, NULLSTR '\\N')")
            with con.cursor().copy(f'COPY "{name}" FROM STDIN (FORMAT csv, NULL \'\\N\')') as copy:
                copy.write(csv.read_bytes())
            csv.unlink()
            con.execute(f'ANALYZE "{name}"')
    return target
