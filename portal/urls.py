from allauth.account.decorators import secure_admin_login
from csp.constants import NONCE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from portal import api, api_account, deadline_views, views

# Inline styles the Redoc page (/api/redoc/) must accept, on that page only: the <style> elements
# styled-components makes carry the request's nonce (static/js/redoc-init.js gives it to Redoc);
# the one Redoc's bundle inserts while it loads, before any nonce can be set, is matched by hash:
# first empty, then perfect-scrollbar's CSS. A new drf-spectacular-sidecar may change that CSS:
# tests/browser/test_api_docs.py then names the hash the browser expects.
REDOC_STYLE_SRC = [
    NONCE,
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the empty string
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar.css in Redoc 2.x
]

# The Django admin signs in through allauth: same rate limits, same MFA.
admin.autodiscover()
admin.site.login = secure_admin_login(admin.site.login)


portal_patterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("organizations/", views.organization_list, name="organization-list"),
    path("organizations/new/", views.organization_create, name="organization-create"),
    path("organizations/<slug:slug>/", views.organization_detail, name="organization-detail"),
    path("organizations/<slug:slug>/members/", views.organization_members, name="organization-members"),
    path(
        "organizations/<slug:slug>/members/<int:pk>/role/", views.membership_role, name="membership-role"
    ),
    path(
        "organizations/<slug:slug>/members/<int:pk>/remove/", views.membership_remove, name="membership-remove"
    ),
    path("organizations/<slug:slug>/leave/", views.organization_leave, name="organization-leave"),
    path("organizations/<slug:slug>/switch/", views.organization_switch, name="organization-switch"),
    path(
        "organizations/<slug:slug>/invitations/<int:pk>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("organizations/<slug:slug>/audit/", views.organization_audit_log, name="organization-audit"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("notifications/read-all/", views.notification_read_all, name="notification-read-all"),
    path("account/profile/", views.profile, name="profile"),
    path("account/delete/", views.account_delete, name="account-delete"),
    path("account/tokens/", views.token_list, name="tokens"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("staff/", views.staff_console, name="staff-console"),
    path("staff/audit/", views.audit_log, name="audit-log"),
    # Deadline engine: notification settings, calendar feed, staff overview.
    path("account/notifications/", deadline_views.notification_settings, name="notification-settings"),
    path("account/calendar/", deadline_views.calendar_settings, name="calendar-settings"),
    path("calendar/<str:token>.ics", deadline_views.calendar_feed, name="calendar-feed"),
    path("staff/deadlines/", deadline_views.staff_deadlines, name="staff-deadlines"),
    path("i18n/setlang/", views.set_language, name="set-language"),
]

urlpatterns = [
    # First: the public registry API (verify, certificates) is the most requested; Django tries
    # the patterns in order, and ~200 failed ones cost more than the verify query (registry_bench).
    path("api/v1/", include("certification.certificates.api")),
    path("", include((portal_patterns, "portal"))),
    path("", include("certification.urls")),
    path("", include("auditors.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api.urlpatterns, "api"))),
    path("api/v1/", include((api_account.urlpatterns, "account-api"))),
    path("api/v1/", include("certification.framework.api")),
    path("api/v1/", include(("certification.api_urls", "certification-api"))),
    path("api/v1/review/", include(("certification.review.api", "review-api"))),
    path("api/v1/", include(("auditors.api", "auditors-api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs pages use our own templates: drf-spectacular's run inline script and style,
    # which the Content-Security-Policy refuses (portal/settings.py, CSP block).
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", template_name="portal/api_docs/swagger_ui.html"),
        name="api-docs",
    ),
    # The one relaxation of the policy (REDOC_STYLE_SRC): Redoc styles the page with <style>
    # elements it creates at run time. Scripts stay 'self' only.
    path(
        "api/redoc/",
        csp_update({"style-src": REDOC_STYLE_SRC})(
            SpectacularRedocView.as_view(url_name="api-schema", template_name="portal/api_docs/redoc.html")
        ),
        name="api-redoc",
    ),
]

handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
