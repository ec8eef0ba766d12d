"""The accounts of the production smoke test, created as an operator would on a fresh deployment:

    manage.py shell -c "from tests.production.provision import main; main()"

in the production environment. An organization ``acme`` with its admin, an Alliance staff member
with two-factor authentication, and their API tokens, printed once as JSON: ``write`` (read,
write), ``attest`` (as the tokens page makes it after the admin signs in again) and ``staff``
(read, write, staff). Everything else goes through HTTP.
"""

from __future__ import annotations

import json

from portal import accounts
from tests import factories as f

ORG = "acme"


def main() -> None:
    org = f.OrganizationFactory(name="Acme AI", slug=ORG)
    admin = f.MembershipFactory(organization=org, role="admin", user__email="admin@acme.example").user
    staff = f.make_staff(email="staff@alliance.example")
    tokens = {
        "write": accounts.create_api_token(admin, "CI", scopes=["read", "write"])[1],
        "attest": accounts.create_api_token(admin, "filing", scopes=["attest"], fresh_authentication=True)[1],
        "staff": accounts.create_api_token(staff, "screening", scopes=["read", "write", "staff"])[1],
    }
    print(json.dumps({"org": ORG, "admin": admin.email, "staff": staff.email, "tokens": tokens}))
