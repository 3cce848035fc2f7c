"""Parity: every public analysis gives the same numbers on DuckDB, Spark (local[2]) and PostgreSQL.

The data are a slice of the sample (tests/engines.py: one user in 25, Double 11 and the A/B test's
month for the event tables). DuckDB's run is the reference; each step of tests/parity.py on Spark
and PostgreSQL must equal it: counts and text exactly, money to 1e-9 relative, statistics to 1e-6.
Spark and PostgreSQL skip when absent, unless KIT_REQUIRE_ENGINES=1 (CI). Also here: time read
right from every kind of stored timestamp, the remembered contract passes of each kind of source,
and a notebook run end to end through papermill on Spark.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import pytest

import kit
from tests import engines, parity

pytestmark = pytest.mark.slow
ENGINES = ["spark", "postgres"]


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity_slice")
    counts = engines.write_slice(folder)
    assert counts["events"] > 100_000 and counts["orders"] > 1_000, counts
    return folder


def _spark_or_skip():
    why = engines.spark_available()
    if why:
        engines.unavailable(why)


def _postgres_or_skip() -> str:
    url = engines.postgres_url()
    if url is None:
        engines.unavailable("no PostgreSQL server (KIT_POSTGRES_URL unset; `.ci/postgres start` prints one)")
    return url


def _open(engine: str, slice_dir, p, reuse_checks: bool = False):
    if engine == "duckdb":
        return kit.connect(slice_dir, params=p, reuse_checks=reuse_checks)
    if engine == "spark":
        _spark_or_skip()
        return kit.connect(engines.spark_source_spec(slice_dir), params=p, reuse_checks=reuse_checks)
    url = engines.load_postgres(_postgres_or_skip(), slice_dir, "kit_parity")
    return kit.connect(url, params=p, reuse_checks=reuse_checks)


_runs: dict = {}


def _run(engine: str, slice_dir):
    if engine not in _runs:
        p = parity.params()
        _runs[engine] = parity.run(_open(engine, slice_dir, p), p)
    return _runs[engine]


@pytest.mark.parametrize("step", [name for name, _ in parity.STEPS])
@pytest.mark.parametrize("engine", ENGINES)
def test_same_numbers_as_duckdb(engine, step, slice_dir):
    expected, _ = _run("duckdb", slice_dir)
    got, _ = _run(engine, slice_dir)
    assert expected[step], f"{step}: the DuckDB run produced nothing to compare"
    found = parity.differences(expected[step], got[step])
    assert not found, f"{step} on {engine} differs from DuckDB:\n" + "\n".join(found[:20])


def test_the_reference_run_is_not_trivial(slice_dir):
    """The comparison proves something only if the slice's analyses found something."""
    expected, _ = _run("duckdb", slice_dir)
    assert expected["quarter filter"]["[events]"] > 50_000
    funnel = expected["funnel.review_quarter"][".funnel"]
    assert funnel["entered"].iloc[0] > 1_000 and funnel["converted_from_previous"].iloc[-1] > 50
    assert expected["channel.paths"][".attrs[orders]"] > 500 and len(expected["channel.paths"][""]) > 1_000
    assert len(expected["ab.analyze"][""]) == 3 * 30
    assert expected["promo.review_quarter"][".to_pandas()"]["promotion_id"].tolist()[:2] == ["2025_member_oct", "2025_double11"]


# -- time: an instant converted once, a zone-less timestamp read as local time --------------------

PAID_UTC = dt.datetime(2025, 11, 10, 16, 30)      # 2025-11-11 00:30 in Asia/Shanghai: Double 11
LOCAL = dt.datetime(2025, 11, 11, 0, 30)


def _orders_file(folder, aware: bool):
    folder.mkdir(parents=True, exist_ok=True)
    stamp = "TIMESTAMPTZ '2025-11-10 16:30:00+00'" if aware else "TIMESTAMP '2025-11-11 00:30:00'"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""COPY (SELECT 'o1' AS order_id, 'u1' AS user_id, NULL::VARCHAR AS session_id, {stamp} AS paid_at,
                   100.0::DOUBLE AS gmv, 0.0::DOUBLE AS discount, 'douyin' AS channel, NULL::VARCHAR AS promotion_id,
                   false AS is_presale, 'paid' AS status) TO '{folder / "orders.parquet"}' (FORMAT parquet)""")
    return folder


def _local_paid_at(src) -> dt.datetime:
    orders = src.table("orders", quarter="2025Q4")
    rows = orders.filter(orders.paid_at.date() == dt.date(2025, 11, 11)).select("paid_at").to_pyarrow().to_pylist()
    assert len(rows) == 1, f"the order should fall on 11 November local time: {rows}"
    return rows[0]["paid_at"]


@pytest.mark.parametrize("aware", [True, False], ids=["instant", "zone-less"])
def test_spark_reads_local_time_from_both_timestamp_types(tmp_path, aware):
    _spark_or_skip()
    folder = _orders_file(tmp_path / ("aware" if aware else "naive"), aware)
    src = kit.connect({"kind": "spark", "master": "local[2]", "tables": {"orders": str(folder / "orders.parquet")}})
    assert _local_paid_at(src) == LOCAL
    stored = src.backend._session.read.parquet(str(folder / "orders.parquet")).schema["paid_at"].dataType.typeName()
    assert stored == ("timestamp" if aware else "timestamp_ntz")


@pytest.mark.parametrize("aware", [True, False], ids=["timestamptz", "timestamp"])
def test_postgres_reads_local_time_from_both_timestamp_types(tmp_path, aware):
    url = engines.load_postgres(_postgres_or_skip(), _orders_file(tmp_path, aware), "kit_time",
                                tables=["orders"])
    src = kit.connect(url)
    assert src.raw("orders").paid_at.type().timezone == ("UTC" if aware else None)
    assert _local_paid_at(src) == LOCAL


def test_postgres_keys_prove_one_arm_per_user():
    """The A/B check trusts a key PostgreSQL enforces and counts everywhere else."""
    import ibis
    import psycopg

    from kit import ab
    from kit.engines import declares_unique
    url = _postgres_or_skip()
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as con:
        con.execute("""
            DROP SCHEMA IF EXISTS kit_keys CASCADE; CREATE SCHEMA kit_keys;
            CREATE TABLE kit_keys.keyed (user_id text PRIMARY KEY, variant text, revenue double precision);
            CREATE TABLE kit_keys.unique_only (user_id text UNIQUE, variant text);
            CREATE TABLE kit_keys.unique_not_null (user_id text NOT NULL, variant text);
            CREATE UNIQUE INDEX ON kit_keys.unique_not_null (user_id);
            CREATE TABLE kit_keys.partial (user_id text NOT NULL, variant text);
            CREATE UNIQUE INDEX ON kit_keys.partial (user_id) WHERE variant = 'control';
            CREATE TABLE kit_keys.pair_key (experiment text, user_id text, variant text, PRIMARY KEY (experiment, user_id));
            CREATE TABLE kit_keys.plain (user_id text, variant text, revenue double precision);
            INSERT INTO kit_keys.keyed SELECT 'u' || i, CASE WHEN i % 2 = 0 THEN 'control' ELSE 'v1' END, i % 7
                FROM generate_series(1, 400) i;
            INSERT INTO kit_keys.plain SELECT * FROM kit_keys.keyed UNION ALL SELECT 'u1', 'control', 0;""")
    backend = ibis.connect(url)
    table = lambda name: backend.table(name, database="kit_keys")  # noqa: E731
    assert declares_unique(table("keyed"), "user_id")
    assert declares_unique(table("keyed").filter(table("keyed").revenue > 1), "user_id")
    assert declares_unique(table("unique_not_null"), "user_id")
    assert not declares_unique(table("keyed"), "variant")
    for name in ["unique_only", "partial", "pair_key", "plain"]:
        assert not declares_unique(table(name), "user_id"), name
    assert len(ab.analyze(table("keyed"), ab.Mean("revenue")).to_pandas()) == 1
    with pytest.raises(ValueError, match=r"1 users appear on more than one row, 1 of them in more than one arm; example: user_id='u1'"):
        ab.analyze(table("plain"), ab.Mean("revenue"))
    backend.disconnect()


def test_postgres_sums_integers_exactly_and_falls_back_to_floats_on_overflow():
    import ibis
    import psycopg

    from kit import ab
    url = _postgres_or_skip()
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as con:
        con.execute("""
            DROP TABLE IF EXISTS kit_integers;
            CREATE TABLE kit_integers AS SELECT CASE WHEN i % 2 = 0 THEN 'control' ELSE 'v1' END AS variant,
                2900000000::bigint + i AS views, 5800000000::bigint + i AS huge FROM generate_series(1, 101) i""")
    backend = ibis.connect(url)
    arms, exact = ab.arm_moments(backend.table("kit_integers"), [ab.Mean("views")], unit=None)
    arms, fallback = ab.arm_moments(backend.table("kit_integers"), [ab.Mean("huge")], unit=None)  # squares beyond 64 bits
    backend.disconnect()
    for k, remainder in enumerate([0, 1]):  # 'control' holds the even i
        rows = [i for i in range(1, 102) if i % 2 == remainder]
        assert exact.cross[k, 0, 0] == float(sum((2_900_000_000 + i) ** 2 for i in rows))
        assert fallback.cross[k, 0, 0] == pytest.approx(float(sum((5_800_000_000 + i) ** 2 for i in rows)), rel=1e-12)


# -- remembered contract passes ----------------------------------------------------------------

def test_spark_files_are_remembered_and_database_tables_are_checked_each_time(slice_dir, tmp_path):
    _spark_or_skip()
    shutil.copy(slice_dir / "promotions.parquet", tmp_path / "promotions.parquet")  # never checked before
    spec = {**engines.spark_source_spec(slice_dir), "tables": {"promotions": str(tmp_path / "promotions.parquet")}}
    first = kit.connect(spec)
    assert not first.passed_before("promotions") and first.fingerprint("promotions") is not None
    first.table("promotions")
    assert kit.connect(spec).passed_before("promotions")
    # the same files on DuckDB are a different pass (another engine reads them)
    assert kit.connect(tmp_path).fingerprint("promotions") != first.fingerprint("promotions")
    url = engines.postgres_url()
    if url is not None:
        database = kit.connect(engines.load_postgres(url, slice_dir, "kit_parity", tables=["promotions"]))
        database.table("promotions")
        assert database.fingerprint("promotions") is None and not database.passed_before("promotions")


# -- a notebook through papermill on Spark -----------------------------------------------------

def _text_outputs(path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", ""))
            for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


def test_funnel_notebook_runs_on_spark_through_papermill(slice_dir, tmp_path):
    """Notebook 03 with a params-style Spark source: its kernel opens its own session, and every
    text output equals the same notebook's run on DuckDB over the same files."""
    _spark_or_skip()
    import papermill

    from kit import config

    notebook = config.NOTEBOOKS_DIR / "03_funnel_dropoff.ipynb"
    outputs = {}
    for engine, source in (("duckdb", str(slice_dir)), ("spark", engines.spark_source_spec(slice_dir))):
        out = tmp_path / f"03_{engine}.ipynb"
        papermill.execute_notebook(str(notebook), str(out), parameters={"quarter": "2025Q4", "source": source},
                                   kernel_name="python3", progress_bar=False, cwd=str(config.NOTEBOOKS_DIR))
        outputs[engine] = _text_outputs(out)
    assert len(outputs["spark"]) >= 5 and any("pay" in text for text in outputs["spark"])
    assert outputs["spark"] == outputs["duckdb"]
