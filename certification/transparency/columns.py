"""Columns of a PostgreSQL statement as numpy arrays, for the transparency report's refresh.

Where a figure needs tens of thousands of rows joined, grouped or sorted, PostgreSQL's
executor spends several hundred nanoseconds a row on it. The refresh then reads each
column it needs as one array instead (``array_send(array_agg(column))``, fetched in
binary: some 60 ns a value on the server, and no Python object per value here), and
numpy joins, groups and sorts them in a few milliseconds.

Timestamps arrive as PostgreSQL stores them, integer microseconds since 2000-01-01 UTC,
so every comparison and difference of them is exact. Columns must have no nulls
(``COALESCE`` them in the statement): an array with a null has no fixed stride.
"""

from __future__ import annotations

import datetime as dt
import math
import struct

import numpy as np
from django.db import connection
from django.db.backends.utils import CursorWrapper

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
MICROSECONDS_PER_DAY = 86_400_000_000


def micros(when: dt.datetime) -> int:
    """A datetime as PostgreSQL stores a ``timestamptz``."""
    return (when - PG_EPOCH) // dt.timedelta(microseconds=1)


def fetch(sql: str, params, types: tuple[str, ...]) -> list[np.ndarray]:
    """Run a statement returning one row of ``array_send(array_agg(...))`` columns and
    decode each as a numpy array of the given type (``"i2"``, ``"i4"``, ``"i8"``, ``"?"``;
    ``"i8"`` for a ``timestamptz``). A psycopg cursor with server-side parameters (the
    client-side cursors Django uses return text only), in Django's cursor wrapper."""
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    raw.format = psycopg.pq.Format.BINARY
    with CursorWrapper(raw, connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return [_decode(value, kind) for value, kind in zip(row, types)]


def _decode(data: bytes | None, kind: str) -> np.ndarray:
    """The binary form of a one-dimensional array: a 20-byte header (dimensions, null flag,
    element type, length, lower bound), then each element as its length and its value."""
    if data is None:  # array_agg over no rows
        return np.zeros(0, dtype=kind)
    dimensions, has_nulls = struct.unpack_from(">ii", data)
    if dimensions != 1 or has_nulls:
        raise ValueError("expected a one-dimensional array without nulls")
    element = np.dtype([("length", ">i4"), ("value", ">" + kind)])
    return np.frombuffer(data, dtype=element, offset=20)["value"].astype(kind)


def years_of(stamps: np.ndarray, boundaries: list[dt.datetime], first: int) -> np.ndarray:
    """The calendar year of each timestamp, as ``width_bucket`` over the sorted 1 January
    ``boundaries`` of the years from ``first``: earlier ones get ``first - 1``."""
    edges = np.array([micros(b) for b in boundaries], dtype=np.int64)
    return first - 1 + np.searchsorted(edges, stamps, side="right")


def seconds(span: np.ndarray) -> np.ndarray:
    """``date_part('epoch', a - b)`` for spans in microseconds, to the last bit: PostgreSQL
    moves whole days out of the interval (truncating), then adds their seconds as a float."""
    days = np.where(span >= 0, span // MICROSECONDS_PER_DAY, -(-span // MICROSECONDS_PER_DAY))
    return (span - days * MICROSECONDS_PER_DAY) / 1e6 + 86400.0 * days


def lookup(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each of ``wanted``, the index of the equal element of ``keys`` (unique), or -1."""
    if not len(keys):
        return np.full(len(wanted), -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys, wanted, sorter=order), len(keys) - 1)
    found = order[at]
    return np.where(keys[found] == wanted, found, -1)


def count_by(*keys: np.ndarray, flags: np.ndarray | None = None) -> dict[tuple, tuple[int, ...]]:
    """Rows grouped by equal values of the integer arrays ``keys``: for each group (a tuple
    of Python ints), its number of rows, and of those with ``flags`` set if given."""
    groups, counts, flagged = _group(keys, flags)
    if flags is None:
        return {g: (n,) for g, n in zip(groups, counts.tolist())}
    return {g: (n, m) for g, n, m in zip(groups, counts.tolist(), flagged.tolist())}


def distinct(*keys: np.ndarray) -> list[tuple]:
    """The distinct rows of the integer arrays ``keys``, as tuples of Python ints."""
    return list(_group(keys, None)[0])


def _group(keys, flags):
    if not len(keys[0]):
        return iter(()), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    uniques = [np.unique(key, return_inverse=True) for key in keys]
    shape = tuple(len(values) for values, _rank in uniques)
    size = math.prod(shape)
    code = np.ravel_multi_index([rank for _values, rank in uniques], shape)  # each row's group as one number
    if size <= 4 * len(code):  # few possible groups: count them all
        counts = np.bincount(code, minlength=size)
        present = np.flatnonzero(counts)
        counts, positions = counts[present], np.unravel_index(present, shape)
        if flags is not None:
            flags = np.bincount(code, weights=flags, minlength=size)[present]
    else:
        _codes, first, group, counts = np.unique(code, return_index=True, return_inverse=True, return_counts=True)
        positions = [rank[first] for _values, rank in uniques]
        if flags is not None:
            flags = np.bincount(group, weights=flags, minlength=len(counts))
    groups = zip(*(values[at].tolist() for (values, _rank), at in zip(uniques, positions)))
    return groups, counts, None if flags is None else flags.astype(np.int64)
