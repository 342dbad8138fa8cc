"""Reads of partners' tiers."""

from decimal import Decimal

from partners.models import Partner
from tiers.models import PartnerTier


def partner_point_multiplier(*, partner: Partner) -> Decimal:
    """The point multiplier of the partner's current tier (1 until the partner has one)."""
    state = PartnerTier.objects.filter(partner=partner).select_related("tier").first()
    return state.tier.point_multiplier if state is not None else Decimal(1)
