"""Sign every certificate that has no attestation yet (DESIGN §7).

Certificates issued before signing existed (Tier 1/2 certificates of the
certification core) have no envelope. This signs them with the current key,
with their original issue and expiry times in the predicate. Idempotent: a
signed certificate is never signed again, so the command can run after every
deploy. A key that is not valid at a certificate's issue time (it was rotated
in later) is reported: such a signature would not verify.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from certification.certificates import keys as certificate_keys
from certification.certificates import signing
from certification.certificates.models import Certificate


class Command(BaseCommand):
    help = "Sign the attestations of certificates that have none yet (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be signed, sign nothing")

    def handle(self, *args, dry_run: bool, **options):
        try:
            _key, keyid = certificate_keys.load_signing_key()
            keys = {k.keyid: k for k in certificate_keys.verification_keys()}
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        current = keys[keyid]
        pending = Certificate.objects.filter(attestation__isnull=True).select_related(
            "application", "release__ai_model", "organization", "framework_version").order_by("id")
        signed = skipped = 0
        for cert in pending.iterator():
            if not current.valid_at(cert.issued_at):
                self.stderr.write(self.style.WARNING(
                    f"{cert.number}: the current key {keyid} is not valid at its issue time "
                    f"{cert.issued_at.isoformat()}; not signed"))
                skipped += 1
                continue
            if dry_run:
                self.stdout.write(f"would sign {cert.number}")
                signed += 1
                continue
            if not cert.hub_repo_id and cert.release.ai_model.hub_repo_id:
                Certificate.objects.filter(pk=cert.pk).update(
                    hub_repo_id=cert.release.ai_model.hub_repo_id, hub_revision=cert.release.hub_revision)
                cert.hub_repo_id, cert.hub_revision = cert.release.ai_model.hub_repo_id, cert.release.hub_revision
            if signing.sign_certificate(cert):
                signed += 1
                self.stdout.write(f"signed {cert.number}")
        verb = "would sign" if dry_run else "signed"
        self.stdout.write(self.style.SUCCESS(f"{verb} {signed} certificate(s) with {keyid}; {skipped} skipped"))
