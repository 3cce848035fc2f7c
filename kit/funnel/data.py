"""The events a funnel needs, with the session attributes analysts break funnels down by."""
from __future__ import annotations

import datetime as _dt
import math

import ibis
import ibis.expr.types as ir

from kit.funnel._input import parse_window
from kit.quarter import Quarter

BREAKDOWNS = ("device", "channel", "is_paid", "customer")


def load_events(source, quarter, window="1D", *, quarters: int = 1, new_customer_days: int = 30) -> ir.Table:
    """Events from the start of ``quarter`` (or of the ``quarters - 1`` quarters before it) to its end
    plus the window, so steps completed after the quarter's end are seen.

    Each event carries its session's ``device``, ``channel`` and ``is_paid`` and ``customer``:
    ``"new"`` when the session's local day is fewer than ``new_customer_days`` days after the user's
    signup day, else ``"returning"``. Events whose session or user is unknown get empty attributes.
    The result is an Ibis expression: nothing is read until it is aggregated.
    """
    if quarters < 1:
        raise ValueError(f"quarters must be ≥ 1, got {quarters!r}")
    if new_customer_days <= 0:
        raise ValueError(f"new_customer_days must be > 0, got {new_customer_days!r}")
    q = Quarter(quarter)
    first = q
    for _ in range(quarters - 1):
        first = first.previous()
    tail = math.ceil(parse_window(window) / _dt.timedelta(days=1))
    events = source.between("events", first.start, q.end + _dt.timedelta(days=tail))
    sessions = source.table("sessions").select("session_id", "device", "channel", "is_paid", "started_at")
    users = source.table("users").select("user_id", "signup_at")
    users = users.rename(__signup_user="user_id")
    sessions = sessions.rename(__session="session_id")
    joined = events.left_join(sessions, events.session_id == sessions.__session)
    joined = joined.left_join(users, joined.user_id == users.__signup_user)
    days = joined.started_at.date().delta(joined.signup_at.date(), unit="day")
    customer = ibis.cases((days < new_customer_days, "new"), (days >= new_customer_days, "returning"), else_=ibis.null("string"))
    return joined.select(*events.columns, "device", "channel", "is_paid", customer=customer)
