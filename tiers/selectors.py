"""Reads of partners' tiers."""

from decimal import Decimal

from partners.models import Partner


def partner_point_multiplier(*, partner: Partner) -> Decimal:
    """The point multiplier of the partner's current tier, applied by earning rules that opt in.

    Tier models arrive with the tier engine; until a partner has a tier the multiplier is 1.
    """
    return Decimal(1)
