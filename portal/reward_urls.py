from django.urls import path

from portal import rewards

urlpatterns = [
    path("", rewards.catalog, name="rewards"),
    path("<int:reward_id>/redeem/", rewards.redeem, name="rewards-redeem"),
    path("history/", rewards.history, name="rewards-history"),
    path("history/<int:redemption_id>/cancel/", rewards.cancel, name="rewards-cancel"),
]
