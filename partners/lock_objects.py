"""The only places partner-side rows are locked."""

from partners.models import Activity, Claim


def activity_lock(*, activity_id: int) -> Activity:
    return Activity.objects.select_for_update().select_related("partner").get(pk=activity_id)


def claim_lock(*, claim_id: int) -> Claim:
    return Claim.objects.select_for_update().get(pk=claim_id)
