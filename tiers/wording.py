"""Numbers and gaps in plain words, for partners: "$12,400 more in sales, or 2 more certifications, reaches Gold"."""

from datetime import date
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


def gate_phrase(gate: dict, currency: str) -> str:
    """An unmet gate as the system words it in the reader's language, from its metric and minimum: "2 valid
    certifications", "$50,000" (the label staff typed is one language's; the stored figures are every one's)."""
    count = int(Decimal(gate["minimum"]).to_integral_value(rounding=ROUND_CEILING))
    if gate["metric"] == Metric.VALID_CERTIFICATIONS:
        return ngettext("%(count)s valid certification", "%(count)s valid certifications", count) % {"count": count}
    return metric_amount(gate["metric"], gate.get("kind", ""), gate["minimum"], currency)


def gates_phrase(gates: list[dict], currency: str) -> str:
    """Several unmet gates in one phrase: "2 valid certifications; 3 trainings"."""
    return "; ".join(gate_phrase(gate, currency) for gate in gates)


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
        _("%(label)s (you have %(value)s)")
        % {"label": gate_phrase(gate, currency), "value": intcomma(int(Decimal(gate["value"])))}
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


def _day(value: str) -> str:
    """An ISO date as a partner reads it: "March 14", "14 de marzo"."""
    return formats.date_format(date.fromisoformat(value), "MONTH_DAY_FORMAT")


def _score(value: str) -> str:
    """A score as the dashboard shows it: 39.68, 39,68 in Spanish."""
    return formats.number_format(Decimal(value), 2, use_l10n=True)


def _leaving_phrase(leaving: dict, currency: str) -> str:
    if leaving["metric"] == Metric.REVENUE:
        return _("%(amount)s of sales") % {"amount": money(leaving["amount"], currency)}
    return metric_amount(leaving["metric"], leaving.get("kind", ""), leaving["amount"], currency)


def forecast_sentences(*, forecast: dict, currency: str) -> list[str]:
    """The stored forecast in words: when the next tier comes at the partner's pace, and what the window's roll-off
    does without new activity. Empty when there is no forecast (a score from before forecasts)."""
    if not forecast:
        return []
    sentences = []
    next_tier = forecast.get("next_tier")
    if next_tier:
        name = next_tier["name"]
        if forecast.get("reaches_on"):
            sentences.append(
                _("At your pace of the last 90 days you reach %(tier)s around %(day)s.")
                % {"tier": name, "day": _day(forecast["reaches_on"])}
            )
        elif forecast.get("score_reaches_on") and forecast.get("gates_blocking"):
            sentences.append(
                _(
                    "At your pace of the last 90 days your score reaches %(tier)s around %(day)s, "
                    "but %(tier)s also needs %(gates)s."
                )
                % {
                    "tier": name,
                    "day": _day(forecast["score_reaches_on"]),
                    "gates": gates_phrase(forecast["gates_blocking"], currency),
                }
            )
        elif forecast.get("rolling"):
            sentences.append(
                _("At your pace of the last 90 days you do not reach %(tier)s within the next 12 months.")
                % {"tier": name}
            )
        else:
            sentences.append(
                _("At your pace of the last 90 days you do not reach %(tier)s within this window.") % {"tier": name}
            )
    rolloff = forecast.get("rolloff") or {}
    if rolloff.get("below_on") and rolloff.get("tier_after_grace"):
        values = {"tier": rolloff["tier_after_grace"]["name"], "day": _day(rolloff["drop_on"])}
        leaving = rolloff.get("leaving")
        if leaving:
            values |= {
                "amount": _leaving_phrase(leaving, currency),
                "by": _day(leaving["by"]),
                "score": _score(rolloff.get("score_after", rolloff["score"])),
            }
            sentences.append(
                _(
                    "%(amount)s leaves your 12-month window by %(by)s; without new activity your score falls to "
                    "%(score)s and you would drop to %(tier)s after the grace period, on %(day)s."
                )
                % values
            )
        else:
            sentences.append(
                _("Without new activity your score falls to %(score)s and you would drop to %(tier)s on %(day)s.")
                % (values | {"score": _score(rolloff["score"])})
            )
    return sentences


def criterion_forecast_text(*, row: dict, currency: str) -> str:
    """One criterion's pace and next roll-off: "Last 90 days: $15,000; $40,000 leaves the window by April 1"."""
    if not row.get("additive"):
        return _("Counted as it stands today: it does not grow with your pace.")
    metric, kind = row["metric"], row.get("kind", "")
    recent = Decimal(row["recent"])
    text = _("Last 90 days: %(amount)s") % {
        "amount": money(recent, currency) if metric == Metric.REVENUE else metric_amount(metric, kind, recent, currency)
    }
    rolloff = row.get("next_rolloff")
    if rolloff:
        leaving = {"metric": metric, "kind": kind, "amount": rolloff["amount"]}
        text += "; " + _("%(amount)s leaves the window by %(day)s") % {
            "amount": _leaving_phrase(leaving, currency),
            "day": _day(rolloff["on"]),
        }
    return text
