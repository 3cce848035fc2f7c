"""Where the tables live: ``kit.connect(source)`` returns a :class:`Source` of contract-checked Ibis tables.

Accepted sources:

- ``None``: the embedded default, DuckDB over the sample data in ``data/sample``;
- a folder of files named after the tables: ``orders.parquet``, ``orders.csv`` (or ``.csv.gz``,
  in UTF-8, GBK/GB18030 or UTF-16), ``orders.xlsx``, or a sub-folder ``orders/`` of Parquet parts;
  a ``kit-mapping.yaml`` beside them maps an export's files, columns and values (:mod:`kit.mapping`);
- a DuckDB database file (``.duckdb``, ``.ddb``, ``.db``), opened read-only;
- an Ibis connection URL (``postgres://…``, ``duckdb:///path``, ``bigquery://…``);
- an Ibis backend object you connected yourself (e.g. ``ibis.pyspark.connect(spark)``);
- a Spark source described in params (:class:`kit.params.SourceSpec`, or the same as a dict:
  ``{"kind": "spark", "master": "local[2]", "conf": {...}, "tables": {"events": "s3://…/events/", …}}``):
  each process opens its own session.

Time: a column stored as an instant (DuckDB/PostgreSQL ``timestamptz``, Spark ``TimestampType``)
is converted once to local wall time; a zone-less one (``timestamp``, Spark ``TimestampNTZType``)
is read as local time already.

Everything stays in the engine: ``Source.table`` returns an Ibis expression, and analyses
aggregate it there before anything reaches pandas.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from kit import config
from kit import contract as _contract_module
from kit import files as files_module
from kit import mapping as mapping_module
from kit import params as params_module
from kit.contract import TABLES, ContractError, check_and_normalise, normalise, raise_violations, specs
from kit.quarter import Quarter

_DB_SUFFIXES = (".duckdb", ".ddb", ".db")
# Under config.cache_dir(): one empty-ish file per table fingerprint that passed the contract.
PASSED_FOLDER = "contract-passed"


@lru_cache(maxsize=1)
def _checking_code_digest() -> str:
    """A digest of the code that checks tables: a new rule or a fixed check invalidates old passes."""
    return hashlib.sha256(Path(_contract_module.__file__).read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def _reading_code_digest() -> str:
    """A digest of the code that reads files and maps columns (it shapes what is checked)."""
    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (files_module, mapping_module))).hexdigest()


class Source:
    """Contract-checked tables over one Ibis backend.

    Each table is checked once per Source (in the engine) on first use and then cached as a
    normalised expression: ids are strings, timestamps are naive local time in ``timezone``.

    A table stored in local files that passed before, with the same files (path, size, modification
    and change times, inode), the same rules and the same checking code, is not checked again
    (:meth:`fingerprint`; remembered in ``config.cache_dir()``), in this process or any other:
    the notebooks of a report, or tomorrow's session on unchanged data. ``reuse_checks=False``
    checks every table regardless (``kit validate`` does).
    """

    def __init__(self, backend: ibis.BaseBackend, *, name: str, files: "dict[str, Path | str] | None" = None,
                 views: dict[str, str] | None = None,
                 timezone: str = config.DEFAULT_TIMEZONE, channels: list[str] | None = None,
                 reuse_checks: bool = True, mapping: "mapping_module.Mapping | None" = None,
                 ambiguous: dict[str, list[Path]] | None = None):
        self.backend = backend
        self.mapping = mapping or mapping_module.Mapping()
        self._ambiguous = ambiguous or {}
        self.reuse_checks = reuse_checks
        self.name = name
        self.timezone = timezone
        self.channels = list(channels) if channels is not None else list(params_module.defaults().channels)
        self._files = files or {}  # table -> local Path (or, on Spark, a remote URI)
        self._views = views or {}  # table -> the backend's name for it
        self._specs = specs(self.channels)
        self._checked: dict[str, ir.Table] = {}
        self._raw: dict[str, ir.Table] = {}
        self._broken: dict[str, ContractError] = {}  # checked once and failed: raised again, not re-checked
        #: Plausibility warnings per checked table (not errors; see README 'Data contract').
        self.warnings: dict[str, list[dict]] = {}
        if backend.name == "duckdb":
            # DuckDB's progress bar would print into notebook outputs and reports. Inside Jupyter
            # without ipywidgets DuckDB refuses to touch the setting at all, and prints no bar there.
            try:
                backend.raw_sql("SET enable_progress_bar = false")
            except duckdb.InvalidInputException:
                pass

    def __repr__(self) -> str:
        return f"Source({self.name!r}, backend={self.backend.name}, timezone={self.timezone!r})"

    # -- raw access -------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Contract tables this source has: its files and views, else the backend's catalog."""
        present = set(self._files) | set(self._views) | set(self._ambiguous)
        if not present:
            present = set(self.backend.list_tables())
        return [t for t in TABLES if t in present]

    def raw(self, name: str) -> ir.Table:
        """The table as stored, unchecked (for inspection; analyses use :meth:`table`)."""
        if name not in self._specs:
            raise KeyError(f"'{name}' is not a table of the data contract; tables: {', '.join(TABLES)}")
        if name in self._ambiguous:
            found = self._ambiguous[name]
            raise_violations(self.name, [{"table": name, "column": None, "rows": None, "rule": (
                f"{len(found)} files hold this table: {', '.join(p.name for p in found)}; keep one (or name it "
                f"in kit-mapping.yaml: tables: {name}: file: ...)")}])
        if name in self._files:
            mapped = self.mapping.table(name)
            if self.backend.name == "pyspark":
                raw = _read_with_spark(self.backend, name, self._files[name])
            else:
                raw = files_module.read(self.backend, name, self._files[name], sheet=mapped.sheet,
                                        encoding=mapped.encoding or self.mapping.encoding)
            return mapped.apply(_marked_instants(self.backend, raw))
        if name in self._views:
            return _marked_instants(self.backend, self.backend.table(self._views[name]))
        if self._files:
            raise FileNotFoundError(
                f"{self.name}: no file for table '{name}' (looked for {name}.parquet, {name}.csv, {name}.csv.gz, "
                f"{name}.xlsx or a folder {name}/ of Parquet files); tables found: {', '.join(self.tables()) or 'none'}")
        if name not in self.backend.list_tables():
            raise FileNotFoundError(f"{self.name}: no table '{name}'; tables present: {', '.join(sorted(self.backend.list_tables()))}")
        return _marked_instants(self.backend, self.backend.table(name))

    # -- checked access ---------------------------------------------------------------------
    def table(self, name: str, quarter: "str | Quarter | None" = None) -> ir.Table:
        """The contract-checked table, optionally filtered to a quarter by local date.

        Filtering uses the table's time column (``orders.paid_at``, ``events.ts``, ``ad_spend.date`` …);
        ``order_items`` follows its orders; ``promotions`` are those overlapping the quarter.
        """
        checked = self._checked.get(name)
        if name in self._broken:
            raise self._broken[name]
        if checked is None:
            parent = self._parent() if name == "order_items" else None
            raw = self.raw(name)
            text = isinstance(self._files.get(name), Path) and files_module.is_text(self._files[name])
            if self.reuse_checks and self.passed_before(name):
                self.warnings[name] = self._pass_record_data(name).get("warnings", [])
                checked = normalise(raw, self._specs[name], timezone=self.timezone, backend=self.backend.name, text=text)
            else:
                try:
                    checked = self._check(name, raw, parent, text)
                except ContractError as error:
                    self._broken[name] = error
                    raise
                if parent is not None or name != "order_items" or "orders" not in self.tables():
                    self._remember_pass(name)  # items checked without their (broken) orders have not passed
            self._checked[name], self._raw[name] = checked, raw
        if quarter is None:
            return checked
        return self.between(name, Quarter(quarter).start, Quarter(quarter).end, table=checked)

    def _check(self, name: str, raw: ir.Table, parent: ir.Table | None, text: bool) -> ir.Table:
        self.warnings[name] = []
        try:
            return check_and_normalise(raw, self._specs[name], timezone=self.timezone, backend=self.backend.name,
                                       source_name=self.name, parent=parent, text=text,
                                       labels=self.mapping.table(name).labels(), warnings=self.warnings[name])
        except duckdb.Error as error:  # e.g. a CSV whose rows do not fit its header, found while counting
            path = self._files.get(name)
            raise_violations(self.name, [{"table": name, "file": path.name if path else None, "column": None, "rows": None,
                                          "rule": f"cannot be read ({str(error).splitlines()[0]})"}])

    def _parent(self) -> ir.Table | None:
        """The checked orders for the order_items rules; None when orders is broken or absent
        (its own error says why), so the items' other rules are still checked."""
        try:
            return self.table("orders")
        except (ContractError, FileNotFoundError):
            return None

    def between(self, name: str, start: _dt.date, end: _dt.date, *, table: ir.Table | None = None) -> ir.Table:
        """Rows whose local date lies in ``[start, end]`` (both inclusive)."""
        t = table if table is not None else self.table(name)
        spec = self._specs[name]
        if name == "order_items":
            orders = self.between("orders", start, end).select("order_id")
            return t.semi_join(orders, "order_id")
        if name == "promotions":
            return t.filter((t.start <= end) & (t.end >= start))
        if spec.time_column is None:
            raise ValueError(f"table '{name}' has no time column to filter by")
        column = t[spec.time_column]
        if column.type().is_date():
            return t.filter(column.between(start, end))
        lower = _dt.datetime.combine(start, _dt.time())
        upper = _dt.datetime.combine(end + _dt.timedelta(days=1), _dt.time())
        raw = self._raw.get(name)
        if raw is not None and raw[spec.time_column].type().is_timestamp() \
                and raw[spec.time_column].type().timezone is not None:
            # Filter the stored instants first (a day of slack covers any UTC offset) so the engine
            # can skip Parquet row groups, then apply the exact local-day bounds.
            slack = _dt.timedelta(days=1)
            utc = _dt.timezone.utc
            coarse = raw.filter(raw[spec.time_column].between(
                (lower - slack).replace(tzinfo=utc), (upper + slack).replace(tzinfo=utc)))
            t = normalise(coarse, spec, timezone=self.timezone, backend=self.backend.name)
            column = t[spec.time_column]
        return t.filter((column >= lower) & (column < upper))

    def fingerprint(self, name: str) -> str | None:
        """A digest of the table's files (path, size, modification and change times, inode), of the
        rules it is checked against and of the checking code; ``None`` when the table is not a local
        file (a database or catalog table, a remote URI: no cheap sign of change, so checked every time)."""
        path = self._files.get(name)
        if not isinstance(path, Path):
            return None
        digest = hashlib.sha256()
        for file in sorted(path.glob("*.parquet")) if path.is_dir() else [path]:
            st = file.stat()
            digest.update(f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}\n".encode())
        spec = self._specs[name]
        digest.update(repr((spec.name, spec.columns, spec.time_column, spec.unique, [r.text for r in spec.rules],
                            self.timezone, self.backend.name, _checking_code_digest(),
                            self.mapping.model_dump_json(), _reading_code_digest())).encode())
        if name == "order_items":  # its orphan rule reads orders
            digest.update(str(self.fingerprint("orders")).encode())
        return digest.hexdigest()

    def _pass_record(self, name: str) -> Path | None:
        folder = config.cache_dir()
        fingerprint = self.fingerprint(name)
        return None if folder is None or fingerprint is None else folder / PASSED_FOLDER / fingerprint

    def _pass_record_data(self, name: str) -> dict:
        try:
            return json.loads(self._pass_record(name).read_text(encoding="utf-8"))
        except (OSError, ValueError, AttributeError):
            return {}

    def passed_before(self, name: str) -> bool:
        """Whether this table, exactly as it is now, passed the contract before (see the class docstring)."""
        record = self._pass_record(name)
        return record is not None and record.is_file()

    def _remember_pass(self, name: str) -> None:
        record = self._pass_record(name)
        if record is None:
            return
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=record.parent, prefix=".pass-")
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                json.dump({"table": name, "source": self.name, "files": str(self._files[name]),
                           "passed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                           "warnings": self.warnings.get(name, [])}, f, default=str, ensure_ascii=False)
            os.replace(temporary, record)  # atomic: a reader never sees half a record
        except OSError:  # a read-only or full cache only costs a check next time
            pass

    def check(self, names: list[str] | None = None) -> dict[str, int]:
        """Check every (or the named) table; returns row counts. Raises one ContractError listing
        every problem of every table (order_items is checked without orders when orders broke)."""
        counts, violations = {}, []
        for name in names or self.tables():
            try:
                counts[name] = int(self.table(name).count().to_pyarrow().as_py())
            except ContractError as error:
                violations += error.violations
        if violations:
            raise_violations(self.name, violations)
        return counts


def _marked_instants(backend: ibis.BaseBackend, raw: ir.Table) -> ir.Table:
    """The table with its instants typed as such. Ibis reads Spark's ``TimestampType`` (an instant,
    shown in the session's zone, which Ibis sets to UTC) as a zone-less timestamp, so the contract
    would take UTC wall time for local time; the Spark schema tells the two kinds apart
    (``TimestampNTZType`` is zone-less wall time). Other backends type their columns correctly."""
    if backend.name != "pyspark":
        return raw
    from pyspark.sql.types import TimestampType

    instants = [f.name for f in backend._session.table(raw.get_name()).schema.fields
                if type(f.dataType) is TimestampType and f.name in raw.columns]
    return raw.mutate(**{c: raw[c].cast(dt.Timestamp(timezone="UTC")) for c in instants}) if instants else raw


def _read_with_spark(backend: ibis.BaseBackend, name: str, path: "Path | str") -> ir.Table:
    """Spark reads a folder of parts, a glob or a remote URI itself; CSVs as text, as on DuckDB."""
    text = str(path)
    view = _view_name(name, text)
    if text.endswith((".csv", ".csv.gz")):
        return backend.read_csv(text, table_name=view, inferSchema=False)
    return backend.read_parquet(text, table_name=view)


def _view_name(name: str, where: str) -> str:
    """A Spark view per stored table: sources in one session (one per process) never replace each
    other's tables, and two sources over the same files share the view."""
    return f"kit_{name}_{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def _spark_source(spec: "params_module.SourceSpec", options: dict) -> Source:
    """A Source over a Spark session built from ``spec``: the session of this process if one
    runs already (``getOrCreate``: settings it cannot take at runtime keep their values), else a
    new one. Table paths are read as files (and fingerprinted when local); other names are
    catalog tables, shown to the kit under the contract's table names."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if spec.master:
        builder = builder.master(spec.master)
    for key, value in spec.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    backend = ibis.pyspark.connect(session)
    files: dict[str, "Path | str"] = {}
    views: dict[str, str] = {}
    for name, where in spec.tables.items():
        if name not in TABLES:
            raise KeyError(f"source tables: '{name}' is not a table of the data contract; tables: {', '.join(TABLES)}")
        local = Path(where).expanduser()
        if local.exists():
            files[name] = local.resolve()
        elif "/" in where or "://" in where:
            files[name] = where  # a remote URI (s3a://, hdfs://, abfss://): read by Spark, never fingerprinted
        else:
            views[name] = _view_name(name, where)
            session.table(where).createOrReplaceTempView(views[name])
    shown = spec.master or session.sparkContext.master
    return Source(backend, name=f"spark {shown}", files=files, views=views, **options)


def _find_files(folder: Path, mapping: "mapping_module.Mapping | None" = None) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """The file of each table in ``folder``, and the tables more than one file could hold."""
    mapping = mapping or mapping_module.Mapping()
    found, ambiguous = {}, {}
    for name in TABLES:
        paths = files_module.candidates(folder, name, mapping.table(name).file)
        if len(paths) == 1:
            found[name] = paths[0]
        elif paths:
            ambiguous[name] = paths
    return found, ambiguous


def connect(source: Any = None, *, params: "params_module.Params | None" = None, project: Any = None,
            timezone: str | None = None, channels: list[str] | None = None, reuse_checks: bool = True,
            mapping: "str | Path | None" = None) -> Source:
    """Open a data source (see the module docstring for what ``source`` may be).

    ``params`` (from :func:`kit.params.load`) supplies the time zone, the channel list and, when
    ``source`` is None, the source; without ``params``, the defaults of the project (``project=``,
    else found as :func:`kit.project.find` does; the embedded sample project reads the sample).
    ``timezone`` / ``channels`` override them. ``reuse_checks=False``: check every table even if
    it passed before unchanged (see :class:`Source`). ``mapping``: a column-mapping file for a
    folder source (default: ``kit-mapping.yaml`` in the folder, when there is one).
    """
    p = params or params_module.defaults(project=project)
    timezone = timezone or p.timezone
    channels = channels if channels is not None else list(p.channels)
    if source is None and p.source:
        source = p.source
    options = {"timezone": timezone, "channels": channels, "reuse_checks": reuse_checks}

    if isinstance(source, dict):
        source = params_module.SourceSpec.model_validate(source)
    if isinstance(source, params_module.SourceSpec):
        return _spark_source(source, options)
    if isinstance(source, ibis.BaseBackend):
        return Source(source, name=f"{source.name} backend", **options)
    if source is None and p.project is not None:
        raise FileNotFoundError(f"project {p.project} names no source: set `source:` in its params/defaults.yaml "
                                f"(or pass one)")
    if source is None:
        folder = config.SAMPLE_DIR
        if not any(_find_files(folder)):
            raise FileNotFoundError(f"the sample data is not in {folder}: generate it with `kit synth` (deterministic, about a minute)")
        source = folder
    text = str(source)
    if "://" in text:
        return Source(ibis.connect(text), name=text, **options)
    path = Path(text).expanduser()
    if path.suffix in _DB_SUFFIXES:
        if not path.exists():
            raise FileNotFoundError(f"DuckDB file not found: {path}")
        return Source(ibis.duckdb.connect(str(path), read_only=True), name=str(path), **options)
    if path.is_dir():
        mapping_file = Path(mapping) if mapping is not None else path / mapping_module.FILE_NAME
        table_mapping = mapping_module.load(mapping_file, TABLES) if mapping is not None or mapping_file.exists() else None
        files, ambiguous = _find_files(path, table_mapping)
        if not files and not ambiguous:
            raise FileNotFoundError(f"{path}: no contract tables found (expected files like orders.parquet, orders.csv "
                                    f"or orders.xlsx, or a kit-mapping.yaml naming them)")
        return Source(ibis.duckdb.connect(), name=str(path), files=files, mapping=table_mapping,
                      ambiguous=ambiguous, **options)
    raise FileNotFoundError(f"cannot open data source {text!r}: not a folder, a DuckDB file or an Ibis URL")


__all__ = ["Source", "connect", "ContractError"]
