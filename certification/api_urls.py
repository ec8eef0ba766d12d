"""The authenticated certification API (``/api/v1/``, namespace ``certification-api``): the
releases' models, releases and applications, and the staff decisions on applications."""

from certification.certificates.api import decision_urlpatterns
from certification.releases.api import urlpatterns as release_urlpatterns

urlpatterns = release_urlpatterns + decision_urlpatterns
