"""Races are settled in the database (STYLE §4): two admins pressing "Submit" at the
same moment give one transition, one frozen revision and one attestation."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from certification.framework import services
from certification.releases import applications
from certification.releases.models import Application, ApplicationTransition, Attestation, DocumentationRevision
from portal.models import AuditEntry
from tests import factories as f
from tests.certification.factories import make_release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def run_together(*calls):
    """Run each call in its own thread and connection, released at the same instant."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = ("ok", call())
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a submit is stuck"
    return outcomes


def test_two_concurrent_submits_give_one_transition_revision_and_attestation(framework, org, org_admin):
    second_admin = f.MembershipFactory(organization=org, role="admin").user
    release = make_release(org, org_admin)
    app_id = applications.start_application(release, org_admin).pk

    def submit(user, name):
        def call():
            # Each request loads its own copy of the row, as two web requests would.
            app = Application.objects.get(pk=app_id)
            return applications.submit_application(app, user, signer_name=name, signer_title="CTO",
                                               affirmed=[1, 2, 3, 4, 5, 6])
        return call

    outcomes = run_together(submit(org_admin, "Ada"), submit(second_admin, "Bob"))

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["error", "ok"], outcomes
    loser = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(loser, services.WorkflowError)
    app = Application.objects.get(pk=app_id)
    assert app.status == Application.Status.SUBMITTED
    assert ApplicationTransition.objects.filter(application=app, to_status="submitted").count() == 1
    assert DocumentationRevision.objects.filter(application=app).count() == 1
    assert Attestation.objects.filter(application=app).count() == 1
    assert AuditEntry.objects.filter(action="certification.application.submitted").count() == 1
    winner_name = Attestation.objects.get(application=app).signer_name
    winner = next(value for kind, value in outcomes if kind == "ok")
    assert winner.pk == app_id and winner_name in ("Ada", "Bob")
