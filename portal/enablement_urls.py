"""The enablement library and the company profile, included at /enablement/ in the portal namespace."""

from django.urls import path

from portal import enablement

urlpatterns = [
    path("", enablement.library, name="library"),
    path("resources/<int:resource_id>/", enablement.resource_open, name="resource"),
    path("courses/<int:course_id>/", enablement.course_detail, name="course"),
    path("profile/", enablement.profile, name="profile"),
]
