"""The partner statement, included at /statement/ in the portal namespace."""

from django.urls import path

from portal import statement

urlpatterns = [
    path("", statement.statement, name="statement"),
    path("csv/", statement.statement_csv, name="statement_csv"),
]
