"""Appeals against a rejection (DESIGN §4): filed once, within the appeal window of the
application's framework version, decided by staff who took no part in the rejection.

**Appeal granted** certifies the application at once (``issue_certificate``) once enough
uninvolved staff grant it (one for Tier 1/2, two distinct for Tier 3/4). The appeal panel decides
on the same frozen submission whose gates already held, so sending it back to review would only
repeat them. "Took part in the rejection" means having cast any decision (approve or reject) on
the application.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal, AppealVote, Decision
from certification.certificates.services import require_reason
from certification.framework import rules, tiers
from certification.framework.services import WorkflowError, require_staff
from certification.releases import applications
from certification.releases.models import Application
from portal import audit, deadlines, organizations
from portal.models import User
from portal.notifications import notify

S = Application.Status

# --- appeals --------------------------------------------------------------------------------------


def involved_staff_ids(app: Application) -> set[int]:
    """Staff who took part in the decision that was rejected."""
    return set(Decision.objects.filter(application=app).values_list("decided_by_id", flat=True))


def deciding_staff(appeal: Appeal):
    """Staff who may decide the appeal and have not voted yet."""
    voted = appeal.votes.values_list("decided_by_id", flat=True)
    return (organizations.staff_users().exclude(pk__in=involved_staff_ids(appeal.application))
            .exclude(pk__in=list(voted)))


def appeal_deadline(app: Application) -> dt.datetime | None:
    if not app.decided_at:
        return None
    return app.decided_at + timedelta(days=rules.setting(app.framework_version.rules, "certificates",
                                                          "appeal_window_days"))


def can_appeal(app: Application, at=None) -> bool:
    at = at or timezone.now()
    return (app.status == S.REJECTED and not Appeal.objects.filter(application=app).exists()
            and app.decided_at is not None and at <= appeal_deadline(app))


def file_appeal(app: Application, actor: User, grounds: str, request=None) -> Appeal:
    """The organization appeals a rejection: once, within 30 days."""
    if not organizations.is_org_admin(actor, app.release.organization):
        raise WorkflowError(_("Only an admin of the organization can appeal."))
    grounds = require_reason(grounds, "grounds")
    if app.status != S.REJECTED:
        raise WorkflowError(_("Only a rejected application can be appealed."))
    if Appeal.objects.filter(application=app).exists():
        raise WorkflowError(_("This rejection has already been appealed; an application can be appealed once."))
    if app.decided_at is None or timezone.now() > appeal_deadline(app):
        raise WorkflowError(_("The 30 days to appeal this rejection have passed."))
    with transaction.atomic():
        try:
            with transaction.atomic():
                appeal = Appeal.objects.create(application=app, grounds=grounds, filed_by=actor)
                applications.move_application(app, S.APPEALED, actor, [S.REJECTED])
        except IntegrityError:
            raise WorkflowError(_("This rejection has already been appealed, or another application for the "
                                  "release is open.")) from None
        length = rules.deadline_length(app.framework_version.rules, "appeal_decision")
        deadlines.open_deadline(appeal, "appeal_decision", appeal.filed_at + length)
        audit.log("certification.application.appealed", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        notify(deciding_staff(appeal), "appeal-filed", {"application": app, "appeal": appeal},
               url=reverse("certification:appeal-decide", args=[appeal.pk]))
    return appeal


def appeal_votes_needed(app: Application) -> int:
    return tiers.tier_settings(app.framework_version.rules, app.tier or 1).get("approvals_required", 1)


def decide_appeal(appeal: Appeal, actor: User, outcome: str, reasons: str, request=None) -> Appeal:
    """A staff member who took no part in the rejection grants or denies the appeal.
    It is decided once the tier's number of distinct staff agree (two for Tier 3/4)."""
    require_staff(actor)
    reasons = require_reason(reasons, "reasons")
    if outcome not in AppealVote.Outcome.values:
        raise WorkflowError(_("Choose to grant or deny the appeal."), field="outcome")
    app = appeal.application
    if actor.pk in involved_staff_ids(app):
        raise WorkflowError(_("You took part in the rejection; staff who did not must decide the appeal."))
    with transaction.atomic():
        locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
        if locked.status != Appeal.Status.OPEN:
            raise WorkflowError(_("This appeal has already been decided."))
        if AppealVote.objects.filter(appeal=appeal, decided_by=actor).exists():
            raise WorkflowError(_("You have already decided; another staff member must decide too."))
        AppealVote.objects.create(appeal=appeal, outcome=outcome, reasons=reasons, decided_by=actor)
        needed = appeal_votes_needed(app)
        agreeing = AppealVote.objects.filter(appeal=appeal, outcome=outcome).values("decided_by").distinct().count()
        audit.log("certification.appeal.voted", actor=actor, obj=app, organization=app.release.organization,
                  request=request, payload={"outcome": outcome, "votes": agreeing, "needed": needed})
        if agreeing < needed:
            return appeal
        now = timezone.now()
        final = Appeal.Status.GRANTED if outcome == AppealVote.Outcome.GRANT else Appeal.Status.DENIED
        Appeal.objects.filter(pk=appeal.pk).update(status=final, decided_at=now)
        appeal.status, appeal.decided_at = final, now
        deadlines.close_deadlines(appeal, "appeal_decision")
        if final == Appeal.Status.GRANTED:
            applications.move_application(app, S.DECISION_PENDING, actor, [S.APPEALED])
            certificate_services.issue_certificate(app, actor)
        else:
            applications.move_application(app, S.REJECTED, actor, [S.APPEALED], decided_at=now)
        audit.log(f"certification.appeal.{final}", actor=actor, obj=app, organization=app.release.organization,
                  request=request)
        notify(organizations.org_admins(app.release.organization), "appeal-decided",
               {"application": app, "appeal": appeal, "granted": final == Appeal.Status.GRANTED, "reasons": reasons},
               url=reverse("certification:application-detail", args=[app.pk]))
    return appeal
