"""The ASGI application. Like ``portal.wsgi`` it refuses to load while the configuration
has an error (``portal.checks``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_asgi_application()

from portal.checks import refuse_to_start  # noqa: E402 - needs the apps loaded above

refuse_to_start("The web process")
