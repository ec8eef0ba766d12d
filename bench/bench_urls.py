"""URLconf used only by bench/registry_bench.py (through bench/bench_settings.py):
the portal's URLs plus ``bare/``, the smallest Django JSON view, served by the
same processes and middleware as the pages it is compared with."""

from django.http import JsonResponse
from django.urls import include, path


def bare(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bare/", bare),
    path("", include("portal.urls")),
]

handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
