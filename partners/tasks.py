"""Celery tasks of the partners app: CSV imports too large to run during the request."""

from loyalty.tenancy.tasks import tenant_task
from partners.imports import import_job_run


@tenant_task(name="partners.import_job_process", acks_late=True)
def import_job_process(*, tenant_id: int, job_id: int, phase: str) -> None:
    """Check or import a job's rows in chunks; a redelivered import resumes after its last committed chunk."""
    import_job_run(job_id=job_id, phase=phase)
