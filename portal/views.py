"""Pages of the portal app: home, dashboards, organizations, notifications,
account settings, API tokens, audit log, staff console, health check."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from allauth.account.decorators import reauthentication_required
from allauth.account.internal.flows.reauthentication import suspend_request
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import i18n as i18n_views
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from portal import audit, organizations
from portal.accounts import (
    AccountDeletionError,
    ApiTokenError,
    anonymize_user,
    create_api_token,
    revoke_api_token,
    save_profile,
    session_passed_mfa,
    session_recently_passed_mfa,
)
from portal.forms import (
    ApiTokenForm,
    AuditFilterForm,
    DeleteAccountForm,
    InvitationForm,
    OrganizationForm,
    ProfileForm,
    RoleForm,
    StaffOrganizationForm,
)
from portal.models import ApiToken, AuditEntry, Invitation, Membership, Notification, Organization, User

CURRENT_ORG_SESSION_KEY = "current_organization"


# --- access helpers ----------------------------------------------------------------


def staff_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_alliance_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def get_org_for_user(request: HttpRequest, slug: str) -> tuple[Organization, Membership | None]:
    """The organization and the user's membership; 404 for outsiders, staff see all."""
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        raise Http404
    membership = organizations.get_membership(request.user, org)
    if membership is None and not request.user.is_alliance_staff:
        raise Http404
    return org, membership


def get_org_for_admin(request: HttpRequest, slug: str) -> Organization:
    org, membership = get_org_for_user(request, slug)
    if membership is None or not membership.is_admin:
        raise PermissionDenied
    return org


def current_organization(request: HttpRequest) -> Organization | None:
    """The organization the user last switched to, or their first one."""
    if not request.user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=request.user).select_related("organization")
    slug = request.session.get(CURRENT_ORG_SESSION_KEY)
    chosen = next((m for m in memberships if m.organization.slug == slug), None) if slug else None
    chosen = chosen or next(iter(memberships), None)
    return chosen.organization if chosen else None


# --- public pages --------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability; no secrets, no details of failures."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001
        checks["database"] = "unreachable"
    try:
        from portal.celery import app

        # One attempt, no retry sleep: a load balancer probe must answer quickly.
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, interval_start=0, timeout=2)
        checks["broker"] = "ok"
    except Exception:  # noqa: BLE001
        checks["broker"] = "unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


# --- dashboard -------------------------------------------------------------------------


# Panels that apps above the portal add to the dashboard and the staff console, registered in
# their AppConfig.ready(): ``panel(user, organization or None) -> dict`` and ``panel(user) -> dict``
# of template context.
_dashboard_panels: dict[str, Callable] = {}
_staff_console_panels: dict[str, Callable] = {}


def register_dashboard_panel(name: str, panel: Callable) -> None:
    _dashboard_panels[name] = panel


def register_staff_console_panel(name: str, panel: Callable) -> None:
    _staff_console_panels[name] = panel


def offers_create_organization(user: User) -> bool:
    """Whether pages invite the user to create an organization: staff, auditors and evaluators
    work for the Alliance or review releases, they do not submit them."""
    return not (user.is_alliance_staff or user.is_auditor or user.is_evaluator)


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    memberships = list(Membership.objects.filter(user=user).select_related("organization"))
    org = current_organization(request)
    context = {
        "memberships": memberships,
        "offer_create_organization": offers_create_organization(user),
        "current_org": org,
        "notifications": Notification.objects.filter(user=user)[:5],
        "pending_invitations": Invitation.objects.pending().filter(email__iexact=user.email).select_related(
            "organization"
        ),
    }
    if org is not None:
        current = next(m for m in memberships if m.organization_id == org.pk)
        context["current_membership"] = current
        context["org_member_count"] = Membership.objects.filter(organization=org).count()
        if current.is_admin:
            context["org_pending_invitations"] = Invitation.objects.pending().filter(organization=org)
    for panel in _dashboard_panels.values():
        context.update(panel(user, org))
    if user.is_alliance_staff:
        context["staff_counts"] = {
            "organizations": Organization.objects.count(),
            "users": User.objects.filter(is_active=True).count(),
            "audit_entries": AuditEntry.objects.count(),
        }
    if user.is_auditor or user.is_evaluator:
        context["accreditations"] = user.accreditations.all()
    return render(request, "portal/dashboard.html", context)


# --- organizations -----------------------------------------------------------------------


@login_required
def organization_list(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("organization")
    context = {"memberships": memberships, "offer_create_organization": offers_create_organization(request.user)}
    if request.user.is_alliance_staff:
        context["all_organizations"] = Organization.objects.order_by("name")[:500]
    return render(request, "portal/organization_list.html", context)


@login_required
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = organizations.create_organization(request.user, request=request, **form.cleaned_data)
        request.session[CURRENT_ORG_SESSION_KEY] = org.slug
        messages.success(request, _("Organization %(name)s created. You are its admin.") % {"name": org.name})
        return redirect("portal:organization-members", org.slug)
    return render(request, "portal/organization_form.html", {"form": form, "creating": True})


@login_required
def organization_detail(request: HttpRequest, slug: str) -> HttpResponse:
    org, membership = get_org_for_user(request, slug)
    can_edit = request.user.is_alliance_staff or (membership is not None and membership.is_admin)
    form_class = StaffOrganizationForm if request.user.is_alliance_staff else OrganizationForm
    form = form_class(request.POST or None, instance=Organization.objects.get(pk=org.pk))
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            organizations.update_profile(org, request.user, form.cleaned_data, request=request)
            messages.success(request, _("Profile saved."))
            return redirect("portal:organization-detail", org.slug)
    return render(
        request,
        "portal/organization_detail.html",
        {"org": org, "membership": membership, "form": form, "can_edit": can_edit},
    )


@login_required
def organization_members(request: HttpRequest, slug: str) -> HttpResponse:
    org, membership = get_org_for_user(request, slug)
    is_admin = membership is not None and membership.is_admin
    form = InvitationForm(request.POST or None)
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied
        if form.is_valid():
            try:
                organizations.invite(
                    org, request.user, form.cleaned_data["email"], form.cleaned_data["role"], request=request
                )
            except organizations.OrganizationError as exc:
                form.add_error("email", str(exc))
            else:
                messages.success(request, _("Invitation sent to %(email)s.") % form.cleaned_data)
                return redirect("portal:organization-members", org.slug)
    members = Membership.objects.filter(organization=org).select_related("user").order_by("user__email")
    context = {
        "org": org,
        "membership": membership,
        "is_admin": is_admin,
        "members": members,
        "form": form,
        "invitations": Invitation.objects.pending().filter(organization=org) if is_admin else [],
        "roles": Membership.Role.choices,
    }
    return render(request, "portal/organization_members.html", context)


def _membership_in(org: Organization, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user", "organization"), pk=pk, organization=org)


@login_required
@require_POST
def membership_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    org = get_org_for_admin(request, slug)
    membership = _membership_in(org, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role: admin or member."))
    else:
        try:
            organizations.change_role(membership, form.cleaned_data["role"], request.user, request=request)
            messages.success(request, _("Role of %(user)s changed.") % {"user": membership.user.display_name})
        except organizations.OrganizationError as exc:
            messages.error(request, str(exc))
    return redirect("portal:organization-members", org.slug)


@login_required
@require_POST
def membership_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    org = get_org_for_admin(request, slug)
    membership = _membership_in(org, pk)
    try:
        organizations.remove_member(membership, request.user, request=request)
        messages.success(request, _("%(user)s was removed.") % {"user": membership.user.display_name})
    except organizations.OrganizationError as exc:
        messages.error(request, str(exc))
    return redirect("portal:organization-members", org.slug)


@login_required
@require_POST
def organization_leave(request: HttpRequest, slug: str) -> HttpResponse:
    org, membership = get_org_for_user(request, slug)
    if membership is None:
        raise Http404
    try:
        organizations.remove_member(membership, request.user, request=request)
    except organizations.OrganizationError as exc:
        messages.error(request, str(exc))
        return redirect("portal:organization-members", org.slug)
    if request.session.get(CURRENT_ORG_SESSION_KEY) == org.slug:
        del request.session[CURRENT_ORG_SESSION_KEY]
    messages.success(request, _("You left %(name)s.") % {"name": org.name})
    return redirect("portal:dashboard")


@login_required
@require_POST
def organization_switch(request: HttpRequest, slug: str) -> HttpResponse:
    org, membership = get_org_for_user(request, slug)
    if membership is None:
        raise Http404
    request.session[CURRENT_ORG_SESSION_KEY] = org.slug
    messages.info(request, _("You are now working in %(name)s.") % {"name": org.name})
    return redirect("portal:dashboard")


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    org = get_org_for_admin(request, slug)
    invitation = get_object_or_404(Invitation, pk=pk, organization=org)
    try:
        organizations.revoke_invitation(invitation, request.user, request=request)
        messages.success(request, _("Invitation withdrawn."))
    except organizations.OrganizationError as exc:
        messages.error(request, str(exc))
    return redirect("portal:organization-members", org.slug)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """GET explains the invitation; POST (signed in with the invited address) accepts it."""
    invitation = organizations.find_invitation(token)
    problem = organizations.invitation_problem(invitation, request.user)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?next={request.path}")
        try:
            membership = organizations.accept_invitation(token, request.user, request=request)
        except organizations.OrganizationError as exc:
            return render(request, "portal/invitation.html", {"problem": str(exc)}, status=400)
        request.session[CURRENT_ORG_SESSION_KEY] = membership.organization.slug
        messages.success(request, _("Welcome to %(name)s.") % {"name": membership.organization.name})
        return redirect("portal:dashboard")
    status = 200 if problem is None else (404 if invitation is None else 410 if invitation.is_expired else 400)
    return render(request, "portal/invitation.html", {"invitation": invitation, "problem": problem}, status=status)


# --- notifications ---------------------------------------------------------------------


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    qs = Notification.objects.filter(user=request.user).order_by("-created_at", "-id")
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(request, "portal/notifications.html", {"page": page})


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    note = get_object_or_404(Notification, pk=pk, user=request.user)
    Notification.objects.filter(pk=note.pk, read_at__isnull=True).update(read_at=timezone.now())
    if note.url and note.url.startswith("/"):
        return redirect(note.url)
    return redirect("portal:notifications")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(read_at=timezone.now())
    messages.success(request, _("All notifications marked as read."))
    return redirect("portal:notifications")


# --- account settings ----------------------------------------------------------------


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        save_profile(form, request=request)
        messages.success(request, _("Profile saved."))
        return redirect("portal:profile")
    return render(request, "portal/profile.html", {"form": form})


@csrf_exempt
@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The header's language switcher: Django's ``set_language`` (the cookie, the safe ``next``),
    and for a signed-in user the choice saved on their account, for pages and emails.

    A visitor's switch needs no CSRF token: it only sets their language cookie, and a token in
    the header would give every public page a per-visitor body and cookie. A signed-in user's
    switch changes their account, so it is checked like every other POST."""
    if request.user.is_authenticated:
        refused = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if refused is not None:
            return refused
    response = i18n_views.set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES) and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    return response


@login_required
@reauthentication_required
def account_delete(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            anonymize_user(request.user, request=request)
        except AccountDeletionError as exc:
            form.add_error(None, str(exc))
        else:
            logout(request)
            messages.success(request, _("Your account was deleted."))
            return redirect("portal:home")
    return render(request, "portal/account_delete.html", {"form": form})


@login_required
@never_cache
def token_list(request: HttpRequest) -> HttpResponse:
    """List and create personal API tokens. Staff and auditors need a session that passed MFA.

    An ``attest`` token files attestations, which the page does only after a fresh authentication:
    creating one asks for it too (allauth re-authentication, with the second factor where the account
    has TOTP), and the POST resumes afterwards. The new token is shown in the response to the POST
    only (never stored, never cached)."""
    if request.method == "POST" and ApiToken.ATTEST in request.POST.getlist("scopes"):
        if request.user.has_mfa and not session_recently_passed_mfa(request):
            return suspend_request(request, reverse("mfa_reauthenticate"))
        return _token_list_reauthenticated(request)
    return _token_list(request)


@reauthentication_required
def _token_list_reauthenticated(request: HttpRequest) -> HttpResponse:
    return _token_list(request, fresh_authentication=True)


def _token_list(request: HttpRequest, fresh_authentication: bool = False) -> HttpResponse:
    needs_mfa_session = request.user.requires_mfa and not session_passed_mfa(request)
    form = ApiTokenForm(request.POST or None, user=request.user)
    new_token = new_key = None
    if request.method == "POST":
        if needs_mfa_session:
            return redirect(f"{reverse('mfa_reauthenticate')}?next={request.path}")
        if form.is_valid():
            try:
                new_token, new_key = create_api_token(
                    request.user, form.cleaned_data["name"], request=request, scopes=form.cleaned_data["scopes"],
                    fresh_authentication=fresh_authentication,
                )
            except ApiTokenError as exc:
                form.add_error("scopes", str(exc))
            else:
                form = ApiTokenForm(user=request.user)
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(
        request,
        "portal/tokens.html",
        {"form": form, "tokens": tokens, "new_key": new_key, "new_token": new_token,
         "needs_mfa_session": needs_mfa_session, "now": timezone.now()},
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    revoke_api_token(token, request.user, request=request)
    messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("portal:tokens")


# --- audit log and staff console -------------------------------------------------------


@staff_required
@require_GET
def staff_console(request: HttpRequest) -> HttpResponse:
    context = {
        "organizations": Organization.objects.count(),
        "head": audit.latest_publication(),
        "recent": AuditEntry.objects.select_related("actor")[:10],
    }
    for panel in _staff_console_panels.values():
        context.update(panel(request.user))
    return render(request, "portal/staff_console.html", context)


@staff_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    qs = AuditEntry.objects.select_related("actor", "organization").order_by("-seq")
    if form.is_valid():
        data = form.cleaned_data
        if data["action"]:
            qs = qs.filter(action__startswith=data["action"])
        if data["organization"]:
            qs = qs.filter(organization=data["organization"])
        if data["actor"]:
            qs = qs.filter(actor__email__iexact=data["actor"])
        if data["since"]:
            qs = qs.filter(created_at__date__gte=data["since"])
        if data["until"]:
            qs = qs.filter(created_at__date__lte=data["until"])
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "portal/audit_log.html", {"form": form, "page": page})


@login_required
@require_GET
def organization_audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    org, membership = get_org_for_user(request, slug)
    if membership is None or not membership.is_admin:
        raise PermissionDenied
    qs = AuditEntry.objects.for_organization(org).select_related("actor").order_by("-seq")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    entries = [audit.redact_for_organization(e) for e in page]
    return render(request, "portal/organization_audit.html",
        {"org": org, "membership": membership, "page": page, "entries": entries},)
