"""Issue the OpenSSF model-signing bundle of every certificate that has none yet (issue 18).

Certificates issued before model-signing bundles existed have none. This signs one for each
that certifies files (a release certified on its documentation alone gets none: nothing on disk
to check), with the current model-signing key. Idempotent: a bundle is never replaced, so the
command can run after every deploy. Revoked, suspended and superseded certificates get one too:
the bundle says which files were certified, the revocation list says whether that still counts.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from certification.certificates import keys, modelsigning
from certification.certificates.models import Certificate


class Command(BaseCommand):
    help = "Sign the model-signing bundles of certificates that have none yet (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be signed, sign nothing")

    def handle(self, *args, dry_run: bool, **options):
        try:
            _key, keyid = keys.load_model_signing_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        pending = (Certificate.objects.filter(model_signature__isnull=True).select_related("organization")
                   .order_by("id"))
        signed = skipped = 0
        for cert in pending.iterator():
            if not modelsigning.certified_files(cert):
                skipped += 1
                continue
            if dry_run:
                self.stdout.write(f"would sign {cert.number}")
                signed += 1
            elif modelsigning.issue_bundle(cert):
                self.stdout.write(f"signed {cert.number}")
                signed += 1
        verb = "would sign" if dry_run else "signed"
        self.stdout.write(self.style.SUCCESS(
            f"{verb} {signed} model-signing bundle(s) with {keyid}; {skipped} certificate(s) certify no file"))
