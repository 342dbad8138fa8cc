"""Celery tasks of the partners app: CSV imports too large for the request, and re-scores after bulk ingests."""

from loyalty.tenancy.tasks import tenant_task
from partners.models import Partner
from tiers.services import partner_rescore


@tenant_task(name="partners.import_job_process", acks_late=True, soft_time_limit=40 * 60, time_limit=45 * 60)
def import_job_process(*, tenant_id: int, job_id: int, phase: str) -> None:
    """Check or import a job's rows in chunks; a redelivered import resumes after its last committed chunk."""
    from partners.imports import import_job_run  # imports → ingest → tasks: import when run

    import_job_run(job_id=job_id, phase=phase)


@tenant_task(name="partners.rescore_partners")
def rescore_partners(*, tenant_id: int, partner_ids: list[int]) -> None:
    """The instant re-score (tiers.tasks.rescore_partner) of every partner a bulk ingest touched, in one message."""
    for partner in Partner.objects.filter(pk__in=partner_ids).order_by("pk"):
        partner_rescore(partner=partner)
