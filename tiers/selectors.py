"""Reads of partners' tiers."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.bulk import AnyOf
from loyalty.ledger.selectors import points_expiring_by_partner
from loyalty.tenancy.context import current_tenant
from loyalty.translations import content_version, reader_language
from partners.models import Activity, Partner
from tiers.models import EvaluationRun, PartnerScore, PartnerTier, Tier, TierBenefit, TierChange, TierModel
from tiers.wording import entitlement_label, gate_phrase


def partner_point_multipliers(*, partner_ids: Iterable[int]) -> dict[int, Decimal]:
    """The point multiplier of each partner's current tier, in one query (1 for a partner without a tier)."""
    multipliers = dict.fromkeys(partner_ids, Decimal(1))
    states = PartnerTier.objects.filter(AnyOf("partner_id", multipliers)).values_list(
        "partner_id", "tier__point_multiplier"
    )
    multipliers.update(states)
    return multipliers


def partner_point_multiplier(*, partner: Partner) -> Decimal:
    """The point multiplier of the partner's current tier (1 until the partner has one)."""
    return partner_point_multipliers(partner_ids=[partner.pk])[partner.pk]


@dataclass(frozen=True)
class Entitlement:
    """A typed tier benefit as services and faces read it; `label` is the sentence shown to a person."""

    kind: str
    value: Decimal | None
    currency: str
    text: str
    label: str

    def as_dict(self) -> dict[str, str | None]:
        """For the API and webhooks: the value as a decimal string, so an ERP applies it to the cent."""
        value = None if self.value is None else str(self.value)
        return {"kind": self.kind, "value": value, "currency": self.currency, "text": self.text, "label": self.label}


def _entitlement(benefit: TierBenefit) -> Entitlement:
    fields = {"kind": benefit.kind, "value": benefit.value, "currency": benefit.currency, "text": benefit.text}
    return Entitlement(**fields, label=entitlement_label(**(fields | {"text": benefit.i18n.text})))


def tier_entitlements(*, tier: Tier) -> list[Entitlement]:
    """The tier's benefits in the order staff set (one query, or none when `benefits` was prefetched)."""
    return [_entitlement(benefit) for benefit in tier.benefits.all()]


def partner_entitlements(*, partner: Partner) -> list[Entitlement]:
    """What the partner's current tier grants (nothing until the partner has a tier)."""
    current_tier = PartnerTier.objects.filter(partner=partner).values("tier_id")
    benefits = TierBenefit.objects.filter(tier_id__in=current_tier).order_by("position", "pk")
    return [_entitlement(benefit) for benefit in benefits]


def partner_entitlement_value(*, partner: Partner, kind: str) -> Decimal | None:
    """The value of one kind of entitlement for the partner's current tier; None when the tier does not grant it.

    When a tier lists a kind twice, the larger value counts (a tier cannot take away what it also gives).
    """
    values = [entitlement.value for entitlement in partner_entitlements(partner=partner) if entitlement.kind == kind]
    present = [value for value in values if value is not None]
    return max(present) if present else None


@dataclass(frozen=True)
class PartnerStatus:
    """Everything the portal shows about a partner's tier: current state, latest score and what comes next."""

    state: PartnerTier | None
    score: PartnerScore | None
    tiers: list[Tier]  # of the model that scored the partner, lowest first
    next_tier: Tier | None
    downgrade_on: date | None  # when a pending downgrade applies, if the partner does not recover
    trend: list[tuple[date, Decimal]]  # month-end nightly scores, oldest first

    @property
    def tier(self) -> Tier | None:
        return self.state.tier if self.state else None

    @property
    def entitlements(self) -> list[Entitlement]:
        """The current tier's benefits (from the prefetched ladder when the partner sits on it)."""
        tier = next((tier for tier in self.tiers if self.state and tier.pk == self.state.tier_id), self.tier)
        return tier_entitlements(tier=tier) if tier else []

    @property
    def next_entitlements(self) -> list[Entitlement]:
        return tier_entitlements(tier=self.next_tier) if self.next_tier else []


def tier_names_by_rank(*, ranks: Iterable[int] | None = None) -> dict[int, str]:
    """Rank → tier name, for rewards and forms that refer to a tier by its rank: the active model's names win,
    then the newest model's (a rank only a draft has still gets a name). One query."""
    tiers = Tier.objects.all() if ranks is None else Tier.objects.filter(rank__in=set(ranks))
    rows = tiers.values_list("rank", "name", "translations", "model__status", "model__version")
    language = reader_language()
    return {
        rank: (translations or {}).get(language, {}).get("name") or name
        for rank, name, translations, _status, _version in sorted(rows, key=lambda row: (row[3] == "active", row[4]))
    }


@dataclass(frozen=True)
class PartnerStanding:
    """A partner's tier state (tier and model joined) and a version of everything `partner_status_get` reads for
    it: the version changes whenever the state does or any of the partner's scores is written, replaced or
    removed (published tier models never change), so what is computed from them can be cached under it."""

    state: PartnerTier | None
    version: str


# The tier state's fields its standing's version is made of (with the scores'): all the portal shows of the state.
# portal/views.py `_dashboard_versions` reads the same list.
STANDING_VERSION_FIELDS = ("id", "tier", "since", "below_since", "pinned_tier", "pinned_until")


def partner_standing_get(*, partner: Partner) -> PartnerStanding:
    """The partner's tier state and its standing's version: one query (two for a partner without a tier yet)."""
    scores = PartnerScore.objects.filter(partner=partner).order_by().values("partner")
    fingerprint = {
        "score_count": Subquery(scores.annotate(value=Count("pk")).values("value")),
        "score_last": Subquery(scores.annotate(value=Max("pk")).values("value")),
        "score_computed": Subquery(scores.annotate(value=Max("computed_at")).values("value")),
    }
    state = PartnerTier.objects.filter(partner=partner).select_related("tier__model").annotate(**fingerprint).first()
    if state is not None:
        scored = [state.score_count, state.score_last, state.score_computed]
        values = [getattr(state, PartnerTier._meta.get_field(name).attname) for name in STANDING_VERSION_FIELDS]
    else:
        scored = list(Partner.objects.filter(pk=partner.pk).annotate(**fingerprint).values_list(*fingerprint).get())
        values = ["no tier"]
    return PartnerStanding(state, ".".join(str(value) for value in values + scored))


LADDER_SECONDS = 3600


def tier_ladder(*, model_id: int, is_published: bool = False) -> list[Tier]:
    """The model's tiers, lowest rank first, with their benefits prefetched (two queries).

    An active or retired model's tiers and benefits never change (only a draft's are edited: tiers/admin.py,
    `tier_model_draft_save`), but their words may be translated: so its ladder, the same for every partner on it,
    is kept in the cache under the program content's version (loyalty/translations.py), an hour at most.
    """

    def read() -> list[Tier]:
        return list(Tier.objects.filter(model_id=model_id).order_by("rank").prefetch_related("benefits"))

    if not is_published:
        return read()
    tenant_id = current_tenant().pk
    key = f"tier-ladder.{connection.settings_dict['NAME']}.{tenant_id}.{model_id}.{content_version(tenant_id)}"
    tiers = cache.get(key)
    if tiers is None or any(tier.tenant_id != tenant_id or tier.model_id != model_id for tier in tiers):
        tiers = read()
        cache.set(key, tiers, LADDER_SECONDS)
    return tiers


def partner_status_get(*, partner: Partner, months: int = 12, standing: PartnerStanding | None = None) -> PartnerStatus:
    """The partner's tier, latest score (nightly or instant), the next tier, a pending downgrade and the trend.

    `standing` (from `partner_standing_get`) saves reading the tier state again."""
    if standing is None:
        state = PartnerTier.objects.filter(partner=partner).select_related("tier__model").first()
        standing = PartnerStanding(state, "")
    state = standing.state
    score = (
        PartnerScore.objects.filter(partner=partner)
        .select_related("tier", "qualified_tier", "pathway")
        .order_by("-evaluated_on", "-computed_at")
        .first()
    )
    model_id = score.tier_model_id if score else (state.tier.model_id if state else None)
    # The partner's tier names its model's status (joined): an active or retired model's ladder is never edited
    # again (a scheduled one may go back to draft), so it is read from the cache.
    is_published = (
        state is not None
        and state.tier.model_id == model_id
        and state.tier.model.status in {TierModel.Status.ACTIVE, TierModel.Status.RETIRED}
    )
    tiers = tier_ladder(model_id=model_id, is_published=is_published) if model_id else []
    current_rank = state.tier.rank if state else 0
    next_tier = next((tier for tier in tiers if tier.rank > current_rank), None)
    downgrade_on = None
    if state and state.below_since and state.tier.model_id == model_id:
        downgrade_on = state.below_since + timedelta(days=state.tier.model.grace_days)
    since = timezone.localdate() - timedelta(days=31 * months)
    history = (
        PartnerScore.objects.filter(partner=partner, source=PartnerScore.Source.NIGHTLY, evaluated_on__gte=since)
        .order_by("evaluated_on")
        .values_list("evaluated_on", "score")
    )
    # One point a month: the last nightly score of each month.
    by_month: dict[tuple[int, int], tuple[date, Decimal]] = {}
    for evaluated_on, value in history:
        by_month[(evaluated_on.year, evaluated_on.month)] = (evaluated_on, value)
    return PartnerStatus(state, score, tiers, next_tier, downgrade_on, list(by_month.values()))


@dataclass(frozen=True)
class TierCount:
    tier: Tier | None  # None: active partners without a tier yet
    count: int


def tier_distribution() -> list[TierCount]:
    """Active partners without a tier yet (if any), then per current tier, lowest rank first (three queries)."""
    counts = dict(
        PartnerTier.objects.filter(partner__status=Partner.Status.ACTIVE)
        .values_list("tier_id")
        .annotate(count=Count("pk"))
    )
    tiers = Tier.objects.filter(pk__in=counts).order_by("rank", "model_id")
    without = Partner.objects.filter(status=Partner.Status.ACTIVE, tier_states__isnull=True).count()
    rows = [TierCount(tier, counts[tier.pk]) for tier in tiers]
    return [TierCount(None, without), *rows] if without else rows


@dataclass(frozen=True)
class TierMigration:
    """How partners moved between the tiers of two completed evaluations: counts[(from id, to id)]."""

    previous_on: date | None
    latest_on: date | None
    tiers: list[Tier]  # every tier on either side, lowest rank first
    counts: dict[tuple[int | None, int | None], int]

    def moved(self, *, up: bool) -> int:
        ranks = {tier.pk: tier.rank for tier in self.tiers}
        return sum(
            count
            for (before, after), count in self.counts.items()
            if before is not None
            and after is not None
            and (ranks[after] > ranks[before] if up else ranks[after] < ranks[before])
        )


def tier_migration() -> TierMigration:
    """The tier matrix between the last two completed evaluation runs (by evaluated_on); three queries.

    Reads the nightly scores' tiers (after the downgrade policy), so a partner in its grace period stays put.
    Partners scored in only one of the runs count from or to None.
    """
    runs = list(
        EvaluationRun.objects.filter(status=EvaluationRun.Status.COMPLETED)
        .order_by("-evaluated_on")
        .values_list("evaluated_on", flat=True)[:2]
    )
    if len(runs) < 2:
        return TierMigration(None, runs[0] if runs else None, [], {})
    latest_on, previous_on = runs
    nightly = PartnerScore.objects.filter(source=PartnerScore.Source.NIGHTLY)
    previous_tier = nightly.filter(partner=OuterRef("partner"), evaluated_on=previous_on).values("tier_id")[:1]
    rows = (
        nightly.filter(evaluated_on=latest_on)
        .annotate(previous=Subquery(previous_tier))
        .values_list("previous", "tier_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = {(before, after): count for before, after, count in rows}
    # Partners scored in the previous run only (left the program, suspended) leave towards None.
    gone = (
        nightly.filter(evaluated_on=previous_on)
        .exclude(partner__in=nightly.filter(evaluated_on=latest_on).values("partner"))
        .values_list("tier_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for before, count in gone:
        counts[(before, None)] = count
    ids = {tier_id for pair in counts for tier_id in pair if tier_id is not None}
    tiers = list(Tier.objects.filter(pk__in=ids).order_by("rank", "model_id"))
    return TierMigration(previous_on, latest_on, tiers, counts)


def partner_score_history(*, partner: Partner, limit: int = 24) -> list[PartnerScore]:
    """The partner's latest stored evaluations (nightly and instant), newest first."""
    return list(
        PartnerScore.objects.filter(partner=partner)
        .select_related("tier", "qualified_tier")
        .order_by("-evaluated_on", "-computed_at")[:limit]
    )


def partner_tier_changes(*, partner: Partner, limit: int = 20) -> list[TierChange]:
    """The partner's moves between tiers, newest evaluation date first (the date the list shows), with who made a
    manual one."""
    return list(
        TierChange.objects.filter(partner=partner)
        .select_related("from_tier", "to_tier", "actor")
        .order_by("-evaluated_on", "-created_at", "-pk")[:limit]
    )


# The flag definitions (docs/portal.md, "Flags"); the worklist and the program dashboard both read them here.
NEAR_UPGRADE_SHARE = Decimal("0.9")  # within 10 % of the next tier's minimum score (and of each of its gates)
DORMANT_DAYS = 60  # no approved activity for this long
RECENT_DAYS = 30  # "activity in the last 30 days" ...
BASELINE_MONTHS = 6  # ... against the monthly average of the six 30-day months before them
TREND_DAYS = 90  # the score "about three months ago": the last nightly score at least this old
EXPIRING_DAYS = 90
CENT = Decimal("0.01")


class Risk:
    """Why a partner is at risk, in words for staff."""

    QUALIFIES_LOWER = _("qualifies for a lower tier")
    IN_GRACE = _("in its grace period")
    ACTIVITY_DOWN = _("activity below its 6-month average")


@dataclass
class PartnerHealth:
    """One partner as the worklist shows it; every number is computed for many partners at once."""

    partner: Partner
    tier: Tier | None
    next_tier: Tier | None
    score: Decimal | None
    score_before: Decimal | None  # the last nightly score at least TREND_DAYS old
    last_activity_at: datetime | None
    days_since_activity: int | None
    recent_activities: int
    baseline_activities: int  # in the BASELINE_MONTHS × 30 days before the recent 30
    points_expiring: int
    near_upgrade: bool = False
    # From the latest score's forecast (tiers/forecasts.py): the next tier within 90 days at the partner's pace;
    # at that pace, what leaves the window takes it below its tier within 90 days.
    on_pace_for_upgrade: bool = False
    at_risk_by_rolloff: bool = False
    risks: list[str] = field(default_factory=list)
    # The next tier's unmet gates, in words, when the score alone already reaches it ("2 valid certifications").
    blocked_by: list[str] = field(default_factory=list)

    @property
    def trend(self) -> Decimal | None:
        if self.score is None or self.score_before is None:
            return None
        return self.score - self.score_before

    @property
    def percent_to_next(self) -> int | None:
        """The score as a whole percentage of the next tier's minimum (rounded down, at most 100)."""
        if self.score is None or self.next_tier is None:
            return None
        if self.next_tier.minimum_score <= 0:
            return 100
        share = self.score * 100 / self.next_tier.minimum_score
        return min(100, int(share.to_integral_value(ROUND_FLOOR)))

    @property
    def at_risk(self) -> bool:
        return bool(self.risks)

    @property
    def dormant(self) -> bool:
        return self.days_since_activity is None or self.days_since_activity >= DORMANT_DAYS

    @property
    def flags(self) -> list[str]:
        return [
            name
            for name, is_set in (
                ("near_upgrade", self.near_upgrade),
                ("on_pace", self.on_pace_for_upgrade),
                ("at_risk", self.at_risk),
                ("rolloff_risk", self.at_risk_by_rolloff),
                ("dormant", self.dormant),
            )
            if is_set
        ]


def _gates_near(score: PartnerScore, next_tier: Tier) -> bool:
    """Every gate of the next tier is met or within 10 %: the stored gaps list the unmet ones with their values."""
    gaps = score.gaps or {}
    if (gaps.get("next_tier") or {}).get("id") != next_tier.pk:
        return True  # the gaps were computed against another tier: only the score can be judged
    return all(
        Decimal(gate["value"]) >= NEAR_UPGRADE_SHARE * Decimal(gate["minimum"]) for gate in gaps.get("gates", [])
    )


def _approved_activities(**filters) -> QuerySet[Activity]:
    return Activity.objects.filter(partner=OuterRef("pk"), status=Activity.Status.APPROVED, **filters)


def _count(activities: QuerySet[Activity]) -> Coalesce:
    return Coalesce(Subquery(activities.order_by().values("partner").annotate(count=Count("pk")).values("count")), 0)


def partner_health_list(*, partners: QuerySet[Partner]) -> list[PartnerHealth]:
    """The health of these partners (active ones only), in five queries whatever their number.

    Partners with their activity counts and latest scores as subqueries; the latest scores' gaps; tier states;
    the tiers of the models involved; points expiring. Flags follow docs/portal.md.
    """
    now = timezone.now()
    today = timezone.localdate()
    recent_start = now - timedelta(days=RECENT_DAYS)
    baseline_start = recent_start - timedelta(days=30 * BASELINE_MONTHS)
    latest = PartnerScore.objects.filter(partner=OuterRef("pk")).order_by("-evaluated_on", "-computed_at")
    before = PartnerScore.objects.filter(
        partner=OuterRef("pk"),
        source=PartnerScore.Source.NIGHTLY,
        evaluated_on__lte=today - timedelta(days=TREND_DAYS),
    ).order_by("-evaluated_on")
    rows = list(
        partners.filter(status=Partner.Status.ACTIVE)
        .select_related("partner_type", "account_manager")
        .annotate(
            latest_score_id=Subquery(latest.values("pk")[:1]),
            score_before=Subquery(before.values("score")[:1]),
            last_activity_at=Subquery(_approved_activities().order_by("-occurred_at").values("occurred_at")[:1]),
            recent_activities=_count(_approved_activities(occurred_at__gte=recent_start)),
            baseline_activities=_count(
                _approved_activities(occurred_at__gte=baseline_start, occurred_at__lt=recent_start)
            ),
        )
        .order_by("name", "pk")
    )
    ids = [partner.pk for partner in rows]
    scores = {
        score.partner_id: score
        for score in PartnerScore.objects.filter(
            pk__in=[row.latest_score_id for row in rows if row.latest_score_id]
        ).defer("breakdown")
    }
    states = {
        state.partner_id: state for state in PartnerTier.objects.filter(partner_id__in=ids).select_related("tier")
    }
    model_ids = {score.tier_model_id for score in scores.values()} | {state.tier.model_id for state in states.values()}
    tiers: dict[int, list[Tier]] = {}
    for tier in Tier.objects.filter(model_id__in=model_ids).order_by("rank"):
        tiers.setdefault(tier.model_id, []).append(tier)
    expiring = points_expiring_by_partner(partner_ids=ids, within_days=EXPIRING_DAYS)
    return [_health(row, scores.get(row.pk), states.get(row.pk), tiers, expiring.get(row.pk, 0), today) for row in rows]


def _health(
    row: Partner,
    score: PartnerScore | None,
    state: PartnerTier | None,
    tiers: dict[int, list[Tier]],
    expiring: int,
    today: date,
) -> PartnerHealth:
    """One partner's numbers and flags from the rows loaded for all (no query)."""
    # The next tier as the partner's dashboard names it: of the model that last scored it, above its current tier.
    model_id = score.tier_model_id if score else (state.tier.model_id if state else None)
    ladder = tiers.get(model_id, [])
    current_rank = state.tier.rank if state else 0
    next_tier = next((tier for tier in ladder if tier.rank > current_rank), None)
    last = row.last_activity_at
    health = PartnerHealth(
        partner=row,
        tier=state.tier if state else None,
        next_tier=next_tier,
        score=score.score if score else None,
        # Through a subquery, SQLite returns the decimal without its scale: give it back its two places.
        score_before=row.score_before.quantize(CENT) if row.score_before is not None else None,
        last_activity_at=last,
        days_since_activity=(today - timezone.localtime(last).date()).days if last else None,
        recent_activities=row.recent_activities,
        baseline_activities=row.baseline_activities,
        points_expiring=expiring,
    )
    if score is None:
        return health
    qualified_rank = next((tier.rank for tier in ladder if tier.pk == score.qualified_tier_id), 0)
    # Near: holds its tier on merit, and the score (and each gate) is within 10 % of the next tier's minimum.
    health.near_upgrade = (
        next_tier is not None
        and qualified_rank == current_rank
        and score.score >= NEAR_UPGRADE_SHARE * next_tier.minimum_score
        and _gates_near(score, next_tier)
    )
    forecast = score.forecast or {}
    health.on_pace_for_upgrade = next_tier is not None and bool(forecast.get("on_pace_for_upgrade"))
    health.at_risk_by_rolloff = state is not None and bool(forecast.get("at_risk_by_rolloff"))
    gaps = score.gaps or {}
    if (
        next_tier is not None
        and score.score >= next_tier.minimum_score
        and (gaps.get("next_tier") or {}).get("id") == next_tier.pk
    ):
        currency = current_tenant().currency
        health.blocked_by = [gate_phrase(gate, currency) for gate in gaps.get("gates", [])]
    is_pinned = state is not None and state.is_pinned_on(today)
    if state is not None and qualified_rank < current_rank and not is_pinned:
        health.risks.append(Risk.QUALIFIES_LOWER)
    if state is not None and state.below_since is not None:
        health.risks.append(Risk.IN_GRACE)
    # recent < baseline / BASELINE_MONTHS, in integers.
    if row.recent_activities * BASELINE_MONTHS < row.baseline_activities:
        health.risks.append(Risk.ACTIVITY_DOWN)
    return health
