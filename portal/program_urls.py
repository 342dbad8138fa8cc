"""The program dashboard, included at /program/ in the portal namespace."""

from django.urls import path

from portal import program

urlpatterns = [
    path("", program.dashboard, name="program"),
]
