from django.apps import AppConfig


class CertificationConfig(AppConfig):
    name = "certification"
    verbose_name = "Certification"

    def ready(self) -> None:
        from . import certificates, deadline_kinds  # noqa: F401 - register deadline kinds and the signing hook
        from . import review  # noqa: F401 - community review: deadline kinds, hooks, gates
