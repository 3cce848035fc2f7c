"""Data contract v1: the tables the kit reads, their columns, types and rules — checked in the engine.

Every check compiles to Ibis expressions, so it runs where the data lives: one aggregate query per
table counts the rows that break each rule, and only for a broken rule is one example row fetched.
A 100M-row events table is never pulled into pandas to be validated.

Why not pandera: its Ibis backend checks one column rule at a time and has no cross-table rules
(orphan order items), while we want one scan per table and messages in the analysts' terms.

Loading normalises as it checks: ids become strings (CSV ids like ``00123`` keep their zeros
because CSVs are read as text), text timestamps are parsed, aware timestamps are converted to naive
local time in the params' ``timezone`` (so ``.date()`` is the local business day), money becomes
float64. A value that cannot be converted is a contract violation, never a silent NULL.
"""
from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass, field
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from kit import format as fmt

EVENTS = ("home_view", "search", "recommend_click", "pdp_view", "pdp_scroll", "add_to_cart", "checkout", "pay")
ORDER_STATUSES = ("paid", "refunded")
PROMOTION_KINDS = ("festival", "member_day", "brand_day", "coupon", "flash_sale")

# Column kinds: what the contract promises downstream code after normalisation.
ID, TEXT, MONEY, NUMBER, INTEGER, TIMESTAMP, DATE, BOOL = "id", "text", "money", "number", "integer", "timestamp", "date", "bool"
_KIND_WORDS = {
    ID: "an id (string)",
    TEXT: "text",
    MONEY: "an amount of money (number)",
    NUMBER: "a number",
    INTEGER: "a whole number",
    TIMESTAMP: "a timestamp",
    DATE: "a date",
    BOOL: "true/false",
}


class ContractError(ValueError):
    """Data that breaks the contract. ``violations`` holds one dict per broken rule."""

    def __init__(self, message: str, violations: list[dict] | None = None):
        super().__init__(message)
        self.violations = violations or []


@dataclass(frozen=True)
class Column:
    """One column of the contract: its name, kind, and whether it may be absent or null."""

    name: str
    kind: str
    optional: bool = False
    nullable: bool = False


@dataclass(frozen=True)
class Rule:
    """A row rule: ``broken(t)`` is a boolean expression true on the rows that break it."""

    column: str
    text: str
    broken: Callable[[ir.Table], ir.BooleanValue]


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: its columns, time column, unique keys and rules."""

    name: str
    columns: tuple[Column, ...]
    time_column: str | None = None
    unique: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _in(column: str, allowed: Iterable[str], what: str) -> Rule:
    allowed = tuple(allowed)
    return Rule(column, f"{column} must be one of {', '.join(allowed)} ({what})", lambda t: t[column].notnull() & ~t[column].isin(allowed))


def _ge0(column: str) -> Rule:
    return Rule(column, f"{column} must be ≥ 0", lambda t: t[column] < 0)


def specs(channels: Iterable[str]) -> dict[str, TableSpec]:
    """The contract's tables; ``channels`` is the params' channel list."""
    channels = tuple(channels)
    channel_rule = _in("channel", channels, "the channel list in params")
    tables = [
        TableSpec(
            "users",
            (Column("user_id", ID), Column("signup_at", TIMESTAMP), Column("member_tier", TEXT, optional=True, nullable=True),
             Column("acquisition_channel", TEXT, optional=True, nullable=True)),
            time_column="signup_at",
            unique=("user_id",),
        ),
        TableSpec(
            "sessions",
            (Column("session_id", ID), Column("user_id", ID), Column("started_at", TIMESTAMP), Column("channel", TEXT),
             Column("is_paid", BOOL), Column("device", TEXT)),
            time_column="started_at",
            unique=("session_id",),
            rules=(channel_rule,),
        ),
        TableSpec(
            "events",
            (Column("user_id", ID), Column("session_id", ID), Column("ts", TIMESTAMP), Column("event", TEXT),
             Column("sku_id", ID, optional=True, nullable=True), Column("screen", INTEGER, optional=True, nullable=True)),
            time_column="ts",
            rules=(
                _in("event", EVENTS, "the event names of the contract"),
                Rule("screen", "screen (the detail-page screen index) must be ≥ 1",
                     lambda t: t["screen"].notnull() & (t["screen"] < 1) if "screen" in t.columns else ibis.literal(False)),
            ),
        ),
        TableSpec(
            "orders",
            (Column("order_id", ID), Column("user_id", ID), Column("session_id", ID, optional=True, nullable=True),
             Column("paid_at", TIMESTAMP), Column("gmv", MONEY), Column("discount", MONEY), Column("channel", TEXT),
             Column("promotion_id", ID, optional=True, nullable=True), Column("is_presale", BOOL), Column("status", TEXT)),
            time_column="paid_at",
            unique=("order_id",),
            rules=(_ge0("gmv"), _ge0("discount"), channel_rule, _in("status", ORDER_STATUSES, "order statuses")),
        ),
        TableSpec(
            "order_items",
            (Column("order_id", ID), Column("sku_id", ID), Column("category", TEXT), Column("qty", INTEGER), Column("amount", MONEY)),
            rules=(Rule("qty", "qty must be > 0", lambda t: t["qty"] <= 0), _ge0("amount")),
        ),
        TableSpec(
            "ad_spend",
            (Column("date", DATE), Column("channel", TEXT), Column("spend", MONEY), Column("impressions", INTEGER), Column("clicks", INTEGER)),
            time_column="date",
            unique=("date", "channel"),
            rules=(_ge0("spend"), channel_rule, _ge0("impressions"), _ge0("clicks"),
                   Rule("clicks", "clicks must be ≤ impressions", lambda t: t["clicks"] > t["impressions"])),
        ),
        TableSpec(
            "touchpoints",
            (Column("user_id", ID), Column("ts", TIMESTAMP), Column("channel", TEXT)),
            time_column="ts",
            rules=(channel_rule,),
        ),
        TableSpec(
            "experiments",
            (Column("experiment_id", ID), Column("user_id", ID), Column("variant", ID), Column("first_exposure_at", TIMESTAMP)),
            time_column="first_exposure_at",
            unique=("experiment_id", "user_id"),
        ),
        TableSpec(
            "promotions",
            (Column("promotion_id", ID), Column("name", TEXT), Column("kind", TEXT), Column("start", DATE), Column("end", DATE),
             Column("presale_start", DATE, optional=True, nullable=True), Column("categories", TEXT, optional=True, nullable=True),
             Column("threshold", MONEY, optional=True, nullable=True), Column("discount", MONEY, optional=True, nullable=True)),
            unique=("promotion_id",),
            rules=(_in("kind", PROMOTION_KINDS, "promotion kinds"),
                   Rule("start", "start must be ≤ end", lambda t: t["start"] > t["end"]),
                   Rule("presale_start", "presale_start must be ≤ start",
                        lambda t: (t["presale_start"] > t["start"]) if "presale_start" in t.columns else ibis.literal(False))),
        ),
    ]
    return {spec.name: spec for spec in tables}


TABLES = tuple(specs(()).keys())

# Why a unique rule exists, in the contract's words.
_UNIQUE_TEXT = {
    ("experiments", ("experiment_id", "user_id")): "one variant per (experiment_id, user_id)",
    ("ad_spend", ("date", "channel")): "one row per (date, channel)",
}


def require_columns(table, columns: "Iterable[str] | dict[str, str]", what: str) -> None:
    """Raise when an input (Ibis table or pandas DataFrame) lacks columns an analysis needs.

    ``columns`` may map each column to why it is needed; the message names the input, the missing
    columns (with the reasons) and the columns present.
    """
    present = [str(c) for c in table.columns]
    reasons = columns if isinstance(columns, dict) else dict.fromkeys(columns)
    missing = [c for c in reasons if c not in present]
    if missing:
        named = ", ".join(f"'{c}'" for c in missing)
        verb = "is" if len(missing) == 1 else "are"
        why = "; ".join(reasons[c] if len(missing) == 1 else f"'{c}': {reasons[c]}" for c in missing if reasons[c])
        raise ValueError(f"{what}: required {fmt.plural(len(missing), 'column')} {named} {verb} missing"
                         f"{f' ({why})' if why else ''}; columns present: {', '.join(present)}")


# --------------------------------------------------------------------------------------------
# Types and normalisation

def _family(dtype: dt.DataType) -> str:
    if dtype.is_string():
        return "string"
    if dtype.is_boolean():
        return "bool"
    if dtype.is_integer():
        return "integer"
    if dtype.is_numeric():
        return "number"
    if dtype.is_timestamp():
        return "timestamp"
    if dtype.is_date():
        return "date"
    return str(dtype)


_ACCEPTS = {
    ID: {"string", "integer"},
    TEXT: {"string"},
    MONEY: {"string", "integer", "number"},
    NUMBER: {"string", "integer", "number"},
    INTEGER: {"string", "integer", "number"},
    TIMESTAMP: {"string", "timestamp", "date"},
    DATE: {"string", "date", "timestamp"},
    BOOL: {"string", "bool", "integer"},
}


@functools.lru_cache(maxsize=None)
def _fixed_offset(timezone: str) -> _dt.timedelta | None:
    """The zone's UTC offset if it has had no change since 1992 (no DST: Asia/Shanghai), else None.

    A fixed offset lets the engine shift the instant's epoch microseconds instead of looking up
    zone rules per row, several times faster on event logs.
    """
    zone = ZoneInfo(timezone)
    offsets = {_dt.datetime(year, month, 1, tzinfo=_dt.timezone.utc).astimezone(zone).utcoffset()
               for year in range(1992, 2041) for month in (1, 4, 7, 10)}
    return offsets.pop() if len(offsets) == 1 else None


def _to_local(value: ir.TimestampValue, timezone: str, backend: str) -> ir.TimestampValue:
    """Aware instant -> naive local wall time in ``timezone`` (pushed down to the engine)."""
    if backend == "pyspark":
        @ibis.udf.scalar.builtin(name="from_utc_timestamp")
        def convert(ts: dt.Timestamp(), tz: str) -> dt.Timestamp():  # noqa: ANN001
            ...

        return convert(value.cast(dt.Timestamp()), timezone)

    offset = _fixed_offset(timezone)
    if backend == "duckdb" and offset is not None:
        # Integer arithmetic on the instant's microseconds: even timezone('UTC', ts) goes through the
        # ICU calendar per row, which costs more than reading an event log.
        @ibis.udf.scalar.builtin(name="epoch_us")
        def micros(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # noqa: ANN001
            ...

        @ibis.udf.scalar.builtin(name="make_timestamp")
        def wall_time(us: dt.int64) -> dt.Timestamp():  # noqa: ANN001
            ...

        return wall_time(micros(value) + int(offset / _dt.timedelta(microseconds=1)))

    @ibis.udf.scalar.builtin(name="timezone")
    def convert(tz: str, ts: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():  # noqa: ANN001
        ...

    return convert(timezone, value)


def _normalise(col: Column, value: ir.Value, timezone: str, backend: str) -> ir.Value:
    """The column converted to its kind; unconvertible values become NULL (then counted)."""
    family = _family(value.type())
    if col.kind == ID:
        return value.cast("string")
    if col.kind == TEXT:
        return value
    if col.kind in (MONEY, NUMBER):
        return value.cast("float64") if family != "string" else value.strip().try_cast("float64")
    if col.kind == INTEGER:
        return value.cast("int64") if family == "integer" else value.try_cast("int64")
    if col.kind == BOOL:
        if family == "bool":
            return value
        if family == "integer":
            return value.cases((0, False), (1, True), else_=ibis.null(dt.boolean))
        lowered = value.strip().lower()
        return lowered.cases(("true", True), ("1", True), ("false", False), ("0", False), else_=ibis.null(dt.boolean))
    if col.kind == TIMESTAMP:
        if family == "string":
            text = value.strip()
            # Text with an explicit offset ("...Z", "+08:00") is an instant; plain text is local time.
            aware = _to_local(text.try_cast(dt.Timestamp(timezone="UTC")), timezone, backend)
            return text.re_search(r"(Z|[+-]\d\d:?\d\d)$").ifelse(aware, text.try_cast(dt.Timestamp()))
        if family == "date":
            return value.cast(dt.Timestamp())
        if value.type().timezone is not None:
            return _to_local(value, timezone, backend)
        return value
    if col.kind == DATE:
        if family == "string":
            return value.strip().try_cast(dt.date)
        if family == "timestamp":
            if value.type().timezone is not None:
                value = _to_local(value, timezone, backend)
            return value.date()
        return value
    raise AssertionError(col.kind)


# --------------------------------------------------------------------------------------------
# Checking

def _example(table: ir.Table, predicate: ir.BooleanValue, columns: list[str]) -> dict:
    rows = table.filter(predicate).select(*columns).limit(1).to_pyarrow().to_pylist()
    return rows[0] if rows else {}


def _describe(violation: dict) -> str:
    example = violation.get("example")
    shown = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in example.items()) if example else "—"
    rows = violation["rows"]
    count = f"{rows:,} {fmt.plural(rows, 'row')}" if rows is not None else "the table"
    return (f"table '{violation['table']}', column '{violation['column']}': {violation['rule']} — "
            f"{count} break{'s' if rows == 1 else ''} it; example: {shown}")


def _raise(source_name: str, violations: list[dict]) -> None:
    lines = [f"- {_describe(v)}" for v in violations]
    head = f"{len(violations)} data contract {fmt.plural(len(violations), 'violation')} in {source_name}:"
    hint = "Fix the data (or the params' channel list) and load again; see README 'Data contract'."
    raise ContractError("\n".join([head, *lines, hint]), violations)


def _may_have_duplicates(table: ir.Table, keys: list[str], backend: str) -> bool:
    """Whether any row repeats the keys of the row before it, in key order: duplicates sort next to
    each other, so ``False`` proves the keys unique. On DuckDB a sort costs less than hashing every
    key (sessions: 0.5 s against 1.2 s); only a ``True`` pays for the grouping that counts and shows
    them. Elsewhere always ``True``: on Spark or a warehouse a window over the whole table runs in
    one partition, while the grouping is spread out."""
    if backend != "duckdb":
        return True
    order = ibis.window(order_by=keys)
    repeats = [table[k].identical_to(table[k].lag().over(order)) for k in keys]
    same = functools.reduce(lambda a, b: a & b, repeats)
    return bool(table.select(same=same).same.any().to_pyarrow().as_py())


def normalise(raw: ir.Table, spec: TableSpec, *, timezone: str, backend: str) -> ir.Table:
    """The projection that turns a raw table into the contract's types (no checks)."""
    return raw.select(*[_normalise(c, raw[c.name], timezone, backend).name(c.name) for c in spec.columns if c.name in raw.columns])


def check_and_normalise(
    raw: ir.Table,
    spec: TableSpec,
    *,
    timezone: str,
    backend: str,
    source_name: str,
    parent: ir.Table | None = None,
) -> ir.Table:
    """Check ``raw`` against ``spec`` in the engine; return the normalised table or raise ContractError.

    ``parent`` is the (normalised) orders table, for the order_items orphan rule.
    """
    schema = raw.schema()
    missing = [c.name for c in spec.columns if not c.optional and c.name not in schema]
    if missing:
        _raise(source_name, [{"table": spec.name, "column": name, "rule": "required column is missing", "rows": None,
                              "example": {"columns present": ", ".join(schema.names)}} for name in missing])

    violations: list[dict] = []
    present = [c for c in spec.columns if c.name in schema]
    for col in present:
        family = _family(schema[col.name])
        if family not in _ACCEPTS[col.kind]:
            violations.append({"table": spec.name, "column": col.name, "rows": None,
                               "rule": f"wrong type: must be {_KIND_WORDS[col.kind]}, the data has {schema[col.name]}",
                               "example": {}})
    if violations:
        _raise(source_name, violations)

    normalised = normalise(raw, spec, timezone=timezone, backend=backend)
    # Keep raw text beside the parsed value so unparseable input can be counted and shown.
    paired = raw.select(
        *[_normalise(c, raw[c.name], timezone, backend).name(c.name) for c in present],
        *[raw[c.name].name(f"__raw_{c.name}") for c in present],
    )

    checks: list[tuple[dict, ir.BooleanValue, list[str]]] = []
    for col in present:
        value, original = paired[col.name], paired[f"__raw_{col.name}"]
        if not col.nullable:
            checks.append(({"column": col.name, "rule": "must not be empty (null)"}, original.isnull(), None))
        if col.kind in (MONEY, NUMBER, INTEGER, TIMESTAMP, DATE, BOOL) and _family(schema[col.name]) != col.kind:
            # show the text as it was in the data, not the NULL it failed to become
            as_read = [f"__raw_{c.name}" if c.name == col.name else c.name for c in present]
            checks.append(({"column": col.name, "rule": f"cannot be read as {_KIND_WORDS[col.kind]}"},
                           original.notnull() & value.isnull(), as_read))
    for rule in spec.rules:
        if rule.column in schema:
            checks.append(({"column": rule.column, "rule": rule.text}, rule.broken(paired).fill_null(False), None))

    counts = paired.aggregate(**{f"c{i}": predicate.cast("int64").sum() for i, (_, predicate, _) in enumerate(checks)}) if checks else None
    counted = counts.to_pyarrow().to_pylist()[0] if counts is not None else {}
    for i, (info, predicate, shown) in enumerate(checks):
        rows = counted.get(f"c{i}") or 0
        if rows:
            columns = shown or [c.name for c in present]
            example = _example(paired, predicate, columns)
            example = {k.removeprefix("__raw_"): v for k, v in example.items()}
            violations.append({"table": spec.name, **info, "rows": int(rows), "example": example})

    if spec.unique and all(name in schema for name in spec.unique) and _may_have_duplicates(normalised, list(spec.unique), backend):
        keys = list(spec.unique)
        dupes = normalised.group_by(keys).aggregate(n=ibis._.count()).filter(ibis._.n > 1)
        summary = dupes.aggregate(groups=ibis._.count(), rows=ibis._.n.sum()).to_pyarrow().to_pylist()[0]
        if summary["groups"]:
            example = dupes.order_by(keys).limit(1).to_pyarrow().to_pylist()[0]
            text = _UNIQUE_TEXT.get((spec.name, spec.unique), f"{' + '.join(keys)} must be unique")
            violations.append({"table": spec.name, "column": ", ".join(keys), "rule": f"duplicate keys: {text}",
                               "rows": int(summary["rows"]), "example": example})

    if spec.name == "order_items" and parent is not None:
        orphans = normalised.anti_join(parent.select("order_id"), "order_id")
        rows = orphans.count().to_pyarrow().as_py()
        if rows:
            violations.append({"table": spec.name, "column": "order_id", "rule": "every order_id must exist in orders (orphan item)",
                               "rows": int(rows), "example": orphans.limit(1).to_pyarrow().to_pylist()[0]})

    if violations:
        _raise(source_name, violations)
    return normalised
