from django.urls import path

from auditors.views import engagements, network, staff

app_name = "auditors"

urlpatterns = [
    # Public
    path("auditors/", network.directory, name="directory"),
    # The person
    path("network/join/<str:role>/", network.join, name="join"),
    path("network/me/", network.my_network, name="my-network"),
    path("network/me/listing/", network.my_listing, name="my-listing"),
    path("network/me/affiliations/", network.my_affiliation_add, name="my-affiliation-add"),
    path("network/files/<int:pk>/", network.supporting_file, name="supporting-file"),
    # Offers and engagements
    path("offers/<int:pk>/", engagements.offer_detail, name="offer-detail"),
    path("offers/<int:pk>/accept/", engagements.offer_accept, name="offer-accept"),
    path("offers/<int:pk>/decline/", engagements.offer_decline, name="offer-decline"),
    path("offers/<int:pk>/withdraw/", engagements.offer_withdraw, name="offer-withdraw"),
    path("engagements/<int:pk>/", engagements.engagement_detail, name="engagement-detail"),
    path("engagements/<int:pk>/submission/", engagements.engagement_submission, name="engagement-submission"),
    path("engagements/<int:pk>/submission/json/", engagements.engagement_submission_json,
         name="engagement-submission-json"),
    path("engagements/<int:pk>/report/", engagements.engagement_report, name="engagement-report"),
    path("engagements/<int:pk>/report/signed/", engagements.engagement_report_download, name="engagement-report-download"),
    path("engagements/<int:pk>/conflict/", engagements.engagement_conflict, name="engagement-conflict"),
    path("engagements/<int:pk>/reassign/", engagements.engagement_reassign, name="engagement-reassign"),
    path("conditions/<int:pk>/resolve/", engagements.condition_resolve, name="condition-resolve"),
    path("conditions/<int:pk>/accept/", engagements.condition_accept, name="condition-accept"),
    path("conditions/<int:pk>/return/", engagements.condition_return, name="condition-return"),
    # The applicant
    path("applications/<int:pk>/audit/", engagements.application_audit, name="application-audit"),
    # Staff
    path("staff/accreditations/", staff.staff_accreditations, name="staff-accreditations"),
    path("staff/accreditations/<int:pk>/", staff.staff_accreditation, name="staff-accreditation"),
    path("staff/accreditations/<int:pk>/approve/", staff.staff_accreditation_approve,
         name="staff-accreditation-approve"),
    path("staff/accreditations/<int:pk>/reject/", staff.staff_accreditation_reject, name="staff-accreditation-reject"),
    path("staff/accreditations/<int:pk>/suspend/", staff.staff_accreditation_suspend,
         name="staff-accreditation-suspend"),
    path("staff/accreditations/<int:pk>/reinstate/", staff.staff_accreditation_reinstate,
         name="staff-accreditation-reinstate"),
    path("staff/assignments/", staff.staff_assignments, name="staff-assignments"),
    path("staff/assignments/batch/", staff.staff_batch, name="staff-batch"),
    path("staff/assignments/<int:pk>/", staff.staff_application, name="staff-application"),
    path("staff/assignments/<int:pk>/offers/", staff.staff_send_offers, name="staff-send-offers"),
    path("staff/assignments/<int:pk>/override/", staff.staff_override, name="staff-override"),
]
