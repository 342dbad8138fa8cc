"""URLs of the API, mounted at /api/v1/ on tenant hosts."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import views

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    path("partners/", views.PartnerList.as_view(), name="partner-list"),
    path("partners/by-id/<int:pk>/", views.PartnerById.as_view(), name="partner-by-id"),
    re_path(rf"^partners/(?P<external_id>{views.EXTERNAL_ID})/$", views.PartnerDetail.as_view(), name="partner"),
    re_path(
        rf"^partners/(?P<external_id>{views.EXTERNAL_ID})/status/$",
        views.PartnerStatus.as_view(),
        name="partner-status",
    ),
    path("activities/", views.ActivityList.as_view(), name="activity-list"),
    path("activities/<int:pk>/", views.ActivityDetail.as_view(), name="activity"),
    path("activities/<int:pk>/review/", views.ActivityReview.as_view(), name="activity-review"),
    path("ledger/entries/", views.LedgerEntryList.as_view(), name="ledger-entry-list"),
    path("ledger/entries/<int:pk>/", views.LedgerEntryDetail.as_view(), name="ledger-entry"),
    path("ledger/adjustments/", views.Adjustments.as_view(), name="adjustments"),
    path("rewards/", views.RewardList.as_view(), name="reward-list"),
    path("rewards/<int:pk>/", views.RewardDetail.as_view(), name="reward"),
    path("redemptions/", views.RedemptionList.as_view(), name="redemption-list"),
    path("redemptions/<int:pk>/", views.RedemptionDetail.as_view(), name="redemption"),
    path("redemptions/<int:pk>/approve/", views.RedemptionApprove.as_view(), name="redemption-approve"),
    path("redemptions/<int:pk>/fulfil/", views.RedemptionFulfil.as_view(), name="redemption-fulfil"),
    path("redemptions/<int:pk>/reject/", views.RedemptionReject.as_view(), name="redemption-reject"),
    path("redemptions/<int:pk>/cancel/", views.RedemptionCancel.as_view(), name="redemption-cancel"),
    path("deals/", views.DealList.as_view(), name="deal-list"),
    path("deals/<int:pk>/", views.DealDetail.as_view(), name="deal"),
    path("deals/<int:pk>/won/", views.DealWon.as_view(), name="deal-won"),
    path("deals/<int:pk>/lost/", views.DealLost.as_view(), name="deal-lost"),
    path("exchange-rates/", views.ExchangeRateList.as_view(), name="exchange-rate-list"),
    path("exchange-rates/<int:pk>/", views.ExchangeRateDetail.as_view(), name="exchange-rate"),
    path("tier-models/", views.TierModelList.as_view(), name="tier-model-list"),
    path("tier-models/<int:pk>/", views.TierModelDetail.as_view(), name="tier-model"),
    path("tier-models/<int:pk>/draft/", views.TierModelDraftStart.as_view(), name="tier-model-draft"),
    path("tier-models/<int:pk>/simulate/", views.TierModelSimulate.as_view(), name="tier-model-simulate"),
    path("tier-models/<int:pk>/publish/", views.TierModelPublish.as_view(), name="tier-model-publish"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
