from django.urls import include, path

from tests.sso.oidc_idp import views

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", views.sign_in),
    path("test/clients/", views.client_register),
    path("test/misbehave/", views.misbehave),
]
