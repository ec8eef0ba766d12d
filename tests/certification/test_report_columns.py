"""The numpy helpers of the report's PostgreSQL refresh (``transparency.columns``) against plain
Python, and a column read back from PostgreSQL as the values it holds."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict

import numpy as np
import pytest
from django.db import connection

from certification.transparency import columns, figures

UTC = dt.timezone.utc


@pytest.mark.parametrize("seed", range(20))
def test_count_by_and_distinct_group_like_python(seed):
    rng = random.Random(seed)
    n = rng.randrange(1, 400)
    # Short ranges (counted by offset) and wide ones (ranked), negative values too.
    spans = [rng.choice([3, 50, 10**6, 10**15]) for _ in range(rng.randrange(1, 5))]
    keys = [np.array([rng.randrange(-s, s) for _ in range(n)], dtype=np.int64) for s in spans]
    flags = np.array([rng.random() < 0.5 for _ in range(n)])
    rows = list(zip(*(k.tolist() for k in keys)))
    counts, flagged = Counter(rows), defaultdict(int)
    for row, flag in zip(rows, flags.tolist()):
        flagged[row] += flag
    assert columns.count_by(*keys) == {row: (n,) for row, n in counts.items()}
    assert columns.count_by(*keys, flags=flags) == {row: (n, flagged[row]) for row, n in counts.items()}
    assert sorted(columns.distinct(*keys)) == sorted(counts)
    assert columns.count_by(np.zeros(0, dtype=np.int64)) == {} and columns.distinct(np.zeros(0, dtype=np.int64)) == []


def test_lookup_years_and_microseconds():
    keys = np.array([30, 10, 20], dtype=np.int64)
    assert columns.lookup(keys, np.array([20, 99, 30, 10])).tolist() == [2, -1, 0, 1]
    assert columns.lookup(np.zeros(0, dtype=np.int64), np.array([1])).tolist() == [-1]
    bounds = [figures.year_bounds(y)[0] for y in (2024, 2025, 2026)]
    stamps = np.array([columns.micros(dt.datetime(y, m, d, tzinfo=UTC) + dt.timedelta(microseconds=us))
                       for y, m, d, us in [(2023, 12, 31, 0), (2024, 1, 1, 0), (2024, 12, 31, 999_999),
                                           (2025, 6, 1, 0), (2026, 1, 1, 0)]])
    # As width_bucket over the 1 January boundaries: before the first, the year before it.
    assert columns.years_of(stamps, bounds, 2024).tolist() == [2023, 2024, 2024, 2025, 2026]
    assert columns.micros(dt.datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1_000_000


@pytest.mark.postgres
def test_columns_read_back_as_postgres_holds_them(db):
    rng = random.Random(7)
    stamps = [dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=rng.randrange(10**14)) for _ in range(50)]
    firsts = [s - dt.timedelta(microseconds=rng.randrange(10**13)) for s in stamps]
    ids, small, flags, at = columns.fetch(
        "FROM unnest(%(stamps)s::timestamptz[], %(firsts)s::timestamptz[]) WITH ORDINALITY AS t(s, f, n)",
        {"stamps": stamps, "firsts": firsts},
        ("n * 1000000000000", "int8"), ("n - 25", "int4"), ("n %% 3 = 0", "bool"), ("s", "timestamptz"))
    assert ids.tolist() == [n * 10**12 for n in range(1, 51)] and small.tolist() == [n - 25 for n in range(1, 51)]
    assert flags.tolist() == [n % 3 == 0 for n in range(1, 51)]
    assert at.tolist() == [columns.micros(s) for s in stamps]
    with connection.cursor() as cursor:
        cursor.execute("SELECT date_part('epoch', s - f) FROM unnest(%s::timestamptz[], %s::timestamptz[]) AS t(s, f)",
                       [stamps, firsts])
        expected = [row[0] for row in cursor.fetchall()]
    # date_part's float, to the last bit.
    assert columns.seconds(at - np.array([columns.micros(f) for f in firsts])).tolist() == expected
    assert all(len(c) == 0 for c in columns.fetch("FROM unnest('{}'::int8[]) AS t(x)", [], ("x", "int8")))
