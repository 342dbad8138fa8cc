"""The finance page and its exports, included at /finance/ in the portal namespace."""

from django.urls import path

from portal import finance

urlpatterns = [
    path("", finance.finance_home, name="finance"),
    path("liability.csv", finance.roll_forward_csv, name="finance-roll-forward-csv"),
    path("journal.csv", finance.journal_csv, name="finance-journal-csv"),
]
