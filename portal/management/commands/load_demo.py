from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import demo


class Command(BaseCommand):
    help = "Load the demo story (idempotent). Refused outside DEBUG/DEMO_MODE: demo users have known secrets."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, quiet=False, **options):
        if not (settings.DEBUG or settings.DEMO_MODE):
            raise CommandError("Demo data has known passwords and TOTP secrets; set DEMO_MODE=true to load it anyway.")
        users = demo.load()
        if quiet:
            return
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Every demo user's password: " + demo.DEMO_PASSWORD))
        for spec in users:
            line = f"  {spec.role:<40} {spec.email}"
            if spec.totp_secret:
                line += f"   TOTP secret: {spec.totp_secret}"
            self.stdout.write(line)
