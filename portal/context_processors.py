from django.conf import settings

from portal.models import Notification


def portal(request) -> dict:
    """Site name and, for signed-in users, the unread count (one query per page)."""
    ctx = {"SITE_NAME": settings.SITE_NAME, "DEMO_MODE": settings.DEMO_MODE}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        ctx["unread_count"] = Notification.objects.filter(user=user, read_at__isnull=True).count()
    return ctx
