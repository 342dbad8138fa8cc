"""Market development funds, included at /funds/ in the portal namespace."""

from django.urls import path

from portal import funds

urlpatterns = [
    path("", funds.funds_home, name="funds"),
    path("request/", funds.fund_request_new, name="fund-request-new"),
    path("requests/<int:request_id>/claim/", funds.fund_claim_new, name="fund-claim-new"),
    path("proofs/<int:proof_id>/", funds.fund_proof, name="fund-proof"),
    path("credit-notes/<int:payout_id>/", funds.fund_payout, name="fund-payout"),
    path("review/", funds.fund_review, name="fund-review"),
    path("review/requests/<int:request_id>/", funds.fund_request_review, name="fund-request-review"),
    path("review/claims/<int:claim_id>/", funds.fund_claim_review, name="fund-claim-review"),
    path("budget/", funds.fund_budget_page, name="fund-budget"),
    path("budget.csv", funds.fund_budget_csv, name="fund-budget-csv"),
]
