"""Canonical JSON (RFC 8785), the one helper every hash goes through (DESIGN §8)."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import rfc8785


def _prepare(value: Any) -> Any:
    """Turn values RFC 8785 has no form for into their agreed forms:
    decimals as strings, aware datetimes as ISO 8601 in UTC, dates as ISO."""
    if isinstance(value, dict):
        return {str(k): _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in canonical JSON")
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def canonical_json(value: Any) -> bytes:
    return rfc8785.dumps(_prepare(value))


def canonical_sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()
