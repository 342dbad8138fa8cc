"""Course completions (enablement) become training activities through the ingestion path, like any other source.

Wired to the domain event `course.completed` (settings.TIERLINE_EVENT_HANDLERS): the activity is recorded approved
(the program's own course), earns points by the earning rules and re-scores the partner, in the completion's
transaction. Idempotent by its external id `course:<course>:member:<member>`, so a replay records nothing more.
"""

from django.core.exceptions import ValidationError

from enablement.models import CourseCompletion
from imports.ingest import IngestStatus, activities_ingest
from partners.models import Activity, ActivityKind


def course_completion_ingest(*, completion: CourseCompletion) -> None:
    """Record the completion's training activity (once); the completion links it (enablement.services)."""
    row = {
        "partner": completion.partner.external_id,
        "external_id": completion.activity_external_id,
        "kind": ActivityKind.TRAINING,
        "occurred_at": completion.completed_at,
        "code": completion.course.code,
        "member": completion.user.email,
        "metadata": {"course": completion.course.title, "score_percent": completion.score_percent},
    }
    [result] = activities_ingest(rows=[row], source=Activity.Source.COURSE, actor=completion.user, approve=True)
    if result.status == IngestStatus.ERROR:
        raise ValidationError([message for messages in result.errors.values() for message in messages])
