"""The tier check and the framework versions' pages. Gathered under the ``certification`` namespace by
``certification/urls.py``."""

from django.urls import path

from certification.framework import views

urlpatterns = [
    path("tier/", views.tier_check, name="tier-check"),
    path("framework/", views.version_list, name="framework-list"),
    path("framework/<str:version>/", views.version_detail, name="framework-detail"),
    path("framework/<str:version>/changes/", views.version_changes, name="framework-changes"),
    path("staff/framework/new/", views.version_create, name="framework-create"),
    path("staff/framework/<str:version>/edit/", views.version_edit, name="framework-edit"),
    path("staff/framework/<str:version>/publish/", views.version_publish, name="framework-publish"),
    path("staff/framework/<str:version>/texts/", views.version_texts, name="framework-texts"),
]
