"""The hash-chained audit log: appends, verification, publication, who sees what."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import RequestFactory

from portal import audit
from portal.models import AuditChainHead, AuditEntry, AuditHeadPublication
from tests import factories as f

pytestmark = pytest.mark.django_db


def append(n: int, **kwargs) -> list[AuditEntry]:
    return [audit.log(f"portal.test.event_{i}", payload={"i": i}, **kwargs) for i in range(n)]


def run_verify() -> tuple[int, str, str]:
    """Run the command as manage.py would: (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_log", stdout=out, stderr=err)
    except CommandError as exc:
        err.write(str(exc))
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- appends ---------------------------------------------------------------------------


def test_entries_chain_from_genesis(db):
    first, second = append(2)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (2, second.hash)
    assert audit.verify_chain().ok


def test_action_codes_must_be_dotted(db):
    with pytest.raises(ValueError):
        audit.log("created")
    assert not AuditEntry.objects.exists()


def test_entry_records_actor_object_ip_and_payload(org, org_admin):
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.7")
    request.user = org_admin
    entry = audit.log("portal.test.thing", obj=org, organization=org, request=request, payload={"k": "v"})
    entry = AuditEntry.objects.get(pk=entry.pk)
    assert entry.actor == org_admin
    assert entry.actor_label == org_admin.pseudonym
    assert entry.actor_is_staff is False
    assert (entry.object_type, entry.object_id, entry.object_repr) == ("portal.organization", str(org.pk), "Acme AI")
    assert entry.ip == "192.0.2.7"
    assert entry.payload == {"k": "v"}


def test_system_entries_have_no_actor(db):
    entry = audit.log("portal.test.system")
    assert entry.actor is None and entry.actor_label == "system"


def test_values_the_database_rewrites_still_verify(db):
    """IPv6 spellings and non-JSON payload values are stored normalized; the hash must
    be computed on what is stored, or every such row would look edited."""
    for addr in ("2001:DB8:0:0:0:0:0:1", "::FFFF:192.0.2.1", "not-an-ip"):
        request = RequestFactory().get("/", REMOTE_ADDR=addr)
        request.user = f.UserFactory()
        audit.log("portal.test.ip", request=request)
    audit.log(
        "portal.test.payload",
        payload={"when": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "amount": Decimal("1.50"), "t": (1, 2)},
    )
    assert list(AuditEntry.objects.order_by("seq").values_list("ip", flat=True)) == [
        "2001:db8::1", "::ffff:192.0.2.1", None, None,
    ]
    report = audit.verify_chain()
    assert report.ok, report.problems


def test_entries_cannot_be_changed_through_the_model(db):
    entry = append(1)[0]
    entry.action = "portal.test.changed"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_service_state_changes_write_dotted_entries(org, org_admin, org_member):
    from portal import organizations
    from portal.models import Membership

    organizations.update_profile(org, org_admin, {"legal_name": "Acme"})
    m = Membership.objects.get(user=org_member)
    organizations.change_role(m, "admin", org_admin)
    inv, _ = organizations.invite(org, org_admin, "x@example.org", "member")
    organizations.revoke_invitation(inv, org_admin)
    organizations.remove_member(m, org_admin)
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert actions == [
        "portal.organization.updated",
        "portal.organization.member_role_changed",
        "portal.organization.member_invited",
        "portal.organization.invitation_revoked",
        "portal.organization.member_removed",
    ]
    assert set(AuditEntry.objects.values_list("organization", flat=True)) == {org.pk}


# --- verification --------------------------------------------------------------------------


def test_verify_command_passes_on_intact_chain(db):
    append(5)
    status, out, err = run_verify()
    assert status == 0
    assert "audit log ok: 5 entries" in out
    assert err == ""


def test_verify_detects_payload_edited_with_queryset_update(db):
    append(4)
    AuditEntry.objects.filter(seq=2).update(payload={"i": 99})
    status, _, err = run_verify()
    assert status == 1
    assert "entry 2 was edited" in err
    assert "entry 3" not in err


def test_verify_detects_row_edited_with_raw_sql(db):
    append(4)
    raw("UPDATE portal_auditentry SET action = %s WHERE seq = %s", ["portal.test.innocent", 3])
    status, _, err = run_verify()
    assert status == 1
    assert "entry 3 was edited" in err


def test_verify_detects_a_deleted_row_in_the_middle(db):
    append(5)
    raw("DELETE FROM portal_auditentry WHERE seq = %s", [3])
    status, _, err = run_verify()
    assert status == 1
    assert "entries 3..3 are missing" in err
    assert "entry 4 does not follow entry 2" in err


def test_verify_detects_a_deleted_row_even_when_rehashed_after_it(db):
    """Deleting a row and renumbering the rest cannot be hidden without every later hash."""
    append(4)
    raw("DELETE FROM portal_auditentry WHERE seq = %s", [2])
    # Two steps: PostgreSQL checks the unique seq row by row during one UPDATE.
    raw("UPDATE portal_auditentry SET seq = seq + 1000 WHERE seq > %s", [2])
    raw("UPDATE portal_auditentry SET seq = seq - 1001 WHERE seq > %s", [1000])
    report = audit.verify_chain()
    assert not report.ok
    assert any("entry 2" in p for p in report.problems)


def _forge(seq: int, prev_hash: str) -> AuditEntry:
    fake = AuditEntry(
        seq=seq, created_at=dt.datetime.now(dt.timezone.utc), actor_label="system", action="portal.test.forged",
        payload={}, prev_hash=prev_hash,
    )
    fake.hash = audit.compute_hash(prev_hash, fake)
    return fake


def _insert(fake: AuditEntry) -> None:
    raw(
        "INSERT INTO portal_auditentry (seq, created_at, actor_label, actor_is_staff, action, object_type, object_id,"
        " object_repr, payload, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, '', '', '', %s, %s, %s)",
        [fake.seq, fake.created_at, "system", False, fake.action, "{}", fake.prev_hash, fake.hash],
    )


def test_verify_detects_an_inserted_row_in_the_middle(db):
    entries = append(4)
    # Make room after entry 2 and slip in a correctly hashed forgery.
    raw("UPDATE portal_auditentry SET seq = seq + 1000 WHERE seq > %s", [2])
    raw("UPDATE portal_auditentry SET seq = seq - 999 WHERE seq > %s", [1000])
    _insert(_forge(3, entries[1].hash))
    status, _, err = run_verify()
    assert status == 1
    assert "entry 4 does not follow entry 3" in err
    assert "entry 4 was edited" in err


def test_verify_detects_a_row_appended_behind_the_head(db):
    entries = append(3)
    _insert(_forge(4, entries[-1].hash))
    status, _, err = run_verify()
    assert status == 1
    assert "stored head (entry 3) does not match the last entry (4)" in err


def test_verify_detects_truncation_below_the_published_head(db):
    append(6)
    out = StringIO()
    call_command("publish_audit_head", stdout=out)
    publication = AuditHeadPublication.objects.get()
    assert publication.seq == 6
    assert "published head: entry 6" in out.getvalue()
    # Publishing is itself an audited action, chained after the published head.
    assert AuditEntry.objects.get(seq=7).action == "portal.audit.head_published"
    assert run_verify()[0] == 0

    # A careful attacker cuts the last entries and moves the stored head back too.
    raw("DELETE FROM portal_auditentry WHERE seq > %s", [4])
    last = AuditEntry.objects.get(seq=4)
    AuditChainHead.objects.filter(pk=1).update(seq=4, hash=last.hash)
    status, _, err = run_verify()
    assert status == 1
    assert "the chain ends at entry 4, below the published head 6 (truncated)" in err


def test_verify_detects_a_rewritten_published_entry(db):
    append(3)
    audit.publish_head()
    AuditEntry.objects.filter(seq=3).update(hash="f" * 64)
    report = audit.verify_chain()
    assert "entry 3 does not match the head published for it" in report.problems


def test_publish_on_empty_log_publishes_nothing(db):
    out = StringIO()
    call_command("publish_audit_head", stdout=out)
    assert "empty" in out.getvalue()
    assert not AuditHeadPublication.objects.exists()


def test_verify_reads_in_batches(db):
    append(7)
    report = audit.verify_chain(batch_size=2)
    assert report.ok and report.checked == 7


def test_publish_task_publishes(db):
    from portal.tasks import publish_audit_head

    append(2)
    assert publish_audit_head() == 2
    assert audit.latest_publication().seq == 2


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_chain():
    per_thread, threads_n = 15, 4
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                audit.log("portal.test.concurrent", payload={"thread": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = per_thread * threads_n
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, total + 1))
    report = audit.verify_chain()
    assert report.ok, report.problems
    assert report.checked == total


# --- who sees what --------------------------------------------------------------------------------


@pytest.fixture
def mixed_entries(org, org_admin, staff, other_org):
    """One entry by the org admin, one by staff with a staff-only detail, one for another org."""
    rf = RequestFactory()
    req = rf.post("/", REMOTE_ADDR="198.51.100.10")
    req.user = org_admin
    audit.log("portal.test.by_admin", organization=org, request=req, payload={"public_note": "visible-detail"})
    req = rf.post("/", REMOTE_ADDR="203.0.113.99")
    req.user = staff
    audit.log(
        "portal.test.by_staff",
        organization=org,
        request=req,
        payload={"decision": "visible-decision", "staff_only": {"conflict": "SECRET-CONFLICT"}},
    )
    audit.log("portal.test.other_org", organization=other_org, payload={"x": "OTHER-ORG-DETAIL"})


def test_org_admin_sees_own_entries_with_staff_ip_and_details_redacted(client_for, mixed_entries, org_admin):
    response = client_for(org_admin).get("/organizations/acme/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "portal.test.by_admin" in html and "portal.test.by_staff" in html
    assert "portal.test.other_org" not in html
    assert "198.51.100.10" in html
    assert "203.0.113.99" not in html
    assert "SECRET-CONFLICT" not in html
    entries = {e["action"]: e for e in response.context["entries"]}
    staff_entry = entries["portal.test.by_staff"]
    assert staff_entry["ip"] is None
    assert staff_entry["actor"] == "Alliance staff"
    assert staff_entry["payload"] == {"decision": "visible-decision"}
    assert entries["portal.test.by_admin"]["payload"] == {"public_note": "visible-detail"}


def test_member_gets_403_on_org_audit(client_for, mixed_entries, org_member):
    assert client_for(org_member).get("/organizations/acme/audit/").status_code == 403


def test_other_org_gets_404_on_org_audit(client_for, mixed_entries, other_member):
    assert client_for(other_member).get("/organizations/acme/audit/").status_code == 404


def test_staff_browse_and_filter_the_whole_log(client_for, mixed_entries, staff, org_admin, other_org):
    client = client_for(staff)
    response = client.get("/staff/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    for action in ("portal.test.by_admin", "portal.test.by_staff", "portal.test.other_org"):
        assert action in html
    assert "203.0.113.99" in html and "SECRET-CONFLICT" in html

    by_org = client.get("/staff/audit/", {"organization": other_org.pk})
    assert [e.action for e in by_org.context["page"]] == ["portal.test.other_org"]
    by_actor = client.get("/staff/audit/", {"actor": org_admin.email.upper()})
    assert [e.action for e in by_actor.context["page"]] == ["portal.test.by_admin"]
    by_action = client.get("/staff/audit/", {"action": "portal.test.by_"})
    assert [e.action for e in by_action.context["page"]] == ["portal.test.by_staff", "portal.test.by_admin"]


def test_non_staff_cannot_browse_the_whole_log(client_for, mixed_entries, org_admin):
    assert client_for(org_admin).get("/staff/audit/").status_code == 403


def test_client_ip_behind_the_proxy_is_the_last_forwarded_address(rf, settings):
    request = rf.get("/", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.20", REMOTE_ADDR="10.0.0.2")
    settings.BEHIND_PROXY = False
    assert audit.client_ip(request) == "10.0.0.2"
    settings.BEHIND_PROXY = True
    assert audit.client_ip(request) == "198.51.100.20"
