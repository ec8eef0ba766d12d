from django.apps import AppConfig


class AuditorsConfig(AppConfig):
    name = "auditors"
    verbose_name = "Auditors and evaluators"
