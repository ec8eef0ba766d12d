"""Publish the head of the audit chain (also run daily by Celery beat)."""

from django.core.management.base import BaseCommand

from portal.audit import publish_head


class Command(BaseCommand):
    help = "Record the current head (seq and hash) of the audit chain as published."

    def handle(self, *args, **options):
        publication = publish_head()
        if publication is None:
            self.stdout.write("the audit log is empty: nothing to publish")
            return
        self.stdout.write(self.style.SUCCESS(f"published head: entry {publication.seq} sha256 {publication.hash}"))
