from django.urls import path

from auditors import views

app_name = "auditors"

urlpatterns = [
    # Public
    path("auditors/", views.directory, name="directory"),
    # The person
    path("network/join/<str:role>/", views.join, name="join"),
    path("network/me/", views.my_network, name="my-network"),
    path("network/me/listing/", views.my_listing, name="my-listing"),
    path("network/me/affiliations/", views.my_affiliation_add, name="my-affiliation-add"),
    path("network/files/<int:pk>/", views.supporting_file, name="supporting-file"),
    # Offers and engagements
    path("offers/<int:pk>/", views.offer_detail, name="offer-detail"),
    path("offers/<int:pk>/accept/", views.offer_accept, name="offer-accept"),
    path("offers/<int:pk>/decline/", views.offer_decline, name="offer-decline"),
    path("offers/<int:pk>/withdraw/", views.offer_withdraw, name="offer-withdraw"),
    path("engagements/<int:pk>/", views.engagement_detail, name="engagement-detail"),
    path("engagements/<int:pk>/submission/", views.engagement_submission, name="engagement-submission"),
    path("engagements/<int:pk>/report/", views.engagement_report, name="engagement-report"),
    path("engagements/<int:pk>/report/signed/", views.engagement_report_download, name="engagement-report-download"),
    path("engagements/<int:pk>/conflict/", views.engagement_conflict, name="engagement-conflict"),
    path("engagements/<int:pk>/reassign/", views.engagement_reassign, name="engagement-reassign"),
    path("conditions/<int:pk>/resolve/", views.condition_resolve, name="condition-resolve"),
    path("conditions/<int:pk>/accept/", views.condition_accept, name="condition-accept"),
    path("conditions/<int:pk>/return/", views.condition_return, name="condition-return"),
    # The applicant
    path("applications/<int:pk>/audit/", views.application_audit, name="application-audit"),
    # Staff
    path("staff/accreditations/", views.staff_accreditations, name="staff-accreditations"),
    path("staff/accreditations/<int:pk>/", views.staff_accreditation, name="staff-accreditation"),
    path("staff/accreditations/<int:pk>/approve/", views.staff_accreditation_approve,
         name="staff-accreditation-approve"),
    path("staff/accreditations/<int:pk>/reject/", views.staff_accreditation_reject, name="staff-accreditation-reject"),
    path("staff/accreditations/<int:pk>/suspend/", views.staff_accreditation_suspend,
         name="staff-accreditation-suspend"),
    path("staff/accreditations/<int:pk>/reinstate/", views.staff_accreditation_reinstate,
         name="staff-accreditation-reinstate"),
    path("staff/assignments/", views.staff_assignments, name="staff-assignments"),
    path("staff/assignments/batch/", views.staff_batch, name="staff-batch"),
    path("staff/assignments/<int:pk>/", views.staff_application, name="staff-application"),
    path("staff/assignments/<int:pk>/offers/", views.staff_send_offers, name="staff-send-offers"),
    path("staff/assignments/<int:pk>/override/", views.staff_override, name="staff-override"),
]
