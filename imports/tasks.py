"""Celery tasks of the imports app: CSV imports too large for the request."""

from imports.services import import_job_run
from loyalty.tenancy.tasks import tenant_task


@tenant_task(name="imports.import_job_process", acks_late=True, soft_time_limit=40 * 60, time_limit=45 * 60)
def import_job_process(*, tenant_id: int, job_id: int, phase: str) -> None:
    """Check or import a job's rows in chunks; a redelivered import resumes after its last committed chunk."""
    import_job_run(job_id=job_id, phase=phase)
