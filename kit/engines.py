"""What each engine does well, for the few steps written two ways: a DuckDB form tuned for speed
and a portable form every SQL engine runs (Spark, PostgreSQL, warehouses). Both are tested against
the same brute-force references."""
from __future__ import annotations

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import sqlglot as sg

# DuckDB runs an as-of join as one sorted merge; Spark has none and PostgreSQL's (a LATERAL
# subquery per row) does not finish on an event log, so they take the window-function form.
_FAST_ASOF = frozenset({"duckdb"})
# Engines that sort and map arrays of records (PostgreSQL's records need a column definition list).
_RECORD_ARRAYS = frozenset({"duckdb", "pyspark"})
# Engines whose 64-bit integer arithmetic raises on overflow and whose integer sums are exact
# (Spark, outside ANSI mode, wraps around silently).
_CHECKED_INTEGERS = frozenset({"duckdb", "postgres"})
# Engines that enforce PRIMARY KEY and UNIQUE (warehouses such as Snowflake or BigQuery accept the
# declaration without enforcing it, so it proves nothing there).
_ENFORCED_KEYS = frozenset({"duckdb", "postgres"})


def backend_name(expr: ibis.Expr) -> str:
    """The name of the engine an expression runs on (``duckdb``, ``pyspark``, ``postgres`` …)."""
    return ibis.get_backend(expr).name


def has_fast_asof(expr: ibis.Expr) -> bool:
    """Whether the expression's engine runs an as-of join well."""
    return backend_name(expr) in _FAST_ASOF


def has_record_arrays(expr: ibis.Expr) -> bool:
    """Whether the expression's engine collects, sorts and maps arrays of structs."""
    return backend_name(expr) in _RECORD_ARRAYS


def checks_integer_overflow(expr: ibis.Expr) -> bool:
    """Whether the expression's engine multiplies and sums 64-bit integers exactly or raises."""
    return backend_name(expr) in _CHECKED_INTEGERS


def next_at_or_after(left: ibis.Table, at: str, right: ibis.Table, right_at: str, keys: list[str],
                     name: str = "__next") -> ibis.Table:
    """``left`` with a column ``name``: the earliest ``right[right_at]`` at or after ``left[at]`` among
    the rows of ``right`` with the same ``keys`` (NULL when there is none) — an as-of join's match,
    found in one ordered pass: the two tables stacked, sorted per key by time (a left row before a
    right row at the same time), each left row taking the minimum of the right times from it on.

    ``right`` must have the ``keys`` (same names and types) and ``right_at``.
    """
    at_type = left[at].type()
    kind = "__side"
    queries = left.mutate(**{"__at": left[at], kind: ibis.literal(0, "int8"), name: ibis.null(at_type)})
    candidates = right.select(
        **{c: right[c] if c in keys else ibis.null(left[c].type()) for c in left.columns},
        **{"__at": right[right_at].cast(at_type), kind: ibis.literal(1, "int8"), name: right[right_at].cast(at_type)})
    stacked = queries.union(candidates, distinct=False)
    following = ibis.window(group_by=keys, order_by=["__at", kind], rows=(0, None))
    found = stacked.mutate(**{name: stacked[name].min().over(following)})
    return found.filter(found[kind] == 0).drop("__at", kind)


def _base_column(table: ir.Table, column: str) -> tuple[ops.DatabaseTable, str] | None:
    """The stored table and column a column of ``table`` is read from, when only filters,
    projections, sorts and limits stand between them (each keeps a unique column unique)."""
    op = table.op()
    while True:
        if isinstance(op, ops.DatabaseTable):
            return op, column
        if isinstance(op, (ops.Filter, ops.Sort, ops.Limit)):
            op = op.parent
        elif isinstance(op, ops.Project):
            value = op.values.get(column)
            if not isinstance(value, ops.Field) or value.rel != op.parent:
                return None
            op, column = op.parent, value.name
        else:
            return None


def declares_unique(table: ir.Table, column: str) -> bool:
    """Whether the engine itself guarantees ``column`` unique and not null in ``table``: a PRIMARY
    KEY, or a UNIQUE constraint (an index in PostgreSQL) on that column alone with NOT NULL, on
    the stored table ``table`` reads through filters and projections. A proof found in the
    catalog, so the caller can skip a pass over every row; False whenever it cannot be shown."""
    found = _base_column(table, column)
    if found is None:
        return False
    stored, name = found
    backend = stored.source
    if backend.name not in _ENFORCED_KEYS:
        return False
    dialect = backend.name

    def text(value: str | None) -> str:
        return sg.exp.convert(value).sql(dialect)

    schema = text(stored.namespace.database)
    if backend.name == "duckdb":
        query = f"""
            SELECT bool_or(constraint_type = 'PRIMARY KEY') OR (bool_or(constraint_type = 'UNIQUE')
                                                                AND bool_or(constraint_type = 'NOT NULL'))
            FROM duckdb_constraints()
            WHERE table_name = {text(stored.name)} AND constraint_column_names = [{text(name)}]
              AND schema_name = coalesce({schema}, current_schema())
              AND database_name = coalesce({text(stored.namespace.catalog)}, current_database())"""
    else:
        # a unique index on the column alone, not partial; the primary key's index is one of them
        query = f"""
            SELECT coalesce(bool_or(i.indisprimary OR a.attnotnull), false)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
            WHERE c.relname = {text(stored.name)} AND n.nspname = coalesce({schema}, current_schema())
              AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = {text(name)}"""
    cursor = backend.raw_sql(query)
    row = cursor.fetchone()
    if backend.name == "postgres":  # a cursor of its own (DuckDB hands back the shared connection)
        cursor.close()
    return bool(row and row[0])
