"""Writes of the tier engine: evaluations (nightly and instant), the downgrade policy, pins and publishing."""

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.bulk import columns_insert, columns_insert_new
from loyalty.events import event_emit
from loyalty.streams import streams_run
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.translations import translations_by_text, translations_without
from partners.models import Partner
from tiers.engine import Evaluation, LoadedTier, Scorecard, evaluate_partners, scorecard_load
from tiers.forecasts import forecasts_for_chunk
from tiers.metrics import Window, qualification_window
from tiers.models import (
    Criterion,
    EvaluationRun,
    Metric,
    PartnerScore,
    PartnerTier,
    Pathway,
    Tier,
    TierBenefit,
    TierChange,
    TierGate,
    TierModel,
)
from tiers.scoring_sql import chunk_score, chunk_scores_insert
from tiers.validation import CriterionDraft, PathwayDraft, TierDraft, draft_problems, model_validate

# Partners per chunk (and per transaction): larger chunks mean fewer commits and round trips, smaller ones finer
# progress and fan-out. At 5,000 (the default of TIERLINE_EVALUATION_CHUNK_SIZE) a chunk takes a second or two
# (bench/README.md).
CHUNK_SIZE = settings.TIERLINE_EVALUATION_CHUNK_SIZE
# The nightly run scores in SQL on PostgreSQL (tiers/scoring_sql.py); False runs the engine there too (the property
# test compares both paths' writes; a way back should the SQL path ever be in doubt).
NIGHTLY_SCORING_IN_SQL = True


def tier_model_for(*, evaluated_on: date) -> TierModel | None:
    """The model in force on a date: a scheduled one from its date (even before the nightly switch has run), else
    the active one from its effective date, before that the one it replaced."""
    models = TierModel.objects.exclude(status=TierModel.Status.DRAFT).filter(effective_from__lte=evaluated_on)
    due = models.filter(status=TierModel.Status.SCHEDULED).first()
    active = models.filter(status=TierModel.Status.ACTIVE).first()
    return (
        due
        or active
        or models.filter(status=TierModel.Status.RETIRED, published_at__isnull=False)
        .order_by("-effective_from", "-version")
        .first()
    )


@dataclass(frozen=True)
class Decision:
    tier: LoadedTier | None
    below_since: date | None
    cause: str | None  # a TierChange cause when the tier moves


def tier_decide(
    *, scorecard: Scorecard, state: PartnerTier | None, qualified: LoadedTier | None, window: Window, instant: bool
) -> Decision:
    """Apply pins and the downgrade policy to a qualified tier. Upgrades are immediate; downgrades wait."""
    evaluated_on = window.evaluated_on
    move = TierChange.Cause.INSTANT if instant else TierChange.Cause.EVALUATION
    if state is None or scorecard.tier_by_id(state.tier_id) is None:
        cause = TierChange.Cause.MODEL_CHANGE if state is not None else move
        held_rank = getattr(state, "held_rank", None)
        is_pinned = state is not None and state.is_pinned_on(evaluated_on)
        if held_rank is not None and (is_pinned or qualified is None or qualified.rank < held_rank):
            # A new model places the partner lower: it keeps the new model's tier at the rank it held, "below"
            # from today, and the model's publication policy (grace, or protection) decides when it drops.
            # A pin holds that rank either way, up or down, and nothing is pending while it lasts.
            kept = held_tier(scorecard=scorecard, rank=held_rank)
            if kept is not None:
                return Decision(kept, None if is_pinned else evaluated_on, cause)
        return Decision(qualified, None, cause if qualified is not None else None)
    current = scorecard.tier_by_id(state.tier_id)
    if state.is_pinned_on(evaluated_on):
        return Decision(current, state.below_since, None)
    if qualified is not None and qualified.rank >= current.rank:
        return Decision(qualified, None, move if qualified.rank > current.rank else None)
    if instant:
        return Decision(current, state.below_since, None)
    below_since = state.below_since or evaluated_on
    model = scorecard.model
    if model.publication_downgrades == TierModel.PublicationDowngrades.PROTECT and evaluated_on <= protection_end(
        model=model
    ):
        return Decision(current, below_since, None)
    grace_over = evaluated_on - below_since >= timedelta(days=model.grace_days)
    at_window_end = evaluated_on >= window.last_day
    if not grace_over or (model.downgrade == TierModel.Downgrade.WINDOW_END and not at_window_end):
        return Decision(current, below_since, None)
    if model.downgrade == TierModel.Downgrade.ONE_STEP:
        lower = [tier for tier in scorecard.tiers if tier.rank < current.rank]
        target = lower[-1] if lower else None
        if qualified is not None and target is not None and qualified.rank > target.rank:
            target = qualified
    else:
        target = qualified
    if target is None:
        return Decision(current, below_since, None)
    still_above_qualified = qualified is None or target.rank > qualified.rank
    return Decision(target, below_since if still_above_qualified else None, move)


def held_tier(*, scorecard: Scorecard, rank: int) -> LoadedTier | None:
    """The tier of `scorecard` that keeps a partner who held `rank` under another model: the one at that rank, or
    the highest below it when the model has fewer tiers (the evaluation's and the simulation's rule)."""
    return next((tier for tier in reversed(scorecard.tiers) if tier.rank <= rank), None)


def protection_end(*, model: TierModel) -> date:
    """The last day of the model's first qualification window: until then a model published with "protect current
    tiers" moves no one down (a rolling window's first one ends a year after the effective date)."""
    if model.window == TierModel.Window.ROLLING_12_MONTHS:
        return model.effective_from + relativedelta(years=1) - timedelta(days=1)
    return qualification_window(model=model, evaluated_on=model.effective_from, time_zone="UTC").last_day


@dataclass
class ChunkResult:
    evaluated: int = 0
    upgrades: int = 0
    downgrades: int = 0


@dataclass
class EvaluationBatch:
    """The tier states and changes one chunk writes, in bulk, at the end."""

    tenant_id: int
    now: datetime
    result: ChunkResult = field(default_factory=ChunkResult)
    new_states: dict[str, list] = field(
        default_factory=lambda: {"tenant_id": [], "partner_id": [], "tier_id": [], "since": []}
    )
    changed_states: list[PartnerTier] = field(default_factory=list)
    changes: dict[str, list] = field(
        default_factory=lambda: {"partner_id": [], "from_tier_id": [], "to_tier_id": [], "cause": [], "score_id": []}
    )

    def changes_insert(self, *, evaluated_on: date) -> list[TierChange]:
        """Write the changes in one statement and return them as instances, for webhooks and notifications."""
        columns = self.changes
        size = len(columns["partner_id"])
        columns |= {"tenant_id": [self.tenant_id] * size, "evaluated_on": [evaluated_on] * size}
        columns |= {"created_at": [self.now] * size}
        ids = columns_insert(TierChange, columns)
        # Built from the rows just written, as if read back: cheaper than 100,000 keyword constructions.
        names = [field.attname for field in TierChange._meta.concrete_fields]
        rows = zip(*([ids] + [columns[name] for name in names[1:]]), strict=True)
        return [TierChange.from_db(connection.alias, names, row) for row in rows]


@transaction.atomic
def partners_evaluate(
    *,
    scorecard: Scorecard,
    partner_ids: list[int],
    evaluated_on: date,
    source: str = PartnerScore.Source.NIGHTLY,
    run: EvaluationRun | None = None,
) -> ChunkResult:
    """Evaluate a chunk and write scores, tier states and tier changes in bulk: a constant number of queries.

    Nightly: a score already written for the day is kept (the insert skips it on the unique constraint) and only
    the partners scored now move, so a re-run or a redelivered chunk adds nothing.
    Instant: today's instant score is replaced, upgrades apply, downgrades wait for the nightly policy.
    """
    instant = source == PartnerScore.Source.INSTANT
    # Lock the chunk's active partners (reading their types): two copies of a chunk (a redelivery, a manual run,
    # an instant re-score) then run one after the other, and the second finds every score already written.
    partners = list(
        Partner.objects.select_for_update()
        .filter(pk__in=partner_ids, status=Partner.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", "partner_type_id")
    )
    if instant:
        PartnerScore.objects.filter(partner_id__in=partner_ids, evaluated_on=evaluated_on, source=source).delete()
    batch = EvaluationBatch(tenant_id=current_tenant().pk, now=timezone.now())
    if not partners:
        return batch.result
    window = qualification_window(
        model=scorecard.model, evaluated_on=evaluated_on, time_zone=current_tenant().time_zone
    )
    # The nightly run scores in SQL (tiers/scoring_sql.py; breakdown and gaps stay in the database); instant
    # re-scores, and SQLite, run the engine, the reference implementation.
    in_sql = NIGHTLY_SCORING_IN_SQL and not instant and connection.vendor == "postgresql"
    if in_sql:
        evaluations = chunk_score(scorecard=scorecard, partners=partners, window=window)
    else:
        evaluations = evaluate_partners(scorecard=scorecard, partners=partners, window=window)
    states = {
        state.partner_id: state
        for state in PartnerTier.objects.filter(partner_id__in=evaluations).annotate(held_rank=F("tier__rank"))
    }
    decisions = {
        partner_id: tier_decide(
            scorecard=scorecard,
            state=states.get(partner_id),
            qualified=evaluation.qualified_tier,
            window=window,
            instant=instant,
        )
        for partner_id, evaluation in evaluations.items()
    }
    forecasts = forecasts_for_chunk(
        scorecard=scorecard,
        partners=partners,
        window=window,
        evaluations=evaluations,
        held={partner_id: decision.tier for partner_id, decision in decisions.items()},
    )
    if in_sql:
        score_ids = chunk_scores_insert(
            scorecard=scorecard,
            tier_ids={
                partner_id: decision.tier.id if decision.tier else None for partner_id, decision in decisions.items()
            },
            forecasts=forecasts,
            evaluated_on=evaluated_on,
            source=source,
            run_id=run.pk if run else None,
            now=batch.now,
            tenant_id=batch.tenant_id,
        )
    else:
        score_ids = _scores_insert(
            evaluations=evaluations,
            decisions=decisions,
            forecasts=forecasts,
            scorecard=scorecard,
            evaluated_on=evaluated_on,
            source=source,
            run=run,
            now=batch.now,
        )
    for partner_id, score_id in score_ids.items():
        _apply_decision(
            scorecard=scorecard,
            partner_id=partner_id,
            state=states.get(partner_id),
            decision=decisions[partner_id],
            evaluated_on=evaluated_on,
            score_id=score_id,
            batch=batch,
        )
    batch.result.evaluated = len(score_ids)
    columns_insert(PartnerTier, batch.new_states)
    PartnerTier.objects.bulk_update(batch.changed_states, ["tier", "since", "below_since"])
    changes = batch.changes_insert(evaluated_on=evaluated_on)
    event_emit("tier.changed", changes=changes)
    result = batch.result
    if run is not None and result.evaluated:
        EvaluationRun.objects.filter(pk=run.pk).update(
            progressed_at=timezone.now(),
            done=F("done") + result.evaluated,
            upgrades=F("upgrades") + result.upgrades,
            downgrades=F("downgrades") + result.downgrades,
        )
    return result


def _scores_insert(
    *,
    evaluations: dict[int, Evaluation],
    decisions: dict[int, Decision],
    forecasts: dict[int, dict],
    scorecard: Scorecard,
    evaluated_on: date,
    source: str,
    run: EvaluationRun | None,
    now: datetime,
) -> dict[int, int]:
    """Write the chunk's scores in one statement, skipping any already written; partner id → id of those written."""
    size = len(evaluations)
    rows = evaluations.values()
    return columns_insert_new(
        PartnerScore,
        {
            "tenant_id": [current_tenant().pk] * size,
            "partner_id": list(evaluations),
            "evaluated_on": [evaluated_on] * size,
            "source": [source] * size,
            "tier_model_id": [scorecard.model.pk] * size,
            "pathway_id": [evaluation.pathway_id for evaluation in rows],
            "score": [evaluation.score for evaluation in rows],
            "qualified_tier_id": [
                evaluation.qualified_tier.id if evaluation.qualified_tier else None for evaluation in rows
            ],
            "tier_id": [decision.tier.id if decision.tier else None for decision in decisions.values()],
            "breakdown": [evaluation.breakdown for evaluation in rows],
            "gaps": [evaluation.gaps for evaluation in rows],
            "forecast": [forecasts[partner_id] for partner_id in evaluations],
            "run_id": [run.pk if run else None] * size,
            "computed_at": [now] * size,
        },
        key="partner",
    )


def _apply_decision(
    *,
    scorecard: Scorecard,
    partner_id: int,
    state: PartnerTier | None,
    decision: Decision,
    evaluated_on: date,
    score_id: int,
    batch: EvaluationBatch,
) -> None:
    """Fold one decision into the chunk's bulk writes: the partner's tier state and, when it moves, a change."""
    if decision.tier is None:
        return
    previous_tier_id = state.tier_id if state is not None else None
    previous = scorecard.tier_by_id(previous_tier_id) if previous_tier_id else None
    # Across a model change the tier held is the old model's: its rank (annotated when loaded) says up, down or
    # neither, and the since date moves only with the rank ("Gold since" stays true under a new model's Gold).
    previous_rank = previous.rank if previous is not None else getattr(state, "held_rank", None)
    if state is None:
        for name, value in (
            ("tenant_id", batch.tenant_id),
            ("partner_id", partner_id),
            ("tier_id", decision.tier.id),
            ("since", evaluated_on),
        ):
            batch.new_states[name].append(value)
    elif state.tier_id != decision.tier.id or state.below_since != decision.below_since:
        if previous_rank != decision.tier.rank:
            state.since = evaluated_on
        state.tier_id, state.below_since = decision.tier.id, decision.below_since
        batch.changed_states.append(state)
    if decision.cause is None or previous_tier_id == decision.tier.id:
        return
    if previous_rank is not None and previous_rank > decision.tier.rank:
        batch.result.downgrades += 1
    elif previous_rank is not None and previous_rank < decision.tier.rank:
        batch.result.upgrades += 1
    for name, value in (
        ("partner_id", partner_id),
        ("from_tier_id", previous_tier_id),
        ("to_tier_id", decision.tier.id),
        ("cause", decision.cause),
        ("score_id", score_id),
    ):
        batch.changes[name].append(value)


def evaluation_start(*, evaluated_on: date) -> tuple[EvaluationRun | None, list[list[int]]]:
    """Open (or reopen) the day's run and return the chunks of partners still to score.

    Idempotent and resumable: a finished run yields no chunks; a run cut off half-way yields only the rest.
    """
    model = tier_model_for(evaluated_on=evaluated_on)
    if model is None:
        return None, []
    active_ids = list(Partner.objects.filter(status=Partner.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))
    run, _created = EvaluationRun.objects.get_or_create(
        evaluated_on=evaluated_on, defaults={"tier_model": model, "total": len(active_ids)}
    )
    scored = set(
        PartnerScore.objects.filter(evaluated_on=evaluated_on, source=PartnerScore.Source.NIGHTLY).values_list(
            "partner_id", flat=True
        )
    )
    missing = [partner_id for partner_id in active_ids if partner_id not in scored]
    EvaluationRun.objects.filter(pk=run.pk).update(
        total=len(active_ids),
        done=len(active_ids) - len(missing),
        status=EvaluationRun.Status.RUNNING,
        progressed_at=timezone.now(),
    )
    if not missing:
        evaluation_finish(run=run)
    run.refresh_from_db()
    return run, [missing[start : start + CHUNK_SIZE] for start in range(0, len(missing), CHUNK_SIZE)]


def evaluation_chunk(*, run: EvaluationRun, partner_ids: list[int]) -> ChunkResult:
    """Score one chunk of a run and close the run when it was the last."""
    try:
        result = partners_evaluate(
            scorecard=scorecard_load(model=run.tier_model),
            partner_ids=partner_ids,
            evaluated_on=run.evaluated_on,
            run=run,
        )
    except Exception as error:
        EvaluationRun.objects.filter(pk=run.pk).exclude(status=EvaluationRun.Status.COMPLETED).update(
            status=EvaluationRun.Status.FAILED
        )
        run.refresh_from_db()
        run.errors = [*run.errors, f"{type(error).__name__}: {error}"][-20:]
        run.save(update_fields=["errors"])
        raise
    evaluation_finish(run=run)
    return result


def evaluation_chunks_inline(*, run: EvaluationRun, chunks: list[list[int]], streams: int) -> None:
    """Run a run's chunks in this process. In `streams` threads when that applies (PostgreSQL, more than one chunk,
    not inside a transaction): each thread has its own connection, and each chunk its own transaction, as two
    Celery workers would run them; while one chunk's statements run in PostgreSQL (psycopg2 lets go of the
    interpreter), another's forecasts run in Python. Chunks are independent (their own partners, locked; the run's
    counters are `F()` updates), so the rows written are the same in any order. After a chunk fails, no thread
    starts another; the first failure (in chunk order) is raised once every taken chunk has ended."""
    if streams < 2 or len(chunks) < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        for chunk in chunks:
            evaluation_chunk(run=run, partner_ids=chunk)
        return
    run.tier_model  # noqa: B018 - loaded once here, as the first chunk would, and copied with the run
    taking = threading.Lock()
    waiting = iter(enumerate(chunks))
    failures: dict[int, BaseException] = {}

    def stream() -> None:
        try:
            while True:
                with taking:
                    taken = None if failures else next(waiting, None)
                if taken is None:
                    return
                number, chunk = taken
                try:
                    evaluation_chunk(run=copy.copy(run), partner_ids=chunk)  # a failure writes to its own copy
                except Exception as error:
                    with taking:
                        failures[number] = error
                    return
        finally:
            connection.close()  # this thread's own

    def interrupted(interruption: BaseException) -> None:  # a time limit: no new chunk, the taken ones end first
        with taking:
            failures[-1] = interruption

    streams_run(stream, count=min(streams, len(chunks)), interrupted=interrupted)
    if failures:
        raise failures[min(failures)]


def evaluation_finish(*, run: EvaluationRun) -> None:
    EvaluationRun.objects.filter(pk=run.pk, done__gte=F("total")).exclude(status=EvaluationRun.Status.COMPLETED).update(
        status=EvaluationRun.Status.COMPLETED, finished_at=timezone.now()
    )


@dataclass(frozen=True)
class EvaluationSummary:
    evaluated: int
    upgrades: int
    downgrades: int
    seconds: float


def evaluation_runs_resume_stalled(
    *, stall_minutes: int, dispatch: Callable[[EvaluationRun, list[int]], object]
) -> list[EvaluationRun]:
    """Re-send the missing chunks of the current tenant's running runs that have not moved for `stall_minutes`.

    A worker killed mid-run takes its reserved message with it until the broker's visibility timeout (an hour in
    production); this finds such a run from its last progress instead (issue 17, item 31). Idempotent: each run
    is claimed by moving its `progressed_at` to now in one conditional UPDATE, so two watchdogs (or a second tick)
    never re-send the same run twice, and a chunk sent twice scores nobody twice (`partners_evaluate` skips the
    partners already scored for the day). Returns the runs resumed.
    """
    now = timezone.now()
    cutoff = now - timedelta(minutes=stall_minutes)
    resumed = []
    stalled = EvaluationRun.objects.filter(status=EvaluationRun.Status.RUNNING, progressed_at__lt=cutoff)
    for run in stalled.order_by("evaluated_on"):
        claimed = EvaluationRun.objects.filter(pk=run.pk, progressed_at=run.progressed_at).update(progressed_at=now)
        if not claimed:
            continue  # another watchdog took it, or a chunk just moved it
        reopened, chunks = evaluation_start(evaluated_on=run.evaluated_on)
        if reopened is None:
            continue
        note = _("No progress for %(minutes)s minutes: re-sent %(chunks)s chunk(s) of %(missing)s partner(s).") % {
            "minutes": stall_minutes,
            "chunks": len(chunks),
            "missing": sum(len(chunk) for chunk in chunks),
        }
        reopened.errors = [*reopened.errors, note][-20:]
        reopened.save(update_fields=["errors"])
        for chunk in chunks:
            dispatch(reopened, chunk)
        resumed.append(reopened)
    return resumed


def tenant_evaluate(
    *, evaluated_on: date, dispatch: Callable[[EvaluationRun, list[int]], object] | None = None
) -> EvaluationSummary | None:
    """Evaluate every partner of the current tenant for a date, chunk by chunk through `dispatch`.

    The nightly task dispatches chunks to Celery; the `evaluate` command runs them in place (no `dispatch`:
    `evaluation_chunks_inline`). None when no tier model is in force on that date.
    """
    started = time.monotonic()
    tier_models_activate_due(on=evaluated_on)
    run, chunks = evaluation_start(evaluated_on=evaluated_on)
    if dispatch is None:
        if run is not None:
            evaluation_chunks_inline(run=run, chunks=chunks, streams=settings.EVALUATION_STREAMS)
    else:
        for chunk in chunks:
            dispatch(run, chunk)
    if run is None:
        return None
    run.refresh_from_db()
    return EvaluationSummary(run.done, run.upgrades, run.downgrades, time.monotonic() - started)


def partner_rescore(*, partner: Partner) -> PartnerScore | None:
    """Re-score one partner now (after an approved activity): upgrades apply at once, downgrades wait."""
    today = timezone.localdate()
    model = tier_model_for(evaluated_on=today)
    if model is None:
        return None
    partners_evaluate(
        scorecard=scorecard_load(model=model),
        partner_ids=[partner.pk],
        evaluated_on=today,
        source=PartnerScore.Source.INSTANT,
    )
    return PartnerScore.objects.filter(partner=partner, evaluated_on=today, source=PartnerScore.Source.INSTANT).first()


@transaction.atomic
def tier_model_publish(*, model: TierModel, actor: User) -> TierModel:
    """Publish a draft after the shared rules (`tiers.validation`).

    Effective today or earlier: it becomes active now and the previous active one is retired, kept for audit.
    Effective later: it is **scheduled** and the model in force stays active until the nightly run of that date
    (`tier_models_activate_due`). A model already scheduled goes back to draft: one plan waits at a time.
    """
    locked = TierModel.objects.select_for_update().get(pk=model.pk)
    if locked.status != TierModel.Status.DRAFT:
        raise ValidationError(_("Only a draft can be published."))
    model_validate(model=locked)
    superseded = TierModel.objects.select_for_update().filter(status=TierModel.Status.SCHEDULED).first()
    if superseded is not None:
        superseded.status, superseded.published_at, superseded.published_by = TierModel.Status.DRAFT, None, None
        superseded.save(update_fields=["status", "published_at", "published_by"])
    scheduled = locked.effective_from > timezone.localdate()
    if not scheduled:
        TierModel.objects.filter(status=TierModel.Status.ACTIVE).update(status=TierModel.Status.RETIRED)
    locked.status = TierModel.Status.SCHEDULED if scheduled else TierModel.Status.ACTIVE
    locked.published_at, locked.published_by = timezone.now(), actor
    locked.save(update_fields=["status", "published_at", "published_by"])
    if not scheduled:
        _pins_follow(model=locked, on=timezone.localdate())
    return locked


@transaction.atomic
def tier_models_activate_due(*, on: date) -> TierModel | None:
    """The nightly switch: a scheduled model whose date has come becomes active and the active one is retired.

    Idempotent: nothing is due the second time. Returns the model activated, if any.
    """
    due = (
        TierModel.objects.select_for_update().filter(status=TierModel.Status.SCHEDULED, effective_from__lte=on).first()
    )
    if due is None:
        return None
    TierModel.objects.filter(status=TierModel.Status.ACTIVE).update(status=TierModel.Status.RETIRED)
    due.status = TierModel.Status.ACTIVE
    due.save(update_fields=["status"])
    _pins_follow(model=due, on=on)
    return due


def _pins_follow(*, model: TierModel, on: date) -> None:
    """Running pins name the tier in force of the rank they hold once `model` comes into force (the tier the runs
    keep them at, `held_tier`), so the admin names that tier and the pin's form, whose choices are the active
    model's tiers, shows it. A pin ended before `on` keeps the tier it held, as history."""
    tiers = list(model.tiers.order_by("rank").values_list("rank", "pk"))
    pinned = PartnerTier.objects.filter(pinned_tier__isnull=False, pinned_until__gte=on).exclude(
        pinned_tier__model=model
    )
    for rank in pinned.values_list("pinned_tier__rank", flat=True).distinct().order_by():
        kept = next((pk for tier_rank, pk in reversed(tiers) if tier_rank <= rank), None)
        if kept is not None:
            pinned.filter(pinned_tier__rank=rank).update(pinned_tier_id=kept)


@transaction.atomic
def partner_tier_pin(*, partner: Partner, tier: Tier, until: date, reason: str, actor: User) -> PartnerTier:
    """Hold a partner at a tier until a date, whatever the evaluations say; the move is recorded."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the tier is pinned.")})
    if until < timezone.localdate():
        raise ValidationError({"until": _("A pin ends today or later.")})
    if tier.model.status != TierModel.Status.ACTIVE:
        raise ValidationError({"tier": _("Pin to a tier of the active model.")})
    state = PartnerTier.objects.select_for_update(of=("self",)).filter(partner=partner).select_related("tier").first()
    # Ranks, not ids: right after a publish the state still names the old model's tier, and a pin at the same rank
    # moves nothing ("Gold since" stays; the next run records the model change, as for any partner at that rank).
    moves = state is None or state.tier.rank != tier.rank
    previous_tier_id = state.tier_id if state else None
    if state is None:
        state = PartnerTier(partner=partner, tier=tier, since=timezone.localdate())
    elif moves:
        state.tier, state.since = tier, timezone.localdate()
    state.pinned_tier, state.pinned_until, state.pin_reason, state.pinned_by = tier, until, reason, actor
    state.below_since = None
    state.save()
    if moves:
        change = TierChange.objects.create(
            partner=partner,
            from_tier_id=previous_tier_id,
            to_tier=tier,
            cause=TierChange.Cause.PIN,
            evaluated_on=timezone.localdate(),
            actor=actor,
            note=reason,
        )
        event_emit("tier.changed", changes=[change])
    return state


@transaction.atomic
def tier_model_draft_start(*, source: TierModel) -> TierModel:
    """A draft copied from `source` (tiers, benefits, gates, pathways, criteria), for the designer to edit.

    One working draft per source: when a draft copied from `source` exists it is returned, so a repeated "start"
    (a double click, a reload) never makes a second copy.
    """
    locked = TierModel.objects.select_for_update().get(pk=source.pk)
    existing = TierModel.objects.filter(status=TierModel.Status.DRAFT, copied_from=locked).order_by("-version").first()
    if existing is not None:
        return existing
    latest = TierModel.objects.order_by("-version").values_list("version", flat=True).first() or 0
    draft = TierModel.objects.create(
        name=locked.name,
        version=latest + 1,
        status=TierModel.Status.DRAFT,
        effective_from=timezone.localdate(),
        window=locked.window,
        fiscal_year_start_month=locked.fiscal_year_start_month,
        downgrade=locked.downgrade,
        grace_days=locked.grace_days,
        copied_from=locked,
    )
    for tier in locked.tiers.order_by("rank").prefetch_related("gates", "benefits"):
        copy = Tier.objects.create(
            model=draft,
            name=tier.name,
            rank=tier.rank,
            minimum_score=tier.minimum_score,
            point_multiplier=tier.point_multiplier,
            colour=tier.colour,
            translations=tier.translations,
        )
        TierGate.objects.bulk_create(
            TierGate(
                tenant=locked.tenant,
                tier=copy,
                label=gate.label,
                minimum=gate.minimum,
                metric=gate.metric,
                activity_kind=gate.activity_kind,
                code=gate.code,
                translations=gate.translations,
            )
            for gate in tier.gates.all()
        )
        TierBenefit.objects.bulk_create(
            TierBenefit(
                tenant=locked.tenant,
                tier=copy,
                kind=benefit.kind,
                value=benefit.value,
                currency=benefit.currency,
                text=benefit.text,
                position=benefit.position,
                translations=benefit.translations,
            )
            for benefit in tier.benefits.all()
        )
    for pathway in locked.pathways.order_by("pk").prefetch_related("criteria", "partner_types"):
        copy = Pathway.objects.create(model=draft, name=pathway.name, translations=pathway.translations)
        copy.partner_types.set(pathway.partner_types.all())
        Criterion.objects.bulk_create(
            Criterion(
                tenant=locked.tenant,
                pathway=copy,
                label=criterion.label,
                metric=criterion.metric,
                activity_kind=criterion.activity_kind,
                code=criterion.code,
                weight=criterion.weight,
                target=criterion.target,
                cap=criterion.cap,
                translations=criterion.translations,
            )
            for criterion in criteria_in_order(pathway)
        )
    return draft


def criteria_in_order(pathway: Pathway) -> list[Criterion]:
    return sorted(pathway.criteria.all(), key=lambda criterion: criterion.pk)


class DraftChangedError(ValidationError):
    """The draft was saved elsewhere (another tab, a colleague, the admin) since the page was opened."""


@dataclass(frozen=True)
class DraftSave:
    """What a page saves onto: the draft's revision when it was opened, and a fingerprint of what is typed."""

    revision: int
    fingerprint: str


@transaction.atomic
def tier_model_draft_save(
    *,
    model: TierModel,
    tiers: list[TierDraft],
    criteria: list[CriterionDraft],
    pathways: list[PathwayDraft] | None = None,
    onto: DraftSave | None = None,
) -> TierModel:
    """Save the designer's typed ladder (ranks by position, lowest first), gates, benefits and criteria onto a draft.

    The tiers must be the draft's own. With `pathways` (the designer's whole draft), the criteria rows are the whole
    list: new rows (id below 1) are created in the pathway they name, saved ones left out are deleted, and each
    pathway's partner types are set. The rules are those of publishing (`tiers.validation.draft_problems`).

    With `onto`, the draft must still be at that revision: else DraftChangedError, and nothing is written. The same
    typed content sent again after it was saved (a double click, back and resubmit) changes nothing and is no clash.
    """
    locked = TierModel.objects.select_for_update().get(pk=model.pk)
    if locked.status != TierModel.Status.DRAFT:
        raise ValidationError(_("Only a draft can be changed."))
    if onto is not None and onto.revision != locked.revision:
        if onto.revision == locked.revision - 1 and onto.fingerprint == locked.revision_fingerprint:
            return locked  # this very save, already made
        raise DraftChangedError(
            _(
                "Your changes were not saved: this draft was saved elsewhere (another tab or another person) since "
                "you opened it. Open the saved version to see it, then make your changes again."
            )
        )
    saved_tiers = {tier.pk: tier for tier in locked.tiers.all()}
    saved_criteria = {criterion.pk: criterion for criterion in Criterion.objects.filter(pathway__model=locked)}
    saved_pathways = {pathway.pk: pathway for pathway in locked.pathways.all()}
    typed_ids = {row.id for row in criteria if row.id > 0}
    if (
        sorted(row.id for row in tiers) != sorted(saved_tiers)
        or not typed_ids <= set(saved_criteria)
        or any(row.id <= 0 and row.pathway_id not in saved_pathways for row in criteria)
        or (pathways is not None and not {pathway.id for pathway in pathways} <= set(saved_pathways))
    ):
        raise ValidationError(_("The draft changed meanwhile: reload the page."))
    problems = [
        problem
        for problem in draft_problems(
            scorecard=scorecard_load(model=locked), tiers=tiers, criteria=criteria, pathways=pathways
        )
        if problem.blocking
    ]
    if problems:
        raise ValidationError([problem.message for problem in problems])
    # Ranks are unique per model: park them out of the way before giving the new ones.
    Tier.objects.filter(model=locked).update(rank=F("rank") + 1000)
    for rank, row in enumerate(tiers, start=1):
        tier = saved_tiers[row.id]
        if tier.name != row.name.strip():
            tier.translations = translations_without(tier.translations, "name")  # a renamed tier is translated anew
        tier.rank, tier.name, tier.minimum_score = rank, row.name.strip(), row.minimum_score
        tier.point_multiplier, tier.colour = row.point_multiplier, row.colour
        tier.save(update_fields=["rank", "name", "minimum_score", "point_multiplier", "colour", "translations"])
    # Benefits and gates are written anew: each keeps the translations of the saved one with the same text.
    benefit_words = translations_by_text(TierBenefit.objects.filter(tier__model=locked), owner="tier_id", field="text")
    TierBenefit.objects.filter(tier__model=locked).delete()
    TierBenefit.objects.bulk_create(
        TierBenefit(
            tenant=locked.tenant,
            tier=saved_tiers[row.id],
            kind=benefit.kind,
            value=benefit.value,
            currency=benefit.currency.upper(),
            text=benefit.text.strip(),
            position=position,
            translations=benefit_words.get((row.id, benefit.text.strip()), {}),
        )
        for row in tiers
        for position, benefit in enumerate(row.benefits)
    )
    typed_gates = [row for row in tiers if row.gates is not None]
    gate_words = translations_by_text(
        TierGate.objects.filter(tier_id__in=[row.id for row in typed_gates]), owner="tier_id", field="label"
    )
    TierGate.objects.filter(tier_id__in=[row.id for row in typed_gates]).delete()
    TierGate.objects.bulk_create(
        TierGate(
            tenant=locked.tenant,
            tier=saved_tiers[row.id],
            label=gate.label.strip(),
            metric=gate.metric,
            activity_kind=gate.activity_kind if gate.metric == Metric.ACTIVITY_COUNT else "",
            code=gate.code.strip(),
            minimum=gate.minimum,
            translations=gate_words.get((row.id, gate.label.strip()), {}),
        )
        for row in typed_gates
        for gate in row.gates
    )
    _criteria_save(locked=locked, criteria=criteria, saved=saved_criteria, whole_list=pathways is not None)
    for row in pathways or ():
        saved_pathways[row.id].partner_types.set(row.partner_type_ids)
    tier_model_draft_touched(model=locked, fingerprint=onto.fingerprint if onto else "")
    return locked


def tier_model_draft_touched(*, model: TierModel, fingerprint: str = "") -> None:
    """Count a save of the draft (the designer's, or the admin's of the draft or its parts): pages opened before
    it no longer save onto it."""
    model.revision = F("revision") + 1
    model.revision_fingerprint = fingerprint
    model.save(update_fields=["revision", "revision_fingerprint"])
    model.refresh_from_db(fields=["revision"])


def _criteria_save(
    *, locked: TierModel, criteria: list[CriterionDraft], saved: dict[int, Criterion], whole_list: bool
) -> None:
    """Typed criteria onto saved rows; new ones created; with `whole_list`, saved ones not typed deleted."""
    for row in criteria:
        criterion = saved.get(row.id) or Criterion(tenant=locked.tenant, pathway_id=row.pathway_id)
        criterion.weight, criterion.target, criterion.cap = row.weight, row.target, row.cap
        if row.label is not None:
            if criterion.label != row.label.strip():
                criterion.translations = translations_without(criterion.translations, "label")
            criterion.label = row.label.strip()
        if row.spec is not None:
            criterion.metric, criterion.activity_kind, criterion.code = row.spec
            if criterion.metric != Metric.ACTIVITY_COUNT:
                criterion.activity_kind = ""
            criterion.code = criterion.code.strip()
        if criterion.pk is None:
            criterion.save()
        else:
            criterion.save(
                update_fields=["label", "metric", "activity_kind", "code", "weight", "target", "cap", "translations"]
            )
    if whole_list:
        Criterion.objects.filter(pk__in=set(saved) - {row.id for row in criteria}).delete()


@transaction.atomic
def tier_model_draft_schedule(*, model: TierModel, effective_from: date, publication_downgrades: str) -> TierModel:
    """When a draft takes effect once published (today or later) and what happens to partners it places lower."""
    locked = TierModel.objects.select_for_update().get(pk=model.pk)
    if locked.status != TierModel.Status.DRAFT:
        raise ValidationError(_("Only a draft can be changed."))
    if effective_from < timezone.localdate():
        raise ValidationError({"effective_from": _("A model takes effect today or later.")})
    if publication_downgrades not in TierModel.PublicationDowngrades.values:
        raise ValidationError({"publication_downgrades": _("Choose what happens to partners placed lower.")})
    locked.effective_from, locked.publication_downgrades = effective_from, publication_downgrades
    locked.save(update_fields=["effective_from", "publication_downgrades"])
    return locked
