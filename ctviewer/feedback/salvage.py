"""Rows still readable from a damaged SQLite file, read page by page (like sqlite3's `.recover`).

SQLite stores every table row in a leaf page of the table's b-tree. When the file is damaged
(a page overwritten, the file truncated mid-page, its header garbled) the b-tree cannot be walked
any more, but every leaf page that survived still holds whole rows. So this reads the file as
pages, takes the committed frames of its `-wal` file on top (they are newer), decodes the cells of
every table-leaf page, and gives each decoded record to the table whose columns it fits (count
and types). A row may turn up more than once (an old copy of a page that SQLite freed); callers
merge by content.

The file format: https://www.sqlite.org/fileformat2.html
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MAGIC = b"SQLite format 3\x00"
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_TABLE_LEAF = 13
_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}  # serial type → bytes of a big-endian int
_CONSTANTS = {0: None, 8: 0, 9: 1}  # serial types that store their value in the type itself


@dataclass
class Column:
    name: str
    kind: str  # the declared type: INTEGER, TEXT, REAL
    not_null: bool
    rowid_alias: bool  # INTEGER PRIMARY KEY: stored as NULL, the value is the cell's rowid


def schema_columns(schema_sql: str) -> dict[str, list[Column]]:
    """The columns of each table that `schema_sql` creates."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(schema_sql)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
        out = {}
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            out[table] = [
                Column(name, kind.upper(), bool(not_null), pk == 1 and kind.upper() == "INTEGER")
                for _cid, name, kind, not_null, _default, pk in info
            ]
        return out
    finally:
        conn.close()


def salvage_rows(db_path: Path, tables: dict[str, list[Column]]) -> dict[str, list[dict[str, Any]]]:
    """Every row of `tables` found whole in the file `db_path` (and its `-wal`), by table."""
    pages, usable = _read_pages(db_path)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    for number in sorted(pages):
        for rowid, values in _leaf_records(pages, number, usable):
            table = _table_of(values, tables)
            if table is not None:
                columns = tables[table]
                row = {
                    c.name: (rowid if c.rowid_alias else v)
                    for c, v in zip(columns, values, strict=True)
                }
                found[table].append(row)
    return found


# -- pages ----------------------------------------------------------------------------------


def _read_pages(db_path: Path) -> tuple[dict[int, bytes], int]:
    """Page number → bytes (main file, then the WAL's committed frames on top); usable size."""
    data = db_path.read_bytes() if db_path.is_file() else b""
    wal_path = db_path.with_name(db_path.name + "-wal")
    wal = wal_path.read_bytes() if wal_path.is_file() else b""
    page_size, reserved = _page_size(data, wal)
    pages = {1 + i // page_size: data[i : i + page_size] for i in range(0, len(data), page_size)}
    pages.update(_wal_pages(wal, page_size))
    return pages, page_size - reserved


def _page_size(data: bytes, wal: bytes) -> tuple[int, int]:
    """From the file header when it is intact, else from the WAL header, else SQLite's default."""
    if data.startswith(_MAGIC) and len(data) >= 100:
        size = struct.unpack(">H", data[16:18])[0]
        size = 65536 if size == 1 else size
        if size >= 512 and size & (size - 1) == 0:
            return size, data[20]
    if len(wal) >= 32 and struct.unpack(">I", wal[:4])[0] in _WAL_MAGIC:
        size = struct.unpack(">I", wal[8:12])[0]
        if size >= 512 and size & (size - 1) == 0:
            return size, 0
    return 4096, 0


def _wal_pages(wal: bytes, page_size: int) -> dict[int, bytes]:
    """The pages of the WAL's committed transactions (frames after the last commit are dropped)."""
    if len(wal) < 32 or struct.unpack(">I", wal[:4])[0] not in _WAL_MAGIC:
        return {}
    salt = wal[16:24]
    committed: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    frame = 24 + page_size
    for start in range(32, len(wal) - frame + 1, frame):
        number, commit_size = struct.unpack(">II", wal[start : start + 8])
        if wal[start + 8 : start + 16] != salt:
            break  # left over from before the WAL was last reset
        pending[number] = wal[start + 24 : start + frame]
        if commit_size:
            committed.update(pending)
            pending = {}
    return committed


# -- cells and records ----------------------------------------------------------------------


def _leaf_records(
    pages: dict[int, bytes], number: int, usable: int
) -> Iterator[tuple[int, list[Any]]]:
    """(rowid, values) of each cell of page `number` that decodes whole; nothing if not a leaf."""
    page = pages[number]
    header = 100 if number == 1 else 0
    if len(page) < header + 8 or page[header] != _TABLE_LEAF:
        return
    cells = struct.unpack(">H", page[header + 3 : header + 5])[0]
    for i in range(cells):
        at = header + 8 + 2 * i
        try:
            pointer = struct.unpack(">H", page[at : at + 2])[0]
            rowid, payload = _cell(pages, page, pointer, usable)
            yield rowid, _record(payload)
        except (ValueError, IndexError, struct.error, UnicodeDecodeError):
            continue  # a damaged cell; the others may be fine


def _cell(pages: dict[int, bytes], page: bytes, at: int, usable: int) -> tuple[int, bytes]:
    size, at = _varint(page, at)
    rowid, at = _varint(page, at)
    if rowid >= 1 << 63:
        rowid -= 1 << 64
    local = _local_size(size, usable)
    payload = bytearray(page[at : at + local])
    if len(payload) < local:
        raise ValueError("cell cut short")
    if size > local:  # the rest is on a chain of overflow pages
        next_page = struct.unpack(">I", page[at + local : at + local + 4])[0]
        seen = set()
        while len(payload) < size and next_page and next_page not in seen:
            seen.add(next_page)
            overflow = pages[next_page]
            next_page = struct.unpack(">I", overflow[:4])[0]
            payload += overflow[4:usable][: size - len(payload)]
        if len(payload) < size:
            raise ValueError("overflow chain broken")
    return rowid, bytes(payload)


def _local_size(size: int, usable: int) -> int:
    """How much of a table-leaf payload of `size` bytes sits on the page itself (file format)."""
    most = usable - 35
    if size <= most:
        return size
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    return local if local <= most else least


def _record(payload: bytes) -> list[Any]:
    header_size, at = _varint(payload, 0)
    kinds = []
    while at < header_size:
        kind, at = _varint(payload, at)
        kinds.append(kind)
    body = header_size
    values: list[Any] = []
    for kind in kinds:
        value, body = _value(payload, kind, body)
        values.append(value)
    if body != len(payload):
        raise ValueError("record length does not add up")
    return values


def _value(payload: bytes, kind: int, at: int) -> tuple[Any, int]:
    if kind in _CONSTANTS:
        return _CONSTANTS[kind], at
    if kind in _INT_SIZES:
        size = _INT_SIZES[kind]
        return int.from_bytes(_take(payload, at, size), "big", signed=True), at + size
    if kind == 7:
        return struct.unpack(">d", _take(payload, at, 8))[0], at + 8
    if kind < 12:
        raise ValueError("reserved serial type")
    size = (kind - 12) // 2
    raw = _take(payload, at, size)
    return (raw.decode("utf-8") if kind % 2 else raw), at + size


def _take(payload: bytes, at: int, size: int) -> bytes:
    if at + size > len(payload):
        raise ValueError("value runs past the record")
    return payload[at : at + size]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    raise ValueError("bad varint")  # not reached


# -- which table ----------------------------------------------------------------------------

_KINDS = {"INTEGER": (int,), "TEXT": (str,), "REAL": (float, int)}


def _table_of(values: list[Any], tables: dict[str, list[Column]]) -> str | None:
    """The one table whose columns `values` fit (count, NULLs, declared types), else None."""
    fits = [name for name, columns in tables.items() if _fits(values, columns)]
    return fits[0] if len(fits) == 1 else None


def _fits(values: list[Any], columns: list[Column]) -> bool:
    if len(values) != len(columns):
        return False
    for value, column in zip(values, columns, strict=True):
        if column.rowid_alias:
            if value is not None:
                return False
        elif value is None:
            if column.not_null:
                return False
        elif not isinstance(value, _KINDS.get(column.kind, (object,))):
            return False
    return True
