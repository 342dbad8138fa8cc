from django.urls import include, path

from portal import views
from portal.engagement_urls import announcement_urls, survey_urls

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("statement/", include("portal.statement_urls")),
    path("rewards/", include("portal.reward_urls")),
    path("claims/", include("portal.claim_urls")),
    path("funds/", include("portal.fund_urls")),
    path("deals/", include("portal.deal_urls")),
    path("enablement/", include("portal.enablement_urls")),
    path("team/", include("portal.team_urls")),
    path("program/", include("portal.program_urls")),
    path("portfolio/", include("portal.portfolio_urls")),
    path("finance/", include("portal.finance_urls")),
    path("notifications/", include("portal.notification_urls")),
    path("announcements/", include(announcement_urls)),
    path("surveys/", include(survey_urls)),
    path("", include("portal.application_urls")),
]
