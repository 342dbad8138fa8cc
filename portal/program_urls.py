"""The program dashboard and the program designer, included at /program/ in the portal namespace."""

from django.urls import include, path

from portal import analytics, designer, program, translations
from portal.engagement_urls import staff_urls as engagement_urls

urlpatterns = [
    path("", program.dashboard, name="program"),
    path("analytics/", analytics.analytics_home, name="analytics"),
    path("analytics/<slug:figure>.csv", analytics.analytics_csv, name="analytics-csv"),
    path("designer/", designer.designer_home, name="designer"),
    path("designer/start/", designer.designer_start, name="designer-start"),
    path("designer/<int:model_id>/", designer.designer_draft, name="designer-draft"),
    path("designer/<int:model_id>/publish/", designer.designer_publish, name="designer-publish"),
    path("translations/", translations.translations_edit, name="translations"),
    path("", include(engagement_urls)),
]
