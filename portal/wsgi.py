"""The WSGI application (gunicorn, runserver).

It refuses to load while the configuration has an error (``portal.checks``): gunicorn
then stops with "Worker failed to boot" and the errors, each naming the variable to set,
instead of answering 500 at the first request that needs it.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

from portal.checks import refuse_to_start  # noqa: E402 - needs the apps loaded above

refuse_to_start("The web process")
