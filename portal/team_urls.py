from django.urls import path

from portal import team

urlpatterns = [
    path("", team.team, name="team"),
    path("invite/", team.invite, name="team-invite"),
    path("invitations/<int:invitation_id>/revoke/", team.revoke, name="team-revoke"),
    path("members/<int:membership_id>/remove/", team.remove, name="team-remove"),
]
