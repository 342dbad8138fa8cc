from django.urls import path

from portal import claims

urlpatterns = [
    path("", claims.claim_list, name="claims"),
    path("new/", claims.claim_new, name="claims-new"),
]
