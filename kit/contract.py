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
OUTREACH_GROUPS = ("treatment", "holdout")
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
# What exports write for "no value" in an id column: counted as empty, like NULL.
PLACEHOLDERS = ("", "NULL", "null", "\\N", "N/A", "n/a", "-")
# A text timestamp that names its zone is an instant: Z, UTC/GMT, +08, +0800, +08:00 after the time.
_ZONED_TEXT = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|UTC|GMT|[+-]\d\d(:?\d\d)?)$"
# Items at paid price add up to gmv, at list price to gmv + discount; beyond this slack they do not.
ITEMS_TOLERANCE = (1.0, 0.01)  # yuan, share of gmv: whichever is larger
# Plausibility warnings: dates this far outside the middle 98% of the time column, amounts this many
# times its 99th percentile, ids in Excel's scientific notation (digits already lost).
FAR_DATES = _dt.timedelta(days=5 * 365)
FAR_AMOUNTS = 20
_EXCEL_ID = r"^\d(\.\d+)?[Ee]\+\d+$"


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
        TableSpec(
            "outreach",
            (Column("user_id", ID), Column("sent_at", TIMESTAMP), Column("campaign", ID), Column("group", TEXT)),
            time_column="sent_at",
            unique=("campaign", "user_id"),
            rules=(_in("group", OUTREACH_GROUPS, "a campaign's reached customers and its holdout"),),
        ),
    ]
    return {spec.name: spec for spec in tables}


TABLES = tuple(specs(()).keys())

# Why a unique rule exists, in the contract's words.
_UNIQUE_TEXT = {
    ("experiments", ("experiment_id", "user_id")): "one variant per (experiment_id, user_id)",
    ("ad_spend", ("date", "channel")): "one row per (date, channel)",
    ("outreach", ("campaign", "user_id")): "one group per (campaign, user_id)",
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


def _clean_id(value: ir.StringValue) -> ir.StringValue:
    """Text ids trimmed, with placeholder words (``NULL``, ``\\N``, ``N/A``, ``-``, blank) as NULL."""
    trimmed = value.strip()
    return trimmed.isin(PLACEHOLDERS).ifelse(ibis.null(dt.string), trimmed)


def _whole_number(value: ir.Value, family: str) -> ir.IntegerValue:
    """An integer column: whole numbers only (``2.5`` is NULL, then reported, never rounded)."""
    if family == "integer":
        return value.cast("int64")
    number = value.cast("float64") if family == "number" else value.strip().try_cast("float64")
    whole = (number == number.floor()) & (number.abs() < 2.0 ** 62)  # NaN and inf are not whole
    return whole.ifelse(number.cast("int64"), ibis.null(dt.int64))


def _text_timestamp(value: ir.StringValue, timezone: str, backend: str) -> ir.TimestampValue:
    """Text with a zone (``Z``, ``UTC``, ``+00``, ``+0800``, ``+08:00``) is an instant; plain text is local time."""
    text = value.strip().re_replace(r"\s+([+-]\d\d(:?\d\d)?)$", r"\1")
    aware = _to_local(text.try_cast(dt.Timestamp(timezone="UTC")), timezone, backend)
    return text.re_search(_ZONED_TEXT).ifelse(aware, text.try_cast(dt.Timestamp()))


def _normalise(col: Column, value: ir.Value, timezone: str, backend: str, text: bool = False) -> ir.Value:
    """The column converted to its kind; unconvertible values become NULL (then counted).

    ``text``: the table was read from text (CSV, Excel), where ids are trimmed and placeholder
    words are empty; typed stores (Parquet, databases) keep ids as they are (trimming every id of
    an event log would triple the check's time).
    """
    family = _family(value.type())
    if col.kind == ID:
        return _clean_id(value.cast("string")) if text else value.cast("string")
    if col.kind == TEXT:
        return value
    if col.kind in (MONEY, NUMBER):
        return value.cast("float64") if family != "string" else value.strip().try_cast("float64")
    if col.kind == INTEGER:
        return _whole_number(value, family)
    if col.kind == BOOL:
        if family == "bool":
            return value
        if family == "integer":
            return value.cases((0, False), (1, True), else_=ibis.null(dt.boolean))
        lowered = value.strip().lower()
        return lowered.cases(("true", True), ("1", True), ("false", False), ("0", False), else_=ibis.null(dt.boolean))
    if col.kind == TIMESTAMP:
        if family == "string":
            return _text_timestamp(value, timezone, backend)
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


def describe(violation: dict) -> str:
    """One line per violation (or warning): where (table, column as the contract and the export name it), the
    rule, how many rows break it and an example row."""
    where = f"table '{violation['table']}'"
    if violation.get("file"):
        where += f" (file {violation['file']})"
    if violation.get("column"):
        where += f", column '{violation['column']}'"
        if violation.get("source_column"):
            where += f" (export column '{violation['source_column']}')"
    text = f"{where}: {violation['rule']}"
    rows = violation.get("rows")
    if rows:
        text += f" — {rows:,} row{'s break' if rows != 1 else ' breaks'} it"
    example = violation.get("example")
    if example:
        shown = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in example.items())
        text += f"; example: {shown}" if rows else f"; {shown}"
    return text


def raise_violations(source_name: str, violations: list[dict]) -> None:
    """Raise one ContractError listing every violation (of one table or of a whole source)."""
    lines = [f"- {describe(v)}" for v in violations]
    head = f"{len(violations)} data contract {fmt.plural(len(violations), 'violation')} in {source_name}:"
    hint = "Fix the data (or the params' channel list, or the folder's kit-mapping.yaml) and load again; see README 'Data contract'."
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


def normalise(raw: ir.Table, spec: TableSpec, *, timezone: str, backend: str, text: bool = False) -> ir.Table:
    """The projection that turns a raw table into the contract's types (no checks)."""
    return raw.select(*[_normalise(c, raw[c.name], timezone, backend, text).name(c.name)
                        for c in spec.columns if c.name in raw.columns])


def _schema_violations(schema, spec: TableSpec) -> tuple[list[dict], list[Column]]:
    """Missing required columns and columns of an unusable type (all of them, not the first); and
    the columns whose values can be checked."""
    violations = [{"table": spec.name, "column": c.name, "rows": None,
                   "rule": f"required column is missing (columns present: {', '.join(schema.names) or 'none'})"}
                  for c in spec.columns if not c.optional and c.name not in schema]
    usable = []
    for col in (c for c in spec.columns if c.name in schema):
        if _family(schema[col.name]) in _ACCEPTS[col.kind]:
            usable.append(col)
        else:
            violations.append({"table": spec.name, "column": col.name, "rows": None,
                               "rule": f"wrong type: must be {_KIND_WORDS[col.kind]}, the data has {schema[col.name]}"})
    return violations, usable


def _value_checks(paired: ir.Table, spec: TableSpec, present: list[Column], schema) -> list[tuple[dict, ir.BooleanValue, list[str] | None]]:
    """(what, predicate true on the rows that break it, columns to show) for every value rule."""
    checks = []
    for col in present:
        value, original = paired[col.name], paired[f"__raw_{col.name}"]
        if not col.nullable:
            empty = value.isnull() if col.kind == ID else original.isnull()
            what = "must not be empty (null, blank or a placeholder such as NULL, \\N, N/A, -)" if col.kind == ID else "must not be empty (null)"
            checks.append(({"column": col.name, "rule": what}, empty, None))
        if col.kind in (MONEY, NUMBER, INTEGER, TIMESTAMP, DATE, BOOL) and _family(schema[col.name]) != col.kind:
            # show the text as it was in the data, not the NULL it failed to become
            as_read = [f"__raw_{c.name}" if c.name == col.name else c.name for c in present]
            checks.append(({"column": col.name, "rule": f"cannot be read as {_KIND_WORDS[col.kind]}"},
                           original.notnull() & value.isnull(), as_read))
        if col.kind in (MONEY, NUMBER):
            checks.append(({"column": col.name, "rule": f"{col.name} must be a finite number (not NaN or infinity)"},
                           value.isnan() | value.isinf(), None))
    names = {c.name for c in present}
    for rule in spec.rules:
        if rule.column in names:
            try:
                checks.append(({"column": rule.column, "rule": rule.text}, rule.broken(paired).fill_null(False), None))
            except (AttributeError, ibis.common.exceptions.IbisError):
                pass  # the rule needs a column that is missing (reported above)
    return checks


def _plausibility_stats(raw: ir.Table, paired: ir.Table, spec: TableSpec, present: list[Column], text: bool) -> dict:
    """Aggregates for the plausibility warnings, computed in the check's one query: each amount's
    99th percentile and maximum; for text files (CSV, Excel: where exports put placeholder dates and
    Excel's damage lives) the time column's range and ids in scientific notation. A typed store's
    time range is left out: on the 25M events it cost 7-13% of the check."""
    names = {c.name for c in present}
    stats = {}
    if spec.time_column in names and text:
        stats.update(t_min=paired[spec.time_column].min(), t_max=paired[spec.time_column].max())
    for col in present:
        if col.kind == MONEY:
            finite = paired[col.name].isnan().ifelse(ibis.null(dt.float64), paired[col.name])
            stats.update({f"p99_{col.name}": finite.approx_quantile(0.99), f"max_{col.name}": finite.max()})
        if col.kind == ID and text:
            stats[f"sci_{col.name}"] = paired[col.name].re_search(_EXCEL_ID).sum()
    return stats


def _warning(table: ir.Table, spec: TableSpec, column: str, what: str, predicate: ir.BooleanValue) -> dict:
    rows = int(table.filter(predicate).count().to_pyarrow().as_py())
    return {"table": spec.name, "column": column, "rule": what, "rows": rows,
            "example": _example(table, predicate, list(table.columns))}


def _plausibility_warnings(normalised: ir.Table, spec: TableSpec, stats: dict) -> list[dict]:
    """Warnings (not errors) from the stats; a second query only where the stats point at trouble."""
    warnings = []
    low, high = stats.get("t_min"), stats.get("t_max")
    if low is not None and high is not None and _dt.timedelta(days=(high - low).days) > FAR_DATES:
        column = normalised[spec.time_column].cast(dt.Timestamp())
        seconds = column.epoch_seconds()
        quantiles = normalised.aggregate(a=seconds.approx_quantile(0.01), b=seconds.approx_quantile(0.99)).to_pyarrow().to_pylist()[0]
        if quantiles["a"] is not None:
            p01, p99 = (_dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=quantiles[k]) for k in ("a", "b"))
            far = (column < p01 - FAR_DATES) | (column > p99 + FAR_DATES)
            found = _warning(normalised, spec, spec.time_column,
                             f"dates far outside the data's span (most lie between {p01:%Y-%m-%d} and {p99:%Y-%m-%d}): "
                             "placeholders like 1970-01-01 or 2099-12-31?", far)
            warnings += [found] if found["rows"] else []
    for key, value in stats.items():
        name = key.split("_", 1)[1]
        if key.startswith("max_") and value is not None and (stats[f"p99_{name}"] or 0) > 0 \
                and value > FAR_AMOUNTS * stats[f"p99_{name}"]:
            bound = FAR_AMOUNTS * stats[f"p99_{name}"]
            warnings.append(_warning(normalised, spec, name, f"amounts far beyond the rest (above {FAR_AMOUNTS}× the 99th "
                                     f"percentile, {bound:,.2f}): fen instead of yuan, or a typo?", normalised[name] > bound))
        if key.startswith("sci_") and value:
            warnings.append(_warning(normalised, spec, name, "ids in Excel's scientific notation (like 1.23457E+17): their "
                                     "digits are already lost; export the column as text", normalised[name].re_search(_EXCEL_ID)))
    return warnings


def _items_disagreeing(items: ir.Table, orders: ir.Table) -> ir.Table:
    """Orders whose items' amounts do not add up to between gmv and gmv + discount (see ITEMS_TOLERANCE)."""
    sums = items.group_by("order_id").aggregate(items_amount=items.amount.sum())
    joined = orders.select("order_id", "gmv", "discount").inner_join(sums, "order_id")
    slack = ibis.greatest(ibis.literal(ITEMS_TOLERANCE[0]), joined.gmv.abs() * ITEMS_TOLERANCE[1])
    off = (joined.items_amount < joined.gmv - slack) | (joined.items_amount > joined.gmv + joined.discount + slack)
    return joined.filter(off.fill_null(False))


def _cross_table_violations(normalised: ir.Table, spec: TableSpec, parent: ir.Table | None) -> list[dict]:
    """order_items against orders: no orphan items, and amounts that add up to the order."""
    if spec.name != "order_items" or parent is None or "order_id" not in normalised.columns:
        return []
    violations = []
    orphans = normalised.anti_join(parent.select("order_id"), "order_id")
    rows = orphans.count().to_pyarrow().as_py()
    if rows:
        violations.append({"table": spec.name, "column": "order_id", "rule": "every order_id must exist in orders (orphan item)",
                           "rows": int(rows), "example": orphans.limit(1).to_pyarrow().to_pylist()[0]})
    if "amount" in normalised.columns:
        off = _items_disagreeing(normalised, parent)
        rows = off.count().to_pyarrow().as_py()
        if rows:
            yuan, share = ITEMS_TOLERANCE
            violations.append({
                "table": spec.name, "column": "amount", "rows": int(rows),
                "rule": (f"an order's item amounts must add up to between its gmv and gmv + discount (within "
                         f"{yuan:g} yuan or {share:.0%}, whichever is larger; amounts in fen instead of yuan break it)"),
                "example": off.order_by("order_id").limit(1).to_pyarrow().to_pylist()[0]})
    return violations


def check(raw: ir.Table, spec: TableSpec, *, timezone: str, backend: str, parent: ir.Table | None = None,
          text: bool = False, labels: dict[str, str] | None = None) -> tuple[ir.Table, list[dict], list[dict]]:
    """Check ``raw`` against ``spec`` in the engine: the normalised table, every violation found and
    the plausibility warnings (dates, amounts and ids that are probably wrong but not against a rule).

    ``parent`` is the (normalised) orders table, for the order_items rules; ``text``: read from text
    (see :func:`_normalise`); ``labels`` maps a contract column to the export's column it came from.
    """
    schema = raw.schema()
    violations, present = _schema_violations(schema, spec)
    normalised = normalise(raw, spec, timezone=timezone, backend=backend, text=text)
    # Keep raw text beside the parsed value so unparseable input can be counted and shown.
    paired = raw.select(
        *[_normalise(c, raw[c.name], timezone, backend, text).name(c.name) for c in present],
        *[raw[c.name].name(f"__raw_{c.name}") for c in present],
    )
    checks = _value_checks(paired, spec, present, schema)
    stats = _plausibility_stats(raw, paired, spec, present, text)
    aggregates = {**{f"c{i}": predicate.sum() for i, (_, predicate, _) in enumerate(checks)}, **stats}
    counted = paired.aggregate(**aggregates).to_pyarrow().to_pylist()[0] if aggregates else {}
    for i, (info, predicate, shown) in enumerate(checks):
        rows = counted.get(f"c{i}") or 0
        if rows:
            example = _example(paired, predicate, shown or [c.name for c in present])
            example = {k.removeprefix("__raw_"): v for k, v in example.items()}
            violations.append({"table": spec.name, **info, "rows": int(rows), "example": example})

    if spec.unique and all(name in {c.name for c in present} for name in spec.unique) \
            and _may_have_duplicates(normalised, list(spec.unique), backend):
        keys = list(spec.unique)
        dupes = normalised.group_by(keys).aggregate(n=ibis._.count()).filter(ibis._.n > 1)
        summary = dupes.aggregate(groups=ibis._.count(), rows=ibis._.n.sum()).to_pyarrow().to_pylist()[0]
        if summary["groups"]:
            example = dupes.order_by(keys).limit(1).to_pyarrow().to_pylist()[0]
            what = _UNIQUE_TEXT.get((spec.name, spec.unique), f"{' + '.join(keys)} must be unique")
            violations.append({"table": spec.name, "column": ", ".join(keys), "rule": f"duplicate keys: {what}",
                               "rows": int(summary["rows"]), "example": example})
    if not any(v["rows"] is None for v in violations):
        violations += _cross_table_violations(normalised, spec, parent)
    warnings = [] if violations else _plausibility_warnings(normalised, spec, {k: counted[k] for k in stats})
    for v in violations + warnings:
        if labels and labels.get(v["column"]):
            v["source_column"] = labels[v["column"]]
    return normalised, violations, warnings


def check_and_normalise(raw: ir.Table, spec: TableSpec, *, source_name: str, warnings: list | None = None,
                        **options) -> ir.Table:
    """Check ``raw`` against ``spec`` in the engine (see :func:`check`); return the normalised table
    or raise one ContractError listing every violation. ``warnings``: a list the plausibility
    warnings are added to."""
    normalised, violations, found = check(raw, spec, **options)
    if warnings is not None:
        warnings += found
    if violations:
        raise_violations(source_name, violations)
    return normalised
