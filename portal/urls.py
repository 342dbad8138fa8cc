from django.urls import include, path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("statement/", include("portal.statement_urls")),
    path("rewards/", include("portal.reward_urls")),
    path("claims/", include("portal.claim_urls")),
    path("team/", include("portal.team_urls")),
    path("program/", include("portal.program_urls")),
    path("portfolio/", include("portal.portfolio_urls")),
    path("notifications/", include("portal.notification_urls")),
]
