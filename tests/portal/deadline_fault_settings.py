"""Settings of the worker processes started by tests/portal/test_deadline_fault.py:
the portal's own, plus the test's deadline kind (a worker only knows the kinds its
modules register)."""

from portal.settings import *  # noqa: F403

CELERY_IMPORTS = ("tests.portal.deadline_fault_kinds",)
