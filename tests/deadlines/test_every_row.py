"""Every deadline of DESIGN §2.4 (framework 2025.1 data) runs through the engine:
registered under its kind, with the reminder offsets of the table, a handler for
when it passes, and numbered overdue notices where the table repeats them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certification.framework import rules
from certification.framework.data import FRAMEWORK_2025_1
from portal import deadlines

ROWS = FRAMEWORK_2025_1["deadlines"]


def test_the_table_has_every_row_of_design_2_4():
    assert [row["kind"] for row in ROWS] == [
        "offer_acceptance", "audit_report", "review_window", "finding_triage", "finding_response",
        "changes_requested", "staff_decision", "appeal_decision", "certificate_expiry", "accreditation_expiry",
    ]


@pytest.mark.parametrize("row", ROWS, ids=[row["kind"] for row in ROWS])
def test_the_kind_is_registered_with_its_reminders_and_handlers(row):
    registered = deadlines.registered_kinds()
    assert row["kind"] in registered, f"deadline kind {row['kind']!r} is not registered with portal.deadlines"
    kind = registered[row["kind"]]
    expected = sorted(timedelta(days=r["days_before"]) for r in row.get("reminders", []))
    assert sorted(kind.reminders) == expected
    if expected:
        assert kind.on_reminder is not None, "reminders without a handler would be claimed and never sent"
    assert kind.on_due is not None, "nothing would happen when the deadline passes"
    if row.get("repeat_every_days"):
        assert kind.repeat_every == timedelta(days=row["repeat_every_days"])
        assert kind.on_overdue is not None
    else:
        assert kind.repeat_every is None


@pytest.mark.parametrize("row", rules.DEFAULT_DEADLINES, ids=[row["kind"] for row in rules.DEFAULT_DEADLINES])
def test_the_rows_2025_1_does_not_carry_are_registered_too(row):
    """Rows added after 2025.1 was published (the framework review) live in ``rules.DEFAULT_DEADLINES``."""
    kind = deadlines.registered_kinds()[row["kind"]]
    assert sorted(kind.reminders) == sorted(timedelta(days=r["days_before"]) for r in row.get("reminders", []))
    assert kind.on_due is not None and (kind.on_reminder is not None or not row.get("reminders"))
    assert row["kind"] not in [r["kind"] for r in ROWS]
