"""Celery tasks of the tier engine: the nightly fan-out (per tenant, per chunk) and the instant re-score."""

from datetime import date

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task
from partners.models import Partner
from tiers.models import EvaluationRun
from tiers.services import evaluation_chunk, evaluation_runs_resume_stalled, partner_rescore, tenant_evaluate


@shared_task(name="tiers.evaluate_all_tenants")
def evaluate_all_tenants() -> int:
    """Nightly (django-celery-beat): one evaluation per active tenant, for its own local date."""
    tenants = list(Tenant.objects.filter(is_active=True))
    for tenant in tenants:
        with tenant_context(tenant):
            today = timezone.localdate()
        evaluate_tenant.delay(tenant_id=tenant.pk, evaluated_on=today.isoformat())
    return len(tenants)


@shared_task(name="tiers.resume_stalled_evaluations")
def resume_stalled_evaluations() -> int:
    """Every few minutes (django-celery-beat): re-send the missing chunks of runs with no progress for
    `EVALUATION_STALL_MINUTES` (a worker died holding them). Returns how many runs were resumed."""
    resumed = 0
    for tenant in Tenant.objects.filter(is_active=True):
        with tenant_context(tenant):
            resumed += len(
                evaluation_runs_resume_stalled(
                    stall_minutes=settings.EVALUATION_STALL_MINUTES,
                    dispatch=lambda run, chunk, tenant_id=tenant.pk: evaluate_chunk.delay(
                        tenant_id=tenant_id, run_id=run.pk, partner_ids=chunk
                    ),
                )
            )
    return resumed


@tenant_task(name="tiers.evaluate_tenant")
def evaluate_tenant(*, tenant_id: int, evaluated_on: str) -> None:
    """Open the day's run and queue its remaining chunks; safe to run again (it resumes, never duplicates)."""
    tenant_evaluate(
        evaluated_on=date.fromisoformat(evaluated_on),
        dispatch=lambda run, chunk: evaluate_chunk.delay(tenant_id=tenant_id, run_id=run.pk, partner_ids=chunk),
    )


# A chunk of CHUNK_SIZE partners takes seconds; the limits (under the visibility timeout) only stop a stuck one.
@tenant_task(name="tiers.evaluate_chunk", acks_late=True, soft_time_limit=15 * 60, time_limit=20 * 60)
def evaluate_chunk(*, tenant_id: int, run_id: int, partner_ids: list[int]) -> int:
    run = EvaluationRun.objects.select_related("tier_model").get(pk=run_id)
    return evaluation_chunk(run=run, partner_ids=partner_ids).evaluated


@tenant_task(name="tiers.rescore_partner")
def rescore_partner(*, tenant_id: int, partner_id: int) -> None:
    """Instant re-score after an approved activity, so the portal's progress moves the same minute."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is not None:
        partner_rescore(partner=partner)


@tenant_task(name="tiers.rescore_partners")
def rescore_partners(*, tenant_id: int, partner_ids: list[int]) -> None:
    """The instant re-score (`rescore_partner`) of every partner a bulk ingest touched, in one message."""
    for partner in Partner.objects.filter(pk__in=partner_ids).order_by("pk"):
        partner_rescore(partner=partner)
