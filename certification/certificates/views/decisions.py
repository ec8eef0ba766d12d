"""Staff decision pages: approve (four-eyes for Tier 3/4) and reject with reasons. Every decision with a
public or irreversible effect goes through a confirmation page that states its consequence, after a
fresh authentication (allauth's ``reauthentication_required``, as for filing the attestation). Views
check access, call a service, turn its error into a message, and redirect."""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certification.certificates import services
from certification.certificates.models import Decision
from certification.framework import services as framework_services
from certification.framework import tiers
from certification.releases import forms
from certification.releases.access import get_application_for_user, show_workflow_error
from certification.releases.models import Application
from portal.views import staff_required

# A POST carrying this field comes from a confirmation page; any other POST only leads to one.
CONFIRMED = "confirmed"


def is_confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get(CONFIRMED) == "1"


def confirm_page(request: HttpRequest, *, title: str, subject: str, consequences: list[str], button: str,
                 cancel_url: str, rows: list[tuple[str, str]] = (), form=None, hidden: dict | None = None,
                 danger: bool = True, blocked: str = "", action: str = "", status: int = 200) -> HttpResponse:
    """The confirmation page of a decision: what is decided, what follows, one button. ``form``'s answers
    ride along as hidden fields so the confirming POST carries exactly what was checked."""
    return render(request, "certification/certificates/decision_confirm.html", {
        "title": title, "subject": subject, "consequences": consequences, "button": button,
        "cancel_url": cancel_url, "rows": rows, "form": form, "hidden": hidden or {}, "danger": danger,
        "blocked": blocked, "action": action, "confirmed_field": CONFIRMED,
    }, status=status)


def form_decision(request: HttpRequest, form, *, run, success: str, done_url: str, confirm: dict,
                  template: str, context: dict) -> HttpResponse:
    """A decision with reasons in two steps: the form, then (valid) its confirmation page listing the answers,
    then (confirmed) the service and a redirect. A refused confirmation lands back on the form."""
    if request.method == "POST" and form.is_valid():
        if is_confirmed(request):
            try:
                run(form.cleaned_data)
            except framework_services.WorkflowError as exc:
                show_workflow_error(request, exc, form)
            else:
                messages.success(request, success)
                return redirect(done_url)
        else:
            rows = [(str(field.label), _display(field)) for field in form]
            return confirm_page(request, form=form, rows=rows, **confirm)
    return render(request, template, {"form": form, **context})


def _display(bound_field) -> str:
    """The answer as the person chose it: a choice's label, not its value."""
    value = bound_field.value()
    choices = dict(getattr(bound_field.field, "choices", []) or [])
    return str(choices.get(value, value) or "")


def _application_rows(app: Application) -> list[tuple[str, str]]:
    release = app.release
    return [
        (_("Application"), f"#{app.pk}"),
        (_("Organization"), release.organization.name),
        (_("Model release"), f"{release.ai_model.name} {release.version}"),
        (_("Tier"), str(app.tier or 1)),
        (_("Framework version"), app.framework_version.version),
    ]


def approval_consequences(app: Application, user) -> tuple[list[str], bool, str]:
    """What approving does now: whether it issues the certificate (or records one of the approvals Tier 3/4
    need), the sentences that say so, and why it cannot be done, if it cannot."""
    needed = tiers.tier_settings(app.framework_version.rules, app.tier or 1).get("approvals_required", 1)
    approvers = set(app.decisions.filter(outcome=Decision.Outcome.APPROVE).values_list("decided_by", flat=True))
    blocked = ""
    if app.status != Application.Status.DECISION_PENDING:
        blocked = _("Only an application awaiting decision can be approved.")
    elif user.pk in approvers:
        blocked = _("You have already approved this application; another staff member must approve it.")
    issue = [
        _("A public certificate is issued at once: it appears in the registry, verification answers “valid” and "
          "the organization's admins are told."),
        _("It can only be undone by suspending or revoking the certificate."),
    ]
    if len(approvers) + 1 >= needed:
        if needed > 1:
            return [_("This is the last of the %(n)d approvals by different staff members this tier needs.")
                    % {"n": needed}, *issue], True, blocked
        return issue, True, blocked
    remaining = needed - len(approvers) - 1
    return [
        _("This records approval %(k)d of the %(n)d by different staff members that Tier %(tier)d needs.")
        % {"k": len(approvers) + 1, "n": needed, "tier": app.tier},
        ngettext("No certificate is issued yet: %(r)d more staff member must approve.",
                 "No certificate is issued yet: %(r)d more staff members must approve.", remaining) % {"r": remaining},
        _("You cannot approve this application a second time."),
    ], False, blocked


@staff_required
@reauthentication_required
def application_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """GET (or an unconfirmed POST) shows what approving does; the confirmed POST approves."""
    app = get_application_for_user(request, pk)
    detail = reverse("certification:application-detail", args=[app.pk])
    if is_confirmed(request):
        try:
            services.approve(app, request.user, request=request)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc)
        else:
            app.refresh_from_db()
            messages.success(request, _("Approval recorded. The certificate is issued.")
                             if app.status == Application.Status.CERTIFIED
                             else _("Approval recorded. Another staff member must approve."))
        return redirect(detail)
    if request.method == "POST":
        return redirect("certification:application-approve", app.pk)
    consequences, issues, blocked = approval_consequences(app, request.user)
    return confirm_page(request, title=_("Approve the application"), subject=str(app), consequences=consequences,
                        button=_("Approve and issue the certificate") if issues else _("Record my approval"),
                        cancel_url=detail, rows=_application_rows(app), danger=False, blocked=blocked)


@staff_required
@reauthentication_required
def application_reject(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    detail = reverse("certification:application-detail", args=[app.pk])
    title = _("Reject the application")
    return form_decision(
        request, forms.ReasonForm(request.POST or None, prefix="reject"),
        run=lambda data: services.reject(app, request.user, data["reasons"], request=request),
        success=_("The application was rejected."), done_url=detail,
        confirm={"title": title, "subject": str(app), "button": _("Reject the application"), "cancel_url": detail,
                 "consequences": [
                     _("The application ends as rejected and the organization's admins are told, with your reasons."),
                     _("The organization can appeal once; otherwise the rejection is final."),
                 ]},
        template="certification/releases/reason_form.html", context={"application": app, "title": title},
    )
