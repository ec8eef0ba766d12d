"""The authenticated certification API (``/api/v1/``, namespace ``certification-api``): the
releases' models, releases and applications, the staff decisions on applications, the post-release
incidents, and the staff operations of each domain (``staff_api`` modules, the transparency report's ``api``)."""

from certification.certificates import incident_api
from certification.certificates import staff_api as certificate_staff_api
from certification.certificates.api import decision_urlpatterns
from certification.releases import staff_api as release_staff_api
from certification.releases.api import urlpatterns as release_urlpatterns
from certification.transparency import api as transparency_api

urlpatterns = (release_urlpatterns + decision_urlpatterns + release_staff_api.urlpatterns
               + certificate_staff_api.urlpatterns + incident_api.urlpatterns + transparency_api.urlpatterns)
