"""A brute-force, pure-Python reading of the funnel specification (the tests' independent reference).

It enumerates *every* valid chain from every start, with no greedy shortcut, so it checks the
engine's claim that the earliest-next-event chain is the deepest one with the earliest times.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict


def _sort_key_none_last(values):
    return tuple((v is None, v) for v in values)


def all_chains(start, events_by_step, n_steps, window, hold):
    """Every valid chain from ``start``: distinct events, step j then j+1, times never decreasing
    (same-time events are ordered by step), all within ``start.ts + window`` (inclusive), and all
    events that carry a hold value carry the same one."""
    deadline = start["ts"] + window
    found = []

    def extend(chain, value):
        found.append(chain)
        j = len(chain)
        if j == n_steps:
            return
        previous = chain[-1]
        for event in events_by_step.get(j, []):
            if event is previous or any(event is e for e in chain):
                continue  # one event fills at most one step
            if not (previous["ts"] <= event["ts"] <= deadline):
                continue
            own = event.get(hold) if hold else None
            if hold and value is not None and own is not None and own != value:
                continue
            extend(chain + [event], value if value is not None else own)

    extend([start], start.get(hold) if hold else None)
    return found


def reference_chains(rows, steps, window, attempt, by=(), hold=None, unit="user_id", bounds=None):
    """The counted chains: dicts with unit, segment values, depth and the step times t0..t{k-1}."""
    by = list(by)
    step_of = {name: i for i, name in enumerate(steps)}
    per_unit = defaultdict(list)
    for row in rows:
        if row["event"] in step_of:
            per_unit[row[unit]].append({**row, "step": step_of[row["event"]]})
    counted = []
    for who, events in per_unit.items():
        by_step = defaultdict(list)
        for event in events:
            by_step[event["step"]].append(event)
        starts = [e for e in by_step[0] if bounds is None or bounds[0] <= e["ts"] < bounds[1]]
        candidates = []
        for start in starts:
            chains = all_chains(start, by_step, len(steps), window, hold)
            depth = max(len(c) for c in chains)
            # Among the deepest chains, the earliest step times (compared step by step).
            times = min(tuple(e["ts"] for e in c) for c in chains if len(c) == depth)
            candidates.append({"unit": who, **{c: start.get(c) for c in by}, "depth": depth,
                               **{f"t{j}": (times[j] if j < depth else None) for j in range(len(steps))}})
        if not candidates:
            continue
        later = [f"t{j}" for j in range(1, len(steps))]

        def times_key(c):
            return tuple((c[t] is None, c[t] or dt.datetime.min) for t in later)

        if attempt == "totals":
            counted.extend(candidates)
        elif attempt == "best":
            counted.append(min(candidates, key=lambda c: (-c["depth"], c["t0"], _sort_key_none_last([c[b] for b in by]), times_key(c))))
        elif attempt == "first":
            counted.append(min(candidates, key=lambda c: (c["t0"], -c["depth"], _sort_key_none_last([c[b] for b in by]), times_key(c))))
        else:
            raise ValueError(attempt)
    return counted


def reference_counts(counted, n_steps, by=()):
    """Units reaching each step, per segment: {segment tuple: [reached_0, ..., reached_{k-1}]}."""
    out = defaultdict(lambda: [0] * n_steps)
    for chain in counted:
        key = tuple(chain[b] for b in by)
        for j in range(chain["depth"]):
            out[key][j] += 1
    return dict(out)
