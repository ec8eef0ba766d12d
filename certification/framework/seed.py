"""Create framework version 2025.1 and its benchmark catalogue. Used by the data
migration and by test fixtures (live-server tests flush tables)."""

from __future__ import annotations

import datetime as dt

from certification.framework.data import FRAMEWORK_2025_1
from portal.canonical import canonical_sha256

EFFECTIVE_2025_1 = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)


def seed_framework(FrameworkVersion, Benchmark) -> None:
    rules = FRAMEWORK_2025_1
    FrameworkVersion.objects.get_or_create(
        version=rules["version"],
        defaults={
            "status": "published",
            "effective_from": EFFECTIVE_2025_1,
            "rules": rules,
            "digest": canonical_sha256(rules),
            "published_at": EFFECTIVE_2025_1,
        },
    )
    for entry in rules["benchmarks"]["catalogue"]:
        Benchmark.objects.get_or_create(
            slug=entry["id"],
            defaults={
                "name": entry.get("name", entry["id"]),
                "category": entry["category"],
                "headline_metric": entry["headline_metric"],
                "better_when": entry["better_when"],
                "established": True,
            },
        )
