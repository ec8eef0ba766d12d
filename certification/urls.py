"""The certification app's pages, one URL module per domain, under the ``certification`` namespace."""

from certification.certificates import urls as certificates
from certification.framework import urls as framework
from certification.releases import urls as releases
from certification.review import urls as review
from certification.transparency import urls as transparency

app_name = "certification"

urlpatterns = [
    *framework.urlpatterns,
    *releases.urlpatterns,
    *review.urlpatterns,
    *certificates.urlpatterns,
    *transparency.urlpatterns,
]
