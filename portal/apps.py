from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.core.checks import register

        from portal import checks

        register(checks.check_production_settings, checks.TAG)
