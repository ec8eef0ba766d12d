from django.apps import AppConfig


class CertificationConfig(AppConfig):
    name = "certification"
    verbose_name = "Certification"

    def ready(self) -> None:
        from . import deadline_kinds  # noqa: F401 - registers the deadline kinds
