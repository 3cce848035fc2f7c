"""The sample generator: determinism, the contract, sizes, and every planted truth against the data.

The truths in truth.json come from the generator's own bookkeeping; here each one is recomputed
independently from the Parquet files with plain DuckDB SQL (local days = UTC + 8 h, Shanghai has no
DST), scipy (adstock via lfilter, chi-square) or brute-force numpy, and compared.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import signal, stats

import kit
from kit import config
from kit.synth import io, plan
from kit.synth.generator import generate

SAMPLE = Path(config.SAMPLE_DIR)
SMALL_SCALE = 0.02
# Session-level checks run on a fixed tenth of the users (ids ending in 7) to stay fast.
SOME_USERS = "right(user_id, 1) = '7'"


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def sample() -> Path:
    """The default sample; generated here if `kit synth --if-missing` has not run."""
    if not (SAMPLE / "orders.parquet").exists():
        generate(SAMPLE, progress=False)
    return SAMPLE


@pytest.fixture(scope="module")
def truth(sample) -> dict:
    return json.loads((sample / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def db(sample):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def src(name):
        path = sample / name
        return f"read_parquet('{path}/*.parquet')" if path.is_dir() else f"read_parquet('{path}.parquet')"

    local = "CAST({0} AS TIMESTAMP) + INTERVAL 8 HOUR"
    con.execute(f"CREATE VIEW orders AS SELECT *, {local.format('paid_at')} AS paid_local FROM {src('orders')}")
    con.execute(f"CREATE VIEW sessions AS SELECT *, {local.format('started_at')} AS start_local FROM {src('sessions')}")
    con.execute(f"CREATE VIEW events AS SELECT *, {local.format('ts')} AS ts_local FROM {src('events')}")
    con.execute(f"CREATE VIEW touchpoints AS SELECT * FROM {src('touchpoints')}")
    con.execute(f"CREATE VIEW experiments AS SELECT *, {local.format('first_exposure_at')} AS exposure_local FROM {src('experiments')}")
    for name in ("users", "order_items", "ad_spend", "promotions"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {src(name)}")
    # One scan of the events for the sampled users, shared by the session-level tests.
    con.execute(f"CREATE TABLE some_events AS SELECT session_id, ts, event, screen FROM events WHERE {SOME_USERS}")
    con.execute("""CREATE TABLE order_category AS SELECT order_id, any_value(category) AS category, count(DISTINCT category) AS n
                   FROM order_items GROUP BY order_id""")
    yield con
    con.close()


def quarter_sql(column: str) -> str:
    return f"(CAST(year({column}) AS VARCHAR) || 'Q' || CAST(quarter({column}) AS VARCHAR))"


# ---------------------------------------------------------------------------------------------
# Determinism, manifest, CLI


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in io.data_files(folder)}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, seed=7, scale=SMALL_SCALE, progress=False)
    generate(b, seed=7, scale=SMALL_SCALE, progress=False)
    generate(c, seed=8, scale=SMALL_SCALE, progress=False)
    files_a, files_b, files_c = _files(a), _files(b), _files(c)
    assert len(files_a) > 20 and files_a.keys() == files_b.keys()
    assert [name for name in files_a if files_a[name] != files_b[name]] == []
    assert files_a["orders.parquet"] != files_c["orders.parquet"]
    assert files_a["truth.json"] != files_c["truth.json"]


def test_sample_matches_committed_manifest(sample):
    """The committed MANIFEST.sha256 pins the bytes every machine regenerates."""
    assert io.manifest_mismatches(sample) == []


def test_manifest_detects_a_changed_file(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "a.parquet").write_bytes(b"one")
    (tmp_path / "x" / "part-0000.parquet").write_bytes(b"two")
    io.write_manifest(tmp_path)
    assert io.manifest_mismatches(tmp_path) == []
    (tmp_path / "a.parquet").write_bytes(b"One")
    (tmp_path / "extra.parquet").write_bytes(b"")
    (tmp_path / "x" / "part-0000.parquet").unlink()
    assert io.manifest_mismatches(tmp_path) == ["missing: x/part-0000.parquet", "not in the manifest: extra.parquet",
                                                "different bytes: a.parquet"]


def test_cli_if_missing_skips_an_up_to_date_folder(tmp_path, capsys):
    from kit.cli import main

    out = tmp_path / "s"
    assert main(["synth", "--scale", "0.01", "--out", str(out), "--quiet"]) == 0
    stamp = (out / "orders.parquet").stat().st_mtime_ns
    assert main(["synth", "--scale", "0.01", "--out", str(out), "--quiet", "--if-missing"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (out / "orders.parquet").stat().st_mtime_ns == stamp
    (out / "orders.parquet").write_bytes(b"broken")
    assert main(["synth", "--scale", "0.01", "--out", str(out), "--quiet", "--if-missing"]) == 0
    assert io.manifest_mismatches(out) == []


def test_cli_rejects_a_bad_scale(capsys):
    from kit.cli import main

    assert main(["synth", "--scale", "0", "--quiet"]) == 2
    assert "--scale must be > 0" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "kit.synth", "--help"], capture_output=True, text=True, check=True)
    assert "--scale" in done.stdout and "--if-missing" in done.stdout


def test_id_arrays_with_nulls():
    ids = io.id_array("k", np.array([1, 2, 30]), 5, null=np.array([False, True, False]))
    assert ids.to_pylist() == ["k00001", None, "k00030"]
    with pytest.raises(ValueError, match="does not fit"):
        io.id_array("u", np.array([10 ** 7]), 7)


# ---------------------------------------------------------------------------------------------
# Contract and sizes


@pytest.mark.slow
def test_every_table_loads_through_the_contract(sample):
    counts = kit.connect(sample).check()
    truth = json.loads((sample / "truth.json").read_text(encoding="utf-8"))
    assert counts == truth["sizes"]


def test_storage_types(sample):
    import pyarrow.parquet as pq

    orders = pq.read_schema(sample / "orders.parquet")
    assert str(orders.field("paid_at").type) == "timestamp[ms, tz=UTC]"
    assert str(pq.read_schema(sample / "ad_spend.parquet").field("date").type) == "date32[day]"
    promotions = pq.read_schema(sample / "promotions.parquet")
    assert str(promotions.field("start").type) == "date32[day]"
    assert str(promotions.field("categories").type) == "string"
    events = pq.read_schema(next((sample / "events").glob("*.parquet")))
    assert str(events.field("ts").type) == "timestamp[ms, tz=UTC]"


def test_sizes_meet_the_minimums(db, truth):
    sizes = truth["sizes"]
    assert sizes["users"] >= 100_000 and sizes["events"] >= 3_000_000
    weekly = db.execute("""SELECT date_trunc('week', paid_local) AS w, count(*) FROM orders
                           WHERE paid_local >= '2025-01-06' AND paid_local < '2025-12-29' GROUP BY w""").fetchall()
    # ≥ 1,900 orders in every week of 2025 (the quietest weeks are dark weeks of two channels in February).
    assert len(weekly) == 51 and min(n for _, n in weekly) >= 1_900


def test_ids_are_strings_and_channels_are_the_params_list(db):
    row = db.execute("SELECT min(order_id), min(user_id), min(session_id) FROM orders").fetchone()
    assert row[0].startswith("o") and row[1].startswith("u") and row[2].startswith("s")
    channels = {c for (c,) in db.execute("SELECT DISTINCT channel FROM sessions").fetchall()}
    assert channels == set(kit.params.defaults().channels)
    paid = {c for (c,) in db.execute("SELECT DISTINCT channel FROM ad_spend").fetchall()}
    assert paid == set(kit.params.defaults().paid_channels) == set(plan.PAID)


# ---------------------------------------------------------------------------------------------
# Channels and the media-mix process


def _weekly_spend(db) -> dict[str, np.ndarray]:
    rows = db.execute("""SELECT channel, (date - DATE '2024-01-01') // 7 AS w, sum(spend) FROM ad_spend
                         GROUP BY ALL ORDER BY channel, w""").fetchall()
    out: dict[str, list] = {}
    for channel, _, spend in rows:
        out.setdefault(channel, []).append(spend)
    return {k: np.array(v) for k, v in out.items()}


def test_weekly_response_is_adstock_then_hill(db, truth):
    weekly = _weekly_spend(db)
    for name, t in truth["channels"].items():
        spend = np.array(t["weekly"]["spend"])
        # The data's weeks equal the truth's (the last, partial week only has its first days in the data).
        np.testing.assert_allclose(weekly[name][:-1], spend[:-1], rtol=0, atol=0.05)
        stock = signal.lfilter([1.0], [1.0, -t["adstock"]], spend)
        k, s = t["saturation"]["half_saturation"], t["saturation"]["shape"]
        response = t["beta"] * stock ** s / (stock ** s + k ** s)
        np.testing.assert_allclose(response, t["weekly"]["expected_incremental_gmv"], rtol=1e-4, atol=0.05)


def test_spend_flights_vary_independently(db, truth):
    weekly = _weekly_spend(db)
    full = np.vstack([v[:-1] for v in weekly.values()])
    corr = np.corrcoef(full)
    assert np.max(np.abs(corr[np.triu_indices(len(full), 1)])) < 0.3
    for series in full:
        for year in (series[:52], series[52:]):
            lit = year[year > 0]                      # dark weeks (no spend) are checked below
            ratio = lit / lit.mean()
            assert ratio.min() < 0.5 and ratio.max() > 1.6 and ratio.min() >= 0.25 and ratio.max() <= 2.2
    assert len({t["adstock"] for t in truth["channels"].values()}) == 6
    assert min(t["adstock"] for t in truth["channels"].values()) <= 0.1
    assert max(t["adstock"] for t in truth["channels"].values()) >= 0.7


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    edges = np.diff(np.r_[0, flags.astype(int), 0])
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1)]


def test_dark_flights_have_no_spend_and_avoid_the_promotions(db, truth):
    """Every paid channel goes dark (spend, impressions, clicks all 0) for 3–5 flights of 1–3 whole weeks, at
    its own times and never on a promotion week; those weeks show the response near zero spend."""
    rows = db.execute("""SELECT channel, (date - DATE '2024-01-01') // 7 AS w, count(*), count(*) FILTER (WHERE spend = 0),
                                sum(spend), sum(impressions), sum(clicks), count(*) FILTER (WHERE clicks > impressions)
                         FROM ad_spend GROUP BY ALL""").fetchall()
    assert sum(r[2] for r in rows) == 731 * len(plan.PAID)          # still one row per (date, channel)
    assert sum(r[7] for r in rows) == 0
    n_weeks = 104                                                   # full weeks; the partial last one is not dark
    dark = {c: np.zeros(n_weeks, dtype=bool) for c in plan.PAID}
    for channel, w, n, zero, spend, impressions, clicks, _ in rows:
        if zero:                                                    # a zero-spend day only inside an all-dark week
            assert w < n_weeks and zero == n == 7 and spend == 0 and impressions == 0 and clicks == 0, (channel, w)
            dark[channel][w] = True
    # Promotion weeks: presale (or start) to end, plus 7 days after every promotion but a member day.
    promo_weeks = np.zeros(n_weeks, dtype=bool)
    for kind, opens, end in db.execute("SELECT kind, coalesce(presale_start, start), \"end\" FROM promotions").fetchall():
        closes = end + dt.timedelta(days=0 if kind == "member_day" else 7)
        promo_weeks[(opens - dt.date(2024, 1, 1)).days // 7: min((closes - dt.date(2024, 1, 1)).days // 7, n_weeks - 1) + 1] = True
    for channel, weeks in dark.items():
        flights = _runs(weeks)
        assert 3 <= len(flights) <= 5 and all(1 <= b - a + 1 <= 3 for a, b in flights), (channel, flights)
        assert weeks[:52].any() and weeks[52:].any()
        assert not (weeks & promo_weeks).any(), (channel, np.flatnonzero(weeks & promo_weeks))
        start = dt.date(2024, 1, 1)
        planted = [[(start + dt.timedelta(days=7 * a)).isoformat(), (start + dt.timedelta(days=7 * b + 6)).isoformat()]
                   for a, b in flights]
        assert truth["channels"][channel]["dark_flights"] == planted
        spend = np.array(truth["channels"][channel]["weekly"]["spend"][:n_weeks])
        assert (spend[weeks] == 0).all() and (spend[~weeks] > 0).all()
    stacked = np.vstack(list(dark.values()))
    assert stacked.sum(axis=0).max() <= 2                           # at most two channels dark in the same week
    assert len({w.tobytes() for w in stacked}) == len(plan.PAID)    # at different times for different channels


def test_spend_and_last_click_roas_recomputed_from_the_tables(db, truth):
    spend = dict(((c, q), s) for c, q, s in db.execute(
        f"SELECT channel, {quarter_sql('date')}, sum(spend) FROM ad_spend GROUP BY ALL").fetchall())
    last = dict(((c, q), g) for c, q, g in db.execute(
        f"SELECT channel, {quarter_sql('paid_local')}, sum(gmv) FROM orders GROUP BY ALL").fetchall())
    for name, t in truth["channels"].items():
        for q in ("2024Q1", "2024Q4", "2025Q3", "2025Q4"):
            assert t["spend"][q] == pytest.approx(spend[name, q], abs=0.02)
            assert t["last_click_roas"][q] == pytest.approx(last[name, q] / spend[name, q], rel=1e-5)
        total_spend = sum(v for (c, _), v in spend.items() if c == name)
        total_last = sum(v for (c, _), v in last.items() if c == name)
        assert t["last_click_roas"]["total"] == pytest.approx(total_last / total_spend, rel=1e-5)


def test_realised_incremental_gmv_is_the_model_within_sampling_error(truth):
    for name, t in truth["channels"].items():
        realised, expected = t["incremental_gmv"]["total"], t["expected_incremental_gmv"]["total"]
        # A Poisson number of orders with random values: Var(total) = E[n]·E[v²] = expected · E[v²]/E[v].
        share, mean = np.asarray(plan.CATEGORY_ORDER_SHARE), np.asarray(plan.CATEGORY_MEAN_GMV)
        second_moment = share @ mean ** 2 * np.exp(plan.ORDER_VALUE_SIGMA ** 2)
        sd = np.sqrt(expected * second_moment / (share @ mean))
        assert abs(realised - expected) < 4 * sd, name
        assert t["roas"]["total"] == pytest.approx(realised / t["spend"]["total"], rel=1e-5)


def test_roas_story_of_the_reviews(truth):
    ch = truth["channels"]
    assert ch["douyin"]["roas"]["total"] == pytest.approx(4.2, abs=0.25)
    assert ch["search_ads"]["roas"]["total"] == pytest.approx(3.0, abs=0.25)
    assert ch["search_ads"]["last_click_roas"]["total"] > ch["search_ads"]["roas"]["total"] + 0.6
    assert ch["xiaohongshu"]["roas"]["total"] == pytest.approx(1.8, abs=0.2)
    assert ch["xiaohongshu"]["last_click_roas"]["total"] < ch["xiaohongshu"]["roas"]["total"]
    assert ch["kuaishou"]["roas"]["total"] < 1.1
    mroas = {k: v["mroas"]["total"] for k, v in ch.items()}
    assert max(mroas, key=mroas.get) == "douyin" and min(mroas, key=mroas.get) == "kuaishou"
    paid = sum(v["incremental_gmv"]["total"] for v in ch.values())
    gmv = sum(q["gmv"] for q in truth["overview"]["quarters"].values())
    assert 0.4 <= paid / gmv <= 0.6


def test_mroas_is_the_derivative_of_the_steady_state_response(truth):
    for t in truth["channels"].values():
        theta, beta = t["adstock"], t["beta"]
        k, s = t["saturation"]["half_saturation"], t["saturation"]["shape"]

        def weekly_gmv(spend):
            a = spend / (1 - theta)
            return beta * a ** s / (a ** s + k ** s)

        mean_spend = t["spend"]["2025Q4"] / (92 / 7)
        h = mean_spend * 1e-5
        numeric = (weekly_gmv(mean_spend + h) - weekly_gmv(mean_spend - h)) / (2 * h)
        assert t["mroas"]["2025Q4"] == pytest.approx(numeric, rel=1e-4)


def test_every_orders_last_touch_is_its_channel(db):
    """ASOF join: the latest touch at or before paid_at (presale: before the deposit session ended)."""
    row = db.execute("""
        WITH o AS (
            SELECT o.order_id, o.user_id, o.channel,
                   CASE WHEN o.is_presale THEN s.started_at ELSE o.paid_at END AS at
            FROM orders o JOIN sessions s USING (session_id))
        SELECT count(*), count(*) FILTER (WHERE t.channel IS DISTINCT FROM o.channel)
        FROM o ASOF LEFT JOIN touchpoints t ON o.user_id = t.user_id AND o.at >= t.ts""").fetchone()
    assert row[0] > 200_000 and row[1] == 0


def test_touchpoints_place_seeding_channels_early(db):
    # Share of touches that are xiaohongshu among touches > 1 day before a converting session vs at it.
    row = db.execute("""
        SELECT avg((t.channel = 'xiaohongshu')::INT) FILTER (WHERE t.ts < s.started_at - INTERVAL 1 DAY),
               avg((s.channel = 'xiaohongshu')::INT)
        FROM (SELECT * FROM orders USING SAMPLE 20000 ROWS (reservoir, 1)) o
        JOIN sessions s USING (session_id)
        JOIN touchpoints t ON t.user_id = o.user_id AND t.ts BETWEEN s.started_at - INTERVAL 30 DAY AND s.started_at
    """).fetchone()
    assert row[0] > 3 * row[1]


# ---------------------------------------------------------------------------------------------
# Sessions and the funnel


def test_sessions_are_short_and_two_hours_apart(db):
    gap = db.execute(f"""SELECT min(started_at - prev), count(*) FROM (
                          SELECT started_at, lag(started_at) OVER (PARTITION BY user_id ORDER BY started_at) AS prev
                          FROM sessions WHERE {SOME_USERS}) WHERE prev IS NOT NULL""").fetchone()
    assert gap[0] >= dt.timedelta(hours=2) and gap[1] > 500_000
    row = db.execute("""SELECT max(e.last - s.started_at), min(e.first - s.started_at), count(*)
                        FROM (SELECT session_id, min(ts) AS first, max(ts) AS last FROM some_events GROUP BY 1) e
                        JOIN sessions s USING (session_id)""").fetchone()
    assert row[0] < dt.timedelta(minutes=30) and row[1] == dt.timedelta(0) and row[2] > 300_000


def test_every_pay_event_is_an_order(db):
    row = db.execute("""
        WITH pay AS (SELECT session_id, ts FROM events WHERE event = 'pay')
        SELECT (SELECT count(*) FROM pay),
               count(*),
               count(*) FILTER (WHERE NOT o.is_presale AND o.paid_at <> pay.ts),
               count(*) FILTER (WHERE o.is_presale AND o.paid_at <= pay.ts)
        FROM orders o JOIN pay USING (session_id)""").fetchone()
    n_orders_2025_sessions = db.execute("""SELECT count(*) FROM orders o JOIN sessions s USING (session_id)
                                           WHERE s.start_local >= '2025-01-01'""").fetchone()[0]
    assert row[0] == row[1] == n_orders_2025_sessions
    assert row[2] == 0 and row[3] == 0
    users_match = db.execute("""SELECT count(*) FROM orders o JOIN sessions s USING (session_id)
                                WHERE o.user_id <> s.user_id OR o.channel <> s.channel""").fetchone()[0]
    assert users_match == 0


@pytest.fixture(scope="module")
def session_steps(db):
    db.execute("""
        CREATE TABLE session_steps AS
        SELECT s.session_id, s.device, s.channel, {q} AS quarter, s.start_local,
               (date_diff('day', CAST(u.signup_at + INTERVAL 8 HOUR AS DATE), CAST(s.start_local AS DATE)) < 30) AS is_new,
               coalesce(max((e.event = 'pdp_view')::INT), 0) AS pdp,
               coalesce(max((e.event = 'add_to_cart')::INT), 0) AS cart,
               coalesce(max((e.event = 'checkout')::INT), 0) AS checkout,
               coalesce(max((e.event = 'pay')::INT), 0) AS pay
        FROM sessions s JOIN users u USING (user_id)
        LEFT JOIN (SELECT session_id, event FROM some_events
                   WHERE event IN ('pdp_view', 'add_to_cart', 'checkout', 'pay')) e USING (session_id)
        WHERE s.start_local >= '2025-01-01' AND {some_s}
        GROUP BY ALL""".format(q=quarter_sql("s.start_local"), some_s=SOME_USERS.replace("user_id", "s.user_id")))
    return "session_steps"


def _check_rates(db, where: str, expected: dict) -> None:
    n0, n1, n2, n3, k1, k2, k3, k4 = db.execute(f"""
        SELECT count(*), sum(pdp), sum(cart), sum(checkout), sum(pdp), sum(cart), sum(checkout), sum(pay)
        FROM session_steps WHERE {where}""").fetchone()
    for step, k, n in zip(plan.STEPS, (k1, k2, k3, k4), (n0, n1, n2, n3)):
        p = expected[step]
        se = np.sqrt(p * (1 - p) / n)
        assert abs(k / n - p) < 4.5 * se, (where, step, k / n, p)


def test_step_rates_per_quarter_are_the_planted_ones(db, session_steps, truth):
    rates = truth["funnel"]["step_rates"]
    for q in ("2025Q1", "2025Q2", "2025Q3", "2025Q4"):
        _check_rates(db, f"quarter = '{q}'", rates[q])
    _check_rates(db, "TRUE", rates["overall"])
    assert rates["2025Q4"]["pay"] < rates["2025Q3"]["pay"] - 0.005      # Double 11 payment congestion


def test_segment_rates_are_the_planted_ones(db, session_steps, truth):
    seg = truth["funnel"]["segments"]
    for device, expected in seg["device"].items():
        _check_rates(db, f"device = '{device}'", expected)
    for channel in ("search_ads", "douyin", "wecom"):
        _check_rates(db, f"channel = '{channel}'", seg["channel"][channel])
    _check_rates(db, "is_new", seg["customer"]["new"])
    _check_rates(db, "NOT is_new", seg["customer"]["returning"])
    assert seg["device"]["h5"]["pay"] < seg["device"]["app"]["pay"] - 0.1
    assert seg["customer"]["new"]["add_to_cart"] < seg["customer"]["returning"]["add_to_cart"]


def test_ad_traffic_converts_below_three_percent(db, session_steps):
    conv = db.execute("SELECT avg(pay) FROM session_steps WHERE channel IN ('feed_ads', 'douyin', 'kuaishou', 'xiaohongshu')").fetchone()[0]
    assert 0.01 < conv < 0.03


def test_scroll_exits_peak_at_screen_three(db, truth):
    # A view reaching screen k has exactly one event with that screen (pdp_view = 1, then pdp_scroll 2, 3, …).
    per_screen = dict(db.execute("SELECT screen, count(*) FROM some_events WHERE screen IS NOT NULL GROUP BY 1").fetchall())
    assert per_screen[1] == db.execute("SELECT count(*) FROM some_events WHERE event = 'pdp_view'").fetchone()[0]
    exits = truth["funnel"]["screens"]["exit"]
    for k in range(1, plan.MAX_SCREEN):
        n, survivors = per_screen[k], per_screen[k + 1]
        p = exits[str(k)]
        assert abs((1 - survivors / n) - p) < 4.5 * np.sqrt(p * (1 - p) / n), k
    assert truth["funnel"]["screens"]["worst_screen"] == 3 and exits["3"] == pytest.approx(0.6)


def test_time_between_steps_has_the_planted_medians(db, truth):
    medians = dict(db.execute("""
        WITH firsts AS (
            SELECT session_id, event, min(ts) AS ts FROM some_events
            WHERE event IN ('home_view', 'pdp_view', 'add_to_cart', 'checkout', 'pay') GROUP BY ALL),
        wide AS (PIVOT firsts ON event USING any_value(ts))
        SELECT 'pdp_view', median(epoch(pdp_view - home_view)) FROM wide WHERE pdp_view IS NOT NULL
        UNION ALL SELECT 'add_to_cart', median(epoch(add_to_cart - pdp_view)) FROM wide WHERE add_to_cart IS NOT NULL
        UNION ALL SELECT 'checkout', median(epoch(checkout - add_to_cart)) FROM wide WHERE checkout IS NOT NULL
        UNION ALL SELECT 'pay', median(epoch(pay - checkout)) FROM wide
            WHERE pay IS NOT NULL AND NOT (CAST(pay + INTERVAL 8 HOUR AS DATE) BETWEEN '2025-11-01' AND '2025-11-11')
    """).fetchall())
    for step, planted in truth["funnel"]["time_to_convert_seconds"].items():
        assert medians[step] == pytest.approx(planted, rel=0.04), step


# ---------------------------------------------------------------------------------------------
# Experiments


def test_experiment_arms_counts_and_srm(db, truth):
    for exp_id, t in truth["experiments"].items():
        counts = dict(db.execute("SELECT variant, count(*) FROM experiments WHERE experiment_id = ? GROUP BY 1",
                                 [exp_id]).fetchall())
        assert counts == t["users"]
        arms = [t["control"], *t["arms"]]
        observed = np.array([counts[a] for a in arms])
        split = np.array([t["split"][a] for a in arms])
        expected = split / split.sum() * observed.sum()
        p = stats.chisquare(observed, expected).pvalue
        if t["srm"]:
            assert p < 1e-6
        else:
            assert p > 1e-3
    assert len(truth["experiments"]["pdp_selling_points"]["arms"]) == 30


def test_exposure_is_the_first_pdp_view_in_the_window(db, truth):
    windows = " UNION ALL ".join(f"SELECT '{e}' AS experiment_id, DATE '{t['start']}' AS lo, DATE '{t['end']}' AS hi"
                                 for e, t in truth["experiments"].items())
    # A plain range filter on ts lets DuckDB skip the row groups outside the three test windows.
    in_windows = " OR ".join(f"(e.ts >= TIMESTAMPTZ '{t['start']} 00:00:00+08' AND e.ts < TIMESTAMPTZ '{t['end']} 00:00:00+08' + INTERVAL 1 DAY)"
                             for t in truth["experiments"].values())
    rows = db.execute(f"""
        WITH w AS ({windows}),
        first_view AS (
            SELECT w.experiment_id, e.user_id, min(e.ts) AS ts
            FROM events e JOIN w ON CAST(e.ts_local AS DATE) BETWEEN w.lo AND w.hi
            WHERE e.event = 'pdp_view' AND ({in_windows}) GROUP BY ALL)
        SELECT experiment_id, count(x.user_id), count(f.user_id), count(*) FILTER (WHERE f.ts = x.first_exposure_at)
        FROM first_view f FULL JOIN experiments x USING (experiment_id, user_id) GROUP BY 1""").fetchall()
    assert len(rows) == 3
    for exp_id, logged, viewers, same_time in rows:
        t = truth["experiments"][exp_id]
        assert logged == same_time == sum(t["users"].values())
        lost = viewers - logged
        assert lost == 0 if not t["srm"] else 0 < lost < 0.05 * viewers    # every viewer is exposed, except the SRM loss
        assert dt.date(2025, 1, 1) <= dt.date.fromisoformat(t["start"]) - dt.timedelta(days=14)
    earliest = db.execute("SELECT min(ts_local) FROM events").fetchone()[0]
    assert earliest.date() == dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def ab_users(db):
    db.execute("""
        CREATE TABLE ab_users AS
        SELECT x.experiment_id, x.user_id, x.variant,
               count(*) FILTER (WHERE e.event = 'pdp_view') AS views,
               count(*) FILTER (WHERE e.event = 'add_to_cart') AS carts
        FROM experiments x
        JOIN (SELECT experiment_id, min(x2.first_exposure_at) AS s FROM experiments x2 GROUP BY 1) w USING (experiment_id)
        LEFT JOIN events e ON e.user_id = x.user_id AND e.ts >= x.first_exposure_at
             AND e.ts < CAST(CAST(w.s + INTERVAL 8 HOUR AS DATE) + INTERVAL 28 DAY AS TIMESTAMP) - INTERVAL 8 HOUR
             AND e.event IN ('pdp_view', 'add_to_cart')
        GROUP BY ALL""")
    return "ab_users"


def test_ctr_lifts_are_recovered_per_arm(db, ab_users, truth):
    for exp_id, t in truth["experiments"].items():
        rows = db.execute("SELECT variant, views, carts FROM ab_users WHERE experiment_id = ?", [exp_id]).fetchnumpy()
        variant, views, carts = rows["variant"], rows["views"].astype(float), rows["carts"].astype(float)

        def ratio_and_var(mask):
            v, c = views[mask], carts[mask]
            r = c.sum() / v.sum()
            return r, np.var(c - r * v, ddof=1) / (v.mean() ** 2 * mask.sum())   # delta method

        r0, var0 = ratio_and_var(variant == t["control"])
        baseline = t["baseline"]["ctr"]
        assert abs(r0 - baseline) < 4 * np.sqrt(var0)
        null_z = []
        for arm in t["arms"]:
            r, var = ratio_and_var(variant == arm)
            lift, lift_se = r / r0 - 1, np.sqrt(var + var0) / r0
            planted = t["true_lift"]["ctr"][arm]
            assert abs(lift - planted) < 4.5 * lift_se * (1 + planted), (exp_id, arm, lift, planted)
            if planted == 0:
                null_z.append((r - baseline) / np.sqrt(var))     # against the truth, not the shared control
            elif planted >= 0.2:
                assert lift / lift_se > 4                    # winners stand out even without CUPED
        if len(null_z) > 10:
            assert abs(np.mean(null_z)) < 1.0 and 0.5 < np.std(null_z) < 1.6


def test_guardrail_arm_loses_conversion(truth):
    t = truth["experiments"]["pdp_selling_points"]
    assert t["guardrail_breach"] == ["v12"]
    assert t["true_lift"]["ctr"]["v12"] > 0
    assert t["true_lift"]["revenue_per_user"]["v12"] == pytest.approx(-0.15)
    assert -0.16 < t["true_lift"]["conversion"]["v12"] < -0.10
    assert sorted(a for a, v in t["true_lift"]["ctr"].items() if v >= 0.2) == ["v07", "v19"]
    for exp in truth["experiments"].values():
        assert min(exp["diagnostics"]["expected_z_ctr_without_cuped"][a] for a in exp["winners"]) >= 5


# ---------------------------------------------------------------------------------------------
# Promotions


def test_promotions_table_and_controls(db, truth):
    rows = db.execute("SELECT promotion_id, kind, start, \"end\", presale_start, categories, threshold, discount FROM promotions").fetchall()
    assert {r[0] for r in rows} == set(truth["promotions"])
    kinds = {r[1] for r in rows}
    assert kinds == {"festival", "member_day", "brand_day", "coupon", "flash_sale"}
    for pid, kind, start, end, presale, categories, threshold, discount in rows:
        assert not set(categories.split(",")) & set(plan.CONTROL_CATEGORIES)
        assert categories.split(",") == truth["promotions"][pid]["promoted_categories"]
        if kind == "coupon":
            assert (threshold, discount) == (1000.0, 200.0)
    d11 = truth["promotions"]["2025_double11"]
    assert (d11["start"], d11["end"], d11["presale_start"]) == ("2025-11-01", "2025-11-11", "2025-10-20")


def test_promotion_orders_presale_and_discounts(db, truth):
    stats_by_promo = {r[0]: r[1:] for r in db.execute("""
        SELECT o.promotion_id, count(*), avg(o.is_presale::INT), avg(o.gmv),
               min(CAST(o.paid_local AS DATE)), max(CAST(o.paid_local AS DATE)),
               count(*) FILTER (WHERE c.n <> 1)
        FROM orders o JOIN order_category c USING (order_id) WHERE o.promotion_id IS NOT NULL GROUP BY 1""").fetchall()}
    for pid, t in truth["promotions"].items():
        n, presale, aov, first, last, mixed = stats_by_promo[pid]
        assert n == t["orders"] and presale == pytest.approx(t["presale_share"] or 0.0, abs=1e-4)
        assert aov == pytest.approx(t["aov"]["during"], abs=0.01)
        assert first >= dt.date.fromisoformat(t["start"]) and last <= dt.date.fromisoformat(t["end"]) and mixed == 0
    for pid in ("2025_618", "2025_double11", "2024_double11"):
        assert 0.35 <= truth["promotions"][pid]["presale_share"] <= 0.5
        assert truth["promotions"][pid]["aov"]["during"] > 1.15 * truth["promotions"][pid]["aov"]["pre"]
    coupon = db.execute("""SELECT count(*), count(*) FILTER (WHERE discount <> CASE WHEN gmv + 200 >= 1000 THEN 200 ELSE 0 END),
                                  count(*) FILTER (WHERE discount = 200)
                           FROM orders WHERE promotion_id LIKE '%coupon'""").fetchone()
    assert coupon[0] > 500 and coupon[1] == 0 and coupon[2] > 50
    wrong_category = db.execute("""SELECT count(*) FROM orders o JOIN order_category c USING (order_id)
                                   JOIN promotions p USING (promotion_id)
                                   WHERE NOT list_contains(string_split(p.categories, ','), c.category)""").fetchone()[0]
    assert wrong_category == 0
    refunds = db.execute("SELECT avg((status = 'refunded')::INT) FROM orders").fetchone()[0]
    assert 0.02 < refunds < 0.06


def test_items_add_up_to_the_order(db):
    row = db.execute("""SELECT count(*), max(abs(o.gmv - i.amount)) FROM orders o
                        JOIN (SELECT order_id, sum(amount) AS amount FROM order_items GROUP BY 1) i USING (order_id)""").fetchone()
    assert row[1] < 0.005


def test_promotion_truth_series_add_up(truth):
    for pid, t in truth["promotions"].items():
        daily = t["daily_incremental_gmv"]
        inc = t["incremental_gmv"]
        assert sum(daily.values()) == pytest.approx(inc["net"], abs=1.0)
        during = sum(v for d, v in daily.items() if t["start"] <= d <= t["end"])
        assert during == pytest.approx(inc["during"], abs=1.0)
        assert inc["net"] == pytest.approx(inc["before"] + inc["during"] + inc["after"], abs=0.05)
        assert t["store_net_incremental_gmv"] == pytest.approx(inc["net"] + t["cannibalised_gmv"], abs=0.05)
        if t["cannibalised_categories"]:
            assert t["cannibalised_gmv"] < 0 and all(v <= 0 for v in t["daily_cannibalised_gmv"].values())
        if t["kind"] != "member_day":
            assert inc["after"] < 0 and inc["during"] > 0
        # realised × (1 − 1/M) is the model's expectation up to order-level noise: sd ≤ sd(GMV) ≈ sqrt(GMV · E[v²]/E[v])
        assert abs(inc["during"] - t["expected_incremental_gmv"]["during"]) < 4 * np.sqrt(t["gmv"] * 600), pid


def test_incremental_truth_matches_category_gmv_in_the_data(db, truth):
    """daily incremental = realised GMV × (1 − 1/M): recompute realised GMV per day for Double 11's categories."""
    t = truth["promotions"]["2025_double11"]
    cats = t["promoted_categories"]
    realised = dict(db.execute(f"""
        SELECT CAST(o.paid_local AS DATE)::VARCHAR, sum(o.gmv) FROM orders o JOIN order_category c USING (order_id)
        WHERE c.category IN ({','.join('?' * len(cats))}) AND CAST(o.paid_local AS DATE) BETWEEN '2025-10-20' AND '2025-11-25'
        GROUP BY 1""", cats).fetchall())
    for day, incremental in t["daily_incremental_gmv"].items():
        assert abs(incremental) < realised[day]           # |G(1 − 1/M)| < G for the multipliers planted
    # controls: pets and books carry no promotion anywhere
    assert db.execute("""SELECT count(*) FROM orders o JOIN order_category c USING (order_id)
                         WHERE c.category IN ('pets', 'books') AND o.promotion_id IS NOT NULL""").fetchone()[0] == 0


def test_member_days_and_repeat_buyers(db, truth):
    for pid, t in truth["promotions"].items():
        if t["kind"] == "member_day":
            share = db.execute("""SELECT sum(o.gmv) FILTER (WHERE u.member_tier IS NOT NULL) / sum(o.gmv)
                                  FROM orders o JOIN users u USING (user_id) WHERE CAST(o.paid_local AS DATE) = ?""",
                               [t["start"]]).fetchone()[0]
            assert share == pytest.approx(t["member_gmv_share"], abs=1e-4)
            assert 0.25 < share < 0.5
    t = truth["promotions"]["2025_double11"]
    repeat = db.execute("""
        WITH buyers AS (SELECT DISTINCT user_id FROM orders WHERE promotion_id = '2025_double11')
        SELECT avg((EXISTS (SELECT 1 FROM orders o WHERE o.user_id = b.user_id AND CAST(o.paid_local AS DATE) < '2025-10-20'))::INT)
        FROM buyers b""").fetchone()[0]
    assert repeat == pytest.approx(t["repeat_buyer_share"], abs=1e-4)


# ---------------------------------------------------------------------------------------------
# Overview


def test_overview_truth_recomputed(db, truth):
    rows = db.execute(f"""
        WITH q AS (SELECT {quarter_sql('paid_local')} AS quarter, user_id, gmv FROM orders),
        per_buyer AS (SELECT quarter, user_id, count(*) AS n FROM q GROUP BY ALL),
        first_q AS (SELECT user_id, min(quarter) AS quarter FROM q GROUP BY 1)
        SELECT quarter, (SELECT sum(gmv) FROM q WHERE q.quarter = b.quarter), count(*), avg((n >= 2)::INT),
               (SELECT count(*) FROM first_q f WHERE f.quarter = b.quarter)
        FROM per_buyer b GROUP BY quarter""").fetchall()
    for quarter, gmv, buyers, repurchase, new in rows:
        t = truth["overview"]["quarters"][quarter]
        assert t["gmv"] == pytest.approx(gmv, abs=0.05) and t["buyers"] == buyers and t["new_customers"] == new
        assert t["repurchase_rate"] == pytest.approx(repurchase, abs=1e-4)
    total = {y: sum(v["gmv"] for k, v in truth["overview"]["quarters"].items() if k.startswith(y)) for y in ("2024", "2025")}
    assert 0.3 < total["2025"] / total["2024"] - 1 < 0.5
    visitors = db.execute(f"SELECT count(DISTINCT user_id) FROM sessions WHERE {quarter_sql('start_local')} = '2025Q4'").fetchone()[0]
    assert truth["overview"]["quarters"]["2025Q4"]["visitors"] == visitors


def test_targets_in_params_are_partly_met(truth):
    met, missed = 0, 0
    for label, t in truth["overview"]["quarters"].items():
        targets = kit.params.load(label).targets
        for actual, target in ((t["gmv"], targets.gmv), (t["repurchase_rate"], targets.repurchase_rate),
                               (t["new_customers"], targets.new_customers), (t["conversion_rate"], targets.conversion_rate)):
            assert target is not None and 0.8 < actual / target < 1.25
            met += actual >= target
            missed += actual < target
    assert met >= 8 and missed >= 8


def test_params_list_the_quarters_experiments_and_promotions(truth):
    for q in ("2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4"):
        p = kit.params.load(q)
        promos = {pid for pid, t in truth["promotions"].items() if kit.Quarter.of(dt.date.fromisoformat(t["start"])).label == q}
        assert set(p.promo.promotions) == promos
        assert set(p.ab.experiments) == {e for e, t in truth["experiments"].items() if t["quarter"] == q}

