"""The only places fund rows are locked. Order: the fund account first, then the request, then the claim."""

from funds.models import FundAccount, FundClaim, FundRequest


def fund_account_lock(*, account_id: int) -> FundAccount:
    """Lock one fund account for the rest of the transaction; every posting to it goes through here."""
    return FundAccount.objects.select_for_update().get(pk=account_id)


def fund_request_lock(*, request_id: int) -> FundRequest:
    return FundRequest.objects.select_for_update().get(pk=request_id)


def fund_claim_lock(*, claim_id: int) -> FundClaim:
    return FundClaim.objects.select_for_update().get(pk=claim_id)
