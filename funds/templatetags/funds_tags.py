"""Money to the cent in templates, as funds are paid."""

from decimal import Decimal

from django import template

from funds.wording import rebate_accrued_sentence
from loyalty.wording import money_exact

register = template.Library()


@register.filter
def money_cents(amount: Decimal | str | None, currency: str) -> str:
    # A missing template variable arrives as "" (a refused request's notification carries no amount).
    return "" if amount is None or amount == "" else money_exact(amount, currency)


@register.filter
def history_of(histories: dict, partner_id: int) -> object:
    """The review queues' history of one partner (a dict lookup the template language lacks)."""
    return histories.get(partner_id)


@register.simple_tag
def rebate_sentence(rebates: object) -> str:
    """ "$1,240 accrued this period at 2 %" (whole units, as a partner reads a running total)."""
    return rebate_accrued_sentence(rebates)
