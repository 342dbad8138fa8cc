"""Template tags for the points wording of loyalty.ledger.wording (notifications and pages say it alike)."""

from collections.abc import Mapping
from datetime import date

from django import template

from loyalty.ledger import wording

register = template.Library()


@register.simple_tag
def expiring_sentence(points: int, first_expiry: date | None, within_days: int) -> str:
    return wording.points_expiring_sentence(points=points, first_expiry=first_expiry, within_days=within_days)


@register.simple_tag
def month_sentence(month: date, movements: Mapping[str, int], balance: int) -> str:
    return wording.points_month_sentence(month=month, movements=movements, balance=balance)
