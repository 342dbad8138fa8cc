from django.urls import path

from portal import deals

urlpatterns = [
    path("", deals.deal_pipeline, name="deals"),
    path("new/", deals.deal_new, name="deals-new"),
    path("import/", deals.deal_import, name="deals-import"),
    path("import/template.csv", deals.deal_import_template, name="deals-import-template"),
    path("review/", deals.deal_review_queue_view, name="deals-review"),
    path("review/decide/", deals.deal_bulk_decide, name="deals-bulk"),
    path("partners/", deals.deal_managed_pipeline, name="deals-managed"),
    path("<int:deal_id>/", deals.deal_detail_view, name="deal"),
    path("attachments/<int:attachment_id>/", deals.deal_attachment, name="deal-attachment"),
    path("<int:deal_id>/extend/", deals.deal_extend_view, name="deal-extend"),
    path("<int:deal_id>/won/", deals.deal_won_view, name="deal-won"),
    path("<int:deal_id>/lost/", deals.deal_lost_view, name="deal-lost"),
    path("<int:deal_id>/approve/", deals.deal_approve_view, name="deal-approve"),
    path("<int:deal_id>/reject/", deals.deal_reject_view, name="deal-reject"),
]
