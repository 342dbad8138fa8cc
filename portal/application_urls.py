"""Applications to join: the public page at /apply/, and staff review at /program/applications/."""

from django.urls import path

from portal import applications, apply

urlpatterns = [
    path("apply/", apply.apply, name="apply"),
    path("apply/sent/", apply.apply_sent, name="apply_sent"),
    path("apply/confirm/<str:token>/", apply.apply_confirm, name="apply_confirm"),
    path("program/applications/", applications.application_list, name="applications"),
    path("program/applications/<int:application_id>/", applications.application_detail, name="application"),
    path(
        "program/applications/<int:application_id>/approve/",
        applications.application_approve_view,
        name="application_approve",
    ),
    path(
        "program/applications/<int:application_id>/reject/",
        applications.application_reject_view,
        name="application_reject",
    ),
]
