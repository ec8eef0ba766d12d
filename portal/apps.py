from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.core.checks import register

        from portal import checks

        register(checks.check_production_settings, checks.TAG)

        from django.utils.translation import gettext_lazy as _

        from portal import labels

        labels.register_source("deadline_kind", _deadline_title)
        # The notification settings list each kind of email by these (portal.digests); each app
        # registers the kinds it sends.
        labels.register("notification_kind", {"member-joined": _("New member of your organization")})

        from allauth.account.forms import RequestReauthenticationCodeForm

        # allauth leaves this field without a label, so Django's "Recipient" (from its name) stayed English.
        RequestReauthenticationCodeForm.base_fields["recipient"].label = _("Recipient")


def _deadline_title(name: str) -> str | None:
    """A deadline kind's title as its app registered it with the engine (from the framework data)."""
    from portal import deadlines

    return deadlines.kind_title(name) if name in deadlines.registered_kinds() else None

