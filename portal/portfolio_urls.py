"""The worklist and the staff page of a partner, included at /portfolio/ in the portal namespace."""

from django.urls import path

from portal import portfolio

urlpatterns = [
    path("", portfolio.worklist, name="portfolio"),
    path("csv/", portfolio.worklist_csv, name="portfolio_csv"),
    path("<int:partner_id>/", portfolio.partner_detail, name="portfolio_partner"),
    path("<int:partner_id>/notes/", portfolio.note_add, name="portfolio_note_add"),
    path("<int:partner_id>/rescore/", portfolio.rescore, name="portfolio_rescore"),
]
