"""Deterministic Parquet output and the manifest.

Fixed writer settings (zstd level 3, fixed row-group size, statistics on, no pandas metadata, no
wall-clock values), so the same arrays always give the same bytes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_SIZE = 1_000_000
MANIFEST = "MANIFEST.sha256"
UTC_MS = pa.timestamp("ms", tz="UTC")   # every timestamp is stored in UTC, to the millisecond


def id_array(prefix: str, numbers: np.ndarray, width: int, null: np.ndarray | None = None) -> pa.StringArray:
    """Fixed-width string ids (``u0000123``) built straight into an Arrow buffer (no Python loop).

    ``null`` marks entries that are missing (their bytes are kept but masked by the validity bitmap).
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    n = numbers.size
    total = len(prefix) + width
    if n and numbers.max() >= 10 ** width:
        raise ValueError(f"id {numbers.max()} does not fit in {width} digits")
    buf = np.empty((n, total), dtype=np.uint8)
    buf[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    rest = numbers.copy()
    for j in range(total - 1, len(prefix) - 1, -1):
        buf[:, j] = rest % 10 + 48
        rest //= 10
    offsets = np.arange(n + 1, dtype=np.int64) * total
    validity, null_count = None, 0
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~np.asarray(null, dtype=bool), bitorder="little").tobytes())
        null_count = int(np.count_nonzero(null))
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes()), validity, null_count)
    return array.cast(pa.string())


def dictionary(names: tuple[str, ...], codes: np.ndarray) -> pa.DictionaryArray:
    """A dictionary-encoded Arrow column of ``names`` indexed by ``codes``."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int8)), pa.array(list(names), pa.string()))


def write_table(table: pa.Table, path: Path) -> None:
    """Write one table as Parquet, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Timestamps (nearly sorted) compress best as deltas; everything else as dictionaries.
    stamps = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    others = [f.name for f in table.schema if f.name not in stamps]
    pq.write_table(table, str(path), compression="zstd", compression_level=3, row_group_size=ROW_GROUP_SIZE,
                   use_dictionary=others, column_encoding={name: "DELTA_BINARY_PACKED" for name in stamps} or None,
                   write_statistics=True, version="2.6", data_page_version="1.0")


class ParquetOut:
    """Writes tables (single files) and parts (``name/part-0000.parquet``) under one folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.parts: dict[str, int] = {}
        self.rows: dict[str, int] = {}

    def table(self, name: str, table: pa.Table) -> None:
        write_table(table, self.folder / f"{name}.parquet")
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def part(self, name: str, table: pa.Table) -> None:
        index = self.parts.get(name, 0)
        write_table(table, self.folder / name / f"part-{index:04d}.parquet")
        self.parts[name] = index + 1
        self.rows[name] = self.rows.get(name, 0) + table.num_rows


def sha256(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_files(folder: Path) -> list[Path]:
    """Every generated file except the manifest itself, in a stable order."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path) -> dict[str, str]:
    """Write the folder's manifest (file → SHA-256) and return it."""
    folder = Path(folder)
    entries = {p.relative_to(folder).as_posix(): sha256(p) for p in data_files(folder)}
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items()))
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return entries


def read_manifest(folder: Path) -> dict[str, str]:
    """The folder's manifest (file → SHA-256)."""
    path = Path(folder) / MANIFEST
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            entries[name.strip()] = digest
    return entries


def manifest_mismatches(folder: Path) -> list[str]:
    """Files missing, extra or with another hash than the manifest says (empty = all match)."""
    folder = Path(folder)
    expected = read_manifest(folder)
    actual = {p.relative_to(folder).as_posix(): p for p in data_files(folder)}
    problems = [f"missing: {name}" for name in sorted(set(expected) - set(actual))]
    problems += [f"not in the manifest: {name}" for name in sorted(set(actual) - set(expected))]
    problems += [f"different bytes: {name}" for name in sorted(set(expected) & set(actual)) if sha256(actual[name]) != expected[name]]
    return problems
