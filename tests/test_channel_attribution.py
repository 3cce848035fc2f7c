"""Attribution models against hand computations, brute force and an independent Markov chain."""
from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import ibis
import numpy as np
import pandas as pd
import pytest

from kit.channel import MODELS, attribution

CHANNELS = ["a", "b", "c", "d", "e", "f"]


def small_paths() -> pd.DataFrame:
    return pd.DataFrame({
        "path": [["a", "b"], ["b"], ["a", "c", "b"], ["c"]],
        "conversions": [1, 0, 2, 0],
        "value": [100.0, 0.0, 300.0, 0.0],
        "nulls": [1, 3, 0, 2],
        "lags": [[3.0, 0.0], [0.0], [14.0, 7.0, 0.0], [0.0]],
    })


def random_journeys(seed: int, n: int, channels=CHANNELS, max_len: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        length = int(rng.integers(1, max_len + 1))
        path = list(rng.choice(channels, size=length))
        converted = rng.random() < 0.3 + 0.1 * ("a" in path)
        rows.append({"path": path, "conversions": int(converted), "value": float(rng.gamma(2, 150)) if converted else 0.0,
                     "nulls": int(not converted), "lags": sorted(rng.uniform(0, 30, size=length).round(1), reverse=True)})
    return pd.DataFrame(rows)


def credit(result, model, metric="conversions"):
    t = result.to_pandas()
    t = t[t.model == model]
    return dict(zip(t.channel, t[metric]))


# -- heuristic rules: hand-computed ------------------------------------------------------------

def test_rules_match_hand_computation():
    r = attribution(small_paths(), ["first", "last", "linear", "position", "time_decay"], channels=CHANNELS, half_life_days=7)
    assert credit(r, "first") == pytest.approx({"a": 3, "b": 0, "c": 0})
    assert credit(r, "last") == pytest.approx({"a": 0, "b": 3, "c": 0})
    # [a,b] x1: 1/2 each; [a,c,b] x2: 2/3 each.
    assert credit(r, "linear") == pytest.approx({"a": 0.5 + 2 / 3, "b": 0.5 + 2 / 3, "c": 2 / 3})
    assert credit(r, "linear", "value") == pytest.approx({"a": 50 + 100, "b": 50 + 100, "c": 100})
    # Position 40/20/40: two touches split 50/50; three touches 0.4/0.2/0.4.
    assert credit(r, "position") == pytest.approx({"a": 0.5 + 0.8, "b": 0.5 + 0.8, "c": 0.4})
    # Time decay, half-life 7 days: weights 2^(-lag/7).
    w1 = np.array([2 ** (-3 / 7), 1.0])
    w1 /= w1.sum()
    w3 = np.array([0.25, 0.5, 1.0])
    w3 /= w3.sum()
    assert credit(r, "time_decay") == pytest.approx({"a": w1[0] + 2 * w3[0], "b": w1[1] + 2 * w3[2], "c": 2 * w3[1]})
    assert credit(r, "time_decay", "value") == pytest.approx({"a": 100 * w1[0] + 300 * w3[0], "b": 100 * w1[1] + 300 * w3[2],
                                                              "c": 300 * w3[1]})


def test_position_single_touch_takes_all():
    paths = pd.DataFrame({"path": [["a"], ["b", "b", "c", "a"]], "conversions": [1, 1], "value": [10.0, 20.0], "nulls": [0, 0]})
    r = attribution(paths, "position", channels=CHANNELS)
    assert credit(r, "position") == pytest.approx({"a": 1 + 0.4, "b": 0.4 + 0.1, "c": 0.1})


# -- Markov: exact fractions by hand and an independent chain ------------------------------------

def test_markov_hand_computed_removal_effects():
    # start->a 4, start->b 3, start->c 2; a->b 2, a->c 2; c->b 2, c->null 2; b->conv 3, b->null 4.
    # P(conv|b)=3/7, P(conv|c)=3/14, P(conv|a)=9/28, P(conv)=1/3; without a: 4/21 -> RE 3/7;
    # without c: 4/9*3/14 + 3/9*3/7 = 2/21+1/7=5/21 -> RE 2/7; without b: 0 -> RE 1.
    r = attribution(small_paths(), "markov", channels=CHANNELS)
    effects = dict(zip(r.removal.channel, r.removal.removal_effect))
    expected = {"a": Fraction(3, 7), "b": Fraction(1), "c": Fraction(2, 7)}
    assert effects == pytest.approx({k: float(v) for k, v in expected.items()}, abs=1e-12)
    total = sum(expected.values())
    assert credit(r, "markov") == pytest.approx({k: float(3 * v / total) for k, v in expected.items()}, abs=1e-12)


def independent_markov(frame: pd.DataFrame, removed=None, steps: int = 4000):
    """P(conversion) and expected value from start by counting transitions and iterating P^n."""
    counts = Counter()
    value_in = Counter()
    for path, conv, value, nulls in zip(frame.path, frame.conversions, frame.value, frame.nulls):
        states = ["start", *path]
        for s, t in zip(states[:-1], states[1:]):
            counts[s, t] += conv + nulls
        counts[path[-1], "conv"] += conv
        counts[path[-1], "null"] += nulls
        value_in[path[-1]] += value
    states = ["start", *sorted({s for s, _ in counts} - {"start"}), "conv", "null"]
    index = {s: i for i, s in enumerate(states)}
    matrix = np.zeros((len(states), len(states)))
    for (s, t), n in counts.items():
        matrix[index[s], index[t]] += n
    matrix /= np.where(matrix.sum(1, keepdims=True) > 0, matrix.sum(1, keepdims=True), 1)
    matrix[index["conv"], index["conv"]] = matrix[index["null"], index["null"]] = 1
    reward = np.zeros(len(states))
    for s, v in value_in.items():
        reward[index[s]] = v / counts[s, "conv"] if counts[s, "conv"] else 0
    if removed is not None:
        r = index[removed]
        matrix[:, index["null"]] += matrix[:, r]
        matrix[:, r] = 0
        matrix[r, :] = 0
        matrix[r, index["null"]] = 1
    # Expected value: each step, mass at s converts with P[s, conv] and earns s's mean value.
    dist = np.zeros(len(states))
    dist[index["start"]] = 1
    expected_value = 0.0
    for _ in range(steps):
        expected_value += float((dist * matrix[:, index["conv"]] * reward).sum())
        dist = dist @ matrix
    final = np.linalg.matrix_power(matrix, steps)[index["start"]]
    return final[index["conv"]], expected_value


def test_markov_matches_independent_chain_and_totals():
    frame = random_journeys(1, 400)
    r = attribution(frame, "markov", channels=CHANNELS)
    base_p, base_v = independent_markov(frame)
    effects = {c: 1 - independent_markov(frame, removed=c)[0] / base_p for c in CHANNELS}
    value_effects = {c: 1 - independent_markov(frame, removed=c)[1] / base_v for c in CHANNELS}
    assert dict(zip(r.removal.channel, r.removal.removal_effect)) == pytest.approx(effects, rel=1e-9)
    assert dict(zip(r.removal.channel, r.removal.value_removal_effect)) == pytest.approx(value_effects, rel=1e-9)
    total = sum(effects.values())
    expected = {c: frame.conversions.sum() * e / total for c, e in effects.items()}
    assert credit(r, "markov") == pytest.approx(expected, rel=1e-9)


def test_markov_identical_on_repeated_runs():
    frame = random_journeys(2, 300)
    first = attribution(frame, "markov", channels=CHANNELS).to_pandas()
    for _ in range(3):
        pd.testing.assert_frame_equal(attribution(frame, "markov", channels=CHANNELS).to_pandas(), first, check_exact=True)


def test_markov_gives_small_channels_nonzero_credit():
    frame = random_journeys(3, 500, channels=["a", "b", "c"])
    rare = pd.DataFrame({"path": [["a", "f", "b"]], "conversions": [1], "value": [50.0], "nulls": [0], "lags": [[2.0, 1.0, 0.0]]})
    r = attribution(pd.concat([frame, rare], ignore_index=True), "markov", channels=CHANNELS)
    assert credit(r, "markov")["f"] > 0


# -- Shapley: closed form against enumeration of every coalition -----------------------------------

def brute_force_shapley(frame: pd.DataFrame, metric: str) -> dict:
    sets = [(frozenset(p), v) for p, v in zip(frame.path, frame[metric])]
    players = sorted(set().union(*(s for s, _ in sets)))
    n = len(players)

    def worth(coalition):
        return sum(v for s, v in sets if s <= coalition)

    shapley = {}
    for i in players:
        others = [p for p in players if p != i]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for coalition in itertools.combinations(others, size):
                c = frozenset(coalition)
                total += weight * (worth(c | {i}) - worth(c))
        shapley[i] = total
    return shapley


@pytest.mark.parametrize("seed", [4, 5])
def test_shapley_equals_enumeration(seed):
    frame = random_journeys(seed, 120)
    r = attribution(frame, "shapley", channels=CHANNELS)
    assert credit(r, "shapley") == pytest.approx(brute_force_shapley(frame, "conversions"), rel=1e-12)
    assert credit(r, "shapley", "value") == pytest.approx(brute_force_shapley(frame, "value"), rel=1e-12)


# -- all models --------------------------------------------------------------------------------

def test_every_model_hands_out_the_observed_totals():
    frame = random_journeys(6, 500)
    r = attribution(frame, list(MODELS), channels=CHANNELS)
    sums = r.to_pandas().groupby("model")[["conversions", "value"]].sum()
    assert set(sums.index) == set(MODELS)
    assert np.allclose(sums.conversions, frame.conversions.sum(), rtol=1e-12)
    assert np.allclose(sums.value, frame.value.sum(), rtol=1e-12)
    assert np.allclose(r.to_pandas().groupby("model").share.sum(), 1.0)


def test_grouped_and_ungrouped_journeys_agree():
    frame = random_journeys(7, 300, max_len=3).drop(columns="lags")
    frame["key"] = frame.path.map(tuple)
    grouped = frame.groupby("key", as_index=False)[["conversions", "value", "nulls"]].sum().rename(columns={"key": "path"})
    models = ["first", "last", "linear", "position", "markov", "shapley"]
    a = attribution(frame.drop(columns="key"), models, channels=CHANNELS).to_pandas()
    b = attribution(grouped, models, channels=CHANNELS).to_pandas()
    pd.testing.assert_frame_equal(a, b, rtol=1e-10)


def test_ibis_table_input_matches_pandas():
    frame = small_paths().drop(columns="lags")
    a = attribution(frame, ["linear", "markov"], channels=CHANNELS).to_pandas()
    b = attribution(ibis.memtable(frame), ["linear", "markov"], channels=CHANNELS).to_pandas()
    pd.testing.assert_frame_equal(a, b)


def test_wide_view_and_html_are_deterministic():
    r = attribution(small_paths(), list(MODELS), channels=CHANNELS)
    assert list(r.wide().columns) == list(MODELS)
    assert r._repr_html_() == attribution(small_paths(), list(MODELS), channels=CHANNELS)._repr_html_()


# -- bad input ---------------------------------------------------------------------------------

def test_unknown_channel_in_path_is_named():
    frame = small_paths()
    frame.loc[2, "path"] = ["a", "tiktok", "b"]
    with pytest.raises(ValueError, match=r"column 'path'.*'tiktok' is not in the channel list.*1 paths.*\['a', 'tiktok', 'b'\]"):
        attribution(frame, "linear", channels=CHANNELS)


def test_default_channel_list_comes_from_params():
    frame = pd.DataFrame({"path": [["douyin", "search_ads"], ["myspace"]], "conversions": [1, 1], "value": [1.0, 1.0], "nulls": [0, 0]})
    with pytest.raises(ValueError, match="'myspace' is not in the channel list"):
        attribution(frame, "last")


def test_negative_counts_empty_paths_and_missing_lags():
    frame = small_paths()
    frame.loc[1, "nulls"] = -2
    with pytest.raises(ValueError, match=r"column 'nulls'.*≥ 0.*1 rows.*path=\['b'\]"):
        attribution(frame, "linear", channels=CHANNELS)
    frame = small_paths()
    frame.loc[1, "path"] = []
    with pytest.raises(ValueError, match="at least one touch"):
        attribution(frame, "linear", channels=CHANNELS)
    with pytest.raises(ValueError, match="time_decay model needs the touch times.*'lags'"):
        attribution(small_paths().drop(columns="lags"), "time_decay", channels=CHANNELS)
    frame = small_paths()
    frame.at[0, "lags"] = [1.0]
    with pytest.raises(ValueError, match="one lag per touch"):
        attribution(frame, "time_decay", channels=CHANNELS)
    with pytest.raises(ValueError, match="unknown attribution model 'ushape'"):
        attribution(small_paths(), "ushape", channels=CHANNELS)
    with pytest.raises(ValueError, match="paths table: required column 'nulls' is missing"):
        attribution(small_paths().drop(columns="nulls"), "last", channels=CHANNELS)
    no_conversions = small_paths().assign(conversions=0, value=0.0)
    with pytest.raises(ValueError, match="no journey converts"):
        attribution(no_conversions, "markov", channels=CHANNELS)


def test_shapley_with_more_channels_than_bits_in_a_mask():
    many = [f"c{i:02d}" for i in range(70)]
    frame = random_journeys(8, 150, channels=["c01", "c33", "c62", "c63", "c69", "c05"])
    r = attribution(frame, "shapley", channels=many)
    assert credit(r, "shapley") == pytest.approx(brute_force_shapley(frame, "conversions"), rel=1e-12)
