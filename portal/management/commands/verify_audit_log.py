"""Walk the audit chain and report every problem; exit status 1 if there is one."""

from django.core.management.base import BaseCommand, CommandError

from portal.audit import latest_publication, verify_chain


class Command(BaseCommand):
    help = (
        "Verify the hash-chained audit log: edited, deleted or inserted entries, "
        "and a chain cut below the last published head."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000, help="Entries read per query.")

    def handle(self, *args, batch_size: int = 2000, **options):
        report = verify_chain(batch_size=batch_size)
        for problem in report.problems:
            self.stderr.write(self.style.ERROR(problem))
        if not report.ok:
            raise CommandError(
                f"audit log verification failed: {len(report.problems)} problem(s) in {report.checked} entries"
            )
        publication = latest_publication()
        published = f"; last published head: entry {publication.seq}" if publication else ""
        self.stdout.write(self.style.SUCCESS(f"audit log ok: {report.checked} entries{published}"))
