"""Numbers and gaps in plain words, for partners: "$12,400 more in sales, or 2 more certifications, reaches Gold"."""

from decimal import ROUND_CEILING, Decimal

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.wording import money
from tiers.models import BenefitKind, Metric

# "N more …" for each kind, spelled out so that translators see every string.
KIND_MORE = {
    "sale": lambda count: ngettext("%(count)s more sale", "%(count)s more sales", count),
    "deal_registration": lambda count: ngettext(
        "%(count)s more deal registration", "%(count)s more deal registrations", count
    ),
    "training": lambda count: ngettext("%(count)s more training", "%(count)s more trainings", count),
    "certification": lambda count: ngettext("%(count)s more certification", "%(count)s more certifications", count),
    "marketing": lambda count: ngettext(
        "%(count)s more marketing activity", "%(count)s more marketing activities", count
    ),
    "referral": lambda count: ngettext("%(count)s more referral", "%(count)s more referrals", count),
    "custom": lambda count: ngettext("%(count)s more activity", "%(count)s more activities", count),
}
# The same kinds, counted.
KIND_COUNTS = {
    "sale": lambda count: ngettext("%(count)s sale", "%(count)s sales", count),
    "deal_registration": lambda count: ngettext("%(count)s deal registration", "%(count)s deal registrations", count),
    "training": lambda count: ngettext("%(count)s training", "%(count)s trainings", count),
    "certification": lambda count: ngettext("%(count)s certification", "%(count)s certifications", count),
    "marketing": lambda count: ngettext("%(count)s marketing activity", "%(count)s marketing activities", count),
    "referral": lambda count: ngettext("%(count)s referral", "%(count)s referrals", count),
    "custom": lambda count: ngettext("%(count)s activity", "%(count)s activities", count),
}


def _counted_kind(metric: str, kind: str) -> str:
    if metric == Metric.VALID_CERTIFICATIONS:
        return "certification"
    if metric == Metric.DEAL_REGISTRATIONS:
        return "deal_registration"
    return kind if kind in KIND_COUNTS else "custom"


def metric_amount(metric: str, kind: str, value: Decimal | str, currency: str) -> str:
    """A metric value as a partner reads it: $180,000, 3 certifications, 12 % growth, 4,500 points."""
    number = Decimal(value)
    count = int(number.to_integral_value(rounding=ROUND_CEILING))
    if metric == Metric.REVENUE:
        return money(number, currency)
    if metric == Metric.REVENUE_GROWTH:
        return _("%(value)s %% growth") % {"value": intcomma(count)}
    if metric == Metric.POINTS_EARNED:
        return ngettext("%(count)s point", "%(count)s points", count) % {"count": intcomma(count)}
    return KIND_COUNTS[_counted_kind(metric, kind)](count) % {"count": count}


def progress_text(metric: str, kind: str, value: Decimal | str, target: Decimal | str, currency: str) -> str:
    """ "$180,000 / $300,000" or "1 / 6 trainings"."""
    if metric == Metric.REVENUE:
        return f"{money(value, currency)} / {money(target, currency)}"
    shown = int(Decimal(value).to_integral_value(rounding=ROUND_CEILING))
    return f"{intcomma(shown)} / {metric_amount(metric, kind, target, currency)}"


def increase_phrase(metric: str, kind: str, increase: str, currency: str) -> str:
    """ "$12,400 more in sales", "2 more certifications"."""
    count = int(Decimal(increase).to_integral_value(rounding=ROUND_CEILING))
    if metric == Metric.REVENUE:
        return _("%(amount)s more in sales") % {"amount": money(increase, currency)}
    if metric == Metric.REVENUE_GROWTH:
        return _("%(value)s more points of growth") % {"value": intcomma(count)}
    if metric == Metric.POINTS_EARNED:
        return ngettext("%(count)s more point earned", "%(count)s more points earned", count) % {
            "count": intcomma(count)
        }
    return KIND_MORE[_counted_kind(metric, kind)](count) % {"count": count}


def gap_sentence(*, gaps: dict, kinds: dict[int, str], currency: str) -> str:
    """The engine's gap to the next tier in words; empty at the top tier."""
    next_tier = gaps.get("next_tier")
    if not next_tier:
        return ""
    options = [
        increase_phrase(item["metric"], kinds.get(item["criterion"], ""), item["increase"], currency)
        for item in gaps.get("criteria", [])
        if item.get("alone")
    ]
    gates = [
        _("%(label)s (you have %(value)s)") % {"label": gate["label"], "value": intcomma(int(Decimal(gate["value"])))}
        for gate in gaps.get("gates", [])
    ]
    name = next_tier["name"]
    if options:
        sentence = _("%(options)s reaches %(tier)s.") % {"options": _(", or ").join(options), "tier": name}
    elif Decimal(gaps.get("score_needed", "0")) > 0:
        sentence = _("No single criterion reaches %(tier)s on its own: grow several together.") % {"tier": name}
    else:
        sentence = _("Your score already qualifies for %(tier)s.") % {"tier": name}
    if gates:
        sentence += " " + _("%(tier)s also needs: %(gates)s.") % {"tier": name, "gates": "; ".join(gates)}
    return sentence[0].upper() + sentence[1:]


def entitlement_label(*, kind: str, value: Decimal | None, currency: str, text: str) -> str:
    """A tier benefit as a partner reads it: "3 % rebate on approved sales", "Deals protected for 120 days"."""
    if kind == BenefitKind.MDF_ALLOCATION and value is not None:
        sentence = _("%(amount)s of market development funds per period") % {"amount": money(value, currency)}
    elif kind == BenefitKind.REBATE_RATE and value is not None:
        sentence = _("%(rate)s %% rebate on approved sales") % {"rate": _number(value)}
    elif kind == BenefitKind.DISCOUNT_RATE and value is not None:
        sentence = _("%(rate)s %% discount on purchases") % {"rate": _number(value)}
    elif kind == BenefitKind.DEAL_PROTECTION_DAYS and value is not None:
        days = int(value)
        sentence = ngettext("Deals protected for %(days)s day", "Deals protected for %(days)s days", days) % {
            "days": intcomma(days)
        }
    elif kind == BenefitKind.SUPPORT_LEVEL:
        return _("Support: %(level)s") % {"level": text} if text else _("Priority support")
    elif kind == BenefitKind.EARLY_ACCESS:
        return text or _("Early access to new products")
    else:
        return text
    return f"{sentence} — {text}" if text else sentence


def _number(value: Decimal) -> str:
    """A rate without needless decimals: 3, 2.5."""
    shown = value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    return formats.number_format(shown, use_l10n=True)
