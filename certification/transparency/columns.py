"""Reading the source tables for the transparency report's refresh on PostgreSQL: rows of hand-written
statements (``rows``), and columns as numpy arrays (``fetch``) with the numpy helpers that group them.

Where a figure needs tens of thousands of rows joined, grouped or sorted, PostgreSQL's
executor spends several hundred nanoseconds a row on it. The refresh then reads each
column it needs as one value instead, the binary form of all its values end to end
(``string_agg(int8send(x), '')``: some 50 ns a value on the server, and no Python object
per value here), and numpy joins, groups and sorts them in a few milliseconds.

Timestamps arrive as PostgreSQL stores them, integer microseconds since 2000-01-01 UTC,
so every comparison and difference of them is exact. Columns must have no nulls
(``COALESCE`` them): ``string_agg`` skips nulls, and the columns would no longer align.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import F, Lookup, Q

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
MICROSECONDS_PER_DAY = 86_400_000_000

# The SQL type of a column: its send function and its numpy type (big-endian on the wire).
TYPES = {
    "int2": ("int2send", ">i2"),
    "int4": ("int4send", ">i4"),
    "int8": ("int8send", ">i8"),
    "timestamptz": ("timestamptz_send", ">i8"),
    "bool": ("boolsend", "?"),
}


def micros(when: dt.datetime) -> int:
    """A datetime as PostgreSQL stores a ``timestamptz``."""
    return (when - PG_EPOCH) // dt.timedelta(microseconds=1)


def fetch(source: str, params, *wanted: tuple[str, str]) -> list[np.ndarray]:
    """``SELECT`` each (expression, SQL type) of ``wanted`` over the rows of ``source`` (its
    ``FROM`` and ``WHERE`` clauses) and return each column as a numpy array. A psycopg cursor
    with server-side parameters and binary results (the client-side cursors Django uses
    return text only), in Django's cursor wrapper (the debug one when queries are logged)."""
    select = ", ".join(f"string_agg({TYPES[kind][0]}(({expression})::{kind}), '')" for expression, kind in wanted)
    connection.ensure_connection()
    raw = _binary_cursor_class()(connection.connection)
    with (CursorDebugWrapper if connection.queries_logged else CursorWrapper)(raw, connection) as cursor:
        cursor.execute(f"SELECT {select} {source}", params)
        row = cursor.fetchone()
    out = []
    for data, (_expression, kind) in zip(row, wanted):
        wire = np.dtype(TYPES[kind][1])
        out.append(np.frombuffer(data or b"", dtype=wire).astype(wire.newbyteorder("=")))
    return out


@functools.cache
def _binary_cursor_class():
    """A psycopg cursor returning binary results and never preparing its statements on the
    server: a prepared statement may go over to a generic plan, where ``id <> ALL($1)`` is no
    longer a hashed lookup but a scan of the array for every row."""
    import psycopg

    class BinaryCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=False, binary=True)

    return BinaryCursor


# --- rows -------------------------------------------------------------------------------------------


def rows(sql: str, params, merge_joins: bool = False) -> list[tuple]:
    """The rows of one statement of the refresh (PostgreSQL). With ``merge_joins``, its joins
    are merge joins: the tables it joins are stored in key order, so merging two index scans avoids
    building hash tables of tens of thousands of rows, whose random memory access costs
    more than the planner assumes (about 1.5 times faster on the benchmark's data).

    Timestamps are read by psycopg's own loader (compiled), not by Django's, a Python
    subclass about fifteen times slower; with the session in UTC, as Django sets it, both
    give the same aware datetimes."""
    from psycopg.types.datetime import TimestamptzLoader

    with connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        if not merge_joins:
            cursor.execute(sql, params)
            return cursor.fetchall()
        cursor.execute("SELECT current_setting('enable_hashjoin'), set_config('enable_hashjoin', 'off', true)")
        previous = cursor.fetchone()[0]
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            cursor.execute("SELECT set_config('enable_hashjoin', %s, true)", [previous])


def values(queryset) -> list[tuple]:
    """The rows of a ``values_list`` queryset of plain columns; on PostgreSQL through ``rows``."""
    if connection.vendor != "postgresql":
        return list(queryset)
    return rows(*queryset.query.sql_with_params())


class _AnyOf(Lookup):
    """``pk = ANY(%s)`` with the ids as one array parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def pk_in(ids: list[int]) -> Q:
    """On PostgreSQL, ``pk = ANY(array)``, not a parameter per id as ``pk__in`` (which psycopg
    splits out of the statement in Python: ~10 ms for a thousand ids); indexed alike."""
    if connection.vendor == "postgresql":
        return Q(_AnyOf(F("pk"), ids))
    return Q(pk__in=ids)


# --- numpy ------------------------------------------------------------------------------------------


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
    code, size = np.zeros(len(keys[0]), dtype=np.int64), 1
    for key in keys:  # each row's group as one number: the ranks of its values, combined
        values, rank = _ranks(key)
        if size * len(values) > 1 << 62:
            distinct_codes, code = np.unique(code, return_inverse=True)
            size = len(distinct_codes)
        code, size = code * len(values) + rank, size * len(values)
    if size <= 4 * len(code):  # few possible groups: count them all
        counts = np.bincount(code, minlength=size)
        present = np.flatnonzero(counts)
        first = np.empty(size, dtype=np.int64)
        first[code[::-1]] = np.arange(len(code) - 1, -1, -1)  # the first row of each group
        counts, first = counts[present], first[present]
        if flags is not None:
            flags = np.bincount(code, weights=flags, minlength=size)[present]
    else:
        _codes, first, group, counts = np.unique(code, return_index=True, return_inverse=True, return_counts=True)
        if flags is not None:
            flags = np.bincount(group, weights=flags, minlength=len(counts))
    groups = zip(*(key[first].tolist() for key in keys))
    return groups, counts, None if flags is None else flags.astype(np.int64)


def _ranks(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The possible values of ``key`` and each row's index among them: its offset from the
    least when the values span a short range (years, tiers, ids of a few thousand), without
    sorting; else its rank among the distinct values."""
    low, high = int(key.min()), int(key.max())
    if high - low < 4 * len(key) + 1024:
        return np.arange(low, high + 1, dtype=key.dtype), key - low
    return np.unique(key, return_inverse=True)
