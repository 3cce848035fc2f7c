"""Reading a folder source's files: Parquet, CSV in any common encoding, Excel workbooks.

What a file really holds is checked before the engine reads it, so a bad file is a ContractError
naming the table, the file and what to do (never a raw engine traceback):

- Parquet must begin and end with its magic bytes (a truncated copy does not end with them);
- a ``.csv`` that is a ZIP archive is an Excel workbook saved under the wrong name;
- a CSV's encoding is its byte-order mark (UTF-8, UTF-16), else UTF-8 if every byte decodes, else
  GB18030 (which contains GBK, what Excel writes in China), or the one the mapping declares; a CSV
  in another encoding than UTF-8 is converted once to UTF-8 in the cache folder;
- an Excel workbook's sheet is converted once to a Parquet file of text in the cache folder, so
  it is typed and checked exactly like a CSV;
- a header that names a column twice is rejected.

Converted copies live in ``config.cache_dir()/converted``, named by a digest of the file (path,
size, modification time) and the reading options: an edited file is converted again.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import tempfile
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from kit import config
from kit.contract import raise_violations

SUFFIXES = (".parquet", "", ".csv", ".csv.gz", ".xlsx")
TEXT_SUFFIXES = (".csv", ".gz", ".xlsx")
_CHUNK = 1 << 20


def candidates(folder: Path, name: str, declared: str | None = None) -> list[Path]:
    """Every file in ``folder`` that could hold table ``name`` (the mapping's ``file:`` if declared)."""
    if declared:
        return [folder / declared] if (folder / declared).exists() else []
    found = []
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file() if suffix else (path.is_dir() and any(path.glob("*.parquet"))):
            found.append(path)
    return found


def is_text(path: Path) -> bool:
    """Whether the file is text (CSV, Excel), whose values the contract parses and trims."""
    return path.is_file() and path.suffix in TEXT_SUFFIXES


def _fail(name: str, path: Path, rule: str) -> None:
    raise_violations(str(path.parent), [{"table": name, "file": path.name, "column": None, "rows": None, "rule": rule}])


def read(backend: ibis.BaseBackend, name: str, path: Path, *, sheet: str | None = None,
         encoding: str | None = None) -> ir.Table:
    """The table stored in ``path``, as the engine reads it (CSV and Excel as text)."""
    try:
        if path.is_dir():
            return backend.read_parquet(str(path / "*.parquet"), table_name=name)
        if path.suffix == ".parquet":
            _check_parquet(name, path)
            return backend.read_parquet(str(path), table_name=name)
        if path.suffix == ".xlsx":
            return backend.read_parquet(str(_excel_as_parquet(name, path, sheet)), table_name=name)
        return backend.read_csv(str(_csv_as_utf8(name, path, encoding)), table_name=name, all_varchar=True)
    except duckdb.Error as error:
        _fail(name, path, f"cannot be read ({str(error).splitlines()[0]}); export the file again, as UTF-8 CSV or Parquet")


def _check_parquet(name: str, path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(size - 4, 0))
        tail = f.read(4)
    if head != b"PAR1":
        _fail(name, path, "is not a Parquet file (it does not begin with Parquet's magic bytes); "
                          "export it again, or give it the suffix of what it is (.csv, .xlsx)")
    if tail != b"PAR1":
        _fail(name, path, "is a truncated Parquet file (its footer is missing: cut off in a copy or still being "
                          "written); copy or export it again")
    _unique_header(name, path, pq.read_schema(path).names)


def _unique_header(name: str, path: Path, header: list[str]) -> None:
    seen, twice = set(), []
    for column in header:
        if column in seen and column not in twice:
            twice.append(column)
        seen.add(column)
    if twice:
        _fail(name, path, f"the header names column{'s' if len(twice) > 1 else ''} {', '.join(repr(c) for c in twice)} "
                          "twice; keep one (or rename the other in the export)")


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _decodes(path: Path, encoding: str) -> int | None:
    """None if every byte decodes, else the (1-based) line of the first that does not."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with _open(path) as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return lines + chunk[:error.start].count(b"\n")
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines
    return None


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef"


def _gbk_that_looks_like_utf8(path: Path) -> bool:
    """Short GBK text can be valid UTF-8 by chance (双十一 reads as ˫ʮһ): then the UTF-8 reading
    has no Chinese and letters that are not Latin, while the GB18030 reading is all Chinese."""
    with _open(path) as f:
        sample = f.read(_CHUNK)
    as_utf8 = {c for c in sample.decode("utf-8", errors="ignore") if ord(c) > 127}
    as_gb = {c for c in sample.decode("gb18030", errors="ignore") if ord(c) > 127}
    latin = all("\u00c0" <= c <= "\u024f" or "\u00a0" <= c <= "\u00bf" for c in as_utf8)
    return bool(as_utf8) and not latin and not any(_is_cjk(c) for c in as_utf8) and all(_is_cjk(c) for c in as_gb)


def detect_encoding(name: str, path: Path, declared: str | None = None) -> str:
    """The CSV's encoding: declared, else its byte-order mark, else UTF-8 or GB18030, whichever decodes."""
    with _open(path) as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04"):
        _fail(name, path, "is an Excel workbook (xlsx) saved under a .csv name; rename it to "
                          f"{name}.xlsx (or save it from Excel as CSV UTF-8)")
    if head.startswith(b"PAR1"):
        _fail(name, path, f"is a Parquet file under a .csv name; rename it to {name}.parquet")
    if declared:
        tried = [declared]
    elif head.startswith(codecs.BOM_UTF8):
        tried = ["utf-8-sig"]
    elif head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        tried = ["utf-16"]
    else:
        tried = ["utf-8", "gb18030"]
    first_bad = None
    for encoding in tried:
        bad = _decodes(path, encoding)
        if bad is None:
            return "gb18030" if encoding == "utf-8" and _gbk_that_looks_like_utf8(path) else encoding
        first_bad = first_bad or bad
    _fail(name, path, f"line {first_bad} cannot be decoded as {' or '.join(tried)}; save the file as CSV UTF-8, "
                      f"or declare its encoding in the folder's kit-mapping.yaml (tables: {name}: encoding: ...)")


def _converted(path: Path, options: str, suffix: str) -> Path:
    st = path.stat()
    digest = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{options}".encode()).hexdigest()[:32]
    folder = config.cache_dir()
    folder = folder / "converted" if folder is not None else Path(tempfile.gettempdir()) / "kit-converted"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{digest}{suffix}"


def _csv_as_utf8(name: str, path: Path, declared: str | None) -> Path:
    """The CSV itself when it is UTF-8, else a UTF-8 copy (made once); its header checked."""
    encoding = detect_encoding(name, path, declared)
    with _open(path) as f:
        header = next(csv.reader([io.TextIOWrapper(f, encoding=encoding, newline="").readline()]), [])
    _unique_header(name, path, [c.strip() for c in header])
    if encoding in ("utf-8", "utf-8-sig", "ascii"):
        return path
    target = _converted(path, encoding, ".csv")
    if not target.exists():
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".csv-")
        with _open(path) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text, \
                open(handle, "w", encoding="utf-8", newline="") as out:
            while chunk := text.read(_CHUNK):
                out.write(chunk)
        Path(temporary).replace(target)
    return target


def _cell_text(value) -> str | None:
    """An Excel cell as the text a CSV export would hold (whole numbers without '.0')."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") and hasattr(value, "year") else value.isoformat()
    return str(value)


def _excel_as_parquet(name: str, path: Path, sheet: str | None) -> Path:
    """The workbook's sheet (the first unless named) as a Parquet file of text (made once)."""
    from python_calamine import CalamineWorkbook

    target = _converted(path, f"sheet={sheet}", ".parquet")
    if target.exists():
        return target
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own error types for every kind of bad workbook
        _fail(name, path, f"is not a readable Excel workbook ({error}); save it again from Excel as .xlsx, or as CSV UTF-8")
    if sheet is not None and sheet not in book.sheet_names:
        _fail(name, path, f"has no sheet '{sheet}' (sheets: {', '.join(book.sheet_names)}); fix `sheet:` in kit-mapping.yaml")
    rows = (book.get_sheet_by_name(sheet) if sheet else book.get_sheet_by_index(0)).to_python(skip_empty_area=True)
    if not rows:
        _fail(name, path, "has an empty sheet: the first row must be the header")
    header = [str(_cell_text(c) or "").strip() for c in rows[0]]
    _unique_header(name, path, [c for c in header if c])
    columns = {h: [_cell_text(r[i]) if i < len(r) else None for r in rows[1:]] for i, h in enumerate(header) if h}
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".xlsx-")
    with open(handle, "wb") as out:
        pq.write_table(pa.table({h: pa.array(v, pa.string()) for h, v in columns.items()}), out)
    Path(temporary).replace(target)
    return target
