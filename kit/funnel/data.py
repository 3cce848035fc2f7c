"""The events a funnel needs, with the session attributes analysts break funnels down by."""
from __future__ import annotations

import datetime as _dt
import math

import ibis
import ibis.expr.types as ir

from kit.funnel._input import parse_window
from kit.quarter import Quarter

BREAKDOWNS = ("device", "channel", "is_paid", "customer")
_FROM_SESSIONS = ("device", "channel", "is_paid")


def load_events(source, quarter, window="1D", *, quarters: int = 1, attributes=BREAKDOWNS,
                new_customer_days: int = 30) -> ir.Table:
    """Events from the start of ``quarter`` (or of the ``quarters - 1`` quarters before it) to its end
    plus the window, so steps completed after the quarter's end are seen.

    ``attributes`` (any of ``device``, ``channel``, ``is_paid``, ``customer``; default all) are
    joined from the event's session: ``customer`` is ``"new"`` when the session's local day is fewer
    than ``new_customer_days`` days after the user's signup day, else ``"returning"``. Events whose
    session or user is unknown get empty attributes. Pass ``attributes=()`` when no breakdown is
    needed: the joins are skipped. The result is an Ibis expression: nothing is read until it is
    aggregated.
    """
    attributes = [attributes] if isinstance(attributes, str) else list(attributes)
    unknown = [a for a in attributes if a not in BREAKDOWNS]
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}: load_events can attach {', '.join(BREAKDOWNS)}")
    if quarters < 1:
        raise ValueError(f"quarters must be ≥ 1, got {quarters!r}")
    if new_customer_days <= 0:
        raise ValueError(f"new_customer_days must be > 0, got {new_customer_days!r}")
    first, last = event_days(quarter, window, quarters)
    events = source.between("events", first, last)
    return attach_attributes(source, events, attributes, first, last, new_customer_days=new_customer_days)


def event_days(quarter, window, quarters: int = 1) -> tuple[_dt.date, _dt.date]:
    """First and last local day of the events a funnel of ``quarter`` (and the ``quarters - 1``
    before it) needs: the window's tail after the quarter's end included."""
    q = Quarter(quarter)
    first = q
    for _ in range(quarters - 1):
        first = first.previous()
    tail = math.ceil(parse_window(window) / _dt.timedelta(days=1))
    return first.start, q.end + _dt.timedelta(days=tail)


def attach_attributes(source, events: ir.Table, attributes, first_day: _dt.date, last_day: _dt.date, *,
                      new_customer_days: int = 30, where=None) -> ir.Table:
    """``events`` (of local days ``first_day`` .. ``last_day``) with the session attributes joined on
    (see :func:`load_events`); with ``where`` (a predicate on ``events``), only on the rows it
    selects: the others get empty attributes, in the same scan."""
    attributes = [attributes] if isinstance(attributes, str) else list(attributes)
    if not attributes:
        return events
    # A session that started the evening before the first day can still log events on it.
    sessions = source.between("sessions", first_day - _dt.timedelta(days=1), last_day)
    sessions = sessions.select(__session="session_id", __session_user="user_id", started_at="started_at",
                               **{a: a for a in attributes if a in _FROM_SESSIONS})
    # Rows left out get no join key, so they match nothing (a NULL key never matches).
    session_key = events.session_id if where is None else ibis.ifelse(where, events.session_id, ibis.null("string"))
    user_key = events.user_id if where is None else ibis.ifelse(where, events.user_id, ibis.null("string"))
    keyed = events.mutate(__session_key=session_key, __user_key=user_key)
    joined = keyed.left_join(sessions, keyed.__session_key == sessions.__session)
    extra = {a: joined[a] for a in attributes if a in _FROM_SESSIONS}
    if "customer" in attributes:
        users = source.table("users").select(__signup_user="user_id", signup_at="signup_at")
        joined = joined.left_join(users, joined.__user_key == users.__signup_user)
        days = joined.started_at.date().delta(joined.signup_at.date(), unit="day")
        extra["customer"] = ibis.cases((days < new_customer_days, "new"), (days >= new_customer_days, "returning"),
                                       else_=ibis.null("string"))
        extra = {a: joined[a] for a in attributes if a in _FROM_SESSIONS} | {"customer": extra["customer"]}
    return joined.select(*events.columns, **{a: extra[a] for a in attributes})
