"""Column mapping: how an export's files, columns and values become the contract's tables.

A folder source reads ``kit-mapping.yaml`` beside the data when it exists (``kit.connect(folder,
mapping=path)`` names another file, so a project can keep its own). Per table:

```yaml
encoding: gb18030             # every CSV of the folder (default: detected)
tables:
  orders:
    file: 订单导出.xlsx        # the table's file when it is not named orders.csv / .parquet / .xlsx
    sheet: 订单               # an Excel file's sheet (default: the first)
    encoding: gbk             # this CSV's encoding (default: the folder's, else detected)
    columns: {订单号: order_id, 实付金额: gmv, 支付时间: paid_at}
    values: {status: {已付款: paid, 已退款: refunded}}
    units: {gmv: fen}          # fen (or cent) -> yuan: divided by 100
    formats: {paid_at: "%Y%m%d %H%M%S", signup_at: excel_days}   # strptime codes, or Excel serial days
    constants: {channel: direct}
```

The mapping runs in the engine before the contract's checks. A value it cannot convert is left as
it was, so the contract reports it as unreadable with the export's text (and the export's column).
"""
from __future__ import annotations

from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

FILE_NAME = "kit-mapping.yaml"
_UNITS = {"yuan": 1, "fen": 100, "cent": 100, "cents": 100}
EXCEL_DAYS = "excel_days"
_EXCEL_EPOCH_DAYS = 25569  # 1970-01-01 as an Excel serial day (Excel counts from 1899-12-30)


class TableMapping(BaseModel):
    """How one table of the contract is read from an export."""

    model_config = ConfigDict(extra="forbid")
    file: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    units: dict[str, str] = {}
    formats: dict[str, str] = {}
    constants: dict[str, str] = {}

    def labels(self) -> dict[str, str]:
        """Contract column -> the export's column it comes from (for error messages)."""
        return {contract: export for export, contract in self.columns.items()}

    def apply(self, raw: ir.Table) -> ir.Table:
        """The export's table with contract names, mapped values, yuan, parseable dates and constants."""
        renamed = {contract: export for export, contract in self.columns.items() if export in raw.columns}
        t = raw.rename(renamed) if renamed else raw
        changed = {}
        for column, pairs in self.values.items():
            if column in t.columns:
                changed[column] = t[column].cases(*pairs.items(), else_=t[column])
        for column, unit in self.units.items():
            if column in t.columns:
                changed[column] = _divide(t[column], _UNITS[unit])
        for column, fmt in self.formats.items():
            if column in t.columns:
                changed[column] = _excel_days(t[column]) if fmt == EXCEL_DAYS else _strptime(t[column], fmt)
        t = t.mutate(**changed) if changed else t
        constants = {column: ibis.literal(value, type=dt.string) for column, value in self.constants.items()}
        return t.mutate(**constants) if constants else t


class Mapping(BaseModel):
    """A mapping file: a default encoding and one :class:`TableMapping` per table."""

    model_config = ConfigDict(extra="forbid")
    encoding: str | None = None
    tables: dict[str, TableMapping] = {}

    def table(self, name: str) -> TableMapping:
        """The table's mapping (empty when the file says nothing about it)."""
        return self.tables.get(name) or TableMapping()


def load(path: Path, tables: tuple[str, ...]) -> Mapping:
    """Read and check a mapping file; a mistake is a ValueError naming the file and the key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        mapping = Mapping.model_validate(data)
    except (yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"{path}: not a valid column mapping ({error})") from None
    for name, table in mapping.tables.items():
        if name not in tables:
            raise ValueError(f"{path}: '{name}' is not a table of the data contract; tables: {', '.join(tables)}")
        for column, unit in table.units.items():
            if unit not in _UNITS:
                raise ValueError(f"{path}: tables.{name}.units.{column}: unknown unit '{unit}' (known: {', '.join(_UNITS)})")
        for column, fmt in table.formats.items():
            if fmt != EXCEL_DAYS and "%" not in fmt:
                raise ValueError(f"{path}: tables.{name}.formats.{column}: '{fmt}' is neither a strptime format "
                                 f"(like %Y%m%d) nor {EXCEL_DAYS}")
    return mapping


def _as_text(parsed: ir.Value, original: ir.Value) -> ir.StringValue:
    """The converted value as text, or the original where it did not convert (the contract reports it)."""
    return parsed.cast("string").coalesce(original.cast("string"))


def _divide(value: ir.Value, by: int) -> ir.Value:
    if value.type().is_numeric():
        return value.cast("float64") / by
    return _as_text(value.strip().try_cast("float64") / by, value)


def _strptime(value: ir.Value, fmt: str) -> ir.Value:
    @ibis.udf.scalar.builtin(name="try_strptime")
    def parse(text: str, format: str) -> dt.Timestamp():  # noqa: ANN001
        ...

    return _as_text(parse(value.cast("string").strip(), fmt), value)


def _excel_days(value: ir.Value) -> ir.Value:
    @ibis.udf.scalar.builtin(name="make_timestamp")
    def from_micros(us: dt.int64) -> dt.Timestamp():  # noqa: ANN001
        ...

    days = value.cast("float64") if value.type().is_numeric() else value.strip().try_cast("float64")
    millis = ((days - _EXCEL_EPOCH_DAYS) * 86_400_000).round()  # Excel keeps times to the millisecond
    return _as_text(from_micros(millis.cast("int64") * 1000), value)
