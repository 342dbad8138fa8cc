"""The server-rendered pages of a tenant's site."""

from collections.abc import Callable
from datetime import UTC, timedelta
from decimal import Decimal

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy

from badges.selectors import partner_badges
from enablement.selectors import onboarding_entry, partner_checklist
from engagement.selectors import announcements_banner, announcements_banner_entry
from funds.selectors import fund_period_current, partner_fund_usage, partner_rebates_get
from loyalty.ledger.models import LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import POINTS_VERSION_FIELDS, PartnerPoints, points_movements_by_partner
from loyalty.ledger.wording import MOVEMENT_LABELS, points_expiring_sentence, signed_points
from loyalty.tenancy.caching import ENTRY_SECONDS, generation, prefetch
from loyalty.tenancy.models import PARTNER_ROLES, Membership, Role
from loyalty.tenancy.permissions import membership_required
from loyalty.translations import content_version, content_version_key, names_replaced, names_translated
from notifications.selectors import notifications_unread_entry
from partners.models import ActivityKind, Claim, Partner
from portal.fragments import Fragments, sql_columns
from tiers.models import Criterion, Metric, PartnerScore, PartnerTier
from tiers.selectors import STANDING_VERSION_FIELDS, PartnerStatus, partner_standing_get, partner_status_get
from tiers.wording import criterion_forecast_text, forecast_sentences, gap_sentence, progress_text

TREND_WIDTH, TREND_HEIGHT = 320, 80
EXPIRING_WINDOW_DAYS = 90


@membership_required()
def home(request: HttpRequest) -> HttpResponse:
    """Each member's landing page: their partner, their portfolio, or the program at a glance."""
    membership = request.membership
    if membership.role == Role.FINANCE:
        return redirect("portal:finance")
    if membership.role not in PARTNER_ROLES:
        # Staff start where their work is: the program dashboard and its queues, or the account manager's worklist.
        return redirect("portal:program" if membership.is_program_staff else "portal:portfolio")
    partner = membership.partner
    # What the page asks of the cache besides its fragment, in one round trip: the header's unread count, the
    # banner, the checklist's settings, the badges' generation and the program's words' version.
    found = prefetch(
        [
            notifications_unread_entry(user=request.user),
            announcements_banner_entry(user=request.user),
            onboarding_entry(),
        ],
        families=["badges"],
        keys=[content_version_key(partner.tenant_id)],
    )
    context = _dashboard(partner, currency=request.tenant.currency, is_partner_member=True, found=found)
    context["is_partner_member"] = True
    context["unread_announcements"] = announcements_banner(user=request.user)
    context["checklist"] = partner_checklist(partner=partner)  # onboarding, until done
    return render(request, "portal/home.html", context)


def _criteria_rows(status: PartnerStatus, currency: str) -> tuple[list[dict], dict[int, str]]:
    """One progress bar per criterion of the best track, with its value and target in words."""
    if status.score is None:
        return [], {}
    found = Criterion.objects.filter(pk__in=[row["criterion"] for row in status.score.breakdown]).values_list(
        "pk", "activity_kind", "label", "translations"
    )
    kinds = {pk: kind for pk, kind, _label, _translations in found}
    labels = names_translated(((pk, label, translations) for pk, _kind, label, translations in found), "label")
    forecasts = {row["criterion"]: row for row in (status.score.forecast or {}).get("criteria", [])}
    rows = []
    for row in status.score.breakdown:
        value, target = Decimal(row["value"]), Decimal(row["target"])
        kind = kinds.get(row["criterion"], "")
        rows.append(
            {
                "criterion": row["criterion"],
                "label": labels.get(row["criterion"], row["label"]),
                "value": min(value, target),
                "target": target,
                "text": progress_text(row["metric"], kind, value, target, currency),
                "contribution": row["contribution"],
                "forecast": criterion_forecast_text(row=forecasts[row["criterion"]], currency=currency)
                if row["criterion"] in forecasts
                else "",
            }
        )
    return rows, kinds


def _trend_points(status: PartnerStatus) -> str:
    """SVG polyline points for the monthly scores (0–100 mapped onto the chart's height)."""
    count = len(status.trend)
    if count < 2:
        return ""
    step = TREND_WIDTH / (count - 1)
    return " ".join(
        f"{index * step:.1f},{TREND_HEIGHT - float(min(score, 100)) / 100 * TREND_HEIGHT:.1f}"
        for index, (_day, score) in enumerate(status.trend)
    )


def _movements(partner: Partner) -> list[tuple[str, str]]:
    """Every kind of movement since the account opened, signed, in the order that adds up to the balance."""
    totals = points_movements_by_partner(partner_ids=[partner.pk]).get(partner.pk, {})
    return [(label, signed_points(totals.get(kind, 0))) for kind, label in MOVEMENT_LABELS.items()]


# Where a partner records what a criterion counts: (URL name, claim type or "", link text), by metric and kind.
WAYS_IN = {
    (Metric.DEAL_REGISTRATIONS, ""): ("portal:deals-new", "", gettext_lazy("Register a deal")),
    (Metric.REVENUE, ""): ("portal:claims-new", Claim.Type.SALE, gettext_lazy("Claim a sale")),
    (Metric.REVENUE_GROWTH, ""): ("portal:claims-new", Claim.Type.SALE, gettext_lazy("Claim a sale")),
    (Metric.VALID_CERTIFICATIONS, ""): (
        "portal:claims-new",
        Claim.Type.CERTIFICATION,
        gettext_lazy("Claim a certification"),
    ),
    (Metric.ACTIVITY_COUNT, ActivityKind.SALE): ("portal:claims-new", Claim.Type.SALE, gettext_lazy("Claim a sale")),
    (Metric.ACTIVITY_COUNT, ActivityKind.TRAINING): (
        "portal:claims-new",
        Claim.Type.TRAINING,
        gettext_lazy("Claim a training"),
    ),
    (Metric.ACTIVITY_COUNT, ActivityKind.CERTIFICATION): (
        "portal:claims-new",
        Claim.Type.CERTIFICATION,
        gettext_lazy("Claim a certification"),
    ),
    (Metric.ACTIVITY_COUNT, ActivityKind.MARKETING): (
        "portal:claims-new",
        Claim.Type.MARKETING,
        gettext_lazy("Claim marketing participation"),
    ),
    (Metric.ACTIVITY_COUNT, ActivityKind.REFERRAL): (
        "portal:claims-new",
        Claim.Type.REFERRAL,
        gettext_lazy("Claim a referral"),
    ),
    (Metric.ACTIVITY_COUNT, ActivityKind.DEAL_REGISTRATION): ("portal:deals-new", "", gettext_lazy("Register a deal")),
}


def _ways_in(status: PartnerStatus, kinds: dict[int, str]) -> list[tuple[str, str]]:
    """Links (href, text) to the pages that record what the criteria short of the next tier count, once each."""
    if status.score is None or not status.score.gaps.get("next_tier"):
        return []
    links: dict[str, str] = {}
    for item in status.score.gaps.get("criteria", []):
        way = WAYS_IN.get((item["metric"], kinds.get(item["criterion"], "")))
        if way is None:
            continue
        url_name, claim_type, text = way
        href = reverse(url_name) + (f"?type={claim_type}" if claim_type else "")
        links.setdefault(href, str(text))
    return list(links.items())


def _in_readers_words(status: PartnerStatus, criterion_labels: dict[int, str]) -> tuple[dict, dict]:
    """The latest score's gaps and forecast with tier and criterion names in the reader's language (the score
    stored the program's)."""
    if status.score is None:
        return {}, {}
    tier_names = {tier.pk: tier.i18n.name for tier in status.tiers}
    gaps = names_replaced(status.score.gaps or {}, tier_names)
    gaps = names_replaced(gaps, criterion_labels, id_key="criterion", name_key="label")
    return gaps, names_replaced(status.score.forecast or {}, tier_names)


# Fragments of the dashboard are cached under the versions of what they show (`{% fragment %}` in portal/home.html),
# so an entry or a score changes the key and never the cached text; a day bounds how long an unread one is kept.
FRAGMENT_SECONDS = 24 * 3600


def _lazy(compute: Callable[[], object]) -> SimpleLazyObject:
    """Computed on first use, at most once: only when a fragment is rendered rather than read from the cache."""
    return SimpleLazyObject(compute)


def _dashboard_versions(partner_id: int, *, within_days: int) -> tuple[str, str, PartnerPoints]:
    """The versions of a partner's standing and of its points, and the points themselves (as `partner_points_get`
    gives them), in one query of plain SQL (no ORM to compile).

    Standing: the tier state's fields that `partner_standing_get` makes its version of (`STANDING_VERSION_FIELDS`),
    and the count, last id and last computation time of the partner's scores (a new score, a replaced one or a
    deleted one moves it; published tier models never change). Points: the account's fields `partner_points_get`
    makes its version of (`POINTS_VERSION_FIELDS`), and the points expiring within the window from now with the
    first expiry (they move with the clock as well as with postings). The same lists as those selectors read, so
    every writer that changes those changes these (tests/portal/test_dashboard_versions.py).
    """
    now = timezone.now()
    tables = {
        "state": PartnerTier._meta.db_table,
        "score": PartnerScore._meta.db_table,
        "account": PointsAccount._meta.db_table,
        "lot": PointsLot._meta.db_table,
        "state_columns": sql_columns(PartnerTier, STANDING_VERSION_FIELDS, alias="state"),
        "account_columns": sql_columns(PointsAccount, POINTS_VERSION_FIELDS, alias="account"),
    }
    sql = """
        SELECT {state_columns}, scores.score_count, scores.score_last, scores.score_computed, {account_columns},
               (SELECT SUM(lot.remaining) FROM {lot} lot WHERE lot.account_id = account.id AND lot.remaining > 0
                  AND lot.expires_at > %s AND lot.expires_at <= %s),
               (SELECT MIN(lot.expires_at) FROM {lot} lot WHERE lot.account_id = account.id AND lot.remaining > 0
                  AND lot.expires_at > %s AND lot.expires_at <= %s),
               account.id, account.balance, account.lifetime_earned, account.lifetime_redeemed
        FROM (SELECT COUNT(*) AS score_count, MAX(id) AS score_last, MAX(computed_at) AS score_computed
              FROM {score} WHERE partner_id = %s) scores
        LEFT JOIN {state} state ON state.partner_id = %s
        LEFT JOIN {account} account ON account.partner_id = %s
    """.format(**tables)  # noqa: S608 - table and column names from the models, values as parameters
    until = now + timedelta(days=within_days)
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, until, now, until, partner_id, partner_id, partner_id])
        row = cursor.fetchone()
    values = ["" if value is None else str(value) for value in row]
    standing_end = len(STANDING_VERSION_FIELDS) + 3
    points_end = standing_end + len(POINTS_VERSION_FIELDS) + 2
    standing, points_version = ".".join(values[:standing_end]), ".".join(values[standing_end:points_end])
    expiring, first_expiry = row[points_end - 2 : points_end]
    account_id, balance, earned, redeemed = row[points_end:]
    if account_id is None:
        return standing, points_version, PartnerPoints(0, 0, 0, 0, None)
    if isinstance(first_expiry, str):  # SQLite answers plain SQL's timestamps as text (UTC)
        first_expiry = parse_datetime(first_expiry).replace(tzinfo=UTC)
    points = PartnerPoints(
        balance, earned, redeemed, expiring or 0, first_expiry, account_id=account_id, version=points_version
    )
    return standing, points_version, points


def _dashboard(partner: Partner, *, currency: str, is_partner_member: bool = False, found: dict | None = None) -> dict:
    """A partner's dashboard: tier, progress and gaps, points, benefits, trend, recent movements, team and badges.

    The whole of it is one fragment (`dashboard`, portal/home.html) kept under everything it shows: the versions of
    the partner's standing and points (`_dashboard_versions`: one query), the badges' generation and the tenancy
    cache's (the team: a member's rename bumps it too, `User.save`), the reader's language, time zone, date, the
    currency and the program's words; it lives `ENTRY_SECONDS`. A warm dashboard is that query and
    one cache read. On a miss the parts are fragments of their own under the narrower versions (one cache read for
    them all, portal/fragments.py) and everything else is lazy: read only by what is rendered. The use of funds and
    the rebates accrued stay live (`{% hole %}`): money moves apart from points.
    """
    standing_versions, points_version, points = _dashboard_versions(partner.pk, within_days=EXPIRING_WINDOW_DAYS)
    standing = _lazy(lambda: partner_standing_get(partner=partner))
    status = _lazy(lambda: partner_status_get(partner=partner, standing=standing))
    criteria_and_kinds = _lazy(lambda: _criteria_rows(status, currency))
    labels = _lazy(lambda: {row["criterion"]: row["label"] for row in criteria_and_kinds[0]})
    words = _lazy(lambda: _in_readers_words(status, labels))  # the score's gaps and forecast, names translated
    state = _lazy(lambda: standing.state)
    tier = _lazy(lambda: standing.state.tier if standing.state else None)
    # Everything a cached fragment's text depends on besides the data: language, time zone, date (the trend's
    # window), currency, and whether the links for partner members are shown.
    setting = ".".join(
        [
            str(partner.tenant_id),
            translation.get_language() or "",
            timezone.get_current_timezone_name(),
            timezone.localdate().isoformat(),
            currency,
            str(int(is_partner_member)),
            content_version(partner.tenant_id, found=found),  # the program's words: a translation changes the key
        ]
    )
    standing_version, ledger_version = f"{setting}.{standing_versions}", f"{setting}.{points_version}"
    memberships = generation()  # None: not cacheable now (loyalty/tenancy/caching.py), the team is read live
    badges = generation(family="badges")
    whole = None
    if memberships is not None and badges is not None:
        whole = f"{standing_version}.{points_version}.{memberships}.{badges}"
    page = f"dashboard.{partner.pk}"
    fragments = Fragments(
        page=page,
        versions={
            "tier-card": (standing_version, FRAGMENT_SECONDS),
            "movements": (ledger_version, FRAGMENT_SECONDS),
            "progress": (standing_version, FRAGMENT_SECONDS),
            "benefits": (standing_version, FRAGMENT_SECONDS),
            "next-and-trend": (standing_version, FRAGMENT_SECONDS),
            "recent": (ledger_version, FRAGMENT_SECONDS),
            "team": (None if memberships is None else f"{setting}.{memberships}", ENTRY_SECONDS),
        },
    )
    # On a miss the ladder the status read (its benefits prefetched) names them: no query of its own on a cold page.
    entitlements = _lazy(lambda: fragments.value("benefits", lambda: status.entitlements))
    return {
        "partner": partner,
        "state": state,
        "tier": tier,
        "status": status,
        "points": points,
        "expiring_sentence": _lazy(
            lambda: points_expiring_sentence(
                points=points.expiring_soon, first_expiry=points.first_expiry, within_days=EXPIRING_WINDOW_DAYS
            )
        ),
        "movements": _lazy(lambda: _movements(partner)),
        "criteria": _lazy(lambda: criteria_and_kinds[0]),
        "gap": _lazy(
            lambda: gap_sentence(gaps=words[0], kinds=criteria_and_kinds[1], currency=currency) if status.score else ""
        ),
        "unmet_gates": _lazy(lambda: words[0].get("gates", [])),
        "ways_in": _lazy(lambda: _ways_in(status, criteria_and_kinds[1])),
        "forecast": _lazy(lambda: forecast_sentences(forecast=words[1], currency=currency) if status.score else []),
        "trend_points": _lazy(lambda: _trend_points(status)),
        "trend_size": (TREND_WIDTH, TREND_HEIGHT),
        "recent": _lazy(
            lambda: list(LedgerEntry.objects.filter(account_id=points.account_id).order_by("-created_at", "-pk")[:5])
        ),
        "badges": _lazy(lambda: partner_badges(partner=partner)),
        "team": _lazy(
            lambda: list(
                Membership.objects.filter(partner=partner, is_active=True).select_related("user").order_by("pk")
            )
        ),
        "entitlements": entitlements,
        # How much of the tier's market development funds is used this period, and the rebates accrued: read only
        # when the tier grants them (the template asks for them beside such a benefit, in a hole: live).
        "fund_usage": _lazy(lambda: partner_fund_usage(partner=partner)),
        "rebates": _lazy(lambda: partner_rebates_get(partner=partner, period=fund_period_current())),
        "fragments": fragments,
        "dashboard_fragment": Fragments(page=page, versions={"dashboard": (whole, ENTRY_SECONDS)}),
    }
