"""Rebates in words, the same on the dashboard and the Funds page."""

from django.utils.translation import gettext as _

from funds.selectors import PartnerRebates
from funds.services import percent_text
from loyalty.wording import money_exact


def rebate_accrued_sentence(rebates: PartnerRebates | None) -> str:
    if rebates is None:
        return ""
    amount = money_exact(rebates.accrued, rebates.currency)
    if rebates.rate:
        return _("%(amount)s accrued in %(period)s at %(rate)s %%") % {
            "amount": amount,
            "period": rebates.period.name,
            "rate": percent_text(rebates.rate),
        }
    return _("%(amount)s accrued in %(period)s") % {"amount": amount, "period": rebates.period.name}
