"""Staff-only API of the portal app: the shared staff permission, and the staff overview of
deadlines (the page is ``/staff/deadlines/``, ``portal.deadline_views.staff_deadlines``).

Staff operations of every layer build on ``StaffAPIMixin``: Alliance staff only (403 for
everyone else, as the pages' ``staff_required``), and ``token_scope = "staff"``, so a personal
token needs the ``staff`` scope (the default permission class checks it; sessions are not
limited by scopes)."""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination

from portal import calendar
from portal.deadline_views import STATE_CHOICES, DeadlineFilterForm, _display, filter_deadlines
from portal.models import Deadline


class IsAllianceStaff(permissions.BasePermission):
    """Alliance staff only; the same check as the pages' ``staff_required``."""

    message = gettext_lazy("Only Alliance staff may do this.")

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_alliance_staff)


class StaffAPIMixin:
    """A staff operation: the default permissions (sign-in, MFA, token scope) plus staff."""

    token_scope = "staff"

    def get_permissions(self):
        return [*super().get_permissions(), IsAllianceStaff()]


def form_error(form) -> ValidationError:
    """A form's errors as a 400 naming each field (or query parameter) at fault."""
    return ValidationError({("non_field_errors" if field == "__all__" else field): [e["message"] for e in errors]
                            for field, errors in form.errors.get_json_data().items()})


# --- deadlines -------------------------------------------------------------------------------------


class DeadlinePagination(CursorPagination):
    """Soonest first, like the page; closed deadlines most recent first (the view's ``ordering``)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        return view.ordering


class StaffDeadlineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField(help_text=gettext_lazy("The kind's title, as on the page"))
    state = serializers.ChoiceField(choices=Deadline.State.choices)
    due_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    object = serializers.CharField(allow_null=True, help_text=gettext_lazy("The object the deadline is about; null "
                                                                           "once deleted"))
    url = serializers.CharField(allow_blank=True, help_text=gettext_lazy("Path of the object's page; empty when it has "
                                                                         "none"))
    overdue = serializers.BooleanField(help_text=gettext_lazy("Past due and the object still waits for it"))
    moved_on = serializers.BooleanField(help_text=gettext_lazy("Past due but the object is no longer in that state"))


_STATES = [value for value, _label in STATE_CHOICES if value]


class StaffDeadlineList(StaffAPIMixin, GenericAPIView):
    pagination_class = DeadlinePagination
    serializer_class = StaffDeadlineSerializer
    queryset = Deadline.objects.none()
    ordering = ("due_at", "id")

    @extend_schema(
        operation_id="staff_deadlines_list",
        summary=gettext_lazy("Every deadline of the portal (staff)"),
        description=gettext_lazy("The staff overview of `/staff/deadlines/`, with its filters: by default upcoming and "
                                 "overdue deadlines, soonest first; `state=closed` lists done, cancelled and moved-on "
                                 "ones, latest first."),
        parameters=[
            OpenApiParameter("kind", str,
                             description=gettext_lazy("A registered deadline kind, e.g. changes_requested")),
            OpenApiParameter("state", str, enum=_STATES, description=gettext_lazy("Empty: upcoming and overdue")),
        ],
        responses=StaffDeadlineSerializer(many=True),
        tags=["staff"],
    )
    def get(self, request):
        now = timezone.now()
        form = DeadlineFilterForm({k: request.query_params.get(k, "") for k in ("kind", "state")})
        if not form.is_valid():
            raise form_error(form)
        kind, state = form.cleaned_data["kind"], form.cleaned_data["state"]
        if state == "closed":
            self.ordering = ("-due_at", "-id")
        qs = filter_deadlines(Deadline.objects.select_related("content_type"), kind, state, now)
        page = self.paginate_queryset(qs)
        rows = _display(calendar.load_targets(page))
        return self.get_paginated_response(StaffDeadlineSerializer([{
            "id": r["deadline"].pk, "kind": r["deadline"].kind, "title": str(r["title"]),
            "state": r["deadline"].state, "due_at": r["deadline"].due_at, "closed_at": r["deadline"].closed_at,
            "object": str(r["target"]) if r["target"] is not None else None, "url": r["url"],
            "overdue": bool(r["overdue"]), "moved_on": bool(r["moved_on"]),
        } for r in rows], many=True).data)


urlpatterns = [
    path("staff/deadlines/", StaffDeadlineList.as_view(), name="staff-deadlines"),
]
